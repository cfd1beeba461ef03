/**
 * A served SLM's stream cut after each line end, so that its parser, fed piece by piece,
 * hands back what each line completes as that line ends: a line that completes nothing (an
 * SSE comment, a field line such as `event: ping`, a blank line) is seen in its place among
 * the events, where servedRuntime.ts counts it toward the bound on events with no token (the
 * parsers drop such lines). Lines
 * end as the parsers read them: at LF, and for SSE at a CR too, whose LF then ends nothing.
 * An LF or CR byte is never part of a UTF-8 character, so no character is cut.
 */

const LF = 0x0a;
const CR = 0x0d;
const HEAD_BYTES = 5;

export interface StreamPiece {
  bytes: Buffer;
  /** Whether the piece ends a line. */
  endsLine: boolean;
  /** Where it does: the line's first HEAD_BYTES bytes, as Latin-1 ('' for an empty line): enough to tell an SSE `data` line. */
  head?: string;
}

export class LineCutter {
  /** The first HEAD_BYTES bytes of the line so far (across reads). */
  private head = '';
  /** The last byte read was a CR that ended a line: an LF right after it belongs to it. */
  private afterCr = false;

  constructor(private readonly crEndsLines: boolean) {}

  /** `bytes` cut after each line end; the last piece ends no line where `bytes` ends inside one. */
  cut(bytes: Buffer): StreamPiece[] {
    const pieces: StreamPiece[] = [];
    let from = 0;
    for (let i = 0; i < bytes.length; i++) {
      const byte = bytes[i];
      if (byte === LF && this.afterCr) {
        this.afterCr = false;
        continue;
      }
      this.afterCr = this.crEndsLines && byte === CR;
      if (byte === LF || this.afterCr) {
        pieces.push({ bytes: bytes.subarray(from, i + 1), endsLine: true, head: this.head });
        from = i + 1;
        this.head = '';
      } else if (this.head.length < HEAD_BYTES) {
        this.head += String.fromCharCode(byte);
      }
    }
    if (from < bytes.length) pieces.push({ bytes: bytes.subarray(from), endsLine: false });
    return pieces;
  }
}
