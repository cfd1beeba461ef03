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
 * Exports whose cache is written by com.microsoft GroupQueryAttention (what ONNX Runtime's
 * transformer optimizer fuses attention into) take the op's key and value inputs, which
 * are the new rows ([batch, n, kvHeads * headDim], keys rotated by a RotaryEmbedding on the
 * op's own caches where the op rotates them), reshaped head-major.
 */
import { GraphTail } from './graphTail';
import { kvNamesBySlot, MS_DOMAIN, ONNX_INT32, ONNX_INT64, PAST_KV_NAME, PRESENT_KV_NAME, type GraphNode, type ModelGraph } from './modelGraph';

export interface NewTokenKvRewrite {
  /** Per cache slot (layer * 2 + 0 key / 1 value): the graph value holding the run's new rows. */
  outputs: string[];
  /** Bytes to append after the model (a ModelProto `graph` field with the outputs). */
  tail: Uint8Array;
}

export type NewTokenKvPlan = { ok: true; rewrite: NewTokenKvRewrite } | { ok: false; reason: string };

export function planNewTokenKvOutputs(graph: ModelGraph): NewTokenKvPlan {
  const pastBySlot = kvNamesBySlot(graph.inputNames, PAST_KV_NAME);
  const presentBySlot = kvNamesBySlot(graph.outputNames, PRESENT_KV_NAME);
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
  const tail = new GraphTail(new Set(graph.allNames), 'relay_new_rows');
  const outputs: string[] = [];
  const positionsByTotal = new Map<string, string>();
  /** [batch, n, heads * headDim] -> [batch, heads, n, headDim], as the cache is kept. */
  const headMajor = (rows: string, heads: number, slot: number): string =>
    tail.op(
      'Transpose',
      [tail.op('Reshape', [rows, tail.int64s([0n, 0n, BigInt(heads), -1n])])],
      { ints: { perm: [0, 2, 1, 3] } },
      tail.name(`relay_new_rows.${slot}`),
    );
  /** Positions total - n .. total - 1 of a run of n tokens, as [1, n] int64 (one per `total` value). */
  const runPositions = (total: string, rows: string): string => {
    let positions = positionsByTotal.get(total);
    if (!positions) {
      const n = tail.op('Cast', [tail.op('Gather', [tail.op('Shape', [rows]), tail.int64s([1n])], { int: { axis: 0 } })], { int: { to: ONNX_INT32 } });
      // total is a scalar and n a 1-element tensor: their difference is squeezed back to the scalar Range wants.
      const start = tail.op('Squeeze', [tail.op('Sub', [total, n]), tail.int64s([0n])]);
      const range = tail.op('Range', [start, total, tail.int32Scalar(1)]);
      positions = tail.op('Unsqueeze', [tail.op('Cast', [range], { int: { to: ONNX_INT64 } }), tail.int64s([0n])]);
      positionsByTotal.set(total, positions);
    }
    return positions;
  };
  /**
   * A cache written by com.microsoft GroupQueryAttention: its key and value inputs
   * ([batch, n, kvHeads * headDim]) are the new rows, the keys through the same rotary when
   * the op applies it (do_rotary: RotaryEmbedding with the op's cos/sin caches gives the
   * same values, bit for bit, measured), at positions total - n .. total - 1.
   */
  const gqaNewRows = (node: GraphNode, slot: number, past: string, present: string): { output: string } | { reason: string } => {
    const isKey = slot % 2 === 0;
    const [, key, value, pastKey, pastValue, , total, cos, sin] = node.inputs.map((i) => i.name);
    if (node.domain !== MS_DOMAIN || node.outputs[isKey ? 1 : 2] !== present || (isKey ? pastKey : pastValue) !== past) {
      return { reason: `${present} is not written by GroupQueryAttention from ${past}` };
    }
    if (!key || !value) return { reason: `${present}: GroupQueryAttention with packed QKV input is not supported` };
    const kvHeads = node.intAttributes.get('kv_num_heads');
    if (!kvHeads) return { reason: `${present}: GroupQueryAttention without kv_num_heads` };
    if (!isKey) return { output: headMajor(value, kvHeads, slot) };
    if (!node.intAttributes.get('do_rotary')) return { output: headMajor(key, kvHeads, slot) };
    const headDim = graph.inputs.get(past)?.dims[3];
    // The caches are initializers, or (float16 ones under float32Compute.ts) Casts of initializers.
    const cacheDims = (name: string | undefined) => {
      const producer = producers.get(name ?? '');
      return graph.initializerDims.get(name ?? '') ?? (producer?.opType === 'Cast' ? graph.initializerDims.get(producer.inputs[0]?.name ?? '') : undefined);
    };
    const cosDims = cacheDims(cos);
    if (!cos || !sin || !total || !cosDims || typeof headDim !== 'number' || cosDims[1] * 2 !== headDim) {
      return { reason: `${present}: GroupQueryAttention rotates keys with caches this runtime cannot check (partial rotary or computed caches)` };
    }
    const rotated = tail.op('RotaryEmbedding', [key, runPositions(total, key), cos, sin], {
      domain: MS_DOMAIN,
      int: { interleaved: node.intAttributes.get('rotary_interleaved') ?? 0, num_heads: kvHeads },
    });
    return { output: headMajor(rotated, kvHeads, slot) };
  };

  for (let slot = 0; slot < pastBySlot.size; slot++) {
    const past = pastBySlot.get(slot);
    const present = presentBySlot.get(slot);
    if (!past || !present) return { ok: false, reason: `cache slot ${slot} lacks its past or present tensor` };
    const { node, castTo } = throughCast(present);
    if (node?.opType === 'GroupQueryAttention' && castTo === undefined) {
      const rows = gqaNewRows(node, slot, past, present);
      if ('reason' in rows) return { ok: false, reason: rows.reason };
      outputs.push(rows.output);
      continue;
    }
    const axis = node?.intAttributes.get('axis');
    const first = node?.inputs[0]?.name;
    const firstIsPast = first === past || (producers.get(first ?? '')?.opType === 'Cast' && producers.get(first!)!.inputs[0]?.name === past);
    if (!node || node.opType !== 'Concat' || node.inputs.length !== 2 || !firstIsPast || (axis !== 2 && axis !== -2)) {
      return { ok: false, reason: `${present} is not Concat(${past}, new, axis=2) (found ${node?.opType ?? 'no producer'})` };
    }
    const fresh = node.inputs[1].name;
    if (!producers.has(fresh)) return { ok: false, reason: `the new rows of ${present} are not computed by the graph` };
    outputs.push(castTo === undefined ? fresh : tail.op('Cast', [fresh], { int: { to: castTo } }, tail.name(`relay_new_rows.${slot}`)));
  }
  for (const name of outputs) tail.output(name);
  return { ok: true, rewrite: { outputs, tail: tail.finish() } };
}

/** Appends the tail after buf[0, length) (the caller leaves room); returns the model as a view of `buf`. */
export function applyNewTokenKvOutputs(buf: Uint8Array, length: number, rewrite: NewTokenKvRewrite): Uint8Array {
  if (buf.length < length + rewrite.tail.length) throw new Error('internal: no room for the new-token KV outputs');
  buf.set(rewrite.tail, length);
  return buf.subarray(0, length + rewrite.tail.length);
}
