/**
 * Ollama: POST /api/generate with `raw: true` and the prompt rendered by the chat
 * template (exact continuation), or /api/chat with the partial answer as the last
 * assistant turn when no template is given. NDJSON stream; N goes in options.num_predict.
 *
 * Both bodies carry `think: false`. Ollama turns thinking on for a thinking-capable model
 * when the request leaves `think` out (server/routes.go), and then runs its `<think>` parser
 * even on raw output: text before `</think>` goes to `thinking` and leading whitespace is
 * held back, and /api/chat spends num_predict on reasoning. Only `think: true` is refused for
 * a model that cannot think, so false is safe. Some models think anyway (gpt-oss: false is not
 * honoured, ollama#11751; a template that writes `<think>` into the content): that reasoning
 * is read (`thinking`, or split off the content) as reasoning chunks and counted in the usage,
 * so a span it took ends the answer with the cause (llm_hidden_reasoning), not as an empty call.
 *
 * And `truncate: false` (Ollama 0.12.6 on; older ones ignore it): left out, Ollama cuts the
 * start of a prompt longer than its context length (num_ctx) without a word, and the model
 * answers without the system prompt. With it, Ollama answers HTTP 400 ("the input length
 * exceeds the context length"; from 0.30 llama-server's "exceeds the available context
 * size"), a prompt too long (http.ts) whose error names the fix (ollamaLongerContext).
 * `shift` is left on: off, an answer that fills num_ctx ends as "length" (read as max_tokens),
 * and from 0.30 a shift unlike the loaded model's reloads it (server/sched.go).
 */
import { settingRef } from '../settingNames';
import { HttpProvider, badResponseError, errorFromStreamObject, finishReasonOf, streamReadError, truncatedStreamError, type AttemptContext } from './base';
import { ProviderError } from './errors';
import { postStream } from './http';
import { NdjsonParseError, NdjsonParser } from './ndjson';
import { StreamedContent } from './streamedReasoning';
import type { ContinuationMethod, ContinueRequest, PromptRenderer, ProviderChunk, ProviderConfig, ProviderOptions, KeySource, ProviderEntry } from './types';
import { completeUsage } from './usage';

export const OLLAMA_DEFAULT_BASE_URL = 'http://127.0.0.1:11434';

export const ollamaEntry: ProviderEntry = {
  label: 'Ollama /api/generate with raw prompts (exact continuation).',
  defaultBaseUrl: OLLAMA_DEFAULT_BASE_URL,
  keyEnv: ['RELAY_API_KEY'],
  usesKey: true,
  keyRequired: () => false,
  pricedByHost: false,
  // Ollama keeps the previous prompt's prefix in memory (a free local server unless the user prices it).
  cacheRule: () => ({ kind: 'server-prefix' }),
  create: (config, keys, options) => new OllamaProvider(config, keys, options),
  prompt: 'template-if-any',
};

export class OllamaProvider extends HttpProvider {
  readonly kind = 'ollama' as const;
  readonly continuation: ContinuationMethod;
  private readonly render: PromptRenderer | undefined;

  constructor(config: ProviderConfig, keys: KeySource, options: ProviderOptions) {
    super(config, keys, options, ollamaEntry);
    const endpoint = config.ollamaEndpoint ?? 'auto';
    if (endpoint === 'generate' && !config.templateRenderer) {
      throw new ProviderError(
        'bad_request',
        `Ollama raw /api/generate needs a chat template to render the prompt; set ${settingRef('templateFolder')} or use the chat endpoint.`,
        { fix: 'open-settings' },
      );
    }
    this.render = endpoint === 'chat' ? undefined : config.templateRenderer;
    this.continuation = this.render ? 'raw-completion' : 'assistant-prefix';
  }

  protected inputText(request: ContinueRequest): string {
    return this.render ? this.render(request.messages, request.partialAnswer) : [...request.messages.map((m) => m.content), request.partialAnswer].join('\n');
  }

  private apiUrl(name: 'generate' | 'chat'): URL {
    return /\/api\/?$/.test(this.baseUrl.pathname) ? this.endpoint(`/${name}`) : this.endpoint(`/api/${name}`);
  }

  /** The request body (exposed for tests and the docs). */
  buildBody(request: ContinueRequest): Record<string, unknown> {
    const options: Record<string, unknown> = { num_predict: request.maxTokens };
    if (request.temperature !== undefined) options.temperature = request.temperature;
    if (request.topP !== undefined) options.top_p = request.topP;
    if (request.seed !== undefined) options.seed = request.seed;
    if (this.render) {
      return {
        model: this.model,
        prompt: this.render(request.messages, request.partialAnswer),
        raw: true,
        stream: true,
        think: false,
        truncate: false,
        options,
      };
    }
    const messages = request.messages.map((m) => ({ role: m.role, content: m.content }));
    if (request.partialAnswer.length > 0) messages.push({ role: 'assistant', content: request.partialAnswer });
    return { model: this.model, messages, stream: true, think: false, truncate: false, options };
  }

  protected async *attempt(request: ContinueRequest, context: AttemptContext): AsyncGenerator<ProviderChunk> {
    const url = this.apiUrl(this.render ? 'generate' : 'chat');
    const response = await postStream({
      ...this.streamRequest(context, url, this.buildBody(request), context.key ? { authorization: `Bearer ${context.key}` } : {}),
      longerContext: () => ollamaLongerContext(this.countTokens(this.inputText(request)), request.maxTokens),
    }).catch((error: unknown) => {
      throw ollamaModelMissing(error, url, this.model, context.secrets) ?? error;
    });
    const parser = new NdjsonParser();
    let rawFinish: unknown;
    let done = false;
    const content = new StreamedContent(this.continuation, request.partialAnswer);
    let promptTokens: number | undefined;
    let cachedTokens: number | undefined;
    let outputTokens: number | undefined;

    const handle = function* (value: any): Generator<ProviderChunk> {
      // An error string, or an object ({ message, code }) that errorFromStreamObject describes as it does any error body.
      if (value?.error) throw errorFromStreamObject({ error: value.error }, url, context.secrets, ollamaEntry.keyEnv, context.noKey);
      // /api/generate sends `thinking` beside `response`; /api/chat in its message.
      const thinking = value?.thinking ?? value?.message?.thinking;
      if (typeof thinking === 'string') yield* content.reasoning(thinking);
      const piece = value?.response ?? value?.message?.content;
      if (typeof piece === 'string' && piece.length > 0) yield* content.push(piece);
      if (value?.done === true) {
        yield* content.end();
        done = true;
        // Ollama before done_reason existed ended every answer with done alone.
        rawFinish = value.done_reason ?? 'stop';
        // Ollama leaves prompt_eval_count out when the whole prompt came from its cache.
        if (typeof value.prompt_eval_count === 'number') promptTokens = value.prompt_eval_count;
        // Prompt tokens read from its cache (docs.ollama.com/api/usage), part of prompt_eval_count.
        if (typeof value.prompt_eval_cached_count === 'number') cachedTokens = value.prompt_eval_cached_count;
        if (typeof value.eval_count === 'number') outputTokens = value.eval_count;
      }
    };

    try {
      for await (const bytes of response.body) {
        for (const value of parser.push(bytes)) if (!done) yield* handle(value);
        if (done) {
          response.endOfStream();
          break;
        }
      }
      if (!done) for (const value of parser.end()) if (!done) yield* handle(value);
    } catch (error) {
      if (error instanceof NdjsonParseError) throw badResponseError(url, 'a line that is not JSON', context.secrets);
      throw streamReadError(error, url, context.secrets);
    }
    if (!done) throw truncatedStreamError(url, context.secrets);
    const sent = this.inputText(request);
    const read = ollamaPromptRead(promptTokens, cachedTokens);
    yield {
      type: 'usage',
      usage: completeUsage(
        content.withReasoning({ inputTokens: read, outputTokens, cachedInputTokens: cachedTokens }, this.countTokens),
        sent,
        content.text,
        this.countTokens,
        request.maxTokens,
      ),
    };
    const cut = ollamaPromptCut(read, cachedTokens, () => this.countTokens(sent), request.maxTokens);
    if (cut) throw new ProviderError('bad_request', `${url.host} (Ollama) ${ollamaPromptCutText(cut)}`, { summary: 'prompt cut by num_ctx' }, context.secrets);
    yield { type: 'done', finishReason: finishReasonOf(rawFinish, url, context.secrets) };
  }
}

/**
 * Ollama's 404 for a model it does not have (`model 'qwen3:8b' not found`): the fix is to
 * download it there, or to pick one it has. Undefined for any other error.
 */
function ollamaModelMissing(error: unknown, url: URL, model: string, secrets: readonly string[]): ProviderError | undefined {
  if (!(error instanceof ProviderError) || error.code !== 'model_not_found') return undefined;
  const said = error.message.indexOf(' The server said: ');
  return new ProviderError(
    'model_not_found',
    `Ollama at ${url.host} does not have the model ${model} (HTTP ${error.status ?? 404}). Download it with \`ollama pull ${model}\` on the machine Ollama runs on, ` +
      `or set ${settingRef('model')} to a model \`ollama list\` shows.${said >= 0 ? error.message.slice(said) : ''}`,
    { fix: error.fix, status: error.status },
    secrets,
  );
}

/** Below this share of the prompt as counted here, Ollama read a prompt its context length cut. */
const CUT_PROMPT_SHARE = 0.5;
/** ...and by at least this many tokens (a local count is an estimate). */
const CUT_PROMPT_MIN_TOKENS = 256;

/** A prompt Ollama cut: the tokens it read of about `counted`, and a context length that holds the prompt and the answer. */
export interface OllamaPromptCut {
  read: number;
  counted: number;
  neededContext: number;
}

/**
 * Ollama cuts the start of a prompt longer than its context length (num_ctx) without a word
 * and continues what is left: the span was written without the system prompt and the start
 * of the conversation. `truncate: false` makes it refuse such a prompt instead; this is the
 * second line, for a server that cuts anyway. Seen in its count of the prompt (`read`:
 * ollamaPromptRead; it includes the cached tokens, ollama#17943), only where it says what
 * its cache served (`cached`): Ollama 0.30's runner counted only the tokens it evaluated
 * (ollama#16428), which a cached prefix makes look like a cut prompt. The LLM's provider and
 * the served SLM (slm/served/ollamaServer.ts) both end the answer with the fix.
 */
export function ollamaPromptCut(
  read: number | undefined,
  cached: number | undefined,
  countPrompt: () => number,
  maxTokens: number,
): OllamaPromptCut | undefined {
  if (read === undefined || cached === undefined) return undefined;
  const counted = countPrompt();
  if (counted - read < CUT_PROMPT_MIN_TOKENS || read >= CUT_PROMPT_SHARE * counted) return undefined;
  return { read, counted, neededContext: ollamaContextFor(counted, maxTokens) };
}

/** What happened and the fix, after the server's name. */
export function ollamaPromptCutText(cut: OllamaPromptCut): string {
  return (
    `read only ${cut.read} of about ${cut.counted} prompt tokens: its context length (num_ctx) cut the start of the prompt, so this span was written without it. ` +
    longerContextText(cut.neededContext)
  );
}

/** The fix for a prompt of `promptTokens` that Ollama's context length does not hold with an answer of `maxTokens`. */
export function ollamaLongerContext(promptTokens: number, maxTokens: number): string {
  return longerContextText(ollamaContextFor(promptTokens, maxTokens));
}

/** A context length that holds the prompt and the answer: the next power of two, at least 8192. */
function ollamaContextFor(promptTokens: number, maxTokens: number): number {
  return 2 ** Math.ceil(Math.log2(Math.max(8192, promptTokens + maxTokens)));
}

function longerContextText(contextLength: number): string {
  return `Give the model a longer context (start Ollama with OLLAMA_CONTEXT_LENGTH=${contextLength}, or set num_ctx in its Modelfile), or send less text.`;
}

/**
 * The prompt's tokens from Ollama's counts. prompt_eval_count includes the cached ones, but
 * some versions (0.30, llama-server runner) counted only those they evaluated: a prompt
 * holds at least the tokens read from its cache, so a count below that is the evaluated
 * part, and the cached are added. Neither reported: undefined (counted locally).
 */
export function ollamaPromptRead(evaluated: number | undefined, cached: number | undefined): number | undefined {
  if (cached === undefined || !Number.isFinite(cached) || cached < 0) return evaluated;
  if (evaluated === undefined) return undefined;
  return evaluated < cached ? evaluated + cached : evaluated;
}
