/**
 * OpenAI's Responses-only models (gpt-5-pro, o3-pro, the codex models) through the openai-chat
 * provider, against a 127.0.0.1 server that speaks /responses as OpenAI does and answers those
 * models on /chat/completions with its 404 (servers/openai.ts). api.openai.com and Azure are
 * reached through a loopback agent: the provider acts as it does toward them, nothing leaves
 * the machine.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { forgetLearnedFacts, openAiModelTraits } from '../../../src/core/providers/modelCapabilities';
import { CONTINUE_INSTRUCTION, openAiChatEntry, type OpenAiChatProvider } from '../../../src/core/providers/openai';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ContinueRequest, LlmProvider, ProviderChunk, ProviderConfig } from '../../../src/core/providers/types';
import { collectRelay } from '../../../src/core/relay/engine';
import { chars, DoubleRuntime } from '../relay/doubles';
import { FakeServer, loopbackAgent, sendJson, startFakeServer, type Responder } from './servers/harness';
import { RESPONSES_ONLY_MESSAGE, openAiInputTokens, openAiStream } from './servers/openai';
import { FAST, REQUEST, collect, collectError, within } from './servers/collect';

const KEY = 'sk-test-rsp-0123456789abcdef';
const OPENAI = 'http://api.openai.com/v1';
const AZURE = 'http://my-resource.openai.azure.com/openai/v1';
const PIECES = [' Paris', ' is', ' a', ' city'];

let server: FakeServer;
before(async () => {
  server = await startFakeServer(openAiStream({ pieces: PIECES }));
});
after(() => server.close());
beforeEach(() => {
  forgetLearnedFacts();
  server.queue.length = 0;
});

const provider = (model: string, baseUrl: string, extra: Partial<ProviderConfig> = {}): OpenAiChatProvider =>
  createProvider(
    { kind: 'openai-chat', baseUrl, model, ...FAST, maxRetries: 0, ...extra },
    new MemoryKeySource({ 'openai-chat': KEY }),
    baseUrl.includes('127.0.0.1') ? {} : { agents: { http: loopbackAgent(server.url) } },
  ) as OpenAiChatProvider;

async function call(p: LlmProvider, request: ContinueRequest = REQUEST) {
  const before = server.requests.length;
  const out = await collect(p, request);
  return { out, sent: server.requests.slice(before) };
}

/** Reasoning this short leaves room for the text within max_output_tokens' floor of 16. */
const briefReasoning = () => openAiStream({ pieces: PIECES, reasoning: { high: 3, medium: 3, low: 2 } });

test('the table: pro and codex models are Responses-only, with the lowest effort each takes; the chat models are not', () => {
  const t = (id: string) => [openAiModelTraits(id).responsesOnly, openAiModelTraits(id).lowestEffort];
  assert.deepEqual(t('gpt-5-pro'), [true, 'high']);
  assert.deepEqual(t('gpt-5-pro-2025-10-06'), [true, 'high']);
  assert.deepEqual(t('gpt-5.4-pro'), [true, 'medium']);
  assert.deepEqual(t('o1-pro'), [true, 'low']);
  assert.deepEqual(t('openai/o3-pro'), [true, 'low']);
  assert.deepEqual(t('gpt-5-codex'), [true, 'low']);
  assert.deepEqual(t('gpt-5.1-codex'), [true, 'low']);
  assert.deepEqual(t('gpt-5.1-codex-max'), [true, 'low']);
  assert.deepEqual(t('gpt-5.1-codex-mini'), [true, 'medium']);
  assert.deepEqual(t('codex-mini-latest'), [true, 'low']);
  for (const id of ['gpt-5', 'gpt-5.1', 'gpt-5-mini', 'o3', 'o4-mini', 'gpt-4.1', 'gpt-5-chat-latest'])
    assert.equal(openAiModelTraits(id).responsesOnly, false, id);
});

test('gpt-5-pro answers through the real engine on /v1/responses: one request, its text, and usage with cached and reasoning tokens booked', async () => {
  server.enqueue(
    openAiStream({ pieces: PIECES, reasoning: { high: 3 }, usage: { prompt_tokens: 3000, completion_tokens: 7, cached_tokens: 2048, reasoning_tokens: 3 } }),
  );
  const llm = provider('gpt-5-pro', OPENAI);
  assert.equal(llm.continuation, 'instructed', 'the Responses API has no prefill');
  assert.equal(llm.limitBoundsReasoning, true, 'max_output_tokens bounds reasoning and text');
  assert.equal(llm.minOutputTokens, 16, 'a shorter span is asked, and quoted, as 16');
  assert.equal(provider('gpt-5.1', OPENAI).minOutputTokens, undefined, 'chat asks for N');
  assert.equal(llm.sentTemperature(0.7), null, 'gpt-5-pro refuses a temperature: none is sent');
  const before = server.requests.length;
  const { answer, stats } = await collectRelay({
    mode: 'llm-only',
    slm: new DoubleRuntime([]),
    llm,
    messages: [{ role: 'user', content: 'What is the capital of France?' }],
    tokenBudget: 100,
  });
  const sent = server.requests.slice(before);
  assert.deepEqual(
    sent.map((r) => r.path),
    ['/v1/responses'],
  );
  assert.equal(sent[0].headers.host, 'api.openai.com', 'the key goes to the base URL’s own origin');
  assert.equal(sent[0].headers.authorization, `Bearer ${KEY}`);
  assert.equal(sent[0].body.model, 'gpt-5-pro');
  assert.deepEqual(sent[0].body.reasoning, { effort: 'high' }, 'the only effort gpt-5-pro takes');
  assert.equal(sent[0].body.store, false);
  assert.equal(sent[0].body.stream, true);
  assert.match(answer, /Paris is a city/);
  assert.equal(stats.llmUsage.inputTokens, 3000);
  assert.equal(stats.llmUsage.cachedInputTokens, 2048);
  assert.equal(stats.llmUsage.outputTokens, 7);
  assert.equal(stats.llmUsage.reasoningTokens, 3);
  assert.equal(stats.llmUsage.estimated, false);
});

test('the Responses body: input items, max_output_tokens (at least 16), reasoning, store:false, prompt_cache_key; no temperature, top_p, seed, max_tokens or max_completion_tokens', async () => {
  server.enqueue(briefReasoning());
  const p = provider('gpt-5.1-codex', OPENAI);
  const { out, sent } = await call(p, { ...REQUEST, cacheKey: 'answer-7f3a' });
  assert.equal(sent.length, 1);
  assert.equal(sent[0].path, '/v1/responses');
  const body = sent[0].body;
  assert.deepEqual(Object.keys(body).sort(), ['input', 'max_output_tokens', 'model', 'prompt_cache_key', 'reasoning', 'store', 'stream']);
  assert.equal(body.max_output_tokens, 16, 'the API refuses fewer than 16; N was 4');
  assert.deepEqual(body.reasoning, { effort: 'low' });
  assert.equal(body.prompt_cache_key, 'answer-7f3a');
  assert.deepEqual(body.input, [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'What is the capital of France?' },
    { role: 'assistant', content: 'The capital of France is' },
    { role: 'user', content: CONTINUE_INSTRUCTION },
  ]);
  assert.equal(out.text, ' Paris is a city');
  assert.equal(out.finishReason, 'stop');
  assert.deepEqual(out.chunks.at(-1), { type: 'done', finishReason: 'stop', continuation: 'instructed' });
  assert.deepEqual(out.usage, { inputTokens: 40, outputTokens: 6, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false, reasoningTokens: 2 });
  assert.deepEqual(p.buildBody({ ...REQUEST, cacheKey: 'answer-7f3a' }), body, 'buildBody is what goes');
});

test('Azure OpenAI: a chat 404 "only supported in v1/responses" is sent again once on /openai/v1/responses, and the model is remembered there', async () => {
  const p = provider('team-reviewer', AZURE);
  assert.equal(p.usesResponses(), false, 'a deployment name the table cannot place starts on chat');
  const first = await call(p, { ...REQUEST, maxTokens: 100 });
  assert.deepEqual(
    first.sent.map((r) => r.path),
    ['/openai/v1/chat/completions', '/openai/v1/responses', '/openai/v1/responses', '/openai/v1/responses'],
    'chat refused (404, unbilled); then /responses, whose temperature and top_p refusals are fixed as on chat',
  );
  assert.ok(first.sent.every((r) => r.headers.host === 'my-resource.openai.azure.com' && r.headers['api-key'] === KEY));
  assert.equal(first.sent[3].body.temperature, undefined);
  assert.equal(first.sent[3].body.top_p, undefined);
  assert.equal(first.out.text, ' Paris is a city');
  assert.equal(p.continuation, 'instructed');
  assert.equal(p.limitBoundsReasoning, true);

  // The next call goes straight to /responses (billed reasoning without an effort: the lowest the model lists is learned, as on chat).
  const second = await call(p, { ...REQUEST, maxTokens: 100 });
  assert.ok(second.sent.every((r) => r.path === '/openai/v1/responses'));
  assert.deepEqual(second.sent.at(-1)?.body.reasoning, { effort: 'low' });
  const third = await call(provider('team-reviewer', AZURE), { ...REQUEST, maxTokens: 100 });
  assert.deepEqual(
    third.sent.map((r) => r.path),
    ['/openai/v1/responses'],
    'a new provider for the model knows it too',
  );
});

test('Azure on a Foundry / AI Services address (*.cognitiveservices.azure.com): a codex model goes to /openai/v1/responses at once, the key in api-key, with prompt_cache_key', async () => {
  server.enqueue(briefReasoning());
  const p = provider('gpt-5.1-codex', 'http://x.cognitiveservices.azure.com/openai/v1');
  assert.equal(p.usesResponses(), true);
  assert.equal(p.responsesUrl().pathname, '/openai/v1/responses');
  const { out, sent } = await call(p, { ...REQUEST, cacheKey: 'answer-7f3a' });
  assert.deepEqual(
    sent.map((r) => r.path),
    ['/openai/v1/responses'],
  );
  assert.equal(sent[0].headers.host, 'x.cognitiveservices.azure.com');
  assert.equal(sent[0].headers['api-key'], KEY);
  assert.equal(sent[0].headers.authorization, undefined);
  assert.equal(sent[0].body.prompt_cache_key, 'answer-7f3a');
  assert.equal(out.text, ' Paris is a city');
  assert.deepEqual(
    openAiChatEntry.cacheRule?.(new URL('https://x.cognitiveservices.azure.com/openai/v1'), 'gpt-4.1'),
    openAiChatEntry.cacheRule?.(new URL('https://x.openai.azure.com/openai/v1'), 'gpt-4.1'),
    'cached the same as on *.openai.azure.com',
  );
});

test('Azure on *.services.ai.azure.com: a deployment refused on chat with Azure\'s 400 ("The chatCompletion operation does not work") is sent again on /openai/v1/responses', async () => {
  const azureRefusal: Responder = (request, res) =>
    sendJson(res, 400, {
      error: {
        code: 'OperationNotSupported',
        message: `The chatCompletion operation does not work with the specified model, ${request.body?.model}. Please choose different model and try again.`,
      },
    });
  server.enqueue(azureRefusal);
  const p = provider('team-reviewer', 'http://x.services.ai.azure.com/openai/v1');
  const { out, sent } = await call(p, { ...REQUEST, temperature: undefined, topP: undefined, maxTokens: 100 });
  assert.deepEqual(
    sent.map((r) => r.path),
    ['/openai/v1/chat/completions', '/openai/v1/responses'],
  );
  assert.ok(sent.every((r) => r.headers.host === 'x.services.ai.azure.com' && r.headers['api-key'] === KEY));
  assert.equal(out.text, ' Paris is a city');
  assert.equal(p.usesResponses(), true, 'remembered for the next calls');
});

test('api.openai.com: a model the table does not know as Responses-only is switched once; a /responses that refuses it too is the error, after two requests', async () => {
  const refuseChat: Responder = (_request, res) =>
    sendJson(res, 404, { error: { message: RESPONSES_ONLY_MESSAGE, type: 'invalid_request_error', param: 'model', code: null } });
  server.enqueue(refuseChat, briefReasoning());
  const switched = await call(provider('gpt-5.9', OPENAI));
  assert.deepEqual(
    switched.sent.map((r) => r.path),
    ['/v1/chat/completions', '/v1/responses'],
  );
  assert.equal(switched.out.text, ' Paris is a city');

  const gone: Responder = (_request, res) =>
    sendJson(res, 404, {
      error: { message: 'The model `gpt-5.8` does not exist or you do not have access to it.', type: 'invalid_request_error', code: 'model_not_found' },
    });
  server.enqueue(refuseChat, gone);
  const before = server.requests.length;
  const error = await collectError(provider('gpt-5.8', OPENAI), REQUEST);
  assert.equal(server.requests.length - before, 2, 'retried once, not again');
  assert.equal(error.code, 'model_not_found');
  assert.match(error.message, /does not exist or you do not have access/);
});

test('other hosts (a local proxy, OpenRouter) never switch: the model goes to chat and its 404 is the error', async () => {
  for (const baseUrl of [`${server.url}/v1`, 'http://openrouter.ai/api/v1']) {
    const p = provider('gpt-5-pro', baseUrl);
    assert.equal(p.usesResponses(), false, baseUrl);
    for (let i = 0; i < 2; i++) {
      const before = server.requests.length;
      const error = await collectError(p, REQUEST);
      const sent = server.requests.slice(before);
      assert.deepEqual(
        sent.map((r) => r.path),
        [new URL(`${baseUrl}/chat/completions`).pathname],
        baseUrl,
      );
      assert.equal(error.code, 'model_not_found');
      assert.match(error.message, /only supported in v1\/responses/);
    }
    assert.equal(p.continuation, 'instructed');
  }
});

test('Stop mid-stream aborts the /responses request: the server sees the connection close, the call ends cancelled', async () => {
  let closed!: () => void;
  const connectionClosed = new Promise<void>((resolve) => (closed = resolve));
  server.enqueue((request, res) => {
    res.on('close', () => closed());
    // Six framing events, then one text delta, then nothing: the stream stays open.
    return openAiStream({ pieces: PIECES, reasoning: { high: 3 }, stallAfterFrames: 7 })(request, res);
  });
  const stop = new AbortController();
  const out = await within(
    collect(provider('gpt-5-pro', OPENAI), { ...REQUEST, partialAnswer: '', maxTokens: 100 }, stop.signal, (chunk) => {
      if (chunk.type === 'text') stop.abort();
    }),
    10_000,
    'the cancelled call',
  );
  assert.equal(out.text, ' Paris');
  assert.equal(out.finishReason, 'cancelled');
  assert.equal(out.usage?.estimated, true, 'billed as far as known');
  await within(connectionClosed, 10_000, 'the server seeing the request closed');
});

test('response.incomplete at max_output_tokens ends with "length": reasoning took the span, billed as output', async () => {
  // gpt-5-pro at "high" reasons past the 16 tokens asked.
  const { out, sent } = await call(provider('gpt-5-pro', OPENAI));
  assert.equal(sent.length, 1);
  assert.equal(out.text, '');
  assert.equal(out.finishReason, 'length');
  assert.deepEqual(out.usage, { inputTokens: 40, outputTokens: 16, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false, reasoningTokens: 16 });
});

test("an `error` event or response.failed mid-stream is an error in the server's words; the text before it has arrived", async () => {
  const message = 'The server had an error processing your request. Sorry about that! You can retry your request.';
  server.enqueue(
    openAiStream({
      pieces: PIECES,
      reasoning: { high: 3 },
      errorAfterPieces: { after: 2, error: { type: 'error', code: 'server_error', message, param: null } },
    }),
  );
  const seen: string[] = [];
  let error: any;
  try {
    await collect(provider('gpt-5-pro', OPENAI), { ...REQUEST, partialAnswer: '' }, undefined, (c) => c.type === 'text' && seen.push(c.text));
  } catch (e) {
    error = e;
  }
  assert.deepEqual(seen, [' Paris', ' is']);
  assert.equal(error?.code, 'server');
  assert.ok(error.message.includes(message), error.message);
  assert.equal(error.responseStarted, true, 'not retried: the call may be billed');

  server.enqueue(
    openAiStream({
      pieces: PIECES,
      reasoning: { high: 3 },
      errorAfterPieces: {
        after: 0,
        error: { type: 'response.failed', response: { status: 'failed', error: { code: 'rate_limit_exceeded', message: 'Slow down.' } } },
      },
    }),
  );
  const failed = await collectError(provider('gpt-5-pro', OPENAI), REQUEST);
  assert.equal(failed.code, 'rate_limit');
  assert.match(failed.message, /Slow down\./);
});

/** The usage of a Response that failed after it generated: 1,900 output tokens, 1,800 of them reasoning. */
const FAILED_USAGE = {
  input_tokens: 3000,
  input_tokens_details: { cached_tokens: 0 },
  output_tokens: 1900,
  output_tokens_details: { reasoning_tokens: 1800 },
  total_tokens: 4900,
};
const FAILED_ERROR = { code: 'server_error', message: 'The model produced invalid content.' };

test("response.failed that reports the Response's usage: the engine books the server's count, not an estimate of the text that arrived", async () => {
  const failing = openAiStream({
    pieces: [' Paris', ' is', ' a'],
    reasoning: { high: 3 },
    errorAfterPieces: { after: 3, error: { type: 'response.failed', response: { status: 'failed', usage: FAILED_USAGE, error: FAILED_ERROR } } },
  });
  // A priced answer counts its prompt first (free, on OpenAI's API): that request is answered as OpenAI does.
  const counted = openAiInputTokens(() => 30);
  const routed: Responder = (request, res) => (request.path.endsWith('/input_tokens') ? counted : failing)(request, res);
  server.enqueue(routed, routed);
  const { stats, events } = await collectRelay({
    mode: 'llm-only',
    slm: new DoubleRuntime([]),
    llm: provider('gpt-5-pro', OPENAI),
    messages: [{ role: 'user', content: 'What is the capital of France?' }],
    tokenBudget: 2000,
    price: { inputPerMTok: 15, outputPerMTok: 120 },
  });
  assert.equal(stats.finishReason, 'error');
  const end = events.find((e) => e.type === 'call-end');
  assert.ok(end?.type === 'call-end');
  assert.deepEqual(end.usage, { inputTokens: 3000, outputTokens: 1900, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false, reasoningTokens: 1800 });
  assert.equal(stats.costUsd, (3000 * 15 + 1900 * 120) / 1e6);
});

test('a whole (not streamed) Response with status failed yields its usage, then the error in its words', async () => {
  server.enqueue((_request, res) => sendJson(res, 200, { status: 'failed', output: [], usage: FAILED_USAGE, error: FAILED_ERROR }));
  const chunks: ProviderChunk[] = [];
  const error = await collect(provider('gpt-5-pro', OPENAI, { maxRetries: 0 }), REQUEST, undefined, (c) => chunks.push(c)).then(
    () => undefined,
    (e: unknown) => e,
  );
  assert.match(String((error as Error | undefined)?.message), /The model produced invalid content\./);
  assert.deepEqual(
    chunks.filter((c) => c.type === 'usage').map((c) => c.type === 'usage' && c.usage),
    [{ inputTokens: 3000, outputTokens: 1900, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false, reasoningTokens: 1800 }],
  );
});

test('a model learned Responses-only mid-call is not sent 16 tokens its USD ceiling does not leave: nothing is billed, and the next answer is quoted at 16', async () => {
  const price = { inputPerMTok: 2, outputPerMTok: 1000 };
  // Room for about 6 output tokens after the input: a 2-token span fits, the 16 /responses asks for do not.
  const maxCostUsd = 0.0068;
  const answer = () =>
    collectRelay({
      mode: 'command',
      slm: new DoubleRuntime([...chars('A: '), ...chars('<call>2</call>'), ...chars(' done.')]),
      llm: provider('team-reviewer', AZURE),
      messages: [{ role: 'user', content: 'Q' }],
      slmSampling: { temperature: 0 },
      price,
      maxCostUsd,
    });
  const before = server.requests.length;
  const first = await answer();
  assert.deepEqual(
    server.requests.slice(before).map((r) => r.path),
    ['/openai/v1/chat/completions'],
    'refused on chat; not sent again on /responses',
  );
  assert.equal(first.stats.finishReason, 'error');
  assert.equal(first.stats.costUsd, 0);
  const error = first.events.find((e) => e.type === 'error');
  assert.ok(error?.type === 'error');
  assert.match(error.message, /Responses API only, which asks for at least 16 output tokens a call: more than relay\.maxCostPerAnswerUsd/);
  // Learned: the next answer quotes the call at 16 and does not make it.
  const next = await answer();
  assert.equal(next.stats.calls, 0);
  assert.equal(next.stats.finishReason, 'cost_limit');
  assert.equal(server.requests.length, before + 1, 'no request');
});

test('a response that ends in a status other than completed or incomplete (cancelled, in_progress) is a bad response, not a whole answer', async () => {
  for (const status of ['cancelled', 'in_progress']) {
    server.enqueue((_request, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const event = (data: unknown) => `event: ${(data as { type: string }).type}\ndata: ${JSON.stringify(data)}\n\n`;
      res.end(
        event({ type: 'response.output_text.delta', delta: ' Paris' }) +
          event({ type: 'response.completed', response: { status, usage: { input_tokens: 40, output_tokens: 1 } } }),
      );
    });
    const error = await collectError(provider('gpt-5-pro', OPENAI), REQUEST);
    assert.equal(error.code, 'bad_response', status);
  }
});

test('a model the server will not stream for (an unverified organization, a pro model) is asked again without stream, read whole, and remembered', async () => {
  const bodies: Record<string, unknown>[] = [];
  const refuseStream: Responder = (request, res) => {
    bodies.push(request.body);
    sendJson(res, 400, {
      error: {
        message:
          'Your organization must be verified to stream this model. Please go to: https://platform.openai.com/settings/organization/general and click on Verify Organization.',
        type: 'invalid_request_error',
        param: 'stream',
        code: 'unsupported_value',
      },
    });
  };
  const whole: Responder = (request, res) => {
    bodies.push(request.body);
    sendJson(res, 200, {
      status: 'completed',
      output: [
        { type: 'reasoning', summary: [] },
        { type: 'message', content: [{ type: 'output_text', text: ' Paris is a city' }] },
      ],
      usage: { input_tokens: 40, output_tokens: 20, output_tokens_details: { reasoning_tokens: 16 } },
    });
  };
  server.enqueue(refuseStream, whole, whole);
  const first = await call(provider('gpt-5-pro', OPENAI));
  assert.equal(first.out.text, ' Paris is a city');
  assert.equal(first.out.finishReason, 'stop');
  assert.equal(first.out.usage?.reasoningTokens, 16);
  assert.deepEqual(
    bodies.map((b) => b.stream),
    [true, undefined],
  );
  const again = await call(provider('gpt-5-pro', OPENAI));
  assert.equal(again.sent.length, 1, 'remembered: no stream asked');
  assert.equal(bodies[2].stream, undefined);
});
