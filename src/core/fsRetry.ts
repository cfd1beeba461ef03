/**
 * Renames and removals that outlast Windows' brief file locks. An antivirus scan, the search
 * indexer or a sync client opens a freshly written file for a moment, and a rename or
 * removal of it then fails with EPERM, EBUSY or EACCES for a few hundred milliseconds
 * (graceful-fs retries such renames for up to a minute on win32). Elsewhere these errors
 * are permanent, so only win32 retries, and only for a bounded time.
 */
import { rename as fsRename, rm as fsRm } from 'node:fs/promises';

/** Errors a brief lock on win32 gives; any other error is final at once. */
const LOCK_CODES = new Set(['EPERM', 'EBUSY', 'EACCES']);
/** Most milliseconds spent retrying: locks last hundreds of ms; a longer one is a real refusal. */
const DEFAULT_MAX_WAIT_MS = 4_000;
const FIRST_DELAY_MS = 10;
const MAX_DELAY_MS = 250;

export interface LockRetryOptions {
  /** The platform whose locks are waited for; default process.platform (tests inject it). */
  platform?: NodeJS.Platform;
  /** Most milliseconds spent retrying before the last error is thrown; default 4 000. */
  maxWaitMs?: number;
}

export interface RenameRetryOptions extends LockRetryOptions {
  /** The rename performed; default fs.promises.rename (tests inject a failing one). */
  rename?: (from: string, to: string) => Promise<void>;
}

export interface RmRetryOptions extends LockRetryOptions {
  /** The removal performed; default fs.promises.rm (tests inject a failing one). */
  rm?: (path: string, options: { force?: boolean; recursive?: boolean }) => Promise<void>;
}

/** fs.rename, retried on win32 while the file is briefly locked. */
export function renameRetrying(from: string, to: string, options: RenameRetryOptions = {}): Promise<void> {
  const rename = options.rename ?? fsRename;
  return retryWhileLocked(() => rename(from, to), options);
}

/** fs.rm, retried on win32 while the file is briefly locked. */
export function rmRetrying(path: string, rmOptions: { force?: boolean; recursive?: boolean } = {}, options: RmRetryOptions = {}): Promise<void> {
  const rm = options.rm ?? fsRm;
  return retryWhileLocked(() => rm(path, rmOptions), options);
}

async function retryWhileLocked(operation: () => Promise<void>, options: LockRetryOptions): Promise<void> {
  if ((options.platform ?? process.platform) !== 'win32') return operation();
  const deadline = Date.now() + (options.maxWaitMs ?? DEFAULT_MAX_WAIT_MS);
  let delay = FIRST_DELAY_MS;
  for (;;) {
    try {
      return await operation();
    } catch (error) {
      const code = (error as NodeJS.ErrnoException)?.code;
      const left = deadline - Date.now();
      if (typeof code !== 'string' || !LOCK_CODES.has(code) || left <= 0) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(delay, left)));
      delay = Math.min(delay * 2, MAX_DELAY_MS);
    }
  }
}
