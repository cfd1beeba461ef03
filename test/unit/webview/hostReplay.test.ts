// The real host side (src/extension/conversation.ts, over a service stand-in with the real
// one's busy/stop semantics) feeding the real webview app (media/src) in Chromium: what the
// user sees when a view reloads while an answer is written after a request it refused, when
// the window was closed mid-answer, when Retry goes back in a chat, and in the view whose
// answer is not the one being written.
import assert from 'node:assert/strict';
import { after, afterEach, describe, it } from 'node:test';
import type { HostMessage } from '../../../src/shared/webviewProtocol';
import { FakeRelayService } from '../extension/fakeRelayService';
import { answerWarnings, MemoryMemento, useVscodeStub } from '../extension/vscodeStub';
import { closeBrowser, deliverMessages, NO_BROWSER, openWebviewPage, type WebviewPage } from './browserPage';
useVscodeStub();

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Conversation } = require('../../../src/extension/conversation') as typeof import('../../../src/extension/conversation');

/** A conversation whose messages queue up for the page (as VS Code delivers them, in order). */
function host(view: 'chat' | 'answer', service: FakeRelayService, state = new MemoryMemento()) {
  const conversation = new Conversation(view, service as never, () => undefined, { state, key: 'turns' });
  const queued: HostMessage[] = [];
  conversation.attach({ post: (message) => void queued.push(JSON.parse(JSON.stringify(message)) as HostMessage) });
  return { conversation, queued, state };
}

describe('the host and the webview app together', { skip: NO_BROWSER }, () => {
  const pages: WebviewPage[] = [];
  afterEach(async () => {
    for (const page of pages.splice(0)) await page.close();
  });
  after(closeBrowser);

  async function app(view: 'chat' | 'answer'): Promise<WebviewPage> {
    const page = await openWebviewPage(view);
    pages.push(page);
    await page.page.evaluate(() => (window as any).relayWebview.startApp());
    return page;
  }

  /** Delivers what the host queued (and empties the queue), then lets the app handle it. */
  const deliver = (page: WebviewPage, queued: HostMessage[]): Promise<void> => deliverMessages(page.page, queued.splice(0));

  const answers = (page: WebviewPage) => page.page.locator('article.relay-turn-assistant');

  it('a view reloaded mid-answer after a refused Retry streams the running answer to its end; no turn after it', async () => {
    const service = new FakeRelayService();
    const { conversation, queued } = host('answer', service);
    const first = await conversation.ask('What is 2+3?');
    const held = service.holdNext();
    const running = conversation.ask('What is 4+5?');
    await held.waiting;
    await conversation.receive({ type: 'retry', turnId: first.turnId }); // refused: an answer runs
    queued.splice(0);

    // The view is opened anew (closed and reopened, or reloaded) while the answer is written.
    const page = await app('answer');
    await conversation.receive({ type: 'ready' });
    await deliver(page, queued);
    assert.equal(await answers(page).count(), 2, 'no turn was added by the refused Retry');
    assert.equal(await page.page.locator('article.relay-streaming').count(), 1);
    assert.equal(await page.page.locator('.relay-toolbar button', { hasText: 'Stop' }).isDisabled(), false, "this view's answer: Stop is on");

    held.release();
    await running;
    await deliver(page, queued);
    assert.deepEqual(await answers(page).locator('.relay-body').allInnerTexts(), ['Answer 1, first half. Second half.', 'Answer 2, first half. Second half.']);
    assert.equal(await page.page.locator('article.relay-streaming').count(), 0);
    assert.equal(await answers(page).nth(1).locator('.relay-stats').count(), 1);
    assert.equal(await page.page.locator('.relay-error').count(), 0);
  });

  it('after a window closed mid-answer, the answer shows as interrupted with its text so far, and Retry asks again', async () => {
    const service = new FakeRelayService();
    const state = new MemoryMemento();
    const before = host('chat', service, state);
    const held = service.holdNext();
    const sending = before.conversation.ask('What is 2+3?');
    await held.waiting;
    await before.conversation.close();
    service.stop();
    await sending;

    const nextWindow = host('chat', new FakeRelayService(), state);
    const page = await app('chat');
    await nextWindow.conversation.receive({ type: 'ready' });
    await deliver(page, nextWindow.queued);
    const answer = answers(page).first();
    assert.equal(await answer.locator('.relay-body').innerText(), 'Answer 1, first half.');
    assert.equal(
      await answer.locator('.relay-error .relay-error-text').innerText(),
      'Interrupted: the window was reloaded or closed while this answer was written; the part written is kept.',
    );
    assert.equal(await page.page.locator('article.relay-streaming').count(), 0, 'not shown as still being written');
    await answer.locator('.relay-error button', { hasText: 'Retry' }).click();
    const retry = (await page.posted()).at(-1);
    await nextWindow.conversation.receive(retry);
    await deliver(page, nextWindow.queued);
    assert.deepEqual(await page.page.locator('article .relay-body').allInnerTexts(), ['What is 2+3?', 'Answer 1, first half. Second half.']);
  });

  it('Retry on an earlier chat answer: the chat goes back to it, the new answer in its place', async () => {
    const service = new FakeRelayService();
    const { conversation, queued } = host('chat', service);
    const page = await app('chat');
    await conversation.receive({ type: 'ready' });
    const first = await conversation.ask('Q1');
    await conversation.ask('Q2');
    await deliver(page, queued);
    answerWarnings('Retry');
    try {
      await conversation.receive({ type: 'retry', turnId: first.turnId });
    } finally {
      answerWarnings(undefined);
    }
    await deliver(page, queued);
    assert.deepEqual(await page.page.locator('article .relay-body').allInnerTexts(), ['Q1', 'Answer 3, first half. Second half.']);
  });

  it("the chat, while the answer view's answer is written: Send and Stop off; both back once it ends", async () => {
    const service = new FakeRelayService();
    const chat = host('chat', service);
    const answerView = host('answer', service);
    const page = await app('chat');
    await chat.conversation.receive({ type: 'ready' });
    await deliver(page, chat.queued);
    const held = service.holdNext();
    const running = answerView.conversation.ask('Explain this code: x = 1');
    await held.waiting;
    await deliver(page, chat.queued);
    const stop = page.page.locator('.relay-toolbar button', { hasText: 'Stop' });
    const send = page.page.locator('.relay-composer button', { hasText: 'Send' });
    assert.equal(await stop.isDisabled(), true);
    assert.equal(await send.isDisabled(), true);
    held.release();
    await running;
    await deliver(page, chat.queued);
    assert.equal(await stop.isDisabled(), true);
    assert.equal(await send.isDisabled(), false);
  });
});
