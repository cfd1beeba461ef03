/**
 * What one kind of SLM server speaks: where the request goes, its body, how its stream
 * is framed and how each piece reads. One entry per kind (registry.ts); the served
 * runtime (servedRuntime.ts) does the rest alike for all.
 */
import type { ServedSlmKind, TokenConfidence } from '../types';

/** One streamed generation request. */
export interface ServedRequest {
  model: string;
  /** The whole context: its text, and its token ids where they are exact (the kind says whether it sends them). */
  prompt: { text: string; ids?: readonly number[] };
  maxTokens: number;
  /** 0: greedy. */
  temperature: number;
  seed?: number;
  topP?: number;
  topK?: number;
  /** How many alternatives to report per position (the confidence signals come from them). */
  topLogprobs: number;
}

/** One generated token as a server reports it. */
export interface ServedToken {
  /** The token id, where the server gives it. */
  id?: number;
  /** The token's text as the server spells it (may be a byte-level piece); undefined when it gives only the id. */
  piece?: string;
  /** Log-probabilities of the most likely tokens at this position (any order; the chosen one may be among them). */
  topLogprobs: number[];
}

/** What one piece of the stream says. */
export interface ServedChunk {
  /** Text of this piece (all its tokens together). */
  text: string;
  tokens: ServedToken[];
  /** Set on the last piece: the model ended (end of sequence or a stop), or the token limit was reached. */
  finish?: 'stop' | 'length';
  /** Prompt tokens the server served from its prefix cache, where it reports them. */
  cachedPromptTokens?: number;
  promptTokens?: number;
  /** Tokens the server says it generated, on its last piece (Ollama's eval_count); undefined: not reported. */
  completionTokens?: number;
  /** An error the server put in the stream. */
  error?: string;
}

export interface ServedWireForm {
  kind: ServedSlmKind;
  label: string;
  /** Where the server listens by default. */
  defaultUrl: string;
  /** The generation endpoint for a configured address. */
  endpoint(url: URL): URL;
  /** Where the server lists its models (asked when it says it does not serve the one set: servedModels.ts). */
  modelsEndpoint(url: URL): URL;
  /** Whether a request carries the context as token ids (exact: the server does not re-tokenise the seams). */
  sendsTokenIds: boolean;
  framing: 'sse' | 'ndjson';
  body(request: ServedRequest): unknown;
  /** Reads one parsed event of the stream; undefined: nothing to read (a keep-alive, [DONE]). */
  parse(event: unknown): ServedChunk | undefined;
  /** The names a model list answer holds (untrusted: the caller bounds and cleans them for showing). */
  modelNames(body: unknown): string[];
  /** How the server's prefix cache is turned on, for the docs and the connection test. */
  prefixCache: string;
  /**
   * How to give the model a context that holds `promptTokens` and an answer of `maxTokens`
   * on this server, said when it refuses a prompt as too long, or ends an answer as "length"
   * before `maxTokens` (its context is full); undefined: the server's words alone, and such an
   * end is read as the token limit.
   */
  longerContext?(promptTokens: number, maxTokens: number): string;
  /**
   * Where the server cuts a prompt longer than its context length without an error (Ollama):
   * from the counts on a piece, what happened and the fix when it read less of the prompt than
   * the `promptTokens` sent, to follow its name; else undefined.
   */
  promptCut?(chunk: ServedChunk, promptTokens: number, maxTokens: number): string | undefined;
}

/** Appends `suffix` to the path of `url` (kept: a path prefix such as /v1 or a proxy's). */
export function withPath(url: URL, suffix: string): URL {
  const out = new URL(url.href);
  out.pathname = `${out.pathname.replace(/\/+$/, '')}${suffix}`;
  out.search = '';
  out.hash = '';
  return out;
}

/**
 * Log-probabilities a little above 0 that a server's float rounding gives a certain token
 * (log-softmax in float32 or half precision): taken as 0. Above it a value is no
 * log-probability and is left out.
 */
const LOGPROB_ROUNDING = 1e-3;

/**
 * The confidence signals of one position from the top log-probabilities a server reports:
 * top-1 and margin exactly (when two or more are reported), the entropy over the reported
 * tokens with the rest of the mass as one more outcome (a lower bound of the true entropy).
 */
export function confidenceOf(topLogprobs: readonly number[]): TokenConfidence | undefined {
  const probs = topLogprobs
    .map((lp) => (lp > 0 && lp <= LOGPROB_ROUNDING ? 0 : lp))
    .filter((lp) => Number.isFinite(lp) && lp <= 0)
    .map((lp) => Math.exp(lp))
    .sort((a, b) => b - a);
  if (probs.length === 0) return undefined;
  const seen = probs.reduce((a, b) => a + b, 0);
  const rest = Math.max(0, 1 - seen);
  let entropy = rest > 0 ? -rest * Math.log(rest) : 0;
  for (const p of probs) if (p > 0) entropy -= p * Math.log(p);
  return { top1: probs[0], entropy, margin: probs[0] - (probs[1] ?? 0) };
}

/** One reported alternative: its id and/or spelling where the server gives them, and its log-probability. */
export interface Alternative {
  id?: number;
  token?: string;
  logprob: unknown;
}

/**
 * The log-probabilities of one position: the server's top list, and the chosen token's
 * only where that list does not already hold it. Every server's top list includes the
 * chosen token when it is among the top k (vLLM `_create_completion_logprobs`, llama.cpp
 * `populate_token_probs` in tools/server/server-context.cpp, SGLang
 * `to_openai_style_logprobs`, Ollama `convertLogprobs` in llm/llama_server.go); counting it
 * twice would make the margin 0 whenever it is top-1. Matched by id where both have one,
 * else by spelling; a chosen token with neither is taken as listed when the list is not empty.
 */
export function positionLogprobs(chosen: Alternative, top: readonly Alternative[]): number[] {
  const listed = top.some((a) =>
    chosen.id !== undefined && a.id !== undefined ? a.id === chosen.id : chosen.token !== undefined && a.token !== undefined ? a.token === chosen.token : true,
  );
  return [...top.map((a) => a.logprob), ...(listed ? [] : [chosen.logprob])].map(finite).filter((v): v is number => v !== undefined);
}

/** A finite number, else undefined (what a server sends is untrusted). */
export function finite(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

/**
 * A server's text as messages show it (what a server sends is untrusted): without control or
 * bidirectional-override characters, nor zero-width ones (they would hide in a name a user
 * copies), and at most `max` characters, a cut one ending in "…" so it is not taken as whole.
 */
export function shownServerText(text: string, max = 300): string {
  const shown = text
    .replace(/[\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]+/g, ' ')
    .replace(/[\u200b-\u200d\u2060\ufeff]+/g, '')
    .trim();
  // Not half a surrogate pair before the mark.
  return shown.length <= max
    ? shown
    : `${shown
        .slice(0, max - 1)
        .replace(/[\uD800-\uDBFF]$/, '')
        .trimEnd()}…`;
}
