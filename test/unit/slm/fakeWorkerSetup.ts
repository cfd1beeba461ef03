/**
 * What a test file of the fake worker (fakeWorker.ts: real child processes) sets up: the worker
 * in a temporary folder of its own, model folders that choose its behaviour by their names, and
 * the waits that tell "ends" from "hangs for ever".
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before } from 'node:test';
import { within as settlesWithin } from '../providers/servers/collect';
import { killFakeWorkers, writeFakeWorker } from './fakeWorker';

/** Far longer than any of these tests takes; reached only by what hangs. */
export const ENDS_WITHIN_MS = 30_000;

/** Settles as `promise` does, or rejects after ENDS_WITHIN_MS saying that `what` hung. */
export const within = <T>(promise: Promise<T>, what: string): Promise<T> => settlesWithin(promise, ENDS_WITHIN_MS, `HUNG: ${what}`);

/** Waits until `condition` holds; fails saying `what` if it does not within ENDS_WITHIN_MS. */
export async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + ENDS_WITHIN_MS;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`HUNG: ${what} did not happen within ${ENDS_WITHIN_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Whether process `pid` still runs (a zombie counts as gone; reads /proc). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

export interface FakeWorkerFolder {
  /** The temporary folder (an extension folder, for a worker at dist/slmWorker.js). */
  readonly root: string;
  /** The worker's script; its starts are logged in starts.log beside it (fakeWorkerStarts). */
  readonly worker: string;
  /** Model folder `name` under root/models, made if missing: the worker's behaviour is chosen by the name. */
  modelFolder(name: string): string;
}

/**
 * The calling test file's fake worker, at `workerAt` in a new temporary folder named from
 * `prefix`: written before the file's tests; after them every process it started is killed and
 * the folder removed.
 */
export function useFakeWorker(prefix: string, workerAt = 'fakeWorker.js'): FakeWorkerFolder {
  const root = mkdtempSync(join(tmpdir(), prefix));
  const worker = join(root, workerAt);
  before(() => {
    mkdirSync(dirname(worker), { recursive: true });
    writeFakeWorker(worker);
  });
  after(() => {
    killFakeWorkers(worker);
    rmSync(root, { recursive: true, force: true });
  });
  return {
    root,
    worker,
    modelFolder: (name) => {
      const path = join(root, 'models', name);
      mkdirSync(path, { recursive: true });
      return path;
    },
  };
}
