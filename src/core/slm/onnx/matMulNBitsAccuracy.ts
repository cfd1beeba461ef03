/**
 * Load-time rewrite: every com.microsoft MatMulNBits node (the 4-bit weights of q4 exports)
 * gets `accuracy_level` = 4, so ONNX Runtime's CPU kernel multiplies with int8 activations
 * (quantised per block on the fly) instead of dequantising every weight block to float.
 * Decode reads each weight once per token, and the float path is compute-bound on this
 * dequantisation: `npm run bench:matmul` measures the int8 path 1.7-2x faster here, with
 * a relative error of about 4e-3 (the level Microsoft's own CPU int4 exports ship with).
 * Opt-in (q4Compute 'int8', setting relay.slm.q4Compute): greedy tokens can differ from the
 * export's arithmetic, and at 512 rows the kernel was slower than the float one on one
 * machine measured (faster on another).
 *
 * Unlike the lm_head rewrite this changes node sizes, so the ModelProto is re-encoded:
 * every field is copied byte for byte except the MatMulNBits nodes (and the length
 * prefixes of the graph that holds them). Weights in external files are untouched; an
 * inline one is copied once.
 */
import { GRAPH_NODE, intAttributeProto, MODEL_GRAPH, MS_DOMAIN, NODE_ATTRIBUTE, NODE_DOMAIN, NODE_OP_TYPE, readAttribute } from './modelGraph';
import { fieldString, ProtobufFormatError, ProtobufWriter, readFields, WIRE_BYTES, type RawField } from './protobufWire';

/** ONNX Runtime's MatMulNBits levels: 0 unset (= 1), 1 fp32, 2 fp16, 3 bf16, 4 int8 compute. */
export const INT8_COMPUTE_ACCURACY_LEVEL = 4;

export interface AccuracyRewrite {
  /** The re-encoded model, followed by `slack` spare bytes. */
  buf: Uint8Array;
  length: number;
  /** MatMulNBits nodes whose level changed. */
  rewritten: number;
}

/** The node re-encoded with accuracy_level = level, or undefined when it is not a MatMulNBits node needing it. */
function rewriteNode(buf: Uint8Array, node: RawField, level: number): Uint8Array | undefined {
  let opType = '';
  let domain = '';
  let current = 0;
  for (const f of readFields(buf, node.valueStart, node.end)) {
    if (f.field === NODE_OP_TYPE && f.wireType === WIRE_BYTES) opType = fieldString(buf, f);
    else if (f.field === NODE_DOMAIN && f.wireType === WIRE_BYTES) domain = fieldString(buf, f);
    else if (f.field === NODE_ATTRIBUTE && f.wireType === WIRE_BYTES) {
      const attribute = readAttribute(buf, f);
      if (attribute.name === 'accuracy_level') current = attribute.int ?? 0;
    }
  }
  if (opType !== 'MatMulNBits' || domain !== MS_DOMAIN || current === level) return undefined;
  const parts: Uint8Array[] = [];
  for (const f of readFields(buf, node.valueStart, node.end)) {
    const isLevel = f.field === NODE_ATTRIBUTE && f.wireType === WIRE_BYTES && readAttribute(buf, f).name === 'accuracy_level';
    if (!isLevel) parts.push(buf.subarray(f.start, f.end));
  }
  const attribute = intAttributeProto('accuracy_level', level);
  parts.push(new ProtobufWriter().messageField(NODE_ATTRIBUTE, attribute).finish());
  return concat(parts);
}

function concat(parts: Uint8Array[], slack = 0): Uint8Array {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Uint8Array(total + slack);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

function lengthDelimited(field: number, payload: Uint8Array[]): Uint8Array[] {
  const length = payload.reduce((n, p) => n + p.length, 0);
  return [new ProtobufWriter().tag(field, WIRE_BYTES).varint(length).finish(), ...payload];
}

/**
 * Sets accuracy_level on every MatMulNBits node of the model in buf[0, length). Returns
 * null when no node needs it (the caller keeps its bytes); otherwise new bytes with
 * `slack` spare bytes after the model (room for the lm_head rewrite's tail).
 */
export function setMatMulNBitsAccuracy(buf: Uint8Array, length: number, level = INT8_COMPUTE_ACCURACY_LEVEL, slack = 0): AccuracyRewrite | null {
  const modelParts: Uint8Array[] = [];
  let rewritten = 0;
  for (const mf of readFields(buf, 0, length)) {
    if (mf.field !== MODEL_GRAPH) {
      modelParts.push(buf.subarray(mf.start, mf.end));
      continue;
    }
    if (mf.wireType !== WIRE_BYTES) throw new ProtobufFormatError('ModelProto.graph is not a message');
    const graphParts: Uint8Array[] = [];
    for (const gf of readFields(buf, mf.valueStart, mf.end)) {
      const node = gf.field === GRAPH_NODE && gf.wireType === WIRE_BYTES ? rewriteNode(buf, gf, level) : undefined;
      if (node) {
        rewritten += 1;
        graphParts.push(...lengthDelimited(GRAPH_NODE, [node]));
      } else graphParts.push(buf.subarray(gf.start, gf.end));
    }
    modelParts.push(...lengthDelimited(MODEL_GRAPH, graphParts));
  }
  if (rewritten === 0) return null;
  const out = concat(modelParts, slack);
  return { buf: out, length: out.length - slack, rewritten };
}
