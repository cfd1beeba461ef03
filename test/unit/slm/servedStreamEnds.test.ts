/**
 * How a served SLM's request ends where the server misbehaves: it goes on writing after it
 * said it ended (the request is closed a few pieces later), sends keep-alives and pieces
 * with no text and never finishes (closed after 1,000 such events in a row, however the
 * transport splits them, SSE comments and blank NDJSON lines counted too, or after the waits
 * for a token, with an error that says so, in a check and
 * in an answer alike), says it does not serve the model (its list asked for within a
 * deadline of its own; a Stop meanwhile is a Stop), answers 200 with something that
 * is no event stream (its error, or one whole completion), asks for an API key (Relay sends
 * the SLM's server none), or sends ids of another model's tokenizer (the check says the
 * folder is probably not the served model's), puts an error in its stream (shown without control
 * characters), sends more text than its tokens can write (refused, naming the folder), or reads
 * only part of the prompt (Ollama cuts one longer than its context length: the error names the
 * setting that lengthens it) or refuses it (HTTP 400 to truncate: false: the same). (The answer's silence ceiling, which leaves room
 * for the served SLM's own waits, is tested with the LLM's in relay/compose.test.ts.)
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServedRuntime } from '../../../src/core/slm/served/servedRuntime';
import { servedModels } from '../../../src/core/slm/served/servedModels';
import { completionsServerWireForm } from '../../../src/core/slm/served/completionsServer';
import type { HttpTimeouts } from '../../../src/core/providers/http';
import { collectRelay } from '../../../src/core/relay/engine';
import { checkServedSlm } from '../../../src/core/slm/served/serverCheck';
import { readTokenizerFolder } from '../../../src/core/slm/modelFolder';
import { SlmTokenizer } from '../../../src/core/slm/tokenizer';
import type { ServedSlmKind } from '../../../src/core/slm/types';
import { ensureScriptedModel } from '../../fixtures/fixtures';
import { startJsonBodyServer, type JsonBodyServer } from '../../fixtures/servedSlmServers';
import { defaultConfig } from '../../../src/cli/config';
import { runSlmTest } from '../../../src/cli/slmTest';
import { OLLAMA_PROMPT_TOO_LONG } from '../providers/servers/ollama';

/** Pieces a misbehaving server writes at most: it stops itself after them, whoever reads. */
const SERVER_PIECES = 400;

let folder: string;
let tokenizer: SlmTokenizer;
let server: JsonBodyServer;
let origin: string;
/** Answers the next request. */
let handler: (req: IncomingMessage, res: ServerResponse, body: Record<string, any>) => void = (_req, res) => res.end();

before(async () => {
  folder = await ensureScriptedModel({ prompt: 'x', timeline: [{ text: ' y' }], endWithEos: true });
  const files = readTokenizerFolder(folder);
  tokenizer = await SlmTokenizer.create(files.tokenizerJson, files.tokenizerConfig);
  server = await startJsonBodyServer((req, res, body) => handler(req, res, body));
  origin = server.origin;
});

after(() => server.close());

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

/** Pieces a keep-alive server writes at most, and for how long: it stops itself after either, whoever reads. */
const KEEP_ALIVE_PIECES = 20_000;
const KEEP_ALIVE_MS = 30_000;

/**
 * Answers as a server that is up and never generates: keep-alives (SSE comments, empty
 * `data:` events; blank NDJSON lines) and pieces with no text and no finish, one every
 * `everyMs` (0: as fast as it can), after `first` (a piece of the caller's). Resolves with
 * how many it wrote before the client closed the request or its own bounds ended it.
 */
function keepAlive(kind: ServedSlmKind, res: ServerResponse, everyMs = 0, first?: string): Promise<number> {
  res.writeHead(200, { 'content-type': kind === 'ollama' ? 'application/x-ndjson' : 'text/event-stream' });
  if (first) res.write(first);
  const pieces =
    kind === 'ollama'
      ? ['\n', `${JSON.stringify({ model: 'm', response: '', done: false })}\n`]
      : [': keep-alive\n\n', 'data: \n\n', sseLine({ choices: [{ index: 0, text: '', finish_reason: null }] })];
  const started = Date.now();
  return new Promise((resolve) => {
    let i = 0;
    let closed = false;
    res.on('close', () => (closed = true));
    const next = (): void => {
      if (closed || i >= KEEP_ALIVE_PIECES || Date.now() - started > KEEP_ALIVE_MS) {
        res.end();
        resolve(i);
        return;
      }
      res.write(pieces[i++ % pieces.length]);
      if (everyMs > 0) setTimeout(next, everyMs);
      else setImmediate(next);
    };
    next();
  });
}

/**
 * The error of a server that answers and never generates, at the address it was given:
 * closed by the bound on events (their count captured) or by the waits for a token.
 */
const STARVED =
  /^.* at http:\/\/127\.0\.0\.1:\d+\/(?:v1)? sent (?:(\d+) events in a row with no token \(keep-alives or empty pieces\) in [\d.]+ s|no (?:further )?token in [\d.]+ s, only keep-alives or empty pieces), so the request was closed\. (?:It may still be reading a very long prompt .*Otherwise check|Check) the server's log: the model may be stuck or out of memory/;
/** What the error adds before the first token: the server may be reading a long prompt. */
const LONG_PROMPT =
  /It may still be reading a very long prompt \(a slow server sends keep-alives until its first token\): send less text, or use a faster server\. Otherwise check the server's log/;

async function generateWith(kind: ServedSlmKind, maxTokens: number, timeouts?: Partial<HttpTimeouts>, signal?: AbortSignal) {
  const runtime = await createServedRuntime({ kind, url: kind === 'ollama' ? origin : `${origin}/v1`, model: 'm', folder, timeouts });
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    return await session.generate({ maxTokens }, undefined, signal);
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
    assert.match(e.message, /x…\.$/, 'the cut is marked');
    return true;
  });
});

test("an error in the stream: the server's words are shown without control, bidirectional-override or line-break characters", async () => {
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(sseLine({ error: { message: 'out of memory\u202e\u001b[31m fake\nline' } }));
  };
  await assert.rejects(generateWith('completions-server', 4), (e: Error) => {
    assert.match(e.message, /at 127\.0\.0\.1:\d+ reported an error in its stream: out of memory/);
    assert.doesNotMatch(e.message, /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/);
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

/** The error of a piece with more text than its tokens write. */
const TOO_MUCH_TEXT =
  /sent 1500000 characters of text for one token, more than the model folder's tokenizer writes \(at most \d+ characters a token\)\. relay\.slm\.modelFolder .*is probably not the served model's folder/;

for (const kind of ['completions-server', 'ollama'] as ServedSlmKind[]) {
  test(`${kind}: a piece whose text is far longer than its one token writes (spelled as one token, or as several): refused, naming the model folder`, async () => {
    // Each piece within the line bound, but 20 of them would hold 30 M characters, and a spelling that is no token re-tokenised them all.
    const text = 'word '.repeat(300_000);
    for (const spelled of ['x', 'xyzzy qq']) {
      handler = (_req, res, body) => {
        const n = kind === 'ollama' ? body.options.num_predict : body.max_tokens;
        res.writeHead(200, { 'content-type': kind === 'ollama' ? 'application/x-ndjson' : 'text/event-stream' });
        const logprobs = { tokens: [spelled], token_logprobs: [-0.01], top_logprobs: [{ [spelled]: -0.01 }] };
        for (let i = 0; i < n; i++)
          res.write(
            kind === 'ollama'
              ? `${JSON.stringify({ model: 'm', response: text, done: false, logprobs: [{ token: spelled, logprob: -0.01, top_logprobs: [] }] })}\n`
              : sseLine({ choices: [{ text, logprobs, finish_reason: null }] }),
          );
        res.end(kind === 'ollama' ? `${JSON.stringify({ model: 'm', response: '', done: true, done_reason: 'length' })}\n` : 'data: [DONE]\n\n');
      };
      await assert.rejects(generateWith(kind, 20), TOO_MUCH_TEXT, `spelled ${JSON.stringify(spelled)}`);
    }
  });
}

test("Ollama reads only part of a long prompt (its context length cut it): the answer ends with an error naming OLLAMA_CONTEXT_LENGTH; a whole prompt's cached tokens are reported", async () => {
  // As Ollama does with a prompt longer than its num_ctx (4096 below 24 GiB of VRAM): it reads 2050 tokens ("truncating input prompt limit=2050") and answers 200.
  let read: (prompt: number) => number = (prompt) => prompt;
  handler = (_req, res, body) => {
    const prompt = tokenizer.encode(String(body.prompt)).length;
    res.writeHead(200, { 'content-type': 'application/x-ndjson' });
    res.write(`${JSON.stringify({ model: 'm', response: ' ok', done: false, logprobs: [{ token: ' ok', logprob: -0.01, top_logprobs: [] }] })}\n`);
    res.end(`${JSON.stringify({ model: 'm', response: '', done: true, done_reason: 'stop', prompt_eval_count: read(prompt), prompt_eval_cached_count: 2 })}\n`);
  };
  const runtime = await createServedRuntime({ kind: 'ollama', url: origin, model: 'm', folder });
  try {
    const whole = await runtime.createSession();
    await whole.prefill('Q: explain this code line');
    assert.equal((await whole.generate({ maxTokens: 4 })).text, ' ok', 'a prompt read whole is no error');
    assert.deepEqual(
      { ...runtime.prefixCache },
      { requests: 1, promptTokens: tokenizer.encode('Q: explain this code line').length, cachedPromptTokens: 2, reported: 1 },
    );

    read = () => 2050;
    const long = await runtime.createSession();
    const { tokenCount } = await long.prefill('Q: ' + 'explain this code line '.repeat(1500));
    assert.ok(tokenCount > 6000, `a prompt of ${tokenCount} tokens`);
    await assert.rejects(
      long.generate({ maxTokens: 4 }),
      /at 127\.0\.0\.1:\d+ read only 2050 of about \d+ prompt tokens: its context length \(num_ctx\) cut the start of the prompt.*OLLAMA_CONTEXT_LENGTH=8192, or set num_ctx/,
    );
  } finally {
    await runtime.dispose();
  }
});

test("Ollama refuses a prompt longer than its context length (truncate: false; each version's words): the answer ends with an error naming OLLAMA_CONTEXT_LENGTH, the request sent once", async () => {
  for (const [version, said] of Object.entries(OLLAMA_PROMPT_TOO_LONG)) {
    const bodies: Record<string, any>[] = [];
    handler = (_req, res, body) => {
      bodies.push(body);
      if (body.truncate === false) {
        res.writeHead(400, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ error: said }));
        return;
      }
      // Left out, Ollama cuts the prompt to its context length and answers 200, saying nothing of its cache (as released Ollama does).
      res.writeHead(200, { 'content-type': 'application/x-ndjson' });
      res.write(`${JSON.stringify({ model: 'm', response: ' ok', done: false, logprobs: [{ token: ' ok', logprob: -0.01, top_logprobs: [] }] })}\n`);
      res.end(`${JSON.stringify({ model: 'm', response: '', done: true, done_reason: 'stop', prompt_eval_count: 4096 })}\n`);
    };
    const runtime = await createServedRuntime({ kind: 'ollama', url: origin, model: 'm', folder });
    try {
      const session = await runtime.createSession();
      const { tokenCount } = await session.prefill('Q: ' + 'explain this code line '.repeat(2500));
      assert.ok(tokenCount > 8192 && tokenCount < 16384 - 4, `a prompt of ${tokenCount} tokens, which a context of 16,384 holds with the answer`);
      await assert.rejects(session.generate({ maxTokens: 4 }), (e: Error) => {
        assert.match(
          e.message,
          /^Ollama \(\/api\/generate, raw\) at 127\.0\.0\.1:\d+ refused the prompt as longer than the model's context length \(HTTP 400\)\. Give the model a longer context \(start Ollama with OLLAMA_CONTEXT_LENGTH=16384, or set num_ctx in its Modelfile\), or send less text\. The server said: .*exceeds the (?:available )?context/,
          version,
        );
        return true;
      });
      assert.equal(bodies.length, 1, `${version}: sent once`);
      assert.equal(bodies[0].truncate, false);
    } finally {
      await runtime.dispose();
    }
  }
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

for (const kind of ['completions-server', 'ollama'] as ServedSlmKind[]) {
  test(`${kind}: a server that sends keep-alives and pieces with no text and never finishes: the request is closed, and the error says what it did`, async () => {
    let written: Promise<number> = Promise.resolve(0);
    handler = (_req, res) => void (written = keepAlive(kind, res));
    await assert.rejects(generateWith(kind, 50), (error: Error) => {
      assert.match(error.message, STARVED);
      return true;
    });
    assert.ok((await written) < KEEP_ALIVE_PIECES, 'the server saw the request closed');
  });
}

test("keep-alives too slow to reach the bound on pieces: the request is closed once the server has had the transport's waits for a token (connect and first byte; idle after a token)", async () => {
  const id = tokenizer.encode(' one')[0];
  const token = sseLine({
    choices: [
      { text: ' one', logprobs: { tokens: [`token_id:${id}`], token_logprobs: [-0.01], top_logprobs: [{ [`token_id:${id}`]: -0.01 }] }, finish_reason: null },
    ],
  });
  for (const first of [undefined, token]) {
    let written: Promise<number> = Promise.resolve(0);
    handler = (_req, res) => void (written = keepAlive('completions-server', res, 20, first));
    // Before a token the server has connect + first byte; after one, the idle wait (the other is far off).
    const timeouts = first
      ? { connectTimeoutMs: 100, firstByteTimeoutMs: 60_000, idleTimeoutMs: 400 }
      : { connectTimeoutMs: 100, firstByteTimeoutMs: 300, idleTimeoutMs: 60_000 };
    await assert.rejects(generateWith('completions-server', 50, timeouts), (error: Error) => {
      assert.match(error.message, STARVED);
      assert.equal(STARVED.exec(error.message)?.[1], undefined, `${error.message}: closed by its wait, not by the bound on events`);
      // Before the first token the server may be reading a very long prompt; after one it has read it.
      if (first) assert.doesNotMatch(error.message, LONG_PROMPT);
      else assert.match(error.message, LONG_PROMPT);
      return true;
    });
    assert.ok((await written) < KEEP_ALIVE_PIECES, 'the server saw the request closed');
  }
});

test("an answer with a server that sends only keep-alives ends: 'stalled' by the answer's silence ceiling where it comes first, else with the server's error", async () => {
  const runtime = await createServedRuntime({ kind: 'completions-server', url: `${origin}/v1`, model: 'm', folder });
  const answer = (maxStallMs?: number) =>
    collectRelay({ mode: 'slm-only', slm: runtime, messages: [{ role: 'user', content: 'Q' }], prompt: 'Q:', slmSampling: { temperature: 0 }, maxStallMs });
  try {
    // Slow keep-alives: the watchdog counts tokens, not bytes.
    let written: Promise<number> = Promise.resolve(0);
    handler = (_req, res) => void (written = keepAlive('completions-server', res, 20));
    const stalled = await answer(300);
    assert.equal(stalled.stats.finishReason, 'stalled');
    assert.ok((await written) < KEEP_ALIVE_PIECES, 'the server saw the request closed');

    // Fast ones, under the default ceiling: the server's own error, with what it did.
    handler = (_req, res) => void (written = keepAlive('completions-server', res));
    const failed = await answer();
    assert.equal(failed.stats.finishReason, 'error');
    const error = failed.events.find((e) => e.type === 'error');
    assert.match(error?.type === 'error' ? error.message : '', STARVED);
    assert.ok((await written) < KEEP_ALIVE_PIECES, 'the server saw the request closed');
  } finally {
    await runtime.dispose();
  }
});

test('relay slm test with a server that sends only keep-alives: FAILED with what the server did, not held', async () => {
  const home = mkdtempSync(join(tmpdir(), 'relay-slm-keepalive-'));
  let written: Promise<number> = Promise.resolve(0);
  handler = (_req, res) => void (written = keepAlive('completions-server', res));
  try {
    const base = defaultConfig({ RELAY_HOME: home });
    const config = { ...base, slm: { ...base.slm, folder, kind: 'completions-server' as const, serverUrl: `${origin}/v1`, serverModel: 'm' } };
    const lines: string[] = [];
    const failures: string[] = [];
    assert.equal(
      await runSlmTest(
        config,
        (line) => lines.push(line),
        undefined,
        (line) => failures.push(line),
      ),
      false,
    );
    assert.equal(failures.length, 1, failures.join('\n'));
    assert.match(failures[0].replace(/^FAILED: /, ''), STARVED);
    assert.ok((await written) < KEEP_ALIVE_PIECES, 'the server saw the request closed');
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

for (const kind of ['completions-server', 'ollama'] as ServedSlmKind[]) {
  test(`${kind}: keep-alive events that arrive many to a read are counted one by one: closed at the 1,000th, whatever the reads`, async () => {
    // Batches of events with no token (SSE comments and blank lines among them, a line each): a
    // few dozen reads hold them all, so a bound on reads would let the server run out its own.
    const batch =
      kind === 'ollama'
        ? `\n${JSON.stringify({ model: 'm', response: '', done: false })}\n`.repeat(100)
        : `: keep-alive\n\ndata: \n\n${sseLine({ choices: [{ index: 0, text: '', finish_reason: null }] })}`.repeat(50);
    let batches: Promise<number> = Promise.resolve(0);
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': kind === 'ollama' ? 'application/x-ndjson' : 'text/event-stream' });
      batches = writeOnAndOn(res, () => batch);
    };
    await assert.rejects(generateWith(kind, 50), (error: Error) => {
      assert.match(error.message, STARVED);
      assert.equal(STARVED.exec(error.message)?.[1], '1000', error.message);
      assert.match(error.message, LONG_PROMPT);
      return true;
    });
    assert.ok((await batches) < SERVER_PIECES, 'the server saw the request closed');
  });
}

test('completions-server: a server that sends only SSE field lines that add no data (event:, id:, retry:) and never a token: closed at the 1,000th', async () => {
  let pieces: Promise<number> = Promise.resolve(0);
  handler = (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const lines = ['event: ping\n', 'id: 7\r\n', 'retry: 100\r'];
    pieces = writeOnAndOn(res, (i) => Array.from({ length: 10 }, (_, j) => lines[(i * 10 + j) % lines.length]).join(''));
  };
  await assert.rejects(generateWith('completions-server', 50), (error: Error) => {
    assert.match(error.message, STARVED);
    assert.equal(STARVED.exec(error.message)?.[1], '1000', error.message);
    return true;
  });
  assert.ok((await pieces) < SERVER_PIECES, 'the server saw the request closed');
});

/** A line the parser drops, as a server writes it to keep the connection alive: an SSE comment, a blank NDJSON line. */
const keepAliveLine = (kind: ServedSlmKind) => (kind === 'ollama' ? '\n' : ': keep-alive\n');

for (const kind of ['completions-server', 'ollama'] as ServedSlmKind[]) {
  test(`${kind}: a server that sends only ${kind === 'ollama' ? 'blank lines' : 'SSE comments'} and never a token: closed at the 1,000th, not after the minutes of the waits for a token`, async () => {
    let pieces: Promise<number> = Promise.resolve(0);
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': kind === 'ollama' ? 'application/x-ndjson' : 'text/event-stream' });
      // Ten to a piece (SSE lines ending in LF, CRLF or CR: one each): the server runs out its own bound (4,000 lines) if they are not counted.
      const lines = kind === 'ollama' ? ['\n', '\r\n'] : [': keep-alive\n', ':\r\n', ': ping\r'];
      pieces = writeOnAndOn(res, (i) => Array.from({ length: 10 }, (_, j) => lines[(i * 10 + j) % lines.length]).join(''));
    };
    await assert.rejects(generateWith(kind, 50), (error: Error) => {
      assert.match(error.message, STARVED);
      assert.equal(STARVED.exec(error.message)?.[1], '1000', error.message);
      assert.match(error.message, LONG_PROMPT);
      return true;
    });
    assert.ok((await pieces) < SERVER_PIECES, 'the server saw the request closed');
  });

  test(`${kind}: ${kind === 'ollama' ? 'blank lines' : 'SSE comments'} between tokens, 999 in a row before each, are no failure: the count starts again at each token`, async () => {
    const id = tokenizer.encode(' one')[0];
    const token = (last: boolean) =>
      kind === 'ollama'
        ? `${JSON.stringify({ response: ' one', done: last, logprobs: [{ token: ' one', logprob: -0.01, top_logprobs: [] }] })}\n`
        : sseLine({
            choices: [
              {
                text: ' one',
                logprobs: { tokens: [`token_id:${id}`], token_logprobs: [-0.01], top_logprobs: [{ [`token_id:${id}`]: -0.01 }] },
                finish_reason: last ? 'stop' : null,
              },
            ],
          });
    handler = (_req, res) => {
      res.writeHead(200, { 'content-type': kind === 'ollama' ? 'application/x-ndjson' : 'text/event-stream' });
      void writeOnAndOn(res, (i) => (i < 3 ? keepAliveLine(kind).repeat(999) + token(i === 2) : ''));
    };
    const result = await generateWith(kind, 50);
    assert.equal(result.stopReason, 'eos');
    assert.equal(result.text, ' one one one');
  });
}

test('a model the server does not serve, and a model list that cannot be had: the error comes anyway, without the list', async () => {
  let listAsked = false;
  handler = (req, res) => {
    if (req.method === 'GET') {
      listAsked = req.url === '/v1/models';
      return void req.socket.destroy();
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'The model `m` does not exist.', type: 'NotFoundError', code: 404 } }));
  };
  await assert.rejects(
    generateWith('completions-server', 5),
    /does not serve the model 'm'\. Set relay\.slm\.serverModel \(CLI: --slm-model\) to a model it serves\. The server said: The model `m` does not exist\.$/,
  );
  assert.ok(listAsked, 'the list was asked for');
});

/** How long a held model list waits before it answers anyway: past the short deadline below, before the default 5 s (a deadline not honoured reads the list). */
const LATE_LIST_MS = 2_000;

test("a model list that does not come within the list's deadline is not waited for (the request is closed), and the list it would have given is not read", async () => {
  let closedFirst: Promise<boolean> = Promise.resolve(false);
  handler = (_req, res) => {
    closedFirst = new Promise((resolve) => {
      const late = setTimeout(() => {
        resolve(false);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ object: 'list', data: [{ id: 'm', object: 'model' }] }));
      }, LATE_LIST_MS);
      res.on('close', () => {
        clearTimeout(late);
        resolve(true);
      });
    });
  };
  assert.equal(await servedModels(completionsServerWireForm, new URL(`${origin}/v1`), { deadlineMs: 100 }), undefined);
  assert.equal(await closedFirst, true, 'the client closed the request before the list came');
});

test('a Stop while the model list is asked for (after the server said it does not serve the model): the answer is cancelled, not an error', async () => {
  const stop = new AbortController();
  let listAsked = false;
  handler = (req, res) => {
    if (req.method === 'GET') {
      // Held (the server closes every connection after the tests): the Stop comes meanwhile.
      listAsked = true;
      return void stop.abort();
    }
    res.writeHead(404, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'The model `m` does not exist.', type: 'NotFoundError', code: 404 } }));
  };
  const result = await generateWith('completions-server', 5, undefined, stop.signal);
  assert.ok(listAsked, 'the list was asked for');
  assert.equal(result.stopReason, 'cancelled');
  assert.equal(result.text, '');
});
