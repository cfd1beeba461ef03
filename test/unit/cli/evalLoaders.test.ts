/** `relay eval`'s JSONL loaders: GSM8K, MATH500 and plain lines, detected per line; --offset and --limit; errors that name the line. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEvalLine, readEvalData } from '../../../src/cli/eval/loaders';

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'relay-loaders-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

function file(name: string, lines: Array<unknown | string>): string {
  const path = join(work, name);
  writeFileSync(path, lines.map((l) => (typeof l === 'string' ? l : JSON.stringify(l))).join('\n') + '\n');
  return path;
}

const GSM8K = {
  question:
    'Natalia sold clips to 48 of her friends in April, and then she sold half as many clips in May. How many clips did Natalia sell altogether in April and May?',
  answer: 'Natalia sold 48/2 = <<48/2=24>>24 clips in May.\nNatalia sold 48+24 = <<48+24=72>>72 clips altogether in April and May.\n#### 72',
};
const MATH500 = {
  problem:
    'Convert the point $(0,3)$ in rectangular coordinates to polar coordinates.  Enter your answer in the form $(r,\\theta),$ where $r > 0$ and $0 \\le \\theta < 2 \\pi.$',
  solution: 'We have that $r = \\sqrt{0^2 + 3^2} = 3.$ ... Therefore, the polar coordinates are $\\boxed{\\left( 3, \\frac{\\pi}{2} \\right)}.$',
  answer: '\\left( 3, \\frac{\\pi}{2} \\right)',
  subject: 'Precalculus',
  level: 2,
  unique_id: 'test/precalculus/807.json',
};

test('GSM8K, MATH500 and plain lines in one file, each detected on its own', () => {
  const path = file('mixed.jsonl', [
    GSM8K,
    MATH500,
    { problem: 'What is $1+1$?', solution: 'Clearly $1+1=\\boxed{2}$.' },
    { question: '95*8+35=?', answer: '795' },
    { question: 'How many?', answer: 'So 1,000 in all. #### 1,000', id: 17 },
    { prompt: 'Half of 3?', reference: '\\boxed{\\frac{3}{2}}' },
  ]);
  const items = readEvalData(path);
  assert.deepEqual(
    items.map((i) => [i.index, i.format, i.reference, i.id]),
    [
      [0, 'gsm8k', '72', 'line 1'],
      [1, 'math', '\\left( 3, \\frac{\\pi}{2} \\right)', 'test/precalculus/807.json'],
      [2, 'math', '2', 'line 3'],
      [3, 'plain', '795', 'line 4'],
      [4, 'gsm8k', '1000', '17'],
      [5, 'plain', '\\frac{3}{2}', 'line 6'],
    ],
  );
  assert.equal(items[0].question, GSM8K.question);
  assert.equal(items[1].question, MATH500.problem);
});

test('--offset and --limit count questions (blank lines skipped); indexes stay those of the file', () => {
  const lines = Array.from({ length: 10 }, (_, i) => ({ question: `q${i}`, answer: `#### ${i}` }));
  const path = file('ten.jsonl', [lines[0], '', lines[1], '   ', ...lines.slice(2)]);
  assert.equal(readEvalData(path).length, 10);
  assert.deepEqual(
    readEvalData(path, { limit: 3 }).map((i) => i.index),
    [0, 1, 2],
  );
  assert.deepEqual(
    readEvalData(path, { offset: 4, limit: 3 }).map((i) => [i.index, i.reference]),
    [
      [4, '4'],
      [5, '5'],
      [6, '6'],
    ],
  );
  assert.deepEqual(
    readEvalData(path, { offset: 8 }).map((i) => i.index),
    [8, 9],
  );
  assert.throws(() => readEvalData(path, { offset: 10 }), /has 10 questions, none after --offset 10/);
  // Lines after the limit are not read (a bad line there is no error).
  const tail = file('tail.jsonl', [lines[0], lines[1], 'not json']);
  assert.equal(readEvalData(tail, { limit: 2 }).length, 2);
  assert.throws(() => readEvalData(tail), /tail\.jsonl line 3 is not JSON/);
});

test('errors name the line and the keys expected', () => {
  const bad = (lines: Array<unknown | string>) => () => readEvalData(file('bad.jsonl', lines));
  assert.throws(
    bad([GSM8K, { text: 'x', label: 1 }]),
    /bad\.jsonl line 2 has no "question" or "problem" string \(keys found: "text", "label"\)\. Each line must be a GSM8K-style \{"question": "\.\.\.", "answer": "\.\.\. #### 42"\}, a MATH500-style/,
  );
  assert.throws(
    bad([{ problem: 'p', solution: 'no box here' }]),
    /line 1 is MATH500-style \("problem"\) but has no "answer", and its "solution" has no \\boxed\{\.\.\.\}/,
  );
  assert.throws(
    bad([{ problem: 'p', level: 3 }]),
    /line 1 is MATH500-style \("problem"\) but has no "answer" or "solution" \(keys found: "problem", "level"\)/,
  );
  assert.throws(bad([{ question: 'q' }]), /line 1 has a "question" but no "answer"/);
  assert.throws(bad([{ question: 'q', answer: 'text ####  ' }]), /line 1: nothing follows "####"/);
  assert.throws(bad(['[1, 2]']), /line 1 is not a JSON object/);
  assert.throws(bad(['', '{"question": "q", "answer": ']), /bad\.jsonl line 2 is not JSON/);
  assert.throws(bad(['']), /has no questions/);
  // In words, not "ENOENT: no such file or directory, open '...'".
  assert.throws(() => readEvalData(join(work, 'missing.jsonl')), /cannot read .*missing\.jsonl: there is no such file\.$/);
  assert.throws(() => readEvalData(work), /: it is a folder, not a file\.$/);
  assert.throws(() => parseEvalLine(null, 'x line 1'), /x line 1 is not a JSON object/);
});

test('a byte-order mark and Windows line ends are fine', () => {
  const path = join(work, 'bom.jsonl');
  writeFileSync(path, '\uFEFF' + JSON.stringify(GSM8K) + '\r\n' + JSON.stringify({ question: 'q', answer: 5 }) + '\r\n');
  assert.deepEqual(
    readEvalData(path).map((i) => i.reference),
    ['72', '5'],
  );
});
