// ProcessRuntime.running: whether a call is answered without a load. Read by the relay engine
// before it counts, so that a dead process is not started again (a reload takes minutes) just to
// count an answer's figures. Reading it starts nothing. Real child processes (the fake worker).
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { fakeWorkerStarts, killFakeWorkers, writeFakeWorker } from './fakeWorker';

/** Far longer than any of these takes; reached only by something that hangs. */
const ENDS_WITHIN_MS = 30_000;

let dir: string;
let fake: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'relay-slm-running-'));
  fake = join(dir, 'fakeWorker.js');
  writeFakeWorker(fake);
});
after(() => {
  killFakeWorkers(fake);
  rmSync(dir, { recursive: true, force: true });
});

async function until(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + ENDS_WITHIN_MS;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`HUNG: ${what} did not happen within ${ENDS_WITHIN_MS} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test(
  'running: true once loaded; false after its process died (reading it starts none), while a new one loads, and after dispose()',
  { skip: process.platform !== 'linux' && 'kills by pid' },
  async () => {
    const folder = join(dir, 'slow-load');
    mkdirSync(folder, { recursive: true });
    const runtime = await createProcessRuntime(folder, { workerPath: fake });
    try {
      assert.equal(runtime.running, true);
      process.kill(runtime.pid!, 'SIGKILL');
      await until(() => !runtime.running, 'the runtime seeing its process gone');
      const starts = fakeWorkerStarts(fake);
      for (let i = 0; i < 3; i++) assert.equal(runtime.running, false);
      assert.equal(fakeWorkerStarts(fake), starts, 'reading it started no process');
      const loading = runtime.ensureStarted();
      await until(() => fakeWorkerStarts(fake) === starts + 1, 'the new process');
      assert.equal(runtime.running, false, 'not while the new process loads (slow-load: 300 ms)');
      await loading;
      assert.equal(runtime.running, true);
    } finally {
      await runtime.dispose();
    }
    assert.equal(runtime.running, false, 'not after dispose()');
  },
);
