/**
 * The price of the large model, in US dollars per million tokens, and the cost of a usage.
 * Built-in prices come from a maintained catalog bundled at build time (priceCatalog.ts:
 * @pydantic/genai-prices, PRICE_CATALOG says its version and date); the user's settings
 * (relay.prices.*, CLI --price-*) override them. A model without a price (not in the
 * catalog, a local server, not priced by the user) has an unknown price: its cost is null,
 * never zero.
 */
import { catalogPrice, catalogProviderFor, mergedHours, perMTokFields, PRICE_CATALOG, samePerMTok } from './priceCatalog';
import { baseUrlOf } from './endpoints';
import { providerOf } from './registry';
import type { HourPrice, ModelPrice, PriceTier, ProviderKind, Usage } from './types';

export { PRICE_CATALOG } from './priceCatalog';

/**
 * The catalog provider that bills a provider of `kind` at `baseUrl` (empty or undefined:
 * the kind's default address). openai-chat, openai-completions and anthropic are priced by
 * the address they reach: api.openai.com is OpenAI, api.anthropic.com Anthropic,
 * openrouter.ai, DeepSeek, Mistral, Groq, Together, Azure OpenAI... by their own entries in
 * the catalog; any other address (a local or self-hosted server, a proxy) has no built-in
 * price. ollama and onnx-local have none either: a local model costs what the user says.
 */
function catalogProviderOf(kind: ProviderKind, baseUrl?: string): string | undefined {
  if (!providerOf(kind).pricedByHost) return undefined;
  const url = baseUrlOf(kind, baseUrl);
  return url ? catalogProviderFor(url) : undefined;
}

/**
 * The built-in (catalog) price of a model, or null when unknown. `baseUrl` is the
 * configured base URL (relay.provider.baseUrl, --base-url); without it the kind's default
 * address is assumed (api.openai.com for openai-chat). `at` picks prices that changed by
 * date (default: now); prices by time of day come with all their hours (ModelPrice.hours).
 */
export function builtInPrice(kind: ProviderKind, model: string, baseUrl?: string, at?: Date): ModelPrice | null {
  const provider = catalogProviderOf(kind, baseUrl);
  return provider ? (catalogPrice(provider, model, at)?.price ?? null) : null;
}

/** User settings (relay.prices.*); null or undefined fields fall back to the catalog. */
export type PriceOverrides = { [K in Exclude<keyof ModelPrice, 'tiers' | 'hours'>]?: number | null };

/** A resolved price and where it came from (for showing the catalog's date only where it applies). */
export interface ResolvedPrice {
  price: ModelPrice | null;
  /** catalog: all from the catalog; settings: all from the user's prices; mixed: the catalog's with some user fields; unknown: no price. */
  source: 'catalog' | 'settings' | 'mixed' | 'unknown';
  /** The catalog's provider and model ids the price was found under, when it was; byTimeOfDay, withoutSuffix, corrected: see CatalogMatch. */
  catalog?: { provider: string; model: string; byTimeOfDay?: true; withoutSuffix?: string; corrected?: string };
}

/**
 * The price to bill with its source: the catalog's with the user's fields on top. Without
 * a catalog price the user must give at least input and output prices, else it is unknown.
 * A price the user sets is flat: it overrides the catalog's long-context tiers and its
 * rates by time of day of that kind too (a field not set keeps the catalog's).
 */
export function resolvePriceWithSource(kind: ProviderKind, model: string, overrides: PriceOverrides = {}, baseUrl?: string, at?: Date): ResolvedPrice {
  const given = Object.fromEntries(Object.entries(overrides).filter(([, v]) => typeof v === 'number' && Number.isFinite(v) && v >= 0)) as Partial<ModelPrice>;
  const provider = catalogProviderOf(kind, baseUrl);
  const found = provider ? catalogPrice(provider, model, at) : null;
  if (found) {
    const overridden = Object.keys(given).length > 0;
    const { price, ...catalog } = found;
    const flat: ModelPrice = { ...price, ...given };
    delete flat.tiers;
    delete flat.hours;
    const tiers = price.tiers?.map((tier) => ({ ...tier, ...given }));
    // Tiers the user's prices made all the same as the base price bill nothing more: dropped.
    if (tiers && !tiers.every((tier) => samePerMTok(tier, flat))) flat.tiers = tiers;
    // So are hours they made the same as the rest of the day.
    const hours = mergedHours(
      (price.hours ?? []).map((window) => ({ ...window, ...given })),
      flat,
    );
    if (hours.length > 0) flat.hours = hours;
    else delete catalog.byTimeOfDay;
    return { price: flat, source: overridden ? 'mixed' : 'catalog', catalog };
  }
  if (given.inputPerMTok !== undefined && given.outputPerMTok !== undefined) return { price: given as ModelPrice, source: 'settings' };
  return { price: null, source: 'unknown' };
}

/**
 * The price to bill: the catalog's with the user's fields on top, or null when unknown.
 * `baseUrl` (optional) is the configured base URL; see builtInPrice.
 */
export function resolvePrice(kind: ProviderKind, model: string, overrides: PriceOverrides = {}, baseUrl?: string): ModelPrice | null {
  return resolvePriceWithSource(kind, model, overrides, baseUrl).price;
}

/**
 * What a cache write costs over plain input where no cache-write price is given: what
 * Anthropic bills its 5-minute writes and OpenAI its GPT-5.6 family's. Billing writes as
 * plain input read a cache-writing answer low; a provider that bills no writes reports (and
 * is predicted) none, so this prices nothing there.
 */
export const UNPRICED_CACHE_WRITE_MULTIPLIER = 1.25;

/** USD per million cache-written tokens: the given price, else UNPRICED_CACHE_WRITE_MULTIPLIER times input. */
export function cacheWritePerMTokOf(price: ModelPrice): number {
  return price.cacheWritePerMTok ?? price.inputPerMTok * UNPRICED_CACHE_WRITE_MULTIPLIER;
}

/**
 * The flat prices a call with `inputTokens` input tokens (all of them, cached and
 * cache-written included) is billed at: the last long-context tier it passes, else the base
 * price. The whole call is billed at that tier, its output too, as the catalog's own
 * calcPrice bills it. A price without tiers is returned as it is.
 */
export function priceForInput(price: ModelPrice, inputTokens: number): ModelPrice {
  if (!price.tiers?.length) return price;
  let at: ModelPrice | PriceTier = price;
  for (const tier of price.tiers) if (inputTokens > tier.aboveInputTokens) at = tier;
  return perMTokFields(at);
}

const DAY_MS = 24 * 3600 * 1000;

/** Whether a window of ModelPrice.hours bills on the UTC day of `at`: every day, or Monday to Friday where it says weekdaysOnly. */
function windowBillsOnDayOf(window: HourPrice, at: Date): boolean {
  const weekday = at.getUTCDay();
  return window.weekdaysOnly !== true || (weekday >= 1 && weekday <= 5);
}

/**
 * The price in force at `at`: where the price has rates by time of day (ModelPrice.hours),
 * the window the UTC time of `at` falls in replaces the flat fields (the long-context tiers
 * are kept), unless it bills on weekdays only and `at` is a UTC Saturday or Sunday; outside
 * every window the flat fields bill; the result has no hours. A price without hours is
 * returned as it is. What bills or quotes a call picks its time with this: costOf itself
 * bills the flat fields.
 */
export function priceAtTime(price: ModelPrice, at: Date): ModelPrice {
  if (!price.hours?.length) return price;
  const { hours, ...flat } = price;
  const second = (((at.getTime() % DAY_MS) + DAY_MS) % DAY_MS) / 1000;
  const window = hours.find((w) => w.fromUtcSecond <= second && second < w.toUtcSecond && windowBillsOnDayOf(w, at));
  return window ? { ...perMTokFields(window), ...(flat.tiers ? { tiers: flat.tiers } : {}) } : flat;
}

/**
 * Every price (priceAtTime) in force at some instant from `fromMs` to `toMs` (milliseconds
 * since the epoch), for a worst case over them (the money ceiling of a call that may run
 * that long). A span of a day or more, or one not given (NaN, infinite), has every price
 * of the day.
 */
export function pricesBetween(price: ModelPrice, fromMs: number, toMs: number): ModelPrice[] {
  if (!price.hours?.length) return [price];
  // 1970-01-01 is a Thursday: every window bills that day, weekdays-only ones too.
  if (!(toMs - fromMs < DAY_MS)) [fromMs, toMs] = [0, DAY_MS];
  const found = [priceAtTime(price, new Date(fromMs))];
  // The price changes only at a window's edges (the weekend starts and ends at midnight, which
  // a window it changes has as an edge): those in the span bring every other one.
  const edges = price.hours.flatMap((w) => [w.fromUtcSecond * 1000, w.toUtcSecond * 1000]);
  for (let day = Math.floor(fromMs / DAY_MS) * DAY_MS; day <= toMs; day += DAY_MS) {
    for (const edge of edges) if (day + edge > fromMs && day + edge <= toMs) found.push(priceAtTime(price, new Date(day + edge)));
  }
  return found.filter((p, i) => found.findIndex((q) => samePerMTok(p, q)) === i);
}

/**
 * Every flat price a call with at most `inputTokens` input tokens may be billed at (the base
 * price and each tier it could reach), for a worst case over them (the money ceiling).
 */
export function pricesUpTo(price: ModelPrice, inputTokens: number): ModelPrice[] {
  const thresholds = (price.tiers ?? []).filter((t) => inputTokens > t.aboveInputTokens).map((t) => t.aboveInputTokens + 1);
  return [priceForInput(price, 0), ...thresholds.map((n) => priceForInput(price, n))];
}

/**
 * Cost of a usage in US dollars, or null when the price is unknown. The usage is one call's:
 * it is billed at the long-context tier its input tokens reach (priceForInput). Cached input
 * is billed at cachedInputPerMTok (plain input where not given: an over- rather than an
 * under-estimate) and cache writes at cacheWritePerMTokOf.
 */
export function costOf(usage: Usage, tieredPrice: ModelPrice | null | undefined): number | null {
  if (!tieredPrice) return null;
  const price = priceForInput(tieredPrice, usage.inputTokens);
  const cached = Math.max(0, usage.cachedInputTokens);
  const written = Math.max(0, usage.cacheWriteTokens);
  const fresh = Math.max(0, usage.inputTokens - cached - written);
  const dollars =
    fresh * price.inputPerMTok +
    cached * (price.cachedInputPerMTok ?? price.inputPerMTok) +
    written * cacheWritePerMTokOf(price) +
    usage.outputTokens * price.outputPerMTok;
  return dollars / 1_000_000;
}

/** Whether some window of the price's hours bills on weekdays only (HourPrice.weekdaysOnly). */
const billsByWeekday = (price: ModelPrice | null): boolean => price?.hours?.some((w) => w.weekdaysOnly === true) === true;

/** The longest price note the answer view accepts (media/src/view/validate.ts): a longer one loses the answer's figures there. */
export const PRICE_NOTE_MAX_CHARS = 200;

/**
 * Where an answer's prices came from, for the line beside every "saved" figure: the
 * catalog with its date, the user's settings, or both; undefined when the price is unknown.
 * A model the catalog prices by time of day has each call billed at the rate of its hour
 * (ModelPrice.hours, priceAtTime), and of its weekday where a window bills on weekdays only
 * (DeepSeek V4's peak hours; its Chinese public holidays, which may be off-peak too, are
 * priced as any weekday: over the bill, never under), and the note says so. A
 * snapshot the catalog knows only without its date or version tag is priced as that model,
 * and the note names it and what was removed (never the configured id itself: a workspace
 * may set it, and the chat footer shows the note as Markdown).
 */
export function priceNote(resolved: ResolvedPrice): string | undefined {
  const found = resolved.catalog;
  const parts = [
    `${PRICE_CATALOG.name} of ${PRICE_CATALOG.date}`,
    found?.withoutSuffix ? ` for ${found.model} (the model id without ${found.withoutSuffix})` : '',
    // Relay's own table, not the configured id: a workspace cannot put text here.
    found?.corrected ? `, ${found.model} at ${found.corrected}` : '',
    found?.byTimeOfDay ? `, each call billed by its UTC hour${billsByWeekday(resolved.price) ? ' and weekday' : ''}` : '',
    resolved.source === 'mixed' ? ', with your settings' : '',
  ];
  // Too long for the answer view: the catalog id, then the correction's reason, are left out, not the whole note.
  const fits = (): boolean => `prices: ${parts.join('')}`.length <= PRICE_NOTE_MAX_CHARS;
  if (!fits() && found?.withoutSuffix) parts[1] = ' (the model id without its snapshot tag)';
  if (!fits() && found?.corrected) parts[2] = `, ${found.model} at ${found.corrected.replace(/ \(.*\)$/, '')}`;
  const catalog = parts.join('');
  switch (resolved.source) {
    case 'catalog':
    case 'mixed':
      return `prices: ${catalog}`;
    case 'settings':
      return 'prices: your settings';
    default:
      return undefined;
  }
}
