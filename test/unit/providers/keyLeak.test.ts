import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, before, test } from 'node:test';
import { runProviderTest } from '../../../src/core/providers/providerTest';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ProviderKind } from '../../../src/core/providers/types';
import { anthropicError, anthropicStream } from './servers/anthropic';
import { FakeServer, hang, sendJson, startFakeServer, type Responder } from './servers/harness';
import { ollamaError, ollamaStream } from './servers/ollama';
import { openAiError, openAiStream } from './servers/openai';
import { FAST, REQUEST, collectError } from './servers/collect';

const KEY = 'sk-proj-LEAKCHECK-a1b2c3d4e5f6g7h8i9j0';
let server: FakeServer;
before(async () => {
  server = await startFakeServer(hang);
});
after(() => server.close());

function provider(kind: ProviderKind, extra: Record<string, unknown> = {}) {
  const baseUrl = kind === 'anthropic' || kind === 'ollama' ? server.url : `${server.url}/v1`;
  return createProvider(
    { kind, baseUrl, model: 'm', templateRenderer: (_m, p) => `prompt ${p}`, maxRetries: 0, ...FAST, idleTimeoutMs: 150, firstByteTimeoutMs: 150, ...extra },
    new MemoryKeySource({ [kind]: KEY }),
  );
}

const echo = `key ${KEY} / Authorization: Bearer ${KEY} / x-api-key: ${KEY} / masked ${KEY.slice(0, 8)}***${KEY.slice(-6)}`;

const cases: Array<[string, ProviderKind, Responder]> = [
  ['openai 401 echoing the key', 'openai-chat', openAiError(401, `Incorrect API key provided: ${echo}`, 'invalid_request_error', 'invalid_api_key')],
  ['openai 403', 'openai-chat', openAiError(403, echo, 'permission_error', null)],
  ['openai 404 model', 'openai-chat', openAiError(404, `model m not found ${echo}`, 'invalid_request_error', 'model_not_found')],
  ['openai 429 quota', 'openai-chat', openAiError(429, `quota ${echo}`, 'insufficient_quota', 'insufficient_quota')],
  ['openai 429 long retry-after', 'openai-chat', openAiError(429, echo, 'requests', 'rate_limit_exceeded', { 'retry-after': '999' })],
  ['openai 500', 'openai-chat', openAiError(500, echo, 'server_error', null)],
  ['openai 400 (completions)', 'openai-completions', openAiError(400, echo, 'invalid_request_error', null)],
  [
    'openai mid-stream error',
    'openai-chat',
    openAiStream({ pieces: [' a'], errorAfterPieces: { after: 1, error: { error: { message: echo, type: 'server_error' } } } }),
  ],
  [
    'openai non-JSON error body',
    'openai-chat',
    (_r, res) => {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(echo);
    },
  ],
  [
    'openai HTML page',
    'openai-chat',
    (_r, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end(`<html>${echo}</html>`);
    },
  ],
  ['openai JSON body with error', 'openai-chat', (_r, res) => sendJson(res, 200, { error: { message: echo, type: 'server_error' } })],
  ['stalled stream', 'openai-chat', openAiStream({ pieces: [' a'], stallAfterFrames: 2 })],
  ['dropped stream', 'openai-chat', openAiStream({ pieces: [' a', ' b'], dropAfterFrames: 1 })],
  ['no answer at all', 'openai-completions', hang],
  ['anthropic 401', 'anthropic', anthropicError(401, 'authentication_error', echo)],
  ['anthropic 529', 'anthropic', anthropicError(529, 'overloaded_error', echo)],
  ['anthropic error event', 'anthropic', anthropicStream({ pieces: [' a'], errorAfterPieces: { after: 1, type: 'api_error', message: echo } })],
  ['ollama 404', 'ollama', ollamaError(404, `model not found ${echo}`)],
  ['ollama error line', 'ollama', ollamaStream({ pieces: [' a'], errorAfterPieces: { after: 0, error: echo } })],
];

function assertNoKey(label: string, text: string): void {
  assert.ok(!text.includes(KEY), `${label}: the key appears in ${text}`);
  assert.ok(!text.includes(KEY.slice(-6)), `${label}: a fragment of the key appears in ${text}`);
  assert.ok(!text.includes('LEAKCHECK'), `${label}: a fragment of the key appears in ${text}`);
}

test('no error path lets the API key out: message, stack, JSON, inspect', async () => {
  for (const [label, kind, responder] of cases) {
    server.enqueue(responder);
    const error = await collectError(provider(kind), REQUEST);
    assert.ok(error.code, `${label}: a typed error (${String(error)})`);
    for (const text of [error.message, String(error.stack), JSON.stringify(error), inspect(error, { depth: 10, showHidden: true }), String(error)]) {
      assertNoKey(label, text);
    }
    server.queue.length = 0;
  }
  // The server really did receive the key, so the checks above were not vacuous.
  assert.ok(server.requests.some((r) => r.headers.authorization === `Bearer ${KEY}`));
  assert.ok(server.requests.some((r) => r.headers['x-api-key'] === KEY));
});

test('connection refused and the provider test report do not show the key either', async () => {
  const gone = await startFakeServer(hang);
  const url = gone.url;
  await gone.close();
  const refused = await collectError(
    createProvider({ kind: 'openai-chat', baseUrl: `${url}/v1`, model: 'm', ...FAST }, new MemoryKeySource({ 'openai-chat': KEY })),
    REQUEST,
  );
  assertNoKey('refused', inspect(refused, { showHidden: true }) + JSON.stringify(refused) + refused.stack);

  server.enqueue(openAiError(401, `Incorrect API key provided: ${echo}`, 'invalid_request_error', 'invalid_api_key'));
  const lines: string[] = [];
  const result = await runProviderTest(provider('openai-chat'), null, (l) => lines.push(l));
  assert.equal(result.ok, false);
  assertNoKey('provider test summary', result.summary);
  assertNoKey('provider test', lines.join('\n'));
  assert.ok(
    lines.some((l) => /Fix: set the key/.test(l)),
    lines.join('\n'),
  );
});
