/**
 * Prices of well-known models, in US dollars per million tokens, and the cost of a
 * usage. A model missing from the table (and not priced by the user) has an unknown
 * price: its cost is null, never zero.
 *
 * Prices as published by the providers, as of 2025-06 (check the provider's page; the
 * user's settings override them).
 */
import type { ModelPrice, ProviderKind, Usage } from './types';

type PriceTable = Record<string, ModelPrice>;

const OPENAI: PriceTable = {
  'gpt-4o': { inputPerMTok: 2.5, cachedInputPerMTok: 1.25, outputPerMTok: 10 },
  'gpt-4o-mini': { inputPerMTok: 0.15, cachedInputPerMTok: 0.075, outputPerMTok: 0.6 },
  'gpt-4.1': { inputPerMTok: 2, cachedInputPerMTok: 0.5, outputPerMTok: 8 },
  'gpt-4.1-mini': { inputPerMTok: 0.4, cachedInputPerMTok: 0.1, outputPerMTok: 1.6 },
  'gpt-4.1-nano': { inputPerMTok: 0.1, cachedInputPerMTok: 0.025, outputPerMTok: 0.4 },
  'o3-mini': { inputPerMTok: 1.1, cachedInputPerMTok: 0.55, outputPerMTok: 4.4 },
  // DeepSeek, Mistral and Groq are reached through openai-chat too.
  'deepseek-chat': { inputPerMTok: 0.27, cachedInputPerMTok: 0.07, outputPerMTok: 1.1 },
  'deepseek-reasoner': { inputPerMTok: 0.55, cachedInputPerMTok: 0.14, outputPerMTok: 2.19 },
  'mistral-large': { inputPerMTok: 2, outputPerMTok: 6 },
  'mistral-small': { inputPerMTok: 0.1, outputPerMTok: 0.3 },
  'llama-3.1-8b-instant': { inputPerMTok: 0.05, outputPerMTok: 0.08 },
  'llama-3.3-70b-versatile': { inputPerMTok: 0.59, outputPerMTok: 0.79 },
};

const ANTHROPIC: PriceTable = {
  'claude-opus-4': { inputPerMTok: 15, outputPerMTok: 75, cachedInputPerMTok: 1.5, cacheWritePerMTok: 18.75 },
  'claude-sonnet-4': { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 },
  'claude-3-7-sonnet': { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 },
  'claude-3-5-sonnet': { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 },
  'claude-3-5-haiku': { inputPerMTok: 0.8, outputPerMTok: 4, cachedInputPerMTok: 0.08, cacheWritePerMTok: 1 },
  'claude-3-haiku': { inputPerMTok: 0.25, outputPerMTok: 1.25, cachedInputPerMTok: 0.03, cacheWritePerMTok: 0.3 },
};

const TABLES: Partial<Record<ProviderKind, PriceTable>> = {
  'openai-chat': OPENAI,
  anthropic: ANTHROPIC,
};

/** Candidate table keys of a model id: as given, without a vendor prefix, date or -latest suffix. */
function modelKeys(model: string): string[] {
  const bare = model.trim().toLowerCase().replace(/^.*\//, '');
  const keys = [bare];
  const undated = bare.replace(/-(?:\d{8}|\d{4}-\d{2}-\d{2}|latest|\d{4})$/, '');
  if (undated !== bare) keys.push(undated);
  return keys;
}

/** The built-in price of a model, or null when unknown. */
export function builtInPrice(kind: ProviderKind, model: string): ModelPrice | null {
  const table = TABLES[kind];
  if (!table) return null;
  for (const key of modelKeys(model)) if (table[key]) return { ...table[key] };
  return null;
}

/** User settings (relay.prices.*); null or undefined fields fall back to the table. */
export type PriceOverrides = { [K in keyof ModelPrice]?: number | null };

/**
 * The price to bill: the built-in one with the user's fields on top. Without a built-in
 * price the user must give at least input and output prices, else the price is unknown.
 */
export function resolvePrice(kind: ProviderKind, model: string, overrides: PriceOverrides = {}): ModelPrice | null {
  const given = Object.fromEntries(
    Object.entries(overrides).filter(([, v]) => typeof v === 'number' && Number.isFinite(v) && v >= 0),
  ) as Partial<ModelPrice>;
  const base = builtInPrice(kind, model);
  if (base) return { ...base, ...given };
  if (given.inputPerMTok !== undefined && given.outputPerMTok !== undefined) return given as ModelPrice;
  return null;
}

/**
 * Cost of a usage in US dollars, or null when the price is unknown. Cached input is billed
 * at cachedInputPerMTok and cache writes at cacheWritePerMTok; where those are not given
 * they are billed as plain input (an over- rather than an under-estimate).
 */
export function costOf(usage: Usage, price: ModelPrice | null | undefined): number | null {
  if (!price) return null;
  const cached = Math.max(0, usage.cachedInputTokens);
  const written = Math.max(0, usage.cacheWriteTokens);
  const fresh = Math.max(0, usage.inputTokens - cached - written);
  const dollars =
    fresh * price.inputPerMTok +
    cached * (price.cachedInputPerMTok ?? price.inputPerMTok) +
    written * (price.cacheWritePerMTok ?? price.inputPerMTok) +
    usage.outputTokens * price.outputPerMTok;
  return dollars / 1_000_000;
}
