/**
 * Prices by time of day (DeepSeek V4: twice the standard rate 01:00-04:00 and 06:00-10:00 UTC on weekdays):
 * every call is quoted, booked and held to the USD ceiling at the rate of its hour (a call that
 * runs across a change of rate at the dearer), and the answer's cost is the sum of its calls'
 * (its LLM-only estimate at the cheapest rate of its span). The hour is
 * set by the clock each part is given, never the hour the suite runs at.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { calcPrice } from '@pydantic/genai-prices';
import { NO_CACHE } from '../../../src/core/providers/billing';
import { builtInPrice } from '../../../src/core/providers/pricing';
import { runProviderTest } from '../../../src/core/providers/providerTest';
import type { ModelPrice } from '../../../src/core/providers/types';
import { collectRelay, type RelayOptions } from '../../../src/core/relay/engine';
import { outputTokensWithinCeiling } from '../../../src/core/relay/limits';
import { MoneyLedger } from '../../../src/core/relay/money';
import { chars, DoubleProvider, DoubleRuntime, usage, type ScriptedReply } from './doubles';

const at = (time: string) => Date.parse(`2026-10-01T${time}Z`);
const clock = (time: string) => () => at(time);
/** deepseek-v4-flash as Relay prices it: $0.22/$0.66 per million in/out, twice that in the peak windows. */
const FLASH = builtInPrice('openai-chat', 'deepseek-v4-flash', 'https://api.deepseek.com', new Date(at('12:00')))!;
const close = (a: number | null | undefined, b: number, what: string) =>
  assert.ok(typeof a === 'number' && Math.abs(a - b) <= 1e-12 + 1e-9 * b, `${what}: ${a} != ${b}`);
const billed = (input: number, output: number, time: string) =>
  calcPrice({ input_tokens: input, output_tokens: output }, 'deepseek-v4-flash', { providerId: 'deepseek', timestamp: new Date(at(time)) })!.total_price;

test('the ledger books and quotes a call at the rate of its clock: at 02:30 UTC what the catalog bills then, twice 12:00', () => {
  const call = { localInput: 1000, localOutput: 10, usage: usage(1_000_000, 1_000_000), reported: false };
  const peak = new MoneyLedger(FLASH, NO_CACHE, {}, undefined, undefined, clock('02:30'));
  const noon = new MoneyLedger(FLASH, NO_CACHE, {}, undefined, undefined, clock('12:00'));
  close(peak.quoteUsd(1000, 100), 2 * noon.quoteUsd(1000, 100), 'quote');
  close(peak.llmOnlyUsd(1000, 100), 2 * noon.llmOnlyUsd(1000, 100), 'LLM alone');
  close(peak.record(call), billed(1_000_000, 1_000_000, '02:30'), 'booked at 02:30');
  close(noon.record(call), billed(1_000_000, 1_000_000, '12:00'), 'booked at 12:00');
  close(peak.spentUsd, 2 * noon.spentUsd, 'spent');
});

test('a call that runs across a change of rate is booked at the dearer; an answer that does is compared with the LLM alone at the cheaper', () => {
  const call = { localInput: 1000, localOutput: 10, usage: usage(1_000_000, 1_000_000), reported: false };
  // Sent in the peak, ended after it (04:00 UTC): the peak's rate, whichever instant the provider bills by.
  let time = at('03:59:59');
  const ledger = new MoneyLedger(FLASH, NO_CACHE, {}, undefined, undefined, () => time);
  const sentAt = time;
  time = at('04:00:01');
  close(ledger.record({ ...call, sentAt }), billed(1_000_000, 1_000_000, '03:59:59'), 'booked at the peak rate');
  // Sent and ended after it: the standard rate.
  close(ledger.record({ ...call, sentAt: time }), billed(1_000_000, 1_000_000, '04:00:01'), 'booked at the standard rate');
  // The answer began in the peak and ended after it: its LLM-alone figure at the standard (cheaper) rate,
  // so the saving shown is never more than real.
  close(ledger.llmOnlyUsd(1000, 100), new MoneyLedger(FLASH, NO_CACHE, {}, undefined, undefined, clock('12:00')).llmOnlyUsd(1000, 100), 'LLM alone');
});

test('the USD ceiling of a call that starts 2 minutes before the peak holds at the peak rate, and only near it', () => {
  const room = (time?: string) => outputTokensWithinCeiling(0, 100_000, FLASH, 0.1, false, time === undefined ? undefined : at(time));
  // $0.1 less 100k input tokens: at the standard rate ($0.022 in) 118k output tokens ($0.66/M), at the peak's ($0.044 in, $1.32/M) 42k.
  const peakRoom = ((0.1 - 0.044) * 1e6) / 1.32;
  close(room('02:30'), peakRoom, 'in the peak window');
  close(room('00:58'), peakRoom, 'the call may run into the 01:00 peak (300 s)');
  close(room('00:54'), ((0.1 - 0.022) * 1e6) / 0.66, 'ends before the peak: the standard rate, not the worst of the day');
  close(room('12:00'), ((0.1 - 0.022) * 1e6) / 0.66, 'noon');
  close(room(), peakRoom, 'no time: the dearest hour');
  // A longer call timeout reaches further.
  close(outputTokensWithinCeiling(0, 100_000, FLASH, 0.1, false, at('00:50'), 15 * 60_000), peakRoom, 'a 15-minute timeout');
});

const messages = [{ role: 'user' as const, content: 'Q' }];
function options(replies: ScriptedReply[], extra: Partial<RelayOptions>): RelayOptions & { llm: DoubleProvider } {
  const slm = new DoubleRuntime(chars('abcdefghijkl', 0.1));
  return { mode: 'confidence', slm, llm: new DoubleProvider(replies), messages, slmSampling: { temperature: 0 }, ...extra } as RelayOptions & {
    llm: DoubleProvider;
  };
}
const replies = (n: number): ScriptedReply[] => Array.from({ length: n }, () => ({ chunks: ['X'], usage: usage(30, 1) }));

test("an answer during the peak reports its calls' cost and its LLM-only estimate at the peak rate", async () => {
  const calls = 5;
  const settings = { confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 1 }, price: FLASH, maxLlmCalls: calls };
  const peak = options(replies(calls), { ...settings, now: clock('02:30') });
  const noon = options(replies(calls), { ...settings, now: clock('12:00') });
  const [atPeak, atNoon] = [await collectRelay(peak), await collectRelay(noon)];
  assert.equal(atPeak.stats.finishReason, 'call_limit');
  assert.equal(peak.llm.requests.length, calls);
  assert.equal(noon.llm.requests.length, calls);
  close(atPeak.stats.costUsd, calls * billed(30, 1, '02:30'), 'cost: what the catalog bills at 02:30');
  close(atPeak.stats.costUsd, 2 * atNoon.stats.costUsd!, 'cost: twice noon');
  assert.ok((atNoon.stats.llmOnlyCostUsd ?? 0) > 0);
  close(atPeak.stats.llmOnlyCostUsd, 2 * atNoon.stats.llmOnlyCostUsd!, 'LLM alone: twice noon');
  close(atPeak.stats.savedUsd, 2 * atNoon.stats.savedUsd!, 'saved: twice noon');
});

test('through the engine, a call sent in the peak that ends after it is booked at the peak rate', async () => {
  let time = at('03:59:59');
  const o = options([{ chunks: ['X'], usage: usage(30, 1) }], {
    confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 1 },
    price: FLASH,
    maxLlmCalls: 1,
    now: () => time,
  });
  // The clock passes 04:00 while the call runs.
  const send = o.llm.continue.bind(o.llm);
  o.llm.continue = (request, signal) => {
    time = at('04:00:01');
    return send(request, signal);
  };
  const { stats } = await collectRelay(o);
  assert.equal(o.llm.requests.length, 1);
  close(stats.costUsd, billed(30, 1, '03:59:59'), 'the peak rate');
});

test('the engine refuses a call 2 minutes before the peak that only fits at the standard rate', async () => {
  // $1 a token, $2 in the 01:00-04:00 window: the first call's worst case is 66 input tokens (a
  // token per byte, framing included) and 1 output token: $67 at the standard rate, $134 at the peak's.
  const price: ModelPrice = {
    inputPerMTok: 1_000_000,
    outputPerMTok: 1_000_000,
    hours: [{ fromUtcSecond: 3600, toUtcSecond: 4 * 3600, inputPerMTok: 2_000_000, outputPerMTok: 2_000_000 }],
  };
  const settings = { confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 1 }, price, maxCostUsd: 100 };
  const before = options(replies(20), { ...settings, now: clock('00:58') });
  const { stats } = await collectRelay(before);
  assert.equal(stats.finishReason, 'cost_limit');
  assert.equal(before.llm.requests.length, 0, 'not made: it may be billed at the peak rate');
  const earlier = options(replies(20), { ...settings, now: clock('00:50') });
  await collectRelay(earlier);
  assert.ok(earlier.llm.requests.length > 0, 'made: it ends before the peak');
});

test('the provider test prices its call at the rate of the hour it ran at', async () => {
  const cost = async (time: string) => {
    const lines: string[] = [];
    const llm = new DoubleProvider([{ chunks: [' 4, 5'], finish: 'stop', usage: usage(1_000_000, 1_000_000) }]);
    const result = await runProviderTest(llm, FLASH, (line) => lines.push(line), { pricedAt: clock(time) });
    assert.ok(result.ok, result.summary);
    return lines.find((l) => l.startsWith('Cost:'));
  };
  assert.equal(await cost('12:00'), 'Cost: $0.880000');
  assert.equal(await cost('02:30'), 'Cost: $1.760000');
});
