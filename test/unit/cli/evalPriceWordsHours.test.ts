/**
 * The eval's cost note quotes a price by time of day (ModelPrice.hours: DeepSeek V4 bills
 * twice its standard rate 01:00-04:00 and 06:00-10:00 UTC on weekdays) with its hours, not the flat
 * price alone: windows of one rate named together, adjacent ones as one.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { priceWords } from '../../../src/cli/commands/evaluate';
import { resolvePrice } from '../../../src/core/providers/pricing';
import type { ModelPrice } from '../../../src/core/providers/types';

const HOUR = 3600;
const base = { inputPerMTok: 0.22, outputPerMTok: 0.66 };
const peak = { inputPerMTok: 0.44, outputPerMTok: 1.32 };

test("the eval's cost note names the hours billed at another rate, windows of one rate together", () => {
  const price: ModelPrice = {
    ...base,
    hours: [
      { fromUtcSecond: 6 * HOUR, toUtcSecond: 10 * HOUR, ...peak },
      { fromUtcSecond: 1 * HOUR, toUtcSecond: 4 * HOUR, ...peak, cachedInputPerMTok: 0.014 },
    ],
  };
  assert.equal(priceWords(price), '$0.22/M in, $0.66/M out; 01:00-04:00 and 06:00-10:00 UTC: $0.44/M in, $1.32/M out');
  // As the catalog prices DeepSeek V4 Flash at its own address.
  const catalog = resolvePrice('openai-chat', 'deepseek-v4-flash', {}, 'https://api.deepseek.com');
  assert.ok(catalog?.hours?.length, 'the catalog prices it by time of day');
  assert.equal(
    priceWords(catalog),
    `$${catalog.inputPerMTok}/M in, $${catalog.outputPerMTok}/M out; 01:00-04:00 and 06:00-10:00 UTC on weekdays: $${catalog.hours[0].inputPerMTok}/M in, $${catalog.hours[0].outputPerMTok}/M out`,
  );
});

test("the eval's cost note: windows of other rates each named, adjacent ones as one, the day's end as 24:00, odd seconds shown", () => {
  const price: ModelPrice = {
    ...base,
    tiers: [{ aboveInputTokens: 200_000, inputPerMTok: 1, outputPerMTok: 2 }],
    hours: [
      { fromUtcSecond: 22 * HOUR, toUtcSecond: 24 * HOUR, ...peak },
      { fromUtcSecond: 0, toUtcSecond: 1 * HOUR + 30, inputPerMTok: 0.11, outputPerMTok: 0.33 },
      { fromUtcSecond: 20 * HOUR, toUtcSecond: 22 * HOUR, ...peak },
    ],
  };
  assert.equal(
    priceWords(price),
    '$0.22/M in, $0.66/M out; above 200,000 input tokens, the whole call at $1/M in, $2/M out; 00:00-01:00:30 UTC: $0.11/M in, $0.33/M out; 20:00-24:00 UTC: $0.44/M in, $1.32/M out',
  );
});

test("the eval's cost note reads a price from an answers file: hours that are not windows (a hand edit) are left out, not a crash", () => {
  const edited = { ...base, hours: 'peak' } as unknown as ModelPrice;
  assert.equal(priceWords(edited), '$0.22/M in, $0.66/M out');
  const partly = { ...base, hours: [{ fromUtcSecond: 'one' }, null, { fromUtcSecond: 0, toUtcSecond: HOUR, ...peak }] } as unknown as ModelPrice;
  assert.equal(priceWords(partly), '$0.22/M in, $0.66/M out; 00:00-01:00 UTC: $0.44/M in, $1.32/M out');
});
