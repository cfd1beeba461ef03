/**
 * Running totals of relay costs that survive restarts and model switches: a small JSON
 * file keyed by day and by LLM model, and by day, model and policy (the answer's relay
 * mode). Writes are atomic (temp file + rename) and serialised: in-process by a queue,
 * across processes (CLI and extension at once) by a lock file with a bounded wait and
 * stale-lock recovery.
 *
 * The per-policy totals (`modes`) came later, beside `days` in the same version-1 file:
 * files written before them stay readable as they are (their answers count as policy
 * 'unknown'), and an older Relay that writes the file keeps the field (it rewrites the
 * object it read) while its own answers land in `days` only, so they too count as 'unknown'.
 */
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
import { fileErrorInWords } from '../fileErrors';
import { renameRetrying } from '../fsRetry';
import type { AnswerStats } from './events';

export interface TotalsEntry {
  answers: number;
  calls: number;
  slmTokens: number;
  llmTokens: number;
  llmInputTokens: number;
  llmOutputTokens: number;
  llmCachedInputTokens: number;
  llmCacheWriteTokens: number;
  /** Sum over answers whose cost was known. */
  costUsd: number;
  /** Sum over answers whose LLM-only estimate was known (an estimate, see cost.ts). */
  llmOnlyCostUsd: number;
  /** Sum over answers where both were known. */
  savedUsd: number;
  /** Answers whose cost could not be priced (unknown model price). */
  unpricedAnswers: number;
}

export interface TotalsFile {
  version: 1;
  /** day (YYYY-MM-DD, local time) -> model key (e.g. "openai-chat:gpt-4o-mini") -> totals */
  days: Record<string, Record<string, TotalsEntry>>;
  /**
   * day -> model key -> policy (the answer's mode, e.g. "money-aware") -> totals: the same
   * answers as `days`, split by policy. Absent in files written before it.
   */
  modes?: Record<string, Record<string, Record<string, TotalsEntry>>>;
}

/** The policy of answers recorded without one (before policies were kept, or by an older Relay). */
export const UNKNOWN_POLICY = 'unknown';

export function emptyTotals(): TotalsEntry {
  return {
    answers: 0,
    calls: 0,
    slmTokens: 0,
    llmTokens: 0,
    llmInputTokens: 0,
    llmOutputTokens: 0,
    llmCachedInputTokens: 0,
    llmCacheWriteTokens: 0,
    costUsd: 0,
    llmOnlyCostUsd: 0,
    savedUsd: 0,
    unpricedAnswers: 0,
  };
}

export function addTotals(a: TotalsEntry, b: TotalsEntry): TotalsEntry {
  const out = emptyTotals();
  for (const key of Object.keys(out) as (keyof TotalsEntry)[]) out[key] = a[key] + b[key];
  for (const key of MONEY_KEYS) out[key] = roundUsd(out[key]);
  return out;
}

const MONEY_KEYS = ['costUsd', 'llmOnlyCostUsd', 'savedUsd'] as const;

/**
 * A sum of dollars without floating-point leftovers (+0.1 + 0.2 - 0.3 is 5.6e-17, which would
 * read "under $0.0001 saved"): to a billionth of a dollar, far below any price.
 */
export function roundUsd(value: number): number {
  return Math.round(value * 1e9) / 1e9;
}

/** Every answer of these totals has no known price: their money figures are unknown, not $0. */
export function allUnpriced(entry: TotalsEntry): boolean {
  return entry.answers > 0 && entry.unpricedAnswers >= entry.answers;
}

export function totalsOfAnswer(stats: AnswerStats): TotalsEntry {
  return {
    answers: 1,
    calls: stats.calls,
    slmTokens: stats.slmTokens,
    llmTokens: stats.llmTokens,
    llmInputTokens: stats.llmUsage.inputTokens,
    llmOutputTokens: stats.llmUsage.outputTokens,
    llmCachedInputTokens: stats.llmUsage.cachedInputTokens,
    llmCacheWriteTokens: stats.llmUsage.cacheWriteTokens,
    costUsd: stats.costUsd ?? 0,
    llmOnlyCostUsd: stats.llmOnlyCostUsd ?? 0,
    savedUsd: stats.savedUsd ?? 0,
    unpricedAnswers: stats.costUsd === null ? 1 : 0,
  };
}

export interface TotalsStoreOptions {
  now?: () => Date;
  /** Longest wait for another process's lock before giving up with an error. */
  lockTimeoutMs?: number;
  /** A lock older than this is taken to be left by a crashed process and removed. */
  staleLockMs?: number;
}

export class TotalsStore {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly now: () => Date;
  private readonly lockTimeoutMs: number;
  private readonly staleLockMs: number;

  constructor(
    readonly path: string,
    options: TotalsStoreOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.lockTimeoutMs = options.lockTimeoutMs ?? 5000;
    this.staleLockMs = options.staleLockMs ?? 10_000;
  }

  /** Adds one answer to today's totals of `modelKey` and of its policy (stats.mode); returns today's totals of that model. */
  record(modelKey: string, stats: AnswerStats): Promise<TotalsEntry> {
    return this.serialised(async () => {
      return this.withLock(async () => {
        const file = await this.read({ repair: true });
        const day = localDay(this.now());
        const answer = totalsOfAnswer(stats);
        const models = (file.days[day] ??= {});
        const before = models[modelKey];
        models[modelKey] = addTotals(before ?? emptyTotals(), answer);
        const modes = isRecord(file.modes) ? file.modes : (file.modes = {});
        const dayModes = isRecord(modes[day]) ? modes[day] : (modes[day] = {});
        let policies = dayModes[modelKey];
        if (!isRecord(policies)) {
          // The first answer of this day and model with a policy: what the day already held has none.
          policies = dayModes[modelKey] = {};
          if (before && isFiniteCount(before.answers) && before.answers > 0) policies[UNKNOWN_POLICY] = numericTotals(before);
        }
        const mode = stats.mode || UNKNOWN_POLICY;
        policies[mode] = addTotals(numericTotals(policies[mode]), answer);
        await this.writeAtomic(file);
        return models[modelKey];
      });
    });
  }

  /**
   * Removes every total, in turn with record() (its queue, then the file's lock): a record
   * in flight, of this window or another, finishes first instead of writing the old totals
   * back over the reset.
   */
  reset(): Promise<void> {
    return this.serialised(() => this.withLock(() => fs.rm(this.path, { force: true })));
  }

  /**
   * The whole file; a missing file is empty. One that is not a totals file is an error for
   * whoever only reads it (a report never moves a file); `repair` (recording an answer) moves
   * it aside, named in the error log, and starts over: its content is kept there.
   */
  async read(options: { repair?: boolean } = {}): Promise<TotalsFile> {
    let text: string;
    try {
      text = await fs.readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, days: {} };
      throw new Error(`Cannot read the relay totals at ${this.path}: ${fileErrorInWords(error)}.`);
    }
    try {
      const parsed = JSON.parse(text) as TotalsFile;
      if (parsed?.version !== 1 || !isRecord(parsed.days)) throw new Error('unexpected shape');
      // Every day a map of models, every model's totals an object: a null there (a hand edit) broke the sums.
      if (!Object.values(parsed.days).every((day) => isRecord(day) && Object.values(day).every(isRecord))) throw new Error('unexpected shape');
      return parsed;
    } catch {
      if (!options.repair) {
        throw new Error(
          `${this.path} is not a relay totals file (or it is damaged); it was left as it is. Move it away to start the totals over (Relay also does when it records the next answer).`,
        );
      }
      const aside = `${this.path}.corrupt-${Date.now()}`;
      await fs.rename(this.path, aside).catch(() => undefined);
      process.emitWarning(`The relay totals file ${this.path} was not valid; it was moved to ${aside} and totals start over.`);
      return { version: 1, days: {} };
    }
  }

  /** Totals over all days and models, or one day / one model / one policy. */
  async summary(filter: TotalsFilter = {}): Promise<TotalsEntry> {
    return summariseTotals(await this.read(), filter);
  }

  today(): string {
    return localDay(this.now());
  }

  private serialised<T>(job: () => Promise<T>): Promise<T> {
    const next = this.queue.then(job, job);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async writeAtomic(file: TotalsFile): Promise<void> {
    await fs.mkdir(dirname(this.path), { recursive: true });
    const temp = `${this.path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    await fs.writeFile(temp, JSON.stringify(file, null, 2) + '\n', 'utf8');
    await renameRetrying(temp, this.path);
  }

  private async withLock<T>(job: () => Promise<T>): Promise<T> {
    await fs.mkdir(dirname(this.path), { recursive: true });
    const lock = `${this.path}.lock`;
    const deadline = Date.now() + this.lockTimeoutMs;
    for (;;) {
      try {
        const handle = await fs.open(lock, 'wx');
        await handle.close();
        break;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const age = await fs.stat(lock).then(
          (s) => Date.now() - s.mtimeMs,
          () => 0,
        );
        if (age > this.staleLockMs) {
          await fs.rm(lock, { force: true });
          continue;
        }
        if (Date.now() > deadline) {
          throw new Error(
            `The relay totals file ${this.path} stayed locked for ${this.lockTimeoutMs} ms; if no other Relay process is running, delete ${lock}.`,
          );
        }
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    try {
      return await job();
    } finally {
      await fs.rm(lock, { force: true });
    }
  }
}

function isRecord(value: unknown): value is Record<string, any> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isFiniteCount = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** An entry read from the file (anyone may have edited it) with every field a finite number: anything else counts as 0. */
export function numericTotals(entry: unknown): TotalsEntry {
  const out = emptyTotals();
  if (!isRecord(entry)) return out;
  for (const key of Object.keys(out) as (keyof TotalsEntry)[]) out[key] = isFiniteCount(entry[key]) ? entry[key] : 0;
  return out;
}

function subtractTotals(a: TotalsEntry, b: TotalsEntry): TotalsEntry {
  const out = emptyTotals();
  for (const key of Object.keys(out) as (keyof TotalsEntry)[]) out[key] = a[key] - b[key];
  return out;
}

export interface TotalsFilter {
  day?: string;
  modelKey?: string;
  mode?: string;
}

/** Totals of a file already read over all days and models, or one day / one model / one policy. */
export function summariseTotals(file: TotalsFile, filter: TotalsFilter = {}): TotalsEntry {
  let total = emptyTotals();
  if (filter.mode !== undefined) {
    for (const [day, policies] of Object.entries(totalsByPolicy(file, { modelKey: filter.modelKey }))) {
      if (filter.day && day !== filter.day) continue;
      total = addTotals(total, policies[filter.mode] ?? emptyTotals());
    }
    return total;
  }
  for (const [day, models] of Object.entries(file.days)) {
    if (filter.day && day !== filter.day) continue;
    for (const [model, entry] of Object.entries(models)) {
      if (filter.modelKey && model !== filter.modelKey) continue;
      total = addTotals(total, entry);
    }
  }
  return total;
}

/**
 * Totals per day and per policy (summed over models, or of one model): the answers the
 * file kept a policy for, and as 'unknown' those it did not (an old file's, an older
 * Relay's), that is the day's model totals less what its policies account for.
 */
export function totalsByPolicy(file: TotalsFile, filter: { modelKey?: string } = {}): Record<string, Record<string, TotalsEntry>> {
  const out: Record<string, Record<string, TotalsEntry>> = {};
  const modes = isRecord(file.modes) ? file.modes : {};
  for (const [day, models] of Object.entries(file.days)) {
    if (!isRecord(models)) continue;
    const policiesOfDay: Record<string, TotalsEntry> = {};
    const add = (policy: string, entry: TotalsEntry) => (policiesOfDay[policy] = addTotals(policiesOfDay[policy] ?? emptyTotals(), entry));
    for (const [model, entry] of Object.entries(models)) {
      if (filter.modelKey && model !== filter.modelKey) continue;
      const all = numericTotals(entry);
      const recorded = isRecord(modes[day]) && isRecord(modes[day][model]) ? (modes[day][model] as Record<string, unknown>) : {};
      let accounted = emptyTotals();
      for (const [policy, policyEntry] of Object.entries(recorded)) {
        const totals = numericTotals(policyEntry);
        if (totals.answers <= 0) continue;
        add(policy, totals);
        accounted = addTotals(accounted, totals);
      }
      const rest = subtractTotals(all, accounted);
      if (rest.answers > 0) add(UNKNOWN_POLICY, rest);
    }
    if (Object.keys(policiesOfDay).length > 0) out[day] = policiesOfDay;
  }
  return out;
}

function localDay(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}
