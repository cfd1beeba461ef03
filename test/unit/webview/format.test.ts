// What the stats strip and the finish note say (pure formatting, under Node).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { finishNote, formatUsd, llmSpanTitle, statItems } from '../../../media/src/view/format';

const STATS = { slmTokens: 38, llmTokens: 2, llmTokenShare: 0.05, calls: 1, costUsd: 0.00015, llmOnlyCostUsd: 0.00067, savedUsd: 0.00052, elapsedMs: 833, finishReason: 'eos' };

test('an answer that ended early says so; a complete or failed one does not', () => {
  assert.match(finishNote('cancelled') ?? '', /^Stopped/);
  assert.match(finishNote('budget') ?? '', /relay\.tokenBudget/);
  assert.match(finishNote('turn_limit') ?? '', /relay\.maxTurns/);
  for (const complete of ['eos', 'llm_eos', 'error']) assert.equal(finishNote(complete), undefined, complete);
  // Every ceiling says which setting and which CLI flag set it.
  assert.match(finishNote('call_limit') ?? '', /relay\.maxLlmCallsPerAnswer \(CLI: --max-calls\)/);
  assert.match(finishNote('cost_limit') ?? '', /relay\.maxCostPerAnswerUsd \(CLI: --max-cost\)/);
  assert.match(finishNote('stalled') ?? '', /relay\.maxSecondsWithoutProgress \(CLI: --max-stall\)/);
  for (const early of ['context_full', 'llm_no_progress', 'slm_no_progress']) assert.match(finishNote(early) ?? '', /^Stopped/, early);
});

test('the stats strip shows tokens, share, calls, cost and saving; an unknown price is never $0', () => {
  const shown = Object.fromEntries(statItems(STATS).map((item) => [item.label, item.value]));
  assert.deepEqual(shown, { SLM: '38 tok', LLM: '2 tok · 5.0%', Calls: '1', Cost: '$0.00015', Saved: '$0.00052 est.', Time: '833 ms' });
  const unpriced = Object.fromEntries(statItems({ ...STATS, costUsd: null, llmOnlyCostUsd: null, savedUsd: null }).map((item) => [item.label, item.value]));
  assert.equal(unpriced.Cost, 'unknown');
  assert.equal(unpriced.Saved, 'unknown');
  assert.equal(formatUsd(0), '$0');
  assert.equal(formatUsd(1234.5), '$1234.50');
});

test("an LLM span's hover names the model and where its requests went", () => {
  assert.equal(llmSpanTitle({ source: 'llm', text: 'x', tokens: 2, model: 'gpt-4o', host: 'https://api.openai.com', durationMs: 420 }), 'Written by gpt-4o at https://api.openai.com · 2 tokens · 420 ms');
  assert.equal(llmSpanTitle({ source: 'llm', text: 'x', tokens: 1, model: 'm' }), 'Written by m · 1 token', 'turns saved before the destination was recorded');
});

test('the saving says where its prices came from', () => {
  const saved = statItems({ ...STATS, priceNote: 'prices: @pydantic/genai-prices of 2026-09-23' }).find((item) => item.label === 'Saved');
  assert.equal(saved?.value, '$0.00052 est. (prices: @pydantic/genai-prices of 2026-09-23)');
});

test('the strip shows the cache hit rate and says when hidden reasoning was billed; the hover says when a span was asked for', () => {
  const items = statItems({ ...STATS, cacheHitRate: 0.873, reasoningTokens: 12 });
  assert.equal(items.find((item) => item.label === 'Cache')?.value, '87.3% hit');
  assert.match(items.find((item) => item.label === 'Cost')?.hint ?? '', /12 hidden reasoning tokens billed as output/);
  assert.equal(statItems(STATS).find((item) => item.label === 'Cache'), undefined, 'no call, no cache figure');
  assert.equal(llmSpanTitle({ source: 'llm', text: 'x', tokens: 2, model: 'gpt-5', approximate: true }), 'Written by gpt-5 · 2 tokens · asked to continue (approximate)');
});
