// RelayService when the model's process misbehaves: a load that hangs (Stop ends the answer,
// later answers are not refused, closing stops the process), a model that crashes at load
// (an error that says so with the model picker, and the draft's read-ahead does not load
// it again at every pause), two callers of the onnx-local LLM during its first load (one
// process). The SLM process here is a stand-in with the real protocol (test/unit/slm/fakeWorker.ts)
// at <extension>/dist/slmWorker.js; only the VS Code API is a stand-in too (vscodeStub.ts).
import assert from 'node:assert/strict';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createExtensionContext, resetSettings, setSettings, useVscodeStub } from './vscodeStub';
import { slmWorkerPids } from './slmWorkerBundle';
useVscodeStub();
import type { ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import type { ChatMessage } from '../../../src/core/slm/types';
import { fakeWorkerStarts, writeFakeWorker } from '../slm/fakeWorker';
import { within as settlesWithin } from '../providers/servers/collect';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayService } = require('../../../src/extension/relayService') as typeof import('../../../src/extension/relayService');
type Service = InstanceType<typeof RelayService>;

const EXTENSION = join(__dirname, '..', '..', '..', '.cache', 'test-relay-service-failures');
const WORKER = join(EXTENSION, 'dist', 'slmWorker.js');
const QUESTION: ChatMessage[] = [{ role: 'user', content: 'What is 2+3?' }];
/** Far longer than any of these takes; reached only by what hangs. */
const ENDS_WITHIN_MS = 30_000;
const sink = { onEvent: () => undefined };

before(() => {
  mkdirSync(join(EXTENSION, 'dist'), { recursive: true });
  writeFakeWorker(WORKER);
});
after(() => {
  for (const pid of slmWorkerPids()) process.kill(pid, 'SIGKILL');
  rmSync(join(EXTENSION, 'models'), { recursive: true, force: true });
});

/** A model folder for the stand-in (its behaviour is chosen by the folder's name). */
function modelFolder(name: string): string {
  const path = join(EXTENSION, 'models', name);
  mkdirSync(path, { recursive: true });
  return path;
}

/** Settles as `promise` does, or rejects after ENDS_WITHIN_MS saying that it hung. */
const within = <T>(promise: Promise<T>, what: string): Promise<T> => settlesWithin(promise, ENDS_WITHIN_MS, `HUNG: ${what}`);

/** Runs `body` with a new service; then closes it and checks that no SLM process is left (any left is ended by pid). */
async function withService(body: (service: Service) => Promise<void>): Promise<void> {
  const ext = createExtensionContext(EXTENSION);
  const service = new RelayService(ext.context, { onBusy: () => undefined, onAnswered: () => undefined });
  let failure: unknown;
  try {
    await body(service);
  } catch (e) {
    failure = e;
  }
  service.dispose();
  ext.dispose();
  const deadline = Date.now() + (failure ? 0 : ENDS_WITHIN_MS);
  while (slmWorkerPids().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const left = slmWorkerPids();
  for (const pid of left) process.kill(pid, 'SIGKILL');
  // The body's own failure first: it says more than what it left behind.
  if (failure) throw failure;
  assert.deepEqual(left, [], 'closing Relay stops every process it started');
}

async function untilStarted(count: number): Promise<void> {
  while (fakeWorkerStarts(WORKER) < count) await new Promise((resolve) => setTimeout(resolve, 20));
}

describe('a load that hangs', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  test('Stop ends the answer waiting on it; the next answer is not refused as "already writing"; closing Relay stops the process', () =>
    withService(async (service) => {
      resetSettings({ 'relay.slm.modelFolder': modelFolder('hang-load'), 'relay.localOnly': true });
      const starts = fakeWorkerStarts(WORKER);
      const answering = service.answer(QUESTION, sink);
      await untilStarted(starts + 1);
      assert.equal(service.stop(), true);
      const outcome = await within(answering, 'the stopped answer');
      assert.equal(outcome.error?.message, 'Stopped before the answer began: the small model was still loading.');
      assert.equal(service.busy, false);
      // The next answer waits on the same load (no second process), and Stop ends it too.
      const again = service.answer(QUESTION, sink);
      assert.equal(service.busy, true, 'it runs: not refused');
      service.stop();
      assert.equal((await within(again, 'the second answer')).error?.message, 'Stopped before the answer began: the small model was still loading.');
      assert.equal(fakeWorkerStarts(WORKER), starts + 1, 'one load');
      assert.equal(slmWorkerPids().length, 1);
    }));
});

describe('a model that crashes its process at load', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  test('says so with the model picker; drafts and the preload do not load it again, an answer does, other settings do', () =>
    withService(async (service) => {
      const folder = modelFolder('crash-load');
      resetSettings({ 'relay.slm.modelFolder': folder, 'relay.localOnly': true, 'relay.slm.loadAtStartup': true });
      const crashed = `The small model crashed while loading ${folder} (its process was killed by SIGSEGV).`;
      const starts = fakeWorkerStarts(WORKER);
      const outcome = await within(service.answer(QUESTION, sink), 'the answer');
      assert.ok(outcome.error?.message.startsWith(crashed), outcome.error?.message);
      assert.equal(outcome.error?.fix, 'pick-model');
      assert.equal(fakeWorkerStarts(WORKER), starts + 1);
      // Typing pauses and a preload: no new process, no new load.
      await service.readAheadDraft([{ role: 'user', content: 'What is' }]);
      await service.readAheadDraft([{ role: 'user', content: 'What is 2+3?' }]);
      await service.preload();
      assert.equal(fakeWorkerStarts(WORKER), starts + 1, 'the failed load is not tried again in the background');
      // An answer tries again (the model may have been fixed meanwhile).
      const again = await within(service.answer(QUESTION, sink), 'the second answer');
      assert.ok(again.error?.message.startsWith(crashed), again.error?.message);
      assert.equal(fakeWorkerStarts(WORKER), starts + 2);
      // Other settings are another load: a draft tries it.
      setSettings({ 'relay.slm.variant': 'int8' });
      await service.readAheadDraft(QUESTION);
      assert.equal(fakeWorkerStarts(WORKER), starts + 3);
    }));
});

describe('a model folder whose config.json this version cannot read', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  test('the set-up warning names the field and the model picker (the views still load)', () =>
    withService(async (service) => {
      const folder = modelFolder('bad-config');
      writeFileSync(join(folder, 'config.json'), JSON.stringify({ relay_llm_context: 'bogus' }));
      resetSettings({ 'relay.slm.modelFolder': folder });
      const warning = await within(service.setupWarning(), 'the set-up warning');
      assert.match(warning ?? '', /relay_llm_context is "bogus"; it must be one of .* Run "Relay: Select Model" to pick another model\./);
    }));
});

describe('the onnx-local LLM', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  test('Stop ends an answer waiting on its load: the answer says so, and the next one is not refused', () =>
    withService(async (service) => {
      resetSettings({
        'relay.slm.modelFolder': modelFolder('ready-slm'),
        'relay.provider.kind': 'onnx-local',
        'relay.provider.model': modelFolder('hang-load-llm'),
      });
      const starts = fakeWorkerStarts(WORKER);
      const answering = service.answer(QUESTION, sink);
      await untilStarted(starts + 2); // the small model, then the large one, whose load hangs
      assert.equal(service.stop(), true);
      const outcome = await within(answering, 'the stopped answer');
      assert.equal(outcome.error?.message, 'Stopped before the answer began: the large model was still loading.');
      assert.equal(service.busy, false);
    }));

  test('two callers during its first load share it: one process, closed with Relay', () =>
    withService(async (service) => {
      resetSettings({});
      const folder = modelFolder('slow-load-llm');
      const starts = fakeWorkerStarts(WORKER);
      const localLlm = (service as unknown as { localLlm(folder: string): Promise<ProcessRuntime> }).localLlm.bind(service);
      const [first, second] = await within(Promise.all([localLlm(folder), localLlm(folder)]), 'the loads');
      assert.equal(first, second, 'the same runtime');
      assert.equal(fakeWorkerStarts(WORKER), starts + 1, 'one load');
      assert.equal(slmWorkerPids().length, 1, 'one process');
    }));
});
