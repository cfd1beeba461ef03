/** `relay solve "question"` and `relay explain <file>[:a-b]`: one answer streamed to the terminal. */
import { readFileSync, existsSync } from 'node:fs';
import { extname } from 'node:path';
import type { ChatMessage } from '../../core/slm/types';
import { collectRelay } from '../../core/relay/engine';
import { TotalsStore } from '../../core/relay/totalsStore';
import { UsageError } from '../args';
import type { CliConfig } from '../config';
import {
  allOf,
  declineReporter,
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

/** The paper's evaluation prompt suffix (eval/generate_withhelp.py). */
export const SOLVE_SUFFIX = '\nPlease reason step by step, and put your final answer within \\boxed{}.';

/** `plain`: the question as is (models trained on one prompt format, e.g. the demo models). */
export function solveMessages(question: string, options: { plain?: boolean } = {}): ChatMessage[] {
  if (question.trim() === '') throw new UsageError('relay solve needs a question, e.g. relay solve "What is 17 * 24?"');
  return [{ role: 'user', content: options.plain ? question : question + SOLVE_SUFFIX }];
}

/** `file`, `file:12` or `file:12-40` (1-based, inclusive). */
export function explainMessages(spec: string): ChatMessage[] {
  const match = /^(.*?)(?::(\d+)(?:-(\d+))?)?$/.exec(spec);
  const file = match?.[1] ?? spec;
  if (!file || !existsSync(file)) throw new UsageError(`relay explain: no such file '${file}'. Usage: relay explain <file>[:start-end]`);
  const lines = readFileSync(file, 'utf8').split('\n');
  const start = match?.[2] ? Number(match[2]) : 1;
  const end = match?.[3] ? Number(match[3]) : match?.[2] ? start : lines.length;
  if (start < 1 || end < start || start > lines.length) {
    throw new UsageError(`relay explain: lines ${start}-${end} are outside ${file} (${lines.length} lines).`);
  }
  const code = lines.slice(start - 1, Math.min(end, lines.length)).join('\n');
  const lang = extname(file).slice(1);
  return [
    {
      role: 'user',
      content: `Explain what this code from ${file} (lines ${start}-${Math.min(end, lines.length)}) does, briefly and precisely.\n\n\`\`\`${lang}\n${code}\n\`\`\``,
    },
  ];
}

export async function runAsk(
  messages: ChatMessage[],
  config: CliConfig,
  io: { stdout: Output; stderr: Output },
  options: { json: boolean; signal: AbortSignal },
): Promise<number> {
  const slm = await openSlm(config);
  const deps = new CliDeps(config, slm);
  try {
    const composition = await openComposition(config, slm, deps);
    const llm = composition.llm;
    const prompt = await composition.prepare(messages);
    const colour = useColour(io.stdout);
    const render = allOf(
      options.json ? () => undefined : streamRenderer(io.stdout, colour),
      readingReporter(io.stderr),
      waitReporter(io.stderr),
      declineReporter(io.stderr),
    );
    const { answer, stats } = await collectRelay({ ...composition.options(messages, prompt), signal: options.signal }, render);
    if (llm) {
      await new TotalsStore(config.totalsPath).record(llm.modelKey, stats).catch((error: Error) => {
        io.stderr.write(`relay: could not update the running totals: ${error.message}\n`);
      });
    }
    const note = finishNote(stats.finishReason);
    const skipped = skippedCallsNote(stats);
    if (options.json)
      io.stdout.write(
        printableJson(statsJson(stats, { answer, ...(note ? { finish_note: note } : {}), ...(skipped ? { skipped_note: skipped } : {}) })) + '\n',
      );
    else io.stdout.write(`\n\n${[note, skipped, statsLine(stats, colour)].filter((line) => line !== undefined).join('\n')}\n`);
    return exitCodeOf(stats.finishReason);
  } finally {
    await deps.dispose();
    await slm.dispose();
  }
}
