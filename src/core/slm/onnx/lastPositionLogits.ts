/**
 * Load-time graph rewrite: the vocabulary projection (lm_head) sees only the last
 * position's hidden state, so a prefill of n tokens computes and copies 1 row of logits
 * instead of n (for Qwen3-0.6B a 151,936 x 1,024 MatMul per position saved).
 *
 * The model bytes are edited without re-encoding the weights:
 * - the lm_head node's activation input is renamed in place to a new name of the SAME
 *   byte length (so no length prefix changes);
 * - a second `graph` field is appended to the ModelProto holding one Slice node (last
 *   position along the sequence axis) that produces the new name, plus its three int64
 *   constants. Protobuf merges repeated occurrences of a message field, so ONNX Runtime
 *   sees one graph with the extra node; external weight files are untouched.
 * In dynamic int8 exports (DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul) the slice
 * goes on MatMulInteger's already quantised input: the activation scale is still computed
 * over every position, so the last row's logits are exactly those of the untouched graph.
 */
import { GraphTail } from './graphTail';
import type { GraphNode, ModelGraph, NodeInputRef } from './modelGraph';

const PASS_THROUGH_OPS = new Set(['Cast', 'Identity']);
const PROJECTION_OPS = new Set(['MatMul', 'MatMulNBits', 'MatMulBnb4', 'MatMulInteger', 'FusedMatMul']);
const INT64_MAX = 9223372036854775807n;

export interface LastPositionRewrite {
  /** The name edited in place (same byte length as the original). */
  edit: { ref: NodeInputRef; newName: string };
  /** Bytes to append after the model (a ModelProto `graph` field with the Slice). */
  tail: Uint8Array;
  projectionOp: string;
}

export type RewritePlan = { ok: true; rewrite: LastPositionRewrite } | { ok: false; reason: string };

function producerOf(nodes: GraphNode[], name: string): GraphNode | undefined {
  return nodes.find((n) => n.outputs.includes(name));
}

/** A name of the same UTF-8 byte length that nothing in the graph uses yet. */
export function sameLengthFreshName(original: string, used: Set<string>): string | undefined {
  const byteLength = Buffer.byteLength(original);
  const marks = ['~', '#', '!', '@', '%', '^'];
  for (const mark of marks) {
    for (let take = 1; take <= Math.min(4, byteLength); take++) {
      const candidate = mark.repeat(take) + Buffer.from(original).subarray(take).toString('utf8');
      if (Buffer.byteLength(candidate) === byteLength && !used.has(candidate)) return candidate;
    }
  }
  return undefined;
}

export function planLastPositionLogits(graph: ModelGraph, logitsName = 'logits'): RewritePlan {
  if (!graph.outputNames.includes(logitsName)) return { ok: false, reason: `the graph has no output named ${logitsName}` };
  let node = producerOf(graph.nodes, logitsName);
  for (let hops = 0; node && hops < 4; hops++) {
    if (PASS_THROUGH_OPS.has(node.opType)) node = producerOf(graph.nodes, node.inputs[0]?.name ?? '');
    else if (node.opType === 'Mul') {
      // Dynamic int8 exports rescale the integer product: Mul(Cast(MatMulInteger(...)), scale).
      const product = node.inputs
        .map((input) => producerOf(graph.nodes, input.name))
        .find((p) => p !== undefined && (p.opType === 'Cast' || PROJECTION_OPS.has(p.opType)));
      if (!product) break;
      node = product;
    } else break;
  }
  if (!node || !PROJECTION_OPS.has(node.opType)) {
    return { ok: false, reason: `logits are not produced by a MatMul (found ${node?.opType ?? 'nothing'})` };
  }
  const activation = node.inputs[0];
  if (!activation || graph.initializerNames.has(activation.name)) {
    return { ok: false, reason: 'the projection input A is a constant' };
  }
  const used = new Set(graph.allNames);
  const newName = sameLengthFreshName(activation.name, used);
  if (!newName) return { ok: false, reason: `no free name of the length of ${activation.name}` };
  used.add(newName);

  const graphTail = new GraphTail(used, 'relay_last_position');
  graphTail.op('Slice', [activation.name, graphTail.int64s([-1n]), graphTail.int64s([INT64_MAX]), graphTail.int64s([1n])], {}, newName);
  const tail = graphTail.finish();
  return { ok: true, rewrite: { edit: { ref: activation, newName }, tail, projectionOp: node.opType } };
}

/**
 * Applies the rewrite to `buf`, whose first `length` bytes are the model and which has
 * room for the tail after them. Returns the edited model as a view of `buf`.
 */
export function applyLastPositionLogits(buf: Uint8Array, length: number, rewrite: LastPositionRewrite): Uint8Array {
  const nameBytes = new TextEncoder().encode(rewrite.edit.newName);
  const { valueStart, end } = rewrite.edit.ref;
  if (nameBytes.length !== end - valueStart) throw new Error('internal: rewrite name length mismatch');
  if (buf.length < length + rewrite.tail.length) throw new Error('internal: no room for the rewrite tail');
  buf.set(nameBytes, valueStart);
  buf.set(rewrite.tail, length);
  return buf.subarray(0, length + rewrite.tail.length);
}
