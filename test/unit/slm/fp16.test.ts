// The fp16 variant (onnx-community's model_fp16.onnx: float16 weights, past/present and
// logits) on the tiny generated folder: the runtime feeds and reads float16 tensors, its
// logits stay close to the float64 reference, the float16 KV cache behaves like the fp32
// one (cached = recomputed, appended = generated), and transformers.js agrees on tokens.
import assert from 'node:assert/strict';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { float32ToFloat16Bits } from '../../fixtures/onnx/float16';
import { ReferenceDecoder, relativeError } from '../../fixtures/referenceForward';
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { createProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { onnxBackendOf } from '../../../src/core/slm/types';

let folder: string;
let fp16: LocalRuntime;
let fp32: LocalRuntime;

before(async () => {
  folder = await ensureTinyModel();
  fp16 = await createLocalRuntime(folder, { variant: 'fp16' });
  fp32 = await createLocalRuntime(folder, { variant: 'fp32' });
});
after(async () => {
  await fp16?.dispose();
  await fp32?.dispose();
});

const PROMPT = [3, 41, 7, 200, 19, 88, 150, 61, 9, 300, 2, 77];
const CHAT = '<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n';

const argmax = (row: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
};

describe('float16 conversion of the fixture builder', () => {
  test('rounds to nearest even, keeps subnormals, signs, infinities and NaN', () => {
    assert.equal(float32ToFloat16Bits(1), 0x3c00);
    assert.equal(float32ToFloat16Bits(-2), 0xc000);
    assert.equal(float32ToFloat16Bits(65504), 0x7bff);
    assert.equal(float32ToFloat16Bits(65520), 0x7c00, 'half way to the next power rounds up to inf');
    assert.equal(float32ToFloat16Bits(1 + 2 ** -11), 0x3c00, 'tie to even (down)');
    assert.equal(float32ToFloat16Bits(1 + 3 * 2 ** -11), 0x3c02, 'tie to even (up)');
    assert.equal(float32ToFloat16Bits(2 ** -24), 0x0001, 'smallest subnormal');
    assert.equal(float32ToFloat16Bits(2 ** -14 - 2 ** -24), 0x03ff, 'largest subnormal');
    assert.equal(float32ToFloat16Bits(2 ** -26), 0x0000);
    assert.equal(float32ToFloat16Bits(-0), 0x8000);
    assert.equal(float32ToFloat16Bits(-Infinity), 0xfc00);
    assert.equal(float32ToFloat16Bits(NaN) & 0x7e00, 0x7e00);
  });
});

describe('fp16 variant', () => {
  test('the file has the float16 I/O of a real fp16 export and is picked only when asked for', async () => {
    assert.equal(onnxBackendOf(fp16.info).variant, 'fp16');
    assert.equal(fp16.lastPositionLogits.enabled, true, 'the lm_head rewrite finds the MatMul behind the Cast to float16');
    assert.deepEqual(
      fp16.kvOutputs,
      { mode: 'new-tokens', reason: 'present.0.key is not Concat(past_key_values.0.key, new, axis=2) (found Cast)' },
      'the float16 cache comes back as new rows only; attention in place is for float32 caches',
    );
    assert.equal(basename(onnxBackendOf(fp16.info).onnxFile), 'model_fp16.onnx');
    const session = await ort.InferenceSession.create(join(folder, 'onnx', 'model_fp16.onnx'));
    const typeOf = (metas: readonly ort.InferenceSession.ValueMetadata[], name: string) => {
      const meta = metas.find((m) => m.name === name);
      return meta && meta.isTensor ? meta.type : undefined;
    };
    assert.equal(typeOf(session.inputMetadata, 'past_key_values.0.key'), 'float16');
    assert.equal(typeOf(session.inputMetadata, 'past_key_values.1.value'), 'float16');
    assert.equal(typeOf(session.outputMetadata, 'present.1.key'), 'float16');
    assert.equal(typeOf(session.outputMetadata, 'logits'), 'float16');
    assert.equal(typeOf(session.inputMetadata, 'input_ids'), 'int64');
    await session.release();
    const auto = await createLocalRuntime(folder);
    assert.equal(onnxBackendOf(auto.info).variant, 'int8', 'the default stays the smallest file');
    await auto.dispose();
  });

  test('logits of prefill and cached steps are close to the float64 reference (fp16 weights and cache)', async () => {
    const reference = ReferenceDecoder.load(folder);
    const session = await fp16.createSession();
    await session.appendIds(PROMPT);
    const ids = [...PROMPT];
    for (let step = 0; step < 5; step++) {
      const ours = await session.nextLogits();
      const rows = reference.logits(ids);
      const err = relativeError(ours, rows[rows.length - 1]);
      // float16 keeps 11 significant bits: errors of a few 1e-3 are its rounding, not a bug;
      // a wrong cast, layout or cache would be off by order 1.
      assert.ok(err > 0 && err < 2e-2, `step ${step}: relative error ${err}`);
      const next = argmax(ours);
      ids.push(next);
      await session.appendIds([next]);
    }
    await session.dispose();
  });

  test('cached greedy decoding equals full recomputation, and fp16 picks the tokens fp32 picks', async () => {
    const cached = await fp16.createSession();
    await cached.prefill(CHAT);
    const result = await cached.generate({ maxTokens: 10 });
    const context = [...cached.tokenIds];
    const promptLength = context.length - 10;
    for (const k of [0, 5, 9]) {
      const fresh = await fp16.createSession();
      await fresh.appendIds(context.slice(0, promptLength + k));
      assert.equal(argmax(await fresh.nextLogits()), context[promptLength + k], `token ${k} from full recomputation`);
      await fresh.dispose();
    }
    const reference = await fp32.createSession();
    await reference.prefill(CHAT);
    const fp32Result = await reference.generate({ maxTokens: 10 });
    assert.deepEqual(
      result.tokens.map((t) => t.id),
      fp32Result.tokens.map((t) => t.id),
    );
    await cached.dispose();
    await reference.dispose();
  });

  test('append(text) into a float16 cache equals having generated the tokens', async () => {
    const prompt = '<|im_start|>user\nCount with me<|im_end|>\n<|im_start|>assistant\n';
    const generated = await fp16.createSession();
    await generated.prefill(prompt);
    await generated.generate({ maxTokens: 5 });
    const continuation = await generated.generate({ maxTokens: 5 });
    const ids = continuation.tokens.map((t) => t.id);
    const external = fp16.decode(ids);
    assert.deepEqual(fp16.encode(external), ids, 'this text re-tokenises to the same ids');
    const appended = await fp16.createSession();
    await appended.prefill(prompt);
    await appended.generate({ maxTokens: 5 });
    const report = await appended.append(external);
    assert.deepEqual(report, { tokenCount: 5, recomputedTokens: 0 });
    assert.deepEqual(appended.tokenIds, generated.tokenIds);
    const a = await appended.generate({ maxTokens: 6 });
    const g = await generated.generate({ maxTokens: 6 });
    assert.deepEqual(
      a.tokens.map((t) => t.id),
      g.tokens.map((t) => t.id),
    );
    await appended.dispose();
    await generated.dispose();
  });

  test('in the SLM process, and in transformers.js (dtype fp16), greedy decoding gives the same tokens', async () => {
    const local = await fp16.createSession();
    await local.prefill(CHAT);
    const ours = (await local.generate({ maxTokens: 6 })).tokens.map((t) => t.id);
    await local.dispose();

    const remote = await createProcessRuntime(folder, { variant: 'fp16' });
    try {
      assert.equal(onnxBackendOf(remote.info).variant, 'fp16');
      const session = await remote.createSession();
      await session.prefill(CHAT);
      assert.deepEqual(
        (await session.generate({ maxTokens: 6 })).tokens.map((t) => t.id),
        ours,
      );
    } finally {
      await remote.dispose();
    }

    const { env, AutoModelForCausalLM, AutoTokenizer } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = dirname(folder) + '/';
    const tokenizer = await AutoTokenizer.from_pretrained(basename(folder));
    const model = await AutoModelForCausalLM.from_pretrained(basename(folder), { dtype: 'fp16' });
    const inputs = tokenizer(CHAT);
    const promptLength = (inputs.input_ids.data as BigInt64Array).length;
    const output: any = await model.generate({ ...inputs, max_new_tokens: 6, do_sample: false, eos_token_id: [] });
    assert.deepEqual(Array.from(output.data as BigInt64Array, Number).slice(promptLength), ours);
    await model.dispose();
  });
});
