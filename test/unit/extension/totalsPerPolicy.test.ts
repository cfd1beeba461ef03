// The savings totals per policy: each answer is summed per day, per model and per policy
// (the relay mode it ran in); a totals file written before policies were kept, or by an
// older Relay in between, stays readable and its answers count as policy 'unknown'.
// "Relay: Show Savings" shows the per-policy table beside the per-model one, and a
// negative saving as a loss, never as "saved -$".
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { AnswerStats, RelayMode } from '../../../src/core/relay/events';
import { createdPanels, useVscodeStub } from './vscodeStub';
useVscodeStub();
import { emptyTotals, totalsByPolicy, TotalsStore, UNKNOWN_POLICY, type TotalsEntry } from '../../../src/core/relay/totalsStore';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { showSavings } = require('../../../src/extension/savingsView') as typeof import('../../../src/extension/savingsView');

const folder = mkdtempSync(join(tmpdir(), 'relay-totals-policy-'));
after(() => rmSync(folder, { recursive: true, force: true }));

function stats(mode: RelayMode, costUsd: number | null, llmOnlyCostUsd: number | null, extra: Partial<AnswerStats> = {}): AnswerStats {
  return {
    mode,
    slmTokens: 90,
    llmTokens: 10,
    llmTokenShare: 0.1,
    calls: 2,
    llmUsage: { inputTokens: 500, outputTokens: 10, cachedInputTokens: 100, cacheWriteTokens: 0, estimated: false },
    costUsd,
    llmOnlyCostUsd,
    savedUsd: costUsd === null || llmOnlyCostUsd === null ? null : llmOnlyCostUsd - costUsd,
    elapsedMs: 5,
    finishReason: 'eos',
    ...extra,
  };
}

const close = (actual: number, expected: number, what: string) => assert.ok(Math.abs(actual - expected) < 1e-12, `${what}: ${actual} != ${expected}`);

test('answers are summed per day, per model and per policy; the per-model totals stay as they were', async () => {
  const path = join(folder, 'per-policy', 'totals.json');
  let day = new Date(2026, 11, 3, 10);
  const store = new TotalsStore(path, { now: () => day });
  await store.record('openai-chat:gpt-4o', stats('money-aware', 0.002, 0.01));
  await store.record('openai-chat:gpt-4o', stats('confidence', 0.03, 0.01));
  await store.record('anthropic:claude', stats('money-aware', 0.001, 0.004));
  await store.record('anthropic:claude', stats('llm-only', 0.02, 0.02, { savedUsd: 0, slmTokens: 0, llmTokens: 100 }));
  day = new Date(2026, 11, 4, 9);
  await store.record('openai-chat:gpt-4o', stats('money-aware', null, null));

  const file = JSON.parse(readFileSync(path, 'utf8'));
  assert.equal(file.version, 1, 'the same file version: older readers still read it');
  assert.equal(file.days['2026-12-03']['openai-chat:gpt-4o'].answers, 2, 'the per-model totals count every answer');
  assert.deepEqual(Object.keys(file.modes['2026-12-03']['openai-chat:gpt-4o']).sort(), ['confidence', 'money-aware']);

  const byPolicy = totalsByPolicy(await store.read());
  assert.deepEqual(Object.keys(byPolicy).sort(), ['2026-12-03', '2026-12-04']);
  const first = byPolicy['2026-12-03'];
  assert.deepEqual(Object.keys(first).sort(), ['confidence', 'llm-only', 'money-aware']);
  assert.equal(first['money-aware'].answers, 2, 'summed over models');
  close(first['money-aware'].costUsd, 0.003, 'money-aware cost');
  close(first['money-aware'].savedUsd, 0.011, 'money-aware saving');
  close(first.confidence.savedUsd, -0.02, 'confidence lost money');
  assert.equal(first['llm-only'].savedUsd, 0, 'the LLM alone saves nothing');
  assert.equal(byPolicy['2026-12-04']['money-aware'].unpricedAnswers, 1);

  close((await store.summary({ mode: 'money-aware' })).costUsd, 0.003, 'summary of one policy');
  assert.equal((await store.summary({ mode: 'money-aware' })).answers, 3);
  assert.equal((await store.summary({ mode: 'money-aware', day: '2026-12-03', modelKey: 'anthropic:claude' })).answers, 1);
  assert.equal((await store.summary()).answers, 5, 'the summary over everything is unchanged');
  assert.equal(totalsByPolicy(await store.read(), { modelKey: 'anthropic:claude' })['2026-12-03']['llm-only'].answers, 1);
});

test("a totals file written before policies were kept reads as it was, its answers as policy 'unknown', and records go on", async () => {
  const path = join(folder, 'old.json');
  const old: TotalsEntry = { ...emptyTotals(), answers: 3, calls: 4, slmTokens: 300, llmTokens: 30, costUsd: 0.01, llmOnlyCostUsd: 0.05, savedUsd: 0.04 };
  writeFileSync(path, JSON.stringify({ version: 1, days: { '2026-11-30': { 'openai-chat:gpt-4o': old } } }));
  const store = new TotalsStore(path, { now: () => new Date(2026, 10, 30, 18) });
  assert.deepEqual(totalsByPolicy(await store.read()), { '2026-11-30': { [UNKNOWN_POLICY]: old } });

  // The same day and model, now with a policy: the earlier answers stay 'unknown'.
  await store.record('openai-chat:gpt-4o', stats('money-aware', 0.002, 0.01));
  const file = await store.read();
  assert.equal(file.days['2026-11-30']['openai-chat:gpt-4o'].answers, 4);
  const policies = totalsByPolicy(file)['2026-11-30'];
  assert.equal(policies[UNKNOWN_POLICY].answers, 3);
  close(policies[UNKNOWN_POLICY].savedUsd, 0.04, 'the old saving');
  assert.equal(policies['money-aware'].answers, 1);

  // An older Relay (the CLI of an earlier version) adds an answer the way it did: per model only, keeping the rest of the file.
  const raw = JSON.parse(readFileSync(path, 'utf8'));
  const entry = raw.days['2026-11-30']['openai-chat:gpt-4o'];
  raw.days['2026-11-30']['openai-chat:gpt-4o'] = { ...entry, answers: entry.answers + 1, costUsd: entry.costUsd + 0.5, savedUsd: entry.savedUsd - 0.25 };
  writeFileSync(path, JSON.stringify(raw));
  const after = totalsByPolicy(await store.read())['2026-11-30'];
  assert.equal(after[UNKNOWN_POLICY].answers, 4, "the older Relay's answer counts as 'unknown'");
  close(after[UNKNOWN_POLICY].costUsd, 0.51, 'its cost too');
  assert.equal(after['money-aware'].answers, 1);
});

test('a hand-edited modes field breaks nothing: what is not a number counts as 0 in the sums', () => {
  const file = {
    version: 1 as const,
    days: { d: { m: { ...emptyTotals(), answers: 2, costUsd: 0.2 } } },
    modes: { d: { m: { command: { ...emptyTotals(), answers: 1, costUsd: 'lots' as unknown as number }, junk: 'x' as unknown as TotalsEntry } } },
  };
  const byPolicy = totalsByPolicy(file);
  assert.equal(byPolicy.d.command.answers, 1);
  assert.equal(byPolicy.d.command.costUsd, 0);
  assert.equal(byPolicy.d[UNKNOWN_POLICY].answers, 1);
  close(byPolicy.d[UNKNOWN_POLICY].costUsd, 0.2, 'the rest');
  assert.deepEqual(totalsByPolicy({ version: 1, days: {}, modes: 'x' as never }), {});
});

test('"Relay: Show Savings" adds a per-policy table, keeps the per-model one, and shows a loss as a loss', async () => {
  const path = join(folder, 'view.json');
  const store = new TotalsStore(path, { now: () => new Date(2026, 11, 3, 10) });
  await store.record('openai-chat:gpt-4o', stats('money-aware', 0.002, 0.01));
  await store.record('openai-chat:gpt-4o', stats('confidence', 0.03, 0.0041));
  await showSavings(store);
  const html = createdPanels.at(-1)!.webview.html;
  assert.match(html, /<h3>Per day and model<\/h3>/);
  assert.match(html, /<tr><td>2026-12-03<\/td><td>openai-chat:gpt-4o<\/td><td>2<\/td>/, 'the per-model row as before');
  assert.match(html, /<h3>Per policy<\/h3>[\s\S]*<th>Policy<\/th>/);
  assert.match(
    html,
    /<tr><td>all days<\/td><td>confidence<\/td><td>1<\/td><td>100<\/td><td>10\.0%<\/td><td>2<\/td><td>\$0\.03<\/td><td>\$0\.0041<\/td><td>cost \$0\.03 more<\/td><td>0<\/td><\/tr>/,
  );
  assert.match(
    html,
    /<tr><td>all days<\/td><td>money-aware<\/td><td>1<\/td><td>100<\/td><td>10\.0%<\/td><td>2<\/td><td>\$0\.0020<\/td><td>\$0\.01<\/td><td>\$0\.0080<\/td><td>0<\/td><\/tr>/,
  );
  assert.match(html, /<tr><td>2026-12-03<\/td><td>money-aware<\/td>/);
  assert.match(html, /<strong>cost \$0\.02 more than the LLM alone<\/strong>/, 'the all-time headline: these answers cost more than the LLM alone');
  assert.doesNotMatch(html, /-\$|\$-|saved -/, 'never a negative saving');
});
