// Accessibility of the webview app (media/src/app.ts) in Chromium: what a screen-reader,
// keyboard-only or high-contrast user gets. The large model's text is named as such (not
// by colour and hover alone), its hover details are reachable by keyboard, focus is never
// lost to the body when a button it sat on turns off or the part of an answer holding it is
// drawn again or removed, the end of an answer (or its failure) is said once, Escape stops,
// and the layout holds in a narrow panel and under forced colours.
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
  /** Resolves after the next animation frame: the announcer sets its text then. */
  const nextFrame = () => webview.page.evaluate(() => new Promise<void>((resolve) => requestAnimationFrame(() => resolve())));
  const announced = async () => {
    await nextFrame();
    return webview.page.locator('.relay-announcer').textContent();
  };
  /** Records every text the announcer takes from now on ('' included), read back by announcements(). */
  const recordAnnouncements = () =>
    webview.page.evaluate(() => {
      const announcer = document.querySelector('.relay-announcer')!;
      const seen: string[] = [];
      (window as any).relayAnnounced = seen;
      new MutationObserver(() => seen.push(announcer.textContent ?? '')).observe(announcer, { childList: true, characterData: true, subtree: true });
    });
  const announcements = async (): Promise<string[]> => {
    await nextFrame();
    return webview.page.evaluate(() => [...(window as any).relayAnnounced]);
  };
  const DEMO = { kind: 'relay', question: 'What is 3*4+5?', reference: '17', priceModel: 'gpt-4o' };

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
    assert.equal(await announced(), 'Relay is answering…');
    await deliver({ type: 'span', turnId: 'a1', source: 'slm', text: 'It is five', tokens: 3 });
    assert.equal(await announced(), 'Relay is answering…', 'tokens are not announced here');
    await deliver({ type: 'turn-done', turnId: 'a1', stats: STATS });
    assert.equal(await announced(), 'Answer finished; the large model wrote 25% of it.');
    assert.equal(await status.getAttribute('aria-live'), 'polite');
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

  // The host's order (conversation.ts answerTurn, relayService.ts answer): turn-start, busy; the answer's
  // busy ends (relayService's finally) before its turn-error and turn-done are posted.
  /** In the answer view, answer a1 streams, Stop is pressed from the keyboard, and busy ends (its turn-done not yet posted). */
  async function stopHalfAnswer(): Promise<void> {
    await open('answer');
    await deliver(
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'busy', busy: true, own: true },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'Half', tokens: 1 },
    );
    await webview.page.locator('.relay-toolbar button', { hasText: 'Stop' }).focus();
    await webview.page.keyboard.press('Enter');
    await deliver({ type: 'busy', busy: false });
  }

  it("in the answer view, moves focus from Stop to the finished answer's first action (busy ends before turn-done, as the host posts them)", async () => {
    await stopHalfAnswer();
    assert.equal(await webview.page.evaluate(() => document.activeElement?.tagName), 'MAIN', 'off the body while the answer has no buttons yet');
    await deliver({ type: 'turn-done', turnId: 'a1', stats: { ...STATS, finishReason: 'cancelled' } });
    assert.equal(await focused(), 'button:Copy');

    // Stopped before the answer began: a turn-error, and no turn-done.
    await deliver({ type: 'turn-start', turn: { id: 'a2', role: 'assistant', spans: [] } }, { type: 'busy', busy: true, own: true });
    await webview.page.locator('.relay-toolbar button', { hasText: 'Stop' }).focus();
    await webview.page.keyboard.press('Enter');
    await deliver(
      { type: 'busy', busy: false },
      { type: 'turn-error', turnId: 'a2', message: 'Stopped before the answer began: the small model was still loading.' },
    );
    assert.equal(await focused(), 'button:Copy');
    assert.equal(
      await webview.page.evaluate(() => document.activeElement?.closest('article') === document.querySelectorAll('article')[1]),
      true,
      "the stopped answer's",
    );
  });

  it('leaves focus where the user put it while the stopped answer had no buttons yet', async () => {
    await stopHalfAnswer();
    await webview.page.locator('.relay-legend').evaluate((legend) => {
      legend.tabIndex = 0;
      legend.focus();
    });
    await deliver({ type: 'turn-done', turnId: 'a1', stats: { ...STATS, finishReason: 'cancelled' } });
    assert.equal(await webview.page.evaluate(() => document.activeElement?.className), 'relay-legend');
  });

  it('keeps the conversation out of live regions: a finished answer and a restored history are not read out again', async () => {
    await open('chat');
    const LIVE = '[aria-live]:not([aria-live="off"]), [role=log], [role=status], [role=alert], [role=marquee], [role=timer]';
    const liveAround = () => webview.page.locator('article').evaluateAll((turns, live) => turns.map((turn) => turn.closest(live)?.className ?? null), LIVE);
    await deliver({
      type: 'init',
      view: 'chat',
      busy: false,
      turns: [
        { id: 'u1', role: 'user', spans: [{ source: 'slm', text: 'Old question', tokens: 0 }] },
        { id: 'a1', role: 'assistant', spans: [{ source: 'slm', text: 'Old answer', tokens: 2 }], stats: STATS },
      ],
    });
    assert.deepEqual(await liveAround(), [null, null], 'the restored history');
    await deliver(
      { type: 'turn-start', turn: { id: 'u2', role: 'user', spans: [{ source: 'slm', text: 'q', tokens: 0 }] } },
      { type: 'turn-start', turn: { id: 'a2', role: 'assistant', spans: [] } },
      { type: 'busy', busy: true, own: true },
      { type: 'span', turnId: 'a2', source: 'slm', text: 'New answer', tokens: 2 },
      { type: 'busy', busy: false },
      { type: 'turn-done', turnId: 'a2', stats: STATS },
    );
    assert.deepEqual(await liveAround(), [null, null, null, null], 'the answer rendered again once busy ended');
    assert.equal(await webview.page.locator('article').evaluateAll((turns, live) => turns.filter((turn) => turn.querySelector(live)).length, LIVE), 0);
    const list = webview.page.locator('.relay-turns');
    assert.deepEqual([await list.getAttribute('role'), await list.getAttribute('aria-label')], ['region', 'Conversation'], 'still a landmark to go to');
  });

  it("keeps focus and each opened Thinking when a finished answer's blocks are drawn whole", async () => {
    await open('answer');
    const text = 'See [docs](https://example.com).\n\n<think>\nreason\n</think>\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nMore';
    const stream = async (id: string) => {
      await deliver(
        { type: 'turn-start', turn: { id, role: 'assistant', spans: [] } },
        { type: 'busy', busy: true, own: true },
        { type: 'span', turnId: id, source: 'slm', text, tokens: 9 },
      );
      return webview.page.locator(`article:last-of-type`);
    };
    const finish = (id: string) => deliver({ type: 'busy', busy: false }, { type: 'turn-done', turnId: id, stats: STATS });
    const thinkingOpen = (answer: Awaited<ReturnType<typeof stream>>) =>
      answer.locator('details.relay-thinking').evaluate((details) => (details as HTMLDetailsElement).open);

    let answer = await stream('a1');
    await answer.locator('.relay-thinking > summary').focus();
    await webview.page.keyboard.press('Enter');
    await answer.locator('.relay-blocks a').focus();
    await finish('a1');
    assert.equal(await focused(), 'a:docs', 'the link');
    assert.equal(await thinkingOpen(answer), true, 'the Thinking opened while streaming');

    answer = await stream('a2');
    await answer.locator('.relay-thinking > summary').focus();
    await finish('a2');
    assert.equal(await focused(), 'summary:Thinking');
    assert.equal(await thinkingOpen(answer), false, 'one left closed stays closed');

    answer = await stream('a3');
    await answer.locator('.relay-table-scroll').focus();
    await finish('a3');
    assert.equal(await webview.page.evaluate(() => document.activeElement?.getAttribute('aria-label')), 'Table');
    assert.equal(await webview.page.evaluate(() => document.activeElement?.closest('article') === document.querySelector('article:last-of-type')), true);
  });

  it('draws the set-up banner again only when its warning changes: a button in it keeps focus, the status is not read again', async () => {
    await open('chat');
    await deliver({ type: 'init', view: 'chat', busy: false, turns: [], setupWarning: 'No API key is set.' });
    await webview.page.evaluate(() => {
      (window as any).bannerRedrawn = 0;
      new MutationObserver(() => (window as any).bannerRedrawn++).observe(document.querySelector('.relay-banner')!, {
        childList: true,
        subtree: true,
        characterData: true,
      });
    });
    await webview.page.locator('.relay-banner button', { hasText: 'Set API Key' }).focus();
    await deliver(
      { type: 'turn-start', turn: { id: 'u1', role: 'user', spans: [{ source: 'slm', text: 'hi', tokens: 0 }] } },
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'busy', busy: true, own: true },
      { type: 'busy', busy: false },
      { type: 'turn-done', turnId: 'a1', stats: STATS },
      { type: 'setup', setupWarning: 'No API key is set.' },
    );
    assert.equal(await focused(), 'button:Set API Key');
    assert.equal(await webview.page.evaluate(() => (window as any).bannerRedrawn), 0);
    await deliver({ type: 'setup', setupWarning: 'No model is selected.' });
    assert.equal(await webview.page.locator('.relay-banner-text').innerText(), 'No model is selected.', 'a new warning is shown');
  });

  it('says a failed answer once, by the announcer (no alert under it, drawn again with its footer), and a stop before it began as stopped', async () => {
    await open('answer');
    await deliver(
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'busy', busy: true, own: true },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'partial', tokens: 1 },
      { type: 'busy', busy: false },
    );
    // Recorded from after "Relay is answering…" is said: each posted message is a task of its own, and a slow machine
    // draws a frame between any two of them.
    await nextFrame();
    await recordAnnouncements();
    await deliver(
      { type: 'turn-error', turnId: 'a1', message: 'The server returned 500', fix: 'retry' },
      { type: 'turn-done', turnId: 'a1', stats: { ...STATS, finishReason: 'error', llmTokenShare: 0 } },
    );
    assert.equal(await webview.page.locator('article .relay-error-text').innerText(), 'The server returned 500', 'shown under the answer');
    assert.equal(await webview.page.locator('[role=alert]').count(), 0, 'and said only by the announcer');
    // Once: the turn-done after it, which draws the footer again, says nothing more (whether or not a frame comes between them).
    assert.deepEqual((await announcements()).filter(Boolean), ['Answer failed: The server returned 500']);

    await deliver(
      { type: 'turn-start', turn: { id: 'a2', role: 'assistant', spans: [] } },
      { type: 'busy', busy: true, own: true },
      { type: 'busy', busy: false },
      { type: 'turn-error', turnId: 'a2', message: 'Stopped before the answer began: the small model was still loading.' },
    );
    assert.equal(await announced(), 'Stopped before the answer began: the small model was still loading.');
  });

  it('says how many large-model calls were skipped when the answer ends', async () => {
    await open('chat');
    await deliver(
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'It is five', tokens: 3 },
      { type: 'call-declined', turnId: 'a1', predictedUsd: 0.01, allowanceUsd: 0.001, ratioNeeded: 2 },
      { type: 'turn-done', turnId: 'a1', stats: { ...STATS, declinedCalls: 1 } },
    );
    assert.equal(await announced(), 'Answer finished; the large model wrote 25% of it. 1 large-model call skipped (over the cost limit).');
    await deliver(
      { type: 'turn-start', turn: { id: 'a2', role: 'assistant', spans: [] } },
      { type: 'turn-done', turnId: 'a2', stats: { ...STATS, calls: 0, llmTokenShare: 0, finishReason: 'cancelled', declinedCalls: 2 } },
    );
    assert.equal(await announced(), 'Answer stopped. 2 large-model calls skipped (over the cost limit).');
  });

  it("lets a keyboard reach Stop while another view's answer is written, and says why it does nothing", async () => {
    await open('chat');
    const stop = webview.page.locator('.relay-toolbar button', { hasText: 'Stop' });
    const description = async () => {
      const client = await webview.page.context().newCDPSession(webview.page);
      const { nodes } = (await client.send('Accessibility.getFullAXTree')) as {
        nodes: { role?: { value?: string }; name?: { value?: string }; description?: { value?: string } }[];
      };
      await client.detach();
      return nodes.find((node) => node.role?.value === 'button' && node.name?.value === 'Stop')?.description?.value ?? '';
    };
    await deliver({ type: 'busy', busy: true, own: false });
    await webview.page.locator('.relay-legend').evaluate((legend) => {
      legend.tabIndex = -1;
      legend.focus();
    });
    await webview.page.keyboard.press('Tab');
    assert.equal(await focused(), 'button:Stop', 'Tab reaches it');
    assert.equal(await stop.getAttribute('aria-disabled'), 'true');
    assert.match(await description(), /not this view's: stop it where it was asked, or run "Relay: Stop"/);
    await webview.page.keyboard.press('Enter');
    // force: Playwright waits for an aria-disabled button to be enabled; a user's click comes anyway.
    await stop.click({ force: true });
    assert.deepEqual(
      (await webview.posted()).filter((message) => (message as { type: string }).type === 'stop'),
      [],
      'it stops nothing',
    );
    assert.equal(await stop.evaluate((button) => getComputedStyle(button).opacity), '0.5', 'it looks off');

    await deliver({ type: 'busy', busy: false });
    assert.equal(await stop.evaluate((button) => (button as HTMLButtonElement).disabled), true, 'idle: off as before');
    assert.equal(await stop.getAttribute('aria-disabled'), null);
    assert.doesNotMatch(await description(), /not this view's/);
  });

  it("stops the streaming cursor's blinking under VS Code's Reduce Motion", async () => {
    await open('chat');
    await deliver({ type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } });
    const animation = () => webview.page.evaluate(() => getComputedStyle(document.querySelector('.relay-streaming .relay-tail')!, '::after').animationName);
    assert.equal(await animation(), 'relay-blink');
    await webview.page.evaluate(() => document.body.classList.add('vscode-reduce-motion'));
    assert.equal(await animation(), 'none');
  });

  it("underlines the large model's text at 3:1 or more on a light theme, and as before on a dark one", async () => {
    await open('chat');
    await webview.page.addStyleTag({ content: ':root { --vscode-charts-orange: #d18616; --vscode-editor-background: #ffffff; }' });
    await deliver({
      type: 'init',
      view: 'chat',
      busy: false,
      turns: [{ id: 'a1', role: 'assistant', spans: [{ source: 'llm', text: 'five', tokens: 1, model: 'm' }], stats: STATS }],
    });
    const underline = () => webview.page.locator('.relay-llm').evaluate((mark) => getComputedStyle(mark).borderBottomColor);
    const contrastOnWhite = (rgb: string) => {
      const [r, g, b] = (rgb.match(/\d+/g) ?? []).map((c) => {
        const v = Number(c) / 255;
        return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
      });
      return 1.05 / (0.2126 * r + 0.7152 * g + 0.0722 * b + 0.05);
    };
    await webview.page.evaluate(() => document.body.classList.add('vscode-light'));
    const light = await underline();
    assert.ok(contrastOnWhite(light) >= 3, `${light} on white: ${contrastOnWhite(light).toFixed(2)}:1`);
    await webview.page.evaluate(() => document.body.classList.replace('vscode-light', 'vscode-dark'));
    assert.equal(await underline(), 'rgb(209, 134, 22)', 'the theme orange on a dark theme');
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

  it('announces a failed answer as failed, never as finished, and a stopped one as stopped', async () => {
    await open('answer');
    await deliver(
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'partial', tokens: 1 },
      { type: 'turn-error', turnId: 'a1', message: 'The server returned 500', fix: 'retry' },
    );
    assert.equal(await announced(), 'Answer failed: The server returned 500');
    await deliver({ type: 'turn-done', turnId: 'a1', stats: { ...STATS, finishReason: 'error', llmTokenShare: 0 } });
    assert.equal(await announced(), 'Answer failed: The server returned 500', 'the stats of a failed answer add no "finished"');

    await deliver({ type: 'turn-start', turn: { id: 'a2', role: 'assistant', spans: [] } });
    await deliver({ type: 'turn-done', turnId: 'a2', stats: { ...STATS, finishReason: 'cancelled' } });
    assert.equal(await announced(), 'Answer stopped.');
  });

  it('empties the announcer before each announcement, so the same text twice in a row is read twice', async () => {
    await open('chat');
    await recordAnnouncements();
    for (const id of ['a1', 'a2']) {
      await deliver({ type: 'turn-start', turn: { id, role: 'assistant', spans: [] } });
      await nextFrame();
      await deliver({ type: 'turn-error', turnId: id, message: 'No API key', fix: 'set-key' });
      await nextFrame();
    }
    // Each announcement empties the announcer first (the first finds it empty already).
    assert.deepEqual(await announcements(), [
      'Relay is answering…',
      '',
      'Answer failed: No API key',
      '',
      'Relay is answering…',
      '',
      'Answer failed: No API key',
    ]);
  });

  it('keeps focus on the same action when the footer is drawn again, and the details list open', async () => {
    await open('answer');
    await deliver(
      { type: 'turn-start', turn: { id: 'd1', role: 'assistant', spans: [], demo: DEMO } },
      { type: 'span', turnId: 'd1', source: 'slm', text: '3*4+5 = ', tokens: 3 },
      { type: 'span', turnId: 'd1', source: 'llm', text: '17', tokens: 1, model: 'm' },
      { type: 'turn-done', turnId: 'd1', stats: STATS },
    );
    await webview.page.locator('.relay-actions button', { hasText: 'Copy' }).focus();
    await deliver({ type: 'demo-result', turnId: 'd1', result: { correct: true, answer: '17' } });
    assert.equal(await focused(), 'button:Copy', 'after the demo check came');

    const summary = webview.page.locator('.relay-llm-summary > summary');
    await summary.focus();
    await webview.page.keyboard.press('Enter');
    await deliver({ type: 'call-figures', turnId: 'd1', durationMs: 5, calls: 1, costUsd: 0.001 });
    assert.equal(await focused(), 'summary:Written by the large model: 1 part', 'after late call figures');
    assert.equal(await webview.page.locator('.relay-llm-summary').evaluate((details) => (details as HTMLDetailsElement).open), true);
  });

  it('keeps focus in the demo answer when the small model alone comes beside it (Compare goes)', async () => {
    await open('answer');
    await deliver(
      { type: 'turn-start', turn: { id: 'd1', role: 'assistant', spans: [], demo: DEMO } },
      { type: 'span', turnId: 'd1', source: 'slm', text: '17', tokens: 1 },
      { type: 'turn-done', turnId: 'd1', stats: STATS },
    );
    await webview.page.locator('.relay-actions button', { hasText: 'Compare' }).focus();
    await webview.page.keyboard.press('Enter');
    await deliver({ type: 'turn-start', turn: { id: 'd2', role: 'assistant', spans: [], demo: { ...DEMO, kind: 'slm-only', pairOf: 'd1' } } });
    assert.equal(await focused(), 'button:Ask another');
  });

  it('sends focus to the input (chat) or the main region (answer view) when the answer holding it is removed', async () => {
    const restored = [
      { id: 'u1', role: 'user', spans: [{ source: 'slm', text: 'q', tokens: 0 }] },
      { id: 'a1', role: 'assistant', spans: [{ source: 'slm', text: 'ans', tokens: 1 }], stats: STATS },
    ];
    await open('chat');
    await deliver({ type: 'init', view: 'chat', busy: false, turns: restored });
    await webview.page.locator('.relay-actions button', { hasText: 'Retry' }).focus();
    await webview.page.keyboard.press('Enter');
    await deliver({ type: 'turns-removed', turnIds: ['a1'] }, { type: 'turn-start', turn: { id: 'a2', role: 'assistant', spans: [] } });
    assert.equal(await focused(), 'textarea#chat-input:');
    await webview.close();

    await open('answer');
    await deliver({ type: 'init', view: 'answer', busy: false, turns: restored });
    await webview.page.locator('.relay-actions button', { hasText: 'Retry' }).focus();
    await deliver({ type: 'turns-removed', turnIds: ['a1'] });
    assert.equal(await webview.page.evaluate(() => document.activeElement?.tagName), 'MAIN');
  });

  it('announces a wait for the large model once when it starts and once per retry, not every second', async () => {
    await open('answer');
    await deliver({ type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } });
    await nextFrame();
    await recordAnnouncements();
    // A frame after each message, as when they come a second apart (within one frame the last announcement wins).
    const deliverApart = async (...messages: unknown[]) => {
      for (const message of messages) {
        await deliver(message);
        await nextFrame();
      }
    };
    await deliverApart(...[1000, 2000, 3000].map((waitedMs) => ({ type: 'waiting', turnId: 'a1', host: 'api.example.com', waitedMs })));
    const line = webview.page.locator('article .relay-waiting');
    assert.equal(await line.innerText(), 'Waiting for api.example.com… 3 s');
    assert.equal(await line.getAttribute('role'), null, 'the ticking line is no live region');
    assert.equal(await line.getAttribute('aria-live'), null);
    await deliverApart(
      ...[61_000, 62_000].map((waitedMs) => ({ type: 'waiting', turnId: 'a1', host: 'api.example.com', waitedMs, retrying: 'HTTP 503' })),
      { type: 'span', turnId: 'a1', source: 'llm', text: 'Hi', tokens: 1, model: 'm' },
      ...[100, 400].map((done) => ({ type: 'reading', turnId: 'a1', done, total: 1000, reusedTokens: 0 })),
    );
    assert.deepEqual((await announcements()).filter(Boolean), [
      'Waiting for api.example.com…',
      'Waiting for api.example.com… (trying again after: HTTP 503)',
      'Reading 1,000 tokens of context…',
    ]);
  });

  it('stops this view’s answer with Escape, from the input or elsewhere, only while Stop is on', async () => {
    await open('chat');
    const stops = async () => (await webview.posted()).filter((message) => (message as { type: string }).type === 'stop').length;
    await deliver({ type: 'busy', busy: true, own: false });
    await webview.page.locator('#chat-input').focus();
    await webview.page.keyboard.press('Escape');
    assert.equal(await stops(), 0, "another view's answer: Stop is off");
    await deliver({ type: 'busy', busy: true, own: true });
    await webview.page.keyboard.press('Escape');
    assert.equal(await stops(), 1, 'from the input');
    await webview.page.locator('main').focus();
    await webview.page.keyboard.press('Escape');
    assert.equal(await stops(), 2, 'from the page');
  });

  it('says why Enter sent nothing while an answer is being written, and clears that once it ends', async () => {
    await open('chat');
    await deliver({ type: 'busy', busy: true, own: true });
    const input = webview.page.locator('#chat-input');
    await input.fill('next question');
    const before = (await webview.posted()).length;
    await input.press('Enter');
    assert.equal((await webview.posted()).length, before, 'nothing sent');
    assert.equal(await input.inputValue(), 'next question');
    const alert = webview.page.locator('#chat-input-error [role=alert]');
    assert.equal(await alert.innerText(), 'Relay is still answering: send this when it ends, or press Escape to stop it.');
    assert.equal(await input.getAttribute('aria-describedby'), 'chat-input-error');
    await deliver({ type: 'busy', busy: false });
    assert.equal(await alert.count(), 0);
  });

  it('puts a wide table in a keyboard-scrollable region in a narrow panel, its cells unsqueezed and the marks kept', async () => {
    await open('chat');
    await webview.page.setViewportSize({ width: 300, height: 600 });
    const columns = 8;
    const row = (cell: (i: number) => string) => `| ${Array.from({ length: columns }, (_, i) => cell(i)).join(' | ')} |\n`;
    const table = row((i) => `Header${i}`) + `|${'---|'.repeat(columns)}\n` + row((i) => `value${i} words`);
    await deliver({
      type: 'init',
      view: 'chat',
      busy: false,
      turns: [
        {
          id: 'a1',
          role: 'assistant',
          spans: [
            // The large model wrote the last two cells: its marks stay in them.
            { source: 'slm', text: table.slice(0, -30), tokens: 10 },
            { source: 'llm', text: table.slice(-30), tokens: 2, model: 'm' },
          ],
          stats: STATS,
        },
      ],
    });
    const region = webview.page.locator('.relay-table-scroll');
    assert.deepEqual(await region.evaluate((box) => [box.getAttribute('role'), box.getAttribute('aria-label'), box.tabIndex]), ['region', 'Table', 0]);
    const layout = await webview.page.evaluate(() => {
      const box = document.querySelector('.relay-table-scroll')!;
      const header = document.querySelector('th')!;
      const probe = document.createElement('span');
      probe.textContent = 'Header0';
      header.append(probe);
      const wordWidth = probe.getBoundingClientRect().width;
      probe.remove();
      return {
        pageOverflows: document.documentElement.scrollWidth > document.documentElement.clientWidth,
        boxScrolls: box.scrollWidth > box.clientWidth,
        headerHoldsItsWord: header.clientWidth >= wordWidth,
      };
    });
    assert.deepEqual(layout, { pageOverflows: false, boxScrolls: true, headerHoldsItsWord: true });
    assert.deepEqual(await webview.page.locator('.relay-table-scroll td .relay-llm').allInnerTexts(), ['value6 words', 'value7 words']);
  });

  it('hides the streaming cursor from screen readers', async () => {
    await open('chat');
    await deliver(
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'Streaming text', tokens: 2 },
    );
    const client = await webview.page.context().newCDPSession(webview.page);
    const { nodes } = (await client.send('Accessibility.getFullAXTree')) as { nodes: { ignored: boolean; name?: { value?: string } }[] };
    const names = nodes.filter((node) => !node.ignored).map((node) => String(node.name?.value ?? ''));
    assert.ok(names.some((name) => name.includes('Streaming text')));
    assert.deepEqual(
      names.filter((name) => name.includes('▍')),
      [],
    );
  });

  it("shows an early finish's note in the text colour, the warning colour on its border only", async () => {
    await open('chat');
    await webview.page.addStyleTag({ content: ':root { --vscode-foreground: #616161; --vscode-editorWarning-foreground: #bf8803; }' });
    await deliver(
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'Half', tokens: 1 },
      { type: 'turn-done', turnId: 'a1', stats: { ...STATS, finishReason: 'budget' } },
    );
    const style = await webview.page.locator('.relay-finish-note').evaluate((note) => ({
      color: getComputedStyle(note).color,
      border: `${getComputedStyle(note).borderLeftStyle} ${getComputedStyle(note).borderLeftColor}`,
    }));
    assert.deepEqual(style, { color: 'rgb(97, 97, 97)', border: 'solid rgb(191, 136, 3)' });
  });

  it('fits the demo pair into a 200 px panel', async () => {
    await open('answer');
    await webview.page.setViewportSize({ width: 200, height: 600 });
    await deliver({
      type: 'init',
      view: 'answer',
      busy: false,
      turns: [
        { id: 'd1', role: 'assistant', spans: [{ source: 'slm', text: '17', tokens: 1 }], stats: STATS, demo: DEMO },
        { id: 'd2', role: 'assistant', spans: [{ source: 'slm', text: '18', tokens: 1 }], stats: STATS, demo: { ...DEMO, kind: 'slm-only', pairOf: 'd1' } },
      ],
    });
    const pairWidth = await webview.page
      .locator('.relay-demo-pair > article')
      .first()
      .evaluate((answer) => answer.getBoundingClientRect().right);
    assert.ok(pairWidth <= (await webview.page.evaluate(() => document.documentElement.clientWidth)), `the answer ends at ${pairWidth} px`);
  });

  it("keeps the chart legend's colour keys under forced colours", async () => {
    await open('answer');
    await webview.page.addStyleTag({ content: ':root { --vscode-charts-blue: #3794ff; --vscode-charts-red: #f14c4c; }' });
    const stats = (costUsd: number) => ({ ...STATS, costUsd, llmOnlyCostUsd: costUsd * 5 });
    await deliver({
      type: 'init',
      view: 'answer',
      busy: false,
      turns: [
        { id: 'a1', role: 'assistant', spans: [{ source: 'slm', text: 'x', tokens: 1 }], stats: stats(0.002) },
        { id: 'a2', role: 'assistant', spans: [{ source: 'slm', text: 'y', tokens: 1 }], stats: stats(0.003) },
      ],
    });
    await webview.page.emulateMedia({ forcedColors: 'active' });
    const keys = await webview.page.evaluate(() =>
      ['.relay-key-relay', '.relay-key-llm-only'].map((selector) => getComputedStyle(document.querySelector(selector)!, '::before').backgroundColor),
    );
    assert.deepEqual(keys, ['rgb(55, 148, 255)', 'rgb(241, 76, 76)']);
  });

  it('draws the focus ring on a thinking summary and a code block as on the buttons', async () => {
    await open('chat');
    await webview.page.addStyleTag({ content: ':root { --vscode-focusBorder: #007fd4; }' });
    await deliver({
      type: 'init',
      view: 'chat',
      busy: false,
      turns: [
        {
          id: 'a1',
          role: 'assistant',
          spans: [{ source: 'slm', text: `<think>\nhmm\n</think>\nOK\n\n\`\`\`js\n${'x'.repeat(400)}\n\`\`\`\n`, tokens: 3 }],
          stats: STATS,
        },
      ],
    });
    const ring = async (selector: string) => {
      await webview.page.locator(selector).focus();
      return webview.page.locator(selector).evaluate((element) => `${getComputedStyle(element).outlineStyle} ${getComputedStyle(element).outlineColor}`);
    };
    assert.equal(await ring('.relay-thinking > summary'), 'solid rgb(0, 127, 212)');
    assert.equal(await ring('.relay-body pre'), 'solid rgb(0, 127, 212)');
  });

  it('lists each skipped call under the answer, where a keyboard reaches what its marker says in a hover', async () => {
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
            { source: 'llm', text: 'five', tokens: 1, model: 'm' },
            { source: 'slm', text: '', tokens: 0, declined: { predictedUsd: 0.004, allowanceUsd: 0.001, ratioNeeded: 0.63 } },
            { source: 'slm', text: ' ok', tokens: 1 },
          ],
          stats: { ...STATS, declinedCalls: 1 },
        },
      ],
    });
    assert.equal(await webview.page.locator('.relay-llm-summary > summary').innerText(), 'Written by the large model: 1 part; 1 call skipped');
    const marker = await webview.page.locator('.relay-declined').getAttribute('title');
    assert.deepEqual(await webview.page.locator('.relay-llm-summary li').allTextContents(), ['five: Written by m · 1 token', `Skipped call: ${marker}`]);
  });

  it("says what each figure of the strip means where a keyboard reaches it, not only in the figures' hovers", async () => {
    await open('chat');
    await deliver({
      type: 'init',
      view: 'chat',
      busy: false,
      turns: [{ id: 'a1', role: 'assistant', spans: [{ source: 'slm', text: 'It is five', tokens: 3 }], stats: { ...STATS, usageEstimated: true } }],
    });
    const hovers = await webview.page
      .locator('.relay-stat')
      .evaluateAll((items) => items.map((item) => `${item.querySelector('dt')?.textContent}: ${item.getAttribute('title')}`));
    const summary = webview.page.locator('.relay-stats-notes > summary');
    assert.equal(await summary.innerText(), 'What these figures mean');
    await summary.focus();
    await webview.page.keyboard.press('Enter');
    assert.equal(await webview.page.locator('.relay-stats-notes').getAttribute('open'), '');
    assert.deepEqual(await webview.page.locator('.relay-stats-notes li').allTextContents(), hovers, 'every hover, as text');
    assert.ok(
      hovers.some((line) => /^Cost: .*reported no token usage/.test(line)),
      hovers.join('\n'),
    );
  });
});
