// The load-time rewrite that makes 4-bit MatMulNBits nodes compute with int8 activations:
// the re-encoded model keeps every other byte, ORT runs it with logits close to the
// as-exported file (but not equal: the int8 kernel really runs), and the runtime applies
// it to q4 files by default and not when asked to keep the export's level.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { readOnnxModel } from '../../fixtures/onnx/onnxReader';
import { relativeError } from '../../fixtures/referenceForward';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { INT8_COMPUTE_ACCURACY_LEVEL, setMatMulNBitsAccuracy } from '../../../src/core/slm/onnx/matMulNBitsAccuracy';

let folder: string;
let scratch: string;
before(async () => {
  folder = await ensureTinyModel();
  scratch = mkdtempSync(join(tmpdir(), 'relay-nbits-'));
});
after(() => rmSync(scratch, { recursive: true, force: true }));

const PROMPT = [3, 41, 7, 200, 19, 88, 150, 61, 9, 300, 2, 77];

describe('MatMulNBits int8-compute rewrite', () => {
  test('sets accuracy_level 4 on every MatMulNBits node and leaves the rest of the model as it was', () => {
    const path = join(folder, 'onnx', 'model_q4.onnx');
    const original = readFileSync(path);
    const rewrite = setMatMulNBitsAccuracy(original, original.length, INT8_COMPUTE_ACCURACY_LEVEL, 100);
    assert.ok(rewrite);
    assert.equal(rewrite.buf.length, rewrite.length + 100, 'the slack follows the model');
    const before = readOnnxModel(path);
    const edited = join(scratch, 'edited.onnx');
    writeFileSync(edited, rewrite.buf.subarray(0, rewrite.length));
    const after = readOnnxModel(edited);
    const nbits = after.nodes.filter((n) => n.opType === 'MatMulNBits');
    assert.equal(rewrite.rewritten, nbits.length);
    assert.equal(nbits.length, 15, '7 projections in each of 2 layers, and the lm_head');
    for (const n of nbits) assert.equal(n.attrs.accuracy_level, 4, n.name);
    // Everything else is unchanged: nodes in order with their inputs/outputs and other attributes, initializers, I/O.
    assert.deepEqual(
      after.nodes.map((n) => [n.opType, n.inputs, n.outputs, { ...n.attrs, accuracy_level: undefined }]),
      before.nodes.map((n) => [n.opType, n.inputs, n.outputs, { ...n.attrs, accuracy_level: undefined }]),
    );
    assert.deepEqual(
      after.initializers.map((t) => [t.name, t.dims]),
      before.initializers.map((t) => [t.name, t.dims]),
    );
    assert.deepEqual(after.inputs, before.inputs);
    assert.deepEqual(after.outputs, before.outputs);
    // A second pass finds nothing to do, and a model without MatMulNBits is left alone.
    assert.equal(setMatMulNBitsAccuracy(rewrite.buf, rewrite.length), null);
    const fp32 = readFileSync(join(folder, 'onnx', 'model.onnx'));
    assert.equal(setMatMulNBitsAccuracy(fp32, fp32.length), null);
  });

  test('the runtime applies it to q4 when asked (not by default): logits close to the as-exported kernel, not identical', async () => {
    const fast = await createLocalRuntime(folder, { variant: 'q4', q4Compute: 'int8' });
    const exact = await createLocalRuntime(folder, { variant: 'q4' });
    const fp32 = await createLocalRuntime(folder, { variant: 'fp32' });
    try {
      assert.equal(fast.int8ComputeNodes, 15);
      assert.equal(exact.int8ComputeNodes, 0);
      assert.equal(fp32.int8ComputeNodes, 0);
      assert.equal(fast.lastPositionLogits.enabled, true, 'both rewrites apply together');
      const logits = async (rt: typeof fast) => {
        const s = await rt.createSession();
        await s.appendIds(PROMPT);
        const l = await s.nextLogits();
        await s.dispose();
        return l;
      };
      const err = relativeError(await logits(fast), await logits(exact));
      assert.ok(err > 0 && err < 2e-2, `int8 compute vs as exported: relative error ${err}`);
      // ORT itself agrees that the edited bytes are a valid model with the same I/O.
      const original = readFileSync(join(folder, 'onnx', 'model_q4.onnx'));
      const rewrite = setMatMulNBitsAccuracy(original, original.length)!;
      const session = await ort.InferenceSession.create(rewrite.buf.subarray(0, rewrite.length));
      assert.deepEqual(session.outputNames[0], 'logits');
      await session.release();
    } finally {
      await fast.dispose();
      await exact.dispose();
      await fp32.dispose();
    }
  });
});
