/**
 * Where downloaded models live and how a whole one is told from a half-written one:
 * `<root>/models/<owner>/<name>@<revision>/` holds the files under their repository
 * paths; `.relay-model.json` (the completion marker) is written last, atomically, and
 * lists every verified file. A folder without a valid marker is incomplete.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { link, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ModelDownloadError } from './errors';
import { checkRepoId, checkRevision, type HubFile } from './hubApi';

export const COMPLETION_MARKER = '.relay-model.json';
export const LOCK_FILE = '.relay-download.lock';
export const PARTIAL_SUFFIX = '.partial';

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
  /** Variants whose download finished (from the marker, every listed file present with its size). */
  variants: string[];
}

/**
 * `complete` when the marker is valid and every file it lists is present with its size
 * (and, when `variant` is given, that variant was downloaded); `incomplete` when the
 * folder exists otherwise (an interrupted download, resumed by the next one).
 */
export function modelStatus(storageRoot: string, repo: string, revision: string, variant?: string): ModelStatus {
  const folder = modelFolder(storageRoot, repo, revision);
  if (!existsSync(folder)) return { folder, state: 'absent', variants: [] };
  const marker = readMarker(folder);
  const whole = marker !== undefined && marker.files.every((file) => sizeMatches(join(folder, file.path), file.size));
  const variants = whole ? marker.variants : [];
  const state: ModelState = whole && (variant === undefined || variants.includes(variant)) ? 'complete' : 'incomplete';
  return { folder, state, variants };
}

function sizeMatches(path: string, size: number | undefined): boolean {
  try {
    const stat = statSync(path);
    return stat.isFile() && (size === undefined || stat.size === size);
  } catch {
    return false;
  }
}

/** Writes the marker through a temporary file and a rename, so it is whole or absent. */
export async function writeMarker(folder: string, marker: CompletionMarker): Promise<void> {
  const temp = join(folder, `${COMPLETION_MARKER}.tmp`);
  await writeFile(temp, `${JSON.stringify(marker, null, 2)}\n`);
  await rename(temp, join(folder, COMPLETION_MARKER));
}

/** Folders of this process that are downloading now (a second download of one is refused). */
const activeFolders = new Set<string>();

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Takes the folder's download lock (a file with the owner's pid), so that two windows
 * never write one `.partial` file at once. A lock left by a process that died is taken over.
 */
export async function acquireLock(folder: string, label: string): Promise<() => Promise<void>> {
  const path = join(folder, LOCK_FILE);
  const busy = (): ModelDownloadError =>
    new ModelDownloadError('busy', `${label} is already being downloaded (in this or another VS Code window). Wait for it to finish, or cancel it there.`);
  if (activeFolders.has(folder)) throw busy();
  activeFolders.add(folder); // before any await: a second call in this process sees it at once
  // The lock appears with its pid in it (a hard link of a finished file), never empty.
  const temp = `${path}.${process.pid}.${Date.now()}`;
  try {
    await writeFile(temp, String(process.pid));
    for (let attempt = 0; attempt < 2; attempt += 1) {
      try {
        await link(temp, path);
        return async () => {
          activeFolders.delete(folder);
          await rm(path, { force: true });
        };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
        const owner = Number((await readFile(path, 'utf8').catch(() => '')).trim());
        if (Number.isInteger(owner) && owner > 0 && owner !== process.pid && processAlive(owner)) throw busy();
        await rm(path, { force: true }); // stale: its process is gone
      }
    }
    throw busy();
  } catch (error) {
    activeFolders.delete(folder);
    throw error;
  } finally {
    await rm(temp, { force: true });
  }
}
