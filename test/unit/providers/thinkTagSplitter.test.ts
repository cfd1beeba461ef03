/**
 * The content of a chat stream that opens with `<think>` (Groq's qwen3 by default, vLLM without
 * a reasoning parser) is reasoning up to `</think>`, whatever pieces the tags come in; content
 * that does not open with it is text, let through as it comes.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ThinkTagSplitter } from '../../../src/core/providers/streamedReasoning';

/** Feeds the pieces, then ends: the text and reasoning out, and what each push let through at once. */
function split(pieces: string[]) {
  const splitter = new ThinkTagSplitter();
  const perPush = pieces.map((piece) => splitter.push(piece));
  const last = splitter.end();
  const all = [...perPush, last];
  return { text: all.map((s) => s.text).join(''), reasoning: all.map((s) => s.reasoning).join(''), perPush };
}

test('a <think> block at the head is reasoning; the blank lines after </think> go, the space that belongs to the answer stays', () => {
  const got = split(['<think>', '\nOkay', '</think>\n\n', ' Paris']);
  assert.equal(got.text, ' Paris');
  assert.equal(got.reasoning, '<think>\nOkay</think>');
  assert.deepEqual(
    got.perPush.map((s) => s.text),
    ['', '', '', ' Paris'],
    'the text comes as soon as it is known',
  );
  assert.equal(split(['<think>x</think>\n\nParis']).text, 'Paris');
  assert.equal(split(['<think>x</think> Paris']).text, ' Paris', "no line break: the space is the answer's");
});

test('the tags split at every character boundary read the same', () => {
  const whole = '\n<think>\nThe user asks.\n</think>\n\n The capital is Paris.';
  for (let size = 1; size <= 9; size++) {
    const pieces = whole.match(new RegExp(`[\\s\\S]{1,${size}}`, 'g'))!;
    const got = split(pieces);
    assert.equal(got.text, ' The capital is Paris.', `pieces of ${size}`);
    assert.equal(got.reasoning, '\n<think>\nThe user asks.\n</think>', `pieces of ${size}`);
  }
});

test('content that does not open with <think> passes through unchanged and at once; a later "<think>" is text', () => {
  const mention = ['Use the ', '<think>', ' tag; it ends at ', '</think>', '.'];
  const got = split(mention);
  assert.equal(got.text, mention.join(''));
  assert.equal(got.reasoning, '');
  assert.deepEqual(
    got.perPush.map((s) => s.text),
    mention,
    'nothing held once the head is not the tag',
  );
  // Held only while it can still be the tag, and only that long.
  const splitter = new ThinkTagSplitter();
  assert.equal(splitter.push('<thi').text, '');
  assert.equal(splitter.push('s is').text, '<this is');
  assert.equal(split([' Paris']).perPush[0].text, ' Paris');
  assert.equal(split(['<', 'b>bold</b>']).text, '<b>bold</b>');
});

test('a <think> never closed is all reasoning; whitespace alone is not held past its bound', () => {
  assert.deepEqual([split(['<think>', 'Okay, the user']).text, split(['<think>', 'Okay, the user']).reasoning], ['', '<think>Okay, the user']);
  const blank = ' '.repeat(100);
  assert.equal(split([blank]).perPush[0].text, blank, 'a long run of whitespace flows (the reader cuts a call past its limit)');
  assert.equal(split(['<think>a</think>', '\n'.repeat(100), ' Paris']).text, ' Paris', 'blank lines after the close go, however many');
});
