/**
 * Reads the table of contents of a .vsix (a zip) and single entries, with node:zlib only,
 * so the packaging check needs no `unzip` on the machine. No zip64: a .vsix over 4 GB
 * is far beyond the size budget anyway.
 */
import { readFileSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';

export interface ZipEntry {
  name: string;
  compressedSize: number;
  size: number;
  method: number;
  localHeaderOffset: number;
}

const END_OF_CENTRAL_DIRECTORY = 0x06054b50;
const CENTRAL_FILE_HEADER = 0x02014b50;
const LOCAL_FILE_HEADER = 0x04034b50;

export class ZipFile {
  readonly entries: ZipEntry[];

  constructor(
    private readonly bytes: Buffer,
    private readonly label: string,
  ) {
    this.entries = this.readCentralDirectory();
  }

  static open(path: string): ZipFile {
    return new ZipFile(readFileSync(path), path);
  }

  private readCentralDirectory(): ZipEntry[] {
    const b = this.bytes;
    // The end record sits in the last 22 bytes plus a comment of at most 64 KiB.
    let end = -1;
    for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 0xffff); i--) {
      if (b.readUInt32LE(i) === END_OF_CENTRAL_DIRECTORY) {
        end = i;
        break;
      }
    }
    if (end < 0) throw new Error(`${this.label} is not a zip file (no end of central directory record).`);
    const count = b.readUInt16LE(end + 10);
    let at = b.readUInt32LE(end + 16);
    const entries: ZipEntry[] = [];
    for (let n = 0; n < count; n++) {
      if (b.readUInt32LE(at) !== CENTRAL_FILE_HEADER) throw new Error(`${this.label}: corrupt central directory at entry ${n}.`);
      const nameLength = b.readUInt16LE(at + 28);
      const extraLength = b.readUInt16LE(at + 30);
      const commentLength = b.readUInt16LE(at + 32);
      entries.push({
        method: b.readUInt16LE(at + 10),
        compressedSize: b.readUInt32LE(at + 20),
        size: b.readUInt32LE(at + 24),
        localHeaderOffset: b.readUInt32LE(at + 42),
        name: b.toString('utf8', at + 46, at + 46 + nameLength),
      });
      at += 46 + nameLength + extraLength + commentLength;
    }
    return entries;
  }

  /** The uncompressed bytes of one entry (stored or deflated). */
  read(name: string): Buffer {
    const entry = this.entries.find((e) => e.name === name);
    if (!entry) throw new Error(`${this.label} has no entry ${name}.`);
    const b = this.bytes;
    const at = entry.localHeaderOffset;
    if (b.readUInt32LE(at) !== LOCAL_FILE_HEADER) throw new Error(`${this.label}: corrupt local header of ${name}.`);
    const start = at + 30 + b.readUInt16LE(at + 26) + b.readUInt16LE(at + 28);
    const data = b.subarray(start, start + entry.compressedSize);
    if (entry.method === 0) return Buffer.from(data);
    if (entry.method === 8) return inflateRawSync(data);
    throw new Error(`${this.label}: ${name} uses zip method ${entry.method}, which this reader does not know.`);
  }
}
