/**
 * A call the SLM ends early (agree-stop) closes its stream before the final usage. Anthropic
 * told the input, with its cache write, in message_start: the engine books that as billed, and
 * the call's cost is what the server bills. Real parts: AnthropicProvider against a server on
 * 127.0.0.1 speaking the Messages streaming format, the engine with a scripted SLM.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { costOf } from '../../../src/core/providers/pricing';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { collectRelay } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import { anthropicCountTokens, anthropicStream } from '../providers/servers/anthropic';
import { FakeServer, startFakeServer, type Responder } from '../providers/servers/harness';
import { FAST } from '../providers/servers/collect';
import { chars, DoubleProvider, DoubleRuntime } from './doubles';
import { QUESTION } from './realParts';

const KEY = 'sk-ant-api03-test-0123456789';
/** Claude Sonnet 4.5's prices: reads 0.1x, 5-minute writes 1.25x. */
const PRICE = { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 };
/** What message_start says the request was billed for: a prompt written to the cache. */
const BILLED_INPUT = { input_tokens: 40, cache_read_input_tokens: 0, cache_creation_input_tokens: 1500 };
/** message_start, content_block_start, ping: the frames before the first text. */
const FRAMES_BEFORE_TEXT = 3;
/** The LLM's continuation, which the SLM agrees with from its first pieces on; filler past it. */
const LLM_PIECES = [' is', ' forty', ' two', ', and', ' that', ' is', ' all', '.'];

let server: FakeServer;
/** The max_tokens of each messages request, in order. */
const asked: number[] = [];

/**
 * Writes the whole span it was asked for (max_tokens pieces) and then waits without its final
 * usage, as a server still closing the message: billed the input as message_start says and the
 * max_tokens pieces written. The free token count is answered too.
 */
const writesItsSpanThenWaits: Responder = (request, res) => {
  if (request.path === '/v1/messages/count_tokens') return anthropicCountTokens((body) => JSON.stringify(body.messages).length >> 2, KEY)(request, res);
  const maxTokens: number = request.body.max_tokens;
  asked.push(maxTokens);
  const pieces = Array.from({ length: maxTokens }, (_, i) => LLM_PIECES[i] ?? ' more');
  return anthropicStream({ pieces, usage: { ...BILLED_INPUT, output_tokens: maxTokens }, stallAfterFrames: FRAMES_BEFORE_TEXT + maxTokens }, KEY)(request, res);
};

before(async () => {
  server = await startFakeServer(writesItsSpanThenWaits);
});
after(() => server.close());

const callEnds = (events: RelayEvent[]) => events.filter((e): e is Extract<RelayEvent, { type: 'call-end' }> => e.type === 'call-end');

test('a call the SLM ended early is booked at the input message_start reported, cache write included: its cost is the bill', async () => {
  const llm = createProvider({ kind: 'anthropic', baseUrl: server.url, model: 'claude-sonnet-4-5', ...FAST }, new MemoryKeySource({ anthropic: KEY }));
  const script = [...chars('The answer'), { text: ' ', top1: 0.2 }, ...chars('is forty two, and that is all.')];
  const run = await collectRelay({
    mode: 'money-aware',
    slm: new DoubleRuntime(script, { appendAdvances: true }),
    llm,
    messages: QUESTION,
    prompt: 'P',
    slmSampling: { temperature: 0 },
    llmTemperature: 0,
    confidence: { threshold: 0.5, spanTokens: 12, maxSpanTokens: 64, maxLlmShare: 1, agreeStopTokens: 4 },
    price: PRICE,
    maxCostRatio: 100,
  });
  const [end] = callEnds(run.events);
  assert.equal(end.slmAgreed, true);
  assert.equal(run.answer, 'The answer is forty two, and that is all.');
  const maxTokens = asked[0];
  assert.ok(end.tokens < maxTokens, 'the call was ended before its span was read');
  // The input side as message_start said it; the output the whole span (written before the close).
  assert.equal(end.usage.inputTokens, 40 + 1500);
  assert.equal(end.usage.cachedInputTokens, 0);
  assert.equal(end.usage.cacheWriteTokens, 1500);
  assert.equal(end.usage.outputTokens, maxTokens);
  assert.equal(end.usage.estimated, true, 'its output is not reported');
  const billed = costOf({ inputTokens: 1540, outputTokens: maxTokens, cachedInputTokens: 0, cacheWriteTokens: 1500, estimated: false }, PRICE);
  assert.ok(billed !== null && end.costUsd !== null);
  assert.ok(Math.abs(end.costUsd - billed) < 1e-12, `booked ${end.costUsd}, billed ${billed}`);
});

test("a call that finished with its server's estimate (no usage sent) keeps that estimate's output: only a call that ended early is raised to the engine's count", async () => {
  const estimated = { inputTokens: 20, outputTokens: 3, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: true };
  const llm = new DoubleProvider([{ chunks: [' is forty two'], finish: 'stop', usage: estimated }]);
  const script = [...chars('The answer'), { text: ' ', top1: 0.2 }, ...chars('is forty two.')];
  const run = await collectRelay({
    mode: 'money-aware',
    slm: new DoubleRuntime(script, { appendAdvances: true }),
    llm,
    messages: [{ role: 'user', content: 'What is two plus three?' }],
    prompt: 'P',
    slmSampling: { temperature: 0 },
    llmTemperature: 0,
    confidence: { threshold: 0.5, spanTokens: 12, maxSpanTokens: 64, maxLlmShare: 1 },
    price: { inputPerMTok: 3, outputPerMTok: 15 },
    maxCostRatio: 100,
  });
  const end = run.events.find((e): e is Extract<RelayEvent, { type: 'call-end' }> => e.type === 'call-end');
  assert.ok(end && end.tokens > 3, 'the small model counts the text in more tokens than the server estimated');
  assert.equal(end.usage.outputTokens, 3, "the server's estimate, not the small model's count mixed into it");
});
