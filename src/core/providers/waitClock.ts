/**
 * The wait of one LLM call for its first response byte, told once a second from the
 * first second on ("waiting for api.openai.com... 12 s"), at once when a retry is coming,
 * and once more ('receiving') when bytes come after a wait was told. A model that reasons
 * silently before it writes (OpenAI's pro models, for minutes) is waited for on past its
 * first byte, told as 'reasoning', until its output begins. The answer view, the CLI's
 * stderr and `relay provider test` all show it from here.
 */
import type { ProviderChunk, TransportEvent } from './types';

export type WaitState = 'waiting' | 'retrying' | 'reasoning' | 'receiving';

export interface WaitTick {
  /** From the call's start (its first byte too, for 'reasoning'). */
  waitedMs: number;
  state: WaitState;
  /** Why a retry is coming ("HTTP 503", "no response for 60 s"). */
  note?: string;
  /** Which retry the note is of (1, 2, ...): two for the same reason are two retries. */
  retry?: number;
  /** 'reasoning': the model that is. */
  model?: string;
}

export class WaitClock {
  private readonly started = Date.now();
  private timer: ReturnType<typeof setInterval> | undefined;
  private state: 'waiting' | 'retrying' | 'reasoning' = 'waiting';
  private note: string | undefined;
  private retries = 0;
  private told = false;
  private done = false;
  /** Seconds ticked: the Nth tick says at least N s (Date.now() and the timers' clock differ by a millisecond either way). */
  private ticks = 0;
  /** Bytes of a response body arrived (or a chunk did): the call may be billed even if it fails. */
  responseStarted = false;

  /**
   * `model`: the call's, named while it reasons. `readingToldApart`: the caller tells a model's
   * reading of the prompt itself (the engine's prompt-reading event), so the ticks end at its
   * first step rather than take turns with it on one line.
   */
  constructor(
    private readonly onTick: (tick: WaitTick) => void,
    private readonly model: string,
    private readonly readingToldApart = false,
  ) {
    // Cleared when the call ends, whatever way it ends (stop()).
    this.timer = setInterval(() => {
      this.ticks += 1;
      this.tell();
    }, 1000);
  }

  /** Feed it the provider's transport events (ContinueRequest.onTransport). */
  onTransport(event: TransportEvent): void {
    if (event.phase === 'receiving') return event.outputPending ? this.reasoning() : this.receiving();
    if (event.phase === 'output') return this.receiving();
    // A model on this machine reading the prompt has written nothing yet: the wait goes on, told as
    // ever, unless the caller tells the reading itself (readingToldApart).
    if (event.phase === 'reading') return this.readingToldApart ? this.stop() : undefined;
    if (this.done) return;
    if (event.phase === 'retrying') {
      // Told at once; the next try's wait keeps the reason beside it.
      this.state = 'retrying';
      this.note = event.reason;
      this.retries += 1;
      this.tell();
    }
  }

  /**
   * A chunk came from the provider (one without a wire sends no transport events: its first
   * chunk ends the wait). Streamed reasoning is no output: a model reasoning is still told so.
   */
  chunkArrived(chunk: Pick<ProviderChunk, 'type'>): void {
    if (chunk.type === 'reasoning' && this.state === 'reasoning') return;
    this.receiving();
  }

  /** The response began, the output not: the wait goes on, told at once in its new words where it was being told. */
  private reasoning(): void {
    this.responseStarted = true;
    if (this.done) return;
    this.state = 'reasoning';
    if (this.told) this.tell();
  }

  /** Bytes came: the wait is over. */
  private receiving(): void {
    this.responseStarted = true;
    if (this.done) return;
    this.stop();
    if (this.told) this.onTick({ waitedMs: Date.now() - this.started, state: 'receiving' });
  }

  stop(): void {
    this.done = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  private tell(): void {
    if (this.done) return;
    this.told = true;
    const waitedMs = Math.max(Date.now() - this.started, this.ticks * 1000);
    if (this.state === 'retrying') this.onTick({ waitedMs, state: this.state, note: this.note, retry: this.retries });
    else if (this.state === 'reasoning') this.onTick({ waitedMs, state: this.state, model: this.model });
    else this.onTick({ waitedMs, state: this.state });
  }
}
