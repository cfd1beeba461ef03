/**
 * The shared HTTP core (src/core/http) against real servers on 127.0.0.1: the connect
 * timer and the `connected` hook, abort, settle-once, failures typed by the caller, and
 * bounded body reads. No test here measures time: short timeouts only make them quick.
 */
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { Socket, type AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { openExchange, readBounded, type ExchangeOptions } from '../../../src/core/http/exchange';
import { headerValue } from '../../../src/core/http/headers';

/** The caller's error type: each failure says which factory made it. */
class TestError extends Error {
  constructor(
    readonly kind: 'cancelled' | 'connect-timeout' | 'network' | 'timer' | 'caller',
    readonly errno?: NodeJS.ErrnoException,
    readonly reused = false,
  ) {
    super(kind);
  }
}

const errors: ExchangeOptions<TestError, unknown>['errors'] = {
  own: (error): error is TestError => error instanceof TestError,
  cancelled: () => new TestError('cancelled'),
  connectTimeout: () => new TestError('connect-timeout'),
  network: (error, reused) => new TestError('network', error, reused),
};

interface Got {
  res: http.IncomingMessage;
}

/** A GET whose promise resolves with the response as soon as its headers arrive. */
function get(url: string, extra: Partial<ExchangeOptions<TestError, Got>> = {}): Promise<Got> {
  return openExchange<TestError, Got>({
    url: new URL(url),
    method: 'GET',
    headers: {},
    agent: false,
    connectTimeoutMs: 5_000,
    errors,
    response: (res, exchange) => {
      res.on('close', () => exchange.end());
      exchange.resolve({ res });
    },
    ...extra,
  });
}

async function rejection(promise: Promise<unknown>): Promise<TestError> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof TestError, `a TestError, not ${String(error)}`);
    return error;
  }
  throw new Error('expected a rejection');
}

async function drain(res: http.IncomingMessage): Promise<string> {
  const parts: Buffer[] = [];
  for await (const chunk of res) parts.push(chunk as Buffer);
  return Buffer.concat(parts).toString('utf8');
}

let server: http.Server;
let base: string;
const sockets = new Set<Socket>();
let requests = 0;
/** Each test sets how the server answers. */
let handler: http.RequestListener = (_req, res) => res.end('ok');

before(async () => {
  server = http.createServer((req, res) => {
    requests += 1;
    handler(req, res);
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  for (const socket of sockets) socket.destroy();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

test('a plain exchange: headers, body, and the timer disarmed once connected (by default)', async () => {
  // The answer comes after the connect timeout would have run out: connected, it no longer runs.
  handler = (req, res) =>
    setTimeout(() => {
      res.writeHead(200, { 'set-cookie': ['first=1', 'second=2'], 'x-one': 'only' });
      res.end(`you sent ${req.method} ${req.headers['x-test']}`);
    }, 1500);
  // 1 s to connect to 127.0.0.1, never near on a busy machine; the answer after 1.5 s is past it.
  const { res } = await get(`${base}/a`, { headers: { 'x-test': 'yes' }, connectTimeoutMs: 1000 });
  assert.equal(res.statusCode, 200);
  assert.equal(headerValue(res.headers, 'X-One'), 'only');
  assert.equal(headerValue(res.headers, 'set-cookie'), 'first=1', 'the first of a list');
  assert.equal(await drain(res), 'you sent GET yes');
});

test('a request body is sent whole', async () => {
  handler = (req, res) => {
    void drain(req).then((text) => res.end(`got ${text}`));
  };
  const body = Buffer.from('{"a":1}');
  const { res } = await get(`${base}/post`, { method: 'POST', body, headers: { 'content-length': String(body.length) } });
  assert.equal(await drain(res), 'got {"a":1}');
});

test("connect timeout: a connection never established fails with the caller's error, and the socket is torn down", async () => {
  // Its sockets stay "connecting" forever, as when SYNs go unanswered.
  const made: Socket[] = [];
  const agent = Object.assign(new http.Agent(), {
    createConnection: () => {
      made.push(Object.assign(new Socket(), { connecting: true }));
      return made[made.length - 1];
    },
  });
  let connected = 0;
  const error = await rejection(get(`${base}/never`, { agent, connectTimeoutMs: 50, connected: () => (connected += 1) }));
  assert.equal(error.kind, 'connect-timeout');
  assert.equal(connected, 0);
  assert.equal(made.length, 1);
  assert.ok(made[0].destroyed);
});

test('`connected` runs once per request: after connecting, and at once on a kept-alive connection', async () => {
  handler = (_req, res) => res.end('ok');
  const agent = new http.Agent({ keepAlive: true });
  try {
    const reused: boolean[] = [];
    let connected = 0;
    for (let i = 0; i < 2; i += 1) {
      const got = await openExchange<TestError, Got & { reused: boolean }>({
        url: new URL(`${base}/keep`),
        method: 'GET',
        headers: {},
        agent,
        connectTimeoutMs: 5_000,
        errors,
        connected: (exchange) => {
          connected += 1;
          exchange.disarm();
        },
        response: (res, exchange) => {
          res.on('end', () => exchange.end());
          exchange.resolve({ res, reused: exchange.request.reusedSocket });
        },
      });
      assert.equal(await drain(got.res), 'ok');
      reused.push(got.reused);
    }
    assert.equal(connected, 2);
    assert.deepEqual(reused, [false, true]);
  } finally {
    agent.destroy();
  }
});

test('a timer the caller arms fails the exchange with its error; after end() nothing arms', async () => {
  handler = () => undefined; // never answers
  const error = await rejection(get(`${base}/silent`, { connected: (exchange) => exchange.arm(50, () => new TestError('timer')) }));
  assert.equal(error.kind, 'timer');

  handler = (_req, res) => {
    res.writeHead(200);
    res.write('head ');
    setTimeout(() => res.end('tail'), 100);
  };
  // Ended at the headers: the timer armed after that never runs, and the body is read whole.
  const { res } = await get(`${base}/ended`, {
    response: (response, exchange) => {
      exchange.end();
      exchange.arm(10, () => new TestError('timer'));
      assert.equal(exchange.ended, true);
      exchange.resolve({ res: response });
    },
  });
  assert.equal(await drain(res), 'head tail');
});

test('abort: an aborted signal sends nothing; an abort mid-body destroys the response with the cancelled error', async () => {
  const aborted = new AbortController();
  aborted.abort();
  const before = requests;
  assert.equal((await rejection(get(`${base}/x`, { signal: aborted.signal }))).kind, 'cancelled');
  assert.equal(requests, before, 'no request was sent');

  let serverSawClose!: () => void;
  const closed = new Promise<void>((resolve) => (serverSawClose = resolve));
  handler = (_req, res) => {
    res.on('close', () => serverSawClose());
    res.writeHead(200);
    res.write('first');
  };
  const controller = new AbortController();
  const { res } = await get(`${base}/abort`, { signal: controller.signal });
  let caught: unknown;
  try {
    for await (const _chunk of res) controller.abort();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof TestError && caught.kind === 'cancelled', String(caught));
  await closed;
});

test('settle once: a failure after the promise resolved only tears the body down; a second resolve is ignored', async () => {
  handler = (_req, res) => {
    res.writeHead(200);
    res.write('partial');
  };
  const { res } = await get(`${base}/late`, {
    response: (response, exchange) => {
      exchange.resolve({ res: response });
      exchange.reject(new TestError('caller'));
      exchange.resolve({ res: undefined as unknown as http.IncomingMessage });
      setImmediate(() => exchange.fail(new TestError('caller')));
    },
  });
  assert.ok(res instanceof http.IncomingMessage, 'the first settlement stands');
  let caught: unknown;
  try {
    await drain(res);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof TestError && caught.kind === 'caller', String(caught));
});

test("socket errors go through the caller's network factory; its own errors pass through as they are", async () => {
  const gone = http.createServer();
  await new Promise<void>((resolve) => gone.listen(0, '127.0.0.1', resolve));
  const port = (gone.address() as AddressInfo).port;
  await new Promise<void>((resolve) => gone.close(() => resolve()));
  const refused = await rejection(get(`http://127.0.0.1:${port}/`));
  assert.equal(refused.kind, 'network');
  assert.equal(refused.errno?.code, 'ECONNREFUSED');
  assert.equal(refused.reused, false);

  const own = new TestError('caller');
  const error = await rejection(get(`${base}/own`, { prepare: (exchange) => exchange.request.destroy(own) }));
  assert.equal(error, own);
});

test('readBounded: keeps at most the limit, reads on to the end by default, stops there when asked', async () => {
  const chunks = ['abcd', 'efgh', 'ijkl'].map((text) => Buffer.from(text));
  async function* body(): AsyncGenerator<Buffer> {
    for (const chunk of chunks) {
      read += 1;
      yield chunk;
    }
  }
  let read = 0;
  let told = 0;
  assert.deepEqual(await readBounded(body(), 6, { onChunk: () => (told += 1) }), { text: 'abcdef', overflowed: true });
  assert.equal(read, 3, 'read to the end');
  assert.equal(told, 3);

  read = 0;
  assert.deepEqual((await readBounded(body(), 6, { stopAtLimit: true })).overflowed, true);
  assert.equal(read, 2, 'stopped at the chunk that went past the limit');

  assert.deepEqual(await readBounded(body(), 12), { text: 'abcdefghijkl', overflowed: false });
});
