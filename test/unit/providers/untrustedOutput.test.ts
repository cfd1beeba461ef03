/**
 * What a model server sends is untrusted: these servers on 127.0.0.1 speak each provider's
 * wire format wrongly on purpose (a finish reason that is no end of text, counts no call
 * could bill, lines of megabytes, a redirect, a broken Content-Length, an error object) and
 * the providers must end the call with an error that names the problem, or count locally.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { after, before, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { SseParser } from '../../../src/core/providers/sse';
import { NdjsonParser } from '../../../src/core/providers/ndjson';
import { StreamLineTooLongError } from '../../../src/core/providers/streamLimits';
import { MAX_BELIEVED_OUTPUT_TOKENS } from '../../../src/core/providers/usage';
import { FakeServer, startFakeServer, type Responder } from './servers/harness';
import { FAST, REQUEST, collect, collectError } from './servers/collect';

const KEY = 'sk-test-UNTRUSTED0123456789abcdef';
let server: FakeServer;
before(async () => {
  server = await startFakeServer((_request, res) => {
    res.writeHead(500, { 'content-type': 'application/json' });
    res.end('{"error":{"message":"no responder queued"}}');
  });
});
after(() => server.close());

const keys = () => new MemoryKeySource({ 'openai-chat': KEY, 'openai-completions': KEY, anthropic: KEY, ollama: KEY });
const render = (messages: { content: string }[], partial: string) => messages.map((m) => m.content).join('\n') + partial;
const openAiChat = (extra: Record<string, unknown> = {}) =>
  createProvider({ kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'gpt-4o-mini', assistantPrefix: 'on', maxRetries: 2, ...FAST, ...extra }, keys());
const openAiCompletions = () =>
  createProvider({ kind: 'openai-completions', baseUrl: `${server.url}/v1`, model: 'Qwen/Qwen3-8B', templateRenderer: render, maxRetries: 2, ...FAST }, keys());
const anthropic = () => createProvider({ kind: 'anthropic', baseUrl: server.url, model: 'claude-3-5-haiku-latest', maxRetries: 2, ...FAST }, keys());
const ollama = () => createProvider({ kind: 'ollama', baseUrl: server.url, model: 'qwen3:8b', templateRenderer: render, maxRetries: 2, ...FAST }, keys());

/** Runs `run` and returns how many requests it made. */
async function requestsOf(run: () => Promise<unknown>): Promise<number> {
  const before = server.requests.length;
  await run();
  return server.requests.length - before;
}

/** An OpenAI-style event stream of these JSON frames, then [DONE] unless told not to. */
const openAiSse =
  (frames: unknown[], done = true): Responder =>
  (_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const frame of frames) res.write(`data: ${JSON.stringify(frame)}\n\n`);
    if (done) res.write('data: [DONE]\n\n');
    res.end();
  };

/** Anthropic's event stream of these events. */
const anthropicSse =
  (events: Array<{ type: string } & Record<string, unknown>>): Responder =>
  (_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const event of events) res.write(`event: ${event.type}\ndata: ${JSON.stringify(event)}\n\n`);
    res.end();
  };

/** Ollama's NDJSON stream of these objects. */
const ollamaLines =
  (values: unknown[]): Responder =>
  (_request, res) => {
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.end(values.map((value) => JSON.stringify(value) + '\n').join(''));
  };

const anthropicAnswer = (stopReason: string | undefined, usage: Record<string, unknown> = { output_tokens: 2 }) =>
  anthropicSse([
    { type: 'message_start', message: { usage: { input_tokens: 500, output_tokens: 1 } } },
    { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' Paris' } },
    { type: 'message_delta', delta: stopReason ? { stop_reason: stopReason } : {}, usage },
    { type: 'message_stop' },
  ]);

// ---- Finish reasons: only the model's own end of text is 'stop'. ----

test("finish: vLLM's finish_reason 'abort' is an error naming it, not the end of the answer", async () => {
  server.enqueue(openAiSse([{ choices: [{ text: ' Paris', finish_reason: null }] }, { choices: [{ text: '', finish_reason: 'abort' }] }]));
  const error = await collectError(openAiCompletions(), REQUEST);
  assert.equal(error.code, 'bad_response');
  assert.match(error.message, /finish reason "abort"/);
});

test("finish: the natural ends servers name otherwise are the end of the answer (TGI's eos_token, Together's eos)", async () => {
  for (const reason of ['eos', 'eos_token', 'stop_sequence']) {
    server.enqueue(openAiSse([{ choices: [{ text: ' Paris', finish_reason: null }] }, { choices: [{ text: '', finish_reason: reason }] }]));
    const out = await collect(openAiCompletions(), REQUEST);
    assert.equal(out.finishReason, 'stop', reason);
    assert.equal(out.text, ' Paris', reason);
  }
});

test("finish: OpenRouter's finish_reason 'error' (no error object) is an error naming it", async () => {
  server.enqueue(openAiSse([{ choices: [{ delta: { content: ' Paris' }, finish_reason: 'error' }] }]));
  const error = await collectError(openAiChat(), REQUEST);
  assert.equal(error.code, 'bad_response');
  assert.match(error.message, /finish reason "error"/);
});

test('finish: [DONE] after text but without any finish_reason is a truncated stream, not a natural end', async () => {
  server.enqueue(openAiSse([{ choices: [{ delta: { content: ' Paris' } }] }]));
  const error = await collectError(openAiChat(), REQUEST);
  assert.match(error.message, /ended before the answer finished/);
});

test("finish: Anthropic's stop_reason pause_turn is an error; message_stop without a stop_reason is a truncated stream", async () => {
  server.enqueue(anthropicAnswer('pause_turn'));
  const paused = await collectError(anthropic(), REQUEST);
  assert.equal(paused.code, 'bad_response');
  assert.match(paused.message, /finish reason "pause_turn"/);
  server.enqueue(anthropicAnswer(undefined));
  assert.match((await collectError(anthropic(), REQUEST)).message, /ended before the answer finished/);
});

test("finish: Ollama's done_reason 'load' is an error; done without a done_reason (older Ollama) is still the end", async () => {
  server.enqueue(ollamaLines([{ response: '', done: true, done_reason: 'load' }]));
  const error = await collectError(ollama(), REQUEST);
  assert.equal(error.code, 'bad_response');
  assert.match(error.message, /finish reason "load"/);
  server.enqueue(
    ollamaLines([
      { response: ' Paris', done: false },
      { response: '', done: true, prompt_eval_count: 20, eval_count: 1 },
    ]),
  );
  assert.equal((await collect(ollama(), REQUEST)).finishReason, 'stop');
});

// ---- Usage: counts are cumulative and must be plausible. ----

test("usage: Anthropic's message_delta with input_tokens 0 (SGLang) keeps message_start's input count", async () => {
  server.enqueue(anthropicAnswer('end_turn', { input_tokens: 0, output_tokens: 3 }));
  const out = await collect(anthropic(), REQUEST);
  assert.equal(out.finishReason, 'stop');
  assert.deepEqual(out.usage, { inputTokens: 500, outputTokens: 3, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false });
});

test('usage: a count that is no whole number a double holds (1e300) is counted locally instead', async () => {
  server.enqueue(
    openAiSse([{ choices: [{ delta: { content: ' Paris' }, finish_reason: 'stop' }] }, { choices: [], usage: { prompt_tokens: 1e300, completion_tokens: 2 } }]),
  );
  const out = await collect(openAiChat(), REQUEST);
  assert.ok(out.usage!.inputTokens < 1000, `input counted locally, got ${out.usage!.inputTokens}`);
  assert.equal(out.usage!.estimated, true);
});

test('usage: an output count far past max_tokens (hidden reasoning a host did not bound by it) is billed as reported', async () => {
  // A host that takes max_tokens for the visible text only: 4 asked, 3,990 reasoning tokens before ' Paris'.
  server.enqueue(
    openAiSse([
      { choices: [{ delta: { content: ' Paris' }, finish_reason: 'stop' }] },
      { choices: [], usage: { prompt_tokens: 30, completion_tokens: 4000, completion_tokens_details: { reasoning_tokens: 3990 } } },
    ]),
  );
  const out = await collect(openAiChat(), REQUEST);
  assert.equal(server.lastRequest.body.max_tokens, 4);
  assert.deepEqual(out.usage, { inputTokens: 30, outputTokens: 4000, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false, reasoningTokens: 3990 });
  // The same count without a reasoning breakdown is believed too: it is what the bill says.
  server.enqueue(
    openAiSse([{ choices: [{ delta: { content: ' Paris' }, finish_reason: 'stop' }] }, { choices: [], usage: { prompt_tokens: 30, completion_tokens: 4000 } }]),
  );
  assert.equal((await collect(openAiChat(), REQUEST)).usage!.outputTokens, 4000);
});

test('usage: an output count past what any call writes (a billion tokens) is capped at MAX_BELIEVED_OUTPUT_TOKENS, estimated, and says so', async () => {
  server.enqueue(
    openAiSse([
      { choices: [{ delta: { content: ' Paris' }, finish_reason: 'stop' }] },
      { choices: [], usage: { prompt_tokens: 30, completion_tokens: 1_000_000_000, completion_tokens_details: { reasoning_tokens: 999_999_990 } } },
    ]),
  );
  const out = await collect(openAiChat(), REQUEST);
  assert.deepEqual(out.usage, {
    inputTokens: 30,
    outputTokens: MAX_BELIEVED_OUTPUT_TOKENS,
    cachedInputTokens: 0,
    cacheWriteTokens: 0,
    estimated: true,
    reasoningTokens: MAX_BELIEVED_OUTPUT_TOKENS,
    outputCapped: true,
  });
  // Anthropic's cumulative count of a call cancelled mid-stream: capped the same way.
  const controller = new AbortController();
  server.enqueue(
    anthropicSse([
      {
        type: 'message_start',
        message: { id: 'm', type: 'message', role: 'assistant', content: [], model: 'x', usage: { input_tokens: 30, output_tokens: 1 } },
      },
      { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } },
      { type: 'message_delta', delta: {}, usage: { output_tokens: 1_000_000_000 } },
      { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: ' Paris' } },
    ]),
  );
  const cancelled = await collect(anthropic(), REQUEST, controller.signal, (chunk) => chunk.type === 'text' && controller.abort());
  assert.equal(cancelled.usage?.outputTokens, MAX_BELIEVED_OUTPUT_TOKENS);
  assert.equal(cancelled.usage?.outputCapped, true);
});

// ---- Size: a line, event or body of megabytes is no model's stream. ----

/** Writes `head`, then 64 KiB chunks of 'x' up to `totalBytes` (bounded), then ends; stops once the client leaves. */
function pump(res: ServerResponse, contentType: string, head: string, totalBytes: number): void {
  res.writeHead(200, { 'content-type': contentType });
  res.write(head);
  const chunk = Buffer.alloc(64 * 1024, 'x');
  let sent = 0;
  const go = (): void => {
    while (sent < totalBytes && !res.destroyed) {
      sent += chunk.length;
      if (!res.write(chunk)) return void res.once('drain', go);
    }
    if (!res.destroyed) res.end();
  };
  go();
}

const MiB = 1024 * 1024;

test('size: an SSE line of more than 8 MiB ends the call with a bad response that names the base URL', async () => {
  server.enqueue((_request, res) => pump(res, 'text/event-stream', 'data: {"choices":[{"delta":{"content":"', 9 * MiB));
  const error = await collectError(openAiChat(), REQUEST);
  assert.equal(error.code, 'bad_response');
  assert.match(error.message, /a line of more than 8 MiB: not a model's stream\. Check relay\.provider\.baseUrl/);
});

test('size: an NDJSON line of more than 8 MiB (Ollama) ends the call the same way', async () => {
  server.enqueue((_request, res) => pump(res, 'application/x-ndjson', '{"response":"', 9 * MiB));
  const error = await collectError(ollama(), REQUEST);
  assert.equal(error.code, 'bad_response');
  assert.match(error.message, /a line of more than 8 MiB/);
});

test('size: a whole JSON body (stream ignored) of more than 16 MiB is not read to its end', async () => {
  server.enqueue((_request, res) => pump(res, 'application/json', '{"choices":[{"message":{"content":"', 17 * MiB));
  const error = await collectError(openAiChat(), REQUEST);
  assert.equal(error.code, 'bad_response');
  assert.match(error.message, /a JSON body of more than 16 MiB/);
});

test('size: the parsers bound a line, and an event of many data lines, whatever the chunks', () => {
  const sse = new SseParser(1024);
  assert.throws(() => sse.push('data: ' + 'x'.repeat(2000)), StreamLineTooLongError);
  const lines = new SseParser(1024);
  assert.throws(() => {
    for (let i = 0; i < 100; i++) lines.push('data: ' + 'x'.repeat(50) + '\n');
  }, StreamLineTooLongError);
  const ndjson = new NdjsonParser(1024);
  assert.deepEqual(ndjson.push('{"a":1}\n{"b":'), [{ a: 1 }]);
  assert.deepEqual(ndjson.push('2}\n'), [{ b: 2 }], 'a line split across chunks still parses');
  assert.throws(() => {
    for (let i = 0; i < 100; i++) ndjson.push('x'.repeat(50));
  }, StreamLineTooLongError);
});

// ---- HTTP: redirects, broken framing. ----

test('http: a redirect is not followed (nor read as a stream): one request, an error naming the target origin, no key', async () => {
  server.enqueue((_request, res) => {
    res.writeHead(307, { location: 'https://elsewhere.example/v1/chat/completions?token=abc', 'content-type': 'text/html' });
    res.end('<html>Moved</html>');
  });
  let error: any;
  assert.equal(await requestsOf(async () => (error = await collectError(openAiChat(), REQUEST))), 1);
  assert.equal(error.code, 'bad_request');
  assert.equal(error.status, 307);
  assert.match(error.message, /redirected the request to https:\/\/elsewhere\.example \(HTTP 307\)/);
  assert.match(error.message, /does not follow redirects with your key.*relay\.provider\.baseUrl/);
  assert.doesNotMatch(error.message, /token=abc/);
  assert.ok(!error.message.includes(KEY));
});

test('http: a Content-Length shorter than the body is a malformed response, not retried (the call may be billed)', async () => {
  const sse = 'data: {"choices":[{"delta":{"content":" 42"},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n';
  const broken: Responder = (_request, res) => {
    res.socket!.write(`HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncontent-length: 20\r\nconnection: keep-alive\r\n\r\n${sse}`);
  };
  server.enqueue(broken, broken, broken);
  let error: any;
  assert.equal(await requestsOf(async () => (error = await collectError(openAiChat(), REQUEST))), 1);
  server.queue.length = 0;
  assert.equal(error.code, 'bad_response');
  assert.equal(error.retryable, false);
  assert.match(error.message, /malformed HTTP response \(HPE_/);
});

// ---- Messages: no secret of the base URL, no "[object Object]". ----

test('secrets: a password written into the base URL is scrubbed from error messages, as typed and decoded', async () => {
  server.enqueue((_request, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'user bob: password hunter2pass or p@ss-word9 is wrong' } }));
  });
  const error = await collectError(openAiChat({ baseUrl: server.url.replace('http://', 'http://bob:hunter2pass@') + '/v1' }), REQUEST);
  assert.equal(error.code, 'auth');
  assert.ok(!error.message.includes('hunter2pass'), error.message);
  server.enqueue((_request, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'password p@ss-word9 is wrong' } }));
  });
  const decoded = await collectError(openAiChat({ baseUrl: server.url.replace('http://', 'http://bob:p%40ss-word9@') + '/v1' }), REQUEST);
  assert.ok(!decoded.message.includes('p@ss-word9'), decoded.message);
});

test('ollama: an error object in the stream is described by its message, not "[object Object]"', async () => {
  server.enqueue(ollamaLines([{ error: { message: 'model runner crashed', code: 500 } }]));
  const error = await collectError(ollama(), REQUEST);
  assert.match(error.message, /model runner crashed/);
  assert.doesNotMatch(error.message, /object Object/);
});
