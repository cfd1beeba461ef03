/**
 * The price catalog Relay ships: @pydantic/genai-prices, a maintained catalog of LLM API
 * prices per provider and model (input, output, cached input, cache writes, tiers, price
 * changes by date). Its data is bundled by esbuild into the extension and the CLI: nothing
 * is fetched, at install or at run time (the package's updatePrices() is never called).
 *
 * To update the prices: `npm install --save-exact @pydantic/genai-prices@<new version>`,
 * then set PRICE_CATALOG.version and .date below (test/unit/providers/pricing.test.ts
 * fails until the version matches the installed package).
 */
import { calcPrice, findProvider, type ConditionalPrice, type ModelPrice as CatalogPrice } from '@pydantic/genai-prices';
import type { ModelPrice } from './types';

/** Which catalog the built-in prices come from, and the date of its data (shown next to "saved" figures). */
export const PRICE_CATALOG = Object.freeze({
  name: '@pydantic/genai-prices',
  version: '0.1.8',
  /** The day this version of the catalog was published on npm (its newest price change takes effect 2026-09-22). */
  date: '2026-09-23',
  homepage: 'https://github.com/pydantic/genai-prices',
});

/** A catalog price found for a model: the price and the catalog's names of the provider and model. */
export interface CatalogMatch {
  price: ModelPrice;
  /** The catalog's provider id, e.g. "openai", "anthropic", "openrouter". */
  provider: string;
  /** The catalog's model id the given id matched, e.g. "gpt-4o" for "gpt-4o-2024-08-06". */
  model: string;
}

/**
 * The catalog provider that bills requests sent to `url` (by the catalog's own API address
 * patterns: api.openai.com is "openai", openrouter.ai "openrouter", api.deepseek.com
 * "deepseek", *.openai.azure.com "azure"...), or undefined for any other address (a local
 * server, a proxy: its price is unknown).
 */
export function catalogProviderFor(url: URL): string | undefined {
  // Without credentials, query or fragment: the catalog's patterns look at the origin and path.
  const address = `${url.protocol}//${url.host}${url.pathname}`;
  return findProvider({ providerApiUrl: address })?.id;
}

/**
 * The catalog's price of `model` at `provider` on the date `at`, or null when the catalog
 * has none (or none per input and output token). The id is tried as given, then without a
 * vendor prefix ("openai/gpt-4o" -> "gpt-4o"); the catalog matches dated snapshots and
 * aliases to their model ("gpt-4o-2024-08-06" -> gpt-4o, "claude-3-5-haiku-20241022" and
 * "claude-3-5-haiku-latest" -> Claude Haiku 3.5).
 *
 * Where the catalog has several prices the standard one is taken:
 * - tiered prices (Anthropic above 200k prompt tokens, OpenAI gpt-5.4+ above 272k): the base
 *   tier, the price of prompts below the threshold;
 * - prices by time of day (DeepSeek's peak and off-peak hours): the highest (peak, the
 *   standard rate; an over- rather than an under-estimate off-peak);
 * - prices by start date: the one in force on `at`;
 * - cache writes: the 5-minute TTL price (cache_write_mtok, 1.25x input on Anthropic), the
 *   TTL Relay uses, not the 1-hour one (2x);
 * - OpenAI's flex and priority processing and batch prices are not in the catalog's
 *   standard entries and are not used.
 */
export function catalogPrice(provider: string, model: string, at: Date = new Date()): CatalogMatch | null {
  const id = model.trim();
  if (!id) return null;
  const ids = [id];
  const bare = id.replace(/^[^/]+\//, '');
  if (bare !== id && bare) ids.push(bare);
  for (const candidate of ids) {
    const found = lookUp(provider, candidate);
    if (!found) continue;
    const price = toRelayPrice(pricesAt(found.prices, at));
    return price ? { price, provider: found.provider, model: found.model } : null;
  }
  return null;
}

function lookUp(provider: string, model: string): { provider: string; model: string; prices: ConditionalPrice[] | CatalogPrice } | null {
  try {
    // calcPrice does the catalog's own matching (snapshot dates, aliases, a provider's
    // fallback providers); the usage is empty, only the matched model is used.
    const result = calcPrice({}, model, { providerId: provider });
    return result ? { provider: result.provider.id, model: result.model.id, prices: result.model.prices } : null;
  } catch {
    // A catalog entry the engine cannot price: as unknown as a missing one.
    return null;
  }
}

/** The catalog's price in force on `at`; of prices by time of day the highest. */
function pricesAt(prices: ConditionalPrice[] | CatalogPrice, at: Date): CatalogPrice {
  if (!Array.isArray(prices)) return prices;
  // As the catalog reads them: the last entry whose constraint holds wins, an unconstrained
  // one always holds; time-of-day entries are the alternatives to it within a day.
  const byTimeOfDay: CatalogPrice[] = [];
  let inForce: CatalogPrice | undefined;
  for (let i = prices.length - 1; i >= 0 && !inForce; i--) {
    const { constraint, prices: p } = prices[i];
    if (constraint?.type === 'time_of_date') byTimeOfDay.push(p);
    else if (!constraint || at.getTime() >= Date.parse(`${constraint.start_date}T00:00:00Z`)) inForce = p;
  }
  const candidates = [inForce ?? prices[0].prices, ...byTimeOfDay];
  return candidates.reduce((a, b) => ((perMTok(b.input_mtok) ?? -1) > (perMTok(a.input_mtok) ?? -1) ? b : a));
}

/** A catalog price value per million tokens: a number, or the base of tiered prices. */
function perMTok(value: CatalogPrice[string]): number | undefined {
  const n = typeof value === 'number' ? value : value && typeof value === 'object' ? (value as { base?: unknown }).base : undefined;
  return typeof n === 'number' && Number.isFinite(n) && n >= 0 ? n : undefined;
}

function toRelayPrice(p: CatalogPrice): ModelPrice | null {
  const inputPerMTok = perMTok(p.input_mtok);
  const outputPerMTok = perMTok(p.output_mtok);
  if (inputPerMTok === undefined || outputPerMTok === undefined) return null;
  const price: ModelPrice = { inputPerMTok, outputPerMTok };
  const cached = perMTok(p.cache_read_mtok);
  const written = perMTok(p.cache_write_mtok);
  if (cached !== undefined) price.cachedInputPerMTok = cached;
  if (written !== undefined) price.cacheWritePerMTok = written;
  return price;
}
