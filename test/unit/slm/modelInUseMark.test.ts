// A downloaded model loaded by this process is marked in its folder (`.relay-in-use-<pid>`), so
// Remove Downloaded Models in another VS Code window warns before removing a model in use; the
// mark goes when the runtime is disposed, or when its load fails. Real parts: the tiny generated
// model, loaded by ONNX Runtime.
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { writeMarker } from '../../../src/core/models/modelStore';
import { IN_USE_PREFIX, inUseMarkPath, loadedElsewhere } from '../../../src/core/models/storedModels';
import { listVariants } from '../../../src/core/slm/modelFolder';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { createProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { ensureTinyModel } from '../../fixtures/fixtures';

const work = mkdtempSync(join(tmpdir(), 'relay-in-use-mark-'));
after(() => rmSync(work, { recursive: true, force: true }));
const mark = (folder: string) => join(folder, `${IN_USE_PREFIX}${process.pid}`);

/** A copy of the tiny model as a finished download of Relay's (its completion record lists its files). */
async function downloadedCopy(name: string): Promise<string> {
  const folder = join(work, name);
  cpSync(await ensureTinyModel(), folder, { recursive: true });
  const files = (readdirSync(folder, { recursive: true }) as string[])
    .map((path) => join(folder, path))
    .filter((path) => statSync(path).isFile())
    .map((path) => ({ path: relative(folder, path).split('\\').join('/'), size: statSync(path).size }));
  await writeMarker(folder, {
    format: 1,
    repo: 'o/tiny',
    revision: 'main',
    variants: listVariants(folder).map((v) => v.variant),
    files,
    completedAt: '2026-12-05T00:00:00Z',
  });
  return folder;
}

test('a downloaded model is marked in use while its runtime is loaded, and unmarked once disposed', async () => {
  const folder = await downloadedCopy('downloaded');
  const runtime = await createLocalRuntime(folder);
  assert.ok(existsSync(mark(folder)), 'marked while loaded');
  await runtime.dispose();
  assert.equal(existsSync(mark(folder)), false, 'unmarked once disposed');
});

test("a load that fails leaves no mark; a user's own folder (not downloaded) is never written", async () => {
  const broken = await downloadedCopy('broken');
  // Its graphs damaged in place, at their sizes: the download check passes, ONNX Runtime refuses them.
  for (const { path } of listVariants(broken)) writeFileSync(path, Buffer.alloc(statSync(path).size, 7));
  await assert.rejects(createLocalRuntime(broken));
  assert.equal(existsSync(mark(broken)), false, 'a failed load leaves no mark');

  const own = join(work, 'own');
  cpSync(await ensureTinyModel(), own, { recursive: true });
  const runtime = await createLocalRuntime(own);
  try {
    assert.equal(existsSync(mark(own)), false);
  } finally {
    await runtime.dispose();
  }
});

test("a model process killed outright (a window's host exiting, a crash) leaves no mark: its parent removes it", async () => {
  const folder = await downloadedCopy('killed');
  const runtime = await createProcessRuntime(folder);
  try {
    const marks = () => readdirSync(folder).filter((name) => name.startsWith(IN_USE_PREFIX));
    const [marked] = marks();
    assert.ok(marked, 'the model process marked its folder while loaded');
    process.kill(Number(marked.slice(IN_USE_PREFIX.length)), 'SIGKILL');
    for (let i = 0; i < 200 && marks().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.deepEqual(marks(), [], "the killed process's mark went with it");
  } finally {
    await runtime.dispose();
  }
});

test('a process that exits without disposing (process.exit: a worker whose window went, Ctrl-C in the CLI) removes its marks', async () => {
  const folder = await downloadedCopy('exited');
  const script = `const { markModelInUse } = require(${JSON.stringify(join(__dirname, '../../../src/core/models/storedModels.ts'))}); markModelInUse(${JSON.stringify(folder)}); process.exit(0);`;
  const run = spawnSync(process.execPath, ['--import', 'tsx', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(run.status, 0, run.stderr);
  assert.deepEqual(
    readdirSync(folder).filter((name) => name.startsWith(IN_USE_PREFIX)),
    [],
  );
});

test('a model process\'s mark whose window is gone is not "loaded elsewhere" (killed with it; its pid may be reused); a CLI\'s whose shell is gone is', async () => {
  const folder = await downloadedCopy('orphaned');
  const live = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { stdio: 'ignore' });
  try {
    const pid = live.pid as number;
    const gone = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    writeFileSync(inUseMarkPath(folder, pid), JSON.stringify({ pid, parentPid: Number(gone.stdout), watched: true }));
    assert.deepEqual(loadedElsewhere(folder), [], "a window's model process whose window is gone: not listed");
    writeFileSync(inUseMarkPath(folder, pid), JSON.stringify({ pid, parentPid: process.ppid, watched: true }));
    assert.deepEqual(loadedElsewhere(folder), [pid], 'its window alive: listed');
    // The CLI loads in its own process, which outlives the shell that started it (`relay eval … &`, then `exit`).
    writeFileSync(inUseMarkPath(folder, pid), JSON.stringify({ pid, parentPid: Number(gone.stdout), watched: false }));
    assert.deepEqual(loadedElsewhere(folder), [pid], 'a CLI whose shell is gone: listed');
  } finally {
    live.kill('SIGKILL');
  }
});
