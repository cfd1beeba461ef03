/**
 * Streaming HTTP for providers, on node:http/https so that each wait on the wire has its
 * own exact timeout and an abort tears the socket down at once. Errors come out typed,
 * scrubbed of the key, and saying what fixes them.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { settingRef } from '../settingNames';
import { ProviderError, formatSeconds, setKeyHint } from './errors';
import type { ProviderKind } from './types';

/** Each bounds one wait of one request; the total of a call (retries included) is HttpProvider's. */
export interface HttpTimeouts {
  /** Opening the connection: TCP, and the TLS handshake for https. */
  connectTimeoutMs: number;
  /** From the request being sent to the first byte of a success response's body: headers alone do not count. */
  firstByteTimeoutMs: number;
  /** Between two chunks of a body once it started (an error body: from its headers on). */
  idleTimeoutMs: number;
}

export interface StreamRequest {
  url: URL;
  headers: Record<string, string>;
  body: unknown;
  /** Named in errors (where its API key comes from). */
  kind: ProviderKind;
  timeouts: HttpTimeouts;
  signal?: AbortSignal;
  /** Values scrubbed from every error message. */
  secrets: readonly string[];
  /** Keep-alive agents of the provider, so repeated relay calls reuse the connection. */
  agents: { http: http.Agent; https: https.Agent };
  /** Told the URL and body of the request just before it is sent (the privacy view). */
  onSend?: (url: URL, body: unknown) => void;
  /** Told when the request went out on an open connection. */
  onSent?: () => void;
  /** Told once, when the first byte of a success response's body arrived: from here on the call may be billed. */
  onFirstByte?: () => void;
}

export interface StreamResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Body bytes; throws a typed ProviderError on a timeout, a drop or an abort. */
  body: AsyncIterable<Buffer>;
}

/** Raised into the request when the caller aborts; the providers turn it into done{cancelled}. */
export function cancelledError(): ProviderError {
  return new ProviderError('cancelled', 'The request was cancelled.', {});
}

export function createAgents(): { http: http.Agent; https: https.Agent } {
  return { http: new http.Agent({ keepAlive: true }), https: new https.Agent({ keepAlive: true }) };
}

/** Most bytes of an error body we read: enough for any JSON error, bounded against junk. */
const ERROR_BODY_LIMIT = 64 * 1024;

/**
 * Sends a JSON POST and resolves once the response headers arrived. A status >= 400 is
 * read (bounded) and thrown as a typed ProviderError. One timer at a time guards the
 * exchange: connect, then first byte (running on past the headers of a success status),
 * then idle between body chunks.
 */
export function postStream(request: StreamRequest): Promise<StreamResponse> {
  const { url, timeouts, signal, secrets } = request;
  if (signal?.aborted) return Promise.reject(cancelledError());
  const payload = Buffer.from(JSON.stringify(request.body));
  request.onSend?.(url, request.body);
  const isHttps = url.protocol === 'https:';
  const transport = isHttps ? https : http;

  return new Promise<StreamResponse>((resolve, reject) => {
    let response: http.IncomingMessage | undefined;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;
    let ended = false;
    let bodyStarted = false;

    const disarm = () => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    };
    const arm = (ms: number, error: () => ProviderError) => {
      disarm();
      if (ended) return;
      timer = setTimeout(() => fail(error()), ms);
    };
    const armConnect = () => arm(timeouts.connectTimeoutMs, () => connectTimeoutError(url, timeouts.connectTimeoutMs, secrets));
    const armFirstByte = () => arm(timeouts.firstByteTimeoutMs, () => firstByteTimeoutError(url, timeouts.firstByteTimeoutMs, secrets));
    const armIdle = () => arm(timeouts.idleTimeoutMs, () => idleTimeoutError(url, timeouts.idleTimeoutMs, secrets));
    /** Stops the timers and the abort listener; the exchange is over. */
    const end = () => {
      ended = true;
      disarm();
      signal?.removeEventListener('abort', onAbort);
    };
    /** Tears the exchange down with a typed error, wherever it stands. */
    const fail = (error: ProviderError) => {
      end();
      if (response) response.destroy(error);
      req.destroy(error);
      if (!settled) {
        settled = true;
        reject(error);
      }
    };
    const onAbort = () => fail(cancelledError());
    /** The first byte of a success body (not the headers) ends the first-byte wait; from here on the call may be billed. */
    const bodyArrived = () => {
      if (bodyStarted || ended) return;
      bodyStarted = true;
      armIdle();
      request.onFirstByte?.();
    };

    /** The success body, timed between chunks; the consumer's time with a chunk is not the server's silence. */
    async function* readBody(res: http.IncomingMessage): AsyncGenerator<Buffer> {
      try {
        for await (const chunk of res) {
          bodyArrived();
          disarm();
          yield chunk as Buffer;
          armIdle();
        }
        // An 'aborted' response may end without an error on some Node versions.
        if (!res.complete) throw droppedError(url, bodyStarted, secrets);
      } catch (error) {
        if (error instanceof ProviderError) throw error;
        const errno = error as NodeJS.ErrnoException;
        if (errno.code === 'ECONNRESET' || errno.message === 'aborted') throw droppedError(url, bodyStarted, secrets);
        throw networkError(errno, url, secrets);
      } finally {
        end();
        // Stops the transfer if the consumer left early (break, or an error of its own).
        if (!res.complete) res.destroy();
      }
    }

    const req = transport.request(url, {
      method: 'POST',
      agent: isHttps ? request.agents.https : request.agents.http,
      headers: {
        ...request.headers,
        'content-type': 'application/json',
        accept: 'text/event-stream, application/x-ndjson, application/json',
        'content-length': String(payload.length),
      },
    });
    signal?.addEventListener('abort', onAbort, { once: true });
    // From now, not from the 'socket' event: getting a socket (a proxy agent, DNS) is part of connecting.
    armConnect();

    req.on('socket', (socket) => {
      if (ended) return;
      // A kept-alive connection is open already; the request goes out at once.
      if (!socket.connecting) return armFirstByte();
      socket.once(isHttps ? 'secureConnect' : 'connect', () => {
        if (!ended && !response) armFirstByte();
      });
    });
    req.on('finish', () => {
      if (!ended) request.onSent?.();
    });

    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error instanceof ProviderError) return fail(error);
      fail(networkError(error, url, secrets, req.reusedSocket));
    });

    req.on('response', (res) => {
      response = res;
      const status = res.statusCode ?? 0;
      if (status >= 400) {
        armIdle();
        readBounded(res, armIdle).then(
          (text) => {
            end();
            settled = true;
            reject(errorFromStatus(status, res.headers, text, url, secrets, request.kind));
          },
          (error: unknown) => fail(error instanceof ProviderError ? error : networkError(error as NodeJS.ErrnoException, url, secrets)),
        );
        return;
      }
      // Noticed when bytes arrive, not when the consumer reads them: a drop right after them
      // destroys the response, and buffered bytes are never read, but they were sent (and billed).
      const onReadable = () => {
        if (res.readableLength === 0) return;
        res.off('readable', onReadable);
        bodyArrived();
      };
      res.on('readable', onReadable);
      settled = true;
      resolve({ status, headers: res.headers, body: readBody(res) });
    });

    req.end(payload);
  });
}

async function readBounded(res: http.IncomingMessage, onChunk: () => void): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    onChunk();
    if (size < ERROR_BODY_LIMIT) parts.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return Buffer.concat(parts).toString('utf8').slice(0, ERROR_BODY_LIMIT);
}

// ---- Timeouts: each names the setting that changes it. ----

export function connectTimeoutError(url: URL, ms: number, secrets: readonly string[] = []): ProviderError {
  return new ProviderError(
    'timeout',
    `Could not connect to ${url.host} within ${formatSeconds(ms)}. Check the network and ${settingRef('baseUrl')}; if the server is slow to accept connections, raise ${settingRef('connectTimeout')}.`,
    { fix: 'open-settings', retryable: true, summary: `no connection in ${formatSeconds(ms)}` },
    secrets,
  );
}

export function firstByteTimeoutError(url: URL, ms: number, secrets: readonly string[] = []): ProviderError {
  return new ProviderError(
    'timeout',
    `${url.host} sent no response for ${formatSeconds(ms)} after the request. If the server is slow to start (a cold model), raise ${settingRef('firstByteTimeout')}.`,
    { fix: 'retry', retryable: true, summary: `no response for ${formatSeconds(ms)}` },
    secrets,
  );
}

export function idleTimeoutError(url: URL, ms: number, secrets: readonly string[] = []): ProviderError {
  return new ProviderError(
    'timeout',
    `${url.host} sent nothing for ${formatSeconds(ms)} in the middle of its response; the request was stopped. If the model pauses that long, raise ${settingRef('idleTimeout')}.`,
    { fix: 'retry', retryable: true, summary: `silent for ${formatSeconds(ms)}` },
    secrets,
  );
}

export function callTimeoutError(host: string, ms: number): ProviderError {
  return new ProviderError(
    'timeout',
    `The call to ${host} took more than ${formatSeconds(ms)} in all (tries and retry waits included) and was stopped. If the model is that slow, raise ${settingRef('callTimeout')}.`,
    { fix: 'retry', summary: `call longer than ${formatSeconds(ms)}` },
  );
}

// ---- Connection failures. ----

function droppedError(url: URL, bodyStarted: boolean, secrets: readonly string[]): ProviderError {
  const when = bodyStarted ? 'in the middle of the answer' : 'after the response headers, before the answer';
  return new ProviderError('network', `The connection to ${url.host} dropped ${when}. Try again.`, { fix: 'retry', retryable: true, summary: 'connection dropped' }, secrets);
}

/** https:// to a plain-HTTP port: OpenSSL reads the server's "HTTP/1.1 400" as a broken TLS record. */
function isPlainHttpAnswerToTls(error: NodeJS.ErrnoException): boolean {
  return (
    error.code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    error.code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
    /wrong version number|packet length too long|unknown protocol/i.test(error.message ?? '')
  );
}

/** `reusedConnection`: the request went out on a kept-alive connection (which the server may have closed meanwhile). */
export function networkError(error: NodeJS.ErrnoException, url: URL, secrets: readonly string[], reusedConnection = false): ProviderError {
  const where = url.host;
  const baseUrl = settingRef('baseUrl');
  if (url.protocol === 'https:' && isPlainHttpAnswerToTls(error)) {
    return new ProviderError(
      'network',
      `${where} does not speak TLS (https); if it is a plain HTTP server (local model servers usually are), use http://${where}/... in ${baseUrl}.`,
      { fix: 'open-settings', summary: 'not a TLS server' },
      secrets,
    );
  }
  switch (error.code) {
    case 'ECONNREFUSED':
      return new ProviderError('network', `Nothing is listening at ${where} (connection refused). Start the server or fix ${baseUrl}.`, { fix: 'open-settings', summary: 'connection refused' }, secrets);
    case 'ENOTFOUND':
      return new ProviderError('network', `The host ${url.hostname} was not found. Check ${baseUrl} and your network.`, { fix: 'open-settings', summary: 'host not found' }, secrets);
    case 'ECONNRESET':
      // A TLS server drops plain HTTP without an answer; a plain server may drop a TLS hello.
      if (url.protocol === 'http:' && !reusedConnection) {
        return new ProviderError(
          'network',
          `${where} closed the connection without an answer (ECONNRESET). If the server expects https://, use https://${where}/... in ${baseUrl}; otherwise check the network and try again.`,
          { fix: 'retry', retryable: true, summary: 'connection reset' },
          secrets,
        );
      }
      if (/before secure TLS connection/i.test(error.message ?? '')) {
        return new ProviderError(
          'network',
          `${where} closed the connection during the TLS handshake (ECONNRESET). If it is a plain HTTP server, use http://${where}/... in ${baseUrl}; otherwise check the network and try again.`,
          { fix: 'retry', retryable: true, summary: 'connection reset' },
          secrets,
        );
      }
      return new ProviderError('network', `The connection to ${where} failed (ECONNRESET). Check the network and try again.`, { fix: 'retry', retryable: true, summary: 'connection reset' }, secrets);
    case 'EAI_AGAIN':
    case 'EPIPE':
    case 'ETIMEDOUT':
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return new ProviderError('network', `The connection to ${where} failed (${error.code}). Check the network and try again.`, { fix: 'retry', retryable: true, summary: `connection failed (${error.code})` }, secrets);
    default:
      return new ProviderError(
        'network',
        `The request to ${where} failed: ${error.code ?? error.message}. Check the network and try again.`,
        { fix: 'retry', retryable: true, summary: `connection failed (${error.code ?? 'error'})` },
        secrets,
      );
  }
}

/** Milliseconds from Retry-After (seconds or an HTTP date) or OpenAI's retry-after-ms. */
export function parseRetryAfter(headers: http.IncomingHttpHeaders, now = Date.now()): number | undefined {
  const ms = headerValue(headers['retry-after-ms']);
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim())) return Math.round(Number(ms));
  const value = headerValue(headers['retry-after']);
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  if (/^\d+(\.\d+)?$/.test(trimmed)) return Math.round(Number(trimmed) * 1000);
  const date = Date.parse(trimmed);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

function headerValue(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** The error text and type of any of the JSON error shapes (OpenAI, Anthropic, Ollama). */
export function describeErrorBody(text: string): { message: string; type: string } {
  try {
    const body = JSON.parse(text) as any;
    const error = body?.error;
    if (typeof error === 'string') return { message: error, type: '' };
    if (error && typeof error === 'object') {
      return { message: String(error.message ?? ''), type: String(error.code ?? error.type ?? '') };
    }
    if (typeof body?.message === 'string') return { message: body.message, type: String(body.type ?? '') };
    if (typeof body?.detail === 'string') return { message: body.detail, type: '' };
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return { message: text.trim().slice(0, 300), type: '' };
}

/** What TLS servers (nginx, Go, Caddy) answer to plain HTTP on their port. */
const PLAIN_HTTP_TO_TLS_PORT = /plain HTTP request was sent to HTTPS port|HTTP request to an HTTPS server/i;

/** Maps an HTTP error status (and body) to a typed error whose message says what to do. */
export function errorFromStatus(
  status: number,
  headers: http.IncomingHttpHeaders,
  bodyText: string,
  url: URL,
  secrets: readonly string[],
  kind: ProviderKind,
): ProviderError {
  const { message: said, type } = describeErrorBody(bodyText);
  const server = said ? ` The server said: ${said}` : '';
  const retryAfterMs = parseRetryAfter(headers);
  const host = url.host;
  const lowered = `${type} ${said}`.toLowerCase();
  const baseUrl = settingRef('baseUrl');
  const model = settingRef('model');

  if (status === 401 || status === 403) {
    return new ProviderError('auth', `${host} rejected the API key (HTTP ${status}). ${setKeyHint(kind)}.${server}`, { fix: 'set-key', status }, secrets);
  }
  if (status === 400 && url.protocol === 'http:' && PLAIN_HTTP_TO_TLS_PORT.test(bodyText)) {
    return new ProviderError('bad_request', `${host} expects https:// (it got plain HTTP on its TLS port). Use https://${host}/... in ${baseUrl}.`, { fix: 'open-settings', status }, secrets);
  }
  if (status === 402 || (status === 429 && /quota|billing|credit|insufficient/.test(lowered))) {
    return new ProviderError(
      'quota',
      `The account at ${host} is out of credit or quota (HTTP ${status}). Add credit or raise the limit on the provider's site, or pick another model in ${model}.${server}`,
      { fix: 'open-settings', status },
      secrets,
    );
  }
  if (status === 429) {
    return new ProviderError('rate_limit', `${host} is rate-limiting requests (HTTP 429). Wait a moment and try again.${server}`, { fix: 'retry', status, retryable: true, retryAfterMs }, secrets);
  }
  if (status === 404 || /model_not_found|not_found_error/.test(lowered) || /model .*not (found|exist)/.test(lowered)) {
    if (status === 404 && !/model/.test(lowered)) {
      return new ProviderError('bad_request', `${host} has no such endpoint (HTTP 404 for ${url.pathname}). Check ${baseUrl} (OpenAI-style services usually end in /v1).${server}`, { fix: 'open-settings', status }, secrets);
    }
    return new ProviderError('model_not_found', `The model is not available at ${host} (HTTP ${status}). Pick another model in ${model}.${server}`, { fix: 'pick-model', status }, secrets);
  }
  if (status === 408) {
    return new ProviderError('timeout', `${host} timed out the request (HTTP 408). Try again.${server}`, { fix: 'retry', status, retryable: true, retryAfterMs }, secrets);
  }
  if (status >= 500) {
    return new ProviderError('server', `${host} had a server error (HTTP ${status}). Try again later.${server}`, { fix: 'retry', status, retryable: true, retryAfterMs }, secrets);
  }
  return new ProviderError('bad_request', `${host} refused the request (HTTP ${status}). Check the provider settings: ${model} and ${baseUrl}.${server}`, { fix: 'open-settings', status }, secrets);
}
