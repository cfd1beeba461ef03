// The load-time rewrite that makes attention read a token-major KV cache where the runtime
// keeps it: what it removes and adds, that ONNX Runtime accepts it, that its numbers are
// the export's own to the bit, and the graphs it must leave alone (with the reason).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { assertSameDecoding, SHORT_CHUNKS } from './sameDecoding';
import { emptyCacheFeeds } from './tinyFeeds';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { applyAttentionInPlace, planAttentionInPlace, type AttentionInPlacePlan } from '../../../src/core/slm/onnx/attentionInPlace';
import { loadDecoderSession } from '../../../src/core/slm/onnx/decoderSession';
import { readModelGraph, type GraphNode, type ModelGraph } from '../../../src/core/slm/onnx/modelGraph';

let folder: string;
let graph: ModelGraph;
before(async () => {
  folder = await ensureTinyModel();
  graph = readModelGraph(readFileSync(join(folder, 'onnx', 'model.onnx')));
});

function rewritten(file: string): { model: Uint8Array; outputs: string[] } {
  const original = readFileSync(join(folder, 'onnx', file));
  const plan = planAttentionInPlace(readModelGraph(original));
  assert.ok(plan.ok, plan.ok ? '' : plan.reason);
  const buf = new Uint8Array(original.length + plan.rewrite.tail.length);
  buf.set(original);
  return { model: applyAttentionInPlace(buf, original.length, plan.rewrite), outputs: plan.rewrite.outputs };
}

/** [1, heads, n, dim] head-major data as [1, n, heads, dim]. */
function toTokenMajor(data: Float32Array, heads: number, n: number, dim: number): Float32Array {
  const out = new Float32Array(data.length);
  for (let h = 0; h < heads; h++) for (let t = 0; t < n; t++) out.set(data.subarray((h * n + t) * dim, (h * n + t + 1) * dim), (t * heads + h) * dim);
  return out;
}

function withNode(match: (n: GraphNode) => boolean, change: (n: GraphNode) => GraphNode): ModelGraph {
  return { ...graph, nodes: graph.nodes.map((n) => (match(n) ? change(n) : n)) };
}

describe('attention in place (token-major KV cache)', () => {
  for (const file of ['model.onnx', 'model_q4.onnx', 'model_int8.onnx']) {
    test(`${file}: the present outputs and the cache Concat/Transpose are gone; the new rows come back token-major; logits are the export's to the bit`, async () => {
      const { model, outputs } = rewritten(file);
      const edited = readModelGraph(model);
      assert.deepEqual(
        edited.outputNames.filter((n) => n.startsWith('present')),
        [],
        'present.* tombstoned',
      );
      assert.deepEqual(edited.outputNames.slice(-4), outputs);
      const original = await ort.InferenceSession.create(join(folder, 'onnx', file));
      const session = await ort.InferenceSession.create(model);
      assert.deepEqual(session.outputNames, ['logits', ...outputs]);

      // A prefill on an empty cache, then two decode steps on each side's own cache.
      const ids = [4, 8, 15, 16, 23];
      let before = await original.run(emptyCacheFeeds(ids));
      let after = await session.run(emptyCacheFeeds(ids, 'token-major'));
      assert.deepEqual(after.logits.data, before.logits.data);
      const cache = outputs.map((name, slot) => {
        const present = before[`present.${slot >> 1}.${slot & 1 ? 'value' : 'key'}`] as ort.Tensor;
        const rows = after[name] as ort.Tensor;
        assert.deepEqual(rows.dims, [1, ids.length, 2, 16]);
        assert.deepEqual(rows.data, toTokenMajor(present.data as Float32Array, 2, ids.length, 16), 'the new rows are the present tensor, token-major');
        return Array.from(rows.data as Float32Array);
      });
      for (const [step, id] of [42, 7].entries()) {
        const total = ids.length + step + 1;
        const steps = (layout: 'head-major' | 'token-major') => {
          const feeds = emptyCacheFeeds([id], layout);
          feeds.attention_mask = new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]);
          feeds.position_ids = new ort.Tensor('int64', BigInt64Array.of(BigInt(total - 1)), [1, 1]);
          return feeds;
        };
        const headFeeds = steps('head-major');
        const tokenFeeds = steps('token-major');
        outputs.forEach((_, slot) => {
          const name = `${slot >> 1}.${slot & 1 ? 'value' : 'key'}`;
          headFeeds[`past_key_values.${name}`] = before[`present.${name}`] as ort.Tensor;
          tokenFeeds[`past_key_values.${name}`] = new ort.Tensor('float32', Float32Array.from(cache[slot]), [1, total - 1, 2, 16]);
        });
        before = await original.run(headFeeds);
        after = await session.run(tokenFeeds);
        assert.deepEqual(after.logits.data, before.logits.data, `decode step ${step}`);
        outputs.forEach((name, slot) => cache[slot].push(...(after[name].data as Float32Array)));
      }
      await original.release();
      await session.release();
    });
  }

  test("the cache inputs are declared token-major with the export's head count and size, which the runtime uses over config.json", async () => {
    const { model } = rewritten('model.onnx');
    const session = await ort.InferenceSession.create(model);
    const meta = session.inputMetadata.find((m) => m.name === 'past_key_values.1.value');
    assert.ok(meta?.isTensor);
    assert.deepEqual(meta.shape.slice(2), [2, 16]);
    await session.release();
    const loaded = await loadDecoderSession(join(folder, 'onnx', 'model.onnx'), { kvHeads: 99, headDim: 99 });
    assert.equal(loaded.kvOutputs.mode, 'in-place');
    assert.equal(loaded.io.kvHeads, 2);
    assert.equal(loaded.io.headDim, 16);
    await loaded.session.release();
  });

  test('q4 and int8 runtimes decode the same tokens and logits in place as with the whole cache', async () => {
    for (const variant of ['q4', 'int8'] as const) {
      const inPlace = await createLocalRuntime(folder, { variant });
      const whole = await createLocalRuntime(folder, { variant, kvOutputs: 'whole-cache' });
      assert.deepEqual(inPlace.kvOutputs, { mode: 'in-place' });
      await assertSameDecoding(await whole.createSession(), [await inPlace.createSession()], SHORT_CHUNKS, 20, variant);
      await inPlace.dispose();
      await whole.dispose();
    }
  });

  test('a torch export that takes the past length from Shape(past key) (the trained demo SLM): that Shape is rewritten, and every logit matches the whole-cache path', async () => {
    const demo = join(__dirname, '..', '..', '..', 'models', 'relay-demo-slm');
    const demoGraph = readModelGraph(readFileSync(join(demo, 'onnx', 'model_int8.onnx')));
    const pastShapes = demoGraph.nodes.filter((n) => n.opType === 'Shape' && n.inputs[0]?.name.startsWith('past_key_values'));
    assert.ok(pastShapes.length > 0, 'the export reads the shape of its cache input');
    const inPlace = await createLocalRuntime(demo);
    const whole = await createLocalRuntime(demo, { kvOutputs: 'whole-cache' });
    assert.deepEqual(inPlace.kvOutputs, { mode: 'in-place' });
    const tokens = await assertSameDecoding(await whole.createSession(), [await inPlace.createSession()], ['What is 17 + 25?', ' Think', ' step by step.'], 24);
    assert.ok(tokens.length > 0);
    await inPlace.dispose();
    await whole.dispose();
  });

  test('graphs whose attention is not Concat -> Transpose -> MatMul keep the head-major path, with the reason', () => {
    const perm = planAttentionInPlace(
      withNode(
        (n) => n.opType === 'Transpose' && n.inputs[0]?.name === 'present.1.key',
        (n) => ({ ...n, intsAttributes: new Map([['perm', [0, 2, 1, 3]]]) }),
      ),
    );
    assert.deepEqual(perm, { ok: false, reason: 'present.1.key is read by Transpose, not by Transpose(perm=[0,1,3,2]) into Q·Kᵀ' });
    // A second reader of the cache (a Shape for the mask, say) would still need the whole present tensor.
    const extra: GraphNode = {
      opType: 'Shape',
      domain: '',
      inputs: [{ name: 'present.0.value', valueStart: 0, end: 0 }],
      outputs: ['x'],
      intAttributes: new Map(),
      intsAttributes: new Map(),
      start: 0,
    };
    const twoReaders = planAttentionInPlace({ ...graph, nodes: [...graph.nodes, extra] });
    assert.deepEqual(twoReaders, { ok: false, reason: 'present.0.value feeds 2 nodes; attention must be its only reader' });
    // Any reader of a cache input but the Concat and a plain Shape would see the token-major layout.
    const sliceOfPast: GraphNode = { ...extra, opType: 'Slice', inputs: [{ name: 'past_key_values.1.key', valueStart: 0, end: 0 }] };
    const pastRead = planAttentionInPlace({ ...graph, nodes: [...graph.nodes, sliceOfPast] });
    assert.deepEqual(pastRead, { ok: false, reason: 'past_key_values.1.key is also read by Slice; only the cache Concat and Shape may read it' });
    const fused = planAttentionInPlace(
      withNode(
        (n) => n.outputs.includes('present.0.key'),
        (n) => ({ ...n, opType: 'GroupQueryAttention' }),
      ),
    );
    assert.deepEqual(fused, { ok: false, reason: 'present.0.key is not Concat(past_key_values.0.key, new, axis=2) (found GroupQueryAttention)' });
    const fp16 = planAttentionInPlace(readModelGraph(readFileSync(join(folder, 'onnx', 'model_fp16.onnx'))));
    assert.equal(fp16.ok, false, 'a float16 cache (Cast around the Concat) is left to the head-major path');
  });

  test('a scale computed at run time is not duplicated: it stays after the joined scores', () => {
    const planned = planAttentionInPlace(graph);
    assert.ok(planned.ok);
    const scaleName = 'const_attn_scale';
    assert.ok(graph.initializerNames.has(scaleName), 'the fixture scales Q·Kᵀ by an initializer');
    const computed = planAttentionInPlace({ ...graph, initializerNames: new Set([...graph.initializerNames].filter((n) => n !== scaleName)) });
    assert.ok(computed.ok);
    assert.equal(computed.rewrite.tombstones.length, planned.rewrite.tombstones.length - 2, 'the two layers keep their Mul');
    const added = readModelGraph(computed.rewrite.tail).nodes;
    assert.equal(added.filter((n) => n.opType === 'Mul').length, 0);
    assert.equal(readModelGraph(planned.rewrite.tail).nodes.filter((n) => n.opType === 'Mul').length, 4, 'past and new scores of each layer');
  });

  test('grouped queries: the past scores are one product per key head over its G x S query rows (its past keys packed once, not once per group), where the Unsqueeze axis is known', () => {
    assert.deepEqual(graph.smallInt64s.get('const_axes_2'), [2], "the fixture's keys are unsqueezed at the group axis");
    /** What each past-key product multiplies: a Reshape of the query, or the export's query itself. */
    const pastProducts = (plan: AttentionInPlacePlan): string[] => {
      assert.ok(plan.ok);
      const added = readModelGraph(plan.rewrite.tail).nodes;
      const producer = new Map(added.flatMap((n) => n.outputs.map((o) => [o, n] as const)));
      return added
        .filter((n) => n.opType === 'FusedMatMul' && producer.get(n.inputs[1].name)?.inputs[0]?.name.match(/^past_key_values\.\d+\.key$/))
        .map((n) => producer.get(n.inputs[0].name)?.opType ?? 'query');
    };
    assert.deepEqual(pastProducts(planAttentionInPlace(graph)), ['Reshape', 'Reshape']);
    // An axis the rewrite cannot read (a Constant node, say) keeps one product per query group.
    assert.deepEqual(pastProducts(planAttentionInPlace({ ...graph, smallInt64s: new Map() })), ['query', 'query']);
  });

  test('the rewrite refuses bytes that are not the ones it planned on', () => {
    const original = readFileSync(join(folder, 'onnx', 'model.onnx'));
    const plan = planAttentionInPlace(readModelGraph(original));
    assert.ok(plan.ok);
    const buf = new Uint8Array(original.length + plan.rewrite.tail.length);
    buf.set(original);
    buf[plan.rewrite.tombstones[3].at] ^= 0xff;
    assert.throws(() => applyAttentionInPlace(buf, original.length, plan.rewrite), /internal: byte \d+ holds tag/);
  });
});
