/**
 * Newline-delimited JSON parser fed raw bytes: a value may be split at any byte, UTF-8
 * characters included; CRLF and blank lines are tolerated.
 */

export class NdjsonParseError extends Error {
  constructor(readonly line: string) {
    super(`The server sent a line that is not JSON: ${line.slice(0, 200)}`);
    this.name = 'NdjsonParseError';
  }
}

export class NdjsonParser {
  private readonly decoder = new TextDecoder('utf-8');
  private buffer = '';

  /** Feeds bytes (or text) and returns the values of the lines they complete. */
  push(chunk: Uint8Array | string): unknown[] {
    this.buffer += typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    const values: unknown[] = [];
    let newline = this.buffer.indexOf('\n');
    while (newline !== -1) {
      this.parseLine(this.buffer.slice(0, newline), values);
      this.buffer = this.buffer.slice(newline + 1);
      newline = this.buffer.indexOf('\n');
    }
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
    const line = raw.trim();
    if (line.length === 0) return;
    try {
      values.push(JSON.parse(line));
    } catch {
      throw new NdjsonParseError(line);
    }
  }
}
