// ONNX Runtime's profile of a runtime's forward passes (LocalRuntimeOptions.profileFilePrefix,
// ortProfile.ts), on real sessions of the tiny generated model: one entry per run, in order,
// with the time and the float arithmetic of each op type, which bench:chat -- --profile uses to
// say where a chat turn's time goes.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureTinyModel, tinyModelSpec } from '../../fixtures/fixtures';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { readOrtProfile } from '../../../src/core/slm/onnx/ortProfile';

let folder: string;
let dir: string;
before(async () => {
  folder = await ensureTinyModel();
  dir = mkdtempSync(join(tmpdir(), 'relay-ort-profile-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

test('a profiled runtime writes one entry per forward pass, with the attention products of each run counted from their shapes', async () => {
  const runtime = await createLocalRuntime(folder, { profileFilePrefix: join(dir, 'run') });
  assert.deepEqual(runtime.kvOutputs, { mode: 'in-place' });
  const session = await runtime.createSession();
  await session.appendIds([4, 8, 15, 16, 23]);
  await session.nextLogits();
  await session.appendIds([42]);
  await session.nextLogits();
  await session.dispose();
  const file = runtime.endProfiling();
  await runtime.dispose();
  assert.ok(file && existsSync(file), `profile written (${file})`);

  const runs = readOrtProfile(file);
  assert.equal(runs.length, 2, 'a prefill of 5 tokens, then one token');
  const { numLayers: L, numHeads: NH, headDim: D } = tinyModelSpec();
  // Per layer and head: scores against the past keys (the first run's key input holds one
  // spare row), scores among the new tokens, and the weighted sum over all values.
  const attention = (past: number, n: number) => 2 * L * NH * D * (n * Math.max(past, 1) + n * n + n * (past + n));
  assert.equal(runs[0].ops.get('FusedMatMul')?.flops, attention(0, 5));
  assert.equal(runs[1].ops.get('FusedMatMul')?.flops, attention(5, 1));
  for (const run of runs) {
    assert.ok(run.ms > 0);
    const kernels = [...run.ops.values()].reduce((sum, o) => sum + o.ms, 0);
    assert.ok(kernels > 0 && kernels <= run.ms, `kernel time ${kernels} within the run's ${run.ms} ms`);
    assert.ok((run.ops.get('FusedMatMul')?.nodes ?? 0) >= 3 * L, 'three attention products a layer');
  }
});

test('without a prefix nothing is profiled', async () => {
  const runtime = await createLocalRuntime(folder);
  assert.equal(runtime.endProfiling(), undefined);
  await runtime.dispose();
});
