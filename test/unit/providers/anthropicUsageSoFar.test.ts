/**
 * Anthropic tells a call's input, with its cache read and write, in message_start, before any
 * text: the provider says it at once, so a caller that stops reading early (the engine when the
 * SLM agrees, or a call past its room) books the input as billed, a 1.25x cache write included,
 * not a local count without one. A real HTTP server on 127.0.0.1 speaks the wire format.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ProviderChunk } from '../../../src/core/providers/types';
import { anthropicStream } from './servers/anthropic';
import { FakeServer, startFakeServer } from './servers/harness';
import { FAST, REQUEST, collect } from './servers/collect';

const KEY = 'sk-ant-api03-test-0123456789';
/** message_start, content_block_start, ping: the frames before the first text. */
const FRAMES_BEFORE_TEXT = 3;
const BILLED_INPUT = { input_tokens: 40, cache_read_input_tokens: 1200, cache_creation_input_tokens: 1500 };

let server: FakeServer;
before(async () => {
  server = await startFakeServer(anthropicStream({ pieces: [' Paris'] }, KEY));
});
after(() => server.close());

const provider = () => createProvider({ kind: 'anthropic', baseUrl: server.url, model: 'claude-sonnet-4-5', ...FAST }, new MemoryKeySource({ anthropic: KEY }));

test('anthropic: the input and its cache split are told before the text, so a reader that stops there has them as billed', async () => {
  // Two pieces sent, then the server waits (as one still writing): the reader stops after the first.
  server.enqueue(
    anthropicStream({ pieces: [' Paris', ' is', ' big'], usage: { ...BILLED_INPUT, output_tokens: 3 }, stallAfterFrames: FRAMES_BEFORE_TEXT + 2 }, KEY),
  );
  const seen: ProviderChunk[] = [];
  for await (const chunk of provider().continue(REQUEST)) {
    seen.push(chunk);
    if (chunk.type === 'text') break;
  }
  const [usage, text] = seen;
  assert.equal(text?.type, 'text');
  assert.equal(usage?.type, 'usage', 'the usage so far came before the text');
  assert.deepEqual(usage.type === 'usage' && usage.usage, {
    inputTokens: 40 + 1200 + 1500,
    cachedInputTokens: 1200,
    cacheWriteTokens: 1500,
    // message_start's running count: the output is not final (the caller raises it to its own count).
    outputTokens: 1,
    estimated: true,
  });
});

test('anthropic: a stream read to its end ends with the final usage, which replaces the usage so far', async () => {
  server.enqueue(anthropicStream({ pieces: [' Paris', ' is'], usage: { ...BILLED_INPUT, output_tokens: 2 } }, KEY));
  const out = await collect(provider(), REQUEST);
  assert.deepEqual(
    out.chunks.map((c) => c.type),
    ['usage', 'text', 'text', 'usage', 'done'],
  );
  assert.deepEqual(out.usage, { inputTokens: 2740, cachedInputTokens: 1200, cacheWriteTokens: 1500, outputTokens: 2, estimated: false });
});

test('anthropic: a message_start that says no input (a count of 0) tells nothing before the text', async () => {
  server.enqueue(anthropicStream({ pieces: [' Paris'], usage: { input_tokens: 0, output_tokens: 1 } }, KEY));
  const out = await collect(provider(), REQUEST);
  assert.deepEqual(
    out.chunks.map((c) => c.type),
    ['text', 'usage', 'done'],
  );
});
