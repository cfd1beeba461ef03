// The chat view follows the answer being written while the user is at its end, and leaves
// them where they are once they scroll up, without reading layout (scrollHeight, a forced
// layout that grows with the block being written) for each span.
import assert from 'node:assert/strict';
import { after, afterEach, beforeEach, describe, it } from 'node:test';
import { closeBrowser, deliverMessages, NO_BROWSER, openWebviewPage, type WebviewPage } from './browserPage';

describe('the webview app following the answer', { skip: NO_BROWSER }, () => {
  let webview: WebviewPage;

  beforeEach(async () => {
    webview = await openWebviewPage('chat');
    await webview.page.evaluate(() => (window as any).relayWebview.startApp());
    // The test page has no stylesheet: the streaming text keeps its lines as the webview's CSS does.
    await webview.page.addStyleTag({ content: '.relay-body { white-space: pre-wrap; }' });
    // Counts scrollHeight reads (each one lays the page out).
    await webview.page.evaluate(() => {
      const original = Object.getOwnPropertyDescriptor(Element.prototype, 'scrollHeight')!;
      (window as any).scrollHeightReads = 0;
      Object.defineProperty(Element.prototype, 'scrollHeight', {
        configurable: true,
        get(this: Element) {
          (window as any).scrollHeightReads++;
          return original.get!.call(this);
        },
      });
    });
  });
  afterEach(async () => {
    await webview?.close();
  });
  after(closeBrowser);

  const deliver = (...messages: unknown[]): Promise<void> => deliverMessages(webview.page, messages);
  const spans = (count: number, from = 0) =>
    Array.from({ length: count }, (_, i) => ({ type: 'span', turnId: 'a1', source: 'slm', text: `line ${from + i}\n`, tokens: 1 }));
  /** Two animation frames: the app's scroll and the scroll event it causes have happened. */
  const frames = () => webview.page.evaluate(() => new Promise<void>((resolve) => requestAnimationFrame(() => requestAnimationFrame(() => resolve()))));
  const reads = () => webview.page.evaluate(() => (window as any).scrollHeightReads as number);
  const position = () =>
    webview.page.evaluate(() => {
      const scroller = document.scrollingElement!;
      return { top: scroller.scrollTop, atEnd: scroller.scrollTop + scroller.clientHeight >= scroller.scrollHeight - 1 };
    });

  async function startAnswer(): Promise<void> {
    await deliver({ type: 'init', view: 'chat', busy: true, turns: [] }, { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } });
    // A code fence: every span lands in one growing block.
    await deliver({ type: 'span', turnId: 'a1', source: 'slm', text: 'The code:\n\n```ts\n', tokens: 1 });
    await frames();
  }

  it('reads no layout per span: 500 spans in a row read scrollHeight at most twice, and the view is at the end', async () => {
    await startAnswer();
    const before = await reads();
    await deliver(...spans(500));
    const during = (await reads()) - before;
    assert.ok(during <= 2, `500 spans read scrollHeight ${during} times`);
    await frames();
    assert.equal((await position()).atEnd, true, 'the view followed the answer');
    assert.ok((await position()).top > 0, 'the answer is longer than the view');
  });

  it('does not pull the user down once they scrolled up, and follows again once they are back at the end', async () => {
    await startAnswer();
    await deliver(...spans(200));
    await frames();
    assert.equal((await position()).atEnd, true);

    await webview.page.evaluate(() => window.scrollTo(0, 100));
    await frames();
    await deliver(...spans(200, 200));
    await frames();
    assert.equal((await position()).top, 100, 'left where the user scrolled to');

    await webview.page.evaluate(() => window.scrollTo(0, document.scrollingElement!.scrollHeight));
    await frames();
    await deliver(...spans(200, 400));
    await frames();
    assert.equal((await position()).atEnd, true, 'following again');
  });
});
