// The download lock of a model folder (modelStore.acquireLock): the busy message names the
// lock file so a user can remove a stale one, a lock of this very process is never taken
// for stale (however the folder is reached), and two processes taking over one stale lock
// at the same moment never both hold it (real child processes).
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { ModelDownloadError } from '../../../src/core/models/errors';
import { acquireLock, LOCK_FILE } from '../../../src/core/models/modelStore';

const REPO_ROOT = join(__dirname, '..', '..', '..');
const scratch: string[] = [];

function scratchFolder(): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-lock-'));
  scratch.push(dir);
  return dir;
}

after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** The pid of a process that has exited (so a lock naming it is stale). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  assert.ok(child.pid);
  return child.pid;
}

function isBusy(error: unknown): error is ModelDownloadError {
  return error instanceof ModelDownloadError && error.code === 'busy';
}

test('a lock held by another live process is busy, and the message names the lock file to delete if it is stale', async () => {
  const folder = scratchFolder();
  // The test runner that started this process is alive, and it is not this process.
  writeFileSync(join(folder, LOCK_FILE), `${process.ppid} 0123abcd`);
  await assert.rejects(acquireLock(folder, 'org/model@main'), (error: unknown) => {
    assert.ok(isBusy(error), String(error));
    assert.ok(error.message.includes(join(folder, LOCK_FILE)), error.message);
    assert.match(error.message, /^org\/model@main is already being downloaded/);
    return true;
  });
});

test("a lock naming this process's own pid is never taken over as stale", async () => {
  const folder = scratchFolder();
  writeFileSync(join(folder, LOCK_FILE), String(process.pid));
  await assert.rejects(acquireLock(folder, 'org/model@main'), isBusy);
});

test('one folder reached by two paths (a link, or another letter case on a case-insensitive disk) is locked once', async () => {
  const root = scratchFolder();
  const folder = join(root, 'Model@main');
  mkdirSync(folder);
  const otherPath = join(root, 'model@main');
  symlinkSync(folder, otherPath);
  const release = await acquireLock(folder, 'Org/Model@main');
  try {
    await assert.rejects(acquireLock(otherPath, 'org/model@main'), isBusy);
  } finally {
    await release();
  }
  // Released: either path takes it again.
  const again = await acquireLock(otherPath, 'org/model@main');
  await again();
});

test('a lock is released only while it is still ours: one another process put in its place stays', async () => {
  const folder = scratchFolder();
  const release = await acquireLock(folder, 'org/model@main');
  const theirs = `${process.ppid} feedface`;
  writeFileSync(join(folder, LOCK_FILE), theirs);
  await release();
  await assert.rejects(acquireLock(folder, 'org/model@main'), isBusy);
});

test('two processes taking over the same stale lock at the same moment never both hold it', async () => {
  const root = scratchFolder();
  const slots = 30;
  const slotMs = 40;
  const stale = deadPid();
  for (let slot = 0; slot < slots; slot += 1) {
    mkdirSync(join(root, String(slot)));
    writeFileSync(join(root, String(slot), LOCK_FILE), `${stale} 00000000`);
  }
  const contenders = [0, 1].map(() => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'lockContender.ts'), root, String(slots), String(slotMs)], {
      cwd: REPO_ROOT,
      stdio: ['pipe', 'pipe', 'inherit'],
      timeout: 60_000,
    });
    let output = '';
    const ready = new Promise<void>((resolve) =>
      child.stdout.on('data', (chunk) => {
        output += String(chunk);
        if (output.includes('READY')) resolve();
      }),
    );
    const done = new Promise<{ acquired: number[]; overlaps: number[] }>((resolve, reject) =>
      child.on('close', (code) => {
        const report = output.split('\n').find((line) => line.startsWith('{'));
        if (code === 0 && report) resolve(JSON.parse(report));
        else reject(new Error(`the contender exited with ${code}: ${output}`));
      }),
    );
    return { child, ready, done };
  });
  // Both are loaded before the clock starts, so that every slot starts in both at once.
  await Promise.all(contenders.map((contender) => contender.ready));
  const startAt = Date.now() + 300;
  for (const { child } of contenders) child.stdin.end(`${startAt}\n`);
  const [first, second] = await Promise.all(contenders.map((contender) => contender.done));

  assert.deepEqual([...first.overlaps, ...second.overlaps], [], 'no slot where both processes held the lock at once');
  for (let slot = 0; slot < slots; slot += 1) {
    assert.ok(first.acquired.includes(slot) || second.acquired.includes(slot), `the stale lock of slot ${slot} was taken over`);
  }
});
