/**
 * One HTTP exchange on node:http/https, for the LLM providers and the model hub alike:
 * the request, one timer at a time (connect, then whatever the caller arms), an abort
 * that tears the socket down at once, and a promise settled once. The errors are the
 * caller's: it says how to make each, so messages keep naming its own settings.
 */
import * as http from 'node:http';
import * as https from 'node:https';

/** How the caller's error type is made for what can go wrong below it. */
export interface ExchangeErrors<E extends Error> {
  /** Whether an error is already the caller's (passed through as it is). */
  own: (error: unknown) => error is E;
  /** The AbortSignal fired. */
  cancelled: () => E;
  /** The connection (TCP, and the TLS handshake for https) was not open in time. */
  connectTimeout: () => E;
  /** A socket error (refused, reset, TLS...); `reusedConnection`: it went out on a kept-alive connection. */
  network: (error: NodeJS.ErrnoException, reusedConnection: boolean) => E;
}

/** What the caller's hooks may do with a running exchange. */
export interface Exchange<E extends Error, T> {
  readonly request: http.ClientRequest;
  /** Over (ended or failed): no timer is armed any more, the abort listener is gone. */
  readonly ended: boolean;
  /** Runs `ms` on the one timer (replacing what ran): when it fires, the exchange fails with `error()`. Not once ended. */
  arm(ms: number, error: () => E): void;
  disarm(): void;
  /** The exchange is over: stops the timer and the abort listener (the sockets are left alone). */
  end(): void;
  /** Tears the exchange down with `error` wherever it stands; the promise rejects with it unless already settled. */
  fail(error: E): void;
  /** Settle the promise; the first settlement stands, later ones (and a later fail's) are ignored. */
  resolve(value: T): void;
  reject(error: E): void;
}

export interface ExchangeOptions<E extends Error, T> {
  url: URL;
  method: string;
  headers: Record<string, string>;
  /** The request body, sent whole; none for GET and HEAD. */
  body?: Buffer;
  /** The agent for the URL's protocol; false: a connection of this request's own. */
  agent: http.Agent | false;
  signal?: AbortSignal;
  /** Armed when the request is made, not at its 'socket': getting a socket (a proxy agent, DNS) is part of connecting. */
  connectTimeoutMs: number;
  errors: ExchangeErrors<E>;
  /** After the request is made and before it is sent: listeners of the caller's own. */
  prepare?: (exchange: Exchange<E, T>) => void;
  /** The connection is open (at once on a kept-alive one): arm the next wait. Default: disarm the connect timer. */
  connected?: (exchange: Exchange<E, T>) => void;
  /** The response headers arrived: settle, and guard the body as the caller needs. */
  response: (res: http.IncomingMessage, exchange: Exchange<E, T>) => void;
}

/** Sends one request; the promise settles as the `response` hook (or a failure) says. */
export function openExchange<E extends Error, T>(options: ExchangeOptions<E, T>): Promise<T> {
  const { url, signal, errors } = options;
  if (signal?.aborted) return Promise.reject(errors.cancelled());
  const isHttps = url.protocol === 'https:';
  const transport = isHttps ? https : http;

  return new Promise<T>((resolve, reject) => {
    let response: http.IncomingMessage | undefined;
    let timer: NodeJS.Timeout | undefined;
    let ended = false;

    const disarm = (): void => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    };
    const end = (): void => {
      ended = true;
      disarm();
      signal?.removeEventListener('abort', onAbort);
    };
    const fail = (error: E): void => {
      end();
      if (response) response.destroy(error);
      req.destroy(error);
      reject(error); // a no-op once settled: the first settlement stands
    };
    const onAbort = (): void => fail(errors.cancelled());

    const req = transport.request(url, { method: options.method, headers: options.headers, agent: options.agent });
    const exchange: Exchange<E, T> = {
      request: req,
      get ended() {
        return ended;
      },
      arm(ms, error) {
        disarm();
        if (ended) return;
        timer = setTimeout(() => fail(error()), ms);
      },
      disarm,
      end,
      fail,
      resolve,
      reject,
    };

    signal?.addEventListener('abort', onAbort, { once: true });
    exchange.arm(options.connectTimeoutMs, errors.connectTimeout);
    const connected = (): void => (options.connected ? options.connected(exchange) : disarm());
    req.on('socket', (socket) => {
      if (ended) return;
      // A kept-alive connection is open already; the request goes out at once.
      if (!socket.connecting) return connected();
      socket.once(isHttps ? 'secureConnect' : 'connect', () => {
        if (!ended && !response) connected();
      });
    });
    req.on('error', (error: NodeJS.ErrnoException) => fail(errors.own(error) ? error : errors.network(error, req.reusedSocket)));
    req.on('response', (res) => {
      response = res;
      options.response(res, exchange);
    });
    options.prepare?.(exchange);
    req.end(options.body);
  });
}

/**
 * A body as UTF-8 text, at most `limit` bytes of it. `onChunk` hears of every chunk (to
 * re-arm an idle timer). Past the limit it reads on to the end and drops the rest, so a
 * kept-alive connection stays usable, or with `stopAtLimit` stops there (the stream is
 * destroyed); `overflowed` says whether there was more.
 */
export async function readBounded(
  body: AsyncIterable<Buffer>,
  limit: number,
  options: { onChunk?: () => void; stopAtLimit?: boolean } = {},
): Promise<{ text: string; overflowed: boolean }> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    options.onChunk?.();
    if (size < limit) parts.push(chunk);
    size += chunk.length;
    if (size > limit && options.stopAtLimit) break;
  }
  return { text: Buffer.concat(parts).toString('utf8').slice(0, limit), overflowed: size > limit };
}
