/**
 * OpenAI's Responses API (POST /v1/responses; Azure OpenAI: /openai/v1/responses), the only
 * API of the Responses-only models (gpt-5-pro, o1-pro, o3-pro, the codex models: see
 * modelCapabilities.ts): the request body, and its event stream read into the chunks the chat
 * path yields. The events, per OpenAI's API reference ("Responses streaming events"):
 * `response.output_text.delta` carries text in `delta`; `response.completed` ends the answer,
 * its `response.usage` the bill; `response.incomplete` ends it early
 * (`response.incomplete_details.reason`: max_output_tokens, content_filter);
 * `response.failed` (`response.error`) and `error` (`code`, `message`) end it with an error,
 * after the usage a failed Response reports (it may bill what was generated before it failed).
 * There is no `data: [DONE]`. Everything else (created, in_progress, output items, reasoning)
 * is framing and is skipped.
 */
import { badResponseError, errorFromStreamObject, finishReasonOf, unfinishedStreamError } from './base';
import type { StreamResponse } from './http';
import { doneChunk, isWholeJsonBody, readEventsUntil, readWholeJsonBody, type OpenAiStreamOptions } from './openaiStream';
import { SseParser } from './sse';
import type { ChatMessage } from '../slm/types';
import type { ProviderChunk } from './types';
import { completeUsage, type ReportedUsage } from './usage';
import { isRecord } from '../../shared/isRecord';

/**
 * The fewest tokens max_output_tokens takes: a smaller value is refused with HTTP 400 "Invalid
 * 'max_output_tokens': integer below minimum value. Expected a value >= 16" (vectorize-io/hindsight#58,
 * QuantumNous/new-api#2438). A shorter span asks for this many; the engine keeps what it writes.
 */
export const RESPONSES_MIN_OUTPUT_TOKENS = 16;

/** What a Responses body carries besides the input, as the provider decided it for the model. */
export interface ResponsesFields {
  maxTokens: number;
  effort?: string;
  temperature?: number;
  topP?: number;
  cacheKey?: string;
  /** The server refused `stream` for the model (pro models, an unverified organization): the whole Response comes as JSON. */
  noStream?: boolean;
}

/**
 * The request body. The messages go as input items in their order (the API takes system,
 * developer, user and assistant messages with text content); max_output_tokens bounds the
 * hidden reasoning with the text; `store: false` keeps nothing on OpenAI's side (the API
 * stores responses by default). The API has no seed and no assistant prefill.
 */
export function responsesBody(model: string, messages: readonly ChatMessage[], fields: ResponsesFields): Record<string, unknown> {
  const body: Record<string, unknown> = {
    model,
    input: messages.map((m) => ({ role: m.role, content: m.content })),
    max_output_tokens: Math.max(fields.maxTokens, RESPONSES_MIN_OUTPUT_TOKENS),
  };
  if (fields.effort !== undefined) body.reasoning = { effort: fields.effort };
  if (fields.temperature !== undefined) body.temperature = fields.temperature;
  if (fields.topP !== undefined) body.top_p = fields.topP;
  if (fields.cacheKey !== undefined) body.prompt_cache_key = fields.cacheKey;
  if (!fields.noStream) body.stream = true;
  body.store = false;
  return body;
}

/**
 * A Responses body as refusals.ts reads it: the effort under chat's name (reasoning_effort), so
 * that "'reasoning.effort' ... Supported values are" is learned as on chat.
 */
export function refusalView(body: Record<string, unknown>): Record<string, unknown> {
  const { reasoning, ...rest } = body;
  const effort = (reasoning as { effort?: unknown } | undefined)?.effort;
  return effort === undefined ? rest : { ...rest, reasoning_effort: effort };
}

/**
 * Responses usage: input_tokens counts all input, input_tokens_details.cached_tokens the cache
 * reads and cache_write_tokens the writes (where reported: Azure's ResponseUsageInputTokensDetails);
 * output_tokens includes the hidden reasoning, output_tokens_details.reasoning_tokens.
 */
export function readResponsesUsage(usage: any): ReportedUsage {
  const count = (value: unknown): number | undefined => (typeof value === 'number' && Number.isFinite(value) && value >= 0 ? value : undefined);
  const reasoning = count(usage?.output_tokens_details?.reasoning_tokens);
  const reported: ReportedUsage = {
    inputTokens: usage?.input_tokens,
    outputTokens: usage?.output_tokens,
    cachedInputTokens: count(usage?.input_tokens_details?.cached_tokens) ?? 0,
    cacheWriteTokens: count(usage?.input_tokens_details?.cache_write_tokens) ?? 0,
  };
  if (reasoning !== undefined) reported.reasoningTokens = reasoning;
  return reported;
}

export type ResponsesStreamOptions = Omit<OpenAiStreamOptions, 'pickText'>;

/**
 * How a finished response ended, in the finish-reason words finishReasonOf reads: completed is
 * the model's end ('stop', or 'refusal' where it refused instead of answering); incomplete at
 * max_output_tokens is 'length', any other reason (content_filter...) passes as said; any other
 * status (in_progress, queued, cancelled: no finished answer) passes as said too, which
 * finishReasonOf refuses as a bad response rather than keep a cut answer as whole.
 */
function endOf(response: any, refused: boolean): unknown {
  const status = response?.status;
  if (status === 'incomplete') {
    const reason = response?.incomplete_details?.reason;
    return reason === 'max_output_tokens' ? 'length' : (reason ?? 'incomplete');
  }
  if (status !== undefined && status !== 'completed') return status;
  return refused ? 'refusal' : 'stop';
}

/** The error object of a failed response or an `error` event, in the shape errorFromStreamObject reads. */
function errorObject(event: any): { error: unknown } {
  if (event?.type === 'response.failed') return { error: event.response?.error ?? { message: 'The response failed without saying why.' } };
  if (event?.error) return { error: event.error };
  return { error: { type: event?.code, code: event?.code, message: event?.message, param: event?.param } };
}

export async function* readResponsesStream(response: StreamResponse, options: ResponsesStreamOptions): AsyncGenerator<ProviderChunk> {
  const { url, secrets, keyEnv, transform } = options;
  if (isWholeJsonBody(response, url, secrets)) {
    // The Response object.
    yield* readWholeResponse(response, options);
    return;
  }
  const parser = new SseParser();
  let output = '';
  let refused = false;
  let final: any;

  const handle = function* (data: string): Generator<ProviderChunk> {
    let event: any;
    try {
      event = JSON.parse(data);
    } catch {
      throw badResponseError(url, 'an event that is not JSON', secrets);
    }
    switch (event?.type) {
      case 'response.output_text.delta': {
        const raw = event.delta;
        if (typeof raw !== 'string' || raw.length === 0) return;
        response.outputStarted();
        output += raw;
        const text = transform ? transform.push(raw) : raw;
        if (text.length > 0) yield { type: 'text', text };
        return;
      }
      case 'response.refusal.delta':
        // The model's refusal words are not the answer (chat's delta.refusal is not read either).
        refused = true;
        response.outputStarted();
        return;
      case 'response.completed':
      case 'response.incomplete':
        final = isRecord(event.response) ? { ...event.response } : {};
        if (event.type === 'response.incomplete' && final.status === undefined) final.status = 'incomplete';
        return;
      case 'response.failed':
        yield* failedUsage(event.response, output, options);
        throw errorFromStreamObject(errorObject(event), url, secrets, keyEnv, options.noKey);
      case 'error':
        throw errorFromStreamObject(errorObject(event), url, secrets, keyEnv, options.noKey);
      default:
        // A chat-style error object without a type, as proxies send.
        if (event?.type === undefined && event?.error) throw errorFromStreamObject(event, url, secrets, keyEnv, options.noKey);
    }
  };

  // Stops at the final event even if the server holds the connection open after it.
  yield* readEventsUntil(response, parser, handle, () => final !== undefined, url, secrets);
  if (!final) throw unfinishedStreamError(parser, url, secrets);

  const rest = transform?.end?.() ?? '';
  if (rest.length > 0) yield { type: 'text', text: rest };
  yield* finish(final, refused, output, options);
}

/** The usage of a Response: the server's, completed by counting where it left some out; told to onUsage, then yielded. */
function* usageOf(final: any, output: string, options: ResponsesStreamOptions): Generator<ProviderChunk> {
  const reported = final?.usage ? readResponsesUsage(final.usage) : {};
  const usage = completeUsage(reported, options.inputText, output, options.countTokens, options.maxTokens);
  options.onUsage?.(usage);
  yield { type: 'usage', usage };
}

/**
 * The usage a failed Response reports, yielded before its error (as a content-filter end's is):
 * the engine books it instead of a count of the text that arrived. None reported: nothing.
 */
function* failedUsage(failed: any, output: string, options: ResponsesStreamOptions): Generator<ProviderChunk> {
  if (isRecord(failed?.usage)) yield* usageOf(failed, output, options);
}

/** The usage, then the end: what a finished response (streamed or whole) yields last. */
function* finish(final: any, refused: boolean, output: string, options: ResponsesStreamOptions): Generator<ProviderChunk> {
  yield* usageOf(final, output, options);
  const finishReason = finishReasonOf(endOf(final, refused), options.url, options.secrets);
  yield doneChunk(finishReason, options.continuation);
}

/** The content parts of a whole Response's output items. */
function contentParts(body: any): any[] {
  const items: unknown[] = Array.isArray(body?.output) ? body.output : [];
  return items.flatMap((item: any) => (Array.isArray(item?.content) ? item.content : []));
}

/** The text a whole Response holds (its output_text parts). */
function textOf(body: any): string {
  return contentParts(body)
    .filter((part: any) => part?.type === 'output_text' && typeof part.text === 'string')
    .map((part: any) => part.text as string)
    .join('');
}

async function* readWholeResponse(response: StreamResponse, options: ResponsesStreamOptions): AsyncGenerator<ProviderChunk> {
  const body = await readWholeJsonBody(response, options.url, options.secrets);
  if (body?.status === 'failed') yield* failedUsage(body, textOf(body), options);
  if (body?.status === 'failed' || (body?.error && body?.status === undefined)) {
    throw errorFromStreamObject(
      body?.status === 'failed' ? errorObject({ type: 'response.failed', response: body }) : body,
      options.url,
      options.secrets,
      options.keyEnv,
      options.noKey,
    );
  }
  if (!Array.isArray(body?.output)) throw badResponseError(options.url, 'a response without output', options.secrets);
  const output = textOf(body);
  const refused = contentParts(body).some((part: any) => part?.type === 'refusal');
  const text = options.transform ? options.transform.push(output) + (options.transform.end?.() ?? '') : output;
  if (text.length > 0) yield { type: 'text', text };
  yield* finish(body, refused, output, options);
}
