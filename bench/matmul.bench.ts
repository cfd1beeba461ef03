// `npm run bench:matmul`: one decode step's projections (M = 1 row) in each weight format
// the SLM variants use, timed in onnxruntime-node on this CPU and checked against a
// float64 product of the same (dequantised) weights. It explains the decode figures of
// bench:slm: which kernels reach the memory-bandwidth bound and which are compute-bound.
// `-- --rows 512` times a prefill's products instead (512 rows, MLP shape only; the error
// is checked on the first row).
//   fp32   MatMul                                     (model.onnx)
//   int8   DynamicQuantizeLinear + MatMulInteger      (model_int8.onnx, dynamic quantisation)
//   q4     MatMulNBits 4-bit, block 32, accuracy_level 0 (model_q4.onnx: float compute)
//   q4-a4  the same with accuracy_level 4 (int8 compute), what a load-time rewrite could ask for
// Shapes: Qwen3-0.6B's MLP up projection (1024 -> 3072) and its lm_head (1024 -> 151,936).
// Prints a table, then one JSON line.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { DataType, MS_DOMAIN, OnnxGraphBuilder } from '../test/fixtures/onnx/onnxBuilder';
import { dequantizeQ4, quantizeInt8PerColumn, quantizeQ4 } from '../test/fixtures/onnx/quantize';
import { uniformWeights } from '../test/fixtures/random';

type Format = 'fp32' | 'int8' | 'q4' | 'q4-a4';
const FORMATS: Format[] = ['fp32', 'int8', 'q4', 'q4-a4'];

/** Writes a one-projection model y = x @ W in `format`; returns its path and the weights it really holds. */
function writeProjection(dir: string, format: Format, weights: Float32Array, K: number, N: number, M: number): { path: string; effective: Float32Array } {
  const g = new OnnxGraphBuilder();
  const x = g.input('x', DataType.FLOAT, [1, M, K]);
  let effective = weights;
  if (format === 'fp32') {
    g.op('MatMul', [x, g.initializer('w', DataType.FLOAT, [K, N], weights)], {}, { outputs: ['y'] });
  } else if (format === 'int8') {
    const q = quantizeInt8PerColumn(weights, K, N);
    effective = new Float32Array(K * N);
    for (let i = 0; i < effective.length; i++) effective[i] = q.values[i] * q.scales[i % N];
    const [xq, xs, xz] = g.opMulti('DynamicQuantizeLinear', [x], {}, { outputs: 3 });
    const product = g.op('MatMulInteger', [
      xq,
      g.initializer('w', DataType.INT8, [K, N], q.values),
      xz,
      g.initializer('wz', DataType.INT8, [N], new Int8Array(N)),
    ]);
    g.op(
      'Mul',
      [g.op('Cast', [product], { to: DataType.FLOAT }), g.op('Mul', [xs, g.initializer('ws', DataType.FLOAT, [N], q.scales)])],
      {},
      { outputs: ['y'] },
    );
  } else {
    const blockSize = 32;
    const q = quantizeQ4(weights, K, N, blockSize);
    effective = dequantizeQ4(q);
    const b = g.initializer('w', DataType.UINT8, [N, q.kBlocks, blockSize / 2], q.packed);
    const scales = g.initializer('ws', DataType.FLOAT, [N * q.kBlocks], q.scales);
    const attrs = { K, N, bits: 4, block_size: blockSize, accuracy_level: format === 'q4-a4' ? 4 : 0 };
    g.op('MatMulNBits', [x, b, scales], attrs, { domain: MS_DOMAIN, outputs: ['y'] });
  }
  g.output('y', DataType.FLOAT, [1, M, N]);
  const path = join(dir, `${format}-${K}x${N}.onnx`);
  g.write(path, { externalData: `${path}_data` });
  return { path, effective };
}

function reference(x: Float32Array, w: Float32Array, K: number, N: number): Float64Array {
  const y = new Float64Array(N);
  for (let k = 0; k < K; k++) {
    const row = k * N;
    for (let n = 0; n < N; n++) y[n] += x[k] * w[row + n];
  }
  return y;
}

function relativeError(got: Float32Array, want: Float64Array): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < want.length; i++) {
    diff += (got[i] - want[i]) ** 2;
    norm += want[i] ** 2;
  }
  return Math.sqrt(diff / norm);
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--rows');
  const M = i >= 0 ? Math.max(1, Number(process.argv[i + 1]) || 1) : 1;
  const shapes: (readonly [number, number, number])[] =
    M === 1
      ? [
          [1024, 3072, 400],
          [1024, 151_936, 30],
        ]
      : [[1024, 3072, Math.max(5, Math.round(4000 / M))]];
  const dir = mkdtempSync(join(tmpdir(), 'relay-matmul-'));
  const rows: { shape: string; format: Format; ms: number; weightMb: number; relError: number }[] = [];
  try {
    for (const [K, N, runs] of shapes) {
      const weights = uniformWeights(5, `w${N}`, K * N, 0.03);
      const x = uniformWeights(9, 'x', M * K, 1);
      for (const format of FORMATS) {
        const { path, effective } = writeProjection(dir, format, weights, K, N, M);
        const want = reference(x.subarray(0, K), effective, K, N);
        const session = await ort.InferenceSession.create(path);
        const feeds = { x: new ort.Tensor('float32', x, [1, M, K]) };
        let y = (await session.run(feeds)).y.data as Float32Array;
        for (let i = 0; i < 5; i++) await session.run(feeds);
        const t = performance.now();
        for (let i = 0; i < runs; i++) y = (await session.run(feeds)).y.data as Float32Array;
        const ms = (performance.now() - t) / runs;
        await session.release();
        const bytesPerWeight = format === 'fp32' ? 4 : format === 'int8' ? 1 : 0.5 + 4 / 32;
        rows.push({
          shape: `${M > 1 ? `${M}x` : ''}${K}x${N}`,
          format,
          ms,
          weightMb: (K * N * bytesPerWeight) / 2 ** 20,
          relError: relativeError(y.subarray(0, N), want),
        });
        process.stdout.write(`${K}x${N} ${format}: ${ms.toFixed(3)} ms\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const header = '| projection | format | ms per call | weights MB | GB/s of weights | rel. error vs float64 |';
  console.log(`\n${header}\n|---|---|---|---|---|---|`);
  for (const r of rows) {
    console.log(
      `| ${r.shape} | ${r.format} | ${r.ms.toFixed(3)} | ${r.weightMb.toFixed(1)} | ${(r.weightMb / 1024 / (r.ms / 1000)).toFixed(1)} | ${r.relError.toExponential(1)} |`,
    );
  }
  // The headline shape: the lm_head for a decode step, the MLP projection for a prefill.
  const headShape = M === 1 ? '1024x151936' : `${M}x1024x3072`;
  const head = (format: Format) => rows.find((r) => r.shape === headShape && r.format === format)!;
  console.log(
    JSON.stringify({
      rows: M,
      shape: headShape,
      ms: Object.fromEntries(FORMATS.map((f) => [f, Number(head(f).ms.toFixed(3))])),
      rel_error: Object.fromEntries(FORMATS.map((f) => [f, Number(head(f).relError.toExponential(2))])),
      int8_over_q4_speed: Number((head('q4').ms / head('int8').ms).toFixed(3)),
      q4_accuracy_level_4_correct: rows.filter((r) => r.format === 'q4-a4').every((r) => r.relError < 0.05),
    }),
  );
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
