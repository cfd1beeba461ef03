import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProviderError, fixForCode, fixHint, formatSeconds, missingKeyError, scrubSecrets, type ProviderFix } from '../../../src/core/providers/errors';
import { parseRetryAfter } from '../../../src/core/providers/http';
import { backoffDelay } from '../../../src/core/providers/retry';
import { EnvKeySource, apiKeyName, envVarsForKind } from '../../../src/core/providers/secrets';

test("the CLI's keys: a provider's own variable goes only to its own origin, RELAY_API_KEY wherever the user points", async () => {
  const openai = new URL('https://api.openai.com/v1');
  const collector = new URL('https://collector.example/v1');
  const local = new URL('http://127.0.0.1:8000/v1');
  const env = { OPENAI_API_KEY: 'sk-openai', ANTHROPIC_API_KEY: 'sk-ant' };
  const own = new EnvKeySource(env);
  assert.deepEqual(await own.keyFor('openai-chat', openai), { key: 'sk-openai' });
  assert.deepEqual(await own.keyFor('anthropic', new URL('https://api.anthropic.com')), { key: 'sk-ant' });
  assert.deepEqual(await own.keyFor('ollama', new URL('http://127.0.0.1:11434')), {}, 'no variable of its own');
  const redirected = await own.keyFor('openai-chat', collector);
  assert.equal(redirected.key, undefined, 'OPENAI_API_KEY never goes to another host');
  assert.match(
    redirected.withheld ?? '',
    /OPENAI_API_KEY is only sent to https:\/\/api\.openai\.com.*collector\.example.*RELAY_API_KEY.*--allow-key-host collector\.example/,
  );
  assert.equal((await own.keyFor('openai-chat', local)).key, undefined, 'nor to a local server');
  assert.equal((await own.keyFor('anthropic', new URL('https://api.anthropic.com.evil.example'))).key, undefined, 'a look-alike host is another host');
  assert.deepEqual(
    await new EnvKeySource(env, { allowKeyHosts: ['collector.example'] }).keyFor('openai-chat', collector),
    { key: 'sk-openai' },
    'unless the user names the host',
  );

  const relay = new EnvKeySource({ ...env, RELAY_API_KEY: 'relay-key' });
  assert.deepEqual(await relay.keyFor('openai-chat', collector), { key: 'relay-key' }, 'RELAY_API_KEY is the key for wherever Relay is pointed');
  assert.deepEqual(await relay.keyFor('openai-completions', local), { key: 'relay-key' }, 'plain HTTP on this machine is fine');
  const clear = await relay.keyFor('openai-completions', new URL('http://10.0.0.5:8000/v1'));
  assert.equal(clear.key, undefined, 'never in clear text to another machine');
  assert.match(clear.withheld ?? '', /plain HTTP to a host off this machine.*--allow-plain-http/);
  assert.deepEqual(
    await new EnvKeySource({ RELAY_API_KEY: 'relay-key' }, { allowPlainHttp: true }).keyFor('openai-completions', new URL('http://10.0.0.5:8000/v1')),
    { key: 'relay-key' },
  );
  assert.equal(apiKeyName('openai-chat', openai.origin), 'relay.apiKey.openai-chat@https://api.openai.com');
});

test("the CLI's --allow-key-host: host:port allows that port only; a bare name is the default port's", async () => {
  // A key is bound to an origin (scheme, host and port): another port of the same name may be another
  // service. The withheld message suggests `--allow-key-host <url.host>`, port included.
  const env = { OPENAI_API_KEY: 'sk-openai' };
  const onPort = new URL('https://collector.example:8443/v1');
  const otherPort = new URL('https://collector.example:9443/v1');
  const defaultPort = new URL('https://collector.example/v1');
  const withPort = new EnvKeySource(env, { allowKeyHosts: ['Collector.Example:8443'] });
  assert.deepEqual(await withPort.keyFor('openai-chat', onPort), { key: 'sk-openai' }, 'the named port');
  assert.equal((await withPort.keyFor('openai-chat', otherPort)).key, undefined, 'not the same name on another port');
  assert.equal((await withPort.keyFor('openai-chat', defaultPort)).key, undefined, 'nor on the default port');
  const bare = new EnvKeySource(env, { allowKeyHosts: ['collector.example'] });
  assert.deepEqual(await bare.keyFor('openai-chat', defaultPort), { key: 'sk-openai' });
  assert.equal((await bare.keyFor('openai-chat', onPort)).key, undefined, 'a bare name does not cover other ports');
  // What the message suggests for a port is what allows it.
  const hint = (await new EnvKeySource(env).keyFor('openai-chat', onPort)).withheld ?? '';
  assert.match(hint, /--allow-key-host collector\.example:8443 /);
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

test('a short key (RELAY_API_KEY=x) is scrubbed where it stands alone, not out of other words; prose after Bearer is kept', () => {
  assert.equal(
    scrubSecrets('Start the server or fix relay.provider.baseUrl; the key was x, then "x".', ['x']),
    'Start the server or fix relay.provider.baseUrl; the key was [redacted], then "[redacted]".',
  );
  assert.equal(scrubSecrets('http://user:pw@127.0.0.1:8000/v1', ['pw']), 'http://user:[redacted]@127.0.0.1:8000/v1');
  assert.equal(scrubSecrets('Missing bearer token in the request', []), 'Missing bearer token in the request');
  assert.equal(scrubSecrets('got Bearer abc123XYZ and bearer Tok9', []), 'got Bearer [redacted] and bearer [redacted]');
  const long = 'k3y-0123456789';
  assert.equal(scrubSecrets(`inside${long}text`, [long]), 'inside[redacted]text', 'a long key goes wherever it appears');
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

test('fixHint: one text per fix, naming the VS Code way and the CLI way', () => {
  assert.equal(fixHint('set-key'), "set the key with 'Relay: Set API Key' (CLI: the RELAY_API_KEY environment variable or the provider's own)");
  assert.equal(fixHint('llm-model'), 'pick another model in relay.provider.model (CLI: --model)');
  assert.equal(fixHint('pick-model'), "pick another small model with 'Relay: Select Model' (CLI: --slm)");
  assert.match(fixHint('open-settings'), /relay\.provider\.\* \(CLI: --provider, --base-url, --model/);
  assert.equal(fixHint('retry'), 'try again in a moment');
  assert.equal(fixHint(undefined), '');
});

test('fixForCode: provider and engine codes map to the button that fixes them', () => {
  const expected: Record<string, ProviderFix> = {
    auth: 'set-key',
    quota: 'open-settings',
    model_not_found: 'llm-model',
    bad_request: 'open-settings',
    bad_response: 'open-settings',
    rate_limit: 'retry',
    network: 'retry',
    timeout: 'retry',
    server: 'retry',
    cancelled: undefined,
    internal: undefined,
  };
  for (const [code, fix] of Object.entries(expected)) assert.equal(fixForCode(code), fix, code);
});

test('formatSeconds: whole seconds from 10 s, tenths below, never "0 s"', () => {
  assert.equal(formatSeconds(60_000), '60 s');
  assert.equal(formatSeconds(300_000), '300 s');
  assert.equal(formatSeconds(12_400), '12 s');
  assert.equal(formatSeconds(1_500), '1.5 s');
  assert.equal(formatSeconds(200), '0.2 s');
  assert.equal(formatSeconds(20), '0.02 s');
});

test("a missing key names the kind's variables; ProviderError has a short summary and says whether the response had started", () => {
  assert.match(missingKeyError('anthropic', envVarsForKind('anthropic')).message, /\(CLI: set RELAY_API_KEY or ANTHROPIC_API_KEY\)/);
  assert.match(missingKeyError('ollama', envVarsForKind('ollama')).message, /\(CLI: set RELAY_API_KEY\)/);
  const error = new ProviderError('server', 'x', { status: 503 });
  assert.equal(error.summary, 'HTTP 503');
  assert.equal(new ProviderError('rate_limit', 'x').summary, 'rate limit');
  assert.equal(error.responseStarted, false);
  assert.equal(JSON.parse(JSON.stringify(error)).responseStarted, false);
});
