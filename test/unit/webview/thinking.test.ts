// A thinking model's <think>...</think> renders folded, with the LLM's marks kept, in the
// final render and while streaming (no block boundary inside it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { renderMarkdown } from '../../../media/src/markdown/render';
import { lastBlockBoundary } from '../../../media/src/markdown/streamBlocks';
import { thinkingOf } from '../../../src/core/relay/thinking';

const title = () => 'Written by the LLM';
const render = (text: string) => renderMarkdown([{ text }], title);

test('the thinking renders folded before the answer, as Markdown', () => {
  const html = render('<think>\nLet me add: **2 + 3**.\n</think>\n\nThe answer is 5.');
  assert.match(
    html,
    /^<details class="relay-thinking"><summary>Thinking<\/summary>\n<p>Let me add: <strong>2 \+ 3<\/strong>\.<\/p>\n<\/details>\n<p>The answer is 5\.<\/p>/,
  );
  assert.doesNotMatch(html, /&lt;\/?think&gt;/, 'the tags are not shown');
});

test("the LLM's words inside the thinking stay marked, and the marks stay balanced", () => {
  const html = renderMarkdown([{ text: '<think>\nLet me ' }, { text: 'add', llmIndex: 1 }, { text: '.\n</think>\n\nFive.' }], title);
  assert.match(html, /<details class="relay-thinking">[\s\S]*<span class="relay-llm"[^>]*>add<\/span>[\s\S]*<\/details>\n<p>Five\.<\/p>/);
  const sameLine = renderMarkdown([{ text: '<think>\nok\n' }, { text: '</think>\n\nSure', llmIndex: 2 }], title);
  assert.match(sameLine, /<\/details>\n<p><span class="relay-llm"[^>]*>Sure<\/span><\/p>/, 'an LLM span that begins with the closing tag marks what follows');
});

test('a thinking opened by the prompt, unfinished thinking, and tags inside a line', () => {
  assert.match(
    render('Reasoning here.\n</think>\n\nFive.'),
    /^<details class="relay-thinking"><summary>Thinking<\/summary>\n<p>Reasoning here\.<\/p>\n<\/details>\n<p>Five\.<\/p>/,
  );
  assert.match(
    render('<think>\nstill going'),
    /^<details class="relay-thinking"><summary>Thinking \(unfinished\)<\/summary>\n<p>still going<\/p>\n<\/details>/,
  );
  assert.match(
    render('<think>Quick thought</think>Answer'),
    /^<details class="relay-thinking"><summary>Thinking<\/summary>\n<p>Quick thought<\/p>\n<\/details>\n<p>Answer<\/p>/,
  );
  assert.match(render('Use a <think> tag in text.'), /<p>Use a &lt;think&gt; tag in text\.<\/p>/, 'a tag in the middle of prose is prose');
});

test('a </think> the answer quotes (in code, mid-sentence, in a fence) is text, not the end of a thinking the prompt opened', () => {
  for (const text of [
    'The string `</think>` closes the reasoning, then the answer follows.',
    'The template ends the reasoning with </think> and then answers.',
    'The parser looks for:\n\n```\n</think>\n```\n\nand splits there.',
  ]) {
    const html = render(text);
    assert.doesNotMatch(html, /relay-thinking/, text);
    assert.equal(thinkingOf(text), null, text);
  }
  // As a model closes a thinking its prompt opened: at the end of a line, or on one of its own.
  assert.deepEqual(thinkingOf('Reasoning.</think>\n\nFive.'), { text: 'Reasoning.', end: 'Reasoning.</think>'.length, closed: true });
  assert.match(render('Reasoning.\n</think>\n\nFive.'), /^<details class="relay-thinking">/);
});

test('while streaming, no block is cut inside the thinking', () => {
  const text = '<think>\nFirst idea.\n\nSecond idea.\n\n';
  assert.equal(lastBlockBoundary(text, 0), 0, 'the open thinking is one block');
  const closed = `${text}</think>\n\nAnswer.\n\n`;
  assert.equal(lastBlockBoundary(closed, 0), closed.length, 'cut after it once it closed');
});
