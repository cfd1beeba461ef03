/**
 * Property tests of the engine's promise: whatever the models and servers do, an answer
 * ends within its ceilings, keeps every word it showed, and its numbers add up. Thousands
 * of random schedules of a misbehaving SLM and LLM (adversarial.ts) in every mode, with
 * cancellation at a random await.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { runRelay, type RelayOptions } from '../../../src/core/relay/engine';
import type { FinishReason, RelayEvent, RelayMode } from '../../../src/core/relay/events';
import { costOf } from '../../../src/core/providers/pricing';
import { DEFAULT_MAX_COST_USD, DEFAULT_MAX_LLM_CALLS, OVERRUN_MARGIN, OVERRUN_RATIO } from '../../../src/core/relay/limits';
import { AdversarialProvider, AdversarialRuntime, Ticker, type LlmReply, type SlmStep } from './adversarial';

const RUNS_PER_MODE = Number(process.env.RELAY_PROPERTY_RUNS ?? 2000);
const MODES: RelayMode[] = ['command', 'confidence', 'money-aware', 'slm-only', 'llm-only', 'random-router'];
const FINISH_REASONS: FinishReason[] = [
  'eos',
  'llm_eos',
  'budget',
  'turn_limit',
  'context_full',
  'llm_no_progress',
  'slm_no_progress',
  'call_limit',
  'cost_limit',
  'stalled',
  'cancelled',
  'error',
];

const slmText = fc.constantFrom(
  'a',
  'b',
  ' ',
  '7',
  '\n',
  '<call>',
  '</call>',
  '<call>2</call>',
  '<call>0</call>',
  '<call>999999999</call>',
  '<call>x</call>',
  '<',
  'call>',
  '3',
  '</',
  'é',
  '',
);
const slmStep: fc.Arbitrary<SlmStep> = fc.oneof(
  { weight: 12, arbitrary: fc.record({ kind: fc.constant('token' as const), text: slmText, top1: fc.double({ min: 0, max: 1, noNaN: true }) }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'eos' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'return' as const }) },
  { weight: 1, arbitrary: fc.constant({ kind: 'throw' as const }) },
);
const llmChunk = fc.constantFrom('', ' ', '  ', '\n', 'x', 'word ', '<call>3</call>', '</call>', '<call>', 'a much longer piece of text than asked for ');
const llmReply: fc.Arbitrary<LlmReply> = fc.record({
  chunks: fc.array(llmChunk, { maxLength: 6 }),
  finish: fc.constantFrom('stop' as const, 'length' as const, 'length' as const, 'length' as const, 'none' as const),
  usage: fc.constantFrom('missing' as const, 'honest' as const, 'nan' as const, 'negative' as const, 'huge' as const, 'cached-over-input' as const),
  ignoreMaxTokens: fc.boolean(),
  error: fc.option(fc.constantFrom('auth' as const, 'network' as const), { nil: undefined, freq: 8 }),
  transport: fc.boolean(),
});

/** The pathological SLMs named in the issue, each repeated forever, beside random scripts. */
const slmScript = fc.oneof(
  { weight: 4, arbitrary: fc.array(slmStep, { minLength: 1, maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom<SlmStep[]>(
      [{ kind: 'token', text: 'x', top1: 0 }], // every token refused by the gate
      [{ kind: 'token', text: '<call>0</call>', top1: 1 }], // N = 0 forever
      [
        { kind: 'token', text: '<call>', top1: 1 },
        { kind: 'token', text: '999999999', top1: 1 },
        { kind: 'token', text: '</call>', top1: 1 },
      ], // huge N forever
      [{ kind: 'token', text: '', top1: 1 }], // tokens that show nothing
      [{ kind: 'return' }], // a runtime that returns nothing
    ),
  },
);
/** The pathological servers named in the issue, each answering every call alike, beside random ones. */
const forever = (reply: Partial<LlmReply>): LlmReply[] => [
  { chunks: [], finish: 'length', usage: 'honest', ignoreMaxTokens: false, transport: true, ...reply },
];
const llmScript = fc.oneof(
  { weight: 4, arbitrary: fc.array(llmReply, { minLength: 1, maxLength: 6 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      forever({}), // 'length' with no tokens
      forever({ chunks: [''] }), // an empty continuation
      forever({ chunks: ['', ''], usage: 'missing' }),
      forever({ chunks: ['end'], finish: 'stop' }), // end-of-sequence at once
      forever({ chunks: ['<call>3</call>', '</call>'] }), // tags inside the LLM's text
      forever({ chunks: ['a much longer piece of text than asked for ', 'and more '], ignoreMaxTokens: true }),
      forever({ chunks: ['x'], usage: 'huge' }),
    ),
  },
);

const schedule = fc.record({
  slm: slmScript,
  llm: llmScript,
  /** Room in the SLM's window after the prompt (undefined: the model does not say). */
  windowRoom: fc.option(fc.integer({ min: -3, max: 120 }), { nil: undefined }),
  tokenBudget: fc.oneof(fc.integer({ min: 1, max: 200 }), fc.integer({ min: 200, max: 3000 })),
  maxTurns: fc.integer({ min: 1, max: 30 }),
  maxLlmCalls: fc.option(fc.integer({ min: 1, max: 40 }), { nil: undefined }),
  threshold: fc.double({ min: 0, max: 1, noNaN: true }),
  spanTokens: fc.integer({ min: 1, max: 10 }),
  maxLlmShare: fc.double({ min: 0, max: 1, noNaN: true }),
  priced: fc.boolean(),
  maxCostUsd: fc.option(fc.double({ min: 1e-6, max: 0.05, noNaN: true }), { nil: undefined, freq: 2 }),
  maxCostRatio: fc.option(fc.double({ min: 0.01, max: 3, noNaN: true }), { nil: undefined, freq: 2 }),
  abortAt: fc.option(fc.integer({ min: 1, max: 400 }), { nil: undefined, freq: 3 }),
  routerP: fc.double({ min: 0, max: 1, noNaN: true }),
});
type Schedule = typeof schedule extends fc.Arbitrary<infer T> ? T : never;

const PRICE = { inputPerMTok: 2.5, outputPerMTok: 10, cachedInputPerMTok: 1.25 };
const MESSAGES = [{ role: 'user' as const, content: 'What is 47*6+28?' }];
const PROMPT_LENGTH = [...'[user]What is 47*6+28?[assistant]'].length;

async function runSchedule(mode: RelayMode, s: Schedule): Promise<{ events: RelayEvent[]; ticker: Ticker; llm: AdversarialProvider }> {
  const ticker = new Ticker(s.abortAt);
  const slm = new AdversarialRuntime(s.slm, ticker, s.windowRoom === undefined ? undefined : PROMPT_LENGTH + s.windowRoom);
  const llm = new AdversarialProvider(s.llm, ticker);
  const options: RelayOptions = {
    mode,
    slm,
    llm,
    messages: MESSAGES,
    tokenBudget: s.tokenBudget,
    maxTurns: s.maxTurns,
    maxLlmCalls: s.maxLlmCalls,
    maxCostUsd: s.maxCostUsd,
    maxCostRatio: s.maxCostRatio,
    price: s.priced ? PRICE : undefined,
    confidence: { threshold: s.threshold, spanTokens: s.spanTokens, maxLlmShare: s.maxLlmShare },
    router: { llmProbability: s.routerP, seed: 1 },
    slmSampling: { temperature: 0 },
    signal: ticker.controller.signal,
  };
  const events: RelayEvent[] = [];
  for await (const event of runRelay(options)) events.push(event);
  return { events, ticker, llm };
}

function checkInvariants(mode: RelayMode, s: Schedule, run: { events: RelayEvent[]; ticker: Ticker; llm: AdversarialProvider }): void {
  const { events, ticker, llm } = run;
  assert.equal(ticker.runaway, false, `runaway: more than ${ticker.ticks} await points`);
  const done = events[events.length - 1];
  assert.ok(done?.type === 'done', 'the answer ends with a done event');
  assert.equal(events.filter((e) => e.type === 'done').length, 1, 'exactly one done event');
  const { stats, answer } = done;
  assert.ok(FINISH_REASONS.includes(stats.finishReason), `a named finish reason (${stats.finishReason})`);

  // Ceilings: calls, tokens (one chunk of overshoot at most), turns.
  const maxCalls = s.maxLlmCalls ?? DEFAULT_MAX_LLM_CALLS;
  assert.ok(llm.requests.length <= maxCalls, `${llm.requests.length} requests, ceiling ${maxCalls}`);
  assert.equal(stats.calls, llm.requests.length, 'every request is a counted call');
  const longestChunk = Math.max(0, ...s.llm.flatMap((r) => r.chunks.map((c) => [...c].length)));
  assert.ok(
    stats.slmTokens + stats.llmTokens <= s.tokenBudget + longestChunk,
    `tokens ${stats.slmTokens}+${stats.llmTokens} within the budget ${s.tokenBudget}`,
  );
  if (mode === 'command') assert.ok((stats.turns ?? 0) <= s.maxTurns, 'command mode keeps the turn limit');
  for (const request of llm.requests)
    assert.ok(request.maxTokens >= 1 && request.maxTokens <= s.tokenBudget, `a call asks for 1..budget tokens (${request.maxTokens})`);

  // The partial answer is never lost: the answer is exactly what the spans showed.
  const spans = events.filter((e): e is Extract<RelayEvent, { type: 'span' }> => e.type === 'span');
  assert.equal(answer, spans.map((e) => e.text).join(''), 'the answer is the text of its spans');

  // Token counts add up.
  const llmSpanTokens = spans.filter((e) => e.source === 'llm').reduce((n, e) => n + e.tokens, 0);
  const slmSpanTokens = spans.filter((e) => e.source === 'slm').reduce((n, e) => n + e.tokens, 0);
  assert.equal(llmSpanTokens, stats.llmTokens, 'LLM span tokens add up to the LLM tokens');
  assert.ok(slmSpanTokens <= stats.slmTokens, 'shown SLM tokens never exceed generated ones (commands are hidden)');
  const ends = events.filter((e): e is Extract<RelayEvent, { type: 'call-end' }> => e.type === 'call-end');
  assert.equal(
    ends.reduce((n, e) => n + e.tokens, 0),
    stats.llmTokens,
    'call-end tokens add up to the LLM tokens',
  );
  const total = stats.slmTokens + stats.llmTokens;
  assert.equal(stats.llmTokenShare, total === 0 ? 0 : stats.llmTokens / total);

  // Calls are well formed: each start has its end, in order, none after done.
  const starts = events.filter((e) => e.type === 'call-start');
  assert.equal(starts.length, stats.calls);
  assert.equal(ends.length, stats.calls, 'every call-start has its call-end');
  let open: number | undefined;
  for (const event of events) {
    if (event.type === 'call-start') {
      assert.equal(open, undefined, 'calls do not overlap');
      open = event.callIndex;
    } else if (event.type === 'call-end') {
      assert.equal(event.callIndex, open);
      open = undefined;
    } else if (event.type === 'span' && event.source === 'llm') {
      assert.equal(event.callIndex, open, 'LLM text belongs to the open call');
    }
  }
  assert.equal(open, undefined);

  // Never loops on calls that add nothing: one is retried differently, the second ends the answer.
  let emptyInARow = 0;
  for (const end of ends) {
    emptyInARow = end.tokens === 0 && end.finishReason === 'length' ? emptyInARow + 1 : 0;
    assert.ok(emptyInARow <= 2, 'at most two empty calls in a row');
  }
  if (emptyInARow === 2) assert.equal(stats.finishReason, 'llm_no_progress', 'the second empty call in a row ends the answer');

  // Money: never negative, saved = LLM-only - cost, usage numbers sane; the ceiling stops further calls.
  const u = stats.llmUsage;
  for (const value of [u.inputTokens, u.outputTokens, u.cachedInputTokens, u.cacheWriteTokens]) {
    assert.ok(Number.isFinite(value) && value >= 0, `usage is a count (${value})`);
  }
  assert.ok(u.cachedInputTokens + u.cacheWriteTokens <= u.inputTokens, 'cached parts are parts of the input');
  if (s.priced) {
    assert.ok(stats.costUsd !== null && stats.costUsd >= 0, `cost ${stats.costUsd} >= 0`);
    assert.ok(stats.llmOnlyCostUsd !== null && stats.savedUsd !== null);
    // A failed, stopped, stalled or empty answer saves nothing (its calls are a loss); the LLM alone saves nothing by definition.
    const savesNothing = ['error', 'cancelled', 'stalled', 'llm_no_progress', 'slm_no_progress'].includes(stats.finishReason) || answer.trim() === '';
    const expectedSaving = savesNothing ? -stats.costUsd : stats.llmOnlyCostUsd - stats.costUsd;
    assert.ok(Math.abs(stats.savedUsd - expectedSaving) < 1e-9, `saved ${stats.savedUsd} = ${savesNothing ? '-cost' : 'LLM-only - cost'}`);
    if (mode === 'llm-only' || stats.routedTo === 'llm') assert.ok(Math.abs(stats.savedUsd) < 1e-12 || savesNothing, 'the LLM alone saves nothing');
    // Declined calls: each said why (predicted above what the answer could spend), none under llm-only;
    // under the USD ceiling alone only in money-aware mode (the others end the answer there: cost_limit).
    for (const event of events) {
      if (event.type !== 'call-declined') continue;
      const declines = s.maxCostRatio !== undefined || mode === 'money-aware';
      assert.ok(declines && mode !== 'llm-only' && stats.routedTo !== 'llm', 'only a ratio ceiling, or money-aware mode, declines calls');
      assert.ok(event.predictedUsd > event.allowanceUsd, 'a declined call would not have fit');
    }
    const cap = s.maxCostUsd ?? DEFAULT_MAX_COST_USD;
    let spent = 0;
    for (const event of events) {
      if (event.type === 'call-start') assert.ok(spent <= cap, `no call starts once the answer spent ${spent} of ${cap}`);
      if (event.type === 'call-end') spent += costOf(event.usage, PRICE) ?? 0;
    }
  } else if (stats.calls > 0) {
    assert.equal(stats.costUsd, null, 'an unknown price is unknown, never zero');
  }

  // Errors: an 'error' event exactly when the finish reason is 'error'.
  const errors = events.filter((e) => e.type === 'error');
  assert.equal(errors.length, stats.finishReason === 'error' ? 1 : 0, `error events match the finish reason ${stats.finishReason}`);
  // An overrunning call is cut near its allowance.
  for (const end of ends) {
    const asked = events.find((e) => e.type === 'call-start' && e.callIndex === end.callIndex);
    if (asked?.type === 'call-start') assert.ok(end.tokens <= asked.requestedTokens * OVERRUN_RATIO + OVERRUN_MARGIN + longestChunk);
  }
}

for (const mode of MODES) {
  test(`${mode}: under ${RUNS_PER_MODE} random misbehaving schedules every answer ends within its ceilings and its numbers add up`, async () => {
    await fc.assert(
      fc.asyncProperty(schedule, async (s) => {
        checkInvariants(mode, s, await runSchedule(mode, s));
      }),
      { numRuns: RUNS_PER_MODE, seed: Number(process.env.RELAY_PROPERTY_SEED ?? 20261202) },
    );
  });
}
