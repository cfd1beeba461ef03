/**
 * What every HTTP provider shares: request checks, the API key, the timeouts (each wait
 * on the wire, and the total of a call), retries, transport events, and turning
 * cancellation into a `done{cancelled}` chunk (with the usage known so far: none billed
 * when no request went out, else what the server reported and the rest counted locally).
 */
import { settingRef } from '../settingNames';
import { ProviderError, missingKeyError, setKeyHint } from './errors';
import { keyShapeProblem } from './keyShape';
import { readBounded } from '../http/exchange';
import type { SseParser } from './sse';
import { callTimeoutError, createAgents, errorFromStatus, postStream, type HttpTimeouts, type StreamRequest } from './http';
import { withRetries, type Attempt, type RetryPolicy } from './retry';
import type {
  ContinuationMethod,
  ContinueRequest,
  FinishReason,
  LlmProvider,
  ProviderChunk,
  ProviderConfig,
  ProviderKind,
  ProviderOptions,
  KeySource,
  ProviderEntry,
  TransportEvent,
  Usage,
} from './types';
import { cancelledUsage, estimateTokens, type ReportedUsage, type TokenCounter } from './usage';
import { loginSecrets, quotedAddress } from '../http/shownUrl';
import { StreamLineTooLongError, formatMiB } from './streamLimits';

import {
  DEFAULT_CALL_TIMEOUT_MS,
  DEFAULT_CONNECT_TIMEOUT_MS,
  DEFAULT_FIRST_BYTE_TIMEOUT_MS,
  DEFAULT_IDLE_TIMEOUT_MS,
  DEFAULT_MAX_RETRIES,
  DEFAULT_MAX_RETRY_DELAY_MS,
  DEFAULT_RETRY_BASE_DELAY_MS,
} from './callDefaults';

/** One try of a call: streams text chunks, then usage and done. */
export interface AttemptContext {
  key: string | undefined;
  /** Why no key goes with this try (undefined when one does): named if the server asks for one. */
  noKey?: string;
  /** Aborted when the caller cancels, when the call's time is up, and when this try ends. */
  signal: AbortSignal;
  /** Values to scrub from error messages. */
  secrets: readonly string[];
  /** Which try this is, from 1. */
  attempt: number;
  /** For postStream (see `streamRequest`): a request of this try is about to go (one before it was refused, unbilled). */
  onSending: () => void;
  /** For postStream: the request went out. */
  onSent: () => void;
  /** For postStream: the first body byte arrived (the call may be billed, and is not retried); `outputPending`: the model reasons first, silently. */
  onFirstByte: (outputPending: boolean) => void;
  /** For postStream: after a first byte with the output pending, the output began. */
  onOutputStarted: () => void;
  /**
   * Usage the server reported so far in this try, filled by the try as it reads the stream
   * (Anthropic says the input and its cache split in message_start): what a call cancelled
   * before its final usage reports.
   */
  reported: ReportedUsage;
}

/** A request to a service's free endpoint that counts a request's input tokens. */
export interface TokenCountRequest {
  url: URL;
  body: unknown;
  headers(key: string | undefined): Record<string, string>;
}

/** Most bytes of a token count's response read: its JSON is a few dozen. */
const COUNT_BODY_LIMIT = 16 * 1024;

export abstract class HttpProvider implements LlmProvider {
  abstract readonly kind: ProviderKind;
  abstract readonly continuation: ContinuationMethod;
  readonly model: string;
  readonly host: string;
  protected readonly baseUrl: URL;
  protected readonly timeouts: HttpTimeouts;
  /** LlmProvider.callTimeoutMs: most milliseconds for a whole call, tries and retry waits included. */
  readonly callTimeoutMs: number;
  protected readonly policy: RetryPolicy;
  protected readonly agents: ReturnType<typeof createAgents>;
  protected readonly countTokens: TokenCounter;
  protected readonly extraHeaders: Record<string, string>;
  /** Passed to postStream as onSend: reports each call's request URL and body (ProviderOptions.onRequest). */
  protected readonly onSend: ((url: URL, body: unknown) => void) | undefined;
  /** ProviderOptions.onRequestNotSent: a try whose request never went out. */
  private readonly onNotSent: ((reason: string) => void) | undefined;
  /** The same for token counts, marked as such. */
  private readonly onCountSend: ((url: URL, body: unknown) => void) | undefined;

  constructor(
    protected readonly config: ProviderConfig,
    private readonly keys: KeySource,
    options: ProviderOptions,
    /** What this kind is (its default address, key variables, key rule): its entry in the registry. */
    protected readonly entry: ProviderEntry,
  ) {
    if (!config.model || config.model.trim().length === 0) {
      throw new ProviderError('bad_request', `No model is set for the ${config.kind} provider. Set ${settingRef('model')}.`, { fix: 'llm-model' });
    }
    this.model = config.model.trim();
    this.baseUrl = parseBaseUrl(config.baseUrl?.trim() || (entry.defaultBaseUrl as string));
    this.host = this.baseUrl.host;
    this.timeouts = {
      connectTimeoutMs: positive(config.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS),
      firstByteTimeoutMs: positive(config.firstByteTimeoutMs, DEFAULT_FIRST_BYTE_TIMEOUT_MS),
      idleTimeoutMs: positive(config.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS),
    };
    this.callTimeoutMs = positive(config.callTimeoutMs, DEFAULT_CALL_TIMEOUT_MS);
    this.policy = {
      maxRetries: Math.max(0, Math.floor(config.maxRetries ?? DEFAULT_MAX_RETRIES)),
      baseDelayMs: Math.max(0, config.retryBaseDelayMs ?? DEFAULT_RETRY_BASE_DELAY_MS),
      maxDelayMs: Math.max(0, config.maxRetryDelayMs ?? DEFAULT_MAX_RETRY_DELAY_MS),
      random: options.random ?? Math.random,
    };
    const own = createAgents();
    this.agents = { http: options.agents?.http ?? own.http, https: options.agents?.https ?? own.https };
    this.countTokens = options.countTokens ?? estimateTokens;
    this.extraHeaders = { ...(config.headers ?? {}) };
    const onRequest = options.onRequest;
    this.onSend = onRequest ? (url, body) => onRequest({ url: url.href, body }) : undefined;
    this.onCountSend = onRequest ? (url, body) => onRequest({ url: url.href, body, purpose: 'token-count' }) : undefined;
    this.onNotSent = options.onRequestNotSent;
  }

  /** The text whose tokens are the input, for the local count when usage is missing. */
  protected abstract inputText(request: ContinueRequest): string;

  sentText(request: ContinueRequest): string {
    return this.inputText(request);
  }

  /** Where the service counts a request's input tokens for free, if it can (subclasses that know say). */
  protected tokenCountRequest(_text: string): TokenCountRequest | undefined {
    return undefined;
  }

  /** LlmProvider.countInputTokens: one try, the call's timeouts, the same key rules as a call. */
  async countInputTokens(text: string, signal?: AbortSignal): Promise<number> {
    const plan = this.tokenCountRequest(text);
    if (!plan) throw new ProviderError('bad_request', `The ${this.kind} provider at ${this.host} has no endpoint that counts tokens.`);
    const { key, noKey } = await this.keyForCall();
    const secrets = this.secretsOf(key);
    const response = await postStream({
      url: plan.url,
      headers: { ...this.extraHeaders, ...plan.headers(key) },
      body: plan.body,
      keyEnv: this.entry.keyEnv,
      noKey,
      timeouts: this.timeouts,
      signal,
      secrets,
      agents: this.agents,
      onSend: this.onCountSend,
    });
    const { text: body } = await readBounded(response.body, COUNT_BODY_LIMIT, { stopAtLimit: true });
    let count: unknown;
    try {
      count = (JSON.parse(body) as { input_tokens?: unknown }).input_tokens;
    } catch {
      count = undefined;
    }
    // What a server says is untrusted: only a plain positive count is one.
    if (typeof count !== 'number' || !Number.isSafeInteger(count) || count <= 0) {
      throw new ProviderError('bad_response', `${this.host} answered a token count without a positive whole input_tokens.`, {}, secrets);
    }
    return count;
  }

  /** What no message may show: the key, and a login written into the base URL (http://user:pass@host) in every form a server may echo. */
  private secretsOf(key: string | undefined): string[] {
    return [key, ...loginSecrets(this.baseUrl)].filter((secret): secret is string => secret !== undefined && secret.length > 0);
  }

  /**
   * The key for the very origin this provider's requests go to (a key is bound to where it was
   * given); throws where the service needs one and none may go. Without one, `noKey` says why,
   * for a server that then asks for a key (HTTP 401) after all.
   */
  private async keyForCall(): Promise<{ key: string | undefined; noKey: string | undefined }> {
    const decision = await this.keys.keyFor(this.kind, this.requestOrigin());
    const key = decision.key?.trim() || undefined;
    if (!key && this.entry.keyRequired(this.baseUrl))
      throw decision.withheld ? new ProviderError('auth', decision.withheld, { fix: 'set-key' }) : missingKeyError(this.kind, this.entry.keyEnv);
    const problem = key === undefined ? undefined : keyShapeProblem(key);
    if (problem) throw new ProviderError('auth', `The API key for the ${this.kind} provider ${problem}. ${setKeyHint(this.entry.keyEnv)}.`, { fix: 'set-key' });
    // Credentials of another kind went (user:password in the base URL, an auth header of its own): a 401 is theirs.
    const otherCredentials =
      this.baseUrl.username !== '' ||
      this.baseUrl.password !== '' ||
      Object.keys(this.extraHeaders).some((name) => /^(authorization|x-api-key|api-key)$/i.test(name));
    if (key || otherCredentials) return { key, noKey: undefined };
    return { key, noKey: decision.withheld ?? `no API key is set for the ${this.kind} provider. ${setKeyHint(this.entry.keyEnv)}.` };
  }

  /** One try: build the request with `streamRequest`, post it, read the stream. */
  protected abstract attempt(request: ContinueRequest, context: AttemptContext): AsyncIterable<ProviderChunk>;

  async *continue(request: ContinueRequest, signal?: AbortSignal): AsyncGenerator<ProviderChunk> {
    checkRequest(request);
    const { key, noKey } = await this.keyForCall();
    const secrets = this.secretsOf(key);
    const report = transportReporter(request.onTransport);
    const call = new CallLimit(this.callTimeoutMs, signal);
    let current: Attempt | undefined;
    let latest: TryState | undefined;
    let streamed = '';
    const run = (attempt: Attempt): AsyncIterable<ProviderChunk> => {
      current = attempt;
      latest = { reported: {}, sent: undefined, failed: false };
      return this.tryOnce(request, attempt, latest, { key, noKey, secrets, signal: call.signal, report });
    };
    try {
      const chunks = withRetries(run, this.policy, {
        signal: call.signal,
        remainingMs: () => call.remainingMs(),
        onRetry: (failed, delayMs, error) => report({ phase: 'retrying', attempt: failed.number, delayMs, reason: error.summary }),
      });
      for await (const chunk of chunks) {
        if (chunk.type === 'text') streamed += chunk.text;
        yield chunk;
      }
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      if (call.expired && !signal?.aborted) {
        const timeout = callTimeoutError(this.host, this.callTimeoutMs);
        timeout.responseStarted = current?.responseStarted ?? false;
        throw timeout;
      }
      if (error.code === 'cancelled') {
        // Cancelled while connecting, or after an error status (in a retry wait): nothing a server could bill went out.
        const billable = latest !== undefined && latest.sent && !latest.failed;
        const usage = billable ? cancelledUsage(latest!.reported, this.inputText(request), streamed, this.countTokens, request.maxTokens) : NOTHING_BILLED;
        yield { type: 'usage', usage: { ...usage } };
        yield { type: 'done', finishReason: 'cancelled' };
        return;
      }
      throw error;
    } finally {
      call.dispose();
    }
  }

  /** One try with its own signal, so that whatever it leaves open (a body not read to the end) is torn down when it ends. */
  private async *tryOnce(
    request: ContinueRequest,
    attempt: Attempt,
    state: TryState,
    call: { key: string | undefined; noKey: string | undefined; secrets: readonly string[]; signal: AbortSignal; report: (event: TransportEvent) => void },
  ): AsyncGenerator<ProviderChunk> {
    const own = new AbortController();
    const stop = () => own.abort();
    if (call.signal.aborted) stop();
    else call.signal.addEventListener('abort', stop, { once: true });
    const n = attempt.number;
    call.report({ phase: 'connecting', attempt: n });
    const context: AttemptContext = {
      key: call.key,
      noKey: call.noKey,
      secrets: call.secrets,
      signal: own.signal,
      attempt: n,
      onSending: () => {
        state.sent = false;
      },
      onSent: () => {
        state.sent = true;
        call.report({ phase: 'waiting', attempt: n });
      },
      onFirstByte: (outputPending) => {
        attempt.responseStarted = true;
        call.report(outputPending ? { phase: 'receiving', attempt: n, outputPending } : { phase: 'receiving', attempt: n });
      },
      onOutputStarted: () => call.report({ phase: 'output', attempt: n }),
      reported: state.reported,
    };
    try {
      yield* this.attempt(request, context);
    } catch (error) {
      // A try that failed before its body started (an error status, a reset) generated nothing: not billed.
      if (!(error instanceof ProviderError && error.code === 'cancelled') && !attempt.responseStarted) state.failed = true;
      // Told as sent (onSending), its body never written (no onSent): the privacy record says so.
      if (state.sent === false) this.onNotSent?.(error instanceof Error ? error.message : String(error));
      throw error;
    } finally {
      call.signal.removeEventListener('abort', stop);
      own.abort();
    }
  }

  /** The StreamRequest of one try: the provider's headers, kind, timeouts and agents, and the try's signal and callbacks. */
  protected streamRequest(context: AttemptContext, url: URL, body: unknown, headers: Record<string, string> = {}): StreamRequest {
    return {
      url,
      headers: { ...this.extraHeaders, ...headers },
      body,
      keyEnv: this.entry.keyEnv,
      noKey: context.noKey,
      timeouts: this.timeouts,
      signal: context.signal,
      secrets: context.secrets,
      agents: this.agents,
      onSend: (sentUrl, sentBody) => {
        context.onSending();
        this.onSend?.(sentUrl, sentBody);
      },
      onSent: context.onSent,
      onFirstByte: context.onFirstByte,
      onOutputStarted: context.onOutputStarted,
    };
  }

  /** Where this provider's requests go (an endpoint may differ in path, never in origin). */
  protected requestOrigin(): URL {
    return this.baseUrl;
  }

  /** The URL of an endpoint below the base URL. */
  protected endpoint(path: string): URL {
    const base = this.baseUrl.href.replace(/\/+$/, '');
    return new URL(`${base}${path}`);
  }
}

/** What a call cancelled in the middle of one try needs to know of it. */
interface TryState {
  /** What the server reported of the usage so far (AttemptContext.reported). */
  reported: ReportedUsage;
  /**
   * A request of this try went out (true: it may be billed from then on), was recorded as going
   * but never went (false), or none was recorded yet (undefined: a try that fails then, say
   * cancelled while the key is read, marks no request as not sent: the last recorded one went).
   */
  sent: boolean | undefined;
  /** The try failed before its response body started (its request was refused or lost: not billed). */
  failed: boolean;
}

/** The usage of a call none of whose requests could be billed. */
const NOTHING_BILLED: Usage = Object.freeze({ inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false });

/** Calls `onTransport` so that it can never break the call: a throw (or a rejected promise) is ignored. */
export function transportReporter(onTransport: ContinueRequest['onTransport']): (event: TransportEvent) => void {
  if (!onTransport) return () => undefined;
  return (event) => {
    try {
      const result: unknown = onTransport(event);
      if (result instanceof Promise) result.catch(() => undefined);
    } catch {
      // A progress display must never stop the call it reports on.
    }
  };
}

/** The total time of one call: its signal aborts when the time is up or when the caller aborts. */
class CallLimit {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly deadline: number;
  expired = false;

  constructor(
    limitMs: number,
    private readonly caller: AbortSignal | undefined,
  ) {
    this.deadline = Date.now() + limitMs;
    this.timer = setTimeout(() => {
      this.expired = true;
      this.controller.abort();
    }, limitMs);
    // Sockets and waits keep the process alive while the call runs; this timer alone must not.
    this.timer.unref();
    if (caller?.aborted) this.controller.abort();
    else caller?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  remainingMs(): number {
    return this.deadline - Date.now();
  }

  dispose(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onCallerAbort);
  }

  private readonly onCallerAbort = (): void => this.controller.abort();
}

export function checkRequest(request: ContinueRequest): void {
  if (!Number.isInteger(request.maxTokens) || request.maxTokens < 1) {
    throw new ProviderError('bad_request', `maxTokens must be a whole number of at least 1 (got ${String(request.maxTokens)}).`, {});
  }
  if (!Array.isArray(request.messages) || typeof request.partialAnswer !== 'string') {
    throw new ProviderError('bad_request', 'A continuation needs the conversation (messages) and the partial answer (a string).', {});
  }
}

function positive(value: number | undefined, fallback: number): number {
  return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : fallback;
}

export function parseBaseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ProviderError(
      'bad_request',
      `${settingRef('baseUrl')} is not a URL: ${quotedAddress(text)}. Use e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1.`,
      { fix: 'open-settings' },
    );
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    // "localhost:8000/v1" parses, with "localhost:" as its scheme.
    const fix = text.includes('://') ? 'Use an http:// or https:// address' : `Write it with its scheme, e.g. http://${text}`;
    throw new ProviderError('bad_request', `${settingRef('baseUrl')} ${quotedAddress(text)} has no http:// or https://. ${fix}.`, { fix: 'open-settings' });
  }
  url.search = '';
  url.hash = '';
  return url;
}

/** The model's own end of text, by the names servers give it (TGI's older OpenAI route says eos_token, Together eos). */
const NATURAL_ENDS: ReadonlySet<string> = new Set(['stop', 'end_turn', 'stop_sequence', 'eos_token', 'eos']);
/** The request's max_tokens was reached. */
const LENGTH_ENDS: ReadonlySet<string> = new Set(['length', 'max_tokens']);

/**
 * What a finish reason the server gave means for the answer, or the error that ends it.
 * Only a natural end is 'stop' (the answer is complete) and only the token limit is
 * 'length'; an end that is neither (a server that gave up: vLLM's `abort`, OpenRouter's
 * `error`, Ollama's `load`, or a name Relay does not know) must not pass as the model's end
 * of text, so it is an error naming the reason. Called after the usage is yielded (the text
 * so far is kept and the call booked).
 */
export function finishReasonOf(raw: unknown, url: URL, secrets: readonly string[]): FinishReason {
  if (typeof raw === 'string' && NATURAL_ENDS.has(raw)) return 'stop';
  if (typeof raw === 'string' && LENGTH_ENDS.has(raw)) return 'length';
  const abnormal = abnormalStopError(raw, url, secrets);
  if (abnormal) throw abnormal;
  const said = typeof raw === 'string' ? raw.slice(0, 80) : JSON.stringify(raw)?.slice(0, 80);
  throw new ProviderError(
    'bad_response',
    `${url.host} ended the answer with the finish reason ${JSON.stringify(said)}, which is not the model's end of text: the server stopped it (aborted, failed or unknown). The text so far is kept; try again, and check the server's log if it repeats.`,
    { fix: 'retry', summary: `stopped: ${said}` },
    secrets,
  );
}

/**
 * Ends that are not the model's own end of text: its safety filter stopped it (Anthropic's
 * `refusal`, OpenAI's `content_filter`) or its context window is full (Anthropic's
 * `model_context_window_exceeded`). Read as an end-of-sequence they would end the answer as
 * if it were complete, so they end it with an error that says why.
 */
function abnormalStopError(raw: unknown, url: URL, secrets: readonly string[]): ProviderError | undefined {
  if (raw === 'refusal' || raw === 'content_filter') {
    return new ProviderError(
      'bad_request',
      `${url.host} stopped the answer: the model's safety filter ended it (${raw}). The text so far is kept; rephrase the question to ask again.`,
      { summary: `stopped: ${raw}` },
      secrets,
    );
  }
  if (raw === 'model_context_window_exceeded') {
    return new ProviderError(
      'bad_request',
      `${url.host} stopped the answer: the model's context window is full (${raw}). The text so far is kept; send less text (a shorter selection, or a new chat).`,
      { summary: `stopped: ${raw}` },
      secrets,
    );
  }
  return undefined;
}

/** A JSON error object sent inside a stream, typed like the HTTP status it stands for. */
export function errorFromStreamObject(body: unknown, url: URL, secrets: readonly string[], keyEnv: readonly string[], noKey?: string): ProviderError {
  const error = (body as any)?.error;
  const type = String(typeof error === 'object' && error ? (error.type ?? error.code ?? '') : '');
  const status = STATUS_OF_ERROR_TYPE[type] ?? (typeof error === 'object' && typeof error?.status === 'number' ? error.status : 500);
  return errorFromStatus(status, {}, JSON.stringify(body), url, secrets, keyEnv, noKey);
}

const STATUS_OF_ERROR_TYPE: Record<string, number> = {
  overloaded_error: 529,
  api_error: 500,
  server_error: 500,
  rate_limit_error: 429,
  rate_limit_exceeded: 429,
  authentication_error: 401,
  permission_error: 403,
  not_found_error: 404,
  invalid_request_error: 400,
  insufficient_quota: 429,
};

/**
 * An event stream that ended without its final event: retryable where the connection dropped
 * or the server gave up, but not where the body was no event stream at all (a plain-text
 * page from a proxy, another service on that port): that is the address or the kind.
 */
export function unfinishedStreamError(parser: SseParser, url: URL, secrets: readonly string[]): ProviderError {
  if (!parser.notAnEventStream) return truncatedStreamError(url, secrets);
  return new ProviderError(
    'bad_response',
    `${url.host} sent a response Relay cannot read (a text that is not an event stream): another service may answer at that address. ` +
      `Check that ${settingRef('baseUrl')} is the service's API and ${settingRef('providerKind')} matches it.`,
    { fix: 'open-settings' },
    secrets,
  );
}

/** A stream that ended without its final event: the connection dropped or the server gave up. */
export function truncatedStreamError(url: URL, secrets: readonly string[]): ProviderError {
  return new ProviderError('network', `The stream from ${url.host} ended before the answer finished. Try again.`, { fix: 'retry', retryable: true }, secrets);
}

export function badResponseError(url: URL, detail: string, secrets: readonly string[]): ProviderError {
  return new ProviderError(
    'bad_response',
    `${url.host} sent a response Relay cannot read (${detail}). Check that ${settingRef('providerKind')} matches the service.`,
    { fix: 'open-settings' },
    secrets,
  );
}

/** A line, event or body longer than a model's stream ever sends: a wrong address (a file, a proxy's page) or a broken server. */
export function oversizedResponseError(url: URL, what: string, limitBytes: number, secrets: readonly string[]): ProviderError {
  return new ProviderError(
    'bad_response',
    `${url.host} sent ${what} of more than ${formatMiB(limitBytes)}: not a model's stream. Check ${settingRef('baseUrl')}.`,
    { fix: 'open-settings', summary: `${what} over ${formatMiB(limitBytes)}` },
    secrets,
  );
}

/** What a stream reader throws for a parser's error: an over-long line becomes the bad-response error, the rest pass. */
export function streamReadError(error: unknown, url: URL, secrets: readonly string[]): unknown {
  return error instanceof StreamLineTooLongError ? oversizedResponseError(url, 'a line', error.limitChars, secrets) : error;
}
