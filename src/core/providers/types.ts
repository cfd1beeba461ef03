/**
 * Contracts of the large-model (LLM) providers. A provider continues a partial answer
 * for at most N tokens and streams typed chunks (in the spirit of Cline's text | usage |
 * done stream).
 */
import type { ChatMessage } from '../slm/types';

export type { ProviderKind } from './registry';
import type { CacheRule } from './billing';
import type { ProviderKind } from './registry';

/** How faithfully a provider continues the given text. */
export type ContinuationMethod =
  | 'raw-completion' // exact: the model continues the very prompt string (the paper's way)
  | 'assistant-prefix' // exact up to the API's turn rendering: the partial answer is the final assistant turn
  | 'instructed'; // approximate: the model is asked to write only the continuation

export interface ContinueRequest {
  /** The conversation before the answer (system and user turns). */
  messages: ChatMessage[];
  /** The answer written so far, with every relay command already replaced by a space. */
  partialAnswer: string;
  /** N: the most tokens the LLM may write. */
  maxTokens: number;
  /**
   * The most output tokens this call may be billed within the answer's USD ceiling (the
   * engine's room; absent: no ceiling). A provider that would raise N mid-call (a minimum of
   * another endpoint it turns to) does not where that passes it.
   */
  maxBilledOutputTokens?: number;
  temperature?: number;
  topP?: number;
  seed?: number;
  /**
   * One key per answer (the same for every call of that answer), so that a service that
   * routes by a cache key sends the calls of one answer to the machine holding its cache
   * (OpenAI's prompt_cache_key; see src/core/providers/README.md for where it is sent).
   * Also the key under which the Anthropic provider remembers where the previous call of
   * the answer ended (its cache breakpoint). Optional: without it caching still works,
   * less well.
   */
  cacheKey?: string;
  /**
   * Whether the answer goes on with a new word ('space') or inside the current word,
   * number or punctuation ('none'), as the SLM's own next token had it (the token it was
   * unsure of). A chat model continuing by instruction drops or adds spaces at the seam;
   * this decides. Undefined when unknown (e.g. after a relay command).
   */
  seam?: 'space' | 'none';
  /**
   * Told where the call stands on the wire (connecting, waiting for the first byte,
   * receiving, retrying) or, for a model on this machine, how far it has read the prompt,
   * so a UI can show "waiting for <host>... 12 s" while nothing has come. Never told
   * anything secret.
   */
  onTransport?: (event: TransportEvent) => void;
}

/** Where one LLM call stands on the wire. `attempt` counts from 1 (retries add one). */
export type TransportEvent =
  | { phase: 'connecting'; attempt: number }
  /** Connected and sent; no byte of the response body yet. */
  | { phase: 'waiting'; attempt: number }
  /**
   * The first byte of the response body arrived: from here on the call may be billed and is never retried.
   * `outputPending`: the response began but the model's output has not; it reasons first, silently, and
   * is waited for (LlmProvider.quietUntilOutputMs: OpenAI's pro models, for minutes). 'output' follows.
   */
  | { phase: 'receiving'; attempt: number; outputPending?: true }
  /** After a 'receiving' with `outputPending`: the model's output began. */
  | { phase: 'output'; attempt: number }
  /** The attempt failed before any body byte; the next one starts after `delayMs`. */
  | { phase: 'retrying'; attempt: number; delayMs: number; reason: string }
  /**
   * A model on this machine (onnx-local) is reading the prompt: `done` of `total` tokens computed,
   * `reusedTokens` more held by a kept cache. Told before the first step and after each: work, not
   * silence (a large model on a CPU reads a long prompt for minutes). Still no output.
   */
  | { phase: 'reading'; attempt: number; done: number; total: number; reusedTokens: number };

export interface Usage {
  inputTokens: number;
  outputTokens: number;
  /** Input tokens served from the provider's prompt cache (billed at a discount). */
  cachedInputTokens: number;
  /** Input tokens written to the provider's prompt cache (billed at a premium where applicable). */
  cacheWriteTokens: number;
  /** True when some numbers were counted locally because the server did not report them. */
  estimated: boolean;
  /**
   * Hidden reasoning tokens the model wrote (OpenAI completion_tokens_details.reasoning_tokens).
   * Already part of outputTokens and billed as output; here for display only. Absent when
   * the server did not say.
   */
  reasoningTokens?: number;
  /**
   * Present when the server reported more output than one call is believed to write
   * (usage.ts, MAX_BELIEVED_OUTPUT_TOKENS): outputTokens is that ceiling, not its count, and
   * the usage is estimated.
   */
  outputCapped?: true;
}

export type FinishReason = 'length' | 'stop' | 'cancelled';

export type ProviderChunk =
  | { type: 'text'; text: string }
  /**
   * Reasoning a host streams visibly beside the text (DeepSeek's and vLLM's
   * delta.reasoning_content, OpenRouter's delta.reasoning): not part of the answer, but billed
   * as output, and where max_tokens does not bound it, its arrival is the only sign of a call's
   * cost growing before the usage comes. Consumers that only show or count text skip it.
   */
  | { type: 'reasoning'; text: string }
  /**
   * What the call is billed. Usually once, after the text; a provider that learns the input side
   * first may send an estimated one before the text (Anthropic's message_start: a call its reader
   * closes early has no other). The last one received holds.
   */
  | { type: 'usage'; usage: Usage }
  /**
   * `continuation`: how this very call continued the answer, where a provider can change it
   * from call to call (Anthropic falls back from prefill to an instruction when a model
   * refuses prefill). Absent: `LlmProvider.continuation` holds.
   */
  | { type: 'done'; finishReason: FinishReason; continuation?: ContinuationMethod };

export interface LlmProvider {
  readonly kind: ProviderKind;
  readonly model: string;
  /** Where requests go, for people to read: the base URL's host (e.g. api.openai.com), or 'this machine'. */
  readonly host: string;
  /**
   * How the next call will continue the answer. It can change at run time: the Anthropic
   * provider starts with prefill for a model its table does not know and switches to
   * 'instructed' (for good, for that model) when the API refuses prefill. The `done`
   * chunk of each call says how that call was made.
   */
  readonly continuation: ContinuationMethod;
  continue(request: ContinueRequest, signal?: AbortSignal): AsyncIterable<ProviderChunk>;
  /**
   * The text a request would send, without the API's framing: what its input tokens count.
   * Where the provider may still change how it continues, the longer form. The money
   * ceiling bounds a call's input by it; without it the engine assumes the messages, the
   * partial answer and the continuation instruction.
   */
  sentText?(request: ContinueRequest): string;
  /**
   * The service's own count of the input tokens of a request that sends `text` as one user
   * message (its framing included), from a free endpoint that generates nothing. Absent, or
   * rejecting, where the service has no such endpoint. The engine's token ratios learn from
   * it before any call reported usage (money.ts).
   */
  countInputTokens?(text: string, signal?: AbortSignal): Promise<number>;
  /**
   * The span's N goes where it bounds hidden reasoning too (OpenAI's max_completion_tokens):
   * a call bills at most N output tokens, so its quote adds no reasoning on top. Absent: false.
   * False from the call billedPastLimit was told of on, for this model at this origin.
   */
  readonly limitBoundsReasoning?: boolean;
  /**
   * Told when a call was billed more output than its limit allowed (a proxy or host that ignores
   * max_tokens / max_completion_tokens): learned for the model at its origin, so every later
   * answer's first call is priced and held back with its unbounded reasoning too.
   */
  billedPastLimit?(): void;
  /**
   * The fewest output tokens a call asks for (OpenAI's Responses API refuses a
   * max_output_tokens under 16): a smaller N goes as this, so a call may be billed up to it.
   * Absent: N as asked.
   */
  readonly minOutputTokens?: number;
  /**
   * The most milliseconds one call may take, its tries and retry waits included (the call
   * timeout): a price by time of day is held to the dearest rate in force until then
   * (limits.ts outputTokensWithinCeiling). Absent: callDefaults.ts DEFAULT_CALL_TIMEOUT_MS.
   */
  readonly callTimeoutMs?: number;
  /**
   * How long a call may send no output before its text: the model reasons silently first
   * (OpenAI's pro models, for minutes), and the call waits that long (its call timeout)
   * instead of its first-byte and idle timeouts. The answer's silence ceiling stays above it,
   * so the call's own error, naming its setting, comes first. Absent: the usual waits.
   */
  readonly quietUntilOutputMs?: number;
  /**
   * The temperature a call's body carries when `asked` is asked, as far as this process knows
   * the model now: a number (clamped where the API takes a narrower range), or null where none
   * is sent (the model refuses one and samples at its own default). Absent: the asked one.
   */
  sentTemperature?(asked: number): number | null;
}

/**
 * What a provider may send as its API key to one origin: `key`, or none. `withheld` says
 * why a key the user has was not sent there (bound to another origin, clear text, the
 * user said no); the provider reports it when the service needs a key.
 */
export interface KeyDecision {
  key?: string;
  withheld?: string;
}

/**
 * Where API keys come from (VS Code SecretStorage in the extension, environment variables
 * in the CLI), asked per request for the exact origin the request goes to.
 */
export interface KeySource {
  keyFor(kind: ProviderKind, url: URL): Promise<KeyDecision>;
}

/** Prices in US dollars per million tokens; undefined means unknown (never zero). */
export interface ModelPrice {
  inputPerMTok: number;
  outputPerMTok: number;
  cachedInputPerMTok?: number;
  cacheWritePerMTok?: number;
  /**
   * Long-context prices from the catalog (Gemini 2.5 Pro and Claude Sonnet 4.5 above 200k
   * input tokens, OpenAI gpt-5.4 above 272k), ascending: a call whose input tokens (all of
   * them, cached and cache-written ones included) exceed a tier's aboveInputTokens is billed
   * whole at that tier's prices, its output too (pricing.priceForInput). Absent: one flat
   * price at any length, as every price the user sets is.
   */
  tiers?: PriceTier[];
  /**
   * The catalog's rates by time of the UTC day where they differ from the fields above
   * (DeepSeek V4: twice them 01:00-04:00 and 06:00-10:00 UTC on weekdays), ascending and apart: a call
   * is billed at the window its time falls in (pricing.priceAtTime), the fields above
   * outside every window. Absent: one price all day, as every price the user sets is.
   */
  hours?: HourPrice[];
}

/**
 * A rate of some hours of every UTC day, or of UTC Monday to Friday only (weekdaysOnly)
 * (ModelPrice.hours): from fromUtcSecond up to, not including, toUtcSecond.
 */
export interface HourPrice {
  /** Seconds after 00:00 UTC, 0 to 86 400; a window never crosses midnight (one that does is two). */
  fromUtcSecond: number;
  toUtcSecond: number;
  /**
   * Present when the window bills on UTC Monday to Friday only: on Saturday and Sunday its
   * hours bill at the flat fields (DeepSeek V4's peak hours). Absent (as in prices saved
   * before it existed): every day.
   */
  weekdaysOnly?: true;
  inputPerMTok: number;
  outputPerMTok: number;
  cachedInputPerMTok?: number;
  cacheWritePerMTok?: number;
}

/** A long-context price tier: the prices of a call whose input exceeds aboveInputTokens (ModelPrice.tiers). */
export interface PriceTier {
  aboveInputTokens: number;
  inputPerMTok: number;
  outputPerMTok: number;
  cachedInputPerMTok?: number;
  cacheWritePerMTok?: number;
}

// ---- Added by the providers work (issue 4); additive only. ----

/**
 * Renders the prompt string of a raw completion: the conversation through the chat
 * template with add_generation_prompt, then the partial answer appended verbatim.
 */
export type PromptRenderer = (messages: ChatMessage[], partialAnswer: string) => string;

/**
 * How a provider is reached. Usage semantics for all providers: `Usage.inputTokens`
 * counts every input token, cached and cache-written ones included; `cachedInputTokens`
 * and `cacheWriteTokens` are the parts of it billed at other prices.
 */
export interface ProviderConfig {
  kind: ProviderKind;
  /** Empty or undefined uses the kind's default (api.openai.com, api.anthropic.com, 127.0.0.1:11434...). */
  baseUrl?: string;
  model: string;
  /** openai-completions (required) and ollama (switches it to raw /api/generate). */
  templateRenderer?: PromptRenderer;
  /** openai-chat: continue a `prefix: true` assistant message; auto = on for api.deepseek.com and api.mistral.ai. */
  assistantPrefix?: 'auto' | 'on' | 'off';
  /** openai-chat: the field that carries N; auto = max_completion_tokens on api.openai.com, max_tokens elsewhere. */
  maxTokensField?: 'auto' | 'max_tokens' | 'max_completion_tokens';
  /** ollama: raw /api/generate (needs templateRenderer) or /api/chat with the partial answer as the last assistant turn. */
  ollamaEndpoint?: 'auto' | 'generate' | 'chat';
  /** Most milliseconds to open the TCP connection (and TLS). Default 10 000. */
  connectTimeoutMs?: number;
  /** Most milliseconds from sending the request to the first byte of the response body (a cold server may be slow). Default 60 000. */
  firstByteTimeoutMs?: number;
  /** Most milliseconds between two chunks of the response body, once it started. Default 30 000. */
  idleTimeoutMs?: number;
  /** Most milliseconds for a whole call, retries and waits included. Default 300 000. */
  callTimeoutMs?: number;
  /**
   * Retries after the first try on 429, 5xx and connection failures, only before any byte
   * of a response body arrived (after that the call is billed). A timeout is retried at
   * most once. Default 2.
   */
  maxRetries?: number;
  /** First backoff delay; doubles each retry, with full jitter. Default 500. */
  retryBaseDelayMs?: number;
  /** A Retry-After longer than this is not waited for: the error is reported instead. Default 30 000. */
  maxRetryDelayMs?: number;
  /** Extra request headers (e.g. OpenRouter's HTTP-Referer). Never put keys here: they come from a KeySource. */
  headers?: Record<string, string>;
}

/** One request as it went over the wire, for the privacy view: URL and JSON body, never the headers (so never a key). */
export interface SentRequest {
  url: string;
  body: unknown;
  /** Set where the request is not an LLM call: 'token-count', the provider's free count of Relay's sample text (countInputTokens). */
  purpose?: 'token-count';
  /** Set (by ProviderOptions.onRequestNotSent) when the request never went out: why (connection refused, cancelled...). */
  notSent?: string;
}

export interface ProviderOptions {
  /** Called with every HTTP request just before it is sent (retries included). */
  onRequest?: (request: SentRequest) => void;
  /** Called when the request onRequest was last told of failed before its body went out (nothing listening, cancelled): why. */
  onRequestNotSent?: (reason: string) => void;
  /** Counts tokens when a server omits usage (the SLM tokenizer); chars/4 otherwise. */
  countTokens?: (text: string) => number;
  /** The onnx-local provider, built elsewhere and injected (the factory does not build it). */
  onnxLocal?: LlmProvider;
  /** HTTP agents to use instead of the provider's own keep-alive agents (e.g. a proxy agent). */
  agents?: { http?: import('node:http').Agent; https?: import('node:https').Agent };
  /** Random source of the retry jitter, for tests. */
  random?: () => number;
}

/**
 * What one provider kind is, declared next to its class and collected in registry.ts: the
 * settings, the CLI, keys and prices read it from there.
 */
export interface ProviderEntry {
  /** One line for the settings and the help. */
  label: string;
  /** Where requests go when no base URL is set (none for onnx-local). */
  defaultBaseUrl?: string;
  /** The CLI's environment variables for its key, tried in order (RELAY_API_KEY first). */
  keyEnv: readonly string[];
  /** The origin the kind's own variable (after RELAY_API_KEY) was issued for: it goes nowhere else. */
  keyHome?: string;
  /** "Relay: Set API Key" offers it. */
  usesKey: boolean;
  /** Whether the service at this address refuses requests without a key. */
  keyRequired(url: URL): boolean;
  /** Prices come from the catalog by the host requests go to; otherwise only from the user's settings. */
  pricedByHost: boolean;
  /**
   * How the service at `url` bills input the calls of an answer send again (its prompt
   * cache), for pricing a call before it is made; undefined: not known from the address
   * (then the user's cached-input price, if any, stands for a server's prefix cache).
   */
  cacheRule?(url: URL, model: string): CacheRule | undefined;
  /** Builds the provider; absent where it is built elsewhere and injected (onnx-local). */
  create?(config: ProviderConfig, keys: KeySource, options: ProviderOptions): LlmProvider;
  /** Runs on this machine from a model folder (no HTTP, no key, its own chat template); the adapter builds it. */
  inProcess?: boolean;
  /**
   * How it takes the conversation: 'template' a prompt string rendered by a chat template
   * (raw completion; needs one), 'template-if-any' rendered where a template is known, else
   * chat turns, 'messages' chat turns.
   */
  prompt: 'template' | 'template-if-any' | 'messages';
}
