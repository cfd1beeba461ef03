/**
 * Self-hosted thinking models stream their reasoning in a field of its own (Ollama's /v1 and
 * vLLM with a reasoning parser: delta.reasoning / reasoning_content; Ollama's /api/chat:
 * message.thinking) or as `<think>` in the content (vLLM without a parser, Groq's qwen3), and
 * report no reasoning tokens in their usage. The reasoning comes out as reasoning chunks, never
 * text, and the usage counts it, so the provider asks the server to stop reasoning and a span it
 * took is named for what it is. 127.0.0.1 servers write the frames as those servers do.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { forgetLearnedFacts } from '../../../src/core/providers/modelCapabilities';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ProviderChunk } from '../../../src/core/providers/types';
import { FakeServer, startFakeServer, writeFrames, type Responder } from './servers/harness';
import { ollamaError } from './servers/ollama';
import { FAST, REQUEST, collect, collectError } from './servers/collect';

let server: FakeServer;
before(async () => {
  server = await startFakeServer((_request, res) => void res.writeHead(500).end());
});
after(() => server.close());
beforeEach(() => {
  forgetLearnedFacts();
  server.queue.length = 0;
});

/** An OpenAI-style chat stream as Ollama's /v1 sends it: the deltas, finish_reason, then usage without completion_tokens_details. */
function chatStream(deltas: object[], completionTokens: number, finish = 'length'): Responder {
  return (request, res) => {
    const frame = (choices: object[], extra: object = {}) =>
      `data: ${JSON.stringify({ id: 'chatcmpl-1', object: 'chat.completion.chunk', created: 1, model: request.body.model, system_fingerprint: 'fp_ollama', choices, ...extra })}\n\n`;
    const frames = deltas.map((delta) => frame([{ index: 0, delta: { role: 'assistant', content: '', ...delta }, finish_reason: null }]));
    frames.push(frame([{ index: 0, delta: { role: 'assistant', content: '' }, finish_reason: finish }]));
    frames.push(frame([], { usage: { prompt_tokens: 20, completion_tokens: completionTokens, total_tokens: 20 + completionTokens } }));
    frames.push('data: [DONE]\n\n');
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    return writeFrames(res, frames);
  };
}

/** Ollama's NDJSON: each line's message (chat) or fields (generate), then done with eval_count. */
function ollamaLines(lines: Array<{ content?: string; thinking?: string }>, evalCount: number): Responder {
  return (request, res) => {
    const chat = request.path.endsWith('/api/chat');
    const model = request.body.model;
    const frame = (value: object) => `${JSON.stringify(value)}\n`;
    const frames = lines.map(({ content = '', thinking }) =>
      frame(
        chat
          ? { model, created_at: '2026-10-01T00:00:00Z', message: { role: 'assistant', content, ...(thinking ? { thinking } : {}) }, done: false }
          : { model, created_at: '2026-10-01T00:00:00Z', response: content, ...(thinking ? { thinking } : {}), done: false },
      ),
    );
    const last = chat ? { message: { role: 'assistant', content: '' } } : { response: '' };
    frames.push(frame({ model, created_at: '2026-10-01T00:00:01Z', ...last, done: true, done_reason: 'length', prompt_eval_count: 20, eval_count: evalCount }));
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    return writeFrames(res, frames);
  };
}

const chatProvider = (model = 'qwen3:8b') =>
  createProvider({ kind: 'openai-chat', baseUrl: `${server.url}/v1`, model, maxRetries: 0, ...FAST }, new MemoryKeySource());
const ollamaProvider = (extra: Record<string, unknown> = {}) =>
  createProvider({ kind: 'ollama', baseUrl: server.url, model: 'qwen3:8b', maxRetries: 0, ollamaEndpoint: 'chat', ...FAST, ...extra }, new MemoryKeySource());

const reasoningOf = (chunks: ProviderChunk[]) => chunks.flatMap((c) => (c.type === 'reasoning' ? [c.text] : [])).join('');

test('openai-chat (Ollama /v1, qwen3): reasoning streamed in delta.reasoning with no reasoning in the usage is counted, and the next call asks for effort "none"', async () => {
  const p = chatProvider();
  server.enqueue(chatStream([{ reasoning: 'Okay' }, { reasoning: ',' }], 2));
  const first = await collect(p, { ...REQUEST, maxTokens: 2 });
  assert.equal(first.text, '');
  assert.equal(reasoningOf(first.chunks), 'Okay,');
  assert.equal(first.usage?.outputTokens, 2);
  assert.equal(first.usage?.reasoningTokens, 2, 'no text came: every output token was reasoning');
  assert.equal(server.lastRequest.body.reasoning_effort, undefined, 'nothing known of the model yet');

  server.enqueue(chatStream([{ content: ' Paris' }, { content: ' is' }], 2));
  const second = await collect(p, { ...REQUEST, maxTokens: 2 });
  assert.equal(server.lastRequest.body.reasoning_effort, 'none', 'Ollama /v1 reads it as think: false');
  assert.equal(second.text, ' Paris is');
});

test('openai-chat (vLLM, reasoning_content): where text came too, the reasoning is its local count, never more than the output reported', async () => {
  server.enqueue(chatStream([{ reasoning_content: 'The user wants the capital.' }, { content: ' Paris' }], 40));
  const some = await collect(chatProvider('Qwen/Qwen3-8B'), REQUEST);
  assert.equal(some.text, ' Paris');
  assert.equal(some.usage?.reasoningTokens, 7, '27 characters at about four a token');
  assert.equal(some.usage?.outputTokens, 40);

  server.enqueue(chatStream([{ reasoning_content: 'x'.repeat(400) }, { content: ' Paris' }], 5));
  const capped = await collect(chatProvider('Qwen/Qwen3-8B'), REQUEST);
  assert.deepEqual([capped.usage?.reasoningTokens, capped.usage?.outputTokens], [5, 5], 'the report of the output stands');
});

test('openai-chat: <think> in the content (vLLM without a reasoning parser) is reasoning, not answer; a mention of <think> later is text', async () => {
  server.enqueue(chatStream([{ content: '<think>' }, { content: '\nOkay' }, { content: '</think>\n\n' }, { content: ' Paris' }], 6, 'stop'));
  const got = await collect(chatProvider('Qwen/Qwen3-32B'), REQUEST);
  assert.equal(got.text, ' Paris');
  assert.equal(reasoningOf(got.chunks), '<think>\nOkay</think>');
  assert.ok((got.usage?.reasoningTokens ?? 0) > 0, 'counted as reasoning');
  assert.ok(!got.chunks.some((c) => c.type === 'text' && c.text.includes('think')));

  const mention = [' The tag', ' <think>', ' opens', ' it.'];
  server.enqueue(
    chatStream(
      mention.map((content) => ({ content })),
      4,
      'stop',
    ),
  );
  const plain = await collect(chatProvider('Qwen/Qwen3-32B'), REQUEST);
  assert.equal(plain.text, mention.join(''));
  assert.equal(reasoningOf(plain.chunks), '');
  assert.equal(plain.usage?.reasoningTokens, undefined);
});

test('ollama /api/chat (gpt-oss: think false not honoured): message.thinking is reasoning chunks, counted in the usage', async () => {
  server.enqueue(ollamaLines([{ thinking: 'The' }, { thinking: ' user' }], 2));
  const got = await collect(ollamaProvider({ model: 'gpt-oss:20b' }), { ...REQUEST, maxTokens: 2 });
  assert.equal(server.lastRequest.path, '/api/chat');
  assert.equal(got.text, '');
  assert.equal(reasoningOf(got.chunks), 'The user');
  assert.deepEqual([got.usage?.outputTokens, got.usage?.reasoningTokens], [2, 2]);
  assert.equal(got.finishReason, 'length');
});

test('ollama: `thinking` beside `response` (/api/generate) is reasoning; <think> at the head of a new turn (/api/chat, nothing to continue) too', async () => {
  const raw = { templateRenderer: (_m: unknown, partial: string) => `<prompt>${partial}`, ollamaEndpoint: 'generate' };
  server.enqueue(ollamaLines([{ thinking: 'Hmm.' }, { content: ' Paris' }], 30));
  const field = await collect(ollamaProvider(raw), REQUEST);
  assert.equal(server.lastRequest.path, '/api/generate');
  assert.equal(field.text, ' Paris');
  assert.equal(reasoningOf(field.chunks), 'Hmm.');
  assert.equal(field.usage?.reasoningTokens, 1);

  server.enqueue(ollamaLines([{ content: '<think>' }, { content: '\nOkay' }, { content: '</think>\n\n' }, { content: 'Paris' }], 6));
  const tags = await collect(ollamaProvider(), { ...REQUEST, partialAnswer: '' });
  assert.equal(tags.text, 'Paris');
  assert.equal(reasoningOf(tags.chunks), '<think>\nOkay</think>');
});

test("an exact continuation's head is the answer's own text: a <think> there is kept (a raw prompt; the partial answer as the assistant's prefix)", async () => {
  const pieces = ['<think>', ' opens', ' it.'];
  // openai-completions: the raw prompt with the partial answer, continued character for character.
  server.enqueue((_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const frames = pieces.map((text) => `data: ${JSON.stringify({ choices: [{ index: 0, text, finish_reason: null }] })}\n\n`);
    frames.push(
      `data: ${JSON.stringify({ choices: [{ index: 0, text: '', finish_reason: 'length' }], usage: { prompt_tokens: 20, completion_tokens: 3, total_tokens: 23 } })}\n\n`,
    );
    return writeFrames(res, [...frames, 'data: [DONE]\n\n']);
  });
  const raw = createProvider(
    {
      kind: 'openai-completions',
      baseUrl: `${server.url}/v1`,
      model: 'Qwen/Qwen3-8B',
      maxRetries: 0,
      templateRenderer: (_m, partial) => `<prompt>${partial}`,
      ...FAST,
    },
    new MemoryKeySource(),
  );
  const completion = await collect(raw, { ...REQUEST, partialAnswer: 'The tag ' });
  assert.equal(completion.text, pieces.join(''));
  assert.equal(reasoningOf(completion.chunks), '');
  // Ollama /api/chat with the partial answer as the last assistant message: continued, not a new turn.
  server.enqueue(
    ollamaLines(
      pieces.map((content) => ({ content })),
      3,
    ),
  );
  const prefixed = await collect(ollamaProvider(), { ...REQUEST, partialAnswer: 'The tag ' });
  assert.equal(prefixed.text, pieces.join(''));
  assert.equal(reasoningOf(prefixed.chunks), '');
});

test('ollama: a model not pulled (HTTP 404 "model not found") names `ollama pull <model>` and `ollama list`', async () => {
  server.enqueue(ollamaError(404, "model 'qwen3:8b' not found"));
  const error = await collectError(ollamaProvider(), REQUEST);
  assert.equal(error.code, 'model_not_found');
  assert.equal(error.fix, 'llm-model');
  assert.match(error.message, /ollama pull qwen3:8b/);
  assert.match(error.message, /ollama list/);
  assert.match(error.message, /The server said: model 'qwen3:8b' not found/);
});
