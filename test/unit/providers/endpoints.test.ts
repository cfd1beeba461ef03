// Where a key may travel is decided from the address alone: only http(s) addresses have an
// origin a key can be bound to, and only names that cannot resolve elsewhere count as this machine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseUrlOf, isClearTextRemote, isLoopback } from '../../../src/core/providers/endpoints';
import { EnvKeySource } from '../../../src/core/providers/secrets';
import { clearTextServer } from '../../../src/core/slm/served/clearTextServer';
import { parseBaseUrl } from '../../../src/core/providers/base';
import { normalizeEndpoint } from '../../../src/core/models/hubApi';
import { createServedRuntime } from '../../../src/core/slm/served/servedRuntime';

test('baseUrlOf: an address without http(s):// has no origin to bind a key to (new URL takes "localhost:" for a scheme)', () => {
  assert.equal(baseUrlOf('openai-chat', 'localhost:8000/v1'), undefined);
  assert.equal(baseUrlOf('openai-chat', 'ftp://files.example.test/v1'), undefined);
  assert.equal(baseUrlOf('openai-chat', 'http://127.0.0.1:8000/v1')?.origin, 'http://127.0.0.1:8000');
  assert.equal(baseUrlOf('openai-chat', '')?.origin, 'https://api.openai.com', 'unset: the kind default');
});

test('isLoopback: localhost, 127/8 and ::1 only; a *.localhost name goes to the system resolver, which may send it anywhere', () => {
  for (const host of ['localhost', 'LOCALHOST', '127.0.0.1', '127.1.2.3', '[::1]']) assert.ok(isLoopback(host), host);
  for (const host of ['evil.localhost', 'localhost.example.test', '128.0.0.1', '10.0.0.1']) assert.ok(!isLoopback(host), host);
  assert.ok(isClearTextRemote(new URL('http://api.localhost:8000/v1')), 'a key over http to a *.localhost name counts as leaving the machine');
});

test('isLoopback: a name that starts like a 127/8 address is a name, resolved anywhere; a key over http to it is clear text off the machine', () => {
  // 127.0.0.1.nip.io resolves to 127.0.0.1 today, but through a public resolver; 127.0.0.1.evil.example to whatever its owner likes.
  for (const host of ['127.0.0.1.evil.example', '127.0.0.1.nip.io', '127.1.2.3.example.test']) assert.ok(!isLoopback(host), host);
  assert.ok(isClearTextRemote(new URL('http://127.0.0.1.evil.example/')), 'a key for http://127.0.0.1.evil.example/ would cross the network in clear text');
  assert.ok(isClearTextRemote(new URL('http://127.0.0.1.nip.io:8000/v1')));
  assert.ok(!isClearTextRemote(new URL('http://127.0.0.1:8000/v1')), 'the address itself stays on the machine');
});

test('plain HTTP to a loopback address VS Code does not send direct (127.0.0.2, not 127.0.0.1) is clear text a proxy may read', () => {
  // vscode-proxy-agent keeps the caller's agent only for localhost and 127.0.0.1 (and resolves ::1 DIRECT);
  // any other address goes through http.proxy / HTTP_PROXY, which would read the key and the prompt.
  for (const address of ['http://127.0.0.2:8000/v1', 'http://127.1.2.3:8000', 'http://[::ffff:127.0.0.1]:8000/v1', 'http://[::2]:8000'])
    assert.ok(isClearTextRemote(new URL(address)), address);
  for (const address of [
    'http://localhost:8000/v1',
    'http://LOCALHOST:8000',
    'http://127.0.0.1:8000',
    'http://127.1:8000',
    'http://[::1]:8000',
    'http://[0:0:0:0:0:0:0:1]:8000',
  ])
    assert.ok(!isClearTextRemote(new URL(address)), `${address}: sent direct`);
  assert.ok(!isClearTextRemote(new URL('https://127.0.0.2:8000/v1')), 'https: a proxy tunnels it unread');
});

test("the CLI's keys keep the same rule: 127.0.0.2 over plain HTTP needs --allow-plain-http, and the refusal says a proxy may carry it", async () => {
  const relay = new EnvKeySource({ RELAY_API_KEY: 'relay-key' });
  const refused = await relay.keyFor('openai-completions', new URL('http://127.0.0.2:8000/v1'));
  assert.equal(refused.key, undefined);
  assert.match(
    refused.withheld ?? '',
    /^Relay did not send your API key to http:\/\/127\.0\.0\.2:8000: it is plain HTTP to 127\.0\.0\.2, a loopback address a proxy may carry \(VS Code sends every address but localhost, 127\.0\.0\.1 and \[::1\] through http\.proxy or HTTP_PROXY\).*--allow-plain-http/,
  );
  assert.deepEqual(await relay.keyFor('openai-completions', new URL('http://127.0.0.1:8000/v1')), { key: 'relay-key' });
  assert.deepEqual(
    await new EnvKeySource({ RELAY_API_KEY: 'relay-key' }, { allowPlainHttp: true }).keyFor('openai-completions', new URL('http://127.0.0.2:8000/v1')),
    {
      key: 'relay-key',
    },
  );
});

test("a small model's server on any loopback address is no clear-text server: the SLM process reaches it itself, without VS Code's proxy", () => {
  for (const address of ['http://127.0.0.2:8000/v1', 'http://127.0.0.1:8000/v1', 'http://[::1]:11434'])
    assert.equal(clearTextServer(address), undefined, address);
  assert.equal(clearTextServer('http://10.0.0.5:8000/v1')?.host, '10.0.0.5:8000');
});

test('an address that does not parse, or has no scheme, is named with the fix, and never with its user:password', async () => {
  assert.throws(
    () => parseBaseUrl('localhost:8000/v1'),
    /"localhost:8000\/v1" has no http:\/\/ or https:\/\/\. Write it with its scheme, e\.g\. http:\/\/localhost:8000\/v1\./,
  );
  for (const bad of ['https://user:s3cretpw@[x/v1', 'ftp://user:s3cretpw@host/v1']) {
    assert.throws(
      () => parseBaseUrl(bad),
      (e: Error) => !e.message.includes('s3cretpw') && e.message.includes('//***@'),
    );
  }
  assert.throws(
    () => normalizeEndpoint('https://user:hf_s3cretToken@[hub'),
    (e: Error) => !e.message.includes('s3cret') && /relay\.models\.hubEndpoint is not a URL/.test(e.message),
  );
  await assert.rejects(
    createServedRuntime({ kind: 'completions-server', url: 'http://user:s3cretpw@[x', model: 'm', folder: '/nonexistent' }),
    (e: Error) => !e.message.includes('s3cretpw'),
  );
});
