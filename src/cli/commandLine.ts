/**
 * What the CLI takes from its process beyond the arguments: a question on standard input, a
 * bound on the command line's length, and the signals that stop it.
 *
 * The bound is ONNX Runtime's (1.30, Linux): its start-up reads /proc/self/cmdline and matches
 * it with a recursive regular expression, which overflows the stack, a segmentation fault with
 * no message, once the command line passes about 28 KB (8 MB stack). Long text goes on
 * standard input instead.
 */
import { constants } from 'node:os';
import { addAbortSignal, type Readable } from 'node:stream';
import { UsageError } from './args';

/** The longest command line taken, in bytes: well under where ONNX Runtime's start-up crashes. */
export const MAX_COMMAND_LINE_BYTES = 16 * 1024;
/** The most read from standard input (a question; the model's window refuses long ones with their sizes). */
export const MAX_STDIN_BYTES = 4 * 1024 * 1024;

/** The UsageError for a command line too long for ONNX Runtime, or undefined. `argv`: the whole process.argv. */
export function commandLineProblem(argv: readonly string[]): UsageError | undefined {
  // /proc/self/cmdline: every argument with a NUL after it.
  const bytes = argv.reduce((sum, arg) => sum + Buffer.byteLength(arg) + 1, 0);
  if (bytes <= MAX_COMMAND_LINE_BYTES) return undefined;
  return new UsageError(
    `the command line is ${Math.round(bytes / 1024)} KB; ONNX Runtime crashes at start-up past about 28 KB, so Relay takes at most ${MAX_COMMAND_LINE_BYTES / 1024} KB. ` +
      'Pass long text on standard input: relay solve < question.txt (or: ... | relay solve -).',
  );
}

/**
 * Reads a stream whole as UTF-8, refusing more than `maxBytes` and text in another encoding.
 * `signal` stops the read (Ctrl-C while a pipe stays open): the stream is destroyed and the
 * promise rejects with an AbortError.
 */
export async function readAllText(input: Readable, options: { maxBytes?: number; signal?: AbortSignal } = {}): Promise<string> {
  const maxBytes = options.maxBytes ?? MAX_STDIN_BYTES;
  if (options.signal) addAbortSignal(options.signal, input);
  const parts: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of input as AsyncIterable<Buffer | string>) {
    const part = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    bytes += part.length;
    if (bytes > maxBytes) throw new UsageError(`standard input has more than ${Math.round(maxBytes / (1024 * 1024))} MB; a question is far shorter.`);
    parts.push(part);
  }
  return decodeUtf8(Buffer.concat(parts), 'standard input');
}

/**
 * `bytes` as UTF-8 text. Text in another encoding (Latin-1, UTF-16) is refused rather than
 * read with U+FFFD in place of its letters, which a model would answer about silently; so is
 * text with NUL bytes, which UTF-16 without a byte order mark is (its ASCII letters are
 * valid UTF-8, each with a NUL beside it). `what`: the file ('name' quoted) or "standard input".
 */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  const problem = () =>
    new UsageError(
      `${what} is not UTF-8 text (another encoding, such as Latin-1 or UTF-16). Save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 in.txt > out.txt, or -f utf-16) and try again.`,
    );
  if (bytes.includes(0)) throw problem();
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw problem();
  }
}

/**
 * The signals that stop the CLI as Ctrl-C does: SIGTERM (`timeout`, `kill`, a cancelled CI
 * job) and SIGHUP (a closed terminal) too, so that the calls already made are still booked.
 */
export const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
export type StopSignal = (typeof STOP_SIGNALS)[number];

/** The exit status after `signal`, as a shell reports a process it ended: 128 + its number (SIGINT 130, SIGTERM 143, SIGHUP 129). */
export const signalExitCode = (signal: StopSignal): number => 128 + constants.signals[signal];

/** Most a second signal waits for a write in progress (the running totals) before the process exits anyway. */
export const EXIT_WAIT_MS = 2000;

/**
 * Writes the process's exit must not cut off (the running totals, an answer's cost): a lock
 * or temporary file left behind, and the money spent unrecorded, otherwise.
 */
export class WritesInFlight {
  private readonly pending = new Set<Promise<void>>();

  /** `write`, tracked until it settles; returns it as it is. */
  track<T>(write: Promise<T>): Promise<T> {
    const settled = write.then(
      () => undefined,
      () => undefined,
    );
    this.pending.add(settled);
    void settled.then(() => this.pending.delete(settled));
    return write;
  }

  get idle(): boolean {
    return this.pending.size === 0;
  }

  /** Resolves once the writes in progress have settled, or after `boundMs`, whichever is first. */
  settled(boundMs: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const bound = new Promise<void>((resolve) => (timer = setTimeout(resolve, boundMs)));
    return Promise.race([Promise.all(this.pending).then(() => undefined), bound]).finally(() => clearTimeout(timer));
  }
}

/** The writes of this process that a second Ctrl-C waits for (ask.ts tracks the totals' write). */
export const writesBeforeExit = new WritesInFlight();

/**
 * Stops the CLI on STOP_SIGNALS emitted by `target` (the process). The first calls `stop`
 * (the answer ends as cancelled, its calls are booked and its stats printed); a second one,
 * an impatient user, calls `exit` with its exit status: at once, or, while `writes` has one
 * in progress, once that is done, after `waitMs` at most. Returns the first signal so far.
 */
export function stopOnSignals(
  target: { on(signal: StopSignal, listener: () => void): unknown },
  stop: () => void,
  exit: (code: number) => void,
  writes: WritesInFlight = writesBeforeExit,
  waitMs = EXIT_WAIT_MS,
): () => StopSignal | undefined {
  let first: StopSignal | undefined;
  for (const signal of STOP_SIGNALS) {
    target.on(signal, () => {
      if (first === undefined) {
        first = signal;
        stop();
      } else if (writes.idle) exit(signalExitCode(signal));
      else void writes.settled(waitMs).then(() => exit(signalExitCode(signal)));
    });
  }
  return () => first;
}

/**
 * `arg` as a POSIX shell reads it back whole, for a command the CLI suggests: as it is when
 * it holds only characters no shell treats specially, else in single quotes (a ' inside
 * written as '\'').
 */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}
