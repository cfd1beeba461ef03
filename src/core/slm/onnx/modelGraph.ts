/**
 * Reads the parts of an ONNX ModelProto the runtime needs (node wiring, graph inputs and
 * outputs, which external data files the initializers point to) straight from the bytes,
 * skipping the weights.
 */
import { ProtobufFormatError, ProtobufWriter, fieldString, readFields, WIRE_BYTES, WIRE_VARINT, type RawField } from './protobufWire';

// Field numbers of onnx.proto (ModelProto, GraphProto, NodeProto, TensorProto, ValueInfoProto).
export const MODEL_GRAPH = 7;
export const GRAPH_NODE = 1;
export const GRAPH_INITIALIZER = 5;
export const GRAPH_INPUT = 11;
export const GRAPH_OUTPUT = 12;
export const NODE_INPUT = 1;
export const NODE_OUTPUT = 2;
export const NODE_NAME = 3;
export const NODE_OP_TYPE = 4;
export const NODE_ATTRIBUTE = 5;
export const NODE_DOMAIN = 7;
const TENSOR_DIMS = 1;
const TENSOR_DATA_TYPE = 2;
const TENSOR_INT64_DATA = 7;
const TENSOR_NAME = 8;
const TENSOR_RAW_DATA = 9;
const TENSOR_INT64 = 7;
/** Int64 initializers up to this many values are read (axes, shapes: what a rewrite may need to know). */
const SMALL_INT64S = 8;
const TENSOR_EXTERNAL_DATA = 13;
const TENSOR_DATA_LOCATION = 14;
/** TensorProto.DataLocation.EXTERNAL: the bytes are in the file its external_data names. */
const DATA_LOCATION_EXTERNAL = 1;
const ENTRY_KEY = 1;
const ENTRY_VALUE = 2;
export const VALUE_INFO_NAME = 1;
export const ATTRIBUTE_NAME = 1;
export const ATTRIBUTE_I = 3;
export const ATTRIBUTE_INTS = 8;
export const ATTRIBUTE_TYPE = 20;
export const ATTRIBUTE_TYPE_INT = 2;
export const ATTRIBUTE_TYPE_INTS = 7;
const VALUE_INFO_TYPE = 2;
const TYPE_TENSOR = 1;
const TENSOR_TYPE_ELEM_TYPE = 1;
const TENSOR_TYPE_SHAPE = 2;
const SHAPE_DIM = 1;
const DIM_VALUE = 1;
const DIM_PARAM = 2;
/** TensorProto.DataType values the runtime checks for. */
export const ONNX_FLOAT = 1;
export const ONNX_INT32 = 6;
export const ONNX_INT64 = 7;

/** The KV-cache names of decoder exports: past_key_values.N.key, present.N.value (or present_key_values.N.*). */
export const PAST_KV_NAME = /^past_key_values\.(\d+)\.(key|value)$/;
export const PRESENT_KV_NAME = /^present(?:_key_values)?\.(\d+)\.(key|value)$/;

/** The domain of ONNX Runtime's contrib ops (MatMulNBits, FusedMatMul, GroupQueryAttention...). */
export const MS_DOMAIN = 'com.microsoft';

/** Per cache slot (layer * 2 + 0 key / 1 value), the name among `names` matching PAST_KV_NAME or PRESENT_KV_NAME. */
export function kvNamesBySlot(names: readonly string[], pattern: RegExp): Map<number, string> {
  const bySlot = new Map<number, string>();
  for (const name of names) {
    const m = pattern.exec(name);
    if (m) bySlot.set(Number(m[1]) * 2 + (m[2] === 'key' ? 0 : 1), name);
  }
  return bySlot;
}

export interface NodeInputRef {
  name: string;
  /** Byte range of the name inside the model bytes (for same-length edits). */
  valueStart: number;
  end: number;
}

export interface GraphNode {
  opType: string;
  domain: string;
  inputs: NodeInputRef[];
  outputs: string[];
  /** The node's integer attributes (`axis` of a Concat, say); others are not read. */
  intAttributes: Map<string, number>;
  /** The node's integer-list attributes (`perm` of a Transpose, say). */
  intsAttributes: Map<string, number[]>;
  /** Where the node's field (its tag byte) starts in the model bytes. */
  start: number;
}

export interface ModelGraph {
  nodes: GraphNode[];
  initializerNames: Set<string>;
  inputNames: string[];
  outputNames: string[];
  /** Per graph input: where its ValueInfo field starts, its tensor element type (0 when not a tensor) and declared dims. */
  inputs: Map<string, { start: number; elemType: number; dims: (number | string)[] }>;
  /** Per graph output: where its ValueInfo field starts. */
  outputStarts: Map<string, number>;
  /**
   * Every `location` of an initializer stored outside the .onnx file (data_location
   * EXTERNAL). Not yet checked: a location may point anywhere (resolveExternalDataFile).
   */
  externalDataFiles: Set<string>;
  /** Every initializer's dims. */
  initializerDims: Map<string, number[]>;
  /** The values of int64 initializers of at most 8 values stored in the file (axes, shapes). */
  smallInt64s: Map<string, number[]>;
  /**
   * Per initializer stored outside the .onnx file (data_location EXTERNAL): where its bytes
   * are (length -1: to the end of the file). The external_data entries of any other tensor
   * are ignored, as ONNX Runtime ignores them: it reads such a tensor's inline bytes.
   */
  externalData: Map<string, { location: string; offset: number; length: number }>;
  /** Every tensor / value name used anywhere (to pick names that do not clash). */
  allNames: Set<string>;
}

function requireBytes(f: RawField, what: string): void {
  if (f.wireType !== WIRE_BYTES) throw new ProtobufFormatError(`${what} has wire type ${f.wireType}, expected a message`);
}

/** `base`, or `base_N`, whichever `used` lacks; marks it used. */
export function freshName(base: string, used: Set<string>): string {
  let name = base;
  for (let i = 1; used.has(name); i++) name = `${base}_${i}`;
  used.add(name);
  return name;
}

/** A 1-D int64 TensorProto (an initializer for the small constants a rewrite adds). */
export function int64TensorProto(name: string, values: readonly bigint[]): ProtobufWriter {
  const tensor = new ProtobufWriter().varintField(1, values.length).varintField(2, ONNX_INT64);
  for (const v of values) tensor.varintField(7, v);
  return tensor.stringField(8, name);
}

/** A node a rewrite adds: op, wiring, and its integer / integer-list attributes. */
export interface NodeSpec {
  op: string;
  inputs: string[];
  outputs: string[];
  domain?: string;
  int?: Record<string, number>;
  ints?: Record<string, number[]>;
}

/** A tensor ValueInfoProto (a graph input the rewrites declare): name, element type and dims (a size, or a symbolic name; '' for neither). */
export function tensorValueInfoProto(name: string, elemType: number, dims: readonly (number | string)[]): ProtobufWriter {
  const shape = new ProtobufWriter();
  for (const dim of dims) {
    const dimension = new ProtobufWriter();
    if (typeof dim === 'number') dimension.varintField(DIM_VALUE, dim);
    else if (dim) dimension.stringField(DIM_PARAM, dim);
    shape.messageField(SHAPE_DIM, dimension);
  }
  const tensorType = new ProtobufWriter().varintField(TENSOR_TYPE_ELEM_TYPE, elemType).messageField(TENSOR_TYPE_SHAPE, shape);
  return new ProtobufWriter().stringField(VALUE_INFO_NAME, name).messageField(VALUE_INFO_TYPE, new ProtobufWriter().messageField(TYPE_TENSOR, tensorType));
}

/** An AttributeProto holding one integer. */
export function intAttributeProto(name: string, value: number): ProtobufWriter {
  return new ProtobufWriter().stringField(ATTRIBUTE_NAME, name).varintField(ATTRIBUTE_I, value).varintField(ATTRIBUTE_TYPE, ATTRIBUTE_TYPE_INT);
}

export function nodeProto(spec: NodeSpec, name: string): ProtobufWriter {
  const node = new ProtobufWriter();
  for (const input of spec.inputs) node.stringField(NODE_INPUT, input);
  for (const output of spec.outputs) node.stringField(NODE_OUTPUT, output);
  node.stringField(NODE_NAME, name).stringField(NODE_OP_TYPE, spec.op);
  for (const [key, value] of Object.entries(spec.int ?? {})) node.messageField(NODE_ATTRIBUTE, intAttributeProto(key, value));
  for (const [key, values] of Object.entries(spec.ints ?? {})) {
    const attribute = new ProtobufWriter().stringField(ATTRIBUTE_NAME, key);
    for (const v of values) attribute.varintField(ATTRIBUTE_INTS, v);
    node.messageField(NODE_ATTRIBUTE, attribute.varintField(ATTRIBUTE_TYPE, ATTRIBUTE_TYPE_INTS));
  }
  if (spec.domain) node.stringField(NODE_DOMAIN, spec.domain);
  return node;
}

/** An int64 varint as a signed number (negative ones take 10 bytes, beyond a double's precision). */
function signedVarint(buf: Uint8Array, start: number, end: number): number {
  let value = 0n;
  for (let pos = start, shift = 0n; pos < end; pos++, shift += 7n) value |= BigInt(buf[pos] & 0x7f) << shift;
  return Number(BigInt.asIntN(64, value));
}

/** The signed int64 varints packed in buf[start, end). */
function packedSignedVarints(buf: Uint8Array, start: number, end: number): number[] {
  const values: number[] = [];
  for (let pos = start; pos < end;) {
    const from = pos;
    while (pos < end && buf[pos] & 0x80) pos++;
    pos++;
    values.push(signedVarint(buf, from, pos));
  }
  return values;
}

/** A NodeProto attribute's name and, when it holds them, its integer (`i`) and integer-list (`ints`) values. */
export function readAttribute(buf: Uint8Array, attr: RawField): { name: string; int?: number; ints?: number[] } {
  let name = '';
  let int: number | undefined;
  let ints: number[] | undefined;
  for (const f of readFields(buf, attr.valueStart, attr.end)) {
    if (f.field === ATTRIBUTE_NAME && f.wireType === WIRE_BYTES) name = fieldString(buf, f);
    else if (f.field === ATTRIBUTE_I && f.wireType === WIRE_VARINT) int = signedVarint(buf, f.valueStart, f.end);
    else if (f.field === ATTRIBUTE_INTS && f.wireType === WIRE_VARINT) (ints ??= []).push(signedVarint(buf, f.valueStart, f.end));
    else if (f.field === ATTRIBUTE_INTS && f.wireType === WIRE_BYTES) (ints ??= []).push(...packedSignedVarints(buf, f.valueStart, f.end));
  }
  return { name, int, ints };
}

/** A ValueInfoProto's tensor element type (0 when it declares none) and dims (a size, or the symbolic name). */
function tensorType(buf: Uint8Array, valueInfo: RawField): { elemType: number; dims: (number | string)[] } {
  const info = { elemType: 0, dims: [] as (number | string)[] };
  for (const vf of readFields(buf, valueInfo.valueStart, valueInfo.end)) {
    if (vf.field !== VALUE_INFO_TYPE || vf.wireType !== WIRE_BYTES) continue;
    for (const tf of readFields(buf, vf.valueStart, vf.end)) {
      if (tf.field !== TYPE_TENSOR || tf.wireType !== WIRE_BYTES) continue;
      for (const ef of readFields(buf, tf.valueStart, tf.end)) {
        if (ef.field === TENSOR_TYPE_ELEM_TYPE && ef.wireType === WIRE_VARINT) info.elemType = ef.varint;
        if (ef.field !== TENSOR_TYPE_SHAPE || ef.wireType !== WIRE_BYTES) continue;
        for (const df of readFields(buf, ef.valueStart, ef.end)) {
          if (df.field !== SHAPE_DIM || df.wireType !== WIRE_BYTES) continue;
          let dim: number | string = '';
          for (const f of readFields(buf, df.valueStart, df.end)) {
            if (f.field === DIM_VALUE && f.wireType === WIRE_VARINT) dim = f.varint;
            else if (f.field === DIM_PARAM && f.wireType === WIRE_BYTES) dim = fieldString(buf, f);
          }
          info.dims.push(dim);
        }
      }
    }
  }
  return info;
}

/** Parses buf[0, length) as a ModelProto. Throws ProtobufFormatError when it is not one. */
export function readModelGraph(buf: Uint8Array, length = buf.length): ModelGraph {
  const graph: ModelGraph = {
    nodes: [],
    initializerNames: new Set(),
    inputNames: [],
    outputNames: [],
    inputs: new Map(),
    outputStarts: new Map(),
    externalDataFiles: new Set(),
    externalData: new Map(),
    initializerDims: new Map(),
    smallInt64s: new Map(),
    allNames: new Set(),
  };
  let sawGraph = false;
  for (const mf of readFields(buf, 0, length)) {
    if (mf.field !== MODEL_GRAPH) continue;
    requireBytes(mf, 'ModelProto.graph');
    sawGraph = true;
    for (const gf of readFields(buf, mf.valueStart, mf.end)) {
      if (gf.field === GRAPH_NODE) {
        requireBytes(gf, 'GraphProto.node');
        const node: GraphNode = { opType: '', domain: '', inputs: [], outputs: [], intAttributes: new Map(), intsAttributes: new Map(), start: gf.start };
        for (const nf of readFields(buf, gf.valueStart, gf.end)) {
          if (nf.wireType !== WIRE_BYTES) continue;
          if (nf.field === NODE_ATTRIBUTE) {
            const { name, int, ints } = readAttribute(buf, nf);
            if (name && int !== undefined) node.intAttributes.set(name, int);
            if (name && ints !== undefined) node.intsAttributes.set(name, ints);
          }
          if (nf.field === NODE_INPUT) node.inputs.push({ name: fieldString(buf, nf), valueStart: nf.valueStart, end: nf.end });
          else if (nf.field === NODE_OUTPUT) node.outputs.push(fieldString(buf, nf));
          else if (nf.field === NODE_OP_TYPE) node.opType = fieldString(buf, nf);
          else if (nf.field === NODE_DOMAIN) node.domain = fieldString(buf, nf);
        }
        for (const i of node.inputs) graph.allNames.add(i.name);
        for (const o of node.outputs) graph.allNames.add(o);
        graph.nodes.push(node);
      } else if (gf.field === GRAPH_INITIALIZER) {
        requireBytes(gf, 'GraphProto.initializer');
        let name = '';
        const external = new Map<string, string>();
        const dims: number[] = [];
        let dataLocation = 0;
        let dataType = 0;
        let int64s: number[] | undefined;
        for (const tf of readFields(buf, gf.valueStart, gf.end)) {
          if (tf.field === TENSOR_DATA_LOCATION && tf.wireType === WIRE_VARINT) dataLocation = tf.varint;
          else if (tf.field === TENSOR_DATA_TYPE && tf.wireType === WIRE_VARINT) dataType = tf.varint;
          else if (tf.field === TENSOR_INT64_DATA && tf.wireType === WIRE_VARINT) (int64s ??= []).push(signedVarint(buf, tf.valueStart, tf.end));
          else if (tf.field === TENSOR_INT64_DATA && tf.wireType === WIRE_BYTES) (int64s ??= []).push(...packedSignedVarints(buf, tf.valueStart, tf.end));
          else if (
            tf.field === TENSOR_RAW_DATA &&
            tf.wireType === WIRE_BYTES &&
            tf.end - tf.valueStart <= 8 * SMALL_INT64S &&
            (tf.end - tf.valueStart) % 8 === 0
          ) {
            const view = new DataView(buf.buffer, buf.byteOffset + tf.valueStart, tf.end - tf.valueStart);
            int64s = Array.from({ length: view.byteLength / 8 }, (_, i) => Number(view.getBigInt64(8 * i, true)));
          } else if (tf.field === TENSOR_DIMS && tf.wireType === WIRE_VARINT) dims.push(tf.varint);
          else if (tf.field === TENSOR_DIMS && tf.wireType === WIRE_BYTES) dims.push(...packedSignedVarints(buf, tf.valueStart, tf.end));
          else if (tf.field === TENSOR_NAME && tf.wireType === WIRE_BYTES) {
            name = fieldString(buf, tf);
            graph.initializerNames.add(name);
            graph.allNames.add(name);
          } else if (tf.field === TENSOR_EXTERNAL_DATA && tf.wireType === WIRE_BYTES) {
            let key = '';
            let value = '';
            for (const ef of readFields(buf, tf.valueStart, tf.end)) {
              if (ef.field === ENTRY_KEY) key = fieldString(buf, ef);
              else if (ef.field === ENTRY_VALUE) value = fieldString(buf, ef);
            }
            external.set(key, value);
          }
        }
        graph.initializerDims.set(name, dims);
        const count = dims.reduce((n, d) => n * d, 1);
        if (dataType === TENSOR_INT64 && dataLocation !== DATA_LOCATION_EXTERNAL && int64s && int64s.length === count && count <= SMALL_INT64S)
          graph.smallInt64s.set(name, int64s);
        const location = external.get('location');
        if (location !== undefined && dataLocation === DATA_LOCATION_EXTERNAL) {
          graph.externalDataFiles.add(location);
          graph.externalData.set(name, { location, offset: Number(external.get('offset') ?? 0), length: Number(external.get('length') ?? -1) });
        }
      } else if (gf.field === GRAPH_INPUT || gf.field === GRAPH_OUTPUT) {
        requireBytes(gf, 'GraphProto.input/output');
        for (const vf of readFields(buf, gf.valueStart, gf.end)) {
          if (vf.field === VALUE_INFO_NAME && vf.wireType === WIRE_BYTES) {
            const name = fieldString(buf, vf);
            if (gf.field === GRAPH_INPUT) {
              graph.inputNames.push(name);
              graph.inputs.set(name, { start: gf.start, ...tensorType(buf, gf) });
            } else {
              graph.outputNames.push(name);
              graph.outputStarts.set(name, gf.start);
            }
            graph.allNames.add(name);
          }
        }
      }
    }
  }
  if (!sawGraph) throw new ProtobufFormatError('no graph in the model');
  return graph;
}
