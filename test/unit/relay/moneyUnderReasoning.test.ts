/**
 * The money ceilings under a reasoning model whose output limit does not bound its hidden
 * reasoning (DeepSeek-R1's max_tokens: the answer after the reasoning), billed per call in
 * `reasoning_tokens`: what one answer's calls showed prices the next answer's first call, a
 * call that reported nothing does not thin the average, and money-aware mode under the USD
 * ceiling alone skips what cannot fit. The real openai-chat provider against a 127.0.0.1
 * server that continues a known answer (one token per character); the SLM is the double.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import type { ServerResponse } from 'node:http';
import { NO_CACHE } from '../../../src/core/providers/billing';
import { createProvider } from '../../../src/core/providers/factory';
import { forgetLearnedFacts } from '../../../src/core/providers/modelCapabilities';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { Usage } from '../../../src/core/providers/types';
import { collectRelay, type RelayOptions } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import { MoneyLedger, TokenRatios } from '../../../src/core/relay/money';
import { startFakeServer, type FakeServer, type RecordedRequest } from '../providers/servers/harness';
import { FAST } from '../providers/servers/collect';
import { chars, DoubleRuntime, type ScriptToken } from './doubles';

const PROMPT = 'x'.repeat(1200);
const REFERENCE = 'The relay writes this answer one character at a time, and the large model helps where the small one is unsure.'.repeat(3);
const UNSURE = new Set([12, 13, 15, 70, 130, 131, 134, 220, 300, 301, 302]);
const PRICE = { inputPerMTok: 1.25, outputPerMTok: 10 };
/** Hidden reasoning tokens the server bills every call, whatever max_tokens said. */
let reasoningPerCall = 500;

/** Continues REFERENCE after the longest start of it the request holds, billing input, text and reasoning a token a character. */
function reasoningModel(request: RecordedRequest, res: ServerResponse): void {
  const body = request.body;
  const sent = body.messages.map((m: { content: unknown }) => (typeof m.content === 'string' ? m.content : JSON.stringify(m.content))).join('');
  let at = 0;
  while (at < REFERENCE.length && sent.includes(REFERENCE.slice(0, at + 1))) at++;
  const text = REFERENCE.slice(at, at + Number(body.max_tokens ?? body.max_completion_tokens ?? Infinity));
  const input = [...sent].length;
  const chunk = (delta: object, finish: string | null) => ({
    id: 'c',
    object: 'chat.completion.chunk',
    created: 1,
    model: body.model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  });
  const frames = [chunk({ role: 'assistant', content: text }, null), chunk({}, at + text.length >= REFERENCE.length ? 'stop' : 'length')];
  const usage = {
    prompt_tokens: input,
    completion_tokens: text.length + reasoningPerCall,
    total_tokens: input + text.length + reasoningPerCall,
    completion_tokens_details: { reasoning_tokens: reasoningPerCall },
  };
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.end(
    [...frames, { id: 'c', object: 'chat.completion.chunk', created: 1, model: body.model, choices: [], usage }]
      .map((f) => `data: ${JSON.stringify(f)}\n\n`)
      .join('') + 'data: [DONE]\n\n',
  );
}

let server: FakeServer;
before(async () => {
  server = await startFakeServer(reasoningModel);
});
after(() => server.close());
beforeEach(() => {
  forgetLearnedFacts();
  reasoningPerCall = 500;
});

/** One answer by a reasoning model that takes max_tokens (which does not bound its reasoning). */
async function answer(extra: Partial<RelayOptions>) {
  const llm = createProvider(
    { kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'deepseek-reasoner-test', maxRetries: 0, ...FAST },
    new MemoryKeySource({ 'openai-chat': 'sk-test-reasoning-across-answers-0123' }),
  );
  assert.notEqual(llm.limitBoundsReasoning, true, 'the case under test: max_tokens does not bound the reasoning');
  const script: ScriptToken[] = [...REFERENCE].map((text, i) => ({ text, top1: UNSURE.has(i) ? 0.2 : 0.99 }));
  const before = server.requests.length;
  const run = await collectRelay({
    mode: 'money-aware',
    slm: new DoubleRuntime(script, { appendAdvances: true }),
    llm,
    messages: [{ role: 'user', content: PROMPT }],
    prompt: PROMPT,
    slmSampling: { temperature: 0 },
    price: PRICE,
    cacheRule: NO_CACHE,
    confidence: { threshold: 0.5, spanTokens: 4, maxSpanTokens: 64 },
    ...extra,
  });
  return { ...run, sent: server.requests.length - before };
}

const declinedOf = (events: RelayEvent[]) => events.filter((e): e is Extract<RelayEvent, { type: 'call-declined' }> => e.type === 'call-declined');

test("the reasoning one answer's calls were billed prices the first call of the pair's next answer: it keeps to relay.maxCostRatio", async () => {
  const ratios = new TokenRatios();
  const first = await answer({ tokenRatios: ratios, maxCostRatio: 0.6 });
  // A new pair's first call cannot know the model reasons: it is made, and bills 500 tokens unpriced.
  assert.equal(first.stats.llmUsage.reasoningTokens, 500 * first.stats.calls);
  assert.ok(first.stats.calls >= 1);
  assert.equal(ratios.reasoningPerCall, 500, 'the pair keeps the reasoning per reported call');

  const second = await answer({ tokenRatios: ratios, maxCostRatio: 0.6 });
  assert.equal(second.answer, REFERENCE);
  assert.ok(second.stats.costUsd !== null && second.stats.llmOnlyCostUsd !== null);
  assert.ok(second.stats.costUsd <= 0.6 * second.stats.llmOnlyCostUsd, `cost ${second.stats.costUsd} <= 0.6 x ${second.stats.llmOnlyCostUsd}`);
  // Its first quote holds the 500 reasoning tokens ($0.005) on top of the input and the span.
  const [firstQuote] = declinedOf(second.events);
  assert.ok(firstQuote && firstQuote.predictedUsd > (500 * PRICE.outputPerMTok) / 1e6, `first quote ${firstQuote?.predictedUsd}`);
});

test("the USD ceiling holds back the pair's reasoning per call from the first call of the next answer", async () => {
  const ratios = new TokenRatios();
  // Confidence mode under the USD ceiling alone: a call that could pass it ends the answer (cost_limit).
  const settings = {
    mode: 'confidence' as const,
    tokenRatios: ratios,
    maxCostUsd: 0.003,
    confidence: { threshold: 0.5, spanTokens: 4, maxSpanTokens: 64, maxLlmShare: 1 },
  };
  const first = await answer(settings);
  assert.equal(first.sent, 1, 'the first answer of the pair makes its call: no reasoning seen yet');
  const second = await answer(settings);
  assert.equal(second.sent, 0, 'input, span and 500 reasoning tokens could pass $0.003: not made');
  assert.equal(second.stats.finishReason, 'cost_limit');
  assert.equal(second.stats.costUsd, 0);
});

test('money-aware under the USD ceiling alone (relay.maxCostRatio off): a call that cannot fit is skipped and the SLM writes the answer to its end', async () => {
  reasoningPerCall = 0;
  const { answer: text, stats, events } = await answer({ maxCostRatio: undefined, maxCostUsd: 0.003 });
  assert.equal(stats.finishReason, 'eos');
  assert.equal(text, REFERENCE, 'the whole answer');
  const declined = declinedOf(events);
  assert.ok(declined.length >= 1, 'a call was skipped');
  assert.ok(
    declined.every((d) => d.byUsdCeiling === true && d.ratioNeeded === undefined),
    'named as the USD ceiling',
  );
  assert.equal(stats.declinedByUsdCeiling, declined.length);
  assert.ok((stats.costUsd ?? Infinity) <= 0.003);
});

test('command mode under the USD ceiling alone keeps its documented end: a call that could pass it ends the answer (cost_limit), nothing skipped', async () => {
  reasoningPerCall = 0;
  const slm = new DoubleRuntime([...chars('The relay '), ...chars('<call>64</call>'), ...chars(' done.')]);
  const { answer: text, stats, events, sent } = await answer({ mode: 'command', slm, maxCostRatio: undefined, maxCostUsd: 0.0001 });
  assert.equal(sent, 0);
  assert.equal(stats.finishReason, 'cost_limit');
  assert.equal(declinedOf(events).length, 0);
  assert.equal(text, 'The relay ', 'what was written is kept');
});

test('a call that reported nothing (an agreement stop, a cut) does not thin the reasoning per reported call', () => {
  const ledger = new MoneyLedger(PRICE, NO_CACHE, { maxCostRatio: 0.5 });
  const reported: Usage = { inputTokens: 1000, outputTokens: 504, reasoningTokens: 500, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  ledger.record({ localInput: 1000, localOutput: 4, usage: reported, reported: true });
  const quote = ledger.quoteUsd(1000, 4);
  for (let i = 0; i < 3; i++) ledger.record({ localInput: 1000, localOutput: 4, usage: ledger.estimateUnreported(1000, 4), reported: false });
  assert.equal(ledger.reasoningPerCall, 500);
  assert.equal(ledger.quoteUsd(1000, 4), quote, 'the next quote still holds the 500 reasoning tokens');
});
