/**
 * Gemini through its OpenAI-compatible endpoint (generativelanguage.googleapis.com/v1beta/openai,
 * provider kind openai-chat), against a 127.0.0.1 server that streams as it does: usage in every
 * chunk, the thinking left out of completion_tokens and counted in total_tokens only
 * (discuss.ai.google.dev/t/127400), and a 400 inside a one-element list for effort "none" sent to
 * a model that only thinks (gemini-2.5-pro: "Budget 0 is invalid. This model only works in
 * thinking mode.").
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { errorFromStatus } from '../../../src/core/providers/http';
import { forgetLearnedFacts, spanSpentOnReasoning } from '../../../src/core/providers/modelCapabilities';
import { refusalOf } from '../../../src/core/providers/refusals';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ContinueRequest, LlmProvider } from '../../../src/core/providers/types';
import { FakeServer, sendJson, startFakeServer, writeFrames, type Responder } from './servers/harness';
import { FAST, REQUEST, collect } from './servers/collect';

const KEY = 'AIza-test-gemini-0123456789abcdef';
const THINKING_ONLY_MESSAGE = 'Budget 0 is invalid. This model only works in thinking mode.';

let server: FakeServer;
before(async () => {
  server = await startFakeServer((_request, res) => sendJson(res, 500, { error: { message: 'no response queued for this request' } }));
});
after(() => server.close());
beforeEach(() => {
  forgetLearnedFacts();
  server.queue.length = 0;
});

const provider = (model: string): LlmProvider =>
  createProvider({ kind: 'openai-chat', baseUrl: `${server.url}/v1beta/openai`, model, ...FAST, maxRetries: 0 }, new MemoryKeySource({ 'openai-chat': KEY }));

async function call(p: LlmProvider, request: ContinueRequest = { ...REQUEST, maxTokens: 100 }) {
  const before = server.requests.length;
  const out = await collect(p, request);
  return { out, sent: server.requests.slice(before).map((r) => r.body) };
}

interface GeminiUsage {
  prompt_tokens: number;
  completion_tokens: number;
  total_tokens: number;
}

/** Gemini's chunks: each carries the usage so far; the last one the finish reason. */
function geminiFrames(model: string, pieces: Array<{ text: string; usage: GeminiUsage }>, finish: { reason: string; usage: GeminiUsage }): string[] {
  const chunk = (delta: object, usage: GeminiUsage, finishReason?: string) =>
    `data: ${JSON.stringify({ choices: [{ delta, index: 0, ...(finishReason ? { finish_reason: finishReason } : {}) }], model, object: 'chat.completion.chunk', usage })}\n\n`;
  return [
    ...pieces.map((piece) => chunk({ content: piece.text, role: 'assistant' }, piece.usage)),
    chunk({ role: 'assistant' }, finish.usage, finish.reason),
    'data: [DONE]\n\n',
  ];
}

const streamOf =
  (frames: string[]): Responder =>
  (_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    return writeFrames(res, frames);
  };

/** The stream of the forum report: 9 prompt tokens, 3 visible, 93 of thinking seen only in total_tokens. */
const reportedStream = streamOf(
  geminiFrames(
    'gemini-3-flash-preview',
    [
      { text: '1', usage: { completion_tokens: 1, prompt_tokens: 9, total_tokens: 103 } },
      { text: ', ', usage: { completion_tokens: 3, prompt_tokens: 9, total_tokens: 105 } },
    ],
    { reason: 'length', usage: { completion_tokens: 3, prompt_tokens: 9, total_tokens: 105 } },
  ),
);

/**
 * gemini-2.5-pro as its OpenAI-compatible endpoint serves it: thinking cannot be turned off
 * (effort "none" is refused with Google's 400 in a list), 200 thinking tokens by default, 20 at "low".
 */
const thinkingOnlyModel: Responder = (request, res) => {
  const effort = request.body?.reasoning_effort;
  if (effort === 'none') {
    // Google's error object inside a one-element list, as this endpoint sends it.
    return sendJson(res, 400, [{ error: { code: 400, message: THINKING_ONLY_MESSAGE, status: 'INVALID_ARGUMENT' } }]);
  }
  const thoughts = effort === undefined ? 200 : 20;
  const usage = (visible: number) => ({ prompt_tokens: 40, completion_tokens: visible, total_tokens: 40 + thoughts + visible });
  const pieces = [' Paris', ' is', ' a', ' city'].map((text, i) => ({ text, usage: usage(i + 1) }));
  return streamOf(geminiFrames('gemini-2.5-pro', pieces, { reason: 'stop', usage: usage(4) }))(request, res);
};

test('Gemini usage: thinking counted in total_tokens only is booked as output and reasoning (105 - 9 = 96 out, 93 of them reasoning), exact', async () => {
  server.enqueue(reportedStream);
  const { out } = await call(provider('gemini-3-flash-preview'));
  assert.equal(out.usage?.inputTokens, 9);
  assert.equal(out.usage?.outputTokens, 96, 'the thinking is billed as output');
  assert.equal(out.usage?.reasoningTokens, 93);
  assert.equal(out.usage?.estimated, false, 'the server’s own figures');
});

test('Gemini usage: billed thinking brings effort "none" on the next calls, as for any model the table does not know', async () => {
  server.enqueue(reportedStream, reportedStream);
  const p = provider('gemini-3-flash-preview');
  const first = await call(p);
  assert.equal(first.sent[0].reasoning_effort, undefined, 'the table does not know the model: no effort at first');
  const second = await call(p);
  assert.equal(second.sent[0].reasoning_effort, 'none');
});

test('Gemini usage: thinking that took the whole span is said as such (the reasoning-eats-span warning)', async () => {
  server.enqueue(streamOf(geminiFrames('gemini-2.5-flash', [], { reason: 'length', usage: { prompt_tokens: 40, completion_tokens: 0, total_tokens: 42 } })));
  const { out } = await call(provider('gemini-2.5-flash'), { ...REQUEST, maxTokens: 2 });
  assert.equal(out.text, '');
  assert.deepEqual(spanSpentOnReasoning({ finish: out.finishReason, wroteText: false, span: 2, usage: out.usage }), { span: 2, reasoningTokens: 2 });
});

test('usage where total_tokens adds nothing (OpenAI, DeepSeek) or the reasoning is reported beside it: booked as reported, never counted twice', async () => {
  const usageOf = async (usage: object) => {
    server.enqueue(
      streamOf([
        `data: ${JSON.stringify({ choices: [{ delta: { content: ' Paris' }, index: 0, finish_reason: 'stop' }] })}\n\n`,
        `data: ${JSON.stringify({ choices: [], usage })}\n\n`,
        'data: [DONE]\n\n',
      ]),
    );
    return (await call(provider('some-model'))).out.usage;
  };
  const openAi = await usageOf({ prompt_tokens: 9, completion_tokens: 7, total_tokens: 16, completion_tokens_details: { reasoning_tokens: 3 } });
  assert.equal(openAi?.outputTokens, 7);
  assert.equal(openAi?.reasoningTokens, 3);
  const plain = await usageOf({ prompt_tokens: 9, completion_tokens: 7, total_tokens: 16 });
  assert.equal(plain?.outputTokens, 7);
  assert.equal(plain?.reasoningTokens, undefined);
  const both = await usageOf({ prompt_tokens: 9, completion_tokens: 3, total_tokens: 105, completion_tokens_details: { reasoning_tokens: 93 } });
  assert.equal(both?.outputTokens, 96);
  assert.equal(both?.reasoningTokens, 93, 'the reasoning reported and the gap in total_tokens are the same tokens');
  const broken = await usageOf({ prompt_tokens: 9, completion_tokens: 7, total_tokens: 'many' });
  assert.equal(broken?.outputTokens, 7, 'a total that is no count is ignored');
});

test('Gemini 2.5 Pro: effort "none" refused as "only works in thinking mode" is sent again at "low", unbilled, and "low" is remembered', async () => {
  server.enqueue(thinkingOnlyModel, thinkingOnlyModel, thinkingOnlyModel, thinkingOnlyModel);
  const p = provider('gemini-2.5-pro');
  const first = await call(p);
  assert.deepEqual(
    first.sent.map((b) => b.reasoning_effort),
    [undefined],
  );
  assert.equal(first.out.usage?.reasoningTokens, 200);

  const second = await call(p);
  assert.deepEqual(
    second.sent.map((b) => b.reasoning_effort),
    ['none', 'low'],
    'the billed thinking brought "none", which the model refused',
  );
  assert.equal(second.out.text, ' Paris is a city', 'the answer goes on, not an error');
  assert.equal(second.out.usage?.outputTokens, 24);
  assert.equal(second.out.usage?.reasoningTokens, 20);

  const third = await call(provider('gemini-2.5-pro'));
  assert.deepEqual(
    third.sent.map((b) => b.reasoning_effort),
    ['low'],
    'a new provider for the model sends "low" at once',
  );
});

test('refusals: the words Gemini and Vertex use for an effort a thinking model does not take; the same words about anything else stand', () => {
  const url = new URL('https://generativelanguage.googleapis.com/v1beta/openai/chat/completions');
  const google = (message: string) =>
    errorFromStatus(400, {}, JSON.stringify([{ error: { code: 400, message, status: 'INVALID_ARGUMENT' } }]), url, [], ['RELAY_API_KEY']);
  const body = (effort?: string) => ({ model: 'gemini-2.5-pro', messages: [{ role: 'user' }], max_tokens: 4, reasoning_effort: effort });
  assert.deepEqual(refusalOf(google(THINKING_ONLY_MESSAGE), body('none')), { type: 'effort', effort: 'low' });
  assert.deepEqual(refusalOf(google('The model does not support setting thinking_budget to 0'), body('none')), { type: 'effort', effort: 'low' });
  // Gemini 3.x models that refuse "none" say no more than this (buxuku/SmartSub#439).
  assert.deepEqual(refusalOf(google('Request contains an invalid argument.'), body('none')), { type: 'effort', effort: 'low', tentative: true });
  // Vertex lists the values it takes: the lowest of them.
  assert.deepEqual(refusalOf(google("Expected 'reasoning_effort' to be one of: 'high','low','medium','minimal'"), body('none')), {
    type: 'effort',
    effort: 'minimal',
  });
  // Already thinking, or no effort sent: the error is about something else and stands.
  assert.equal(refusalOf(google('Request contains an invalid argument.'), body('low')), undefined);
  assert.equal(refusalOf(google('Request contains an invalid argument.'), body()), undefined);
  assert.equal(refusalOf(google(THINKING_ONLY_MESSAGE), body()), undefined);
  assert.equal(refusalOf(google('Request contains an invalid argument: temperature must be in [0, 2].'), body('none')), undefined);
});

/** gemini-2.5-flash: takes "none" (no thinking), thinks 300 tokens by default and 1,000 at "low". */
const flashModel: Responder = (request, res) => {
  const effort = request.body?.reasoning_effort;
  const thoughts = effort === 'none' ? 0 : effort === 'low' ? 1000 : 300;
  const usage = (visible: number) => ({ prompt_tokens: 40, completion_tokens: visible, total_tokens: 40 + thoughts + visible });
  return streamOf(geminiFrames('gemini-2.5-flash', [{ text: ' ok', usage: usage(2) }], { reason: 'stop', usage: usage(2) }))(request, res);
};
/** Google's catch-all for a request refused for another cause (whatever the effort). */
const invalidArgument: Responder = (_request, res) =>
  sendJson(res, 400, [{ error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' } }]);

/** The efforts the next call of `p` sent, answered by gemini-2.5-flash. */
async function effortsOfAnsweredCall(p: LlmProvider): Promise<unknown[]> {
  server.enqueue(flashModel);
  return (await call(p)).sent.map((b) => b.reasoning_effort);
}

/** The efforts the next call of `p` sent, answered by `responders` in turn until it failed with an error that `said`. */
async function effortsOfFailedCall(p: LlmProvider, said: RegExp, ...responders: Responder[]): Promise<unknown[]> {
  server.enqueue(...responders);
  const before = server.requests.length;
  await assert.rejects(call(p), said);
  return server.requests.slice(before).map((r) => r.body?.reasoning_effort);
}

const rateLimited: Responder = (_request, res) =>
  sendJson(res, 429, [{ error: { code: 429, message: 'Resource has been exhausted (e.g. check quota).', status: 'RESOURCE_EXHAUSTED' } }]);

test('a model that bills reasoning but whose server refuses any effort in Google\'s catch-all words goes back to no effort (the guess "none", then "low", refused)', async () => {
  const p = provider('gemma-4-thinking');
  await effortsOfAnsweredCall(p);
  server.enqueue(invalidArgument, invalidArgument, flashModel);
  const before = server.requests.length;
  await call(p);
  assert.deepEqual(
    server.requests.slice(before).map((r) => r.body?.reasoning_effort),
    ['none', 'low', undefined],
    'the guess, the tentative "low", then none',
  );
  assert.deepEqual(await effortsOfAnsweredCall(p), [undefined], 'no effort from then on: one request a call, not three failing');
});

test('Google\'s catch-all "invalid argument" is not taken for an effort refusal where the model took that effort, or where "low" is refused the same', async () => {
  const p = provider('gemini-2.5-flash');
  await effortsOfAnsweredCall(p);
  assert.deepEqual(await effortsOfAnsweredCall(p), ['none'], 'the model took "none"');
  // Refused for another cause: the effort it took is not changed, the error stands.
  assert.deepEqual(await effortsOfFailedCall(p, /invalid argument/i, invalidArgument), ['none']);
  assert.deepEqual(await effortsOfAnsweredCall(p), ['none'], 'the next calls still send "none" (no 1,000 tokens of thinking each)');

  // A model never seen taking "none" (Relay's guess): "low" is tried once, then no effort; refused the same, "none" is kept and the error stands.
  const fresh = provider('gemini-2.5-flash-lite');
  await effortsOfAnsweredCall(fresh);
  assert.deepEqual(await effortsOfFailedCall(fresh, /invalid argument/i, invalidArgument, invalidArgument, invalidArgument), ['none', 'low', undefined]);
  assert.deepEqual(await effortsOfAnsweredCall(fresh), ['none'], '"low" was taken back, and the guess stands');

  // The call sent at "low" failing for another cause (rate limited): "low" is not known to help, and is taken back too.
  const limited = provider('gemini-2.5-flash-8b');
  await effortsOfAnsweredCall(limited);
  assert.deepEqual(await effortsOfFailedCall(limited, /exhausted/i, invalidArgument, rateLimited), ['none', 'low']);
  assert.deepEqual(await effortsOfAnsweredCall(limited), ['none'], '"low" was taken back after the 429');
});
