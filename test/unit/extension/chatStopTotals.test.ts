// Stop in VS Code's Chat view when the answer takes more than a second to wind down: VS Code
// then closes the response stream, and a write throws. On real parts: RelayService with the
// scripted ONNX SLM in its process, the openai-completions provider over HTTP to a server on
// 127.0.0.1, the totals file in globalStorage; the VS Code API and the chat's stream are
// stand-ins (vscodeStub.ts, chatResponseStream.ts).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createExtensionContext, questionsAsked, registered, resetSettings, useVscodeStub, type StubExtensionContext } from './vscodeStub';
import { cancellationToken, recordingStream, STREAM_CLOSED } from './chatResponseStream';
import { bundleSlmWorker, slmWorkerPids } from './slmWorkerBundle';
useVscodeStub();
import type { AnswerStats, RelayEvent } from '../../../src/core/relay/events';
import { buildRelayScript, FIRST_QUESTION, LLM_PIECES, relayScriptSettings, type RelayScript } from '../../e2e/relayScript';
import { startFakeServer, type FakeServer } from '../providers/servers/harness';
import { openAiStream } from '../providers/servers/openai';

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayService } = require('../../../src/extension/relayService') as typeof import('../../../src/extension/relayService');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { registerChatParticipant } = require('../../../src/extension/chatParticipant') as typeof import('../../../src/extension/chatParticipant');

const REPO = join(__dirname, '..', '..', '..');
/** The extension folder of these tests: dist/slmWorker.js and nothing else. */
const EXTENSION = join(REPO, '.cache', 'test-chat-stop-totals');
const KIND = 'openai-completions';
const LLM_MODEL = 'relay-unit-llm';
/** The LLM sends its first word and stalls: only Stop ends the call. */
const stalling = openAiStream({ pieces: LLM_PIECES, stallAfterFrames: 1 });

describe('Stop with a wind-down longer than the second VS Code waits', () => {
  let script: RelayScript;
  let server: FakeServer;
  let ext: StubExtensionContext;
  let service: InstanceType<typeof RelayService>;
  const answered: AnswerStats[] = [];

  before(async () => {
    await bundleSlmWorker(EXTENSION);
    script = await buildRelayScript();
    server = await startFakeServer(stalling);
    ext = createExtensionContext(EXTENSION);
    service = new RelayService(ext.context, { onBusy: () => undefined, onAnswered: (stats) => answered.push(stats) });
    resetSettings(relayScriptSettings(script.folder, server.url, LLM_MODEL));
  });

  after(async () => {
    service?.dispose();
    ext?.dispose();
    await server?.close();
    // The SLM process ends with the service (bounded: the tests after this file are not held up).
    for (let waited = 0; slmWorkerPids().length > 0 && waited < 15_000; waited += 20) await new Promise((resolve) => setTimeout(resolve, 20));
  });

  const totals = () => service.totals.summary({ modelKey: `${KIND}:${LLM_MODEL}` });

  test("@relay: the stopped answer's spend is added to the totals and its figures are said in a notification; nothing is written to the closed stream", async () => {
    const { token, cancel } = cancellationToken();
    const { out, stream } = recordingStream(token);
    // Stop once the LLM's first word has reached @relay (it is billed); the stream is closed from then on (a write would throw).
    const stoppedAtTheLlmsFirstWord: Pick<typeof service, 'answer' | 'stop' | 'sentRequests'> = {
      answer: (messages, sink, plan, options) =>
        service.answer(
          messages,
          {
            ...sink,
            onEvent: (event, model, destination) => {
              sink.onEvent(event, model, destination);
              if (event.type === 'span' && event.source === 'llm') cancel();
            },
          },
          plan,
          options,
        ),
      stop: () => service.stop(),
      sentRequests: service.sentRequests,
    };
    registered.length = 0;
    registerChatParticipant({ path: '/ext' } as never, stoppedAtTheLlmsFirstWord as typeof service);
    const totalsBefore = await totals();
    questionsAsked.length = 0;
    const answeredBefore = answered.length;

    await registered[0].handler({ prompt: FIRST_QUESTION }, { history: [] }, stream, token);

    const stats = answered.slice(answeredBefore);
    assert.equal(stats.length, 1, 'the stopped answer was counted');
    assert.equal(stats[0].finishReason, 'cancelled');
    const totalsAfter = await totals();
    assert.equal(totalsAfter.answers, totalsBefore.answers + 1, 'the stopped answer is in the totals');
    assert.ok(stats[0].costUsd !== null && stats[0].costUsd > 0, 'the call sent was billed');
    assert.ok(Math.abs(totalsAfter.costUsd - totalsBefore.costUsd - stats[0].costUsd) < 1e-12, 'and its spend with it');
    const notices = questionsAsked.filter((q) => q.api === 'showInformationMessage').map((q) => q.text);
    assert.equal(notices.length, 1, notices.join('\n'));
    assert.match(
      notices[0],
      /^Relay: @relay's answer stopped\. SLM \d+ tokens · LLM \d+ tokens \(\d+\.\d%\) · 1 call · cost \$[\d.]+ est\. \(usage not reported\).* · \d+\.\d s\.$/,
    );
    assert.equal(out.markdown, script.textBeforeCall, 'the view keeps what came before Stop');
  });

  test('a view that throws (its stream closed) does not lose the answer: its stats, the totals and onAnswered; the failure is logged once', async (t) => {
    const warn = t.mock.method(console, 'warn', () => undefined);
    const answersBefore = (await totals()).answers;
    const answeredBefore = answered.length;
    let closed = false;
    const sink = {
      onEvent(event: RelayEvent) {
        if (closed) throw new Error(STREAM_CLOSED);
        // As VS Code after Stop: the view's stream closes while the answer winds down.
        if (event.type === 'span' && event.source === 'llm') {
          service.stop();
          closed = true;
        }
      },
    };

    const outcome = await service.answer([{ role: 'user', content: FIRST_QUESTION }], sink);

    assert.equal(outcome.error, undefined, outcome.error?.message);
    assert.equal(outcome.answer, script.textBeforeCall + LLM_PIECES[0], 'the partial answer is kept');
    assert.equal(outcome.stats?.finishReason, 'cancelled');
    assert.deepEqual(answered.slice(answeredBefore), [outcome.stats]);
    assert.equal((await totals()).answers, answersBefore + 1);
    assert.deepEqual(
      warn.mock.calls.map((call) => call.arguments[0]),
      [`Relay: a view could not show the answer (${STREAM_CLOSED}); the answer goes on and is counted.`],
    );
  });

  test('the window closes mid-answer: the answer is stopped and counted before the host goes (its billed call in the totals), its view shown nothing more', async () => {
    const answersBefore = (await totals()).answers;
    const answeredBefore = answered.length;
    /** Whether an answer still ran, and how many the totals held, as stopForShutdown returned (the host's dispose comes next). */
    let shutdown: Promise<{ busy: boolean; counted: number }> | undefined;
    const shownAfterShutdown: RelayEvent[] = [];
    const sink = {
      onEvent(event: RelayEvent) {
        if (shutdown) shownAfterShutdown.push(event);
        // The LLM's first word arrived (billed) and it stalls: the window closes now.
        else if (event.type === 'span' && event.source === 'llm')
          shutdown = service.stopForShutdown(60_000).then(async () => ({ busy: service.busy, counted: (await totals()).answers }));
      },
    };

    const answering = service.answer([{ role: 'user', content: FIRST_QUESTION }], sink);
    for (let i = 0; i < 600 && !shutdown; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.ok(shutdown, 'the window closed mid-answer');
    const { busy, counted } = await shutdown;
    await answering;

    assert.equal(busy, false, 'the answer ended before shutdown went on');
    assert.equal(counted, answersBefore + 1, 'counted in the totals before shutdown went on');
    const stats = answered.slice(answeredBefore);
    assert.equal(stats.length, 1);
    assert.equal(stats[0].finishReason, 'cancelled');
    assert.ok(stats[0].costUsd !== null && stats[0].costUsd > 0, 'the call sent was billed');
    assert.deepEqual(shownAfterShutdown, [], 'the saved view is not shown the stopped answer');
  });
});
