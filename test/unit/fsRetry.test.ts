// renameRetrying / rmRetrying: on win32 a brief lock (EPERM, EBUSY, EACCES) is waited out
// for a bounded time; any other error, and every error elsewhere, is thrown at once.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { renameRetrying, rmRetrying } from '../../src/core/fsRetry';

function errno(code: string, attempt: number): NodeJS.ErrnoException {
  return Object.assign(new Error(`${code} on attempt ${attempt}`), { code, syscall: 'rename', path: 'from' });
}

/** A rename that fails with `code` for its first `failures` calls (Infinity: always), then succeeds; counts its calls. */
function flakyRename(code: string, failures: number): { rename: (from: string, to: string) => Promise<void>; calls: () => number } {
  let calls = 0;
  return {
    rename: async () => {
      calls++;
      if (calls <= failures) throw errno(code, calls);
    },
    calls: () => calls,
  };
}

for (const code of ['EPERM', 'EBUSY', 'EACCES']) {
  test(`win32: a rename failing 3 times with ${code} is retried and succeeds`, async () => {
    const flaky = flakyRename(code, 3);
    await renameRetrying('from', 'to', { platform: 'win32', rename: flaky.rename });
    assert.equal(flaky.calls(), 4);
  });
}

test('win32: ENOENT is thrown at once, not retried', async () => {
  const flaky = flakyRename('ENOENT', Infinity);
  await assert.rejects(renameRetrying('from', 'to', { platform: 'win32', rename: flaky.rename }), { code: 'ENOENT' });
  assert.equal(flaky.calls(), 1);
});

test('win32: a lock that outlasts the bound gives up with the last error', async () => {
  const flaky = flakyRename('EPERM', Infinity);
  const failure = await renameRetrying('from', 'to', { platform: 'win32', maxWaitMs: 30, rename: flaky.rename }).then(
    () => assert.fail('must give up'),
    (error: NodeJS.ErrnoException) => error,
  );
  assert.ok(flaky.calls() > 1, `retried (${flaky.calls()} calls)`);
  assert.equal(failure.code, 'EPERM');
  assert.equal(failure.message, `EPERM on attempt ${flaky.calls()}`);
});

for (const platform of ['linux', 'darwin'] as const) {
  test(`${platform}: EPERM is thrown at once, as fs.rename throws it`, async () => {
    const flaky = flakyRename('EPERM', 1);
    await assert.rejects(renameRetrying('from', 'to', { platform, rename: flaky.rename }), { code: 'EPERM', message: 'EPERM on attempt 1' });
    assert.equal(flaky.calls(), 1);
  });
}

test('win32: rmRetrying retries a removal refused with EBUSY, passing its options', async () => {
  let calls = 0;
  const seen: unknown[] = [];
  const rm = async (_path: string, options: unknown) => {
    seen.push(options);
    if (++calls <= 2) throw errno('EBUSY', calls);
  };
  await rmRetrying('file', { force: true }, { platform: 'win32', rm });
  assert.equal(calls, 3);
  assert.deepEqual(seen, [{ force: true }, { force: true }, { force: true }]);
});

test('by default it renames and removes real files as fs does', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-fs-retry-'));
  try {
    writeFileSync(join(dir, 'a.tmp'), 'whole');
    await renameRetrying(join(dir, 'a.tmp'), join(dir, 'a'));
    assert.equal(readFileSync(join(dir, 'a'), 'utf8'), 'whole');
    await assert.rejects(renameRetrying(join(dir, 'missing'), join(dir, 'b')), { code: 'ENOENT' });
    await rmRetrying(join(dir, 'a'), { force: true });
    assert.ok(!existsSync(join(dir, 'a')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
