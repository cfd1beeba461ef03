/**
 * Streaming HTTP for providers, on node:http/https so that connect and idle timeouts
 * are exact and an abort tears the socket down at once. Errors come out typed and
 * scrubbed of the key.
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { ProviderError } from './errors';

export interface HttpTimeouts {
  connectTimeoutMs: number;
  idleTimeoutMs: number;
}

export interface StreamRequest {
  url: URL;
  headers: Record<string, string>;
  body: unknown;
  timeouts: HttpTimeouts;
  signal?: AbortSignal;
  /** Values scrubbed from every error message. */
  secrets: readonly string[];
  /** Keep-alive agents of the provider, so repeated relay calls reuse the connection. */
  agents: { http: http.Agent; https: https.Agent };
  /** Told the URL and body of the request just before it is sent (the privacy view). */
  onSend?: (url: URL, body: unknown) => void;
}

export interface StreamResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Body bytes; throws a typed ProviderError on idle timeout, drop or abort. */
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
 * read (bounded) and thrown as a typed ProviderError.
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
    let connectTimer: NodeJS.Timeout | undefined;
    let idleTimer: NodeJS.Timeout | undefined;
    let settled = false;

    const clearTimers = () => {
      if (connectTimer) clearTimeout(connectTimer);
      if (idleTimer) clearTimeout(idleTimer);
      connectTimer = idleTimer = undefined;
    };
    /** Tears the exchange down with a typed error, wherever it stands. */
    const fail = (error: ProviderError) => {
      clearTimers();
      signal?.removeEventListener('abort', onAbort);
      if (response) response.destroy(error);
      req.destroy(error);
      if (!settled) {
        settled = true;
        reject(error);
      }
    };
    const armIdle = () => {
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = setTimeout(
        () =>
          fail(
            new ProviderError(
              'timeout',
              `${url.host} sent nothing for ${timeouts.idleTimeoutMs} ms; the request was stopped. Try again, or raise the idle timeout if the model is slow to start.`,
              { fix: 'retry', retryable: true },
              secrets,
            ),
          ),
        timeouts.idleTimeoutMs,
      );
    };
    const onAbort = () => fail(cancelledError());

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

    req.on('socket', (socket) => {
      if (socket.connecting) {
        connectTimer = setTimeout(
          () =>
            fail(
              new ProviderError(
                'timeout',
                `Could not connect to ${url.host} within ${timeouts.connectTimeoutMs} ms. Check the network and relay.provider.baseUrl.`,
                { fix: 'open-settings', retryable: true },
                secrets,
              ),
            ),
          timeouts.connectTimeoutMs,
        );
        socket.once('connect', () => {
          if (connectTimer) clearTimeout(connectTimer);
          connectTimer = undefined;
          armIdle();
        });
      } else {
        armIdle();
      }
    });

    req.on('error', (error: NodeJS.ErrnoException) => {
      if (error instanceof ProviderError) return fail(error);
      fail(networkError(error, url, secrets));
    });

    req.on('response', (res) => {
      response = res;
      if (connectTimer) clearTimeout(connectTimer);
      armIdle();
      const status = res.statusCode ?? 0;
      if (status >= 400) {
        readBounded(res, armIdle).then(
          (text) => {
            clearTimers();
            signal?.removeEventListener('abort', onAbort);
            settled = true;
            reject(errorFromStatus(status, res.headers, text, url, secrets));
          },
          (error: unknown) => fail(error instanceof ProviderError ? error : networkError(error as NodeJS.ErrnoException, url, secrets)),
        );
        return;
      }
      settled = true;
      resolve({ status, headers: res.headers, body: iterateBody(res, armIdle, clearTimers, () => signal?.removeEventListener('abort', onAbort), url, secrets) });
    });

    req.end(payload);
  });
}

async function* iterateBody(
  res: http.IncomingMessage,
  armIdle: () => void,
  clearTimers: () => void,
  detach: () => void,
  url: URL,
  secrets: readonly string[],
): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of res) {
      armIdle();
      yield chunk as Buffer;
    }
    // An 'aborted' response may end without an error on some Node versions.
    if (!res.complete) throw droppedError(url, secrets);
  } catch (error) {
    if (error instanceof ProviderError) throw error;
    const errno = error as NodeJS.ErrnoException;
    if (errno.code === 'ECONNRESET' || errno.message === 'aborted') throw droppedError(url, secrets);
    throw networkError(errno, url, secrets);
  } finally {
    clearTimers();
    detach();
    // Stops the transfer if the consumer left early (break, or an error of its own).
    if (!res.complete) res.destroy();
  }
}

function droppedError(url: URL, secrets: readonly string[]): ProviderError {
  return new ProviderError('network', `The connection to ${url.host} dropped in the middle of the answer. Try again.`, { fix: 'retry', retryable: true }, secrets);
}

async function readBounded(res: http.IncomingMessage, armIdle: () => void): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of res) {
    armIdle();
    if (size < ERROR_BODY_LIMIT) parts.push(chunk as Buffer);
    size += (chunk as Buffer).length;
  }
  return Buffer.concat(parts).toString('utf8').slice(0, ERROR_BODY_LIMIT);
}

export function networkError(error: NodeJS.ErrnoException, url: URL, secrets: readonly string[]): ProviderError {
  const where = url.host;
  switch (error.code) {
    case 'ECONNREFUSED':
      return new ProviderError('network', `Nothing is listening at ${where} (connection refused). Start the server or fix relay.provider.baseUrl.`, { fix: 'open-settings' }, secrets);
    case 'ENOTFOUND':
      return new ProviderError('network', `The host ${url.hostname} was not found. Check relay.provider.baseUrl and your network.`, { fix: 'open-settings' }, secrets);
    case 'EAI_AGAIN':
    case 'ECONNRESET':
    case 'EPIPE':
    case 'ETIMEDOUT':
    case 'ENETUNREACH':
    case 'EHOSTUNREACH':
      return new ProviderError('network', `The connection to ${where} failed (${error.code}). Check the network and try again.`, { fix: 'retry', retryable: true }, secrets);
    default:
      return new ProviderError('network', `The request to ${where} failed: ${error.code ?? error.message}. Check the network and try again.`, { fix: 'retry', retryable: true }, secrets);
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

/** Maps an HTTP error status (and body) to a typed error whose message says what to do. */
export function errorFromStatus(
  status: number,
  headers: http.IncomingHttpHeaders,
  bodyText: string,
  url: URL,
  secrets: readonly string[],
): ProviderError {
  const { message: said, type } = describeErrorBody(bodyText);
  const server = said ? ` The server said: ${said}` : '';
  const retryAfterMs = parseRetryAfter(headers);
  const host = url.host;
  const lowered = `${type} ${said}`.toLowerCase();

  if (status === 401 || status === 403) {
    return new ProviderError('auth', `${host} rejected the API key (HTTP ${status}). Set the key with 'Relay: Set API Key'.${server}`, { fix: 'set-key', status }, secrets);
  }
  if (status === 402 || (status === 429 && /quota|billing|credit|insufficient/.test(lowered))) {
    return new ProviderError('quota', `The account at ${host} is out of credit or quota (HTTP ${status}). Add credit or raise the limit on the provider's site, or pick another model.${server}`, { fix: 'open-settings', status }, secrets);
  }
  if (status === 429) {
    return new ProviderError('rate_limit', `${host} is rate-limiting requests (HTTP 429). Wait a moment and try again.${server}`, { fix: 'retry', status, retryable: true, retryAfterMs }, secrets);
  }
  if (status === 404 || /model_not_found|not_found_error/.test(lowered) || /model .*not (found|exist)/.test(lowered)) {
    if (status === 404 && !/model/.test(lowered)) {
      return new ProviderError('bad_request', `${host} has no such endpoint (HTTP 404 for ${url.pathname}). Check relay.provider.baseUrl (OpenAI-style services usually end in /v1).${server}`, { fix: 'open-settings', status }, secrets);
    }
    return new ProviderError('model_not_found', `The model is not available at ${host} (HTTP ${status}). Pick another model in relay.provider.model.${server}`, { fix: 'pick-model', status }, secrets);
  }
  if (status === 408) {
    return new ProviderError('timeout', `${host} timed out the request (HTTP 408). Try again.${server}`, { fix: 'retry', status, retryable: true, retryAfterMs }, secrets);
  }
  if (status >= 500) {
    return new ProviderError('server', `${host} had a server error (HTTP ${status}). Try again later.${server}`, { fix: 'retry', status, retryable: true, retryAfterMs }, secrets);
  }
  return new ProviderError('bad_request', `${host} refused the request (HTTP ${status}). Check the provider settings (model, base URL).${server}`, { fix: 'open-settings', status }, secrets);
}
