/**
 * OpenAI-compatible `/v1/completions` (vLLM, SGLang, llama.cpp's server, LM Studio): the
 * context goes as token ids (vLLM, SGLang and llama.cpp take a list of ids as `prompt`),
 * so the server continues exactly the tokens the local runtime would hold; the stream is
 * server-sent events. Log-probabilities come in the legacy completions form (`tokens`,
 * `top_logprobs` as {token: logprob} maps; vLLM's `return_tokens_as_token_ids` spells
 * tokens `token_id:N`) or in the chat form llama.cpp also uses on this endpoint
 * (`content: [{id, token, logprob, top_logprobs: [...]}]`); `n_probs` is llama.cpp's name
 * for the same request, `cache_prompt` its prefix cache switch (on by default in recent
 * builds). Fields a server does not know are ignored by each of them.
 */
import { finite, positionLogprobs, withPath, type ServedChunk, type ServedToken, type ServedWireForm } from './wireForm';

const TOKEN_ID = /^token_id:(\d+)$/;

function tokenOf(spelled: unknown): { id?: number; piece?: string } {
  if (typeof spelled !== 'string') return {};
  const match = TOKEN_ID.exec(spelled);
  return match ? { id: Number(match[1]) } : { piece: spelled };
}

/** The legacy completions form: parallel arrays, one {token: logprob} map per position. */
function legacyTokens(logprobs: Record<string, unknown>): ServedToken[] | undefined {
  const spelled = logprobs.tokens;
  if (!Array.isArray(spelled)) return undefined;
  const tops = Array.isArray(logprobs.top_logprobs) ? logprobs.top_logprobs : [];
  const chosen = Array.isArray(logprobs.token_logprobs) ? logprobs.token_logprobs : [];
  return spelled.map((s, i) => {
    // The map's keys are spelled as the tokens are (token_id:N or the text): the chosen one is among them when in the top k.
    const top = tops[i] && typeof tops[i] === 'object' ? Object.entries(tops[i] as Record<string, unknown>) : [];
    const values = positionLogprobs(
      { token: typeof s === 'string' ? s : undefined, logprob: chosen[i] },
      top.map(([token, logprob]) => ({ token, logprob })),
    );
    return { ...tokenOf(s), topLogprobs: values };
  });
}

/** The chat form: one object per position with its alternatives. */
function contentTokens(logprobs: Record<string, unknown>): ServedToken[] | undefined {
  const content = logprobs.content;
  if (!Array.isArray(content)) return undefined;
  return content.map((entry: Record<string, unknown>) => {
    const alternatives = Array.isArray(entry?.top_logprobs) ? (entry.top_logprobs as Record<string, unknown>[]) : [];
    const idOf = (value: unknown) => {
      const id = finite(value);
      return id !== undefined && Number.isInteger(id) && id >= 0 ? id : undefined;
    };
    const spellingOf = (value: unknown) => (typeof value === 'string' ? value : undefined);
    const values = positionLogprobs(
      { id: idOf(entry?.id), token: spellingOf(entry?.token), logprob: entry?.logprob },
      alternatives.map((a) => ({ id: idOf(a?.id), token: spellingOf(a?.token), logprob: a?.logprob })),
    );
    const id = idOf(entry?.id);
    const spelled = tokenOf(entry?.token);
    return { id: id ?? spelled.id, piece: spelled.piece, topLogprobs: values };
  });
}

function parse(event: unknown): ServedChunk | undefined {
  if (!event || typeof event !== 'object') return undefined;
  const body = event as Record<string, any>;
  if (body.error !== undefined) {
    const error = typeof body.error === 'string' ? body.error : String(body.error?.message ?? JSON.stringify(body.error));
    return { text: '', tokens: [], error };
  }
  const choice = Array.isArray(body.choices) ? body.choices[0] : undefined;
  const reason = choice?.finish_reason;
  // Prompt counts from the last pieces only: vLLM's usage chunk, llama.cpp's final timings (it sends them with every piece).
  // Cached tokens: vLLM reports them only with --enable-prompt-tokens-details, SGLang with --enable-cache-report (and only above 0).
  const usage = body.usage && typeof body.usage === 'object' ? body.usage : undefined;
  const final = usage !== undefined || (typeof reason === 'string' && reason.length > 0);
  const cacheN = finite(body.timings?.cache_n);
  const cached = final ? (finite(usage?.prompt_tokens_details?.cached_tokens) ?? cacheN) : undefined;
  // llama.cpp's timings.prompt_n counts the tokens it evaluated; those its cache served (cache_n) are the rest of the prompt.
  const promptN = finite(body.timings?.prompt_n);
  const promptTokens = final ? (finite(usage?.prompt_tokens) ?? (promptN === undefined ? undefined : promptN + (cacheN ?? 0))) : undefined;
  const logprobs = choice?.logprobs && typeof choice.logprobs === 'object' ? choice.logprobs : undefined;
  const tokens: ServedToken[] = (logprobs && (legacyTokens(logprobs) ?? contentTokens(logprobs))) ?? [];
  // vLLM's return_token_ids: the ids of the piece's tokens beside their spelling.
  const ids = Array.isArray(choice?.token_ids) ? (choice.token_ids as unknown[]) : [];
  if (ids.length === tokens.length) tokens.forEach((t, i) => (t.id ??= Number.isInteger(ids[i]) ? (ids[i] as number) : undefined));
  return {
    text: typeof choice?.text === 'string' ? choice.text : '',
    tokens,
    finish: reason === 'length' ? 'length' : typeof reason === 'string' && reason.length > 0 ? 'stop' : undefined,
    ...(cached === undefined ? {} : { cachedPromptTokens: cached }),
    ...(promptTokens === undefined ? {} : { promptTokens }),
  };
}

export const completionsServerWireForm: ServedWireForm = {
  kind: 'completions-server',
  label: 'OpenAI-compatible completions server (vLLM, SGLang, llama.cpp, LM Studio)',
  defaultUrl: 'http://127.0.0.1:8000/v1',
  // A configured address may or may not end in /v1 (vLLM's docs give both forms).
  endpoint: (url) => withPath(url, /\/v1\/?$/.test(url.pathname) ? '/completions' : '/v1/completions'),
  modelsEndpoint: (url) => withPath(url, /\/v1\/?$/.test(url.pathname) ? '/models' : '/v1/models'),
  sendsTokenIds: true,
  framing: 'sse',
  body: (r) => ({
    model: r.model,
    prompt: r.prompt.ids ? [...r.prompt.ids] : r.prompt.text,
    max_tokens: r.maxTokens,
    temperature: r.temperature,
    ...(r.seed === undefined ? {} : { seed: r.seed }),
    ...(r.topP === undefined ? {} : { top_p: r.topP }),
    ...(r.topK === undefined ? {} : { top_k: r.topK }),
    stream: true,
    stream_options: { include_usage: true },
    logprobs: r.topLogprobs,
    n_probs: r.topLogprobs,
    return_tokens_as_token_ids: true,
    return_token_ids: true,
    cache_prompt: true,
  }),
  parse,
  modelNames: (body) => {
    const data = (body as { data?: unknown })?.data;
    return Array.isArray(data) ? data.map((m) => (m as { id?: unknown })?.id).filter((id): id is string => typeof id === 'string') : [];
  },
  prefixCache:
    'vLLM: --enable-prefix-caching (on by default since the V1 engine), and --enable-prompt-tokens-details to report cached tokens; ' +
    'SGLang: the radix cache (on unless --disable-radix-cache), and --enable-cache-report to report cached tokens; ' +
    'llama.cpp: cache_prompt (sent with every request; it reports cached tokens as timings.cache_n)',
};
