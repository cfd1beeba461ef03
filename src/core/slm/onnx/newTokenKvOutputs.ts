/**
 * Load-time graph rewrite: each layer's new keys and values (the tokens of this run only)
 * become extra graph outputs, so a decode step fetches a few hundred KB instead of the
 * whole `present.*` cache.
 *
 * Why: onnxruntime-node copies every output it returns into a freshly allocated, zeroed
 * JS ArrayBuffer. For Qwen3-0.6B at 600 positions the present tensors are about 150 MB,
 * so each token paid for a 150 MB allocation (page faults), a zero fill, a copy and the
 * garbage collection of the previous step's copy: about half of the time per token on
 * the benchmark machine. With these outputs the runtime keeps the cache in its own
 * buffers (kvCache.ts) and appends the new rows; ONNX Runtime still concatenates past and
 * new inside the graph, on the same shapes, so the logits are bit-identical.
 *
 * Exports from optimum / transformers.js build `present.N.key` as
 * Concat(past_key_values.N.key, <new keys>, axis=2): the new keys are that Concat's second
 * input, already a value in the graph, so the rewrite only appends `output` entries to the
 * graph (a second `graph` field, which protobuf merges into the first). Where the export
 * computes in float32 around a float16 cache (Cast(Concat(Cast(past), new)), as the fixture's
 * fp16 file does), the output is the new keys through the same Cast, in an added node; the
 * round trip float16 -> float32 -> float16 of the past is exact, so the rows still match.
 * Exports whose cache is written by a fused op (GroupQueryAttention) do not match and keep
 * the whole-cache path.
 */
import {
  ATTRIBUTE_I,
  ATTRIBUTE_NAME,
  ATTRIBUTE_TYPE,
  ATTRIBUTE_TYPE_INT,
  freshName,
  GRAPH_NODE,
  kvSlot,
  GRAPH_OUTPUT,
  MODEL_GRAPH,
  NODE_ATTRIBUTE,
  NODE_INPUT,
  NODE_NAME,
  NODE_OP_TYPE,
  NODE_OUTPUT,
  PAST_KV_NAME,
  PRESENT_KV_NAME,
  VALUE_INFO_NAME,
  type GraphNode,
  type ModelGraph,
} from './modelGraph';
import { ProtobufWriter } from './protobufWire';

export interface NewTokenKvRewrite {
  /** Per cache slot (layer * 2 + 0 key / 1 value): the graph value holding the run's new rows. */
  outputs: string[];
  /** Bytes to append after the model (a ModelProto `graph` field with the outputs). */
  tail: Uint8Array;
}

export type NewTokenKvPlan = { ok: true; rewrite: NewTokenKvRewrite } | { ok: false; reason: string };

export function planNewTokenKvOutputs(graph: ModelGraph): NewTokenKvPlan {
  const bySlot = (names: string[], pattern: RegExp) => {
    const map = new Map<number, string>();
    for (const name of names) {
      const slot = kvSlot(name, pattern);
      if (slot !== undefined) map.set(slot, name);
    }
    return map;
  };
  const pastBySlot = bySlot(graph.inputNames, PAST_KV_NAME);
  const presentBySlot = bySlot(graph.outputNames, PRESENT_KV_NAME);
  if (pastBySlot.size === 0 || pastBySlot.size !== presentBySlot.size) {
    return { ok: false, reason: 'the graph has no matching past_key_values.* inputs and present.* outputs' };
  }
  const producers = new Map<string, GraphNode>();
  for (const node of graph.nodes) for (const output of node.outputs) producers.set(output, node);
  /** The producer of `name` and, when that is a Cast, the Cast's target type and its own input's producer. */
  const throughCast = (name: string): { node?: GraphNode; castTo?: number } => {
    const node = producers.get(name);
    if (node?.opType !== 'Cast') return { node };
    return { node: producers.get(node.inputs[0]?.name ?? ''), castTo: node.intAttributes.get('to') };
  };
  const used = new Set(graph.allNames);
  const graphPart = new ProtobufWriter();
  const outputs: string[] = [];
  for (let slot = 0; slot < pastBySlot.size; slot++) {
    const past = pastBySlot.get(slot);
    const present = presentBySlot.get(slot);
    if (!past || !present) return { ok: false, reason: `cache slot ${slot} lacks its past or present tensor` };
    const { node, castTo } = throughCast(present);
    const axis = node?.intAttributes.get('axis');
    const first = node?.inputs[0]?.name;
    const firstIsPast = first === past || (producers.get(first ?? '')?.opType === 'Cast' && producers.get(first!)!.inputs[0]?.name === past);
    if (!node || node.opType !== 'Concat' || node.inputs.length !== 2 || !firstIsPast || (axis !== 2 && axis !== -2)) {
      return { ok: false, reason: `${present} is not Concat(${past}, new, axis=2) (found ${node?.opType ?? 'no producer'})` };
    }
    const fresh = node.inputs[1].name;
    if (!producers.has(fresh)) return { ok: false, reason: `the new rows of ${present} are not computed by the graph` };
    if (castTo === undefined) {
      outputs.push(fresh);
      continue;
    }
    const cast = freshName(`relay_new_rows.${slot}`, used);
    const to = new ProtobufWriter().stringField(ATTRIBUTE_NAME, 'to').varintField(ATTRIBUTE_I, castTo).varintField(ATTRIBUTE_TYPE, ATTRIBUTE_TYPE_INT);
    const castNode = new ProtobufWriter()
      .stringField(NODE_INPUT, fresh)
      .stringField(NODE_OUTPUT, cast)
      .stringField(NODE_NAME, freshName(`relay_new_rows_cast.${slot}`, used))
      .stringField(NODE_OP_TYPE, 'Cast')
      .messageField(NODE_ATTRIBUTE, to);
    graphPart.messageField(GRAPH_NODE, castNode);
    outputs.push(cast);
  }
  // A graph output may also feed nodes; ONNX Runtime infers its type from the producer.
  for (const name of outputs) graphPart.messageField(GRAPH_OUTPUT, new ProtobufWriter().stringField(VALUE_INFO_NAME, name));
  return { ok: true, rewrite: { outputs, tail: new ProtobufWriter().messageField(MODEL_GRAPH, graphPart).finish() } };
}

/** Appends the tail after buf[0, length) (the caller leaves room); returns the model as a view of `buf`. */
export function applyNewTokenKvOutputs(buf: Uint8Array, length: number, rewrite: NewTokenKvRewrite): Uint8Array {
  if (buf.length < length + rewrite.tail.length) throw new Error('internal: no room for the new-token KV outputs');
  buf.set(rewrite.tail, length);
  return buf.subarray(0, length + rewrite.tail.length);
}
