/**
 * The relay protocol on real parts: a scripted ONNX SLM (real Qwen3 tokenizer, KV cache,
 * onnxruntime-node) and the openai-completions provider over HTTP to a local server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { collectRelay, runRelay, type RelayOptions } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import type { FakeServer } from '../providers/servers/harness';
import type { LlmProvider } from '../../../src/core/providers/types';
import { completionsProvider, disposeRuntimes, openAiStream, QUESTION, scriptedSlm, type ScriptedSlm } from './realParts';

const COMMAND_TIMELINE = [
  { text: 'First,' },
  { text: '<call>0</call>' },
  { text: ' we add' },
  { text: '<call>3</call>' },
  { text: ' two and three', source: 'external' as const },
  { text: ' to get five.' },
];

let slmA: ScriptedSlm;
let server: FakeServer;
let provider: LlmProvider;

before(async () => {
  slmA = await scriptedSlm(COMMAND_TIMELINE);
  ({ server, provider } = await completionsProvider(slmA.prompt));
});

after(async () => {
  await server?.close();
  await disposeRuntimes();
});

function options(slm: ScriptedSlm, extra: Partial<RelayOptions> = {}): RelayOptions {
  return { mode: 'command', slm: slm.runtime, llm: provider, messages: QUESTION, slmSampling: { temperature: 0 }, llmTemperature: 0, ...extra };
}

const ids = (slm: ScriptedSlm, text: string): number => {
  const entry = slm.expectation.entries.find((e) => e.text === text);
  assert.ok(entry, `no timeline entry ${text}`);
  return entry.ids.length;
};

test('command mode: call at the scripted command, N honoured, commands stripped for the LLM and kept in the SLM cache, cost by hand', async () => {
  const requestsBefore = server.requests.length;
  server.enqueue(
    openAiStream({ pieces: [' two', ' and three'], finishReason: 'length', usage: { prompt_tokens: 30, completion_tokens: 3, cached_tokens: 10 } }),
  );
  const price = { inputPerMTok: 1, outputPerMTok: 2, cachedInputPerMTok: 0.1 };
  const { answer, stats, events } = await collectRelay(options(slmA, { price }));
  assert.equal(answer, 'First, we add two and three to get five.', 'no command shown');
  assert.equal(server.requests.length - requestsBefore, 1, '<call>0</call> made no call');
  const body = server.lastRequest.body;
  assert.equal(body.prompt, slmA.prompt + 'First,  we add', 'commands replaced by a space, trimmed, after the SLM prompt');
  assert.equal(body.max_tokens, 3);
  const start = events.find((e) => e.type === 'call-start');
  assert.equal(start?.type === 'call-start' && start.requestedTokens, 3);
  const end = events.find((e) => e.type === 'call-end');
  assert.equal(end?.type === 'call-end' && end.sentPartialAnswer, 'First,  we add');
  // SLM text before the call: exactly the scripted tokens up to the command.
  const slmTextBeforeCall = events
    .slice(0, events.indexOf(start as RelayEvent))
    .flatMap((e) => (e.type === 'span' ? [e.text] : []))
    .join('');
  assert.equal(slmTextBeforeCall, 'First, we add');
  const log = slmA.logs[slmA.logs.length - 1];
  assert.deepEqual(log.appended, [{ text: ' two and three', tokenCount: 3, recomputedTokens: 0 }], 'LLM text appended to the cache, nothing recomputed');
  const last = log.generateResults[log.generateResults.length - 1];
  assert.equal(last.stopReason, 'eos');
  assert.equal(last.contextLength, slmA.expectation.allIds.length, 'the cache holds prompt + commands + LLM text + the rest: the script resumed in place');
  assert.ok(log.disposed);
  const slmTokens = ids(slmA, 'First,') + 7 + ids(slmA, ' we add') + 7 + ids(slmA, ' to get five.');
  assert.equal(stats.slmTokens, slmTokens);
  assert.equal(stats.llmTokens, 3);
  assert.equal(stats.commandTokens, 14);
  assert.equal(stats.turns, 3);
  assert.equal(stats.finishReason, 'eos');
  assert.deepEqual(stats.llmUsage, { inputTokens: 30, outputTokens: 3, cachedInputTokens: 10, cacheWriteTokens: 0, estimated: false });
  // 20 fresh input at $1/M, 10 cached at $0.1/M, 3 output at $2/M.
  assert.ok(Math.abs((stats.costUsd as number) - (20 * 1 + 10 * 0.1 + 3 * 2) / 1e6) < 1e-15);
  const promptTokens = slmA.expectation.promptIds.length;
  assert.equal(stats.promptTokens, promptTokens);
  // LLM-only: the prompt once and the whole answer, converted to the LLM's counts with the ratios the call reported
  // (30 input tokens for the prompt and the answer before the call, commands removed; 3 output for its 3 tokens),
  // moved to this answer's own text: the call's 30 against their prediction of its prompt and answer parts, the
  // miss shared by each part's share of the prediction, squared.
  const answerBefore = ids(slmA, 'First,') + ids(slmA, ' we add');
  const [pairIn, pairOut] = [30 / (promptTokens + answerBefore), 1];
  const [promptPart, answerPart] = [promptTokens * pairIn, answerBefore * pairOut];
  const miss = 30 - promptPart - answerPart;
  const weight = promptPart ** 2 + answerPart ** 2;
  const [ownIn, ownOut] = [pairIn * (1 + (miss * promptPart) / weight), pairOut * (1 + (miss * answerPart) / weight)];
  // The whole answer as output: without the SLM's 14 command tokens, which the LLM alone would not write.
  assert.ok(Math.abs((stats.llmOnlyCostUsd as number) - (promptTokens * ownIn * 1 + (slmTokens - 14 + 3) * ownOut * 2) / 1e6) < 1e-15);
  assert.match(
    stats.llmOnlyEstimateNote ?? '',
    /this answer's own ratios.*per small-model token: the ratios its call reported, moved to what this answer's call was billed for/,
  );
  assert.equal(stats.llmTokenShare, 3 / (slmTokens + 3));
});

test("the LLM's end-of-sequence ends the answer", async () => {
  server.enqueue(openAiStream({ pieces: [' two and three'], finishReason: 'stop' }));
  const { answer, stats } = await collectRelay(options(slmA));
  assert.equal(answer, 'First, we add two and three');
  assert.equal(stats.finishReason, 'llm_eos');
  assert.deepEqual(slmA.logs[slmA.logs.length - 1].appended, []);
});

test('turn limit: the command on the last turn is ignored', async () => {
  const before = server.requests.length;
  const { answer, stats } = await collectRelay(options(slmA, { maxTurns: 2 }));
  assert.equal(server.requests.length, before, 'no LLM call');
  assert.equal(answer, 'First, we add');
  assert.equal(stats.finishReason, 'turn_limit');
});

test('global budget: the LLM is asked for min(N, budget left), then the answer ends', async () => {
  const used = ids(slmA, 'First,') + 7 + ids(slmA, ' we add') + 7;
  server.enqueue(openAiStream({ pieces: [' two', ' and'], finishReason: 'length' }));
  const { stats } = await collectRelay(options(slmA, { tokenBudget: used + 2 }));
  assert.equal(server.lastRequest.body.max_tokens, 2);
  assert.equal(stats.slmTokens + stats.llmTokens, used + 2);
  assert.equal(stats.finishReason, 'budget');
});

test('a provider error mid-answer keeps the partial answer and reports the error', async () => {
  server.enqueue(
    openAiStream({
      pieces: [' two', ' and three'],
      errorAfterPieces: { after: 1, error: { error: { message: 'The model crashed', type: 'server_error', code: null } } },
    }),
  );
  const { answer, stats, events } = await collectRelay(options(slmA));
  assert.equal(answer, 'First, we add two');
  const error = events.find((e) => e.type === 'error');
  assert.ok(error?.type === 'error');
  assert.match(error.message, /The model crashed/);
  assert.ok(error.code.length > 0);
  assert.equal(stats.finishReason, 'error');
  assert.equal(events[events.length - 1].type, 'done');
  assert.ok(slmA.logs[slmA.logs.length - 1].disposed);
});

test('cancellation while the LLM streams: the HTTP request stops, the partial answer is kept', async () => {
  // The server sends one piece, then holds the connection open until the client drops it.
  let connectionClosed!: Promise<void>;
  server.enqueue((_request, res) => {
    connectionClosed = new Promise((resolve) => res.on('close', () => resolve()));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(
      `data: ${JSON.stringify({ id: 'c', object: 'text_completion', created: 1, model: 'm', choices: [{ index: 0, text: ' two', logprobs: null, finish_reason: null }] })}\n\n`,
    );
  });
  const controller = new AbortController();
  let done: Extract<RelayEvent, { type: 'done' }> | undefined;
  for await (const event of runRelay(options(slmA, { signal: controller.signal }))) {
    if (event.type === 'span' && event.source === 'llm') controller.abort();
    if (event.type === 'done') done = event;
  }
  assert.equal(done?.stats.finishReason, 'cancelled');
  assert.equal(done?.answer, 'First, we add two');
  assert.ok(slmA.logs[slmA.logs.length - 1].disposed);
  await connectionClosed; // the HTTP connection was dropped by the client (the test times out otherwise)
});

test('cancellation while the SLM decodes', async () => {
  const controller = new AbortController();
  let done: Extract<RelayEvent, { type: 'done' }> | undefined;
  for await (const event of runRelay(options(slmA, { mode: 'slm-only', signal: controller.signal }))) {
    if (event.type === 'span') controller.abort();
    if (event.type === 'done') done = event;
  }
  assert.equal(done?.stats.finishReason, 'cancelled');
  assert.ok(done && done.answer.length > 0 && 'First, we add'.startsWith(done.answer), `partial answer kept: ${done?.answer}`);
});

test('a command without digits ends the answer with a clear error', async () => {
  const slm = await scriptedSlm([{ text: 'Hmm,' }, { text: '<call>many</call>' }, { text: ' rest' }]);
  const before = server.requests.length;
  const { answer, stats, events } = await collectRelay(options(slm));
  assert.equal(server.requests.length, before);
  assert.equal(answer, 'Hmm,');
  const error = events.find((e) => e.type === 'error');
  assert.equal(error?.type === 'error' && error.code, 'malformed_command');
  assert.equal(stats.finishReason, 'error');
});

test('confidence mode calls exactly where the fixture confidence drops; the SLM resumes after the LLM span', async () => {
  const slm = await scriptedSlm([{ text: 'The sum is' }, { text: ' 5', source: 'external', top1: 0.3 }, { text: ' in total.' }]);
  const span = ids(slm, ' 5');
  server.enqueue(openAiStream({ pieces: [' 5'], finishReason: 'length' }));
  const before = server.requests.length;
  const { answer, stats, events } = await collectRelay(options(slm, { mode: 'confidence', confidence: { threshold: 0.5, spanTokens: span, maxLlmShare: 1 } }));
  assert.equal(server.requests.length - before, 1);
  assert.equal(server.lastRequest.body.prompt, slm.prompt + 'The sum is', 'confidence mode sends the answer untrimmed');
  assert.equal(server.lastRequest.body.max_tokens, span);
  const log = slm.logs[slm.logs.length - 1];
  assert.equal(log.generateResults[0].stopReason, 'low_confidence');
  assert.equal(log.generateResults[0].tokens.length, ids(slm, 'The sum is'), 'the gate fired at the scripted position');
  assert.ok(Math.abs((log.generateResults[0].refusedToken?.top1 ?? 0) - 0.3) < 1e-3);
  assert.equal(answer, 'The sum is 5 in total.');
  assert.equal(stats.calls, 1);
  assert.equal(stats.llmTokens, span);
  const sources = events.flatMap((e) => (e.type === 'span' ? [e.source] : []));
  assert.equal(sources.indexOf('llm'), sources.lastIndexOf('llm'));
});
