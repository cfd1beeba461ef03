/**
 * `<out>.answers.jsonl`: every answer of `relay eval`, appended as it finishes, so an
 * interrupted run (Ctrl-C, a crash, a lost machine) loses no finished answer and the next
 * run with the same `--out` resumes where it stopped.
 *
 * The file starts with a `run` line holding the settings that decide the answers (data
 * file, models, sampling, limits); each later session appends its own `run` line, then one
 * `answer` line per answer. Resuming is the default: a run whose `--out` names an existing
 * answers file of the same settings skips the answers already there; other settings are
 * refused (with the settings that differ), and `--fresh` starts the file over. Changing
 * `--limit`, `--offset`, `--concurrency` or `--modes` is fine: rows and questions not in
 * the file are run, those in it are reused.
 */
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import type { AnswerStats, RelayMode } from '../../core/relay/events';
import type { ModelPrice } from '../../core/providers/types';
import { UsageError } from '../args';
import { printableJson, terminalSafe } from '../render';

export const ANSWERS_FORMAT = 1;

export interface RunLine {
  type: 'run';
  format: number;
  /** The command line of this session. */
  command: string | null;
  /** The settings that decide the answers; a resumed run must have the same. */
  settings: Record<string, unknown>;
  startedAt: string;
}

export interface AnswerLine {
  type: 'answer';
  /** The row (its --modes spec) and the question's index in the data file. */
  spec: string;
  index: number;
  /** The data set's id of the question. */
  id: string;
  /** A hash of the question's text: a data file edited since is noticed. */
  questionHash: string;
  /** The row's SLM folder. */
  slm: string;
  mode: RelayMode;
  /** The LLM (provider kind and model) and its price; null when the row used none. */
  llm: string | null;
  price: ModelPrice | null;
  /** Router rows: the LLM probability the answer was routed with. */
  llmProbability?: number;
  reference: string;
  predicted: string | null;
  correct: boolean;
  answer: string;
  stats: AnswerStats;
  /** Why the answer failed (stats.finishReason 'error'): its error event. */
  error?: AnswerError;
  finishedAt: string;
}

/** An answer's error event, as recorded: its code and message (the message may quote a server). */
export interface AnswerError {
  code: string;
  message: string;
}

export const answersPath = (outPrefix: string): string => `${outPrefix}.answers.jsonl`;

export function questionHash(question: string): string {
  return createHash('sha256').update(question).digest('hex').slice(0, 16);
}

/** Leaf paths whose values differ, as "seed: 3 in the file, 7 now". */
export function settingsDifferences(before: unknown, now: unknown, path = ''): string[] {
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
  if (isObject(before) && isObject(now)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(now)])];
    return keys.flatMap((k) => settingsDifferences(before[k], now[k], path ? `${path}.${k}` : k));
  }
  const a = JSON.stringify(before) ?? 'unset';
  const b = JSON.stringify(now) ?? 'unset';
  return a === b ? [] : [`${path}: ${a} in the file, ${b} now`];
}

export interface OpenedLog {
  log: AnswersLog;
  /** Answer lines already in the file, in file order (a later line of the same answer wins). */
  previous: AnswerLine[];
  /** Lines that could not be read (a file edited by hand); their answers are run again. */
  unreadable: number;
  resumed: boolean;
}

export class AnswersLog {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /**
   * Opens `path` for appending: a new file (or `fresh`) starts with this session's run line;
   * an existing one must hold the same settings, and its answers come back in `previous`.
   */
  static open(path: string, run: Omit<RunLine, 'type' | 'format'>, options: { fresh?: boolean } = {}): OpenedLog {
    const line: RunLine = { type: 'run', format: ANSWERS_FORMAT, ...run };
    if (options.fresh || !existsSync(path)) {
      const fd = openSync(path, 'w');
      writeSync(fd, printableJson(line) + '\n');
      return { log: new AnswersLog(path, fd), previous: [], unreadable: 0, resumed: false };
    }
    const text = readFileSync(path, 'utf8');
    // A line cut short by a crash is dropped: the file is truncated after its last whole line.
    const whole = text.endsWith('\n') ? text : text.slice(0, text.lastIndexOf('\n') + 1);
    const lines = whole.split('\n').filter((l) => l.trim() !== '');
    const shown = terminalSafe(path);
    let first: RunLine | undefined;
    try {
      first = JSON.parse(lines[0] ?? '') as RunLine;
    } catch {
      first = undefined;
    }
    if (first?.type !== 'run' || typeof first.settings !== 'object') {
      throw new UsageError(`relay eval: ${shown} exists and is not an answers file of relay eval. Choose another --out, or pass --fresh to replace it.`);
    }
    if (first.format !== ANSWERS_FORMAT) {
      throw new UsageError(
        `relay eval: ${shown} was written in answers format ${terminalSafe(String(first.format))}; this relay writes format ${ANSWERS_FORMAT}. Choose another --out, or pass --fresh to replace it.`,
      );
    }
    const differences = settingsDifferences(first.settings, run.settings);
    if (differences.length > 0) {
      throw new UsageError(
        `relay eval: ${shown} holds the answers of a run with other settings, so they cannot be resumed here:\n  ${terminalSafe(differences.slice(0, 8).join('\n  '))}\n` +
          'Run with the same settings to resume it, choose another --out, or pass --fresh to start it over.',
      );
    }
    const previous: AnswerLine[] = [];
    let unreadable = 0;
    for (const l of lines.slice(1)) {
      try {
        const parsed = JSON.parse(l) as AnswerLine | RunLine;
        if (parsed.type === 'answer' && typeof parsed.spec === 'string' && Number.isInteger(parsed.index) && parsed.stats) previous.push(parsed);
        else if (parsed.type !== 'run') unreadable++;
      } catch {
        unreadable++;
      }
    }
    const fd = openSync(path, 'r+');
    if (whole.length !== text.length) ftruncateSync(fd, Buffer.byteLength(whole));
    closeSync(fd);
    const append = openSync(path, 'a');
    writeSync(append, printableJson(line) + '\n');
    return { log: new AnswersLog(path, append), previous, unreadable, resumed: true };
  }

  /** One answer, written at once (a single write of a whole line). */
  append(line: Omit<AnswerLine, 'type'>): void {
    if (this.fd === undefined) throw new Error('Internal error: the answers file is closed.');
    writeSync(this.fd, printableJson({ type: 'answer', ...line }) + '\n');
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}
