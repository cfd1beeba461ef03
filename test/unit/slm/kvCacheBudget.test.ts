// What the KV-cache budget (kvPrefixCache.ts) holds on real ONNX sessions of the tiny
// generated model: a cache larger than the whole budget is cut to its longest prefix that
// fits and kept as the most recently used (older ones go first); one whose tokens fit, though not
// its buffers' room to grow, is kept whole in buffers of its length; a short answer after long ones
// gets buffers of its own size, not a long one's spare set; between answers, the kept caches and
// the pool's spare set (kvCache.ts) hold at most the budget, and nothing at 0; while a session
// runs, the spare set fits the budget beside the kept caches and the session's buffers.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { tinyRuntimes } from './tinyRuntimes';
import type { LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { KvBufferPool, TokenMajorKvCache } from '../../../src/core/slm/onnx/kvCache';
import { KvPrefixCache } from '../../../src/core/slm/onnx/kvPrefixCache';
import type { KvOutputsMode } from '../../../src/core/slm/onnx/decoderSession';
import { maxAbsDiff } from '../../fixtures/referenceForward';

const MB = 2 ** 20;
const CHAT_A = '<|im_start|>user\nfirst chat about cats<|im_end|>\n<|im_start|>assistant\n';
const CHAT_B = '<|im_start|>user\nsecond chat about dogs<|im_end|>\n<|im_start|>assistant\n';
const LONG_1 = 'alpha beta gamma delta '.repeat(60);
const LONG_2 = 'zeta eta theta iota kappa '.repeat(60);
const SHORT = 'hi';
/** A chat's first turn (about 1,000 tokens) and its next, whose ids begin with all of the first's. */
const TURN_1 = '<|im_start|>user\n' + 'alpha beta gamma delta '.repeat(50) + '<|im_end|>\n<|im_start|>assistant\n';
const TURN_2 = TURN_1 + '<|im_end|>\n<|im_start|>user\nand then?<|im_end|>\n<|im_start|>assistant\n';
/** A long prompt sharing no token with TURN_1. */
const OTHER_LONG = 'zeta eta theta iota kappa '.repeat(40);

const { runtime } = tinyRuntimes({ variant: 'fp32' });

/** Prefills `prompt` on a new session, generates greedily, disposes it (its cache is kept). */
async function answer(rt: LocalRuntime, prompt: string, maxTokens = 2) {
  const session = await rt.createSession();
  const prefill = await session.prefill(prompt);
  const logits = await session.nextLogits();
  await session.generate({ maxTokens });
  await session.dispose();
  return { prefill, logits };
}

/** Bytes a token takes in every cache slot (float32 cache). */
function bytesPerToken(rt: LocalRuntime): number {
  const { numLayers, numKeyValueHeads, headDim } = rt.info.backend as { numLayers: number; numKeyValueHeads: number; headDim: number };
  return numLayers * 2 * numKeyValueHeads * headDim * 4;
}

/** The kept caches' KV buffers and the spare set: what stays in memory between answers. */
const heldBytes = (rt: LocalRuntime) => rt.keptKvCaches.reduce((sum, c) => sum + c.bytes, 0) + rt.spareKvBufferBytes;

const layouts: { name: string; kvOutputs: KvOutputsMode }[] = [
  { name: 'token-major', kvOutputs: 'in-place' },
  { name: 'head-major', kvOutputs: 'new-tokens' },
];

describe('a cache larger than the whole budget', () => {
  for (const { name, kvOutputs } of layouts) {
    test(`${name}: its longest prefix that fits the budget is kept, older caches going first; it decodes as without reuse`, async () => {
      const budget = 1 * MB;
      const rt = await runtime({ kvOutputs, kvCacheBudgetMb: budget / MB });
      const fresh = await runtime({ kvOutputs, kvCacheBudgetMb: 0 });
      await answer(rt, CHAT_A);
      await answer(rt, CHAT_B);
      const chats = rt.keptKvCaches.map((c) => c.tokens);
      assert.equal(chats.length, 2);
      const big = 'alpha beta gamma delta '.repeat(110);
      const bigTokens = rt.encode(big).length;
      assert.ok(bigTokens * bytesPerToken(rt) > budget, `the long prompt's cache alone holds more than the budget (${bigTokens} tokens)`);
      await answer(rt, big);
      const kept = rt.keptKvCaches;
      const prefix = kept[0].tokens;
      assert.ok(prefix > 0 && prefix < bigTokens, `a prefix of the long one is kept, not nothing (${prefix} of ${bigTokens} tokens)`);
      assert.ok(heldBytes(rt) <= budget, `${heldBytes(rt)} bytes held`);
      // Least recently used first out: the chats made room for the newest (until 2026-12-04 all three went).
      assert.deepEqual(
        kept.map((c) => c.tokens),
        [prefix],
        `the chats (${chats.join(', ')} tokens) made room: ${JSON.stringify(kept.map((c) => c.tokens))}`,
      );

      const followUp = await answer(rt, big + 'and more');
      assert.equal(followUp.prefill.reusedTokens, prefix, 'the long prompt again starts from its kept prefix');
      const diff = maxAbsDiff(followUp.logits, (await answer(fresh, big + 'and more')).logits);
      assert.ok(diff < 1e-4, `logits differ by ${diff}`);
    });
  }
});

describe('the spare buffer set', () => {
  for (const { name, kvOutputs } of layouts) {
    test(`${name}: a short answer after long ones is kept in buffers of its size beside the last long one; kept caches and the spare set stay within the budget`, async () => {
      const budget = 1.2 * MB;
      const rt = await runtime({ kvOutputs, kvCacheBudgetMb: budget / MB });
      const longTokens = rt.encode(LONG_2).length;
      assert.ok(2 * longTokens * bytesPerToken(rt) > budget, 'two long caches do not fit');
      for (const prompt of [LONG_1, LONG_2, SHORT]) {
        await answer(rt, prompt);
        assert.ok(heldBytes(rt) <= budget, `after ${rt.encode(prompt).length} tokens: ${heldBytes(rt)} bytes held, budget ${budget}`);
      }
      const kept = rt.keptKvCaches;
      assert.deepEqual(
        kept.map((c) => c.tokens),
        [rt.encode(SHORT).length + 1, longTokens + 1],
        'the short cache and the last long one are kept',
      );
      // One capacity step (256 tokens) is the least a cache holds.
      assert.ok(kept[0].bytes <= 256 * bytesPerToken(rt), `the short cache holds ${kept[0].bytes} bytes`);
      const followUp = await answer(rt, LONG_2 + 'more', 1);
      assert.ok(followUp.prefill.reusedTokens! >= longTokens - 1, `the long one is reused (${followUp.prefill.reusedTokens} of ${longTokens})`);
    });
  }

  for (const { name, kvOutputs } of layouts) {
    test(`${name}: with a budget of 0 nothing stays between answers, not even a spare set`, async () => {
      const rt = await runtime({ kvOutputs, kvCacheBudgetMb: 0 });
      for (const prompt of [LONG_1, SHORT]) {
        // LONG_1 grows its buffers past the first capacity step: the old and the final set both went to the pool.
        await answer(rt, prompt);
        assert.deepEqual(rt.keptKvCaches, []);
        assert.equal(rt.spareKvBufferBytes, 0, `after ${rt.encode(prompt).length} tokens`);
      }
    });
  }

  test('a long answer leaves its spare set for the next long one: a short answer does not take it', async () => {
    const rt = await runtime({});
    await answer(rt, LONG_1);
    const spare = rt.spareKvBufferBytes;
    assert.ok(spare > 256 * bytesPerToken(rt), `the long prompt grew its buffers, leaving a spare set of ${spare} bytes`);
    await answer(rt, SHORT);
    assert.equal(rt.spareKvBufferBytes, spare, 'the spare set is still there');
    assert.ok(rt.keptKvCaches[0].bytes <= 256 * bytesPerToken(rt), `the short cache holds ${rt.keptKvCaches[0].bytes} bytes`);
  });

  test('a kept cache cut far below its capacity is kept in buffers of its length', () => {
    const [slots, heads, headDim] = [4, 2, 16];
    const store = new KvPrefixCache(8 * MB);
    const cache = new TokenMajorKvCache(ort, slots, heads, headDim, 'float32', new KvBufferPool());
    cache.append(
      Array.from({ length: slots }, () => new Float32Array(heads * headDim * 1000)),
      1000,
    );
    const longBytes = cache.bytes;
    cache.truncate(10);
    store.keep(
      Array.from({ length: 10 }, (_, i) => i),
      cache,
    );
    const oneStep = 256 * slots * heads * headDim * 4;
    assert.deepEqual(store.entries, [{ tokens: 10, bytes: oneStep }]);
    assert.ok(oneStep * 4 < longBytes);
  });
});

/**
 * A kept-cache store of small float32 caches (4 slots, 2 heads of 16) with a budget of 4,096
 * tokens and its pool; `rows(n)` are n tokens' rows, `cache()` an empty cache on the pool.
 */
function smallKvStore() {
  const [slots, heads, headDim] = [4, 2, 16];
  const perToken = slots * heads * headDim * 4;
  const budget = 4096 * perToken;
  const pool = new KvBufferPool(budget);
  const store = new KvPrefixCache(budget, pool);
  const rows = (n: number) => Array.from({ length: slots }, () => new Float32Array(heads * headDim * n));
  const cache = () => new TokenMajorKvCache(ort, slots, heads, headDim, 'float32', pool);
  return { perToken, budget, pool, store, rows, cache };
}

describe('a cache whose tokens the budget holds, though not its room to grow', () => {
  for (const { name, kvOutputs } of layouts) {
    test(`${name}: is kept whole in buffers of its length; the next turn computes only what is new, as without reuse`, async () => {
      const fresh = await runtime({ kvOutputs, kvCacheBudgetMb: 0 });
      const context = fresh.encode(TURN_1).length;
      // Its buffers grew to 1.5x its length: 1.25x holds its tokens (in whole 256-token steps), not that room.
      const budget = 1.25 * context * bytesPerToken(fresh);
      assert.ok(Math.ceil(context / 256) * 256 * bytesPerToken(fresh) < budget, `${context} tokens fit the budget`);
      const rt = await runtime({ kvOutputs, kvCacheBudgetMb: budget / MB });
      const first = await rt.createSession();
      await first.prefill(TURN_1);
      await first.dispose();
      assert.deepEqual(
        rt.keptKvCaches.map((c) => c.tokens),
        [context],
        'all of it is kept',
      );
      assert.ok(heldBytes(rt) <= budget, `${heldBytes(rt)} bytes held, budget ${budget}`);
      const next = await answer(rt, TURN_2);
      assert.equal(next.prefill.reusedTokens, context, 'the next turn starts from all of the first');
      const diff = maxAbsDiff(next.logits, (await answer(fresh, TURN_2)).logits);
      assert.ok(diff < 1e-4, `logits differ by ${diff}`);
    });
  }

  test('older caches stay where moving a kept cache cut short into buffers of its length makes room', () => {
    const { perToken, budget, store, rows, cache: emptyCache } = smallKvStore();
    const filled = (first: number, n: number) => {
      const cache = emptyCache();
      cache.append(rows(n), n);
      return { ids: Array.from({ length: n }, (_, i) => first + i), cache };
    };
    const chat = filled(100_000, 10);
    store.keep(chat.ids, chat.cache);
    const long = filled(0, 2000);
    store.keep(long.ids, long.cache);
    // A second question on its first 1,100 tokens: handed over (no copy) in buffers for 3,072.
    const question = [...long.ids.slice(0, 1100), ...Array.from({ length: 20 }, (_, i) => 200_000 + i)];
    const taken = store.take(question)!;
    assert.equal(taken.ids.length, 1100);
    taken.kv.append(rows(20), 20);
    store.keep(question, taken.kv);
    assert.equal(store.entries[0].bytes, 3072 * perToken, 'its room to grow fits beside the chat');
    const other = filled(300_000, 800);
    store.keep(other.ids, other.cache);
    assert.deepEqual(
      store.entries.map((c) => c.tokens),
      [800, 1120, 10],
      'the question moved into buffers of its length, and the chat and the question stay',
    );
    assert.ok(store.bytes <= budget, `${store.bytes} bytes kept, budget ${budget}`);
  });
});

describe('the buffers a session outgrows while it runs', () => {
  for (const { name, kvOutputs } of layouts) {
    test(`${name}: are not kept as the spare set where, beside a kept long cache, they exceed the budget`, async () => {
      const probe = await runtime({ kvOutputs, kvCacheBudgetMb: 0 });
      const budget = 1.25 * probe.encode(TURN_1).length * bytesPerToken(probe);
      // Small chunks: the long prompt outgrows its buffers more than once while it is read.
      const rt = await runtime({ kvOutputs, kvCacheBudgetMb: budget / MB, prefillChunkTokens: 128 });
      await answer(rt, TURN_1);
      const kept = rt.keptKvCaches[0].bytes;
      const session = await rt.createSession();
      await session.prefill(OTHER_LONG);
      assert.equal(session.contextLength, rt.encode(OTHER_LONG).length);
      assert.ok(
        kept + rt.spareKvBufferBytes <= budget,
        `kept ${kept} + spare ${rt.spareKvBufferBytes} bytes held beside the running session, budget ${budget}`,
      );
      await session.dispose();
      assert.ok(heldBytes(rt) <= budget, `${heldBytes(rt)} bytes held after it, budget ${budget}`);
    });
  }

  test('a spare set is kept only where it fits the budget beside the kept caches and the running session', () => {
    const { budget, pool, store, rows, cache } = smallKvStore();
    const kept = cache();
    kept.append(rows(1000), 1000);
    store.keep(
      Array.from({ length: 1000 }, (_, i) => i),
      kept,
    );
    const live = cache();
    let pooled = 0;
    for (let length = 0; length < 1700; length += 128) {
      live.append(rows(128), 128);
      if (pool.spareBytes > 0) pooled++;
      const held = store.bytes + pool.spareBytes + live.bytes;
      assert.ok(
        pool.spareBytes === 0 || held <= budget,
        `at ${live.length} tokens: kept ${store.bytes} + spare ${pool.spareBytes} + live ${live.bytes} bytes, budget ${budget}`,
      );
    }
    assert.ok(pooled > 0, 'a set that fits is kept for the next answer');
  });
});
