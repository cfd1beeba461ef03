// Where a key may travel is decided from the address alone: only http(s) addresses have an
// origin a key can be bound to, and only names that cannot resolve elsewhere count as this machine.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseUrlOf, isClearTextRemote, isLoopback } from '../../../src/core/providers/endpoints';
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
