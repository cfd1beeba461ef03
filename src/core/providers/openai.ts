/**
 * OpenAI-compatible providers:
 * - openai-completions: POST /completions with the prompt rendered by a chat template,
 *   the partial answer appended (exact continuation, the paper's set-up).
 * - openai-chat: POST /chat/completions; continues a `prefix: true` assistant message
 *   where the service supports it (DeepSeek, Mistral), otherwise asks for only the
 *   continuation and cleans the seam. On api.openai.com and Azure OpenAI, a model served on
 *   the Responses API only (the table's, or one whose chat request was refused so: retried
 *   there once and remembered) goes to POST /responses instead (openaiResponses.ts), instructed.
 *
 * Both shape each request for the model (modelCapabilities.ts): reasoning models get the
 * lowest reasoning_effort they take (a relay span must not pay for hidden reasoning), no
 * sampling fields they refuse, N in max_completion_tokens. What a server refuses anyway
 * (an HTTP 400 naming a field) is fixed and the call sent again, once per field, and
 * remembered for the model at that origin (refusals.ts). On api.openai.com and Azure
 * OpenAI the conversation's `cacheKey` goes out as prompt_cache_key.
 */
import { DEEPSEEK_CACHE, openAiCacheRule, type CacheRule } from './billing';
import { createHash } from 'node:crypto';
import { settingRef } from '../settingNames';
import { HttpProvider, type AttemptContext, type TokenCountRequest } from './base';
import { ProviderError } from './errors';
import { postStream } from './http';
import { learnedFacts, openAiModelTraits, type LearnedFacts, type OpenAiModelTraits, type ReasoningEffort } from './modelCapabilities';
import { readResponsesStream, refusalView, responsesBody, RESPONSES_MIN_OUTPUT_TOKENS } from './openaiResponses';
import { readOpenAiStream } from './openaiStream';
import { sendAdapting, type Refusal } from './refusals';
import { CONTINUE_INSTRUCTION, InstructedSeamCleaner } from './seam';
import type { ChatMessage } from '../slm/types';
import type {
  ContinuationMethod,
  ContinueRequest,
  PromptRenderer,
  ProviderChunk,
  ProviderConfig,
  ProviderOptions,
  KeySource,
  ProviderEntry,
  ProviderKind,
  Usage,
} from './types';

export { CONTINUE_INSTRUCTION };

export const OPENAI_DEFAULT_BASE_URL = 'https://api.openai.com/v1';
export const OPENAI_COMPLETIONS_DEFAULT_BASE_URL = 'http://127.0.0.1:8000/v1';

const OPENAI_HOST = /(^|\.)api\.openai\.com$/;
/**
 * Azure OpenAI's addresses: an Azure OpenAI resource (*.openai.azure.com) and a Foundry / AI
 * Services resource (*.cognitiveservices.azure.com, *.services.ai.azure.com), which serve the
 * same API (/openai/v1/..., the key in api-key) and which the price catalog bills as Azure.
 * Not *.azure-api.net: API Management in front, with auth of its own.
 */
const AZURE_HOST = /(^|\.)(openai\.azure\.com|cognitiveservices\.azure\.com|services\.ai\.azure\.com)$/;
/** Services that refuse requests without a key. */
const HOSTED_OPENAI_STYLE = [OPENAI_HOST, AZURE_HOST, /(^|\.)api\.deepseek\.com$/, /(^|\.)api\.mistral\.ai$/, /(^|\.)openrouter\.ai$/, /(^|\.)api\.groq\.com$/];
/** Services that continue an assistant message marked `prefix: true`. */
const PREFIX_HOSTS = [/(^|\.)api\.deepseek\.com$/, /(^|\.)api\.mistral\.ai$/];
/**
 * Services documented to take prompt_cache_key (OpenAI's prompt-caching guide; Azure
 * OpenAI's prompt-caching page). Other servers get no such field: strict ones (vLLM,
 * pydantic-based proxies) refuse unknown fields, and they cache by prefix anyway.
 */
const CACHE_KEY_HOSTS = [OPENAI_HOST, AZURE_HOST];
/** Services that serve OpenAI's Responses API (/v1/responses; Azure: /openai/v1/responses), where Responses-only models go. */
const RESPONSES_HOSTS = [OPENAI_HOST, AZURE_HOST];
/** OpenAI and Azure refuse a prompt_cache_key over 64 characters (theopenco/llmgateway#3110). */
const MAX_CACHE_KEY_LENGTH = 64;

/** The key as sent: itself when short enough, else a digest of it (still one key per answer). */
export function promptCacheKey(key: string): string {
  return key.length <= MAX_CACHE_KEY_LENGTH ? key : `relay-${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
}

export function authHeaders(url: URL, key: string | undefined): Record<string, string> {
  if (!key) return {};
  // Azure OpenAI takes the key in its own header.
  return AZURE_HOST.test(url.hostname) ? { 'api-key': key } : { authorization: `Bearer ${key}` };
}

/** What a body carries besides the prompt: sampling, N, effort, cache key, usage request. */
interface Shape {
  tokenField: 'max_tokens' | 'max_completion_tokens';
  effort?: string;
  /** temperature and top_p may go (the model takes them with the effort sent). */
  sampling: boolean;
  dropped: ReadonlySet<string>;
  cacheKey: boolean;
}

function shapeFields(request: ContinueRequest, shape: Shape): Record<string, unknown> {
  const out: Record<string, unknown> = { [shape.tokenField]: request.maxTokens };
  const keep = (field: string) => !shape.dropped.has(field);
  const temperature = request.temperature === undefined ? null : temperatureSent(shape, request.temperature);
  if (temperature !== null) out.temperature = temperature;
  if (shape.sampling && request.topP !== undefined && keep('top_p')) out.top_p = request.topP;
  if (request.seed !== undefined && keep('seed')) out.seed = request.seed;
  if (shape.effort !== undefined && keep('reasoning_effort')) out.reasoning_effort = shape.effort;
  if (shape.cacheKey && request.cacheKey && keep('prompt_cache_key')) out.prompt_cache_key = promptCacheKey(request.cacheKey);
  // A server that refused streaming for the model answers with one JSON body, read whole (readOpenAiStream).
  if (keep('stream')) out.stream = true;
  if (keep('stream') && keep('stream_options')) out.stream_options = { include_usage: true };
  return out;
}

/** The temperature a body of `shape` carries when `asked` is asked; null: none. */
function temperatureSent(shape: Shape, asked: number): number | null {
  return shape.sampling && !shape.dropped.has('temperature') ? asked : null;
}

/**
 * One request as it goes: where, the body on the wire, and the body as refusals read it (chat's
 * field names: the same object on chat, refusalView of it on /responses).
 */
interface RequestPlan {
  url: URL;
  wire: Record<string, unknown>;
  body: Record<string, unknown>;
  responses: boolean;
  /** The call's N and the most output tokens it may be billed (ContinueRequest.maxBilledOutputTokens). */
  maxTokens: number;
  maxBilledOutputTokens?: number;
}

/**
 * Records what a refusal taught; false when there is nothing new to change (the error then
 * stands). `responsesHost`: the service serves /responses too (a chat request refused for it
 * goes there, once).
 */
function learnFrom(facts: LearnedFacts, refusal: Refusal, plan: RequestPlan, responsesHost: boolean): boolean | { undo: () => void } {
  const body = plan.body;
  switch (refusal.type) {
    case 'responses-only':
      if (!responsesHost || plan.responses || facts.responsesOnly) return false;
      facts.responsesOnly = true;
      // /responses asks for at least 16 tokens, which this call was not quoted and checked at: not where its USD ceiling leaves fewer.
      if (Math.max(plan.maxTokens, RESPONSES_MIN_OUTPUT_TOKENS) > (plan.maxBilledOutputTokens ?? Infinity)) {
        throw new ProviderError(
          'bad_request',
          `The model is served by OpenAI's Responses API only, which asks for at least ${RESPONSES_MIN_OUTPUT_TOKENS} output tokens a call: more than ${settingRef('maxCostUsd')} leaves this answer. Nothing was billed. Relay now quotes this model's calls at ${RESPONSES_MIN_OUTPUT_TOKENS} tokens: ask again, or raise the ceiling.`,
          { fix: 'open-settings' },
        );
      }
      return true;
    case 'drop':
      if (facts.dropped.has(refusal.field) || body[refusal.field] === undefined) return false;
      facts.dropped.add(refusal.field);
      return true;
    case 'token-field':
      if (body[refusal.use] !== undefined) return false;
      facts.tokenField = refusal.use;
      return true;
    case 'effort': {
      if (body.reasoning_effort === refusal.effort) return false;
      // Words that say nothing of the effort, from a model that took this effort before: another cause.
      if (refusal.tentative && facts.effortTaken === body.reasoning_effort) return false;
      const before = facts.effort;
      facts.effort = refusal.effort;
      return refusal.tentative ? { undo: () => (facts.effort = before) } : true;
    }
    default:
      return false;
  }
}

/** Hosted OpenAI-style services refuse requests without a key; local servers usually take none. */
function hostedOpenAiStyle(url: URL): boolean {
  return HOSTED_OPENAI_STYLE.some((host) => host.test(url.hostname));
}

/** The documented caching of the services we know by address (billing.ts); others are the user's to say. */
function hostCacheRule(url: URL, model: string): CacheRule | undefined {
  const host = url.hostname.toLowerCase();
  if (host === 'api.openai.com' || AZURE_HOST.test(host)) return openAiCacheRule(model);
  if (host === 'api.deepseek.com') return DEEPSEEK_CACHE;
  return undefined;
}

export const openAiChatEntry: ProviderEntry = {
  label:
    'OpenAI-compatible /v1/chat/completions (OpenAI, OpenRouter, Azure OpenAI, Groq, DeepSeek, Mistral). Continues with an assistant prefix where the service supports it, otherwise by instruction.',
  defaultBaseUrl: OPENAI_DEFAULT_BASE_URL,
  keyEnv: ['RELAY_API_KEY', 'OPENAI_API_KEY'],
  keyHome: 'https://api.openai.com',
  usesKey: true,
  keyRequired: hostedOpenAiStyle,
  pricedByHost: true,
  cacheRule: hostCacheRule,
  create: (config, keys, options) => new OpenAiChatProvider(config, keys, options),
  prompt: 'messages',
};

export const openAiCompletionsEntry: ProviderEntry = {
  label:
    'OpenAI-compatible /v1/completions with the prompt rendered by a chat template (vLLM, llama.cpp server, SGLang, LM Studio, Together, Fireworks). Exact continuation, as in the paper.',
  defaultBaseUrl: OPENAI_COMPLETIONS_DEFAULT_BASE_URL,
  keyEnv: ['RELAY_API_KEY'],
  usesKey: true,
  keyRequired: hostedOpenAiStyle,
  // Hosted services bill it (Together, Fireworks, DeepSeek's FIM, OpenAI's instruct models): by the catalog; a local server has no entry there.
  pricedByHost: true,
  cacheRule: hostCacheRule,
  create: (config, keys, options) => new OpenAiCompletionsProvider(config, keys, options),
  prompt: 'template',
};

/** The effort Relay guesses for a model that billed reasoning while none was sent (noticeReasoning). */
const GUESSED_EFFORT: ReasoningEffort = 'none';

/** A request refused as such (HTTP 400 or 422), as a refused field is: not a rate limit, a server error or a lost connection. */
function refusedRequest(error: unknown): boolean {
  return error instanceof ProviderError && error.code === 'bad_request' && (error.status === 400 || error.status === 422);
}

abstract class OpenAiStyleProvider extends HttpProvider {
  protected readonly traits: OpenAiModelTraits;

  constructor(config: ProviderConfig, keys: KeySource, options: ProviderOptions, entry: ProviderEntry) {
    super(config, keys, options, entry);
    this.traits = openAiModelTraits(this.model);
  }

  /** What servers told us about this model at this origin (shared by every provider of the process). */
  protected facts(): LearnedFacts {
    return learnedFacts(this.kind, this.baseUrl.origin, this.model);
  }

  protected sendsCacheKey(): boolean {
    return CACHE_KEY_HOSTS.some((host) => host.test(this.baseUrl.hostname));
  }

  /**
   * The request body's fields besides the prompt, for this model as far as we know it now:
   * what servers told us, then the settings, then the model table. The table applies to
   * chat only: OpenAI's reasoning models are chat-only, and /completions servers (vLLM,
   * llama.cpp, gpt-3.5-turbo-instruct) take max_tokens and sampling; they are corrected by
   * refusals like chat is.
   */
  protected shape(chat: boolean): Shape {
    const facts = this.facts();
    const traits = chat ? this.traits : openAiModelTraits('');
    const configured = chat ? (this.config.maxTokensField ?? 'auto') : 'auto';
    const byHost = chat && OPENAI_HOST.test(this.baseUrl.hostname) ? 'max_completion_tokens' : 'max_tokens';
    const tokenField = facts.tokenField ?? (configured !== 'auto' ? configured : traits.needsMaxCompletionTokens ? 'max_completion_tokens' : byHost);
    const effort = facts.effort ?? traits.lowestEffort;
    const effortSent = chat && effort !== undefined && !facts.dropped.has('reasoning_effort') ? effort : undefined;
    const sampling = traits.sampling === 'any' ? true : traits.sampling === 'refused' ? false : effortSent === undefined || effortSent === 'none';
    return { tokenField, effort: effortSent, sampling, dropped: facts.dropped, cacheKey: this.sendsCacheKey() };
  }

  /** The service serves OpenAI's Responses API too (api.openai.com, Azure OpenAI). */
  protected servesResponses(): boolean {
    return RESPONSES_HOSTS.some((host) => host.test(this.baseUrl.hostname));
  }

  /** LlmProvider.quietUntilOutputMs: a model that reasons for minutes first is waited for up to the call timeout. */
  get quietUntilOutputMs(): number | undefined {
    return this.traits.reasonsForMinutes ? this.callTimeoutMs : undefined;
  }

  /**
   * Posts, fixing refused fields (each once, remembered); returns the response and the plan that
   * went. A model that reasons for minutes before it writes is waited for up to the call timeout
   * (which ends it with its own error), not the first-byte and idle timeouts, until its text flows.
   */
  protected async post(context: AttemptContext, build: () => RequestPlan) {
    const facts = this.facts();
    const responsesHost = this.servesResponses();
    const quiet = { quietUntilOutputMs: this.quietUntilOutputMs };
    let effortRefusalRead = false;
    const send = () =>
      sendAdapting(
        build,
        (plan) => postStream({ ...this.streamRequest(context, plan.url, plan.wire, authHeaders(plan.url, context.key)), ...quiet }),
        (refusal, plan) => {
          // A tentative one (Google's catch-all) may be undone: the guess may still be what was refused.
          if (refusal.type === 'effort' && !refusal.tentative) effortRefusalRead = true;
          return learnFrom(facts, refusal, plan, responsesHost);
        },
      );
    let sent: Awaited<ReturnType<typeof send>>;
    try {
      sent = await send();
    } catch (error) {
      // Relay's own guess of an effort, refused in words it cannot read (read ones are learned from): the model worked without one.
      const guessRefused = facts.effortGuessed === true && facts.effort === GUESSED_EFFORT && !effortRefusalRead && refusedRequest(error);
      if (!guessRefused) throw error;
      sent = await this.sendWithoutEffortGuess(facts, send);
    }
    const effort = sent.plan.body.reasoning_effort;
    if (typeof effort === 'string') {
      facts.effortTaken = effort as ReasoningEffort;
      facts.effortGuessed = undefined;
    }
    return sent;
  }

  /**
   * Sends the call again with no effort, and the model is not guessed one again (noticeReasoning);
   * kept only if that call is taken: refused too (or failing for another cause), the refusal was
   * not of the guess, which stands, and so does the error.
   */
  private async sendWithoutEffortGuess<T>(facts: LearnedFacts, send: () => Promise<T>): Promise<T> {
    facts.effortGuessed = undefined;
    facts.effort = undefined;
    facts.dropped.add('reasoning_effort');
    try {
      return await send();
    } catch (error) {
      facts.dropped.delete('reasoning_effort');
      facts.effort = GUESSED_EFFORT;
      facts.effortGuessed = true;
      throw error;
    }
  }

  /**
   * Reasoning billed while no effort was sent (a model the table does not know, e.g. an
   * Azure deployment name, a Gemini model): the next calls ask for the lowest effort. "none"
   * first; a model that does not take it answers with the values it takes and the lowest is
   * used, or (a Gemini model that only thinks) refuses it and is sent "low" (refusals.ts). A
   * guess until a call is taken with it: refused in words Relay cannot read, it is withdrawn if the
   * call sent again without it is taken (post).
   */
  protected noticeReasoning(usage: Usage, body: Record<string, unknown>): void {
    const facts = this.facts();
    if ((usage.reasoningTokens ?? 0) > 0 && body.reasoning_effort === undefined && facts.effort === undefined && !facts.dropped.has('reasoning_effort')) {
      facts.effort = GUESSED_EFFORT;
      facts.effortGuessed = true;
    }
  }
}

export class OpenAiCompletionsProvider extends OpenAiStyleProvider {
  readonly kind = 'openai-completions' as const;
  readonly continuation: ContinuationMethod = 'raw-completion';
  private readonly render: PromptRenderer;

  constructor(config: ProviderConfig, keys: KeySource, options: ProviderOptions) {
    super(config, keys, options, openAiCompletionsEntry);
    if (!config.templateRenderer) {
      throw new ProviderError(
        'bad_request',
        `openai-completions needs a chat template to render the prompt. Leave ${settingRef('templateFolder')} empty to use the small model's template, or point it to a model folder or tokenizer_config.json.`,
        { fix: 'open-settings' },
      );
    }
    this.render = config.templateRenderer;
  }

  sentTemperature(asked: number): number | null {
    return temperatureSent(this.shape(false), asked);
  }

  protected inputText(request: ContinueRequest): string {
    return this.render(request.messages, request.partialAnswer);
  }

  protected async *attempt(request: ContinueRequest, context: AttemptContext): AsyncGenerator<ProviderChunk> {
    const url = this.endpoint('/completions');
    const prompt = this.render(request.messages, request.partialAnswer);
    const { response } = await this.post(context, () => {
      const body = { model: this.model, prompt, ...shapeFields(request, this.shape(false)) };
      return { url, wire: body, body, responses: false, maxTokens: request.maxTokens };
    });
    yield* readOpenAiStream(response, {
      url,
      keyEnv: this.entry.keyEnv,
      noKey: context.noKey,
      secrets: context.secrets,
      pickText: (choice) => choice?.text,
      inputText: prompt,
      maxTokens: request.maxTokens,
      countTokens: this.countTokens,
      continuation: this.continuation,
      partialAnswer: request.partialAnswer,
    });
  }
}

/**
 * OpenAI's chat API and the services that speak it. A service with its own kind (its own
 * key variable, default address, prices) is a subclass that passes its kind and entry.
 */
export class OpenAiChatProvider extends OpenAiStyleProvider {
  sentTemperature(asked: number): number | null {
    return temperatureSent(this.shape(true), asked);
  }

  /**
   * max_completion_tokens bounds the hidden reasoning with the text (max_tokens, where a server
   * takes it, may not); so does max_output_tokens on /responses. Not where a host was seen billing past it.
   */
  get limitBoundsReasoning(): boolean {
    return !this.facts().limitIgnored && (this.usesResponses() || this.shape(true).tokenField === 'max_completion_tokens');
  }

  /** Only a limit said to bound the reasoning was ignored: max_tokens billed past (DeepSeek-R1's) is reasoning it never bounded. */
  billedPastLimit(): void {
    if (this.limitBoundsReasoning) this.facts().limitIgnored = true;
  }

  /** /responses refuses a max_output_tokens under 16: a shorter span is asked (and may be billed) as 16. */
  get minOutputTokens(): number | undefined {
    return this.usesResponses() ? RESPONSES_MIN_OUTPUT_TOKENS : undefined;
  }

  readonly kind: ProviderKind;
  private readonly usePrefix: boolean;

  constructor(
    config: ProviderConfig,
    keys: KeySource,
    options: ProviderOptions,
    own: { kind: ProviderKind; entry: ProviderEntry } = { kind: 'openai-chat', entry: openAiChatEntry },
  ) {
    super(config, keys, options, own.entry);
    this.kind = own.kind;
    const mode = config.assistantPrefix ?? 'auto';
    this.usePrefix = mode === 'on' || (mode === 'auto' && PREFIX_HOSTS.some((host) => host.test(this.baseUrl.hostname)));
  }

  /** The Responses API has no assistant prefill: there the answer is continued by instruction. */
  get continuation(): ContinuationMethod {
    return this.usePrefix && !this.usesResponses() ? 'assistant-prefix' : 'instructed';
  }

  /**
   * The next call goes to /responses: the service serves it (the key goes only where the base
   * URL points) and the model is served there only, by the table or as a server said.
   */
  usesResponses(): boolean {
    return this.servesResponses() && (this.traits.responsesOnly || this.facts().responsesOnly === true);
  }

  /** The messages sent for a request (exposed for tests and the docs). */
  buildMessages(request: ContinueRequest): Array<ChatMessage & { prefix?: boolean }> {
    const messages: Array<ChatMessage & { prefix?: boolean }> = request.messages.map((m) => ({ role: m.role, content: m.content }));
    if (request.partialAnswer.length === 0) return messages;
    if (this.continuation === 'assistant-prefix') return [...messages, { role: 'assistant', content: request.partialAnswer, prefix: true }];
    return [...messages, { role: 'assistant', content: request.partialAnswer }, { role: 'user', content: CONTINUE_INSTRUCTION }];
  }

  /** The request body for the model as far as we know it now (exposed for tests and the docs). */
  buildBody(request: ContinueRequest): Record<string, unknown> {
    return this.plan(request).wire;
  }

  /** Where the next request goes and what it carries: chat, or /responses for a Responses-only model. */
  private plan(request: ContinueRequest): RequestPlan {
    const shape = this.shape(true);
    if (!this.usesResponses()) {
      const body = { model: this.model, messages: this.buildMessages(request), ...shapeFields(request, shape) };
      return { url: this.chatUrl(), wire: body, body, responses: false, maxTokens: request.maxTokens, maxBilledOutputTokens: request.maxBilledOutputTokens };
    }
    const keep = (field: string) => !shape.dropped.has(field);
    const temperature = request.temperature === undefined ? null : temperatureSent(shape, request.temperature);
    const wire = responsesBody(this.model, this.buildMessages(request), {
      maxTokens: request.maxTokens,
      effort: shape.effort,
      temperature: temperature ?? undefined,
      topP: shape.sampling && keep('top_p') ? request.topP : undefined,
      cacheKey: shape.cacheKey && request.cacheKey && keep('prompt_cache_key') ? promptCacheKey(request.cacheKey) : undefined,
      noStream: !keep('stream'),
    });
    return {
      url: this.responsesUrl(),
      wire,
      body: refusalView(wire),
      responses: true,
      maxTokens: request.maxTokens,
      maxBilledOutputTokens: request.maxBilledOutputTokens,
    };
  }

  protected inputText(request: ContinueRequest): string {
    return this.buildMessages(request)
      .map((m) => m.content)
      .join('\n');
  }

  /**
   * OpenAI's own count (POST /v1/responses/input_tokens, free), on OpenAI's API only: other
   * services that speak chat completions have no such endpoint. It counts a Responses
   * request; the same text as one chat message frames alike to within a few tokens.
   */
  protected override tokenCountRequest(text: string): TokenCountRequest | undefined {
    if (!OPENAI_HOST.test(this.baseUrl.hostname)) return undefined;
    const url = this.endpoint('/responses/input_tokens');
    return { url, body: { model: this.model, input: [{ role: 'user', content: text }] }, headers: (key) => authHeaders(url, key) };
  }

  /** The endpoint a request goes to (public for tests and the docs). */
  chatUrl(): URL {
    // DeepSeek serves prefix completion on its beta endpoint only.
    if (this.usePrefix && /(^|\.)api\.deepseek\.com$/.test(this.baseUrl.hostname) && !/\/beta\/?$/.test(this.baseUrl.pathname)) {
      return new URL('/beta/chat/completions', this.baseUrl.origin);
    }
    return this.endpoint('/chat/completions');
  }

  /** Where a Responses request goes, on the base URL's origin (public for tests and the docs). */
  responsesUrl(): URL {
    // Azure serves Responses on its v1 API only, without a deployment in the path (the deployment is the model).
    if (AZURE_HOST.test(this.baseUrl.hostname)) return new URL('/openai/v1/responses', this.baseUrl.origin);
    return this.endpoint('/responses');
  }

  protected async *attempt(request: ContinueRequest, context: AttemptContext): AsyncGenerator<ProviderChunk> {
    const { response, plan } = await this.post(context, () => this.plan(request));
    const continuation: ContinuationMethod = plan.responses || !this.usePrefix ? 'instructed' : 'assistant-prefix';
    const options = {
      url: plan.url,
      keyEnv: this.entry.keyEnv,
      noKey: context.noKey,
      secrets: context.secrets,
      inputText: this.inputText(request),
      maxTokens: request.maxTokens,
      countTokens: this.countTokens,
      transform: continuation === 'instructed' && request.partialAnswer.length > 0 ? new InstructedSeamCleaner(request.partialAnswer, request.seam) : undefined,
      continuation,
      partialAnswer: request.partialAnswer,
      onUsage: (usage: Usage) => this.noticeReasoning(usage, plan.body),
    };
    if (plan.responses) yield* readResponsesStream(response, options);
    else yield* readOpenAiStream(response, { ...options, pickText: (choice) => choice?.delta?.content });
  }
}
