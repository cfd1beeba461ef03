/**
 * How each provider bills the input a relay call sends again, and the usage of a call
 * predicted before it is made. Every call of an answer sends the prompt plus the answer so
 * far, so each request extends the previous one: what the provider serves from its prompt
 * cache is (a rounding of) the longest earlier prefix it still holds.
 *
 * - automatic-prefix: OpenAI caches prompts of 1,024 tokens or more, the cached prefix in
 *   128-token steps past the first 1,024, no write fee (DeepSeek: 64-token units, any
 *   length); cached tokens at the cached-input price.
 * - breakpoints: Anthropic caches up to explicit cache_control breakpoints (Relay puts one
 *   where the previous call ended and one where this call ends): what the previous call
 *   wrote is read at 0.1x, the rest of this request is written at 1.25x; a prefix below
 *   the model's minimum cacheable length is neither written nor read. Anthropic also finds
 *   a hit at a content block boundary up to about 20 blocks before a breakpoint, so an
 *   answer's first call reads what an earlier request of the conversation wrote at the end
 *   of its conversation (recentPrompts.ts, relayBreakpoint).
 * - server-prefix: a self-hosted server's prefix cache (vLLM, llama.cpp, Ollama) reuses
 *   the exact previous prefix; priced as the user says (cached price if set).
 * - none: every input token at the input price.
 * Numbers are from shared/notes/llm-apis-late-2026.md (OpenAI's prompt-caching guide,
 * Anthropic's prompt-caching docs, DeepSeek's context caching).
 */
import type { Usage } from './types';

export type CacheRule =
  { kind: 'automatic-prefix'; minTokens: number; step: number } | { kind: 'breakpoints'; minTokens: number } | { kind: 'server-prefix' } | { kind: 'none' };

export const OPENAI_CACHE: CacheRule = { kind: 'automatic-prefix', minTokens: 1024, step: 128 };
export const DEEPSEEK_CACHE: CacheRule = { kind: 'automatic-prefix', minTokens: 64, step: 64 };
export const NO_CACHE: CacheRule = { kind: 'none' };

export interface CallShape {
  /** Input tokens this request sends. */
  sent: number;
  /** Input tokens of the previous request of the same answer (0 for the first), which this one extends. */
  previous: number;
  /** Output tokens expected (the span asked for). */
  output: number;
}

/** The usage a provider with `rule` reports for a request of this shape (cached and written parts of the input). */
export function predictUsage(rule: CacheRule, shape: CallShape): Usage {
  const sent = Math.max(0, Math.round(shape.sent));
  const shared = Math.max(0, Math.min(Math.round(shape.previous), sent));
  let cached = 0;
  let written = 0;
  switch (rule.kind) {
    case 'automatic-prefix':
      if (shared >= rule.minTokens) cached = rule.minTokens + Math.floor((shared - rule.minTokens) / rule.step) * rule.step;
      break;
    case 'breakpoints':
      if (shared >= rule.minTokens) cached = shared;
      // This call writes up to its own end when that prefix is long enough to cache.
      if (sent >= rule.minTokens) written = sent - cached;
      break;
    case 'server-prefix':
      cached = shared;
      break;
    case 'none':
      break;
  }
  return { inputTokens: sent, outputTokens: Math.max(0, Math.round(shape.output)), cachedInputTokens: cached, cacheWriteTokens: written, estimated: true };
}

/** relay.provider.caching / --caching: how the LLM's service caches, when its address does not say. */
export const CACHING_CHOICES = ['auto', 'openai', 'deepseek', 'anthropic', 'prefix', 'none'] as const;
export type CachingChoice = (typeof CACHING_CHOICES)[number];

export const CACHING_DESCRIPTIONS: Record<CachingChoice, string> = {
  auto: "By the provider and its address: OpenAI's, DeepSeek's and Anthropic's documented caching; another server's prefix cache when a cached-input price is set, else none.",
  openai: 'Automatic prefix caching from 1,024 tokens, in 128-token steps (OpenAI, Azure OpenAI).',
  deepseek: 'Automatic prefix caching in 64-token units (DeepSeek).',
  anthropic: 'Explicit breakpoints, read at the cached price and written at the cache-write price, from 1,024 tokens.',
  prefix: "A server that keeps the previous request's prefix (vLLM, llama.cpp, SGLang), at the cached-input price.",
  none: 'No caching: every input token at the input price.',
};

/** The rule a user's choice names (auto: `byAddress`, else a prefix cache when a cached price is set, else none). */
export function cacheRuleOf(choice: CachingChoice, byAddress: CacheRule | undefined, cachedPriceSet: boolean): CacheRule {
  switch (choice) {
    case 'openai':
      return OPENAI_CACHE;
    case 'deepseek':
      return DEEPSEEK_CACHE;
    case 'anthropic':
      return { kind: 'breakpoints', minTokens: 1024 };
    case 'prefix':
      return { kind: 'server-prefix' };
    case 'none':
      return NO_CACHE;
    default:
      return byAddress ?? (cachedPriceSet ? { kind: 'server-prefix' } : NO_CACHE);
  }
}
