// The load-time rewrite that computes the lm_head for the last position only: the graph
// it produces, what ONNX Runtime returns from it, and that the file on disk is untouched.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { emptyCacheFeeds } from './tinyFeeds';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { applyLastPositionLogits, planLastPositionLogits } from '../../../src/core/slm/onnx/lastPositionLogits';
import { readModelGraph } from '../../../src/core/slm/onnx/modelGraph';

let folder: string;
before(async () => {
  folder = await ensureTinyModel();
});

function rewrite(file: string) {
  const original = readFileSync(file);
  const graph = readModelGraph(original);
  const plan = planLastPositionLogits(graph);
  assert.ok(plan.ok, plan.ok ? '' : plan.reason);
  const buf = Buffer.alloc(original.length + plan.rewrite.tail.length);
  original.copy(buf);
  return { original, graph, plan: plan.rewrite, model: applyLastPositionLogits(buf, original.length, plan.rewrite) };
}

describe('last-position logits rewrite', () => {
  for (const [variant, file, op] of [
    ['fp32', 'model.onnx', 'MatMul'],
    ['q4', 'model_q4.onnx', 'MatMulNBits'],
    ['int8', 'model_int8.onnx', 'MatMulInteger'],
  ] as const) {
    test(`${variant}: one Slice feeds the ${op} lm_head; ORT returns one row equal to the last row of the original`, async () => {
      const path = join(folder, 'onnx', file);
      const { graph, plan, model } = rewrite(path);
      assert.equal(plan.projectionOp, op);
      const after = readModelGraph(model);
      assert.equal(after.nodes.length, graph.nodes.length + 1);
      const slice = after.nodes.find((n) => n.opType === 'Slice' && n.outputs[0] === plan.edit.newName);
      assert.ok(slice, 'the Slice produces the renamed input');
      assert.equal(slice.inputs[0].name, plan.edit.ref.name);
      const heads = after.nodes.filter((n) => n.opType === op && n.inputs[0]?.name === plan.edit.newName);
      assert.equal(heads.length, 1, 'the lm_head reads the slice');

      const ids = [4, 8, 15, 16, 23, 42];
      const plain = await ort.InferenceSession.create(path);
      const edited = await ort.InferenceSession.create(model);
      const full = (await plain.run(emptyCacheFeeds(ids))).logits as ort.Tensor;
      const last = (await edited.run(emptyCacheFeeds(ids))).logits as ort.Tensor;
      const vocab = full.dims[2];
      assert.deepEqual(full.dims, [1, ids.length, vocab]);
      assert.deepEqual(last.dims, [1, 1, vocab]);
      const expected = (full.data as Float32Array).subarray((ids.length - 1) * vocab);
      const got = last.data as Float32Array;
      let worst = 0;
      for (let i = 0; i < vocab; i++) worst = Math.max(worst, Math.abs(got[i] - expected[i]));
      assert.ok(worst < 1e-5, `max difference ${worst}`);
      await plain.release();
      await edited.release();
    });
  }

  test('loading a model leaves its file on disk unchanged', async () => {
    const path = join(folder, 'onnx', 'model.onnx');
    const hash = () => createHash('sha256').update(readFileSync(path)).digest('hex');
    const before = hash();
    const runtime = await createLocalRuntime(folder, { variant: 'fp32' });
    assert.equal(runtime.lastPositionLogits.enabled, true);
    await runtime.dispose();
    assert.equal(hash(), before);
  });

  test('a graph without a logits output is left alone, with the reason', () => {
    const graph = readModelGraph(readFileSync(join(folder, 'onnx', 'model.onnx')));
    const plan = planLastPositionLogits({ ...graph, outputNames: graph.outputNames.filter((n) => n !== 'logits') });
    assert.deepEqual(plan, { ok: false, reason: 'the graph has no output named logits' });
  });
});
