/**
 * ONNX Runtime's profile (SessionOptions.enableProfiling, LocalRuntimeOptions.profileFilePrefix)
 * read back per forward pass: where a run's time went, by op type, and the arithmetic of its
 * matrix products (from the shapes the profile records), so a benchmark can say which ops grow
 * with the history and how fast they run (npm run bench:chat -- --profile).
 */
import { readFileSync } from 'node:fs';

export interface OrtOpTotals {
  /** Kernel time of all nodes of this op type in the run. */
  ms: number;
  nodes: number;
  /** Matrix products (float MatMul / FusedMatMul, int8 MatMulInteger and its fusions): 2 x multiply-adds, from the recorded shapes; 0 for other ops. */
  flops: number;
}

export interface OrtRunProfile {
  /** The whole run (model_run), kernels and everything between them. */
  ms: number;
  /** By op type (ONNX Runtime's fused op names: FusedMatMul, MatMulIntegerToFloat, ...). */
  ops: Map<string, OrtOpTotals>;
}

interface ProfileEvent {
  cat?: string;
  name?: string;
  ts?: number;
  dur?: number;
  args?: { op_name?: string; input_type_shape?: Record<string, number[]>[]; output_type_shape?: Record<string, number[]>[] };
}

const MATMULS = new Set(['MatMul', 'FusedMatMul', 'MatMulInteger', 'MatMulIntegerToFloat', 'DynamicQuantizeMatMul']);

/** The dims of a recorded shape ({ float: [...] }, { uint8: [...] }, ...). */
const dimsOf = (shape: Record<string, number[]> | undefined): number[] | undefined => (shape ? Object.values(shape)[0] : undefined);

/** 2 x M x N x K of a product: the output's size times A's last dimension (the products here never transpose A). */
function matmulFlops(e: ProfileEvent): number {
  const a = dimsOf(e.args?.input_type_shape?.[0]);
  const out = dimsOf(e.args?.output_type_shape?.[0]);
  if (!a || !out || a.length === 0) return 0;
  return 2 * a[a.length - 1] * out.reduce((n, d) => n * d, 1);
}

/** The runs in a profile file, in order; each with its per-op totals. */
export function readOrtProfile(file: string): OrtRunProfile[] {
  const events = JSON.parse(readFileSync(file, 'utf8')) as ProfileEvent[];
  const runs = events.filter((e) => e.cat === 'Session' && e.name === 'model_run').sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
  const nodes = events.filter((e) => e.cat === 'Node' && e.name?.endsWith('_kernel_time')).sort((a, b) => (a.ts ?? 0) - (b.ts ?? 0));
  let next = 0;
  return runs.map((run) => {
    const start = run.ts ?? 0;
    const end = start + (run.dur ?? 0);
    const ops = new Map<string, OrtOpTotals>();
    while (next < nodes.length && (nodes[next].ts ?? 0) < start) next++;
    for (; next < nodes.length && (nodes[next].ts ?? 0) <= end; next++) {
      const e = nodes[next];
      const op = e.args?.op_name ?? '?';
      const totals = ops.get(op) ?? { ms: 0, nodes: 0, flops: 0 };
      totals.ms += (e.dur ?? 0) / 1000;
      totals.nodes += 1;
      if (MATMULS.has(op)) totals.flops += matmulFlops(e);
      ops.set(op, totals);
    }
    return { ms: (run.dur ?? 0) / 1000, ops };
  });
}
