// The one lock that names its owner (src/core/ownerLock.ts), under the model downloads and
// relay eval's answers file: who holds it, what is taken over, and that a release never
// removes a lock another process holds now.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { liveLockOwner, parseLockOwner, takeOwnerLock } from '../../src/core/ownerLock';
import { acquireLock, LOCK_FILE } from '../../src/core/models/modelStore';

const dir = mkdtempSync(join(tmpdir(), 'relay-owner-lock-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid as number;
}

function writeOld(path: string, content: string): void {
  writeFileSync(path, content);
  const longAgo = new Date(Date.now() - 60_000);
  utimesSync(path, longAgo, longAgo);
}

test('the owner is read from every format a lock has been written in; anything else names no owner', () => {
  assert.deepEqual(parseLockOwner('{"pid":42,"host":"box","nonce":"ab"}\n'), { pid: 42, host: 'box' });
  assert.deepEqual(parseLockOwner('{"pid":42}'), { pid: 42 });
  assert.deepEqual(parseLockOwner('42 0123abcd'), { pid: 42 });
  assert.deepEqual(parseLockOwner('42'), { pid: 42 });
  for (const bad of ['', '   ', '{"pid":"42"}', '{"pid":-1}', '{"pid":1.5}', '{not json', 'abc 42', '0']) {
    assert.equal(parseLockOwner(bad), undefined, JSON.stringify(bad));
  }
});

test('taken, it names this process and host; a second take is refused naming it; released, it is gone and can be taken again', () => {
  const path = join(dir, 'a.lock');
  const first = takeOwnerLock(path);
  assert.ok(first.taken);
  assert.deepEqual(liveLockOwner(path), { pid: process.pid, host: hostname() });
  const second = takeOwnerLock(path);
  assert.deepEqual(second, { taken: false, heldBy: { pid: process.pid, host: hostname() } });
  first.release();
  assert.equal(existsSync(path), false);
  assert.equal(liveLockOwner(path), undefined);
  const again = takeOwnerLock(path);
  assert.ok(again.taken);
  again.release();
});

test('a release leaves alone a lock that is no longer its own (taken over after it was thought stale, or rewritten by hand)', () => {
  const path = join(dir, 'b.lock');
  const mine = takeOwnerLock(path);
  assert.ok(mine.taken);
  const theirs = JSON.stringify({ pid: process.ppid, host: hostname(), nonce: 'theirs' });
  writeFileSync(path, theirs);
  mine.release();
  assert.equal(readFileSync(path, 'utf8'), theirs);
  rmSync(path);
});

test('a lock whose process died is taken over, in every format; one empty for a while (a power loss) too', () => {
  const path = join(dir, 'c.lock');
  const gone = deadPid();
  for (const stale of [JSON.stringify({ pid: gone, host: hostname() }), `${gone} 0123abcd`, String(gone), '', 'garbage']) {
    writeOld(path, stale);
    assert.equal(liveLockOwner(path), undefined, stale);
    const attempt = takeOwnerLock(path);
    assert.ok(attempt.taken, `taken over: ${JSON.stringify(stale)}`);
    assert.equal(liveLockOwner(path)?.pid, process.pid);
    attempt.release();
  }
});

test('a lock of another machine (a network drive) is never taken for stale: its processes cannot be seen from here', () => {
  const path = join(dir, 'd.lock');
  writeOld(path, JSON.stringify({ pid: deadPid(), host: 'other-machine' }));
  const attempt = takeOwnerLock(path);
  assert.equal(attempt.taken, false);
  assert.equal(!attempt.taken && attempt.heldBy?.host, 'other-machine');
  rmSync(path);
});

test('an empty lock written a moment ago is being written (a filesystem without hard links), not stale: refused, no owner named', () => {
  const path = join(dir, 'e.lock');
  writeFileSync(path, '');
  assert.deepEqual(takeOwnerLock(path), { taken: false, heldBy: undefined });
  assert.equal(readFileSync(path, 'utf8'), '', 'left as it was');
  rmSync(path);
});

test("a model download's lock is this lock: a download running on another machine keeps the folder busy", async () => {
  const folder = mkdtempSync(join(dir, 'model-'));
  writeOld(join(folder, LOCK_FILE), JSON.stringify({ pid: deadPid(), host: 'other-machine' }));
  await assert.rejects(acquireLock(folder, 'org/model@main'), /org\/model@main is already being downloaded/);
  rmSync(join(folder, LOCK_FILE));
  const release = await acquireLock(folder, 'org/model@main');
  assert.equal(liveLockOwner(join(folder, LOCK_FILE))?.pid, process.pid);
  await release();
  assert.equal(existsSync(join(folder, LOCK_FILE)), false);
});
