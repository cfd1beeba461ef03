// A usage Relay capped (the server reported more output than one call can write: Usage.outputCapped)
// is explained as capped, never as "the server reported no usage": in the LLM span's hover, the
// stats strip and its hints, and the message that carries a call's figures to the view. Pure
// formatting under Node, then the app in Chromium (browserPage.ts) as the host feeds it.
import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { llmSpanTitle, USAGE_CAPPED, statItems, USAGE_ESTIMATED } from '../../../media/src/view/format';
import { isTurn } from '../../../media/src/view/validate';
import { parseHostMessage, type SpanView, type StatsView } from '../../../src/shared/webviewProtocol';
import { deliverMessages, NO_BROWSER, startedWebviewPerTest, STATS as PAGE_STATS } from './browserPage';

const CAPPED_HOVER = '(output capped: the server reported more than one call can write)';
const UNREPORTED_HOVER = '(estimated: the server reported no usage)';

const SPAN: SpanView = { source: 'llm', text: ' Paris', tokens: 1, model: 'gpt-4o', calls: 1, costUsd: 1.5, cachedShare: 0 };
const STATS: StatsView = {
  slmTokens: 30,
  llmTokens: 1,
  llmTokenShare: 1 / 31,
  calls: 1,
  costUsd: 1.5,
  llmOnlyCostUsd: 0.001,
  savedUsd: -1.499,
  elapsedMs: 900,
  finishReason: 'eos',
};

test("a capped span's hover says the output was capped, not that no usage was reported", () => {
  // The host sends both flags for a capped call (a capped usage is estimated too).
  const capped = llmSpanTitle({ ...SPAN, usageEstimated: true, outputCapped: true });
  assert.ok(capped.endsWith(`$1.50 ${CAPPED_HOVER}`), capped);
  assert.doesNotMatch(capped, /reported no usage/);
  assert.ok(llmSpanTitle({ ...SPAN, usageEstimated: true }).endsWith(`$1.50 ${UNREPORTED_HOVER}`), 'usage not reported keeps its words');
});

test('the stats strip marks a capped cost as such, and its hints explain the cap, not a missing report', () => {
  const items = (stats: StatsView) => Object.fromEntries(statItems(stats).map((item) => [item.label, item]));
  const capped = items({ ...STATS, usageEstimated: true, outputCapped: true });
  assert.equal(capped.Cost.value, '$1.50 est. (output capped)');
  assert.ok(capped.Cost.hint.endsWith(`. ${USAGE_CAPPED}`), capped.Cost.hint);
  assert.ok(capped.Loss.hint.endsWith(` ${USAGE_CAPPED}.`), capped.Loss.hint);
  for (const item of [capped.Cost, capped.Loss]) assert.ok(!item.hint.includes(USAGE_ESTIMATED), item.hint);
  assert.match(USAGE_CAPPED, /reported more output tokens than one call can write/);

  const counted = items({ ...STATS, usageEstimated: true });
  assert.equal(counted.Cost.value, '$1.50 est.', 'usage not reported keeps its words');
  assert.ok(counted.Cost.hint.endsWith(`. ${USAGE_ESTIMATED}`));
  assert.equal(items({ ...STATS, usageEstimated: true, outputCapped: true, costUsd: null }).Cost.value, 'unknown', 'no price: no estimate to mark');
});

test("a call's figures carry whether its output was capped, and a value that is no boolean is refused", () => {
  const figures = { type: 'call-figures', turnId: 't', durationMs: 400, calls: 1, costUsd: 1.5, usageEstimated: true, outputCapped: true };
  assert.deepEqual(parseHostMessage(figures), figures);
  assert.equal(parseHostMessage({ ...figures, outputCapped: 'yes' }), undefined);
  const turn = { id: 'a1', role: 'assistant', spans: [{ ...SPAN, usageEstimated: true, outputCapped: true }] };
  assert.ok(isTurn(turn), 'a saved turn keeps the flag on its span');
  assert.equal(isTurn({ ...turn, spans: [{ ...SPAN, outputCapped: 1 }] }), false);
});

describe("the answer view's hover of a capped call", { skip: NO_BROWSER }, () => {
  const webview = startedWebviewPerTest('answer');

  it('says the output was capped once the call ends, and still after the answer finishes', async () => {
    const deliver = (...messages: unknown[]): Promise<void> => deliverMessages(webview().page, messages);
    const mark = () => webview().page.locator('article.relay-turn-assistant .relay-llm').last();
    await deliver(
      { type: 'init', view: 'answer', busy: true, turns: [] },
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'The capital is', tokens: 3 },
      { type: 'span', turnId: 'a1', source: 'llm', text: ' Paris', tokens: 1, model: 'gpt-4o', host: 'https://api.openai.com' },
      { type: 'call-figures', turnId: 'a1', durationMs: 400, calls: 1, costUsd: 1.5, usageEstimated: true, outputCapped: true },
    );
    const title = `Written by gpt-4o at https://api.openai.com · 1 token · 400 ms · $1.50 ${CAPPED_HOVER}`;
    assert.equal(await mark().getAttribute('title'), title);
    await deliver({ type: 'span', turnId: 'a1', source: 'slm', text: '.', tokens: 1 }, { type: 'turn-done', turnId: 'a1', stats: PAGE_STATS });
    assert.equal(await mark().getAttribute('title'), title);
  });
});
