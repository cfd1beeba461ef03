// How the downloader treats a hub, a CDN or a proxy that misbehaves on the connection,
// against real servers on 127.0.0.1: bodies that never end (of a redirect, of an error) are
// closed rather than read, a small read that trickles stops at its deadline, a file
// server that refuses with 403 is not taken for a gated repository, and one that announces
// another size than the hub lists gets an error that says what to do.
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import { downloadModel, type DownloadRequest } from '../../../src/core/models/downloader';
import { ModelDownloadError } from '../../../src/core/models/errors';
import { listRepoFiles, readRepoText } from '../../../src/core/models/hubApi';
import { demoRepoFiles, downloadFailure, FakeHub } from './fakeHub';

const REPO = 'onnx-community/Demo-ONNX';
const GRAPH = 'onnx/model_int8.onnx';
const TIMEOUTS = { connectTimeoutMs: 5_000, idleTimeoutMs: 10_000 };
/** Most a test waits for the client to close what it should have closed at once (a bound, not a measurement). */
const CLOSE_BOUND_MS = 10_000;

let hub: FakeHub;
const scratch: string[] = [];

before(async () => {
  hub = await FakeHub.start({ [REPO]: { commit: 'c'.repeat(40), files: demoRepoFiles() } });
});
after(async () => {
  await hub.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});
afterEach(() => hub.reset());

function int8Request(extra: Partial<DownloadRequest> = {}): Promise<DownloadRequest> {
  const root = mkdtempSync(join(tmpdir(), 'relay-hub-connections-'));
  scratch.push(root);
  return hub.variantRequest(REPO, root, 'int8', { timeouts: TIMEOUTS, progressIntervalMs: undefined, ...extra });
}

/** Resolves when `closed` does; fails with `problem` if that has not happened within CLOSE_BOUND_MS. */
async function closedOrFail(closed: Promise<void>, problem: string): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const bound = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(problem)), CLOSE_BOUND_MS)));
  try {
    await Promise.race([closed, bound]);
  } finally {
    clearTimeout(timer);
  }
}

describe('bodies that never end are closed, not read', () => {
  test("a redirect to the CDN whose body never ends: the file downloads and the redirect's connection is closed", async () => {
    hub.endlessRedirectBodies.add(GRAPH);
    const result = await downloadModel(await int8Request());
    assert.ok(result.bytesDownloaded > 0);
    assert.equal(hub.endlessBodiesStarted > 0, true, 'the hub sent the endless redirect body');
    await closedOrFail(hub.endlessBodiesClosed(), 'the client still reads the body of a redirect it has followed');
  });

  test('HTTP 503 with a body that never ends: each is closed, the retries give up with the status, no connection is left', async () => {
    const started = hub.endlessBodiesStarted;
    hub.endlessErrorBodies.set(GRAPH, 2);
    await assert.rejects(downloadModel(await int8Request({ maxAttemptsPerFile: 2 })), (error: unknown) => {
      assert.ok(error instanceof ModelDownloadError);
      assert.equal(error.code, 'server', error.message);
      assert.match(error.message, /answered HTTP 503 for onnx\/model_int8\.onnx/);
      return true;
    });
    assert.equal(hub.endlessBodiesStarted - started, 2, 'both tries got the endless 503');
    await closedOrFail(hub.endlessBodiesClosed(), 'the client still reads the bodies of 503 answers after giving up');
  });
});

describe('a file server (CDN) that refuses', () => {
  test('HTTP 403 from the CDN names the file server and a proxy or firewall, is retried, and says nothing of tokens or gated repositories', async () => {
    hub.cdnFaults.set(GRAPH, [{ status: 403 }, { status: 403 }]);
    const cdnHost = new URL(hub.cdn).host;
    await assert.rejects(
      downloadModel(await int8Request({ token: 'hf_someToken123', tokenHint: 'run "Relay: Set Model Hub Token"', maxAttemptsPerFile: 2 })),
      (error: unknown) => {
        assert.ok(error instanceof ModelDownloadError);
        assert.equal(error.code, 'server', error.message);
        assert.equal(error.file, GRAPH);
        assert.ok(error.message.includes(`The file server ${cdnHost} refused ${GRAPH}`), error.message);
        assert.match(error.message, /HTTP 403/);
        assert.match(error.message, /proxy or firewall/);
        assert.doesNotMatch(error.message, /token|gated|accept its terms/i);
        return true;
      },
    );
    const cdnGets = hub.requests({ server: 'cdn', method: 'GET' });
    assert.equal(cdnGets.length, 2, 'retried as a server problem');
    assert.ok(
      cdnGets.every((request) => request.authorization === undefined),
      'the CDN never gets the token',
    );
  });
});

describe('small reads have a total deadline', () => {
  /** A server that answers 200 and then sends one byte every 50 ms (never idle long), for at most 10 s. */
  async function tricklingServer(): Promise<{ endpoint: string; close: () => Promise<void>; requests: () => number }> {
    let requests = 0;
    const server = http.createServer((_req, res) => {
      requests += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.write('[');
      const started = Date.now();
      const timer = setInterval(() => {
        if (res.destroyed) return clearInterval(timer);
        // The bound of this server: then it ends with something that is not JSON.
        if (Date.now() - started > CLOSE_BOUND_MS) {
          clearInterval(timer);
          return void res.end('not json');
        }
        res.write(' ');
      }, 50);
      res.on('close', () => clearInterval(timer));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    return {
      endpoint,
      requests: () => requests,
      close: async () => {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  }

  test('a listing and a config.json that trickle in forever are stopped at the deadline, naming the host and what it was sending', async () => {
    const trickle = await tricklingServer();
    try {
      const context = { endpoint: trickle.endpoint, timeouts: { ...TIMEOUTS, smallReadDeadlineMs: 400 } };
      const host = new URL(trickle.endpoint).host;
      for (const read of [() => listRepoFiles(context, REPO, 'main'), () => readRepoText(context, REPO, 'main', 'config.json')]) {
        await assert.rejects(read(), (error: unknown) => {
          assert.ok(error instanceof ModelDownloadError);
          assert.equal(error.code, 'network', error.message);
          assert.ok(error.message.startsWith(`${host} took more than 400 ms to send`), error.message);
          return true;
        });
      }
      assert.equal(trickle.requests(), 2);
    } finally {
      await trickle.close();
    }
  });

  test('cancelling a trickling read still says cancelled (not the deadline)', async () => {
    const trickle = await tricklingServer();
    try {
      const controller = new AbortController();
      const reading = readRepoText({ endpoint: trickle.endpoint, signal: controller.signal, timeouts: TIMEOUTS }, REPO, 'main', 'config.json');
      setTimeout(() => controller.abort(), 100);
      await assert.rejects(reading, (error: unknown) => error instanceof ModelDownloadError && error.code === 'cancelled');
    } finally {
      await trickle.close();
    }
  });
});

describe('a file server (CDN) that announces another size than the hub lists', () => {
  for (const [when, faults] of [
    ['in the Content-Length of a whole file', [{ sizeOffBy: 10 }]],
    ['in the Content-Range of a resume', [{ dropAfterBytes: 100_000 }, { sizeOffBy: 10 }]],
  ] as const) {
    test(`${when}: a size error naming the file server, the sizes, and what to do`, async () => {
      hub.cdnFaults.set(GRAPH, [...faults]);
      const size = demoRepoFiles()[GRAPH].length;
      const error = await downloadFailure(downloadModel(await int8Request()));
      assert.equal(error.code, 'size', error.message);
      assert.equal(error.file, GRAPH);
      assert.ok(error.message.includes(`${new URL(hub.cdn).host} sends ${GRAPH} with ${size + 10} bytes, where ${size} were expected.`), error.message);
      assert.match(
        error.message,
        /The file server or a proxy sends other bytes than the hub lists: try again later, or set relay\.models\.hubEndpoint to another mirror\./,
      );
    });
  }

  test('announced at a resume, before any byte of it: the bytes already received are kept, and trying again resumes from them', async () => {
    hub.cdnFaults.set(GRAPH, [{ dropAfterBytes: 100_000 }, { sizeOffBy: 10 }]);
    const request = await int8Request();
    const error = await downloadFailure(downloadModel(request));
    assert.equal(error.code, 'size', error.message);
    hub.reset();
    await downloadModel(request);
    const gets = hub.log.filter((entry) => entry.method === 'GET' && entry.path.endsWith(GRAPH));
    assert.deepEqual(
      gets.map((entry) => entry.range),
      ['bytes=100000-'],
      'the second download resumed from the 100,000 bytes the first received',
    );
  });
});
