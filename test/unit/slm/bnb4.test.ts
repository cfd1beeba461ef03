// The bnb4 variant (model_bnb4.onnx: com.microsoft MatMulBnb4, NF4 or FP4 codes in blocks of
// the transposed weight, as transformers.js's quantize script writes it): the fixture's
// quantiser against ONNX Runtime's own kernel for both code books, then the tiny generated
// model through the runtime against the float64 reference, and transformers.js (dtype bnb4).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { BNB4_BLOCK_SIZE } from '../../fixtures/decoderGraph';
import { ensureTinyModel, EVERY_VARIANT } from '../../fixtures/fixtures';
import { DataType, MS_DOMAIN, OnnxGraphBuilder } from '../../fixtures/onnx/onnxBuilder';
import { readOnnxModel } from '../../fixtures/onnx/onnxReader';
import { BNB4_FP4, BNB4_NF4, dequantizeBnb4, quantizeBnb4, type Bnb4QuantType } from '../../fixtures/onnx/quantize';
import { uniformWeights } from '../../fixtures/random';
import { ReferenceDecoder, relativeError } from '../../fixtures/referenceForward';
import { assertSameDecoding, GROWTH_CHUNKS } from './sameDecoding';
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { readModelFolder } from '../../../src/core/slm/modelFolder';
import { onnxBackendOf } from '../../../src/core/slm/types';

let folder: string;
let bnb4: LocalRuntime;

before(async () => {
  folder = await ensureTinyModel({ variants: EVERY_VARIANT });
  bnb4 = await createLocalRuntime(folder, { variant: 'bnb4' });
});
after(async () => {
  await bnb4?.dispose();
});

const PROMPT = [3, 41, 7, 200, 19, 88, 150, 61, 9, 300, 2, 77];
const CHAT = '<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n';

/** y = x @ W for W [K, N] row-major, in float64. */
function matmul(x: Float32Array, rows: number, w: Float32Array, K: number, N: number): Float64Array {
  const y = new Float64Array(rows * N);
  for (let r = 0; r < rows; r++) for (let k = 0; k < K; k++) for (let n = 0; n < N; n++) y[r * N + n] += x[r * K + k] * w[k * N + n];
  return y;
}

describe('bnb4 (MatMulBnb4)', () => {
  for (const [label, quantType] of [
    ['NF4', BNB4_NF4],
    ['FP4', BNB4_FP4],
  ] as [string, Bnb4QuantType][]) {
    test(`${label}: ONNX Runtime's CPU kernel multiplies by exactly the weights the fixture's quantiser means (odd sizes, a partial last block)`, async () => {
      const [K, N, M] = [96, 37, 3]; // 96 * 37 values: the last block of 64 is partial
      const weight = uniformWeights(5, `w-${label}`, K * N, 0.5);
      const q = quantizeBnb4(weight, K, N, BNB4_BLOCK_SIZE, quantType);
      assert.equal(q.packed.length, Math.ceil((K * N) / 2));
      assert.equal(q.absmax.length, Math.ceil((K * N) / BNB4_BLOCK_SIZE));
      const g = new OnnxGraphBuilder();
      g.input('x', DataType.FLOAT, [M, K]);
      const b = g.initializer('w_Bnb4', DataType.UINT8, [q.packed.length], q.packed);
      const absmax = g.initializer('w_absmax', DataType.FLOAT, [q.absmax.length], q.absmax);
      g.op('MatMulBnb4', ['x', b, absmax], { K, N, block_size: BNB4_BLOCK_SIZE, quant_type: quantType }, { domain: MS_DOMAIN, outputs: ['y'] });
      g.output('y', DataType.FLOAT, [M, N]);
      const dir = mkdtempSync(join(tmpdir(), 'relay-bnb4-'));
      const path = join(dir, 'matmul_bnb4.onnx');
      g.write(path);
      const session = await ort.InferenceSession.create(path);
      const x = uniformWeights(6, 'x', M * K, 1);
      const { y } = await session.run({ x: new ort.Tensor('float32', x, [M, K]) });
      await session.release();
      rmSync(dir, { recursive: true, force: true });
      const dequantised = dequantizeBnb4(q);
      const expected = matmul(x, M, dequantised, K, N);
      assert.ok(relativeError(y.data as Float32Array, expected) < 1e-6, 'the product with the dequantised weights');
      const drift = relativeError(dequantised, weight);
      assert.ok(drift > 0.01 && drift < 0.2, `4-bit codes approximate the weights (${drift})`);
    });
  }

  test('the file holds MatMulBnb4 for every linear layer and the lm_head, NF4 in blocks of 64, and a float32 embedding', () => {
    const model = readOnnxModel(join(folder, 'onnx', 'model_bnb4.onnx'));
    const nodes = model.nodes.filter((n) => n.opType === 'MatMulBnb4');
    assert.equal(nodes.length, 2 * 7 + 1);
    assert.ok(nodes.every((n) => n.domain === 'com.microsoft' && n.attrs.quant_type === BNB4_NF4 && n.attrs.block_size === 64));
    assert.equal(model.nodes.find((n) => n.outputs.includes('logits'))?.opType, 'MatMulBnb4');
    assert.equal(model.initializers.find((t) => t.name === 'model.embed_tokens.weight')?.dataType, DataType.FLOAT);
  });

  test('loads when asked for, runs with attention in place, and its logits match the float64 reference of the weights it stores', async () => {
    assert.equal(onnxBackendOf(bnb4.info).variant, 'bnb4');
    assert.equal(basename(onnxBackendOf(bnb4.info).onnxFile), 'model_bnb4.onnx');
    assert.deepEqual(bnb4.kvOutputs, { mode: 'in-place' });
    assert.equal(bnb4.lastPositionLogits.enabled, true, 'the lm_head rewrite finds MatMulBnb4');
    assert.notEqual(readModelFolder(folder).chosen.variant, 'bnb4', 'bnb4 is not the smallest file here');
    const reference = ReferenceDecoder.load(folder, 'onnx/model_bnb4.onnx');
    const session = await bnb4.createSession();
    await session.appendIds(PROMPT);
    const ids = [...PROMPT];
    for (let step = 0; step < 4; step++) {
      const ours = await session.nextLogits();
      const rows = reference.logits(ids);
      const error = relativeError(ours, rows[rows.length - 1]);
      assert.ok(error < 1e-4, `step ${step}: relative error ${error}`);
      let next = 0;
      for (let i = 1; i < ours.length; i++) if (ours[i] > ours[next]) next = i;
      ids.push(next);
      await session.appendIds([next]);
    }
    await session.dispose();
  });

  test('every KV path decodes alike, bit for bit', async () => {
    const whole = await createLocalRuntime(folder, { variant: 'bnb4', kvOutputs: 'whole-cache' });
    const headMajor = await createLocalRuntime(folder, { variant: 'bnb4', kvOutputs: 'new-tokens' });
    try {
      const sessions = [await whole.createSession(), await headMajor.createSession(), await bnb4.createSession()];
      await assertSameDecoding(sessions[0], sessions.slice(1), GROWTH_CHUNKS, 6, 'bnb4');
      for (const s of sessions) await s.dispose();
    } finally {
      await whole.dispose();
      await headMajor.dispose();
    }
  });

  test('transformers.js (dtype bnb4) picks the same greedy tokens', async () => {
    const local = await bnb4.createSession();
    await local.prefill(CHAT);
    const ours = (await local.generate({ maxTokens: 6 })).tokens.map((t) => t.id);
    await local.dispose();
    const { env, AutoModelForCausalLM, AutoTokenizer } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = dirname(folder) + '/';
    const tokenizer = await AutoTokenizer.from_pretrained(basename(folder));
    const model = await AutoModelForCausalLM.from_pretrained(basename(folder), { dtype: 'bnb4' });
    const inputs = tokenizer(CHAT);
    const promptLength = (inputs.input_ids.data as BigInt64Array).length;
    const output: any = await model.generate({ ...inputs, max_new_tokens: 6, do_sample: false, eos_token_id: [] });
    assert.deepEqual(Array.from(output.data as BigInt64Array, Number).slice(promptLength), ours);
    await model.dispose();
  });
});
