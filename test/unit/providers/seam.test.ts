import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InstructedSeamCleaner, WhitespaceSeam, cleanSeam, overlapLength } from '../../../src/core/providers/seam';

function streamThrough(partial: string, pieces: string[]): string {
  const cleaner = new InstructedSeamCleaner(partial);
  return pieces.map((p) => cleaner.push(p)).join('') + cleaner.end();
}

test('seam: a repeated tail of the answer is cut, the joining space kept', () => {
  assert.equal(cleanSeam('The capital of France is', 'France is Paris, a city on the Seine.'), ' Paris, a city on the Seine.');
  assert.equal(cleanSeam('We add 3 and 4 to get', 'to get 7.'), ' 7.');
});

test('seam: greetings and preambles are dropped', () => {
  assert.equal(cleanSeam('The capital of France is', 'Sure! Here is the continuation: Paris.'), ' Paris.');
  assert.equal(cleanSeam('The capital of France is', 'Certainly, Paris.'), ' Paris.');
  assert.equal(cleanSeam('The capital of France is', 'Continuation: Paris.'), ' Paris.');
});

test('seam: a quote that opens a repeat of the answer is dropped with the repeat', () => {
  assert.equal(cleanSeam('so the sum is', '"so the sum is 12."'), ' 12."');
});

test('seam: the joining space is added only where words meet', () => {
  assert.equal(cleanSeam('The answer is', 'Paris.'), ' Paris.');
  assert.equal(cleanSeam('The answer is ', ' Paris.'), 'Paris.');
  assert.equal(cleanSeam('The answer is Paris', ', the capital.'), ', the capital.');
  assert.equal(cleanSeam('f(x) = (', 'x + 1)'), 'x + 1)');
  assert.equal(cleanSeam('', 'Hello there.'), 'Hello there.');
});

test('seam: short coincidences are not treated as repeats', () => {
  // "is" is too short to be a repeat: it stays (a word boundary + minimum length rule).
  assert.equal(overlapLength('This is', 'is it?'), 0);
  // "France" inside "Frances" is not on a word boundary.
  assert.equal(overlapLength('We met France', 'Frances later'), 0);
  assert.equal(overlapLength('We met France', 'France later'), 6);
});

test('seam: streamed in small pieces, a long repeat is still cut (held back until decidable)', () => {
  const partial = 'Step 1: multiply both sides by two, so that the fraction disappears and';
  const reply = 'multiply both sides by two, so that the fraction disappears and we get 2x = 10.';
  const pieces = reply.match(/.{1,3}/g)!;
  assert.equal(streamThrough(partial, pieces), ' we get 2x = 10.');
});

test('seam: text after the head passes through unchanged', () => {
  const partial = 'The list is';
  const reply = ' a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q, r, s, t, u, v, w, x, y, z and more letters follow';
  assert.equal(streamThrough(partial, reply.match(/.{1,5}/g)!), reply);
});

test('whitespace seam: whitespace trimmed from the prefill is not written twice', () => {
  const seam = new WhitespaceSeam('\n\n');
  assert.equal(seam.push('\n'), '');
  assert.equal(seam.push('\nNext paragraph'), 'Next paragraph');
  assert.equal(seam.push('\n\nmore'), '\n\nmore');
  const space = new WhitespaceSeam(' ');
  assert.equal(space.push(' Paris'), 'Paris');
  const none = new WhitespaceSeam(' ');
  assert.equal(none.push('.'), '.');
  assert.equal(none.push(' x'), ' x');
});

test("a cut inside a word or a number is glued, as the SLM's own next token says; a new word gets its space", () => {
  // Without a hint: a digit after a digit goes on the number (Qwen writes digits one token each).
  assert.equal(cleanSeam('The total is 155', '0 dollars.'), '0 dollars.');
  // The SLM's next token had no leading space: inside a word.
  assert.equal(cleanSeam('The two are compar', 'ed by size.', 'none'), 'ed by size.');
  assert.equal(cleanSeam('It returns Date', '.now() here.', 'none'), '.now() here.');
  // Its next token started with a space: a new word, whatever the model dropped.
  assert.equal(cleanSeam('The capital of France is', 'Paris.', 'space'), ' Paris.');
  assert.equal(cleanSeam('We add 3 and 4 to get', '7.', 'space'), ' 7.');
  // A space the model wrote itself stays; a repeat of the tail is still removed.
  assert.equal(cleanSeam('The capital of France is', ' Paris.', 'none'), ' Paris.');
  assert.equal(cleanSeam('The capital of France is', 'France is Paris.', 'space'), ' Paris.');
});
