/**
 * Reads an OpenAI-style SSE stream (/v1/completions and /v1/chat/completions): text
 * deltas, the reasoning a host streams beside them or as `<think>` at the head of the text
 * (its own chunks: counted, never shown), the finish reason, the usage block sent after it
 * (stream_options.include_usage), `data: [DONE]`, and error objects sent mid-stream.
 */
import { readBounded } from '../http/exchange';
import { badResponseError, errorFromStreamObject, finishReasonOf, oversizedResponseError, streamReadError, unfinishedStreamError } from './base';
import { isWholeJsonResponse, type StreamResponse } from './http';
import { SseParser } from './sse';
import { MAX_WHOLE_BODY_BYTES } from './streamLimits';
import { StreamedContent, contentSplitter, withStreamedReasoning } from './streamedReasoning';
import type { ContinuationMethod, FinishReason, ProviderChunk, Usage } from './types';
import { completeUsage, isCount, type ReportedUsage, type TokenCounter } from './usage';

export interface TextTransform {
  push(text: string): string;
  end?(): string;
}

export interface OpenAiStreamOptions {
  url: URL;
  /** The provider's key variables, named in errors sent inside the stream (where the key comes from). */
  keyEnv: readonly string[];
  /** Why no API key went with the request (AttemptContext.noKey): an error object saying 401 then says so. */
  noKey?: string;
  secrets: readonly string[];
  /** The text of one streamed choice (choices[0].text or choices[0].delta.content). */
  pickText: (choice: any) => unknown;
  inputText: string;
  /** The request's max_tokens: what a reported output is believed up to (completeUsage). */
  maxTokens?: number;
  countTokens: TokenCounter;
  transform?: TextTransform;
  /** Said on the done chunk: how this call continued the answer; with partialAnswer, whether a `<think>` at the head is reasoning (contentSplitter). */
  continuation: ContinuationMethod;
  /** The answer so far this call continues ('' at the answer's start). */
  partialAnswer: string;
  /** Told the usage just before it is yielded (e.g. to notice billed reasoning). */
  onUsage?: (usage: Usage) => void;
}

/**
 * Feeds each event of an SSE body to `handle` until `ended` says the server's end came (the
 * connection is then let go, even where the server holds it open), or the body ends. A read
 * that fails is a streamReadError.
 */
export async function* readEventsUntil(
  response: StreamResponse,
  parser: SseParser,
  handle: (data: string) => Generator<ProviderChunk>,
  ended: () => boolean,
  url: URL,
  secrets: readonly string[],
): AsyncGenerator<ProviderChunk> {
  try {
    for await (const bytes of response.body) {
      for (const event of parser.push(bytes)) if (!ended()) yield* handle(event.data);
      if (ended()) {
        response.endOfStream();
        return;
      }
    }
    for (const event of parser.end()) if (!ended()) yield* handle(event.data);
  } catch (error) {
    throw streamReadError(error, url, secrets);
  }
}

/**
 * Whether a streamed call's response is one JSON body to read whole (isWholeJsonResponse, the
 * rule postStream tells the wait by); an HTML page (a proxy's or a login page) is an error.
 */
export function isWholeJsonBody(response: StreamResponse, url: URL, secrets: readonly string[]): boolean {
  if (isWholeJsonResponse(response.headers)) return true;
  const contentType = String(response.headers['content-type'] ?? '').toLowerCase();
  if (contentType.includes('text/html')) throw badResponseError(url, 'an HTML page instead of an event stream', secrets);
  return false;
}

export function doneChunk(finishReason: FinishReason, continuation: ContinuationMethod | undefined): ProviderChunk {
  return continuation ? { type: 'done', finishReason, continuation } : { type: 'done', finishReason };
}

export async function* readOpenAiStream(response: StreamResponse, options: OpenAiStreamOptions): AsyncGenerator<ProviderChunk> {
  const { url, secrets, keyEnv, transform } = options;
  if (isWholeJsonBody(response, url, secrets)) {
    yield* readWholeJson(response, options);
    return;
  }
  const parser = new SseParser();
  let rawFinish: unknown;
  let reported: ReportedUsage = {};
  const content = new StreamedContent(options.continuation, options.partialAnswer, transform);
  let sawDone = false;

  const handle = function* (data: string): Generator<ProviderChunk> {
    if (data.trim() === '[DONE]') {
      sawDone = true;
      return;
    }
    let body: any;
    try {
      body = JSON.parse(data);
    } catch {
      throw badResponseError(url, 'an event that is not JSON', secrets);
    }
    if (body?.error) throw errorFromStreamObject(body, url, secrets, keyEnv, options.noKey);
    if (body?.usage) reported = readOpenAiUsage(body.usage);
    const choice = Array.isArray(body?.choices) ? body.choices[0] : undefined;
    if (choice) {
      // A delta that carries both: the reasoning came first.
      yield* content.reasoning(reasoningField(choice?.delta));
      const raw = options.pickText(choice);
      if (typeof raw === 'string' && raw.length > 0) {
        response.outputStarted();
        yield* content.push(raw);
      }
      if (choice.finish_reason) rawFinish = choice.finish_reason;
    }
  };

  // Stops at [DONE] even if the server holds the connection open after it.
  yield* readEventsUntil(response, parser, handle, () => sawDone, url, secrets);
  // [DONE] alone does not say the model finished: a server that gave up may send it too.
  if (!rawFinish) throw unfinishedStreamError(parser, url, secrets);

  yield* content.end();
  const rest = transform?.end?.() ?? '';
  if (rest.length > 0) yield { type: 'text', text: rest };
  const usage = completeUsage(content.withReasoning(reported, options.countTokens), options.inputText, content.text, options.countTokens, options.maxTokens);
  options.onUsage?.(usage);
  yield { type: 'usage', usage };
  yield doneChunk(finishReasonOf(rawFinish, url, secrets), options.continuation);
}

/**
 * The reasoning a chat delta (or a whole response's message) carries visibly:
 * `reasoning_content` (DeepSeek, vLLM and SGLang with a reasoning parser) or `reasoning`
 * (OpenRouter, Groq, newer vLLM, Ollama's /v1). One of them only: a host in transition may
 * send both with the same text. '' where none.
 */
function reasoningField(delta: any): string {
  for (const raw of [delta?.reasoning_content, delta?.reasoning]) if (typeof raw === 'string' && raw.length > 0) return raw;
  return '';
}

/**
 * OpenAI-style usage. prompt_tokens counts all input, cached included:
 * prompt_tokens_details.cached_tokens are the cache reads (OpenAI, vLLM, DeepSeek's newer
 * field), prompt_cache_hit_tokens DeepSeek's (prompt_tokens = hit + miss there), and
 * prompt_tokens_details.cache_write_tokens the writes OpenAI bills from the GPT-5.6 family
 * on (earlier models write for free and report none). completion_tokens includes the
 * hidden reasoning tokens, reported in completion_tokens_details.reasoning_tokens.
 *
 * Gemini's OpenAI-compatible endpoint leaves the thinking out of completion_tokens and counts
 * it in total_tokens only (gemini-3-flash-preview: prompt 9, completion 3, total 105;
 * discuss.ai.google.dev/t/127400), and bills it as output. So a total above prompt +
 * completion is read as that much more output, hidden reasoning. OpenAI, DeepSeek and the
 * others report total = prompt + completion: their figures stand as they are.
 */
export function readOpenAiUsage(usage: any): ReportedUsage {
  const count = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined);
  const cached = count(usage?.prompt_tokens_details?.cached_tokens) ?? count(usage?.prompt_cache_hit_tokens);
  const written = count(usage?.prompt_tokens_details?.cache_write_tokens);
  let reasoning = count(usage?.completion_tokens_details?.reasoning_tokens);
  let output = usage?.completion_tokens;
  const { prompt_tokens: input, completion_tokens: completion, total_tokens: total } = usage ?? {};
  if (isCount(input) && isCount(completion) && isCount(total) && total > input + completion) {
    output = total - input;
    // Reasoning reported beside it (completion_tokens_details) may be these same tokens: the larger figure, not the sum.
    reasoning = Math.max(reasoning ?? 0, total - input - completion);
  }
  const reported: ReportedUsage = {
    inputTokens: usage?.prompt_tokens,
    outputTokens: output,
    cachedInputTokens: cached ?? 0,
    cacheWriteTokens: written ?? 0,
  };
  if (reasoning !== undefined) reported.reasoningTokens = reasoning;
  return reported;
}

/**
 * A whole JSON body (isWholeJsonBody: the server did not stream), read within
 * MAX_WHOLE_BODY_BYTES and parsed; too long or not JSON is a bad response. Its first byte
 * comes when the model is done: the rest of it flows at once.
 */
export async function readWholeJsonBody(response: StreamResponse, url: URL, secrets: readonly string[]): Promise<any> {
  const { text: whole, overflowed } = await readBounded(response.body, MAX_WHOLE_BODY_BYTES, { stopAtLimit: true, onChunk: () => response.outputStarted() });
  if (overflowed) throw oversizedResponseError(url, 'a JSON body', MAX_WHOLE_BODY_BYTES, secrets);
  try {
    return JSON.parse(whole);
  } catch {
    throw badResponseError(url, 'a JSON body that does not parse', secrets);
  }
}

async function* readWholeJson(response: StreamResponse, options: OpenAiStreamOptions): AsyncGenerator<ProviderChunk> {
  const body = await readWholeJsonBody(response, options.url, options.secrets);
  if (body?.error) throw errorFromStreamObject(body, options.url, options.secrets, options.keyEnv, options.noKey);
  const choice = Array.isArray(body?.choices) ? body.choices[0] : undefined;
  if (!choice) throw badResponseError(options.url, 'a response without choices', options.secrets);
  const raw = options.pickText(choice) ?? choice?.message?.content ?? '';
  const thinkTags = contentSplitter(options.continuation, options.partialAnswer);
  const head = thinkTags.push(typeof raw === 'string' ? raw : '');
  const tail = thinkTags.end();
  const reasoning = reasoningField(choice?.message) + head.reasoning + tail.reasoning;
  if (reasoning.length > 0) yield { type: 'reasoning', text: reasoning };
  const output = head.text + tail.text;
  const text = options.transform ? options.transform.push(output) + (options.transform.end?.() ?? '') : output;
  if (text.length > 0) yield { type: 'text', text };
  const reported = withStreamedReasoning(body.usage ? readOpenAiUsage(body.usage) : {}, reasoning, output.length > 0, options.countTokens);
  const usage = completeUsage(reported, options.inputText, output, options.countTokens, options.maxTokens);
  options.onUsage?.(usage);
  yield { type: 'usage', usage };
  yield doneChunk(finishReasonOf(choice.finish_reason, options.url, options.secrets), options.continuation);
}
