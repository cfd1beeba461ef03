// The demo in the answer view (media/src) in Chromium, fed host messages as VS Code
// delivers them: a demo answer says what it is in one line with its link, shows its check
// once known, offers "Ask another", "Compare with the small model alone" and "Set up a
// real model" (posting typed 'demo' messages), puts the small model alone beside it, and
// hides the set-up banner under a demo answer only. Plus the protocol's demo messages,
// validated both ways.
import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { parseHostMessage, parseWebviewMessage, type ChatTurnView } from '../../../src/shared/webviewProtocol';
import { isTurn } from '../../../media/src/view/validate';
import { demoResultLine } from '../../../media/src/view/format';
import { deliverMessages, NO_BROWSER, startedWebviewPerTest } from './browserPage';

const STATS = {
  slmTokens: 54,
  llmTokens: 2,
  llmTokenShare: 0.0357,
  calls: 2,
  costUsd: 0.00015,
  llmOnlyCostUsd: 0.000315,
  savedUsd: 0.000165,
  elapsedMs: 190,
  finishReason: 'eos',
  priceNote: 'the local LLM priced as gpt-4o, @pydantic/genai-prices of 2026-09-23',
};
const DEMO = { kind: 'relay' as const, question: '33*4+29=?', reference: '161', priceModel: 'gpt-4o' };
const RELAY_TURN: ChatTurnView = {
  id: 'd1',
  role: 'assistant',
  spans: [
    { source: 'slm', text: '33*4=1', tokens: 6 },
    { source: 'llm', text: '3', tokens: 1, model: 'relay-demo-llm (local, priced as gpt-4o)', host: 'this machine' },
    { source: 'slm', text: '2. 132+29=151. A: 151', tokens: 20 },
  ],
  demo: DEMO,
};

test('protocol: the demo messages pass both ways, reduced to their fields; malformed ones are refused', () => {
  for (const action of ['another', 'setup', 'paper-table'] as const)
    assert.deepEqual(parseWebviewMessage({ type: 'demo', action, turnId: 'ignored' }), { type: 'demo', action });
  assert.deepEqual(parseWebviewMessage({ type: 'demo', action: 'compare', turnId: 'd1' }), { type: 'demo', action: 'compare', turnId: 'd1' });
  for (const bad of [
    { type: 'demo' },
    { type: 'demo', action: 'run-command' },
    { type: 'demo', action: 'compare' },
    { type: 'demo', action: 'compare', turnId: 'x'.repeat(201) },
  ]) {
    assert.equal(parseWebviewMessage(bad), undefined, JSON.stringify(bad));
  }
  const result = { type: 'demo-result', turnId: 'd1', result: { answer: '161', correct: true } };
  assert.deepEqual(parseHostMessage(result), result);
  assert.deepEqual(parseHostMessage({ type: 'demo-result', turnId: 'd1', result: { answer: null, correct: false } }), {
    type: 'demo-result',
    turnId: 'd1',
    result: { answer: null, correct: false },
  });
  for (const bad of [
    { type: 'demo-result', turnId: 'd1' },
    { type: 'demo-result', turnId: 'd1', result: { answer: 161, correct: true } },
    { type: 'demo-result', turnId: 'd1', result: { answer: '161', correct: 'yes' } },
    { type: 'demo-result', result: { answer: '161', correct: true } },
  ]) {
    assert.equal(parseHostMessage(bad), undefined, JSON.stringify(bad));
  }
  assert.ok(isTurn(RELAY_TURN));
  assert.ok(isTurn({ ...RELAY_TURN, demo: { ...DEMO, kind: 'slm-only', pairOf: 'd1', result: { answer: '151', correct: false } } }));
  for (const demo of [{ ...DEMO, kind: 'llm-only' }, { ...DEMO, question: 7 }, { ...DEMO, pairOf: 3 }, { ...DEMO, result: { answer: '1' } }, 'demo']) {
    assert.equal(isTurn({ ...RELAY_TURN, demo }), false, JSON.stringify(demo));
  }
});

test('the check line says the answer, right or wrong, and the sum', () => {
  assert.deepEqual(demoResultLine({ ...DEMO, result: { answer: '161', correct: true } }), { text: '161: correct (33*4+29 = 161)', correct: true });
  assert.deepEqual(demoResultLine({ ...DEMO, result: { answer: '151', correct: false } }), { text: '151: wrong (33*4+29 = 161)', correct: false });
  assert.deepEqual(demoResultLine({ ...DEMO, result: { answer: null, correct: false } }), { text: 'No final answer (33*4+29 = 161)', correct: false });
});

describe('the demo in the answer view', { skip: NO_BROWSER }, () => {
  const webview = startedWebviewPerTest('answer');

  const deliver = (...messages: unknown[]): Promise<void> => deliverMessages(webview().page, messages);

  const page = () => webview().page;
  const warning = 'No LLM model is set: set relay.provider.model in Settings (or turn on relay.localOnly).';

  it('a demo answer: its title and one line with the link, the LLM span marked, then the check and the three buttons', async () => {
    await deliver(
      { type: 'init', view: 'answer', busy: true, turns: [], setupWarning: warning },
      { type: 'turn-start', turn: { id: 'u1', role: 'user', spans: [{ source: 'slm', text: '33*4+29=?', tokens: 0 }] } },
      { type: 'turn-start', turn: { id: 'd1', role: 'assistant', spans: [], demo: DEMO } },
      { type: 'span', turnId: 'd1', source: 'slm', text: '33*4=1', tokens: 6 },
      { type: 'span', turnId: 'd1', source: 'llm', text: '3', tokens: 1, model: 'relay-demo-llm (local, priced as gpt-4o)', host: 'this machine' },
    );
    const turn = page().locator('article.relay-turn-demo.relay-demo-relay');
    assert.equal(await turn.locator('.relay-who').innerText(), 'Relay demo: small model + large model');
    const note = await turn.locator('.relay-demo-note').innerText();
    assert.match(note, /^A toy pair on one task \(a\*b\+c=\?\).*priced as if it were gpt-4o, so the costs are estimates\. The paper's table, in miniature$/);
    assert.equal(await page().locator('.relay-banner').isVisible(), false, 'no set-up banner above a demo answer');
    assert.equal(await turn.locator('.relay-actions').count(), 0, 'no buttons while it streams');

    await deliver(
      { type: 'span', turnId: 'd1', source: 'slm', text: '2. 132+29=161. A: 161', tokens: 20 },
      { type: 'turn-done', turnId: 'd1', stats: STATS },
      { type: 'busy', busy: false },
      { type: 'demo-result', turnId: 'd1', result: { answer: '161', correct: true } },
    );
    assert.deepEqual(await turn.locator('.relay-body .relay-llm').allInnerTexts(), ['3']);
    assert.match(await turn.locator('.relay-stats').innerText(), /Saved\s*\$0\.00016 est\. \(the local LLM priced as gpt-4o/);
    assert.equal(await turn.locator('.relay-demo-result.relay-demo-correct').innerText(), '161: correct (33*4+29 = 161)');
    assert.deepEqual(await turn.locator('.relay-actions button').allInnerTexts(), [
      'Ask another',
      'Compare with the small model alone',
      'Set up a real model',
      'Copy',
      'Insert at cursor',
    ]);
    assert.equal(await page().locator('.relay-chart').isVisible(), false, "the demo's estimates are not this session's costs");

    await turn.locator('.relay-demo-note button', { hasText: "The paper's table" }).click();
    for (const label of ['Ask another', 'Compare with the small model alone', 'Set up a real model'])
      await turn.locator('.relay-actions button', { hasText: label }).click();
    assert.deepEqual((await webview().posted()).slice(1), [
      { type: 'demo', action: 'paper-table' },
      { type: 'demo', action: 'another' },
      { type: 'demo', action: 'compare', turnId: 'd1' },
      { type: 'demo', action: 'setup' },
    ]);
  });

  it('the small model alone goes beside the answer it is compared with, which then offers no second comparison; a restored pair too', async () => {
    const done = { ...RELAY_TURN, stats: STATS, demo: { ...DEMO, result: { answer: '161', correct: true } } };
    await deliver(
      { type: 'init', view: 'answer', busy: false, turns: [{ id: 'u1', role: 'user', spans: [{ source: 'slm', text: '33*4+29=?', tokens: 0 }] }, done] },
      { type: 'turn-start', turn: { id: 's1', role: 'assistant', spans: [], demo: { ...DEMO, kind: 'slm-only', pairOf: 'd1' } } },
      { type: 'span', turnId: 's1', source: 'slm', text: '33*4=132. 132+29=151. A: 151', tokens: 28 },
      { type: 'turn-done', turnId: 's1', stats: { ...STATS, llmTokens: 0, calls: 0, costUsd: null, llmOnlyCostUsd: null, savedUsd: null } },
      { type: 'demo-result', turnId: 's1', result: { answer: '151', correct: false } },
    );
    const check = async (when: string) => {
      const pair = page().locator('.relay-demo-pair');
      assert.equal(await pair.count(), 1, when);
      assert.deepEqual(await pair.locator('> article .relay-who').allInnerTexts(), ['Relay demo: small model + large model', 'Small model alone'], when);
      const alone = pair.locator('article.relay-demo-slm-only');
      assert.equal(await alone.locator('.relay-llm').count(), 0, when);
      assert.equal(await alone.locator('.relay-demo-result.relay-demo-wrong').innerText(), '151: wrong (33*4+29 = 161)', when);
      assert.equal(await alone.locator('.relay-actions button', { hasText: 'Ask another' }).count(), 0, when);
      assert.equal(await pair.locator('button', { hasText: 'Compare with the small model alone' }).count(), 0, `no second comparison ${when}`);
      assert.equal(await pair.locator('article.relay-demo-relay button', { hasText: 'Ask another' }).count(), 1, when);
    };
    await check('after the comparison');
    // The small model alone is the reference, with no LLM to save against: its stats say nothing of savings (not "unknown").
    const terms = (kind: string) => page().locator(`.relay-demo-pair article.relay-demo-${kind} .relay-stats dt`).allInnerTexts();
    assert.ok((await terms('relay')).includes('Saved'));
    const alone = await terms('slm-only');
    assert.ok(alone.includes('Cost') && !alone.includes('Saved') && !alone.includes('Loss'), alone.join(', '));
    await deliver({
      type: 'init',
      view: 'answer',
      busy: false,
      turns: [
        { id: 'u1', role: 'user', spans: [{ source: 'slm', text: '33*4+29=?', tokens: 0 }] },
        done,
        {
          id: 's1',
          role: 'assistant',
          spans: [{ source: 'slm', text: '33*4=132. 132+29=151. A: 151', tokens: 28 }],
          demo: { ...DEMO, kind: 'slm-only', pairOf: 'd1', result: { answer: '151', correct: false } },
        },
      ],
    });
    await check('after a reload');
  });

  it('the set-up banner is back under the next answer that is not the demo', async () => {
    await deliver({ type: 'init', view: 'answer', busy: false, turns: [{ ...RELAY_TURN, stats: STATS }], setupWarning: warning });
    assert.equal(await page().locator('.relay-banner').isVisible(), false);
    assert.equal(await page().locator('article button', { hasText: 'Retry' }).count(), 0, 'a greedy demo answer has no Retry: "Ask another" is its way on');
    await deliver(
      { type: 'turn-start', turn: { id: 'u2', role: 'user', spans: [{ source: 'slm', text: 'What is 2+2?', tokens: 0 }] } },
      { type: 'turn-start', turn: { id: 'a2', role: 'assistant', spans: [] } },
    );
    assert.equal(await page().locator('.relay-banner').isVisible(), true);
    assert.match(await page().locator('.relay-banner').innerText(), /No LLM model is set/);
  });
});
