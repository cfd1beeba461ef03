/**
 * The served wire forms as each server writes them (vLLM's legacy completions logprobs with
 * token_id:N, llama.cpp's chat-form logprobs with ids and timings on every piece, Ollama's
 * NDJSON), and a served session reading a stream that puts several tokens in one piece.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { completionsServerWireForm } from '../../../src/core/slm/served/completionsServer';
import { ollamaWireForm } from '../../../src/core/slm/served/ollamaServer';
import { createServedRuntime } from '../../../src/core/slm/served/servedRuntime';
import { confidenceOf } from '../../../src/core/slm/served/wireForm';
import { readTokenizerFolder } from '../../../src/core/slm/modelFolder';
import { SlmTokenizer } from '../../../src/core/slm/tokenizer';
import { ensureScriptedModel } from '../../fixtures/fixtures';

test('addresses: a configured /v1 is kept, a bare origin gets it; Ollama its /api paths', () => {
  const c = completionsServerWireForm;
  assert.equal(c.endpoint(new URL('http://h:8000/v1')).href, 'http://h:8000/v1/completions');
  assert.equal(c.endpoint(new URL('http://h:8000/v1/')).href, 'http://h:8000/v1/completions');
  assert.equal(c.endpoint(new URL('http://h:8000')).href, 'http://h:8000/v1/completions');
  assert.equal(c.endpoint(new URL('http://h/proxy/slm/v1')).href, 'http://h/proxy/slm/v1/completions');
  assert.equal(c.modelsEndpoint(new URL('http://h:8000')).href, 'http://h:8000/v1/models');
  assert.equal(ollamaWireForm.endpoint(new URL('http://h:11434/')).href, 'http://h:11434/api/generate');
});

test('confidence from top log-probabilities: top-1 and margin exact, entropy over what was reported', () => {
  const c = confidenceOf([Math.log(0.2), Math.log(0.7), Math.log(0.05)]);
  assert.ok(c);
  assert.ok(Math.abs(c.top1 - 0.7) < 1e-12);
  assert.ok(Math.abs(c.margin - 0.5) < 1e-12);
  const expected = -(0.7 * Math.log(0.7) + 0.2 * Math.log(0.2) + 0.05 * Math.log(0.05) + 0.05 * Math.log(0.05));
  assert.ok(Math.abs(c.entropy - expected) < 1e-12);
  assert.equal(confidenceOf([]), undefined);
  assert.equal(confidenceOf([Number.NaN, 3]), undefined, 'junk is not a probability');
});

test("vLLM's stream: token_id:N tokens and their alternatives; cached prompt tokens from the usage chunk only", () => {
  const piece = completionsServerWireForm.parse({
    choices: [
      {
        index: 0,
        text: ' a b',
        logprobs: {
          tokens: ['token_id:11', 'token_id:12'],
          token_logprobs: [-0.1, -0.2],
          top_logprobs: [{ 'token_id:11': -0.1, 'token_id:9': -3 }, { 'token_id:12': -0.2 }],
        },
        finish_reason: null,
      },
    ],
  });
  assert.deepEqual(
    piece?.tokens.map((t) => t.id),
    [11, 12],
  );
  assert.deepEqual(piece?.tokens[0].topLogprobs.sort(), [-0.1, -0.1, -3].sort());
  assert.equal(piece?.finish, undefined);
  assert.equal(piece?.cachedPromptTokens, undefined);
  const usage = completionsServerWireForm.parse({
    choices: [],
    usage: { prompt_tokens: 120, completion_tokens: 4, prompt_tokens_details: { cached_tokens: 96 } },
  });
  assert.equal(usage?.cachedPromptTokens, 96);
  assert.equal(usage?.promptTokens, 120);
  assert.equal(completionsServerWireForm.parse({ choices: [{ text: '', finish_reason: 'length' }] })?.finish, 'length');
  assert.equal(completionsServerWireForm.parse({ choices: [{ text: '', finish_reason: 'stop' }] })?.finish, 'stop');
  assert.match(completionsServerWireForm.parse({ error: { message: 'boom' } })?.error ?? '', /boom/);
});

test("llama.cpp's stream: chat-form logprobs with ids; its timings count only on the last piece", () => {
  const partial = completionsServerWireForm.parse({
    choices: [
      {
        text: 'Hi',
        index: 0,
        logprobs: {
          content: [
            {
              id: 7,
              token: 'Hi',
              logprob: -0.5,
              top_logprobs: [
                { id: 7, token: 'Hi', logprob: -0.5 },
                { id: 8, token: 'Ho', logprob: -1.5 },
              ],
            },
          ],
        },
        finish_reason: null,
      },
    ],
    timings: { cache_n: 30, prompt_n: 2 },
  });
  assert.deepEqual(
    partial?.tokens.map((t) => [t.id, t.piece]),
    [[7, 'Hi']],
  );
  assert.equal(partial?.cachedPromptTokens, undefined, 'not summed once per piece');
  const last = completionsServerWireForm.parse({
    choices: [{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 32 },
    timings: { cache_n: 30, prompt_n: 2 },
  });
  assert.equal(last?.cachedPromptTokens, 30);
  assert.equal(last?.finish, 'stop');
});

test("Ollama's NDJSON: tokens by their text, done_reason", () => {
  const piece = ollamaWireForm.parse({
    model: 'm',
    response: ' x',
    done: false,
    logprobs: [
      {
        token: ' x',
        logprob: -0.01,
        top_logprobs: [
          { token: ' x', logprob: -0.01 },
          { token: ' y', logprob: -5 },
        ],
      },
    ],
  });
  assert.deepEqual(
    piece?.tokens.map((t) => [t.id, t.piece]),
    [[undefined, ' x']],
  );
  assert.equal(ollamaWireForm.parse({ response: '', done: true, done_reason: 'length', prompt_eval_count: 12 })?.finish, 'length');
  assert.equal(ollamaWireForm.parse({ response: '', done: true, done_reason: 'stop' })?.finish, 'stop');
  assert.match(ollamaWireForm.parse({ error: "model 'q' not found" })?.error ?? '', /not found/);
});

let folder: string;
let server: Server;
let url: string;
let tokenizer: SlmTokenizer;
/** The SSE body the next request gets. */
let nextBody = '';

before(async () => {
  folder = await ensureScriptedModel({ prompt: 'x', timeline: [{ text: ' y' }], endWithEos: true });
  const files = readTokenizerFolder(folder);
  tokenizer = await SlmTokenizer.create(files.tokenizerJson, files.tokenizerConfig);
  server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      res.end(nextBody);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`;
});

after(async () => {
  server.closeAllConnections();
  await new Promise<void>((resolve) => server.close(() => resolve()));
});

const sse = (events: unknown[]) => events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n';

test('a piece with several tokens: the gate refuses the middle one; the tokens before it are kept with their text, the rest counted as waste', async () => {
  const ids = tokenizer.encode(' one two three four');
  assert.equal(ids.length, 4);
  const top = [-0.05, -0.05, Math.log(0.3), -0.05];
  nextBody = sse([
    {
      choices: [
        {
          text: ' one two three four',
          logprobs: { tokens: ids.map((id) => `token_id:${id}`), token_logprobs: top, top_logprobs: ids.map((id, i) => ({ [`token_id:${id}`]: top[i] })) },
          finish_reason: null,
        },
      ],
    },
    { choices: [{ text: '', finish_reason: 'length' }] },
  ]);
  const runtime = await createServedRuntime({ kind: 'completions-server', url, model: 'm', folder });
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    const result = await session.generate({ maxTokens: 10, minTop1: 0.5 });
    assert.equal(result.stopReason, 'low_confidence');
    assert.equal(result.text, ' one two');
    assert.equal(result.refusedToken?.text, ' three');
    assert.ok(Math.abs((result.refusedToken?.top1 ?? 0) - 0.3) < 1e-9);
    assert.equal(result.discardedTokens, 2, 'the refused token and the one after it');
    assert.equal(result.contextLength, tokenizer.encode('Q:').length + 2);
  } finally {
    await runtime.dispose();
  }
});

test("an id the folder's tokenizer does not have is no id: the server's text is kept, the context goes as text", async () => {
  nextBody = sse([
    {
      choices: [
        {
          text: ' hello',
          logprobs: { tokens: ['token_id:999999999'], token_logprobs: [-0.01], top_logprobs: [{ 'token_id:999999999': -0.01 }] },
          finish_reason: null,
        },
      ],
    },
    { choices: [{ text: '', finish_reason: 'length' }] },
  ]);
  const runtime = await createServedRuntime({ kind: 'completions-server', url, model: 'm', folder });
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    const result = await session.generate({ maxTokens: 1 });
    assert.equal(result.text, ' hello');
    assert.equal(result.tokens[0].id, -1);
    assert.equal(runtime.exactTokens, false);
  } finally {
    await runtime.dispose();
  }
});

test('the stop string ends the generation where it appears, as the local runtime does', async () => {
  const text = ' so<call>5</call> more';
  const ids = tokenizer.encode(text);
  nextBody = sse([
    ...ids.map((id) => ({
      choices: [
        {
          text: tokenizer.decode([id]),
          logprobs: { tokens: [`token_id:${id}`], token_logprobs: [-0.01], top_logprobs: [{ [`token_id:${id}`]: -0.01 }] },
          finish_reason: null,
        },
      ],
    })),
    { choices: [{ text: '', finish_reason: 'length' }] },
  ]);
  const runtime = await createServedRuntime({ kind: 'completions-server', url, model: 'm', folder });
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    const result = await session.generate({ maxTokens: 50, stopStrings: ['</call>'] });
    assert.equal(result.stopReason, 'stop_string');
    assert.equal(result.text, ' so<call>5</call>');
  } finally {
    await runtime.dispose();
  }
});
