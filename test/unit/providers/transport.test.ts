/**
 * The transport rules, against real servers on 127.0.0.1: each timeout on its own, the
 * call total, which failures are retried (never once body bytes came), transport events,
 * and errors that name the fix (key variables, http vs https).
 */
import assert from 'node:assert/strict';
import * as tls from 'node:tls';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { createAgents } from '../../../src/core/providers/http';
import { OnnxLocalProvider } from '../../../src/core/providers/onnxLocal';
import { EnvKeySource, MemoryKeySource } from '../../../src/core/providers/secrets';
import type { LlmProvider, ProviderConfig, ProviderKind, TransportEvent } from '../../../src/core/providers/types';
import type { SlmRuntime } from '../../../src/core/slm/types';
import { anthropicError, anthropicStream } from './servers/anthropic';
import { FakeServer, hang, startFakeServer, type Responder } from './servers/harness';
import { ollamaStream } from './servers/ollama';
import { openAiError, openAiErrors, openAiStream } from './servers/openai';
import { FAST, REQUEST, collect, collectError } from './servers/collect';

const KEY = 'sk-transport-test-0123456789';
let server: FakeServer;
before(async () => {
  server = await startFakeServer(openAiStream({ pieces: [' ok'] }));
});
after(() => server.close());
// A test that fails half-way must not leave its responders to the next one.
beforeEach(() => {
  server.queue.length = 0;
});

const secrets = () =>
  new MemoryKeySource({
    'openai-chat': KEY,
    'openai-completions': KEY,
    anthropic: KEY,
    ollama: KEY,
  });

type HttpKind = Exclude<ProviderKind, 'onnx-local'>;

function provider(kind: HttpKind, extra: Partial<ProviderConfig> = {}): LlmProvider {
  const baseUrl = kind === 'anthropic' || kind === 'ollama' ? server.url : `${server.url}/v1`;
  return createProvider(
    { kind, baseUrl, model: 'm', templateRenderer: (_m, p) => `prompt ${p}`, assistantPrefix: 'on', maxRetries: 2, ...FAST, ...extra },
    secrets(),
  );
}

/** Runs one call and returns how many requests it made. */
async function requestsOf(run: () => Promise<unknown>): Promise<number> {
  const before = server.requests.length;
  await run();
  return server.requests.length - before;
}

/** A full, good stream in the kind's wire format: queued after a failure, it must never be reached. */
const unreached = (kind: HttpKind): Responder =>
  kind === 'anthropic'
    ? anthropicStream({ pieces: [' must not be reached'] })
    : kind === 'ollama'
      ? ollamaStream({ pieces: [' must not be reached'] })
      : openAiStream({ pieces: [' must not be reached'] });

/** 200 and the stream's content type, then nothing: headers alone are not a response. */
const headersThenNothing: Responder = (_request, res) => {
  res.writeHead(200, { 'content-type': 'text/event-stream' });
  res.flushHeaders();
};

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('first-byte timeout: a server that never answers is tried twice (one retry), and the error says seconds and the setting', async () => {
  server.enqueue(hang, hang, hang);
  let error: any;
  assert.equal(await requestsOf(async () => (error = await collectError(provider('openai-chat', { firstByteTimeoutMs: 200, maxRetries: 2 }), REQUEST))), 2);
  assert.equal(error.code, 'timeout');
  assert.equal(error.responseStarted, false);
  assert.match(error.message, /^127\.0\.0\.1:\d+ sent no response for 0\.2 s after the request\./);
  assert.match(error.message, /raise relay\.provider\.firstByteTimeoutSeconds \(CLI: --first-byte-timeout\)/);
  assert.doesNotMatch(error.message, /\d ms/);
  server.queue.length = 0;
});

test('first-byte timeout: response headers and then nothing time out too, for every HTTP kind', async () => {
  for (const kind of ['openai-chat', 'anthropic', 'openai-completions', 'ollama'] as const) {
    server.enqueue(headersThenNothing, headersThenNothing, unreached(kind));
    let error: any;
    assert.equal(await requestsOf(async () => (error = await collectError(provider(kind, { firstByteTimeoutMs: 200 }), REQUEST))), 2, kind);
    assert.equal(error.code, 'timeout', kind);
    assert.match(error.message, /sent no response for 0\.2 s/, kind);
    assert.match(error.message, /--first-byte-timeout/, kind);
    server.queue.length = 0;
  }
});

test('a stream cut after some bytes is sent once, for every kind (openai-chat instructed included, whose seam cleaner holds the text back)', async () => {
  const cases: Array<[string, HttpKind, Partial<ProviderConfig>, Responder]> = [
    ['openai-completions', 'openai-completions', {}, openAiStream({ pieces: [' a', ' b', ' c'], dropAfterFrames: 2 })],
    ['openai-chat prefix', 'openai-chat', { assistantPrefix: 'on' }, openAiStream({ pieces: [' a', ' b', ' c'], dropAfterFrames: 2 })],
    ['openai-chat instructed', 'openai-chat', { assistantPrefix: 'off' }, openAiStream({ pieces: [' a', ' b', ' c'], dropAfterFrames: 2 })],
    ['anthropic', 'anthropic', {}, anthropicStream({ pieces: [' a', ' b', ' c'], dropAfterFrames: 4 })],
    ['ollama generate', 'ollama', {}, ollamaStream({ pieces: [' a', ' b', ' c'], dropAfterFrames: 1 })],
    ['ollama chat', 'ollama', { ollamaEndpoint: 'chat' }, ollamaStream({ pieces: [' a', ' b', ' c'], dropAfterFrames: 1 })],
  ];
  for (const [label, kind, extra, cut] of cases) {
    server.enqueue(cut, unreached(kind), unreached(kind));
    const texts: string[] = [];
    let error: any;
    const count = await requestsOf(async () => {
      try {
        await collect(provider(kind, { maxRetries: 2, ...extra }), REQUEST, undefined, (chunk) => {
          if (chunk.type === 'text') texts.push(chunk.text);
        });
      } catch (e) {
        error = e;
      }
    });
    assert.equal(count, 1, `${label}: one billed request, no retry`);
    assert.equal(error?.code, 'network', label);
    assert.equal(error.responseStarted, true, `${label}: the error says the call may be billed`);
    if (label === 'openai-chat instructed') assert.deepEqual(texts, [], 'no text reached the caller, and still no retry');
    server.queue.length = 0;
  }
});

test('a 5xx before any body byte keeps up to maxRetries, also after a timeout used its one retry', async () => {
  server.enqueue(openAiErrors.unavailable(), openAiErrors.server(), openAiStream({ pieces: [' ok'] }));
  assert.equal(await requestsOf(() => collect(provider('openai-chat', { maxRetries: 2 }), REQUEST)), 3);
  // A timeout, then a 503: the 503 is still retried (the one timeout retry was used, not the others).
  server.enqueue(hang, openAiErrors.unavailable(), openAiStream({ pieces: [' ok'] }));
  let out: any;
  // 1 s, not less: the tries after the timeout must not time out on a busy machine.
  assert.equal(await requestsOf(async () => (out = await collect(provider('openai-chat', { maxRetries: 2, firstByteTimeoutMs: 1000 }), REQUEST))), 3);
  assert.equal(out.text, ' ok');
});

test('call timeout: a server that keeps trickling bytes is stopped when the call time is up, naming the setting', async () => {
  const trickle: Responder = async (_request, res) => {
    let closed = false;
    res.on('close', () => (closed = true));
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (let i = 0; i < 1000 && !closed; i++) {
      res.write(': keep-alive\n\n');
      await pause(20);
    }
    res.end();
  };
  server.enqueue(trickle, openAiStream({ pieces: [' must not be reached'] }));
  let error: any;
  assert.equal(await requestsOf(async () => (error = await collectError(provider('openai-chat', { callTimeoutMs: 300, idleTimeoutMs: 5000 }), REQUEST))), 1);
  assert.equal(error.code, 'timeout');
  assert.equal(error.responseStarted, true);
  assert.match(error.message, /^The call to 127\.0\.0\.1:\d+ took more than 0\.3 s in all/);
  assert.match(error.message, /raise relay\.provider\.callTimeoutSeconds \(CLI: --call-timeout\)/);
  server.queue.length = 0;
});

test('call timeout: it bounds a first-byte wait longer than itself, and a retry wait it cannot afford is not taken', async () => {
  server.enqueue(hang, openAiStream({ pieces: [' must not be reached'] }));
  let error: any;
  assert.equal(
    await requestsOf(async () => (error = await collectError(provider('openai-chat', { callTimeoutMs: 300, firstByteTimeoutMs: 5000 }), REQUEST))),
    1,
  );
  assert.equal(error.code, 'timeout');
  assert.equal(error.responseStarted, false);
  assert.match(error.message, /took more than 0\.3 s in all/);
  server.queue.length = 0;

  // Retry-After 2 s with 1 s of call time: the server's own error is reported at once.
  server.enqueue(openAiError(503, 'overloaded', 'server_error', null, { 'retry-after': '2' }), openAiStream({ pieces: [' must not be reached'] }));
  assert.equal(await requestsOf(async () => (error = await collectError(provider('openai-chat', { callTimeoutMs: 1000, maxRetryDelayMs: 5000 }), REQUEST))), 1);
  assert.equal(error.code, 'server');
  assert.equal(error.status, 503);
  server.queue.length = 0;
});

test('onTransport: connecting, waiting, receiving in order; retrying on a 503 with its reason', async () => {
  server.enqueue(openAiErrors.unavailable(), openAiStream({ pieces: [' ok'] }));
  const events: TransportEvent[] = [];
  const out = await collect(provider('openai-chat'), { ...REQUEST, onTransport: (event) => events.push(event) });
  assert.equal(out.text, ' ok');
  assert.deepEqual(
    events.map((e) => `${e.phase} ${e.attempt}`),
    ['connecting 1', 'waiting 1', 'retrying 1', 'connecting 2', 'waiting 2', 'receiving 2'],
  );
  const retrying = events.find((e) => e.phase === 'retrying');
  assert.ok(retrying && retrying.phase === 'retrying');
  assert.equal(retrying.reason, 'HTTP 503');
  assert.ok(Number.isFinite(retrying.delayMs) && retrying.delayMs >= 0);
});

test('onTransport: a retry after a first-byte timeout says so in seconds', async () => {
  server.enqueue(hang, openAiStream({ pieces: [' ok'] }));
  const reasons: string[] = [];
  await collect(provider('openai-chat', { firstByteTimeoutMs: 1000 }), { ...REQUEST, onTransport: (e) => e.phase === 'retrying' && reasons.push(e.reason) });
  assert.deepEqual(reasons, ['no response for 1 s']);
});

test('onTransport: a callback that throws or rejects never breaks the call', async () => {
  server.enqueue(openAiErrors.unavailable(), openAiStream({ pieces: [' ok'] }));
  let calls = 0;
  const out = await collect(provider('openai-chat'), {
    ...REQUEST,
    onTransport: () => {
      calls++;
      throw new Error('a broken progress display');
    },
  });
  assert.equal(out.text, ' ok');
  assert.equal(calls, 6);
  server.enqueue(openAiStream({ pieces: [' ok'] }));
  const rejecting = await collect(provider('openai-chat'), {
    ...REQUEST,
    onTransport: (async () => Promise.reject(new Error('async failure'))) as unknown as () => void,
  });
  assert.equal(rejecting.text, ' ok');
});

test("401 and 403 name RELAY_API_KEY and the kind's own variable", async () => {
  const cases: Array<[HttpKind, Responder, RegExp]> = [
    ['openai-chat', openAiErrors.badKey('sk-wrong-key-000000'), /\(CLI: set RELAY_API_KEY or OPENAI_API_KEY\)/],
    ['openai-completions', openAiError(403, 'forbidden', 'permission_error', null), /\(CLI: set RELAY_API_KEY\)/],
    ['anthropic', anthropicError(401, 'authentication_error', 'invalid x-api-key'), /\(CLI: set RELAY_API_KEY or ANTHROPIC_API_KEY\)/],
  ];
  for (const [kind, responder, variables] of cases) {
    server.enqueue(responder);
    const error = await collectError(provider(kind), REQUEST);
    assert.equal(error.code, 'auth', kind);
    assert.equal(error.fix, 'set-key', kind);
    assert.match(error.message, /Set the key with 'Relay: Set API Key'/, kind);
    assert.match(error.message, variables, kind);
    server.queue.length = 0;
  }
});

test('a 401 or 403 to a request that carried no key says none was sent, and why (not that a key was rejected)', async () => {
  const headers: Array<string | undefined> = [];
  const noKey: Responder = (req, res) => {
    headers.push(req.headers.authorization);
    return openAiError(401, "You didn't provide an API key.", 'invalid_request_error', null)(req, res);
  };
  // OPENAI_API_KEY is set, but goes only to api.openai.com: withheld from this local server.
  const withheld = createProvider(
    { kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'm', ...FAST },
    new EnvKeySource({ OPENAI_API_KEY: 'sk-openai-0123456789abcdef' }),
  );
  server.enqueue(noKey);
  const error = await collectError(withheld, REQUEST);
  assert.equal(headers[0], undefined, 'no key went');
  assert.equal(error.code, 'auth');
  assert.equal(error.fix, 'set-key');
  assert.match(
    error.message,
    /^127\.0\.0\.1:\d+ asks for an API key \(HTTP 401\), and none was sent: OPENAI_API_KEY is only sent to https:\/\/api\.openai\.com/,
  );
  assert.match(error.message, /Set RELAY_API_KEY to the key for 127\.0\.0\.1:\d+, or pass --allow-key-host 127\.0\.0\.1:\d+/);
  assert.doesNotMatch(error.message, /rejected/);

  // No key at all (a local server needs none by default): the same, with how to set one.
  server.enqueue(noKey);
  const none = await collectError(createProvider({ kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'm', ...FAST }, new MemoryKeySource()), REQUEST);
  assert.match(
    none.message,
    /asks for an API key \(HTTP 401\), and none was sent: no API key is set for the openai-chat provider\. Set the key with 'Relay: Set API Key' \(CLI: set RELAY_API_KEY or OPENAI_API_KEY\)\./,
  );
  assert.equal(headers.length, 2);
  assert.equal(headers[1], undefined);

  // The same said as an error object in a 200 body (a server that ignores stream:true).
  server.enqueue((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'Unauthorized', type: 'authentication_error' } }));
  });
  const inBody = await collectError(createProvider({ kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'm', ...FAST }, new MemoryKeySource()), REQUEST);
  assert.match(inBody.message, /asks for an API key \(HTTP 401\), and none was sent: no API key is set/);

  // user:password in the base URL went as Basic auth: a 401 is about those, the usual "rejected" message.
  server.enqueue(noKey);
  const basic = await collectError(
    createProvider(
      { kind: 'openai-chat', baseUrl: server.url.replace('http://', 'http://alice:wrongpw@') + '/v1', model: 'm', ...FAST },
      new MemoryKeySource(),
    ),
    REQUEST,
  );
  assert.match(headers[2] ?? '', /^Basic /);
  assert.match(basic.message, /rejected the API key \(HTTP 401\)/);
});

test('https:// to a plain HTTP server says to use http://, naming the setting and the flag', async () => {
  const p = createProvider({ kind: 'openai-chat', baseUrl: `${server.url.replace('http:', 'https:')}/v1`, model: 'm', ...FAST }, secrets());
  const error = await collectError(p, REQUEST);
  assert.equal(error.code, 'network');
  assert.equal(error.fix, 'open-settings');
  assert.match(error.message, /^127\.0\.0\.1:\d+ does not speak TLS \(https\)/);
  assert.match(error.message, /use http:\/\/127\.0\.0\.1:\d+\/\.\.\. in relay\.provider\.baseUrl \(CLI: --base-url\)/);
});

test('http:// to a TLS port says the server may expect https://', async () => {
  const tlsServer = tls.createServer({});
  tlsServer.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => tlsServer.listen(0, '127.0.0.1', resolve));
  try {
    const port = (tlsServer.address() as AddressInfo).port;
    const p = createProvider({ kind: 'ollama', baseUrl: `http://127.0.0.1:${port}`, model: 'm', ...FAST, maxRetries: 0 }, secrets());
    const error = await collectError(p, REQUEST);
    assert.equal(error.code, 'network');
    assert.match(error.message, /If the server expects https:\/\/, use https:\/\/127\.0\.0\.1:\d+\/\.\.\. in relay\.provider\.baseUrl \(CLI: --base-url\)/);
  } finally {
    await new Promise<void>((resolve) => tlsServer.close(() => resolve()));
  }

  // nginx answers plain HTTP on its TLS port with a 400 page.
  server.enqueue((_request, res) => {
    res.writeHead(400, { 'content-type': 'text/html' });
    res.end('<html><head><title>400 The plain HTTP request was sent to HTTPS port</title></head></html>');
  });
  const error = await collectError(provider('openai-chat'), REQUEST);
  assert.equal(error.code, 'bad_request');
  assert.equal(error.fix, 'open-settings');
  assert.match(error.message, /expects https:\/\/.*Use https:\/\/127\.0\.0\.1:\d+\/\.\.\. in relay\.provider\.baseUrl \(CLI: --base-url\)/);
});

test('host: the base URL host with its port; onnx-local runs on this machine', () => {
  assert.equal(provider('openai-chat').host, new URL(server.url).host);
  assert.equal(createProvider({ kind: 'anthropic', model: 'm' }, secrets()).host, 'api.anthropic.com');
  assert.equal(new OnnxLocalProvider({} as SlmRuntime, 'local').host, 'this machine');
});

test('calls one after another reuse the connection, for every HTTP kind: a reader that leaves at the end of the stream does not close it', async () => {
  const idle = (await startFakeServer(openAiStream({ pieces: [' ok'] }))).keepIdleConnections();
  const agents = createAgents();
  try {
    for (const kind of ['openai-chat', 'openai-completions', 'anthropic', 'ollama'] as const) {
      idle.fallback =
        kind === 'anthropic' ? anthropicStream({ pieces: [' ok'] }) : kind === 'ollama' ? ollamaStream({ pieces: [' ok'] }) : openAiStream({ pieces: [' ok'] });
      const baseUrl = kind === 'anthropic' || kind === 'ollama' ? idle.url : `${idle.url}/v1`;
      const llm = createProvider({ kind, baseUrl, model: 'm', templateRenderer: (_m, p) => `prompt ${p}`, assistantPrefix: 'on', ...FAST }, secrets(), {
        agents,
      });
      for (let i = 0; i < 3; i++) {
        assert.equal((await collect(llm, REQUEST)).text, ' ok', kind);
        // The small model writes between two calls: the connection is back in the pool by then (bounded wait, not a timing assertion).
        for (let wait = 0; wait < 100 && Object.keys(agents.http.sockets).length > 0; wait++) await pause(10);
      }
      assert.equal(idle.connectionsOpened, 1, `${kind}: the one connection, reused`);
    }
  } finally {
    agents.http.destroy();
    await idle.close();
  }
});

test('a server that holds the stream open after [DONE]: the call ends at [DONE], and the connection is closed a moment later, not kept half-read', async () => {
  const held = await startFakeServer((_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const chunk = {
      id: 'c',
      object: 'chat.completion.chunk',
      created: 1,
      model: 'm',
      choices: [{ index: 0, delta: { content: ' ok' }, finish_reason: 'stop' }],
    };
    res.write(`data: ${JSON.stringify(chunk)}\n\ndata: [DONE]\n\n`);
    // Never ends the response.
  });
  try {
    const llm = createProvider({ kind: 'openai-chat', baseUrl: `${held.url}/v1`, model: 'm', ...FAST }, secrets());
    assert.equal((await collect(llm, REQUEST)).text, ' ok', 'the answer came without waiting for the end');
    // Bounded: the client gives the rest a moment (1 s), then closes it.
    for (let i = 0; i < 100 && held.openConnections > 0; i++) await pause(50);
    assert.equal(held.openConnections, 0);
  } finally {
    await held.close();
  }
});
