/**
 * Answer normalisation for `relay eval`, table-driven: predictions as models write them
 * against references as MATH500 and GSM8K give them, the pairs that must match and the
 * pairs that must not.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answersMatch, extractAnswer, extractBoxed, extractReference, latexValue, normaliseAnswer } from '../../../src/core/relay/answerExtraction';

/** [prediction, reference, why] */
type Case = [string, string, string];

const MATCH: Case[] = [
  // Numbers (GSM8K)
  ['72', '72', 'same integer'],
  ['72.0', '72', 'trailing .0'],
  ['72.00', '72', 'trailing .00'],
  ['1,080', '1080', 'thousands comma'],
  ['1,234,567', '1234567', 'several thousands commas'],
  ['\\$18', '18', 'escaped dollar sign'],
  ['$18.00$', '18', 'math delimiters and cents'],
  ['18 dollars', '18', 'a unit word the reference lacks'],
  ['10\\%', '10', 'escaped percent'],
  ['25%', '25', 'percent'],
  ['-3', '-3', 'negative'],
  ['\u22123', '-3', 'Unicode minus'],
  ['0.5', '.5', 'leading zero'],
  ['1\\,000', '1000', 'thin-space thousands separator'],
  ['0072', '72', 'leading zeros'],
  // Fractions
  ['\\frac{3}{4}', '0.75', 'fraction and decimal'],
  ['\\dfrac{3}{4}', '\\frac{3}{4}', '\\dfrac'],
  ['\\tfrac{3}{4}', '\\frac{3}{4}', '\\tfrac'],
  ['\\frac34', '\\frac{3}{4}', '\\frac34 shorthand'],
  ['\\frac{3}4', '\\frac{3}{4}', 'half-braced shorthand'],
  ['3/4', '\\frac{3}{4}', 'slash fraction'],
  ['\\frac{6}{8}', '\\frac{3}{4}', 'equal values'],
  ['-\\frac{1}{2}', '\\frac{-1}{2}', 'sign outside or inside'],
  ['\\frac{1}{-2}', '-\\frac12', 'sign in the denominator'],
  ['2\\frac{1}{4}', '\\frac{9}{4}', 'mixed number'],
  ['-2\\frac{1}{4}', '-\\frac{9}{4}', 'negative mixed number'],
  ['2.5', '\\frac{5}{2}', 'decimal and fraction'],
  // Constant expressions
  ['\\frac{\\sqrt{3}}{2}', '\\frac{\\sqrt3}{2}', '\\sqrt3 shorthand'],
  ['\\frac{1}{\\sqrt{2}}', '\\frac{\\sqrt{2}}{2}', 'rationalised denominator'],
  ['2\\sqrt{2}', '\\sqrt{8}', 'simplified radical'],
  ['\\sqrt[3]{27}', '3', 'cube root'],
  ['10^{3}', '1000', 'power'],
  ['2^{10}', '1024', 'braced exponent'],
  ['3\\pi', '3 \\pi', 'space before \\pi'],
  ['\\frac{\\pi}{2}', '\\frac12\\pi', 'pi over two'],
  ['6 \\cdot 7', '42', '\\cdot'],
  ['2 \\times 10^{3}', '2000', '\\times'],
  // LaTeX wrappers
  ['\\text{5}', '5', '\\text{}'],
  ['\\mathrm{5}', '5', '\\mathrm{}'],
  ['90^\\circ', '90', 'degrees ^\\circ'],
  ['90^{\\circ}', '90', 'degrees ^{\\circ}'],
  ['90°', '90', 'degree sign'],
  ['x = 5', '5', 'a leading variable'],
  ['\\theta = 30^\\circ', '30', 'a leading command variable'],
  ['5\\text{ cm}', '5', 'units the reference has none of'],
  ['12 \\mbox{ inches}^2', '12', '\\mbox units squared'],
  ['5 \\text{cm}', '5\\text{ cm}', 'the same units'],
  ['5', '5\\text{ cm}', 'units left out'],
  ['\\text{Evelyn}', 'Evelyn', 'a name'],
  ['\\textbf{even}', '\\text{Even}', 'a word, any case'],
  ['\\text{(C)}', '\\text{(C)}', 'a choice'],
  ['C', '\\text{(C)}', 'a choice letter'],
  ['\\displaystyle \\frac{1}{2}', '0.5', '\\displaystyle'],
  ['\\(\\frac{1}{2}\\)', '\\frac{1}{2}', '\\( \\) delimiters'],
  ['\\boxed{7}', '7', 'a box as the reference gives it'],
  ['x^{2}+1', 'x^2+1', 'a braced single-character exponent'],
  ['y = 2x + 3', '2x+3', 'an equation against its right side'],
  ['x \\leq 3', 'x\\le3', '\\leq'],
  ['5.', '5', 'a final full stop'],
  // Tuples, intervals, sets, lists
  ['\\left( 3, \\frac{\\pi}{2} \\right)', '(3,\\frac{\\pi}{2})', '\\left( \\right) and spaces'],
  ['(3, -1)', '(3,-1)', 'a tuple'],
  ['(0.5, 2)', '\\left(\\frac{1}{2}, 2\\right)', 'a tuple with equal values'],
  ['[2, 5)', '[2,5)', 'a half-open interval'],
  ['(-\\infty, 3]', '(-\\infty,3]', 'an infinite interval'],
  ['x \\in [1, 3]', '[1,3]', 'x \\in an interval'],
  ['(-\\infty, 1) \\cup (2, \\infty)', '(-\\infty,1)\\cup(2,\\infty)', 'a union of intervals'],
  ['\\{2, 1\\}', '\\{1,2\\}', 'a set in any order'],
  ['-2, 1', '1, -2', 'a list of solutions in any order'],
  ['1, 2, 3', '1,2,3', 'a list with spaces'],
  ['\\left\\{1, \\frac{1}{2}\\right\\}', '\\{0.5,1\\}', 'a set with equal values'],
];

const NO_MATCH: Case[] = [
  ['71', '72', 'another integer'],
  ['1000', '100', 'a digit more'],
  ['1,000', '1', 'a thousands comma is not a list'],
  ['1000001', '1000000', 'large integers compare exactly'],
  ['-5', '5', 'the sign'],
  ['5.01', '5', 'close is not equal'],
  ['0.33', '\\frac{1}{3}', 'a rounded fraction'],
  ['3.14', '\\pi', 'a rounded pi'],
  ['\\frac{1}{2}', '\\frac{1}{3}', 'another fraction'],
  ['\\sqrt{2}', '2', 'a root is not its radicand'],
  ['6\\sqrt{2}', '6', 'a coefficient alone'],
  ['5x', '5', 'a product with a variable is not a unit'],
  ['x^2', 'x^3', 'another exponent'],
  ['2x+3', '3x+2', 'another expression'],
  ['(x+1)^2', 'x^2+2x+1', 'no symbolic algebra'],
  ['(1, 2)', '[1,2]', 'open and closed intervals'],
  ['(1, 2)', '(2,1)', 'a tuple in another order'],
  ['(1, 2)', '1,2', 'a tuple is not a list'],
  ['[2, 5)', '[2,5]', 'the closing bracket'],
  ['(1, 2, 3)', '(1,2)', 'another length'],
  ['1, 2', '1, 2, 2', 'a list with a repeated solution'],
  ['1.5', '1,5', 'a decimal point is not a list'],
  ['\\text{odd}', '\\text{even}', 'another word'],
  ['B', '\\text{(C)}', 'another choice'],
  ['5\\text{ m}', '5\\text{ cm}', 'other units'],
  ['', '5', 'an empty answer'],
  ['\\infty', '-\\infty', 'infinities of other signs'],
  ['50\\%', '0.5', 'a percent against a decimal'],
];

test('answers that must match', () => {
  for (const [predicted, reference, why] of MATCH) {
    assert.equal(answersMatch(predicted, reference), true, `${why}: ${JSON.stringify(predicted)} vs ${JSON.stringify(reference)}`);
  }
});

test('answers that must not match', () => {
  for (const [predicted, reference, why] of NO_MATCH) {
    assert.equal(answersMatch(predicted, reference), false, `${why}: ${JSON.stringify(predicted)} vs ${JSON.stringify(reference)}`);
  }
  assert.equal(answersMatch(null, '5'), false, 'no answer');
});

test('normalisation is idempotent', () => {
  for (const [predicted, reference] of [...MATCH, ...NO_MATCH]) {
    for (const s of [predicted, reference]) assert.equal(normaliseAnswer(normaliseAnswer(s)), normaliseAnswer(s), s);
  }
});

test('model answers end to end: extraction then comparison', () => {
  const cases: Array<[string, string, boolean]> = [
    // MATH500-like solutions
    ['The roots are $x=-2$ and $x=1$, so the answer is $\\boxed{-2, 1}$.', '1,-2', true],
    ['Thus the area is $\\boxed{\\frac{25\\sqrt{3}}{4}}$ square units.', '\\frac{25\\sqrt3}{4}', true],
    ['In polar form, $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}$', '\\left( 3, \\frac{\\pi}{2} \\right)', true],
    ['So $\\boxed{\\text{Evelyn}}$ has the highest average speed.', '\\text{Evelyn}', true],
    ['The angle is $\\boxed{90^\\circ}$.', '90^\\circ', true],
    ['We get \\boxed{\\dfrac{14}{3}} after simplifying.', '\\frac{14}{3}', true],
    ['Nested: \\boxed{\\frac{\\sqrt{2}}{\\sqrt{3}+1}}', '\\frac{\\sqrt{2}}{\\sqrt{3}+1}', true],
    ['First \\boxed{3}, but on reflection \\boxed{4}.', '4', true],
    ['First \\boxed{3}, but on reflection \\boxed{4}.', '3', false],
    ['The interval is \\boxed{[-2, 7)}.', '[-2,7]', false],
    // GSM8K-like answers
    ['She pays 3 * $6 = $18 every day.\n#### 18', '18', true],
    ['He earned $1,080 in total. The answer is 1,080.', '1080', true],
    ['So the answer is \\boxed{\\$18.00}.', '18', true],
    ['The total is 5 + 7 = 12 apples, minus 2 is 10.', '12', false],
  ];
  for (const [text, reference, expected] of cases) assert.equal(answersMatch(extractAnswer(text), reference), expected, `${text} vs ${reference}`);
});

test('\\boxed{} extraction: nested and escaped braces, the box without braces', () => {
  assert.equal(extractBoxed('\\boxed{\\frac{1}{\\sqrt{2}}}'), '\\frac{1}{\\sqrt{2}}');
  assert.equal(extractBoxed('\\boxed{\\{1,2\\}} end'), '\\{1,2\\}');
  assert.equal(extractBoxed('so \\boxed 5.'), '5');
  assert.equal(extractBoxed('$\\boxed {12}$'), '12');
  assert.equal(extractBoxed('\\boxed{\\frac{1}{2}'), null, 'unbalanced');
  assert.equal(extractReference('Therefore $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}$.'), '\\left( 3, \\frac{\\pi}{2} \\right)');
  assert.equal(extractReference('Natalia sold 48/2 = 24 clips in May.\n#### 72'), '72');
});

test('constant LaTeX expressions evaluate; anything else is not a number', () => {
  assert.equal(latexValue('\\frac{1}{2}'), 0.5);
  assert.equal(latexValue('2\\frac{1}{4}'), 2.25);
  assert.equal(latexValue('-2^2'), -4);
  assert.equal(latexValue('10^-2'), 0.01);
  assert.equal(latexValue('(1+2)(3)'), 9);
  assert.equal(latexValue('\\sqrt[3]{-8}'), -2);
  for (const s of ['x', '\\infty', '1,2', '(1,2)', '\\frac{1}{0}', '2.5.3', 'e^2', '\\pm1', '']) assert.equal(latexValue(s), null, s);
});
