// Accessibility of the webview app (media/src/app.ts) in Chromium: what a screen-reader,
// keyboard-only or high-contrast user gets. The large model's text is named as such (not
// by colour and hover alone), its hover details are reachable by keyboard, focus is never
// lost to the body when a button it sat on turns off, and the end of an answer is said once.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, describe, it } from 'node:test';
import { closeBrowser, deliverMessages, NO_BROWSER, openWebviewPage, STATS, type WebviewPage } from './browserPage';

const CSS = readFileSync(join(__dirname, '..', '..', '..', 'media', 'styles', 'relay.css'), 'utf8');

describe('accessibility of the webview app', { skip: NO_BROWSER }, () => {
  let webview: WebviewPage;

  async function open(view: 'chat' | 'answer'): Promise<void> {
    webview = await openWebviewPage(view);
    await webview.page.addStyleTag({ content: CSS });
    await webview.page.evaluate(() => (window as any).relayWebview.startApp());
    await deliver({ type: 'init', view, busy: false, turns: [] });
  }
  afterEach(async () => {
    await webview?.close();
  });
  after(closeBrowser);

  const deliver = (...messages: unknown[]): Promise<void> => deliverMessages(webview.page, messages);
  const focused = () =>
    webview.page.evaluate(() => {
      const active = document.activeElement;
      return active ? `${active.tagName.toLowerCase()}${active.id ? `#${active.id}` : ''}:${(active.textContent ?? '').trim()}` : 'none';
    });

  it("names the large model's text for a screen reader, while streaming and once rendered", async () => {
    await open('chat');
    await deliver(
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'It is ', tokens: 2 },
      { type: 'span', turnId: 'a1', source: 'llm', text: 'five', tokens: 1, model: 'big-model' },
    );
    const marks = () =>
      webview.page.locator('.relay-llm').evaluateAll((elements) => elements.map((e) => [e.getAttribute('role'), e.getAttribute('aria-roledescription')]));
    assert.deepEqual(await marks(), [['mark', 'large model']], 'the streaming tail');
    await deliver({ type: 'span', turnId: 'a1', source: 'slm', text: '.\n\nDone', tokens: 2 });
    assert.deepEqual(await marks(), [['mark', 'large model']], 'a frozen block');
    await deliver({ type: 'turn-done', turnId: 'a1', stats: STATS });
    assert.deepEqual(await marks(), [['mark', 'large model']], 'the finished answer');
  });

  it('lists the parts the large model wrote, with their hover details, in a disclosure a keyboard reaches', async () => {
    await open('chat');
    await deliver({
      type: 'init',
      view: 'chat',
      busy: false,
      turns: [
        {
          id: 'a1',
          role: 'assistant',
          spans: [
            { source: 'slm', text: 'It is ', tokens: 2 },
            { source: 'llm', text: 'five', tokens: 1, model: 'big-model' },
            { source: 'slm', text: ' and ', tokens: 1 },
            { source: 'llm', text: 'six', tokens: 2, model: 'big-model' },
          ],
          stats: STATS,
        },
        { id: 'a2', role: 'assistant', spans: [{ source: 'slm', text: 'All mine', tokens: 2 }], stats: STATS },
      ],
    });
    const summary = webview.page.locator('.relay-llm-summary > summary');
    assert.equal(await summary.count(), 1, 'only under an answer with LLM text');
    assert.equal(await summary.innerText(), 'Written by the large model: 2 parts');
    await summary.focus();
    await webview.page.keyboard.press('Enter');
    assert.equal(await webview.page.locator('.relay-llm-summary').evaluate((details) => (details as HTMLDetailsElement).open), true, 'Enter opens it');
    assert.deepEqual(await webview.page.locator('.relay-llm-summary li').allInnerTexts(), [
      'five: Written by big-model · 1 token',
      'six: Written by big-model · 2 tokens',
    ]);
  });

  it('says once that an answer started and finished, in a polite status outside the log', async () => {
    await open('chat');
    const status = webview.page.locator('.relay-announcer');
    assert.equal(await status.getAttribute('role'), 'status');
    await deliver({ type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } });
    assert.equal(await status.textContent(), 'Relay is answering…');
    await deliver({ type: 'span', turnId: 'a1', source: 'slm', text: 'It is five', tokens: 3 });
    assert.equal(await status.textContent(), 'Relay is answering…', 'tokens are not announced here');
    await deliver({ type: 'turn-done', turnId: 'a1', stats: STATS });
    assert.equal(await status.textContent(), 'Answer finished; the large model wrote 25% of it.');
    assert.equal(await webview.page.locator('.relay-turns .relay-announcer').count(), 0);
  });

  it('keeps focus in the composer after Send is clicked, and off the body when Stop turns off', async () => {
    await open('chat');
    const input = webview.page.locator('#chat-input');
    await input.fill('question');
    await webview.page.locator('.relay-composer button', { hasText: 'Send' }).focus();
    await webview.page.keyboard.press('Enter');
    await deliver({ type: 'busy', busy: true, own: true });
    assert.equal(await focused(), 'textarea#chat-input:', 'after sending');

    await webview.page.locator('.relay-toolbar button', { hasText: 'Stop' }).focus();
    await webview.page.keyboard.press('Space');
    await deliver({ type: 'busy', busy: false });
    assert.equal(await focused(), 'textarea#chat-input:', 'after Stop turned off');
  });

  it("in the answer view, moves focus from Stop to the finished answer's first action", async () => {
    await open('answer');
    await deliver(
      { type: 'busy', busy: true, own: true },
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'Half', tokens: 1 },
    );
    await webview.page.locator('.relay-toolbar button', { hasText: 'Stop' }).focus();
    await webview.page.keyboard.press('Enter');
    await deliver({ type: 'turn-done', turnId: 'a1', stats: { ...STATS, finishReason: 'stopped' } }, { type: 'busy', busy: false });
    assert.equal(await focused(), 'button:Copy');
  });

  it('marks the large model in the legend as in the text under a high-contrast theme (an outline, not a colour alone)', async () => {
    await open('chat');
    const style = () =>
      webview.page.evaluate(() => {
        const key = getComputedStyle(document.querySelector('.relay-key-llm')!, '::before');
        return { outline: key.outlineStyle, background: key.backgroundColor };
      });
    await webview.page.evaluate(() => document.body.classList.add('vscode-high-contrast'));
    assert.deepEqual(await style(), { outline: 'dashed', background: 'rgba(0, 0, 0, 0)' });
    await webview.page.evaluate(() => document.body.classList.replace('vscode-high-contrast', 'vscode-high-contrast-light'));
    assert.deepEqual(await style(), { outline: 'dashed', background: 'rgba(0, 0, 0, 0)' });
    assert.equal(await webview.page.locator('.relay-legend').getAttribute('role'), 'group', 'a label needs a role');
  });
});
