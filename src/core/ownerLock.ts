/**
 * A lock file that names the process holding it, for work that one process at a time may do
 * and that may last long (a model download, a relay eval run writing its answers file): a
 * lock whose process is gone (a window that crashed, a run killed) is taken over, while one
 * whose process runs is left alone. A lock that several machines may share (an answers file on
 * a network drive: `shared`) names its host too, and another host's is never taken for stale
 * (its processes cannot be seen from here); one on this machine's own disk (the model store)
 * names the pid alone, as a host name can change under a running machine (macOS renames it by
 * network). Each keeps the format it always had, so a window of an older version reads it.
 * A lock held a moment at a time (the savings totals, totalsStore.ts) also goes stale by age
 * (`staleAfterMs`), whoever holds it.
 */
import { randomBytes } from 'node:crypto';
import { linkSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';

/** The process a lock names; `host` is absent in locks written before it was recorded. */
export interface LockOwner {
  pid: number;
  host?: string;
}

/**
 * A lock this process took. `held` says whether the lock is still this one (not released,
 * nor taken over as stale since: a holder slow past `staleAfterMs`); `release` removes it
 * only then.
 */
export interface TakenLock {
  taken: true;
  release: () => void;
  held: () => boolean;
}

export type LockAttempt = TakenLock | { taken: false; heldBy: LockOwner | undefined };

export interface OwnerLockOptions {
  /** Several machines may take the lock (a network drive): the host is recorded, and another host's lock is live. */
  shared?: boolean;
  /**
   * For a lock held a moment at a time: one this old is taken over even while its process runs
   * (hung, or dead with its pid reused), and one that names no owner (empty, as an older
   * version wrote it) is left alone until this old rather than BEING_WRITTEN_MS. Absent, a live
   * owner's lock is never taken.
   */
  staleAfterMs?: number;
}

/**
 * A lock file the filesystem could not create with its content in place (no hard links: FAT,
 * exFAT, some network drives) is empty for a moment; this young, it is being written, not stale.
 */
const BEING_WRITTEN_MS = 5_000;

/** The owner a lock's content names: `{"pid":…,"host":…,"nonce":…}`, or the older "<pid> <nonce>" and "<pid>". */
export function parseLockOwner(content: string): LockOwner | undefined {
  const text = content.trim();
  if (text.startsWith('{')) {
    try {
      const parsed = JSON.parse(text) as { pid?: unknown; host?: unknown };
      if (typeof parsed.pid !== 'number' || !Number.isInteger(parsed.pid) || parsed.pid <= 0) return undefined;
      return typeof parsed.host === 'string' ? { pid: parsed.pid, host: parsed.host } : { pid: parsed.pid };
    } catch {
      return undefined;
    }
  }
  const pid = Number(text.split(/\s+/)[0]);
  return Number.isInteger(pid) && pid > 0 ? { pid } : undefined;
}

/** Whether a process with this id runs on this machine. */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, under another user.
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the owner may still hold the lock: this process, a live one here, or (a shared lock) any on another machine. */
function ownerAlive(owner: LockOwner, options: OwnerLockOptions): boolean {
  if (options.shared && owner.host !== undefined && owner.host !== hostname()) return true;
  return owner.pid === process.pid || processAlive(owner.pid);
}

function readLock(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Milliseconds since the lock at `path` was written; undefined when it is gone. */
function lockAgeMs(path: string): number | undefined {
  try {
    return Date.now() - statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Whether a lock that names no owner is still too young to be taken for stale. */
function ownerlessLockFresh(path: string, content: string, options: OwnerLockOptions): boolean {
  if (options.staleAfterMs === undefined && content.trim() !== '') return false;
  const age = lockAgeMs(path);
  return age !== undefined && age < (options.staleAfterMs ?? BEING_WRITTEN_MS);
}

/** Whether a live owner's lock has been held past `staleAfterMs` (never, without it). */
function heldTooLong(path: string, options: OwnerLockOptions): boolean {
  if (options.staleAfterMs === undefined) return false;
  const age = lockAgeMs(path);
  return age !== undefined && age >= options.staleAfterMs;
}

/** The live owner of the lock at `path` (this process included), or undefined: no lock, or one left by a process that died. */
export function liveLockOwner(path: string, options: OwnerLockOptions = {}): LockOwner | undefined {
  const content = readLock(path);
  const owner = content === undefined ? undefined : parseLockOwner(content);
  return owner && ownerAlive(owner, options) ? owner : undefined;
}

/**
 * Takes the lock at `path` for this process, or says who holds it. The lock appears with its
 * content in it (a hard link of a finished file), so no one reads it half written; its
 * content is unique, so `held` tells whether it is still this one, and a release removes it only then.
 */
export function takeOwnerLock(path: string, options: OwnerLockOptions = {}): LockAttempt {
  const nonce = randomBytes(8).toString('hex');
  const content = options.shared ? JSON.stringify({ pid: process.pid, host: hostname(), nonce }) + '\n' : `${process.pid} ${nonce}`;
  const held = (): boolean => readLock(path) === content;
  const release = (): void => {
    if (held()) rmSync(path, { force: true });
  };
  const temp = `${path}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writeFileSync(temp, content);
  try {
    for (let attempt = 0; attempt < 3; attempt += 1) {
      if (create(path, temp, content)) return { taken: true, release, held };
      const seen = readLock(path);
      if (seen === undefined) continue; // released meanwhile: try again
      const owner = parseLockOwner(seen);
      if (owner && ownerAlive(owner, options) && !heldTooLong(path, options)) return { taken: false, heldBy: owner };
      if (!owner && ownerlessLockFresh(path, seen, options)) return { taken: false, heldBy: undefined };
      if (!setStaleLockAside(path, seen)) return { taken: false, heldBy: liveLockOwner(path, options) };
    }
    return { taken: false, heldBy: liveLockOwner(path, options) };
  } finally {
    rmSync(temp, { force: true });
  }
}

/** Creates the lock from `temp`; false when one exists. Without hard links, an exclusive create and a write. */
function create(path: string, temp: string, content: string): boolean {
  try {
    linkSync(temp, path);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    // Windows names FAT's and exFAT's refusal EISDIR (ERROR_INVALID_FUNCTION).
    const noHardLinks =
      code === 'EPERM' || code === 'ENOTSUP' || code === 'ENOSYS' || code === 'EOPNOTSUPP' || (process.platform === 'win32' && code === 'EISDIR');
    if (!noHardLinks) throw error;
  }
  try {
    writeFileSync(path, content, { flag: 'wx' });
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * Removes the stale lock whose content is `stale`, atomically: it is renamed to a name of our
 * own first, so of two processes taking it over at once only one moves it. False when what
 * was moved was another process's fresh lock (it took the stale one over first): that lock is
 * put back.
 */
function setStaleLockAside(path: string, stale: string): boolean {
  const aside = `${path}.stale.${process.pid}.${randomBytes(4).toString('hex')}`;
  try {
    renameSync(path, aside);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return true; // gone already: try to take the place
    throw error;
  }
  try {
    const moved = readLock(aside);
    if (moved === undefined || moved === stale) return true;
    // Put back where no third process took the place meanwhile.
    create(path, aside, moved);
    return false;
  } finally {
    rmSync(aside, { force: true });
  }
}
