import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SseParser, type SseEvent } from '../../../src/core/providers/sse';

/** A stream with everything real servers send: CRLF, CR, comments, multi-line data, UTF-8. */
const STREAM = [
  ': this is a comment\r\n',
  '\r\n',
  'event: message_start\r\n',
  'data: {"a":"héllo 世界 🚀"}\r\n',
  '\r\n',
  ': keep-alive\n\n',
  'data: line one\n',
  'data:line two\n',
  'data\n',
  'id: 7\n',
  'retry: 1000\n',
  '\n',
  'event: ping\rdata: {}\r\r',
  'data: {"error":{"message":"Overloaded"}}\n\n',
  'data: [DONE]\n\n',
].join('');

const EXPECTED: SseEvent[] = [
  { event: 'message_start', data: '{"a":"héllo 世界 🚀"}', id: undefined },
  { event: 'message', data: 'line one\nline two\n', id: '7' },
  { event: 'ping', data: '{}', id: '7' },
  { event: 'message', data: '{"error":{"message":"Overloaded"}}', id: '7' },
  { event: 'message', data: '[DONE]', id: '7' },
];

function parseInPieces(bytes: Buffer, cuts: number[]): SseEvent[] {
  const parser = new SseParser();
  const events: SseEvent[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    events.push(...parser.push(bytes.subarray(from, cut)));
    from = cut;
  }
  events.push(...parser.end());
  return events;
}

test('SSE: whole stream parses into the expected events', () => {
  assert.deepEqual(parseInPieces(Buffer.from(STREAM), []), EXPECTED);
});

test('SSE: the same events when the bytes are split at every single position', () => {
  const bytes = Buffer.from(STREAM);
  for (let cut = 1; cut < bytes.length; cut++) {
    assert.deepEqual(parseInPieces(bytes, [cut]), EXPECTED, `split at byte ${cut}`);
  }
});

test('SSE: the same events when fed one byte at a time (UTF-8 split inside characters)', () => {
  const bytes = Buffer.from(STREAM);
  const cuts = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
  assert.deepEqual(parseInPieces(bytes, cuts), EXPECTED);
});

test('SSE: a CRLF split between chunks makes one line end, not an extra blank line', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push('data: a\r'), []);
  assert.deepEqual(parser.push('\ndata: b\r'), []);
  // If the LF were a second line end, 'a' would have been dispatched alone.
  assert.deepEqual(parser.push('\n\r\n'), [{ event: 'message', data: 'a\nb', id: undefined }]);
});

test('SSE: a last event without its blank line is delivered at the end of the stream', () => {
  const parser = new SseParser();
  assert.deepEqual(parser.push('data: [DONE]'), []);
  assert.deepEqual(parser.end(), [{ event: 'message', data: '[DONE]', id: undefined }]);
});

test('SSE: comments and empty events dispatch nothing', () => {
  const parser = new SseParser();
  assert.deepEqual([...parser.push(': ping\n\n:\n\n\n\nevent: x\n\n'), ...parser.end()], []);
});
