/**
 * What socket errors mean (src/core/http/networkErrors), from real failures on 127.0.0.1
 * where they can be made here (refused, TLS against plain HTTP both ways, a body cut
 * off), and from the error codes where they cannot (DNS, unreachable networks).
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import * as tls from 'node:tls';
import { test } from 'node:test';
import { classifyNetworkError, isDroppedConnection } from '../../../src/core/http/networkErrors';

async function listen(server: net.Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as net.AddressInfo).port;
}

async function close(server: net.Server): Promise<void> {
  if (server instanceof http.Server) server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
}

/** Runs `check` against `server` listening on a free port, and closes it after. */
async function against(server: net.Server, check: (port: number) => Promise<void>): Promise<void> {
  const port = await listen(server);
  try {
    await check(port);
  } finally {
    await close(server);
  }
}

/** The error of one request (agent: false, no keep-alive), or of reading its body. */
function errorOf(url: string, readBody = false): Promise<NodeJS.ErrnoException> {
  return new Promise((resolve, reject) => {
    const transport = url.startsWith('https:') ? https : http;
    const req = transport.request(url, { agent: false, rejectUnauthorized: false });
    req.on('error', resolve);
    req.on('response', (res) => {
      if (!readBody) return reject(new Error(`an answer (HTTP ${res.statusCode}) where an error was expected`));
      res.on('error', resolve);
      res.on('end', () => reject(new Error('the body ended whole')));
      res.resume();
    });
    req.end();
  });
}

test('connection refused', async () => {
  const server = net.createServer();
  const port = await listen(server);
  await close(server);
  const url = `http://127.0.0.1:${port}/`;
  assert.equal(classifyNetworkError(await errorOf(url), new URL(url)), 'refused');
});

test('https:// to a plain HTTP server: the server speaks no TLS', () =>
  against(
    http.createServer((_req, res) => res.end('plain')),
    async (port) => {
      const url = `https://127.0.0.1:${port}/`;
      assert.equal(classifyNetworkError(await errorOf(url), new URL(url)), 'plain-http-answer-to-tls');
    },
  ));

test('http:// to a TLS port: closed without an answer (on a kept-alive connection it is a plain reset)', () => {
  const server = tls.createServer({});
  server.on('tlsClientError', () => undefined);
  return against(server, async (port) => {
    const url = `http://127.0.0.1:${port}/`;
    const error = await errorOf(url);
    assert.equal(error.code, 'ECONNRESET');
    assert.equal(classifyNetworkError(error, new URL(url)), 'reset-without-answer');
    assert.equal(classifyNetworkError(error, new URL(url), true), 'reset');
  });
});

test('https:// to a server that drops the TLS hello: reset during the handshake', () =>
  against(
    net.createServer((socket) => socket.once('data', () => socket.destroy())),
    async (port) => {
      const url = `https://127.0.0.1:${port}/`;
      const error = await errorOf(url);
      assert.equal(error.code, 'ECONNRESET');
      assert.equal(classifyNetworkError(error, new URL(url)), 'reset-in-tls-handshake');
    },
  ));

test('a body cut off before its end is a dropped connection', async () => {
  const cutting = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-length': '100' });
    res.write('only a part', () => res.socket?.destroy());
  });
  await against(cutting, async (port) => {
    const error = await errorOf(`http://127.0.0.1:${port}/`, true);
    assert.equal(isDroppedConnection(error), true, `${error.code} ${error.message}`);
  });
  assert.equal(isDroppedConnection(Object.assign(new Error('Premature close'), { code: 'ERR_STREAM_PREMATURE_CLOSE' })), true);
  assert.equal(isDroppedConnection(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), false);
  assert.equal(isDroppedConnection(undefined), false);
});

test('codes that cannot be made on 127.0.0.1: DNS, unreachable networks, anything else', () => {
  const of = (code: string | undefined, message = 'failed') => Object.assign(new Error(message), code ? { code } : {});
  const url = new URL('https://hub.example/x');
  assert.equal(classifyNetworkError(of('ENOTFOUND'), url), 'host-not-found');
  assert.equal(classifyNetworkError(of('EAI_AGAIN'), url), 'dns-unavailable');
  for (const code of ['EPIPE', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH']) assert.equal(classifyNetworkError(of(code), url), 'unreachable', code);
  assert.equal(classifyNetworkError(of('ECONNRESET'), url), 'reset', 'https, not in the handshake');
  assert.equal(classifyNetworkError(of('ERR_SSL_PACKET_LENGTH_TOO_LONG'), url), 'plain-http-answer-to-tls');
  assert.equal(classifyNetworkError(of('ERR_SSL_PACKET_LENGTH_TOO_LONG'), new URL('http://hub.example/')), 'other', 'only https:// can meet a plain answer');
  assert.equal(classifyNetworkError(of('EPROTO'), url), 'other');
  assert.equal(classifyNetworkError(of(undefined), url), 'other');
});
