/**
 * Running totals of relay costs that survive restarts and model switches: a small JSON
 * file keyed by day and by LLM model, and by day, model and policy (the answer's relay
 * mode). Writes are atomic and durable (temp file, fsync, rename) and serialised: in-process
 * by a queue, across processes (CLI and extension at once) by the owner lock (ownerLock.ts)
 * with a bounded wait.
 *
 * The per-policy totals (`modes`) came later, beside `days` in the same version-1 file:
 * files written before them stay readable as they are (their answers count as policy
 * 'unknown'), and an older Relay that writes the file keeps the field (it rewrites the
 * object it read) while its own answers land in `days` only, so they too count as 'unknown'.
 */
import { constants as fsConstants, promises as fs } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileErrorInWords } from '../fileErrors';
import { renameRetrying, rmRetrying } from '../fsRetry';
import { takeOwnerLock, type TakenLock } from '../ownerLock';
import type { AnswerStats } from './events';
import { slmWroteAll } from './cost';
import { isRecord } from '../../shared/isRecord';

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
  /**
   * Answers whose cost or saving could not be priced (unknown model price): in none of the
   * money sums. One with no LLM call cost $0, but what the LLM alone would have cost is unknown.
   */
  unpricedAnswers: number;
  /**
   * Answers the small model wrote alone (slmWroteAll: relay.localOnly or relay.mode slm-only):
   * no large model was called, so each cost $0 and saved nothing against one; they are neither
   * unpriced nor a saving. Absent (0) in files written before it.
   */
  slmOnlyAnswers: number;
  /**
   * Priced answers whose LLM usage was estimated: counted locally (the provider reported none), or
   * capped (it reported more output than one call can write, Usage.outputCapped). Their cost, in
   * costUsd, is an estimate. One count for both, so the file keeps its fields.
   */
  usageEstimatedAnswers: number;
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
    slmOnlyAnswers: 0,
    usageEstimatedAnswers: 0,
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

/** The start of the model key of answers no large model wrote (slmOnlyModelKey). */
const SLM_ONLY_KEY_PREFIX = 'slm:';

/** The totals' model key of answers no large model wrote (no LLM to key them by): the small model's folder name. */
export function slmOnlyModelKey(slmFolder: string): string {
  return `${SLM_ONLY_KEY_PREFIX}${slmFolder
    .replace(/[\\/]+$/, '')
    .split(/[\\/]/)
    .pop()}`;
}

/**
 * No answer of these totals has a known price and some have none: their money figures are
 * unknown, not $0 (answers the small model wrote alone, $0 each, do not make them known).
 */
export function allUnpriced(entry: TotalsEntry): boolean {
  return entry.unpricedAnswers > 0 && entry.unpricedAnswers + entry.slmOnlyAnswers >= entry.answers;
}

/** Every answer of these totals was written by the small model alone: they cost $0 and have no saving to show. */
export function allSlmOnly(entry: TotalsEntry): boolean {
  return entry.answers > 0 && entry.slmOnlyAnswers >= entry.answers;
}

/** "3 answers by the small model alone (no large model, $0)": how the savings view and `relay totals` name them. */
export function slmOnlyAnswersText(count: number): string {
  return `${count} ${count === 1 ? 'answer' : 'answers'} by the small model alone (no large model, $0)`;
}

export function totalsOfAnswer(stats: AnswerStats): TotalsEntry {
  const slmOnly = slmWroteAll(stats);
  // Priced: the saving is known (a failed answer's is its cost, lost). Else no money of it is summed;
  // nor is any of an answer the small model wrote alone: $0, and no saving is claimed for it.
  const priced = !slmOnly && stats.costUsd !== null && stats.savedUsd !== null;
  return {
    answers: 1,
    calls: stats.calls,
    slmTokens: stats.slmTokens,
    llmTokens: stats.llmTokens,
    llmInputTokens: stats.llmUsage.inputTokens,
    llmOutputTokens: stats.llmUsage.outputTokens,
    llmCachedInputTokens: stats.llmUsage.cachedInputTokens,
    llmCacheWriteTokens: stats.llmUsage.cacheWriteTokens,
    costUsd: priced ? (stats.costUsd ?? 0) : 0,
    llmOnlyCostUsd: priced ? (stats.llmOnlyCostUsd ?? 0) : 0,
    savedUsd: priced ? (stats.savedUsd ?? 0) : 0,
    unpricedAnswers: priced || slmOnly ? 0 : 1,
    slmOnlyAnswers: slmOnly ? 1 : 0,
    // Only where its cost is in the sums: an unpriced answer's estimated usage makes no summed cost an estimate.
    usageEstimatedAnswers: priced && stats.calls > 0 && stats.llmUsage.estimated ? 1 : 0,
  };
}

export interface TotalsStoreOptions {
  now?: () => Date;
  /** Longest wait for another process's lock before giving up with an error (default: 2 s past staleLockMs). */
  lockTimeoutMs?: number;
  /**
   * A lock held this long is taken over even though its process runs (hung, or its pid reused)
   * or runs on another machine (a home folder on a network drive); so is one an older Relay left
   * (naming no process) once this old. A dead process's lock of this machine is taken over at once.
   */
  staleLockMs?: number;
}

/** What changed the totals: an answer recorded, or every total removed. */
export type TotalsChange = 'recorded' | 'reset';

export class TotalsStore {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly listeners = new Set<(change: TotalsChange) => void>();
  private readonly now: () => Date;
  private readonly lockTimeoutMs: number;
  private readonly staleLockMs: number;

  constructor(
    readonly path: string,
    options: TotalsStoreOptions = {},
  ) {
    this.now = options.now ?? (() => new Date());
    this.staleLockMs = options.staleLockMs ?? 10_000;
    // Longer than a lock takes to go stale: a hung process's lock is outwaited and taken over, no answer lost.
    this.lockTimeoutMs = options.lockTimeoutMs ?? this.staleLockMs + 2_000;
  }

  /**
   * Calls `listener` once this store has recorded an answer or reset the totals. This process's
   * changes only: another process's (a VS Code window, the CLI) are seen in the file.
   */
  onDidChange(listener: (change: TotalsChange) => void): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => void this.listeners.delete(listener) };
  }

  /** Adds one answer to today's totals of `modelKey` and of its policy (stats.mode); returns today's totals of that model. */
  async record(modelKey: string, stats: AnswerStats): Promise<TotalsEntry> {
    const entry = await this.serialised(async () => {
      return this.withLock(async (assertHeld) => {
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
        await this.writeAtomic(file, assertHeld);
        return models[modelKey];
      });
    });
    this.changed('recorded');
    return entry;
  }

  /**
   * Removes every total, in turn with record() (its queue, then the file's lock): a record
   * in flight, of this window or another, finishes first instead of writing the old totals
   * back over the reset.
   */
  async reset(): Promise<void> {
    await this.serialised(() =>
      this.withLock(async (assertHeld) => {
        assertHeld();
        await rmRetrying(this.path, { force: true });
      }),
    );
    this.changed('reset');
  }

  /** Tells the listeners; one that throws neither fails the change (it is on disk) nor keeps the others from hearing of it. */
  private changed(change: TotalsChange): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(change);
      } catch (error) {
        process.emitWarning(`A listener to the relay totals failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  /**
   * The whole file; a missing file is empty. One that is not a totals file, or holds a total
   * that is not a count or an amount (a hand edit), is an error for whoever only reads it (a
   * report never moves a file); `repair` (recording an answer) keeps a copy of it aside as it
   * is, named in the error log and by keptAside(), and goes on with the totals it could read
   * (none if it is not JSON). A field an older or hand-written entry lacks counts as 0.
   */
  async read(options: { repair?: boolean } = {}): Promise<TotalsFile> {
    let text: string;
    try {
      text = await fs.readFile(this.path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { version: 1, days: {} };
      throw new Error(`Cannot read the relay totals at ${this.path}: ${fileErrorInWords(error)}.`);
    }
    let parsed: TotalsFile = { version: 1, days: {} };
    let problems: string[];
    try {
      parsed = JSON.parse(text) as TotalsFile;
      problems = parsed?.version === 1 && isRecord(parsed.days) ? checkTotals(parsed) : ['It holds no "version": 1 with "days"'];
    } catch (error) {
      problems = [`It is not JSON (${(error as Error).message})`];
    }
    if (problems.length === 0) return parsed;
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more)` : '';
    if (!options.repair) {
      throw new Error(
        `${this.path} is not a relay totals file (or it is damaged); it was left as it is. ${problems[0]}${more}. Move it away to start the totals over (Relay also keeps a copy aside when it records the next answer, and goes on with what it could read).`,
      );
    }
    const aside = `${this.path}.corrupt-${Date.now()}`;
    // Copied, and replaced only by the record's write: never overwritten before a copy is kept (one that
    // cannot be made stops the record), and still there, to repair again, when that write fails.
    await fs.copyFile(this.path, aside, fsConstants.COPYFILE_EXCL).catch((error: NodeJS.ErrnoException) => {
      if (error.code !== 'ENOENT') throw new Error(`The relay totals file ${this.path} is damaged and could not be kept aside: ${fileErrorInWords(error)}.`);
    });
    process.emitWarning(
      `The relay totals file ${this.path} was not valid (${problems[0]}${more}); it was kept as it was at ${aside}, and totals go on with what could be read.`,
    );
    return isRecord(parsed) && parsed.version === 1 && isRecord(parsed.days) ? withoutDamage(parsed) : { version: 1, days: {} };
  }

  /** Copies of damaged totals files that recording kept aside (as they were), oldest first. */
  async keptAside(): Promise<string[]> {
    const prefix = `${basename(this.path)}.corrupt-`;
    const names = await fs.readdir(dirname(this.path)).catch(() => [] as string[]);
    return names
      .filter((name) => name.startsWith(prefix))
      .sort()
      .map((name) => join(dirname(this.path), name));
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

  /** Writes `file` in place of the totals, if `assertHeld` (called just before the rename) does not throw. */
  private async writeAtomic(file: TotalsFile, assertHeld: () => void): Promise<void> {
    const folder = dirname(this.path);
    await fs.mkdir(folder, { recursive: true });
    const temp = `${this.path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
    try {
      const handle = await fs.open(temp, 'wx');
      try {
        await handle.writeFile(JSON.stringify(file, null, 2) + '\n', 'utf8');
        // On disk before the rename: after a power loss, some filesystems keep the rename but not the data (an empty file).
        await handle.sync();
      } finally {
        await handle.close();
      }
      // A lock taken over meanwhile (this process was slow, not dead): renaming would drop the answer
      // of the process that took it. A takeover can still land between this check and the rename, but
      // only if this write reaches staleLockMs in those microseconds; no plain filesystem offers a
      // rename on a condition that would close it.
      assertHeld();
      await renameRetrying(temp, this.path);
    } catch (error) {
      // A full disk or a refused rename: the totals file is as it was, and no part-written temp file is left behind.
      await rmRetrying(temp, { force: true }).catch(() => undefined);
      throw error;
    }
    await syncFolder(folder);
  }

  /**
   * Runs `job` holding `${path}.lock` (ownerLock.ts). The lock names its host (the file may sit
   * in a home folder that several machines share): a lock of this machine whose process died is
   * taken over at once, one whose process runs, or that another machine holds, only once
   * staleLockMs old. A write holds it for milliseconds, so a lock that old is a hung process's,
   * a dead one's whose pid was reused (Windows reuses them soon) or a dead machine's, and
   * waiting for ever would lose every answer after it. If its holder was merely slow, the
   * `assertHeld` it calls before writing finds the lock taken over and throws, and the job is
   * redone under a new lock (LOCK_LOST_TRIES times at most): both answers are counted.
   */
  private async withLock<T>(job: (assertHeld: () => void) => Promise<T>): Promise<T> {
    await fs.mkdir(dirname(this.path), { recursive: true });
    const lock = `${this.path}.lock`;
    for (let tries = 1; ; tries += 1) {
      const taken = await this.takeLock(lock);
      try {
        return await job(() => {
          if (!taken.held()) throw new LockTakenOver();
        });
      } catch (error) {
        if (!(error instanceof LockTakenOver)) throw error;
        if (tries >= LOCK_LOST_TRIES) {
          throw new Error(
            `The relay totals file ${this.path} was not written: another Relay (a VS Code window or the relay CLI) took its lock over ${tries} times while this one still wrote it, ` +
              `each time after ${this.staleLockMs} ms. Check that the disk holding it answers (a network drive that stalls?).`,
          );
        }
      } finally {
        releaseLock(lock, taken.release);
      }
    }
  }

  /**
   * Takes the lock, waiting up to lockTimeoutMs. Each try writes and removes a file with
   * blocking calls (in the extension host), so the wait between tries grows from
   * FIRST_LOCK_POLL_MS to MAX_LOCK_POLL_MS: a full wait of 12 s costs about fifty tries, not six hundred.
   */
  private async takeLock(lock: string): Promise<TakenLock> {
    const deadline = Date.now() + this.lockTimeoutMs;
    let delay = FIRST_LOCK_POLL_MS;
    for (;;) {
      const attempt = takeOwnerLock(lock, { shared: true, staleAfterMs: this.staleLockMs });
      if (attempt.taken) return attempt;
      const left = deadline - Date.now();
      if (left <= 0) {
        const owner = attempt.heldBy;
        const onHost = owner?.host !== undefined && owner.host !== hostname() ? ` on ${quoted(owner.host)}` : '';
        const holder = owner ? `process ${owner.pid}${onHost}` : 'a process that did not name itself (an older Relay)';
        throw new Error(
          `The relay totals file ${this.path} stayed locked for ${this.lockTimeoutMs} ms by ${holder}, another Relay (a VS Code window or the relay CLI) writing it. ` +
            `If that process hangs, end it; if no other Relay is running, delete ${lock}.`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
      delay = Math.min(delay * 2, MAX_LOCK_POLL_MS);
    }
  }
}

/** Thrown by a job's assertHeld: its lock was taken over as stale, so its write would drop another's answer. */
class LockTakenOver extends Error {}

/** How many times a job whose lock was taken over is run before it gives up (a disk slower than staleLockMs every time). */
const LOCK_LOST_TRIES = 3;
const FIRST_LOCK_POLL_MS = 20;
const MAX_LOCK_POLL_MS = 250;

/** Releases the lock after the job; a release refused (a file briefly locked on Windows) leaves a lock that goes stale, not a failed record. */
function releaseLock(lock: string, release: () => void): void {
  try {
    release();
  } catch (error) {
    process.emitWarning(`The relay totals lock ${lock} could not be removed (${fileErrorInWords(error)}); it is taken over once stale.`);
  }
}

/** Makes a rename in `folder` durable, where the platform allows (POSIX; Windows cannot open a folder): best effort. */
async function syncFolder(folder: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await fs.open(folder, 'r').catch(() => undefined);
  if (!handle) return;
  await handle.sync().catch(() => undefined);
  await handle.close().catch(() => undefined);
}

const isFiniteCount = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);

/** A value a totals field can hold: a finite number, and only a saving may be negative (a loss). */
const isTotal = (key: string, value: unknown): boolean => isFiniteCount(value) && (value >= 0 || key === 'savedUsd');

/** A name read from a file (a day, a model, a lock's host) quoted for a message (JSON escapes control characters), shortened. */
const quoted = (value: unknown): string => {
  const json = typeof value === 'number' ? String(value) : (JSON.stringify(value) ?? String(value));
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
};

/**
 * What is wrong with the days of a parsed version-1 file, in words: a day that is not a map
 * of models, a model's totals that are not an object, a field that is not a total (isTotal).
 * A field the entry lacks is set to 0.
 */
function checkTotals(file: TotalsFile): string[] {
  const problems: string[] = [];
  const modes = isRecord(file.modes) ? file.modes : {};
  for (const [day, models] of Object.entries(file.days)) {
    if (!isRecord(models)) {
      problems.push(`Day ${quoted(day)} holds ${quoted(models)}, not its models`);
      continue;
    }
    for (const [model, entry] of Object.entries(models)) {
      if (!isRecord(entry)) {
        problems.push(`Day ${quoted(day)}, model ${quoted(model)} holds ${quoted(entry)}, not its totals`);
        continue;
      }
      if (model.startsWith(SLM_ONLY_KEY_PREFIX)) {
        slmOnlyAsSuch(entry);
        const policies = isRecord(modes[day]) ? modes[day][model] : undefined;
        if (isRecord(policies)) for (const policy of Object.values(policies)) if (isRecord(policy)) slmOnlyAsSuch(policy);
      }
      for (const key of Object.keys(emptyTotals()) as (keyof TotalsEntry)[]) {
        const value: unknown = entry[key];
        if (value === undefined) entry[key] = 0;
        else if (!isTotal(key, value))
          problems.push(
            `Day ${quoted(day)}, model ${quoted(model)}: ${key} is ${quoted(value)}, not a ${key === 'savedUsd' ? 'number' : 'number of 0 or more'}`,
          );
      }
    }
  }
  return problems;
}

/**
 * An entry of answers the small model wrote alone, written before slmOnlyAnswers: they were
 * counted as unpriced (an slm: key holds no other answers), which would read as "price unknown".
 */
function slmOnlyAsSuch(entry: Record<string, unknown>): void {
  if (entry.slmOnlyAnswers !== undefined || !isFiniteCount(entry.unpricedAnswers)) return;
  entry.slmOnlyAnswers = entry.unpricedAnswers;
  entry.unpricedAnswers = 0;
}

/** The file less what checkTotals found damaged: a damaged day, or a day's model with its per-policy totals. */
function withoutDamage(file: TotalsFile): TotalsFile {
  const modes = isRecord(file.modes) ? file.modes : {};
  for (const [day, models] of Object.entries(file.days)) {
    if (!isRecord(models)) {
      delete file.days[day];
      delete modes[day];
      continue;
    }
    for (const [model, entry] of Object.entries(models)) {
      if (isRecord(entry) && (Object.keys(emptyTotals()) as (keyof TotalsEntry)[]).every((key) => isTotal(key, entry[key]))) continue;
      delete models[model];
      if (isRecord(modes[day])) delete modes[day][model];
    }
  }
  return file;
}

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
