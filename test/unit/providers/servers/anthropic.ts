/**
 * Speaks Anthropic's Messages API streaming format: `event: <type>` + `data: {json}`
 * frames (message_start with usage incl. cache fields, content_block_*, ping,
 * message_delta with stop_reason and output usage, message_stop), Anthropic's error
 * bodies, and its checks: x-api-key, anthropic-version, no trailing whitespace in the
 * final assistant turn.
 */
import { sendJson, writeFrames, type Responder, type StreamShape } from './harness';

export interface AnthropicStreamScript extends StreamShape {
  pieces: string[];
  stopReason?: 'max_tokens' | 'end_turn' | 'stop_sequence';
  usage?: { input_tokens: number; output_tokens: number; cache_read_input_tokens?: number; cache_creation_input_tokens?: number };
  /** An `event: error` frame after this many text pieces (e.g. overloaded_error). */
  errorAfterPieces?: { after: number; type: string; message: string };
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
    const model = request.body?.model;
    const usage = script.usage ?? { input_tokens: 30, output_tokens: script.pieces.length };
    const frame = (type: string, data: unknown) => `event: ${type}\ndata: ${JSON.stringify(data)}\n\n`;
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
      frame('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } }),
      frame('ping', { type: 'ping' }),
    ];
    script.pieces.forEach((text, i) => {
      if (script.errorAfterPieces?.after === i) frames.push(frame('error', { type: 'error', error: { type: script.errorAfterPieces.type, message: script.errorAfterPieces.message } }));
      frames.push(frame('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text } }));
    });
    if (script.errorAfterPieces && script.errorAfterPieces.after >= script.pieces.length) {
      frames.push(frame('error', { type: 'error', error: { type: script.errorAfterPieces.type, message: script.errorAfterPieces.message } }));
    }
    frames.push(frame('content_block_stop', { type: 'content_block_stop', index: 0 }));
    frames.push(frame('message_delta', { type: 'message_delta', delta: { stop_reason: script.stopReason ?? 'max_tokens', stop_sequence: null }, usage: { output_tokens: usage.output_tokens } }));
    frames.push(frame('message_stop', { type: 'message_stop' }));
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', 'request-id': 'req_1' });
    await writeFrames(res, frames, script);
  };
}
