import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ChatMessage } from '../../../src/core/slm/types';
import { FakeServer, startFakeServer } from './servers/harness';
import { OLLAMA_PROMPT_TOO_LONG, ollamaError, ollamaLongPrompt, ollamaStream } from './servers/ollama';
import { FAST, REQUEST, collect, collectError } from './servers/collect';

let server: FakeServer;
before(async () => {
  server = await startFakeServer(ollamaStream({ pieces: [' Paris'] }));
});
after(() => server.close());

const render = (messages: ChatMessage[], partial: string) => messages.map((m) => `<${m.role}>${m.content}`).join('') + '<assistant>' + partial;
const provider = (extra: Record<string, unknown> = {}, options = {}) =>
  createProvider({ kind: 'ollama', baseUrl: server.url, model: 'qwen3:8b', templateRenderer: render, ...FAST, ...extra }, new MemoryKeySource(), options);

test('ollama (generate): raw prompt, num_predict and sampling; NDJSON text, eval counts and done_reason', async () => {
  server.enqueue(ollamaStream({ pieces: [' Paris', ',', ' on'], doneReason: 'length', promptEvalCount: 26, evalCount: 3 }));
  const p = provider();
  assert.equal(p.continuation, 'raw-completion');
  const out = await collect(p, REQUEST);
  assert.equal(out.text, ' Paris, on');
  assert.equal(out.finishReason, 'length');
  assert.deepEqual(out.usage, { inputTokens: 26, outputTokens: 3, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false });
  const sent = server.lastRequest;
  assert.equal(sent.path, '/api/generate');
  assert.equal(sent.body.raw, true);
  assert.equal(sent.body.stream, true);
  assert.equal(sent.body.prompt, render(REQUEST.messages, REQUEST.partialAnswer));
  assert.deepEqual(sent.body.options, { num_predict: 4, temperature: 0.7, top_p: 0.9, seed: 42 });
});

test('ollama: both endpoints send think: false (left out, Ollama thinks for a thinking model and moves raw text to `thinking`)', async () => {
  server.enqueue(ollamaStream({ pieces: [' Paris'] }));
  await collect(provider(), REQUEST);
  assert.equal(server.lastRequest.path, '/api/generate');
  assert.equal(server.lastRequest.body.think, false);
  server.enqueue(ollamaStream({ pieces: [' Paris'] }));
  await collect(provider({ templateRenderer: undefined }), REQUEST);
  assert.equal(server.lastRequest.path, '/api/chat');
  assert.equal(server.lastRequest.body.think, false);
});

test('ollama: done_reason stop ends the answer', async () => {
  server.enqueue(ollamaStream({ pieces: [' Paris.'], doneReason: 'stop' }));
  assert.equal((await collect(provider(), REQUEST)).finishReason, 'stop');
});

test('ollama (chat): without a template the partial answer is the last assistant turn of /api/chat', async () => {
  server.enqueue(ollamaStream({ pieces: [' Paris'] }));
  const p = provider({ templateRenderer: undefined });
  assert.equal(p.continuation, 'assistant-prefix');
  assert.equal((await collect(p, REQUEST)).text, ' Paris');
  const sent = server.lastRequest;
  assert.equal(sent.path, '/api/chat');
  assert.deepEqual(sent.body.messages[sent.body.messages.length - 1], { role: 'assistant', content: REQUEST.partialAnswer });
  assert.equal(sent.body.options.num_predict, 4);
});

test('ollama: prompt_eval_count left out (prompt cached) is counted locally and marked estimated', async () => {
  server.enqueue(ollamaStream({ pieces: [' Paris'], promptEvalCount: null, evalCount: 1 }));
  const out = await collect(provider({}, { countTokens: (t: string) => t.length }), REQUEST);
  assert.equal(out.usage?.inputTokens, render(REQUEST.messages, REQUEST.partialAnswer).length);
  assert.equal(out.usage?.outputTokens, 1);
  assert.equal(out.usage?.estimated, true);
});

test("ollama: prompt tokens read from its cache (prompt_eval_cached_count) are reported as cached, within the prompt's count", async () => {
  // As documented (prompt_eval_count includes the cached), and from a version whose prompt_eval_count is only what it
  // evaluated: fewer than the cached, so the cached are added.
  for (const promptEvalCount of [900, 50]) {
    server.enqueue(ollamaStream({ pieces: [' Paris'], promptEvalCount, promptEvalCachedCount: 850, evalCount: 1 }));
    const { usage } = await collect(provider(), REQUEST);
    assert.deepEqual(
      usage,
      { inputTokens: 900, outputTokens: 1, cachedInputTokens: 850, cacheWriteTokens: 0, estimated: false },
      `prompt_eval_count ${promptEvalCount}`,
    );
  }
});

test('ollama: lines written one byte at a time, UTF-8 split', async () => {
  server.enqueue(ollamaStream({ pieces: [' Pa', 'rís', ' 世界 🚀'], chunkSize: 1 }));
  assert.equal((await collect(provider(), REQUEST)).text, ' París 世界 🚀');
});

test('ollama: model not found (404) says to pick another model', async () => {
  server.enqueue(ollamaError(404, 'model "qwen9" not found, try pulling it first'));
  const error = await collectError(provider(), REQUEST);
  assert.equal(error.code, 'model_not_found');
  assert.equal(error.fix, 'llm-model');
  assert.match(error.message, /qwen9/);
});

test('ollama: an error line after text is thrown, not retried', async () => {
  server.enqueue(ollamaStream({ pieces: [' Paris', ' is'], errorAfterPieces: { after: 1, error: 'llama runner process has terminated' } }));
  const start = server.requests.length;
  const error = await collectError(provider(), REQUEST);
  assert.equal(error.code, 'server');
  assert.equal(error.responseStarted, true);
  assert.match(error.message, /runner process/);
  assert.equal(server.requests.length - start, 1);
});

test('ollama: a base URL ending in /api is not doubled', async () => {
  server.enqueue(ollamaStream({ pieces: [' ok'] }));
  assert.equal((await collect(provider({ baseUrl: `${server.url}/api` }), REQUEST)).text, ' ok');
  assert.equal(server.lastRequest.path, '/api/generate');
});

test('ollama: a prompt its context length cut (prompt_eval_count far below the prompt) ends with an error naming num_ctx, after its text and usage', async () => {
  // About 3,750 tokens of conversation as counted here; the server says it read 2,048 of them... then 1,024.
  const long: ChatMessage[] = [{ role: 'user', content: 'word '.repeat(3000) }];
  server.enqueue(ollamaStream({ pieces: [' Paris'], promptEvalCount: 2048, promptEvalCachedCount: 0, evalCount: 1 }));
  const kept = await collect(provider(), { ...REQUEST, messages: long });
  assert.equal(kept.finishReason, 'length', 'more than half read: within what a local count can be off by');
  // A server that does not say what its cache served may count only what it evaluated (Ollama 0.30): no verdict.
  server.enqueue(ollamaStream({ pieces: [' Paris'], promptEvalCount: 1024, evalCount: 1 }));
  assert.equal((await collect(provider(), { ...REQUEST, messages: long })).finishReason, 'length');
  server.enqueue(ollamaStream({ pieces: [' Paris'], promptEvalCount: 1024, promptEvalCachedCount: 0, evalCount: 1 }));
  const chunks: string[] = [];
  let error: any;
  try {
    for await (const chunk of provider().continue({ ...REQUEST, messages: long })) chunks.push(chunk.type);
  } catch (e) {
    error = e;
  }
  assert.deepEqual(chunks, ['text', 'usage'], 'the text and the usage came first, no done');
  assert.match(String(error?.message), /read only 1024 of about \d+ prompt tokens: its context length \(num_ctx\) cut the start of the prompt/);
  assert.match(String(error?.message), /OLLAMA_CONTEXT_LENGTH=8192/);
});

test("ollama: both endpoints send truncate: false, so a prompt longer than the context length is refused (HTTP 400, in each version's words), not cut: the call ends with OLLAMA_CONTEXT_LENGTH, not retried", async () => {
  for (const endpoint of ['generate', 'chat'] as const) {
    for (const [version, said] of Object.entries(OLLAMA_PROMPT_TOO_LONG)) {
      const what = `/api/${endpoint}, ${version}`;
      // Left out, Ollama cuts the prompt and answers 200.
      server.enqueue(ollamaLongPrompt(said, ollamaStream({ pieces: [' Paris'] })));
      const start = server.requests.length;
      // 9,000 prompt tokens and 4 to write: a context of 16,384 holds them.
      const error = await collectError(provider(endpoint === 'chat' ? { templateRenderer: undefined } : {}, { countTokens: () => 9000 }), REQUEST);
      assert.equal(server.requests.length - start, 1, `${what}: one request, not retried`);
      assert.equal(server.lastRequest.path, `/api/${endpoint}`);
      assert.equal(server.lastRequest.body.truncate, false, what);
      assert.equal(error.code, 'bad_request', what);
      assert.equal(error.status, 400, what);
      assert.equal(error.retryable, false, what);
      assert.equal(error.fix, 'llm-model', what);
      assert.match(
        error.message,
        /^The prompt is too long for the model at 127\.0\.0\.1:\d+ \(HTTP 400\)\. Give the model a longer context \(start Ollama with OLLAMA_CONTEXT_LENGTH=16384, or set num_ctx in its Modelfile\), or send less text\. The server said: .*exceeds the (?:available )?context/,
        what,
      );
      // From 0.30 the words are llama-server's, inside the JSON body Ollama passes on as its error string: said without the JSON.
      assert.doesNotMatch(error.message, /\{"error"|n_prompt_tokens/, what);
    }
  }
});
