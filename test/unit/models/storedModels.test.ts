// The model store's listing and removal (storedModels.ts), on real folders in a temp dir:
// sizes count partial downloads, variants and incomplete downloads are told apart, the
// settings that point into a folder mark it, a folder another process is downloading into
// is refused untouched, partial downloads go alone, a failed removal names the path, a file
// another process maps (Windows) stops the removal before anything the model needs, and the
// marks of processes with a model loaded are listed, this process's own left out.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, sep } from 'node:path';
import { after, test } from 'node:test';
import { acquireLock, COMPLETION_MARKER, LOCK_FILE, modelFolder, modelStatus, writeMarker } from '../../../src/core/models/modelStore';
import {
  IN_USE_PREFIX,
  listStoredModels,
  markModelInUse,
  modelStoreFolder,
  removeStoredModel,
  removeStoredPartials,
  type RemovalOptions,
} from '../../../src/core/models/storedModels';

const scratch: string[] = [];
function storageRoot(): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-store-'));
  scratch.push(dir);
  return dir;
}
after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function writeBytes(path: string, bytes: number): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, Buffer.alloc(bytes, 1));
}

const SMALL_FILES: [string, number][] = [
  ['config.json', 100],
  ['tokenizer.json', 2_000],
  ['tokenizer_config.json', 300],
];

/** A finished download of `variant` (its graph of `graphBytes`), marker and all; returns the folder. */
async function completeModel(root: string, repo: string, revision: string, variant: string, graph: string, graphBytes: number): Promise<string> {
  const folder = modelFolder(root, repo, revision);
  const files: [string, number][] = [...SMALL_FILES, [`onnx/${graph}`, graphBytes]];
  for (const [path, size] of files) writeBytes(join(folder, path), size);
  await writeMarker(folder, {
    format: 1,
    repo,
    revision,
    variants: [variant],
    files: files.map(([path, size]) => ({ path, size })),
    completedAt: new Date().toISOString(),
  });
  return folder;
}

/** A download that was cancelled in the middle of `file`: its `.partial` and the partial's record. */
function partialDownload(folder: string, file: string, bytes: number): void {
  writeBytes(join(folder, `${file}.partial`), bytes);
  writeFileSync(join(folder, `${file}.partial.json`), JSON.stringify({ size: bytes * 2 }));
}

/** The pid of a process that has exited (so a lock naming it is stale). */
function deadPid(): number {
  const child = spawnSync(process.execPath, ['-e', '0']);
  assert.ok(child.pid);
  return child.pid;
}

test('an empty or missing store lists nothing', async () => {
  const root = storageRoot();
  assert.deepEqual(await listStoredModels(join(root, 'never-created')), []);
  assert.deepEqual(await listStoredModels(root), []);
  mkdirSync(join(modelStoreFolder(root), 'onnx-community'), { recursive: true });
  assert.deepEqual(await listStoredModels(root), [], 'an owner folder with no model is not a model');
});

test('each model folder is listed with its size on disk, partial downloads included, its variants and whether it is whole', async () => {
  const root = storageRoot();
  const whole = await completeModel(root, 'onnx-community/Qwen3-0.6B-ONNX', 'main', 'q4', 'model_q4.onnx', 50_000);
  // A second variant of the same folder was cancelled half-way: the q4 stays usable.
  partialDownload(whole, 'onnx/model_fp16.onnx_data', 7_000);
  // A first download cancelled before anything was whole; its revision holds a slash.
  const cut = modelFolder(root, 'HuggingFaceTB/SmolLM2-360M-Instruct', 'refs/pr/1');
  for (const [path, size] of SMALL_FILES) writeBytes(join(cut, path), size);
  partialDownload(cut, 'onnx/model_int8.onnx', 4_000);

  const models = await listStoredModels(root);
  assert.deepEqual(
    models.map((m) => m.label),
    ['HuggingFaceTB/SmolLM2-360M-Instruct@refs/pr/1', 'onnx-community/Qwen3-0.6B-ONNX@main'],
  );
  const [smol, qwen] = models;
  const markerBytes = qwen.bytes - (100 + 2_000 + 300 + 50_000 + 7_000 + `{"size":14000}`.length);
  assert.ok(markerBytes > 0, 'the completion marker is counted too');
  assert.equal(qwen.folder, whole);
  assert.equal(qwen.complete, true);
  assert.deepEqual(qwen.completeVariants, ['q4']);
  assert.deepEqual(qwen.incompleteVariants, ['fp16']);
  assert.equal(qwen.partialBytes, 7_000 + `{"size":14000}`.length);
  assert.deepEqual(qwen.partialFiles.sort(), [join(whole, 'onnx/model_fp16.onnx_data.partial'), join(whole, 'onnx/model_fp16.onnx_data.partial.json')]);

  assert.equal(smol.revision, 'refs/pr/1');
  assert.equal(smol.complete, false);
  assert.deepEqual(smol.completeVariants, []);
  assert.deepEqual(smol.incompleteVariants, ['int8']);
  assert.equal(smol.bytes, 100 + 2_000 + 300 + 4_000 + `{"size":8000}`.length);
  assert.equal(smol.downloadingPid, undefined);
  assert.deepEqual(smol.usedBy, []);
});

test('a folder is marked with each setting that points at it or into it, a link to it included', async () => {
  const root = storageRoot();
  const used = await completeModel(root, 'onnx-community/Qwen3-0.6B-ONNX', 'main', 'q4', 'model_q4.onnx', 1_000);
  const llm = await completeModel(root, 'onnx-community/Qwen3-1.7B-ONNX', 'main', 'int8', 'model_int8.onnx', 1_000);
  const other = await completeModel(root, 'onnx-community/Llama-3.2-1B-Instruct-ONNX', 'main', 'q4', 'model_q4.onnx', 1_000);
  const link = join(storageRoot(), 'my-model');
  symlinkSync(used, link, 'junction');
  const models = await listStoredModels(root, [
    { setting: 'relay.slm.modelFolder', path: link },
    { setting: 'relay.provider.model', path: join(llm, 'onnx') },
    { setting: 'relay.slm.modelFolder', path: `${other}-elsewhere` },
  ]);
  const usedBy = Object.fromEntries(models.map((m) => [m.folder, m.usedBy]));
  assert.deepEqual(usedBy[used], ['relay.slm.modelFolder']);
  assert.deepEqual(usedBy[llm], ['relay.provider.model']);
  assert.deepEqual(usedBy[other], [], 'a sibling path with the same prefix is not inside');
});

test('removing a model frees its bytes, takes the owner folder with its last model and keeps the others', async () => {
  const root = storageRoot();
  const small = await completeModel(root, 'onnx-community/Qwen3-0.6B-ONNX', 'main', 'q4', 'model_q4.onnx', 30_000);
  partialDownload(small, 'onnx/model_fp32.onnx', 5_000);
  const sibling = await completeModel(root, 'onnx-community/Qwen3-1.7B-ONNX', 'main', 'q4', 'model_q4.onnx', 1_000);
  const lone = await completeModel(root, 'HuggingFaceTB/SmolLM2-360M-Instruct', 'main', 'q4', 'model_q4.onnx', 1_000);
  const listed = await listStoredModels(root);
  const byFolder = (folder: string) => listed.find((m) => m.folder === folder) ?? assert.fail(`${folder} is listed`);
  const qwenSmall = byFolder(small);
  const smol = byFolder(lone);

  const outcome = await removeStoredModel(root, qwenSmall);
  assert.equal(outcome.problem, undefined);
  assert.equal(outcome.freedBytes, qwenSmall.bytes);
  assert.ok(!existsSync(small), 'the folder is gone');
  assert.ok(existsSync(sibling), 'another model of the owner stays');

  assert.equal((await removeStoredModel(root, smol)).problem, undefined);
  assert.ok(!existsSync(lone));
  assert.ok(!existsSync(dirname(lone)), 'the owner folder went with its last model');
  assert.deepEqual(
    (await listStoredModels(root)).map((m) => m.label),
    ['onnx-community/Qwen3-1.7B-ONNX@main'],
  );
  assert.deepEqual(
    await removeStoredModel(root, smol),
    { folder: smol.folder, label: smol.label, freedBytes: 0, stillComplete: false },
    'removing it again: nothing to do',
  );
});

test('a folder another process is downloading into is refused untouched, with the lock named; a dead download does not block', async () => {
  const root = storageRoot();
  const folder = await completeModel(root, 'onnx-community/Qwen3-0.6B-ONNX', 'main', 'q4', 'model_q4.onnx', 1_000);
  // The test runner that started this process is alive, and it is not this process.
  writeFileSync(join(folder, LOCK_FILE), `${process.ppid} 0123abcd`);
  const [model] = await listStoredModels(root);
  assert.equal(model.downloadingPid, process.ppid);
  const outcome = await removeStoredModel(root, model);
  assert.equal(outcome.freedBytes, 0);
  assert.match(
    outcome.problem ?? '',
    /onnx-community\/Qwen3-0\.6B-ONNX@main is being downloaded \(in this or another VS Code window\).*Wait for the download to finish/,
  );
  assert.ok(outcome.problem?.includes(join(folder, LOCK_FILE)), outcome.problem);
  assert.ok(existsSync(join(folder, 'onnx/model_q4.onnx')), 'nothing was removed');
  assert.match((await removeStoredPartials(root, model)).problem ?? '', /is being downloaded/);

  writeFileSync(join(folder, LOCK_FILE), `${deadPid()} 0123abcd`);
  const [stale] = await listStoredModels(root);
  assert.equal(stale.downloadingPid, undefined, 'a lock its process left behind is no download');
  assert.equal((await removeStoredModel(root, stale)).problem, undefined);
  assert.ok(!existsSync(folder));
});

test('a download running in this very process is refused too', async () => {
  const root = storageRoot();
  const folder = await completeModel(root, 'onnx-community/Qwen3-0.6B-ONNX', 'main', 'q4', 'model_q4.onnx', 1_000);
  const release = await acquireLock(folder, 'download');
  try {
    const [model] = await listStoredModels(root);
    assert.equal(model.downloadingPid, process.pid);
    assert.match((await removeStoredModel(root, model)).problem ?? '', /is being downloaded/);
    assert.ok(existsSync(join(folder, 'config.json')));
  } finally {
    await release();
  }
});

test('removing partial downloads alone keeps the finished files and the model whole', async () => {
  const root = storageRoot();
  const folder = await completeModel(root, 'onnx-community/Qwen3-0.6B-ONNX', 'main', 'q4', 'model_q4.onnx', 1_000);
  partialDownload(folder, 'onnx/model_fp16.onnx', 9_000);
  partialDownload(folder, 'onnx/model_fp16.onnx_data', 3_000);
  const [before] = await listStoredModels(root);
  const outcome = await removeStoredPartials(root, before);
  assert.equal(outcome.problem, undefined);
  assert.equal(outcome.freedBytes, before.partialBytes);
  const [afterwards] = await listStoredModels(root);
  assert.equal(afterwards.partialBytes, 0);
  assert.deepEqual(afterwards.partialFiles, []);
  assert.equal(afterwards.complete, true);
  assert.deepEqual(afterwards.completeVariants, ['q4']);
  assert.deepEqual(afterwards.incompleteVariants, []);
  assert.equal(afterwards.bytes, before.bytes - before.partialBytes);
  assert.ok(!existsSync(join(folder, LOCK_FILE)), 'the lock taken for the removal is released');
});

test('a failed removal names the file, the error and what to do, and counts only what went', async () => {
  const root = storageRoot();
  const folder = await completeModel(root, 'onnx-community/Qwen3-0.6B-ONNX', 'main', 'q4', 'model_q4.onnx', 1_000);
  const [model] = await listStoredModels(root);
  const refused = join(folder, 'onnx');
  const outcome = await removeStoredModel(root, model, {
    platform: 'linux',
    rm: async (path, options) => {
      if (path === refused) throw Object.assign(new Error('permission denied'), { code: 'EACCES', syscall: 'rmdir', path });
      rmSync(path, options);
    },
  });
  assert.match(outcome.problem ?? '', /^Cannot remove .*onnx \(EACCES\): permission denied\. Check the permissions of /);
  assert.ok(outcome.problem?.includes(refused), outcome.problem);
  assert.ok(existsSync(refused), 'the refused part stays');
  assert.ok(existsSync(join(folder, 'config.json')) && existsSync(join(folder, COMPLETION_MARKER)), 'what is removed last stays');
  assert.equal(outcome.stillComplete, false, 'its weights are gone');
  assert.ok(outcome.freedBytes > 0 && outcome.freedBytes < model.bytes, `freed ${outcome.freedBytes} of ${model.bytes}`);
  assert.ok(!existsSync(join(folder, LOCK_FILE)), 'the lock is released after a failure');
});

/** Windows' refusal to delete a file a process maps: EBUSY on it, and on any folder removed with it inside. */
function mappedBy(mapped: string): NonNullable<RemovalOptions['rm']> {
  return async (path, options) => {
    if (path === mapped || mapped.startsWith(path + sep)) {
      throw Object.assign(new Error(`EBUSY: resource busy or locked, unlink '${mapped}'`), { code: 'EBUSY', syscall: 'unlink', path: mapped });
    }
    await rm(path, options);
  };
}

test('on Windows, weights another process maps stop the removal before the files the model needs: it stays complete, and the message names the other window or the CLI', async () => {
  const root = storageRoot();
  const folder = await completeModel(root, 'onnx-community/Qwen3-0.6B-ONNX', 'main', 'q4', 'model_q4.onnx', 3_000);
  // Another variant's cancelled download: not the model's, bigger than its graph, so it goes first.
  partialDownload(folder, 'onnx/model_fp16.onnx', 9_000);
  const [model] = await listStoredModels(root);
  const mapped = join(folder, 'onnx/model_q4.onnx');
  const options: RemovalOptions = { platform: 'win32', maxWaitMs: 0, rm: mappedBy(mapped), releasedHere: true };

  const outcome = await removeStoredModel(root, model, options);

  assert.equal(modelStatus(root, model.repo, 'main').state, 'complete', 'the model still loads where it is loaded, and here');
  assert.equal(outcome.stillComplete, true);
  for (const kept of ['config.json', 'tokenizer.json', 'tokenizer_config.json', COMPLETION_MARKER, 'onnx/model_q4.onnx']) {
    assert.ok(existsSync(join(folder, kept)), `${kept} stays`);
  }
  assert.ok(!existsSync(join(folder, 'onnx/model_fp16.onnx.partial')), 'the partial download, bigger than the graph, went first');
  assert.equal(outcome.freedBytes, 9_000);
  assert.equal(
    outcome.problem,
    `Cannot remove ${mapped} (EBUSY): the file is in use by another process: another VS Code window or the relay CLI may have the model loaded, or an antivirus scan or another program holds it. Close that window or end that relay command (a window keeps its model loaded after its answers), then remove the model again.`,
  );
  assert.ok(!existsSync(join(folder, LOCK_FILE)), 'the lock is released');

  // A process that marked the model loaded is named; this window's answer is named only when it did not let go first.
  writeFileSync(join(folder, `${IN_USE_PREFIX}${process.ppid}`), JSON.stringify({ pid: process.ppid, parentPid: 1 }));
  const named = await removeStoredModel(root, model, options);
  assert.match(named.problem ?? '', new RegExp(`another VS Code window or the relay CLI \\(process ${process.ppid}\\) has the model loaded`));
  assert.doesNotMatch(named.problem ?? '', /Relay: Stop/);
  const notReleased = await removeStoredModel(root, model, { ...options, releasedHere: false });
  assert.match(
    notReleased.problem ?? '',
    /by a small model loaded here for an answer being written, by another VS Code window or the relay CLI \(process \d+\).*Stop the answer here \(Relay: Stop\)/,
  );
  assert.equal(modelStatus(root, model.repo, 'main').state, 'complete');
});

test('a process marks a downloaded model it loads until it lets go; the listing names the other live processes, not this one, its children or the dead', async () => {
  const root = storageRoot();
  const folder = await completeModel(root, 'onnx-community/Qwen3-0.6B-ONNX', 'main', 'q4', 'model_q4.onnx', 1_000);
  const own = join(folder, `${IN_USE_PREFIX}${process.pid}`);
  const first = markModelInUse(folder);
  const second = markModelInUse(folder); // the LLM loaded from the same folder as the SLM
  assert.ok(existsSync(own));
  first();
  first();
  assert.ok(existsSync(own), 'marked while a load is left');
  second();
  assert.ok(!existsSync(own), 'the last release takes the mark');

  const mark = (pid: number, parentPid: number) => writeFileSync(join(folder, `${IN_USE_PREFIX}${pid}`), JSON.stringify({ pid, parentPid }));
  mark(process.ppid, 1); // another window, or the CLI: alive, not started by this process
  mark(deadPid(), 1); // a window that crashed
  const release = markModelInUse(folder);
  try {
    const [model] = await listStoredModels(root);
    assert.deepEqual(model.loadedElsewhere, [process.ppid]);
    mark(process.ppid, process.pid); // a model process this one forked
    assert.deepEqual((await listStoredModels(root))[0].loadedElsewhere, []);
    assert.equal((await listStoredModels(root))[0].complete, true, 'marks are not part of the download');
  } finally {
    release();
  }

  // A folder that is not a download of the store (the user's own) is not written into.
  const own2 = mkdtempSync(join(tmpdir(), 'relay-own-model-'));
  scratch.push(own2);
  markModelInUse(own2)();
  const releaseOwn = markModelInUse(own2);
  assert.ok(!existsSync(join(own2, `${IN_USE_PREFIX}${process.pid}`)));
  releaseOwn();
});

test('a folder outside the store is never removed', async () => {
  const root = storageRoot();
  const elsewhere = mkdtempSync(join(tmpdir(), 'relay-not-store-'));
  scratch.push(elsewhere);
  writeBytes(join(elsewhere, 'config.json'), 10);
  const outcome = await removeStoredModel(root, { folder: elsewhere, label: 'mine' });
  assert.match(outcome.problem ?? '', /is not a model folder of the model store/);
  assert.ok(existsSync(join(elsewhere, 'config.json')));
});
