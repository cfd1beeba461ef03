/**
 * Ollama's `/api/generate` with `raw: true` (the prompt is used as written: Relay renders
 * the chat template itself), streamed as NDJSON. Ollama takes text only, so the context
 * is re-tokenised by the server on every request; `logprobs` / `top_logprobs` (Ollama
 * 0.12.11 and later) report each token as {token, logprob, top_logprobs: [...]}. Ollama
 * keeps the evaluated prompt of the model loaded and reuses its longest common prefix.
 * `think: false`: left out, Ollama thinks for a thinking-capable model (server/routes.go)
 * and runs its `<think>` parser on raw output too, moving text to `thinking`, which is not
 * read here (only `true` is refused for a model that cannot think).
 * `truncate: false`: left out, Ollama cuts the start of a prompt longer than the model's
 * context length (num_ctx) without an error; with it, it answers HTTP 400, whose error names
 * OLLAMA_CONTEXT_LENGTH (as the LLM's Ollama provider says it: providers/ollama.ts). A server
 * that cuts anyway shows it in its counts on the last line (promptCut).
 * `shift: false` (the same versions as truncate): left out, Ollama shifts its context when
 * prompt and answer fill num_ctx, keeping only num_keep (4) tokens from the start, and writes
 * on without a word, without the question. With it, it ends as "length" with eval_count under
 * num_predict, which the served runtime reports with longerContext. (The LLM's provider leaves
 * it on; from 0.30 a model loaded with the other setting reloads, server/sched.go: a cost that
 * a lost question outweighs.)
 */
import { ollamaLongerContext, ollamaPromptCut, ollamaPromptCutText, ollamaPromptRead } from '../../providers/ollama';
import { finite, positionLogprobs, withPath, type ServedChunk, type ServedWireForm } from './wireForm';

function parse(event: unknown): ServedChunk | undefined {
  if (!event || typeof event !== 'object') return undefined;
  const body = event as Record<string, any>;
  if (body.error !== undefined) return { text: '', tokens: [], error: typeof body.error === 'string' ? body.error : JSON.stringify(body.error) };
  const logprobs = Array.isArray(body.logprobs) ? (body.logprobs as Record<string, any>[]) : [];
  const tokens = logprobs.map((entry) => {
    const alternatives = Array.isArray(entry?.top_logprobs) ? (entry.top_logprobs as Record<string, unknown>[]) : [];
    const spellingOf = (value: unknown) => (typeof value === 'string' ? value : undefined);
    const values = positionLogprobs(
      { token: spellingOf(entry?.token), logprob: entry?.logprob },
      alternatives.map((a) => ({ token: spellingOf(a?.token), logprob: a?.logprob })),
    );
    return { piece: typeof entry?.token === 'string' ? entry.token : undefined, topLogprobs: values };
  });
  const done = body.done === true;
  // Prompt tokens read from its cache (docs.ollama.com/api/usage), part of prompt_eval_count.
  const cached = done ? finite(body.prompt_eval_cached_count) : undefined;
  const promptTokens = done ? ollamaPromptRead(finite(body.prompt_eval_count), cached) : undefined;
  const completionTokens = done ? finite(body.eval_count) : undefined;
  return {
    text: typeof body.response === 'string' ? body.response : '',
    tokens,
    finish: done ? (body.done_reason === 'length' ? 'length' : 'stop') : undefined,
    ...(cached === undefined ? {} : { cachedPromptTokens: cached }),
    ...(promptTokens === undefined ? {} : { promptTokens }),
    ...(completionTokens === undefined ? {} : { completionTokens }),
  };
}

export const ollamaWireForm: ServedWireForm = {
  kind: 'ollama',
  label: 'Ollama (/api/generate, raw)',
  defaultUrl: 'http://127.0.0.1:11434',
  endpoint: (url) => withPath(url, '/api/generate'),
  modelsEndpoint: (url) => withPath(url, '/api/tags'),
  sendsTokenIds: false,
  framing: 'ndjson',
  body: (r) => ({
    model: r.model,
    prompt: r.prompt.text,
    raw: true,
    stream: true,
    think: false,
    truncate: false,
    shift: false,
    logprobs: true,
    top_logprobs: r.topLogprobs,
    options: {
      temperature: r.temperature,
      num_predict: r.maxTokens,
      ...(r.seed === undefined ? {} : { seed: r.seed }),
      ...(r.topP === undefined ? {} : { top_p: r.topP }),
      ...(r.topK === undefined ? {} : { top_k: r.topK }),
    },
  }),
  parse,
  modelNames: (body) => {
    const models = (body as { models?: unknown })?.models;
    return Array.isArray(models) ? models.map((m) => (m as { name?: unknown })?.name).filter((n): n is string => typeof n === 'string') : [];
  },
  prefixCache:
    'Ollama reuses the longest common prefix of the previous prompt of a loaded model (keep it loaded: OLLAMA_KEEP_ALIVE, and OLLAMA_NUM_PARALLEL slots for concurrent answers)',
  longerContext: ollamaLongerContext,
  promptCut: (chunk, promptTokens, maxTokens) => {
    const cut = ollamaPromptCut(chunk.promptTokens, chunk.cachedPromptTokens, () => promptTokens, maxTokens);
    return cut && ollamaPromptCutText(cut);
  },
};
