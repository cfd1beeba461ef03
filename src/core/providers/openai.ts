/**
 * OpenAI-compatible providers:
 * - openai-completions: POST /completions with the prompt rendered by a chat template,
 *   the partial answer appended (exact continuation, the paper's set-up).
 * - openai-chat: POST /chat/completions; continues a `prefix: true` assistant message
 *   where the service supports it (DeepSeek, Mistral), otherwise asks for only the
 *   continuation and cleans the seam.
 */
import { settingRef } from '../settingNames';
import { HttpProvider, type AttemptContext } from './base';
import { DEFAULT_BASE_URLS } from './endpoints';
import { ProviderError } from './errors';
import { postStream, type StreamRequest, type StreamResponse } from './http';
import { readOpenAiStream } from './openaiStream';
import { InstructedSeamCleaner } from './seam';
import type { ChatMessage } from '../slm/types';
import type {
  ContinuationMethod,
  ContinueRequest,
  PromptRenderer,
  ProviderChunk,
  ProviderConfig,
  ProviderOptions,
  KeySource,
} from './types';

/**
 * Posts with stream_options.include_usage; a server that rejects the field (older
 * OpenAI-compatible servers answer 400 naming it) is asked again without it, once, and
 * remembered, and its usage is then counted locally.
 */
async function postWithUsage(request: StreamRequest, memory: { noStreamOptions: boolean }): Promise<StreamResponse> {
  const body = request.body as Record<string, unknown>;
  if (!memory.noStreamOptions) {
    try {
      return await postStream({ ...request, body: { ...body, stream_options: { include_usage: true } } });
    } catch (error) {
      if (!(error instanceof ProviderError && error.code === 'bad_request' && /stream_options/.test(error.message))) throw error;
      memory.noStreamOptions = true;
    }
  }
  return postStream(request);
}

export const OPENAI_DEFAULT_BASE_URL = DEFAULT_BASE_URLS['openai-chat'];
export const OPENAI_COMPLETIONS_DEFAULT_BASE_URL = DEFAULT_BASE_URLS['openai-completions'];

/** Services that refuse requests without a key. */
const HOSTED_OPENAI_STYLE = [/(^|\.)api\.openai\.com$/, /(^|\.)openai\.azure\.com$/, /(^|\.)api\.deepseek\.com$/, /(^|\.)api\.mistral\.ai$/, /(^|\.)openrouter\.ai$/, /(^|\.)api\.groq\.com$/];
/** Services that continue an assistant message marked `prefix: true`. */
const PREFIX_HOSTS = [/(^|\.)api\.deepseek\.com$/, /(^|\.)api\.mistral\.ai$/];

export function authHeaders(url: URL, key: string | undefined): Record<string, string> {
  if (!key) return {};
  // Azure OpenAI takes the key in its own header.
  return /(^|\.)openai\.azure\.com$/.test(url.hostname) ? { 'api-key': key } : { authorization: `Bearer ${key}` };
}

function sampling(request: ContinueRequest): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (request.temperature !== undefined) out.temperature = request.temperature;
  if (request.topP !== undefined) out.top_p = request.topP;
  if (request.seed !== undefined) out.seed = request.seed;
  return out;
}

export class OpenAiCompletionsProvider extends HttpProvider {
  readonly kind = 'openai-completions' as const;
  readonly continuation: ContinuationMethod = 'raw-completion';
  private readonly render: PromptRenderer;
  private readonly memory = { noStreamOptions: false };

  constructor(config: ProviderConfig, keys: KeySource, options: ProviderOptions) {
    super(config, keys, options, OPENAI_COMPLETIONS_DEFAULT_BASE_URL);
    if (!config.templateRenderer) {
      throw new ProviderError(
        'bad_request',
        `openai-completions needs a chat template to render the prompt. Leave ${settingRef('templateFolder')} empty to use the small model's template, or point it to a model folder or tokenizer_config.json.`,
        { fix: 'open-settings' },
      );
    }
    this.render = config.templateRenderer;
  }

  protected keyRequired(): boolean {
    return HOSTED_OPENAI_STYLE.some((host) => host.test(this.baseUrl.hostname));
  }

  protected inputText(request: ContinueRequest): string {
    return this.render(request.messages, request.partialAnswer);
  }

  protected async *attempt(request: ContinueRequest, context: AttemptContext): AsyncGenerator<ProviderChunk> {
    const url = this.endpoint('/completions');
    const prompt = this.render(request.messages, request.partialAnswer);
    const body = { model: this.model, prompt, max_tokens: request.maxTokens, ...sampling(request), stream: true };
    const response = await postWithUsage(this.streamRequest(context, url, body, authHeaders(url, context.key)), this.memory);
    yield* readOpenAiStream(response, {
      url,
      kind: this.kind,
      secrets: context.secrets,
      pickText: (choice) => choice?.text,
      inputText: prompt,
      countTokens: this.countTokens,
    });
  }
}

/** The user turn that asks a chat model (without prefix support) to go on with its answer. */
export const CONTINUE_INSTRUCTION =
  'Your answer above was cut off. Continue it from exactly where it stops: reply with only the text that comes next, ' +
  'as if you had never stopped. Do not repeat any of it, do not greet, do not quote it, and do not comment. ' +
  'If the answer is already complete, reply with nothing.';

export class OpenAiChatProvider extends HttpProvider {
  readonly kind = 'openai-chat' as const;
  readonly continuation: ContinuationMethod;
  private readonly usePrefix: boolean;
  private readonly memory = { noStreamOptions: false };

  constructor(config: ProviderConfig, keys: KeySource, options: ProviderOptions) {
    super(config, keys, options, OPENAI_DEFAULT_BASE_URL);
    const mode = config.assistantPrefix ?? 'auto';
    this.usePrefix = mode === 'on' || (mode === 'auto' && PREFIX_HOSTS.some((host) => host.test(this.baseUrl.hostname)));
    this.continuation = this.usePrefix ? 'assistant-prefix' : 'instructed';
  }

  protected keyRequired(): boolean {
    return HOSTED_OPENAI_STYLE.some((host) => host.test(this.baseUrl.hostname));
  }

  /** The messages sent for a request (exposed for tests and the docs). */
  buildMessages(request: ContinueRequest): Array<ChatMessage & { prefix?: boolean }> {
    const messages: Array<ChatMessage & { prefix?: boolean }> = request.messages.map((m) => ({ role: m.role, content: m.content }));
    if (request.partialAnswer.length === 0) return messages;
    if (this.usePrefix) return [...messages, { role: 'assistant', content: request.partialAnswer, prefix: true }];
    return [...messages, { role: 'assistant', content: request.partialAnswer }, { role: 'user', content: CONTINUE_INSTRUCTION }];
  }

  protected inputText(request: ContinueRequest): string {
    return this.buildMessages(request)
      .map((m) => m.content)
      .join('\n');
  }

  /** The endpoint a request goes to (public for tests and the docs). */
  chatUrl(): URL {
    // DeepSeek serves prefix completion on its beta endpoint only.
    if (this.usePrefix && /(^|\.)api\.deepseek\.com$/.test(this.baseUrl.hostname) && !/\/beta\/?$/.test(this.baseUrl.pathname)) {
      return new URL('/beta/chat/completions', this.baseUrl.origin);
    }
    return this.endpoint('/chat/completions');
  }

  private maxTokensField(): string {
    const field = this.config.maxTokensField ?? 'auto';
    if (field !== 'auto') return field;
    return /(^|\.)api\.openai\.com$/.test(this.baseUrl.hostname) ? 'max_completion_tokens' : 'max_tokens';
  }

  protected async *attempt(request: ContinueRequest, context: AttemptContext): AsyncGenerator<ProviderChunk> {
    const url = this.chatUrl();
    const messages = this.buildMessages(request);
    const body = { model: this.model, messages, [this.maxTokensField()]: request.maxTokens, ...sampling(request), stream: true };
    const response = await postWithUsage(this.streamRequest(context, url, body, authHeaders(url, context.key)), this.memory);
    const instructed = !this.usePrefix && request.partialAnswer.length > 0;
    yield* readOpenAiStream(response, {
      url,
      kind: this.kind,
      secrets: context.secrets,
      pickText: (choice) => choice?.delta?.content,
      inputText: this.inputText(request),
      countTokens: this.countTokens,
      transform: instructed ? new InstructedSeamCleaner(request.partialAnswer) : undefined,
    });
  }
}
