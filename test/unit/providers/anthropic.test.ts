import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { CONTINUE_INSTRUCTION } from '../../../src/core/providers/seam';
import { COUNT_RETRY_MS, TokenRatios } from '../../../src/core/relay/money';
import { calibrateTokenRatios } from '../../../src/core/relay/tokenCalibration';
import { DoubleRuntime } from '../relay/doubles';
import { anthropicCountTokens, anthropicError, anthropicStream } from './servers/anthropic';
import { FakeServer, startFakeServer } from './servers/harness';
import { FAST, REQUEST, collect, collectError, within } from './servers/collect';

const KEY = 'sk-ant-api03-test-0123456789';
let server: FakeServer;
before(async () => {
  server = await startFakeServer(anthropicStream({ pieces: [' Paris'] }, KEY));
});
after(() => server.close());

const provider = (extra: Record<string, unknown> = {}, key: string | null = KEY) =>
  createProvider(
    { kind: 'anthropic', baseUrl: server.url, model: 'claude-3-5-haiku-latest', ...FAST, ...extra },
    new MemoryKeySource(key ? { anthropic: key } : {}),
  );

test('anthropic: prefill with the partial answer, version header, key; cache breakpoints on a prompt of any length', async () => {
  server.enqueue(anthropicStream({ pieces: [' Paris', ', on the', ' Seine'], stopReason: 'max_tokens' }, KEY));
  const p = provider({}, KEY);
  assert.equal(p.continuation, 'assistant-prefix');
  const out = await collect(p, { ...REQUEST, temperature: 1.5 });
  assert.equal(out.text, ' Paris, on the Seine');
  assert.equal(out.finishReason, 'length');
  const sent = server.lastRequest;
  assert.equal(sent.path, '/v1/messages');
  assert.equal(sent.headers['anthropic-version'], '2023-06-01');
  assert.equal(sent.headers['x-api-key'], KEY);
  // Claude Haiku 3.5 caches from 2,048 tokens on: under that a breakpoint is a silent miss that
  // costs nothing, and a local count cannot tell where the server's count crosses it.
  const cached = { cache_control: { type: 'ephemeral' } };
  assert.deepEqual(sent.body.system, [{ type: 'text', text: 'You are a helpful assistant.', ...cached }]);
  assert.deepEqual(sent.body.messages, [
    { role: 'user', content: [{ type: 'text', text: 'What is the capital of France?', ...cached }] },
    { role: 'assistant', content: [{ type: 'text', text: 'The capital of France is', ...cached }] },
  ]);
  assert.deepEqual(out.chunks[out.chunks.length - 1], { type: 'done', finishReason: 'length', continuation: 'assistant-prefix' });
  assert.equal(sent.body.max_tokens, 4);
  assert.equal(sent.body.temperature, 1, 'clamped to the API range');
  assert.equal(sent.body.stream, true);
});

test('anthropic: trailing whitespace is trimmed from the prefill (the API rejects it) and the seam stays exact', async () => {
  server.enqueue(anthropicStream({ pieces: [' Par', 'is.'], stopReason: 'end_turn' }, KEY));
  const partial = 'The capital of France is ';
  const out = await collect(provider(), { ...REQUEST, partialAnswer: partial });
  const messages = server.lastRequest.body.messages;
  assert.equal(messages[messages.length - 1].content[0].text, 'The capital of France is');
  assert.equal(partial + out.text, 'The capital of France is Paris.');
  assert.equal(out.finishReason, 'stop');
});

test('anthropic: usage from message_start and message_delta, cache reads and writes included', async () => {
  server.enqueue(
    anthropicStream(
      { pieces: [' Paris'], usage: { input_tokens: 30, output_tokens: 4, cache_read_input_tokens: 1000, cache_creation_input_tokens: 200 } },
      KEY,
    ),
  );
  const out = await collect(provider(), REQUEST);
  assert.deepEqual(out.usage, { inputTokens: 1230, outputTokens: 4, cachedInputTokens: 1000, cacheWriteTokens: 200, estimated: false });
});

test('anthropic: a call cancelled mid-stream keeps the input and cache split message_start reported; the output is counted from the text received', async () => {
  // message_start (with the cache split), content_block_start, ping, one text delta; then the server stalls.
  const text = ' Paris, on the Seine';
  server.enqueue(
    anthropicStream(
      { pieces: [text], stallAfterFrames: 4, usage: { input_tokens: 30, output_tokens: 9, cache_read_input_tokens: 1000, cache_creation_input_tokens: 200 } },
      KEY,
    ),
  );
  const controller = new AbortController();
  const out = await within(
    collect(provider(), REQUEST, controller.signal, (chunk) => {
      if (chunk.type === 'text') controller.abort();
    }),
    5000,
    'the cancelled call ending',
  );
  assert.equal(out.finishReason, 'cancelled');
  assert.equal(out.text, text);
  // Input 30 + 1000 read + 200 written, as the server said; output: 20 characters at four a token (the final count never came).
  assert.deepEqual(out.usage, { inputTokens: 1230, outputTokens: 5, cachedInputTokens: 1000, cacheWriteTokens: 200, estimated: true });
});

test('anthropic: a call cancelled in the wait after a 529 reports no billed input (the overloaded request generated nothing)', async () => {
  server.enqueue(anthropicError(529, 'overloaded_error', 'Overloaded', { 'retry-after': '60' }));
  const controller = new AbortController();
  const run = collect(provider({ maxRetryDelayMs: 120_000 }), REQUEST, controller.signal);
  for (let i = 0; i < 1000 && server.queue.length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(server.queue.length, 0, 'the 529 was served');
  setTimeout(() => controller.abort(), 20);
  const out = await within(run, 5000, 'the abort ending the 60 s retry wait');
  assert.equal(out.finishReason, 'cancelled');
  assert.deepEqual(out.usage, { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false });
});

test('anthropic: stop_sequence maps to stop', async () => {
  server.enqueue(anthropicStream({ pieces: [' Paris'], stopReason: 'stop_sequence' }, KEY));
  assert.equal((await collect(provider(), REQUEST)).finishReason, 'stop');
});

test('anthropic: an overloaded error event inside the stream is thrown, not retried, before text as after it', async () => {
  // message_start came first: the body started, so the call may be billed and is not sent again.
  server.enqueue(
    anthropicStream({ pieces: [' Paris'], errorAfterPieces: { after: 0, type: 'overloaded_error', message: 'Overloaded' } }, KEY),
    anthropicStream({ pieces: [' Paris'] }, KEY),
  );
  const before = server.requests.length;
  const early = await collectError(provider(), REQUEST);
  assert.equal(early.code, 'server');
  assert.equal(early.responseStarted, true);
  assert.equal(server.requests.length - before, 1);
  server.queue.length = 0;

  server.enqueue(anthropicStream({ pieces: [' Paris', ' is'], errorAfterPieces: { after: 1, type: 'overloaded_error', message: 'Overloaded' } }, KEY));
  const start = server.requests.length;
  const error = await collectError(provider(), REQUEST);
  assert.equal(error.code, 'server');
  assert.equal(error.responseStarted, true);
  assert.match(error.message, /Overloaded/);
  assert.equal(server.requests.length - start, 1, 'never retried once text was streamed');
});

test('anthropic: a wrong key is an auth error with the set-key fix; a missing key fails before sending', async () => {
  const wrong = await collectError(provider({}, 'sk-ant-wrong-key-987654'), REQUEST);
  assert.equal(wrong.code, 'auth');
  assert.equal(wrong.fix, 'set-key');
  assert.match(wrong.message, /invalid x-api-key/);
  const count = server.requests.length;
  const missing = await collectError(provider({}, null), REQUEST);
  assert.equal(missing.code, 'auth');
  assert.match(missing.message, /ANTHROPIC_API_KEY/);
  assert.equal(server.requests.length, count);
});

test('anthropic: 529 overloaded is retried; not_found_error names the model fix', async () => {
  server.enqueue(anthropicError(529, 'overloaded_error', 'Overloaded'), anthropicStream({ pieces: [' ok'] }, KEY));
  assert.equal((await collect(provider(), REQUEST)).text, ' ok');
  server.enqueue(anthropicError(404, 'not_found_error', 'model: claude-9'));
  const error = await collectError(provider(), REQUEST);
  assert.equal(error.code, 'model_not_found');
  assert.equal(error.fix, 'llm-model');
});

test('anthropic: a base URL that already ends in /v1 is not doubled', async () => {
  server.enqueue(anthropicStream({ pieces: [' ok'] }, KEY));
  const p = createProvider(
    { kind: 'anthropic', baseUrl: `${server.url}/v1/`, model: 'claude-3-5-haiku-latest', ...FAST },
    new MemoryKeySource({ anthropic: KEY }),
  );
  assert.equal((await collect(p, REQUEST)).text, ' ok');
  assert.equal(server.lastRequest.path, '/v1/messages');
});

test('anthropic: the text a call may send, for the money ceiling, is the instructed form unless the model is known to take prefill', () => {
  const partial = { ...REQUEST, partialAnswer: 'The capital of France is' };
  const sent = (model: string) => provider({ model }).sentText?.(partial) ?? '';
  assert.ok(sent('claude-3-5-haiku-latest').endsWith('The capital of France is'), 'prefill: the partial answer ends it');
  for (const model of ['claude-sonnet-4-6', 'a-proxy-alias']) {
    assert.ok(sent(model).endsWith(CONTINUE_INSTRUCTION), `${model}: refuses prefill, or may (and is then asked again by instruction)`);
    assert.ok(sent(model).includes('What is the capital of France?'));
  }
});

test('anthropic: a token count the API could not give now (overloaded) is asked again by an answer a minute later; a refused key is not', async () => {
  let clock = 0;
  const now = () => clock;
  const slm = new DoubleRuntime([]);
  const ratios = new TokenRatios();
  const counts = () => server.requests.filter((request) => request.path === '/v1/messages/count_tokens').length;
  const before = counts();
  server.enqueue(anthropicError(529, 'overloaded_error', 'Overloaded'));
  await calibrateTokenRatios(ratios, provider(), slm, now);
  assert.equal(ratios.known, false);
  await calibrateTokenRatios(ratios, provider(), slm, now);
  assert.equal(counts() - before, 1, 'not again at once');
  clock += COUNT_RETRY_MS;
  server.enqueue(anthropicCountTokens((body) => 2 * [...body.messages[0].content].length, KEY));
  await calibrateTokenRatios(ratios, provider(), slm, now);
  assert.equal(counts() - before, 2);
  assert.equal(ratios.known, true);
  assert.equal(ratios.input, 2, 'the API counts two tokens where the SLM counts one');

  const refused = new TokenRatios();
  server.enqueue(anthropicCountTokens(() => 1, KEY));
  await calibrateTokenRatios(refused, provider({}, 'sk-ant-wrong-key-000'), slm, now);
  clock += COUNT_RETRY_MS * 10;
  await calibrateTokenRatios(refused, provider({}, 'sk-ant-wrong-key-000'), slm, now);
  assert.equal(counts() - before, 3, 'the refused key was asked once');
  assert.equal(refused.known, false);
});

test('a small model whose process has ended is not counted with for the token ratios (the count would load it again): nothing is asked', async () => {
  const ratios = new TokenRatios();
  const counts = () => server.requests.filter((request) => request.path === '/v1/messages/count_tokens').length;
  const before = counts();
  const ended = Object.assign(new DoubleRuntime([]), { running: false });
  await calibrateTokenRatios(ratios, provider(), ended);
  assert.equal(counts() - before, 0);
  assert.equal(ratios.known, false);
});

test("anthropic: the API's free token count (count_tokens) of a text as one user message, with the key and version; bad answers are errors", async () => {
  const text = 'Explain this: const x = 1;';
  server.enqueue(anthropicCountTokens((body) => 7 + body.messages[0].content.length, KEY));
  assert.equal(await provider().countInputTokens!(text), 7 + text.length);
  const sent = server.lastRequest;
  assert.equal(sent.path, '/v1/messages/count_tokens');
  assert.deepEqual(sent.body, { model: 'claude-3-5-haiku-latest', messages: [{ role: 'user', content: text }] });
  assert.equal(sent.headers['x-api-key'], KEY);

  for (const answer of [{ input_tokens: -3 }, { input_tokens: 2.5 }, { tokens: 12 }, 'not json']) {
    server.enqueue((_request, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(typeof answer === 'string' ? answer : JSON.stringify(answer));
    });
    await assert.rejects(provider().countInputTokens!(text), (error: any) => error.code === 'bad_response' && !String(error.message).includes(KEY));
  }
  server.enqueue(anthropicCountTokens(() => 1, KEY));
  await assert.rejects(provider({}, 'sk-ant-wrong-key-000').countInputTokens!(text), (error: any) => error.code === 'auth');
  const before = server.requests.length;
  await assert.rejects(provider({}, null).countInputTokens!(text), (error: any) => error.code === 'auth', 'no key: fails before sending');
  assert.equal(server.requests.length, before);
});

test('anthropic: a stop that is not the end of the text (refusal, a full context window) ends with an error that says so, after its text and usage', async () => {
  for (const [stopReason, said] of [
    ['refusal', /safety filter ended it \(refusal\)/],
    ['model_context_window_exceeded', /context window is full .* send less text/],
  ] as const) {
    server.enqueue(anthropicStream({ pieces: [' Paris', ' is'], stopReason, usage: { input_tokens: 30, output_tokens: 2 } }, KEY));
    const chunks: string[] = [];
    let usage: unknown;
    let error: any;
    try {
      for await (const chunk of provider().continue(REQUEST)) {
        if (chunk.type === 'text') chunks.push(chunk.text);
        if (chunk.type === 'usage') usage = chunk.usage;
        assert.notEqual(chunk.type, 'done', 'not read as the end of the answer');
      }
    } catch (e) {
      error = e;
    }
    assert.equal(chunks.join(''), ' Paris is', 'the text so far came');
    assert.deepEqual(usage, { inputTokens: 30, outputTokens: 2, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false }, 'its usage is booked');
    assert.match(String(error?.message), said);
    assert.equal(error.retryable, false);
  }
});

test('anthropic: a stream cut after message_delta (only message_stop missing) is whole, with its usage; one cut before it is truncated', async () => {
  // Frames: message_start, content_block_start, ping, one delta, content_block_stop, message_delta, message_stop.
  server.enqueue(anthropicStream({ pieces: [' Paris'], stopReason: 'end_turn', usage: { input_tokens: 30, output_tokens: 1 }, dropAfterFrames: 6 }, KEY));
  const whole = await collect(provider(), REQUEST);
  assert.equal(whole.text, ' Paris');
  assert.equal(whole.finishReason, 'stop');
  assert.deepEqual(whole.usage, { inputTokens: 30, outputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false });
  server.enqueue(anthropicStream({ pieces: [' Paris'], dropAfterFrames: 5 }, KEY));
  const cut = await collectError(provider(), REQUEST);
  assert.match(String(cut?.message), /dropped in the middle of the answer/);
});
