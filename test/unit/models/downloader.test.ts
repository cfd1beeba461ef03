// The model downloader against a local hub (fakeHub.ts: real HTTP servers on 127.0.0.1
// that answer the way huggingface.co and its CDN do): variant files, verification,
// resume after a drop and after a cancel, errors that name the file and the fix, and a
// folder that never looks whole before it is.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { downloadModel, type DownloadProgress, type DownloadRequest } from '../../../src/core/models/downloader';
import { ModelDownloadError } from '../../../src/core/models/errors';
import { listRepoFiles } from '../../../src/core/models/hubApi';
import { COMPLETION_MARKER, modelFolder, modelStatus, PENDING_DOWNLOAD } from '../../../src/core/models/modelStore';
import { filesForVariant } from '../../../src/core/models/variantFiles';
import { ModelFolderError, readModelFolder } from '../../../src/core/slm/modelFolder';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { bytes, FakeHub, gitOid, sha256 } from './fakeHub';

const REPO = 'onnx-community/Tiny-ONNX';
const GATED = 'meta-like/Gated-ONNX';
const COMMIT = 'a'.repeat(40);
const DEMO = join(__dirname, '..', '..', '..', 'models', 'relay-demo-slm');

/** A repository in the onnx-community layout with two variants; q4 has an external data file. */
function tinyRepoFiles(): Record<string, Buffer> {
  return {
    '.gitattributes': Buffer.from('*.onnx filter=lfs diff=lfs merge=lfs -text\n'),
    'README.md': Buffer.from('# Tiny\n'),
    'config.json': readFileSync(join(DEMO, 'config.json')),
    'generation_config.json': readFileSync(join(DEMO, 'generation_config.json')),
    'tokenizer.json': readFileSync(join(DEMO, 'tokenizer.json')),
    'tokenizer_config.json': readFileSync(join(DEMO, 'tokenizer_config.json')),
    'onnx/model_int8.onnx': readFileSync(join(DEMO, 'onnx', 'model_int8.onnx')),
    'onnx/model_q4.onnx': bytes(40_000, 7),
    'onnx/model_q4.onnx_data': bytes(300_000, 11),
  };
}

let hub: FakeHub;
const scratch: string[] = [];

function storage(): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-models-'));
  scratch.push(dir);
  return dir;
}

function variantRequest(root: string, variant: 'int8' | 'q4', extra: Partial<DownloadRequest> = {}, repo = REPO, revision = 'main'): Promise<DownloadRequest> {
  return hub.variantRequest(repo, root, variant, extra, revision);
}

function partialFiles(folder: string): string[] {
  const found: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir, { withFileTypes: true })) {
      if (name.isDirectory()) walk(join(dir, name.name));
      else if (name.name.endsWith('.partial')) found.push(join(dir, name.name));
    }
  };
  walk(folder);
  return found;
}

async function rejectsWith(promise: Promise<unknown>, code: string, message: RegExp, file?: string): Promise<ModelDownloadError> {
  let caught: unknown;
  await assert.rejects(promise, (error: unknown) => {
    caught = error;
    return true;
  });
  assert.ok(caught instanceof ModelDownloadError, `expected a ModelDownloadError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.match(caught.message, message);
  if (file !== undefined) assert.equal(caught.file, file);
  return caught;
}

before(async () => {
  hub = await FakeHub.start({
    [REPO]: { commit: COMMIT, files: tinyRepoFiles() },
    [GATED]: { commit: 'b'.repeat(40), files: tinyRepoFiles(), gated: { grantedToken: 'hf_granted' } },
  });
});

after(async () => {
  await hub.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

afterEach(() => hub.reset());

describe('listing and variant files', () => {
  test('the tree listing gives sizes, git oids and LFS sha256; a variant takes its graph, data and the JSON files', async () => {
    const files = tinyRepoFiles();
    const listing = await listRepoFiles({ endpoint: hub.endpoint, timeouts: { connectTimeoutMs: 5_000, idleTimeoutMs: 5_000 } }, REPO, 'main');
    const q4 = listing.find((file) => file.path === 'onnx/model_q4.onnx_data');
    assert.deepEqual(q4, {
      path: 'onnx/model_q4.onnx_data',
      size: 300_000,
      sha256: sha256(files['onnx/model_q4.onnx_data']),
      gitOid: gitOid(files['onnx/model_q4.onnx_data']),
    });
    const config = listing.find((file) => file.path === 'config.json');
    assert.equal(config?.sha256, undefined);
    assert.equal(config?.gitOid, gitOid(files['config.json']));

    const choice = filesForVariant(REPO, listing, 'q4');
    assert.deepEqual(choice.files.map((file) => file.path).sort(), [
      'config.json',
      'generation_config.json',
      'onnx/model_q4.onnx',
      'onnx/model_q4.onnx_data',
      'tokenizer.json',
      'tokenizer_config.json',
    ]);
    assert.equal(
      choice.totalBytes,
      340_000 + ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'].reduce((s, p) => s + files[p].length, 0),
    );
    assert.equal(filesForVariant(REPO, listing, 'auto').variant, 'q4', 'auto takes the fewest bytes (q4: 340 KB, int8: 535 KB)');
    assert.throws(() => filesForVariant(REPO, listing, 'fp16'), /has no fp16 variant; it offers/);
    assert.throws(
      () =>
        filesForVariant(
          REPO,
          listing.filter((f) => f.path !== 'tokenizer.json'),
          'q4',
        ),
      /has no tokenizer\.json: it is not an ONNX export/,
    );
  });
});

describe('downloadModel', () => {
  test('downloads a variant that loads as a model folder, verified, with the marker written last and progress up to the total', async () => {
    const root = storage();
    const progress: DownloadProgress[] = [];
    const result = await downloadModel(await variantRequest(root, 'int8', { onProgress: (p) => progress.push(p) }));
    const folder = modelFolder(root, REPO, 'main');
    assert.equal(result.folder, folder);
    assert.equal(result.commit, COMMIT);
    const files = tinyRepoFiles();
    for (const path of ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'onnx/model_int8.onnx']) {
      assert.ok(readFileSync(join(folder, path)).equals(files[path]), `${path} has the hub's bytes`);
    }
    assert.equal(existsSync(join(folder, 'onnx', 'model_q4.onnx')), false, 'only the chosen variant');
    assert.deepEqual(partialFiles(folder), []);
    const model = readModelFolder(folder);
    assert.equal(model.chosen.variant, 'int8');
    assert.deepEqual(modelStatus(root, REPO, 'main', 'int8'), { folder, state: 'complete', variants: ['int8'] });
    assert.equal(modelStatus(root, REPO, 'main', 'q4').state, 'incomplete', 'another variant is not there');

    const total = progress[progress.length - 1];
    assert.equal(total.phase, 'complete');
    assert.equal(total.bytesDone, total.bytesTotal);
    const expectedTotal = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'generation_config.json', 'onnx/model_int8.onnx'].reduce(
      (s, p) => s + files[p].length,
      0,
    );
    assert.equal(total.bytesTotal, expectedTotal);
    assert.equal(result.bytesDownloaded, expectedTotal);
    for (let i = 1; i < progress.length; i += 1) {
      if (progress[i].phase === 'downloading' && progress[i - 1].phase === 'downloading')
        assert.ok(progress[i].bytesDone >= progress[i - 1].bytesDone, 'progress never goes back');
    }
    assert.ok(progress.every((p) => Number.isFinite(p.bytesPerSecond) && p.bytesPerSecond >= 0));
    // The ONNX file came from the CDN by redirect, pinned to the commit the revision resolved to.
    assert.ok(hub.requests({ server: 'hub', method: 'GET', pathIncludes: `/resolve/${COMMIT}/onnx/model_int8.onnx` }).length === 1);
    assert.equal(hub.requests({ server: 'cdn' }).length, 1);
  });

  test('the downloaded demo model runs in the ONNX runtime and answers like the shipped copy', async () => {
    const root = storage();
    const { folder } = await downloadModel(await variantRequest(root, 'int8'));
    const answer = async (modelFolderPath: string): Promise<string> => {
      const runtime = await createLocalRuntime(modelFolderPath);
      try {
        const session = await runtime.createSession();
        await session.prefill(await runtime.renderChat([{ role: 'user', content: '12+7' }], { addGenerationPrompt: true }));
        const result = await session.generate({ maxTokens: 12, sampling: { temperature: 0 } });
        await session.dispose();
        return result.text;
      } finally {
        await runtime.dispose();
      }
    };
    const downloaded = await answer(folder);
    assert.ok(downloaded.length > 0);
    assert.equal(downloaded, await answer(DEMO));
  });

  test('a transfer that stalls is cut by the idle timeout and resumed from where it stopped', async () => {
    const root = storage();
    hub.cdnFaults.set('onnx/model_q4.onnx_data', [{ stallAfterBytes: 70_000 }]);
    const result = await downloadModel(await variantRequest(root, 'q4', { timeouts: { connectTimeoutMs: 5_000, idleTimeoutMs: 1_000 } }));
    assert.deepEqual(
      hub.requests({ server: 'cdn', pathIncludes: 'model_q4.onnx_data' }).map((r) => r.range),
      [undefined, 'bytes=70000-'],
    );
    assert.ok(readFileSync(join(result.folder, 'onnx', 'model_q4.onnx_data')).equals(tinyRepoFiles()['onnx/model_q4.onnx_data']));
  });

  test('paths only (no listing): size, sha256 and git oid come from the HEAD headers and are verified', async () => {
    const root = storage();
    const paths = ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model_int8.onnx'];
    const result = await downloadModel({
      endpoint: hub.endpoint,
      repo: REPO,
      revision: 'main',
      files: paths.map((path) => ({ path })),
      storageRoot: root,
      retryDelayMs: 0,
    });
    const files = tinyRepoFiles();
    const graph = result.files.find((file) => file.path === 'onnx/model_int8.onnx');
    assert.deepEqual(graph, {
      path: 'onnx/model_int8.onnx',
      size: files['onnx/model_int8.onnx'].length,
      sha256: sha256(files['onnx/model_int8.onnx']),
      gitOid: undefined,
    });
    assert.equal(result.files.find((file) => file.path === 'config.json')?.gitOid, gitOid(files['config.json']));
    assert.equal(hub.requests({ method: 'HEAD' }).length, 4);
    assert.equal(modelStatus(root, REPO, 'main').state, 'complete');
  });

  test('a second download of a whole model downloads nothing', async () => {
    const root = storage();
    await downloadModel(await variantRequest(root, 'int8'));
    hub.log.length = 0;
    const again = await downloadModel(await variantRequest(root, 'int8'));
    assert.equal(again.bytesDownloaded, 0);
    assert.equal(again.filesSkipped, 5);
    assert.equal(hub.requests({ method: 'GET', pathIncludes: '/resolve/' }).length, 0);
  });

  test('a connection that drops mid-file is resumed with a Range request and the file verifies', async () => {
    const root = storage();
    hub.cdnFaults.set('onnx/model_q4.onnx_data', [{ dropAfterBytes: 123_456 }]);
    const result = await downloadModel(await variantRequest(root, 'q4'));
    const cdn = hub.requests({ server: 'cdn', pathIncludes: 'model_q4.onnx_data' });
    assert.equal(cdn.length, 2);
    assert.equal(cdn[0].range, undefined);
    assert.equal(cdn[1].range, 'bytes=123456-');
    assert.ok(readFileSync(join(result.folder, 'onnx', 'model_q4.onnx_data')).equals(tinyRepoFiles()['onnx/model_q4.onnx_data']));
    assert.equal(modelStatus(root, REPO, 'main', 'q4').state, 'complete');
  });

  test('cancelled mid-file: nothing looks whole, the .partial stays; the next download resumes it with Range', async () => {
    const root = storage();
    const folder = modelFolder(root, REPO, 'main');
    hub.cdnFaults.set('onnx/model_q4.onnx_data', [{ stallAfterBytes: 100_000 }]);
    const controller = new AbortController();
    let statusWhileStalled: string | undefined;
    let loaderError: string | undefined;
    const request = await variantRequest(root, 'q4', {
      signal: controller.signal,
      onProgress: (p) => {
        if (p.file === 'onnx/model_q4.onnx_data' && p.bytesDone >= 100_000 && !controller.signal.aborted) {
          statusWhileStalled = modelStatus(root, REPO, 'main', 'q4').state;
          try {
            readModelFolder(folder);
          } catch (error) {
            loaderError = (error as Error).message;
          }
          controller.abort();
        }
      },
    });
    await rejectsWith(downloadModel(request), 'cancelled', /cancelled; what was downloaded is kept/);
    assert.equal(statusWhileStalled, 'incomplete');
    assert.match(loaderError ?? '', /config\.json: missing/, 'the loader cannot open a half-written model: config.json lands last');
    assert.equal(existsSync(join(folder, COMPLETION_MARKER)), false);
    assert.equal(existsSync(join(folder, 'config.json')), false);
    const partial = join(folder, 'onnx', 'model_q4.onnx_data.partial');
    assert.equal(readFileSync(partial).length, 100_000);
    assert.equal(modelStatus(root, REPO, 'main', 'q4').state, 'incomplete');

    hub.log.length = 0;
    const resumed = await downloadModel(await variantRequest(root, 'q4'));
    assert.equal(resumed.bytesResumed, 100_000);
    const cdn = hub.requests({ server: 'cdn', pathIncludes: 'model_q4.onnx_data' });
    assert.deepEqual(
      cdn.map((r) => r.range),
      ['bytes=100000-'],
    );
    assert.ok(readFileSync(join(folder, 'onnx', 'model_q4.onnx_data')).equals(tinyRepoFiles()['onnx/model_q4.onnx_data']));
    assert.equal(modelStatus(root, REPO, 'main', 'q4').state, 'complete');
    assert.deepEqual(partialFiles(folder), []);
  });

  test('a folder without the marker is incomplete: files already there are checked, a damaged one is downloaded again', async () => {
    const root = storage();
    await downloadModel(await variantRequest(root, 'int8'));
    const folder = modelFolder(root, REPO, 'main');
    rmSync(join(folder, COMPLETION_MARKER));
    const graph = join(folder, 'onnx', 'model_int8.onnx');
    const damaged = readFileSync(graph);
    damaged[10] ^= 0xff;
    writeFileSync(graph, damaged);
    assert.equal(modelStatus(root, REPO, 'main').state, 'incomplete');
    hub.log.length = 0;
    const again = await downloadModel(await variantRequest(root, 'int8'));
    assert.equal(again.bytesDownloaded, tinyRepoFiles()['onnx/model_int8.onnx'].length, 'only the damaged file is fetched');
    assert.ok(readFileSync(graph).equals(tinyRepoFiles()['onnx/model_int8.onnx']));
    assert.equal(modelStatus(root, REPO, 'main', 'int8').state, 'complete');
  });

  test('a second variant joins the same folder and the marker lists both', async () => {
    const root = storage();
    await downloadModel(await variantRequest(root, 'int8'));
    await downloadModel(await variantRequest(root, 'q4'));
    const status = modelStatus(root, REPO, 'main', 'q4');
    assert.equal(status.state, 'complete');
    assert.deepEqual([...status.variants].sort(), ['int8', 'q4']);
  });

  test('a wrong sha256 deletes the file and downloads it once more', async () => {
    const root = storage();
    hub.cdnFaults.set('onnx/model_q4.onnx', [{ corrupt: true }]);
    const result = await downloadModel(await variantRequest(root, 'q4'));
    assert.equal(hub.requests({ server: 'cdn', pathIncludes: 'model_q4.onnx&' }).length, 2);
    assert.ok(readFileSync(join(result.folder, 'onnx', 'model_q4.onnx')).equals(tinyRepoFiles()['onnx/model_q4.onnx']));
  });

  test('a sha256 wrong twice fails naming the file and the checksums, and leaves no file and no marker', async () => {
    const root = storage();
    hub.cdnFaults.set('onnx/model_q4.onnx', [{ corrupt: true }, { corrupt: true }]);
    const error = await rejectsWith(
      downloadModel(await variantRequest(root, 'q4')),
      'checksum',
      /onnx\/model_q4\.onnx .* failed verification twice \(its sha256 is [0-9a-f]{64}, expected [0-9a-f]{64}\); the file was deleted/,
      'onnx/model_q4.onnx',
    );
    assert.ok(error.message.includes(sha256(tinyRepoFiles()['onnx/model_q4.onnx'])));
    const folder = modelFolder(root, REPO, 'main');
    assert.equal(existsSync(join(folder, 'onnx', 'model_q4.onnx')), false);
    assert.equal(existsSync(join(folder, 'onnx', 'model_q4.onnx.partial')), false);
    assert.equal(existsSync(join(folder, COMPLETION_MARKER)), false);
  });

  test('a server that ignores Range on resume gets the file started over, still correct', async () => {
    const root = storage();
    hub.cdnFaults.set('onnx/model_q4.onnx_data', [{ dropAfterBytes: 50_000 }, { ignoreRange: true }]);
    const result = await downloadModel(await variantRequest(root, 'q4'));
    const ranges = hub.requests({ server: 'cdn', pathIncludes: 'model_q4.onnx_data' }).map((r) => r.range);
    assert.deepEqual(ranges, [undefined, 'bytes=50000-'], 'the resume asked for the rest; the server sent all, which replaced the partial');
    assert.ok(readFileSync(join(result.folder, 'onnx', 'model_q4.onnx_data')).equals(tinyRepoFiles()['onnx/model_q4.onnx_data']));
  });

  test('HTTP 500 is retried; after the tries the error keeps what was downloaded', async () => {
    const root = storage();
    hub.serverErrors.set('onnx/model_int8.onnx', 1);
    await downloadModel(await variantRequest(root, 'int8'));
    assert.equal(modelStatus(root, REPO, 'main', 'int8').state, 'complete');

    const other = storage();
    hub.serverErrors.set('onnx/model_int8.onnx', 10);
    await rejectsWith(
      downloadModel(await variantRequest(other, 'int8', { maxAttemptsPerFile: 3 })),
      'server',
      /HTTP 500 for onnx\/model_int8\.onnx\. Gave up on onnx\/model_int8\.onnx after 3 tries/,
      'onnx/model_int8.onnx',
    );
  });

  test('a file the hub does not have: 404 names the file', async () => {
    const root = storage();
    const request = await variantRequest(root, 'int8');
    request.files = [...request.files, { path: 'onnx/model_missing.onnx' }];
    await rejectsWith(downloadModel(request), 'not_found', /has no file onnx\/model_missing\.onnx \(HTTP 404\)/, 'onnx/model_missing.onnx');
    assert.equal(existsSync(join(modelFolder(root, REPO, 'main'), COMPLETION_MARKER)), false);
  });

  test('an unknown repository and an unknown revision say so', async () => {
    const context = { endpoint: hub.endpoint, timeouts: { connectTimeoutMs: 5_000, idleTimeoutMs: 5_000 } };
    await rejectsWith(
      listRepoFiles(context, 'nobody/Nothing-ONNX', 'main'),
      'not_found',
      /no repository nobody\/Nothing-ONNX that this account can see \(HTTP 401\)\. Check the repository id/,
    );
    await rejectsWith(listRepoFiles(context, REPO, 'v9'), 'not_found', /has no revision "v9"/);
  });

  test('a gated repository: 401 without a token and 403 with an ungranted one say how to get access; the granted token works and never reaches the CDN', async () => {
    const root = storage();
    const hint = 'run "Relay: Set Model Hub Token"';
    const files = [{ path: 'config.json' }, { path: 'onnx/model_q4.onnx' }];
    const base = { endpoint: hub.endpoint, repo: GATED, revision: 'main', files, storageRoot: root, tokenHint: hint, retryDelayMs: 0 };
    const noToken = await rejectsWith(
      downloadModel(base),
      'gated',
      /gated or private and needs an access token\. Open http:\/\/127\.0\.0\.1:\d+\/meta-like\/Gated-ONNX, accept its terms while signed in, create a read token at .*settings\/tokens, then run "Relay: Set Model Hub Token"/,
    );
    assert.equal(noToken.file, 'config.json');
    await rejectsWith(downloadModel({ ...base, token: 'hf_wrong' }), 'gated', /HTTP 403: the access token was refused or has not been granted access/);
    assert.ok(!JSON.stringify(hub.log).includes('hf_wrong') || hub.requests({ server: 'cdn' }).length === 0);

    hub.log.length = 0;
    const result = await downloadModel({ ...base, token: 'hf_granted' });
    assert.ok(existsSync(join(result.folder, 'onnx', 'model_q4.onnx')));
    assert.ok(
      hub.requests({ server: 'hub' }).every((r) => r.authorization === 'Bearer hf_granted'),
      'the hub gets the token',
    );
    const cdn = hub.requests({ server: 'cdn' });
    assert.equal(cdn.length, 1);
    assert.equal(cdn[0].authorization, undefined, 'the CDN (another origin) never sees the token');
  });

  test('not enough disk space stops before the first byte and says how much is needed', async () => {
    const root = storage();
    const request = await variantRequest(root, 'q4', { freeBytes: async () => 1_000 });
    await rejectsWith(
      downloadModel(request),
      'disk_full',
      /Not enough disk space in .* The model needs 3\d\d KB more and 1\.00 KB are free\. Free some space and download again/,
    );
    assert.equal(hub.requests({ method: 'GET', pathIncludes: '/resolve/' }).length, 0);
  });

  test('unsafe input is refused before any request: a path escaping the folder, a bad repo id', async () => {
    const root = storage();
    await rejectsWith(
      downloadModel({ endpoint: hub.endpoint, repo: REPO, revision: 'main', files: [{ path: '../evil.json' }], storageRoot: root }),
      'bad_request',
      /unsafe path/,
    );
    await rejectsWith(
      downloadModel({ endpoint: hub.endpoint, repo: 'no-slash', revision: 'main', files: [{ path: 'config.json' }], storageRoot: root }),
      'bad_request',
      /write it as owner\/name/,
    );
    await rejectsWith(
      downloadModel({ endpoint: 'ftp://x', repo: REPO, revision: 'main', files: [{ path: 'config.json' }], storageRoot: root }),
      'bad_request',
      /must start with https:\/\/ or http:\/\//,
    );
    // Names Windows cannot keep as they are (a trailing dot is the same file, a colon a stream of another, nul a device).
    for (const path of ['onnx/model.onnx_data_1.', 'onnx/model.onnx_data:evil', 'onnx/a<b>.json', 'nul.json', 'onnx/COM1', 'onnx/x ']) {
      await rejectsWith(
        downloadModel({ endpoint: hub.endpoint, repo: REPO, revision: 'main', files: [{ path }], storageRoot: root }),
        'bad_request',
        /Windows cannot keep as it is/,
      );
    }
    // Names that differ only in case are one file on macOS and Windows.
    await rejectsWith(
      downloadModel({ endpoint: hub.endpoint, repo: REPO, revision: 'main', files: [{ path: 'config.json' }, { path: 'Config.json' }], storageRoot: root }),
      'bad_request',
      /lists config\.json and Config\.json, names that differ only in case/,
    );
    assert.equal(hub.log.length, 0);
  });

  test('two names that differ only in Unicode form (NFC and NFD) are refused as one file on macOS, not as names that differ in case', async () => {
    const root = storage();
    const composed = 'onnx/caf\u00e9.json';
    const decomposed = 'onnx/cafe\u0301.json';
    const formOnly = await rejectsWith(
      downloadModel({ endpoint: hub.endpoint, repo: REPO, revision: 'main', files: [{ path: composed }, { path: decomposed }], storageRoot: root }),
      'bad_request',
      /lists onnx\/caf(?:\u00e9|e\u0301)\.json twice, in two Unicode forms \(composed and decomposed characters, NFC and NFD\): on macOS they are one file\. Pick another model, or download it by hand\./,
      decomposed,
    );
    // Windows keeps both names (NTFS does not normalise): the message must not blame it, nor call it case.
    assert.doesNotMatch(formOnly.message, /Windows|differ only in case:/, 'an NFC/NFD pair is one file on macOS only, and differs in Unicode form, not case');
    // Case and form both: one file on macOS (case- and form-insensitive), two on Windows (case-insensitive only).
    const both = await rejectsWith(
      downloadModel({ endpoint: hub.endpoint, repo: REPO, revision: 'main', files: [{ path: 'onnx/CAFE\u0301.json' }, { path: composed }], storageRoot: root }),
      'bad_request',
      /names that differ only in case and Unicode form \(composed and decomposed characters, NFC and NFD\): on macOS they are one file\. Pick another model/,
    );
    assert.doesNotMatch(both.message, /Windows/, 'a pair that also differs in Unicode form is two files on Windows');
    assert.equal(hub.log.length, 0);
  });

  test('the device names Windows also reserves (CONIN$, CONOUT$, COM0, LPT0, COM¹-³, LPT¹-³) are refused, in any case, with or without an extension', async () => {
    const root = storage();
    const names = ['CONIN$', 'conout$', 'COM0', 'lpt0', 'COM\u00b9', 'com\u00b2', 'Com\u00b3', 'LPT\u00b9', 'lpt\u00b2', 'LpT\u00b3'];
    for (const name of names) {
      for (const path of [`onnx/${name}`, `${name}.json`]) {
        await rejectsWith(
          downloadModel({ endpoint: hub.endpoint, repo: REPO, revision: 'main', files: [{ path }], storageRoot: root }),
          'bad_request',
          /Windows cannot keep as it is .*it was not downloaded\. Pick another model, or download it by hand\./,
          path,
        );
      }
    }
    assert.equal(hub.log.length, 0, 'refused before any request');
  });

  test('two downloads of one model at once: the second is refused as busy, the first completes', async () => {
    const root = storage();
    const [one, two] = [await variantRequest(root, 'int8'), await variantRequest(root, 'int8')];
    const outcomes = await Promise.allSettled([downloadModel(one), downloadModel(two)]);
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    assert.equal(refused.length, 1, 'exactly one of the two runs');
    assert.ok(refused[0].reason instanceof ModelDownloadError && refused[0].reason.code === 'busy', String(refused[0].reason));
    assert.match((refused[0].reason as Error).message, /already being downloaded/);
    assert.equal(modelStatus(root, REPO, 'main', 'int8').state, 'complete');
  });

  test('a stale lock of a process that died is taken over', async () => {
    const root = storage();
    const folder = modelFolder(root, REPO, 'main');
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, '.relay-download.lock'), '999999999');
    await downloadModel(await variantRequest(root, 'int8'));
    assert.equal(existsSync(join(folder, '.relay-download.lock')), false);
  });
});

describe('every file is verified by a checksum', () => {
  test('a file the hub gives no checksum for (none in the listing, none in the HEAD headers) is refused, naming it; nothing looks whole', async () => {
    const root = storage();
    hub.withoutChecksums.add('tokenizer_config.json');
    const error = await rejectsWith(
      downloadModel(await variantRequest(root, 'int8')),
      'unverifiable',
      /gave no checksum for tokenizer_config\.json .* cannot be verified; it was not downloaded/,
      'tokenizer_config.json',
    );
    assert.match(error.message, /relay\.models\.hubEndpoint/, 'says what to do');
    const folder = modelFolder(root, REPO, 'main');
    assert.equal(existsSync(join(folder, 'tokenizer_config.json')), false);
    assert.equal(existsSync(join(folder, COMPLETION_MARKER)), false);
    assert.equal(hub.requests({ method: 'GET', pathIncludes: '/resolve/' }).length, 0, 'refused before the first byte');
  });

  test('the same for an LFS file (no lfs.oid, no X-Linked-Etag) asked for by path only', async () => {
    const root = storage();
    hub.withoutChecksums.add('onnx/model_int8.onnx');
    await rejectsWith(
      downloadModel({
        endpoint: hub.endpoint,
        repo: REPO,
        revision: 'main',
        files: [{ path: 'config.json' }, { path: 'onnx/model_int8.onnx' }],
        storageRoot: root,
        retryDelayMs: 0,
      }),
      'unverifiable',
      /no checksum for onnx\/model_int8\.onnx/,
      'onnx/model_int8.onnx',
    );
    assert.equal(hub.requests({ server: 'cdn' }).length, 0);
  });

  test('a plain file with only its git blob id is verified by it: other bytes than the listing says are refused', async () => {
    const root = storage();
    const request = await variantRequest(root, 'int8');
    const config = request.files.find((file) => file.path === 'config.json')!;
    assert.equal(config.sha256, undefined, 'a plain file: the listing has its git blob id only');
    assert.ok(config.gitOid);
    // A proxy alters the bytes on the way; the hub's headers still describe the listed file.
    const original = hub.repos.get(REPO)!.files['tokenizer_config.json'];
    hub.damagedOnTheWay.add('tokenizer_config.json');
    const error = await rejectsWith(
      downloadModel(request),
      'checksum',
      /tokenizer_config\.json .* failed verification twice \(its git oid is [0-9a-f]{40}, expected [0-9a-f]{40}\)/,
      'tokenizer_config.json',
    );
    assert.ok(error.message.includes(gitOid(original)));
    assert.equal(existsSync(join(modelFolder(root, REPO, 'main'), COMPLETION_MARKER)), false);
  });
});

describe('pinned downloads (a catalog entry that pins a commit and the sha256 of its files)', () => {
  const pinsOf = (files: Record<string, Buffer>, paths: string[]): Record<string, string> =>
    Object.fromEntries(paths.map((path) => [path, sha256(files[path])]));

  test('fetch the pinned commit and check every file against its pinned sha256', async () => {
    const root = storage();
    const request = await variantRequest(root, 'int8', {}, REPO, COMMIT);
    const result = await downloadModel({
      ...request,
      pinnedSha256: pinsOf(
        tinyRepoFiles(),
        request.files.map((file) => file.path),
      ),
    });
    assert.equal(result.folder, modelFolder(root, REPO, COMMIT));
    assert.equal(result.commit, COMMIT);
    const fetched = hub.requests({ server: 'hub', method: 'GET', pathIncludes: '/resolve/' });
    assert.ok(fetched.length > 0 && fetched.every((r) => r.path.includes(`/resolve/${COMMIT}/`)), 'every file from the pinned commit');
    assert.equal(
      result.files.find((file) => file.path === 'config.json')?.sha256,
      sha256(tinyRepoFiles()['config.json']),
      'plain files too are checked by the pinned sha256',
    );
    assert.equal(modelStatus(root, REPO, COMMIT, 'int8').state, 'complete');
  });

  test('a pin that the listing contradicts is refused before the first byte, naming the file and both hashes', async () => {
    const root = storage();
    const request = await variantRequest(root, 'int8', {}, REPO, COMMIT);
    const pins = pinsOf(
      tinyRepoFiles(),
      request.files.map((file) => file.path),
    );
    pins['onnx/model_int8.onnx'] = 'e'.repeat(64);
    hub.log.length = 0;
    const error = await rejectsWith(
      downloadModel({ ...request, pinnedSha256: pins }),
      'checksum',
      /lists onnx\/model_int8\.onnx .* with sha256 [0-9a-f]{64}, but the pinned sha256 is e{64}/,
      'onnx/model_int8.onnx',
    );
    assert.match(error.message, /nothing was downloaded/);
    assert.equal(hub.log.length, 0);
  });

  test('bytes that do not match the pin are refused and nothing looks whole', async () => {
    const root = storage();
    const request = await variantRequest(root, 'int8', {}, REPO, COMMIT);
    const pins = pinsOf(
      tinyRepoFiles(),
      request.files.map((file) => file.path),
    );
    pins['tokenizer.json'] = 'f'.repeat(64);
    await rejectsWith(
      downloadModel({ ...request, pinnedSha256: pins }),
      'checksum',
      /tokenizer\.json .* failed verification twice \(its sha256 is [0-9a-f]{64}, expected f{64}\)/,
      'tokenizer.json',
    );
    const folder = modelFolder(root, REPO, COMMIT);
    assert.equal(existsSync(join(folder, 'tokenizer.json')), false);
    assert.equal(existsSync(join(folder, COMPLETION_MARKER)), false);
  });

  test('a pin needs a commit and a sha256 for every file; otherwise nothing is asked of the hub', async () => {
    const root = storage();
    const atCommit = await variantRequest(root, 'int8', {}, REPO, COMMIT);
    const pins = pinsOf(
      tinyRepoFiles(),
      atCommit.files.map((file) => file.path),
    );
    hub.log.length = 0;
    await rejectsWith(downloadModel({ ...atCommit, revision: 'main', pinnedSha256: pins }), 'bad_request', /needs the 40-hex commit .* not "main"/);
    delete pins['generation_config.json'];
    await rejectsWith(
      downloadModel({ ...atCommit, pinnedSha256: pins }),
      'unverifiable',
      /generation_config\.json .* has no pinned sha256/,
      'generation_config.json',
    );
    assert.equal(hub.log.length, 0);
  });
});

describe('the model loader and a folder the downloader manages', () => {
  const MOVING = 'onnx-community/Moving-ONNX';
  const COMMIT_B = 'b'.repeat(40);

  test('an update interrupted after some files were replaced is refused by the loader until a download finishes it', async () => {
    const root = storage();
    const filesA = tinyRepoFiles();
    hub.repos.set(MOVING, { commit: COMMIT, files: filesA });
    await downloadModel(await variantRequest(root, 'int8', {}, MOVING));
    const folder = modelFolder(root, MOVING, 'main');
    assert.equal(readModelFolder(folder, 'int8').chosen.variant, 'int8');

    // main moves on: a new export of the graph (same size) and a new generation_config.json.
    const graphB = Buffer.from(filesA['onnx/model_int8.onnx']);
    graphB.write('PYTORCH', 4, 'latin1'); // the producer name: same size, other bytes
    const generationB = Buffer.from(JSON.stringify({ ...JSON.parse(filesA['generation_config.json'].toString()), temperature: 0.3 }));
    hub.repos.set(MOVING, { commit: COMMIT_B, files: { ...filesA, 'onnx/model_int8.onnx': graphB, 'generation_config.json': generationB } });
    hub.serverErrors.set('generation_config.json', 10);
    await rejectsWith(downloadModel(await variantRequest(root, 'int8', { maxAttemptsPerFile: 1 }, MOVING)), 'server', /HTTP 500 for generation_config\.json/);
    assert.ok(readFileSync(join(folder, 'onnx', 'model_int8.onnx')).equals(graphB), "the graph is the new commit's");
    assert.equal(existsSync(join(folder, 'generation_config.json')), false, 'the old generation_config.json is gone, the new one not there yet');

    assert.throws(
      () => readModelFolder(folder, 'int8'),
      (error: unknown) => {
        assert.ok(error instanceof ModelFolderError, String(error));
        assert.equal(error.file, folder);
        assert.match(error.message, /did not finish: .*onnx\/model_int8\.onnx.* two versions of the model/);
        assert.match(error.message, /Run "Relay: Select Model" and pick this model again to finish the download/);
        return true;
      },
    );
    assert.equal(modelStatus(root, MOVING, 'main', 'int8').state, 'incomplete', 'not offered as a downloaded copy');

    hub.serverErrors.clear();
    await downloadModel(await variantRequest(root, 'int8', {}, MOVING));
    assert.equal(readModelFolder(folder, 'int8').chosen.variant, 'int8');
    assert.ok(readFileSync(join(folder, 'generation_config.json')).equals(generationB));
    assert.equal(existsSync(join(folder, PENDING_DOWNLOAD)), false);
    assert.equal(modelStatus(root, MOVING, 'main', 'int8').state, 'complete');
  });

  test('another variant downloaded after main moved on replaces the shared files: the first variant, left from the old commit, is refused', async () => {
    const root = storage();
    const filesA = tinyRepoFiles();
    hub.repos.set(MOVING, { commit: COMMIT, files: filesA });
    await downloadModel(await variantRequest(root, 'int8', {}, MOVING));
    const folder = modelFolder(root, MOVING, 'main');
    const graphB = Buffer.from(filesA['onnx/model_int8.onnx']);
    graphB.write('PYTORCH', 4, 'latin1');
    const tokenizerConfigB = Buffer.from(JSON.stringify({ ...JSON.parse(filesA['tokenizer_config.json'].toString()), model_max_length: 256 }));
    hub.repos.set(MOVING, { commit: COMMIT_B, files: { ...filesA, 'onnx/model_int8.onnx': graphB, 'tokenizer_config.json': tokenizerConfigB } });
    await downloadModel(await variantRequest(root, 'q4', {}, MOVING));
    assert.ok(readFileSync(join(folder, 'tokenizer_config.json')).equals(tokenizerConfigB), "the shared files are the new commit's");
    assert.ok(readFileSync(join(folder, 'onnx', 'model_int8.onnx')).equals(filesA['onnx/model_int8.onnx']), "the int8 graph is the old commit's");
    assert.throws(
      () => readModelFolder(folder, 'int8'),
      /finished download of onnx-community\/Moving-ONNX@main with q4; its int8 files are left from another commit.*Relay: Select Model/,
    );
    assert.equal(readModelFolder(folder, 'q4').chosen.variant, 'q4');
    await downloadModel(await variantRequest(root, 'int8', {}, MOVING));
    assert.equal(readModelFolder(folder, 'int8').chosen.variant, 'int8');
    assert.ok(readFileSync(join(folder, 'onnx', 'model_int8.onnx')).equals(graphB));
  });

  test('while a second variant downloads, the finished one still loads; the new one is refused until it is whole', async () => {
    const root = storage();
    hub.repos.set(MOVING, { commit: COMMIT, files: tinyRepoFiles() });
    await downloadModel(await variantRequest(root, 'int8', {}, MOVING));
    const folder = modelFolder(root, MOVING, 'main');
    // q4: its data file lands, then the graph fails: the q4 graph is absent, its data present.
    hub.serverErrors.set('onnx/model_q4.onnx', 10);
    await rejectsWith(downloadModel(await variantRequest(root, 'q4', { maxAttemptsPerFile: 1 }, MOVING)), 'server', /model_q4\.onnx/);
    assert.ok(existsSync(join(folder, 'onnx', 'model_q4.onnx_data')));
    assert.equal(readModelFolder(folder, 'int8').chosen.variant, 'int8');
    assert.equal(modelStatus(root, MOVING, 'main', 'int8').state, 'complete');
    assert.equal(modelStatus(root, MOVING, 'main', 'q4').state, 'incomplete');
  });

  test('a file of a finished download that changed size since is refused, naming it', async () => {
    const root = storage();
    hub.repos.set(MOVING, { commit: COMMIT, files: tinyRepoFiles() });
    await downloadModel(await variantRequest(root, 'int8', {}, MOVING));
    const folder = modelFolder(root, MOVING, 'main');
    writeFileSync(join(folder, 'tokenizer_config.json'), `${readFileSync(join(folder, 'tokenizer_config.json'), 'utf8')}\n`);
    assert.throws(() => readModelFolder(folder, 'int8'), /tokenizer_config\.json has \d+ bytes where the download recorded \d+.*Relay: Select Model/);
  });

  test('a folder the downloader did not make (no marker, no pending record) loads as before', () => {
    const own = storage();
    for (const name of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'])
      writeFileSync(join(own, name), tinyRepoFiles()[name]);
    mkdirSync(join(own, 'onnx'));
    writeFileSync(join(own, 'onnx', 'model_int8.onnx'), tinyRepoFiles()['onnx/model_int8.onnx']);
    assert.equal(readModelFolder(own).chosen.variant, 'int8');
  });
});
