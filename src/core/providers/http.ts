/**
 * Streaming HTTP for providers, on the shared transport (src/core/http) so that each wait
 * on the wire has its own exact timeout and an abort tears the socket down at once. Errors
 * come out typed, scrubbed of the key, and saying what fixes them (naming relay.provider.*).
 */
import * as http from 'node:http';
import * as https from 'node:https';
import { openExchange, readBounded } from '../http/exchange';
import { parseRetryAfter } from '../http/headers';
import { classifyNetworkError, isDroppedConnection } from '../http/networkErrors';
import { settingRef } from '../settingNames';
import { ProviderError, formatSeconds, setKeyHint } from './errors';

export { parseRetryAfter } from '../http/headers';

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
  /** The provider's key variables, named in errors (where its API key comes from). */
  keyEnv: readonly string[];
  /** Why no API key goes with this request (undefined when one does): a 401 then says so, not that the key was rejected. */
  noKey?: string;
  /** How to give the model a longer context on this server (Ollama: OLLAMA_CONTEXT_LENGTH), said instead of the usual advice when it refuses the prompt as too long. */
  longerContext?: () => string;
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
  /**
   * Told once, when the first byte of a success response's body arrived: from here on the call may be billed.
   * `outputPending`: a quiet wait (quietUntilOutputMs) runs on, the model's output not begun; onOutputStarted follows.
   */
  onFirstByte?: (outputPending: boolean) => void;
  /** Told once, where onFirstByte said the output was pending, when the reader saw it begin (StreamResponse.outputStarted). */
  onOutputStarted?: () => void;
  /**
   * The model may send nothing but framing for this long before its output starts (it reasons
   * first, silently: OpenAI's pro models, for minutes). Until the reader calls
   * StreamResponse.outputStarted(), this one wait, from the connection on, replaces the
   * first-byte and idle timeouts; the provider gives its call timeout. Undefined: the usual waits.
   */
  quietUntilOutputMs?: number;
}

export interface StreamResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  /** Body bytes; throws a typed ProviderError on a timeout, a drop or an abort. */
  body: AsyncIterable<Buffer>;
  /**
   * The reader saw the protocol's end ([DONE], message_stop, done): what may still come is the
   * body's framing, so leaving the body then reads that briefly (up to END_TAIL_MS) instead of
   * closing the connection, which the next call reuses. Leaving without it stops the transfer
   * at once (a cancel: the server stops generating, and billing).
   */
  endOfStream(): void;
  /** The reader saw the model's output begin (text): from here on the idle timeout bounds each silence (StreamRequest.quietUntilOutputMs). */
  outputStarted(): void;
}

/**
 * Whether a response's body is one JSON document to read whole (a server that ignored
 * stream: true, or was asked without it) rather than an event stream (text/event-stream,
 * application/x-ndjson). Its first byte comes when the model is done: nothing is pending then.
 */
export function isWholeJsonResponse(headers: http.IncomingHttpHeaders): boolean {
  return String(headers['content-type'] ?? '')
    .toLowerCase()
    .includes('application/json');
}

/** How long the framing after the protocol's end may take before the connection is closed after all. */
const END_TAIL_MS = 1000;

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
 * read (bounded) and thrown as a typed ProviderError; a redirect (3xx) is not followed. One timer at a time guards the
 * exchange: connect, then first byte (running on past the headers of a success status),
 * then idle between body chunks.
 */
export function postStream(request: StreamRequest): Promise<StreamResponse> {
  const { url, timeouts, signal, secrets } = request;
  if (signal?.aborted) return Promise.reject(cancelledError());
  const payload = Buffer.from(JSON.stringify(request.body));
  request.onSend?.(url, request.body);
  let bodyStarted = false;
  const quietMs = request.quietUntilOutputMs;
  /** While set, the output has not started: when the one wait before it ends (quietMs from the connection). */
  let quietUntil: number | undefined;

  return openExchange<ProviderError, StreamResponse>({
    url,
    method: 'POST',
    agent: url.protocol === 'https:' ? request.agents.https : request.agents.http,
    headers: {
      ...request.headers,
      'content-type': 'application/json',
      accept: 'text/event-stream, application/x-ndjson, application/json',
      'content-length': String(payload.length),
    },
    body: payload,
    signal,
    connectTimeoutMs: timeouts.connectTimeoutMs,
    errors: {
      own: (error): error is ProviderError => error instanceof ProviderError,
      cancelled: cancelledError,
      connectTimeout: () => connectTimeoutError(url, timeouts.connectTimeoutMs, secrets),
      network: (error, reused) => networkError(error, url, secrets, reused),
    },
    prepare: (exchange) => {
      exchange.request.on('finish', () => {
        if (!exchange.ended) request.onSent?.();
      });
    },
    connected: (exchange) => {
      if (quietMs === undefined) return exchange.arm(timeouts.firstByteTimeoutMs, () => firstByteTimeoutError(url, timeouts.firstByteTimeoutMs, secrets));
      quietUntil = Date.now() + quietMs;
      exchange.arm(quietMs, () => quietTimeoutError(url, quietMs, secrets));
    },
    response: (res, exchange) => {
      const armIdle = () => exchange.arm(timeouts.idleTimeoutMs, () => idleTimeoutError(url, timeouts.idleTimeoutMs, secrets));
      /** The wait for the success body's next bytes: what is left of the quiet wait until the output started, then the idle timeout. */
      const armBodyWait = () => {
        if (quietUntil === undefined || quietMs === undefined) return armIdle();
        exchange.arm(Math.max(0, quietUntil - Date.now()), () => quietTimeoutError(url, quietMs, secrets));
      };
      const status = res.statusCode ?? 0;
      if (status >= 300 && status < 400) {
        // Never followed: the request carries the key, and the body of a redirect is no answer.
        // Its body is drained (bounded) so the connection can be reused.
        armIdle();
        const redirect = redirectError(status, res.headers.location, url, secrets);
        readBounded(res, ERROR_BODY_LIMIT, { onChunk: armIdle }).then(
          () => {
            exchange.end();
            exchange.reject(redirect);
          },
          () => exchange.fail(redirect),
        );
        return;
      }
      if (status >= 400) {
        armIdle();
        readBounded(res, ERROR_BODY_LIMIT, { onChunk: armIdle }).then(
          ({ text }) => {
            exchange.end();
            exchange.reject(errorFromStatus(status, res.headers, text, url, secrets, request.keyEnv, request.noKey, request.longerContext));
          },
          (error: unknown) => exchange.fail(error instanceof ProviderError ? error : networkError(error as NodeJS.ErrnoException, url, secrets)),
        );
        return;
      }
      /** The first byte of a success body (not the headers) ends the first-byte wait; from here on the call may be billed. */
      const bodyArrived = () => {
        if (bodyStarted || exchange.ended) return;
        bodyStarted = true;
        // A whole body is the finished answer: its output has begun, and no reasoning is to be told.
        if (isWholeJsonResponse(res.headers)) quietUntil = undefined;
        armBodyWait();
        request.onFirstByte?.(quietUntil !== undefined);
      };
      // Noticed when bytes arrive, not when the consumer reads them: a drop right after them
      // destroys the response, and buffered bytes are never read, but they were sent (and billed).
      const onReadable = () => {
        if (res.readableLength === 0) return;
        res.off('readable', onReadable);
        bodyArrived();
      };
      res.on('readable', onReadable);

      /**
       * The success body, timed between chunks; the consumer's time with a chunk is not the
       * server's silence. A consumer that leaves once it has what it needs (an SSE reader at
       * [DONE]) must not destroy a response whose bytes all came: destroying it closes the
       * connection, and the next call would open (and handshake) a new one.
       */
      async function* readBody(): AsyncGenerator<Buffer> {
        try {
          for await (const chunk of res.iterator({ destroyOnReturn: false })) {
            bodyArrived();
            exchange.disarm();
            yield chunk as Buffer;
            armBodyWait();
          }
          // An 'aborted' response may end without an error on some Node versions.
          if (!res.complete) throw droppedError(url, bodyStarted, secrets);
        } catch (error) {
          if (error instanceof ProviderError) throw error;
          if (isDroppedConnection(error)) throw droppedError(url, bodyStarted, secrets);
          throw networkError(error as NodeJS.ErrnoException, url, secrets);
        } finally {
          exchange.end();
          // A complete response, or one whose protocol ended, is read to its end, which hands the
          // connection back to the agent; a consumer that left early (a cancel, an error of its
          // own) stops the transfer.
          if (res.complete) res.resume();
          else if (protocolEnded) readTail(res);
          else res.destroy();
        }
      }
      let protocolEnded = false;
      exchange.resolve({
        status,
        headers: res.headers,
        body: readBody(),
        endOfStream: () => void (protocolEnded = true),
        outputStarted: () => {
          if (quietUntil === undefined) return;
          quietUntil = undefined;
          if (bodyStarted) request.onOutputStarted?.();
        },
      });
    },
  });
}

/** Reads what is left of a response for a short while, so its connection can be reused; then closes it if it has not ended. */
function readTail(res: http.IncomingMessage): void {
  const timer = setTimeout(() => res.destroy(), END_TAIL_MS);
  timer.unref();
  res.once('close', () => clearTimeout(timer));
  res.resume();
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

/**
 * The quiet wait (StreamRequest.quietUntilOutputMs) ran out: the model wrote nothing. The
 * provider's call timeout is that wait and ends the call first; this bounds postStream alone.
 */
export function quietTimeoutError(url: URL, ms: number, secrets: readonly string[] = []): ProviderError {
  return new ProviderError(
    'timeout',
    `${url.host} sent no output for ${formatSeconds(ms)} after the request; the request was stopped. The model may reason that long before it writes (OpenAI's pro models can take minutes): if so, raise ${settingRef('callTimeout')}.`,
    { fix: 'retry', summary: `no output for ${formatSeconds(ms)}` },
    secrets,
  );
}

export function callTimeoutError(host: string, ms: number): ProviderError {
  return new ProviderError(
    'timeout',
    `The call to ${host} took more than ${formatSeconds(ms)} in all (tries and retry waits included) and was stopped. If the model is that slow (reasoning models, OpenAI's pro models above all, can think for minutes before they write), raise ${settingRef('callTimeout')}.`,
    { fix: 'retry', summary: `call longer than ${formatSeconds(ms)}` },
  );
}

// ---- Connection failures. ----

function droppedError(url: URL, bodyStarted: boolean, secrets: readonly string[]): ProviderError {
  const when = bodyStarted ? 'in the middle of the answer' : 'after the response headers, before the answer';
  return new ProviderError(
    'network',
    `The connection to ${url.host} dropped ${when}. Try again.`,
    { fix: 'retry', retryable: true, summary: 'connection dropped' },
    secrets,
  );
}

/** `reusedConnection`: the request went out on a kept-alive connection (which the server may have closed meanwhile). */
export function networkError(error: NodeJS.ErrnoException, url: URL, secrets: readonly string[], reusedConnection = false): ProviderError {
  const where = url.host;
  const baseUrl = settingRef('baseUrl');
  const reset = (message: string) => new ProviderError('network', message, { fix: 'retry', retryable: true, summary: 'connection reset' }, secrets);
  switch (classifyNetworkError(error, url, reusedConnection)) {
    case 'plain-http-answer-to-tls':
      return new ProviderError(
        'network',
        `${where} does not speak TLS (https); if it is a plain HTTP server (local model servers usually are), use http://${where}/... in ${baseUrl}.`,
        { fix: 'open-settings', summary: 'not a TLS server' },
        secrets,
      );
    case 'refused':
      return new ProviderError(
        'network',
        `Nothing is listening at ${where} (connection refused). Start the server or fix ${baseUrl}.`,
        { fix: 'open-settings', summary: 'connection refused' },
        secrets,
      );
    case 'host-not-found':
      return new ProviderError(
        'network',
        `The host ${url.hostname} was not found. Check ${baseUrl} and your network.`,
        { fix: 'open-settings', summary: 'host not found' },
        secrets,
      );
    case 'reset-without-answer':
      return reset(
        `${where} closed the connection without an answer (ECONNRESET). If the server expects https://, use https://${where}/... in ${baseUrl}; otherwise check the network and try again.`,
      );
    case 'reset-in-tls-handshake':
      return reset(
        `${where} closed the connection during the TLS handshake (ECONNRESET). If it is a plain HTTP server, use http://${where}/... in ${baseUrl}; otherwise check the network and try again.`,
      );
    case 'reset':
      return reset(`The connection to ${where} failed (ECONNRESET). Check the network and try again.`);
    case 'malformed-response':
      // The server answered (and may have billed the call): trying again could bill it twice.
      return new ProviderError(
        'bad_response',
        `${where} sent a malformed HTTP response (${error.code}); it is not retried, since the server may have billed the call. Check ${baseUrl}: a proxy between Relay and the model server may be breaking its responses.`,
        { fix: 'open-settings', summary: 'malformed HTTP response' },
        secrets,
      );
    case 'dns-unavailable':
    case 'unreachable':
      return new ProviderError(
        'network',
        `The connection to ${where} failed (${error.code}). Check the network and try again.`,
        { fix: 'retry', retryable: true, summary: `connection failed (${error.code})` },
        secrets,
      );
    default:
      return new ProviderError(
        'network',
        `The request to ${where} failed: ${error.code ?? error.message}. Check the network and try again.`,
        { fix: 'retry', retryable: true, summary: `connection failed (${error.code ?? 'error'})` },
        secrets,
      );
  }
}

/**
 * The error text and type of any of the JSON error shapes (OpenAI, Anthropic, Ollama). A
 * gateway's wrapper (OpenRouter: "Provider returned error" with the upstream's own body as a
 * string in error.metadata.raw) is described with the upstream's words: they name what was
 * refused (refusals.ts reads them) and what the user can fix. `param`: the request field
 * OpenAI's error.param names, which its "Invalid value: 'none'. Supported values are: ..." names
 * nowhere else.
 */
export function describeErrorBody(text: string): { message: string; type: string; param?: string } {
  try {
    const body = errorBodyOf(text);
    const error = body?.error;
    if (typeof error === 'string') {
      // Ollama from 0.30 passes llama-server's whole JSON error body on as its error string: its own words are inside.
      const nested = /^\s*[{[]/.test(error) ? describeErrorBody(error) : undefined;
      return nested && nested.message && nested.message !== error.trim().slice(0, 300) ? nested : { message: error, type: '' };
    }
    if (error && typeof error === 'object') {
      // A number in error.code (llama.cpp, OpenRouter; LiteLLM's as a string) is the HTTP status again: the type says more.
      const code = typeof error.code === 'string' && !/^\d*$/.test(error.code) ? error.code : undefined;
      // Google's bodies name the kind in error.status (RESOURCE_EXHAUSTED, INVALID_ARGUMENT).
      const status = typeof error.status === 'string' ? error.status : undefined;
      const param = fieldNameOf(error.param);
      const own = { message: String(error.message ?? ''), type: String(code ?? error.type ?? status ?? ''), ...(param ? { param } : {}) };
      const raw = error.metadata?.raw;
      if (typeof raw !== 'string' || raw.trim().length === 0) return own;
      const upstream = describeErrorBody(raw);
      if (!upstream.message) return own;
      const provider = typeof error.metadata.provider_name === 'string' && error.metadata.provider_name ? `${error.metadata.provider_name}: ` : '';
      const said = `${provider}${upstream.message}`;
      const named = upstream.param ?? param;
      return { message: own.message ? `${own.message} (${said})` : said, type: upstream.type || own.type, ...(named ? { param: named } : {}) };
    }
    if (typeof body?.message === 'string') return { message: body.message, type: String(body.type ?? '') };
    if (typeof body?.detail === 'string') return { message: body.detail, type: '' };
  } catch {
    // Not JSON: fall through to the raw text.
  }
  return { message: text.trim().slice(0, 300), type: '' };
}

/** A server's error.param as a request field's name ("reasoning_effort", "reasoning.effort"); anything else is no field. */
function fieldNameOf(value: unknown): string | undefined {
  return typeof value === 'string' && /^[A-Za-z_][A-Za-z0-9_.]{0,63}$/.test(value) ? value : undefined;
}

/**
 * The parsed JSON of an error body. Gemini's OpenAI-compatible endpoint sends Google's error
 * object inside a one-element list (`[{"error": {...}}]`, n4ze3m/page-assist#406): its first
 * element is read. Throws where the text is no JSON.
 */
function errorBodyOf(text: string): any {
  const body = JSON.parse(text) as unknown;
  return Array.isArray(body) ? body[0] : body;
}

/**
 * A 3xx answer. Relay does not follow redirects: the request carries the API key, which must
 * go only where it was given. Names where the server pointed (its origin only: a path or
 * query may hold a token) so the user can put that address in the setting.
 */
export function redirectError(status: number, location: string | string[] | undefined, url: URL, secrets: readonly string[]): ProviderError {
  const baseUrl = settingRef('baseUrl');
  let target: URL | undefined;
  try {
    target = typeof location === 'string' && location.trim().length > 0 ? new URL(location.trim(), url) : undefined;
  } catch {
    target = undefined;
  }
  if (target && target.protocol !== 'http:' && target.protocol !== 'https:') target = undefined;
  const where = target ? `to ${target.origin}` : 'without saying where';
  const fix = target
    ? `If that is the service, put its address (${target.origin}/...) in ${baseUrl}.`
    : `Check ${baseUrl}: it should be the service's API address itself.`;
  return new ProviderError(
    'bad_request',
    `${url.host} redirected the request ${where} (HTTP ${status}). Relay does not follow redirects with your key. ${fix}`,
    { fix: 'open-settings', status, summary: `redirect (HTTP ${status})` },
    secrets,
  );
}

/** What TLS servers (nginx, Go, Caddy) answer to plain HTTP on their port. */
const PLAIN_HTTP_TO_TLS_PORT = /plain HTTP request was sent to HTTPS port|HTTP request to an HTTPS server/i;

/** Error codes (OpenAI's error.code, Anthropic's error.type) of an account with no credit or quota left: waiting does not help. */
const OUT_OF_CREDIT_CODES = new Set(['insufficient_quota', 'billing_not_active', 'billing_hard_limit_reached', 'billing_error']);
/** Codes of a 429 that asks to wait (OpenAI's older bodies: type requests or tokens, no code). */
const RATE_LIMIT_CODES = new Set(['rate_limit_exceeded', 'rate_limit_error', 'requests', 'tokens']);
/**
 * Words of a 429 whose code Relay does not know that say the money ran out, not the pace. Read
 * without the addresses in it: OpenAI's rate-limit text links to .../account/billing.
 */
const OUT_OF_CREDIT_WORDS = /quota|billing|credit|insufficient/i;
const ADDRESS = /\bhttps?:\/\/\S+/gi;
/** Anthropic answers an empty balance with a 400 invalid_request_error in these words. */
const CREDIT_TOO_LOW = /credit balance is too low/i;
/**
 * A prompt longer than the model's context, as servers say it: OpenAI's code, "maximum context
 * length" (OpenAI, OpenRouter, vLLM), "prompt is too long" and "exceed context limit"
 * (Anthropic), "exceeds the available context size" (llama.cpp), and Ollama's answers to
 * `truncate: false`: "the input length exceeds the context length" (0.12.6 to 0.24), then
 * llama-server's words (0.30 on, its whole error body as Ollama's error string).
 */
const PROMPT_TOO_LONG =
  /context_length_exceeded|exceed_context_size|maximum context length|prompt is too long|exceeds? (?:the )?(?:available )?context (?:size|limit|length|window)/i;

/** Whether a server's error words (its type or code, and message) say the prompt is longer than the model's context. */
export function isPromptTooLong(said: string): boolean {
  return PROMPT_TOO_LONG.test(said);
}

/**
 * A request for more output than the model writes in one response, as servers say it: OpenAI's
 * "max_tokens is too large: 20480. This model supports at most 16384 completion tokens" (and
 * the same of max_completion_tokens), vLLM's "'max_tokens' or 'max_completion_tokens' is too
 * large: 64000. This model's maximum context length is ...", Anthropic's "max_tokens: 8192 >
 * 4096, which is the maximum allowed number of output tokens for ...".
 */
const OUTPUT_LIMIT_EXCEEDED =
  /\bmax_(?:completion_)?tokens'? (?:or '?max_completion_tokens'? )?is too large|supports at most \d+ completion tokens|maximum allowed number of output tokens/i;

/**
 * What a Google 429 says about waiting: the Gemini API (its OpenAI-compatible endpoint too)
 * answers every 429 with status RESOURCE_EXHAUSTED and, for a per-minute limit as for a used-up
 * quota, the same words ("You exceeded your current quota, please check your plan and billing
 * details"), which read as out of credit. Its `details` (Google's error model, google.rpc.Status:
 * QuotaFailure, ErrorInfo, RetryInfo; ai.google.dev/gemini-api/docs/troubleshooting lists 429
 * RESOURCE_EXHAUSTED as "You've exceeded the rate limit") tell them apart, as gemini-cli's
 * classifyGoogleError reads them: a violated quota counted per day (quotaId
 * GenerateRequestsPerDayPerProjectPerModel-FreeTier), one of 0 ("limit: 0": none on this tier),
 * or an ErrorInfo reason about billing or credits does not come back by waiting; anything else
 * (per minute, RetryInfo, no details) is a rate limit, retried after RetryInfo's retryDelay
 * ("22s"; "Clients should wait until retry_delay amount of time has passed"). Undefined for
 * a body that is not Google's RESOURCE_EXHAUSTED.
 */
function googleResourceExhausted(bodyText: string): { quotaUsedUp: boolean; retryAfterMs?: number } | undefined {
  let error: any;
  try {
    error = errorBodyOf(bodyText)?.error;
  } catch {
    return undefined;
  }
  if (error?.status !== 'RESOURCE_EXHAUSTED') return undefined;
  const details: any[] = Array.isArray(error.details) ? error.details.filter((d: unknown) => d && typeof d === 'object') : [];
  const ofType = (name: string) => details.filter((d) => d['@type'] === `type.googleapis.com/google.rpc.${name}`);
  const violations = ofType('QuotaFailure').flatMap((d) => (Array.isArray(d.violations) ? d.violations : []));
  const quotaUsedUp =
    violations.some((v: any) => /PerDay|Daily/.test(String(v?.quotaId ?? '')) || String(v?.quotaValue ?? '') === '0') ||
    ofType('ErrorInfo').some((d) => /BILLING|CREDIT/i.test(String(d.reason ?? ''))) ||
    /\blimit: 0\b/.test(String(error.message ?? ''));
  // A delay too long for a number (400 nines) is no wait: the usual backoff applies, as to an unreadable Retry-After.
  const retryAfterMs = ofType('RetryInfo')
    .map((d) => /^(\d+(?:\.\d+)?)s$/.exec(String(d.retryDelay ?? '').trim()))
    .map((m) => (m ? Math.ceil(Number(m[1]) * 1000) : NaN))
    .find((ms) => Number.isFinite(ms));
  return { quotaUsedUp, ...(retryAfterMs === undefined ? {} : { retryAfterMs }) };
}

/**
 * Whether the account is out of credit or quota. A 429's code decides (Google's: its details);
 * its words only where the code says neither.
 */
function isOutOfCredit(status: number, type: string, said: string, google: { quotaUsedUp: boolean } | undefined): boolean {
  if (status === 402 || OUT_OF_CREDIT_CODES.has(type)) return true;
  if (status === 400) return CREDIT_TOO_LOW.test(said);
  if (status !== 429 || RATE_LIMIT_CODES.has(type)) return false;
  if (google) return google.quotaUsedUp;
  return OUT_OF_CREDIT_WORDS.test(said.replace(ADDRESS, ' '));
}

/** Maps an HTTP error status (and body) to a typed error whose message says what to do (`longerContext`: StreamRequest.longerContext). */
export function errorFromStatus(
  status: number,
  headers: http.IncomingHttpHeaders,
  bodyText: string,
  url: URL,
  secrets: readonly string[],
  keyEnv: readonly string[],
  noKey?: string,
  longerContext?: () => string,
): ProviderError {
  const { message: said, type, param } = describeErrorBody(bodyText);
  const server = said ? ` The server said: ${said}` : '';
  const google = status === 429 ? googleResourceExhausted(bodyText) : undefined;
  const retryAfterMs = parseRetryAfter(headers) ?? google?.retryAfterMs;
  const host = url.host;
  const lowered = `${type} ${said}`.toLowerCase();
  const baseUrl = settingRef('baseUrl');
  const model = settingRef('model');

  if ((status === 401 || status === 403) && noKey !== undefined) {
    return new ProviderError('auth', `${host} asks for an API key (HTTP ${status}), and none was sent: ${noKey}${server}`, { fix: 'set-key', status }, secrets);
  }
  if (status === 401 || status === 403) {
    return new ProviderError('auth', `${host} rejected the API key (HTTP ${status}). ${setKeyHint(keyEnv)}.${server}`, { fix: 'set-key', status }, secrets);
  }
  if (status === 400 && url.protocol === 'http:' && PLAIN_HTTP_TO_TLS_PORT.test(bodyText)) {
    return new ProviderError(
      'bad_request',
      `${host} expects https:// (it got plain HTTP on its TLS port). Use https://${host}/... in ${baseUrl}.`,
      { fix: 'open-settings', status },
      secrets,
    );
  }
  if (isOutOfCredit(status, type, said, google)) {
    return new ProviderError(
      'quota',
      `The account at ${host} is out of credit or quota (HTTP ${status}). Add credit or raise the limit on the provider's site, or pick another model in ${model}.${server}`,
      { fix: 'open-settings', status },
      secrets,
    );
  }
  if (status === 429) {
    return new ProviderError(
      'rate_limit',
      `${host} is rate-limiting requests (HTTP 429). Wait a moment and try again.${server}`,
      { fix: 'retry', status, retryable: true, retryAfterMs },
      secrets,
    );
  }
  // Larger than the service takes at all (Anthropic: 32 MB; a proxy's body limit): the same request would be refused again.
  if (status === 413 || type === 'request_too_large') {
    return new ProviderError(
      'bad_request',
      `The request is larger than ${host} accepts (HTTP ${status}). Send less text (a shorter selection, or a new chat).${server}`,
      { status },
      secrets,
    );
  }
  // Before the prompt's length: vLLM's words for it name the context too. A call asks for at most
  // what the answer's token budget has left (an LLM-only answer: all of it, in one call).
  if (OUTPUT_LIMIT_EXCEEDED.test(said)) {
    return new ProviderError(
      'bad_request',
      `The request asks the model at ${host} for more output tokens (max_tokens) than it writes in one response, or than its context has room for after the prompt (HTTP ${status}). Lower ${settingRef('tokenBudget')}: a call never asks for more than the answer's budget has left. Or pick a model with a larger output limit in ${model}.${server}`,
      { fix: 'open-settings', status },
      secrets,
    );
  }
  // Not retried, whatever the status (llama.cpp has sent it as a 500): the same prompt would not fit again.
  if (isPromptTooLong(`${type} ${said}`)) {
    const fix = longerContext?.() ?? `Send less text (a shorter selection, or a new chat), or pick a model with a longer context in ${model}.`;
    return new ProviderError(
      'bad_request',
      `The prompt is too long for the model at ${host} (HTTP ${status}). ${fix}${server}`,
      { fix: 'llm-model', status },
      secrets,
    );
  }
  if (status === 404 || /model_not_found|not_found_error/.test(lowered) || /model .*not (found|exist)/.test(lowered)) {
    if (status === 404 && !/model/.test(lowered)) {
      return new ProviderError(
        'bad_request',
        `${host} has no such endpoint (HTTP 404 for ${url.pathname}). Check ${baseUrl} (OpenAI-style services usually end in /v1).${server}`,
        { fix: 'open-settings', status },
        secrets,
      );
    }
    return new ProviderError(
      'model_not_found',
      `The model is not available at ${host} (HTTP ${status}). Pick another model in ${model}.${server}`,
      { fix: 'llm-model', status },
      secrets,
    );
  }
  if (status === 408) {
    return new ProviderError(
      'timeout',
      `${host} timed out the request (HTTP 408). Try again.${server}`,
      { fix: 'retry', status, retryable: true, retryAfterMs },
      secrets,
    );
  }
  if (status >= 500) {
    return new ProviderError(
      'server',
      `${host} had a server error (HTTP ${status}). Try again later.${server}`,
      { fix: 'retry', status, retryable: true, retryAfterMs },
      secrets,
    );
  }
  return new ProviderError(
    'bad_request',
    `${host} refused the request (HTTP ${status}). Check the provider settings: ${model} and ${baseUrl}.${server}`,
    { fix: 'open-settings', status, param },
    secrets,
  );
}
