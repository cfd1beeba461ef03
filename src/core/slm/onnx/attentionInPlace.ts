/**
 * Load-time graph rewrite: attention reads the KV cache where the runtime keeps it, in
 * token-major buffers ([1, tokens, heads, headDim]) that only ever grow at the end.
 *
 * Why: the exports build each step's cache as Concat(past, new) (a copy of the whole
 * cache), transpose the keys for Q·Kᵀ (a second copy), and the head-major compact cache
 * of newTokenKvOutputs.ts must move every head's block when a token is appended (a
 * third). At 512-640 positions of Qwen3-0.6B (~140 MB of cache) dropping them made q4
 * decode 1.33x faster on the benchmark machine (npm run bench:slm, engine ours-head-major).
 *
 * What the rewrite does, per layer, where the export's attention is
 *   scores = MatMul(q, [Unsqueeze](Transpose(Concat(past_key, k_new), perm=[0,1,3,2]))) [* or / scale]
 *   context = MatMul(probs, [Unsqueeze](Concat(past_value, v_new)))
 * (the grouped-query layout our fixtures use; an export that repeats keys with Expand does
 * not match and keeps the head-major path):
 * - keys: the scores of past positions come from com.microsoft FusedMatMul with transB and
 *   transBatchB, which reads the token-major cache as [heads, tokens, headDim] through
 *   strides, without a copy; the new positions' scores from the export's own chain on the
 *   new keys; then the two are concatenated along the key axis. Each score is the same dot
 *   product, and the scale Mul/Div follows each MatMul as in the export, so ONNX Runtime
 *   fuses it the same way: the scores are bit-identical. Where the keys are unsqueezed at the
 *   group axis ([.., kv heads, 1, headDim, tokens] against queries [.., kv heads, G, S,
 *   headDim]), the past scores are one product per key head over its G x S query rows, so ONNX
 *   Runtime packs each head's past keys once instead of once per query group (the same dot
 *   products; at ~2,000 cached tokens of the Qwen3-0.6B-shaped int8 model a decode step's
 *   attention products took 22-24% less time and the whole step 7-8% less; prefill unchanged).
 * - values: Concat(past, new) along the token axis (the one copy left: the product sums over
 *   all positions, and splitting that sum would change its rounding), read by FusedMatMul
 *   with transBatchB.
 * - the new rows leave the graph token-major, so the runtime appends them with one copy.
 * FusedMatMul with transBatchB crashes ONNX Runtime 1.30 (SIGFPE) on an empty cache, so
 * the key inputs always hold at least one row; the past scores are cut to the length of
 * the value cache (the true past length).
 *
 * The model bytes are edited in place: the replaced nodes, the `present.*` outputs and the
 * `past_key_values.*` inputs (whose declared head-major shape no longer holds) get their
 * field tag turned into that of a reserved GraphProto field, which protobuf parsers skip;
 * the new nodes, inputs and outputs are appended as a second `graph` field, which protobuf
 * merges into the first (as the other rewrites do).
 */
import { GraphTail, type NodeAttributes } from './graphTail';
import {
  GRAPH_INPUT,
  GRAPH_NODE,
  GRAPH_OUTPUT,
  kvNamesBySlot,
  MS_DOMAIN,
  ONNX_FLOAT,
  PAST_KV_NAME,
  PRESENT_KV_NAME,
  tensorValueInfoProto,
  type GraphNode,
  type ModelGraph,
} from './modelGraph';

/** GraphProto field 3 is reserved: a field with this tag is skipped by every parser. */
const TOMBSTONE_TAG = (3 << 3) | 2;
const INT64_MAX = 9223372036854775807n;

export interface AttentionInPlaceRewrite {
  /** Per cache slot (layer * 2 + 0 key / 1 value): the output with the run's new rows, [1, n, heads, headDim]. */
  outputs: string[];
  /** Byte offsets of the field tags to turn into tombstones, with the tag each must hold now. */
  tombstones: { at: number; tag: number }[];
  /** Bytes to append after the model (a ModelProto `graph` field). */
  tail: Uint8Array;
}

export type AttentionInPlacePlan = { ok: true; rewrite: AttentionInPlaceRewrite } | { ok: false; reason: string };

const sameInts = (a: number[] | undefined, b: number[]) => a !== undefined && a.length === b.length && a.every((v, i) => v === b[i]);

export function planAttentionInPlace(graph: ModelGraph): AttentionInPlacePlan {
  const pastBySlot = kvNamesBySlot(graph.inputNames, PAST_KV_NAME);
  const presentBySlot = kvNamesBySlot(graph.outputNames, PRESENT_KV_NAME);
  if (pastBySlot.size === 0 || pastBySlot.size % 2 !== 0) return { ok: false, reason: 'the graph has no past_key_values.*.key/.value inputs' };
  /** A cache slot's input and (or '' when the graph has none) output. */
  const slotAt = (slot: number): { past: string; present: string } | undefined => {
    const past = pastBySlot.get(slot);
    return past === undefined ? undefined : { past, present: presentBySlot.get(slot) ?? '' };
  };
  const producers = new Map<string, GraphNode>();
  const consumers = new Map<string, GraphNode[]>();
  for (const node of graph.nodes) {
    for (const output of node.outputs) producers.set(output, node);
    for (const input of node.inputs) {
      const list = consumers.get(input.name) ?? [];
      if (!list.includes(node)) list.push(node);
      consumers.set(input.name, list);
    }
  }
  /** The one node reading `name`, when exactly one does (and, unless it is a cache tensor, no graph output). */
  const only = (name: string, mayBeOutput = false): GraphNode | undefined => {
    const list = consumers.get(name) ?? [];
    return list.length === 1 && (mayBeOutput || !graph.outputStarts.has(name)) ? list[0] : undefined;
  };
  /** The cache append Concat(past, new, axis=2) that writes `present`; its new rows. */
  const cacheConcat = (slot: { past: string; present: string }): { node: GraphNode; fresh: string } | string => {
    const node = producers.get(slot.present);
    const axis = node?.intAttributes.get('axis');
    if (!node || node.opType !== 'Concat' || node.inputs.length !== 2 || node.inputs[0].name !== slot.past || (axis !== 2 && axis !== -2)) {
      return `${slot.present || slot.past} is not Concat(${slot.past}, new, axis=2) (found ${node?.opType ?? 'no producer'})`;
    }
    if (graph.inputs.get(slot.past)?.elemType !== ONNX_FLOAT) return `${slot.past} is not a float32 tensor`;
    // Other readers would see the token-major layout; a plain Shape (exports take the past
    // length from it) is rewritten to report the head-major shape.
    const others = (consumers.get(slot.past) ?? []).filter((n) => n !== node);
    const odd = others.find((n) => n.opType !== 'Shape' || n.intAttributes.size > 0);
    if (odd) return `${slot.past} is also read by ${odd.opType}; only the cache Concat and Shape may read it`;
    for (const reader of others) shapeReaders.push({ reader, input: slot.past });
    const users = consumers.get(slot.present) ?? [];
    if (users.length !== 1) return `${slot.present} feeds ${users.length} nodes; attention must be its only reader`;
    return { node, fresh: node.inputs[1].name };
  };
  /** value -> [Unsqueeze(value, axes) ->] MatMul as input B: the Unsqueeze (if any) and the MatMul. */
  const intoMatMulB = (value: string, isPresent = false): { unsqueeze?: GraphNode; matmul: GraphNode } | undefined => {
    let next = only(value, isPresent);
    let unsqueeze: GraphNode | undefined;
    if (next?.opType === 'Unsqueeze' && next.inputs.length === 2 && next.inputs[0].name === value) {
      unsqueeze = next;
      next = only(next.outputs[0]);
    }
    const b = unsqueeze ? unsqueeze.outputs[0] : value;
    if (next?.opType !== 'MatMul' || next.domain !== '' || next.inputs[1]?.name !== b) return undefined;
    return { unsqueeze, matmul: next };
  };

  const shapeReaders: { reader: GraphNode; input: string }[] = [];
  const tail = new GraphTail(new Set(graph.allNames), 'relay_in_place');
  const op = (opType: string, inputs: string[], attributes: NodeAttributes = {}, output?: string) => tail.op(opType, inputs, attributes, output);
  const int64s = (values: bigint[]) => tail.int64s(values);
  /** [-1, ...batch dims of `like`, one of its two last dims]: the transBatchB view of a token-major cache. */
  const tokenMajorView = (like: string, lastDimFrom: -2 | -1): string => {
    const shape = op('Shape', [like]);
    const batch = op('Slice', [shape, int64s([0n]), int64s([-2n]), int64s([0n])]);
    const last = op('Slice', [shape, int64s([BigInt(lastDimFrom)]), lastDimFrom === -1 ? int64s([INT64_MAX]) : int64s([-1n]), int64s([0n])]);
    return op('Concat', [int64s([-1n]), batch, last], { int: { axis: 0 } });
  };

  const tombstones: { at: number; tag: number }[] = [];
  const drop = (node: GraphNode) => tombstones.push({ at: node.start, tag: (GRAPH_NODE << 3) | 2 });
  const outputs: string[] = [];
  const newInputs: { name: string; dims: (number | string)[] }[] = [];
  let pastLength: string | undefined;
  const layers = pastBySlot.size / 2;
  for (let layer = 0; layer < layers; layer++) {
    const key = slotAt(2 * layer);
    const value = slotAt(2 * layer + 1);
    if (!key?.present || !value?.present) return { ok: false, reason: `layer ${layer} lacks its past_key_values or present tensors` };

    // Keys: Concat -> Transpose(perm 0,1,3,2) -> [Unsqueeze] -> MatMul(q, .) -> [Mul|Div by scale].
    const kConcat = cacheConcat(key);
    if (typeof kConcat === 'string') return { ok: false, reason: kConcat };
    const transpose = (consumers.get(key.present) ?? [])[0];
    if (transpose.opType !== 'Transpose' || !sameInts(transpose.intsAttributes.get('perm'), [0, 1, 3, 2])) {
      return { ok: false, reason: `${key.present} is read by ${transpose.opType}, not by Transpose(perm=[0,1,3,2]) into Q·Kᵀ` };
    }
    const kRead = intoMatMulB(transpose.outputs[0]);
    if (!kRead) return { ok: false, reason: `the transposed ${key.present} does not go (through at most an Unsqueeze) into a MatMul` };
    const query = kRead.matmul.inputs[0].name;
    // A Mul/Div by a constant right after Q·Kᵀ is applied to each part, as ONNX Runtime fuses
    // it into the product (FusedMatMul alpha) in the export too; anything else stays after the join.
    const scale = only(kRead.matmul.outputs[0]);
    const scaleOperand = scale?.inputs.findIndex((i) => i.name === kRead.matmul.outputs[0]) ?? -1;
    // A Cast of a constant counts (float32Compute.ts casts a float16 file's constants): ONNX Runtime folds it first.
    const constant = (name: string | undefined): boolean =>
      name !== undefined &&
      (graph.initializerNames.has(name) ||
        producers.get(name)?.opType === 'Constant' ||
        (producers.get(name)?.opType === 'Cast' && constant(producers.get(name)!.inputs[0]?.name)));
    const scaled =
      scale && (scale.opType === 'Mul' || scale.opType === 'Div') && scale.inputs.length === 2 && constant(scale.inputs[1 - scaleOperand]?.name)
        ? scale
        : undefined;
    const withScale = (scores: string): string => {
      if (!scaled) return scores;
      const inputs = scaled.inputs.map((i) => i.name);
      inputs[scaleOperand] = scores;
      return op(scaled.opType, inputs);
    };

    // Values: Concat -> [Unsqueeze] -> MatMul(probs, .).
    const vConcat = cacheConcat(value);
    if (typeof vConcat === 'string') return { ok: false, reason: vConcat };
    const vRead = intoMatMulB(value.present, true);
    if (!vRead) return { ok: false, reason: `${value.present} does not go (through at most an Unsqueeze) into a MatMul` };

    pastLength ??= op('Slice', [op('Shape', [value.past]), int64s([1n]), int64s([2n]), int64s([0n])]);

    // New rows, token-major, as outputs.
    const kRows = op('Transpose', [kConcat.fresh], { ints: { perm: [0, 2, 1, 3] } }, tail.name(`relay_new_rows.${2 * layer}`));
    const vRows = op('Transpose', [vConcat.fresh], { ints: { perm: [0, 2, 1, 3] } }, tail.name(`relay_new_rows.${2 * layer + 1}`));
    outputs.push(kRows, vRows);

    // Scores: past positions read in place, new ones through the export's own chain, then joined.
    const kNewT = op('Transpose', [kConcat.fresh], { ints: { perm: [0, 1, 3, 2] } });
    const kNewB = kRead.unsqueeze ? op('Unsqueeze', [kNewT, kRead.unsqueeze.inputs[1].name]) : kNewT;
    const pastTimes = (q: string, keysLike: string) =>
      withScale(op('FusedMatMul', [q, op('Reshape', [key.past, tokenMajorView(keysLike, -2)])], { domain: MS_DOMAIN, int: { transB: 1, transBatchB: 1 } }));
    let pastCut: string;
    // Grouped queries ([.., kv heads, G, S, D] against keys unsqueezed at the group axis): the
    // past scores as one product per key head over its G x S query rows, [.., G*S, D], so ONNX
    // Runtime packs each head's past keys once rather than once per query group. Each score is
    // the same dot product as before (K = head size, one block); only the batching changes.
    const axes = kRead.unsqueeze ? graph.smallInt64s.get(kRead.unsqueeze.inputs[1].name) : undefined;
    if (axes?.length === 1 && (axes[0] === 2 || axes[0] === -3)) {
      const queryShape = op('Shape', [query]);
      const headSize = op('Slice', [queryShape, int64s([-1n]), int64s([INT64_MAX]), int64s([0n])]);
      const rows = op('Reshape', [query, op('Concat', [int64s([0n, 0n, -1n]), headSize], { int: { axis: 0 } })]);
      const cut = op('Slice', [pastTimes(rows, kNewT), int64s([0n]), pastLength, int64s([-1n])]);
      const grouped = op('Concat', [op('Slice', [queryShape, int64s([0n]), int64s([-1n]), int64s([0n])]), int64s([-1n])], { int: { axis: 0 } });
      pastCut = op('Reshape', [cut, grouped]);
    } else pastCut = op('Slice', [pastTimes(query, kNewB), int64s([0n]), pastLength, int64s([-1n])]);
    const newScores = withScale(op('MatMul', [query, kNewB]));
    op('Concat', [pastCut, newScores], { int: { axis: -1 } }, (scaled ?? kRead.matmul).outputs[0]);

    // Context: all values token-major, read through strides.
    const vAll = op('Concat', [value.past, vRows], { int: { axis: 1 } });
    const vNewB = vRead.unsqueeze ? op('Unsqueeze', [vConcat.fresh, vRead.unsqueeze.inputs[1].name]) : vConcat.fresh;
    op(
      'FusedMatMul',
      [vRead.matmul.inputs[0].name, op('Reshape', [vAll, tokenMajorView(vNewB, -1)])],
      { domain: MS_DOMAIN, int: { transBatchB: 1 } },
      vRead.matmul.outputs[0],
    );

    for (const node of [kConcat.node, transpose, kRead.unsqueeze, kRead.matmul, scaled, vConcat.node, vRead.unsqueeze, vRead.matmul]) if (node) drop(node);
    for (const slot of [key, value]) {
      tombstones.push({ at: graph.inputs.get(slot.past)!.start, tag: (GRAPH_INPUT << 3) | 2 });
      tombstones.push({ at: graph.outputStarts.get(slot.present)!, tag: (GRAPH_OUTPUT << 3) | 2 });
      // Declared token-major: [batch, past, heads, headDim] from the export's [batch, heads, past, headDim].
      const [batch, heads, past, headDim] = graph.inputs.get(slot.past)!.dims;
      newInputs.push({ name: slot.past, dims: [batch ?? '', past ?? '', heads ?? '', headDim ?? ''] });
    }
  }

  // Shape(past) as the export declares it, [batch, heads, past, headDim], from the token-major
  // input's [batch, rows, heads, headDim] and the true past length (key inputs carry a spare
  // row when the cache is empty).
  for (const { reader, input } of shapeReaders) {
    const tokenMajor = op('Shape', [input]);
    const batchAndHeads = op('Gather', [tokenMajor, int64s([0n, 2n])], { int: { axis: 0 } });
    const headDim = op('Gather', [tokenMajor, int64s([3n])], { int: { axis: 0 } });
    op('Concat', [batchAndHeads, pastLength!, headDim], { int: { axis: 0 } }, reader.outputs[0]);
    drop(reader);
  }

  for (const input of newInputs) tail.input(tensorValueInfoProto(input.name, ONNX_FLOAT, input.dims));
  for (const name of outputs) tail.output(name);
  return { ok: true, rewrite: { outputs, tombstones, tail: tail.finish() } };
}

/** Applies the tombstones to buf[0, length) and appends the tail (the caller leaves room); returns the model as a view of `buf`. */
export function applyAttentionInPlace(buf: Uint8Array, length: number, rewrite: AttentionInPlaceRewrite): Uint8Array {
  if (buf.length < length + rewrite.tail.length) throw new Error('internal: no room for the attention rewrite');
  for (const { at, tag } of rewrite.tombstones) {
    if (buf[at] !== tag) throw new Error(`internal: byte ${at} holds tag ${buf[at]}, expected ${tag}`);
  }
  for (const { at } of rewrite.tombstones) buf[at] = TOMBSTONE_TAG;
  buf.set(rewrite.tail, length);
  return buf.subarray(0, length + rewrite.tail.length);
}
