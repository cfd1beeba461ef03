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

test('taken, it names this process (and host, where shared); a second take is refused naming it; released, it is gone and can be taken again', () => {
  for (const options of [{}, { shared: true }]) {
    const path = join(dir, 'a.lock');
    const first = takeOwnerLock(path, options);
    assert.ok(first.taken);
    const owner = options.shared ? { pid: process.pid, host: hostname() } : { pid: process.pid };
    assert.deepEqual(liveLockOwner(path, options), owner);
    // The format each always had, which a window of an older version reads: "<pid> <nonce>" (model store), JSON (answers file).
    assert.match(readFileSync(path, 'utf8'), options.shared ? /^\{"pid":\d+,"host":".*","nonce":"[0-9a-f]{16}"\}\n$/ : /^\d+ [0-9a-f]{16}$/);
    const second = takeOwnerLock(path, options);
    assert.deepEqual(second, { taken: false, heldBy: owner });
    first.release();
    assert.equal(existsSync(path), false);
    assert.equal(liveLockOwner(path, options), undefined);
    const again = takeOwnerLock(path, options);
    assert.ok(again.taken);
    again.release();
  }
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

test("a shared lock of another machine (a network drive) is never taken for stale; an unshared one's host is not read (a host renamed under a running machine)", () => {
  const path = join(dir, 'd.lock');
  writeOld(path, JSON.stringify({ pid: deadPid(), host: 'other-machine' }));
  const attempt = takeOwnerLock(path, { shared: true });
  assert.equal(attempt.taken, false);
  assert.equal(!attempt.taken && attempt.heldBy?.host, 'other-machine');
  const unshared = takeOwnerLock(path);
  assert.ok(unshared.taken, 'its pid is dead here: taken over');
  unshared.release();
});

test('an empty lock written a moment ago is being written (a filesystem without hard links), not stale: refused, no owner named', () => {
  const path = join(dir, 'e.lock');
  writeFileSync(path, '');
  assert.deepEqual(takeOwnerLock(path), { taken: false, heldBy: undefined });
  assert.equal(readFileSync(path, 'utf8'), '', 'left as it was');
  rmSync(path);
});

test("a model download's lock is this lock, on this machine's disk: a crashed window's lock under another host name (macOS renames the host by network) is taken over; a live one keeps the folder busy", async () => {
  const folder = mkdtempSync(join(dir, 'model-'));
  writeOld(join(folder, LOCK_FILE), JSON.stringify({ pid: deadPid(), host: `${hostname()}.lan` }));
  const release = await acquireLock(folder, 'org/model@main');
  assert.match(readFileSync(join(folder, LOCK_FILE), 'utf8'), new RegExp(`^${process.pid} [0-9a-f]{16}$`), 'the pid first, as older versions read it');
  await release();
  assert.equal(existsSync(join(folder, LOCK_FILE)), false);
  writeFileSync(join(folder, LOCK_FILE), `${process.ppid} 0123abcd`);
  await assert.rejects(acquireLock(folder, 'org/model@main'), /org\/model@main is already being downloaded/);
  rmSync(join(folder, LOCK_FILE));
});

test('with staleAfterMs (a lock held a moment at a time): a live owner keeps it until that old, then it is taken over; one naming no owner waits that long too; a dead one is taken at once', () => {
  const path = join(dir, 'f.lock');
  const options = { staleAfterMs: 30_000 };
  const live = `${process.ppid} 0123abcd`;
  writeFileSync(path, live);
  assert.deepEqual(takeOwnerLock(path, options), { taken: false, heldBy: { pid: process.ppid } });
  writeOld(path, live);
  const hung = takeOwnerLock(path, options);
  assert.ok(hung.taken, 'held for a minute: taken over though its process runs');
  hung.release();
  // Written 10 s ago: past BEING_WRITTEN_MS, yet an older version's empty lock is left alone until staleAfterMs.
  for (const ownerless of ['', 'garbage']) {
    writeFileSync(path, ownerless);
    const tenSecondsAgo = new Date(Date.now() - 10_000);
    utimesSync(path, tenSecondsAgo, tenSecondsAgo);
    assert.deepEqual(takeOwnerLock(path, options), { taken: false, heldBy: undefined }, JSON.stringify(ownerless));
    assert.equal(readFileSync(path, 'utf8'), ownerless, 'left as it was');
    writeOld(path, ownerless);
    const old = takeOwnerLock(path, options);
    assert.ok(old.taken, `${JSON.stringify(ownerless)}: taken once a minute old`);
    old.release();
  }
  writeFileSync(path, `${deadPid()} 0123abcd`);
  const dead = takeOwnerLock(path, options);
  assert.ok(dead.taken, 'a dead owner: at once');
  dead.release();
});

test('held says whether the lock is still the one taken: no longer once taken over as stale (its holder slow, not dead), nor once released', () => {
  const path = join(dir, 'g.lock');
  for (const options of [{ staleAfterMs: 30_000 }, { shared: true, staleAfterMs: 30_000 }]) {
    const slow = takeOwnerLock(path, options);
    assert.ok(slow.taken);
    assert.equal(slow.held(), true);
    const longAgo = new Date(Date.now() - 60_000);
    utimesSync(path, longAgo, longAgo);
    const other = takeOwnerLock(path, options);
    assert.ok(other.taken, 'held a minute: taken over');
    assert.equal(slow.held(), false, 'the slow holder can tell');
    assert.equal(other.held(), true);
    slow.release();
    assert.equal(other.held(), true, "the slow holder's release leaves the new one's lock");
    other.release();
    assert.equal(other.held(), false);
  }
});
