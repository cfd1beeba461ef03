// A downloaded model loaded by this process is marked in its folder (`.relay-in-use-<pid>`), so
// Remove Downloaded Models in another VS Code window warns before removing a model in use; the
// mark goes when the runtime is disposed, or when its load fails. Real parts: the tiny generated
// model, loaded by ONNX Runtime.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { after, test } from 'node:test';
import { writeMarker } from '../../../src/core/models/modelStore';
import { IN_USE_PREFIX } from '../../../src/core/models/storedModels';
import { listVariants } from '../../../src/core/slm/modelFolder';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
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
