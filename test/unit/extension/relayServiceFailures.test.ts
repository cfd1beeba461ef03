// RelayService when the model's process misbehaves: a load that hangs (Stop ends the answer,
// later answers are not refused, closing stops the process), a model that crashes at load
// (an error that says so with the model picker, and the draft's read-ahead does not load
// it again at every pause), two callers of the onnx-local LLM during its first load (one
// process). The SLM process here is a stand-in with the real protocol (test/unit/slm/fakeWorker.ts)
// at <extension>/dist/slmWorker.js; only the VS Code API is a stand-in too (vscodeStub.ts).
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { questionsAsked, resetSettings, setSettings, useVscodeStub } from './vscodeStub';
import { slmWorkerPids } from './slmWorkerBundle';
useVscodeStub();
import type { ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import type { ChatMessage } from '../../../src/core/slm/types';
import { ANSWER_TOKEN, CRASH_TOKEN, fakeWorkerStarts } from '../slm/fakeWorker';
import { until, within } from '../slm/fakeWorkerSetup';
import { DEMO_QUESTION, demoPlan, embeddedDemoModels } from '../../../src/extension/demo/demoPlan';
import { useFakeWorkerExtension } from './fakeWorkerService';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { PROVIDER_TEST_RUNNING } = require('../../../src/extension/relayService') as typeof import('../../../src/extension/relayService');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayDemo } = require('../../../src/extension/demo/demo') as typeof import('../../../src/extension/demo/demo');

const QUESTION: ChatMessage[] = [{ role: 'user', content: 'What is 2+3?' }];
const sink = { onEvent: () => undefined };

const { worker: WORKER, modelFolder, withService, slmDiedBetweenAnswers, onnxLocalLoadHangs } = useFakeWorkerExtension('relay-service-failures-');

async function untilStarted(count: number): Promise<void> {
  await until(() => fakeWorkerStarts(WORKER) >= count, `start ${count} of the SLM process`);
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

describe('the SLM process dies', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  test('between answers: Stop ends the next answer while a new process reloads the model, saying so; the reload goes on and closing Relay stops it', () =>
    withService(async (service) => {
      // Its reload hangs: a large model that takes minutes to load again.
      await slmDiedBetweenAnswers(service);
      const starts = fakeWorkerStarts(WORKER);
      const answering = service.answer(QUESTION, sink);
      await untilStarted(starts + 1); // the new process, whose load hangs
      assert.equal(service.stop(), true);
      const outcome = await within(answering, 'the answer stopped during the reload');
      assert.match(outcome.error?.message ?? '', /^Stopped before the answer began: the small model was restarting \(its process had ended/);
      assert.equal(service.busy, false);
      assert.equal(slmWorkerPids().length, 1, 'the reload goes on for the next answer (withService checks that closing stops it)');
    }));

  test('mid-answer: the answer ends at once with what was written and honest figures, without starting the process again to count', () =>
    withService(async (service) => {
      // Its reload would hang: an answer that waited on one to count its figures would never end.
      const folder = modelFolder('crash-generate-hang-reload');
      rmSync(join(folder, 'loaded-once'), { force: true });
      resetSettings({ 'relay.slm.modelFolder': folder, 'relay.localOnly': true });
      const starts = fakeWorkerStarts(WORKER);
      const outcome = await within(service.answer(QUESTION, sink), 'the answer whose SLM died');
      assert.match(outcome.error?.message ?? '', /The small model's process was killed by SIGKILL/);
      assert.equal(outcome.answer, CRASH_TOKEN.slice(0, CRASH_TOKEN.indexOf('<call>')), 'what was written is kept; the open command is dropped');
      assert.equal(outcome.stats?.finishReason, 'error');
      assert.ok((outcome.stats?.savedUsd ?? 0) <= 0 && !outcome.stats?.llmOnlyCostUsd, 'an answer that failed saved nothing');
      assert.equal(outcome.stats?.thinkingTokens, undefined, 'not counted by a process started again');
      assert.equal(service.busy, false);
      assert.equal(fakeWorkerStarts(WORKER), starts + 1, 'no process was started again for the figures');
    }));
});

describe('letting go of a model folder (a download replaces its files)', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  test('an answer that starts while Relay lets go keeps its small model: the release says no (the download says the file is in use)', () =>
    withService(async (service) => {
      const folder = modelFolder('answers');
      resetSettings({ 'relay.slm.modelFolder': folder, 'relay.localOnly': true, 'relay.slm.loadAtStartup': true });
      await within(service.preload(), 'the load');
      // The release waits (for a read-ahead to end) before it lets go; Send comes meanwhile.
      const releasing = service.releaseFolder(folder);
      const answering = service.answer(QUESTION, sink);
      assert.equal(await within(releasing, 'the release'), false, 'not released under a running answer');
      const outcome = await within(answering, 'the answer');
      assert.equal(outcome.error, undefined);
      assert.equal(outcome.answer, ANSWER_TOKEN);
      assert.equal(slmWorkerPids().length, 1, 'its process still runs');
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
      onnxLocalLoadHangs();
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

describe('"Relay: Test Provider" loads the small model for its template', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  test('while it runs Relay is busy: an answer and the demo are refused instead of calling off the load the test waits on', () =>
    withService(async (service) => {
      // A raw-completions provider: its prompt is rendered by the SLM's template, so the test loads the SLM (a load that hangs here).
      resetSettings({
        'relay.slm.modelFolder': modelFolder('hang-load'),
        'relay.provider.kind': 'openai-completions',
        'relay.provider.baseUrl': 'http://127.0.0.1:9/v1',
        'relay.provider.model': 'm',
        'relay.slm.loadAtStartup': false,
      });
      const starts = fakeWorkerStarts(WORKER);
      const cancel = new AbortController();
      const busyHeard: boolean[] = [];
      service.onDidChangeBusy((busy) => busyHeard.push(busy));
      const testing = service.testProvider(() => undefined, { signal: cancel.signal });
      await untilStarted(starts + 1);
      assert.equal(service.busy, true, 'a provider test counts as busy');
      assert.equal(service.testingProvider, true);
      // The demo's answer, which would load the demo's SLM and call the test's load off.
      const repo = join(__dirname, '..', '..', '..');
      const models = embeddedDemoModels(repo);
      assert.ok(models, 'the demo models are in the repository');
      const demo = await within(service.answer([{ role: 'user', content: DEMO_QUESTION }], sink, demoPlan(models, 'relay')), 'the demo answer');
      assert.equal(demo.error?.message, PROVIDER_TEST_RUNNING);
      assert.equal(demo.answer, '');
      const answer = await within(service.answer(QUESTION, sink), 'the answer');
      assert.equal(answer.error?.message, PROVIDER_TEST_RUNNING);
      // "Relay: Try the Demo" says so before it asks for an answer.
      const asked = questionsAsked.length;
      const panel = {
        withConversation: () => assert.fail('the demo started an answer during the provider test'),
      } as unknown as ConstructorParameters<typeof RelayDemo>[1];
      await new RelayDemo({ extensionPath: repo } as never, panel, service, {} as never).run();
      assert.deepEqual(
        questionsAsked.slice(asked).map((q) => [q.api, q.text]),
        [
          [
            'showInformationMessage',
            'Relay is testing the provider ("Relay: Test Provider"), which may be loading the small model. Try the demo when the test ends, or cancel it first (its notification).',
          ],
        ],
      );
      // A second test too (changed settings would load another model and call this one's load off).
      assert.deepEqual(
        await within(
          service.testProvider(() => undefined),
          'the second test',
        ),
        {
          ok: false,
          summary: 'FAILED: The provider is being tested already: wait for that test to end, or cancel it first.',
        },
      );
      assert.equal(fakeWorkerStarts(WORKER), starts + 1, 'nothing else was loaded: the test still waits on its own load');
      // Cancelled, the test ends and Relay is free again.
      cancel.abort();
      const result = await within(testing, 'the cancelled test');
      assert.equal(result.ok, false);
      assert.equal(service.busy, false);
      assert.equal(service.testingProvider, false);
      assert.deepEqual(busyHeard, [true, false], 'the views hear the test begin and end (Send waits, then is free again)');
    }));
});
