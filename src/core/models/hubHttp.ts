/**
 * HTTP for the model hub on node:http/https: GET/HEAD with redirects followed by hand so
 * that the access token is sent to the hub only (never to the CDN a file redirects to),
 * exact connect and idle timeouts, and cancellation through an AbortSignal.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { ModelDownloadError } from './errors';

export interface HubTimeouts {
  /** Most milliseconds to open the connection. */
  connectTimeoutMs: number;
  /** Most milliseconds without a byte, before the headers and between body chunks. */
  idleTimeoutMs: number;
}

export const DEFAULT_HUB_TIMEOUTS: HubTimeouts = { connectTimeoutMs: 15_000, idleTimeoutMs: 60_000 };

export interface HubRequestOptions {
  method: 'GET' | 'HEAD';
  url: URL;
  /** Sent as `Authorization: Bearer` to the hub's own origin only. */
  token?: string;
  /** The hub's origin: the only origin that gets the token. */
  hubOrigin: string;
  headers?: Record<string, string>;
  signal?: AbortSignal;
  timeouts: HubTimeouts;
  /** 'all' follows every redirect (downloads); 'same-origin' stops at a CDN redirect (metadata). */
  redirects: 'all' | 'same-origin';
}

export interface HubResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** The URL that answered (after redirects). */
  url: URL;
  /** The body; the idle timeout and the signal keep guarding it while it is read. */
  body: http.IncomingMessage;
}

const MAX_REDIRECTS = 10;

export function cancelledError(): ModelDownloadError {
  return new ModelDownloadError('cancelled', 'The download was cancelled; what was downloaded is kept and the next download resumes it.');
}

/** Sends one request and follows redirects; resolves with the first non-redirect response. */
export async function hubRequest(options: HubRequestOptions): Promise<HubResponse> {
  let url = options.url;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop += 1) {
    const response = await sendOnce(options, url);
    const location = response.headers.location;
    const isRedirect = response.status >= 300 && response.status < 400 && typeof location === 'string';
    if (!isRedirect) return response;
    const next = new URL(location, url);
    if (options.redirects === 'same-origin' && next.origin !== url.origin) return response;
    response.body.resume(); // discard the redirect's body so the socket is freed
    url = next;
  }
  throw new ModelDownloadError('server', `The model hub redirected ${options.url.href} more than ${MAX_REDIRECTS} times; try again later.`);
}

function sendOnce(options: HubRequestOptions, url: URL): Promise<HubResponse> {
  const { signal, timeouts } = options;
  if (signal?.aborted) return Promise.reject(cancelledError());
  const transport = url.protocol === 'https:' ? https : http;
  const headers: Record<string, string> = { 'user-agent': 'relay-vscode', 'accept-encoding': 'identity', ...(options.headers ?? {}) };
  // The token belongs to the hub; a signed CDN URL needs none and must not see it.
  if (options.token && url.origin === options.hubOrigin) headers.authorization = `Bearer ${options.token}`;

  return new Promise<HubResponse>((resolve, reject) => {
    let settled = false;
    let connectTimer: NodeJS.Timeout | undefined;
    let response: http.IncomingMessage | undefined;
    // agent: false: one connection per request, so a dropped transfer never poisons a pool.
    const req = transport.request(url, { method: options.method, headers, agent: false });

    const fail = (error: Error): void => {
      if (connectTimer) clearTimeout(connectTimer);
      signal?.removeEventListener('abort', onAbort);
      if (response) response.destroy(error);
      req.destroy(error);
      if (!settled) {
        settled = true;
        reject(error);
      }
    };
    const onAbort = (): void => fail(cancelledError());
    signal?.addEventListener('abort', onAbort, { once: true });

    req.setTimeout(timeouts.idleTimeoutMs, () =>
      fail(new ModelDownloadError('network', `${url.host} sent nothing for ${Math.round(timeouts.idleTimeoutMs / 1000)} s; the transfer was stopped.`)),
    );
    req.on('socket', (socket) => {
      if (!socket.connecting) return;
      connectTimer = setTimeout(
        () => fail(new ModelDownloadError('network', `Could not connect to ${url.host} within ${Math.round(timeouts.connectTimeoutMs / 1000)} s. Check the network and relay.models.hubEndpoint.`)),
        timeouts.connectTimeoutMs,
      );
      socket.once('connect', () => connectTimer && clearTimeout(connectTimer));
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error instanceof ModelDownloadError) return fail(error);
      fail(networkError(error, url));
    });
    req.on('response', (res) => {
      response = res;
      if (connectTimer) clearTimeout(connectTimer);
      res.on('close', () => signal?.removeEventListener('abort', onAbort));
      // A body error that is not ours (reset mid-transfer) becomes a typed network error.
      res.on('error', () => undefined);
      settled = true;
      resolve({ status: res.statusCode ?? 0, headers: res.headers, url, body: res });
    });
    req.end();
  });
}

export function networkError(error: NodeJS.ErrnoException, url: URL): ModelDownloadError {
  if (error instanceof ModelDownloadError) return error;
  const code = error.code ?? '';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') {
    return new ModelDownloadError('network', `Cannot resolve ${url.hostname} (${code}). Check the network, or relay.models.hubEndpoint if you use a mirror.`);
  }
  if (code === 'ECONNREFUSED') {
    return new ModelDownloadError('network', `${url.host} refused the connection. Check relay.models.hubEndpoint, or try again later.`);
  }
  return new ModelDownloadError('network', `The connection to ${url.host} failed (${code || error.message}).`);
}

/**
 * The body's chunks, every byte that arrived included, then the transfer's error if it
 * broke off. (Iterating the response itself drops the chunks still buffered when the
 * connection closes early; a resumed download would fetch them again.) Listens from the
 * moment it is called, so call it before awaiting anything else.
 */
export function receivedChunks(response: HubResponse): AsyncIterable<Buffer> {
  const body = response.body;
  const queue: Buffer[] = [];
  let failure: Error | undefined = body.errored ?? undefined;
  let ended = body.readableEnded;
  let wake: (() => void) | undefined;
  const notify = (): void => {
    wake?.();
    wake = undefined;
  };
  const prematureClose = (): Error => Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
  if (!ended && body.destroyed) failure ??= prematureClose();
  body.on('data', (chunk: Buffer) => {
    queue.push(chunk);
    if (queue.length >= 256) body.pause(); // bounded memory while the disk catches up
    notify();
  });
  body.on('end', () => {
    ended = true;
    notify();
  });
  body.on('error', (error: Error) => {
    failure ??= error;
    notify();
  });
  body.on('close', () => {
    if (!body.readableEnded) failure ??= prematureClose();
    ended = true;
    notify();
  });
  return {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const chunk = queue.shift();
        if (chunk) {
          if (queue.length < 64 && body.isPaused()) body.resume();
          yield chunk;
          continue;
        }
        if (failure) throw failure;
        if (ended) return;
        await new Promise<void>((resolve) => (wake = resolve));
      }
    },
  };
}

/** Reads a (small) response body as text, at most `limit` bytes. */
export async function readText(response: HubResponse, limit = 8 * 1024 * 1024): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of response.body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) {
      response.body.destroy();
      throw new ModelDownloadError('server', `${response.url.host} sent more than ${limit} bytes where a short answer was expected.`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts).toString('utf8');
}

/** The value of a header that may come as a list. */
export function header(headers: http.IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}
