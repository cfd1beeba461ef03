/**
 * Server-sent events parser (the WHATWG event-stream format) that is fed raw bytes as
 * they arrive: events and lines may be split at any byte, UTF-8 characters included.
 * A line or an event longer than its bound throws StreamLineTooLongError.
 */
import { MAX_STREAM_LINE_CHARS, StreamLineTooLongError } from './streamLimits';

export interface SseEvent {
  /** The `event:` field; 'message' when absent. */
  event: string;
  /** The `data:` lines joined with '\n'. */
  data: string;
  id?: string;
}

export class SseParser {
  constructor(private readonly maxLineChars: number = MAX_STREAM_LINE_CHARS) {}

  private readonly decoder = new TextDecoder('utf-8');
  private line = '';
  /** A CR ended the previous chunk: an LF at the start of the next one belongs to it. */
  private pendingCr = false;
  private eventType = '';
  private dataLines: string[] = [];
  /** Characters of the event's data so far, against the bound. */
  private dataChars = 0;
  private hasData = false;
  private lastId: string | undefined;
  /** A line that is no field of the format came (a plain-text body, not an event stream). */
  private sawForeignLine = false;
  /** Events delivered so far. */
  private delivered = 0;

  /** The body was something else than an event stream: lines that are no field of it, and not one event. */
  get notAnEventStream(): boolean {
    return this.sawForeignLine && this.delivered === 0;
  }

  /** Feeds bytes (or already decoded text) and returns the events they complete. */
  push(chunk: Uint8Array | string): SseEvent[] {
    const text = typeof chunk === 'string' ? chunk : this.decoder.decode(chunk, { stream: true });
    return this.consume(text);
  }

  /**
   * Ends the stream. Lenient where the spec discards: a final event that lacks its blank
   * line is still delivered, since some servers close right after the last `data:` line.
   */
  end(): SseEvent[] {
    const events = this.consume(this.decoder.decode());
    if (this.line.length > 0) {
      this.processLine(this.line, events);
      this.line = '';
    }
    if (this.hasData) this.dispatch(events);
    return events;
  }

  private consume(text: string): SseEvent[] {
    const events: SseEvent[] = [];
    let start = 0;
    for (let i = 0; i < text.length; i++) {
      const ch = text.charCodeAt(i);
      if (ch === 10 /* \n */) {
        if (this.pendingCr && i === 0 && this.line.length === 0) {
          // The LF of a CRLF split across chunks.
          this.pendingCr = false;
          start = 1;
          continue;
        }
        this.pendingCr = false;
        this.processLine(this.line + text.slice(start, i), events);
        this.line = '';
        start = i + 1;
      } else if (ch === 13 /* \r */) {
        this.processLine(this.line + text.slice(start, i), events);
        this.line = '';
        if (i + 1 < text.length) {
          if (text.charCodeAt(i + 1) === 10) i++;
          this.pendingCr = false;
        } else {
          this.pendingCr = true;
        }
        start = i + 1;
      } else if (this.pendingCr) {
        this.pendingCr = false;
      }
    }
    if (start < text.length) this.line += text.slice(start);
    if (this.line.length > this.maxLineChars) throw new StreamLineTooLongError(this.maxLineChars);
    return events;
  }

  private processLine(line: string, events: SseEvent[]): void {
    if (line.length > this.maxLineChars) throw new StreamLineTooLongError(this.maxLineChars);
    if (line.length === 0) {
      this.dispatch(events);
      return;
    }
    if (line.startsWith(':')) return; // comment / keep-alive
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'data':
        this.dataLines.push(value);
        this.hasData = true;
        // Many data lines without the blank line that ends the event add up the same way.
        this.dataChars += value.length + 1;
        if (this.dataChars > this.maxLineChars) throw new StreamLineTooLongError(this.maxLineChars);
        break;
      case 'event':
        this.eventType = value;
        break;
      case 'id':
        if (!value.includes('\0')) this.lastId = value;
        break;
      case 'retry':
        break;
      default:
        this.sawForeignLine = true;
        break; // unknown fields are ignored
    }
  }

  private dispatch(events: SseEvent[]): void {
    if (this.hasData) {
      events.push({ event: this.eventType || 'message', data: this.dataLines.join('\n'), id: this.lastId });
      this.delivered += 1;
    }
    this.eventType = '';
    this.dataLines = [];
    this.dataChars = 0;
    this.hasData = false;
  }
}
