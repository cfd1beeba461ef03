// The free-space check before a download, against a local hub (fakeHub.ts, real servers on
// 127.0.0.1) and real files: it runs before any file in place is touched, so a disk without
// room for a second variant leaves the installed one whole, and it counts the bytes that the
// files it replaces free.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { downloadModel } from '../../../src/core/models/downloader';
import { modelFolder, modelStatus, PENDING_DOWNLOAD } from '../../../src/core/models/modelStore';
import { bytes, demoRepoFiles, downloadFailure, FakeHub } from './fakeHub';

const REPO = 'onnx-community/Shared-ONNX';
/** Free bytes the tests' disk claims: far less than a graph, or than the tokenizer. */
const ALMOST_FULL = async (): Promise<number> => 1_000;

let hub: FakeHub;
const scratch: string[] = [];

/** A tokenizer of `version`, the same size for each version, larger than ALMOST_FULL. */
function tokenizer(version: number): Buffer {
  return Buffer.from(JSON.stringify({ version, padding: 'x'.repeat(20_000) }));
}

/** The repository with two variants that share tokenizer.json. */
function repoFiles(tokenizerVersion: number): Record<string, Buffer> {
  return { ...demoRepoFiles(), 'tokenizer.json': tokenizer(tokenizerVersion), 'onnx/model_q4.onnx': bytes(200_000, 3) };
}

before(async () => {
  hub = await FakeHub.start({ [REPO]: { commit: 'a'.repeat(40), files: repoFiles(1) } });
});
after(async () => {
  await hub.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** A storage root with the q4 variant downloaded whole, then main moved on to tokenizer.json version 2. */
async function q4InstalledThenTokenizerChanged(): Promise<string> {
  const root = mkdtempSync(join(tmpdir(), 'relay-free-space-'));
  scratch.push(root);
  hub.repos.set(REPO, { commit: 'a'.repeat(40), files: repoFiles(1) });
  await downloadModel(await hub.variantRequest(REPO, root, 'q4'));
  assert.equal(modelStatus(root, REPO, 'main', 'q4').state, 'complete');
  hub.repos.set(REPO, { commit: 'b'.repeat(40), files: repoFiles(2) });
  return root;
}

test('a disk without room for a second variant refuses it before touching the installed one: its shared tokenizer.json stays, the variant stays whole', async () => {
  const root = await q4InstalledThenTokenizerChanged();
  const folder = modelFolder(root, REPO, 'main');
  hub.log.length = 0;

  const error = await downloadFailure(downloadModel(await hub.variantRequest(REPO, root, 'int8', { freeBytes: ALMOST_FULL })));
  assert.equal(error.code, 'disk_full', error.message);
  assert.ok(error.message.includes(`to download ${REPO}. The model needs`), error.message);

  assert.equal(modelStatus(root, REPO, 'main', 'q4').state, 'complete', 'the q4 variant in use is still whole');
  assert.ok(readFileSync(join(folder, 'tokenizer.json')).equals(tokenizer(1)), 'its tokenizer.json was not deleted');
  assert.equal(existsSync(join(folder, PENDING_DOWNLOAD)), false, 'no download was recorded as under way');
  assert.equal(hub.requests({ method: 'GET', pathIncludes: '/resolve/' }).length, 0, 'nothing was downloaded');
});

test('the bytes of the files a download replaces count as free: a new tokenizer.json of the same size fits a nearly full disk', async () => {
  const root = await q4InstalledThenTokenizerChanged();

  await downloadModel(await hub.variantRequest(REPO, root, 'q4', { freeBytes: ALMOST_FULL }));
  assert.equal(modelStatus(root, REPO, 'main', 'q4').state, 'complete');
  assert.ok(readFileSync(join(modelFolder(root, REPO, 'main'), 'tokenizer.json')).equals(tokenizer(2)));
});
