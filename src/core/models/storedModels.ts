/**
 * What the model store holds, and its removal: each folder under `<root>/models/<owner>/`
 * (a downloaded model, `<name>@<revision>`) with its size on disk, partial downloads
 * included, the variants it holds, whether its download finished and which settings point
 * into it. Removal takes the folder's download lock first, so a download running in this or
 * another window is never pulled from under it. VS Code never deletes an extension's global
 * storage, so this is the only way these gigabytes go. No VS Code here: "Relay: Remove
 * Downloaded Models" (src/extension/removeModels.ts) shows it.
 */
import { existsSync, realpathSync } from 'node:fs';
import { lstat, readdir, rmdir } from 'node:fs/promises';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { rmRetrying, type RmRetryOptions } from '../fsRetry';
import { VARIANT_FILES } from '../slm/modelFolder';
import { isModelDownloadError } from './errors';
import { acquireLock, downloadLockHolder, LOCK_FILE, modelStatus, PARTIAL_SUFFIX, readPendingDownload } from './modelStore';

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
}

/** Tests inject a failing removal, or another platform's error handling. */
export type RemovalOptions = Pick<RmRetryOptions, 'rm' | 'platform'>;

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

async function describeFolder(storageRoot: string, owner: string, folderName: string, uses: FolderUse[]): Promise<StoredModel> {
  const folder = join(modelStoreFolder(storageRoot), owner, folderName);
  const at = folderName.indexOf('@');
  const name = at < 0 ? folderName : folderName.slice(0, at);
  const revision = at < 0 ? '' : folderName.slice(at + 1).replace(/%2F/gi, '/');
  const repo = `${owner}/${name}`;
  const files = await filesUnder(folder);
  const partials = files.filter((file) => isPartialFile(file.path));
  let status: ReturnType<typeof modelStatus> | undefined;
  try {
    status = revision ? modelStatus(storageRoot, repo, revision) : undefined;
  } catch {
    status = undefined; // a folder name Relay would not make: not a download it finished
  }
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
 * Removes a model folder of the store, under its download lock: a folder another download
 * (this window or another) is writing into is refused. The lock file goes last, so no
 * download can start in the folder while its files are removed. Never throws: the outcome
 * says what was freed and, per folder, why something is left.
 */
export async function removeStoredModel(
  storageRoot: string,
  model: Pick<StoredModel, 'folder' | 'label'>,
  options: RemovalOptions = {},
): Promise<RemovalOutcome> {
  const { folder, label } = model;
  const refused = notInStore(storageRoot, folder);
  if (refused) return { folder, label, freedBytes: 0, problem: refused };
  if (!existsSync(folder)) return { folder, label, freedBytes: 0 };
  const before = sum(await filesUnder(folder));
  let problem = await underLock(
    folder,
    label,
    async () => {
      for (const entry of await readdir(folder)) {
        if (entry !== LOCK_FILE) await rmRetrying(join(folder, entry), { recursive: true, force: true }, options);
      }
    },
    options.platform,
  );
  if (!problem) {
    try {
      await rmdir(folder);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') {
        problem = `A download into ${folder} started while it was being removed (in this or another VS Code window); what it writes is kept. Remove the model again once that download has finished or been cancelled.`;
      } else if (code !== 'ENOENT') {
        problem = removalProblem(error, folder, options.platform);
      }
    }
    // The owner's folder goes with its last model; another model of that owner keeps it.
    await rmdir(dirname(folder)).catch(() => undefined);
  }
  const after = existsSync(folder) ? sum(await filesUnder(folder)) : 0;
  return { folder, label, freedBytes: Math.max(0, before - after), problem };
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
  if (refused) return { folder, label, freedBytes: 0, problem: refused };
  if (!existsSync(folder)) return { folder, label, freedBytes: 0 };
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
    options.platform,
  );
  return { folder, label, freedBytes, problem };
}

/** Runs `remove` holding the folder's download lock; the problem that stopped it, if any. */
async function underLock(folder: string, label: string, remove: () => Promise<void>, platform?: NodeJS.Platform): Promise<string | undefined> {
  let release: () => Promise<void>;
  try {
    release = await acquireLock(folder, label);
  } catch (error) {
    if (isModelDownloadError(error) && error.code === 'busy') {
      return `${label} is being downloaded (in this or another VS Code window), so ${folder} was not touched. Wait for the download to finish, or cancel it there, then remove it again. If no download is running (a window that crashed left its lock), delete ${join(folder, LOCK_FILE)} first.`;
    }
    return removalProblem(error, folder, platform);
  }
  try {
    await remove();
    return undefined;
  } catch (error) {
    return removalProblem(error, folder, platform);
  } finally {
    await release().catch(() => undefined);
  }
}

/** A failed removal as a message that names the file and says what to do. */
function removalProblem(error: unknown, folder: string, platform: NodeJS.Platform = process.platform): string {
  const errno = error as NodeJS.ErrnoException;
  const path = typeof errno?.path === 'string' ? errno.path : folder;
  const code = typeof errno?.code === 'string' ? errno.code : undefined;
  if (!code) return `Cannot remove ${path}: ${errno instanceof Error ? errno.message : String(error)}. Remove ${folder} by hand.`;
  if (platform === 'win32' && (code === 'EBUSY' || code === 'EPERM' || code === 'EACCES')) {
    return `Cannot remove ${path} (${code}): the file is in use, by a small model loaded for an answer being written, an antivirus scan or another program. Stop the answer (Relay: Stop) or close what uses it, then remove the model again.`;
  }
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return `Cannot remove ${path} (${code}): permission denied. Check the permissions of ${folder}, or remove it by hand.`;
  }
  return `Cannot remove ${path} (${code}${errno.syscall ? ` on ${errno.syscall}` : ''}). Check the folder and its disk, or remove ${folder} by hand.`;
}
