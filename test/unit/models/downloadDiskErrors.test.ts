// What the disk can refuse while a model downloads, against a local hub (fakeHub.ts, real
// servers on 127.0.0.1): a file name too long for the disk is refused before any request,
// a path too long for the system and a full disk become download errors that say what to
// do (never a raw file-system error), the transfer stops with them, a file-size limit
// (EFBIG) leaves no gap in the partial file and is not retried as if the network failed, and
// a download that gives up says truthfully whether anything of the file was kept.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { downloadModel, fileSystemError, type DownloadRequest } from '../../../src/core/models/downloader';
import { modelFolder } from '../../../src/core/models/modelStore';
import { bytes, demoRepoFiles, downloadFailure, FakeHub } from './fakeHub';

const REPO = 'onnx-community/Disk-ONNX';
const GRAPH = 'onnx/model_int8.onnx';
const TIMEOUTS = { connectTimeoutMs: 5_000, idleTimeoutMs: 60_000 };
/** Most a test waits for the client to close a transfer it should have closed at once (a bound, not a measurement). */
const CLOSE_BOUND_MS = 10_000;
/** An external data file of q4 whose name, 240 bytes, fits a disk, and 253 bytes with ".partial.json" still does. */
const LONG_DATA = `onnx/model_q4.onnx_data_${'x'.repeat(240 - 'model_q4.onnx_data_'.length)}`;

let hub: FakeHub;
const scratch: string[] = [];

before(async () => {
  hub = await FakeHub.start({
    [REPO]: { commit: 'd'.repeat(40), files: { ...demoRepoFiles(), 'onnx/model_q4.onnx': bytes(1_000, 3), [LONG_DATA]: bytes(2_000, 4) } },
  });
});
after(async () => {
  await hub.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});
afterEach(() => hub.reset());

function storage(under = tmpdir()): string {
  const root = mkdtempSync(join(under, 'relay-disk-'));
  scratch.push(root);
  return root;
}

/** A download of one variant as listed now; the listing's requests are not in the log. */
async function variantRequest(root: string, variant: 'int8' | 'q4', extra: Partial<DownloadRequest> = {}): Promise<DownloadRequest> {
  const request = await hub.variantRequest(REPO, root, variant, { timeouts: TIMEOUTS, progressIntervalMs: undefined, ...extra });
  hub.log.length = 0;
  return request;
}

test('a file whose name with ".partial.json" is longer than a disk allows is refused before any request, naming it', async () => {
  const tooLong = `onnx/model_q4.onnx_data_${'y'.repeat(250 - 'model_q4.onnx_data_'.length)}`;
  const request = await variantRequest(storage(), 'q4');
  const error = await downloadFailure(downloadModel({ ...request, files: [...request.files, { path: tooLong, size: 10, sha256: 'e'.repeat(64) }] }));
  assert.equal(error.code, 'bad_request', error.message);
  assert.equal(error.file, tooLong);
  assert.match(error.message, /has a name too long to download: .*263 bytes, and a disk allows 255/);
  assert.equal(hub.log.length, 0, 'nothing was asked of the hub');
});

test('a path longer than the system allows (ENAMETOOLONG) is a download error that says what to do', async () => {
  // A storage folder deep enough that the long data file's path, not the folder's, passes the system's limit (4096 on Linux).
  let deep = storage();
  while (deep.length < 3_840) deep = join(deep, 'd'.repeat(200));
  mkdirSync(deep, { recursive: true });
  const error = await downloadFailure(downloadModel(await variantRequest(deep, 'q4')));
  assert.equal(error.code, 'bad_request', error.message);
  assert.equal(error.file, LONG_DATA);
  assert.match(error.message, /the path is longer than this system allows \(ENAMETOOLONG\)\. Pick a model or variant with shorter file names/);
});

test('a full disk stops the transfer at once: the download fails as disk_full and its connection is closed', { skip: !existsSync('/dev/full') }, async () => {
  const root = storage();
  const folder = modelFolder(root, REPO, 'main');
  mkdirSync(join(folder, 'onnx'), { recursive: true });
  // Every write of the graph's partial file goes to /dev/full: ENOSPC, as on a full disk.
  symlinkSync('/dev/full', join(folder, `${GRAPH}.partial`));
  // The CDN sends part of the graph, then holds the connection open until the client closes it.
  hub.cdnFaults.set(GRAPH, [{ stallAfterBytes: 100_000 }]);
  const started = hub.endlessBodiesStarted;
  const error = await downloadFailure(downloadModel(await variantRequest(root, 'int8')));
  assert.equal(error.code, 'disk_full', error.message);
  assert.equal(error.file, GRAPH);
  assert.equal(hub.endlessBodiesStarted - started, 1);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      hub.endlessBodiesClosed(),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('the transfer is still open after the disk was full')), CLOSE_BOUND_MS))),
    ]);
  } finally {
    clearTimeout(timer);
  }
});

test('a download that gives up on a file it kept nothing of says so, not "0 B of it is kept"', async () => {
  hub.serverErrors.set(GRAPH, 2);
  const error = await downloadFailure(downloadModel(await variantRequest(storage(), 'int8', { maxAttemptsPerFile: 2 })));
  assert.equal(error.code, 'server', error.message);
  assert.match(error.message, /Gave up on onnx\/model_int8\.onnx after 2 tries; none of it is kept, so the next download starts it from the beginning\.$/);
  assert.doesNotMatch(error.message, /0 B of it is kept/);
});

test(
  'a file-size limit (EFBIG) midway through a file: what was written has no gap, the download is not retried, and the error names the limit and the fix',
  { skip: process.platform === 'win32' || !existsSync('/bin/bash') },
  async () => {
    // The int8 graph (535 KB) passes this limit, every other file of the variant stays under it.
    const limitBlocks = 300;
    const limitBytes = limitBlocks * 1024;
    const root = storage();
    const request = await variantRequest(root, 'int8');
    // The hub runs in this process: the child is awaited, not run synchronously. Killed after a minute (a bound, not a measurement).
    const child = spawn(
      '/bin/bash',
      ['-c', `ulimit -f ${limitBlocks} && exec "$0" --import tsx "$1" "$2"`, process.execPath, join(__dirname, 'fileSizeLimited.ts'), JSON.stringify(request)],
      { stdio: ['ignore', 'pipe', 'pipe'], timeout: 60_000 },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    await new Promise<void>((resolve) => child.on('close', () => resolve()));
    const lastLine = stdout.trim().split('\n').pop() ?? '';
    const outcome = (lastLine.startsWith('{') ? JSON.parse(lastLine) : {}) as { code?: string; file?: string; message?: string };
    assert.equal(outcome.code, 'bad_request', `${outcome.message ?? ''} ${stderr}`);
    assert.equal(outcome.file, GRAPH);
    assert.match(outcome.message ?? '', /larger than that volume allows for one file \(EFBIG; FAT32, .* at most 4 GB/);
    assert.match(outcome.message ?? '', /into a folder on another volume/);
    assert.equal(hub.requests({ server: 'cdn', method: 'GET', pathIncludes: 'model_int8' }).length, 1, 'a full file is not the network: no retry');
    // A write cut short at the limit was finished, not skipped: the partial file is the graph's first bytes, all of them.
    const partial = readFileSync(join(modelFolder(root, REPO, 'main'), `${GRAPH}.partial`));
    assert.equal(partial.length, limitBytes);
    assert.ok(partial.equals(demoRepoFiles()[GRAPH].subarray(0, limitBytes)), 'the partial file has no gap');
  },
);

test('a quota (EDQUOT) on a write says the disk is full; a file-size limit (EFBIG) names the limit', () => {
  const writeError = (code: string): NodeJS.ErrnoException =>
    Object.assign(new Error(code), { code, syscall: 'write', path: '/models/m/onnx/model.onnx.partial' });
  const quota = fileSystemError(writeError('EDQUOT'), '/models/m', GRAPH);
  assert.equal(quota?.code, 'disk_full');
  assert.match(quota?.message ?? '', /Not enough disk space in \/models\/m to download onnx\/model_int8\.onnx/);
  assert.match(fileSystemError(writeError('EFBIG'), '/models/m', GRAPH)?.message ?? '', /EFBIG; FAT32/);
});
