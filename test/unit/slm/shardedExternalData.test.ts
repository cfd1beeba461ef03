// Weights spread over several external data files (model.onnx_data, model.onnx_data_1, ...;
// each initializer's external_data names its own file), as transformers.js's exports of large
// models ship them: the folder loads and decodes as the reference says, sizes count every
// file, the embedding's page-cache read goes to the file that holds it, downloads take every
// file of the variant, and each file is held to the same rule as a single one (a regular
// file inside the model's folder, present).
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { DataType, OnnxGraphBuilder } from '../../fixtures/onnx/onnxBuilder';
import { ReferenceDecoder, relativeError } from '../../fixtures/referenceForward';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { availableVariants, completionOrder } from '../../../src/core/models/variantFiles';
import { ModelFolderError, readModelFolder } from '../../../src/core/slm/modelFolder';
import { embeddingRanges, warmPageCache } from '../../../src/core/slm/onnx/embeddingPageCache';
import { readModelGraph } from '../../../src/core/slm/onnx/modelGraph';

const SHARD_BYTES = 64 * 1024;
const PROMPT = [3, 41, 7, 200, 19, 88, 150, 61, 9, 300, 2, 77];
let folder: string;
const scratch: string[] = [];

before(async () => {
  folder = await ensureTinyModel({ variants: ['fp32', 'q4'], shardBytes: SHARD_BYTES });
});
after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function copyOfFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-sharded-'));
  scratch.push(dir);
  cpSync(folder, dir, { recursive: true, dereference: true });
  return dir;
}

const shardsOf = (dir: string, graph: string) =>
  readdirSync(join(dir, 'onnx'))
    .filter((name) => name.startsWith(`${graph}_data`))
    .sort();

describe('weights sharded over several external data files', () => {
  test('the fixture writes model.onnx_data, _data_1, ... with each initializer naming its own file, and config.json counts them', () => {
    const shards = shardsOf(folder, 'model.onnx');
    assert.ok(shards.length >= 4, shards.join(', '));
    assert.deepEqual(shards, ['model.onnx_data', ...shards.slice(1).map((_, i) => `model.onnx_data_${i + 1}`)].sort());
    for (const name of shards)
      assert.ok(statSync(join(folder, 'onnx', name)).size <= 2 * SHARD_BYTES, `${name} stays near the shard size (one tensor may pass it)`);
    const graph = readModelGraph(readFileSync(join(folder, 'onnx', 'model.onnx')));
    const locations = new Set([...graph.externalData.values()].map((d) => d.location));
    assert.deepEqual([...locations].sort(), shards, 'every file holds weights, and only these files are named');
    const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));
    assert.deepEqual(config['transformers.js_config'].use_external_data_format, {
      'model.onnx': shards.length,
      'model_q4.onnx': shardsOf(folder, 'model_q4.onnx').length,
    });
  });

  test("a variant counts the bytes of all its files (and not another variant's), and loads with the logits of the reference", async () => {
    const variants = readModelFolder(folder).variants;
    for (const [variant, graph] of [
      ['fp32', 'model.onnx'],
      ['q4', 'model_q4.onnx'],
    ] as const) {
      const files = [graph, ...shardsOf(folder, graph)];
      const bytes = files.reduce((sum, name) => sum + statSync(join(folder, 'onnx', name)).size, 0);
      assert.equal(variants.find((v) => v.variant === variant)?.totalBytes, bytes, variant);
      const runtime = await createLocalRuntime(folder, { variant });
      try {
        assert.equal(runtime.kvOutputs.mode, 'in-place');
        const session = await runtime.createSession();
        await session.appendIds(PROMPT);
        const expected = ReferenceDecoder.load(folder, `onnx/${graph}`).logits(PROMPT);
        const error = relativeError(await session.nextLogits(), expected[expected.length - 1]);
        assert.ok(error < 1e-4, `${variant}: relative error ${error}`);
        await session.dispose();
      } finally {
        await runtime.dispose();
      }
    }
  });

  test('the embedding table is read into the page cache from the file that holds it', async () => {
    const onnx = join(folder, 'onnx', 'model.onnx');
    const graph = readModelGraph(readFileSync(onnx));
    const table = graph.externalData.get('model.embed_tokens.weight')!;
    assert.deepEqual(embeddingRanges(graph, dirname(onnx)), [{ path: join(dirname(onnx), table.location), offset: table.offset, length: table.length }]);

    // A table in the second file (exporters write the embedding first, so make one that is not).
    const dir = mkdtempSync(join(tmpdir(), 'relay-sharded-table-'));
    scratch.push(dir);
    const g = new OnnxGraphBuilder();
    g.input('input_ids', DataType.INT64, [1, 'n']);
    const before = g.float('before', [64, 64], new Float32Array(64 * 64).fill(0.5));
    const embed = g.float(
      'embed',
      [32, 64],
      Float32Array.from({ length: 32 * 64 }, (_, i) => i),
    );
    g.op('Add', [g.op('Gather', [embed, 'input_ids'], { axis: 0 }), g.op('ReduceMean', [before], { axes: [0], keepdims: 0 })], {}, { outputs: ['logits'] });
    g.output('logits', DataType.FLOAT, [1, 'n', 64]);
    const file = join(dir, 'model.onnx');
    const { externalFiles } = g.write(file, { externalData: `${file}_data`, shardBytes: 64 * 64 * 4 });
    assert.deepEqual(externalFiles, ['model.onnx_data', 'model.onnx_data_1']);
    const ranges = embeddingRanges(readModelGraph(readFileSync(file)), dir);
    assert.deepEqual(ranges, [{ path: join(dir, 'model.onnx_data_1'), offset: 0, length: 32 * 64 * 4 }]);
    assert.equal(await warmPageCache(ranges), 32 * 64 * 4);
  });

  test('a download of a variant takes all its files, data before graphs, config.json last', () => {
    const listing = [
      'config.json',
      'generation_config.json',
      'tokenizer.json',
      'tokenizer_config.json',
      ...readdirSync(join(folder, 'onnx')).map((n) => `onnx/${n}`),
    ].map((path) => ({ path, size: statSync(join(folder, path)).size }));
    const fp32 = availableVariants(listing).find((c) => c.variant === 'fp32')!;
    const shards = shardsOf(folder, 'model.onnx').map((n) => `onnx/${n}`);
    assert.deepEqual(
      fp32.files
        .map((f) => f.path)
        .filter((p) => p.startsWith('onnx/'))
        .sort(),
      ['onnx/model.onnx', ...shards].sort(),
    );
    assert.equal(
      fp32.totalBytes,
      fp32.files.reduce((sum, f) => sum + f.size!, 0),
    );
    const order = completionOrder(fp32.files).map((f) => f.path);
    assert.ok(order.indexOf('onnx/model.onnx') > Math.max(...shards.map((s) => order.indexOf(s))));
    assert.equal(order[order.length - 1], 'config.json');
  });

  test('a missing file of the set is named, and one that leads outside the model folder is refused', async () => {
    const missing = copyOfFolder();
    const last = shardsOf(missing, 'model.onnx').at(-1)!;
    unlinkSync(join(missing, 'onnx', last));
    await assert.rejects(createLocalRuntime(missing, { variant: 'fp32' }), (e: unknown) => {
      assert.ok(e instanceof ModelFolderError, String(e));
      assert.equal(e.file, join(missing, 'onnx', last));
      assert.match(e.message, /missing: .*download it too/);
      return true;
    });

    if (process.platform === 'win32') return; // symlinks need privileges there; the rule is the same
    const outside = copyOfFolder();
    const elsewhere = mkdtempSync(join(tmpdir(), 'relay-elsewhere-'));
    scratch.push(elsewhere);
    const shard = shardsOf(outside, 'model.onnx')[1];
    const target = join(elsewhere, basename(shard));
    writeFileSync(target, readFileSync(join(outside, 'onnx', shard)));
    unlinkSync(join(outside, 'onnx', shard));
    symlinkSync(target, join(outside, 'onnx', shard));
    await assert.rejects(createLocalRuntime(outside, { variant: 'fp32' }), (e: unknown) => {
      assert.ok(e instanceof ModelFolderError, String(e));
      assert.equal(e.file, join(outside, 'onnx', 'model.onnx'));
      assert.ok(e.message.includes(JSON.stringify(shard)) && /outside the model folder/.test(e.message), e.message);
      return true;
    });
  });

  test('transformers.js loads the same folder (use_external_data_format counts the files) and picks the same greedy tokens', async () => {
    const runtime = await createLocalRuntime(folder, { variant: 'fp32' });
    const CHAT = '<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n';
    let ours: number[];
    try {
      const session = await runtime.createSession();
      await session.prefill(CHAT);
      ours = (await session.generate({ maxTokens: 6 })).tokens.map((t) => t.id);
    } finally {
      await runtime.dispose();
    }
    const { env, AutoModelForCausalLM, AutoTokenizer } = await import('@huggingface/transformers');
    env.allowRemoteModels = false;
    env.allowLocalModels = true;
    env.localModelPath = dirname(folder) + '/';
    const tokenizer = await AutoTokenizer.from_pretrained(basename(folder));
    const model = await AutoModelForCausalLM.from_pretrained(basename(folder), { dtype: 'fp32' });
    const inputs = tokenizer(CHAT);
    const promptLength = (inputs.input_ids.data as BigInt64Array).length;
    const output: any = await model.generate({ ...inputs, max_new_tokens: 6, do_sample: false, eos_token_id: [] });
    assert.deepEqual(Array.from(output.data as BigInt64Array, Number).slice(promptLength), ours);
    await model.dispose();
  });
});
