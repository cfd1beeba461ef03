import assert from 'node:assert/strict';
import { test } from 'node:test';
import { builtInPrice, costOf, resolvePrice } from '../../../src/core/providers/pricing';
import type { Usage } from '../../../src/core/providers/types';

const usage = (u: Partial<Usage>): Usage => ({ inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false, ...u });

test('pricing: known models are in the table, with dated and vendor-prefixed ids', () => {
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
