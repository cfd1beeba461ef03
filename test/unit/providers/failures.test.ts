import assert from 'node:assert/strict';
import * as http from 'node:http';
import { Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ProviderChunk } from '../../../src/core/providers/types';
import { FakeServer, hang, resetConnection, startFakeServer, type Responder } from './servers/harness';
import { openAiErrors, openAiStream } from './servers/openai';
import { FAST, REQUEST, collect, collectError, within } from './servers/collect';

let server: FakeServer;
before(async () => {
  server = await startFakeServer(openAiStream({ pieces: [' Paris'] }));
});
after(() => server.close());

const provider = (extra: Record<string, unknown> = {}, options = {}) =>
  createProvider(
    { kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'gpt-4o-mini', assistantPrefix: 'on', maxRetries: 2, ...FAST, ...extra },
    new MemoryKeySource(),
    options,
  );

/** Runs one call and returns how many requests it made. */
async function requestsOf(run: () => Promise<unknown>): Promise<number> {
  const before = server.requests.length;
  await run();
  return server.requests.length - before;
}

test('retry: 429 with Retry-After (seconds, then an HTTP date) is retried and then succeeds', async () => {
  server.enqueue(openAiErrors.rateLimited('0'), openAiErrors.rateLimited(new Date(Date.now() - 1000).toUTCString()), openAiStream({ pieces: [' ok'] }));
  let out: any;
  assert.equal(await requestsOf(async () => (out = await collect(provider(), REQUEST))), 3);
  assert.equal(out.text, ' ok');
});

test('retry: the wait follows Retry-After, not the backoff', async () => {
  // Backoff base of 60 s would time the test out; Retry-After: 0 must win.
  server.enqueue(openAiErrors.rateLimited('0'), openAiStream({ pieces: [' ok'] }));
  assert.equal((await collect(provider({ retryBaseDelayMs: 60_000, maxRetryDelayMs: 120_000 }), REQUEST)).text, ' ok');
});

test('retry: a Retry-After longer than the most we wait is reported at once, with the wait', async () => {
  server.enqueue(openAiErrors.rateLimited('120'));
  let error: any;
  assert.equal(await requestsOf(async () => (error = await collectError(provider(), REQUEST))), 1);
  assert.equal(error.code, 'rate_limit');
  assert.equal(error.fix, 'retry');
  assert.match(error.message, /wait 120 s/);
});

test('retry: 500 and 503 are retried with backoff; after maxRetries the server error is thrown', async () => {
  server.enqueue(openAiErrors.server(), openAiErrors.unavailable(), openAiStream({ pieces: [' ok'] }));
  assert.equal(await requestsOf(() => collect(provider(), REQUEST)), 3);
  server.enqueue(openAiErrors.server(), openAiErrors.server(), openAiErrors.server(), openAiStream({ pieces: [' never'] }));
  let error: any;
  assert.equal(await requestsOf(async () => (error = await collectError(provider(), REQUEST))), 3);
  assert.equal(error.code, 'server');
  assert.equal(error.status, 500);
  server.queue.length = 0;
});

test('no retry on 400, 401, 403, 404 or an exhausted quota; each error says what to do', async () => {
  const cases: Array<[Responder, string, string | undefined]> = [
    [openAiErrors.badRequest(), 'bad_request', 'open-settings'],
    [openAiErrors.badKey('sk-wrong-key-000000'), 'auth', 'set-key'],
    [
      (_r, res) => {
        res.writeHead(403, { 'content-type': 'application/json' });
        res.end('{"error":{"message":"Project does not have access","type":"invalid_request_error"}}');
      },
      'auth',
      'set-key',
    ],
    [openAiErrors.noModel('gpt-9'), 'model_not_found', 'llm-model'],
    [openAiErrors.quota(), 'quota', 'open-settings'],
    [
      (_r, res) => {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('404 page not found');
      },
      'bad_request',
      'open-settings',
    ],
  ];
  for (const [responder, code, fix] of cases) {
    server.enqueue(responder, openAiStream({ pieces: [' must not be reached'] }));
    let error: any;
    assert.equal(await requestsOf(async () => (error = await collectError(provider(), REQUEST))), 1, code);
    assert.equal(error.code, code);
    assert.equal(error.fix, fix);
    assert.ok(error.message.length > 20);
    server.queue.length = 0;
  }
});

test('retry: a connection reset before the answer is retried', async () => {
  server.enqueue(resetConnection, openAiStream({ pieces: [' ok'] }));
  assert.equal(await requestsOf(() => collect(provider(), REQUEST)), 2);
});

test('retry: a drop mid-stream is never retried once body bytes came, text or not', async () => {
  // Frame 0 is the role-only chunk of chat streams: body bytes, but no text yet. The call may be billed.
  server.enqueue(openAiStream({ pieces: [' a', ' b'], dropAfterFrames: 1 }), openAiStream({ pieces: [' must not be reached'] }));
  let early: any;
  assert.equal(await requestsOf(async () => (early = await collectError(provider(), REQUEST))), 1);
  assert.equal(early.code, 'network');
  assert.equal(early.responseStarted, true);
  server.queue.length = 0;

  // The server drops the connection only once the caller holds the first text.
  let textArrived!: () => void;
  const arrived = new Promise<void>((resolve) => (textArrived = resolve));
  server.enqueue(
    (request, res) =>
      Promise.resolve(openAiStream({ pieces: [' a', ' b', ' c'], stallAfterFrames: 2 })(request, res)).then(() =>
        arrived.then(() => void res.socket?.destroy()),
      ),
    openAiStream({ pieces: [' must not be reached'] }),
  );
  const seen: string[] = [];
  let error: any;
  const count = await requestsOf(async () => {
    try {
      await collect(provider(), REQUEST, undefined, (c) => {
        if (c.type === 'text') {
          seen.push(c.text);
          textArrived();
        }
      });
    } catch (e) {
      error = e;
    }
  });
  assert.equal(count, 1);
  assert.deepEqual(seen, [' a']);
  assert.equal(error.code, 'network');
  assert.equal(error.responseStarted, true);
  assert.match(error.message, /dropped|ended before/);
  server.queue.length = 0;
});

test('timeout: a stream that stalls after text fails with the idle timeout (no retry), in seconds, naming the setting', async () => {
  server.enqueue(openAiStream({ pieces: [' a', ' b'], stallAfterFrames: 2 }));
  let error: any;
  assert.equal(await requestsOf(async () => (error = await collectError(provider({ idleTimeoutMs: 150 }), REQUEST))), 1);
  assert.equal(error.code, 'timeout');
  assert.equal(error.responseStarted, true);
  assert.match(error.message, /sent nothing for 0\.2 s/);
  assert.match(error.message, /relay\.provider\.idleTimeoutSeconds \(CLI: --idle-timeout\)/);
});

test('timeout: a connection that is never established is stopped by the connect timeout', async () => {
  // An agent whose socket stays "connecting" forever, as when SYNs go unanswered.
  class BlackholeAgent extends http.Agent {
    sockets_: Socket[] = [];
    override createConnection(): Socket {
      const socket = new Socket();
      (socket as any).connecting = true;
      this.sockets_.push(socket);
      return socket;
    }
  }
  const agent = new BlackholeAgent();
  const error = await collectError(provider({ connectTimeoutMs: 100, maxRetries: 2 }, { agents: { http: agent } }), REQUEST);
  assert.equal(error.code, 'timeout');
  assert.match(error.message, /Could not connect .* within 0\.1 s/);
  assert.match(error.message, /relay\.provider\.connectTimeoutSeconds \(CLI: --connect-timeout\)/);
  assert.equal(error.responseStarted, false);
  assert.equal(agent.sockets_.length, 2, 'a connect timeout is retried once');
  assert.ok(
    agent.sockets_.every((s) => s.destroyed),
    'the sockets were torn down',
  );
});

test('network: connection refused says to start the server or fix the base URL, without retrying', async () => {
  const closed = await startFakeServer(hang);
  const url = closed.url;
  await closed.close();
  const p = createProvider({ kind: 'ollama', baseUrl: url, model: 'm', ...FAST }, new MemoryKeySource());
  const error = await collectError(p, REQUEST);
  assert.equal(error.code, 'network');
  assert.equal(error.fix, 'open-settings');
  assert.match(error.message, /connection refused/);
});

test('bad response: an HTML page instead of a stream is reported, not retried', async () => {
  server.enqueue(
    (_r, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<html>login</html>');
    },
    openAiStream({ pieces: [' x'] }),
  );
  let error: any;
  assert.equal(await requestsOf(async () => (error = await collectError(provider(), REQUEST))), 1);
  assert.equal(error.code, 'bad_response');
  server.queue.length = 0;
});

test('bad response: a plain-text body with status 200 (no event in it) is reported as the wrong service or kind, not retried; a stream cut short still is', async () => {
  const plainText: Responder = (_r, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end('Service is up. Use /api/generate for completions.\n');
  };
  for (const kind of ['openai-chat', 'anthropic'] as const) {
    server.enqueue(plainText, openAiStream({ pieces: [' x'] }));
    let error: any;
    const p = createProvider(
      { kind, baseUrl: kind === 'anthropic' ? server.url : `${server.url}/v1`, model: 'm', maxRetries: 2, ...FAST },
      new MemoryKeySource({ anthropic: 'sk-ant-test-0123456789' }),
    );
    assert.equal(await requestsOf(async () => (error = await collectError(p, REQUEST))), 1, kind);
    assert.equal(error.code, 'bad_response', kind);
    assert.equal(error.fix, 'open-settings', kind);
    assert.match(
      error.message,
      /sent a response Relay cannot read \(a text that is not an event stream\): another service may answer at that address\. Check that relay\.provider\.baseUrl \(CLI: --base-url\) is the service's API and relay\.provider\.kind/,
      kind,
    );
    server.queue.length = 0;
  }
  // An event stream that stops before its end is the network's: the error offers a retry (the call is not retried itself: text had come).
  server.enqueue((_r, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end('data: {"choices":[{"delta":{"content":" Par"}}]}\n\n');
  });
  try {
    const cut = await collectError(provider(), REQUEST);
    assert.equal(cut.code, 'network');
    assert.equal(cut.fix, 'retry');
    assert.match(cut.message, /ended before the answer finished/);
  } finally {
    server.queue.length = 0;
  }
});

test('cancel: aborting mid-stream closes the connection at once and ends with done{cancelled} and estimated usage', async () => {
  let serverSawClose!: () => void;
  const closedOnServer = new Promise<void>((resolve) => (serverSawClose = resolve));
  const slow: Responder = (request, res) => {
    res.on('close', () => serverSawClose());
    return openAiStream({ pieces: Array.from({ length: 200 }, (_, i) => ` w${i}`), gapMs: 20 })(request, res);
  };
  server.enqueue(slow);
  const controller = new AbortController();
  const chunks: ProviderChunk[] = [];
  const out = await collect(provider(), REQUEST, controller.signal, (c) => {
    chunks.push(c);
    if (c.type === 'text') controller.abort();
  });
  assert.equal(out.finishReason, 'cancelled');
  assert.equal(out.text, ' w0');
  assert.equal(out.usage?.estimated, true);
  assert.equal(out.usage?.outputTokens, 1);
  await within(closedOnServer, 5000, 'the server seeing the connection close');
});

test('cancel: aborting during a retry wait stops at once; an aborted signal sends nothing', async () => {
  server.enqueue(openAiErrors.rateLimited('60'));
  const controller = new AbortController();
  const p = provider({ maxRetryDelayMs: 120_000 });
  const run = collect(p, REQUEST, controller.signal);
  for (let i = 0; i < 1000 && server.queue.length > 0; i++) await new Promise((r) => setTimeout(r, 5));
  assert.equal(server.queue.length, 0, 'the 429 was served');
  setTimeout(() => controller.abort(), 20);
  const out = await within(run, 5000, 'the abort ending the 60 s retry wait');
  assert.equal(out.finishReason, 'cancelled');
  const nothingBilled = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  assert.deepEqual(out.usage, nothingBilled, 'the 429 generated nothing, and no request followed it');

  const before = server.requests.length;
  const aborted = new AbortController();
  aborted.abort();
  const unsent = await collect(provider(), REQUEST, aborted.signal);
  assert.equal(unsent.finishReason, 'cancelled');
  assert.deepEqual(unsent.usage, nothingBilled);
  assert.equal(server.requests.length, before);
});

test('cancel: a call cancelled after its request went out (no answer yet) still counts the prompt: the server may bill it', async () => {
  server.enqueue(hang);
  const controller = new AbortController();
  const run = collect(provider(), REQUEST, controller.signal);
  const before = server.requests.length;
  for (let i = 0; i < 1000 && server.requests.length === before && server.queue.length > 0; i++) await new Promise((r) => setTimeout(r, 5));
  controller.abort();
  const out = await within(run, 5000, 'the abort ending the wait for an answer');
  assert.equal(out.finishReason, 'cancelled');
  assert.ok((out.usage?.inputTokens ?? 0) > 0);
  assert.equal(out.usage?.outputTokens, 0);
  assert.equal(out.usage?.estimated, true);
});

test('bad input: maxTokens must be a positive whole number; unknown kinds and bad URLs are named', async () => {
  const error = await collectError(provider(), { ...REQUEST, maxTokens: 0 });
  assert.equal(error.code, 'bad_request');
  assert.match(error.message, /maxTokens/);
  assert.throws(() => createProvider({ kind: 'nope' as any, model: 'm' }, new MemoryKeySource()), /Unknown relay\.provider\.kind \(CLI: --provider\) "nope"/);
  assert.throws(() => createProvider({ kind: 'openai-chat', model: 'm', baseUrl: 'not a url' }, new MemoryKeySource()), /not a URL/);
  assert.throws(() => createProvider({ kind: 'onnx-local', model: 'm' }, new MemoryKeySource()), /onnx-local/);
  assert.throws(() => createProvider({ kind: 'openai-chat', model: '' }, new MemoryKeySource()), /relay\.provider\.model \(CLI: --model\)/);
});

test('a caller that stops reading (break) closes the connection too', async () => {
  let serverSawClose!: () => void;
  const closedOnServer = new Promise<void>((resolve) => (serverSawClose = resolve));
  server.enqueue((request, res) => {
    res.on('close', () => serverSawClose());
    return openAiStream({ pieces: Array.from({ length: 200 }, (_, i) => ` w${i}`), gapMs: 20 })(request, res);
  });
  for await (const chunk of provider().continue(REQUEST)) if (chunk.type === 'text') break;
  await within(closedOnServer, 5000, 'the server seeing the connection close');
});
