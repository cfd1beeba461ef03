/**
 * OpenAI's pro models (gpt-5-pro, gpt-5.x-pro, o1-pro, o3-pro) reason for minutes before they
 * write, and their Responses stream is silent meanwhile: response.created, response.in_progress,
 * the reasoning item, then nothing until the text. Against a 127.0.0.1 server that speaks that
 * stream with a silent gap longer than the first-byte and idle timeouts (scaled down: 0.2 s
 * timeouts, a 0.6 s gap): a pro model's call waits for its output within the call timeout,
 * which ends it with its own error; once the text flows the idle timeout applies again; other
 * models keep the usual waits. No timing is asserted: only how each call ends.
 */
import assert from 'node:assert/strict';
import type { ServerResponse } from 'node:http';
import { test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { createAgents, postStream } from '../../../src/core/providers/http';
import { openAiModelTraits } from '../../../src/core/providers/modelCapabilities';
import type { LlmProvider, ProviderConfig } from '../../../src/core/providers/types';
import { sendJson, type Responder } from './servers/harness';
import { openAiStream } from './servers/openai';
import { openAiKeys, PRO_PRELUDE, PRO_USAGE, proText, proTextBegins, proTextEnds, useOpenAiServer } from './servers/proReasoning';
import { REQUEST, collect, collectError, within } from './servers/collect';

/** The waits under test, scaled down; the gaps are three times as long. */
const SHORT = { connectTimeoutMs: 5000, firstByteTimeoutMs: 200, idleTimeoutMs: 200, callTimeoutMs: 30_000, retryBaseDelayMs: 1, maxRetries: 0 };
const GAP_MS = 600;

const openAi = useOpenAiServer(openAiStream({ pieces: [' unused'] }));
const provider = (model: string, extra: Partial<ProviderConfig> = {}): LlmProvider => openAi.provider(model, { ...SHORT, ...extra });

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const TEXT = [' Paris', ' is', ' a', ' city'];

/** Writes unless the client has gone. */
const write = (res: ServerResponse, text: string) => {
  if (!res.destroyed) res.write(text);
};

/**
 * The prelude, `reasonMs` of silence, then the text: whole, or (`pauseAfterFirstMs`) its first
 * piece, a silence, the rest. `reasonMs` Infinity: silent until the client leaves.
 */
function reasonsThenWrites(reasonMs: number, pauseAfterFirstMs?: number): Responder {
  return async (_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    write(res, PRO_PRELUDE);
    if (reasonMs === Infinity) return;
    await pause(reasonMs);
    if (pauseAfterFirstMs === undefined) return void (res.destroyed || res.end(proText(TEXT)));
    write(res, proTextBegins(TEXT.slice(0, 1)));
    await pause(pauseAfterFirstMs);
    if (!res.destroyed) res.end(proTextEnds(TEXT.slice(1)));
  };
}

test('the table: the pro models reason for minutes; the other reasoning models, at the lowest effort Relay sends, do not', () => {
  for (const id of ['gpt-5-pro', 'gpt-5-pro-2025-10-06', 'gpt-5.4-pro', 'gpt-5.5-pro', 'o1-pro', 'o3-pro', 'openai/o3-pro'])
    assert.equal(openAiModelTraits(id).reasonsForMinutes, true, id);
  for (const id of ['gpt-5', 'gpt-5.1', 'o3', 'o4-mini', 'gpt-5.1-codex', 'codex-mini-latest', 'gpt-4.1', 'gpt-5-chat-latest'])
    assert.equal(openAiModelTraits(id).reasonsForMinutes, false, id);
});

test('gpt-5-pro silent while it reasons, longer than the idle and first-byte timeouts: the call waits for its text and completes', async () => {
  openAi.server.enqueue(reasonsThenWrites(GAP_MS));
  const out = await within(collect(provider('gpt-5-pro'), { ...REQUEST, partialAnswer: '', maxTokens: 100 }), 20_000, 'the call');
  assert.equal(out.text, TEXT.join(''));
  assert.equal(out.finishReason, 'stop');
  assert.equal(out.usage?.reasoningTokens, 296, 'the billed reasoning is booked');
});

test('o3-pro likewise; a model that does not reason for minutes (gpt-5.1-codex) still ends at the idle timeout, naming it', async () => {
  openAi.server.enqueue(reasonsThenWrites(GAP_MS));
  const pro = await within(collect(provider('o3-pro'), { ...REQUEST, maxTokens: 100 }), 20_000, 'the o3-pro call');
  assert.equal(pro.finishReason, 'stop');

  openAi.server.enqueue(reasonsThenWrites(GAP_MS));
  const error = await within(collectError(provider('gpt-5.1-codex'), { ...REQUEST, maxTokens: 100 }), 20_000, 'the codex call');
  assert.equal(error.code, 'timeout');
  assert.match(error.message, /sent nothing for 0\.2 s in the middle of its response.*relay\.provider\.idleTimeoutSeconds/);
});

test('once the text flows, the idle timeout applies again to a pro model: a silence after its first piece ends the call', async () => {
  openAi.server.enqueue(reasonsThenWrites(GAP_MS, GAP_MS));
  const seen: string[] = [];
  let error: any;
  try {
    await within(
      collect(provider('gpt-5-pro'), { ...REQUEST, partialAnswer: '', maxTokens: 100 }, undefined, (c) => c.type === 'text' && seen.push(c.text)),
      20_000,
      'the call',
    );
  } catch (e) {
    error = e;
  }
  assert.deepEqual(seen, [' Paris']);
  assert.equal(error?.code, 'timeout');
  assert.match(error.message, /sent nothing for 0\.2 s in the middle of its response/);
  assert.equal(error.responseStarted, true);
});

test('on chat (a proxy that serves gpt-5-pro there, sending only keep-alive comments while it reasons): the same waits, idle again once text flows', async () => {
  const chunk = (content: string, finish: string | null = null) =>
    `data: ${JSON.stringify({ choices: [{ index: 0, delta: { content }, finish_reason: finish }] })}\n\n`;
  openAi.server.enqueue(async (_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    write(res, ': OPENROUTER PROCESSING\n\n');
    await pause(GAP_MS);
    write(res, chunk(TEXT[0]));
    await pause(GAP_MS);
    if (!res.destroyed)
      res.end(
        TEXT.slice(1)
          .map((t) => chunk(t))
          .join('') +
          chunk('', 'stop') +
          'data: [DONE]\n\n',
      );
  });
  const seen: string[] = [];
  const chat = createProvider({ kind: 'openai-chat', baseUrl: `${openAi.server.url}/v1`, model: 'gpt-5-pro', ...SHORT }, openAiKeys());
  const error = await within(
    collect(chat, { ...REQUEST, partialAnswer: '', maxTokens: 100 }, undefined, (c) => c.type === 'text' && seen.push(c.text)).then(
      () => undefined,
      (e: any) => e,
    ),
    20_000,
    'the call',
  );
  assert.equal(openAi.server.lastRequest.path, '/v1/chat/completions');
  assert.deepEqual(seen, [' Paris'], 'the silence before the text was waited out');
  assert.equal(error?.code, 'timeout');
  assert.match(error.message, /sent nothing for 0\.2 s in the middle of its response/);
});

test('the call timeout ends a pro model that reasons past it, with its own error: pro models can think for minutes, raise relay.provider.callTimeoutSeconds', async () => {
  let closed!: () => void;
  const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
  openAi.server.enqueue((request, res) => {
    res.on('close', () => closed());
    return reasonsThenWrites(Infinity)(request, res);
  });
  const error = await within(collectError(provider('gpt-5-pro', { callTimeoutMs: 1000 }), { ...REQUEST, maxTokens: 100 }), 20_000, 'the call');
  assert.equal(error.code, 'timeout');
  assert.match(error.message, /took more than 1 s in all/);
  assert.match(error.message, /pro models.*can think for minutes before they write/);
  assert.match(error.message, /raise relay\.provider\.callTimeoutSeconds/);
  assert.equal(error.responseStarted, true, 'the response had begun: the call may be billed');
  await within(connectionClosed, 10_000, 'the server seeing the request closed');
});

test('a pro model the server will not stream for: the whole body, sent when the reasoning is done, is waited for past the first-byte timeout', async () => {
  const refuseStream: Responder = (_request, res) =>
    sendJson(res, 400, {
      error: {
        message: 'Your organization must be verified to stream this model.',
        type: 'invalid_request_error',
        param: 'stream',
        code: 'unsupported_value',
      },
    });
  const wholeWhenDone: Responder = async (_request, res) => {
    await pause(GAP_MS);
    if (res.destroyed) return;
    sendJson(res, 200, { status: 'completed', output: [{ type: 'message', content: [{ type: 'output_text', text: TEXT.join('') }] }], usage: PRO_USAGE });
  };
  openAi.server.enqueue(refuseStream, wholeWhenDone);
  const out = await within(collect(provider('gpt-5-pro'), { ...REQUEST, partialAnswer: '', maxTokens: 100 }), 20_000, 'the call');
  assert.equal(out.text, TEXT.join(''));
  assert.equal(out.finishReason, 'stop');
  assert.equal(openAi.server.requests.at(-1)?.body.stream, undefined, 'asked without stream');

  // The same body for a model that writes at once: the first-byte timeout still bounds it.
  openAi.server.enqueue(refuseStream, wholeWhenDone);
  const error = await within(collectError(provider('gpt-5.1-codex'), { ...REQUEST, maxTokens: 100 }), 20_000, 'the codex call');
  assert.equal(error.code, 'timeout');
  assert.match(error.message, /sent no response for 0\.2 s/);
});

test('postStream alone: quietUntilOutputMs bounds the wait for the output (no wait is unbounded), and its error names the call timeout', async () => {
  openAi.server.enqueue(reasonsThenWrites(Infinity));
  const response = await postStream({
    url: new URL(`${openAi.server.url}/v1/responses`),
    headers: {},
    body: { model: 'gpt-5-pro', input: 'Q', stream: true },
    keyEnv: ['OPENAI_API_KEY'],
    timeouts: { connectTimeoutMs: 5000, firstByteTimeoutMs: 100, idleTimeoutMs: 100 },
    quietUntilOutputMs: 400,
    secrets: [],
    agents: createAgents(),
  });
  const error = await within(
    (async () => {
      try {
        for await (const _bytes of response.body) {
          // Framing only: the output never starts.
        }
      } catch (e) {
        return e as any;
      }
      throw new Error('expected the body to fail');
    })(),
    20_000,
    'the body',
  );
  assert.equal(error.code, 'timeout');
  assert.match(error.message, /no output for 0\.4 s/);
  assert.match(error.message, /relay\.provider\.callTimeoutSeconds/);
});
