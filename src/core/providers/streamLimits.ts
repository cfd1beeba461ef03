/**
 * Bounds on what Relay buffers of a model server's answer before it can read any of it.
 * A model's stream is made of small lines (a token or a few per event): a line, event or
 * whole JSON body of megabytes is a misconfigured address (a file server, a proxy's
 * download) or a broken server, and buffering it without end would stall the extension
 * host and exhaust its memory.
 */

/** The most characters one line or event of a stream (SSE, NDJSON) may hold. */
export const MAX_STREAM_LINE_CHARS = 8 * 1024 * 1024;

/** The most bytes of a response read whole (a server that ignored stream: true). */
export const MAX_WHOLE_BODY_BYTES = 16 * 1024 * 1024;

/** A parser met a line or event longer than its bound; the providers turn it into their bad-response error. */
export class StreamLineTooLongError extends Error {
  constructor(readonly limitChars: number) {
    super(`The server sent a line of more than ${formatMiB(limitChars)}.`);
    this.name = 'StreamLineTooLongError';
  }
}

/** "8 MiB". */
export function formatMiB(bytes: number): string {
  return `${Math.round((bytes / (1024 * 1024)) * 10) / 10} MiB`;
}
