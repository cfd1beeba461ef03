// A model whose weights are written over in place (same path, same inode: `cp` onto the
// external data file) while its runtime runs: the kept KV caches, computed by the old
// weights, are not reused (the prefill says why), and caches made afterwards are.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { tinyModelSpec } from '../../fixtures/fixtures';
import { writeDecoderFolder } from '../../fixtures/modelFolder';
import { buildTinyTokenizer } from '../../fixtures/tinyTokenizer';
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { filesFingerprint, modelWeightsFingerprint } from '../../../src/core/slm/modelFolder';

const PROMPT = '<|im_start|>user\nHello there, how are you today?<|im_end|>\n<|im_start|>assistant\n';

let root: string;
/** Folders of the same shapes, other weights: `b`'s data file is written over `a`'s, `c`'s over `b`'s. */
let folderA: string;
let folderB: string;
let folderC: string;
before(() => {
  root = mkdtempSync(join(tmpdir(), 'relay-weights-changed-'));
  const tokenizer = buildTinyTokenizer();
  [folderA, folderB, folderC] = [7, 8, 9].map((seed, i) => {
    const spec = { ...tinyModelSpec(), seed };
    const folder = join(root, `model-${i}`);
    mkdirSync(join(folder, 'onnx'), { recursive: true });
    writeDecoderFolder(folder, spec, tokenizer, {
      variants: ['fp32'],
      externalData: true,
      shardBytes: 1 << 30,
      generationEosIds: [spec.eosTokenId],
      padTokenId: spec.bosTokenId,
    });
    return folder;
  });
});
let rt: LocalRuntime | undefined;
after(async () => {
  await rt?.dispose();
  rmSync(root, { recursive: true, force: true });
});

/** Writes `from` into `to` in place (the inode stays), as `cp` does. */
function writeOver(to: string, from: string): void {
  const before = statSync(to);
  writeFileSync(to, readFileSync(from));
  const now = statSync(to);
  assert.equal(now.ino, before.ino, 'written in place');
  // A file system whose clock steps coarser than this test: the copy is dated later, as a slower one would be.
  if (now.mtimeMs === before.mtimeMs) utimesSync(to, now.atime, new Date(before.mtimeMs + 1000));
}

async function prefill(prompt: string) {
  const session = await rt!.createSession();
  const result = await session.prefill(prompt);
  await session.generate({ maxTokens: 3 });
  await session.dispose();
  return result;
}

test('weights written over in place: the kept caches are dropped, the prefill says why, and later caches are reused again', async () => {
  rt = await createLocalRuntime(folderA, { variant: 'fp32' });
  const data = join(folderA, 'onnx', 'model.onnx_data');
  await prefill(PROMPT);
  const promptTokens = rt.encode(PROMPT).length;
  assert.equal((await prefill(PROMPT + 'Fine')).reusedTokens, promptTokens, 'before the change, the kept cache is reused');
  const folderKey = modelWeightsFingerprint(folderA);

  writeOver(data, join(folderB, 'onnx', 'model.onnx_data'));
  assert.notEqual(modelWeightsFingerprint(folderA), folderKey, "the folder's fingerprint (relayService's runtime key) changed");
  const after = await prefill(PROMPT + 'Fine thanks');
  assert.equal(after.reusedTokens, 0, 'nothing computed by the old weights is reused');
  assert.match(after.keptCachesDropped ?? '', /model\.onnx_data\b.*changed since it was loaded/);
  assert.deepEqual(rt.keptKvCaches.length, 1, 'only the cache made after the change is kept');

  const again = await prefill(PROMPT + 'Fine thanks');
  assert.ok(again.reusedTokens! > promptTokens, `the cache made after the change is reused (${again.reusedTokens} tokens)`);
  assert.equal(again.keptCachesDropped, undefined);
});

test('the fingerprint of files: the same while untouched, another once one is written, "missing" for one that is not there', () => {
  const file = join(root, 'file');
  writeFileSync(file, 'one');
  const first = filesFingerprint([file, join(root, 'nothing')]);
  assert.equal(filesFingerprint([file, join(root, 'nothing')]), first);
  assert.match(first, /\|missing$/);
  writeOver(file, join(folderB, 'config.json'));
  assert.notEqual(filesFingerprint([file, join(root, 'nothing')]), first);
});

test('a session open while the weights are written over does not leave its old-weights cache to be reused when it ends', async () => {
  await rt?.dispose();
  rt = await createLocalRuntime(folderB, { variant: 'fp32' });
  const open = await rt.createSession();
  await open.prefill(PROMPT);
  writeOver(join(folderB, 'onnx', 'model.onnx_data'), join(folderC, 'onnx', 'model.onnx_data'));
  // A session created after the change drops the kept caches; the one still open holds KV of the old weights.
  const other = await rt.createSession();
  await other.dispose();
  await open.dispose();
  const after = await prefill(PROMPT + 'Fine');
  assert.equal(after.reusedTokens, 0, 'the cache the open session computed with the old weights is not reused');
});
