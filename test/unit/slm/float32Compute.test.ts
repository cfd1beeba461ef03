// The load-time rewrite that runs a float16 graph (q4f16) with float32 activations: what it
// edits, that ONNX Runtime folds the Casts it adds into float32 weights (no Cast of a weight is
// left to run every step) while an embedding table stays float16, that the numbers are the
// float16 graph's to float16's precision, and the graphs it leaves alone, with the reason.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { ensureTinyModel, EVERY_VARIANT } from '../../fixtures/fixtures';
import { float16BitsToNumber, toFloat16Array } from '../../fixtures/onnx/float16';
import { DataType, OnnxGraphBuilder } from '../../fixtures/onnx/onnxBuilder';
import { readOnnxModel } from '../../fixtures/onnx/onnxReader';
import { applyFloat32Compute, planFloat32Compute } from '../../../src/core/slm/onnx/float32Compute';
import { GRAPH_INPUT, GRAPH_NODE, MODEL_GRAPH, readModelGraph, tensorValueInfoProto } from '../../../src/core/slm/onnx/modelGraph';
import { ProtobufWriter } from '../../../src/core/slm/onnx/protobufWire';

let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'relay-float32-compute-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const half = (values: number[]) => toFloat16Array(Float32Array.from(values));

/**
 * A float16 graph with every kind of float16 source the rewrite handles:
 * y = (Gather(table, ids) @ w + Constant + ConstantOfShape + Cast(n, float16)) * x, with value_info.
 */
function float16Graph(): OnnxGraphBuilder {
  const g = new OnnxGraphBuilder();
  g.input('x', DataType.FLOAT16, [2, 4]);
  g.input('ids', DataType.INT64, [2]);
  g.input('n', DataType.INT64, [2, 4]);
  const table = g.initializer('table', DataType.FLOAT16, [5, 4], half(Array.from({ length: 20 }, (_, i) => i / 8 - 1)));
  const w = g.initializer('w', DataType.FLOAT16, [4, 4], half(Array.from({ length: 16 }, (_, i) => (i % 5) / 4 - 0.5)));
  const rows = g.valueInfo(g.op('Gather', [table, 'ids'], { axis: 0 }), DataType.FLOAT16, [2, 4]);
  const product = g.valueInfo(g.op('MatMul', [rows, w]), DataType.FLOAT16, [2, 4]);
  const constant = g.op('Constant', [], { value: { tensor: { name: 'c', dataType: DataType.FLOAT16, dims: [4], data: half([0.25, -0.5, 1, 2]) } } });
  const shape = g.int64('shape', [2], [2, 4]);
  const filled = g.op('ConstantOfShape', [shape], { value: { tensor: { name: 'v', dataType: DataType.FLOAT16, dims: [1], data: half([0.125]) } } });
  const counted = g.op('Cast', ['n'], { to: DataType.FLOAT16 });
  const sum = g.op('Add', [g.op('Add', [g.op('Add', [product, constant]), filled]), counted]);
  g.op('Mul', [sum, 'x'], {}, { outputs: ['y'] });
  g.output('y', DataType.FLOAT16, [2, 4]);
  return g;
}

function rewrite(bytes: Uint8Array) {
  const plan = planFloat32Compute(bytes, bytes.length, readModelGraph(bytes));
  assert.ok(plan.ok, plan.ok ? '' : plan.reason);
  const buf = new Uint8Array(bytes.length + plan.rewrite.tail.length);
  buf.set(bytes);
  return { plan: plan.rewrite, model: buf.subarray(0, applyFloat32Compute(buf, bytes.length, plan.rewrite)) };
}

describe('float32 compute of a float16 graph', () => {
  test("every float16 source becomes float32: inputs, outputs, value_info, Cast, weights, Constant, ConstantOfShape, a Gather table's rows", async () => {
    const file = join(dir, 'f16.onnx');
    float16Graph().write(file);
    const bytes = readFileSync(file);
    const { plan, model } = rewrite(bytes);
    assert.equal(plan.castInitializers, 1, 'w is cast; the table stays float16');
    assert.equal(plan.castGathers, 1);
    assert.equal(model.length - bytes.length, plan.tail.length, 'all other edits keep their length');

    const x = half([1, -2, 0.5, 3, -1, 0.25, 2, -0.75]);
    const ids = BigInt64Array.of(3n, 1n);
    const n = BigInt64Array.of(0n, 1n, 2n, 3n, 4n, 5n, 6n, 7n);
    const exported = await ort.InferenceSession.create(bytes);
    const expected = (
      await exported.run({ x: new ort.Tensor('float16', x, [2, 4]), ids: new ort.Tensor('int64', ids, [2]), n: new ort.Tensor('int64', n, [2, 4]) })
    ).y;
    await exported.release();
    assert.equal(expected.type, 'float16');

    const rewritten = await ort.InferenceSession.create(model);
    const meta = rewritten.inputMetadata.find((m) => m.name === 'x');
    assert.equal(meta?.isTensor && meta.type, 'float32', 'the input is declared float32');
    const xf = Float32Array.from(x, float16BitsToNumber);
    const actual = (
      await rewritten.run({ x: new ort.Tensor('float32', xf, [2, 4]), ids: new ort.Tensor('int64', ids, [2]), n: new ort.Tensor('int64', n, [2, 4]) })
    ).y;
    await rewritten.release();
    assert.equal(actual.type, 'float32');
    const want = Array.from(expected.data as Uint16Array, float16BitsToNumber);
    (actual.data as Float32Array).forEach((v, i) =>
      assert.ok(Math.abs(v - want[i]) <= 2e-3 * Math.max(1, Math.abs(want[i])), `y[${i}] = ${v}, float16 graph ${want[i]}`),
    );
  });

  test('the tiny q4f16 file: no float16 is declared anywhere but the embedding table, and ONNX Runtime folds every Cast of a weight', async () => {
    const folder = await ensureTinyModel({ variants: EVERY_VARIANT });
    const bytes = readFileSync(join(folder, 'onnx', 'model_q4f16.onnx'));
    const { plan, model } = rewrite(bytes);
    assert.equal(plan.castGathers, 1, 'the embedding rows');
    assert.ok(plan.castInitializers > 2 * 7, `${plan.castInitializers}: scales, norms, constants`);
    const file = join(dir, 'rewritten.onnx');
    const optimized = join(dir, 'optimized.onnx');
    writeFileSync(file, model);
    const info = readOnnxModel(file);
    const declared = [...info.inputs, ...info.outputs, ...info.valueInfo].map((v) => v.elemType);
    assert.ok(!declared.includes(DataType.FLOAT16), 'inputs, outputs and value_info are float32');
    assert.ok(info.nodes.filter((n) => n.opType === 'Cast').every((n) => n.attrs.to !== DataType.FLOAT16));
    const session = await ort.InferenceSession.create(model, { graphOptimizationLevel: 'all', optimizedModelFilePath: optimized });
    await session.release();
    const after = readOnnxModel(optimized);
    const weights = new Set(after.initializers.map((t) => t.name));
    assert.deepEqual(
      after.nodes.filter((n) => n.opType === 'Cast' && weights.has(n.inputs[0])).map((n) => n.inputs[0]),
      [],
      'no Cast of a weight runs per step',
    );
    assert.deepEqual(
      after.initializers.filter((t) => t.dataType === DataType.FLOAT16).map((t) => t.name),
      ['model.embed_tokens.weight'],
    );
  });

  test('graphs it leaves alone say why: no float16, a float16 weight that is also an input, subgraphs', () => {
    const none = new OnnxGraphBuilder();
    none.input('a', DataType.FLOAT, [2]);
    none.op('Relu', ['a'], {}, { outputs: ['b'] });
    none.output('b', DataType.FLOAT, [2]);
    const file = join(dir, 'none.onnx');
    none.write(file);
    const plain = readFileSync(file);
    assert.deepEqual(planFloat32Compute(plain, plain.length, readModelGraph(plain)), { ok: false, reason: 'the graph has no float16 tensors' });

    // An old-IR file lists its initializers among the graph inputs too (a second graph field, which protobuf merges).
    const f16 = readFileSync(join(dir, 'f16.onnx'));
    const appended = (extra: ProtobufWriter) => {
      const tail = new ProtobufWriter().bytesField(MODEL_GRAPH, extra.finish()).finish();
      const bytes = new Uint8Array(f16.length + tail.length);
      bytes.set(f16);
      bytes.set(tail, f16.length);
      return bytes;
    };
    const shadowed = appended(new ProtobufWriter().messageField(GRAPH_INPUT, tensorValueInfoProto('w', DataType.FLOAT16, [4, 4])));
    assert.deepEqual(planFloat32Compute(shadowed, shadowed.length, readModelGraph(shadowed)), {
      ok: false,
      reason: 'the float16 initializer w is also a graph input',
    });

    // An If node: its branches are subgraphs (AttributeProto field 6), which the rewrite does not walk.
    const attribute = new ProtobufWriter().stringField(1, 'then_branch').messageField(6, new ProtobufWriter().stringField(2, 'branch')).varintField(20, 5);
    const node = new ProtobufWriter().stringField(1, 'cond').stringField(2, 'out').stringField(4, 'If').messageField(5, attribute);
    const withIf = appended(new ProtobufWriter().messageField(GRAPH_NODE, node));
    assert.deepEqual(planFloat32Compute(withIf, withIf.length, readModelGraph(withIf)), { ok: false, reason: 'the graph has subgraphs (If)' });
  });
});
