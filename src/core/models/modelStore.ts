/**
 * Where downloaded models live and how a whole one is told from a half-written one:
 * `<root>/models/<owner>/<name>@<revision>/` holds the files under their repository
 * paths; `.relay-model.json` (the completion marker) is written last, atomically, and
 * lists every verified file. A folder without a valid marker is incomplete.
 * `.relay-download-pending.json` is written before a download first replaces or adds a
 * file in place and removed when it completes: while it is there, the files it lists may
 * come from two commits (an update that did not finish), and the model loader refuses them.
 */
import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { renameRetrying } from '../fsRetry';
import { ModelDownloadError } from './errors';
import { checkRepoId, checkRevision, type HubFile } from './hubApi';
import { liveLockOwner, takeOwnerLock } from '../ownerLock';

export const COMPLETION_MARKER = '.relay-model.json';
export const LOCK_FILE = '.relay-download.lock';
export const PARTIAL_SUFFIX = '.partial';
export const PENDING_DOWNLOAD = '.relay-download-pending.json';

export interface CompletionMarker {
  format: 1;
  repo: string;
  revision: string;
  /** The commit the files came from, when the hub said. */
  commit?: string;
  /** Variants (q4, int8, ...) whose files are all here. */
  variants: string[];
  files: HubFile[];
  completedAt: string;
}

/** The folder of `repo` at `revision` under the extension's storage root. */
export function modelFolder(storageRoot: string, repo: string, revision: string): string {
  checkRepoId(repo);
  checkRevision(revision);
  const [owner, name] = repo.split('/');
  // A revision such as refs/pr/1 must stay one folder name.
  return join(storageRoot, 'models', owner, `${name}@${revision.replace(/\//g, '%2F')}`);
}

export function readMarker(folder: string): CompletionMarker | undefined {
  const path = join(folder, COMPLETION_MARKER);
  if (!existsSync(path)) return undefined;
  try {
    const marker = JSON.parse(readFileSync(path, 'utf8')) as CompletionMarker;
    if (marker.format !== 1 || !Array.isArray(marker.files) || !Array.isArray(marker.variants)) return undefined;
    return marker;
  } catch {
    return undefined;
  }
}

export type ModelState = 'absent' | 'incomplete' | 'complete';

export interface ModelStatus {
  folder: string;
  state: ModelState;
  /** Variants whose download finished (from the marker, every listed file present with its size, none being replaced). */
  variants: string[];
}

/**
 * `complete` when the marker is valid and every file it lists is present with its size
 * (and, when `variant` is given, that variant was downloaded and no download of it is
 * unfinished); `incomplete` when the folder exists otherwise (an interrupted download or
 * update, resumed by the next one).
 */
export function modelStatus(storageRoot: string, repo: string, revision: string, variant?: string): ModelStatus {
  const folder = modelFolder(storageRoot, repo, revision);
  if (!existsSync(folder)) return { folder, state: 'absent', variants: [] };
  const marker = readMarker(folder);
  if (!marker || !marker.files.every((file) => sizeMatches(join(folder, file.path), file.size))) return { folder, state: 'incomplete', variants: [] };
  // An unfinished download of named variants leaves the others usable; one of unknown variants, none.
  const pending = readPendingDownload(folder);
  if (pending === 'unreadable' || (pending !== undefined && pending.variants.length === 0)) return { folder, state: 'incomplete', variants: [] };
  const variants = marker.variants.filter((name) => !pending?.variants.includes(name));
  const complete = variant === undefined ? pending === undefined : variants.includes(variant);
  return { folder, state: complete ? 'complete' : 'incomplete', variants };
}

function sizeMatches(path: string, size: number | undefined): boolean {
  try {
    const stat = statSync(path);
    return stat.isFile() && (size === undefined || stat.size === size);
  } catch {
    return false;
  }
}

/** The record of a download that has started changing files in place and not finished. */
export interface PendingDownload {
  format: 1;
  repo: string;
  revision: string;
  /** The commit being downloaded, when known. */
  commit?: string;
  /** Variants being downloaded (q4, int8, ...); empty when the caller named none. */
  variants: string[];
  /** Repository paths that may have been replaced or added and are not yet verified as a whole. */
  paths: string[];
  startedAt: string;
}

/** The pending-download record; 'unreadable' when one is there but cannot be read (treated as covering every file). */
export function readPendingDownload(folder: string): PendingDownload | 'unreadable' | undefined {
  const path = join(folder, PENDING_DOWNLOAD);
  if (!existsSync(path)) return undefined;
  try {
    const pending = JSON.parse(readFileSync(path, 'utf8')) as PendingDownload;
    if (pending.format !== 1 || !Array.isArray(pending.paths) || !Array.isArray(pending.variants)) return 'unreadable';
    return pending;
  } catch {
    return 'unreadable';
  }
}

async function writeJsonAtomically(path: string, value: unknown): Promise<void> {
  const temp = `${path}.tmp`;
  await writeFile(temp, `${JSON.stringify(value, null, 2)}\n`);
  await renameRetrying(temp, path);
}

/**
 * Records, before the first file is replaced or added in place, which files a download
 * may change; merged with the record of an earlier download that did not finish, whose
 * files stay suspect until they are verified.
 */
export async function recordPendingDownload(folder: string, pending: Omit<PendingDownload, 'format' | 'startedAt'>): Promise<void> {
  const earlier = readPendingDownload(folder);
  const before = earlier === undefined || earlier === 'unreadable' ? undefined : earlier;
  await writeJsonAtomically(join(folder, PENDING_DOWNLOAD), {
    format: 1,
    repo: pending.repo,
    revision: pending.revision,
    commit: pending.commit,
    variants: [...new Set([...(before?.variants ?? []), ...pending.variants])],
    paths: [...new Set([...(before?.paths ?? []), ...pending.paths])].sort(),
    startedAt: before?.startedAt ?? new Date().toISOString(),
  } satisfies PendingDownload);
}

/** After a download completed: its files are verified; the record keeps only what an earlier unfinished one left. */
export async function settlePendingDownload(folder: string, verifiedPaths: string[], variants: string[]): Promise<void> {
  const pending = readPendingDownload(folder);
  if (pending === undefined) return;
  const path = join(folder, PENDING_DOWNLOAD);
  const paths = pending === 'unreadable' ? [] : pending.paths.filter((file) => !verifiedPaths.includes(file));
  if (pending === 'unreadable' || paths.length === 0) {
    await rm(path, { force: true });
    return;
  }
  await writeJsonAtomically(path, { ...pending, paths, variants: pending.variants.filter((name) => !variants.includes(name)) });
}

/**
 * Why the model loader must not use `variant` of `folder`, reading `filesRead` (repository
 * paths), when the downloader made the folder and left it incomplete or mixed: a download
 * that did not finish is replacing some of those files, or the finished download does not
 * list one of them with its size, or not that variant. Undefined when all is well, or when
 * the downloader did not make the folder (no marker, no pending record: the user's own).
 */
export function downloadedFolderProblem(folder: string, variant: string, filesRead: string[]): string | undefined {
  const pending = readPendingDownload(folder);
  const hasMarker = existsSync(join(folder, COMPLETION_MARKER));
  if (pending === undefined && !hasMarker) return undefined;
  if (pending === 'unreadable')
    return `holds a model download that did not finish (its record ${PENDING_DOWNLOAD} cannot be read), so its files may come from two versions of the model.`;
  const what = pending ? `${pending.repo}@${pending.revision}` : 'a model';
  if (pending) {
    const hits = filesRead.filter((file) => pending.paths.includes(file));
    if (hits.length > 0) {
      const named = hits.length > 3 ? `${hits.slice(0, 3).join(', ')} and ${hits.length - 3} more` : hits.join(', ');
      return `holds a download of ${what} that did not finish: ${named} ${hits.length === 1 ? 'was' : 'were'} being replaced or added, so the files may come from two versions of the model.`;
    }
  }
  const marker = readMarker(folder);
  if (!marker)
    return hasMarker ? `holds a model download whose record ${COMPLETION_MARKER} cannot be read.` : `holds a download of ${what} that never finished.`;
  const finished = `${marker.repo}@${marker.revision}`;
  // Downloads that named their variants (all of Relay's) record which are whole at the marker's commit.
  if (marker.variants.length > 0 && !marker.variants.includes(variant)) {
    return `holds a finished download of ${finished} with ${marker.variants.join(', ')}; its ${variant} files are left from another commit or a download that did not finish.`;
  }
  for (const file of filesRead) {
    const entry = marker.files.find((listed) => listed.path === file);
    if (!entry) return `holds a finished download of ${finished}, but ${file} is not one of its files (it was added later, or its download did not finish).`;
    let size: number | undefined;
    try {
      size = statSync(join(folder, file)).size;
    } catch {
      size = undefined;
    }
    if (entry.size !== undefined && size !== entry.size) {
      return `holds a finished download of ${finished}, but ${file} has ${size ?? 'no'} bytes where the download recorded ${entry.size}: the file was changed, or an update did not finish.`;
    }
  }
  return undefined;
}

/** Writes the marker through a temporary file and a rename, so it is whole or absent. */
export async function writeMarker(folder: string, marker: CompletionMarker): Promise<void> {
  await writeJsonAtomically(join(folder, COMPLETION_MARKER), marker);
}

/** Folders of this process that are downloading now, by real path (a second download of one is refused). */
const activeFolders = new Set<string>();

/** One key per folder however it is reached (a symbolic link, another letter case on a case-insensitive disk). */
function folderKey(folder: string): string {
  try {
    return realpathSync.native(folder);
  } catch {
    return folder;
  }
}

/**
 * The pid of the live process that holds the folder's download lock (this one included),
 * or undefined when none does: no lock, or one left by a process that died.
 */
export function downloadLockHolder(folder: string): number | undefined {
  return liveLockOwner(join(folder, LOCK_FILE))?.pid;
}

/**
 * Takes the folder's download lock (ownerLock.ts), so that two windows never write one
 * `.partial` file at once. A lock left by a process that died is taken over; one of this very
 * process is never stale (the folder reached another way).
 */
export async function acquireLock(folder: string, label: string): Promise<() => Promise<void>> {
  const path = join(folder, LOCK_FILE);
  const key = folderKey(folder);
  const busy = (): ModelDownloadError =>
    new ModelDownloadError(
      'busy',
      `${label} is already being downloaded (in this or another VS Code window). Wait for it to finish, or cancel it there. If no download of it is running (a window that crashed left its lock), delete ${path} and download again.`,
    );
  if (activeFolders.has(key)) throw busy();
  activeFolders.add(key); // before any await: a second call in this process sees it at once
  try {
    const attempt = takeOwnerLock(path);
    if (!attempt.taken) throw busy();
    return async () => {
      activeFolders.delete(key);
      attempt.release();
    };
  } catch (error) {
    activeFolders.delete(key);
    throw error;
  }
}
