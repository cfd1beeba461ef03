/**
 * The price catalog Relay ships: @pydantic/genai-prices, a maintained catalog of LLM API
 * prices per provider and model (input, output, cached input, cache writes, tiers, price
 * changes by date). Its data is bundled by esbuild into the extension and the CLI: nothing
 * is fetched, at install or at run time (the package's updatePrices() is never called).
 *
 * To update the prices: `npm install --save-exact @pydantic/genai-prices@<new version>`,
 * then set PRICE_CATALOG.version and .date below (test/unit/providers/pricing.test.ts
 * fails until the version matches the installed package), and drop any of
 * CATALOG_CORRECTIONS the new data gets right.
 */
import { calcPrice, findProvider, type ConditionalPrice, type ModelPrice as CatalogPrice } from '@pydantic/genai-prices';
import type { HourPrice, ModelPrice, PriceTier } from './types';

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
  /**
   * Present when the catalog bills the model by time of day (DeepSeek): the price's flat
   * fields are the rate of most hours of the day, its `hours` the others.
   */
  byTimeOfDay?: true;
  /**
   * Present when the catalog knows the id only without its trailing snapshot date or
   * version tag: what was removed ("-2026-08-07" for gpt-5-mini-2026-08-07, priced as
   * gpt-5-mini). The snapshot may be billed otherwise than the model the catalog lists.
   */
  withoutSuffix?: string;
  /**
   * Present when the catalog's own price of the model is out of date and Relay's correction
   * (CATALOG_CORRECTIONS) was taken instead: a few words for the price note, naming the
   * vendor's price list it follows.
   */
  corrected?: string;
}

/**
 * Where the bundled catalog's price of a model is out of date, the vendor's own price list, by
 * the date it took effect (the latest one in force on `at` applies; before the first, the
 * catalog's). Dates are taken at the next UTC midnight where a change came within a day and
 * lowered the price, so a quote is never lower than the bill. Either a flat price, or
 * `servedBy`: the model that now answers the id, billed at that model's catalog price.
 */
interface CatalogCorrection {
  from: string;
  price?: ModelPrice;
  servedBy?: string;
  /** For the price note: whose price list this is. */
  note: string;
}

/**
 * @pydantic/genai-prices 0.1.8 still bills deepseek-chat and deepseek-reasoner at DeepSeek's
 * V3 prices of early 2025 ($0.27 a million input, $0.07 cached: a cache hit at 26% of a miss,
 * with an off-peak discount), which ended on 2025-09-05. DeepSeek's pricing page: "Starting
 * from 16:00 UTC Time on Sept 5th, 2025, we will apply the following price list and cancel the
 * nighttime discount" ($0.07 hit, $0.56 miss, $1.68 output, both ids); its API news of
 * 2025-09-29 (V3.2-Exp, "API prices drop 50%+, effective immediately"): $0.028 hit, $0.28
 * miss, $0.42 output, a cache hit at a tenth of a miss, as the notes say; from V4's release
 * (2026-04-24) both ids answer with V4-Flash (non-thinking and thinking), at its prices, until
 * DeepSeek retires them (2026-07-24).
 */
const DEEPSEEK_LEGACY: CatalogCorrection[] = [
  { from: '2025-09-05T16:00:00Z', price: { inputPerMTok: 0.56, outputPerMTok: 1.68, cachedInputPerMTok: 0.07 }, note: "DeepSeek's price list of 2025-09-05" },
  { from: '2025-09-30T00:00:00Z', price: { inputPerMTok: 0.28, outputPerMTok: 0.42, cachedInputPerMTok: 0.028 }, note: "DeepSeek's price list of 2025-09-29" },
  { from: '2026-04-25T00:00:00Z', servedBy: 'deepseek-v4-flash', note: "deepseek-v4-flash's prices (it answers that id since 2026-04-24)" },
];

/**
 * The models whose rates by time of day bill on weekdays only (HourPrice.weekdaysOnly), by the
 * catalog's provider and model ids: a correction the catalog cannot state (its time windows
 * hold every day). DeepSeek's pricing page (api-docs.deepseek.com/quick_start/pricing, peak and
 * off-peak since 2026-08-16 16:00 UTC) bills V4 at its peak rate 09:00-12:00 and 14:00-18:00
 * Beijing time (UTC+8) on weekdays, and all of the Beijing weekend off-peak. Those hours,
 * 01:00-04:00 and 06:00-10:00 UTC, fall on the same calendar day in UTC and Beijing: off-peak
 * on UTC Saturday and Sunday. Chinese public holidays may be off-peak too; they are not
 * modelled (priced as any weekday: over the bill, never under). Before the peak rate began
 * V4 had none, so weekends at the flat fields are never under the bill then either. Keyed by
 * the model billed, so ids answered by V4 (deepseek-chat, deepseek-reasoner) are too.
 */
const WEEKDAY_HOURS: Record<string, readonly string[]> = {
  deepseek: ['deepseek-v4-flash', 'deepseek-v4-pro'],
};

/** Whether the catalog's `provider`/`model` bills its rates by time of day on weekdays only (WEEKDAY_HOURS). */
function billsHoursOnWeekdaysOnly(provider: string, model: string): boolean {
  return Object.hasOwn(WEEKDAY_HOURS, provider) && WEEKDAY_HOURS[provider].includes(model);
}

/** By the catalog's provider and model ids. */
const CATALOG_CORRECTIONS: Record<string, Record<string, CatalogCorrection[]>> = {
  deepseek: { 'deepseek-chat': DEEPSEEK_LEGACY, 'deepseek-reasoner': DEEPSEEK_LEGACY },
};

/** The correction of the catalog's `provider`/`model` in force on `at`, if any. */
function correctionAt(provider: string, model: string, at: Date): CatalogCorrection | undefined {
  const corrections = Object.hasOwn(CATALOG_CORRECTIONS, provider) ? CATALOG_CORRECTIONS[provider] : undefined;
  const list = corrections && Object.hasOwn(corrections, model) ? corrections[model] : [];
  return list.filter((c) => Date.parse(c.from) <= at.getTime()).at(-1);
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
 * vendor prefix ("openai/gpt-4o" -> "gpt-4o"); the catalog matches the dated snapshots and
 * aliases it lists to their model ("gpt-4o-2024-08-06" -> gpt-4o, "claude-3-5-haiku-20241022"
 * and "claude-3-5-haiku-latest" -> Claude Haiku 3.5). A snapshot newer than the catalog
 * ("gpt-5-mini-2026-08-07") is then tried without its trailing date or version tag (see
 * withoutSnapshotSuffixes), and the match says so (withoutSuffix).
 *
 * Where the catalog has several prices the standard one is taken:
 * - tiered prices (Anthropic's and Gemini 2.5 Pro's above 200k prompt tokens, OpenAI
 *   gpt-5.4+ above 272k): the base price (below the threshold) with the long-context tiers
 *   in ModelPrice.tiers, which pricing.costOf bills a call by its input tokens;
 * - prices by time of day (DeepSeek): the rate the catalog bills for most hours of the UTC
 *   day of `at` as the flat fields, and the rates of the other hours in ModelPrice.hours
 *   (see standardPrice), which pricing.priceAtTime bills a call by its time: the price is
 *   looked up once, when the provider is set up, and bills every answer after, at any hour.
 *   deepseek-v4-flash and -pro: the off-peak rate (17 h of 24), and twice it 01:00-04:00 and
 *   06:00-10:00 UTC on weekdays (WEEKDAY_HOURS: the catalog's windows hold every day).
 *   byTimeOfDay says so, and so does the note beside the cost;
 * - prices by start date: the one in force on `at`;
 * - cache writes: the 5-minute TTL price (cache_write_mtok, 1.25x input on Anthropic), the
 *   TTL Relay uses, not the 1-hour one (2x);
 * - OpenAI's flex and priority processing and batch prices are not in the catalog's
 *   standard entries and are not used;
 * - a price the catalog has out of date (CATALOG_CORRECTIONS: DeepSeek's legacy ids): the
 *   vendor's own of the day, and the match says so (corrected).
 */
export function catalogPrice(provider: string, model: string, at: Date = new Date()): CatalogMatch | null {
  const id = model.trim();
  if (!id) return null;
  const ids = [id];
  const bare = id.replace(/^[^/]+\//, '');
  if (bare !== id && bare) ids.push(bare);
  // The ids as given first: the catalog lists some snapshots at prices of their own (gpt-4o-2024-05-13).
  const tries: { candidate: string; suffix: string }[] = ids.map((candidate) => ({ candidate, suffix: '' }));
  const shortened = ids.map(withoutSnapshotSuffixes);
  for (let depth = 0; depth < MAX_SUFFIXES; depth++) for (const forms of shortened) if (forms[depth]) tries.push(forms[depth]);
  for (const { candidate, suffix } of tries) {
    const found = lookUp(provider, candidate);
    if (!found) continue;
    const correction = correctionAt(found.provider, found.model, at);
    const named = {
      provider: found.provider,
      model: found.model,
      ...(suffix ? { withoutSuffix: suffix } : {}),
      ...(correction ? { corrected: correction.note } : {}),
    };
    if (correction?.price) return { price: { ...correction.price }, ...named };
    const billedAs = correction?.servedBy ? lookUp(found.provider, correction.servedBy) : found;
    if (!billedAs) return null;
    const { prices, pieces } = standardPrice(billedAs.prices, billedAs.priceAt, at);
    const price = toRelayPrice(prices);
    if (!price) return null;
    const weekdaysOnly = billsHoursOnWeekdaysOnly(billedAs.provider, billedAs.model);
    const hours = mergedHours(
      pieces.flatMap((piece) => hourPrice(piece)).map((window) => (weekdaysOnly ? { ...window, weekdaysOnly } : window)),
      price,
    );
    if (hours.length > 0) price.hours = hours;
    return { price, ...named, ...(hours.length > 0 ? { byTimeOfDay: true } : {}) };
  }
  return null;
}

/**
 * A trailing snapshot date or version tag: -YYYY-MM-DD and -YYYYMMDD (OpenAI, Anthropic),
 * @YYYYMMDD (Vertex AI), -v1 and :0 (Bedrock's "-v1:0"). Nothing else is removed: a shorter
 * id by a prefix alone is another model (gpt-5 is not gpt-5-mini), -v2 and :1 name another
 * model version (Bedrock's anthropic.claude-v2:1 is Claude 2.1), and OpenRouter's :free or
 * :nitro variants are billed otherwise.
 */
const SNAPSHOT_SUFFIX = /(?:[-@]20\d\d(?:-[01]\d-[0-3]\d|[01]\d[0-3]\d)|-v1|:0)$/i;

/** At most this many suffixes are removed: a date, -v1 and :0 ("...-20250929-v1:0"). */
const MAX_SUFFIXES = 3;

/** `id` without 1, 2... trailing snapshot suffixes, each with all that was removed ("gpt-5-mini-2026-08-07" -> gpt-5-mini, "-2026-08-07"). */
function withoutSnapshotSuffixes(id: string): { candidate: string; suffix: string }[] {
  const forms: { candidate: string; suffix: string }[] = [];
  let candidate = id;
  while (forms.length < MAX_SUFFIXES) {
    const shorter = candidate.replace(SNAPSHOT_SUFFIX, '');
    if (shorter === candidate || !shorter) break;
    candidate = shorter;
    forms.push({ candidate, suffix: id.slice(candidate.length) });
  }
  return forms;
}

interface Found {
  provider: string;
  model: string;
  prices: ConditionalPrice[] | CatalogPrice;
  /** The price the catalog itself bills at the instant `t` (its calcPrice with that timestamp). */
  priceAt: (t: Date) => CatalogPrice | undefined;
}

function lookUp(provider: string, model: string): Found | null {
  // calcPrice does the catalog's own matching (snapshot dates, aliases, a provider's
  // fallback providers); the usage is empty, only the matched model and its price are used.
  const priceAt = (timestamp: Date): ReturnType<typeof calcPrice> => {
    try {
      return calcPrice({}, model, { providerId: provider, timestamp });
    } catch {
      // A catalog entry the engine cannot price: as unknown as a missing one.
      return null;
    }
  };
  const result = priceAt(new Date());
  if (!result) return null;
  return { provider: result.provider.id, model: result.model.id, prices: result.model.prices, priceAt: (t) => priceAt(t)?.model_price };
}

const DAY_S = 24 * 3600;

/** A piece of the UTC day, in seconds after 00:00 UTC, and the catalog's price of it. */
interface DayPiece {
  from: number;
  to: number;
  prices: CatalogPrice;
}

/**
 * The catalog's standard price on the UTC day of `at`: the price it bills for the most
 * hours of that day (on a tie the dearer), and the day's pieces, each with the price the
 * catalog bills in it. Prices by start date are read as the catalog reads them, for that
 * day. Where the catalog prices by time of day the day is cut at the windows' edges and
 * each piece priced by the catalog's own calcPrice: deepseek-v4-flash is billed its peak
 * rate 01:00-04:00 and 06:00-10:00 UTC (7 h) and half of it the other 17 h, so the off-peak
 * rate is the standard one. DeepSeek also bills V4 off-peak all weekend, which the catalog
 * cannot say: catalogPrice marks those windows weekdays only (WEEKDAY_HOURS). Before
 * 2026-08-17 the catalog's calcPrice bills V4's peak windows at the later peak rate (a limit
 * its own notes state), and so does Relay: over the bill of those days, never under it.
 */
function standardPrice(
  prices: ConditionalPrice[] | CatalogPrice,
  priceAt: (t: Date) => CatalogPrice | undefined,
  at: Date,
): { prices: CatalogPrice; pieces: DayPiece[] } {
  if (!Array.isArray(prices)) return { prices, pieces: [] };
  const day = Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate());
  const edges = new Set([0, DAY_S]);
  for (const { constraint } of prices) {
    if (constraint?.type !== 'time_of_date') continue;
    for (const time of [constraint.start_time, constraint.end_time]) {
      const s = secondsOfDay(time);
      if (s !== undefined) edges.add(s);
    }
  }
  const cuts = [...edges].sort((a, b) => a - b);
  const pieces: DayPiece[] = [];
  const seconds = new Map<CatalogPrice, number>();
  for (let i = 1; i < cuts.length; i++) {
    const p = priceAt(new Date(day + ((cuts[i - 1] + cuts[i]) / 2) * 1000));
    if (!p) continue;
    pieces.push({ from: cuts[i - 1], to: cuts[i], prices: p });
    seconds.set(p, (seconds.get(p) ?? 0) + cuts[i] - cuts[i - 1]);
  }
  const input = (p: CatalogPrice): number => perMTok(p.input_mtok) ?? -1;
  const [best] = [...seconds].sort(([p, s], [q, t]) => t - s || input(q) - input(p));
  return { prices: best?.[0] ?? prices[0].prices, pieces: seconds.size > 1 ? pieces : [] };
}

/** A piece of the day as a window of ModelPrice.hours; none where the catalog's price of it has no input or output price. */
function hourPrice(piece: DayPiece): HourPrice[] {
  const price = toRelayPrice(piece.prices);
  return price ? [{ fromUtcSecond: piece.from, toUtcSecond: piece.to, ...perMTokFields(price) }] : [];
}

/** The four prices per million tokens a flat price, a tier and a window of hours have. */
export type PerMTok = Pick<ModelPrice, 'inputPerMTok' | 'outputPerMTok' | 'cachedInputPerMTok' | 'cacheWritePerMTok'>;

/** Those of `p` alone (no tiers, no hours), without the ones it leaves unset. */
export function perMTokFields(p: PerMTok): PerMTok {
  const { inputPerMTok, outputPerMTok, cachedInputPerMTok, cacheWritePerMTok } = p;
  return {
    inputPerMTok,
    outputPerMTok,
    ...(cachedInputPerMTok !== undefined ? { cachedInputPerMTok } : {}),
    ...(cacheWritePerMTok !== undefined ? { cacheWritePerMTok } : {}),
  };
}

/** Whether two prices bill every kind of token alike. */
export function samePerMTok(a: PerMTok, b: PerMTok): boolean {
  return FIELDS.every(([field]) => a[field] === b[field]);
}

/**
 * Windows of hours as ModelPrice.hours holds them: in order, without the ones billed as
 * `flat` (the price outside every window), adjacent ones of one price and of the same days
 * (weekdaysOnly) merged.
 */
export function mergedHours(hours: HourPrice[], flat: PerMTok): HourPrice[] {
  return joinedWindows(
    hours.filter((window) => !samePerMTok(window, flat)),
    (a, b) => samePerMTok(a, b) && sameDays(a, b),
  );
}

/** Whether two windows bill on the same days: both every day, or both on weekdays only. */
function sameDays(a: HourPrice, b: HourPrice): boolean {
  return (a.weekdaysOnly === true) === (b.weekdaysOnly === true);
}

/**
 * Windows in order of the day, each one that starts where the one before it ends, and that
 * `same` counts as of its price, joined to it (which keeps its own price). Copies: the
 * windows given are left as they were.
 */
export function joinedWindows(windows: readonly HourPrice[], same: (a: HourPrice, b: HourPrice) => boolean): HourPrice[] {
  const joined: HourPrice[] = [];
  for (const window of [...windows].sort((a, b) => a.fromUtcSecond - b.fromUtcSecond)) {
    const last = joined.at(-1);
    if (last && last.toUtcSecond === window.fromUtcSecond && same(last, window)) last.toUtcSecond = window.toUtcSecond;
    else joined.push({ ...window });
  }
  return joined;
}

/** A catalog time of day ("06:00:00Z", "08:30:00+08:00") in seconds after 00:00 UTC, or undefined. */
function secondsOfDay(time: string): number | undefined {
  const m = /^(\d{2}):(\d{2}):(\d{2}(?:\.\d+)?)(?:Z|([+-])(\d{2}):(\d{2}))$/.exec(time);
  if (!m) return undefined;
  const offset = m[4] ? (m[4] === '+' ? 1 : -1) * (Number(m[5]) * 3600 + Number(m[6]) * 60) : 0;
  return (((Number(m[1]) * 3600 + Number(m[2]) * 60 + Number(m[3]) - offset) % DAY_S) + DAY_S) % DAY_S;
}

/** A catalog price value per million tokens: a number, or the base of tiered prices. */
function perMTok(value: CatalogPrice[string]): number | undefined {
  const n = typeof value === 'number' ? value : value && typeof value === 'object' ? (value as { base?: unknown }).base : undefined;
  return validPrice(n) ? n : undefined;
}

function validPrice(n: unknown): n is number {
  return typeof n === 'number' && Number.isFinite(n) && n >= 0;
}

/** The long-context tiers of a catalog price value ({ base, tiers: [{ start, price }] }): each tier's threshold and price; none for a number. */
function tiersOf(value: CatalogPrice[string]): { start: number; price: number }[] {
  const tiers = value && typeof value === 'object' ? (value as { tiers?: unknown }).tiers : undefined;
  if (!Array.isArray(tiers)) return [];
  return tiers
    .map((t: unknown) => (t && typeof t === 'object' ? (t as { start?: unknown; price?: unknown }) : {}))
    .filter((t): t is { start: number; price: number } => validPrice(t.start) && validPrice(t.price))
    .sort((a, b) => a.start - b.start);
}

const FIELDS = [
  ['inputPerMTok', 'input_mtok'],
  ['outputPerMTok', 'output_mtok'],
  ['cachedInputPerMTok', 'cache_read_mtok'],
  ['cacheWritePerMTok', 'cache_write_mtok'],
] as const;

function toRelayPrice(p: CatalogPrice): ModelPrice | null {
  const inputPerMTok = perMTok(p.input_mtok);
  const outputPerMTok = perMTok(p.output_mtok);
  if (inputPerMTok === undefined || outputPerMTok === undefined) return null;
  const price: ModelPrice = { inputPerMTok, outputPerMTok };
  const cached = perMTok(p.cache_read_mtok);
  const written = perMTok(p.cache_write_mtok);
  if (cached !== undefined) price.cachedInputPerMTok = cached;
  if (written !== undefined) price.cacheWritePerMTok = written;
  // Long-context tiers, as the catalog's calcPrice bills them: a call whose input_tokens (its
  // whole input, cached and written included) exceed a tier's start pays that tier's price for
  // every token of the kind, output included. Each kind may have its own thresholds: a tier
  // starts at each one, with every kind's price in force above it.
  const starts = [...new Set(FIELDS.flatMap(([field, key]) => (price[field] === undefined ? [] : tiersOf(p[key]).map((t) => t.start))))].sort((a, b) => a - b);
  if (starts.length > 0) {
    price.tiers = starts.map((start) => {
      const tier: PriceTier = { aboveInputTokens: start, inputPerMTok, outputPerMTok };
      for (const [field, key] of FIELDS) {
        const base = price[field];
        if (base === undefined) continue;
        tier[field] = tiersOf(p[key]).reduce((at, t) => (t.start <= start ? t.price : at), base);
      }
      return tier;
    });
  }
  return price;
}
