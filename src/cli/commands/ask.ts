/** `relay solve "question"` and `relay explain <file>[:a-b]`: one answer streamed to the terminal. */
import { closeSync, openSync, readSync, statSync, type Stats } from 'node:fs';
import { extname } from 'node:path';
import type { ChatMessage } from '../../core/slm/types';
import { collectRelay } from '../../core/relay/engine';
import { slmOnlyModelKey, TotalsStore } from '../../core/relay/totalsStore';
import { UsageError } from '../args';
import { decodeUtf8, MAX_STDIN_BYTES, shellQuote, writesBeforeExit } from '../commandLine';
import type { CliConfig } from '../config';
import {
  allOf,
  answerWithError,
  declineReporter,
  errorKeeper,
  exitCodeOf,
  notStartedJson,
  printableJson,
  readingReporter,
  statsJson,
  statsLine,
  streamRenderer,
  terminalSafe,
  useColour,
  waitReporter,
  type Output,
} from '../render';
import { reportedLoad, type LoadReporter } from '../loadLines';
import { finishNote, skippedCallsNote } from '../../core/relay/finishNotes';
import { checkLlmReady, checkSlmSettings, CliDeps, clearTextSlmWarning, openComposition, openSlm, resolvedMode } from '../setup';
import { stoppedRender } from '../templateThread';
import { fencedCode } from '../../core/codeFence';
import { lineSpan, linesLabel } from '../../shared/lineRange';

/** The paper's evaluation prompt suffix (eval/generate_withhelp.py). */
export const SOLVE_SUFFIX = '\nPlease reason step by step, and put your final answer within \\boxed{}.';

/** `plain`: the question as is (models trained on one prompt format, e.g. the demo models). */
export function solveMessages(question: string, options: { plain?: boolean } = {}): ChatMessage[] {
  if (question.trim() === '')
    throw new UsageError('relay solve needs a question, e.g. relay solve "What is 17 * 24?" (or on standard input: relay solve < question.txt)');
  return [{ role: 'user', content: options.plain ? question : question + SOLVE_SUFFIX }];
}

/**
 * `file`, `file:12` or `file:12-40` (1-based, inclusive). A file's last line is the one
 * its final newline ends (a file of "a\nb\n" has 2 lines); folders, devices, empty files,
 * binary files (NUL bytes), text that is not UTF-8 and whole files over MAX_STDIN_BYTES are
 * refused with a message. A range reads the file only up to its last line.
 */
export function explainMessages(spec: string): ChatMessage[] {
  const match = /^(.*?)(?::(\d+)(?:-(\d+))?)?$/.exec(spec);
  const file = match?.[1] ?? spec;
  const usage = 'Usage: relay explain <file>[:start-end]';
  let stats: Stats | undefined;
  try {
    stats = file ? statSync(file) : undefined;
  } catch {
    stats = undefined;
  }
  if (!stats) throw new UsageError(`relay explain: no such file '${file}'. ${usage}`);
  if (stats.isDirectory()) throw new UsageError(`relay explain: '${file}' is a folder; name a file in it. ${usage}`);
  // A device (/dev/zero) or a pipe never ends: reading it whole would exhaust memory.
  if (!stats.isFile()) throw new UsageError(`relay explain: '${file}' is not a regular file (a device, a pipe or a socket); name a text file.`);
  const start = match?.[2] ? Number(match[2]) : 1;
  const lastAsked = match?.[3] ? Number(match[3]) : match?.[2] ? start : undefined;
  // Either end at 0 (file:0, file:0-3, file:1-0): from line 1 to the larger end.
  if (start < 1 || (lastAsked ?? 1) < 1)
    throw new UsageError(`relay explain: lines count from 1; write ${rangeSpec(file, 1, Math.max(1, start, lastAsked ?? 1))}.`);
  if (lastAsked !== undefined && lastAsked < start)
    throw new UsageError(`relay explain: the range ${start}-${lastAsked} ends before it starts; write it as ${lastAsked}-${start}.`);
  if (lastAsked === undefined && stats.size > MAX_STDIN_BYTES) {
    // A big binary file (a library, a model) has no lines to select: said before a range is suggested.
    if (startsBinary(file)) throw binaryFile(file);
    throw new UsageError(
      `relay explain: '${file}' is ${megabytes(stats.size)}, more than the ${megabytes(MAX_STDIN_BYTES)} Relay explains at once; ` +
        `select the lines to explain: ${rangeCommand(file)}.`,
    );
  }
  const bytes = readLeadingLines(file, lastAsked);
  const text = decodeUtf8(bytes, `relay explain: '${file}'`);
  const lines = text === '' ? [] : text.split('\n');
  // The newline that ends the last line starts no line of its own.
  if (text.endsWith('\n')) lines.pop();
  // Fewer lines than the range's end: the whole file was read, and these are all its lines.
  const wholeFile = lastAsked === undefined || lines.length < lastAsked;
  if (wholeFile && text.trim() === '') throw new UsageError(`relay explain: '${file}' is empty; there is nothing to explain.`);
  const end = lastAsked ?? lines.length;
  if (start > lines.length) {
    const count = `${lines.length} ${lines.length === 1 ? 'line' : 'lines'}`;
    throw new UsageError(
      `relay explain: ${linesLabel(start, end)} ${start === end ? 'is' : 'are'} outside ${file} (${count}); write ${rangeSpec(file, 1, lines.length)}.`,
    );
  }
  const last = Math.min(end, lines.length);
  const code = lines.slice(start - 1, last).join('\n');
  if (code.trim() === '')
    throw new UsageError(`relay explain: ${linesLabel(start, last)} of ${file} ${start === last ? 'is' : 'are'} blank; there is nothing to explain.`);
  const lang = extname(file).slice(1);
  return [
    {
      role: 'user',
      content: `Explain what this code from ${file} (${linesLabel(start, last)}) does, briefly and precisely.\n\n${fencedCode(code, lang)}`,
    },
  ];
}

const binaryFile = (file: string): UsageError => new UsageError(`relay explain: '${file}' looks like a binary file (it holds NUL bytes); name a text file.`);

/** `file:a-b` (`file:a` for one line), quoted for a shell where the path needs it. */
const rangeSpec = (file: string, first: number, last: number): string => shellQuote(`${file}:${lineSpan(first, last)}`);

/** The command that explains lines 10-40 of `file`, its path quoted for a shell where it needs it (spaces, $, quotes...). */
const rangeCommand = (file: string): string => `relay explain ${shellQuote(`${file}:10-40`)}`;

/** How much of a file's start is read to tell a binary file: NUL bytes there (as git and grep tell one). */
const BINARY_SNIFF_BYTES = 64 * 1024;

/** Whether the first block of `file` holds a NUL byte (unreadable: false, its reading says why). */
function startsBinary(file: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const block = Buffer.alloc(BINARY_SNIFF_BYTES);
    const read = readSync(fd, block, 0, block.length, 0);
    return block.subarray(0, read).includes(0);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

const megabytes = (bytes: number): string => `${(bytes / (1024 * 1024)).toFixed(1).replace(/\.0$/, '')} MB`;

/**
 * The file's text up to the end of line `lastLine` (the whole file when undefined), read in
 * chunks so that lines near the top of a huge file cost only what precedes them; at most
 * MAX_STDIN_BYTES, as a question on standard input.
 */
function readLeadingLines(file: string, lastLine: number | undefined): Buffer {
  const chunks: Buffer[] = [];
  let bytes = 0;
  let newlines = 0;
  let fd: number | undefined;
  try {
    fd = openSync(file, 'r');
    const chunk = Buffer.alloc(64 * 1024);
    for (;;) {
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      let part = Buffer.from(chunk.subarray(0, read));
      if (lastLine !== undefined) {
        // Cut after the newline that ends line `lastLine`: nothing after it is needed.
        let at = -1;
        while (newlines < lastLine && (at = part.indexOf(0x0a, at + 1)) >= 0) newlines++;
        if (newlines >= lastLine) part = part.subarray(0, at + 1);
      }
      // A binary file is said as such at its first NUL, before its lines run past the limit.
      if (part.includes(0)) throw binaryFile(file);
      bytes += part.length;
      if (bytes > MAX_STDIN_BYTES)
        throw new UsageError(
          `relay explain: the lines asked of '${file}' run past its first ${megabytes(MAX_STDIN_BYTES)}, more than Relay explains at once; select fewer lines (${rangeCommand(file)}).`,
        );
      chunks.push(part);
      if (lastLine !== undefined && newlines >= lastLine) break;
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`relay explain: cannot read '${file}' (${(error as Error).message}).`);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
  return Buffer.concat(chunks);
}

export async function runAsk(
  messages: ChatMessage[],
  config: CliConfig,
  io: { stdout: Output; stderr: Output },
  /** `demo`: the embedded demo models, whose figures (a local model priced as a hosted one) stay out of the running totals. */
  options: { json: boolean; signal: AbortSignal; priceNote?: string; demo?: boolean },
): Promise<number> {
  // The LLM's model and key are checked before the small model loads and writes, not at the LLM's first call.
  checkSlmSettings(config);
  await checkLlmReady(config, [resolvedMode(config)]);
  // A model loaded here takes seconds to minutes: said on stderr (the answer and --json are on stdout).
  const reportLoad: LoadReporter = (load, open) => reportedLoad(io.stderr, load, open);
  const slm = await openSlm(config, reportLoad);
  const inClear = clearTextSlmWarning(config);
  if (inClear) io.stderr.write(`${terminalSafe(inClear)}\n`);
  const deps = new CliDeps(config, slm, reportLoad);
  try {
    const composition = await openComposition(config, slm, deps);
    const llm = composition.llm;
    let prompt: string;
    try {
      prompt = await composition.prepare(messages, options.signal);
    } catch (error) {
      // Stopped while its chat template rendered (templateThread.ts): stopped, as an answer under way would be.
      if (!stoppedRender(error, options.signal)) throw error;
      io.stderr.write('relay: stopped before the answer began.\n');
      // --json promises one line at the end: the answer that did not begin, cancelled.
      if (options.json) io.stdout.write(printableJson(notStartedJson(config.mode, { finish_note: finishNote('cancelled') }, 'cancelled')) + '\n');
      return exitCodeOf('cancelled');
    }
    const colour = useColour(io.stdout);
    const failure = errorKeeper();
    const render = allOf(
      // With --json stdout holds the JSON line alone (the error is in it, and on stderr).
      answerWithError(io, options.json ? () => undefined : streamRenderer(io.stdout, colour), { json: options.json }),
      failure.record,
      readingReporter(io.stderr),
      waitReporter(io.stderr),
      declineReporter(io.stderr),
    );
    const relayOptions = composition.options(messages, prompt);
    const { answer, stats } = await collectRelay(
      { ...relayOptions, ...(options.priceNote ? { priceNote: options.priceNote } : {}), signal: options.signal },
      render,
    );
    if (!options.demo) {
      // Tracked: a second Ctrl-C waits for this write rather than drop the answer's cost (main.ts).
      // An answer with no LLM (slm-only) is kept under its small model, as the extension keeps it: one count for both.
      const modelKey = llm?.modelKey ?? slmOnlyModelKey(config.slm.folder);
      await writesBeforeExit.track(new TotalsStore(config.totalsPath).record(modelKey, stats)).catch((error: Error) => {
        io.stderr.write(`relay: could not update the running totals: ${error.message}\n`);
      });
    }
    const note = finishNote(stats.finishReason);
    const skipped = skippedCallsNote(stats);
    if (options.json)
      io.stdout.write(
        printableJson(
          statsJson(stats, {
            answer,
            ...(note ? { finish_note: note } : {}),
            ...(skipped ? { skipped_note: skipped } : {}),
            ...failure.json(),
          }),
        ) + '\n',
      );
    else io.stdout.write(`\n\n${[note, skipped, statsLine(stats, colour)].filter((line) => line !== undefined).join('\n')}\n`);
    return exitCodeOf(stats.finishReason);
  } finally {
    await deps.dispose();
    await slm.dispose();
  }
}
