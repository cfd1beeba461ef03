/**
 * Just enough of the protobuf wire format to walk an ONNX ModelProto without a schema:
 * fields are read as (number, wire type, byte range) so big weight blobs are skipped,
 * never copied.
 */

export const WIRE_VARINT = 0;
export const WIRE_FIXED64 = 1;
export const WIRE_BYTES = 2;
export const WIRE_FIXED32 = 5;

export interface RawField {
  field: number;
  wireType: number;
  /** Where the field (its tag) starts. */
  start: number;
  /** Where its payload starts (after tag and, for bytes, the length). */
  valueStart: number;
  /** Where its payload ends (exclusive). */
  end: number;
  /** The value of a varint field (as a Number; ONNX varints here fit). */
  varint: number;
}

export class ProtobufFormatError extends Error {}

/** Reads a varint at `pos`; returns [value, next position]. */
export function readVarint(buf: Uint8Array, pos: number, limit: number): [number, number] {
  let result = 0;
  let scale = 1;
  for (let i = 0; i < 10; i++) {
    if (pos >= limit) throw new ProtobufFormatError('truncated varint');
    const byte = buf[pos++];
    result += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [result, pos];
    scale *= 128;
  }
  throw new ProtobufFormatError('varint longer than 10 bytes');
}

/** Iterates the fields of the message stored in buf[start, end). */
export function* readFields(buf: Uint8Array, start: number, end: number): Generator<RawField> {
  let pos = start;
  while (pos < end) {
    const fieldStart = pos;
    const [tag, afterTag] = readVarint(buf, pos, end);
    const field = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (field === 0) throw new ProtobufFormatError(`field number 0 at byte ${fieldStart}`);
    pos = afterTag;
    let valueStart = pos;
    let varint = 0;
    switch (wireType) {
      case WIRE_VARINT:
        [varint, pos] = readVarint(buf, pos, end);
        break;
      case WIRE_FIXED64:
        pos += 8;
        break;
      case WIRE_FIXED32:
        pos += 4;
        break;
      case WIRE_BYTES: {
        const [length, afterLength] = readVarint(buf, pos, end);
        valueStart = afterLength;
        pos = afterLength + length;
        break;
      }
      default:
        throw new ProtobufFormatError(`unsupported wire type ${wireType} at byte ${fieldStart}`);
    }
    if (pos > end) throw new ProtobufFormatError(`field ${field} runs past the end of its message (byte ${fieldStart})`);
    yield { field, wireType, start: fieldStart, valueStart, end: pos, varint };
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
export function fieldString(buf: Uint8Array, f: RawField): string {
  return utf8.decode(buf.subarray(f.valueStart, f.end));
}

/** Growable byte writer for the few small messages we add to a model. */
export class ProtobufWriter {
  private bytes: number[] = [];

  varint(value: number | bigint): this {
    let v = BigInt.asUintN(64, BigInt(value));
    do {
      let byte = Number(v & 0x7fn);
      v >>= 7n;
      if (v > 0n) byte |= 0x80;
      this.bytes.push(byte);
    } while (v > 0n);
    return this;
  }

  tag(field: number, wireType: number): this {
    return this.varint(field * 8 + wireType);
  }

  varintField(field: number, value: number | bigint): this {
    return this.tag(field, WIRE_VARINT).varint(value);
  }

  bytesField(field: number, data: Uint8Array): this {
    this.tag(field, WIRE_BYTES).varint(data.length);
    for (const b of data) this.bytes.push(b);
    return this;
  }

  stringField(field: number, text: string): this {
    return this.bytesField(field, new TextEncoder().encode(text));
  }

  messageField(field: number, message: ProtobufWriter): this {
    return this.bytesField(field, message.finish());
  }

  finish(): Uint8Array {
    return Uint8Array.from(this.bytes);
  }
}
