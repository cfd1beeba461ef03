/**
 * Load-time rewrite: a graph that computes in float16 (onnx-community's q4f16 files: 4-bit
 * MatMulNBits weights with float16 activations, KV cache and logits) computes in float32.
 *
 * Why: ONNX Runtime's CPU provider has float16 kernels for few ops; for the rest it inserts
 * a Cast to float32 before and a Cast back to float16 after every node, and its float16
 * MatMulNBits converts the activations on the fly. On the benchmark machine a q4f16 decode
 * step took 1.6x as long as the q4 file's (README, Performance). With float32 activations the
 * same weights run as the q4 file does, and the cache is a float32 one, so attention can read
 * it in place (attentionInPlace.ts). The arithmetic is float32 instead of the export's
 * float16: closer to the float64 reference, not bit for bit the export's.
 *
 * What changes (all in the model bytes, same-length edits plus an appended `graph` field, as
 * the other rewrites; weights in external files are not touched):
 * - graph inputs and outputs, and value_info entries, declared float16 are declared float32
 *   (the elem_type varint 10 becomes 1);
 * - Cast nodes to float16 cast to float32 (`to` 10 becomes 1), as does a `dtype` attribute of 10;
 * - each float16 initializer is renamed (a fresh name of the same byte length) and a Cast to
 *   float32 under its old name is appended, which ONNX Runtime folds at load into a float32
 *   copy: the MatMulNBits scales, the norm weights and constants, small next to the 4-bit
 *   weights;
 * - a table read only by Gather (the embedding, 311 MB in float16 for Qwen3-0.6B) stays
 *   float16 and the rows gathered are cast, so the table is not copied;
 * - Constant / ConstantOfShape nodes holding a float16 tensor get their output renamed and cast.
 * Graphs with subgraphs (If, Loop, Scan) are left as they are.
 */
import { GraphTail } from './graphTail';
import { sameLengthFreshName } from './lastPositionLogits';
import {
  GRAPH_INITIALIZER,
  GRAPH_INPUT,
  GRAPH_NODE,
  GRAPH_OUTPUT,
  MODEL_GRAPH,
  NODE_ATTRIBUTE,
  NODE_DOMAIN,
  NODE_INPUT,
  NODE_OP_TYPE,
  NODE_OUTPUT,
  ONNX_FLOAT,
  type ModelGraph,
} from './modelGraph';
import { fieldString, readFields, WIRE_BYTES, WIRE_VARINT, type RawField } from './protobufWire';

/** TensorProto.DataType FLOAT16. */
export const ONNX_FLOAT16 = 10;
const GRAPH_VALUE_INFO = 13;
const GRAPH_SPARSE_INITIALIZER = 15;
const VALUE_INFO_TYPE = 2;
const TYPE_TENSOR = 1;
const TENSOR_TYPE_ELEM_TYPE = 1;
const TENSOR_DATA_TYPE = 2;
const TENSOR_NAME = 8;
const ATTRIBUTE_NAME = 1;
const ATTRIBUTE_I = 3;
const ATTRIBUTE_T = 5;
const ATTRIBUTE_G = 6;
const ATTRIBUTE_GRAPHS = 11;

export interface Float32ComputeRewrite {
  /** Same-length edits of buf[0, length): bytes to write at `at`. */
  edits: { at: number; bytes: Uint8Array }[];
  /** Bytes to append after the model (a ModelProto `graph` field with the Cast nodes). */
  tail: Uint8Array;
  /** float16 initializers cast to float32 (folded by ONNX Runtime at load). */
  castInitializers: number;
  /** Float16 tables read by Gather whose gathered rows are cast instead. */
  castGathers: number;
}

export type Float32ComputePlan = { ok: true; rewrite: Float32ComputeRewrite } | { ok: false; reason: string };

/** A varint field's value rewritten to `value` in the same number of bytes (non-minimal encodings kept as long). */
function sameLengthVarint(buf: Uint8Array, f: RawField, value: number): { at: number; bytes: Uint8Array } {
  const length = f.end - f.valueStart;
  const bytes = new Uint8Array(length);
  let v = value;
  for (let i = 0; i < length; i++) {
    bytes[i] = (v & 0x7f) | (i < length - 1 ? 0x80 : 0);
    v = Math.floor(v / 128);
  }
  if (v !== 0) throw new Error('internal: value does not fit the varint');
  return { at: f.valueStart, bytes };
}

/** The elem_type field of a ValueInfoProto's tensor type, if it declares one. */
function elemTypeField(buf: Uint8Array, valueInfo: RawField): RawField | undefined {
  for (const vf of readFields(buf, valueInfo.valueStart, valueInfo.end)) {
    if (vf.field !== VALUE_INFO_TYPE || vf.wireType !== WIRE_BYTES) continue;
    for (const tf of readFields(buf, vf.valueStart, vf.end)) {
      if (tf.field !== TYPE_TENSOR || tf.wireType !== WIRE_BYTES) continue;
      for (const ef of readFields(buf, tf.valueStart, tf.end)) if (ef.field === TENSOR_TYPE_ELEM_TYPE && ef.wireType === WIRE_VARINT) return ef;
    }
  }
  return undefined;
}

export function planFloat32Compute(buf: Uint8Array, length: number, graph: ModelGraph): Float32ComputePlan {
  const edits: { at: number; bytes: Uint8Array }[] = [];
  const used = new Set(graph.allNames);
  const tail = new GraphTail(used, 'relay_float32');
  const consumers = new Map<string, { opType: string; index: number }[]>();
  for (const node of graph.nodes) {
    node.inputs.forEach((input, index) => {
      const list = consumers.get(input.name) ?? [];
      list.push({ opType: node.domain === '' ? node.opType : `${node.domain}.${node.opType}`, index });
      consumers.set(input.name, list);
    });
  }
  const graphInputs = new Set(graph.inputNames);
  /** An output (name field) renamed to a fresh name, with a Cast to float32 under the old one. */
  const castOutput = (f: RawField, what: string): string | undefined => {
    const name = fieldString(buf, f);
    const fresh = sameLengthFreshName(name, used);
    if (!fresh) return `no free name of the length of ${what} ${name}`;
    used.add(fresh);
    edits.push({ at: f.valueStart, bytes: new TextEncoder().encode(fresh) });
    tail.op('Cast', [fresh], { int: { to: ONNX_FLOAT } }, name);
    return undefined;
  };
  let float16 = 0;
  let castInitializers = 0;
  let castGathers = 0;
  const gatherTables = new Set<string>();

  for (const mf of readFields(buf, 0, length)) {
    if (mf.field !== MODEL_GRAPH || mf.wireType !== WIRE_BYTES) continue;
    for (const gf of readFields(buf, mf.valueStart, mf.end)) {
      if (gf.wireType !== WIRE_BYTES) continue;
      if (gf.field === GRAPH_SPARSE_INITIALIZER) return { ok: false, reason: 'the graph has sparse initializers' };
      if (gf.field === GRAPH_INPUT || gf.field === GRAPH_OUTPUT || gf.field === GRAPH_VALUE_INFO) {
        const elem = elemTypeField(buf, gf);
        if (elem?.varint === ONNX_FLOAT16) {
          edits.push(sameLengthVarint(buf, elem, ONNX_FLOAT));
          float16++;
        }
      } else if (gf.field === GRAPH_INITIALIZER) {
        let dataType = 0;
        let nameField: RawField | undefined;
        for (const tf of readFields(buf, gf.valueStart, gf.end)) {
          if (tf.field === TENSOR_DATA_TYPE && tf.wireType === WIRE_VARINT) dataType = tf.varint;
          else if (tf.field === TENSOR_NAME && tf.wireType === WIRE_BYTES) nameField = tf;
        }
        if (dataType !== ONNX_FLOAT16 || !nameField) continue;
        float16++;
        const name = fieldString(buf, nameField);
        const readers = consumers.get(name) ?? [];
        if (readers.length === 0) continue;
        if (readers.every((r) => r.opType === 'Gather' && r.index === 0)) {
          gatherTables.add(name);
          continue;
        }
        if (graphInputs.has(name)) return { ok: false, reason: `the float16 initializer ${name} is also a graph input` };
        const problem = castOutput(nameField, 'the initializer');
        if (problem) return { ok: false, reason: problem };
        castInitializers++;
      } else if (gf.field === GRAPH_NODE) {
        let opType = '';
        const outputs: RawField[] = [];
        const attributes: RawField[] = [];
        for (const nf of readFields(buf, gf.valueStart, gf.end)) {
          if (nf.wireType !== WIRE_BYTES) continue;
          if (nf.field === NODE_OP_TYPE) opType = fieldString(buf, nf);
          else if (nf.field === NODE_OUTPUT) outputs.push(nf);
          else if (nf.field === NODE_ATTRIBUTE) attributes.push(nf);
        }
        for (const attribute of attributes) {
          let name = '';
          let intField: RawField | undefined;
          let tensorType = 0;
          for (const af of readFields(buf, attribute.valueStart, attribute.end)) {
            if (af.field === ATTRIBUTE_NAME && af.wireType === WIRE_BYTES) name = fieldString(buf, af);
            else if (af.field === ATTRIBUTE_I && af.wireType === WIRE_VARINT) intField = af;
            else if ((af.field === ATTRIBUTE_G || af.field === ATTRIBUTE_GRAPHS) && af.wireType === WIRE_BYTES) {
              return { ok: false, reason: `the graph has subgraphs (${opType})` };
            } else if (af.field === ATTRIBUTE_T && af.wireType === WIRE_BYTES) {
              for (const tf of readFields(buf, af.valueStart, af.end)) if (tf.field === TENSOR_DATA_TYPE && tf.wireType === WIRE_VARINT) tensorType = tf.varint;
            }
          }
          // Cast's `to`, and the `dtype` of the ops that make tensors (RandomNormal, EyeLike...).
          if ((name === 'to' && opType === 'Cast') || name === 'dtype') {
            if (intField?.varint === ONNX_FLOAT16) {
              edits.push(sameLengthVarint(buf, intField, ONNX_FLOAT));
              float16++;
            }
          } else if (tensorType === ONNX_FLOAT16 && (opType === 'Constant' || opType === 'ConstantOfShape') && outputs.length === 1) {
            // Constant / ConstantOfShape holding a float16 tensor: cast what it makes.
            const problem = castOutput(outputs[0], `the output of ${opType}`);
            if (problem) return { ok: false, reason: problem };
            float16++;
          }
        }
      }
    }
  }
  // Gather from a float16 table: the node's output is renamed and its rows cast.
  if (gatherTables.size > 0) {
    for (const mf of readFields(buf, 0, length)) {
      if (mf.field !== MODEL_GRAPH || mf.wireType !== WIRE_BYTES) continue;
      for (const gf of readFields(buf, mf.valueStart, mf.end)) {
        if (gf.field !== GRAPH_NODE || gf.wireType !== WIRE_BYTES) continue;
        let opType = '';
        let domain = '';
        let table = '';
        const outputs: RawField[] = [];
        for (const nf of readFields(buf, gf.valueStart, gf.end)) {
          if (nf.wireType !== WIRE_BYTES) continue;
          if (nf.field === NODE_OP_TYPE) opType = fieldString(buf, nf);
          else if (nf.field === NODE_DOMAIN) domain = fieldString(buf, nf);
          else if (nf.field === NODE_INPUT && table === '') table = fieldString(buf, nf);
          else if (nf.field === NODE_OUTPUT) outputs.push(nf);
        }
        if (opType !== 'Gather' || domain !== '' || !gatherTables.has(table) || outputs.length !== 1) continue;
        const problem = castOutput(outputs[0], 'the output of Gather');
        if (problem) return { ok: false, reason: problem };
        castGathers++;
      }
    }
  }
  if (float16 === 0) return { ok: false, reason: 'the graph has no float16 tensors' };
  return { ok: true, rewrite: { edits, tail: tail.finish(), castInitializers, castGathers } };
}

/** Applies the edits to buf[0, length) and appends the tail (the caller leaves room); returns the new length. */
export function applyFloat32Compute(buf: Uint8Array, length: number, rewrite: Float32ComputeRewrite): number {
  if (buf.length < length + rewrite.tail.length) throw new Error('internal: no room for the float32 rewrite');
  for (const { at, bytes } of rewrite.edits) buf.set(bytes, at);
  buf.set(rewrite.tail, length);
  return length + rewrite.tail.length;
}
