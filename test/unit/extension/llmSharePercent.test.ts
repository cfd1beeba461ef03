// The LLM's share of an answer's tokens is said one way on every surface that shows it beside
// what the LLM cost: the answer view's stats strip, the status bar, the savings view. A share
// that is neither none nor all never reads as one ("0.0% LLM" beside a cost).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnswerStats } from '../../../src/core/relay/events';
import { emptyTotals, type TotalsEntry } from '../../../src/core/relay/totalsStore';
import { statItems } from '../../../media/src/view/format';
import { createdStatusBarItems, useVscodeStub } from './vscodeStub';
useVscodeStub();

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayStatusBar } = require('../../../src/extension/statusBar') as typeof import('../../../src/extension/statusBar');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { savingsHtml } = require('../../../src/extension/savingsView') as typeof import('../../../src/extension/savingsView');

/** One answer of `llmTokens` LLM tokens in `tokens`, priced. */
function answer(llmTokens: number, tokens: number): { stats: AnswerStats; totals: TotalsEntry } {
  const stats: AnswerStats = {
    mode: 'money-aware',
    slmTokens: tokens - llmTokens,
    llmTokens,
    llmTokenShare: llmTokens / tokens,
    calls: 1,
    llmUsage: { inputTokens: 400, outputTokens: llmTokens, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
    costUsd: 0.002,
    llmOnlyCostUsd: 0.05,
    savedUsd: 0.048,
    elapsedMs: 900,
    finishReason: 'eos',
  };
  const totals = { ...emptyTotals(), answers: 1, calls: 1, slmTokens: tokens - llmTokens, llmTokens, costUsd: 0.002, llmOnlyCostUsd: 0.05, savedUsd: 0.048 };
  return { stats, totals };
}

const SHARES: [llmTokens: number, tokens: number, said: string][] = [
  [0, 4000, '0%'],
  [1, 4000, '0.03%'],
  [1, 40_000, '<0.01%'],
  [3, 40, '7.5%'],
  [3999, 4000, '99.98%'],
  [40_000, 40_000, '100%'],
];

for (const [llmTokens, tokens, said] of SHARES) {
  test(`${llmTokens} of ${tokens} tokens by the LLM: "${said}" in the answer view, the status bar and the savings view`, () => {
    const { stats, totals } = answer(llmTokens, tokens);
    assert.equal(Object.fromEntries(statItems(stats).map((item) => [item.label, item.value])).LLM, `${llmTokens} tok · ${said}`, 'answer view');
    const bar = new RelayStatusBar();
    bar.recordAnswer(stats);
    assert.equal(createdStatusBarItems.at(-1)!.text.split(' · ')[0], `$(pulse) Relay ${said} LLM`, 'status bar');
    bar.dispose();
    const html = savingsHtml({ version: 1, days: { '2026-01-05': { 'openai-chat:gpt-4o': totals } } }, totals);
    const escaped = said.replace('<', '&lt;');
    assert.ok(html.includes(`All time: 1 answers, ${escaped} of tokens by the LLM`), 'savings view, all time');
    assert.ok(html.includes(`<td>${tokens}</td><td>${escaped}</td>`), 'savings view, its row');
  });
}
