// When the hub is briefly overloaded or the link is poor, against a local hub (fakeHub.ts,
// real servers on 127.0.0.1): a 429's Retry-After is waited out (within a cap; longer, the
// download stops at once and says how long the hub asked, and that a token raises the
// limit), the wait can be cancelled, the listing and HEAD requests are tried again after a
// 502 or 429, and a link that drops often but makes progress each time still finishes,
// while a server that sends almost nothing per connection, one that will not resume (so
// each drop starts the file over), and one that trickles are given up on.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import { downloadModel, type DownloadRequest } from '../../../src/core/models/downloader';
import { listRepoFiles } from '../../../src/core/models/hubApi';
import { bytes, demoRepoFiles, downloadFailure, FakeHub } from './fakeHub';

const REPO = 'onnx-community/Busy-ONNX';
const GRAPH = 'onnx/model_q4.onnx';
/** Large enough for several drops that each bring more than the downloader's 64 KiB of progress. */
const GRAPH_BYTES = 1_200_000;
const TIMEOUTS = { connectTimeoutMs: 5_000, idleTimeoutMs: 10_000 };
/**
 * The least a Retry-After of 1 s must hold the next try back. A lower bound only: a slow
 * machine makes the gap longer, never shorter (timers never fire early; 50 ms of slack for
 * the clock's rounding).
 */
const ONE_SECOND_AT_LEAST_MS = 950;
/** Most a test waits for a cancelled download to end (a bound, not a measurement). */
const CANCEL_BOUND_MS = 20_000;

let hub: FakeHub;
const scratch: string[] = [];

before(async () => {
  hub = await FakeHub.start({ [REPO]: { commit: 'e'.repeat(40), files: { ...demoRepoFiles(), [GRAPH]: bytes(GRAPH_BYTES, 9) } } });
});
after(async () => {
  await hub.close();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});
afterEach(() => hub.reset());

function storage(): string {
  const root = mkdtempSync(join(tmpdir(), 'relay-retries-'));
  scratch.push(root);
  return root;
}

/** The q4 variant as listed now, with no backoff of its own (any wait seen is the server's); the listing's requests are not in the log. */
async function q4Request(extra: Partial<DownloadRequest> = {}): Promise<DownloadRequest> {
  const request = await hub.variantRequest(REPO, storage(), 'q4', { timeouts: TIMEOUTS, retryDelayMs: 0, ...extra });
  hub.log.length = 0;
  return request;
}

/** Whether `req` is the hub's GET of the graph (the request a download sends for its bytes). */
function isGraphGet(server: 'hub' | 'cdn', req: IncomingMessage): boolean {
  return server === 'hub' && req.method === 'GET' && /\/resolve\/[^/]+\/onnx\/model_q4\.onnx$/.test(req.url ?? '');
}

function answer(res: ServerResponse, status: number, headers: Record<string, string> = {}): true {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify({ error: status === 429 ? 'rate limited' : 'bad gateway' }));
  return true;
}

test('a file answered 429 with Retry-After is tried again only after the wait the hub asked for, and then completes', async () => {
  const graphGetsAt: number[] = [];
  hub.intercept = (server, req, res) => {
    if (!isGraphGet(server, req)) return false;
    graphGetsAt.push(Date.now());
    return graphGetsAt.length === 1 ? answer(res, 429, { 'retry-after': '1' }) : false;
  };
  const result = await downloadModel(await q4Request());
  assert.ok(result.files.some((file) => file.path === GRAPH));
  assert.equal(graphGetsAt.length, 2);
  const gap = graphGetsAt[1] - graphGetsAt[0];
  assert.ok(gap >= ONE_SECOND_AT_LEAST_MS, `the second try waited out Retry-After: 1 (it came after ${gap} ms)`);
});

test('a Retry-After longer than the cap is not waited out: the download stops at once, says the hub is rate limiting, how long it asked, and how a token raises the limit', async () => {
  hub.intercept = (server, req, res) => isGraphGet(server, req) && answer(res, 429, { 'retry-after': '3600' });
  const error = await downloadFailure(downloadModel(await q4Request()));
  assert.equal(error.code, 'server', error.message);
  assert.equal(error.file, GRAPH);
  assert.match(
    error.message,
    /is rate limiting downloads from the model hub \(HTTP 429 for onnx-community\/Busy-ONNX\/onnx\/model_q4\.onnx\) and asks to wait 60 min\./,
  );
  assert.match(error.message, /set a hub token, which raises the limit: run "Relay: Set Model Hub Token"/);
  assert.match(error.message, /Gave up on onnx\/model_q4\.onnx at once; none of it is kept/);
  assert.equal(hub.requests({ server: 'hub', method: 'GET', pathIncludes: GRAPH }).length, 1, 'one request, no retries');
});

test('a 429 without Retry-After that outlasts the tries says the hub is rate limiting, not only its status', async () => {
  hub.intercept = (server, req, res) => isGraphGet(server, req) && answer(res, 429);
  const error = await downloadFailure(downloadModel(await q4Request({ maxAttemptsPerFile: 2 })));
  assert.equal(error.code, 'server', error.message);
  assert.match(
    error.message,
    /is rate limiting downloads from the model hub .*Try again in a few minutes, or set a hub token, which raises the limit: run "Relay: Set Model Hub Token"/,
  );
  assert.match(error.message, /Gave up on onnx\/model_q4\.onnx after 2 tries/);
});

test('a download waiting out a Retry-After is cancelled at once', async () => {
  const controller = new AbortController();
  hub.intercept = (server, req, res) => {
    if (!isGraphGet(server, req)) return false;
    res.on('finish', () => setTimeout(() => controller.abort(), 50));
    return answer(res, 429, { 'retry-after': '30' });
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    const error = await Promise.race([
      downloadFailure(downloadModel(await q4Request({ signal: controller.signal }))),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('still waiting after the cancel')), CANCEL_BOUND_MS))),
    ]);
    assert.equal(error.code, 'cancelled', error.message);
  } finally {
    clearTimeout(timer);
  }
  assert.equal(hub.requests({ server: 'hub', method: 'GET', pathIncludes: GRAPH }).length, 1);
});

test('the listing is tried again after a 502, and after a 429 only once its Retry-After has passed', async () => {
  const listingsAt: number[] = [];
  hub.intercept = (server, req, res) => {
    if (!(req.url ?? '').startsWith('/api/models/')) return false;
    listingsAt.push(Date.now());
    if (listingsAt.length === 1) return answer(res, 502);
    if (listingsAt.length === 2) return answer(res, 429, { 'retry-after': '1' });
    return false;
  };
  const files = await listRepoFiles({ endpoint: hub.endpoint, timeouts: TIMEOUTS, retryDelayMs: 0 }, REPO, 'main');
  assert.ok(files.some((file) => file.path === GRAPH));
  assert.equal(listingsAt.length, 3);
  const gap = listingsAt[2] - listingsAt[1];
  assert.ok(gap >= ONE_SECOND_AT_LEAST_MS, `the third try waited out Retry-After: 1 (it came after ${gap} ms)`);
});

test('a listing that keeps failing gives up after 3 tries with the status; one asking to wait past the cap gives up at once', async () => {
  hub.intercept = (_server, req, res) => (req.url ?? '').startsWith('/api/models/') && answer(res, 503);
  const context = { endpoint: hub.endpoint, timeouts: TIMEOUTS, retryDelayMs: 0 };
  const unavailable = await downloadFailure(listRepoFiles(context, REPO, 'main'));
  assert.equal(unavailable.code, 'server', unavailable.message);
  assert.match(unavailable.message, /answered HTTP 503 for onnx-community\/Busy-ONNX/);
  assert.equal(hub.requests({ pathIncludes: '/api/models/' }).length, 3);

  hub.log.length = 0;
  hub.intercept = (_server, req, res) => (req.url ?? '').startsWith('/api/models/') && answer(res, 429, { 'retry-after': '7200' });
  const limited = await downloadFailure(listRepoFiles({ ...context, tokenHint: 'run "Relay: Set Model Hub Token"' }, REPO, 'main'));
  assert.match(limited.message, /is rate limiting downloads from the model hub \(HTTP 429 for onnx-community\/Busy-ONNX\) and asks to wait 2 h\./);
  assert.match(limited.message, /run "Relay: Set Model Hub Token"/);
  assert.equal(hub.requests({ pathIncludes: '/api/models/' }).length, 1);
});

test("a file's HEAD answered 503 is tried again: the download completes", async () => {
  let heads = 0;
  hub.intercept = (server, req, res) => {
    if (server !== 'hub' || req.method !== 'HEAD') return false;
    heads += 1;
    return heads === 1 ? answer(res, 503) : false;
  };
  // Paths alone: the downloader asks the hub (HEAD) for each file's size and checksum.
  const request = await q4Request();
  const result = await downloadModel({ ...request, files: request.files.map((file) => ({ path: file.path })) });
  assert.equal(result.files.length, request.files.length);
  assert.equal(heads, request.files.length + 1, 'each file once, the one refused twice');
});

test('a link that drops every 150 KB still finishes: each try that brings bytes starts the count of tries over', async () => {
  hub.cdnFaults.set(
    GRAPH,
    Array.from({ length: 7 }, () => ({ dropAfterBytes: 150_000 })),
  );
  const result = await downloadModel(await q4Request({ maxAttemptsPerFile: 3 }));
  assert.ok(result.files.some((file) => file.path === GRAPH));
  assert.equal(hub.requests({ server: 'cdn', method: 'GET', pathIncludes: encodeURIComponent(GRAPH) }).length, 8);
});

test('a server that sends a few bytes per connection is given up on: tries that bring almost nothing count, after those that brought progress', async () => {
  hub.cdnFaults.set(GRAPH, [{ dropAfterBytes: 150_000 }, { dropAfterBytes: 150_000 }, ...Array.from({ length: 20 }, () => ({ dropAfterBytes: 100 }))]);
  const error = await downloadFailure(downloadModel(await q4Request({ maxAttemptsPerFile: 3 })));
  assert.equal(error.code, 'network', error.message);
  assert.match(error.message, /Gave up on onnx\/model_q4\.onnx after 5 tries, the last 3 in a row without progress; 300 KB of it is kept/);
  assert.equal(hub.requests({ server: 'cdn', method: 'GET', pathIncludes: encodeURIComponent(GRAPH) }).length, 5);
});

/** CDN GETs of the graph so far. */
function graphCdnGets(): number {
  return hub.requests({ server: 'cdn', method: 'GET', pathIncludes: encodeURIComponent(GRAPH) }).length;
}

// Without the fix each restart at byte 0 that brings 150 KB counts as progress: the download
// goes on until the faults run out (then the file is served whole) and completes, so the
// test fails rather than hangs.
for (const [server, restart, lastCode] of [
  ['ignores Range (200 with the whole file)', [{ ignoreRange: true, dropAfterBytes: 150_000 }], 'network'],
  ['answers every Range with 416', [{ status: 416 }, { dropAfterBytes: 150_000 }], 'server'],
] as const) {
  test(`a file server that ${server}, on a link that drops every 150 KB, is given up on; the error says it does not resume and what to do`, async () => {
    hub.cdnFaults.set(GRAPH, [{ dropAfterBytes: 150_000 }, ...Array.from({ length: 20 }, () => restart).flat()]);
    const error = await downloadFailure(downloadModel(await q4Request({ maxAttemptsPerFile: 3 })));
    assert.equal(error.code, lastCode, error.message);
    // The first try brought 150 KB; the next three started over and got no further.
    assert.equal(graphCdnGets(), 4);
    assert.match(error.message, /Gave up on onnx\/model_q4\.onnx after 4 tries, the last 3 in a row without progress/);
    const cdnHost = new URL(hub.cdn).host;
    assert.ok(error.message.includes(`${cdnHost} does not resume an interrupted transfer (it ignores or refuses the Range request)`), error.message);
    assert.match(error.message, /try again later, or set relay\.models\.hubEndpoint to another mirror\.$/);
  });
}

// Without the fix the first try takes the trickle until fakeHub's 10 s bound sends the rest: the download completes and the test fails.
test('a file server that trickles a byte now and then (never idle) is cut each idle period, resumed, then given up on', async () => {
  hub.cdnFaults.set(GRAPH, [{ trickleAfterBytes: 100_000 }, ...Array.from({ length: 5 }, () => ({ trickleAfterBytes: 0 }))]);
  const error = await downloadFailure(downloadModel(await q4Request({ maxAttemptsPerFile: 2, timeouts: { connectTimeoutMs: 5_000, idleTimeoutMs: 1_000 } })));
  assert.equal(error.code, 'network', error.message);
  const cdnHost = new URL(hub.cdn).host;
  assert.match(error.message, new RegExp(`${cdnHost} sent only \\d+ B of onnx/model_q4\\.onnx in 1 s \\(\\d+ B/s\\), too slow to finish`));
  assert.match(error.message, /Gave up on onnx\/model_q4\.onnx after 3 tries, the last 2 in a row without progress; 100 KB of it is kept/);
  const ranges = hub.requests({ server: 'cdn', method: 'GET', pathIncludes: encodeURIComponent(GRAPH) }).map((request) => request.range);
  assert.equal(ranges.length, 3, 'the first try brought 100 KB (progress), the next two almost nothing');
  assert.equal(ranges[0], undefined);
  assert.match(ranges[1] ?? '', /^bytes=100\d{3}-$/, 'the second try resumed after the bytes the first one brought');
});
