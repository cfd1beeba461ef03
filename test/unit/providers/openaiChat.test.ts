import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { CONTINUE_INSTRUCTION, OpenAiChatProvider, authHeaders } from '../../../src/core/providers/openai';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { FakeServer, startFakeServer } from './servers/harness';
import { openAiStream, requireBearer } from './servers/openai';
import { FAST, REQUEST, collect, collectError } from './servers/collect';

const KEY = 'sk-test-chat-0123456789abcdef';
let server: FakeServer;
before(async () => {
  server = await startFakeServer(requireBearer(KEY, openAiStream({ pieces: [' Paris.'] })));
});
after(() => server.close());

const secrets = () => new MemoryKeySource({ 'openai-chat': KEY });
const provider = (extra: Record<string, unknown> = {}) =>
  createProvider({ kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'gpt-4o-mini', ...FAST, ...extra }, secrets());

test('openai-chat (instructed): the partial answer is the assistant turn, then a user turn asks for only the continuation', async () => {
  server.enqueue(
    requireBearer(
      KEY,
      openAiStream({ pieces: [' Paris', ' is a', ' city'], finishReason: 'length', usage: { prompt_tokens: 50, completion_tokens: 3, cached_tokens: 0 } }),
    ),
  );
  const p = provider();
  assert.equal(p.continuation, 'instructed');
  const out = await collect(p, REQUEST);
  assert.equal(out.text, ' Paris is a city');
  assert.equal(out.finishReason, 'length');
  const sent = server.lastRequest;
  assert.equal(sent.path, '/v1/chat/completions');
  assert.equal(sent.headers.authorization, `Bearer ${KEY}`);
  assert.deepEqual(sent.body.messages, [
    ...REQUEST.messages,
    { role: 'assistant', content: REQUEST.partialAnswer },
    { role: 'user', content: CONTINUE_INSTRUCTION },
  ]);
  assert.equal(sent.body.max_tokens, 4);
  assert.equal(sent.body.temperature, 0.7);
  assert.deepEqual(sent.body.stream_options, { include_usage: true });
});

test('openai-chat (instructed): a greeting and a repeated tail are cleaned from the streamed reply', async () => {
  server.enqueue(
    requireBearer(
      KEY,
      openAiStream({
        pieces: [
          'Sure',
          '! ',
          'The capital',
          ' of France',
          ' is',
          ' Paris',
          ', on the Seine',
          ' river, which flows',
          ' through the city',
          ' from east to west.',
        ],
      }),
    ),
  );
  const out = await collect(provider(), REQUEST);
  assert.equal(REQUEST.partialAnswer + out.text, 'The capital of France is Paris, on the Seine river, which flows through the city from east to west.');
});

test('openai-chat (assistant prefix on): the partial answer is a prefix:true assistant message, the reply is not altered', async () => {
  server.enqueue(requireBearer(KEY, openAiStream({ pieces: [' Paris', '.'], finishReason: 'stop' })));
  const p = provider({ assistantPrefix: 'on' });
  assert.equal(p.continuation, 'assistant-prefix');
  const out = await collect(p, REQUEST);
  assert.equal(out.text, ' Paris.');
  assert.equal(out.finishReason, 'stop');
  const messages = server.lastRequest.body.messages;
  assert.deepEqual(messages[messages.length - 1], { role: 'assistant', content: REQUEST.partialAnswer, prefix: true });
  assert.equal(messages.length, REQUEST.messages.length + 1);
});

test('openai-chat: assistantPrefix auto is on for DeepSeek and Mistral, off elsewhere', () => {
  const kind = 'openai-chat' as const;
  const make = (baseUrl: string) => createProvider({ kind, baseUrl, model: 'm' }, secrets());
  assert.equal(make('https://api.deepseek.com').continuation, 'assistant-prefix');
  assert.equal(make('https://api.mistral.ai/v1').continuation, 'assistant-prefix');
  assert.equal(make('https://api.openai.com/v1').continuation, 'instructed');
  assert.equal(make('https://openrouter.ai/api/v1').continuation, 'instructed');
  assert.equal(createProvider({ kind, baseUrl: 'https://api.deepseek.com', model: 'm', assistantPrefix: 'off' }, secrets()).continuation, 'instructed');
});

test('openai-chat: an empty partial answer is a plain chat request', async () => {
  server.enqueue(requireBearer(KEY, openAiStream({ pieces: ['Paris.'] })));
  const out = await collect(provider(), { ...REQUEST, partialAnswer: '' });
  assert.equal(out.text, 'Paris.');
  assert.deepEqual(server.lastRequest.body.messages, REQUEST.messages);
});

test('openai-chat: max_completion_tokens when configured (newer OpenAI models refuse max_tokens)', async () => {
  server.enqueue(requireBearer(KEY, openAiStream({ pieces: [' Paris'] })));
  await collect(provider({ maxTokensField: 'max_completion_tokens' }), REQUEST);
  assert.equal(server.lastRequest.body.max_completion_tokens, 4);
  assert.equal(server.lastRequest.body.max_tokens, undefined);
});

test('openai-chat: usage with cached prompt tokens', async () => {
  server.enqueue(requireBearer(KEY, openAiStream({ pieces: [' Paris'], usage: { prompt_tokens: 2048, completion_tokens: 1, cached_tokens: 1920 } })));
  const out = await collect(provider(), REQUEST);
  assert.deepEqual(out.usage, { inputTokens: 2048, outputTokens: 1, cachedInputTokens: 1920, cacheWriteTokens: 0, estimated: false });
});

test('openai-chat: no key against api.openai.com fails before sending, with the set-key fix', async () => {
  const p = createProvider({ kind: 'openai-chat', model: 'gpt-4o-mini' }, new MemoryKeySource());
  const error = await collectError(p, REQUEST);
  assert.equal(error.code, 'auth');
  assert.equal(error.fix, 'set-key');
  assert.match(error.message, /Relay: Set API Key/);
  assert.match(error.message, /OPENAI_API_KEY/);
});

test('openai-chat: a local server needs no key', async () => {
  server.enqueue(openAiStream({ pieces: [' Paris'] }));
  const p = createProvider({ kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'local', ...FAST }, new MemoryKeySource());
  assert.equal((await collect(p, REQUEST)).text, ' Paris');
  assert.equal(server.lastRequest.headers.authorization, undefined);
});

test('openai-chat: DeepSeek prefix completion goes to its beta endpoint; Azure takes the key in api-key', async () => {
  const deepseek = createProvider({ kind: 'openai-chat', baseUrl: 'https://api.deepseek.com', model: 'deepseek-chat' }, secrets()) as OpenAiChatProvider;
  assert.equal(deepseek.chatUrl().href, 'https://api.deepseek.com/beta/chat/completions');
  const mistral = createProvider({ kind: 'openai-chat', baseUrl: 'https://api.mistral.ai/v1', model: 'mistral-small-latest' }, secrets()) as OpenAiChatProvider;
  assert.equal(mistral.chatUrl().href, 'https://api.mistral.ai/v1/chat/completions');
  assert.deepEqual(authHeaders(new URL('https://my.openai.azure.com/openai/v1'), 'k'), { 'api-key': 'k' });
  assert.deepEqual(authHeaders(new URL('https://api.openai.com/v1'), 'k'), { authorization: 'Bearer k' });
  assert.deepEqual(authHeaders(new URL('http://127.0.0.1:8000/v1'), undefined), {});
});

test('openai-chat: a server that rejects stream_options is asked again without it, and usage is counted locally', async () => {
  const rejectsStreamOptions =
    (next: ReturnType<typeof openAiStream>): Parameters<typeof server.enqueue>[0] =>
    (request, res) => {
      if (request.body.stream_options !== undefined) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: { message: 'Unrecognized request argument supplied: stream_options', type: 'invalid_request_error' } }));
        return;
      }
      return next(request, res);
    };
  server.enqueue(
    rejectsStreamOptions(openAiStream({ pieces: [' never'] })),
    rejectsStreamOptions(openAiStream({ pieces: [' Paris'] })),
    rejectsStreamOptions(openAiStream({ pieces: [' again'] })),
  );
  const p = provider();
  const before = server.requests.length;
  const out = await collect(p, REQUEST);
  assert.equal(out.text, ' Paris');
  assert.equal(out.usage?.estimated, true);
  assert.equal(server.requests.length - before, 2);
  // Remembered: the next call goes without stream_options straight away.
  assert.equal((await collect(p, REQUEST)).text, ' again');
  assert.equal(server.requests.length - before, 3);
});

test('openai-chat: a reply the content filter ended is not the end of the answer: an error says so, after its text and usage', async () => {
  server.enqueue(requireBearer(KEY, openAiStream({ pieces: [' Paris', ' is'], finishReason: 'content_filter' })));
  const seen: string[] = [];
  let error: any;
  try {
    for await (const chunk of provider().continue(REQUEST)) seen.push(chunk.type);
  } catch (e) {
    error = e;
  }
  assert.deepEqual(
    seen.filter((t) => t !== 'text'),
    ['usage'],
    'the usage came, no done',
  );
  assert.ok(seen.includes('text'));
  assert.match(String(error?.message), /safety filter ended it \(content_filter\)/);
});
