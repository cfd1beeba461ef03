/**
 * Speaks Ollama's /api/generate and /api/chat NDJSON streaming: one JSON object per line,
 * a final `done: true` object with done_reason, prompt_eval_count and eval_count, and
 * `{"error": "..."}` bodies and mid-stream lines.
 */
import { sendJson, writeFrames, type Responder, type StreamShape } from './harness';

export interface OllamaStreamScript extends StreamShape {
  pieces: string[];
  doneReason?: 'length' | 'stop';
  promptEvalCount?: number | null;
  /** prompt_eval_cached_count (absent when undefined). */
  promptEvalCachedCount?: number;
  evalCount?: number | null;
  errorAfterPieces?: { after: number; error: string };
}

export function ollamaStream(script: OllamaStreamScript): Responder {
  return async (request, res) => {
    const chat = request.path.endsWith('/api/chat');
    const model = request.body?.model;
    const line = (value: unknown) => `${JSON.stringify(value)}\n`;
    const frames: string[] = [];
    script.pieces.forEach((text, i) => {
      if (script.errorAfterPieces?.after === i) frames.push(line({ error: script.errorAfterPieces.error }));
      frames.push(
        line(
          chat
            ? { model, created_at: '2025-01-01T00:00:00Z', message: { role: 'assistant', content: text }, done: false }
            : { model, created_at: '2025-01-01T00:00:00Z', response: text, done: false },
        ),
      );
    });
    if (script.errorAfterPieces && script.errorAfterPieces.after >= script.pieces.length) frames.push(line({ error: script.errorAfterPieces.error }));
    const final: Record<string, unknown> = {
      model,
      created_at: '2025-01-01T00:00:01Z',
      done: true,
      done_reason: script.doneReason ?? 'length',
      total_duration: 123456,
      load_duration: 1000,
      prompt_eval_duration: 2000,
      eval_duration: 3000,
    };
    if (chat) final.message = { role: 'assistant', content: '' };
    else final.response = '';
    if (script.promptEvalCount !== null) final.prompt_eval_count = script.promptEvalCount ?? 26;
    if (script.promptEvalCachedCount !== undefined) final.prompt_eval_cached_count = script.promptEvalCachedCount;
    if (script.evalCount !== null) final.eval_count = script.evalCount ?? script.pieces.length;
    frames.push(line(final));
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    await writeFrames(res, frames, script);
  };
}

export function ollamaError(status: number, error: string): Responder {
  return (_request, res) => sendJson(res, status, { error });
}

/**
 * What Ollama answers (HTTP 400, `{"error": "..."}`) to `truncate: false` with a prompt longer
 * than its context length: its runner's words (0.12.6 to 0.24), and from 0.30 llama-server's
 * whole error body as the string (llm/llama_server.go statusErrorMessage).
 */
export const OLLAMA_PROMPT_TOO_LONG = {
  runner: 'the input length exceeds the context length',
  llamaServer: JSON.stringify({
    error: {
      code: 400,
      message: 'request (9000 tokens) exceeds the available context size (4096 tokens), try increasing it',
      type: 'exceed_context_size_error',
      n_prompt_tokens: 9000,
      n_ctx: 4096,
    },
  }),
} as const;

/**
 * Ollama with a prompt longer than its context length: refused with `error` where the request
 * says `truncate: false`, else cut without a word, answered (200) by `cut`.
 */
export function ollamaLongPrompt(error: string, cut: Responder): Responder {
  return (request, res) => (request.body?.truncate === false ? sendJson(res, 400, { error }) : cut(request, res));
}
