/**
 * Newline-delimited JSON parser fed raw bytes: a value may be split at any byte, UTF-8
 * characters included; CRLF and blank lines are tolerated. A line longer than its bound
 * throws StreamLineTooLongError.
 */
import { MAX_STREAM_LINE_CHARS, StreamLineTooLongError } from './streamLimits';

export class NdjsonParseError extends Error {
  constructor(readonly line: string) {
    super(`The server sent a line that is not JSON: ${line.slice(0, 200)}`);
    this.name = 'NdjsonParseError';
  }
}

export class NdjsonParser {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';

  constructor(private readonly maxLineChars: number = MAX_STREAM_LINE_CHARS) {}

  /** Feeds bytes (or text) and returns the values of the lines they complete. */
  push(chunk: Uint8Array | string): unknown[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const values: unknown[] = [];
    // The buffer holds no newline: only the new text is searched, so a long line costs its
    // length once, not once per chunk.
    let newline = text.indexOf('\n');
    if (newline === -1) {
      this.buffer += text;
    } else {
      this.parseLine(this.buffer + text.slice(0, newline), values);
      let lineStart = newline + 1;
      while ((newline = text.indexOf('\n', lineStart)) !== -1) {
        this.parseLine(text.slice(lineStart, newline), values);
        lineStart = newline + 1;
      }
      this.buffer = text.slice(lineStart);
    }
    if (this.buffer.length > this.maxLineChars) throw new StreamLineTooLongError(this.maxLineChars);
    return values;
  }

  /** Ends the stream: a last line without its newline is still parsed. */
  end(): unknown[] {
    this.buffer += this.decoder.decode();
    const values: unknown[] = [];
    this.parseLine(this.buffer, values);
    this.buffer = '';
    return values;
  }

  private parseLine(raw: string, values: unknown[]): void {
    if (raw.length > this.maxLineChars) throw new StreamLineTooLongError(this.maxLineChars);
    const line = raw.trim();
    if (line.length === 0) return;
    try {
      values.push(JSON.parse(line));
    } catch {
      throw new NdjsonParseError(line);
    }
  }
}
