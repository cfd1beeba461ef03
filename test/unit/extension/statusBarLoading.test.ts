// The status bar says "loading model…" while an answer waits on a model's load, wired as
// extension.ts wires it: the service's busy hook sets the bar busy, its loading hook the load. The
// SLM process is a stand-in with the real protocol (test/unit/slm/fakeWorker.ts) at
// <extension>/dist/slmWorker.js, whose load hangs ('hang-load' in the folder's name).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createdStatusBarItems, resetSettings, useVscodeStub } from './vscodeStub';
useVscodeStub();
import type { ChatMessage } from '../../../src/core/slm/types';
import { until } from '../slm/fakeWorkerSetup';
import { useFakeWorkerExtension } from './fakeWorkerService';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayStatusBar } = require('../../../src/extension/statusBar') as typeof import('../../../src/extension/statusBar');

const extension = useFakeWorkerExtension('relay-status-bar-loading-');
const QUESTION: ChatMessage[] = [{ role: 'user', content: 'What is 2+3?' }];

test(
  "an answer waiting on the small model's load: the bar says loading, naming the model; Stop ends the answer and the bar's loading",
  { skip: process.platform !== 'linux' && 'reads /proc' },
  async () => {
    resetSettings({ 'relay.slm.modelFolder': extension.modelFolder('hang-load'), 'relay.localOnly': true });
    const bar = new RelayStatusBar();
    const item = createdStatusBarItems.at(-1)!;
    try {
      await extension.withService(
        async (service) => {
          // A sink without onLoading of its own (as the demo's may be): the bar hears of the load all the same.
          const answering = service.answer(QUESTION, { onEvent: () => undefined });
          await until(() => item.text.includes('loading model'), 'the bar saying the load');
          assert.equal(item.text, '$(loading~spin) Relay: loading model…');
          assert.match(item.tooltip ?? '', /^Loading the small model \(hang-load\)…\n/);
          assert.equal(service.stop(), true);
          await answering;
          assert.equal(item.text, '$(pulse) Relay: idle', 'the answer ended: neither loading nor answering');
        },
        {
          onBusy: (busy) => bar.setBusy(busy ? 'answer-view' : undefined),
          onAnswered: () => undefined,
          onLoading: (load) => bar.setLoading(load),
        },
      );
    } finally {
      bar.dispose();
    }
  },
);
