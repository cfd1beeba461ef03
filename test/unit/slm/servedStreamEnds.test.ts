/**
 * How a served SLM's request ends where the server misbehaves: it goes on writing after it
 * said it ended (the request is closed a few pieces later), answers 200 with something that
 * is no event stream (its error, or one whole completion), asks for an API key (Relay sends
 * the SLM's server none), or sends ids of another model's tokenizer (the check says the
 * folder is probably not the served model's). (The answer's silence ceiling, which leaves room
 * for the served SLM's own waits, is tested with the LLM's in relay/compose.test.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServedRuntime } from '../../../src/core/slm/served/servedRuntime';
import { checkServedSlm } from '../../../src/core/slm/served/serverCheck';
import { readTokenizerFolder } from '../../../src/core/slm/modelFolder';
import { SlmTokenizer } from '../../../src/core/slm/tokenizer';
import type { ServedSlmKind } from '../../../src/core/slm/types';
import { ensureScriptedModel } from '../../fixtures/fixtures';
import { defaultConfig } from '../../../src/cli/config';
import { runSlmTest } from '../../../src/cli/slmTest';

/** Pieces a misbehaving server writes at most: it stops itself after them, whoever reads. */
const SERVER_PIECES = 400;

let folder: string;
let tokenizer: SlmTokenizer;
let server: Server;
let origin: string;
/** Answers the next request. */
let handler: (req: IncomingMessage, res: ServerResponse, body: Record<string, any>) => void = (_req, res) => res.end();

before(async () => {
  folder = await ensureScriptedModel({ prompt: 'x', timeline: [{ text: ' y' }], endWithEos: true });
  const files = readTokenizerFolder(folder);
  tokenizer = await SlmTokenizer.create(files.tokenizerJson, files.tokenizerConfig);
  server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => handler(req, res, JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}')));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

/** Writes `piece(i)` for i = 0, 1, ... until the client closes the request or SERVER_PIECES were written; resolves with how many were. */
function writeOnAndOn(res: ServerResponse, line: (i: number) => string): Promise<number> {
  return new Promise((resolve) => {
    let i = 0;
    let closed = false;
    res.on('close', () => {
      closed = true;
    });
    const next = (): void => {
      if (closed || i >= SERVER_PIECES) {
        res.end();
        resolve(i);
        return;
      }
      res.write(line(i++));
      setImmediate(next);
    };
    next();
  });
}

const sseLine = (event: unknown) => `data: ${JSON.stringify(event)}\n\n`;

async function generateWith(kind: ServedSlmKind, maxTokens: number) {
  const runtime = await createServedRuntime({ kind, url: kind === 'ollama' ? origin : `${origin}/v1`, model: 'm', folder });
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    return await session.generate({ maxTokens });
  } finally {
    await runtime.dispose();
  }
}

for (const kind of ['completions-server', 'ollama'] as ServedSlmKind[]) {
  test(`${kind}: a server that goes on writing after it said it ended: the request is closed a few pieces later, the answer keeps what came before`, async () => {
    const id = tokenizer.encode(' one')[0];
    let written: Promise<number> = Promise.resolve(0);
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': kind === 'ollama' ? 'application/x-ndjson' : 'text/event-stream' });
      written = writeOnAndOn(res, (i) =>
        kind === 'ollama'
          ? `${JSON.stringify({ response: ' one', done: i === 2, logprobs: [{ token: ' one', logprob: -0.01, top_logprobs: [] }] })}\n`
          : sseLine({
              choices: [
                {
                  text: ' one',
                  logprobs: { tokens: [`token_id:${id}`], token_logprobs: [-0.01], top_logprobs: [{ [`token_id:${id}`]: -0.01 }] },
                  finish_reason: i === 2 ? 'stop' : null,
                },
              ],
            }),
      );
    };
    const result = await generateWith(kind, 50);
    assert.equal(result.stopReason, 'eos');
    assert.equal(result.text, ' one one one');
    // Read on for the usage (a piece or two), then closed: not the SERVER_PIECES it would write.
    assert.ok((result.discardedTokens ?? 0) <= 8, `discarded ${result.discardedTokens}`);
    assert.ok((await written) < SERVER_PIECES, 'the server saw the request closed');
  });
}

test("HTTP 200 with a plain JSON error (no event stream): the server's error is shown, bounded and without control characters", async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: `CUDA out of memory\u001b[31m ${'x'.repeat(1000)}` } }));
  };
  await assert.rejects(generateWith('completions-server', 5), (e: Error) => {
    assert.match(e.message, /at 127\.0\.0\.1:\d+ answered with an error instead of a stream: CUDA out of memory /);
    assert.doesNotMatch(e.message, /\u001b/);
    assert.ok(!e.message.includes('x'.repeat(400)), 'bounded');
    return true;
  });
});

test('HTTP 200 with one whole completion: the server ignored stream: true, and the error says so', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ id: 'cmpl-1', object: 'text_completion', choices: [{ index: 0, text: ' one', finish_reason: 'length' }] }));
  };
  await assert.rejects(
    generateWith('completions-server', 5),
    /sent the whole completion at once, not a stream: it \(or a proxy in front of it\) ignored "stream": true/,
  );
});

test('HTTP 200 with a page that is no event stream: what it begins with, and the settings to check', async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html' });
    res.end('<html><body>Welcome to nginx!</body></html>\n');
  };
  await assert.rejects(
    generateWith('completions-server', 5),
    /sent a response that is not an event stream \(it begins: "<html><body>Welcome to nginx!<\/body><\/html>"\): another service may answer at that address\. Check relay\.slm\.serverUrl/,
  );
});

test('HTTP 401 (a server run with --api-key): the error says Relay sends the SLM server no key, by design, and how to go on', async () => {
  handler = (_req, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: 'Unauthorized' }));
  };
  await assert.rejects(
    generateWith('completions-server', 5),
    /refused the request \(HTTP 401\): it asks for an API key, and Relay sends the small model's server none, by design\. Run the server on this machine without --api-key, or put it behind a local proxy that adds the key\. The server said: Unauthorized/,
  );
});

test("ids of another model's tokenizer (they do not spell the text): not exact tokens, and the check says the folder is probably not the served model's", async () => {
  const foreign = [1000, 1001, 1002];
  assert.notEqual(tokenizer.decode([foreign[0]]), ' 1,', 'the ids spell something else in this folder');
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    for (const id of foreign)
      res.write(
        sseLine({
          choices: [
            {
              text: ' 1,',
              logprobs: { tokens: [`token_id:${id}`], token_logprobs: [-0.01], top_logprobs: [{ [`token_id:${id}`]: -0.01 }] },
              finish_reason: null,
            },
          ],
        }),
      );
    res.write(sseLine({ choices: [{ text: '', finish_reason: 'length' }] }));
    res.end('data: [DONE]\n\n');
  };
  const runtime = await createServedRuntime({ kind: 'completions-server', url: `${origin}/v1`, model: 'm', folder });
  try {
    const check = await checkServedSlm(runtime);
    assert.equal(check.text, ' 1, 1, 1,', "the server's text is kept");
    assert.equal(check.exactTokens, false);
    assert.equal(check.idsMismatch, true);
    assert.equal(runtime.exactTokens, false);
  } finally {
    await runtime.dispose();
  }
});

test("relay slm test says so too: the ids do not spell the text, so the folder is probably not the served model's", async () => {
  const home = mkdtempSync(join(tmpdir(), 'relay-slm-ids-'));
  try {
    const base = defaultConfig({ RELAY_HOME: home });
    const config = { ...base, slm: { ...base.slm, folder, kind: 'completions-server' as const, serverUrl: `${origin}/v1`, serverModel: 'm' } };
    const lines: string[] = [];
    // The handler of the test above still answers: ids of another tokenizer.
    await runSlmTest(config, (line) => lines.push(line));
    assert.ok(
      lines.some((line) =>
        line.startsWith(
          "Tokens: the server's token ids do not spell the text it sent: the model folder (--slm, relay.slm.modelFolder) is probably not the served model's",
        ),
      ),
      lines.join('\n'),
    );
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
