// KV caches kept across sessions (kvPrefixCache.ts) on real ONNX sessions of the tiny
// generated model: a new prompt starts from the longest token prefix a kept cache shares
// with it and decodes exactly as a runtime that keeps none; Retry computes nothing; the
// budget evicts the least recently used; caches never cross variants; spliced text is reused
// only as far as its ids match; long prompts report progress and stop between chunks.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { tinyRuntimes } from './tinyRuntimes';
import { createLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from '../../../src/core/slm/onnx/localRuntime';
import { createProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import type { KvOutputsMode } from '../../../src/core/slm/onnx/decoderSession';
import { keepsKvCaches, type OnnxVariant, type PrefillProgress } from '../../../src/core/slm/types';
import { join } from 'node:path';
import { maxAbsDiff } from '../../fixtures/referenceForward';

const PROMPT = '<|im_start|>user\nHello there, how are you today?<|im_end|>\n<|im_start|>assistant\n';
const turn = (text: string) => `<|im_end|>\n<|im_start|>user\n${text}<|im_end|>\n<|im_start|>assistant\n`;

const tiny = tinyRuntimes();
const runtime = tiny.runtime;

function sharedPrefix(a: readonly number[], b: readonly number[]): number {
  let i = 0;
  while (i < a.length && i < b.length && a[i] === b[i]) i++;
  return i;
}

/** Prefills `prompt` on a new session, generates greedily, disposes it (its cache is kept); the tokens, ids and prefill report. */
async function answer(rt: LocalRuntime, prompt: string, maxTokens: number) {
  const session = await rt.createSession();
  const prefill = await session.prefill(prompt);
  const logits = await session.nextLogits();
  const result = await session.generate({ maxTokens });
  const ids = [...session.tokenIds];
  await session.dispose();
  // The last sampled token is never fed to the model: the kept cache (most recently used
  // first) holds the ids before it, and a later prompt can reuse no more than those.
  const cachedIds = ids.slice(0, rt.keptKvCaches[0]?.tokens ?? 0);
  return { prefill, logits, tokens: result.tokens.map((t) => t.id), text: result.text, ids, cachedIds };
}

const layouts: { variant: OnnxVariant; kvOutputs: KvOutputsMode }[] = [
  { variant: 'fp32', kvOutputs: 'in-place' },
  { variant: 'fp32', kvOutputs: 'new-tokens' },
  { variant: 'int8', kvOutputs: 'in-place' },
  { variant: 'q4', kvOutputs: 'in-place' },
];

describe('a new prompt starts from a kept cache', () => {
  for (const { variant, kvOutputs } of layouts) {
    test(`${variant}, ${kvOutputs === 'in-place' ? 'token-major' : 'head-major'} cache: a chat of three turns and a Retry decode as without reuse, computing only what is new`, async () => {
      const reuse = await runtime({ variant, kvOutputs });
      const fresh = await runtime({ variant, kvOutputs, kvCacheBudgetMb: 0 });
      const float32 = await runtime({ variant: 'fp32', kvCacheBudgetMb: 0 });
      let prompt = PROMPT;
      let previous: number[] = [];
      let previousPromptLength = 0;
      for (const [i, message] of ['Tell me more about that.', 'And then what happened?', 'Thanks.'].entries()) {
        const withReuse = await answer(reuse, prompt, 10);
        const without = await answer(fresh, prompt, 10);
        assert.equal(without.prefill.reusedTokens, 0, 'budget 0 keeps nothing');
        const promptIds = reuse.encode(prompt);
        // Where the previous answer's cache and this prompt's ids first differ (or one token
        // short of the end, whose logits must be computed): the rest is computed.
        const expected = i === 0 ? 0 : Math.min(sharedPrefix(previous, promptIds), promptIds.length - 1);
        assert.equal(withReuse.prefill.reusedTokens, expected, `turn ${i + 1}: reused tokens`);
        // (A merge across the end of the previous prompt may take its last token; the random model's text rarely re-tokenises as generated.)
        if (i > 0) assert.ok(expected >= previousPromptLength - 1, `turn ${i + 1}: the previous turn's prompt is reused (${expected} of ${promptIds.length})`);
        // int8 files quantise activations per run (one scale per tensor), so rows computed in other
        // runs carry other rounding and greedy tokens may part where two are close (asserted below).
        if (variant !== 'int8') assert.deepEqual(withReuse.tokens, without.tokens, `turn ${i + 1}: same greedy tokens`);
        const diff = maxAbsDiff(withReuse.logits, without.logits);
        if (variant === 'int8') {
          // Reuse is as close to float32 as a fresh prefill (the two are 0.3 apart here, both about 0.22 from float32).
          const exact = (await answer(float32, prompt, 0)).logits;
          const reuseError = maxAbsDiff(withReuse.logits, exact);
          const freshError = maxAbsDiff(without.logits, exact);
          assert.ok(reuseError <= 1.5 * freshError, `turn ${i + 1}: ${reuseError} from float32 with reuse, ${freshError} without (apart: ${diff})`);
        } else {
          assert.ok(diff < 1e-4, `turn ${i + 1}: logits differ by ${diff}`);
        }
        previous = withReuse.cachedIds;
        previousPromptLength = promptIds.length;
        prompt += withReuse.text + turn(message);
      }
      // Retry: the same prompt again; nothing is computed, and the logits are the very same.
      const first = await answer(reuse, prompt, 10);
      const retry = await answer(reuse, prompt, 10);
      assert.equal(retry.prefill.reusedTokens, retry.prefill.tokenCount, 'Retry computes no prompt token');
      assert.deepEqual(retry.logits, first.logits);
      assert.deepEqual(retry.tokens, first.tokens);
      if (variant !== 'int8') assert.deepEqual(retry.tokens, (await answer(fresh, prompt, 10)).tokens);
    });
  }

  test('a second question on the same text computes only the question', async () => {
    const rt = await runtime({ variant: 'fp32' });
    const fresh = await runtime({ variant: 'fp32', kvCacheBudgetMb: 0 });
    const selection = 'the cat sat on the mat and then the dog came in '.repeat(8);
    const ask = (q: string) => `<|im_start|>user\n${selection}\n${q}<|im_end|>\n<|im_start|>assistant\n`;
    await answer(rt, ask('What is this?'), 40);
    const second = await answer(rt, ask('Who came in?'), 6);
    const shared = sharedPrefix(rt.encode(ask('What is this?')), rt.encode(ask('Who came in?')));
    assert.equal(second.prefill.reusedTokens, shared);
    assert.deepEqual(second.tokens, (await answer(fresh, ask('Who came in?'), 6)).tokens);
    assert.equal(rt.keptKvCaches.length, 1, 'the first cache, mostly the selection, was handed over and came back with the second question');
  });

  test('a prompt sharing less than half of a kept cache gets a copy of that part, and the kept cache stays; a copy that wrote the same tokens again is not kept beside it', async () => {
    const rt = await runtime({ variant: 'fp32' });
    const fresh = await runtime({ variant: 'fp32', kvCacheBudgetMb: 0 });
    const promptTokens = rt.encode(PROMPT).length;
    const long = await answer(rt, PROMPT, 60);
    assert.ok(promptTokens * 2 < long.ids.length - 1);
    const kept = rt.keptKvCaches;
    assert.equal(kept.length, 1);
    const retry = await answer(rt, PROMPT, 5);
    assert.equal(retry.prefill.reusedTokens, promptTokens);
    assert.deepEqual(retry.logits, long.logits);
    assert.deepEqual(retry.tokens, long.tokens.slice(0, 5));
    // The copy holds the long cache's first tokens and the same logits: the long one serves all it would, so the budget holds them once.
    assert.deepEqual(rt.keptKvCaches, kept, 'the long one alone, as it was');
    const again = await answer(rt, PROMPT, 5);
    assert.equal(again.prefill.reusedTokens, promptTokens, 'a Retry of the copy computes nothing either');
    assert.deepEqual(again.logits, long.logits);
    assert.deepEqual(again.tokens, retry.tokens);
    assert.deepEqual(again.tokens, (await answer(fresh, PROMPT, 5)).tokens, 'the same greedy tokens as without reuse');
    assert.deepEqual(rt.keptKvCaches, kept);
  });
});

describe('spliced text', () => {
  test('a cache holding LLM text appended in pieces is reused only up to the first id the re-tokenised prompt does not share', async () => {
    const rt = await runtime({ variant: 'fp32' });
    const fresh = await runtime({ variant: 'fp32', kvCacheBudgetMb: 0 });
    // 'th' then 'e cat' as two spans give ids [t][h][e]..., where 'the cat' as one text gives [t][he]...
    assert.notDeepEqual([...rt.encode('th'), ...rt.encode('e cat')], rt.encode('the cat'), 'the seam tokenises differently');
    const session = await rt.createSession();
    await session.prefill(PROMPT);
    await session.append('th');
    await session.append('e cat');
    await session.generate({ maxTokens: 4 });
    const cached = [...session.tokenIds].slice(0, -1); // the last generated token waits to be fed
    await session.dispose();
    const next = PROMPT + 'the cat sat' + turn('ok');
    const nextIds = rt.encode(next);
    const withReuse = await answer(rt, next, 8);
    assert.equal(withReuse.prefill.reusedTokens, sharedPrefix(cached, nextIds));
    assert.equal(withReuse.prefill.reusedTokens, rt.encode(PROMPT).length + 1, 'the prompt and the t: not the h the cache holds');
    const without = await answer(fresh, next, 8);
    assert.deepEqual(withReuse.tokens, without.tokens);
    assert.ok(maxAbsDiff(withReuse.logits, without.logits) < 1e-4);
  });
});

describe('kept caches', () => {
  test('are kept within the budget, least recently used out first', async () => {
    // A cache of the tiny model takes 2 layers x 2 x 2 heads x 16 x 4 bytes = 512 bytes a token, 256 tokens of capacity: 128 KiB.
    const rt = await runtime({ variant: 'fp32', kvCacheBudgetMb: 0.2 });
    const a = '<|im_start|>user\nfirst question<|im_end|>\n<|im_start|>assistant\n';
    const b = 'Another conversation, not a chat template in sight';
    await answer(rt, a, 4);
    assert.equal(rt.keptKvCaches.length, 1);
    const bytes = rt.keptKvCaches[0].bytes;
    assert.ok(bytes > 0.1 * 2 ** 20 && bytes <= 0.2 * 2 ** 20, `one cache fits the budget (${bytes} bytes), two do not`);
    await answer(rt, b, 4);
    assert.equal(rt.keptKvCaches.length, 1, 'the older cache went');
    assert.equal((await answer(rt, a, 4)).prefill.reusedTokens, 0, 'evicted: computed again');
    assert.ok((await answer(rt, a, 4)).prefill.reusedTokens! > 0, 'kept again');
  });

  test("a Retry's copy is not kept beside the longer cache it came from: a budget that holds two conversations keeps both", async () => {
    const other = '<|im_start|>user\nSomething else entirely.<|im_end|>\n<|im_start|>assistant\n';
    /** Another conversation, then a long answer, then its Retry, which copies the long cache's prompt and writes its first tokens again. */
    const run = async (rt: LocalRuntime) => {
      const first = await answer(rt, other, 4);
      const long = await answer(rt, PROMPT, 60);
      assert.ok(rt.encode(PROMPT).length * 2 < long.ids.length - 1, 'a copy, not the long cache handed over');
      const sizes = rt.keptKvCaches.map((c) => c.bytes);
      const retry = await answer(rt, PROMPT, 5);
      assert.deepEqual(retry.tokens, long.tokens.slice(0, 5));
      return { first, sizes };
    };
    const roomyRuntime = await runtime({ variant: 'fp32' });
    const roomy = await run(roomyRuntime);
    // Room for the two caches and their logits (one position each), less than a third cache's buffers.
    const logitsBytes = 4 * roomyRuntime.info.vocabSize;
    const budget = roomy.sizes.reduce((a, b) => a + b, 0) + 2 * logitsBytes + Math.min(...roomy.sizes) / 2;
    const rt = await runtime({ variant: 'fp32', kvCacheBudgetMb: budget / 2 ** 20 });
    await run(rt);
    assert.equal(rt.keptKvCaches.length, 2, JSON.stringify(rt.keptKvCaches));
    const back = await answer(rt, other, 4);
    assert.equal(back.prefill.reusedTokens, back.prefill.tokenCount, 'the other conversation was not evicted for the copy');
    assert.deepEqual(back.tokens, roomy.first.tokens);
  });

  test('a budget of 0 keeps none; the whole-cache path keeps none', async () => {
    for (const options of [{ kvCacheBudgetMb: 0 }, { kvOutputs: 'whole-cache' as const }]) {
      const rt = await runtime({ variant: 'fp32', ...options });
      await answer(rt, PROMPT, 3);
      assert.deepEqual(rt.keptKvCaches, []);
      assert.equal((await answer(rt, PROMPT, 3)).prefill.reusedTokens, 0);
    }
  });

  test('the runtime says whether it keeps them, through the SLM process too (the extension reads ahead only where it does)', async () => {
    const cases: { options: LocalRuntimeOptions; keeps: boolean }[] = [
      { options: { kvOutputs: 'in-place' }, keeps: true },
      { options: { kvOutputs: 'new-tokens' }, keeps: true },
      { options: { kvOutputs: 'whole-cache' }, keeps: false },
      { options: { kvCacheBudgetMb: 0 }, keeps: false },
    ];
    for (const { options, keeps } of cases) {
      const rt = await runtime({ variant: 'fp32', ...options });
      assert.equal(keepsKvCaches(rt.info), keeps, JSON.stringify(options));
      await answer(rt, PROMPT, 3);
      assert.equal(rt.keptKvCaches.length > 0, keeps, `${JSON.stringify(options)}: it says what it does`);
    }
    for (const kvOutputs of ['in-place', 'whole-cache'] as const) {
      const rt = await createProcessRuntime(tiny.folder(), {
        variant: 'fp32',
        kvOutputs,
        workerPath: join(__dirname, '../../../src/core/slm/onnx/worker/workerMain.ts'),
      });
      try {
        assert.equal(keepsKvCaches(rt.info), kvOutputs === 'in-place', kvOutputs);
      } finally {
        await rt.dispose();
      }
    }
  });

  test('are never shared between variants of one folder', async () => {
    const fp32 = await runtime({ variant: 'fp32' });
    const int8 = await runtime({ variant: 'int8' });
    await answer(fp32, PROMPT, 3);
    assert.equal((await answer(int8, PROMPT, 3)).prefill.reusedTokens, 0);
    assert.equal((await answer(fp32, PROMPT, 3)).prefill.reusedTokens, fp32.encode(PROMPT).length);
  });
});

describe('long prompts', () => {
  const long = '<|im_start|>user\n' + 'the quick brown fox jumps over the lazy dog '.repeat(60) + '<|im_end|>\n<|im_start|>assistant\n';

  test('report progress chunk by chunk and stop between chunks when aborted; a later prompt reuses what was read', async () => {
    const rt = await runtime({ variant: 'fp32' });
    const total = rt.encode(long).length;
    assert.ok(total > 1024, `three chunks or more (${total} tokens)`);
    const seen: PrefillProgress[] = [];
    const full = await rt.createSession();
    await full.prefill(long, { onProgress: (p) => seen.push(p) });
    assert.equal(seen[0].done, 0);
    assert.equal(seen[seen.length - 1].done, total);
    assert.ok(
      seen.every((p, i) => p.total === total && (i === 0 || p.done > seen[i - 1].done)),
      JSON.stringify(seen),
    );
    const expected = await full.nextLogits();
    await full.dispose();

    const other = await runtime({ variant: 'fp32' });
    const stopped = await other.createSession();
    const controller = new AbortController();
    const progress: PrefillProgress[] = [];
    await assert.rejects(
      stopped.prefill(long, {
        signal: controller.signal,
        onProgress: (p) => {
          progress.push(p);
          if (p.done > 0) controller.abort();
        },
      }),
      { name: 'AbortError' },
    );
    assert.equal(progress.length, 2, 'stopped after the first chunk');
    assert.equal(stopped.contextLength, progress[1].done, 'the chunk read stays in the cache');
    await stopped.dispose();
    const again = await other.createSession();
    const report = await again.prefill(long);
    assert.equal(report.reusedTokens, progress[1].done, 'asked again, it starts where the stopped one ended');
    assert.ok(maxAbsDiff(await again.nextLogits(), expected) < 1e-4);
    await again.dispose();
  });

  test('the step is a load option: fewer, longer steps with a larger one; a step of 0 is refused', async () => {
    const rt = await runtime({ variant: 'fp32', prefillChunkTokens: 1024 });
    const seen: PrefillProgress[] = [];
    const session = await rt.createSession();
    await session.prefill(long, { onProgress: (p) => seen.push(p) });
    assert.deepEqual(
      seen.map((p) => p.done),
      [0, 1024, rt.encode(long).length],
    );
    await session.dispose();
    await assert.rejects(createLocalRuntime(tiny.folder(), { prefillChunkTokens: 0 }), /prefillChunkTokens must be a positive integer/);
  });

  test('through the SLM process: reused tokens, progress and Stop cross it', async () => {
    const rt = await createProcessRuntime(tiny.folder(), { variant: 'fp32', workerPath: join(__dirname, '../../../src/core/slm/onnx/worker/workerMain.ts') });
    try {
      const first = await rt.createSession();
      const seen: PrefillProgress[] = [];
      assert.equal((await first.prefill(long, { onProgress: (p) => seen.push(p) })).reusedTokens, 0);
      assert.ok(seen.length >= 3 && seen[seen.length - 1].done === seen[0].total);
      await first.dispose();
      const retry = await rt.createSession();
      const report = await retry.prefill(long);
      assert.equal(report.reusedTokens, report.tokenCount);
      await retry.dispose();
      const stopped = await rt.createSession();
      const controller = new AbortController();
      const other = 'Nothing shared: ' + long;
      await assert.rejects(stopped.prefill(other, { signal: controller.signal, onProgress: () => controller.abort() }), { name: 'AbortError' });
      await stopped.dispose();
      const after = await rt.createSession();
      const resumed = await after.prefill(other);
      assert.ok(resumed.reusedTokens! > 0 && resumed.reusedTokens! < resumed.tokenCount, `the chunks read before Stop are reused (${resumed.reusedTokens})`);
      await after.dispose();
    } finally {
      await rt.dispose();
    }
  });

  test("through the SLM process, an append of a long text (the LLM's) reports its steps as a prefill does: its process's sign of life", async () => {
    const rt = await createProcessRuntime(tiny.folder(), { variant: 'fp32', workerPath: join(__dirname, '../../../src/core/slm/onnx/worker/workerMain.ts') });
    try {
      const session = await rt.createSession();
      await session.prefill('<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
      const seen: PrefillProgress[] = [];
      const { tokenCount } = await session.append(long, { onProgress: (p) => seen.push(p) });
      assert.ok(seen.length >= 3, `its steps reported (${JSON.stringify(seen)})`);
      assert.equal(seen[0].done, 0);
      assert.equal(seen[seen.length - 1].done, tokenCount);
      assert.ok(seen.every((p, i) => p.total === tokenCount && (i === 0 || p.done > seen[i - 1].done)));
      await session.dispose();
    } finally {
      await rt.dispose();
    }
  });
});
