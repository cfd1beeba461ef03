/**
 * The engine never runs away: LLM calls that add nothing, the SLM's context window, the
 * ceilings of calls, money and silence, a server that ignores max_tokens or reports
 * absurd usage, and the wait shown while a server sends nothing. On in-memory doubles;
 * the same cases against real servers and models are in cli/runaway.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectRelay, INSTRUCTION_TURN_MARKERS, type RelayOptions } from '../../../src/core/relay/engine';
import { CONTINUE_INSTRUCTION } from '../../../src/core/providers/seam';
import type { RelayEvent } from '../../../src/core/relay/events';
import { FRAMING_TOKENS_PER_MESSAGE } from '../../../src/core/relay/limits';
import { QUOTE_MARGIN, TokenRatios } from '../../../src/core/relay/money';
import { CALIBRATION_TEXT } from '../../../src/core/relay/tokenCalibration';
import { llmOnlyEstimateNote } from '../../../src/core/relay/cost';
import type { PrefillOptions } from '../../../src/core/slm/types';
import { chars, DoubleProvider, DoubleRuntime, usage, type ScriptedReply } from './doubles';

const messages = [{ role: 'user' as const, content: 'Q' }];
const PROMPT_CHARS = '[user]Q[assistant]'.length;

function options(slm: DoubleRuntime, replies: ScriptedReply[], extra: Partial<RelayOptions> = {}): RelayOptions & { llm: DoubleProvider } {
  return { mode: 'confidence', slm, llm: new DoubleProvider(replies), messages, slmSampling: { temperature: 0 }, ...extra } as RelayOptions & {
    llm: DoubleProvider;
  };
}

const repeat = <T>(value: T, n: number): T[] => Array.from({ length: n }, () => value);
const ofType = <K extends RelayEvent['type']>(events: RelayEvent[], type: K) => events.filter((e): e is Extract<RelayEvent, { type: K }> => e.type === type);

test('confidence mode: a continuation that adds nothing is retried once differently (the SLM writes the token), the second ends the answer', async () => {
  // Every SLM token is below the threshold; the server answers every call with nothing and 'length'.
  const slm = new DoubleRuntime(chars('abcdefgh', 0.1));
  const o = options(slm, repeat({ chunks: [], finish: 'length' as const }, 50), { confidence: { threshold: 0.9, maxLlmShare: 1 } });
  const { answer, stats, events } = await collectRelay(o);
  assert.equal(o.llm.requests.length, 2, 'two requests, not a loop');
  assert.equal(stats.finishReason, 'llm_no_progress');
  assert.equal(answer, 'a', 'between the two calls the SLM wrote the refused position itself');
  assert.deepEqual(
    events.filter((e) => e.type !== 'done').map((e) => e.type),
    ['call-start', 'call-end', 'span', 'call-start', 'call-end'],
  );
});

test('command mode: a continuation that adds nothing hands back to the SLM; two in a row end the answer', async () => {
  const slm = new DoubleRuntime([...chars('A'), ...chars('<call>4</call>'), ...chars('B'), ...chars('<call>4</call>'), ...chars('C')]);
  const o = options(
    slm,
    [
      { chunks: [''], finish: 'length' },
      { chunks: [], finish: 'length' },
    ],
    { mode: 'command' },
  );
  const { answer, stats } = await collectRelay(o);
  assert.equal(o.llm.requests.length, 2);
  assert.equal(stats.finishReason, 'llm_no_progress');
  assert.equal(answer, 'AB', 'everything written so far is kept');
});

test('an empty call then a useful one resets the count: the answer goes on', async () => {
  const slm = new DoubleRuntime([...chars('a'), { text: '?', top1: 0.1 }, ...chars('bc'), { text: '?', top1: 0.1, external: true }, ...chars('de')]);
  const o = options(slm, [{ chunks: [], finish: 'length' }, { chunks: ['XY'] }], { confidence: { threshold: 0.5, maxLlmShare: 1, spanTokens: 2 } });
  const { answer, stats } = await collectRelay(o);
  assert.equal(stats.finishReason, 'eos');
  assert.equal(answer, 'a?bcXYde', 'the first refused token was written by the SLM after the empty call; the second span by the LLM');
});

test('a prompt longer than the SLM reads is refused before any work, with the sizes', async () => {
  const slm = new DoubleRuntime(chars('never'), { contextWindow: 10 });
  const o = options(slm, [], { mode: 'command' });
  const { answer, stats, events } = await collectRelay(o);
  assert.equal(stats.finishReason, 'error');
  const error = ofType(events, 'error')[0];
  assert.equal(error.code, 'prompt_too_long');
  assert.match(error.message, new RegExp(`The prompt is ${PROMPT_CHARS} tokens; the small model reads at most 10`));
  assert.equal(slm.sessions.length, 0, 'no session was opened');
  assert.equal(o.llm.requests.length, 0);
  assert.equal(answer, '');
  assert.equal(stats.promptTokens, PROMPT_CHARS);
});

test('an answer that fills the window ends with context_full and keeps everything written', async () => {
  const slm = new DoubleRuntime(chars('abcdefghijklmnop'), { contextWindow: PROMPT_CHARS + 5 });
  const { answer, stats } = await collectRelay(options(slm, [], { mode: 'slm-only' }));
  assert.equal(stats.finishReason, 'context_full');
  assert.equal(answer, 'abcde');
});

test("the LLM's span is capped by the room left in the window, and text that would not fit ends the answer", async () => {
  const capped = new DoubleRuntime([...chars('ab'), ...chars('<call>50</call>'), ...chars('z')], { contextWindow: PROMPT_CHARS + 2 + 15 + 3 });
  const o = options(capped, [{ chunks: ['0123456789'] }], { mode: 'command' });
  const first = await collectRelay(o);
  assert.equal(o.llm.requests[0].maxTokens, 3, 'N = 50, but only 3 positions are left');
  assert.equal(first.answer, 'ab012');
  assert.equal(first.stats.finishReason, 'context_full');

  // A server that writes more than asked: its text is shown, but it cannot enter the SLM's context.
  const overflow = new DoubleRuntime([...chars('ab'), ...chars('<call>2</call>'), ...chars('z')], { contextWindow: PROMPT_CHARS + 2 + 14 + 3 });
  const o2 = options(overflow, [{ chunks: ['0123456789'], ignoreMaxTokens: true }], { mode: 'command' });
  const second = await collectRelay(o2);
  assert.equal(second.stats.finishReason, 'context_full');
  assert.equal(second.answer, 'ab0123456789', 'kept and shown');
  assert.deepEqual(overflow.sessions[0].appended, [], 'never appended past the window');
});

test('the call ceiling ends the answer before the next call', async () => {
  const slm = new DoubleRuntime(chars('abcdefghijkl', 0.1));
  const o = options(slm, repeat({ chunks: ['X'] }, 20), { confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 1 }, maxLlmCalls: 3 });
  const { answer, stats } = await collectRelay(o);
  assert.equal(o.llm.requests.length, 3);
  assert.equal(stats.calls, 3);
  assert.equal(stats.finishReason, 'call_limit');
  assert.equal(answer.replace(/[^X]/g, ''), 'XXX', 'three spans of the LLM (the share cap lets the SLM write one token between)');
});

// A dollar a token, easy to count; cache writes at 1.25x, as Anthropic's.
const DOLLAR_A_TOKEN = { inputPerMTok: 1_000_000, outputPerMTok: 1_000_000, cacheWritePerMTok: 1_250_000 };
// What the double sends on the first call: 'Q' and an empty partial answer (2 bytes), in 3
// messages' framing at most (the question, the partial answer, an instruction) plus the reply's.
const FIRST_CALL_BOUND = 2 + FRAMING_TOKENS_PER_MESSAGE * 4;
// Every call: the provider counts 30 tokens where the SLM counts 18 to 20, all written to its cache.
const BILLED = { chunks: ['X'], usage: usage(30, 1, 0, 30) };
const BILLED_USD = 30 * 1.25 + 1;

test('the money ceiling holds when the provider counts more tokens than the SLM and bills cache writes above input', async () => {
  const slm = new DoubleRuntime(chars('abcdefghijkl', 0.1));
  const o = options(slm, repeat(BILLED, 20), { confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 1 }, price: DOLLAR_A_TOKEN, maxCostUsd: 100 });
  const { stats } = await collectRelay(o);
  // Call 1, before any report: every byte a token, at the write price: 66 x 1.25 + 1 = 83.5 fits.
  // Call 2: 19 SLM tokens x the learned 30/18 x 1.25 margin, at the write price: 50.5 more, 89 fits.
  // Call 3 would be quoted at 53 more (130 in all) and is not made. Counted in the SLM's tokens
  // at the input price, as before, it was quoted at 21 and made: the answer cost 115.5.
  assert.equal(stats.finishReason, 'cost_limit');
  assert.equal(o.llm.requests.length, 2);
  assert.equal(stats.costUsd, 2 * BILLED_USD);
  assert.ok((stats.costUsd ?? 0) <= 100);
});

// DOLLAR_A_TOKEN with a long-context tier at twice its prices above 40 input tokens (as Gemini 2.5 Pro's above 200k).
const TIERED = { ...DOLLAR_A_TOKEN, tiers: [{ aboveInputTokens: 40, inputPerMTok: 2_000_000, outputPerMTok: 2_000_000, cacheWritePerMTok: 2_500_000 }] };

test('the money ceiling refuses a call whose long-context tier passes it although its base price would not', async () => {
  // The first call's worst case: 66 input tokens (a token per byte), past the tier: 66 x 2.5 + 2 = 167, not 83.5.
  const ceiling = 120;
  const settings = { confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 1 }, maxCostUsd: ceiling };
  const tiered = options(new DoubleRuntime(chars('abcdefghijkl', 0.1)), repeat(BILLED, 20), { ...settings, price: TIERED });
  const { stats } = await collectRelay(tiered);
  assert.equal(stats.finishReason, 'cost_limit');
  assert.equal(tiered.llm.requests.length, 0, 'not made: at its tier it could cost more than the ceiling');
  const flat = options(new DoubleRuntime(chars('abcdefghijkl', 0.1)), repeat(BILLED, 20), { ...settings, price: DOLLAR_A_TOKEN });
  await collectRelay(flat);
  assert.ok(flat.llm.requests.length > 0, 'at the base price the same call is made');
});

test("an answer's calls are each billed at their own tier, not at the tier of their summed input", async () => {
  // Every call is billed 30 input tokens, under the tier's 40: each at the base price, however many calls.
  const o = options(new DoubleRuntime(chars('abcdefghijkl', 0.1)), repeat(BILLED, 20), {
    confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 1 },
    price: TIERED,
    maxCostUsd: 400,
  });
  const { stats } = await collectRelay(o);
  assert.ok(o.llm.requests.length >= 2);
  assert.equal(stats.costUsd, o.llm.requests.length * BILLED_USD);
});

test("before the provider's count is known a call is priced at a token per byte; a learned ratio prices it closer", async () => {
  const ceiling = (FIRST_CALL_BOUND * 1.25 + 1) * 0.95; // the first call does not fit at a token per byte
  const script = chars('abcdefghijkl', 0.1);
  const settings = { confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 1 }, price: DOLLAR_A_TOKEN, maxCostUsd: ceiling };
  const fresh = options(new DoubleRuntime(script), repeat(BILLED, 20), settings);
  const first = await collectRelay(fresh);
  assert.equal(first.stats.finishReason, 'cost_limit');
  assert.equal(fresh.llm.requests.length, 0, 'not made: it could cost more than the ceiling');

  // The same pair after a reported call (kept across answers): 18 x 30/18 x 1.25 = 37.5 tokens, 47.9 in all.
  const ratios = new TokenRatios();
  ratios.add({ localInput: 18, reportedInput: 30, localOutput: 1, reportedOutput: 1 });
  const taught = options(new DoubleRuntime(script), repeat(BILLED, 20), { ...settings, tokenRatios: ratios });
  const second = await collectRelay(taught);
  assert.equal(second.stats.finishReason, 'cost_limit');
  assert.equal(taught.llm.requests.length, 1, 'the first call fits; the second (38.5 + 50.5) does not');
  assert.ok((second.stats.costUsd ?? 0) <= ceiling);
});

test("a provider that counts tokens for free teaches a new pair's input ratio before its first call, from Relay's sample text only", async () => {
  const ceiling = (FIRST_CALL_BOUND * 1.25 + 1) * 0.95; // as above: the first call does not fit at a token per byte
  const settings = { confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 1 }, price: DOLLAR_A_TOKEN, maxCostUsd: ceiling };
  const ratios = new TokenRatios();
  const o = options(new DoubleRuntime(chars('abcdefghijkl', 0.1)), repeat(BILLED, 20), { ...settings, tokenRatios: ratios });
  const counted: string[] = [];
  // The provider counts 30 tokens where the SLM counts 18 (one per character here).
  o.llm.countInputTokens = async (text) => {
    counted.push(text);
    return Math.round(([...text].length * 30) / 18);
  };
  const { stats } = await collectRelay(o);
  assert.deepEqual(counted, [CALIBRATION_TEXT], 'one count, of the sample: nothing of the question');
  assert.equal(o.llm.requests.length, 1, 'the first call fits, priced at the counted ratio');
  assert.equal(stats.finishReason, 'cost_limit');
  assert.ok((stats.costUsd ?? 0) <= ceiling);
  assert.equal(ratios.counted, 1);
  assert.match(stats.llmOnlyEstimateNote ?? '', /the ratios its call reported and its provider's count of a sample text/);
  const basis = { kind: 'calibrated' as const, calls: 0, counted: 1, outputRatio: 1, inputRatio: 30 / 18 };
  assert.match(
    llmOnlyEstimateNote(basis),
    /ratio from its provider's count of a sample text \(1\.67 input tokens per small-model token\), output counted in the small model's tokenizer/,
  );

  // A count that never answers: Stop ends the answer at once, nothing is sent.
  const stopped = new AbortController();
  const hanging = options(new DoubleRuntime(chars('abcdefghijkl', 0.1)), repeat(BILLED, 20), {
    ...settings,
    tokenRatios: new TokenRatios(),
    signal: stopped.signal,
  });
  hanging.llm.countInputTokens = () => {
    setTimeout(() => stopped.abort(), 20);
    return new Promise<number>(() => undefined);
  };
  const { stats: ended } = await collectRelay(hanging);
  assert.equal(ended.finishReason, 'cancelled');
  assert.equal(hanging.llm.requests.length, 0);
});

test('a call that continues by instruction is priced with the instruction turn it sends, once the token ratios are known', async () => {
  /** The first quote of an answer whose every call is declined (a ratio ceiling no call fits), by the provider's way of continuing. */
  const firstQuote = async (continuation: 'raw-completion' | 'instructed', ratios: TokenRatios): Promise<number> => {
    const o = options(new DoubleRuntime(chars('abcd', 0.1)), [], {
      mode: 'money-aware',
      confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 1 },
      price: DOLLAR_A_TOKEN,
      maxCostRatio: 0.001,
      tokenRatios: ratios,
    });
    (o.llm as { continuation: string }).continuation = continuation;
    const { events } = await collectRelay(o);
    assert.equal(o.llm.requests.length, 0);
    return ofType(events, 'call-declined')[0].predictedUsd;
  };
  const known = (): TokenRatios => {
    const ratios = new TokenRatios();
    ratios.add({ localInput: 100, reportedInput: 50, localOutput: 10, reportedOutput: 10 });
    return ratios;
  };
  // The instruction turn in the SLM's count (one token per character here) joins the prompt's, at the learned 0.5 per
  // token (the provider's count is whole), with the quote's margin.
  const instructionTokens = [...CONTINUE_INSTRUCTION].length + INSTRUCTION_TURN_MARKERS;
  const instruction = (Math.ceil((PROMPT_CHARS + instructionTokens) * 0.5) - PROMPT_CHARS * 0.5) * (1 + QUOTE_MARGIN);
  const difference = (await firstQuote('instructed', known())) - (await firstQuote('raw-completion', known()));
  assert.ok(Math.abs(difference - instruction) < 1e-6, `${difference} vs ${instruction}`);
  // Before any ratio is known the SLM's count of Relay's instruction is not used (it may be far from the LLM's).
  assert.equal(await firstQuote('instructed', new TokenRatios()), await firstQuote('raw-completion', new TokenRatios()));
});

test('silence: no new token for maxStallMs ends the answer as stalled, keeping the partial answer', async () => {
  const slm = new DoubleRuntime([...chars('Hi '), ...chars('<call>9</call>'), ...chars('rest')]);
  const o = options(slm, [{ chunks: ['abc'], hang: true }], { mode: 'command', maxStallMs: 150 });
  const { answer, stats, events } = await collectRelay(o);
  assert.equal(stats.finishReason, 'stalled');
  assert.equal(answer, 'Hi abc');
  const end = ofType(events, 'call-end')[0];
  assert.equal(end.finishReason, 'cancelled', 'the silent call was stopped');
  assert.equal(ofType(events, 'error').length, 0, 'a ceiling is not an error');
});

/** A runtime whose prompt reading takes `steps` steps, each reported, each waiting for `step()`; never returns when `steps` is Infinity. */
class SlowPrefillRuntime extends DoubleRuntime {
  prefillEnded: 'cancelled' | 'done' | undefined;
  constructor(
    script: ReturnType<typeof chars>,
    private readonly steps: number,
    private readonly step: () => Promise<void>,
  ) {
    super(script);
  }
  override async createSession() {
    const session = await super.createSession();
    const read = session.prefill.bind(session);
    session.prefill = async (text: string, prefillOptions?: PrefillOptions) => {
      for (let done = 0; done < this.steps; done++) {
        if (prefillOptions?.signal?.aborted) {
          this.prefillEnded = 'cancelled';
          throw new Error('prefill cancelled');
        }
        await Promise.race([this.step(), new Promise((resolve) => prefillOptions?.signal?.addEventListener('abort', resolve, { once: true }))]);
        prefillOptions?.onProgress?.({ done: done + 1, total: this.steps, reusedTokens: 0 });
      }
      this.prefillEnded = 'done';
      return read(text);
    };
    return session;
  }
}

test('silence: a prompt reading that never returns is ended by the silence ceiling (relay eval has no Stop)', async () => {
  const forever = new Promise<void>(() => undefined);
  const slm = new SlowPrefillRuntime(chars('Hi'), Infinity, () => forever);
  // A guard, not a timing: without the ceiling here the answer never ends.
  let guard: ReturnType<typeof setTimeout> | undefined;
  const hung = new Promise<never>((_, reject) => (guard = setTimeout(() => reject(new Error('the answer never ended')), 20_000)));
  const { stats } = await Promise.race([collectRelay(options(slm, [], { mode: 'slm-only', maxStallMs: 150 })), hung]).finally(() => clearTimeout(guard));
  assert.equal(stats.finishReason, 'stalled');
  assert.equal(slm.prefillEnded, 'cancelled', 'the reading was cancelled');
});

test('silence: a long prompt read step by step is progress, however long it takes in all', async () => {
  // 60 steps of 25 ms each: 1.5 s in all, past the 1 s ceiling, never near 1 s without a step.
  const slm = new SlowPrefillRuntime(chars('Hi'), 60, () => new Promise((resolve) => setTimeout(resolve, 25)));
  const { answer, stats } = await collectRelay(options(slm, [], { mode: 'slm-only', maxStallMs: 1000 }));
  assert.equal(slm.prefillEnded, 'done');
  assert.equal(stats.finishReason, 'eos');
  assert.equal(answer, 'Hi');
});

test('a call whose max_tokens could take the answer past the money ceiling is not made, though its input alone fits', async () => {
  // A reasoning model bills hidden output the mid-stream cut never sees (no text arrives), so every
  // output token the call is allowed (its max_tokens) is counted as written before it is made.
  // Input at a cent a token, output at a dollar: the first call's input is bounded at 66 tokens
  // ($0.66), its 20-token span at $20. A $10 ceiling leaves room for the input, not for the span.
  const price = { inputPerMTok: 10_000, outputPerMTok: 1_000_000 };
  const hidden = { chunks: [], finish: 'length' as const, usage: { ...usage(20, 20), reasoningTokens: 20 } };
  const settings = { confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 20 }, price };
  const ceiling = 10;
  assert.ok(ceiling > FIRST_CALL_BOUND * 0.01 && ceiling < FIRST_CALL_BOUND * 0.01 + 20, 'the input fits, input + span does not');
  const o = options(new DoubleRuntime(chars('abcdefghijkl', 0.1)), repeat(hidden, 5), { ...settings, maxCostUsd: ceiling });
  const { stats } = await collectRelay(o);
  assert.equal(o.llm.requests.length, 0, 'no request reaches the provider');
  assert.equal(stats.finishReason, 'cost_limit');
  assert.ok((stats.costUsd ?? 0) <= ceiling, `cost ${stats.costUsd} within ${ceiling}`);

  // A ceiling above input + span lets the call go; it bills $20.20, and the next call no longer fits.
  const roomy = options(new DoubleRuntime(chars('abcdefghijkl', 0.1)), repeat(hidden, 5), { ...settings, maxCostUsd: 21 });
  const made = await collectRelay(roomy);
  assert.equal(roomy.llm.requests.length, 1);
  assert.equal(made.stats.finishReason, 'cost_limit');
  assert.ok((made.stats.costUsd ?? 0) <= 21, `cost ${made.stats.costUsd} within 21`);
});

test('a server that ignores max_tokens is cut near what was asked; its text is kept', async () => {
  const slm = new DoubleRuntime([...chars('a'), ...chars('<call>1</call>'), ...chars('b')]);
  const flood = repeat('0123456789', 100); // 1000 characters for a 1-token span
  const o = options(slm, [{ chunks: flood, ignoreMaxTokens: true }], { mode: 'command' });
  const { stats, events } = await collectRelay(o);
  const end = ofType(events, 'call-end')[0];
  assert.ok(end.tokens >= 24 && end.tokens <= 24 + 10, `cut at 8 x 1 + 16 tokens, within one chunk (${end.tokens})`);
  assert.equal(end.finishReason, 'length');
  assert.equal(stats.llmTokens, end.tokens);
  assert.equal(stats.finishReason, 'eos', 'the SLM went on after the cut');
});

test('a server that ignores max_tokens is cut before its text could take the answer past the money ceiling', async () => {
  const script = [...chars('a'), ...chars('<call>1</call>'), ...chars('b')];
  const flood = repeat('0', 1000); // a character a chunk, 1000 for a 1-token span
  // The call fits, input at a token per byte at the write price, with room for 5 output tokens.
  const firstCallInput = 'a'.length + FIRST_CALL_BOUND;
  const ceiling = firstCallInput * 1.25 + 5;
  const o = options(new DoubleRuntime(script), [{ chunks: flood, ignoreMaxTokens: true }], { mode: 'command', price: DOLLAR_A_TOKEN, maxCostUsd: ceiling });
  const { answer, stats, events } = await collectRelay(o);
  const end = ofType(events, 'call-end')[0];
  // Before, only the overrun cut applied: 24 tokens (8 x 1 + 16), 19 past what the ceiling allowed.
  assert.equal(end.tokens, 6, 'cut at the first token past the 5 the ceiling leaves');
  assert.equal(end.finishReason, 'length');
  assert.equal(answer, 'a000000b', 'its text is kept and the SLM goes on');
  assert.ok((stats.costUsd ?? Infinity) <= ceiling, `booked ${stats.costUsd} within ${ceiling}`);

  // Under a ceiling far above, the same server is cut by the overrun rule only.
  const free = options(new DoubleRuntime(script), [{ chunks: flood, ignoreMaxTokens: true }], { mode: 'command', price: DOLLAR_A_TOKEN, maxCostUsd: 1e9 });
  const unbounded = ofType((await collectRelay(free)).events, 'call-end')[0];
  assert.equal(unbounded.tokens, 24);
});

test('absurd usage from a server is replaced by the local count, marked estimated', async () => {
  const slm = new DoubleRuntime([...chars('a'), ...chars('<call>2</call>'), ...chars('b')]);
  const absurd = { inputTokens: -5, outputTokens: Number.NaN, cachedInputTokens: 1e9, cacheWriteTokens: 0, estimated: false };
  const o = options(slm, [{ chunks: ['XY'], usage: absurd }], { mode: 'command', price: { inputPerMTok: 1, outputPerMTok: 1 } });
  const { stats } = await collectRelay(o);
  assert.equal(stats.llmUsage.estimated, true);
  assert.equal(stats.llmUsage.outputTokens, 2);
  assert.equal(stats.llmUsage.cachedInputTokens, 0);
  assert.ok((stats.costUsd ?? -1) > 0);
});

test('while a server sends nothing, the wait is reported every second with its host, then closed', async () => {
  const slm = new DoubleRuntime([...chars('a'), ...chars('<call>2</call>'), ...chars('b')]);
  // The server answers once the first tick was shown: a fixed delay would race the tick on a busy machine.
  let answer = (): void => undefined;
  const answerWhen = new Promise<void>((resolve) => (answer = resolve));
  // Bounded: with no tick at all the server answers after 10 s, and the assertions below fail.
  const fallback = setTimeout(() => answer(), 10_000);
  const o = options(slm, [{ chunks: ['XY'], answerWhen }], { mode: 'command' });
  const { events } = await collectRelay(o, (event) => {
    if (event.type === 'call-wait' && event.state === 'waiting') answer();
  });
  clearTimeout(fallback);
  const waits = ofType(events, 'call-wait');
  assert.ok(waits.length >= 2, 'at least one tick and the close');
  assert.equal(waits[0].state, 'waiting');
  assert.equal(waits[0].host, 'double.test');
  assert.ok(waits[0].waitedMs >= 1000);
  assert.equal(waits[waits.length - 1].state, 'receiving');
  const order = events.map((e) => e.type);
  assert.ok(order.indexOf('call-wait') > order.indexOf('call-start') && order.lastIndexOf('call-wait') < order.indexOf('call-end'));
});

test('bad ceilings fail at once with a clear message', async () => {
  const slm = new DoubleRuntime([]);
  await assert.rejects(async () => collectRelay(options(slm, [], { maxLlmCalls: 0 })), /maxLlmCalls must be a positive integer/);
  await assert.rejects(async () => collectRelay(options(slm, [], { maxCostUsd: -1 })), /maxCostUsd must be a positive number/);
  await assert.rejects(async () => collectRelay(options(slm, [], { maxStallMs: Number.NaN })), /maxStallMs must be a positive number/);
});

test('a span that fills the budget exactly is read to its end: the usage the server reports is booked and its end-of-sequence ends the answer', async () => {
  // 17 SLM tokens ('ab' and the command) leave 12 of 29: the call asks for them and gets exactly them.
  const slm = new DoubleRuntime([...chars('ab'), ...chars('<call>50</call>'), ...chars('cd')]);
  const o = options(slm, [{ chunks: ['x'.repeat(12)], finish: 'stop', usage: usage(100, 12), ignoreMaxTokens: true }], {
    mode: 'command',
    tokenBudget: 29,
    price: { inputPerMTok: 1, outputPerMTok: 1 },
  });
  const run = await collectRelay(o);
  assert.equal(o.llm.requests[0].maxTokens, 12);
  const [end] = ofType(run.events, 'call-end');
  assert.equal(end.finishReason, 'stop');
  assert.deepEqual([end.usage.estimated, end.usage.inputTokens, end.usage.outputTokens], [false, 100, 12], "the server's own usage");
  assert.equal(run.stats.finishReason, 'llm_eos');
  // One token more than asked is past the budget: cut there, as before.
  const over = options(
    new DoubleRuntime([...chars('ab'), ...chars('<call>50</call>')]),
    [{ chunks: [...repeat('x', 13)], finish: 'stop', ignoreMaxTokens: true }],
    {
      mode: 'command',
      tokenBudget: 29,
    },
  );
  const cut = await collectRelay(over);
  assert.equal(ofType(cut.events, 'call-end')[0].finishReason, 'length');
  assert.equal(cut.stats.llmTokens, 13, 'the chunk that crossed the budget is kept');
  assert.equal(cut.stats.finishReason, 'budget');
});

test('the LLM alone cut by the money ceiling ends as cost_limit (the note names the money, not the token budget)', async () => {
  // $1 a token: the first call's input is bounded at a token per byte, the ceiling leaves room
  // for 150 output tokens, and two-byte characters count as two until the output ratio is known.
  const o = options(new DoubleRuntime([]), [{ chunks: repeat('é', 100), finish: 'stop', usage: usage(5, 100) }], {
    mode: 'llm-only',
    tokenBudget: 100,
    price: { inputPerMTok: 1_000_000, outputPerMTok: 1_000_000 },
    maxCostUsd: 66 + 150,
  });
  const run = await collectRelay(o);
  const [end] = ofType(run.events, 'call-end');
  assert.equal(end.finishReason, 'length');
  assert.ok(end.tokens < 100, `cut by the money room (${end.tokens} of 100)`);
  assert.equal(run.stats.finishReason, 'cost_limit');
});
