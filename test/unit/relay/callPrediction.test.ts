/**
 * What the ledger predicts a call will be billed, from the shape of the request it extends
 * (bench:cost's per-call prediction table, where each case under-predicted a call): the
 * previous request's end that the next does not repeat, a request that may cross the minimum
 * cacheable length, and the answer text a request adds.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { OPENAI_CACHE, OPENAI_WRITING_CACHE, NO_CACHE, predictUsage, type CacheRule } from '../../../src/core/providers/billing';
import { MoneyLedger, TokenRatios } from '../../../src/core/relay/money';
import type { Usage } from '../../../src/core/providers/types';

const PRICE = { inputPerMTok: 2, outputPerMTok: 10, cachedInputPerMTok: 0.2, cacheWritePerMTok: 2.5 };
const BREAKPOINTS: CacheRule = { kind: 'breakpoints', minTokens: 1024 };

/** A reported usage of `input` tokens (`cached` of them read from the cache), writing 2. */
function billed(input: number, cached = 0): Usage {
  return { inputTokens: input, outputTokens: 2, cachedInputTokens: cached, cacheWriteTokens: 0, estimated: false };
}

/** Books a reported call whose local counts equal the provider's (input ratio 1). */
function book(ledger: MoneyLedger, input: number, options: { cached?: number; localTail?: number } = {}): void {
  ledger.record({ localInput: input, localOutput: 2, usage: billed(input, options.cached), reported: true, localTail: options.localTail ?? 0 });
}

test("under a prefix cache the previous request's last token is not predicted cached: the answer written after it may join it into another token", () => {
  const openAi = new MoneyLedger(PRICE, OPENAI_CACHE, {});
  book(openAi, 1152);
  // 1,152 tokens would be 1,024 + one whole 128-token step; 1,151 shared leave the step unfilled.
  assert.equal(openAi.predict(1252, 2).cachedInputTokens, 1024);
  // Breakpoints split the answer into blocks where calls ended, each tokenized on its own: all of it is read.
  const anthropic = new MoneyLedger(PRICE, BREAKPOINTS, {});
  book(anthropic, 1152);
  assert.equal(anthropic.predict(1252, 2).cachedInputTokens, 1152);
});

test("an instructed request's unrepeated end is learned from what the prefix cache served, and priced so in the pair's later answers", () => {
  const ratios = new TokenRatios();
  const ledger = new MoneyLedger(PRICE, OPENAI_CACHE, {}, ratios);
  // The instruction turn counts 60 locally (input ratio 1); the provider counts 70 at that end.
  book(ledger, 1345, { localTail: 60 });
  assert.equal(ledger.predict(1470, 2).cachedInputTokens, 1280, '1,345 - 61 = 1,284 shared: two steps past 1,024');
  // The server shared 1,345 - 70 = 1,275 and served 1,152: the unrepeated end was over 1,345 - (1,152 + 128).
  book(ledger, 1470, { cached: 1152, localTail: 60 });
  // 1,470 - 60 = 1,410 would fill a third step (1,408); 1,470 - 66 = 1,404 does not.
  assert.equal(ledger.predict(1570, 2).cachedInputTokens, 1280);
  assert.equal(ratios.instructedTailAtLeast, 66);
  assert.equal(ledger.lastReportedTextTokens, 1470 - 66, 'the text a next turn repeats ends before the instruction turn as learned');
  // The pair's next answer is predicted with it from its first instructed call on.
  const next = new MoneyLedger(PRICE, OPENAI_CACHE, {}, ratios);
  book(next, 1470, { localTail: 60 });
  assert.equal(next.predict(1570, 2).cachedInputTokens, 1280);
});

test('a cache miss, or a prefix served far under the prediction, teaches nothing of the instruction turn', () => {
  for (const cached of [0, 1024]) {
    const ratios = new TokenRatios();
    const ledger = new MoneyLedger(PRICE, OPENAI_CACHE, {}, ratios);
    book(ledger, 2000, { localTail: 60 });
    // Predicted: 2,000 - 61 = 1,939 shared, 1,920 cached; the server served `cached` (evicted, or routed elsewhere).
    book(ledger, 2100, { cached, localTail: 60 });
    assert.equal(ledger.predict(2200, 2).cachedInputTokens, 1920, `served ${cached}: 2,100 - 61 = 2,039 shared, as before`);
  }
});

test('a write is predicted where a request may reach the minimum cacheable length: the part no report counted is raised by CACHE_MINIMUM_MARGIN', () => {
  // By hand: an estimate 4 tokens short of the minimum that may reach it is written whole.
  assert.equal(predictUsage(BREAKPOINTS, { sent: 1020, previous: 0, output: 2 }).cacheWriteTokens, 0);
  assert.equal(predictUsage(BREAKPOINTS, { sent: 1020, sentAtMost: 1032, previous: 0, output: 2 }).cacheWriteTokens, 1020);
  assert.equal(predictUsage(OPENAI_WRITING_CACHE, { sent: 1020, sentAtMost: 1032, previous: 0, output: 2 }).cacheWriteTokens, 1020);
  // Through the ledger: 900 tokens reported, 120 more (local count, ratio 1) may count 132.
  const ledger = new MoneyLedger(PRICE, BREAKPOINTS, {});
  book(ledger, 900);
  const crossing = ledger.predict(1020, 2);
  assert.deepEqual([crossing.inputTokens, crossing.cachedInputTokens, crossing.cacheWriteTokens], [1020, 0, 1020]);
  // 100 more may count 110: 1,010 stays under the minimum, nothing written.
  assert.equal(ledger.predict(1000, 2).cacheWriteTokens, 0);
});

test("what a request adds to the previous call's is answer text, counted at the answer's own ratio, not the prompt's", () => {
  const ledger = new MoneyLedger(PRICE, NO_CACHE, {});
  // A prompt of 1,000 local tokens the provider counts as 500; the answer tokenizes 1:1.
  const call = (localInput: number, reported: number) =>
    ledger.record({ localInput, localOutput: 10, usage: { ...billed(reported), outputTokens: 8 }, reported: true, localPrompt: 1000 });
  call(1000, 500);
  call(1100, 600);
  // 200 more answer tokens: 600 + 200, where the input ratio (1,100 / 2,100) would say 705 and the output ratio (0.8) 760.
  assert.equal(ledger.predict(1300, 2).inputTokens, 800);
});

test("a server that serves a step short on every call (another machine's older cache, or a lie) cannot raise the learned instruction turn past a step over its count; a full serving brings it back down", () => {
  const ratios = new TokenRatios();
  const prompt = 6000;
  for (let answer = 0; answer < 3; answer++) {
    const ledger = new MoneyLedger(PRICE, OPENAI_CACHE, {}, ratios);
    for (let call = 1; call <= 30; call++) {
      const input = prompt + call * 40 + 60;
      const cached = Math.max(1024, ledger.predict(input, 2).cachedInputTokens - 128);
      book(ledger, input, { cached, localTail: 60 });
    }
  }
  // Counted: 60 and the seam token; served short by a step, it may read up to a step more, never more.
  assert.ok(ratios.instructedTailAtLeast <= 61 + 128, `learned ${ratios.instructedTailAtLeast}`);
  // A cache that serves the longest prefix (the previous request less its 70 unrepeated tokens, in whole steps).
  const honest = new MoneyLedger(PRICE, OPENAI_CACHE, {}, ratios);
  for (let call = 1; call <= 6; call++) {
    const input = prompt + call * 40 + 60;
    const previous = call === 1 ? 0 : prompt + (call - 1) * 40 + 60;
    const shared = previous - 70;
    book(honest, input, { cached: call === 1 ? 0 : 1024 + Math.floor((shared - 1024) / 128) * 128, localTail: 60 });
  }
  assert.ok(ratios.instructedTailAtLeast <= 70 + 128, `back to what the cache shows: ${ratios.instructedTailAtLeast}`);
});

test('an earlier request that is itself an estimate (the previous turn under breakpoints) is raised by the margin too: a prompt that may reach the minimum is quoted its write', () => {
  const ratios = new TokenRatios();
  ratios.add({ localInput: 1000, reportedInput: 1000, localOutput: 10, reportedOutput: 10 });
  for (const warm of [0, 930]) {
    const ledger: MoneyLedger = new MoneyLedger(PRICE, BREAKPOINTS, {}, ratios, { llmOnly: 0, relay: 0, relayBreakpoint: warm });
    assert.equal(ledger.predict(1000, 8).cacheWriteTokens, 1000, `warm ${warm}: 1,000 tokens at the ratio may count 1,100`);
  }
});
