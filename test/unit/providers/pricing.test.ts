import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { calcPrice } from '@pydantic/genai-prices';
import {
  PRICE_CATALOG,
  PRICE_NOTE_MAX_CHARS,
  builtInPrice,
  costOf,
  priceAtTime,
  priceNote,
  pricesBetween,
  resolvePrice,
  resolvePriceWithSource,
} from '../../../src/core/providers/pricing';
import type { Usage } from '../../../src/core/providers/types';

const usage = (u: Partial<Usage>): Usage => ({ inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false, ...u });

test('pricing: known models are in the catalog, with dated and vendor-prefixed ids', () => {
  assert.equal(builtInPrice('openai-chat', 'gpt-4o-mini')?.outputPerMTok, 0.6);
  assert.equal(builtInPrice('openai-chat', 'gpt-4o-mini-2024-07-18')?.inputPerMTok, 0.15);
  assert.equal(builtInPrice('openai-chat', 'openai/gpt-4o-mini')?.inputPerMTok, 0.15);
  assert.equal(builtInPrice('anthropic', 'claude-3-5-haiku-20241022')?.cacheWritePerMTok, 1);
  assert.equal(builtInPrice('anthropic', 'claude-3-5-haiku-latest')?.cachedInputPerMTok, 0.08);
});

test('pricing: an unknown model has an unknown price and a null cost, never zero', () => {
  assert.equal(builtInPrice('openai-completions', 'Qwen/Qwen3-8B'), null);
  assert.equal(resolvePrice('ollama', 'qwen3:8b'), null);
  assert.equal(costOf(usage({ inputTokens: 1000, outputTokens: 10 }), null), null);
  // Half an override is not a price either.
  assert.equal(resolvePrice('ollama', 'qwen3:8b', { inputPerMTok: 1 }), null);
});

test('pricing: user overrides price an unknown model and replace fields of a known one', () => {
  assert.deepEqual(resolvePrice('ollama', 'qwen3:8b', { inputPerMTok: 0, outputPerMTok: 0 }), { inputPerMTok: 0, outputPerMTok: 0 });
  const price = resolvePrice('openai-chat', 'gpt-4o-mini', { outputPerMTok: 1, cachedInputPerMTok: null })!;
  assert.equal(price.outputPerMTok, 1);
  assert.equal(price.inputPerMTok, 0.15);
  assert.equal(price.cachedInputPerMTok, 0.075);
});

test('pricing: cached input and cache writes are billed at their own prices', () => {
  const price = { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 };
  // 1M input of which 600k cached and 100k written: 300k fresh.
  const cost = costOf(usage({ inputTokens: 1_000_000, cachedInputTokens: 600_000, cacheWriteTokens: 100_000, outputTokens: 1_000_000 }), price)!;
  assert.ok(Math.abs(cost - (0.3 * 3 + 0.6 * 0.3 + 0.1 * 3.75 + 15)) < 1e-9, `cost ${cost}`);
  // Without cache prices, cached tokens are billed as plain input (never for free).
  assert.ok(Math.abs(costOf(usage({ inputTokens: 1_000_000, cachedInputTokens: 1_000_000 }), { inputPerMTok: 2, outputPerMTok: 8 })! - 2) < 1e-9);
});

test('pricing: a cache write without its own price is billed at 1.25x input (Anthropic 5-minute writes, GPT-5.6), not as plain input', () => {
  const price = { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3 };
  // 1M input: 600k read, 400k written.
  const cost = costOf(usage({ inputTokens: 1_000_000, cachedInputTokens: 600_000, cacheWriteTokens: 400_000 }), price)!;
  assert.ok(Math.abs(cost - (0.6 * 0.3 + 0.4 * 3 * 1.25)) < 1e-9, `cost ${cost}`);
  assert.equal(costOf(usage({ inputTokens: 1_000_000 }), price), 3, 'no write, no surcharge');
  assert.equal(costOf(usage({ inputTokens: 1_000_000, cacheWriteTokens: 1_000_000 }), { ...price, cacheWritePerMTok: 3 }), 3, 'a given write price is kept');
});

// The prices below are those of the bundled catalog (PRICE_CATALOG): a new catalog version
// that changes one of them fails here, to be looked at before it ships.

test('pricing: current models come from the catalog with cached-input and (Anthropic) 5-minute cache-write prices', () => {
  assert.deepEqual(builtInPrice('openai-chat', 'gpt-5'), { inputPerMTok: 1.25, outputPerMTok: 10, cachedInputPerMTok: 0.125 });
  assert.deepEqual(builtInPrice('openai-chat', 'gpt-5-mini'), { inputPerMTok: 0.25, outputPerMTok: 2, cachedInputPerMTok: 0.025 });
  assert.deepEqual(builtInPrice('openai-chat', 'gpt-4o'), { inputPerMTok: 2.5, outputPerMTok: 10, cachedInputPerMTok: 1.25 });
  // Cache writes at the 5-minute TTL Relay uses (1.25x input), not the 1-hour one (2x).
  assert.deepEqual(builtInPrice('anthropic', 'claude-sonnet-4-6'), { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 });
  assert.deepEqual(builtInPrice('anthropic', 'claude-opus-4-6'), { inputPerMTok: 5, outputPerMTok: 25, cachedInputPerMTok: 0.5, cacheWritePerMTok: 6.25 });
  assert.deepEqual(builtInPrice('anthropic', 'claude-3-5-haiku'), { inputPerMTok: 0.8, outputPerMTok: 4, cachedInputPerMTok: 0.08, cacheWritePerMTok: 1 });
});

test('pricing: a dated snapshot id resolves to its model', () => {
  assert.deepEqual(builtInPrice('openai-chat', 'gpt-4o-2024-08-06'), builtInPrice('openai-chat', 'gpt-4o'));
  assert.deepEqual(builtInPrice('openai-chat', 'gpt-5-2025-08-07'), builtInPrice('openai-chat', 'gpt-5'));
  const sonnet = resolvePriceWithSource('anthropic', 'claude-sonnet-4-5-20250929');
  assert.deepEqual(sonnet.catalog, { provider: 'anthropic', model: 'claude-sonnet-4-5' });
  assert.equal(sonnet.source, 'catalog');
  assert.deepEqual(resolvePriceWithSource('openai-chat', 'gpt-4o-mini-2024-07-18').catalog, { provider: 'openai', model: 'gpt-4o-mini' });
});

test('pricing: a snapshot newer than the catalog is priced as its model, and the note says so', () => {
  // The catalog lists gpt-5-mini and gpt-5-mini-2025-08-07 only: a later snapshot had no price, so no money ceiling.
  const mini = resolvePriceWithSource('openai-chat', 'gpt-5-mini-2026-08-07');
  assert.deepEqual(mini.price, builtInPrice('openai-chat', 'gpt-5-mini'));
  assert.deepEqual(mini.catalog, { provider: 'openai', model: 'gpt-5-mini', withoutSuffix: '-2026-08-07' });
  assert.equal(priceNote(mini), `prices: ${PRICE_CATALOG.name} of ${PRICE_CATALOG.date} for gpt-5-mini (the model id without -2026-08-07)`);
  assert.equal(
    priceNote(resolvePriceWithSource('openai-chat', 'gpt-5-mini-2026-08-07', { outputPerMTok: 3 })),
    `prices: ${PRICE_CATALOG.name} of ${PRICE_CATALOG.date} for gpt-5-mini (the model id without -2026-08-07), with your settings`,
  );
  // Each suffix form, alone and as Bedrock stacks them; the shortest removal wins.
  const model = (id: string, baseUrl?: string): string | undefined => {
    const found = resolvePriceWithSource('openai-chat', id, {}, baseUrl).catalog;
    return found && `${found.model} ${found.withoutSuffix}`;
  };
  assert.equal(model('gpt-5-mini-20260807'), 'gpt-5-mini -20260807');
  assert.equal(model('gpt-5-mini@20260807'), 'gpt-5-mini @20260807');
  assert.equal(model('gpt-4.1-mini-2026-01-01-v1:0'), 'gpt-4.1-mini -2026-01-01-v1:0');
  assert.equal(model('gpt-4.1-mini-v1'), 'gpt-4.1-mini -v1');
  assert.equal(model('openai/gpt-5-mini-2026-08-07', 'https://openrouter.ai/api/v1'), 'openai/gpt-5-mini -2026-08-07');
  assert.equal(model('anthropic/claude-sonnet-4.6-20261001', 'https://openrouter.ai/api/v1'), 'anthropic/claude-sonnet-4.6 -20261001');
  // A snapshot the catalog lists keeps its own price (gpt-4o-2024-05-13 cost twice gpt-4o).
  assert.deepEqual(resolvePriceWithSource('openai-chat', 'gpt-4o-2024-05-13').catalog, { provider: 'openai', model: 'gpt-4o-2024-05-13' });
});

test('pricing: removing a snapshot suffix never prices another model', () => {
  // gpt-5 costs 5x gpt-5-mini: a dated id of either is priced as itself, never as the other.
  assert.equal(resolvePriceWithSource('openai-chat', 'gpt-5-2026-08-07').catalog?.model, 'gpt-5');
  assert.equal(resolvePriceWithSource('openai-chat', 'gpt-5-mini-2026-08-07').catalog?.model, 'gpt-5-mini');
  // Only a whole trailing date or version tag is removed, never a name part.
  for (const id of [
    'gpt-5-mini-2026-08',
    'gpt-5-mini-0807',
    'gpt-5-mini-v2',
    'gpt-5-mini:1',
    'gpt-5-mini-latest',
    'gpt-5-turbo-2026-08-07',
    'gpt-5-mini2026-08-07',
  ]) {
    assert.equal(builtInPrice('openai-chat', id), null, id);
  }
  // OpenRouter's variants are billed otherwise (:free at $0): not priced as the model.
  assert.equal(builtInPrice('openai-chat', 'openai/gpt-5-mini:free', 'https://openrouter.ai/api/v1'), null);
  // A local server stays unpriced, dated or not.
  assert.equal(builtInPrice('openai-chat', 'gpt-5-mini-2026-08-07', 'http://127.0.0.1:8000/v1'), null);
});

test('pricing: the note of a snapshot priced as its model fits the answer view', () => {
  const note = (model: string, withoutSuffix: string, byTimeOfDay?: true): string =>
    priceNote({
      price: { inputPerMTok: 1, outputPerMTok: 1 },
      source: 'mixed',
      catalog: { provider: 'p', model, withoutSuffix, ...(byTimeOfDay ? { byTimeOfDay } : {}) },
    })!;
  // The catalog's longest id today (61 characters) with the most suffix a snapshot can lose.
  const longest = 'cognitivecomputations/dolphin-mistral-24b-venice-edition:free';
  assert.ok(note(longest, '-2026-08-07-v1:0').length <= PRICE_NOTE_MAX_CHARS);
  const past = note(`${longest}${'x'.repeat(100)}`, '-2026-08-07-v1:0', true);
  assert.ok(past.length <= PRICE_NOTE_MAX_CHARS, past);
  assert.match(past, /\(the model id without its snapshot tag\).*each call billed by its UTC hour, with your settings$/);
});

test('pricing: unknown models, local servers and local kinds have an unknown price (null), never zero', () => {
  assert.equal(builtInPrice('openai-chat', 'no-such-model-xyz'), null);
  assert.equal(builtInPrice('anthropic', 'claude-no-such-model'), null);
  assert.deepEqual(resolvePriceWithSource('openai-chat', 'no-such-model-xyz'), { price: null, source: 'unknown' });
  // A known model name on an address the catalog does not bill (a local server, a proxy).
  assert.equal(builtInPrice('openai-chat', 'gpt-4o', 'http://127.0.0.1:8000/v1'), null);
  assert.equal(builtInPrice('openai-chat', 'gpt-4o', 'https://llm-proxy.example.com/v1'), null);
  // Kinds that reach local models are priced by the user only; openai-completions at its default address (a local server) too.
  assert.equal(builtInPrice('openai-completions', 'gpt-4o'), null);
  assert.equal(builtInPrice('ollama', 'gpt-4o'), null);
  assert.equal(builtInPrice('onnx-local', 'gpt-4o'), null);
  // An entry without a price per output token (an embedding model) is no chat price.
  assert.equal(builtInPrice('openai-chat', 'text-embedding-3-small'), null);
});

test('pricing: openai-chat is priced by the address it reaches', () => {
  assert.equal(builtInPrice('openai-chat', 'gpt-4o', 'https://api.openai.com/v1')?.inputPerMTok, 2.5);
  assert.equal(builtInPrice('openai-chat', 'gpt-4o', '')?.inputPerMTok, 2.5, 'empty: the default, api.openai.com');
  // OpenRouter by its own entries and ids.
  const routed = resolvePriceWithSource('openai-chat', 'anthropic/claude-sonnet-4.6', {}, 'https://openrouter.ai/api/v1');
  assert.deepEqual(routed.catalog, { provider: 'openrouter', model: 'anthropic/claude-sonnet-4.6' });
  assert.equal(routed.price?.inputPerMTok, 3);
  assert.equal(resolvePriceWithSource('openai-chat', 'openai/gpt-4o', {}, 'https://openrouter.ai/api/v1').catalog?.provider, 'openrouter');
  // DeepSeek, Groq, Mistral, Azure OpenAI by their hosts; the same ids on api.openai.com are not OpenAI's.
  assert.equal(resolvePriceWithSource('openai-chat', 'deepseek-chat', {}, 'https://api.deepseek.com').catalog?.provider, 'deepseek');
  assert.equal(builtInPrice('openai-chat', 'deepseek-chat'), null);
  assert.deepEqual(builtInPrice('openai-chat', 'llama-3.3-70b-versatile', 'https://api.groq.com/openai/v1'), { inputPerMTok: 0.59, outputPerMTok: 0.79 });
  assert.equal(resolvePriceWithSource('openai-chat', 'openai/gpt-oss-120b', {}, 'https://api.groq.com/openai/v1').catalog?.model, 'openai/gpt-oss-120b');
  assert.equal(resolvePriceWithSource('openai-chat', 'mistral-large-latest', {}, 'https://api.mistral.ai/v1').catalog?.provider, 'mistral');
  assert.equal(
    resolvePriceWithSource('openai-chat', 'gpt-4o', {}, 'https://my-resource.openai.azure.com/openai/deployments/gpt-4o').catalog?.provider,
    'azure',
  );
  // anthropic at its default address.
  assert.equal(builtInPrice('anthropic', 'claude-sonnet-4-6', 'https://api.anthropic.com')?.cacheWritePerMTok, 3.75);
});

test('pricing: openai-completions is priced by the hosted API it reaches (Together, DeepSeek), never at a local or self-hosted address', () => {
  const llama = 'meta-llama/Llama-3.3-70B-Instruct-Turbo';
  const together = resolvePriceWithSource('openai-completions', llama, {}, 'https://api.together.xyz/v1');
  assert.equal(together.source, 'catalog');
  assert.equal(together.catalog?.provider, 'together');
  assert.deepEqual(together.price, builtInPrice('openai-chat', llama, 'https://api.together.xyz/v1'), 'the same price as on chat');
  assert.ok((together.price?.outputPerMTok ?? 0) > 0);
  assert.equal(resolvePriceWithSource('openai-completions', 'deepseek-chat', {}, 'https://api.deepseek.com/beta').catalog?.provider, 'deepseek');
  for (const local of ['http://127.0.0.1:8000/v1', 'http://localhost:8000/v1', 'http://192.168.1.20:8000/v1', 'https://vllm.example.com/v1', '']) {
    assert.deepEqual(resolvePriceWithSource('openai-completions', llama, {}, local), { price: null, source: 'unknown' }, local || 'the default');
  }
});

test('pricing: of several catalog prices the standard one is taken', () => {
  // Long-context tiers: the base price (Anthropic below 200k prompt tokens, OpenAI gpt-5.4 below 272k), the tiers beside it.
  assert.deepEqual(builtInPrice('anthropic', 'claude-sonnet-4-5'), {
    inputPerMTok: 3,
    outputPerMTok: 15,
    cachedInputPerMTok: 0.3,
    cacheWritePerMTok: 3.75,
    tiers: [{ aboveInputTokens: 200_000, inputPerMTok: 6, outputPerMTok: 22.5, cachedInputPerMTok: 0.6, cacheWritePerMTok: 7.5 }],
  });
  assert.deepEqual(builtInPrice('openai-chat', 'gpt-5.4'), {
    inputPerMTok: 2.5,
    outputPerMTok: 15,
    cachedInputPerMTok: 0.25,
    tiers: [{ aboveInputTokens: 271_999, inputPerMTok: 5, outputPerMTok: 22.5, cachedInputPerMTok: 0.5 }],
  });
  // By time of day (DeepSeek), whatever the hour it is looked up at: the rate of most hours of
  // the day, and the others' by hours of the UTC day. deepseek-chat until 2025-09-05: its daytime
  // rate 00:30-16:30 UTC, its off-peak discount the other 8 hours (cut at midnight: no window wraps).
  const offPeak = { inputPerMTok: 0.135, outputPerMTok: 0.55, cachedInputPerMTok: 0.035 };
  for (const hour of ['03:00', '12:00', '20:00']) {
    assert.deepEqual(builtInPrice('openai-chat', 'deepseek-chat', 'https://api.deepseek.com', new Date(`2025-06-01T${hour}:00Z`)), {
      inputPerMTok: 0.27,
      outputPerMTok: 1.1,
      cachedInputPerMTok: 0.07,
      hours: [
        { fromUtcSecond: 0, toUtcSecond: 1800, ...offPeak },
        { fromUtcSecond: 59_400, toUtcSecond: 86_400, ...offPeak },
      ],
    });
  }
  // By date: the price in force on the day (o3 was cut on 2025-06-10).
  assert.equal(builtInPrice('openai-chat', 'o3', undefined, new Date('2025-06-01T00:00:00Z'))?.inputPerMTok, 10);
  assert.equal(builtInPrice('openai-chat', 'o3', undefined, new Date('2025-06-10T00:00:00Z'))?.inputPerMTok, 2);
});

const GEMINI = 'https://generativelanguage.googleapis.com/v1beta/openai';

test('pricing: a long-context tier bills the whole call once its input passes the threshold, as the catalog does', () => {
  const gemini = builtInPrice('openai-chat', 'gemini-2.5-pro', GEMINI)!;
  assert.deepEqual(gemini.tiers, [{ aboveInputTokens: 200_000, inputPerMTok: 2.5, outputPerMTok: 15, cachedInputPerMTok: 0.25 }]);
  const close = (a: number | null, b: number) => assert.ok(a !== null && Math.abs(a - b) < 1e-12, `${a} != ${b}`);
  // 100k input tokens: the base price ($1.25 in, $10 out per million).
  close(costOf(usage({ inputTokens: 100_000, outputTokens: 8 }), gemini), (100_000 * 1.25 + 8 * 10) / 1e6);
  // 250k: every token at the tier's price ($2.5 in, $15 out), output too: $0.625, not $0.3125.
  close(costOf(usage({ inputTokens: 250_000, outputTokens: 8 }), gemini), (250_000 * 2.5 + 8 * 15) / 1e6);
  // Cached input counts toward the threshold and is billed at the tier's cached price.
  close(costOf(usage({ inputTokens: 250_000, cachedInputTokens: 50_000, outputTokens: 1000 }), gemini), (200_000 * 2.5 + 50_000 * 0.25 + 1000 * 15) / 1e6);
  // The threshold itself is the base price; one token more is the tier.
  close(costOf(usage({ inputTokens: 200_000 }), gemini), 0.25);
  close(costOf(usage({ inputTokens: 200_001 }), gemini), (200_001 * 2.5) / 1e6);
  // What the catalog's own calcPrice bills, for every tiered model the audit priced.
  const cases = [
    ['google', 'openai-chat', 'gemini-2.5-pro', GEMINI],
    ['anthropic', 'anthropic', 'claude-sonnet-4-5', undefined],
    ['openai', 'openai-chat', 'gpt-5.4', undefined],
  ] as const;
  for (const [provider, kind, model, url] of cases) {
    const price = builtInPrice(kind, model, url)!;
    for (const [input, cached, written, output] of [
      [100_000, 0, 0, 8],
      [250_000, 0, 0, 8],
      [250_000, 50_000, 0, 1000],
      [300_000, 0, 100_000, 10],
    ]) {
      if (written > 0 && price.cacheWritePerMTok === undefined) continue;
      const billed = calcPrice({ input_tokens: input, cache_read_tokens: cached, cache_write_tokens: written, output_tokens: output }, model, {
        providerId: provider,
      });
      close(costOf(usage({ inputTokens: input, cachedInputTokens: cached, cacheWriteTokens: written, outputTokens: output }), price), billed!.total_price);
    }
  }
  close(costOf(usage({ inputTokens: 250_000, outputTokens: 8 }), builtInPrice('anthropic', 'claude-sonnet-4-5')), 1.50018);
});

test("pricing: a user's price is flat at any length, overriding the catalog's tiers of that kind", () => {
  const at250k = usage({ inputTokens: 250_000, cachedInputTokens: 50_000, outputTokens: 1000 });
  // Input and output set: flat; the cached price the user left to the catalog keeps its tier.
  const mixed = resolvePriceWithSource('openai-chat', 'gemini-2.5-pro', { inputPerMTok: 1, outputPerMTok: 10 }, GEMINI);
  assert.equal(mixed.source, 'mixed');
  assert.ok(Math.abs(costOf(at250k, mixed.price)! - (200_000 * 1 + 50_000 * 0.25 + 1000 * 10) / 1e6) < 1e-12);
  // Every price the catalog has set by the user: no tiers left.
  const all = resolvePrice('openai-chat', 'gemini-2.5-pro', { inputPerMTok: 1, outputPerMTok: 10, cachedInputPerMTok: 0.1 }, GEMINI)!;
  assert.equal(all.tiers, undefined);
  assert.ok(Math.abs(costOf(at250k, all)! - (200_000 * 1 + 50_000 * 0.1 + 1000 * 10) / 1e6) < 1e-12);
  // A model the catalog does not price, priced by the user: flat.
  const own = resolvePrice('openai-chat', 'gemini-2.5-pro', { inputPerMTok: 1, outputPerMTok: 10 }, 'http://127.0.0.1:8000/v1')!;
  assert.deepEqual(own, { inputPerMTok: 1, outputPerMTok: 10 });
  assert.equal(costOf(usage({ inputTokens: 250_000 }), own), 0.25);
});

const DEEPSEEK = 'https://api.deepseek.com';
const PEAK = [3600, 14_400, 21_600, 36_000];

test('pricing: DeepSeek V4 bills each call at the rate of its hour, twice the standard one in the peak windows, as the catalog does', () => {
  const at = (time: string, day = '2026-10-01') => new Date(`${day}T${time}Z`);
  // The standard rate (17 h of 24) as the flat fields, twice it 01:00-04:00 and 06:00-10:00 UTC on weekdays.
  for (const [model, flat] of [
    ['deepseek-v4-flash', { inputPerMTok: 0.22, outputPerMTok: 0.66, cachedInputPerMTok: 0.007 }],
    ['deepseek-v4-pro', { inputPerMTok: 0.66, outputPerMTok: 1.98, cachedInputPerMTok: 0.022 }],
  ] as const) {
    const peak = { inputPerMTok: 2 * flat.inputPerMTok, outputPerMTok: 2 * flat.outputPerMTok, cachedInputPerMTok: 2 * flat.cachedInputPerMTok };
    const expected = {
      ...flat,
      hours: [
        { fromUtcSecond: PEAK[0], toUtcSecond: PEAK[1], ...peak, weekdaysOnly: true },
        { fromUtcSecond: PEAK[2], toUtcSecond: PEAK[3], ...peak, weekdaysOnly: true },
      ],
    };
    // Whatever the hour the provider is set up at.
    for (const time of ['02:30', '12:00']) assert.deepEqual(builtInPrice('openai-chat', model, DEEPSEEK, at(time)), expected, `${model} at ${time}`);
  }
  // A usage costs what the catalog's own calcPrice bills at its time, at the edges of the windows too.
  const tokens = { input_tokens: 1_000_000, cache_read_tokens: 400_000, output_tokens: 1_000_000 };
  const used = usage({ inputTokens: 1_000_000, cachedInputTokens: 400_000, outputTokens: 1_000_000 });
  const close = (a: number, b: number, what: string) => assert.ok(Math.abs(a - b) < 1e-9, `${what}: shown ${a}, billed ${b}`);
  // deepseek-chat is billed as deepseek-v4-flash since 2026-04-24 (CATALOG_CORRECTIONS).
  for (const [model, billedAs] of [
    ['deepseek-v4-flash', 'deepseek-v4-flash'],
    ['deepseek-v4-pro', 'deepseek-v4-pro'],
    ['deepseek-chat', 'deepseek-v4-flash'],
  ]) {
    const price = builtInPrice('openai-chat', model, DEEPSEEK, at('12:00'))!;
    for (const time of ['00:00', '00:59:59', '01:00', '02:30', '03:59:59', '04:00', '08:00', '09:59:59', '10:00', '12:00', '23:59:59']) {
      const billed = calcPrice(tokens, billedAs, { providerId: 'deepseek', timestamp: at(time) })!.total_price;
      close(costOf(used, priceAtTime(price, at(time)))!, billed, `${model} at ${time}`);
    }
  }
  // At 02:30 UTC (10:30 in Beijing) twice what the same tokens cost at 12:00.
  const flash = builtInPrice('openai-chat', 'deepseek-v4-flash', DEEPSEEK, at('12:00'))!;
  close(costOf(used, priceAtTime(flash, at('02:30')))!, 2 * costOf(used, priceAtTime(flash, at('12:00')))!, 'peak');
  // costOf itself is time-free: the flat (standard) fields.
  assert.equal(costOf(used, flash), costOf(used, priceAtTime(flash, at('12:00'))));
  // deepseek-reasoner until 2025-09-05, like deepseek-chat: its daytime rate (16 h of 24) flat, its off-peak discount by the hour.
  const reasoner = builtInPrice('openai-chat', 'deepseek-reasoner', DEEPSEEK, new Date('2025-06-01T20:00:00Z'))!;
  assert.equal(reasoner.inputPerMTok, 0.55);
  assert.equal(priceAtTime(reasoner, new Date('2025-06-01T20:00:00Z')).inputPerMTok, 0.135);
});

test('pricing: the price in force at a time keeps the long-context tiers; a price without hours is itself at any time', () => {
  const tiers = [{ aboveInputTokens: 100, inputPerMTok: 9, outputPerMTok: 9 }];
  const price = {
    inputPerMTok: 1,
    outputPerMTok: 2,
    cachedInputPerMTok: 0.1,
    tiers,
    hours: [{ fromUtcSecond: 3600, toUtcSecond: 7200, inputPerMTok: 3, outputPerMTok: 4 }],
  };
  // The window's fields replace the flat ones, all four: no cached price of its own is none.
  assert.deepEqual(priceAtTime(price, new Date('2026-10-01T01:30:00Z')), { inputPerMTok: 3, outputPerMTok: 4, tiers });
  assert.deepEqual(priceAtTime(price, new Date('2026-10-01T02:00:00Z')), { inputPerMTok: 1, outputPerMTok: 2, cachedInputPerMTok: 0.1, tiers });
  const flat = builtInPrice('anthropic', 'claude-sonnet-4-5')!;
  assert.equal(priceAtTime(flat, new Date('2026-10-01T02:00:00Z')), flat);
  assert.deepEqual(pricesBetween(flat, 0, 1e15), [flat]);
});

test('pricing: the prices a call may be billed at are those in force from its start to its timeout, across midnight too', () => {
  const flash = builtInPrice('openai-chat', 'deepseek-v4-flash', DEEPSEEK, new Date('2026-10-01T12:00:00Z'))!;
  const ms = (time: string, day = '2026-10-01') => Date.parse(`${day}T${time}Z`);
  const inputs = (from: number, to: number) => pricesBetween(flash, from, to).map((p) => p.inputPerMTok);
  assert.deepEqual(inputs(ms('00:58'), ms('01:03')), [0.22, 0.44], 'two minutes before the peak: both');
  assert.deepEqual(inputs(ms('00:50'), ms('00:55')), [0.22], 'ends before the peak');
  assert.deepEqual(inputs(ms('03:58'), ms('04:03')), [0.44, 0.22]);
  assert.deepEqual(inputs(ms('12:00'), ms('12:05')), [0.22]);
  assert.deepEqual(inputs(ms('00:58', '2026-10-02'), ms('01:03', '2026-10-02')), [0.22, 0.44], 'any day');
  assert.deepEqual(inputs(NaN, NaN), [0.22, 0.44], 'no time: every rate of the day');
  // deepseek-chat of early 2025: its off-peak discount 16:30-00:30 UTC, cut at midnight.
  const chat = builtInPrice('openai-chat', 'deepseek-chat', DEEPSEEK, new Date('2025-06-01T12:00:00Z'))!;
  assert.deepEqual(
    pricesBetween(chat, ms('23:58', '2025-06-01'), ms('00:03', '2025-06-02')).map((p) => p.inputPerMTok),
    [0.135],
  );
  assert.deepEqual(
    pricesBetween(chat, ms('00:28', '2025-06-02'), ms('00:33', '2025-06-02')).map((p) => p.inputPerMTok),
    [0.135, 0.27],
  );
});

test("pricing: the user's prices apply inside the hours too, and hours they made the day's price are dropped", () => {
  const at = (time: string) => new Date(`2026-10-01T${time}Z`);
  const output = resolvePriceWithSource('openai-chat', 'deepseek-v4-flash', { outputPerMTok: 1 }, DEEPSEEK, at('12:00'));
  // The output price set, in the peak windows too; input keeps the catalog's rate of the hour.
  assert.deepEqual(priceAtTime(output.price!, at('02:30')), { inputPerMTok: 0.44, outputPerMTok: 1, cachedInputPerMTok: 0.014 });
  assert.deepEqual(priceAtTime(output.price!, at('12:00')), { inputPerMTok: 0.22, outputPerMTok: 1, cachedInputPerMTok: 0.007 });
  assert.equal(output.catalog?.byTimeOfDay, true);
  // Every price set: one price all day, and the note no longer speaks of hours.
  const all = resolvePriceWithSource(
    'openai-chat',
    'deepseek-v4-flash',
    { inputPerMTok: 0.3, outputPerMTok: 1, cachedInputPerMTok: 0.01 },
    DEEPSEEK,
    at('12:00'),
  );
  assert.deepEqual(all.price, { inputPerMTok: 0.3, outputPerMTok: 1, cachedInputPerMTok: 0.01 });
  assert.deepEqual(all.catalog, { provider: 'deepseek', model: 'deepseek-v4-flash' });
  assert.equal(priceNote(all), `prices: ${PRICE_CATALOG.name} of ${PRICE_CATALOG.date}, with your settings`);
});

test("pricing: deepseek-chat and deepseek-reasoner are billed at DeepSeek's own price list of the day, not the catalog's of early 2025", () => {
  const deepseek = 'https://api.deepseek.com';
  const price = (model: string, day: string) => builtInPrice('openai-chat', model, deepseek, new Date(`${day}T12:00:00Z`));
  for (const model of ['deepseek-chat', 'deepseek-reasoner']) {
    // From 2025-09-05 16:00 UTC: one price all day (the night discount ended).
    assert.deepEqual(price(model, '2025-09-10'), { inputPerMTok: 0.56, outputPerMTok: 1.68, cachedInputPerMTok: 0.07 }, model);
    // V3.2 (2025-09-29): a cache hit at a tenth of a miss, as DeepSeek documents it.
    const v32 = price(model, '2025-10-15')!;
    assert.deepEqual(v32, { inputPerMTok: 0.28, outputPerMTok: 0.42, cachedInputPerMTok: 0.028 }, model);
    assert.ok(Math.abs(v32.cachedInputPerMTok! / v32.inputPerMTok - 0.1) < 1e-9, `${model}: a cache hit costs a tenth of a miss`);
    // From V4 (2026-04-24) the ids are answered by V4-Flash, billed as it is.
    for (const day of ['2026-05-01', '2026-10-01']) assert.deepEqual(price(model, day), price('deepseek-v4-flash', day), `${model} on ${day}`);
  }
  // The note says where the price came from: DeepSeek's list, not the catalog's entry for the id.
  const corrected = resolvePriceWithSource('openai-chat', 'deepseek-chat', {}, deepseek, new Date('2025-10-15T12:00:00Z'));
  assert.equal(priceNote(corrected), `prices: ${PRICE_CATALOG.name} of ${PRICE_CATALOG.date}, deepseek-chat at DeepSeek's price list of 2025-09-29`);
  const served = priceNote(resolvePriceWithSource('openai-chat', 'deepseek-chat', { outputPerMTok: 1 }, deepseek, new Date('2026-10-01T12:00:00Z')))!;
  assert.match(
    served,
    /deepseek-chat at deepseek-v4-flash's prices \(it answers that id since 2026-04-24\), each call billed by its UTC hour and weekday, with your settings$/,
  );
  assert.ok(served.length <= PRICE_NOTE_MAX_CHARS);
});

test('pricing: the note of a price by time of day says each call is billed at the rate of its hour', () => {
  const v4 = resolvePriceWithSource('openai-chat', 'deepseek-v4-flash', {}, 'https://api.deepseek.com');
  assert.deepEqual(v4.catalog, { provider: 'deepseek', model: 'deepseek-v4-flash', byTimeOfDay: true });
  const note = `prices: ${PRICE_CATALOG.name} of ${PRICE_CATALOG.date}, each call billed by its UTC hour and weekday`;
  assert.equal(priceNote(v4), note);
  assert.ok(note.length <= 200, 'the webview takes a price note of up to 200 characters');
  assert.equal(
    priceNote(resolvePriceWithSource('openai-chat', 'deepseek-v4-flash', { outputPerMTok: 1 }, 'https://api.deepseek.com')),
    `${note}, with your settings`,
  );
  // A price without hours has the plain note and no flag.
  assert.deepEqual(resolvePriceWithSource('anthropic', 'claude-sonnet-4-5').catalog, { provider: 'anthropic', model: 'claude-sonnet-4-5' });
});

test("pricing: the user's prices win over the catalog, field by field, and say so", () => {
  const all = resolvePriceWithSource('anthropic', 'claude-sonnet-4-6', { inputPerMTok: 1, outputPerMTok: 2, cachedInputPerMTok: 0.1, cacheWritePerMTok: 1.5 });
  assert.deepEqual(all.price, { inputPerMTok: 1, outputPerMTok: 2, cachedInputPerMTok: 0.1, cacheWritePerMTok: 1.5 });
  assert.equal(all.source, 'mixed');
  const some = resolvePrice('openai-chat', 'gpt-5', { outputPerMTok: 9, inputPerMTok: null, cachedInputPerMTok: -1 })!;
  assert.deepEqual(some, { inputPerMTok: 1.25, outputPerMTok: 9, cachedInputPerMTok: 0.125 }, 'null and negative fields fall back to the catalog');
  // A local server priced by the user, through any kind.
  assert.deepEqual(resolvePriceWithSource('openai-chat', 'gpt-4o', { inputPerMTok: 0.5, outputPerMTok: 1 }, 'http://127.0.0.1:8000/v1'), {
    price: { inputPerMTok: 0.5, outputPerMTok: 1 },
    source: 'settings',
  });
  assert.equal(resolvePrice('openai-chat', 'gpt-4o', { inputPerMTok: 0, outputPerMTok: 0, cachedInputPerMTok: 0, cacheWritePerMTok: 0 })?.outputPerMTok, 0);
});

test('pricing: the catalog is named and dated, and its version is the installed one', () => {
  assert.equal(PRICE_CATALOG.name, '@pydantic/genai-prices');
  assert.match(PRICE_CATALOG.date, /^\d{4}-\d{2}-\d{2}$/);
  assert.ok(Date.parse(PRICE_CATALOG.date) <= Date.now());
  // The package's exports hide its package.json from require(): read the file.
  const installed = JSON.parse(readFileSync(join(__dirname, '../../../node_modules/@pydantic/genai-prices/package.json'), 'utf8')) as { version: string };
  assert.equal(PRICE_CATALOG.version, installed.version, 'updating the catalog: set PRICE_CATALOG.version and .date in src/core/providers/priceCatalog.ts');
  const pinned = JSON.parse(readFileSync(join(__dirname, '../../../package.json'), 'utf8')) as { dependencies: Record<string, string> };
  assert.equal(pinned.dependencies[PRICE_CATALOG.name], PRICE_CATALOG.version, 'an exact version: the date belongs to one version');
});

test('pricing: looking prices up never touches the network', () => {
  const realFetch = globalThis.fetch;
  globalThis.fetch = (() => {
    throw new Error('the price catalog must not fetch');
  }) as typeof fetch;
  try {
    assert.ok(builtInPrice('openai-chat', 'gpt-5'));
    assert.ok(builtInPrice('anthropic', 'claude-opus-4-6'));
    assert.equal(builtInPrice('openai-chat', 'no-such-model-xyz'), null);
  } finally {
    globalThis.fetch = realFetch;
  }
});

test('the note beside every savings figure says where the prices came from', () => {
  assert.equal(priceNote(resolvePriceWithSource('openai-chat', 'gpt-4o')), `prices: ${PRICE_CATALOG.name} of ${PRICE_CATALOG.date}`);
  assert.equal(
    priceNote(resolvePriceWithSource('openai-chat', 'gpt-4o', { outputPerMTok: 9 })),
    `prices: ${PRICE_CATALOG.name} of ${PRICE_CATALOG.date}, with your settings`,
  );
  assert.equal(priceNote(resolvePriceWithSource('openai-completions', 'my-model', { inputPerMTok: 1, outputPerMTok: 2 })), 'prices: your settings');
  assert.equal(priceNote(resolvePriceWithSource('openai-completions', 'my-model')), undefined, 'unknown prices have no note (and no savings)');
});
