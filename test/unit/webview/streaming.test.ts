// Streaming an answer into a TurnView in Chromium: each token only appends to the short
// plain-text tail; a finished Markdown block is rendered once and never touched again;
// finishing swaps in the whole answer once, and what the user reads does not change.
// DOM changes are counted with a MutationObserver, drained after every token.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NO_BROWSER, sharedWebviewPage } from './browserPage';

type Piece = { source: 'slm' | 'llm'; text: string };

/** An answer of three blocks (paragraph, list with an LLM span, paragraph with an LLM span), cut into tokens of at most 4 characters. */
function tokens(): Piece[] {
  const parts: Piece[] = [
    { source: 'slm', text: 'Relay decoding lets a small model write.\n\n- one\n- two ' },
    { source: 'llm', text: 'written by the LLM' },
    { source: 'slm', text: '\n- three\n\nDone ' },
    { source: 'llm', text: 'here' },
    { source: 'slm', text: ', at last.' },
  ];
  return parts.flatMap((part) => part.text.match(/[\s\S]{1,4}/g)!.map((text) => ({ source: part.source, text })));
}

interface TokenEffect {
  text: string;
  /** Child list changes under .relay-blocks (a rendered block added or removed). */
  blockNodesAdded: number;
  blockNodesRemoved: number;
  /** Any change inside a frozen block's subtree. */
  frozenBlockChanges: number;
  /** Child list changes of the tail (a new piece, or a rebuild after a freeze). */
  tailChildListChanges: number;
  /** Text appended in place (characterData). */
  textChanges: number;
}

interface StreamResult {
  effects: TokenEffect[];
  blocksWhileStreaming: number;
  firstBlockKeptIdentity: boolean;
  firstBlockHtmlUnchanged: boolean;
  tailLlmTitles: string[];
  textBeforeFinish: string;
  textAfterFinish: string;
  finishRemovedBlocks: number;
  finalMarks: Array<{ text: string; inside: string }>;
}

describe('streaming an answer into the DOM', { skip: NO_BROWSER }, () => {
  const webview = sharedWebviewPage();

  it('appends each token to the tail, renders each finished block once, and finishes with one swap', async () => {
    const pieces = tokens();
    const result: StreamResult = await webview().page.evaluate((pieces) => {
      const { TurnView } = (window as any).relayWebview;
      const view = new TurnView('t1', 'assistant', [], { view: 'answer', post: () => undefined });
      document.body.replaceChildren(view.element);
      const blocks = view.element.querySelector('.relay-blocks') as HTMLElement;
      const tail = view.element.querySelector('.relay-tail') as HTMLElement;
      const observer = new MutationObserver(() => undefined);
      observer.observe(view.element, { subtree: true, childList: true, characterData: true, attributes: true });
      const frozen: Element[] = [];
      const effects = [];
      let firstBlock: Element | undefined;
      let firstBlockHtml = '';
      for (const piece of pieces) {
        view.appendSpan(piece.source, piece.text, 1, piece.source === 'llm' ? 'big-model' : undefined);
        const records = observer.takeRecords();
        const effect = { text: piece.text, blockNodesAdded: 0, blockNodesRemoved: 0, frozenBlockChanges: 0, tailChildListChanges: 0, textChanges: 0 };
        for (const record of records) {
          if (record.type === 'characterData') effect.textChanges++;
          if (frozen.some((block) => block.contains(record.target))) effect.frozenBlockChanges++;
          if (record.target === blocks && record.type === 'childList') {
            effect.blockNodesAdded += record.addedNodes.length;
            effect.blockNodesRemoved += record.removedNodes.length;
          }
          if (record.target === tail && record.type === 'childList') effect.tailChildListChanges++;
        }
        // Blocks added by this token are frozen from now on.
        for (const block of blocks.children) if (!frozen.includes(block)) frozen.push(block);
        if (!firstBlock && blocks.firstElementChild) {
          firstBlock = blocks.firstElementChild;
          firstBlockHtml = firstBlock.innerHTML;
        }
        effects.push(effect);
      }
      const tailLlmTitles = [...tail.querySelectorAll('.relay-llm')].map((mark) => mark.getAttribute('title') ?? '');
      const blocksWhileStreaming = blocks.children.length;
      const firstBlockKeptIdentity = blocks.firstElementChild === firstBlock && Boolean(firstBlock?.isConnected);
      const firstBlockHtmlUnchanged = firstBlock?.innerHTML === firstBlockHtml;
      const visibleText = () => (view.element.querySelector('.relay-body')?.textContent ?? '').replace(/\s+/g, ' ').trim();
      const textBeforeFinish = visibleText();
      view.finish({
        slmTokens: 10,
        llmTokens: 2,
        llmTokenShare: 2 / 12,
        calls: 2,
        costUsd: 0.001,
        llmOnlyCostUsd: 0.01,
        savedUsd: 0.009,
        elapsedMs: 500,
        finishReason: 'eos',
      });
      const finishRecords = observer.takeRecords();
      observer.disconnect();
      return {
        effects,
        blocksWhileStreaming,
        firstBlockKeptIdentity,
        firstBlockHtmlUnchanged,
        tailLlmTitles,
        textBeforeFinish,
        textAfterFinish: visibleText(),
        finishRemovedBlocks: finishRecords.filter((r) => r.target === blocks).reduce((sum, r) => sum + r.removedNodes.length, 0),
        finalMarks: [...view.element.querySelectorAll('.relay-body .relay-llm')].map((mark) => ({
          text: mark.textContent ?? '',
          inside: mark.parentElement?.tagName.toLowerCase() ?? '',
        })),
      };
    }, pieces);

    const { effects } = result;
    assert.equal(effects.length, pieces.length);
    // Blocks: the first paragraph and the list finish while streaming; the last paragraph is still the tail.
    assert.equal(result.blocksWhileStreaming, 2, 'two blocks rendered while streaming');
    assert.equal(
      effects.reduce((sum, e) => sum + e.blockNodesAdded, 0),
      2,
      'each finished block was rendered exactly once',
    );
    assert.equal(
      effects.reduce((sum, e) => sum + e.blockNodesRemoved, 0),
      0,
      'no rendered block was ever replaced while streaming',
    );
    assert.equal(
      effects.reduce((sum, e) => sum + e.frozenBlockChanges, 0),
      0,
      'nothing inside a rendered block changed afterwards',
    );
    assert.ok(result.firstBlockKeptIdentity, 'the first block is the same DOM node at the end of streaming');
    assert.ok(result.firstBlockHtmlUnchanged);

    // Tokens: most only extend a text node; the tail's children change only when the source switches or a block freezes.
    const quiet = effects.filter((e) => e.blockNodesAdded === 0 && e.tailChildListChanges === 0);
    assert.ok(quiet.length >= effects.length - 8, `only ${quiet.length} of ${effects.length} tokens were plain text appends`);
    for (const effect of quiet) assert.equal(effect.textChanges, 1, `token ${JSON.stringify(effect.text)} changed ${effect.textChanges} text nodes`);

    // The LLM's text is marked while it streams, with its hover.
    assert.deepEqual(result.tailLlmTitles, ['Written by big-model · 1 token'], 'the tail holds the last paragraph with its LLM word');

    // Finishing: one swap of the rendered blocks; the words on screen stay the same.
    assert.equal(result.finishRemovedBlocks, 2);
    assert.equal(result.textAfterFinish, result.textBeforeFinish);
    assert.deepEqual(result.finalMarks, [
      { text: 'written by the LLM', inside: 'li' },
      { text: 'here', inside: 'p' },
    ]);
  });

  it('a span split mid-word across tokens keeps one mark per span in the tail', async () => {
    const marks = await webview().page.evaluate(() => {
      const { TurnView } = (window as any).relayWebview;
      const view = new TurnView('t2', 'assistant', [], { view: 'chat', post: () => undefined });
      document.body.replaceChildren(view.element);
      for (const [source, text] of [
        ['slm', 'The sum is '],
        ['llm', 'fi'],
        ['llm', 've'],
        ['slm', '.'],
      ])
        view.appendSpan(source, text, 1, 'm');
      return [...view.element.querySelectorAll('.relay-tail .relay-llm')].map((mark) => [mark.textContent, mark.getAttribute('title')]);
    });
    assert.deepEqual(marks, [['five', 'Written by m · 2 tokens']]);
  });
});
