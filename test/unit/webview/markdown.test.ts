// The LLM's text stays marked through Markdown rendering: inside list items, fenced code
// (highlighted), inline and display math (KaTeX), across paragraphs, and escaped. The
// renderer is DOM-free, but "marked inside a list item" is a question about the DOM, so
// the HTML is parsed by Chromium, the engine the webview runs in (browserPage.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { SourceSegment } from '../../../media/src/markdown/sentinels';
import { NO_BROWSER, sharedWebviewPage } from './browserPage';

interface Rendered {
  /** Text of each mark, in document order. */
  marks: string[];
  /** For each mark: the tag names of its ancestors up to the container, innermost first. */
  markAncestors: string[][];
  /** data-span and title of each mark. */
  markInfo: Array<{ span: string | null; title: string | null }>;
  text: string;
  html: string;
}

describe('Markdown rendering keeps LLM spans marked', { skip: NO_BROWSER }, () => {
  const webview = sharedWebviewPage();

  /** Renders segments in the page (as TurnView does) and describes the marks. */
  function render(segments: SourceSegment[], query = '.relay-llm'): Promise<Rendered & { query: number }> {
    return webview().page.evaluate(
      ({ segments, query }) => {
        const { renderMarkdown, setRenderedHtml } = (window as any).relayWebview;
        const container = document.createElement('div');
        document.body.replaceChildren(container);
        setRenderedHtml(
          container,
          renderMarkdown(segments, (index: number) => `span ${index}`),
        );
        const marks = [...container.querySelectorAll('.relay-llm')];
        const ancestors = (element: Element) => {
          const names: string[] = [];
          for (let at = element.parentElement; at && at !== container; at = at.parentElement) names.push(at.tagName.toLowerCase());
          return names;
        };
        return {
          marks: marks.map((mark) => mark.textContent ?? ''),
          markAncestors: marks.map(ancestors),
          markInfo: marks.map((mark) => ({ span: mark.getAttribute('data-span'), title: mark.getAttribute('title') })),
          text: container.textContent ?? '',
          html: container.innerHTML,
          query: container.querySelectorAll(query).length,
        };
      },
      { segments, query },
    );
  }

  const NO_SENTINELS = /[\uE000-\uF8FF]/;

  it('marks an LLM span inside a list item, and only there', async () => {
    const out = await render([{ text: 'Steps:\n\n- first\n- second ' }, { text: 'written by the LLM', llmIndex: 1 }, { text: '\n- third\n' }], 'ul > li');
    assert.equal(out.query, 3, 'still a list of three items');
    assert.deepEqual(out.marks, ['written by the LLM']);
    assert.deepEqual(out.markAncestors[0], ['li', 'ul']);
    assert.deepEqual(out.markInfo[0], { span: '1', title: 'span 1' }, 'the mark says which call wrote it');
    assert.doesNotMatch(out.html, NO_SENTINELS);
  });

  it('an LLM span that starts a list item keeps the item a list item', async () => {
    const out = await render([{ text: '1. one\n' }, { text: '2. two by the LLM\n', llmIndex: 0 }, { text: '3. three\n' }], 'ol > li');
    assert.equal(out.query, 3, 'the marker moved out of the way of the sentinel: three items');
    assert.deepEqual(out.marks, ['two by the LLM']);
    assert.deepEqual(out.markAncestors[0], ['li', 'ol']);
  });

  it('marks LLM text inside a highlighted code block, even when it splits a keyword', async () => {
    const code = [{ text: '```js\nconst total = ' }, { text: 'items.length;\nret', llmIndex: 0 }, { text: 'urn total;\n```\n' }];
    const out = await render(code, 'pre > code .hljs-keyword');
    assert.equal(out.query, 2, 'const and return are still highlighted as keywords');
    assert.equal(out.marks.join(''), 'items.length;\nret');
    for (const ancestors of out.markAncestors) assert.ok(ancestors.includes('code') && ancestors.includes('pre'), `a mark outside the code: ${ancestors}`);
    assert.equal(out.text.trimEnd(), 'const total = items.length;\nreturn total;', 'the code reads exactly as written');
    const keyword = await webview().page.evaluate(() => [...document.querySelectorAll('.hljs-keyword')].map((k) => k.textContent));
    assert.deepEqual(keyword, ['const', 'return'], 'the keyword split by the span boundary is one highlighted keyword');
    assert.doesNotMatch(out.html, NO_SENTINELS);
  });

  it('marks inline math the LLM wrote part of, as a whole, rendered by KaTeX', async () => {
    const out = await render([{ text: 'So $x = ' }, { text: '\\frac{1}{2}', llmIndex: 3 }, { text: '$ holds.' }], '.relay-math.relay-llm .katex .mfrac');
    assert.equal(out.query, 1, 'one marked KaTeX fraction');
    assert.equal(out.markInfo.length, 1, 'the math is one atomic mark');
    assert.deepEqual(out.markInfo[0], { span: '3', title: 'span 3' });
    assert.deepEqual(out.markAncestors[0], ['p']);
    assert.match(out.text.trim(), /^So .* holds\.$/s);
    assert.doesNotMatch(out.html, NO_SENTINELS);
  });

  it('marks display math written by the LLM', async () => {
    const out = await render(
      [{ text: 'The answer:\n\n$$\n' }, { text: '\\boxed{5}', llmIndex: 0 }, { text: '\n$$\n' }],
      '.relay-math-display.relay-llm .katex-display',
    );
    assert.equal(out.query, 1);
    assert.doesNotMatch(out.html, NO_SENTINELS);
    assert.doesNotMatch(out.html, /katex-error/, 'KaTeX parsed it');
  });

  it("KaTeX's layout styles bypass the CSP's ban on style attributes: deferred, then set through CSSOM", async () => {
    const html: string = await webview().page.evaluate(() => (window as any).relayWebview.renderMarkdown([{ text: '$x^2$' }], () => ''));
    assert.doesNotMatch(html, / style="/, 'no style attribute for the CSP to block');
    const out = await render([{ text: '$x^2$' }], '.katex .katex-strut');
    assert.ok(out.query > 0);
    const heights = await webview().page.evaluate(() => [...document.querySelectorAll<HTMLElement>('.katex-strut')].map((strut) => strut.style.height));
    assert.ok(
      heights.every((height) => /em$/.test(height)),
      `struts without a height: ${heights}`,
    );
    assert.doesNotMatch(out.html, /data-relay-style/, 'every deferred style was applied');
  });

  it('unmarked math stays unmarked next to a marked span', async () => {
    const out = await render([{ text: '$a^2$ and ' }, { text: 'more', llmIndex: 0 }], '.relay-math:not(.relay-llm)');
    assert.equal(out.query, 1);
    assert.deepEqual(out.marks, ['more']);
  });

  it('a span across two paragraphs is marked in each, never around the break', async () => {
    const out = await render([{ text: 'One ' }, { text: 'two.\n\nThree', llmIndex: 0 }, { text: ' four.' }], 'p');
    assert.equal(out.query, 2);
    assert.deepEqual(out.marks, ['two.', 'Three']);
    assert.deepEqual(out.markAncestors, [['p'], ['p']]);
  });

  it('Markdown inside an LLM span renders, and its HTML is escaped, never run', async () => {
    const out = await render([{ text: 'Note: ' }, { text: '**bold** <img src=x onerror="alert(1)">', llmIndex: 0 }], 'img, script');
    assert.equal(out.query, 0, 'no element from the LLM text');
    assert.deepEqual(out.marks, ['bold', ' <img src=x onerror="alert(1)">']);
    assert.deepEqual(out.markAncestors[0], ['strong', 'p']);
  });
});
