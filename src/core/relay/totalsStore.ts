/**
 * Running totals of relay costs that survive restarts and model switches: a small JSON
 * file keyed by day and by LLM model. Writes are atomic (temp file + rename) and
 * serialised: in-process by a queue, across processes (CLI and extension at once) by a
 * lock file with a bounded wait and stale-lock recovery.
 */
import { promises as fs } from 'node:fs';
import { dirname } from 'node:path';
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
}

export function emptyTotals(): TotalsEntry {
  return {
    answers: 0, calls: 0, slmTokens: 0, llmTokens: 0, llmInputTokens: 0, llmOutputTokens: 0,
    llmCachedInputTokens: 0, llmCacheWriteTokens: 0, costUsd: 0, llmOnlyCostUsd: 0, savedUsd: 0, unpricedAnswers: 0,
  };
}

export function addTotals(a: TotalsEntry, b: TotalsEntry): TotalsEntry {
  const out = emptyTotals();
  for (const key of Object.keys(out) as (keyof TotalsEntry)[]) out[key] = a[key] + b[key];
  return out;
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

  /** Adds one answer to today's totals of `modelKey`; returns today's totals of that model. */
  record(modelKey: string, stats: AnswerStats): Promise<TotalsEntry> {
    return this.serialised(async () => {
      return this.withLock(async () => {
        const file = await this.read();
        const day = localDay(this.now());
        const models = (file.days[day] ??= {});
        models[modelKey] = addTotals(models[modelKey] ?? emptyTotals(), totalsOfAnswer(stats));
        await this.writeAtomic(file);
        return models[modelKey];
      });
    });
  }

  /** The whole file; a missing file is empty; a corrupt one is moved aside (named in the error log) and starts over. */
  async read(): Promise<TotalsFile> {
    let text: string;
    try {
      text = await fs.readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, days: {} };
      throw new Error(`Cannot read the relay totals at ${this.path}: ${(error as Error).message}`);
    }
    try {
      const parsed = JSON.parse(text) as TotalsFile;
      if (parsed?.version !== 1 || typeof parsed.days !== 'object' || parsed.days === null) throw new Error('unexpected shape');
      return parsed;
    } catch {
      const aside = `${this.path}.corrupt-${Date.now()}`;
      await fs.rename(this.path, aside).catch(() => undefined);
      process.emitWarning(`The relay totals file ${this.path} was not valid; it was moved to ${aside} and totals start over.`);
      return { version: 1, days: {} };
    }
  }

  /** Totals over all days and models, or one day / one model. */
  async summary(filter: { day?: string; modelKey?: string } = {}): Promise<TotalsEntry> {
    const file = await this.read();
    let total = emptyTotals();
    for (const [day, models] of Object.entries(file.days)) {
      if (filter.day && day !== filter.day) continue;
      for (const [model, entry] of Object.entries(models)) {
        if (filter.modelKey && model !== filter.modelKey) continue;
        total = addTotals(total, entry);
      }
    }
    return total;
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
    await fs.rename(temp, this.path);
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
        const age = await fs.stat(lock).then((s) => Date.now() - s.mtimeMs, () => 0);
        if (age > this.staleLockMs) {
          await fs.rm(lock, { force: true });
          continue;
        }
        if (Date.now() > deadline) {
          throw new Error(`The relay totals file ${this.path} stayed locked for ${this.lockTimeoutMs} ms; if no other Relay process is running, delete ${lock}.`);
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

function localDay(date: Date): string {
  const pad = (n: number): string => String(n).padStart(2, '0');
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}`;
}
