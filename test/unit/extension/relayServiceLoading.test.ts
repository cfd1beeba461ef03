// An answer that waits on a model's load says so before anything is written: RelayService
// tells its sink (small model, large model, a restart of the small model's process) only when
// a load is needed, and the Conversation posts it to the view as a typed 'loading' message.
// The SLM process is a stand-in with the real protocol (test/unit/slm/fakeWorker.ts) at
// <extension>/dist/slmWorker.js, whose behaviour is chosen by the model folder's name; only
// the VS Code API is a stand-in too (vscodeStub.ts).
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { resetSettings, useVscodeStub } from './vscodeStub';
useVscodeStub();
import type { RelayEvent } from '../../../src/core/relay/events';
import type { ChatMessage } from '../../../src/core/slm/types';
import type { ModelLoad } from '../../../src/shared/modelLoading';
import { ANSWER_TOKEN, fakeWorkerStarts } from '../slm/fakeWorker';
import { until, within } from '../slm/fakeWorkerSetup';
import { openConversation, type FakeRelayService } from './fakeRelayService';
import { useFakeWorkerExtension } from './fakeWorkerService';

const QUESTION: ChatMessage[] = [{ role: 'user', content: 'What is 2+3?' }];
const skip = process.platform !== 'linux' && 'reads /proc';

const { worker: WORKER, modelFolder, withService, slmDiedBetweenAnswers, onnxLocalLoadHangs } = useFakeWorkerExtension('relay-service-loading-');

type Told = { kind: 'event'; type: RelayEvent['type'] } | { kind: 'loading'; load: ModelLoad; waitedMs: number | null };

/** A sink that records, in order, the engine's events (by type) and what it was told of loads. */
function recordingSink() {
  const told: Told[] = [];
  return {
    told,
    loads: () => told.filter((t): t is Extract<Told, { kind: 'loading' }> => t.kind === 'loading'),
    sink: {
      onEvent: (event: RelayEvent) => void told.push({ kind: 'event', type: event.type }),
      onLoading: (load: ModelLoad, waitedMs: number | null) => void told.push({ kind: 'loading', load: { ...load }, waitedMs }),
    },
  };
}

describe('an answer that waits on a load', { skip }, () => {
  test("the first answer's small-model load is posted to the view before anything is written; Stop ends the wait and the line", () =>
    withService(async (service) => {
      resetSettings({ 'relay.slm.modelFolder': modelFolder('hang-load'), 'relay.localOnly': true });
      const { conversation, posted } = openConversation('answer', service as unknown as FakeRelayService);
      const asking = conversation.ask('What is 2+3?');
      await until(() => posted.some((m) => m.type === 'loading'), 'the loading message');
      const loading = posted.filter((m) => m.type === 'loading');
      assert.deepEqual(loading[0], { type: 'loading', turnId: loading[0].turnId, model: 'small', name: 'hang-load', waitedMs: 0 });
      const answerTurn = posted.find((m) => m.type === 'turn-start' && m.turn.role === 'assistant');
      assert.equal(answerTurn?.type === 'turn-start' && answerTurn.turn.id, loading[0].turnId, "on the answer's turn");
      assert.equal(
        posted.findIndex((m) => m.type === 'span' || m.type === 'reading'),
        -1,
        'nothing written or read yet: the load is what the answer waits on',
      );
      assert.equal(service.stop(), true);
      await within(asking, 'the stopped answer');
      const last = posted.filter((m) => m.type === 'loading').at(-1);
      assert.equal(last?.type === 'loading' && last.waitedMs, null, 'the wait ended: the line goes');
      assert.ok(
        posted.findIndex((m) => m.type === 'loading' && m.waitedMs === null) < posted.findIndex((m) => m.type === 'turn-error'),
        'before the error that ends the answer',
      );
    }));

  test('a model already loaded is not said to load: the answer is written with no loading told', () =>
    withService(async (service) => {
      resetSettings({ 'relay.slm.modelFolder': modelFolder('answers'), 'relay.localOnly': true, 'relay.slm.loadAtStartup': true });
      await within(service.preload(), 'the load');
      const { told, loads, sink } = recordingSink();
      const outcome = await within(service.answer(QUESTION, sink), 'the answer');
      assert.equal(outcome.answer, ANSWER_TOKEN);
      assert.ok(told.some((t) => t.kind === 'event' && t.type === 'span'));
      assert.deepEqual(loads(), []);
    }));

  test("a restart of the small model's process (it ended between answers) is told as a restart", () =>
    withService(async (service) => {
      await slmDiedBetweenAnswers(service);
      const { told, loads, sink } = recordingSink();
      const answering = service.answer(QUESTION, sink);
      await until(() => loads().length > 0, 'the restart told');
      assert.deepEqual(told[0], { kind: 'loading', load: { model: 'small', name: 'hang-reload', restarting: true }, waitedMs: 0 });
      service.stop();
      await within(answering, 'the answer stopped during the reload');
      assert.equal(loads().at(-1)?.waitedMs, null);
    }));

  test("an onnx-local large model's load is told after the small model's, each ended before the next", () =>
    withService(async (service) => {
      onnxLocalLoadHangs();
      const starts = fakeWorkerStarts(WORKER);
      const { told, loads, sink } = recordingSink();
      const answering = service.answer(QUESTION, sink);
      await until(() => fakeWorkerStarts(WORKER) >= starts + 2, 'the small model, then the large one, whose load hangs');
      assert.deepEqual(
        loads()
          .filter((t) => t.waitedMs === 0 || t.waitedMs === null)
          .map((t) => [t.load.model, t.load.name, t.waitedMs]),
        [
          ['small', 'ready-slm', 0],
          ['small', 'ready-slm', null],
          ['large', 'hang-load-llm', 0],
        ],
      );
      assert.ok(!told.some((t) => t.kind === 'event'), 'nothing written before the models are loaded');
      service.stop();
      assert.equal((await within(answering, 'the stopped answer')).error?.message, 'Stopped before the answer began: the large model was still loading.');
      assert.deepEqual(loads().at(-1), { kind: 'loading', load: { model: 'large', name: 'hang-load-llm' }, waitedMs: null });
    }));
});
