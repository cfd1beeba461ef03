// Select Model while an answer runs, relay.slm.loadAtStartup on: the configuration change's
// preload() finds the service busy and skips, so the new model loads once the answer ends (no
// further answer needed), and the chat's follow-up read-ahead does not read the conversation into
// the old model's process, which is about to go. The SLM process is the fake worker
// (test/unit/slm/fakeWorker.ts), whose behaviour is chosen by the model folder's name.
import assert from 'node:assert/strict';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { resetSettings, setSettings, useVscodeStub } from './vscodeStub';
useVscodeStub();
import type { RelayEvent } from '../../../src/core/relay/events';
import type { ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import type { RelayService } from '../../../src/extension/relayService';
import { fakeWorkerStarts } from '../slm/fakeWorker';
import { until, within } from '../slm/fakeWorkerSetup';
import { useFakeWorkerExtension } from './fakeWorkerService';

const { worker, modelFolder, withService } = useFakeWorkerExtension('relay-select-model-during-answer-');

/** The SLM the service holds: its folder and process (null when none is loaded). */
function loadedSlm(service: RelayService): { folder: string; runtime: ProcessRuntime } | null {
  return (service as unknown as { runtime?: { folder: string; runtime: ProcessRuntime } }).runtime ?? null;
}

test('a model picked while an answer runs loads when it ends, and nothing is read ahead into the old one', () =>
  withService(async (service) => {
    // A keeps KV caches (a chat answer reads its follow-up ahead into them) and holds its count until released.
    const oldModel = modelFolder('held-count-hang-count-keeps-caches-answers-old');
    const newModel = modelFolder('answers-new');
    resetSettings({ 'relay.slm.modelFolder': oldModel, 'relay.localOnly': true, 'relay.slm.loadAtStartup': true });
    await within(service.preload(), 'the startup load of the old model');
    const old = loadedSlm(service)!.runtime;
    // What the old model's process is asked once the answer is written: a read-ahead renders the follow-up and opens a session.
    let written = false;
    const askedAfterAnswer: string[] = [];
    for (const method of ['renderChat', 'createSession'] as const) {
      const original = old[method].bind(old) as (...args: unknown[]) => Promise<unknown>;
      (old as unknown as Record<string, unknown>)[method] = (...args: unknown[]) => {
        if (written) askedAfterAnswer.push(method);
        return original(...args);
      };
    }
    const answering = service.answer(
      [{ role: 'user', content: 'What is 2+3?' }],
      { onEvent: (event: RelayEvent) => void (written ||= event.type === 'done') },
      undefined,
      { readAhead: true },
    );
    await until(() => existsSync(join(oldModel, 'count-pending')), 'the answer holding at its count');
    const startsBefore = fakeWorkerStarts(worker);
    // Select Model picks the new one: extension.ts's configuration handler calls preload(), busy meanwhile.
    setSettings({ 'relay.slm.modelFolder': newModel });
    await within(service.preload(), 'the preload while busy');
    writeFileSync(join(oldModel, 'release-count'), '');
    const outcome = await within(answering, 'the answer');
    assert.equal(outcome.error, undefined, 'the answer is written with the model it began with');
    assert.ok(written, 'the answer was written to its end');
    await until(() => loadedSlm(service)?.folder === newModel, 'the new model loading after the answer, with no further answer');
    assert.equal(fakeWorkerStarts(worker), startsBefore + 1, 'one process, for the new model');
    assert.deepEqual(askedAfterAnswer, [], 'nothing read ahead into the old model');
  }));
