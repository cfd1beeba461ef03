/**
 * Speaks Anthropic's Messages API streaming format: `event: <type>` + `data: {json}`
 * frames (message_start with usage incl. cache fields, content_block_*, ping,
 * message_delta with stop_reason and output usage, message_stop), Anthropic's error
 * bodies, and its checks: x-api-key, anthropic-version, no trailing whitespace in the
 * final assistant turn, non-empty text blocks, at most 4 cache_control blocks.
 *
 * Models of FAKE_CLAUDES behave as the public record says the real ones do (late 2026):
 * Opus 4.6, Sonnet 4.6 and later refuse a final assistant turn (prefill) with the API's
 * 400; from Opus 4.1 / Sonnet 4.5 on temperature and top_p together are refused; from Opus
 * 4.7 on temperature/top_p/top_k are refused ("deprecated"); Claude 5 models think when the
 * request has no `thinking` field (max_tokens bounds thinking and text together), Opus and
 * Sonnet take thinking "disabled", Fable (and an Opus 5.5 reported to) refuse it, and a
 * thinking block streams empty text and a signature (display "omitted"). Other model ids are served
 * without these checks. With `cache` (an AnthropicPromptCache shared across requests) the
 * usage comes from a prompt cache that works like the API's: an entry per cache_control
 * breakpoint whose prefix reaches the model's minimum (below it: a silent miss), read by a
 * later request whose same prefix carries a breakpoint; tokens are chars/4.
 */
import { sendJson, writeFrames, type Responder, type StreamShape } from './harness';

export interface AnthropicStreamScript extends StreamShape {
  pieces: string[];
  stopReason?: 'max_tokens' | 'end_turn' | 'stop_sequence' | 'refusal' | 'model_context_window_exceeded';
  usage?: { input_tokens: number; output_tokens: number; cache_read_input_tokens?: number; cache_creation_input_tokens?: number };
  /** An `event: error` frame after this many text pieces (e.g. overloaded_error). */
  errorAfterPieces?: { after: number; type: string; message: string };
  /** Usage from this simulated prompt cache (shared by the requests of a test) instead of `usage`'s input numbers. */
  cache?: AnthropicPromptCache;
  /** Output tokens a model of FAKE_CLAUDES that thinks on this request thinks for, out of max_tokens, before its pieces. */
  thinkingTokens?: number;
  /** The thinking's text as streamed (a host that shows it); empty by default (display "omitted"). */
  thinkingText?: string;
}

export interface FakeClaude {
  prefill: boolean;
  /** any: temperature and top_p; one: not both; none: neither (nor top_k). */
  sampling: 'any' | 'one' | 'none';
  minCacheTokens: number;
  /** off (or absent): thinks only when asked; default: thinks unless sent thinking "disabled"; always: refuses "disabled". */
  thinking?: 'off' | 'default' | 'always';
}

/** What the fake knows of each model (the real API's behaviour, see the file comment). */
export const FAKE_CLAUDES: Record<string, FakeClaude> = {
  'claude-3-5-haiku-latest': { prefill: true, sampling: 'any', minCacheTokens: 2048 },
  'claude-sonnet-4-5': { prefill: true, sampling: 'one', minCacheTokens: 1024 },
  'claude-opus-4-6': { prefill: false, sampling: 'one', minCacheTokens: 4096 },
  // Observed 2,048 (the docs said 1,024): Relay's table keeps the lower number.
  'claude-sonnet-4-6': { prefill: false, sampling: 'one', minCacheTokens: 2048 },
  'claude-opus-4-7': { prefill: false, sampling: 'none', minCacheTokens: 4096 },
  'claude-opus-5': { prefill: false, sampling: 'none', minCacheTokens: 512, thinking: 'default' },
  'claude-sonnet-5': { prefill: false, sampling: 'none', minCacheTokens: 1024, thinking: 'default' },
  'claude-fable-5': { prefill: false, sampling: 'none', minCacheTokens: 512, thinking: 'always' },
  // Reported to think always (stdapi-ai/stdapi.ai#284): Relay's table places it with Opus 5.
  'claude-opus-5-5': { prefill: false, sampling: 'none', minCacheTokens: 512, thinking: 'always' },
  // Model ids Relay's table cannot place (a new name, an alias behind a gateway): one refuses
  // prefill, the other every sampling field.
  'claude-nova-latest': { prefill: false, sampling: 'any', minCacheTokens: 1024 },
  'claude-lyra-latest': { prefill: true, sampling: 'none', minCacheTokens: 1024 },
  // An id the table cannot place whose minimum cacheable prefix is the largest of any Claude.
  'claude-vela-latest': { prefill: true, sampling: 'any', minCacheTokens: 4096 },
};

export const PREFILL_REFUSED = 'This model does not support assistant message prefill. The conversation must end with a user message.';
/** The API's 400 for thinking "disabled" sent to a model that always thinks (openclaw/openclaw#91805). */
export const THINKING_DISABLED_REFUSED =
  '"thinking.type.disabled" is not supported for this model. Thinking defaults to adaptive mode when not specified; use "thinking.type.enabled" with "budget_tokens" for extended thinking.';

/** Whether a model of FAKE_CLAUDES thinks on this request. */
function thinks(body: any): boolean {
  const thinking = FAKE_CLAUDES[body?.model]?.thinking;
  return thinking === 'always' || (thinking === 'default' && body?.thinking?.type !== 'disabled');
}

const tokensOf = (text: string) => Math.ceil(text.length / 4);

interface FlatBlock {
  at: string;
  text: string;
  marked: boolean;
}

/** The request's text blocks in prompt order (system, then each message's blocks). */
function flatten(body: any): FlatBlock[] {
  const out: FlatBlock[] = [];
  const add = (at: string, content: unknown) => {
    const blocks = typeof content === 'string' ? [{ type: 'text', text: content }] : Array.isArray(content) ? content : [];
    for (const block of blocks) out.push({ at, text: String(block?.text ?? ''), marked: block?.cache_control !== undefined });
  };
  if (body?.system !== undefined) add('system', body.system);
  (body?.messages ?? []).forEach((m: any, i: number) => add(`${i}:${m.role}`, m.content));
  return out;
}

/** A prompt cache like the API's: prefix entries at breakpoints, a minimum length, reads and writes. */
export class AnthropicPromptCache {
  private readonly entries = new Set<string>();

  account(model: string, body: any, minTokens: number): { input_tokens: number; cache_read_input_tokens: number; cache_creation_input_tokens: number } {
    const blocks = flatten(body);
    const keys: string[] = [];
    const tokens: number[] = [];
    let running = 0;
    blocks.forEach((block, i) => {
      running += tokensOf(block.text);
      tokens.push(running);
      keys.push(JSON.stringify([model, blocks.slice(0, i + 1).map((b) => [b.at, b.text])]));
    });
    const marked = blocks.map((b, i) => (b.marked ? i : -1)).filter((i) => i >= 0);
    let read = 0;
    for (const i of [...marked].reverse()) {
      if (this.entries.has(keys[i])) {
        read = tokens[i];
        break;
      }
    }
    let written = 0;
    const cacheable = marked.filter((i) => tokens[i] >= minTokens);
    for (const i of cacheable) this.entries.add(keys[i]);
    if (cacheable.length > 0) written = Math.max(0, tokens[cacheable[cacheable.length - 1]] - read);
    return { input_tokens: running - read - written, cache_read_input_tokens: read, cache_creation_input_tokens: written };
  }
}

/** The model checks of the real API for the models the fake knows; undefined when the request passes. */
function refusal(body: any): string | undefined {
  const model = FAKE_CLAUDES[body?.model];
  const messages: any[] = body?.messages ?? [];
  const blocks = flatten(body);
  if (blocks.some((b) => b.text.length === 0)) return 'messages: text content blocks must be non-empty';
  const marks = blocks.filter((b) => b.marked).length;
  if (marks > 4) return `A maximum of 4 blocks with cache_control may be provided. Found ${marks}.`;
  if (!model) return undefined;
  if (model.thinking === 'always' && body.thinking?.type === 'disabled') return THINKING_DISABLED_REFUSED;
  if (!model.prefill && messages[messages.length - 1]?.role === 'assistant') return PREFILL_REFUSED;
  if (model.sampling === 'none') {
    for (const field of ['temperature', 'top_p', 'top_k']) if (body[field] !== undefined) return `\`${field}\` is deprecated for this model.`;
  }
  if (model.sampling === 'one' && body.temperature !== undefined && body.top_p !== undefined) {
    return '`temperature` and `top_p` cannot both be specified for this model. Please use only one.';
  }
  return undefined;
}

export function anthropicError(status: number, type: string, message: string, headers: Record<string, string> = {}): Responder {
  return (_request, res) => sendJson(res, status, { type: 'error', error: { type, message } }, { 'request-id': 'req_1', ...headers });
}

/** Validates the request as the real API does, then streams the script. */
export function anthropicStream(script: AnthropicStreamScript, expectedKey?: string): Responder {
  return async (request, res) => {
    if (expectedKey !== undefined && request.headers['x-api-key'] !== expectedKey) {
      return anthropicError(401, 'authentication_error', 'invalid x-api-key')(request, res);
    }
    if (!request.headers['anthropic-version']) {
      return anthropicError(400, 'invalid_request_error', 'anthropic-version: header is required')(request, res);
    }
    const messages: any[] = request.body?.messages ?? [];
    const last = messages[messages.length - 1];
    const lastText = last ? (typeof last.content === 'string' ? last.content : last.content.map((b: any) => b.text).join('')) : '';
    if (last?.role === 'assistant' && /\s$/.test(lastText)) {
      return anthropicError(400, 'invalid_request_error', 'messages: final assistant content cannot end with trailing whitespace')(request, res);
    }
    const refused = refusal(request.body);
    if (refused) return anthropicError(400, 'invalid_request_error', refused)(request, res);
    const model = request.body?.model;
    // Thinking comes first and out of max_tokens (only where the model thinks on this request): the rest is for the text.
    const thinking = thinks(request.body) ? Math.min(script.thinkingTokens ?? 0, request.body.max_tokens) : 0;
    const pieces = thinking > 0 ? script.pieces.slice(0, Math.max(0, request.body.max_tokens - thinking)) : script.pieces;
    const scripted = script.usage ?? { input_tokens: 30, output_tokens: thinking + pieces.length };
    const usage = script.cache ? { ...scripted, ...script.cache.account(model, request.body, FAKE_CLAUDES[model]?.minCacheTokens ?? 1024) } : scripted;
    const stopReason = thinking > 0 && pieces.length < script.pieces.length ? 'max_tokens' : (script.stopReason ?? 'max_tokens');
    const frame = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
    const text = thinking > 0 ? 1 : 0;
    const frames = [
      frame('message_start', {
        type: 'message_start',
        message: {
          id: 'msg_1',
          type: 'message',
          role: 'assistant',
          content: [],
          model,
          stop_reason: null,
          stop_sequence: null,
          usage: {
            input_tokens: usage.input_tokens,
            cache_creation_input_tokens: usage.cache_creation_input_tokens ?? 0,
            cache_read_input_tokens: usage.cache_read_input_tokens ?? 0,
            output_tokens: 1,
          },
        },
      }),
    ];
    if (thinking > 0) {
      // display "omitted" (the default on these models): empty thinking text, then the signature.
      frames.push(
        frame('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'thinking', thinking: '', signature: '' } }),
        frame('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'thinking_delta', thinking: script.thinkingText ?? '' } }),
        frame('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'signature_delta', signature: 'EqQBCkYIBxgC' } }),
        frame('content_block_stop', { type: 'content_block_stop', index: 0 }),
      );
    }
    if (thinking === 0 || pieces.length > 0) {
      frames.push(
        frame('content_block_start', { type: 'content_block_start', index: text, content_block: { type: 'text', text: '' } }),
        frame('ping', { type: 'ping' }),
      );
      pieces.forEach((piece, i) => {
        if (script.errorAfterPieces?.after === i)
          frames.push(frame('error', { type: 'error', error: { type: script.errorAfterPieces.type, message: script.errorAfterPieces.message } }));
        frames.push(frame('content_block_delta', { type: 'content_block_delta', index: text, delta: { type: 'text_delta', text: piece } }));
      });
      if (script.errorAfterPieces && script.errorAfterPieces.after >= pieces.length) {
        frames.push(frame('error', { type: 'error', error: { type: script.errorAfterPieces.type, message: script.errorAfterPieces.message } }));
      }
      frames.push(frame('content_block_stop', { type: 'content_block_stop', index: text }));
    }
    frames.push(
      frame('message_delta', {
        type: 'message_delta',
        delta: { stop_reason: stopReason, stop_sequence: null },
        usage: { output_tokens: usage.output_tokens },
      }),
    );
    frames.push(frame('message_stop', { type: 'message_stop' }));
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_1' });
    await writeFrames(res, frames, script);
  };
}

/**
 * POST /v1/messages/count_tokens as the API documents it: a Messages body without
 * max_tokens, answered with {input_tokens}; `count` stands for the model's tokenizer.
 */
export function anthropicCountTokens(count: (body: any) => number, expectedKey?: string): Responder {
  return (request, res) => {
    if (expectedKey !== undefined && request.headers['x-api-key'] !== expectedKey) {
      return anthropicError(401, 'authentication_error', 'invalid x-api-key')(request, res);
    }
    if (request.path !== '/v1/messages/count_tokens' || !request.headers['anthropic-version']) {
      return anthropicError(404, 'not_found_error', `no route ${request.path}`)(request, res);
    }
    if (!Array.isArray(request.body?.messages) || typeof request.body?.model !== 'string' || request.body.max_tokens !== undefined) {
      return anthropicError(400, 'invalid_request_error', 'count_tokens takes model and messages, and no max_tokens')(request, res);
    }
    sendJson(res, 200, { input_tokens: count(request.body) });
  };
}
