/**
 * How each provider bills the input a relay call sends again, and the usage of a call
 * predicted before it is made. Every call of an answer sends the prompt plus the answer so
 * far, so each request extends the previous one: what the provider serves from its prompt
 * cache is (a rounding of) the longest earlier prefix it still holds.
 *
 * - automatic-prefix: OpenAI caches prompts of 1,024 tokens or more, the cached prefix in
 *   128-token steps past the first 1,024 (DeepSeek: 64-token units, any length); cached
 *   tokens at the cached-input price. Writes are free before the GPT-5.6 family; from it on
 *   they cost 1.25x input ("For GPT-5.6 models and later model families, cache writes cost
 *   1.25x the uncached input token rate", OpenAI's prompt-caching guide, which the notes'
 *   "no write fee" predates), so its rule predicts the uncached part of a prompt long enough
 *   to cache as written (`writes`): the most it can be billed, never less.
 * - breakpoints: Anthropic caches up to explicit cache_control breakpoints (Relay puts one
 *   where the previous call ended and one where this call ends): what the previous call
 *   wrote is read at 0.1x, the rest of this request is written at 1.25x; a prefix below
 *   the model's minimum cacheable length is neither written nor read. Where reports of that
 *   minimum disagree (Sonnet 4.6: 1,024 documented, 2,048 observed), a write is predicted
 *   from the lower (Relay places breakpoints at any length) and a read only from the higher, so the
 *   quote never counts on a read that may not happen. Only the anthropic provider sends
 *   cache_control (openai-chat never does, so Claude via OpenRouter is uncached). Anthropic also finds
 *   a hit at a content block boundary up to about 20 blocks before a breakpoint, so an
 *   answer's first call reads what an earlier request of the conversation wrote at the end
 *   of its conversation (recentPrompts.ts, relayBreakpoint).
 * - server-prefix: a self-hosted server's prefix cache (vLLM, llama.cpp, Ollama) reuses
 *   the exact previous prefix; priced as the user says (cached price if set). Never assumed
 *   of a hosted service: a catalog's cached-input price says nothing of its minimum length.
 * - none: every input token at the input price.
 * Numbers are from shared/notes/llm-apis-late-2026.md (OpenAI's prompt-caching guide,
 * Anthropic's prompt-caching docs, DeepSeek's context caching).
 */
import { settingRef } from '../settingNames';
import { isLoopback } from './endpoints';
import { ProviderError } from './errors';
import { anthropicModelTraits, normalizeOpenAiModel } from './modelCapabilities';
import type { Usage } from './types';

export type CacheRule =
  /** writes: the uncached part of a prompt of minTokens or more is written at the cache-write price (OpenAI from GPT-5.6 on). */
  | { kind: 'automatic-prefix'; minTokens: number; step: number; writes?: true }
  /** minTokens: where breakpoints go (writes predicted from there); readMinTokens: reads predicted only from there (default minTokens). */
  | { kind: 'breakpoints'; minTokens: number; readMinTokens?: number }
  | { kind: 'server-prefix' }
  | { kind: 'none' };

/** Whether a call under `rule` may be billed cache writes (breakpoints; OpenAI's caching from GPT-5.6 on). */
export function billsCacheWrites(rule: CacheRule | undefined): boolean {
  return rule?.kind === 'breakpoints' || (rule?.kind === 'automatic-prefix' && rule.writes === true);
}

export const OPENAI_CACHE: CacheRule = { kind: 'automatic-prefix', minTokens: 1024, step: 128 };
/** OpenAI's caching from the GPT-5.6 family on: the same prefixes, and the writes billed. */
export const OPENAI_WRITING_CACHE: CacheRule = { ...OPENAI_CACHE, writes: true };
export const DEEPSEEK_CACHE: CacheRule = { kind: 'automatic-prefix', minTokens: 64, step: 64 };
export const NO_CACHE: CacheRule = { kind: 'none' };

export interface CallShape {
  /** Input tokens this request sends. */
  sent: number;
  /**
   * The most it may send, where `sent` is partly an estimate (default: `sent`). A prompt that
   * reaches the minimum cacheable length is written whole (breakpoints; OpenAI from GPT-5.6 on),
   * so a write is predicted where this reaches it: an estimate a few tokens short of the minimum
   * would otherwise miss a write of the whole request.
   */
  sentAtMost?: number;
  /** Input tokens of the previous request of the same answer (0 for the first), which this one extends. */
  previous: number;
  /** Output tokens expected (the span asked for). */
  output: number;
}

/** The usage a provider with `rule` reports for a request of this shape (cached and written parts of the input). */
export function predictUsage(rule: CacheRule, shape: CallShape): Usage {
  const sent = Math.max(0, Math.round(shape.sent));
  const shared = Math.max(0, Math.min(Math.round(shape.previous), sent));
  const mayReach = (minTokens: number) => Math.max(sent, Math.round(shape.sentAtMost ?? 0)) >= minTokens;
  let cached = 0;
  let written = 0;
  switch (rule.kind) {
    case 'automatic-prefix':
      if (shared >= rule.minTokens) cached = rule.minTokens + Math.floor((shared - rule.minTokens) / rule.step) * rule.step;
      if (rule.writes && mayReach(rule.minTokens)) written = sent - cached;
      break;
    case 'breakpoints':
      if (shared >= Math.max(rule.minTokens, rule.readMinTokens ?? 0)) cached = shared;
      // This call writes up to its own end when that prefix is long enough to cache.
      if (mayReach(rule.minTokens)) written = sent - cached;
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
  auto: "By the service: OpenAI's, DeepSeek's and Anthropic's documented caching (on OpenRouter by the model's vendor: openai/*, deepseek/*; others uncached); a self-hosted server's prefix cache when a cached-input price is set; else none.",
  openai:
    'Automatic prefix caching from 1,024 tokens, in 128-token steps (OpenAI, Azure OpenAI); from GPT-5.6 on, what a prompt adds is written at the cache-write price.',
  deepseek: 'Automatic prefix caching in 64-token units (DeepSeek).',
  anthropic:
    "Explicit breakpoints (provider kind anthropic only), read at the cached price and written at the cache-write price, from the model's minimum cacheable length.",
  prefix: "A server that keeps the previous request's prefix (vLLM, llama.cpp, SGLang), at the cached-input price.",
  none: 'No caching: every input token at the input price.',
};

/** The configured LLM service, as far as its caching goes (compose.ts fills it in). */
export interface CachingService {
  /** The provider kind, named in a refusal. */
  kind: string;
  /** Its address; undefined for a model run in this process. */
  url: URL | undefined;
  model: string;
  /** The rule the provider knows for this address and model (ProviderEntry.cacheRule); breakpoints: it sends cache_control. */
  byProvider: CacheRule | undefined;
  /** Only the user prices this service (ollama; openai-completions at a host the price catalog does not know). */
  userPriced: boolean;
  cachedPriceSet: boolean;
}

/**
 * The rule a user's choice names. auto: the provider's rule for the address, else
 * OpenRouter's by the model's vendor, else a prefix cache for a self-hosted server with a
 * cached price, else none. `anthropic` on a provider that sends no cache_control is refused.
 */
export function cacheRuleOf(choice: CachingChoice, service: CachingService): CacheRule {
  switch (choice) {
    case 'openai':
      return openAiCacheRule(service.model);
    case 'deepseek':
      return DEEPSEEK_CACHE;
    case 'anthropic':
      if (service.byProvider?.kind !== 'breakpoints') {
        throw new ProviderError(
          'bad_request',
          `${settingRef('caching')} is "anthropic", but the ${service.kind} provider never sends Anthropic's cache_control breakpoints, so nothing would be cached that way. Set it to auto (or none), or use provider kind anthropic.`,
          { fix: 'open-settings' },
        );
      }
      return anthropicCacheRule(service.model);
    case 'prefix':
      return { kind: 'server-prefix' };
    case 'none':
      return NO_CACHE;
    default:
      if (service.byProvider?.kind === 'breakpoints') return anthropicCacheRule(service.model);
      return service.byProvider ?? unlistedServiceRule(service);
  }
}

/**
 * Whether OpenAI bills `model`'s cache writes: "Cache writes have no additional fee on models
 * before the GPT-5.6 family" (OpenAI's prompt-caching guide; Azure OpenAI's says the same).
 * The models before it are a closed set of names (gpt-3.5 to gpt-5.5, the o-series,
 * chatgpt-4o, codex-mini, their fine-tunes); any other id, a later family or a deployment name
 * Relay cannot read, is counted as writing: a write predicted that is free quotes a call high,
 * a write missed quotes it low.
 */
export function openAiBillsCacheWrites(model: string): boolean {
  const normalized = normalizeOpenAiModel(model);
  // A fine-tune (ft:gpt-4o-mini:org::id) is billed as its base model.
  const id = /^ft:([^:]+):/.exec(normalized)?.[1] ?? normalized;
  const gpt = /^gpt-(\d+)(?:\.(\d+))?/.exec(id);
  if (gpt) {
    const [major, minor] = [Number(gpt[1]), Number(gpt[2] ?? 0)];
    return major > 5 || (major === 5 && minor >= 6);
  }
  return !/^(?:o\d|chatgpt-|codex-mini|davinci-|babbage-|computer-use-)/.test(id);
}

/** OpenAI's automatic caching for `model`, its writes billed from GPT-5.6 on. */
export function openAiCacheRule(model: string): CacheRule {
  return openAiBillsCacheWrites(model) ? OPENAI_WRITING_CACHE : OPENAI_CACHE;
}

/** Anthropic's breakpoints for `model`: placed from its lowest reported minimum, read from its highest. */
export function anthropicCacheRule(model: string): CacheRule {
  const traits = anthropicModelTraits(model);
  return { kind: 'breakpoints', minTokens: traits.minCacheTokens, readMinTokens: traits.sureMinCacheTokens };
}

/** auto where the provider knows no rule for the address. */
function unlistedServiceRule(service: CachingService): CacheRule {
  const host = service.url?.hostname.toLowerCase();
  if (host === 'openrouter.ai' || host?.endsWith('.openrouter.ai')) return openRouterCacheRule(service.model);
  const selfHosted = service.userPriced || (service.url !== undefined && isSelfHostedAddress(service.url));
  return selfHosted && service.cachedPriceSet ? { kind: 'server-prefix' } : NO_CACHE;
}

/**
 * OpenRouter passes the request on to the model's vendor, whose caching applies: OpenAI's
 * and DeepSeek's automatic. Anthropic's needs cache_control, which openai-chat never sends;
 * other vendors' rules are not known here (relay.provider.caching says them).
 */
function openRouterCacheRule(model: string): CacheRule {
  const vendor = model.trim().toLowerCase().split('/')[0];
  if (vendor === 'openai') return openAiCacheRule(model);
  if (vendor === 'deepseek') return DEEPSEEK_CACHE;
  return NO_CACHE;
}

/** Loopback, a private or link-local network, or a name only a local network resolves (a container's, gpu-box, *.local). */
function isSelfHostedAddress(url: URL): boolean {
  const host = url.hostname.replace(/^\[|\]$/g, '').toLowerCase();
  if (isLoopback(host)) return true;
  const v4 = /^(\d{1,3})\.(\d{1,3})\.\d{1,3}\.\d{1,3}$/.exec(host);
  if (v4) {
    const [a, b] = [Number(v4[1]), Number(v4[2])];
    return a === 10 || (a === 172 && b >= 16 && b <= 31) || (a === 192 && b === 168) || (a === 169 && b === 254);
  }
  if (host.includes(':')) return /^f[cd]/.test(host) || /^fe[89ab]/.test(host);
  return !host.includes('.') || /\.(local|internal|lan|home\.arpa)$/.test(host);
}
