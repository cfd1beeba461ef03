// The status bar says "loading model…" while an answer waits on a model's load, wired as
// extension.ts wires it: the service's busy hook sets the bar busy, its loading hook the load. The
// SLM process is a stand-in with the real protocol (test/unit/slm/fakeWorker.ts) at
// <extension>/dist/slmWorker.js, whose load hangs ('hang-load' in the folder's name).
import assert from 'node:assert/strict';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createdStatusBarItems, createExtensionContext, resetSettings, useVscodeStub } from './vscodeStub';
import { slmWorkerPids } from './slmWorkerBundle';
useVscodeStub();
import type { ChatMessage } from '../../../src/core/slm/types';
import { writeFakeWorker } from '../slm/fakeWorker';

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayService } = require('../../../src/extension/relayService') as typeof import('../../../src/extension/relayService');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayStatusBar } = require('../../../src/extension/statusBar') as typeof import('../../../src/extension/statusBar');

const EXTENSION = join(__dirname, '..', '..', '..', '.cache', 'test-status-bar-loading');
const QUESTION: ChatMessage[] = [{ role: 'user', content: 'What is 2+3?' }];
/** Far longer than any of these takes; reached only by what hangs. */
const ENDS_WITHIN_MS = 30_000;

before(() => {
  mkdirSync(join(EXTENSION, 'dist'), { recursive: true });
  writeFakeWorker(join(EXTENSION, 'dist', 'slmWorker.js'));
});
after(() => {
  for (const pid of slmWorkerPids()) process.kill(pid, 'SIGKILL');
  rmSync(join(EXTENSION, 'models'), { recursive: true, force: true });
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + ENDS_WITHIN_MS;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`HUNG: ${what} did not happen within ${ENDS_WITHIN_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test(
  "an answer waiting on the small model's load: the bar says loading, naming the model; Stop ends the answer and the bar's loading",
  { skip: process.platform !== 'linux' && 'reads /proc' },
  async () => {
    const folder = join(EXTENSION, 'models', 'hang-load');
    mkdirSync(folder, { recursive: true });
    resetSettings({ 'relay.slm.modelFolder': folder, 'relay.localOnly': true });
    const bar = new RelayStatusBar();
    const item = createdStatusBarItems.at(-1)!;
    const ext = createExtensionContext(EXTENSION);
    const service = new RelayService(ext.context, {
      onBusy: (busy) => bar.setBusy(busy ? 'answer-view' : undefined),
      onAnswered: () => undefined,
      onLoading: (load) => bar.setLoading(load),
    });
    try {
      // A sink without onLoading of its own (as the demo's may be): the bar hears of the load all the same.
      const answering = service.answer(QUESTION, { onEvent: () => undefined });
      await until(() => item.text.includes('loading model'), 'the bar saying the load');
      assert.equal(item.text, '$(loading~spin) Relay: loading model…');
      assert.match(item.tooltip ?? '', /^Loading the small model \(hang-load\)…\n/);
      assert.equal(service.stop(), true);
      await answering;
      assert.equal(item.text, '$(pulse) Relay: idle', 'the answer ended: neither loading nor answering');
    } finally {
      service.dispose();
      ext.dispose();
      bar.dispose();
      const deadline = Date.now() + ENDS_WITHIN_MS;
      while (slmWorkerPids().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      for (const pid of slmWorkerPids()) process.kill(pid, 'SIGKILL');
    }
  },
);
