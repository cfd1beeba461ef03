// The hub's access token stays out of what the user is shown: a hub (or mirror) that echoes
// the request's Authorization header in an error body or header, and an endpoint that
// carries user:password, against real servers on 127.0.0.1. A token the hub no longer
// accepts is named as such (not taken for a gated repository), with how to replace it.
import assert from 'node:assert/strict';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { readRepoText } from '../../../src/core/models/hubApi';
import { ModelDownloadError } from '../../../src/core/models/errors';
import { DEFAULT_HUB_TIMEOUTS } from '../../../src/core/models/hubHttp';

const TOKEN = 'hf_SECRETtoken1234567890abcdef';
let server: http.Server;
let base: string;
/** What the next request is answered with. */
let answer: (req: http.IncomingMessage, res: http.ServerResponse) => void;
let requests = 0;

before(async () => {
  server = http.createServer((req, res) => {
    requests += 1;
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

async function failureOf(endpoint: string, token?: string): Promise<string> {
  return (await errorOf(endpoint, token)).message;
}

async function errorOf(endpoint: string, token?: string): Promise<ModelDownloadError> {
  try {
    await readRepoText({ endpoint, token, timeouts: DEFAULT_HUB_TIMEOUTS }, 'org/model', 'main', 'config.json');
  } catch (error) {
    assert.ok(error instanceof ModelDownloadError, String(error));
    return error;
  }
  assert.fail('the hub answered an error: the read must fail');
}

test('an error body that echoes the token, as a header, bare or cut at the quoted length, never reaches the message', async () => {
  const bodies = [
    (req: http.IncomingMessage) => `bad request while handling ${req.headers.authorization}`,
    () => JSON.stringify({ error: 'invalid request', seen: { credential: TOKEN } }),
    // The token straddles the 200 characters the message quotes.
    () => `${'x'.repeat(190)} ${TOKEN}`,
  ];
  for (const body of bodies) {
    answer = (req, res) => {
      assert.equal(req.headers.authorization, `Bearer ${TOKEN}`, 'the hub itself gets the token');
      res.writeHead(400, { 'content-type': 'text/plain' });
      res.end(body(req));
    };
    const message = await failureOf(base, TOKEN);
    assert.match(message, /The model hub answered HTTP 400 for org\/model\/config\.json/);
    assert.ok(!message.includes('SECRETtoken'), `no part of the token in: ${message}`);
  }
});

test("a hub address's user:password is not quoted when its redirects never end", async () => {
  requests = 0;
  answer = (_req, res) => {
    res.writeHead(302, { location: '/again' });
    res.end();
  };
  const message = await failureOf(base.replace('http://', 'http://alice:pa55word@'));
  assert.match(message, /redirected .* more than \d+ times/);
  assert.ok(!message.includes('pa55word') && !message.includes('alice'), message);
  assert.ok(requests > 1 && requests < 20, `the redirects are followed a bounded number of times (${requests})`);
});

test("a hub address's user:password is not quoted in a 401 or 403 message, nor its page and token links", async () => {
  const withCredentials = base.replace('http://', 'http://alice:pa55word@');
  for (const status of [401, 403]) {
    answer = (req, res) => {
      assert.match(String(req.headers.authorization), /^Basic /, 'the hub itself gets user:password');
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end('{"error":"Access restricted"}');
    };
    const message = await failureOf(withCredentials);
    assert.match(message, new RegExp(`with HTTP ${status}`));
    assert.ok(message.includes(`${base}/org/model`), `the model page, without credentials: ${message}`);
    assert.ok(!message.includes('pa55word') && !message.includes('alice'), message);
  }
});

test("an error body that echoes the hub address's Basic credentials never reaches the message", async () => {
  answer = (req, res) => {
    res.writeHead(400, { 'content-type': 'text/plain' });
    res.end(`bad request: ${req.headers.authorization} (user alice, password pa55word)`);
  };
  const message = await failureOf(base.replace('http://', 'http://alice:pa55word@'));
  assert.match(message, /The model hub answered HTTP 400/);
  assert.ok(!message.includes('pa55word'), message);
  assert.ok(!message.includes(Buffer.from('alice:pa55word').toString('base64')), message);
});

test('a 401 to a token the hub no longer accepts says the stored token is invalid or expired and how to replace or remove it, quoting the hub, never the token', async () => {
  const refusals = ['Invalid credentials in Authorization header', `Invalid credentials in Authorization header: Bearer ${TOKEN}`];
  for (const refusal of refusals) {
    answer = (_req, res) => {
      // As huggingface.co answers an expired or revoked token, even for a public repository.
      res.writeHead(401, { 'content-type': 'application/json', 'x-error-message': refusal });
      res.end(JSON.stringify({ error: refusal }));
    };
    const error = await errorOf(base, TOKEN);
    // Its own code: the extension offers to replace the token, not the repository's page (no terms to accept).
    assert.equal(error.code, 'token_refused');
    const message = error.message;
    assert.match(message, /refused the hub token stored for http:\/\/127\.0\.0\.1:\d+ with HTTP 401 \("Invalid credentials in Authorization header/);
    assert.match(message, /the token is invalid, expired or revoked/);
    assert.match(message, /run "Relay: Set Model Hub Token" to replace it, or run it and leave the box empty to remove the token/);
    assert.doesNotMatch(message, /accept its terms|gated/);
    assert.ok(!message.includes('SECRETtoken'), `no part of the token in: ${message}`);
  }
});

test("a 403, or a 401 the hub marks GatedRepo, to a token still says to accept the repository's terms, quoting the hub", async () => {
  for (const [status, code] of [
    [403, undefined],
    [401, 'GatedRepo'],
  ] as const) {
    answer = (_req, res) => {
      const headers: Record<string, string> = { 'content-type': 'application/json', 'x-error-message': 'Access to model org/model is restricted.' };
      if (code) headers['x-error-code'] = code;
      res.writeHead(status, headers);
      res.end('{}');
    };
    const error = await errorOf(base, TOKEN);
    assert.equal(error.code, 'gated', `HTTP ${status}`);
    const message = error.message;
    assert.match(message, new RegExp(`refused org/model \\(config\\.json\\) with HTTP ${status}: the access token was refused or has not been granted access`));
    assert.match(message, /accept its terms while signed in with the account of your token/);
    assert.match(message, /The hub said: "Access to model org\/model is restricted\."/);
  }
});
