// What an answer's calls cost, where the reader meets it: the hover of each LLM span gives
// its call's cost and cached share, and a call the money ceiling skipped is a small marker
// where it would have been made, with a hover that says what it would have cost. The
// marker is no text: Markdown around it keeps its structure, the answer's text (and what
// a selection copies) never holds it, and model text cannot forge one. DOM-free checks of
// the renderer under Node, then the app in Chromium (browserPage.ts) as the host feeds it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, beforeEach, describe, it, test } from 'node:test';
import { GENERIC_DECLINED_TITLE, renderMarkdown } from '../../../media/src/markdown/render';
import type { SourceSegment } from '../../../media/src/markdown/sentinels';
import { closeBrowser, deliverMessages, NO_BROWSER, openWebviewPage, type WebviewPage } from './browserPage';

const llmTitle = (index: number): string => `span ${index}`;
const skipTitle = (index: number): string => `skipped ${index}`;
const MARKER = (title: string, occurrence: number): string =>
  `<span class="relay-declined" data-declined="${occurrence}" role="img" aria-label="${title}" title="${title}"></span>`;
const markerCount = (html: string): number => html.match(/class="relay-declined"/g)?.length ?? 0;

test('a skipped call is an empty marker inside the list item it interrupts, titled by its own span', () => {
  const segments: SourceSegment[] = [{ text: 'Steps:\n\n1. Start at two.\n2. Count' }, { text: '', declined: 1 }, { text: ' three more: done.' }];
  const html = renderMarkdown(segments, llmTitle, skipTitle);
  assert.ok(html.includes(`<li>Count${MARKER('skipped 1', 0)} three more: done.</li>`), html);
  assert.equal(html.match(/<li>/g)?.length, 2, 'the list keeps its two items');
  assert.doesNotMatch(html, /[\uE000-\uF8FF]/, 'no sentinel is left');
});

test('markers keep Markdown structure: at a line start (after the list marker), in code (still highlighted), beside math and LLM marks', () => {
  const atLineStart = renderMarkdown([{ text: '1. one\n' }, { text: '', declined: 1 }, { text: '2. two' }], llmTitle, skipTitle);
  assert.match(atLineStart, /<li>one<\/li>\s*<li><span class="relay-declined"[^>]*><\/span>two<\/li>/, atLineStart);

  const inCode = renderMarkdown([{ text: '```js\nconst x = ' }, { text: '', declined: 1 }, { text: '42;\n```' }], llmTitle, skipTitle);
  // Highlighting ran on the code without the marker (42 is still a number), then the marker went back at its offset.
  assert.match(
    inCode,
    /<code class="language-js"><span class="hljs-keyword">const<\/span> x = <span class="hljs-number"><span class="relay-declined"[^>]*><\/span>42<\/span>;/,
    inCode,
  );

  const math = renderMarkdown(
    [{ text: 'So $2 + ' }, { text: '', declined: 1 }, { text: '3$ and ' }, { text: '', declined: 3 }, { text: 'five.' }],
    llmTitle,
    skipTitle,
  );
  assert.equal(markerCount(math), 2);
  assert.match(
    math,
    /<span class="relay-math"[^>]*>[\s\S]*<\/span><span class="relay-declined" data-declined="0"[^>]*title="skipped 1"><\/span> and <span class="relay-declined" data-declined="1"[^>]*title="skipped 3"><\/span>five\./,
    'a marker inside math goes right after it; each marker keeps its own title',
  );

  const beside = renderMarkdown(
    [{ text: 'a ' }, { text: 'b c', llmIndex: 1 }, { text: '', declined: 2 }, { text: 'd ' }, { text: 'e', llmIndex: 4 }],
    llmTitle,
    skipTitle,
  );
  assert.ok(
    beside.includes(
      `a <span class="relay-llm" data-span="1" title="span 1">b c</span>${MARKER('skipped 2', 0)}d <span class="relay-llm" data-span="4" title="span 4">e</span>`,
    ),
    beside,
  );
});

test('model text cannot forge a marker, and one Markdown repeats gets a title that claims no figures', () => {
  const forged = renderMarkdown([{ text: 'SLM \uE001text ' }, { text: 'LLM \uE001text', llmIndex: 1 }], llmTitle, skipTitle);
  assert.equal(markerCount(forged), 0, 'the marker character in model text is no marker');
  assert.match(forged, /SLM \uE001text <span class="relay-llm"[^>]*>LLM \uE001text<\/span>/, 'and shows as written');

  // A link reference definition's title is copied wherever the reference is used.
  const repeated = renderMarkdown([{ text: '[a][r] and [b][r]\n\n[r]: http://example.com "t' }, { text: '', declined: 1 }, { text: '"' }], llmTitle, skipTitle);
  assert.equal(markerCount(repeated), 2);
  for (const title of repeated.match(/class="relay-declined"[^>]* title="([^"]*)"/g) ?? [])
    assert.ok(title.endsWith(`title="${GENERIC_DECLINED_TITLE}"`), title);
  assert.doesNotMatch(repeated, /title="t[^"]*<span/, 'no marker inside an attribute');
});

const STATS = {
  slmTokens: 30,
  llmTokens: 1,
  llmTokenShare: 1 / 31,
  calls: 1,
  costUsd: 0.0031,
  llmOnlyCostUsd: 0.002,
  savedUsd: -0.0011,
  elapsedMs: 900,
  finishReason: 'eos',
  declinedCalls: 1,
};
const FIRST = 'Steps:\n\n1. Start at two.\n2. Count';

describe('the answer view shows what calls cost and where one was skipped', { skip: NO_BROWSER }, () => {
  let webview: WebviewPage;

  beforeEach(async () => {
    webview = await openWebviewPage('answer');
    // The view's own stylesheet: the marker is an empty element that only CSS gives a size (and a hover).
    await webview.page.addStyleTag({ path: join(__dirname, '..', '..', '..', 'media', 'styles', 'relay.css') });
    await webview.page.evaluate(() => (window as any).relayWebview.startApp());
  });
  afterEach(async () => {
    await webview?.close();
  });
  after(closeBrowser);

  const deliver = (...messages: unknown[]): Promise<void> => deliverMessages(webview.page, messages);

  const turn = () => webview.page.locator('article.relay-turn-assistant');
  const SKIP_TITLE = 'A call here would have cost $0.0040; skipped (the answer could spend $0.0012 more under relay.maxCostRatio)';
  const LLM_TITLE = 'Written by gpt-4o at https://api.openai.com · 1 token · 400 ms · $0.0031 (82% of the input from the cache)';

  it('while streaming and once finished: the marker and its hover, the call figures in the LLM hover, the strip, and no marker in the text', async () => {
    await deliver(
      { type: 'init', view: 'answer', busy: true, turns: [] },
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a1', source: 'slm', text: FIRST, tokens: 10 },
      { type: 'call-declined', turnId: 'a1', predictedUsd: 0.004, allowanceUsd: 0.0012 },
      { type: 'span', turnId: 'a1', source: 'slm', text: ' three', tokens: 1 },
      { type: 'span', turnId: 'a1', source: 'llm', text: ' more', tokens: 1, model: 'gpt-4o', host: 'https://api.openai.com' },
    );
    // Streaming: the marker sits in the tail where the call was skipped; the LLM span has no figures until its call ends.
    const tailMarker = turn().locator('.relay-tail .relay-declined');
    assert.equal(await tailMarker.getAttribute('title'), SKIP_TITLE);
    assert.equal(await tailMarker.getAttribute('aria-label'), SKIP_TITLE);
    assert.equal(await turn().locator('.relay-llm').last().getAttribute('title'), 'Written by gpt-4o at https://api.openai.com · 1 token');
    await deliver({ type: 'call-figures', turnId: 'a1', durationMs: 400, calls: 1, costUsd: 0.0031, cachedShare: 0.82 });
    assert.equal(await turn().locator('.relay-llm').last().getAttribute('title'), LLM_TITLE, 'the hover gets its call figures as soon as the call ends');
    await tailMarker.hover();

    // A finished block freezes with its marker; then the answer finishes.
    await deliver({ type: 'span', turnId: 'a1', source: 'slm', text: ': three, four, five.\n\nDone.', tokens: 8 });
    assert.equal(await turn().locator('.relay-blocks .relay-declined').getAttribute('title'), SKIP_TITLE, 'the rendered block keeps the marker');
    assert.equal(await turn().locator('.relay-declined').count(), 1);
    await deliver({ type: 'turn-done', turnId: 'a1', stats: STATS });

    const marker = turn().locator('.relay-body li .relay-declined');
    assert.equal(await marker.count(), 1, 'one marker, inside its list item');
    assert.equal(await marker.getAttribute('title'), SKIP_TITLE);
    assert.equal(await marker.textContent(), '', 'the marker is no text');
    await marker.hover();
    assert.equal(await turn().locator('.relay-llm').getAttribute('title'), LLM_TITLE);
    const body = turn().locator('.relay-body');
    const text = await body.innerText();
    assert.match(text.replace(/\s+/g, ' '), /Count three more: three, four, five\. Done\.$/);
    assert.doesNotMatch((await body.textContent()) ?? '', /[\uE000-\uF8FF]/);
    const selected = await body.evaluate((element) => {
      const selection = window.getSelection()!;
      selection.selectAllChildren(element);
      return selection.toString();
    });
    assert.equal(selected.replace(/\s+/g, ' ').trim(), text.replace(/\s+/g, ' ').trim(), 'selecting the answer copies its text only');

    const stats = Object.fromEntries(
      await turn()
        .locator('.relay-stats .relay-stat')
        .evaluateAll((items) => items.map((item) => [item.querySelector('dt')?.textContent, item.querySelector('dd')?.textContent])),
    );
    assert.equal(stats.Calls, '1 · 1 call skipped');
    assert.equal(stats.Loss, 'cost $0.0011 more than the LLM alone, est.');
    assert.equal(stats.Saved, undefined, 'a loss is never shown as a saving');

    // Copy asks the host for the turn's text (the host's spans, where the marker has none).
    await turn().locator('.relay-actions button', { hasText: 'Copy' }).click();
    assert.deepEqual((await webview.posted()).slice(-1), [{ type: 'copy', turnId: 'a1' }]);
  });

  it('a restored turn keeps its markers and call figures; a malformed marker drops the turn', async () => {
    await deliver({
      type: 'init',
      view: 'answer',
      busy: false,
      turns: [
        {
          id: 'r1',
          role: 'assistant',
          spans: [
            { source: 'slm', text: 'So 47*6 is 2', tokens: 5 },
            {
              source: 'llm',
              text: '82',
              tokens: 1,
              model: 'gpt-4o',
              host: 'https://api.openai.com',
              durationMs: 400,
              calls: 1,
              costUsd: 0.0031,
              cachedShare: 0.82,
            },
            { source: 'slm', text: ', plus 28 is 3', tokens: 5 },
            { source: 'slm', text: '', tokens: 0, declined: { predictedUsd: 0.004, allowanceUsd: 0.0012 } },
            { source: 'slm', text: '10.', tokens: 2 },
          ],
          stats: STATS,
        },
        { id: 'bad', role: 'assistant', spans: [{ source: 'slm', text: '<b>not a marker</b>', tokens: 0, declined: { predictedUsd: 1, allowanceUsd: 0 } }] },
      ],
    });
    assert.equal(await webview.page.locator('article').count(), 1, 'the turn with a marker holding text is refused');
    assert.equal(await turn().locator('.relay-body').innerText(), 'So 47*6 is 282, plus 28 is 310.');
    assert.equal(await turn().locator('.relay-declined').getAttribute('title'), SKIP_TITLE);
    assert.equal(await turn().locator('.relay-llm').getAttribute('title'), LLM_TITLE);
  });

  it('charts the cost of the answers it shows, named as such (the turn cap drops answers whose money was spent; Show Savings has them)', async () => {
    await deliver(
      { type: 'init', view: 'answer', busy: false, turns: [] },
      ...['a1', 'a2'].flatMap((id) => [
        { type: 'turn-start', turn: { id, role: 'assistant', spans: [] } },
        { type: 'span', turnId: id, source: 'slm', text: 'An answer.', tokens: 3 },
        { type: 'turn-done', turnId: id, stats: STATS },
      ]),
    );
    const chart = webview.page.locator('.relay-chart');
    assert.equal(await chart.locator('figcaption').innerText(), 'Cost of the answers above');
    assert.match((await chart.locator('svg title').textContent()) ?? '', /^Cost of the answers above: .*Relay: Show Savings$/);
  });

  it('figures for a turn whose last span is not the LLM change nothing', async () => {
    await deliver(
      { type: 'init', view: 'answer', busy: true, turns: [] },
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a1', source: 'llm', text: 'Yes', tokens: 1, model: 'm' },
      { type: 'span', turnId: 'a1', source: 'slm', text: ', it is.', tokens: 3 },
      { type: 'call-figures', turnId: 'a1', durationMs: 400, calls: 1, costUsd: 0.5 },
      { type: 'turn-done', turnId: 'a1', stats: { ...STATS, declinedCalls: undefined } },
    );
    assert.equal(await turn().locator('.relay-llm').getAttribute('title'), 'Written by m · 1 token');
  });
});
