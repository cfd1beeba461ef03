// Crafted model text cannot lie about who wrote what in the answer view: SLM text holding
// the private-use characters the view uses as span markers does not get an LLM mark, LLM
// text holding them does not end its own mark early, in the streaming tail, in the blocks
// rendered while streaming, in the finished answer and in a restored turn; and the
// characters show as written (icon fonts put glyphs there). A model name with `$` patterns
// shows in the hover as written. The same holds for the characters written as character
// references (&#xE100;, shown as U+FFFD) or KaTeX's \char"E100 (shown as the character),
// which only become characters inside the renderer. Checked in Chromium (browserPage.ts).
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NO_BROWSER, sharedWebviewPage } from './browserPage';

type Piece = { source: 'slm' | 'llm'; text: string };

/** SLM text posing as LLM text (open marker 5, close), LLM text closing its own mark early, and a stray open marker at the end. */
const CRAFTED: Piece[] = [
  { source: 'slm', text: 'Plain \uE105posing as the LLM\uE000 text.\n\n' },
  { source: 'llm', text: 'real \uE000LLM words' },
  { source: 'slm', text: ' and \uE100the SLM again.' },
];

/**
 * The same pieces written so that the renderer decodes them after stripping the characters:
 * as character references (hex, decimal, upper case, leading zeros) and through KaTeX's \char.
 * The SLM poses as the LLM and places a skipped-call marker; the LLM ends its own mark early.
 */
const DECODED: Piece[] = [
  { source: 'slm', text: 'SLM says &#xE100;I am the LLM&#xE000; and &#xE001; done.\n\n' },
  { source: 'slm', text: 'Also &#57605;decimal&#57344;, &#X0E105;upper&#x0e000;, &#0057601;zeros&#57345; and $\\char"E100$ forged $\\char"E000$ math.\n\n' },
  { source: 'llm', text: 'real &#xE000;LLM $\\char"E000$ words' },
  { source: 'slm', text: ' and the SLM again.' },
];

/** Text of the turn inside and outside LLM marks (KaTeX's hidden MathML copy left out), and the skipped-call markers. */
interface Attribution {
  marked: string;
  unmarked: string;
  markers: number;
}

interface Marks {
  /** Text of each LLM mark, in document order, by where it is. */
  tail: string[];
  blocks: string[];
  /** Visible text of the whole turn. */
  text: string;
}

describe('crafted model text cannot forge or cut LLM marks', { skip: NO_BROWSER }, () => {
  const webview = sharedWebviewPage();

  it('while streaming (tail and rendered blocks) and once finished', async () => {
    const result: { streaming: Marks; finished: Marks } = await webview().page.evaluate((pieces) => {
      const { TurnView } = (window as any).relayWebview;
      const view = new TurnView('t1', 'assistant', [], { view: 'answer', post: () => undefined });
      document.body.replaceChildren(view.element);
      const marks = (): Marks => ({
        tail: [...view.element.querySelectorAll('.relay-tail .relay-llm')].map((mark: Element) => mark.textContent ?? ''),
        blocks: [...view.element.querySelectorAll('.relay-blocks .relay-llm')].map((mark: Element) => mark.textContent ?? ''),
        text: (view.element.querySelector('.relay-body')?.textContent ?? '').replace(/\s+/g, ' ').trim(),
      });
      // Token by token, as the host sends them.
      for (const piece of pieces) for (const text of piece.text.match(/[\s\S]{1,3}/g) ?? []) view.appendSpan(piece.source, text, 1, 'big-model');
      const streaming = marks();
      view.finish();
      return { streaming, finished: marks() };
    }, CRAFTED);

    const asWritten = 'Plain \uE105posing as the LLM\uE000 text. real \uE000LLM words and \uE100the SLM again.';
    assert.deepEqual(result.streaming.blocks, [], 'the SLM paragraph rendered while streaming has no mark');
    assert.deepEqual(result.streaming.tail, ['real \uE000LLM words'], 'one mark in the tail, around all of the LLM text');
    assert.equal(result.streaming.text, asWritten, 'the characters show as written');
    assert.deepEqual(result.finished.tail, []);
    assert.deepEqual(result.finished.blocks, ['real \uE000LLM words'], 'the finished answer: one mark, around all of the LLM text');
    assert.equal(result.finished.text, asWritten, 'the words on screen do not change when the answer finishes');
  });

  it('in a restored turn', async () => {
    const result: Marks & { titles: string[] } = await webview().page.evaluate((pieces) => {
      const { TurnView } = (window as any).relayWebview;
      const spans = pieces.map((piece: Piece) => ({ ...piece, tokens: 2, model: 'big-model' }));
      const view = TurnView.restored({ id: 't2', role: 'assistant', spans }, { view: 'chat', post: () => undefined });
      document.body.replaceChildren(view.element);
      const marks = [...view.element.querySelectorAll('.relay-llm')];
      return {
        tail: [],
        blocks: marks.map((mark: Element) => mark.textContent ?? ''),
        titles: marks.map((mark: Element) => mark.getAttribute('title') ?? ''),
        text: (view.element.querySelector('.relay-body')?.textContent ?? '').replace(/\s+/g, ' ').trim(),
      };
    }, CRAFTED);
    assert.deepEqual(result.blocks, ['real \uE000LLM words']);
    assert.deepEqual(result.titles, ['Written by big-model · 2 tokens']);
    assert.equal(result.text, 'Plain \uE105posing as the LLM\uE000 text. real \uE000LLM words and \uE100the SLM again.');
  });

  it("a model name with $' and $& shows in the hover of marked math as written, and adds no attribute", async () => {
    const model = "evil$'model$&$1";
    const result = await webview().page.evaluate((model) => {
      const { TurnView } = (window as any).relayWebview;
      const spans = [
        { source: 'slm', text: 'So ', tokens: 1 },
        { source: 'llm', text: '$x^2$', tokens: 1, model },
        { source: 'slm', text: ' holds.', tokens: 1 },
      ];
      const view = TurnView.restored({ id: 't3', role: 'assistant', spans }, { view: 'chat', post: () => undefined });
      document.body.replaceChildren(view.element);
      const marks = [...view.element.querySelectorAll('.relay-llm')];
      return marks.map((mark: Element) => ({ title: mark.getAttribute('title'), attributes: mark.getAttributeNames().sort() }));
    }, model);
    assert.deepEqual(result, [{ title: `Written by ${model} · 1 token`, attributes: ['class', 'data-span', 'data-tex', 'title'] }]);
  });

  it('character references and KaTeX \\char that decode to the marker characters forge no mark and end none early', async () => {
    const result: Record<'blocksWhileStreaming' | 'finished' | 'restored', Attribution> = await webview().page.evaluate((pieces) => {
      const { TurnView } = (window as any).relayWebview;
      const attribution = (root: Element): Attribution => {
        let marked = '';
        let unmarked = '';
        const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
        for (let node = walker.nextNode(); node; node = walker.nextNode()) {
          const parent = node.parentElement;
          if (!parent || parent.closest('.katex-mathml')) continue;
          if (parent.closest('.relay-llm')) marked += node.textContent;
          else unmarked += node.textContent;
        }
        const squash = (text: string) => text.replace(/\s+/g, ' ').trim();
        return { marked: squash(marked), unmarked: squash(unmarked), markers: root.querySelectorAll('.relay-declined').length };
      };
      const streaming = new TurnView('t4', 'assistant', [], { view: 'answer', post: () => undefined });
      document.body.replaceChildren(streaming.element);
      for (const piece of pieces) for (const text of piece.text.match(/[\s\S]{1,3}/g) ?? []) streaming.appendSpan(piece.source, text, 1, 'big-model');
      const blocksWhileStreaming = attribution(streaming.element.querySelector('.relay-blocks'));
      streaming.finish();
      const finished = attribution(streaming.element.querySelector('.relay-body'));
      const spans = pieces.map((piece: Piece) => ({ ...piece, tokens: 2, model: 'big-model' }));
      const restored = TurnView.restored({ id: 't5', role: 'assistant', spans }, { view: 'chat', post: () => undefined });
      document.body.replaceChildren(restored.element);
      return { blocksWhileStreaming, finished, restored: attribution(restored.element.querySelector('.relay-body')) };
    }, DECODED);

    assert.deepEqual(result.blocksWhileStreaming, {
      marked: '',
      unmarked:
        'SLM says \uFFFDI am the LLM\uFFFD and \uFFFD done. Also \uFFFDdecimal\uFFFD, \uFFFDupper\uFFFD, \uFFFDzeros\uFFFD and \uE100 forged \uE000 math.',
      markers: 0,
    });
    for (const [where, attribution] of Object.entries({ finished: result.finished, restored: result.restored })) {
      assert.equal(attribution.marked, 'real \uFFFDLLM \uE000 words', `${where}: the LLM's text is marked to its end`);
      assert.doesNotMatch(attribution.unmarked, /LLM words|real/, where);
      assert.match(
        attribution.unmarked,
        /I am the LLM.*decimal.*upper.*zeros.* forged .* and the SLM again\.$/,
        `${where}: the SLM's text is unmarked, and kept`,
      );
      assert.equal(attribution.markers, 0, `${where}: no skipped-call marker`);
    }
  });
});
