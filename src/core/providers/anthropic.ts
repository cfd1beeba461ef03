/**
 * Anthropic Messages API: the partial answer is the final assistant turn (prefill), so
 * Claude continues it. Prefill must not end in whitespace, so it is trimmed and the same
 * whitespace is dropped from the head of the reply (the joined answer stays exact). The
 * system prompt and the conversation carry cache_control: the relay re-sends them on
 * every call, and cached reads cost a tenth of fresh input.
 */
import { HttpProvider, badResponseError, errorFromStreamObject, mapFinishReason, truncatedStreamError, type AttemptContext } from './base';
import { DEFAULT_BASE_URLS } from './endpoints';
import { postStream } from './http';
import { WhitespaceSeam, splitTrailingWhitespace } from './seam';
import { SseParser } from './sse';
import type { ContinuationMethod, ContinueRequest, FinishReason, ProviderChunk, ProviderConfig, ProviderOptions, KeySource } from './types';
import { completeUsage, type ReportedUsage } from './usage';

export const ANTHROPIC_DEFAULT_BASE_URL = DEFAULT_BASE_URLS.anthropic;
export const ANTHROPIC_VERSION = '2023-06-01';

type TextBlock = { type: 'text'; text: string; cache_control?: { type: 'ephemeral' } };

export class AnthropicProvider extends HttpProvider {
  readonly kind = 'anthropic' as const;
  readonly continuation: ContinuationMethod = 'assistant-prefix';

  constructor(config: ProviderConfig, keys: KeySource, options: ProviderOptions) {
    super(config, keys, options, ANTHROPIC_DEFAULT_BASE_URL);
  }

  protected keyRequired(): boolean {
    return true;
  }

  protected inputText(request: ContinueRequest): string {
    return [...request.messages.map((m) => m.content), request.partialAnswer.trimEnd()].join('\n');
  }

  /** The request body (exposed for tests and the docs). */
  buildBody(request: ContinueRequest): Record<string, unknown> {
    const systemText = request.messages.filter((m) => m.role === 'system').map((m) => m.content).join('\n\n');
    const turns: Array<{ role: 'user' | 'assistant'; content: TextBlock[] }> = request.messages
      .filter((m) => m.role !== 'system' && m.content.length > 0)
      .map((m) => ({ role: m.role as 'user' | 'assistant', content: [{ type: 'text', text: m.content }] }));
    // Cache breakpoint at the end of the stable prefix: system + conversation.
    const lastTurn = turns[turns.length - 1];
    if (lastTurn) lastTurn.content[lastTurn.content.length - 1].cache_control = { type: 'ephemeral' };
    const { body: prefill } = splitTrailingWhitespace(request.partialAnswer);
    if (prefill.length > 0) turns.push({ role: 'assistant', content: [{ type: 'text', text: prefill }] });
    const body: Record<string, unknown> = {
      model: this.model,
      max_tokens: request.maxTokens,
      messages: turns,
      stream: true,
    };
    if (systemText.length > 0) body.system = [{ type: 'text', text: systemText, cache_control: { type: 'ephemeral' } }];
    // Anthropic accepts temperatures in [0, 1] only.
    if (request.temperature !== undefined) body.temperature = Math.min(1, Math.max(0, request.temperature));
    if (request.topP !== undefined) body.top_p = request.topP;
    return body;
  }

  private messagesUrl(): URL {
    return /\/v1\/?$/.test(this.baseUrl.pathname) ? this.endpoint('/messages') : this.endpoint('/v1/messages');
  }

  protected async *attempt(request: ContinueRequest, context: AttemptContext): AsyncGenerator<ProviderChunk> {
    const url = this.messagesUrl();
    const headers = { ...(context.key ? { 'x-api-key': context.key } : {}), 'anthropic-version': ANTHROPIC_VERSION };
    const response = await postStream(this.streamRequest(context, url, this.buildBody(request), headers));

    const seam = new WhitespaceSeam(splitTrailingWhitespace(request.partialAnswer).whitespace);
    const parser = new SseParser();
    const reported: ReportedUsage = {};
    let finish: FinishReason | undefined;
    let stopped = false;
    let output = '';

    const handle = function* (data: string): Generator<ProviderChunk> {
      let event: any;
      try {
        event = JSON.parse(data);
      } catch {
        throw badResponseError(url, 'an event that is not JSON', context.secrets);
      }
      switch (event?.type) {
        case 'message_start':
          readUsage(event.message?.usage, reported);
          break;
        case 'content_block_delta':
          if (event.delta?.type === 'text_delta' && typeof event.delta.text === 'string') {
            output += event.delta.text;
            const text = seam.push(event.delta.text);
            if (text.length > 0) yield { type: 'text', text };
          }
          break;
        case 'message_delta':
          if (event.delta?.stop_reason) finish = mapFinishReason(event.delta.stop_reason);
          readUsage(event.usage, reported);
          break;
        case 'message_stop':
          stopped = true;
          break;
        case 'error':
          throw errorFromStreamObject(event, url, context.secrets, 'anthropic');
        default:
          break; // ping, content_block_start/stop
      }
    };

    for await (const bytes of response.body) {
      for (const event of parser.push(bytes)) if (!stopped) yield* handle(event.data);
      if (stopped) break;
    }
    if (!stopped) for (const event of parser.end()) if (!stopped) yield* handle(event.data);
    if (!stopped) throw truncatedStreamError(url, context.secrets);

    yield { type: 'usage', usage: completeUsage(reported, this.inputText(request), output, this.countTokens) };
    yield { type: 'done', finishReason: finish ?? 'stop' };
  }
}

/**
 * Anthropic's input_tokens leaves out cached and cache-written tokens; ours counts all
 * input, so they are added back. message_delta carries cumulative counts.
 */
function readUsage(usage: any, into: ReportedUsage): void {
  if (!usage || typeof usage !== 'object') return;
  const read = num(usage.cache_read_input_tokens);
  const write = num(usage.cache_creation_input_tokens);
  if (read !== undefined) into.cachedInputTokens = read;
  if (write !== undefined) into.cacheWriteTokens = write;
  const fresh = num(usage.input_tokens);
  if (fresh !== undefined) into.inputTokens = fresh + (into.cachedInputTokens ?? 0) + (into.cacheWriteTokens ?? 0);
  const out = num(usage.output_tokens);
  if (out !== undefined) into.outputTokens = out;
}

function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}
