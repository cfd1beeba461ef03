// The status bar never claims a saving that did not happen: a session whose answers cost
// more than the LLM alone says so, an answer the LLM wrote whole saves nothing, an unknown
// price is unknown; the demo's estimate is shown the same way. Driven through the VS Code
// stub's status bar item, as the extension creates it.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, test } from 'node:test';
import type { AnswerStats } from '../../../src/core/relay/events';
import { createdFileWatchers, createdStatusBarItems, fileChangedOnDisk, ThemeColor, useVscodeStub } from './vscodeStub';
useVscodeStub();
import { DEMO_MODEL_NOTE } from '../../../src/extension/demo/demoPlan';
import { TotalsStore } from '../../../src/core/relay/totalsStore';

// Loaded after the stub is in place (it imports 'vscode').
const { RelayStatusBar, addToSession, emptySession, formatUsd, sessionSavingText } =
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('../../../src/extension/statusBar') as typeof import('../../../src/extension/statusBar');

function stats(savedUsd: number | null, extra: Partial<AnswerStats> = {}): AnswerStats {
  return {
    mode: 'money-aware',
    slmTokens: 95,
    llmTokens: 5,
    llmTokenShare: 0.05,
    calls: 2,
    llmUsage: { inputTokens: 400, outputTokens: 5, cachedInputTokens: 300, cacheWriteTokens: 0, estimated: false },
    costUsd: savedUsd === null ? null : 0.005,
    llmOnlyCostUsd: savedUsd === null ? null : 0.005 + savedUsd,
    savedUsd,
    elapsedMs: 800,
    finishReason: 'eos',
    ...extra,
  };
}

let bar: InstanceType<typeof RelayStatusBar>;
const item = () => createdStatusBarItems.at(-1)!;

beforeEach(() => {
  bar = new RelayStatusBar();
});

test('a saving is shown as saved; a session whose total is negative says it cost more, never "-$" saved', () => {
  bar.recordAnswer(stats(0.0123));
  assert.equal(item().text, '$(pulse) Relay 5.0% LLM · $0.01 saved');
  bar.recordAnswer(stats(-0.0163, { declinedCalls: 3 }));
  assert.equal(item().text, '$(pulse) Relay 5.0% LLM · cost $0.0040 more than the LLM alone');
  assert.doesNotMatch(item().text, /saved|-\$|\$-/);
  const tooltip = item().tooltip ?? '';
  assert.match(
    tooltip,
    /^Last answer: 5 of 100 tokens by the LLM \(5\.0%\), 2 call\(s\), 3 skipped \(over the cost ceilings\); cost \$0\.02 more than the LLM alone\.$/m,
  );
  assert.match(tooltip, /^This session: 5\.0% of 200 tokens by the LLM; cost \$0\.0040 more than the LLM alone \(estimate against LLM-only answers\)\.$/m);
  assert.match(tooltip, /per day, model and policy/);
});

test('a failed answer saves nothing: what it cost is a loss; an answer the LLM wrote whole saves nothing', () => {
  bar.recordAnswer(stats(-0.0005, { finishReason: 'error', llmOnlyCostUsd: 0.0001 }));
  assert.equal(item().text, '$(pulse) Relay 5.0% LLM · cost $0.0005 more than the LLM alone');

  const llmOnly = new RelayStatusBar();
  llmOnly.recordAnswer(stats(0, { mode: 'llm-only', slmTokens: 0, llmTokens: 40, llmTokenShare: 1 }));
  assert.equal(item().text, '$(pulse) Relay 100% LLM · no saving (the LLM wrote it all)');
  assert.match(item().tooltip ?? '', /2 call\(s\); no saving \(the LLM wrote it all\)\./);
  // Routed there by the random router: the same.
  assert.equal(sessionSavingText(addToSession(emptySession(), stats(0, { mode: 'random-router', routedTo: 'llm' }))), 'no saving (the LLM wrote it all)');
  // Once a relayed answer saved something, the session's saving is real money again.
  llmOnly.recordAnswer(stats(0.02));
  // The share is the session's too (45 of 140 tokens), as the money is: not the last answer's 5.0% beside the session's saving.
  assert.equal(item().text, '$(pulse) Relay 32.1% LLM · $0.02 saved');
  assert.match(item().tooltip ?? '', /^Last answer: 5 of 100 tokens by the LLM \(5\.0%\)/m);
});

test('unknown prices are unknown, and only priced answers add up', () => {
  bar.recordAnswer(stats(null));
  assert.equal(item().text, '$(pulse) Relay 5.0% LLM · saved: unknown price');
  bar.recordAnswer(stats(-0.002));
  assert.equal(item().text, '$(pulse) Relay 5.0% LLM · cost $0.0020 more than the LLM alone');
  assert.match(item().tooltip ?? '', /1 answer\(s\) without a price are not counted\./);
});

test('answers the small model wrote alone (relay.localOnly, relay.mode slm-only) cost $0 and are no unknown price; they are named apart from priced ones', () => {
  // As the engine gives them: no call, $0, no LLM-alone figure (compose built no LLM, so no price).
  const alone = stats(null, { mode: 'slm-only', calls: 0, llmTokens: 0, llmTokenShare: 0, costUsd: 0 });
  bar.recordAnswer(alone);
  assert.equal(item().text, '$(pulse) Relay 0% LLM · small model alone, $0');
  const tooltip = item().tooltip ?? '';
  assert.match(tooltip, /^Last answer: 0 of 95 tokens by the LLM \(0%\), 0 call\(s\); small model alone, \$0 \(no large model was called\)\.$/m);
  assert.match(tooltip, /^This session: 0% of 95 tokens by the LLM; small model alone, \$0\.$/m, 'no estimate against the LLM alone is claimed');
  assert.doesNotMatch(tooltip, /unknown|no price/);
  // A priced answer after it: its saving is the session's, and the small model's answer is named apart.
  bar.recordAnswer(stats(0.0123));
  assert.equal(item().text, '$(pulse) Relay 2.6% LLM · $0.01 saved');
  assert.match(item().tooltip ?? '', /\(estimate against LLM-only answers\)\. 1 answer\(s\) by the small model alone \(\$0\) are not counted\.$/m);
  assert.equal(
    sessionSavingText(addToSession(addToSession(emptySession(), alone), stats(null))),
    'saved: unknown price',
    'an unpriced answer beside it is still unknown',
  );
});

test("the demo's estimate is shown the same way, and never added to the session", () => {
  bar.recordDemoAnswer(stats(0.00044, { mode: 'command' }), 'gpt-4o');
  assert.equal(item().text, '$(beaker) Relay demo 5.0% LLM · $0.0004 saved (est.)');
  bar.recordDemoAnswer(stats(-0.00044, { mode: 'command' }), 'gpt-4o');
  assert.equal(item().text, '$(beaker) Relay demo 5.0% LLM · cost $0.0004 more than the LLM alone (est.)');
  bar.recordAnswer(stats(0.01));
  assert.equal(item().text, '$(pulse) Relay 5.0% LLM · $0.01 saved', 'the demo answers are not in the session');
});

test('USD in the status bar: the sign in front, tiny amounts not rounded to zero', () => {
  assert.equal(formatUsd(-0.004), '-$0.0040');
  assert.equal(formatUsd(0.42), '$0.42');
  assert.equal(formatUsd(0), '$0.00');
  assert.equal(formatUsd(0.00001), 'under $0.0001');
  assert.equal(formatUsd(null), 'unknown');
});

test('an llm-only answer that failed is no LLM-only answer: what it cost is a loss', () => {
  bar.recordAnswer(stats(-0.002, { mode: 'llm-only', finishReason: 'error' }));
  assert.equal(item().text, '$(pulse) Relay 5.0% LLM · cost $0.0020 more than the LLM alone');
  const unpricedLlmOnly = new RelayStatusBar();
  unpricedLlmOnly.recordAnswer(stats(null, { mode: 'llm-only' }));
  assert.match(item().tooltip ?? '', /; no saving \(the LLM wrote it all\)\./, 'the LLM-only answer saves nothing, price or not');
});

test('the session sum carries no floating-point leftovers: +0.1, +0.2 and -0.3 saved is no saving, not "under $0.0001 saved"', () => {
  const session = [0.1, 0.2, -0.3].reduce((s, saved) => addToSession(s, stats(saved)), emptySession());
  assert.equal(sessionSavingText(session), 'no saving');
});

test('while an answer runs the bar says so, whatever set-up changes or totals come in; the warning and totals show once it ends', () => {
  bar.setBusy('answer-view');
  assert.equal(item().text, '$(loading~spin) Relay: answering…');
  // Set API Key, Select Model or a relay.* setting changed mid-answer.
  bar.setWarning('No API key for the LLM.');
  assert.equal(item().text, '$(loading~spin) Relay: answering…');
  assert.match(item().tooltip ?? '', /run "Relay: Stop" to stop it\./);
  assert.equal(item().backgroundColor, undefined);
  bar.recordAnswer(stats(0.0123));
  bar.recordDemoAnswer(stats(0.00044, { mode: 'command' }), 'gpt-4o');
  assert.equal(item().text, '$(loading~spin) Relay: answering…');
  bar.setBusy(undefined);
  // The demo answer came last: it is shown, what set-up still lacks in front of it, and a click goes to the walkthrough.
  assert.equal(item().text, '$(warning) Relay: set up · demo 5.0% LLM · $0.0004 saved (est.)');
  assert.match(item().tooltip ?? '', /For your own questions: No API key for the LLM\.\nClick to open the set-up walkthrough\.$/);
  assert.deepEqual(item().backgroundColor, new ThemeColor('statusBarItem.warningBackground'));
  assert.equal((item().command as { command?: string } | undefined)?.command, 'workbench.action.openWalkthrough');

  const plain = new RelayStatusBar();
  plain.setBusy('chat-view');
  plain.setWarning('No API key for the LLM.');
  assert.equal(item().text, '$(loading~spin) Relay: answering…');
  plain.setBusy(undefined);
  assert.equal(item().text, '$(warning) Relay: set up');
  assert.equal(item().tooltip, 'No API key for the LLM.\nClick to open the set-up walkthrough.', 'the warning names its own fix');
});

test('while the answer waits on a model\'s load the bar says "loading model…", the model in its tooltip; "answering…" once it is loaded', () => {
  bar.setBusy('answer-view');
  bar.setLoading({ model: 'small', name: 'Qwen3-0.6B' });
  assert.equal(item().text, '$(loading~spin) Relay: loading model…');
  assert.equal(
    item().tooltip,
    'Loading the small model (Qwen3-0.6B)…\nThe answer is written in the answer view once it is loaded. Click to show it there; run "Relay: Stop" to stop it.',
  );
  bar.setLoading(undefined);
  assert.equal(item().text, '$(loading~spin) Relay: answering…');
  // A restart of a large model's process, for @relay; the answer stopped meanwhile: the bar is back to the totals.
  bar.setBusy('vscode-chat');
  bar.setLoading({ model: 'large', name: 'Qwen3-8B', restarting: true });
  assert.equal(item().text, '$(loading~spin) Relay: loading model…');
  assert.match(item().tooltip ?? '', /^Restarting the large model \(Qwen3-8B\)…\nThe answer is written for @relay in VS Code's Chat once it is loaded\./);
  bar.setBusy(undefined);
  assert.equal(item().text, '$(pulse) Relay: idle');
  bar.setBusy('chat-view');
  assert.equal(item().text, '$(loading~spin) Relay: answering…', 'the next answer waits on no load until one is told');
  // A load told after the answer ended (a late tick) is not shown.
  bar.setBusy(undefined);
  bar.setLoading({ model: 'small', name: 'Qwen3-0.6B' });
  assert.equal(item().text, '$(pulse) Relay: idle');
});

/** The walkthrough's id as VS Code forms it: package.json's publisher.name, then its walkthrough. */
function walkthroughId(): string {
  const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8'));
  return `${manifest.publisher}.${manifest.name}#${manifest.contributes.walkthroughs[0].id}`;
}

test('while set-up is missing a click opens the set-up walkthrough (the savings view would be empty); once it is done, the savings', () => {
  const openWalkthrough = { command: 'workbench.action.openWalkthrough', title: 'Set Up Relay', arguments: [walkthroughId(), false] };
  bar.setWarning('No API key for openai-chat at https://api.openai.com: run "Relay: Set API Key".');
  assert.equal(item().text, '$(warning) Relay: set up');
  assert.deepEqual(item().command, openWalkthrough);
  assert.deepEqual(item().backgroundColor, new ThemeColor('statusBarItem.warningBackground'));

  // The embedded demo model is no fault: said without the warning colour, the click still leads to a model of one's own.
  bar.setWarning(DEMO_MODEL_NOTE);
  assert.equal(item().text, '$(info) Relay: demo model');
  assert.equal(item().tooltip, `${DEMO_MODEL_NOTE}\nClick to open the set-up walkthrough.`);
  assert.equal(item().backgroundColor, undefined);
  assert.deepEqual(item().command, openWalkthrough);

  bar.setWarning(undefined);
  assert.equal(item().text, '$(pulse) Relay: idle');
  assert.equal(item().command, 'relay.showSavings');
  bar.recordAnswer(stats(0.0123));
  assert.equal(item().command, 'relay.showSavings');
  // A demo answer on the demo model: its estimate shown without the warning colour; a click still leads to a model of one's own.
  bar.setWarning(DEMO_MODEL_NOTE);
  bar.recordDemoAnswer(stats(0.00044, { mode: 'command' }), 'gpt-4o');
  assert.equal(item().text, '$(beaker) Relay demo 5.0% LLM · $0.0004 saved (est.)');
  assert.equal(item().backgroundColor, undefined);
  assert.deepEqual(item().command, openWalkthrough);
  // Once set-up is done, a click shows the savings, as its tooltip says.
  bar.setWarning(undefined);
  assert.equal(item().command, 'relay.showSavings');
  assert.match(item().tooltip ?? '', /Click to show savings per day, model and policy\.$/);
});

test('a reset of the totals in this window starts the session over: no saving left that the savings view no longer holds', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'relay-status-reset-'));
  try {
    const totals = new TotalsStore(join(folder, 'totals.json'));
    const following = bar.followResets(totals);
    bar.recordAnswer(stats(0.42));
    assert.equal(item().text, '$(pulse) Relay 5.0% LLM · $0.42 saved');
    await totals.reset();
    assert.equal(item().text, '$(pulse) Relay: idle');
    assert.equal(item().command, 'relay.showSavings');
    bar.recordAnswer(stats(0.01));
    assert.equal(item().text, '$(pulse) Relay 5.0% LLM · $0.01 saved', 'the answers after it make the new session');
    following.dispose();
    await totals.reset();
    assert.equal(item().text, '$(pulse) Relay 5.0% LLM · $0.01 saved', 'no longer followed');
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test("another window's reset of the totals starts this window's session over too; a write reported as a change does not", async () => {
  const folder = mkdtempSync(join(tmpdir(), 'relay-status-reset-elsewhere-'));
  try {
    const path = join(folder, 'totals.json');
    const here = new TotalsStore(path);
    const otherWindow = new TotalsStore(path);
    const following = bar.followResets(here);
    bar.recordAnswer(stats(0.42));
    await otherWindow.record('openai/gpt-4o', stats(0.42));
    // The other window's write (a rename over the file) as the watcher may report it: the file is there, nothing starts over.
    fileChangedOnDisk(path, 'delete');
    fileChangedOnDisk(path, 'change');
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(item().text, '$(pulse) Relay 5.0% LLM · $0.42 saved');
    await otherWindow.reset();
    fileChangedOnDisk(path, 'delete');
    for (let tries = 0; tries < 200 && item().text !== '$(pulse) Relay: idle'; tries++) await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(item().text, '$(pulse) Relay: idle');
    following.dispose();
    assert.ok(
      createdFileWatchers.filter((watcher) => watcher.path === path).every((watcher) => watcher.disposed),
      'the watcher goes with it',
    );
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('a small share of the LLM is not said as none: "0.02% LLM" beside what it cost, never "0.0%"', () => {
  bar.recordAnswer(stats(-0.0001, { slmTokens: 4999, llmTokens: 1, llmTokenShare: 1 / 5000 }));
  assert.equal(item().text, '$(pulse) Relay 0.02% LLM · cost $0.0001 more than the LLM alone');
  assert.match(item().tooltip ?? '', /^Last answer: 1 of 5000 tokens by the LLM \(0\.02%\)/m);
});
