// A file whose body runs past the size the hub announced (a listing that moved on, a proxy that
// adds bytes): its `.partial` is removed before the download ends, within the download's lock,
// and a removal the disk refuses (EPERM: Windows holding the file open) fails nothing and is no
// unhandled rejection. Against a local hub (fakeHub.ts, real servers on 127.0.0.1); the refused
// removal is the one injected fault (fs.promises.rm, as the downloader calls it).
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { downloadModel, type DownloadRequest } from '../../../src/core/models/downloader';
import { LOCK_FILE, modelFolder } from '../../../src/core/models/modelStore';
import { bytes, demoRepoFiles, downloadFailure, FakeHub } from './fakeHub';

// The module object the downloader's `rm` is read from at each call (it is compiled to CommonJS).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const fsPromises = require('node:fs/promises') as { rm: (path: string, options?: { force?: boolean; recursive?: boolean }) => Promise<void> };

const REPO = 'onnx-community/Long-ONNX';
const GRAPH = 'onnx/model_q4.onnx';
const GRAPH_BYTES = 200_000;
/** How long the refused removal takes to say so: the download must wait for it, however long. */
const REMOVAL_MS = 300;

let hub: FakeHub;
const scratch: string[] = [];

before(async () => {
  hub = await FakeHub.start({ [REPO]: { commit: 'f'.repeat(40), files: { ...demoRepoFiles(), [GRAPH]: bytes(GRAPH_BYTES, 4) } } });
});
after(async () => {
  await hub.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});
afterEach(() => hub.reset());

function storage(): string {
  const root = mkdtempSync(join(tmpdir(), 'relay-oversized-'));
  scratch.push(root);
  return root;
}

/** The hub sends the graph with no length announced, and more bytes than it listed. */
function sendTooLong(): void {
  hub.intercept = (server: 'hub' | 'cdn', req: IncomingMessage, res: ServerResponse) => {
    if (server !== 'hub' || req.method !== 'GET' || !/\/resolve\/[^/]+\/onnx\/model_q4\.onnx$/.test(req.url ?? '')) return false;
    res.writeHead(200, { 'content-type': 'application/octet-stream' });
    res.end(Buffer.concat([bytes(GRAPH_BYTES, 4), Buffer.alloc(1000, 7)]));
    return true;
  };
}

async function request(root: string): Promise<DownloadRequest> {
  return hub.variantRequest(REPO, root, 'q4', { maxAttemptsPerFile: 1 });
}

test('a file longer than announced: its partial is gone when the download fails', async () => {
  sendTooLong();
  const root = storage();
  const error = await downloadFailure(downloadModel(await request(root)));
  assert.equal(error.code, 'size', error.message);
  assert.match(error.message, /onnx\/model_q4\.onnx is longer than the 200000 bytes the hub announced/);
  assert.equal(existsSync(join(modelFolder(root, REPO, 'main'), `${GRAPH}.partial`)), false, 'its partial was removed');
});

test('a removal of that partial the disk refuses (EPERM) is waited for within the lock, fails nothing more, and is no unhandled rejection', async () => {
  sendTooLong();
  const root = storage();
  const folder = modelFolder(root, REPO, 'main');
  const partial = join(folder, `${GRAPH}.partial`);
  const events: string[] = [];
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  const original = fsPromises.rm;
  fsPromises.rm = async (path, options) => {
    if (path !== partial) return original(path, options);
    events.push(existsSync(join(folder, LOCK_FILE)) ? 'removal asked, lock held' : 'removal asked, lock released');
    await new Promise((resolve) => setTimeout(resolve, REMOVAL_MS));
    events.push('removal refused');
    throw Object.assign(new Error(`EPERM: operation not permitted, unlink '${path}'`), { code: 'EPERM', errno: -1, syscall: 'unlink', path });
  };
  process.on('unhandledRejection', onUnhandled);
  try {
    const error = await downloadFailure(downloadModel(await request(root)));
    events.push('download failed');
    assert.equal(error.code, 'size', error.message);
    assert.match(error.message, /is longer than the 200000 bytes the hub announced/);
    assert.equal(existsSync(join(folder, LOCK_FILE)), false, 'the lock was released');
    // Time for a rejection nobody handled to be reported.
    await new Promise((resolve) => setTimeout(resolve, REMOVAL_MS + 100));
    assert.deepEqual(
      events,
      ['removal asked, lock held', 'removal refused', 'download failed'],
      'the removal ended before the download did (and its lock with it)',
    );
    assert.deepEqual(unhandled, []);
  } finally {
    fsPromises.rm = original;
    process.off('unhandledRejection', onUnhandled);
  }
});
