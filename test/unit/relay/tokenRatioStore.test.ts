/**
 * Token ratios kept across sessions: what one session's calls taught prices the next
 * session's first call and LLM-alone estimate; what is read back from storage is checked,
 * bounded, and a failed write never fails an answer.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { NO_CACHE } from '../../../src/core/providers/billing';
import type { Usage } from '../../../src/core/providers/types';
import { COUNT_RETRY_MS, COUNT_TRIES, MoneyLedger, QUOTE_MARGIN, RESTORED_CALLS, TokenRatios, UNCALIBRATED_MARGIN } from '../../../src/core/relay/money';
import { MAX_TOKEN_RATIO_PAIRS, TOKEN_RATIOS_STATE_KEY, TokenRatioStore, type KeyValueBacking } from '../../../src/core/relay/tokenRatioStore';

const PRICE = { inputPerMTok: 2, outputPerMTok: 10 };
const PAIR = '/models/qwen3|openai-chat:gpt-5';

/** VS Code's Memento as it behaves: values go through JSON, writes are asynchronous. */
class JsonBacking implements KeyValueBacking {
  readonly values = new Map<string, string>();
  writes = 0;
  get(key: string): unknown {
    const text = this.values.get(key);
    return text === undefined ? undefined : JSON.parse(text);
  }
  async update(key: string, value: unknown): Promise<void> {
    this.writes += 1;
    this.values.set(key, JSON.stringify(value));
  }
}

/** One answer's call: the server counted `ratio` times the SLM's tokens, in and out. */
function teach(ratios: TokenRatios, ratio: number): void {
  const usage: Usage = { inputTokens: 1000 * ratio, outputTokens: 10 * ratio, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  new MoneyLedger(PRICE, NO_CACHE, {}, ratios).record({ localInput: 1000, localOutput: 10, usage, reported: true });
}

const settle = () => new Promise((resolve) => setImmediate(resolve));

test("a new session's first call is priced with the ratios the last session learned; without a backing every session starts uncalibrated", async () => {
  const backing = new JsonBacking();
  teach(new TokenRatioStore(backing).of(PAIR), 1.5);
  await settle();
  assert.equal(backing.writes, 1, 'saved once the call reported its usage');

  // A restart: a new store over the same state.
  const restored = new TokenRatioStore(backing).of(PAIR);
  assert.equal(restored.known, true);
  assert.ok(Math.abs(restored.input - 1.5) < 1e-12 && Math.abs(restored.output - 1.5) < 1e-12);
  const ledger = new MoneyLedger(PRICE, NO_CACHE, {}, restored);
  assert.ok(
    Math.abs(ledger.quoteUsd(100, 1) - ((150 * 2 + 1 * 10) / 1e6) * (1 + QUOTE_MARGIN)) < 1e-15,
    "the quote in the LLM's counts, with the calibrated margin",
  );
  assert.ok(Math.abs(ledger.llmOnlyUsd(100, 20) - (150 * 2 + 30 * 10) / 1e6) < 1e-15, 'the LLM-alone estimate too');
  assert.equal(ledger.llmOnlyBasis().kind, 'calibrated');

  // Another pair, or no backing: nothing learned, the SLM's counts with the wider margin.
  const other = new MoneyLedger(PRICE, NO_CACHE, {}, new TokenRatioStore(backing).of('/models/qwen3|anthropic:claude-sonnet-4-6'));
  assert.ok(Math.abs(other.quoteUsd(100, 1) - ((100 * 2 + 1 * 10) / 1e6) * (1 + UNCALIBRATED_MARGIN)) < 1e-15);
  assert.equal(new TokenRatioStore().of(PAIR).known, false);
});

test('restored ratios weigh at most RESTORED_CALLS calls, so this session soon outweighs an old tokenizer', () => {
  const backing = new JsonBacking();
  const first = new TokenRatioStore(backing).of(PAIR);
  for (let i = 0; i < 200; i++) teach(first, 2);
  const restored = new TokenRatioStore(backing).of(PAIR);
  assert.equal(restored.calls, RESTORED_CALLS);
  assert.ok(Math.abs(restored.input - 2) < 1e-12);
  // The provider now counts like the SLM: 20 calls bring the ratio halfway, not 1/11 of the way.
  for (let i = 0; i < RESTORED_CALLS; i++) teach(restored, 1);
  assert.ok(Math.abs(restored.input - 1.5) < 1e-12, String(restored.input));
});

test("the hidden reasoning per call one session's calls reported prices the next session's first call; a snapshot from before it was kept loads with none", async () => {
  const backing = new JsonBacking();
  const usage: Usage = { inputTokens: 1000, outputTokens: 510, reasoningTokens: 500, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  new MoneyLedger(PRICE, NO_CACHE, {}, new TokenRatioStore(backing).of(PAIR)).record({ localInput: 1000, localOutput: 10, usage, reported: true });
  await settle();
  const restored = new TokenRatioStore(backing).of(PAIR);
  assert.equal(restored.reasoningPerCall, 500);
  // A new answer's ledger, before any call of its own: its quote holds the 500 tokens (max_tokens does not bound them).
  const ledger = new MoneyLedger(PRICE, NO_CACHE, {}, restored);
  assert.ok(Math.abs(ledger.quoteUsd(100, 1) - ((100 * 2 + 501 * 10) / 1e6) * (1 + QUOTE_MARGIN)) < 1e-15, String(ledger.quoteUsd(100, 1)));
  assert.ok(Math.abs(ledger.quoteUsd(100, 1, true) - ((100 * 2 + 1 * 10) / 1e6) * (1 + QUOTE_MARGIN)) < 1e-15, 'not where the limit bounds them');

  const old = new JsonBacking();
  old.values.set(TOKEN_RATIOS_STATE_KEY, JSON.stringify({ [PAIR]: { calls: 3, counted: 0, reportedIn: 3000, localIn: 2500, reportedOut: 30, localOut: 25 } }));
  const loaded = new TokenRatioStore(old).of(PAIR);
  assert.ok(loaded.known && Math.abs(loaded.input - 1.2) < 1e-12);
  assert.equal(loaded.reasoningPerCall, 0);
});

test('ratios restored, taught and saved again load in the next session, their reasoning per call kept (the restore rounds calls, never below the reasoning calls)', () => {
  for (const calls of [20, 30, 38, 147, 281, 294]) {
    for (const counted of [0, 1]) {
      const saved = {
        calls,
        counted,
        reportedIn: 1500 * calls,
        localIn: 1000 * calls,
        reportedOut: 12 * calls,
        localOut: 10 * calls,
        reasoning: 500 * calls,
        reasoningCalls: calls,
      };
      const session2 = TokenRatios.restore(saved);
      assert.ok(session2, JSON.stringify(saved));
      session2.add({ localInput: 1000, reportedInput: 1500, localOutput: 10, reportedOutput: 512, reasoning: 500 });
      const session3 = TokenRatios.restore(session2.snapshot());
      assert.ok(session3?.known, `calls ${calls}, counted ${counted}: ${JSON.stringify(session2.snapshot())}`);
      assert.ok(Math.abs(session3.input - 1.5) < 1e-9);
      assert.ok(Math.abs(session3.reasoningPerCall - 500) < 1e-9, String(session3.reasoningPerCall));
    }
  }
});

test('what storage gives back is checked: anything but sums of a real measurement is ignored, never thrown', () => {
  const good = { calls: 3, reportedIn: 3000, localIn: 2500, reportedOut: 30, localOut: 25 };
  const bad: unknown[] = [
    'text',
    [1, 2, 3],
    null,
    { ...good, calls: 0 },
    { ...good, localIn: 0 },
    { ...good, reportedIn: -5 },
    { ...good, reportedOut: Number.NaN },
    { ...good, localOut: '25' },
    { ...good, reportedIn: 1e9 },
    { ...good, calls: 0, counted: 0 },
    { ...good, counted: -1 },
    { ...good, reasoning: -1, reasoningCalls: 1 },
    { ...good, reasoning: '500', reasoningCalls: 1 },
  ];
  // A reasoning part no calls could have reported is dropped; the ratios it came with are kept.
  for (const entry of [
    { ...good, reasoning: 500, reasoningCalls: 4 },
    { ...good, reasoning: 1e9, reasoningCalls: 1 },
    { ...good, reasoning: 500, reasoningCalls: 0 },
  ]) {
    const backing = new JsonBacking();
    backing.values.set(TOKEN_RATIOS_STATE_KEY, JSON.stringify({ [PAIR]: entry }));
    const ratios = new TokenRatioStore(backing).of(PAIR);
    assert.ok(ratios.known && Math.abs(ratios.input - 1.2) < 1e-12, JSON.stringify(entry));
    assert.equal(ratios.reasoningPerCall, 0, JSON.stringify(entry));
  }
  for (const entry of bad) {
    const backing = new JsonBacking();
    backing.values.set(TOKEN_RATIOS_STATE_KEY, JSON.stringify({ [PAIR]: entry }));
    assert.equal(new TokenRatioStore(backing).of(PAIR).known, false, JSON.stringify(entry));
  }
  for (const record of ['not a record', [good], 42]) {
    const backing = new JsonBacking();
    backing.values.set(TOKEN_RATIOS_STATE_KEY, JSON.stringify(record));
    assert.equal(new TokenRatioStore(backing).of(PAIR).known, false);
  }
  const backing = new JsonBacking();
  backing.values.set(TOKEN_RATIOS_STATE_KEY, JSON.stringify({ [PAIR]: good }));
  assert.ok(Math.abs(new TokenRatioStore(backing).of(PAIR).input - 1.2) < 1e-12, 'a good entry is read');
});

test(`at most ${MAX_TOKEN_RATIO_PAIRS} pairs are kept, the longest untaught dropped first`, async () => {
  const backing = new JsonBacking();
  const store = new TokenRatioStore(backing);
  for (let i = 0; i < MAX_TOKEN_RATIO_PAIRS + 8; i++) teach(store.of(`/models/m${i}|openai-chat:gpt-5`), 1 + i / 100);
  await settle();
  const kept = Object.keys(backing.get(TOKEN_RATIOS_STATE_KEY) as object);
  assert.equal(kept.length, MAX_TOKEN_RATIO_PAIRS);
  assert.equal(kept[0], '/models/m8|openai-chat:gpt-5');
  assert.equal(kept.at(-1), `/models/m${MAX_TOKEN_RATIO_PAIRS + 7}|openai-chat:gpt-5`);
  // Teaching an old pair again moves it last, so it outlives the others.
  teach(new TokenRatioStore(backing).of('/models/m8|openai-chat:gpt-5'), 1);
  await settle();
  assert.equal(Object.keys(backing.get(TOKEN_RATIOS_STATE_KEY) as object).at(-1), '/models/m8|openai-chat:gpt-5');
});

test('a storage that refuses writes costs only the saving: the ratios still learn, nothing throws', async () => {
  const refusing: KeyValueBacking = {
    get: () => undefined,
    update: () => Promise.reject(new Error('storage is read-only')),
  };
  const throwing: KeyValueBacking = {
    get: () => undefined,
    update: () => {
      throw new Error('storage closed');
    },
  };
  for (const backing of [refusing, throwing]) {
    const ratios = new TokenRatioStore(backing).of(PAIR);
    teach(ratios, 2);
    assert.equal(ratios.input, 2);
  }
  await settle();
});

test("a provider's count of a sample text teaches the input ratio once, before any call, and is kept across sessions", async () => {
  const backing = new JsonBacking();
  const ratios = new TokenRatioStore(backing).of(PAIR);
  let counts = 0;
  const count = async () => {
    counts += 1;
    return { localInput: 500, reportedInput: 650 };
  };
  // Two answers that start at once share one count; a later one does not count again.
  await Promise.all([ratios.calibrate(count), ratios.calibrate(count)]);
  await ratios.calibrate(count);
  assert.equal(counts, 1);
  assert.equal(ratios.known, true);
  assert.equal(ratios.calls, 0);
  assert.equal(ratios.counted, 1);
  assert.ok(Math.abs(ratios.input - 1.3) < 1e-12);
  assert.equal(ratios.output, 1, 'output is not counted: as before any call');
  await settle();
  const restored = new TokenRatioStore(backing).of(PAIR);
  assert.equal(restored.known, true, 'the next session starts with it');
  assert.ok(Math.abs(restored.input - 1.3) < 1e-12);
  assert.equal(restored.addCount({ localInput: 500, reportedInput: 600 }), false, 'known already: not counted again');

  // What a server answers is untrusted; a failed count leaves the pair as it was, and one that cannot pass is not retried.
  const fresh = new TokenRatios();
  assert.equal(fresh.addCount({ localInput: 500, reportedInput: 1e6 }), false);
  assert.equal(fresh.addCount({ localInput: 0, reportedInput: 50 }), false);
  assert.equal(fresh.known, false);
  let tries = 0;
  const failing = async (): Promise<{ localInput: number; reportedInput: number }> => {
    tries += 1;
    throw new Error('404');
  };
  await fresh.calibrate(failing);
  await fresh.calibrate(failing);
  assert.equal(tries, 1);
  assert.equal(fresh.known, false);
});

test('a count that failed in passing is asked again by an answer a minute later, at most COUNT_TRIES times; one that cannot pass never', async () => {
  let clock = 0;
  const now = () => clock;
  const ratios = new TokenRatios();
  let tries = 0;
  let answer: 'busy' | 'count' = 'busy';
  const count = async () => {
    tries += 1;
    if (answer === 'busy') throw new Error('HTTP 503');
    return { localInput: 500, reportedInput: 650 };
  };
  const options = { retryable: (error: unknown) => String(error).includes('503'), now };
  await ratios.calibrate(count, options);
  assert.equal(tries, 1);
  clock += COUNT_RETRY_MS - 1;
  await Promise.all([ratios.calibrate(count, options), ratios.calibrate(count, options)]);
  assert.equal(tries, 1, 'not before the wait');
  clock += 1;
  await Promise.all([ratios.calibrate(count, options), ratios.calibrate(count, options)]);
  assert.equal(tries, 2, 'after it, once for the answers that start together');
  answer = 'count';
  clock += COUNT_RETRY_MS;
  await ratios.calibrate(count, options);
  assert.equal(tries, 3);
  assert.equal(ratios.known, true);
  assert.ok(Math.abs(ratios.input - 1.3) < 1e-12);

  // Failing every time: COUNT_TRIES tries, however long the process runs.
  const never = new TokenRatios();
  let neverTries = 0;
  const busy = async (): Promise<{ localInput: number; reportedInput: number }> => {
    neverTries += 1;
    throw new Error('HTTP 503');
  };
  for (let i = 0; i < COUNT_TRIES + 3; i++) {
    await never.calibrate(busy, options);
    clock += COUNT_RETRY_MS;
  }
  assert.equal(neverTries, COUNT_TRIES);
  assert.equal(never.known, false);

  // A failure that cannot pass (no endpoint, a refused key): one try.
  const once = new TokenRatios();
  let onceTries = 0;
  const missing = async (): Promise<{ localInput: number; reportedInput: number }> => {
    onceTries += 1;
    throw new Error('HTTP 404');
  };
  for (let i = 0; i < 3; i++) {
    await once.calibrate(missing, options);
    clock += COUNT_RETRY_MS * 10;
  }
  assert.equal(onceTries, 1);
});

test('two windows share the backing: each saves its pair into the record as it is now, never a copy read earlier', async () => {
  const backing = new JsonBacking();
  const gpt = '/models/qwen3|openai-chat:gpt-5';
  const claude = '/models/qwen3|anthropic:claude-sonnet-4-6';
  backing.values.set(TOKEN_RATIOS_STATE_KEY, JSON.stringify({ [gpt]: { calls: 1, reportedIn: 1100, localIn: 1000, reportedOut: 11, localOut: 10 } }));
  const windowA = new TokenRatioStore(backing);
  const windowB = new TokenRatioStore(backing);
  // Each window's first answer reads the record: B sees the gpt-5 pair at 1.1.
  const a = windowA.of(gpt);
  const b = windowB.of(claude);
  assert.ok(Math.abs(windowB.of(gpt).input - 1.1) < 1e-12);
  // Window A learns a new gpt-5 ratio and saves it, then window B learns its own pair and saves it.
  for (let i = 0; i < 20; i++) teach(a, 1.5);
  await settle();
  teach(b, 1.2);
  await settle();
  const record = backing.get(TOKEN_RATIOS_STATE_KEY) as Record<string, unknown>;
  assert.deepEqual(Object.keys(record).sort(), [claude, gpt].sort(), "B's save kept A's pair");
  // The next session sees A's gpt-5 ratio, not the 1.1 B had read before A saved.
  const restarted = new TokenRatioStore(backing);
  assert.ok(Math.abs(restarted.of(gpt).input - a.input) < 1e-12, `gpt-5 restored at ${restarted.of(gpt).input}, A learned ${a.input}`);
  assert.ok(Math.abs(restarted.of(claude).input - 1.2) < 1e-12);
  // A pair first used after another window saved it starts with what that window learned.
  const windowC = new TokenRatioStore(backing);
  windowC.of('/models/other|openai-chat:gpt-5');
  teach(windowA.of('/models/late|openai-chat:gpt-5'), 1.7);
  await settle();
  assert.ok(Math.abs(windowC.of('/models/late|openai-chat:gpt-5').input - 1.7) < 1e-12);
});

test('a pair saved while an earlier write has not applied yet keeps both pairs', async () => {
  /** A backing whose writes show only once they have ended (a later tick). */
  class LateBacking extends JsonBacking {
    override async update(key: string, value: unknown): Promise<void> {
      this.writes += 1;
      const text = JSON.stringify(value);
      await settle();
      this.values.set(key, text);
    }
  }
  const backing = new LateBacking();
  const store = new TokenRatioStore(backing);
  teach(store.of('/models/a|openai-chat:gpt-5'), 1.5);
  teach(store.of('/models/b|openai-chat:gpt-5'), 1.2);
  await settle();
  await settle();
  assert.deepEqual(Object.keys(backing.get(TOKEN_RATIOS_STATE_KEY) as object), ['/models/a|openai-chat:gpt-5', '/models/b|openai-chat:gpt-5']);
});
