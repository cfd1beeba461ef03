/**
 * bench:cost's own parts: the billing servers bill exactly by their rule (cache reads and
 * writes, output streamed, a cancelled stream billed for what went out), speak the wire
 * formats the real providers read, and the scripted SLM writes its reference, stops at its
 * low-confidence positions and resumes after the LLM's text; a target shares its token
 * ratios across answers (a fresh one probes the uncalibrated first call), and the "why"
 * line prices one cold call against the LLM-only estimate.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { perCallError } from '../../../bench/cost/callPredictions';
import { BenchTarget, BILLING_MODELS, coldCall, coverage, llmAloneBilledUsd } from '../../../bench/cost/run';
import { BillingServer, BreakpointCache, PrefixCache } from '../../../bench/cost/servers';
import { ScriptedSlm } from '../../../bench/cost/slm';
import { alignEnd, serverTokens, slmCount, slmPieces } from '../../../bench/cost/text';
import { buildTraces, buildWarmupTrace, scriptConfidence } from '../../../bench/cost/traces';
import { NO_CACHE } from '../../../src/core/providers/billing';
import { TokenRatios } from '../../../src/core/relay/money';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { CONTINUE_INSTRUCTION } from '../../../src/core/providers/seam';
import type { ContinueRequest, LlmProvider, ProviderChunk, Usage } from '../../../src/core/providers/types';
import type { GeneratedToken } from '../../../src/core/slm/types';

const ids = (...values: number[]) => Int32Array.from(values);
const range = (n: number, from = 1) => Array.from({ length: n }, (_, i) => from + i);

test('automatic prefix cache: 1,024 tokens, then 128-token steps of the longest prefix shared with any earlier request', () => {
  const cache = new PrefixCache();
  const a = range(1500);
  assert.equal(cache.bill(ids(...a)), 0, 'the first request finds nothing');
  // Shares 1,400 tokens with the first: 1024 + floor(376 / 128) * 128 = 1280.
  assert.equal(cache.bill(ids(...a.slice(0, 1400), ...range(200, 90_000))), 1280);
  // Shares all 1,500 with the first (not with the second, which is more recent): 1024 + 3 * 128.
  assert.equal(cache.bill(ids(...a, 7)), 1408);
  // Shared below the minimum: nothing cached.
  assert.equal(cache.bill(ids(...a.slice(0, 1000), ...range(600, 50_000))), 0);
  // A prompt below 1,024 tokens is never cached.
  const short = new PrefixCache();
  short.bill(ids(...range(900)));
  assert.equal(short.bill(ids(...range(900))), 0);
  cache.reset();
  assert.equal(cache.bill(ids(...a)), 0, 'reset forgets');
});

test('breakpoints: the longest earlier-written prefix at one of this request breakpoints, or a block boundary up to 20 before one, is read, the rest up to the last breakpoint written', () => {
  const cache = new BreakpointCache();
  const base = range(2000);
  // A breakpoint below 1,024 tokens does not count; the first request writes up to its last breakpoint.
  assert.deepEqual(cache.bill(ids(...base.slice(0, 1500)), [500, 1100, 1500]), { read: 0, write: 1500 });
  // The next request reads what the first wrote at 1,500 and writes up to its own last breakpoint.
  assert.deepEqual(cache.bill(ids(...base.slice(0, 1800)), [1100, 1500, 1800]), { read: 1500, write: 300 });
  // A breakpoint the earlier requests did not write (a different prefix) reads nothing there.
  assert.deepEqual(cache.bill(ids(...base.slice(0, 1200), ...range(700, 80_000)), [1300, 1900]), { read: 0, write: 1900 });
  // Without a breakpoint at 1,500 or 1,800, nothing is read even though the prefix is the same.
  assert.deepEqual(cache.bill(ids(...base.slice(0, 2000)), [2000]), { read: 0, write: 2000 });
  // Reading where the last breakpoint was written: nothing more to write.
  assert.deepEqual(cache.bill(ids(...base.slice(0, 2000)), [1500, 2000]), { read: 2000, write: 0 });
  // Anthropic looks back up to 20 content blocks from a breakpoint: a chat's next turn with one breakpoint at its end
  // reads what the previous turn wrote at the end of its conversation, a block boundary two blocks back...
  const turns = new BreakpointCache();
  turns.bill(ids(...base.slice(0, 1500)), [1500], [1000, 1500]);
  assert.deepEqual(turns.bill(ids(...base.slice(0, 1900)), [1900], [1000, 1500, 1700, 1900]), { read: 1500, write: 400 });
  // ...but not one more than 20 blocks back, nor one at a position that is no block boundary of this request.
  const far = new BreakpointCache();
  far.bill(ids(...base.slice(0, 1500)), [1500], [1500]);
  const blocks = Array.from({ length: 21 }, (_, k) => 1500 + (k + 1) * 10);
  assert.deepEqual(far.bill(ids(...base.slice(0, 1710)), [1710], [1500, ...blocks]), { read: 0, write: 1710 });
  const unaligned = new BreakpointCache();
  unaligned.bill(ids(...base.slice(0, 1500)), [1500], [1500]);
  assert.deepEqual(unaligned.bill(ids(...base.slice(0, 1900)), [1900], [1400, 1900]), { read: 0, write: 1900 });
});

/** wa, wb, ... wba: one token each for the server (and the SLM). */
const word = (i: number): string => `w${i >= 26 ? String.fromCharCode(97 + Math.floor(i / 26)) : ''}${String.fromCharCode(97 + (i % 26))}`;
const words = (from: number, to: number): string => Array.from({ length: to - from }, (_, k) => word(from + k)).join(' ');
const REFERENCE = words(0, 120) + '.';
const LONG_SYSTEM = Array.from({ length: 1300 }, (_, i) => `s${i % 7}`).join(' ');

async function drain(provider: LlmProvider, request: ContinueRequest, signal?: AbortSignal, onText?: (text: string) => void) {
  let text = '';
  let usage: Usage | undefined;
  let finish: string | undefined;
  for await (const chunk of provider.continue(request, signal) as AsyncIterable<ProviderChunk>) {
    if (chunk.type === 'text') {
      text += chunk.text;
      onText?.(chunk.text);
    }
    if (chunk.type === 'usage') usage = chunk.usage;
    if (chunk.type === 'done') finish = chunk.finishReason;
  }
  return { text, usage, finish };
}

const openAiTarget = BILLING_MODELS.find((b) => b.id === 'auto-50')!;
let openai: BillingServer;
let anthropic: BillingServer;
before(async () => {
  openai = await BillingServer.start({ format: 'openai', rule: 'openai-prefix' });
  anthropic = await BillingServer.start({ format: 'anthropic', rule: 'breakpoints' });
});
after(async () => {
  await openai.close();
  await anthropic.close();
});

const keys = new MemoryKeySource({ 'openai-chat': 'sk-test', anthropic: 'sk-ant-test' });

test('OpenAI server: the reference after the partial answer (instructed layout), max_tokens of its tokens, usage with cached_tokens by the rule', async () => {
  openai.begin(REFERENCE);
  const provider = createProvider({ kind: 'openai-chat', baseUrl: openai.baseUrl, model: 'gpt-4o', maxRetries: 0 }, keys);
  const messages = [
    { role: 'system' as const, content: LONG_SYSTEM },
    { role: 'user' as const, content: 'Count.' },
  ];
  const first = await drain(provider, { messages, partialAnswer: words(0, 3), maxTokens: 3 });
  assert.equal(first.text, ` ${words(3, 6)}`);
  assert.equal(first.finish, 'length');
  // system, user, assistant (the partial answer), user (the instruction): role and end markers, then the priming token.
  const expected = (partial: string) =>
    4 * 2 + serverTokens(LONG_SYSTEM).length + serverTokens('Count.').length + serverTokens(partial).length + serverTokens(CONTINUE_INSTRUCTION).length + 1;
  assert.deepEqual(first.usage, {
    inputTokens: expected(words(0, 3)),
    outputTokens: 3,
    cachedInputTokens: 0,
    cacheWriteTokens: 0,
    estimated: false,
    reasoningTokens: 0,
  });
  const second = await drain(provider, { messages, partialAnswer: words(0, 6), maxTokens: 2 });
  assert.equal(second.text, ` ${words(6, 8)}`);
  // Shared with the first: system and user turns, the assistant marker and the first's three words (its end marker differs).
  const shared = 2 + serverTokens(LONG_SYSTEM).length + 2 + serverTokens('Count.').length + 1 + 3;
  assert.ok(shared > 1024 + 128);
  assert.equal(second.usage?.cachedInputTokens, 1024 + Math.floor((shared - 1024) / 128) * 128);
  assert.equal(second.usage?.inputTokens, expected(words(0, 6)));
  // The end of the reference: 'stop'.
  const last = await drain(provider, { messages, partialAnswer: words(0, 118), maxTokens: 50 });
  assert.equal(last.text, ` ${words(118, 120)}.`);
  assert.equal(last.finish, 'stop');
  assert.deepEqual(
    openai.ledger.map((c) => c.outputTokens),
    [3, 2, 3],
  );
  assert.deepEqual(
    openai.ledger.map((c) => c.finish),
    ['length', 'length', 'stop'],
  );
});

test('OpenAI server: a client that closes the stream is billed only for the tokens streamed before', async () => {
  const slow = await BillingServer.start({ format: 'openai', rule: 'openai-prefix', tokensPerMs: 1 });
  try {
    slow.begin(REFERENCE);
    const provider = createProvider({ kind: 'openai-chat', baseUrl: slow.baseUrl, model: 'gpt-4o', maxRetries: 0 }, keys);
    const controller = new AbortController();
    let seen = 0;
    const out = await drain(provider, { messages: [{ role: 'user', content: 'Count.' }], partialAnswer: '', maxTokens: 100 }, controller.signal, () => {
      seen += 1;
      if (seen === 3) controller.abort();
    });
    assert.equal(out.finish, 'cancelled');
    // The server notices the close within a few tokens.
    for (let i = 0; i < 100 && slow.ledger[0].finish !== 'cancelled'; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    const call = slow.ledger[0];
    assert.equal(call.finish, 'cancelled');
    assert.ok(call.outputTokens >= 3 && call.outputTokens < 100, `billed ${call.outputTokens} tokens`);
  } finally {
    await slow.close();
  }
});

test('Anthropic server: prefill continues after the trimmed partial answer; cache reads and writes at the provider breakpoints', async () => {
  anthropic.begin(REFERENCE);
  // The provider places breakpoints by its local count (here the SLM's, as the extension does).
  const provider = createProvider({ kind: 'anthropic', baseUrl: anthropic.baseUrl, model: 'claude-sonnet-4-5', maxRetries: 0 }, keys, {
    countTokens: slmCount,
  });
  const messages = [
    { role: 'system' as const, content: LONG_SYSTEM },
    { role: 'user' as const, content: 'Count.' },
  ];
  const first = await drain(provider, { messages, partialAnswer: `${words(0, 2)} `, maxTokens: 2, cacheKey: 'answer-1' });
  assert.equal(`${words(0, 2)} ${first.text}`, words(0, 4), 'the trimmed space is not written twice');
  const system = 1 + serverTokens(LONG_SYSTEM).length;
  const conversation = system + 1 + serverTokens('Count.').length;
  const firstInput = conversation + 1 + 2;
  // Breakpoints: the system prompt, the end of the conversation, the end of the partial answer: all written.
  assert.deepEqual(first.usage, { inputTokens: firstInput, outputTokens: 2, cachedInputTokens: 0, cacheWriteTokens: firstInput, estimated: false });
  const second = await drain(provider, { messages, partialAnswer: words(0, 4), maxTokens: 2, cacheKey: 'answer-1' });
  assert.equal(second.text, ` ${words(4, 6)}`);
  // The previous call's end is a breakpoint again (a block boundary): read; this call's end is written.
  const secondInput = firstInput + 2;
  assert.deepEqual(second.usage, {
    inputTokens: secondInput,
    outputTokens: 2,
    cachedInputTokens: firstInput,
    cacheWriteTokens: secondInput - firstInput,
    estimated: false,
  });
});

test('scripted SLM: writes its reference in its own tokens, stops before a low-confidence token, resumes after the LLM text', async () => {
  const reference = 'The total is computed with reduce: 1550 litres in all.';
  const pieces = slmPieces(reference);
  assert.equal(pieces.map((p) => p.text).join(''), reference);
  const low = pieces.findIndex((p) => p.text === ' reduce');
  const top1 = pieces.map((_, i) => (i === low ? 0.2 : 0.95));
  const slm = new ScriptedSlm({ reference, pieces, top1 });
  assert.equal(await slm.countTokens(reference), pieces.length);

  // Ungated: the whole reference, one token per piece, then end of sequence.
  const free = await slm.createSession();
  const all = await free.generate({ maxTokens: 1000 });
  assert.equal(all.text, reference);
  assert.equal(all.tokens.length, pieces.length);
  assert.equal(all.stopReason, 'eos');

  // Gated: stops before the low-confidence token without emitting it.
  const session = await slm.createSession();
  await session.prefill('prompt');
  const seen: GeneratedToken[] = [];
  const gated = await session.generate({ maxTokens: 1000, minTop1: 0.5 }, (t) => seen.push(t));
  assert.equal(gated.stopReason, 'low_confidence');
  assert.equal(gated.text, 'The total is computed with');
  assert.equal(gated.refusedToken?.text, ' reduce');
  assert.equal(seen.length, low);
  // The same token is refused again until someone else writes it.
  assert.equal((await session.generate({ maxTokens: 5, minTop1: 0.5 })).stopReason, 'low_confidence');
  // The LLM writes past it and stops inside a number: the SLM resumes with the rest of that token.
  const appended = await session.append(' reduce: 15');
  assert.equal(appended.tokenCount, slmCount(' reduce: 15'));
  const rest = await session.generate({ maxTokens: 1000, minTop1: 0.5 });
  assert.equal(rest.text, '50 litres in all.');
  assert.equal(rest.stopReason, 'eos');
});

test('traces: editor-shaped sizes, 3-8% low-confidence positions in clusters and isolated; coverage reads the spans', () => {
  const traces = buildTraces();
  assert.deepEqual(
    traces.map((t) => t.id),
    ['explain-40', 'explain-200', 'chat-3k', 'chat-3k-warm', 'problem'],
  );
  for (const t of traces) {
    const rate = t.low.length / t.pieces.length;
    assert.ok(rate >= 0.03 && rate <= 0.08, `${t.id}: ${rate}`);
    assert.ok(t.low.every((i) => t.top1[i] < 0.5) && t.top1.filter((p) => p < 0.5).length === t.low.length);
    const clustered = t.low.filter((i) => t.low.filter((j) => Math.abs(i - j) < 10).length >= 3).length;
    const isolated = t.low.filter((i) => !t.low.some((j) => j !== i && Math.abs(i - j) <= 8)).length;
    assert.ok(clustered > 0 && isolated > 0, `${t.id}: ${clustered} clustered, ${isolated} isolated`);
  }
  const prompt = (id: string) =>
    slmCount(
      traces
        .find((t) => t.id === id)!
        .messages.map((m) => m.content)
        .join('\n'),
    );
  assert.ok(prompt('explain-40') > 600 && prompt('explain-40') < 900);
  assert.ok(prompt('explain-200') > 3400 && prompt('explain-200') < 4500);
  assert.ok(prompt('problem') < 100);
  assert.ok(traces.find((t) => t.id === 'problem')!.pieces.length >= 2000);
  // The same seed, the same pattern.
  assert.deepEqual(scriptConfidence(traces[0].pieces, 7, 0.05), scriptConfidence(traces[0].pieces, 7, 0.05));

  const trace = { reference: 'a b c d e', pieces: slmPieces('a b c d e'), low: [1, 3] };
  const span = (source: 'slm' | 'llm', text: string) => ({ type: 'span' as const, source, text, tokens: 1 });
  // The seam added a space before ' d': still lined up.
  assert.deepEqual(coverage(trace, [span('slm', 'a'), span('llm', ' b'), span('slm', ' c'), span('llm', '  d'), span('slm', ' e')]).byLlm, [true, true]);
  assert.deepEqual(coverage(trace, [span('slm', 'a b'), span('llm', ' c'), span('slm', ' d e')]).byLlm, [false, false]);
  assert.equal(alignEnd('abc def', 0, 'abc  d').end, 5);
});

test('one bench row end to end: the engine cost equals the server bill, every low-confidence position written by the LLM', async () => {
  const target = await BenchTarget.start(openAiTarget);
  try {
    const trace = buildTraces()[0];
    const row = await target.run(trace, { id: 'fixed', mode: 'confidence', maxLlmShare: 1 });
    assert.ok(row.stats.calls > 10);
    assert.equal(row.covered, trace.low.length);
    assert.ok(Math.abs((row.stats.costUsd ?? 0) - row.serverUsd) < 1e-12, `${row.stats.costUsd} vs ${row.serverUsd}`);
    assert.equal(row.stats.finishReason, 'eos');
    assert.notEqual(row.exact, 'no');
    // Each reported call's prediction, read per call, adds up to the engine's own tally.
    const billing = row.stats.billing!;
    assert.equal(row.callPredictions.length, billing.calls);
    assert.deepEqual(
      row.callPredictions.map((p) => p.call),
      Array.from({ length: row.stats.calls }, (_, i) => i + 1),
    );
    const sum = (pick: (p: (typeof row.callPredictions)[number]) => number) => row.callPredictions.reduce((s, p) => s + pick(p), 0);
    assert.ok(Math.abs(sum((p) => p.predictedUsd) - billing.predictedUsd) < 1e-12);
    assert.ok(Math.abs(sum((p) => p.reportedUsd) - billing.reportedUsd) < 1e-12);
  } finally {
    await target.close();
  }
});

test('token ratios: a target shares one across its answers (only the warm-up starts uncalibrated); a probe with fresh ratios and one call reports its first call alone', async () => {
  const target = await BenchTarget.start(openAiTarget);
  try {
    const warmup = buildWarmupTrace();
    assert.ok(!buildTraces().some((t) => t.id === warmup.id), 'the warm-up is not a measured trace');
    assert.ok(warmup.pieces.length < 250 && warmup.low.length >= 3, `${warmup.pieces.length} tokens, ${warmup.low.length} low`);
    assert.equal(target.ratios.known, false);
    const first = await target.run(warmup, { id: 'fixed', mode: 'confidence', maxLlmShare: 1 });
    assert.equal(first.ratioCallsBefore, 0);
    assert.equal(target.ratios.calls, first.stats.calls, 'every call of the warm-up taught the shared ratios');
    // The server counts fewer tokens than the SLM on code: the ratios say so.
    assert.ok(target.ratios.input > 0.6 && target.ratios.input < 1, `input ${target.ratios.input}`);

    const trace = buildTraces()[0];
    const fresh = new TokenRatios();
    const probe = await target.run(trace, { id: 'first call', mode: 'confidence', maxLlmShare: 1, maxLlmCalls: 1 }, fresh);
    assert.equal(probe.ratioCallsBefore, 0);
    assert.equal(probe.stats.calls, 1);
    assert.equal(probe.stats.billing?.calls, 1);
    assert.equal(probe.stats.finishReason, 'call_limit');
    assert.equal(fresh.calls, 1);
    assert.equal(target.ratios.calls, first.stats.calls, 'the probe leaves the shared ratios alone');

    const next = await target.run(trace, { id: 'llm-only', mode: 'llm-only' });
    assert.equal(next.ratioCallsBefore, first.stats.calls, 'the next answer starts calibrated');
  } finally {
    await target.close();
  }
});

test('one cold call against the LLM-only estimate, and where in the answer it first fits a ratio (the 5% calibrated margin)', () => {
  const price = { inputPerMTok: 2.5, outputPerMTok: 10 };
  const none = coldCall({ price, cacheRule: NO_CACHE }, 3000, 500, 2, [0.5, 1]);
  // (3000 x 2.5 + 2 x 10) / (3000 x 2.5 + 500 x 10)
  assert.ok(Math.abs(none.share - 7520 / 12_500) < 1e-12);
  assert.equal(none.fitsFrom.get(0.5), null);
  // 1.05 x ((3000 + k) x 2.5 + 20) <= 7500 + 10k from k = 54.
  assert.equal(none.fitsFrom.get(1), 54 / 500);
  // Anthropic writes the whole prompt at 1.25x the input price on the first call.
  const written = coldCall(
    { price: { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 }, cacheRule: { kind: 'breakpoints', minTokens: 1024 } },
    3000,
    500,
    2,
    [1],
  );
  assert.ok(Math.abs(written.share - (3000 * 3.75 + 2 * 15) / (3000 * 3 + 500 * 15)) < 1e-12);
  // A prompt below the minimum is not written.
  const short = coldCall(
    { price: { inputPerMTok: 3, outputPerMTok: 15, cacheWritePerMTok: 3.75 }, cacheRule: { kind: 'breakpoints', minTokens: 1024 } },
    600,
    400,
    2,
    [1],
  );
  assert.ok(Math.abs(short.share - (600 * 3 + 2 * 15) / (600 * 3 + 400 * 15)) < 1e-12);
});

test('per-call prediction error: nearest-rank percentiles of |error|, the largest signed, the worst under-prediction, calls over 5%', () => {
  const errors = [0.1, -0.2, 0.3, -0.4, 0.5, 1, -2, 3, 6, -40].map((pct, call) => ({ pct, at: call + 1 }));
  const e = perCallError(errors)!;
  assert.equal(e.calls, 10);
  assert.equal(e.p50Pct, 0.5);
  assert.equal(e.p90Pct, 6);
  assert.deepEqual(e.max, { pct: -40, at: 10 });
  assert.deepEqual(e.underWorst, { pct: -40, at: 10 });
  assert.equal(e.over5Pct, 2);
  // All over-predicted: the worst under-prediction is the least over.
  assert.deepEqual(
    perCallError([
      { pct: 2, at: 1 },
      { pct: 7, at: 2 },
    ])!.underWorst,
    { pct: 2, at: 1 },
  );
  assert.equal(perCallError([]), null);
});

test('the LLM alone as a user calling it once is billed: without the cache write Relay pays under breakpoints, reads kept', () => {
  const price = { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 };
  const usage = { inputTokens: 3000, outputTokens: 500, cachedInputTokens: 1000, cacheWriteTokens: 2000, estimated: false };
  assert.ok(Math.abs(llmAloneBilledUsd(price, usage) - (2000 * 3 + 1000 * 0.3 + 500 * 15) / 1e6) < 1e-15);
  // Nothing written: as billed.
  const read = { ...usage, cacheWriteTokens: 0 };
  assert.ok(Math.abs(llmAloneBilledUsd(price, read) - (2000 * 3 + 1000 * 0.3 + 500 * 15) / 1e6) < 1e-15);
});
