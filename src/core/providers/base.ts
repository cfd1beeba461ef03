/**
 * What every HTTP provider shares: request checks, the API key, timeouts, retries, and
 * turning cancellation into a `done{cancelled}` chunk (with the usage counted so far).
 */
import { ProviderError, missingKeyError } from './errors';
import { createAgents, errorFromStatus, type HttpTimeouts } from './http';
import { withRetries, type RetryPolicy } from './retry';
import { apiKeyName, envVarsForKind } from './secrets';
import type {
  ContinuationMethod,
  ContinueRequest,
  FinishReason,
  LlmProvider,
  ProviderChunk,
  ProviderConfig,
  ProviderKind,
  ProviderOptions,
  SecretStore,
} from './types';
import { completeUsage, estimateTokens, type TokenCounter } from './usage';

export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 60_000;
export const DEFAULT_MAX_RETRIES = 2;
export const DEFAULT_RETRY_BASE_DELAY_MS = 500;
export const DEFAULT_MAX_RETRY_DELAY_MS = 30_000;

/** One try of a call: streams text chunks, then usage and done. */
export interface AttemptContext {
  key: string | undefined;
  signal?: AbortSignal;
  /** Values to scrub from error messages. */
  secrets: readonly string[];
}

export abstract class HttpProvider implements LlmProvider {
  abstract readonly kind: ProviderKind;
  abstract readonly continuation: ContinuationMethod;
  readonly model: string;
  protected readonly baseUrl: URL;
  protected readonly timeouts: HttpTimeouts;
  protected readonly policy: RetryPolicy;
  protected readonly agents: ReturnType<typeof createAgents>;
  protected readonly countTokens: TokenCounter;
  protected readonly extraHeaders: Record<string, string>;
  /** Passed to postStream as onSend: reports each request's URL and body (ProviderOptions.onRequest). */
  protected readonly onSend: ((url: URL, body: unknown) => void) | undefined;

  constructor(
    protected readonly config: ProviderConfig,
    private readonly secrets: SecretStore,
    options: ProviderOptions,
    defaultBaseUrl: string,
  ) {
    if (!config.model || config.model.trim().length === 0) {
      throw new ProviderError('bad_request', `No model is set for the ${config.kind} provider. Set relay.provider.model.`, { fix: 'pick-model' });
    }
    this.model = config.model.trim();
    this.baseUrl = parseBaseUrl(config.baseUrl?.trim() || defaultBaseUrl);
    this.timeouts = {
      connectTimeoutMs: positive(config.connectTimeoutMs, DEFAULT_CONNECT_TIMEOUT_MS),
      idleTimeoutMs: positive(config.idleTimeoutMs, DEFAULT_IDLE_TIMEOUT_MS),
    };
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
  }

  /** Whether this service refuses requests without a key (local servers usually do not). */
  protected abstract keyRequired(): boolean;
  /** The text whose tokens are the input, for the local count when usage is missing. */
  protected abstract inputText(request: ContinueRequest): string;
  protected abstract attempt(request: ContinueRequest, context: AttemptContext): AsyncIterable<ProviderChunk>;

  async *continue(request: ContinueRequest, signal?: AbortSignal): AsyncGenerator<ProviderChunk> {
    checkRequest(request);
    const key = (await this.secrets.get(apiKeyName(this.kind)))?.trim() || undefined;
    if (!key && this.keyRequired()) throw missingKeyError(this.kind, envVarsForKind(this.kind).join(' or '));
    const context: AttemptContext = { key, signal, secrets: key ? [key] : [] };
    let streamed = '';
    try {
      for await (const chunk of withRetries(() => this.attempt(request, context), this.policy, signal)) {
        if (chunk.type === 'text') streamed += chunk.text;
        yield chunk;
      }
    } catch (error) {
      if (error instanceof ProviderError && error.code === 'cancelled') {
        yield { type: 'usage', usage: completeUsage({}, this.inputText(request), streamed, this.countTokens) };
        yield { type: 'done', finishReason: 'cancelled' };
        return;
      }
      throw error;
    }
  }

  /** The URL of an endpoint below the base URL. */
  protected endpoint(path: string): URL {
    const base = this.baseUrl.href.replace(/\/+$/, '');
    return new URL(`${base}${path}`);
  }
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
    throw new ProviderError('bad_request', `relay.provider.baseUrl is not a URL: "${text}". Use e.g. https://api.openai.com/v1 or http://127.0.0.1:8000/v1.`, { fix: 'open-settings' });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new ProviderError('bad_request', `relay.provider.baseUrl must start with http:// or https:// (got ${url.protocol}).`, { fix: 'open-settings' });
  }
  url.search = '';
  url.hash = '';
  return url;
}

/** length / max_tokens -> 'length'; every other end (stop, end_turn, stop_sequence...) -> 'stop'. */
export function mapFinishReason(raw: unknown): FinishReason {
  return raw === 'length' || raw === 'max_tokens' ? 'length' : 'stop';
}

/** A JSON error object sent inside a stream, typed like the HTTP status it stands for. */
export function errorFromStreamObject(body: unknown, url: URL, secrets: readonly string[]): ProviderError {
  const error = (body as any)?.error;
  const type = String(typeof error === 'object' && error ? error.type ?? error.code ?? '' : '');
  const status = STATUS_OF_ERROR_TYPE[type] ?? (typeof error === 'object' && typeof error?.status === 'number' ? error.status : 500);
  return errorFromStatus(status, {}, JSON.stringify(body), url, secrets);
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

/** A stream that ended without its final event: the connection dropped or the server gave up. */
export function truncatedStreamError(url: URL, secrets: readonly string[]): ProviderError {
  return new ProviderError('network', `The stream from ${url.host} ended before the answer finished. Try again.`, { fix: 'retry', retryable: true }, secrets);
}

export function badResponseError(url: URL, detail: string, secrets: readonly string[]): ProviderError {
  return new ProviderError('bad_response', `${url.host} sent a response Relay cannot read (${detail}). Check that relay.provider.kind matches the service.`, { fix: 'open-settings' }, secrets);
}
