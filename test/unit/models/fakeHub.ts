/**
 * A local model hub for the downloader tests, on two 127.0.0.1 servers (port 0) that
 * behave like huggingface.co and its CDN:
 * - hub: `GET /api/models/<repo>/tree/<rev>?recursive=true` (listing with size, git oid,
 *   lfs.oid = sha256); `HEAD|GET /<repo>/resolve/<rev>/<path>`: small files answered
 *   directly (ETag = git blob id, X-Repo-Commit), LFS files (.onnx, *_data) with a 302 to
 *   the CDN carrying X-Linked-Etag (sha256), X-Linked-Size and X-Repo-Commit; 401/403 for
 *   gated repos, 401 RepoNotFound / 404 RevisionNotFound / 404 EntryNotFound;
 * - cdn: `GET /blobs/<sha256>` with Range (206 + Content-Range) and faults: drop the
 *   connection after N bytes, stall or trickle after N bytes, corrupt the bytes, ignore
 *   Range, refuse with a status, announce another size;
 * - misbehaving servers on request: redirects and 503s whose bodies never end, no
 *   X-Repo-Commit header, plain files damaged on the way.
 * Every request is recorded; close() destroys every socket (stalled transfers included).
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import type { DownloadRequest } from '../../../src/core/models/downloader';
import { ModelDownloadError } from '../../../src/core/models/errors';
import { listRepoFiles } from '../../../src/core/models/hubApi';
import { filesForVariant } from '../../../src/core/models/variantFiles';

/** The embedded demo SLM as a hub repository holds it: its JSON files and its int8 graph (a model the runtime loads). */
export function demoRepoFiles(): Record<string, Buffer> {
  const demo = join(__dirname, '..', '..', '..', 'models', 'relay-demo-slm');
  const names = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model_int8.onnx'];
  return Object.fromEntries(names.map((name) => [name, readFileSync(join(demo, name))]));
}

export interface RepoSpec {
  /** The 40-hex commit that `main` (and the commit itself) resolve to. */
  commit: string;
  files: Record<string, Buffer>;
  /** 'gated': 401 without a token, 403 with any token but `grantedToken`. */
  gated?: { grantedToken: string };
}

export interface CdnFault {
  /** Send this many bytes of the body, then destroy the socket (per matching request). */
  dropAfterBytes?: number;
  /** Send this many bytes, then send nothing more until the client goes away. */
  stallAfterBytes?: number;
  /** Send this many bytes, then one byte every 50 ms (never idle long); after 10 s the rest at once (a test's bound). */
  trickleAfterBytes?: number;
  /** Announce the whole file as this many bytes longer (Content-Length of a 200, Content-Range's total of a 206) than the hub lists. */
  sizeOffBy?: number;
  /** Flip a byte in the middle of the body. */
  corrupt?: boolean;
  /** Answer 200 with the whole file even when a Range was asked. */
  ignoreRange?: boolean;
  /** Answer this status (e.g. 403 from a proxy or an expired link) with a short XML error body. */
  status?: number;
}

export interface LoggedRequest {
  server: 'hub' | 'cdn';
  method: string;
  path: string;
  range?: string;
  authorization?: string;
}

/** The ModelDownloadError a download fails with (it must fail, with that type). */
export async function downloadFailure(promise: Promise<unknown>): Promise<ModelDownloadError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof ModelDownloadError, `a download error, not ${String(error)}`);
    return error;
  }
  assert.fail('the download must fail');
}

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

export function gitOid(data: Buffer): string {
  return createHash('sha1').update(`blob ${data.length}\0`).update(data).digest('hex');
}

export function isLfs(path: string): boolean {
  return /\.onnx$|\.onnx_data|\.onnx\.data/.test(path);
}

/** Deterministic pseudo-random bytes (a stand-in for weights). */
export function bytes(length: number, seed: number): Buffer {
  const out = Buffer.alloc(length);
  let state = seed >>> 0 || 1;
  for (let i = 0; i < length; i += 1) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    out[i] = state & 0xff;
  }
  return out;
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  return `http://127.0.0.1:${address.port}`;
}

export class FakeHub {
  readonly log: LoggedRequest[] = [];
  /** Faults of the CDN by file path, one per request in order (then the file is served normally). */
  readonly cdnFaults = new Map<string, CdnFault[]>();
  /** Files answered 500 on the next N GETs of their resolve URL, by path. */
  readonly serverErrors = new Map<string, number>();
  /** Paths the hub gives no checksum for: no oid / lfs in the listing, no ETag in the headers (a poor mirror). */
  readonly withoutChecksums = new Set<string>();
  /** Plain files whose bytes the hub serves with one byte flipped, its headers still describing the listed file (a proxy that damages them). */
  readonly damagedOnTheWay = new Set<string>();
  /** LFS files whose redirect to the CDN (on GET) comes with a body that never ends. */
  readonly endlessRedirectBodies = new Set<string>();
  /** Files answered 503 with a body that never ends on the next N GETs of their resolve URL, by path. */
  readonly endlessErrorBodies = new Map<string, number>();
  /** Plain files whose GET body comes one byte every 50 ms (a hub behind a slow proxy); after 10 s the rest comes at once. */
  readonly trickledFiles = new Set<string>();
  /** Called when a trickled file starts to be sent (lets a test cancel at that point). */
  onTrickle: ((path: string) => void) | undefined;
  /** No X-Repo-Commit header on any answer (a mirror that does not send it). */
  withoutCommitHeader = false;
  /** Called when a stalled transfer has sent its bytes (lets a test cancel at that point). */
  onStall: ((path: string) => void) | undefined;
  /** Answers a request before the hub or CDN does (a test's own fault: a 429, a 502); returns true when it answered. */
  intercept: ((server: 'hub' | 'cdn', req: IncomingMessage, res: ServerResponse) => boolean) | undefined;
  private readonly sockets = new Set<Socket>();

  /** Forgets the log and every fault set up by a test (the next test starts from a plain hub). */
  reset(): void {
    this.log.length = 0;
    for (const faults of [
      this.cdnFaults,
      this.serverErrors,
      this.withoutChecksums,
      this.damagedOnTheWay,
      this.endlessRedirectBodies,
      this.endlessErrorBodies,
      this.trickledFiles,
    ])
      faults.clear();
    this.onTrickle = undefined;
    this.onStall = undefined;
    this.intercept = undefined;
    this.withoutCommitHeader = false;
  }

  /**
   * A download of one variant of `repo` as the hub lists it now, into `root`; the listing's
   * requests are in the log. `extra` overrides any field (timeouts, progress, attempts).
   */
  async variantRequest(repo: string, root: string, variant: 'int8' | 'q4', extra: Partial<DownloadRequest> = {}, revision = 'main'): Promise<DownloadRequest> {
    const timeouts = { connectTimeoutMs: 5_000, idleTimeoutMs: 10_000, ...extra.timeouts };
    const listing = await listRepoFiles({ endpoint: this.endpoint, timeouts }, repo, revision);
    return {
      endpoint: this.endpoint,
      repo,
      revision,
      files: filesForVariant(repo, listing, variant).files,
      storageRoot: root,
      variants: [variant],
      retryDelayMs: 0,
      progressIntervalMs: 0,
      timeouts,
      ...extra,
    };
  }

  /** Never-ending bodies still being sent (their connection open). */
  private readonly endless = new Set<ServerResponse>();
  private endlessClosed: (() => void)[] = [];
  private constructor(
    private readonly hubServer: Server,
    private readonly cdnServer: Server,
    readonly endpoint: string,
    readonly cdn: string,
    readonly repos: Map<string, RepoSpec>,
  ) {
    for (const server of [hubServer, cdnServer]) {
      server.on('connection', (socket) => {
        this.sockets.add(socket);
        socket.on('close', () => this.sockets.delete(socket));
      });
    }
  }

  static async start(repos: Record<string, RepoSpec>): Promise<FakeHub> {
    const holder: { hub?: FakeHub } = {};
    const hubServer = createServer((req, res) => holder.hub!.handleHub(req, res));
    const cdnServer = createServer((req, res) => holder.hub!.handleCdn(req, res));
    const endpoint = await listen(hubServer);
    const cdn = await listen(cdnServer);
    holder.hub = new FakeHub(hubServer, cdnServer, endpoint, cdn, new Map(Object.entries(repos)));
    return holder.hub;
  }

  requests(filter: Partial<LoggedRequest> & { pathIncludes?: string } = {}): LoggedRequest[] {
    return this.log.filter(
      (entry) =>
        (filter.server === undefined || entry.server === filter.server) &&
        (filter.method === undefined || entry.method === filter.method) &&
        (filter.pathIncludes === undefined || entry.path.includes(filter.pathIncludes)),
    );
  }

  /** How many never-ending bodies (endless or stalled) were started so far. */
  endlessBodiesStarted = 0;

  /** Resolves once every never-ending body (endless or stalled) started so far has lost its connection (the client closed it). */
  endlessBodiesClosed(): Promise<void> {
    if (this.endless.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.endlessClosed.push(resolve));
  }

  /** Counts `res` among the never-ending bodies until its connection closes. */
  private trackUnending(res: ServerResponse): void {
    this.endlessBodiesStarted += 1;
    this.endless.add(res);
    res.on('close', () => {
      this.endless.delete(res);
      if (this.endless.size > 0) return;
      for (const resolve of this.endlessClosed.splice(0)) resolve();
    });
  }

  /** Sends `data` one byte every 50 ms; the rest at once after 10 s (the bound of a test that waits for it in vain). */
  private trickle(path: string, data: Buffer, res: ServerResponse): void {
    const started = Date.now();
    let sent = 0;
    const timer = setInterval(() => {
      if (res.destroyed) return clearInterval(timer);
      const end = Date.now() - started > 10_000 ? data.length : sent + 1;
      res.write(data.subarray(sent, end));
      sent = end;
      if (sent >= data.length) {
        clearInterval(timer);
        res.end();
      }
    }, 50);
    res.on('close', () => clearInterval(timer));
    this.onTrickle?.(path);
  }

  /** Sends `res`'s body forever (as fast as the client reads), until the connection closes. */
  private sendEndlessBody(res: ServerResponse): void {
    this.trackUnending(res);
    const chunk = Buffer.alloc(16 * 1024, 0x20);
    const pump = (): void => {
      while (!res.destroyed && res.write(chunk));
    };
    res.on('drain', pump);
    pump();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await Promise.all([this.hubServer, this.cdnServer].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  }

  private record(server: 'hub' | 'cdn', req: IncomingMessage): void {
    this.log.push({ server, method: req.method ?? '', path: req.url ?? '', range: req.headers.range, authorization: req.headers.authorization });
  }

  private error(res: ServerResponse, status: number, code: string, message: string): void {
    res.writeHead(status, { 'content-type': 'application/json', 'x-error-code': code });
    res.end(JSON.stringify({ error: message }));
  }

  /** 401/403 for a gated repo the request may not read; true when it answered. */
  private refusedAccess(spec: RepoSpec, req: IncomingMessage, res: ServerResponse): boolean {
    if (!spec.gated) return false;
    const auth = req.headers.authorization;
    if (!auth) {
      this.error(res, 401, 'GatedRepo', 'Access to this model is restricted. You must have access to it and be authenticated.');
      return true;
    }
    if (auth !== `Bearer ${spec.gated.grantedToken}`) {
      this.error(res, 403, 'GatedRepo', 'Access to this model is restricted and you are not in the authorized list.');
      return true;
    }
    return false;
  }

  private handleHub(req: IncomingMessage, res: ServerResponse): void {
    this.record('hub', req);
    if (this.intercept?.('hub', req, res)) return;
    const url = new URL(req.url ?? '/', this.endpoint);
    const path = decodeURIComponent(url.pathname);
    const tree = /^\/api\/models\/([^/]+\/[^/]+)\/tree\/([^/]+)$/.exec(path);
    if (tree) return this.serveTree(tree[1], tree[2], req, res);
    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(path);
    if (resolve) return this.serveResolve(resolve[1], resolve[2], resolve[3], req, res);
    this.error(res, 404, 'NotFound', 'not found');
  }

  private repoAt(repo: string, revision: string, res: ServerResponse): RepoSpec | undefined {
    const spec = this.repos.get(repo);
    if (!spec) {
      // As huggingface.co: an unknown repo is a 401 (it could be private).
      this.error(res, 401, 'RepoNotFound', 'Repository not found');
      return undefined;
    }
    if (revision !== 'main' && revision !== spec.commit) {
      this.error(res, 404, 'RevisionNotFound', `Invalid rev id: ${revision}`);
      return undefined;
    }
    return spec;
  }

  private serveTree(repo: string, revision: string, req: IncomingMessage, res: ServerResponse): void {
    const spec = this.repoAt(repo, revision, res);
    if (!spec || this.refusedAccess(spec, req, res)) return;
    const entries: unknown[] = [];
    const dirs = new Set<string>();
    for (const [path, data] of Object.entries(spec.files)) {
      const dir = path.includes('/') ? path.slice(0, path.lastIndexOf('/')) : undefined;
      if (dir && !dirs.has(dir)) {
        dirs.add(dir);
        entries.push({ type: 'directory', oid: '0'.repeat(40), size: 0, path: dir });
      }
      const entry: Record<string, unknown> = { type: 'file', oid: gitOid(data), size: data.length, path };
      if (isLfs(path)) entry.lfs = { oid: sha256(data), size: data.length, pointerSize: 134 };
      if (this.withoutChecksums.has(path)) {
        delete entry.oid;
        delete entry.lfs;
      }
      entries.push(entry);
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(entries));
  }

  private serveResolve(repo: string, revision: string, path: string, req: IncomingMessage, res: ServerResponse): void {
    const spec = this.repoAt(repo, revision, res);
    if (!spec || this.refusedAccess(spec, req, res)) return;
    const data = spec.files[path];
    if (!data) return this.error(res, 404, 'EntryNotFound', `${path} does not exist on "${revision}"`);
    const failures = this.serverErrors.get(path) ?? 0;
    if (req.method === 'GET' && failures > 0) {
      this.serverErrors.set(path, failures - 1);
      return this.error(res, 500, 'Internal', 'internal error');
    }
    const endlessErrors = this.endlessErrorBodies.get(path) ?? 0;
    if (req.method === 'GET' && endlessErrors > 0) {
      this.endlessErrorBodies.set(path, endlessErrors - 1);
      res.writeHead(503, { 'content-type': 'text/html' });
      return this.sendEndlessBody(res);
    }
    const common: Record<string, string> = { 'accept-ranges': 'bytes', ...(this.withoutCommitHeader ? {} : { 'x-repo-commit': spec.commit }) };
    const unverifiable = this.withoutChecksums.has(path);
    if (isLfs(path)) {
      const endlessBody = req.method === 'GET' && this.endlessRedirectBodies.has(path);
      res.writeHead(302, {
        ...common,
        location: `${this.cdn}/blobs/${sha256(data)}?path=${encodeURIComponent(path)}&repo=${encodeURIComponent(repo)}`,
        ...(unverifiable ? {} : { 'x-linked-etag': `"${sha256(data)}"`, etag: `"${gitOid(data)}"` }),
        'x-linked-size': String(data.length),
        ...(endlessBody ? {} : { 'content-length': '0' }),
      });
      if (endlessBody) return this.sendEndlessBody(res);
      res.end();
      return;
    }
    const etag = unverifiable ? { etag: 'W/"weak"' } : { etag: `"${gitOid(data)}"` };
    res.writeHead(200, { ...common, ...etag, 'content-length': String(data.length), 'content-type': 'application/octet-stream' });
    if (req.method === 'HEAD') return void res.end();
    if (this.trickledFiles.has(path)) return this.trickle(path, data, res);
    if (!this.damagedOnTheWay.has(path)) return void res.end(data);
    const damaged = Buffer.from(data);
    damaged[Math.floor(damaged.length / 2)] ^= 0xff;
    res.end(damaged);
  }

  private handleCdn(req: IncomingMessage, res: ServerResponse): void {
    this.record('cdn', req);
    if (this.intercept?.('cdn', req, res)) return;
    const url = new URL(req.url ?? '/', this.cdn);
    const repo = url.searchParams.get('repo') ?? '';
    const path = url.searchParams.get('path') ?? '';
    const data = this.repos.get(repo)?.files[path];
    if (!data || !url.pathname.startsWith('/blobs/')) {
      res.writeHead(404);
      res.end();
      return;
    }
    const fault = this.cdnFaults.get(path)?.shift();
    if (fault?.status !== undefined) {
      res.writeHead(fault.status, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>');
      return;
    }
    let body = data;
    if (fault?.corrupt) {
      body = Buffer.from(data);
      body[Math.floor(body.length / 2)] ^= 0xff;
    }
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    let status = 200;
    const headers: Record<string, string> = { 'accept-ranges': 'bytes', etag: `"${sha256(data)}"`, 'content-type': 'application/octet-stream' };
    if (range && !fault?.ignoreRange) {
      const start = Number(range[1]);
      if (start >= data.length) {
        res.writeHead(416, { 'content-range': `bytes */${data.length}` });
        res.end();
        return;
      }
      headers['content-range'] = `bytes ${start}-${data.length - 1}/${data.length + (fault?.sizeOffBy ?? 0)}`;
      body = body.subarray(start);
      status = 206;
    }
    headers['content-length'] = String(body.length + (status === 200 ? (fault?.sizeOffBy ?? 0) : 0));
    res.writeHead(status, headers);
    if (fault?.dropAfterBytes !== undefined) {
      // Ends the connection (FIN) short of Content-Length, as a proxy or CDN edge that gives up.
      res.write(body.subarray(0, fault.dropAfterBytes), () => res.socket?.end());
      return;
    }
    if (fault?.trickleAfterBytes !== undefined) {
      res.write(body.subarray(0, fault.trickleAfterBytes));
      this.trickle(path, body.subarray(fault.trickleAfterBytes), res);
      return;
    }
    if (fault?.stallAfterBytes !== undefined) {
      this.trackUnending(res);
      res.write(body.subarray(0, fault.stallAfterBytes), () => this.onStall?.(path));
      return; // the socket stays open, silent, until the client aborts or close()
    }
    res.end(body);
  }
}
