/**
 * Builds the second `graph` field a load-time rewrite appends to a model: nodes, small
 * integer constants, inputs and outputs, with names nothing in the model uses yet.
 * Protobuf merges the repeated fields of both `graph` fields, so ONNX Runtime sees one graph.
 */
import {
  freshName,
  GRAPH_INITIALIZER,
  GRAPH_INPUT,
  GRAPH_NODE,
  GRAPH_OUTPUT,
  int64TensorProto,
  MODEL_GRAPH,
  nodeProto,
  ONNX_INT32,
  VALUE_INFO_NAME,
  type NodeSpec,
} from './modelGraph';
import { ProtobufWriter } from './protobufWire';

export type NodeAttributes = Pick<NodeSpec, 'domain' | 'int' | 'ints'>;

export class GraphTail {
  private readonly nodes = new ProtobufWriter();
  private readonly values = new ProtobufWriter();
  private readonly constantNames = new Map<string, string>();

  /** `used`: every name in the model (names the tail gives out are added to it). */
  constructor(
    private readonly used: Set<string>,
    private readonly prefix: string,
  ) {}

  /** A name nothing uses yet, from `base`. */
  name(base: string): string {
    return freshName(base, this.used);
  }

  /** Adds a node; returns its (first) output, `output` or a fresh name. */
  op(opType: string, inputs: string[], attributes: NodeAttributes = {}, output?: string): string {
    const out = output ?? this.name(`${this.prefix}.${opType}`);
    this.nodes.messageField(GRAPH_NODE, nodeProto({ op: opType, inputs, outputs: [out], ...attributes }, this.name(`${this.prefix}_${opType}`)));
    return out;
  }

  /** A 1-D int64 constant (one per distinct value list). */
  int64s(values: bigint[]): string {
    const key = `i64:${values.join(',')}`;
    let name = this.constantNames.get(key);
    if (!name) {
      name = this.name(`${this.prefix}_const.${values.join(',')}`);
      this.values.messageField(GRAPH_INITIALIZER, int64TensorProto(name, values));
      this.constantNames.set(key, name);
    }
    return name;
  }

  /** An int32 scalar constant. */
  int32Scalar(value: number): string {
    const key = `i32:${value}`;
    let name = this.constantNames.get(key);
    if (!name) {
      name = this.name(`${this.prefix}_const.i32_${value}`);
      this.values.messageField(GRAPH_INITIALIZER, new ProtobufWriter().varintField(2, ONNX_INT32).varintField(5, value).stringField(8, name));
      this.constantNames.set(key, name);
    }
    return name;
  }

  /** Declares a graph input (a ValueInfoProto, written by the caller). */
  input(valueInfo: ProtobufWriter): void {
    this.values.messageField(GRAPH_INPUT, valueInfo);
  }

  /** Declares `name` a graph output; ONNX Runtime infers its type from the producer. */
  output(name: string): void {
    this.values.messageField(GRAPH_OUTPUT, new ProtobufWriter().stringField(VALUE_INFO_NAME, name));
  }

  /** The ModelProto bytes to append: one `graph` field with everything added. */
  finish(): Uint8Array {
    const nodes = this.nodes.finish();
    const values = this.values.finish();
    const body = new Uint8Array(nodes.length + values.length);
    body.set(nodes);
    body.set(values, nodes.length);
    return new ProtobufWriter().bytesField(MODEL_GRAPH, body).finish();
  }
}
