// The load-time rewrite that makes each run return only its new keys and values: the
// outputs it adds, what ONNX Runtime returns for them, and the graphs it must leave alone.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { assertSameDecoding, GROWTH_CHUNKS, SHORT_CHUNKS } from './sameDecoding';
import { emptyCacheFeeds } from './tinyFeeds';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { readModelGraph, type ModelGraph } from '../../../src/core/slm/onnx/modelGraph';
import { applyNewTokenKvOutputs, planNewTokenKvOutputs } from '../../../src/core/slm/onnx/newTokenKvOutputs';

let folder: string;
let graph: ModelGraph;
before(async () => {
  folder = await ensureTinyModel();
  graph = readModelGraph(readFileSync(join(folder, 'onnx', 'model.onnx')));
});

/** The graph with the node that makes `present` replaced by `change(node)`. */
function withPresentProducer(present: string, change: (node: ModelGraph['nodes'][number]) => ModelGraph['nodes'][number]): ModelGraph {
  return { ...graph, nodes: graph.nodes.map((n) => (n.outputs.includes(present) ? change(n) : n)) };
}

describe('new-token KV outputs rewrite', () => {
  for (const file of ['model.onnx', 'model_q4.onnx', 'model_int8.onnx']) {
    test(`${file}: one output per cache tensor, equal to the last rows of its present tensor`, async () => {
      const path = join(folder, 'onnx', file);
      const original = readFileSync(path);
      const plan = planNewTokenKvOutputs(readModelGraph(original));
      assert.ok(plan.ok, plan.ok ? '' : plan.reason);
      assert.equal(plan.rewrite.outputs.length, 4, '2 layers x key and value');
      const buf = Buffer.alloc(original.length + plan.rewrite.tail.length);
      original.copy(buf);
      const model = applyNewTokenKvOutputs(buf, original.length, plan.rewrite);
      assert.deepEqual(readModelGraph(model).outputNames.slice(-4), plan.rewrite.outputs);

      const session = await ort.InferenceSession.create(model);
      const out = await session.run(emptyCacheFeeds([4, 8, 15, 16, 23]));
      plan.rewrite.outputs.forEach((name, slot) => {
        const present = out[`present.${slot >> 1}.${slot & 1 ? 'value' : 'key'}`] as ort.Tensor;
        const fresh = out[name] as ort.Tensor;
        // Empty past: the new rows are the whole present tensor.
        assert.deepEqual(fresh.dims, present.dims);
        assert.deepEqual(fresh.data, present.data);
      });
      await session.release();
    });
  }

  test('GroupQueryAttention exports (rotary inside the op): the new rows are its inputs, and logits and tokens match the whole-cache path to the bit', async () => {
    const gqaFolder = await ensureTinyModel({ attention: 'gqa' });
    const gqaGraph = readModelGraph(readFileSync(join(gqaFolder, 'onnx', 'model.onnx')));
    assert.equal(gqaGraph.nodes.filter((n) => n.opType === 'GroupQueryAttention').length, 2, 'the fixture fuses attention');
    const plan = planNewTokenKvOutputs(gqaGraph);
    assert.ok(plan.ok, plan.ok ? '' : plan.reason);
    assert.deepEqual(readModelGraph(plan.rewrite.tail).nodes.filter((n) => n.opType === 'RotaryEmbedding').length, 2, 'one rotary per layer, for the keys');
    for (const variant of ['fp32', 'q4'] as const) {
      const ours = await createLocalRuntime(gqaFolder, { variant });
      const whole = await createLocalRuntime(gqaFolder, { variant, kvOutputs: 'whole-cache' });
      assert.deepEqual(ours.kvOutputs, {
        mode: 'new-tokens',
        reason: 'present.0.key is not Concat(past_key_values.0.key, new, axis=2) (found GroupQueryAttention)',
      });
      await assertSameDecoding(await whole.createSession(), [await ours.createSession()], GROWTH_CHUNKS, 20, variant);
      await ours.dispose();
      await whole.dispose();
    }
  });

  test('a GroupQueryAttention whose rotary caches cannot be checked (not initializers, or partial rotary) keeps the whole-cache path, with the reason', async () => {
    const gqaFolder = await ensureTinyModel({ attention: 'gqa' });
    const gqaGraph = readModelGraph(readFileSync(join(gqaFolder, 'onnx', 'model.onnx')));
    const partial = planNewTokenKvOutputs({
      ...gqaGraph,
      initializerDims: new Map([...gqaGraph.initializerDims].map(([k, v]) => [k, k === 'rotary_cos_cache' ? [v[0], 4] : v])),
    });
    assert.deepEqual(partial, {
      ok: false,
      reason: 'present.0.key: GroupQueryAttention rotates keys with caches this runtime cannot check (partial rotary or computed caches)',
    });
    const fused = planNewTokenKvOutputs(withPresentProducer('present.1.key', (n) => ({ ...n, opType: 'SomeFusedAttention' })));
    assert.deepEqual(fused, { ok: false, reason: 'present.1.key is not Concat(past_key_values.1.key, new, axis=2) (found SomeFusedAttention)' });
  });

  test('a Concat along another axis, or of other inputs, is not taken for the cache append', () => {
    const otherAxis = planNewTokenKvOutputs(withPresentProducer('present.0.value', (n) => ({ ...n, intAttributes: new Map([['axis', 1]]) })));
    assert.equal(otherAxis.ok, false);
    const swapped = planNewTokenKvOutputs(withPresentProducer('present.0.key', (n) => ({ ...n, inputs: [...n.inputs].reverse() })));
    assert.equal(swapped.ok, false);
  });

  test('a float16 cache around float32 compute: the new rows go through the same Cast, and the logits stay bit-identical', async () => {
    const fp16Graph = readModelGraph(readFileSync(join(folder, 'onnx', 'model_fp16.onnx')));
    const plan = planNewTokenKvOutputs(fp16Graph);
    assert.ok(plan.ok, plan.ok ? '' : plan.reason);
    const added = readModelGraph(plan.rewrite.tail).nodes;
    assert.equal(added.length, 4);
    assert.ok(
      added.every((n) => n.opType === 'Cast' && n.intAttributes.get('to') === 10),
      'Casts to float16',
    );
    assert.deepEqual(
      added.map((n) => n.outputs[0]),
      plan.rewrite.outputs,
    );

    const ours = await createLocalRuntime(folder, { variant: 'fp16' });
    const whole = await createLocalRuntime(folder, { variant: 'fp16', kvOutputs: 'whole-cache' });
    assert.equal(ours.kvOutputs.mode, 'new-tokens');
    await assertSameDecoding(await whole.createSession(), [await ours.createSession()], SHORT_CHUNKS, 12);
    await ours.dispose();
    await whole.dispose();
  });

  test('the runtime reports which path it took', async () => {
    const runtime = await createLocalRuntime(folder, { variant: 'q4', kvOutputs: 'new-tokens' });
    assert.deepEqual(runtime.kvOutputs, { mode: 'new-tokens', reason: 'disabled by option' });
    await runtime.dispose();
  });
});
