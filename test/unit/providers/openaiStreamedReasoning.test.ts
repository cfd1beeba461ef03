/**
 * The reasoning an OpenAI-compatible host streams beside the text (delta.reasoning_content:
 * DeepSeek, vLLM, SGLang; delta.reasoning: OpenRouter, Groq) comes out as `reasoning` chunks,
 * in stream order, never as text: the engine counts it toward the money room (billed as
 * output), and the answer never shows it. A 127.0.0.1 server writes the frames as such hosts do.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { FAST, REQUEST, collect } from './servers/collect';
import { FakeServer, startFakeServer, writeFrames } from './servers/harness';

let server: FakeServer;
before(async () => {
  server = await startFakeServer((_request, res) => void res.writeHead(500).end());
});
after(() => server.close());

function chatStream(deltas: unknown[]): void {
  server.enqueue((_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const frame = (body: unknown) => `data: ${JSON.stringify(body)}\n\n`;
    const frames = deltas.map((delta) => frame({ choices: [{ index: 0, delta, finish_reason: null }] }));
    frames.push(frame({ choices: [{ index: 0, delta: {}, finish_reason: 'stop' }] }), 'data: [DONE]\n\n');
    return writeFrames(res, frames);
  });
}

const provider = () =>
  createProvider(
    { kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'some-reasoner', maxRetries: 0, ...FAST },
    new MemoryKeySource({ 'openai-chat': 'sk-test-reasoning-chunks-0123' }),
  );

test('openai-chat: reasoning_content and reasoning deltas are reasoning chunks in stream order, apart from the text', async () => {
  chatStream([
    { role: 'assistant', content: '' },
    { reasoning_content: 'First, ' },
    // OpenRouter's field; null and non-string values are nothing.
    { reasoning: 'the capital. ', reasoning_content: null },
    { reasoning: { effort: 'low' } },
    // A host in transition sends both with the same text: counted once.
    { reasoning_content: 'Paris.', reasoning: 'Paris.' },
    // Both in one delta: the reasoning came first.
    { reasoning_content: ' Done.', content: ' Paris' },
    { content: '.' },
  ]);
  const got = await collect(provider(), REQUEST);
  assert.equal(got.text, ' Paris.', 'the text alone');
  const kinds = got.chunks.map((c) => c.type);
  assert.deepEqual(
    got.chunks.flatMap((c) => (c.type === 'reasoning' ? [c.text] : [])),
    ['First, ', 'the capital. ', 'Paris.', ' Done.'],
  );
  assert.ok(kinds.lastIndexOf('reasoning') < kinds.indexOf('text'), `in stream order: ${kinds.join(' ')}`);
  assert.equal(got.finishReason, 'stop');
});
