/**
 * `relay eval data.jsonl`: questions with reference answers (GSM8K `#### n` or MATH
 * `\boxed{}`), one or several modes side by side, the paper-style table, CSV + JSON files.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { collectRelay } from '../../core/relay/engine';
import type { AnswerStats, RelayMode } from '../../core/relay/events';
import { answersMatch, extractAnswer, extractReference } from '../../core/relay/answerExtraction';
import { UsageError } from '../args';
import type { CliConfig } from '../config';
import { formatUsd, type Output } from '../render';
import { openLlm, openSlm, relayOptions, SlmPromptBook } from '../setup';
import { solveMessages } from './ask';

export interface EvalItem {
  question: string;
  reference: string;
}

export function readEvalData(path: string, limit?: number): EvalItem[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`relay eval: cannot read ${path}: ${(error as Error).message}`);
  }
  const items: EvalItem[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(lines[i]);
    } catch {
      throw new UsageError(`relay eval: ${path} line ${i + 1} is not JSON. Each line must be an object like {"question": "...", "answer": "#### 42"}.`);
    }
    const question = row.question ?? row.problem ?? row.prompt;
    const reference = row.answer ?? row.solution ?? row.reference;
    if (typeof question !== 'string' || (typeof reference !== 'string' && typeof reference !== 'number')) {
      throw new UsageError(`relay eval: ${path} line ${i + 1} needs a "question" (or "problem") string and an "answer" (or "solution") field.`);
    }
    items.push({ question, reference: extractReference(String(reference)) });
    if (limit !== undefined && items.length >= limit) break;
  }
  if (items.length === 0) throw new UsageError(`relay eval: ${path} has no questions.`);
  return items;
}

export interface EvalRow {
  mode: RelayMode;
  index: number;
  reference: string;
  predicted: string | null;
  correct: boolean;
  stats: AnswerStats;
}

export interface ModeSummary {
  mode: RelayMode;
  questions: number;
  accuracy: number;
  /** Paper's call ratio over the set: LLM tokens / all tokens. */
  llmTokenShare: number;
  callsPerQuestion: number;
  /** null when some answer's cost was unknown. */
  costUsd: number | null;
  costPerCorrectUsd: number | null;
  llmOnlyCostUsd: number | null;
  meanLatencyMs: number;
  errors: number;
}

export function summarise(mode: RelayMode, rows: EvalRow[]): ModeSummary {
  const correct = rows.filter((r) => r.correct).length;
  const slm = rows.reduce((n, r) => n + r.stats.slmTokens, 0);
  const llm = rows.reduce((n, r) => n + r.stats.llmTokens, 0);
  const sum = (pick: (s: AnswerStats) => number | null): number | null =>
    rows.some((r) => pick(r.stats) === null) ? null : rows.reduce((n, r) => n + (pick(r.stats) as number), 0);
  const cost = sum((s) => s.costUsd);
  return {
    mode,
    questions: rows.length,
    accuracy: rows.length ? correct / rows.length : 0,
    llmTokenShare: slm + llm === 0 ? 0 : llm / (slm + llm),
    callsPerQuestion: rows.length ? rows.reduce((n, r) => n + r.stats.calls, 0) / rows.length : 0,
    costUsd: cost,
    costPerCorrectUsd: cost === null || correct === 0 ? null : cost / correct,
    llmOnlyCostUsd: sum((s) => s.llmOnlyCostUsd),
    meanLatencyMs: rows.length ? rows.reduce((n, r) => n + r.stats.elapsedMs, 0) / rows.length : 0,
    errors: rows.filter((r) => r.stats.finishReason === 'error').length,
  };
}

export function formatTable(summaries: ModeSummary[]): string {
  const header = ['mode', 'accuracy', 'LLM tokens', 'calls/q', 'cost', 'cost/correct', 'latency', 'errors'];
  const rows = summaries.map((s) => [
    s.mode,
    `${(s.accuracy * 100).toFixed(2)}%`,
    `${(s.llmTokenShare * 100).toFixed(2)}%`,
    s.callsPerQuestion.toFixed(2),
    formatUsd(s.costUsd),
    formatUsd(s.costPerCorrectUsd),
    `${(s.meanLatencyMs / 1000).toFixed(2)} s`,
    String(s.errors),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

function csvCell(value: unknown): string {
  const text = value === null || value === undefined ? '' : String(value);
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(rows: EvalRow[]): string {
  const header = ['mode', 'index', 'reference', 'predicted', 'correct', 'slm_tokens', 'llm_tokens', 'llm_token_share', 'calls', 'llm_input_tokens', 'llm_output_tokens', 'cost_usd', 'llm_only_cost_usd', 'elapsed_ms', 'finish_reason'];
  const lines = rows.map((r) =>
    [r.mode, r.index, r.reference, r.predicted, r.correct, r.stats.slmTokens, r.stats.llmTokens, r.stats.llmTokenShare, r.stats.calls, r.stats.llmUsage.inputTokens, r.stats.llmUsage.outputTokens, r.stats.costUsd, r.stats.llmOnlyCostUsd, r.stats.elapsedMs, r.stats.finishReason]
      .map(csvCell)
      .join(','),
  );
  return [header.join(','), ...lines].join('\n') + '\n';
}

/** A progress bar on stderr (redrawn in place on a TTY, a line per 10% otherwise). */
export function progressBar(err: Output, total: number): (done: number, label: string) => void {
  let lastDecile = -1;
  return (done, label) => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    const text = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`;
    if (err.isTTY) err.write(`\r${text}${done === total ? '\n' : ''}`);
    else {
      const decile = Math.floor((done / total) * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        err.write(text + '\n');
      }
    }
  };
}

export async function runEval(
  dataPath: string,
  modes: RelayMode[],
  config: CliConfig,
  io: { stdout: Output; stderr: Output },
  options: { limit?: number; outPrefix: string; signal: AbortSignal },
): Promise<number> {
  const items = readEvalData(dataPath, options.limit);
  const slm = await openSlm(config);
  const needsLlm = modes.some((m) => m !== 'slm-only');
  const book = new SlmPromptBook(slm);
  const llm = needsLlm ? await openLlm(config, slm, book) : undefined;
  const rows: EvalRow[] = [];
  try {
    const progress = progressBar(io.stderr, items.length * modes.length);
    let done = 0;
    for (const mode of modes) {
      for (let index = 0; index < items.length; index++) {
        if (options.signal.aborted) break;
        const item = items[index];
        const messages = solveMessages(item.question);
        const prompt = await book.prepare(messages);
        const { answer, stats } = await collectRelay({ ...relayOptions(config, slm, llm), mode, messages, prompt, signal: options.signal });
        const predicted = extractAnswer(answer);
        rows.push({ mode, index, reference: item.reference, predicted, correct: answersMatch(predicted, item.reference), stats });
        progress(++done, mode);
      }
    }
  } finally {
    await llm?.dispose();
    await slm.dispose();
  }
  const summaries = modes.map((m) => summarise(m, rows.filter((r) => r.mode === m)));
  io.stdout.write(formatTable(summaries) + '\n');
  writeFileSync(`${options.outPrefix}.csv`, toCsv(rows));
  writeFileSync(
    `${options.outPrefix}.json`,
    JSON.stringify({ data: dataPath, questions: items.length, model: llm?.modelKey ?? null, summaries, rows }, null, 2) + '\n',
  );
  io.stdout.write(`Wrote ${options.outPrefix}.csv and ${options.outPrefix}.json\n`);
  return options.signal.aborted ? 130 : 0;
}
