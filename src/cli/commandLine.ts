/**
 * What the CLI takes from its process beyond the arguments: a question on standard input, and
 * a bound on the command line's length.
 *
 * The bound is ONNX Runtime's (1.30, Linux): its start-up reads /proc/self/cmdline and matches
 * it with a recursive regular expression, which overflows the stack, a segmentation fault with
 * no message, once the command line passes about 28 KB (8 MB stack). Long text goes on
 * standard input instead.
 */
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
 * read with U+FFFD in place of its letters, which a model would answer about silently.
 * `what`: the file ('name' quoted) or "standard input".
 */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new UsageError(
      `${what} is not UTF-8 text (another encoding, such as Latin-1 or UTF-16). Save it as UTF-8 (e.g. iconv -f latin1 -t utf-8 in.txt > out.txt) and try again.`,
    );
  }
}

/**
 * `arg` as a POSIX shell reads it back whole, for a command the CLI suggests: as it is when
 * it holds only characters no shell treats specially, else in single quotes (a ' inside
 * written as '\'').
 */
export function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, "'\\''")}'`;
}
