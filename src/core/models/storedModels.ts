/**
 * What the model store holds, and its removal: each folder under `<root>/models/<owner>/`
 * (a downloaded model, `<name>@<revision>`) with its size on disk, partial downloads
 * included, the variants it holds, whether its download finished, which settings point into
 * it and which other processes have it loaded. Removal takes the folder's download lock first,
 * so a download running in this or another window is never pulled from under it. VS Code never
 * deletes an extension's global storage, so this is the only way these gigabytes go. No VS
 * Code here: "Relay: Remove Downloaded Models" (src/extension/removeModels.ts) shows it.
 */
import { existsSync, readdirSync, readFileSync, realpathSync, rmSync, writeFileSync } from 'node:fs';
import { lstat, readdir, rmdir } from 'node:fs/promises';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { rmRetrying, type RmRetryOptions } from '../fsRetry';
import { processAlive } from '../ownerLock';
import { VARIANT_FILES } from '../slm/modelFolder';
import { isModelDownloadError } from './errors';
import {
  acquireLock,
  COMPLETION_MARKER,
  downloadLockHolder,
  LOCK_FILE,
  modelStatus,
  PARTIAL_SUFFIX,
  PENDING_DOWNLOAD,
  readPendingDownload,
} from './modelStore';

/** The identity record a download keeps next to each `.partial` file (downloader.ts). */
const PARTIAL_RECORD_SUFFIX = `${PARTIAL_SUFFIX}.json`;

export interface StoredModel {
  folder: string;
  /** `owner/name@revision`, as the folder is named (a revision's %2F shown as /). */
  label: string;
  repo: string;
  revision: string;
  /** Bytes of every file in the folder, partial downloads included. */
  bytes: number;
  /** Partial downloads (`<file>.partial` and its record), kept so that the next download resumes them. */
  partialFiles: string[];
  partialBytes: number;
  /** Variants (q4, int8, ...) whose download finished. */
  completeVariants: string[];
  /** Variants with files here whose download did not finish. */
  incompleteVariants: string[];
  /** False for a download or update that stopped before it finished (the next download resumes it). */
  complete: boolean;
  /** The process downloading into the folder now (this window or another), if one is. */
  downloadingPid?: number;
  /** The live processes, other than this one and the model processes it started, with a model loaded from the folder (markModelInUse). */
  loadedElsewhere: number[];
  /** The settings that point at the folder or into it (relay.slm.modelFolder, relay.provider.model). */
  usedBy: string[];
}

/** A setting whose value is a model folder. */
export interface FolderUse {
  setting: string;
  path: string;
}

export interface RemovalOutcome {
  folder: string;
  label: string;
  freedBytes: number;
  /** Why the folder, or part of what was asked, is still there (naming the path and what to do); undefined when done. */
  problem?: string;
  /** The folder still holds a whole download (a refusal came before any file it needs went): what points into it still works. */
  stillComplete: boolean;
}

export interface RemovalOptions extends Pick<RmRetryOptions, 'rm' | 'platform' | 'maxWaitMs'> {
  /** This process let go of every model it loaded from the folder first, so a file still in use is another process's. */
  releasedHere?: boolean;
}

/** Where downloaded models live: `<storageRoot>/models`. */
export function modelStoreFolder(storageRoot: string): string {
  return join(storageRoot, 'models');
}

/** Every model folder of the store, by label; none when the store is empty or does not exist. */
export async function listStoredModels(storageRoot: string, uses: FolderUse[] = []): Promise<StoredModel[]> {
  const store = modelStoreFolder(storageRoot);
  const models: StoredModel[] = [];
  for (const owner of await subfolders(store)) {
    for (const name of await subfolders(join(store, owner))) {
      models.push(await describeFolder(storageRoot, owner, name, uses));
    }
  }
  return models.sort((a, b) => a.label.localeCompare(b.label));
}

async function subfolders(folder: string): Promise<string[]> {
  try {
    return (await readdir(folder, { withFileTypes: true })).filter((entry) => entry.isDirectory()).map((entry) => entry.name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** The repository and revision a model folder of the store is named for (`<owner>/<name>@<revision>`). */
function folderIdentity(folder: string): { repo: string; revision: string } {
  const folderName = basename(folder);
  const at = folderName.indexOf('@');
  const name = at < 0 ? folderName : folderName.slice(0, at);
  return { repo: `${basename(dirname(folder))}/${name}`, revision: at < 0 ? '' : folderName.slice(at + 1).replace(/%2F/gi, '/') };
}

/** The download status of a model folder of the store; undefined for a folder name Relay would not make (not a download it finished). */
function folderStatus(storageRoot: string, folder: string): ReturnType<typeof modelStatus> | undefined {
  const { repo, revision } = folderIdentity(folder);
  try {
    return revision ? modelStatus(storageRoot, repo, revision) : undefined;
  } catch {
    return undefined;
  }
}

async function describeFolder(storageRoot: string, owner: string, folderName: string, uses: FolderUse[]): Promise<StoredModel> {
  const folder = join(modelStoreFolder(storageRoot), owner, folderName);
  const { repo, revision } = folderIdentity(folder);
  const files = await filesUnder(folder);
  const partials = files.filter((file) => isPartialFile(file.path));
  const status = folderStatus(storageRoot, folder);
  const completeVariants = status?.variants ?? [];
  const pending = readPendingDownload(folder);
  const unfinished = new Set([...variantsPresent(folder, files), ...(pending && pending !== 'unreadable' ? pending.variants : [])]);
  return {
    folder,
    label: revision ? `${repo}@${revision}` : repo,
    repo,
    revision,
    bytes: sum(files),
    partialFiles: partials.map((file) => file.path),
    partialBytes: sum(partials),
    completeVariants,
    incompleteVariants: [...unfinished].filter((variant) => !completeVariants.includes(variant)).sort(),
    complete: status?.state === 'complete',
    downloadingPid: downloadLockHolder(folder),
    loadedElsewhere: loadedElsewhere(folder),
    usedBy: uses.filter((use) => use.path.trim() !== '' && isSameOrInside(use.path, folder)).map((use) => use.setting),
  };
}

interface FileOnDisk {
  path: string;
  size: number;
}

/** Every file below `folder` (links counted as themselves, never followed out of the store). */
async function filesUnder(folder: string): Promise<FileOnDisk[]> {
  const found: FileOnDisk[] = [];
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch {
    return found; // removed meanwhile, or unreadable: nothing to count
  }
  for (const entry of entries) {
    const path = join(folder, entry.name);
    if (entry.isDirectory()) {
      found.push(...(await filesUnder(path)));
      continue;
    }
    try {
      found.push({ path, size: (await lstat(path)).size });
    } catch {
      // removed meanwhile
    }
  }
  return found;
}

function sum(files: FileOnDisk[]): number {
  return files.reduce((total, file) => total + file.size, 0);
}

function isPartialFile(path: string): boolean {
  return path.endsWith(PARTIAL_SUFFIX) || path.endsWith(PARTIAL_RECORD_SUFFIX);
}

/** Variants with any file here, whole or partial: the graph or its external data. */
function variantsPresent(folder: string, files: FileOnDisk[]): string[] {
  const onnxFiles = files.map((file) => relative(join(folder, 'onnx'), file.path)).filter((path) => !path.startsWith('..') && !isAbsolute(path));
  return Object.entries(VARIANT_FILES)
    .filter(([, graphs]) =>
      graphs.some((graph) => onnxFiles.some((file) => file === graph || file.startsWith(`${graph}_data`) || file.startsWith(`${graph}.`))),
    )
    .map(([variant]) => variant);
}

function comparable(path: string): string {
  let real = resolve(path);
  try {
    real = realpathSync.native(real);
  } catch {
    // missing: compared as written
  }
  return process.platform === 'win32' ? real.toLowerCase() : real;
}

/** Whether `path` is `folder` or lies inside it (a setting may name a subfolder). */
export function isSameOrInside(path: string, folder: string): boolean {
  const inside = relative(comparable(folder), comparable(path));
  return inside === '' || (!inside.startsWith('..') && !isAbsolute(inside));
}

/** Why `folder` is not one of the store's model folders (removal refuses any other), or undefined. */
function notInStore(storageRoot: string, folder: string): string | undefined {
  const store = resolve(modelStoreFolder(storageRoot));
  if (dirname(dirname(resolve(folder))) === store) return undefined;
  return `${folder} is not a model folder of the model store (${store}); nothing was removed.`;
}

/**
 * The files that make a folder a model a load accepts and the store calls whole, removed last
 * and in this order: a refusal before them (on Windows, a weights file another process maps)
 * leaves the model complete, and one among them leaves it marked unfinished, never whole.
 */
const REMOVED_LAST = ['config.json', COMPLETION_MARKER, PENDING_DOWNLOAD];

/**
 * Removes a model folder of the store, under its download lock: a folder another download
 * (this window or another) is writing into is refused. The weights go first, biggest first (a
 * file another process maps, such as a graph's external data, is a variant's biggest), so
 * that a refusal stops the removal before what the model needs to load. The lock file goes
 * last, so no download can start in the folder while its files are removed. Never throws:
 * the outcome says what was freed and, per folder, why something is left.
 */
export async function removeStoredModel(
  storageRoot: string,
  model: Pick<StoredModel, 'folder' | 'label'>,
  options: RemovalOptions = {},
): Promise<RemovalOutcome> {
  const { folder, label } = model;
  const refused = notInStore(storageRoot, folder);
  if (refused) return { folder, label, freedBytes: 0, problem: refused, stillComplete: false };
  if (!existsSync(folder)) return { folder, label, freedBytes: 0, stillComplete: false };
  const before = sum(await filesUnder(folder));
  let problem = await underLock(folder, label, () => removeContents(folder, options), options);
  if (!problem) {
    try {
      await rmdir(folder);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        problem = `A download into ${folder} started while it was being removed (in this or another VS Code window); what it writes is kept. Remove the model again once that download has finished or been cancelled.`;
      } else if (code !== 'ENOENT') {
        problem = removalProblem(error, folder, options);
      }
    }
    // The owner's folder goes with its last model; another model of that owner keeps it.
    await rmdir(dirname(folder)).catch(() => undefined);
  }
  const left = existsSync(folder);
  const after = left ? sum(await filesUnder(folder)) : 0;
  const stillComplete = left && folderStatus(storageRoot, folder)?.state === 'complete';
  return { folder, label, freedBytes: Math.max(0, before - after), problem, stillComplete };
}

/** Everything in the folder but its download lock: the files in subfolders (the weights) first, biggest first, then the other files, then REMOVED_LAST. */
async function removeContents(folder: string, options: RemovalOptions): Promise<void> {
  const rank = (path: string): number => (relative(folder, path).includes(sep) ? 0 : 1);
  const files = (await filesUnder(folder))
    .filter((file) => file.path !== join(folder, LOCK_FILE) && !REMOVED_LAST.some((name) => file.path === join(folder, name)))
    .sort((a, b) => rank(a.path) - rank(b.path) || b.size - a.size);
  for (const file of files) await rmRetrying(file.path, { force: true }, options);
  // The emptied subfolders, and whatever appeared meanwhile.
  for (const entry of await readdir(folder)) {
    if (entry !== LOCK_FILE && !REMOVED_LAST.includes(entry)) await rmRetrying(join(folder, entry), { recursive: true, force: true }, options);
  }
  for (const name of REMOVED_LAST) await rmRetrying(join(folder, name), { force: true }, options);
}

/**
 * Removes the partial downloads of a model folder (kept to resume its download, which then
 * starts those files over), under the folder's download lock, and leaves its finished files.
 */
export async function removeStoredPartials(
  storageRoot: string,
  model: Pick<StoredModel, 'folder' | 'label'>,
  options: RemovalOptions = {},
): Promise<RemovalOutcome> {
  const { folder, label } = model;
  const refused = notInStore(storageRoot, folder);
  if (refused) return { folder, label, freedBytes: 0, problem: refused, stillComplete: false };
  if (!existsSync(folder)) return { folder, label, freedBytes: 0, stillComplete: false };
  let freedBytes = 0;
  const problem = await underLock(
    folder,
    label,
    async () => {
      // Listed again under the lock: a download may have finished or added some since the list was shown.
      for (const file of (await filesUnder(folder)).filter((found) => isPartialFile(found.path))) {
        await rmRetrying(file.path, { force: true }, options);
        freedBytes += file.size;
      }
    },
    options,
  );
  return { folder, label, freedBytes, problem, stillComplete: folderStatus(storageRoot, folder)?.state === 'complete' };
}

/** Runs `remove` holding the folder's download lock; the problem that stopped it, if any. */
async function underLock(folder: string, label: string, remove: () => Promise<void>, options: RemovalOptions): Promise<string | undefined> {
  let release: () => Promise<void>;
  try {
    release = await acquireLock(folder, label);
  } catch (error) {
    if (isModelDownloadError(error) && error.code === 'busy') {
      return `${label} is being downloaded (in this or another VS Code window), so ${folder} was not touched. Wait for the download to finish, or cancel it there, then remove it again. If no download is running (a window that crashed left its lock), delete ${join(folder, LOCK_FILE)} first.`;
    }
    return removalProblem(error, folder, options);
  }
  try {
    await remove();
    return undefined;
  } catch (error) {
    return removalProblem(error, folder, options);
  } finally {
    await release().catch(() => undefined);
  }
}

/** A failed removal as a message that names the file and says what to do. */
function removalProblem(error: unknown, folder: string, { platform = process.platform, releasedHere }: RemovalOptions): string {
  const errno = error as NodeJS.ErrnoException;
  const path = typeof errno?.path === 'string' ? errno.path : folder;
  const code = typeof errno?.code === 'string' ? errno.code : undefined;
  if (!code) return `Cannot remove ${path}: ${errno instanceof Error ? errno.message : String(error)}. Remove ${folder} by hand.`;
  if (platform === 'win32' && (code === 'EBUSY' || code === 'EPERM' || code === 'EACCES')) {
    const pids = loadedElsewhere(folder);
    const holders = `another VS Code window or the relay CLI${pids.length > 0 ? ` (process ${pids.join(', ')})` : ''}`;
    if (releasedHere) {
      // This window let go of its models first: what holds the file is another process.
      return `Cannot remove ${path} (${code}): the file is in use by another process: ${holders} ${pids.length > 0 ? 'has' : 'may have'} the model loaded, or an antivirus scan or another program holds it. Close that window or end that relay command (a window keeps its model loaded after its answers), then remove the model again.`;
    }
    return `Cannot remove ${path} (${code}): the file is in use, by a small model loaded here for an answer being written, by ${holders}, or by an antivirus scan or another program. Stop the answer here (Relay: Stop), or close that window or end that relay command, then remove the model again.`;
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return `Cannot remove ${path} (${code}): permission denied. Check the permissions of ${folder}, or remove it by hand.`;
  }
  return `Cannot remove ${path} (${code}${errno.syscall ? ` on ${errno.syscall}` : ''}). Check the folder and its disk, or remove ${folder} by hand.`;
}

/** A model folder's mark of a process that has a model loaded from it: `.relay-in-use-<pid>`, holding `{ pid, parentPid }`. */
export const IN_USE_PREFIX = '.relay-in-use-';

/** This process's marks, by folder (real path): the loads holding it (the mark goes with the last), and the mark written (none where it could not be). */
const marksHere = new Map<string, { loads: number; path?: string }>();

/** Removes an in-use mark; never throws (one left behind, read-only or locked, is ignored once its process is gone). */
export function removeInUseMark(path: string | undefined): void {
  if (path === undefined) return;
  try {
    rmSync(path, { force: true });
  } catch {
    // left behind: ignored once its process is gone
  }
}

/** As this process exits (process.exit(), a disconnected worker, Ctrl-C in the CLI): its marks go. */
function removeMarksHere(): void {
  for (const mark of marksHere.values()) removeInUseMark(mark.path);
  marksHere.clear();
}

/** The mark of process `pid` in `folder` (its parent removes a model process's mark once the process ended, however it ended). */
export function inUseMarkPath(folder: string, pid: number): string {
  return join(folder, `${IN_USE_PREFIX}${pid}`);
}

/**
 * Marks the model folder as loaded by this process, until the returned function is called or
 * the process ends (a mark whose process is gone is ignored, as a download lock's is): the
 * removal warns of it, and on Windows names it when a file it maps cannot be deleted. Only
 * downloaded folders (with a completion marker) are marked: a user's own folder is not
 * written into. Never throws: a mark that cannot be written only loses that warning.
 */
export function markModelInUse(folder: string): () => void {
  if (!existsSync(join(folder, COMPLETION_MARKER))) return () => undefined;
  const key = comparable(folder);
  let mark = marksHere.get(key);
  if (!mark) {
    mark = { loads: 0 };
    const path = inUseMarkPath(folder, process.pid);
    try {
      // `watched`: a model process forked by a window (an IPC channel), which never outlives it.
      writeFileSync(path, JSON.stringify({ pid: process.pid, parentPid: process.ppid, watched: process.channel !== undefined }));
      mark.path = path;
    } catch {
      // read-only or gone: no mark, no warning
    }
    if (marksHere.size === 0) process.on('exit', removeMarksHere);
    marksHere.set(key, mark);
  }
  mark.loads += 1;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const held = marksHere.get(key);
    if (!held || --held.loads > 0) return;
    marksHere.delete(key);
    if (marksHere.size === 0) process.off('exit', removeMarksHere);
    removeInUseMark(held.path);
  };
}

/**
 * The live processes with a model loaded from the folder, by pid, but for this one and the
 * model processes it started (a window's models load in processes it forks): another VS Code
 * window's, the relay CLI's.
 */
export function loadedElsewhere(folder: string): number[] {
  let names: string[];
  try {
    names = readdirSync(folder);
  } catch {
    return [];
  }
  const pids: number[] = [];
  for (const name of names) {
    if (!name.startsWith(IN_USE_PREFIX)) continue;
    const pid = Number(name.slice(IN_USE_PREFIX.length));
    if (!Number.isInteger(pid) || pid <= 0 || pid === process.pid || !processAlive(pid)) continue;
    const { parent, watched } = markOwner(join(folder, name));
    if (parent === process.pid) continue;
    // A model process never outlives the window that started it (its watchdog): a mark of one
    // whose parent is gone was left by a process killed with it, and its pid may be another's
    // now. (The CLI loads in its own process, which may outlive the shell that started it.)
    if (watched && parent !== undefined && !processAlive(parent)) continue;
    pids.push(pid);
  }
  return pids.sort((a, b) => a - b);
}

/** The parent a mark records (undefined when unreadable: being written, or not Relay's), and whether its process is a watched model process. */
function markOwner(path: string): { parent?: number; watched: boolean } {
  try {
    const mark = JSON.parse(readFileSync(path, 'utf8')) as { parentPid?: unknown; watched?: unknown };
    return { parent: typeof mark.parentPid === 'number' ? mark.parentPid : undefined, watched: mark.watched === true };
  } catch {
    return { watched: false };
  }
}
