import assert from 'node:assert/strict';
import { test } from 'node:test';
import { NdjsonParseError, NdjsonParser } from '../../../src/core/providers/ndjson';

const LINES = [
  { response: 'héllo ', done: false },
  { response: '世界 🚀', done: false },
  { error: 'model crashed' },
  { done: true, done_reason: 'length', prompt_eval_count: 3, eval_count: 2 },
];
const STREAM = `${JSON.stringify(LINES[0])}\r\n\n${JSON.stringify(LINES[1])}\n${JSON.stringify(LINES[2])}\r\n${JSON.stringify(LINES[3])}`;

function parseInPieces(bytes: Buffer, cuts: number[]): unknown[] {
  const parser = new NdjsonParser();
  const values: unknown[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    values.push(...parser.push(bytes.subarray(from, cut)));
    from = cut;
  }
  values.push(...parser.end());
  return values;
}

test('NDJSON: values split at every byte position parse the same (CRLF, blank lines, last line without newline)', () => {
  const bytes = Buffer.from(STREAM);
  assert.deepEqual(parseInPieces(bytes, []), LINES);
  for (let cut = 1; cut < bytes.length; cut++) assert.deepEqual(parseInPieces(bytes, [cut]), LINES, `split at byte ${cut}`);
});

test('NDJSON: one byte at a time, UTF-8 characters split', () => {
  const bytes = Buffer.from(STREAM);
  assert.deepEqual(
    parseInPieces(
      bytes,
      Array.from({ length: bytes.length - 1 }, (_, i) => i + 1),
    ),
    LINES,
  );
});

test('NDJSON: a line that is not JSON raises a clear error', () => {
  const parser = new NdjsonParser();
  assert.throws(
    () => parser.push('<html>502 Bad Gateway</html>\n'),
    (e: unknown) => e instanceof NdjsonParseError && /not JSON/.test((e as Error).message),
  );
});
