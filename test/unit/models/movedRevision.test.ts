// A repository whose branch moves on while Relay works with it, against a local hub
// (fakeHub.ts, real servers on 127.0.0.1): a file that changed between the listing and the
// download is fetched once and reported as "download again" (not as damaged data after a
// second download), and without X-Repo-Commit headers a folder is never marked whole with
// variants of two commits.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { downloadModel, type DownloadRequest } from '../../../src/core/models/downloader';
import { ModelDownloadError } from '../../../src/core/models/errors';
import { COMPLETION_MARKER, modelFolder, modelStatus } from '../../../src/core/models/modelStore';
import { bytes, demoRepoFiles, FakeHub } from './fakeHub';

const REPO = 'onnx-community/Moving-ONNX';
const GRAPH = 'onnx/model_int8.onnx';
const COMMIT_A = 'a'.repeat(40);
const COMMIT_B = 'b'.repeat(40);
const TIMEOUTS = { connectTimeoutMs: 5_000, idleTimeoutMs: 10_000 };

/** The demo model's files at commit A, with a q4 graph as well (two variants). */
function filesAtA(): Record<string, Buffer> {
  return { ...demoRepoFiles(), 'onnx/model_q4.onnx': bytes(1_000, 1) };
}

let hub: FakeHub;
const scratch: string[] = [];

before(async () => {
  hub = await FakeHub.start({});
});
after(async () => {
  await hub.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});
afterEach(() => hub.reset());

function storage(): string {
  const root = mkdtempSync(join(tmpdir(), 'relay-moved-'));
  scratch.push(root);
  return root;
}

function variantRequest(root: string, variant: 'int8' | 'q4'): Promise<DownloadRequest> {
  return hub.variantRequest(REPO, root, variant, { timeouts: TIMEOUTS, progressIntervalMs: undefined });
}

describe('main moves on between the listing and the download', () => {
  const graphChanges: [string, (graph: Buffer) => Buffer][] = [
    ['a longer graph', (graph) => Buffer.concat([graph, Buffer.from('a newer export')])],
    [
      'a graph of the same size',
      (graph) => {
        const changed = Buffer.from(graph);
        changed[100] ^= 0xff;
        return changed;
      },
    ],
  ];
  for (const [name, change] of graphChanges) {
    test(`${name}: fetched once, then "download again"; a new listing downloads it`, async () => {
      const root = storage();
      const files = filesAtA();
      hub.repos.set(REPO, { commit: COMMIT_A, files });
      const request = await variantRequest(root, 'int8');
      hub.repos.set(REPO, { commit: COMMIT_B, files: { ...files, [GRAPH]: change(files[GRAPH]) } });
      hub.log.length = 0;

      await assert.rejects(downloadModel(request), (error: unknown) => {
        assert.ok(error instanceof ModelDownloadError);
        assert.equal(error.code, 'checksum', error.message);
        assert.equal(error.file, GRAPH);
        assert.match(error.message, /now serves a different onnx\/model_int8\.onnx than its listing said .*Download again to use the current listing/);
        return true;
      });
      assert.equal(hub.requests({ server: 'cdn', method: 'GET' }).length, 1, 'the graph is fetched once, not twice');
      assert.equal(existsSync(join(modelFolder(root, REPO, 'main'), COMPLETION_MARKER)), false);

      // What the message asks for: a new listing, and the download goes through.
      await downloadModel(await variantRequest(root, 'int8'));
      assert.equal(modelStatus(root, REPO, 'main', 'int8').state, 'complete');
    });
  }
});

describe('a hub that sends no X-Repo-Commit', () => {
  test('a variant downloaded after main moved on does not make the earlier variant of the old commit count as whole', async () => {
    hub.withoutCommitHeader = true;
    const root = storage();
    const files = filesAtA();
    hub.repos.set(REPO, { commit: COMMIT_A, files });
    await downloadModel(await variantRequest(root, 'q4'));
    assert.equal(modelStatus(root, REPO, 'main', 'q4').state, 'complete');

    // main moves on: config.json (shared) and the q4 graph change; int8 is downloaded next.
    const config = JSON.parse(files['config.json'].toString()) as Record<string, unknown>;
    hub.repos.set(REPO, {
      commit: COMMIT_B,
      files: { ...files, 'config.json': Buffer.from(JSON.stringify({ ...config, note: 'commit B' })), 'onnx/model_q4.onnx': bytes(1_000, 9) },
    });
    await downloadModel(await variantRequest(root, 'int8'));

    const status = modelStatus(root, REPO, 'main', 'q4');
    assert.equal(status.state, 'incomplete', 'the q4 graph on disk is of commit A, config.json of commit B');
    assert.deepEqual(status.variants, ['int8']);
    assert.equal(modelStatus(root, REPO, 'main', 'int8').state, 'complete');
  });

  test('downloading a whole variant again changes nothing and keeps the other variant', async () => {
    hub.withoutCommitHeader = true;
    const root = storage();
    hub.repos.set(REPO, { commit: COMMIT_A, files: filesAtA() });
    await downloadModel(await variantRequest(root, 'q4'));
    await downloadModel(await variantRequest(root, 'int8'));
    const again = await downloadModel(await variantRequest(root, 'q4'));
    assert.equal(again.bytesDownloaded, 0);
    assert.deepEqual(modelStatus(root, REPO, 'main').variants.sort(), ['int8', 'q4']);
  });
});
