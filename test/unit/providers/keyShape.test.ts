// A pasted key of the wrong shape ("Bearer sk-...", a line break, a curly quote) is refused
// before anything is sent, with a message that names what is wrong and never quotes the key;
// a key of the right shape goes out as before. Real providers against a 127.0.0.1 server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { keyShapeProblem } from '../../../src/core/providers/keyShape';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ProviderKind } from '../../../src/core/providers/types';
import { anthropicStream } from './servers/anthropic';
import { collect, collectError, FAST, REQUEST } from './servers/collect';
import { startFakeServer, type FakeServer } from './servers/harness';
import { openAiStream } from './servers/openai';

let server: FakeServer;
before(async () => {
  server = await startFakeServer(openAiStream({ pieces: [' Paris'] }));
});
after(() => server.close());

function provider(kind: ProviderKind, key: string) {
  const baseUrl = kind === 'anthropic' ? server.url : `${server.url}/v1`;
  return createProvider({ kind, baseUrl, model: 'm', maxRetries: 0, ...FAST }, new MemoryKeySource({ [kind]: key }));
}

const SECRET = 'sk-proj-Shape0123456789abcdef';
const badKeys: Array<[string, string, RegExp]> = [
  ['pasted with its header scheme', `Bearer ${SECRET}`, /starts with 'Bearer '.*without 'Bearer '/],
  ['with a line break inside', `${SECRET.slice(0, 10)}\n${SECRET.slice(10)}`, /space or a line break/],
  ['with a space inside', `${SECRET.slice(0, 10)} ${SECRET.slice(10)}`, /space or a line break/],
  ['ending in a curly quote', `${SECRET}\u201d`, /contains '\u201d' \(U\+201D\).*copy the key again/],
  ['with a control character', `${SECRET}\u0007`, /a control character/],
];

for (const [what, key, named] of badKeys) {
  for (const kind of ['openai-chat', 'anthropic'] as const) {
    test(`${kind}: a key ${what} is refused before anything is sent, naming the problem and the fix`, async () => {
      const before = server.requests.length;
      const error = await collectError(provider(kind, key), REQUEST);
      assert.equal(error.code, 'auth');
      assert.match(error.message, named);
      assert.match(error.message, /Relay: Set API Key/);
      assert.ok(!error.message.includes(SECRET.slice(10)), 'the message never quotes the key');
      assert.equal(server.requests.length, before, 'nothing was sent');
    });
  }
}

test('a key of the right shape goes out as its header, surrounding spaces trimmed', async () => {
  const openai = await collect(provider('openai-chat', ` ${SECRET}\n`), REQUEST);
  assert.equal(openai.text, ' Paris');
  assert.equal(server.lastRequest.headers.authorization, `Bearer ${SECRET}`);
  server.enqueue(anthropicStream({ pieces: [' Paris'] }));
  await collect(provider('anthropic', SECRET), REQUEST);
  assert.equal(server.lastRequest.headers['x-api-key'], SECRET);
});

test('keyShapeProblem accepts the shapes real keys and tokens have', () => {
  for (const key of ['sk-proj-abc_DEF-123', 'sk-ant-api03-x', 'hf_AbC123', 'AIzaSy-x_y', 'a.b~c+d/e=']) {
    assert.equal(keyShapeProblem(key), undefined, key);
  }
});
