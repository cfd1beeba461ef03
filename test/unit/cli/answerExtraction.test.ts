import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answersMatch, extractAnswer, extractBoxed, extractLastNumber, extractReference } from '../../../src/core/relay/answerExtraction';

test('\\boxed{} extraction takes the last box and balances braces', () => {
  assert.equal(extractBoxed('first \\boxed{1} then \\boxed{\\frac{1}{2}} done'), '\\frac{1}{2}');
  assert.equal(extractBoxed('no box'), null);
  assert.equal(extractBoxed('\\boxed{unclosed'), null);
  assert.equal(extractBoxed('\\fbox{7}'), '7');
});

test('final-number extraction handles commas, signs and decimals', () => {
  assert.equal(extractLastNumber('He pays $1,234.50 and gets -3 back, so 18.'), '18');
  assert.equal(extractLastNumber('total: 1,234'), '1234');
  assert.equal(extractLastNumber('about -0.5'), '-0.5');
  assert.equal(extractLastNumber('none'), null);
  assert.equal(extractAnswer('so \\boxed{42} and 7 more'), '42', 'a box wins over the last number');
});

test('references: GSM8K #### and MATH solutions', () => {
  assert.equal(extractReference('Janet has 3... #### 1,080'), '1080');
  assert.equal(extractReference('so the answer is $\\boxed{\\dfrac{3}{4}}$.'), '\\dfrac{3}{4}');
  assert.equal(extractReference('  72 '), '72');
});

test('answers compare numerically or as normalised LaTeX', () => {
  assert.ok(answersMatch('72', '72.0'));
  assert.ok(answersMatch('\\frac{3}{4}', '0.75'));
  assert.ok(answersMatch('\\dfrac{3}{4}', '\\frac{3}{4}'));
  assert.ok(answersMatch('x = 5', '5'));
  assert.ok(answersMatch('10\\%', '10'));
  assert.ok(answersMatch('\\left(1, 2\\right)', '(1,2)'));
  assert.ok(!answersMatch('71', '72'));
  assert.ok(!answersMatch(null, '72'));
});
