// A base URL with a login (http://user:password@host) and no key: Node sends the login as
// Basic auth, base64("user:password"), and a proxy that echoes its Authorization header
// puts that into the error. No message may show it, in that form or any other.
import assert from 'node:assert/strict';
import { inspect } from 'node:util';
import { after, before, test } from 'node:test';
import { loginSecrets } from '../../../src/core/http/shownUrl';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ProviderKind } from '../../../src/core/providers/types';
import { FAST, REQUEST, collectError } from './servers/collect';
import { sendJson, startFakeServer, type FakeServer } from './servers/harness';

const USER = 'alice';
/** A password with characters the URL writes percent-encoded: Node decodes them before it encodes the login. */
const PASSWORD = 'Sup3r:Secret@Pw';
const BASIC = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');

let server: FakeServer;
before(async () => {
  // A proxy that refuses the login and quotes it back, as sent and decoded.
  server = await startFakeServer((request, res) => {
    const sent = String(request.headers.authorization ?? '').replace(/^Basic /, '');
    sendJson(res, 401, { error: `credentials ${sent} (${Buffer.from(sent, 'base64').toString()}) are not valid for this proxy` });
  });
});
after(() => server.close());

test("an echoed Basic auth header of the base URL's login is scrubbed from the error", async () => {
  const address = new URL(server.url);
  address.username = USER;
  address.password = PASSWORD;
  for (const kind of ['ollama', 'openai-completions', 'openai-chat'] as ProviderKind[]) {
    const baseUrl = kind === 'ollama' ? address.href : `${address.href}v1`;
    const before = server.requests.length;
    const error = await collectError(
      createProvider({ kind, baseUrl, model: 'm', templateRenderer: (_m, p) => `prompt ${p}`, maxRetries: 0, ...FAST }, new MemoryKeySource({})),
      REQUEST,
    );
    // The server did get the login as Basic auth, so the checks below are not vacuous.
    assert.equal(server.requests.at(-1)?.headers.authorization, `Basic ${BASIC}`, kind);
    assert.equal(server.requests.length - before, 1, kind);
    assert.match(error.message, /are not valid for this proxy/, `${kind}: the server's words are still quoted`);
    for (const text of [error.message, String(error.stack), JSON.stringify(error), inspect(error, { depth: 10, showHidden: true })]) {
      assert.ok(!text.includes(BASIC), `${kind}: the Basic credentials appear in ${text}`);
      assert.ok(!text.includes(PASSWORD), `${kind}: the password appears in ${text}`);
    }
  }
});

test('a username alone (https://TOKEN@gw, sent as Basic base64("TOKEN:")) echoed by the server is scrubbed from the error', async () => {
  // A token, one of 4 characters (scrubbed where it stands alone, as a short key is), and one too short to be a secret.
  for (const user of ['gw_tok_5ecretValue123', 't0k3', 'a']) {
    const address = new URL(server.url);
    address.username = user;
    const basic = Buffer.from(`${user}:`).toString('base64');
    const error = await collectError(
      createProvider({ kind: 'openai-chat', baseUrl: `${address.href}v1`, model: 'm', maxRetries: 0, ...FAST }, new MemoryKeySource({})),
      REQUEST,
    );
    assert.equal(server.requests.at(-1)?.headers.authorization, `Basic ${basic}`, 'the username went as a login');
    assert.match(error.message, /are not valid for this proxy/, `${user}: the server's words are still quoted`);
    for (const text of [error.message, String(error.stack), JSON.stringify(error), inspect(error, { depth: 10, showHidden: true })]) {
      assert.ok(!text.includes(basic), `${user}: the Basic credentials appear in ${text}`);
      if (user.length >= 4) assert.ok(!text.includes(user), `${user}: the username appears in ${text}`);
    }
  }
});

test("loginSecrets: a URL's password as written and decoded (with none, a username of 4+ characters), and its Basic credentials; none without a login; a stray % does not throw", () => {
  assert.deepEqual(loginSecrets(new URL('http://alice:p%40ss%3Aw@h/')), ['p%40ss%3Aw', 'p@ss:w', Buffer.from('alice:p@ss:w').toString('base64')]);
  assert.deepEqual(loginSecrets(new URL('http://t%40ken@h/')), ['t%40ken', 't@ken', Buffer.from('t@ken:').toString('base64')]);
  assert.deepEqual(loginSecrets(new URL('http://me@h/')), [Buffer.from('me:').toString('base64')], 'a short name is no secret; its Basic value is');
  assert.deepEqual(loginSecrets(new URL('http://:pw@h/')), ['pw', Buffer.from(':pw').toString('base64')]);
  assert.deepEqual(loginSecrets(new URL('http://h/')), []);
  assert.deepEqual(loginSecrets(new URL('http://al%zz:p%zz@h/')), ['p%zz', Buffer.from('al%zz:p%zz').toString('base64')]);
});
