// Finding the finished Markdown blocks of an answer being written reads each character once:
// a long code fence is not read again at every newline (a 32k-token fence used to cost
// hundreds of millions of characters read), and the cuts are the ones a full scan finds.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BlockBoundaryScanner, blockScanStats, lastBlockBoundary } from '../../../media/src/markdown/streamBlocks';
import { NO_BROWSER, sharedWebviewPage } from './browserPage';

const MIXED = [
  'Intro paragraph.\n\n',
  '```ts\nconst a = 1;\n\nconst b = 2;\n```\n\n',
  '$$\nx^2\n\n+ y\n$$\n\n',
  '\\[\na\n\n\\]\n\n',
  '<think>\nthinking\n\nmore\n</think>\n\n',
  '- item\n- item\n\n\n\nAfter blank lines.\n',
  '   ~~~~\ninside\n\n~~~~\n\n',
  '$$one line$$\n\nlast paragraph without a newline',
].join('');

describe('finding finished blocks while streaming', () => {
  it('cuts where a full scan from the last cut does, at every token, reading each character once', () => {
    for (const size of [1, 3, 4, 7, 50]) {
      const scanner = new BlockBoundaryScanner();
      const start = blockScanStats.characters;
      let text = '';
      let cut = 0;
      for (let at = 0; at < MIXED.length; at += size) {
        text += MIXED.slice(at, at + size);
        const before = blockScanStats.characters;
        const expected = lastBlockBoundary(text, cut);
        // What the full scan of the check read does not count.
        blockScanStats.characters = before;
        const found = scanner.scan(text);
        assert.equal(found, expected, `tokens of ${size}, at ${text.length}`);
        cut = found;
      }
      assert.ok(blockScanStats.characters - start <= MIXED.length, `tokens of ${size}: read ${blockScanStats.characters - start} of ${MIXED.length}`);
    }
  });
});

describe('streaming a long code fence into a turn', { skip: NO_BROWSER }, () => {
  const webview = sharedWebviewPage();

  it('reads at most twice the text to find its blocks (2,000 lines in one fence)', async () => {
    let text = 'Here is the whole file:\n\n```ts\n';
    for (let i = 0; i < 2000; i++) text += `  const value${i} = compute(${i}, "x") + other${i};\n`;
    text += '```\n\nDone.\n';
    const result = await webview().page.evaluate((text) => {
      const { TurnView, blockScanStats } = (window as any).relayWebview;
      const view = new TurnView('t1', 'assistant', [], { view: 'answer', post: () => undefined });
      document.body.replaceChildren(view.element);
      const start = blockScanStats.characters;
      for (let at = 0; at < text.length; at += 4) view.appendSpan('slm', text.slice(at, at + 4), 1);
      const blocks = [...view.element.querySelectorAll('.relay-blocks > .relay-block')].map((block) => block.textContent ?? '');
      return { read: blockScanStats.characters - start, blocks };
    }, text);
    assert.ok(result.read <= 2 * text.length, `read ${result.read} characters for ${text.length}`);
    assert.equal(result.blocks.length, 2, 'the intro and the fence, each rendered once finished');
    assert.match(result.blocks[1], /value1999/);
  });
});
