/**
 * HTTP for the model hub on the shared transport (src/core/http): GET/HEAD with redirects
 * followed by hand so that the access token is sent to the hub only (never to the CDN a
 * file redirects to), exact connect and idle timeouts, a low-speed limit for file
 * transfers, and cancellation through an AbortSignal. Errors are ModelDownloadErrors
 * naming relay.models.hubEndpoint.
 */
import type * as http from 'node:http';
import { openExchange, readBounded } from '../http/exchange';
import { classifyNetworkError } from '../http/networkErrors';
import { withoutCredentials } from '../http/shownUrl';
import { formatBytes, formatDuration, isModelDownloadError, ModelDownloadError } from './errors';

/** The value of a header that may come as a list. */
export { headerValue as header } from '../http/headers';

export interface HubTimeouts {
  /** Most milliseconds to open the connection: TCP, and the TLS handshake for https. */
  connectTimeoutMs: number;
  /**
   * Most milliseconds without a byte, before the headers and between body chunks; a file's
   * transfer must also bring enough bytes in each such period (see guardLowSpeed).
   */
  idleTimeoutMs: number;
  /**
   * Most milliseconds for one small read (a listing page, config.json, a HEAD), from the
   * request to the last byte: a server that trickles a byte now and then never trips the
   * idle timeout. Default SMALL_READ_DEADLINE_MS.
   */
  smallReadDeadlineMs?: number;
}

export const SMALL_READ_DEADLINE_MS = 60_000;

export const DEFAULT_HUB_TIMEOUTS: HubTimeouts = { connectTimeoutMs: 15_000, idleTimeoutMs: 60_000, smallReadDeadlineMs: SMALL_READ_DEADLINE_MS };

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

/** Waits `ms`; an AbortSignal ends the wait at once with the cancelled error. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelledError());
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(cancelledError());
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
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
    // Closed, not drained: a redirect's body may never end, and the connection is this request's own.
    response.body.destroy();
    url = next;
  }
  throw new ModelDownloadError('server', `The model hub redirected ${withoutCredentials(options.url).href} more than ${MAX_REDIRECTS} times; try again later.`);
}

function sendOnce(options: HubRequestOptions, url: URL): Promise<HubResponse> {
  const { timeouts } = options;
  const headers: Record<string, string> = { 'user-agent': 'relay-vscode', 'accept-encoding': 'identity', ...(options.headers ?? {}) };
  // The token belongs to the hub; a signed CDN URL needs none and must not see it.
  if (options.token && url.origin === options.hubOrigin) headers.authorization = `Bearer ${options.token}`;

  return openExchange<ModelDownloadError, HubResponse>({
    url,
    method: options.method,
    headers,
    // One connection per request, so a dropped transfer never poisons a pool.
    agent: false,
    signal: options.signal,
    connectTimeoutMs: timeouts.connectTimeoutMs,
    errors: {
      own: isModelDownloadError,
      cancelled: cancelledError,
      connectTimeout: () =>
        new ModelDownloadError(
          'network',
          `Could not connect to ${url.host} within ${Math.round(timeouts.connectTimeoutMs / 1000)} s. Check the network and relay.models.hubEndpoint.`,
        ),
      network: (error) => networkError(error, url),
    },
    // The idle timeout is the socket's: before the headers and between body chunks, as long as the body is read.
    prepare: (exchange) =>
      exchange.request.setTimeout(timeouts.idleTimeoutMs, () =>
        exchange.fail(
          new ModelDownloadError('network', `${url.host} sent nothing for ${Math.round(timeouts.idleTimeoutMs / 1000)} s; the transfer was stopped.`),
        ),
      ),
    response: (res, exchange) => {
      exchange.disarm();
      // The signal keeps guarding the body until it closes.
      res.on('close', () => exchange.end());
      // A body error that is not ours (reset mid-transfer) becomes a typed network error.
      res.on('error', () => undefined);
      exchange.resolve({ status: res.statusCode ?? 0, headers: res.headers, url, body: res });
    },
  });
}

export function networkError(error: NodeJS.ErrnoException, url: URL): ModelDownloadError {
  if (error instanceof ModelDownloadError) return error;
  const code = error.code ?? '';
  switch (classifyNetworkError(error, url)) {
    case 'host-not-found':
    case 'dns-unavailable':
      return new ModelDownloadError('network', `Cannot resolve ${url.hostname} (${code}). Check the network, or relay.models.hubEndpoint if you use a mirror.`);
    case 'refused':
      return new ModelDownloadError('network', `${url.host} refused the connection. Check relay.models.hubEndpoint, or try again later.`);
    default:
      return new ModelDownloadError('network', `The connection to ${url.host} failed (${code || error.message}).`);
  }
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

/**
 * Ends `response`'s body with a network error when an idle period (`periodMs`) brings some
 * bytes, but fewer than `leastBytes()`: a server that trickles a byte now and then never
 * trips the idle timeout, and would hold a download at "0 B/s" for ever. A period without a
 * byte is the idle timeout's to report; one in which the reader paused the body (the disk
 * behind) is not held against the server. `what`: the file, for the message. Returns the
 * function that stops the guard (call it once the body is done with).
 */
export function guardLowSpeed(response: HubResponse, what: string, periodMs: number, leastBytes: () => number): () => void {
  const body = response.body;
  let received = 0;
  let paused = body.isPaused();
  const onData = (chunk: Buffer): void => {
    received += chunk.length;
  };
  const onPause = (): void => {
    paused = true;
  };
  body.on('data', onData);
  body.on('pause', onPause);
  const timer = setInterval(() => {
    const got = received;
    const heldBack = paused;
    received = 0;
    paused = body.isPaused();
    if (heldBack || got === 0 || got >= leastBytes()) return;
    const speed = `${formatBytes(got / (periodMs / 1000))}/s`;
    body.destroy(
      new ModelDownloadError(
        'network',
        `${response.url.host} sent only ${formatBytes(got)} of ${what} in ${formatDuration(periodMs)} (${speed}), too slow to finish; the transfer was stopped. Check the network (a slow proxy?) and relay.models.hubEndpoint.`,
      ),
    );
  }, periodMs);
  return () => {
    clearInterval(timer);
    body.off('data', onData);
    body.off('pause', onPause);
  };
}

/** Reads a (small) response body as text, at most `limit` bytes. */
export async function readText(response: HubResponse, limit = 8 * 1024 * 1024): Promise<string> {
  const { text, overflowed } = await readBounded(response.body, limit, { stopAtLimit: true });
  if (overflowed) {
    response.body.destroy();
    throw new ModelDownloadError('server', `${response.url.host} sent more than ${limit} bytes where a short answer was expected.`);
  }
  return text;
}
