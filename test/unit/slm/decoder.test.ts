// The KV-cache decoder on the tiny random model: logits against the float64 reference,
// cached decoding against full recomputation, appends against having generated the
// tokens, the last-position rewrite against the untouched graph, seeded sampling.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { join } from 'node:path';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { DataType } from '../../fixtures/onnx/onnxBuilder';
import { readOnnxModel } from '../../fixtures/onnx/onnxReader';
import { maxAbsDiff, ReferenceDecoder, relativeError } from '../../fixtures/referenceForward';
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { assertSameDecoding, GROWTH_CHUNKS } from './sameDecoding';
import { readFileSync } from 'node:fs';
import { onnxBackendOf } from '../../../src/core/slm/types';

/**
 * Whether the CPU multiplies int8 with VNNI (AVX-512 VNNI or AVX-VNNI). Without it ONNX
 * Runtime's u8 x s8 MatMulInteger sums pairs of products in int16 with saturation
 * (vpmaddubsw), so weights over the full int8 range, as quantize_dynamic writes them
 * without reduce_range, lose precision: measured 0.35 relative logit error on the tiny
 * model on an AVX2-only EPYC, under 0.1 with VNNI.
 */
function cpuHasVnni(): boolean {
  try {
    return /\b(avx512_vnni|avx_vnni)\b/.test(readFileSync('/proc/cpuinfo', 'utf8'));
  } catch {
    return true;
  }
}

let folder: string;
let fp32: LocalRuntime;
let reference: ReferenceDecoder;

before(async () => {
  folder = await ensureTinyModel();
  fp32 = await createLocalRuntime(folder, { variant: 'fp32' });
  reference = ReferenceDecoder.load(folder);
});
after(async () => {
  await fp32?.dispose();
});

const PROMPT = [3, 41, 7, 200, 19, 88, 150, 61, 9, 300, 2, 77];

describe('decoder against the float64 reference (fp32)', () => {
  test('prefill logits and every cached decode step are within 1e-4 relative', async () => {
    assert.equal(fp32.lastPositionLogits.enabled, true, 'the lm_head rewrite applies to the fixture graph');
    const session = await fp32.createSession();
    await session.appendIds(PROMPT);
    const ids = [...PROMPT];
    for (let step = 0; step < 6; step++) {
      const ours = await session.nextLogits();
      const rows = reference.logits(ids);
      const err = relativeError(ours, rows[rows.length - 1]);
      assert.ok(err < 1e-4, `step ${step}: relative error ${err}`);
      const next = ours.indexOf(Math.max(...ours));
      ids.push(next);
      await session.appendIds([next]);
    }
    await session.dispose();
  });
});

describe('other architectures of the fixture builder', () => {
  const others: { arch: 'llama' | 'qwen3'; tied?: boolean; attention?: 'gqa' }[] = [
    { arch: 'llama' },
    { arch: 'qwen3', tied: true },
    { arch: 'qwen3', attention: 'gqa' },
  ];
  for (const options of others) {
    const label = `${options.arch}${options.tied ? ' (tied lm_head)' : ''}${options.attention ? ' (GroupQueryAttention)' : ''}`;
    test(`${label}: cached decoding matches the reference`, async () => {
      const other = await ensureTinyModel(options);
      const runtime = await createLocalRuntime(other, { variant: 'fp32' });
      const ref = ReferenceDecoder.load(other);
      assert.equal(runtime.info.modelType, options.arch);
      const session = await runtime.createSession();
      await session.appendIds(PROMPT);
      const ids = [...PROMPT];
      for (let step = 0; step < 3; step++) {
        const ours = await session.nextLogits();
        const rows = ref.logits(ids);
        const err = relativeError(ours, rows[rows.length - 1]);
        assert.ok(err < 1e-4, `step ${step}: relative error ${err}`);
        const next = ours.indexOf(Math.max(...ours));
        ids.push(next);
        await session.appendIds([next]);
      }
      await runtime.dispose();
    });
  }
});

describe('KV cache', () => {
  test('cached greedy decoding equals full recomputation at every step', async () => {
    const cached = await fp32.createSession();
    await cached.prefill('<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n');
    const result = await cached.generate({ maxTokens: 12 });
    assert.equal(result.tokens.length, 12);
    const context = [...cached.tokenIds];
    const promptLength = context.length - 12;
    for (let k = 0; k <= 12; k += 4) {
      // A fresh session fed the same ids in one prefill: no cache reuse at all.
      const fresh = await fp32.createSession();
      await fresh.appendIds(context.slice(0, promptLength + k));
      const full = await fresh.nextLogits();
      const next = k < 12 ? context[promptLength + k] : undefined;
      if (next !== undefined) assert.equal(full.indexOf(Math.max(...full)), next, `greedy token ${k} from full recomputation`);
      await fresh.dispose();
    }
    const finalFresh = await fp32.createSession();
    await finalFresh.appendIds(context);
    assert.ok(maxAbsDiff(await finalFresh.nextLogits(), await cached.nextLogits()) < 1e-4);
    await cached.dispose();
    await finalFresh.dispose();
  });

  test('append(text) extends the cache by exactly its tokens and equals having generated them', async () => {
    const prompt = '<|im_start|>user\nCount with me<|im_end|>\n<|im_start|>assistant\n';
    const generated = await fp32.createSession();
    await generated.prefill(prompt);
    const before = generated.contextLength;
    const result = await generated.generate({ maxTokens: 5 });
    const continuation = await generated.generate({ maxTokens: 5 });
    assert.equal(generated.contextLength, before + 10);

    // The same tokens arriving as external text, re-tokenised, appended after 5 generated tokens.
    const external = fp32.decode(continuation.tokens.map((t) => t.id));
    assert.deepEqual(
      fp32.encode(external),
      continuation.tokens.map((t) => t.id),
      'this text re-tokenises to the same ids',
    );
    const appended = await fp32.createSession();
    await appended.prefill(prompt);
    await appended.generate({ maxTokens: 5 });
    const contextBefore = appended.contextLength;
    const report = await appended.append(external);
    assert.deepEqual(report, { tokenCount: 5, recomputedTokens: 0 });
    assert.equal(appended.contextLength, contextBefore + 5);
    assert.deepEqual(appended.tokenIds, generated.tokenIds);
    assert.ok(maxAbsDiff(await appended.nextLogits(), await generated.nextLogits()) < 1e-5);
    const a = await appended.generate({ maxTokens: 6 });
    const g = await generated.generate({ maxTokens: 6 });
    assert.deepEqual(
      a.tokens.map((t) => t.id),
      g.tokens.map((t) => t.id),
    );
    assert.equal(result.tokens.length, 5);
  });

  test('the last-position rewrite changes nothing but speed', async () => {
    const plain = await createLocalRuntime(folder, { variant: 'fp32', lastPositionLogits: false });
    assert.equal(plain.lastPositionLogits.enabled, false);
    const a = await plain.createSession();
    const b = await fp32.createSession();
    await a.appendIds(PROMPT);
    await b.appendIds(PROMPT);
    assert.ok(maxAbsDiff(await a.nextLogits(), await b.nextLogits()) < 1e-5);
    await plain.dispose();
  });

  test('attention in place on a token-major cache, and new rows into a head-major one, give bit-identical logits to whole-cache runs, across growth of the buffers', async () => {
    const whole = await createLocalRuntime(folder, { variant: 'fp32', kvOutputs: 'whole-cache' });
    const headMajor = await createLocalRuntime(folder, { variant: 'fp32', kvOutputs: 'new-tokens' });
    assert.deepEqual(fp32.kvOutputs, { mode: 'in-place' }, 'the default on an export whose attention reads Concat(past, new)');
    assert.deepEqual(headMajor.kvOutputs, { mode: 'new-tokens', reason: 'disabled by option' });
    assert.deepEqual(whole.kvOutputs, { mode: 'whole-cache', reason: 'disabled by option' });
    // Appends of uneven sizes (the first one onto an empty cache), then decoding: past the
    // first 256-token capacity, so the buffers grow.
    await assertSameDecoding(await whole.createSession(), [await headMajor.createSession(), await fp32.createSession()], GROWTH_CHUNKS, 30);
    await whole.dispose();
    await headMajor.dispose();
  });

  test('disposing a session mid-generation stops it; the next session reuses its buffers with no trace of it', async () => {
    const prompt = '<|im_start|>user\nreuse<|im_end|>\n<|im_start|>assistant\n';
    const expectedRuntime = await createLocalRuntime(folder, { variant: 'fp32' });
    const expectedSession = await expectedRuntime.createSession();
    await expectedSession.prefill(prompt);
    const expected = (await expectedSession.generate({ maxTokens: 10 })).tokens.map((t) => t.id);
    await expectedRuntime.dispose();

    const pooled = await createLocalRuntime(folder, { variant: 'fp32' });
    const doomed = await pooled.createSession();
    await doomed.appendIds(Array.from({ length: 280 }, (_, i) => (i * 7) % 300));
    let disposal: Promise<void> | undefined;
    const stopped = doomed.generate({ maxTokens: 100 }, (t) => {
      if (t && !disposal) disposal = doomed.dispose();
    });
    await assert.rejects(stopped, /was disposed/);
    await disposal;
    const next = await pooled.createSession();
    await next.prefill(prompt);
    assert.deepEqual(
      (await next.generate({ maxTokens: 10 })).tokens.map((t) => t.id),
      expected,
    );
    await pooled.dispose();
  });

  test('sessions are independent: interleaved sessions give the same tokens as one alone', async () => {
    const prompt = '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n';
    const alone = await fp32.createSession();
    await alone.prefill(prompt);
    const expected = (await alone.generate({ maxTokens: 8 })).tokens.map((t) => t.id);
    const s1 = await fp32.createSession();
    const s2 = await fp32.createSession();
    await Promise.all([s1.prefill(prompt), s2.prefill('<|im_start|>user\nsomething else entirely<|im_end|>\n')]);
    const [r1] = await Promise.all([s1.generate({ maxTokens: 8 }), s2.generate({ maxTokens: 8 })]);
    assert.deepEqual(
      r1.tokens.map((t) => t.id),
      expected,
    );
  });
});

describe('context length', () => {
  test('text beyond max_position_embeddings is refused before any work; generation stops at the limit', async () => {
    const max = 4096; // the tiny model's max_position_embeddings
    const session = await fp32.createSession();
    await assert.rejects(session.appendIds(new Array(max + 1).fill(5)), /would hold 4097 tokens; this model supports at most 4096/);
    assert.equal(session.contextLength, 0, 'nothing was added');
    await session.appendIds(Array.from({ length: max - 6 }, (_, i) => (i * 13) % 350));
    const r = await session.generate({ maxTokens: 50 });
    assert.equal(r.stopReason, 'context_full');
    assert.equal(r.tokens.length, 6);
    assert.equal(r.contextLength, max);
  });
});

describe('sampling through the decoder', () => {
  test('same seed gives the same text, another seed another text', async () => {
    const run = async (seed: number) => {
      const s = await fp32.createSession();
      await s.prefill('<|im_start|>user\nTell me a story<|im_end|>\n<|im_start|>assistant\n');
      const r = await s.generate({ maxTokens: 16, sampling: { temperature: 1, topP: 0.95, topK: 50, seed } });
      await s.dispose();
      return r.tokens.map((t) => t.id);
    };
    const first = await run(7);
    assert.deepEqual(await run(7), first);
    assert.notDeepEqual(await run(8), first);
  });
});

describe('int8 variant (dynamic quantisation: MatMulInteger)', () => {
  test('runs, its logits are close to fp32 (on CPUs with VNNI), and cached decoding equals full recomputation', async (t) => {
    const int8 = await createLocalRuntime(folder, { variant: 'int8' });
    assert.equal(onnxBackendOf(int8.info).variant, 'int8');
    const a = await int8.createSession();
    const b = await fp32.createSession();
    await a.appendIds(PROMPT);
    await b.appendIds(PROMPT);
    const err = relativeError(await a.nextLogits(), await b.nextLogits());
    assert.ok(err > 0, 'int8 is not fp32');
    if (cpuHasVnni()) assert.ok(err < 0.1, `int8 vs fp32 relative error ${err}`);
    else t.diagnostic(`int8 vs fp32 relative error ${err.toFixed(3)}: no VNNI on this CPU, where ONNX Runtime's u8 x s8 kernel saturates (see cpuHasVnni)`);
    const generated = await a.generate({ maxTokens: 6 });
    const fresh = await int8.createSession();
    await fresh.appendIds([...PROMPT, ...generated.tokens.slice(0, 5).map((t) => t.id)]);
    const full = await fresh.nextLogits();
    assert.equal(full.indexOf(Math.max(...full)), generated.tokens[5].id, 'the 6th greedy token from full recomputation');
    await int8.dispose();
  });

  test("its embedding is a uint8 table dequantised after the lookup, as onnxruntime's dynamic quantisation writes it", () => {
    const model = readOnnxModel(join(folder, 'onnx', 'model_int8.onnx'));
    const gather = model.nodes.find((n) => n.opType === 'Gather' && n.inputs[1] === 'input_ids');
    assert.equal(model.initializers.find((t) => t.name === gather?.inputs[0])?.dataType, DataType.UINT8);
    assert.ok(model.nodes.some((n) => n.opType === 'DequantizeLinear' && n.inputs[0] === gather!.outputs[0]));
  });
});

describe('q4 variant', () => {
  test('runs, and its logits are close to fp32 (same weights quantised)', async () => {
    const q4 = await createLocalRuntime(folder, { variant: 'q4' });
    assert.equal(onnxBackendOf(q4.info).variant, 'q4');
    const a = await q4.createSession();
    const b = await fp32.createSession();
    await a.appendIds(PROMPT);
    await b.appendIds(PROMPT);
    const la = await a.nextLogits();
    const lb = await b.nextLogits();
    const err = relativeError(la, lb);
    assert.ok(err > 0 && err < 0.5, `q4 vs fp32 relative error ${err}`);
    await q4.dispose();
  });
});
