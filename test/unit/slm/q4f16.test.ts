// The q4f16 variant (onnx-community's model_q4f16.onnx: 4-bit MatMulNBits weights with
// float16 activations, KV cache and logits) on tiny generated folders: what the file holds,
// which variant `auto` picks, both ways of computing it (float32 activations, the default,
// and as exported on ONNX Runtime's float16 kernels) against the float64 reference, every KV
// path decoding alike, and transformers.js (dtype q4f16) agreeing on tokens.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureTinyModel, EVERY_VARIANT } from '../../fixtures/fixtures';
import { DataType } from '../../fixtures/onnx/onnxBuilder';
import { readOnnxModel } from '../../fixtures/onnx/onnxReader';
import { ReferenceDecoder, relativeError } from '../../fixtures/referenceForward';
import { assertSameDecoding, GROWTH_CHUNKS } from './sameDecoding';
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { ModelFolderError, readModelFolder } from '../../../src/core/slm/modelFolder';
import { createProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { onnxBackendOf } from '../../../src/core/slm/types';

let folder: string;
let float32: LocalRuntime;
let asExported: LocalRuntime;
const scratch: string[] = [];

before(async () => {
  folder = await ensureTinyModel({ variants: EVERY_VARIANT });
  float32 = await createLocalRuntime(folder, { variant: 'q4f16' });
  asExported = await createLocalRuntime(folder, { variant: 'q4f16', float16Compute: 'as-exported' });
});
after(async () => {
  await float32?.dispose();
  await asExported?.dispose();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

const PROMPT = [3, 41, 7, 200, 19, 88, 150, 61, 9, 300, 2, 77];
const CHAT = '<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n';

const argmax = (row: ArrayLike<number>): number => {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
  return best;
};

/** Relative error of the next-token logits against the float64 reference over a prompt and a few greedy steps. */
async function referenceErrors(runtime: LocalRuntime, dir: string): Promise<number[]> {
  const reference = ReferenceDecoder.load(dir, 'onnx/model_q4f16.onnx');
  const session = await runtime.createSession();
  await session.appendIds(PROMPT);
  const ids = [...PROMPT];
  const errors: number[] = [];
  for (let step = 0; step < 5; step++) {
    const ours = await session.nextLogits();
    const rows = reference.logits(ids);
    errors.push(relativeError(ours, rows[rows.length - 1]));
    ids.push(argmax(ours));
    await session.appendIds([ids[ids.length - 1]]);
  }
  await session.dispose();
  return errors;
}

/** A folder holding the JSON files of `dir` and only the given onnx files. */
function folderWith(dir: string, onnxFiles: string[]): string {
  const copy = mkdtempSync(join(tmpdir(), 'relay-q4f16-'));
  scratch.push(copy);
  for (const name of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(dir, name), join(copy, name));
  mkdirSync(join(copy, 'onnx'));
  for (const name of onnxFiles) copyFileSync(join(dir, 'onnx', name), join(copy, 'onnx', name));
  return copy;
}

describe('q4f16 variant', () => {
  test('the file is the q4 graph converted to float16 as transformers.js writes it: float16 weights, cache, logits and value_info', () => {
    const model = readOnnxModel(join(folder, 'onnx', 'model_q4f16.onnx'));
    const typeOf = (list: { name: string; elemType: number }[], name: string) => list.find((v) => v.name === name)?.elemType;
    assert.equal(typeOf(model.inputs, 'input_ids'), DataType.INT64);
    assert.equal(typeOf(model.inputs, 'past_key_values.0.key'), DataType.FLOAT16);
    assert.equal(typeOf(model.outputs, 'present.1.value'), DataType.FLOAT16);
    assert.equal(typeOf(model.outputs, 'logits'), DataType.FLOAT16);
    const nbits = model.nodes.filter((n) => n.opType === 'MatMulNBits');
    assert.equal(nbits.length, 2 * 7 + 1);
    const dataType = (name: string) => model.initializers.find((t) => t.name === name)?.dataType;
    assert.ok(
      nbits.every((n) => dataType(n.inputs[2]) === DataType.FLOAT16),
      'float16 scales',
    );
    assert.equal(dataType('model.embed_tokens.weight'), DataType.FLOAT16);
    assert.ok(!model.initializers.some((t) => t.dataType === DataType.FLOAT), 'no float32 initializer is left');
    // The converter keeps a Cast to float32 (on its block list) and casts its result to float16.
    const valueInfo = model.valueInfo.map((v) => v.elemType);
    assert.ok(valueInfo.includes(DataType.FLOAT) && valueInfo.includes(DataType.FLOAT16), `value_info types ${valueInfo.join(',')}`);
    const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));
    assert.equal(config['transformers.js_config'].kv_cache_dtype.q4f16, 'float16');
  });

  test('auto picks q4f16 where it is the smallest file or the only one; explicit choices name what is there', async () => {
    const all = readModelFolder(folder);
    const sizes = Object.fromEntries(all.variants.map((v) => [v.variant, v.totalBytes]));
    assert.equal(all.chosen.variant, 'q4f16', JSON.stringify(sizes));
    assert.ok(sizes.q4f16 < sizes.int8 && sizes.int8 < sizes.q4, JSON.stringify(sizes));
    assert.equal(readModelFolder(folder, 'q4f16').chosen.path, join(folder, 'onnx', 'model_q4f16.onnx'));
    // Some repositories ship nothing else (Llama-3.2-1B-Instruct-q4f16, the Phi "-web" exports).
    const only = folderWith(folder, ['model_q4f16.onnx']);
    assert.equal(readModelFolder(only).chosen.variant, 'q4f16');
    assert.throws(
      () => readModelFolder(only, 'q4'),
      (e: unknown) =>
        e instanceof ModelFolderError && /available: q4f16\. Set relay\.slm\.variant \(CLI: --variant\) to one of them or to "auto"/.test(e.message),
    );
    // Where int8 is smaller (a large embedding kept float16 next to a uint8 one), it is still the fewest bytes that wins.
    const withoutQ4f16 = folderWith(folder, ['model_q4.onnx', 'model_int8.onnx']);
    assert.equal(readModelFolder(withoutQ4f16).chosen.variant, 'int8');
  });

  test('by default it computes with float32 activations: the cache is float32 and read in place, logits within 1e-3 of the reference', async () => {
    assert.equal(onnxBackendOf(float32.info).variant, 'q4f16');
    assert.deepEqual(float32.float16Compute, { mode: 'float32', reason: undefined });
    assert.deepEqual(float32.kvOutputs, { mode: 'in-place' });
    assert.equal(float32.lastPositionLogits.enabled, true);
    const errors = await referenceErrors(float32, folder);
    // What is left is float16's rounding of the constants the file holds (the rotary inv_freq, the scale).
    assert.ok(
      errors.every((e) => e > 0 && e < 1e-3),
      errors.join(', '),
    );
  });

  test('as exported it runs on float16 kernels: the float16 cache comes back as new rows (no attention in place), logits within 1e-2', async () => {
    assert.deepEqual(asExported.float16Compute, { mode: 'as-exported', reason: 'not asked' });
    assert.deepEqual(asExported.kvOutputs, { mode: 'new-tokens', reason: 'past_key_values.0.key is not a float32 tensor' });
    assert.equal(asExported.lastPositionLogits.enabled, true, 'the lm_head rewrite finds the float16 MatMulNBits');
    const errors = await referenceErrors(asExported, folder);
    // float16 activations keep 11 significant bits: errors of a few 1e-4 are their rounding.
    assert.ok(
      errors.every((e) => e > 0 && e < 1e-2),
      errors.join(', '),
    );
    const f32 = await referenceErrors(float32, folder);
    assert.ok(Math.max(...f32) < Math.max(...errors), 'float32 activations are the closer to the reference');
  });

  for (const compute of ['float32', 'as-exported'] as const) {
    test(`${compute}: every KV path decodes alike, bit for bit (the cache grows past its first capacity)`, async () => {
      const modes = compute === 'float32' ? (['in-place', 'new-tokens', 'whole-cache'] as const) : (['new-tokens', 'whole-cache'] as const);
      const runtimes = await Promise.all(modes.map((kvOutputs) => createLocalRuntime(folder, { variant: 'q4f16', float16Compute: compute, kvOutputs })));
      try {
        assert.deepEqual(
          runtimes.map((r) => r.kvOutputs.mode),
          [...modes],
        );
        const [reference, ...others] = await Promise.all(runtimes.map((r) => r.createSession()));
        const sessions = [reference, ...others];
        // whole-cache is the reference: it returns the export's own present tensors.
        const whole = sessions[sessions.length - 1];
        await assertSameDecoding(whole, sessions.slice(0, -1), GROWTH_CHUNKS, 8, compute);
        for (const s of sessions) await s.dispose();
      } finally {
        for (const r of runtimes) await r.dispose();
      }
    });
  }

  test('as exported: cached greedy decoding equals full recomputation; appending tokens equals having generated them', async () => {
    const cached = await asExported.createSession();
    await cached.prefill(CHAT);
    await cached.generate({ maxTokens: 10 });
    const context = [...cached.tokenIds];
    const promptLength = context.length - 10;
    for (const k of [0, 5, 9]) {
      const fresh = await asExported.createSession();
      await fresh.appendIds(context.slice(0, promptLength + k));
      assert.equal(argmax(await fresh.nextLogits()), context[promptLength + k], `token ${k} from full recomputation`);
      await fresh.dispose();
    }
    // An LLM's span spliced in: the float16 cache gets the rows of 5 tokens at once.
    const continuation = (await cached.generate({ maxTokens: 5 })).tokens.map((t) => t.id);
    const appended = await asExported.createSession();
    await appended.appendIds(context);
    assert.deepEqual(await appended.appendIds(continuation), { tokenCount: 5, recomputedTokens: 0 });
    assert.deepEqual(appended.tokenIds, cached.tokenIds);
    assert.deepEqual(
      (await appended.generate({ maxTokens: 6 })).tokens.map((t) => t.id),
      (await cached.generate({ maxTokens: 6 })).tokens.map((t) => t.id),
    );
    await appended.dispose();
    await cached.dispose();
  });

  test('both computes, the SLM process and transformers.js (dtype q4f16) pick the same greedy tokens', async () => {
    const tokens = async (runtime: LocalRuntime) => {
      const s = await runtime.createSession();
      await s.prefill(CHAT);
      const ids = (await s.generate({ maxTokens: 6 })).tokens.map((t) => t.id);
      await s.dispose();
      return ids;
    };
    const ours = await tokens(float32);
    assert.deepEqual(await tokens(asExported), ours);

    const remote = await createProcessRuntime(folder, { variant: 'q4f16' });
    try {
      assert.equal(onnxBackendOf(remote.info).variant, 'q4f16');
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
    const model = await AutoModelForCausalLM.from_pretrained(basename(folder), { dtype: 'q4f16' });
    const inputs = tokenizer(CHAT);
    const promptLength = (inputs.input_ids.data as BigInt64Array).length;
    const output: any = await model.generate({ ...inputs, max_new_tokens: 6, do_sample: false, eos_token_id: [] });
    assert.deepEqual(Array.from(output.data as BigInt64Array, Number).slice(promptLength), ours);
    await model.dispose();
  });

  test('a file written with keep_io_types (float32 inputs and outputs, Casts at the edges) runs both ways; its cache falls back to new rows, with the reason', async () => {
    const dir = await ensureTinyModel({ variants: ['fp32', 'q4f16'], keepIoTypes: true });
    const model = readOnnxModel(join(dir, 'onnx', 'model_q4f16.onnx'));
    assert.equal(model.inputs.find((i) => i.name === 'past_key_values.0.key')?.elemType, DataType.FLOAT);
    assert.equal(model.outputs.find((o) => o.name === 'logits')?.elemType, DataType.FLOAT);
    for (const float16Compute of ['float32', 'as-exported'] as const) {
      const runtime = await createLocalRuntime(dir, { variant: 'q4f16', float16Compute });
      try {
        assert.equal(runtime.float16Compute.mode, float16Compute);
        assert.deepEqual(runtime.kvOutputs, { mode: 'new-tokens', reason: 'present.0.key is not Concat(past_key_values.0.key, new, axis=2) (found Cast)' });
        const errors = await referenceErrors(runtime, dir);
        assert.ok(
          errors.every((e) => e < (float16Compute === 'float32' ? 1e-3 : 1e-2)),
          `${float16Compute}: ${errors.join(', ')}`,
        );
      } finally {
        await runtime.dispose();
      }
    }
  });

  test('GroupQueryAttention exports: float16 GroupQueryAttention runs as exported, and with float32 activations; both return only new rows', async () => {
    const dir = await ensureTinyModel({ attention: 'gqa', variants: ['fp32', 'q4', 'q4f16'] });
    const outputs: number[][] = [];
    for (const float16Compute of ['float32', 'as-exported'] as const) {
      const runtime = await createLocalRuntime(dir, { variant: 'q4f16', float16Compute });
      try {
        assert.equal(runtime.float16Compute.mode, float16Compute);
        assert.equal(runtime.kvOutputs.mode, 'new-tokens', String(runtime.kvOutputs.reason));
        const errors = await referenceErrors(runtime, dir);
        assert.ok(
          errors.every((e) => e < (float16Compute === 'float32' ? 1e-3 : 1e-2)),
          `${float16Compute}: ${errors.join(', ')}`,
        );
        const whole = await createLocalRuntime(dir, { variant: 'q4f16', float16Compute, kvOutputs: 'whole-cache' });
        try {
          const [a, b] = [await runtime.createSession(), await whole.createSession()];
          outputs.push(await assertSameDecoding(b, [a], GROWTH_CHUNKS.slice(0, 3), 6, `gqa ${float16Compute}`));
          await a.dispose();
          await b.dispose();
        } finally {
          await whole.dispose();
        }
      } finally {
        await runtime.dispose();
      }
    }
  });
});
