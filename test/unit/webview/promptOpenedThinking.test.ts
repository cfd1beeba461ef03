// An answer whose chat template opened <think> in the prompt (DeepSeek-R1-Distill, Qwen3 *-Thinking-2507):
// it starts inside its reasoning and only writes </think>. The host says so ('thinking-opened', or
// thinkingOpened on the turn); the real app in Chromium then shows the reasoning folded, never as the answer:
// while it streams, when it stops before the close, and when it is restored.
import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import { parseHostMessage } from '../../../src/shared/webviewProtocol';
import { isTurn } from '../../../media/src/view/validate';
import { deliverMessages, NO_BROWSER, startedWebviewPerTest, STATS, type WebviewPage } from './browserPage';

const REASONING = ['Okay, the user asks for 2+3.\n\n', 'Let me check: 2+3 is 5.\n\n', 'So the answer is 5.\n'];
const span = (turnId: string, text: string) => ({ type: 'span', turnId, source: 'slm', text, tokens: 1 });

/** The last answer's rendered blocks, each as "<p> text" or "[Thinking] text" for a folded Thinking; and its streaming tail. */
async function shown(webview: WebviewPage): Promise<{ blocks: string[]; tail: string }> {
  return webview.page.evaluate(() => {
    const turn = [...document.querySelectorAll('article.relay-turn-assistant')].at(-1)!;
    const flat = (text: string | null) => (text ?? '').replace(/\s+/g, ' ').trim();
    const blocks = [...turn.querySelectorAll('.relay-blocks > .relay-block > *')].map((child) => {
      if (child.tagName !== 'DETAILS') return `<${child.tagName.toLowerCase()}> ${flat(child.textContent)}`;
      const summary = child.querySelector('summary')?.textContent ?? '';
      return `[${summary}] ${flat(child.textContent).slice(summary.length).trim()}`;
    });
    return { blocks, tail: turn.querySelector('.relay-tail')?.textContent ?? '' };
  });
}

const ALL_REASONING = '[Thinking] Okay, the user asks for 2+3. Let me check: 2+3 is 5. So the answer is 5.';

/** An answer being written whose prompt opened its thinking, and the reasoning it streamed so far. */
const OPENED_AND_REASONING = [
  { type: 'init', view: 'answer', busy: true, runningTurnId: 'a1', turns: [] },
  { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
  { type: 'thinking-opened', turnId: 'a1' },
  ...REASONING.map((text) => span('a1', text)),
];

describe('an answer whose prompt opened its thinking', { skip: NO_BROWSER }, () => {
  const webview = startedWebviewPerTest('answer');

  it('streams its reasoning as reasoning: no answer paragraph before </think>, then all of it folded', async () => {
    const { page } = webview();
    await deliverMessages(page, OPENED_AND_REASONING);
    const thinking = await shown(webview());
    assert.deepEqual(thinking.blocks, [], 'no reasoning paragraph is frozen as the answer');
    assert.equal(thinking.tail, REASONING.join(''), 'the reasoning streams in the tail');

    await deliverMessages(page, [span('a1', '</think>\n\nThe answer is **5**.\n\n')]);
    assert.deepEqual((await shown(webview())).blocks, [ALL_REASONING, '<p> The answer is 5.'], 'all the reasoning folded, then the answer');

    await deliverMessages(page, [{ type: 'turn-done', turnId: 'a1', stats: STATS }]);
    assert.deepEqual((await shown(webview())).blocks, [ALL_REASONING, '<p> The answer is 5.'], 'finished: the same');
  });

  it('stopped before </think>: its text stays folded as unfinished reasoning, not shown as the answer', async () => {
    const { page } = webview();
    await deliverMessages(page, [...OPENED_AND_REASONING, { type: 'turn-done', turnId: 'a1', stats: { ...STATS, finishReason: 'cancelled' } }]);
    assert.deepEqual((await shown(webview())).blocks, [ALL_REASONING.replace('[Thinking]', '[Thinking (unfinished)]')]);
  });

  it('restored (finished, or still being written when the view opens): read the same way', async () => {
    const { page } = webview();
    const spans = [{ source: 'slm', text: REASONING.join(''), tokens: 3 }];
    await deliverMessages(page, [
      {
        type: 'init',
        view: 'answer',
        busy: true,
        runningTurnId: 'a2',
        turns: [
          { id: 'q1', role: 'user', spans: [{ source: 'slm', text: 'What is 2+3?', tokens: 0 }] },
          { id: 'a1', role: 'assistant', spans, stats: { ...STATS, finishReason: 'budget' }, thinkingOpened: true },
          { id: 'q2', role: 'user', spans: [{ source: 'slm', text: 'Again?', tokens: 0 }] },
          { id: 'a2', role: 'assistant', spans, thinkingOpened: true },
        ],
      },
    ]);
    const [restored, running] = await page.evaluate(() =>
      [...document.querySelectorAll('article.relay-turn-assistant')].map((turn) => ({
        paragraphs: turn.querySelectorAll('.relay-blocks > .relay-block > p').length,
        folded: [...turn.querySelectorAll('.relay-blocks details.relay-thinking')].map((details) => details.textContent?.replace(/\s+/g, ' ').trim()),
        tail: turn.querySelector('.relay-tail')?.textContent ?? '',
      })),
    );
    assert.deepEqual(restored, {
      paragraphs: 0,
      folded: ['Thinking (unfinished) Okay, the user asks for 2+3. Let me check: 2+3 is 5. So the answer is 5.'],
      tail: '',
    });
    assert.deepEqual(running, { paragraphs: 0, folded: [], tail: REASONING.join('') }, 'the running one streams on inside its reasoning');
    await deliverMessages(page, [span('a2', '</think>\n\nFive.\n\n')]);
    const after = await page.evaluate(
      () => [...document.querySelectorAll('article.relay-turn-assistant')][1].querySelector('.relay-blocks')?.textContent?.replace(/\s+/g, ' ').trim() ?? '',
    );
    assert.equal(after, 'Thinking Okay, the user asks for 2+3. Let me check: 2+3 is 5. So the answer is 5. Five.');
  });
});

test("the host's word is checked: a flag that is not a boolean refuses the turn, a 'thinking-opened' without its turn is refused", () => {
  const turn = { id: 'a1', role: 'assistant', spans: [] };
  assert.equal(isTurn({ ...turn, thinkingOpened: true }), true);
  assert.equal(isTurn({ ...turn, thinkingOpened: 'yes' }), false);
  assert.deepEqual(parseHostMessage({ type: 'thinking-opened', turnId: 'a1' }), { type: 'thinking-opened', turnId: 'a1' });
  assert.equal(parseHostMessage({ type: 'thinking-opened' }), undefined);
});
