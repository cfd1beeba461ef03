// "Relay: Show Savings" renders totals.json, a file on disk anyone could edit: whatever it
// holds shows as text, and the only command link the panel enables is its own reset.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AnswerStats } from '../../../src/core/relay/events';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { answerWarnings, createdFileWatchers, createdPanels, fileChangedOnDisk, questionsAsked, useVscodeStub, warningsShown } from './vscodeStub';
useVscodeStub();
import { TotalsStore, addTotals, emptyTotals, type TotalsEntry } from '../../../src/core/relay/totalsStore';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const savingsView = require('../../../src/extension/savingsView') as typeof import('../../../src/extension/savingsView');
const { RESET_COMMAND, resetSavings, showSavings, savingsHtml } = savingsView;

const folder = mkdtempSync(join(tmpdir(), 'relay-savings-'));
after(() => rmSync(folder, { recursive: true, force: true }));

const IMG = '<img src=x onerror=alert(1)>';
const TERMINAL_LINK = '<a href="command:workbench.action.terminal.new">open a terminal</a>';
const MARKDOWN_LINK = '[x](command:workbench.action.terminal.new)';

test('a crafted totals file renders as text, and only the reset command is enabled', async () => {
  const path = join(folder, 'totals.json');
  // Names are any text; values that are not numbers make the file damaged (reported, not rendered), so they are
  // checked on savingsHtml itself, which still shows whatever it is given as text.
  const crafted = (values: boolean) => ({
    version: 1 as const,
    days: {
      [`2025-01-01${IMG}`]: {
        [IMG]: { ...emptyTotals(), ...(values ? { answers: TERMINAL_LINK, calls: IMG, unpricedAnswers: MARKDOWN_LINK } : { answers: 2 }) },
        [MARKDOWN_LINK]: { ...emptyTotals(), answers: 1, slmTokens: 3, llmTokens: 1, costUsd: values ? IMG : 0.25, llmOnlyCostUsd: 0.5, savedUsd: 0.25 },
        [TERMINAL_LINK]: emptyTotals(),
      },
    },
  });
  writeFileSync(path, JSON.stringify(crafted(false)));
  await showSavings(new TotalsStore(path));

  const panel = createdPanels.at(-1);
  assert.ok(panel, 'the panel was created');
  assert.deepEqual(panel.options?.enableCommandUris, ['relay.resetSavings'], 'command links: the reset only');
  assert.equal(panel.revealed, 1);
  const escapedImg = '&lt;img src=x onerror=alert(1)&gt;';
  const escapedLink = '&lt;a href=&quot;command:workbench.action.terminal.new&quot;&gt;open a terminal&lt;/a&gt;';
  const values = crafted(true);
  for (const html of [panel.webview.html, savingsHtml(values as never, values.days[`2025-01-01${IMG}`][IMG] as never)]) {
    assert.doesNotMatch(html, /<(img|script|b)\b/i, 'no element from the file');
    assert.deepEqual(html.match(/<a\b[^>]*>/g), ['<a href="command:relay.resetSavings">'], 'one link: the reset');
    for (const text of [escapedImg, escapedLink, MARKDOWN_LINK]) assert.ok(html.includes(`<td>${text}</td>`), `${text} shows as a cell's text`);
    assert.ok(html.includes(`<td>2025-01-01${escapedImg}</td>`), 'the day too');
  }

  // The same values in the file: named as damage, in a plain-text message; no page is made of them.
  writeFileSync(path, JSON.stringify(values));
  const from = questionsAsked.length;
  const panels = createdPanels.length;
  await showSavings(new TotalsStore(path));
  const error = questionsAsked.slice(from).find((q) => q.api === 'showErrorMessage');
  assert.match(
    error?.text ?? '',
    /totals\.json is not a relay totals file \(or it is damaged\); it was left as it is\. Day .*: answers is .*, not a number of 0 or more \(and 3 more\)\./,
  );
  assert.equal(createdPanels.length, panels);
});

test('money is said only where a price is known: unpriced answers are unknown, never $0, and named apart where others have a price', () => {
  const unpriced: TotalsEntry = { ...emptyTotals(), answers: 2, calls: 4, slmTokens: 90, llmTokens: 10, unpricedAnswers: 2 };
  const alone = savingsHtml({ version: 1, days: { '2026-12-03': { 'openai-chat:my-model': unpriced } } } as never, unpriced);
  assert.match(alone, /the price of their model is unknown, so what they cost and saved is unknown/);
  assert.doesNotMatch(alone, /relay cost \$0/);
  assert.match(alone, /<td>4<\/td><td>unknown<\/td><td>unknown<\/td><td>unknown<\/td><td>2<\/td>/, 'the row says unknown');
  const priced: TotalsEntry = { ...emptyTotals(), answers: 1, calls: 1, slmTokens: 45, llmTokens: 5, costUsd: 0.002, llmOnlyCostUsd: 0.005, savedUsd: 0.003 };
  const both = addTotals(priced, unpriced);
  const mixed = savingsHtml({ version: 1, days: { '2026-12-03': { 'openai-chat:gpt-4o': priced, 'openai-chat:my-model': unpriced } } } as never, both);
  assert.match(
    mixed,
    /relay cost \$0\.0020 against an estimated \$0\.0050 for LLM-only answers: <strong>\$0\.0030 saved<\/strong> \(not counting 2 answers whose price is unknown\)/,
  );
});

test('sums carry no floating-point leftovers: +0.1, +0.2 and -0.3 saved is no saving', () => {
  const answer = (savedUsd: number): TotalsEntry => ({ ...emptyTotals(), answers: 1, costUsd: 1, llmOnlyCostUsd: 1 + savedUsd, savedUsd });
  const all = [answer(0.1), answer(0.2), answer(-0.3)].reduce(addTotals, emptyTotals());
  assert.equal(all.savedUsd, 0);
  assert.match(savingsHtml({ version: 1, days: {} } as never, all), /<strong>no saving<\/strong>/);
});

test('Reset where the totals file cannot be removed: says so, with the path and what to do, instead of "command failed"', async () => {
  // A folder where the file should be: removing it fails.
  const path = join(folder, 'totals-as-folder');
  mkdirSync(join(path, 'inside'), { recursive: true });
  answerWarnings('Reset');
  try {
    const from = questionsAsked.length;
    await resetSavings(new TotalsStore(path));
    const error = questionsAsked.slice(from).find((q) => q.api === 'showErrorMessage');
    assert.match(error?.text ?? '', /the totals were not reset: .*totals-as-folder could not be removed \(.*\)\. Remove it by hand to start over\./);
  } finally {
    answerWarnings(undefined);
  }
});

test('Reset while an answer is being recorded (the file locked meanwhile): the reset goes after the record, which does not write the old totals back', async () => {
  const path = join(folder, 'reset-race', 'totals.json');
  const store = new TotalsStore(path);
  const answer = { mode: 'command', slmTokens: 9, llmTokens: 1, llmTokenShare: 0.1, calls: 1, costUsd: 0.001, llmOnlyCostUsd: 0.01, savedUsd: 0.009 } as const;
  const stats = {
    ...answer,
    llmUsage: { inputTokens: 5, outputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0 },
    elapsedMs: 1,
    finishReason: 'eos',
  } as AnswerStats;
  await store.record('m', stats);
  // Another window holds the file's lock: this window's next record waits for it.
  const lock = `${path}.lock`;
  writeFileSync(lock, '');
  const recording = store.record('m', stats);
  answerWarnings('Reset');
  try {
    const asked = warningsShown.length;
    const resetting = resetSavings(store);
    for (let tick = 0; tick < 1000 && warningsShown.length === asked; tick++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(warningsShown.length, asked + 1, 'Reset was asked');
    // Time for a reset that does not wait its turn to remove the file under the record.
    await new Promise((resolve) => setTimeout(resolve, 100));
    rmSync(lock);
    await Promise.all([recording, resetting]);
  } finally {
    answerWarnings(undefined);
  }
  assert.equal((await store.summary()).answers, 0, 'nothing is left after a reset');
});

test('a damaged totals file that recording kept aside is named on the page, with what could be read of it counted', async () => {
  const path = join(folder, 'kept-aside', 'totals.json');
  mkdirSync(join(folder, 'kept-aside'));
  const good = { ...emptyTotals(), answers: 4, costUsd: 0.01, llmOnlyCostUsd: 0.03, savedUsd: 0.02 };
  writeFileSync(path, JSON.stringify({ version: 1, days: { '2026-01-01': { good, bad: { ...good, costUsd: 'lots' } } } }));
  const store = new TotalsStore(path);
  await store.record('m', answerStats({}));
  await showSavings(store);
  const html = createdPanels.at(-1)!.webview.html;
  const [aside] = await store.keptAside();
  assert.ok(aside, 'kept aside');
  assert.ok(
    html.includes(`Damaged totals files were kept aside, as they were, when an answer was recorded: <code>${aside}</code>`),
    'the page names the file kept aside',
  );
  assert.match(html, /All time: 5 answers/, 'the good totals and the new answer');
});

test('a relay cost that includes answers whose LLM usage was counted locally (none reported) is marked as an estimate', async () => {
  const path = join(folder, 'estimated', 'totals.json');
  const store = new TotalsStore(path, { now: () => new Date(2026, 0, 5, 12) });
  await store.record('openai-chat:served', answerStats({ estimated: true }));
  await store.record('openai-chat:served', answerStats({}));
  assert.equal((await store.summary()).usageEstimatedAnswers, 1);
  await showSavings(store);
  const html = createdPanels.at(-1)!.webview.html;
  assert.match(html, /<tr><td>2026-01-05<\/td><td>openai-chat:served<\/td><td>2<\/td><td>20<\/td><td>10\.0%<\/td><td>2<\/td><td>\$0\.0020 \(est\.\)<\/td>/);
  assert.match(html, /relay cost \$0\.0020 \(est\.\) against/);
  assert.match(
    html,
    /The LLM usage of 1 answer was counted locally \(the provider reported none\) or capped \(it reported more output than one call can write\), so the relay cost is partly an estimate\./,
  );
});

function answerStats(usage: { estimated?: boolean }): AnswerStats {
  return {
    mode: 'command',
    slmTokens: 9,
    llmTokens: 1,
    llmTokenShare: 0.1,
    calls: 1,
    llmUsage: { inputTokens: 5, outputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: usage.estimated ?? false },
    costUsd: 0.001,
    llmOnlyCostUsd: 0.01,
    savedUsd: 0.009,
    elapsedMs: 1,
    finishReason: 'eos',
  };
}

test('answers the small model wrote alone (relay.localOnly, relay.mode slm-only) are said as such: $0, no saving, never an unknown price', async () => {
  const path = join(folder, 'slm-only', 'totals.json');
  const store = new TotalsStore(path);
  // As the engine gives them: no call, $0, no LLM-alone figure (no large model was composed, so no price).
  const alone: AnswerStats = {
    ...answerStats({}),
    mode: 'slm-only',
    llmTokens: 0,
    llmTokenShare: 0,
    calls: 0,
    llmUsage: { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
    costUsd: 0,
    llmOnlyCostUsd: null,
    savedUsd: null,
  };
  await store.record('slm:Qwen3-0.6B-ONNX@main', alone);
  await store.record('slm:Qwen3-0.6B-ONNX@main', alone);
  await showSavings(store);
  const page = createdPanels.at(-1)!.webview.html;
  assert.match(page, /All time: 2 answers, 0% of tokens by the LLM;\nall by the small model alone \(no large model, \$0\): nothing was spent/);
  assert.doesNotMatch(page, /price of their model is unknown|whose price is unknown\)/);
  const cells =
    '<td>2</td><td>18</td><td>0%</td><td>0</td><td>$0.00</td><td>not applicable (small model alone)</td><td>not applicable (small model alone)</td><td>0</td></tr>';
  assert.ok(page.includes(`<td>slm:Qwen3-0.6B-ONNX@main</td>${cells}`), 'the model row: $0, no saving, none unpriced');
  assert.ok(page.includes(`<td>slm-only</td>${cells}`), 'the policy row too');
  // Beside a priced answer, that answer's saving is the page's, and the small model's are named apart.
  await store.record('openai-chat:gpt-4o', answerStats({}));
  await showSavings(store);
  assert.match(
    createdPanels.at(-1)!.webview.html,
    /relay cost \$0\.0010 against an estimated \$0\.01 for LLM-only answers: <strong>\$0\.0090 saved<\/strong>\. 2 answers by the small model alone \(no large model, \$0\)\./,
  );
});

test('"Relay: Reset Savings" is in the palette, the command the view\'s link runs (registered once, asking first)', () => {
  const repo = join(__dirname, '..', '..', '..');
  const manifest = JSON.parse(readFileSync(join(repo, 'package.json'), 'utf8'));
  const contributed = manifest.contributes.commands.find((c: { command: string }) => c.command === RESET_COMMAND);
  assert.deepEqual(contributed, { command: 'relay.resetSavings', title: 'Reset Savings', category: 'Relay' });
  assert.match(readFileSync(join(repo, 'src/extension/extension.ts'), 'utf8'), /registerCommand\(RESET_COMMAND,/);
  assert.match(readFileSync(join(repo, 'README.md'), 'utf8'), /\*\*Relay: Reset Savings\*\*/);
});

test('the page says its language and has a title, for a screen reader', () => {
  const html = savingsHtml({ version: 1, days: {} } as never, emptyTotals());
  assert.match(html, /^<!DOCTYPE html><html lang="en">/);
  assert.match(html, /<head>[^]*<title>Relay savings<\/title>[^]*<\/head>/);
});

/** Lets the panel's re-read of the totals (begun by an event, not awaited by anyone) reach it: bounded, by count, not by time. */
async function untilPage(matches: RegExp): Promise<string> {
  const panel = createdPanels.at(-1)!;
  for (let i = 0; i < 2000 && !matches.test(panel.webview.html); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  return panel.webview.html;
}

test('an open savings view follows the totals: an answer recorded and a reset in this window, then what another window writes and removes', async () => {
  const path = join(folder, 'follow', 'totals.json');
  const store = new TotalsStore(path);
  await store.record('m', answerStats({}));
  await showSavings(store);
  const panel = createdPanels.at(-1)!;
  assert.match(panel.webview.html, /All time: 1 answers/);
  const revealed = panel.revealed;

  await store.record('m', answerStats({}));
  assert.match(await untilPage(/All time: 2 answers/), /All time: 2 answers/, 'an answer of this window counts at once');

  answerWarnings('Reset');
  try {
    await resetSavings(store);
  } finally {
    answerWarnings(undefined);
  }
  assert.match(await untilPage(/All time: 0 answers/), /No answers yet\./, 'a reset of this window empties it');

  // Another window (or the relay CLI) writes the same file: VS Code's watcher of it tells this one.
  const otherWindow = new TotalsStore(path);
  await otherWindow.record('m', answerStats({}));
  fileChangedOnDisk(path, 'create');
  assert.match(await untilPage(/All time: 1 answers/), /All time: 1 answers/, "another window's answer counts");
  await otherWindow.reset();
  fileChangedOnDisk(path, 'delete');
  assert.match(await untilPage(/All time: 0 answers/), /No answers yet\./, "another window's reset empties it");
  assert.equal(panel.revealed, revealed, 'followed where it is: not brought to the front');
  assert.equal(createdPanels.at(-1), panel, 'the same panel');
});

test('a savings view shown again reads the totals again (a change its watcher missed), and one closed watches nothing', async () => {
  const path = join(folder, 'shown-again', 'totals.json');
  const store = new TotalsStore(path);
  await showSavings(store);
  const panel = createdPanels.at(-1)!;
  assert.match(panel.webview.html, /All time: 0 answers/);
  panel.setVisible(false);
  // Written by another process, no watcher event.
  await new TotalsStore(path).record('m', answerStats({}));
  panel.setVisible(true);
  assert.match(await untilPage(/All time: 1 answers/), /All time: 1 answers/);

  panel.dispose();
  assert.ok(
    createdFileWatchers.filter((watcher) => watcher.path === path).every((watcher) => watcher.disposed),
    'the file is no longer watched',
  );
});

test('an open savings view whose totals file gets damaged says so in the panel, not in a notification at each change', async () => {
  const path = join(folder, 'damaged-later', 'totals.json');
  const store = new TotalsStore(path);
  await store.record('m', answerStats({}));
  await showSavings(store);
  const errors = questionsAsked.filter((q) => q.api === 'showErrorMessage').length;
  writeFileSync(path, '{"version": 1, "days": {"2026-01-01": {"m": {"answers": "many"}}}}');
  fileChangedOnDisk(path, 'change');
  const html = await untilPage(/is not a relay totals file/);
  assert.match(html, /totals\.json is not a relay totals file \(or it is damaged\); it was left as it is\. .*Move it away to start the totals over/);
  assert.equal(questionsAsked.filter((q) => q.api === 'showErrorMessage').length, errors);
});
