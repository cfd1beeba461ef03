import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProviderError, scrubSecrets } from '../../../src/core/providers/errors';
import { parseRetryAfter } from '../../../src/core/providers/http';
import { backoffDelay } from '../../../src/core/providers/retry';
import { EnvSecretStore, apiKeyName } from '../../../src/core/providers/secrets';

test('EnvSecretStore maps each kind to its variables, RELAY_API_KEY first', async () => {
  const store = new EnvSecretStore({ OPENAI_API_KEY: 'sk-openai', ANTHROPIC_API_KEY: 'sk-ant' });
  assert.equal(await store.get(apiKeyName('openai-chat')), 'sk-openai');
  assert.equal(await store.get(apiKeyName('anthropic')), 'sk-ant');
  assert.equal(await store.get(apiKeyName('ollama')), undefined);
  assert.equal(await store.get('something.else'), undefined);
  const relay = new EnvSecretStore({ OPENAI_API_KEY: 'sk-openai', RELAY_API_KEY: 'relay-key' });
  assert.equal(await relay.get(apiKeyName('openai-chat')), 'relay-key');
  assert.equal(await relay.get(apiKeyName('openai-completions')), 'relay-key');
});

test('scrubSecrets removes keys, key-shaped strings, auth headers and masked key fragments', () => {
  const key = 'sk-proj-AbCdEfGh1234567890XyZ';
  const text = `Incorrect API key provided: sk-pro***0XyZ. Authorization: Bearer ${key} x-api-key: ${key} api-key=abc123secret raw ${key} tail 7890XyZ`;
  const out = scrubSecrets(text, [key]);
  assert.ok(!out.includes(key));
  assert.ok(!out.includes('0XyZ'), out);
  assert.ok(!out.includes('abc123secret'), out);
  assert.ok(out.includes('Incorrect API key provided'), out);
});

test('ProviderError scrubs its message, stack and JSON', () => {
  const key = 'my-very-secret-key-123456';
  const error = new ProviderError('auth', `rejected ${key}`, { fix: 'set-key' }, [key]);
  assert.ok(!error.message.includes(key));
  assert.ok(!String(error.stack).includes(key));
  assert.ok(!JSON.stringify(error).includes(key));
  assert.equal(JSON.parse(JSON.stringify(error)).code, 'auth');
});

test('Retry-After: seconds, HTTP date, retry-after-ms; nonsense ignored', () => {
  const now = Date.parse('2025-01-01T00:00:00Z');
  assert.equal(parseRetryAfter({ 'retry-after': '2' }, now), 2000);
  assert.equal(parseRetryAfter({ 'retry-after': 'Wed, 01 Jan 2025 00:00:05 GMT' }, now), 5000);
  assert.equal(parseRetryAfter({ 'retry-after': 'Tue, 31 Dec 2024 23:00:00 GMT' }, now), 0);
  assert.equal(parseRetryAfter({ 'retry-after-ms': '150', 'retry-after': '9' }, now), 150);
  assert.equal(parseRetryAfter({ 'retry-after': 'soon' }, now), undefined);
  assert.equal(parseRetryAfter({}, now), undefined);
});

test('backoff doubles per retry and jitters within the upper half', () => {
  const policy = (r: number) => ({ maxRetries: 5, baseDelayMs: 100, maxDelayMs: 10_000, random: () => r });
  assert.equal(backoffDelay(0, policy(0)), 50);
  assert.equal(backoffDelay(0, policy(1)), 100);
  assert.equal(backoffDelay(3, policy(0)), 400);
  assert.equal(backoffDelay(3, policy(1)), 800);
  assert.equal(backoffDelay(20, policy(1)), 10_000);
});
