// The hub's paginated file listing, read from a real server on 127.0.0.1 that answers with
// whatever pages a test sets: each path comes out once, two entries of one path that
// disagree are an error, and a listing whose next link goes back to a page already read, or
// that goes on past the page cap, is refused rather than followed or cut short in silence.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, beforeEach, test } from 'node:test';
import { downloadModel } from '../../../src/core/models/downloader';
import { ModelDownloadError } from '../../../src/core/models/errors';
import { listRepoFiles, type HubFile } from '../../../src/core/models/hubApi';

const REPO = 'onnx-community/Paged-ONNX';
const TIMEOUTS = { connectTimeoutMs: 5_000, idleTimeoutMs: 10_000 };

interface Page {
  entries: unknown[];
  /** The cursor of the page the Link header points to next, if any. */
  next?: string;
}

/** The listing's pages by cursor ('' for the first). */
let pages: (cursor: string) => Page;
let requests: string[] = [];
let server: http.Server;
let endpoint: string;

function fileEntry(path: string, content: string): Record<string, unknown> {
  const data = Buffer.from(content);
  return { type: 'file', path, size: data.length, oid: createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex') };
}

before(async () => {
  server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const url = new URL(req.url ?? '/', 'http://listing');
    const page = pages(url.searchParams.get('cursor') ?? '');
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (page.next !== undefined) headers.link = `<${url.pathname}?recursive=true&cursor=${page.next}>; rel="next"`;
    res.writeHead(200, headers);
    res.end(JSON.stringify(page.entries));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));
beforeEach(() => {
  requests = [];
});

async function listingError(): Promise<ModelDownloadError> {
  try {
    await listRepoFiles({ endpoint, timeouts: TIMEOUTS }, REPO, 'main');
  } catch (error) {
    assert.ok(error instanceof ModelDownloadError, String(error));
    return error;
  }
  assert.fail('the listing must be refused');
}

test('a file listed on two pages with the same size and checksum comes out once', async () => {
  const config = fileEntry('config.json', '{}');
  pages = (cursor) => (cursor === '' ? { entries: [config, fileEntry('a.txt', 'a')], next: '2' } : { entries: [config, fileEntry('b.txt', 'b')] });
  const listing = await listRepoFiles({ endpoint, timeouts: TIMEOUTS }, REPO, 'main');
  assert.deepEqual(listing.map((file) => file.path).sort(), ['a.txt', 'b.txt', 'config.json']);
  assert.equal(requests.length, 2);
});

test('two entries of one path that disagree on size or checksum are an error naming the file', async () => {
  pages = () => ({ entries: [fileEntry('config.json', '{}'), fileEntry('config.json', '{"other": true}')] });
  const error = await listingError();
  assert.equal(error.code, 'server');
  assert.match(error.message, /lists config\.json twice, with different sizes or checksums/);
});

test("a next link back to a page already read stops the listing with an error, after that page's one read", async () => {
  pages = (cursor) => (cursor === '' ? { entries: [fileEntry('a.txt', 'a')], next: 'x' } : { entries: [fileEntry('b.txt', 'b')], next: 'x' });
  const error = await listingError();
  assert.equal(error.code, 'server');
  assert.match(error.message, /links back to a page it already sent/);
  assert.equal(requests.length, 2, 'each page is read once');
});

test('a listing that goes on past the page cap is refused, not cut short in silence', async () => {
  pages = (cursor) => {
    const n = Number(cursor || '0');
    return { entries: [fileEntry(`shard-${n}.txt`, String(n))], next: String(n + 1) };
  };
  const error = await listingError();
  assert.equal(error.code, 'server');
  assert.match(error.message, /goes on past 50 pages \(50 files so far\)/);
  assert.equal(requests.length, 50);
});

test('a download that names one path twice is refused as a bad request before any request', async () => {
  const root = mkdtempSync(join(tmpdir(), 'relay-listing-'));
  try {
    const file: HubFile = { path: 'config.json', size: 2, gitOid: 'a'.repeat(40) };
    await assert.rejects(
      downloadModel({ endpoint, repo: REPO, revision: 'main', files: [file, { ...file }], storageRoot: root, timeouts: TIMEOUTS }),
      (error: unknown) =>
        error instanceof ModelDownloadError &&
        error.code === 'bad_request' &&
        error.file === 'config.json' &&
        /config\.json is asked for twice/.test(error.message),
    );
    assert.equal(requests.length, 0);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});
