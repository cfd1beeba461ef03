/** `relay solve "question"` and `relay explain <file>[:a-b]`: one answer streamed to the terminal. */
import { readFileSync, statSync } from 'node:fs';
import { extname } from 'node:path';
import type { ChatMessage } from '../../core/slm/types';
import { collectRelay } from '../../core/relay/engine';
import { TotalsStore } from '../../core/relay/totalsStore';
import { UsageError } from '../args';
import type { CliConfig } from '../config';
import {
  allOf,
  declineReporter,
  errorReporter,
  exitCodeOf,
  printableJson,
  readingReporter,
  statsJson,
  statsLine,
  streamRenderer,
  useColour,
  waitReporter,
  type Output,
} from '../render';
import { finishNote, skippedCallsNote } from '../../core/relay/finishNotes';
import { CliDeps, openComposition, openSlm } from '../setup';
import { fencedCode } from '../../core/codeFence';

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
 * its final newline ends (a file of "a\nb\n" has 2 lines); folders, empty files and
 * binary files (NUL bytes) are refused with a message.
 */
export function explainMessages(spec: string): ChatMessage[] {
  const match = /^(.*?)(?::(\d+)(?:-(\d+))?)?$/.exec(spec);
  const file = match?.[1] ?? spec;
  const usage = 'Usage: relay explain <file>[:start-end]';
  let kind: 'file' | 'folder' | 'missing' = 'missing';
  try {
    kind = file ? (statSync(file).isDirectory() ? 'folder' : 'file') : 'missing';
  } catch {
    kind = 'missing';
  }
  if (kind === 'missing') throw new UsageError(`relay explain: no such file '${file}'. ${usage}`);
  if (kind === 'folder') throw new UsageError(`relay explain: '${file}' is a folder; name a file in it. ${usage}`);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new UsageError(`relay explain: cannot read '${file}' (${(error as Error).message}).`);
  }
  if (text.includes('\u0000')) throw new UsageError(`relay explain: '${file}' looks like a binary file (it holds NUL bytes); name a text file.`);
  if (text.trim() === '') throw new UsageError(`relay explain: '${file}' is empty; there is nothing to explain.`);
  const lines = text.split('\n');
  // The newline that ends the last line starts no line of its own.
  if (text.endsWith('\n')) lines.pop();
  const start = match?.[2] ? Number(match[2]) : 1;
  const end = match?.[3] ? Number(match[3]) : match?.[2] ? start : lines.length;
  if (end < start) throw new UsageError(`relay explain: the range ${start}-${end} ends before it starts; write it as ${end}-${start}.`);
  if (start < 1 || start > lines.length) {
    throw new UsageError(`relay explain: lines ${start}-${end} are outside ${file} (${lines.length} lines).`);
  }
  const code = lines.slice(start - 1, Math.min(end, lines.length)).join('\n');
  const lang = extname(file).slice(1);
  return [
    {
      role: 'user',
      content: `Explain what this code from ${file} (lines ${start}-${Math.min(end, lines.length)}) does, briefly and precisely.\n\n${fencedCode(code, lang)}`,
    },
  ];
}

export async function runAsk(
  messages: ChatMessage[],
  config: CliConfig,
  io: { stdout: Output; stderr: Output },
  /** `demo`: the embedded demo models, whose figures (a local model priced as a hosted one) stay out of the running totals. */
  options: { json: boolean; signal: AbortSignal; priceNote?: string; demo?: boolean },
): Promise<number> {
  const slm = await openSlm(config);
  const deps = new CliDeps(config, slm);
  try {
    const composition = await openComposition(config, slm, deps);
    const llm = composition.llm;
    const prompt = await composition.prepare(messages);
    const colour = useColour(io.stdout);
    let failure: { code: string; message: string } | undefined;
    const render = allOf(
      // With --json stdout holds the JSON line alone: the error goes to stderr, and into that line.
      options.json ? errorReporter(io.stderr) : streamRenderer(io.stdout, colour),
      (event) => {
        if (event.type === 'error') failure ??= { code: event.code, message: event.message };
      },
      readingReporter(io.stderr),
      waitReporter(io.stderr),
      declineReporter(io.stderr),
    );
    const relayOptions = composition.options(messages, prompt);
    const { answer, stats } = await collectRelay(
      { ...relayOptions, ...(options.priceNote ? { priceNote: options.priceNote } : {}), signal: options.signal },
      render,
    );
    if (llm && !options.demo) {
      await new TotalsStore(config.totalsPath).record(llm.modelKey, stats).catch((error: Error) => {
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
            ...(failure ? { error: failure } : {}),
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
