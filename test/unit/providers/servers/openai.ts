/**
 * Speaks OpenAI's /v1/completions and /v1/chat/completions streaming wire format:
 * `data: {json}\n\n` frames, a final chunk with finish_reason, the usage chunk with empty
 * choices (stream_options.include_usage), `data: [DONE]`, and OpenAI's error bodies.
 */
import type { ServerResponse } from 'node:http';
import { sendJson, writeFrames, type RecordedRequest, type Responder, type StreamShape } from './harness';

export interface OpenAiStreamScript extends StreamShape {
  pieces: string[];
  finishReason?: 'length' | 'stop' | null;
  /** false: no usage chunk; an object: overrides. */
  usage?: false | { prompt_tokens: number; completion_tokens: number; cached_tokens?: number };
  /** ': keep-alive' comment frames between the data frames. */
  keepAlive?: boolean;
  crlf?: boolean;
  /** Leave out `data: [DONE]`. */
  omitDone?: boolean;
  /** An error object sent after this many text pieces. */
  errorAfterPieces?: { after: number; error: unknown };
}

function isChat(request: RecordedRequest): boolean {
  return request.path.includes('/chat/completions');
}

export function openAiStream(script: OpenAiStreamScript): Responder {
  return (request, res) => writeOpenAiStream(request, res, script);
}

async function writeOpenAiStream(request: RecordedRequest, res: ServerResponse, script: OpenAiStreamScript): Promise<void> {
  const chat = isChat(request);
  const model = request.body?.model ?? 'model';
  const eol = script.crlf ? '\r\n' : '\n';
  const frame = (data: string) => `data: ${data}${eol}${eol}`;
  const chunk = (text: string, finish: string | null) =>
    JSON.stringify(
      chat
        ? { id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta: text ? { content: text } : {}, logprobs: null, finish_reason: finish }] }
        : { id: 'cmpl-1', object: 'text_completion', created: 1, model, choices: [{ index: 0, text, logprobs: null, finish_reason: finish }] },
    );
  const frames: string[] = [];
  if (chat) frames.push(frame(JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model, choices: [{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: null }] })));
  script.pieces.forEach((piece, i) => {
    if (script.errorAfterPieces && i === script.errorAfterPieces.after) frames.push(frame(JSON.stringify(script.errorAfterPieces.error)));
    frames.push(frame(chunk(piece, null)));
    if (script.keepAlive) frames.push(`: keep-alive${eol}${eol}`);
  });
  if (script.errorAfterPieces && script.errorAfterPieces.after >= script.pieces.length) frames.push(frame(JSON.stringify(script.errorAfterPieces.error)));
  if (script.finishReason !== null) frames.push(frame(chunk('', script.finishReason ?? 'length')));
  if (script.usage !== false && request.body?.stream_options?.include_usage) {
    const usage = script.usage ?? { prompt_tokens: 40, completion_tokens: script.pieces.length, cached_tokens: 0 };
    frames.push(
      frame(
        JSON.stringify({
          id: 'x',
          object: chat ? 'chat.completion.chunk' : 'text_completion',
          created: 1,
          model,
          choices: [],
          usage: {
            prompt_tokens: usage.prompt_tokens,
            completion_tokens: usage.completion_tokens,
            total_tokens: usage.prompt_tokens + usage.completion_tokens,
            prompt_tokens_details: { cached_tokens: usage.cached_tokens ?? 0 },
          },
        }),
      ),
    );
  }
  if (!script.omitDone) frames.push(frame('[DONE]'));
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'x-request-id': 'req_1' });
  await writeFrames(res, frames, script);
}

/** An OpenAI error response. */
export function openAiError(status: number, message: string, type: string, code: string | null, headers: Record<string, string> = {}): Responder {
  return (_request, res) => sendJson(res, status, { error: { message, type, param: null, code } }, headers);
}

export const openAiErrors = {
  badKey: (key: string) =>
    openAiError(401, `Incorrect API key provided: ${key.slice(0, 6)}***${key.slice(-4)}. You can find your API key at https://platform.openai.com/account/api-keys.`, 'invalid_request_error', 'invalid_api_key'),
  rateLimited: (retryAfter: string) =>
    openAiError(429, 'Rate limit reached for requests', 'requests', 'rate_limit_exceeded', {
      'retry-after': retryAfter,
      'x-ratelimit-limit-requests': '500',
      'x-ratelimit-remaining-requests': '0',
    }),
  quota: () => openAiError(429, 'You exceeded your current quota, please check your plan and billing details.', 'insufficient_quota', 'insufficient_quota'),
  noModel: (model: string) => openAiError(404, `The model \`${model}\` does not exist or you do not have access to it.`, 'invalid_request_error', 'model_not_found'),
  badRequest: () => openAiError(400, "Invalid value for 'temperature'.", 'invalid_request_error', null),
  server: () => openAiError(500, 'The server had an error while processing your request. Sorry about that!', 'server_error', null),
  unavailable: () => openAiError(503, 'The engine is currently overloaded, please try again later', 'server_error', null),
};

/** Checks `Authorization: Bearer <key>` as OpenAI does, then runs the responder. */
export function requireBearer(key: string, next: Responder): Responder {
  return (request, res) => {
    if (request.headers.authorization !== `Bearer ${key}`) {
      const given = String(request.headers.authorization ?? '').replace(/^Bearer /, '');
      return openAiErrors.badKey(given || 'none-given')(request, res);
    }
    return next(request, res);
  };
}
