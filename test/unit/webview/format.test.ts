// What the stats strip and the finish note say (pure formatting, under Node).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { declinedTitle, finishNote, formatUsd, llmSpanTitle, skippedCallsNote, statItems } from '../../../media/src/view/format';
import { ratioSetting } from '../../../src/core/relay/finishNotes';

const STATS = {
  slmTokens: 38,
  llmTokens: 2,
  llmTokenShare: 0.05,
  calls: 1,
  costUsd: 0.00015,
  llmOnlyCostUsd: 0.00067,
  savedUsd: 0.00052,
  elapsedMs: 833,
  finishReason: 'eos',
};

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

test('an answer the small model wrote alone (relay.localOnly, relay.mode slm-only) cost $0 and has no saving to show: never "unknown", never the prices fix', () => {
  // As toStatsView gives it: no call, $0, no LLM-alone figure (no large model was composed, so no price).
  const items = statItems({ ...STATS, llmTokens: 0, llmTokenShare: 0, calls: 0, costUsd: 0, llmOnlyCostUsd: null, savedUsd: null, slmWroteAll: true });
  const item = (label: string) => items.find((entry) => entry.label === label);
  assert.equal(item('Cost')?.value, '$0');
  assert.equal(item('Saved')?.value, 'not applicable (only the small model wrote it)');
  assert.match(
    item('Saved')?.hint ?? '',
    /^Only the small model wrote this answer \(relay\.localOnly or relay\.mode slm-only\): no large model was called, so it cost \$0/,
  );
  for (const entry of items) assert.doesNotMatch(`${entry.value} ${entry.hint}`, /unknown|relay\.prices|no price/i, entry.label);
});

test("an LLM span's hover names the model and where its requests went", () => {
  assert.equal(
    llmSpanTitle({ source: 'llm', text: 'x', tokens: 2, model: 'gpt-4o', host: 'https://api.openai.com', durationMs: 420 }),
    'Written by gpt-4o at https://api.openai.com · 2 tokens · 420 ms',
  );
  assert.equal(llmSpanTitle({ source: 'llm', text: 'x', tokens: 1, model: 'm' }), 'Written by m · 1 token', 'turns saved before the destination was recorded');
});

test('the saving says where its prices came from', () => {
  const saved = statItems({ ...STATS, priceNote: 'prices: @pydantic/genai-prices of 2026-09-23' }).find((item) => item.label === 'Saved');
  assert.equal(saved?.value, '$0.00052 est. (prices: @pydantic/genai-prices of 2026-09-23)');
});

test("a cost from usage the server did not report is marked est., in the strip and in the saving's hover", () => {
  const items = statItems({ ...STATS, usageEstimated: true });
  const cost = items.find((item) => item.label === 'Cost');
  assert.match(cost?.value ?? '', / est\.$/);
  assert.match(cost?.hint ?? '', /reported no token usage/);
  assert.match(items.find((item) => item.label === 'Saved' || item.label === 'Loss')?.hint ?? '', /reported no token usage/);
  assert.doesNotMatch(statItems(STATS).find((item) => item.label === 'Cost')?.value ?? '', /est\./);
});

test('the strip shows the cache hit rate and says when hidden reasoning was billed; the hover says when a span was asked for', () => {
  const items = statItems({ ...STATS, cacheHitRate: 0.873, reasoningTokens: 12 });
  assert.equal(items.find((item) => item.label === 'Cache')?.value, '87.3% hit');
  assert.match(items.find((item) => item.label === 'Cost')?.hint ?? '', /12 hidden reasoning tokens billed as output/);
  assert.equal(
    statItems(STATS).find((item) => item.label === 'Cache'),
    undefined,
    'no call, no cache figure',
  );
  assert.equal(
    llmSpanTitle({ source: 'llm', text: 'x', tokens: 2, model: 'gpt-5', approximate: true }),
    'Written by gpt-5 · 2 tokens · asked to continue (approximate)',
  );
});

test("an LLM span's hover gives its call's cost and cached share; spans of one call share its figures", () => {
  const span = {
    source: 'llm' as const,
    text: 'x',
    tokens: 12,
    model: 'gpt-4o',
    host: 'https://api.openai.com',
    durationMs: 420,
    calls: 1,
    costUsd: 0.0031,
    cachedShare: 0.82,
  };
  assert.equal(llmSpanTitle(span), 'Written by gpt-4o at https://api.openai.com · 12 tokens · 420 ms · $0.0031 (82% of the input from the cache)');
  assert.equal(
    llmSpanTitle({ ...span, durationMs: 1400 }),
    'Written by gpt-4o at https://api.openai.com · 12 tokens · 1.4 s · $0.0031 (82% of the input from the cache)',
  );
  assert.equal(
    llmSpanTitle({ ...span, costUsd: null }),
    'Written by gpt-4o at https://api.openai.com · 12 tokens · 420 ms · cost unknown (no price)',
    'an unknown price is never $0',
  );
  assert.match(llmSpanTitle({ ...span, cachedShare: 0 }), /\$0\.0031 \(none of the input from the cache\)$/);
  assert.match(llmSpanTitle({ ...span, cachedShare: 0.001 }), /\(under 1% of the input from the cache\)$/);
  assert.match(llmSpanTitle({ ...span, cachedShare: undefined }), /· \$0\.0031$/, 'a call that sent no input has no share');
  assert.match(llmSpanTitle({ ...span, usageEstimated: true }), /\$0\.0031 \(estimated: the server reported no usage\)$/);
  assert.equal(
    llmSpanTitle({ ...span, calls: 2, costUsd: 0.0062 }),
    'Written by gpt-4o at https://api.openai.com · 12 tokens · 2 calls · 420 ms · $0.0062 (82% of the input from the cache)',
  );
  assert.equal(
    llmSpanTitle({ ...span, costUsd: undefined, calls: undefined, cachedShare: undefined }),
    'Written by gpt-4o at https://api.openai.com · 12 tokens · 420 ms',
    'before its call ended, or a turn saved before costs were kept',
  );
});

test("a skipped call's marker says what the call would have cost and what the answer could still spend", () => {
  assert.equal(
    declinedTitle({ predictedUsd: 0.004, allowanceUsd: 0.0012 }),
    'A call here would have cost $0.0040; skipped (the answer could spend $0.0012 more under relay.maxCostRatio)',
  );
  assert.equal(
    declinedTitle({ predictedUsd: 0.004, allowanceUsd: -0.0003 }),
    'A call here would have cost $0.0040; skipped (the answer could spend nothing more under relay.maxCostRatio)',
  );
  // The ceiling that would have let it through, rounded up so that it does.
  assert.equal(
    declinedTitle({ predictedUsd: 0.004, allowanceUsd: 0.0012, ratioNeeded: 0.6213 }),
    'A call here would have cost $0.0040; skipped (the answer could spend $0.0012 more under relay.maxCostRatio; it needed 0.63)',
  );
});

test('an answer whose every call was skipped says what relay.maxCostRatio would have let one through', () => {
  const none = { calls: 0, declinedCalls: 3, leastRatioToCall: 0.5812 };
  assert.equal(
    skippedCallsNote(none),
    'No call to the large model. Each of the 3 calls this answer wanted would have cost more than relay.maxCostRatio (CLI: --max-cost-ratio) ' +
      'allows at its point of the answer (a call re-sends the whole prompt). The cheapest needed 0.59: raise the setting to that or more to let ' +
      'the large model help with answers like this one, or send less text.',
  );
  assert.match(skippedCallsNote({ ...none, declinedCalls: 1 }) ?? '', /^No call to the large model\. The one call this answer wanted would/);
  assert.match(skippedCallsNote({ ...none, leastRatioToCall: 1.3 }) ?? '', /needed 1\.30, more than the large model alone would have cost up to there:/);
  // Nothing to say where the large model helped, nothing was skipped, or only the USD ceiling refused.
  assert.equal(skippedCallsNote({ ...none, calls: 1 }), undefined);
  assert.equal(skippedCallsNote({ calls: 0 }), undefined);
  assert.equal(skippedCallsNote({ calls: 0, declinedCalls: 2 }), undefined);
  // A ratio already on a step of 0.01 stays as it is.
  assert.equal(ratioSetting(0.62), '0.62');
  assert.equal(ratioSetting(0.620001), '0.63');
});

test('the strip says how many calls were skipped', () => {
  const calls = (declinedCalls?: number) => statItems({ ...STATS, declinedCalls }).find((item) => item.label === 'Calls');
  assert.equal(calls(undefined)?.value, '1');
  assert.equal(calls(1)?.value, '1 · 1 call skipped');
  assert.equal(calls(3)?.value, '1 · 3 calls skipped');
  assert.match(calls(3)?.hint ?? '', /relay\.maxCostRatio/);
});

test('a negative saving is a loss, never "saved -$"; the LLM alone saves nothing; the estimate says how it was made', () => {
  const shown = (stats: Partial<typeof STATS> & Record<string, unknown>) => {
    const items = statItems({ ...STATS, ...stats });
    const item = items.find((entry) => entry.label === 'Saved' || entry.label === 'Loss');
    assert.ok(item, 'one saving item');
    return item;
  };
  const loss = shown({ costUsd: 0.0052, llmOnlyCostUsd: 0.0012, savedUsd: -0.004, priceNote: 'prices: your settings' });
  assert.equal(loss.label, 'Loss');
  assert.equal(loss.value, 'cost $0.0040 more than the LLM alone, est. (prices: your settings)');
  const failed = shown({ costUsd: 0.0003, savedUsd: -0.0003, finishReason: 'error' });
  assert.equal(failed.value, 'cost $0.00030 more than the LLM alone, est.', 'a failed answer saved nothing: what it cost is lost');
  const llmOnly = shown({ savedUsd: 0, llmWroteAll: true, llmOnlyNote: 'The LLM wrote the whole answer: this is its cost as billed, so nothing is saved.' });
  assert.deepEqual([llmOnly.label, llmOnly.value], ['Saved', 'no saving (the LLM wrote it all)']);
  const calibrated = shown({ llmOnlyNote: 'Estimate: calibrated with 2 calls.' });
  assert.equal(calibrated.value, '$0.00052 est.');
  assert.match(calibrated.hint, /Estimate: calibrated with 2 calls\.$/);
  for (const stats of [{ savedUsd: -0.004 }, { savedUsd: -0.00001 }, { savedUsd: -12 }]) {
    const text = statItems({ ...STATS, ...stats })
      .map((item) => `${item.label} ${item.value}`)
      .join(' | ');
    assert.doesNotMatch(text, /-\$|\$-|saved -/i, text);
  }
});
