/**
 * The Anthropic provider against a Messages API that behaves per model as the public
 * record says (servers/anthropic.ts): prefill where the model takes it, an instruction
 * turn where it does not (from the table, or learned from the 400 and remembered), the
 * sampling fields each model takes, and cache breakpoints the next call reads.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { AnthropicProvider } from '../../../src/core/providers/anthropic';
import { createProvider } from '../../../src/core/providers/factory';
import { anthropicCacheRule, predictUsage } from '../../../src/core/providers/billing';
import { LARGEST_MIN_CACHE_TOKENS, anthropicModelTraits, forgetLearnedFacts } from '../../../src/core/providers/modelCapabilities';
import { costOf } from '../../../src/core/providers/pricing';
import { CONTINUE_INSTRUCTION } from '../../../src/core/providers/seam';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ContinueRequest } from '../../../src/core/providers/types';
import { AnthropicPromptCache, PREFILL_REFUSED, anthropicStream } from './servers/anthropic';
import { FakeServer, startFakeServer } from './servers/harness';
import { FAST, REQUEST, collect } from './servers/collect';

const KEY = 'sk-ant-api03-test-models-0123456789';
let server: FakeServer;
before(async () => {
  server = await startFakeServer(anthropicStream({ pieces: [' Paris'] }, KEY));
});
after(() => server.close());
beforeEach(() => {
  forgetLearnedFacts();
  server.queue.length = 0;
});

const provider = (model: string) =>
  createProvider({ kind: 'anthropic', baseUrl: server.url, model, ...FAST }, new MemoryKeySource({ anthropic: KEY })) as AnthropicProvider;

/** Runs one call and returns what it streamed and the requests it made. */
async function call(p: AnthropicProvider, request: ContinueRequest = REQUEST) {
  const before = server.requests.length;
  const out = await collect(p, request);
  return { out, sent: server.requests.slice(before) };
}

const lastTurn = (body: any) => body.messages[body.messages.length - 1];
const done = (out: { chunks: any[] }) => out.chunks[out.chunks.length - 1];

for (const model of ['claude-opus-4-6', 'claude-sonnet-4-6']) {
  test(`anthropic ${model}: no prefill (the model refuses it): the partial answer, then an instruction turn; the reply's seam is cleaned; one request`, async () => {
    server.enqueue(
      anthropicStream({ pieces: ['Sure! ', 'Paris, on the', ' Seine.'], stopReason: 'end_turn', usage: { input_tokens: 90, output_tokens: 7 } }, KEY),
    );
    const p = provider(model);
    assert.equal(p.continuation, 'instructed', 'known before the first call');
    const { out, sent } = await call(p);
    assert.equal(sent.length, 1);
    assert.equal(REQUEST.partialAnswer + out.text, 'The capital of France is Paris, on the Seine.');
    // Breakpoints at the end of the conversation and of the partial answer, before the instruction.
    const cached = { cache_control: { type: 'ephemeral' } };
    assert.deepEqual(sent[0].body.messages, [
      { role: 'user', content: [{ type: 'text', text: 'What is the capital of France?', ...cached }] },
      { role: 'assistant', content: [{ type: 'text', text: 'The capital of France is', ...cached }] },
      { role: 'user', content: [{ type: 'text', text: CONTINUE_INSTRUCTION }] },
    ]);
    // Not both: the temperature (clamped to the API's range) is kept, top_p is left out.
    assert.equal(sent[0].body.temperature, 0.7);
    assert.equal(sent[0].body.top_p, undefined);
    assert.deepEqual(done(out), { type: 'done', finishReason: 'stop', continuation: 'instructed' });
    assert.deepEqual(out.usage, { inputTokens: 90, outputTokens: 7, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false });
  });
}

test('anthropic claude-opus-5: placed by its version (4.6 and later refuse prefill, 4.7 and later every sampling field): right at once', async () => {
  server.enqueue(anthropicStream({ pieces: [' Paris.'], stopReason: 'end_turn' }, KEY));
  const p = provider('claude-opus-5');
  assert.equal(p.continuation, 'instructed');
  const { out, sent } = await call(p);
  assert.equal(sent.length, 1);
  assert.equal(out.text, ' Paris.');
  assert.equal(lastTurn(sent[0].body).content[0].text, CONTINUE_INSTRUCTION);
  assert.equal(sent[0].body.temperature, undefined);
  assert.equal(sent[0].body.top_p, undefined);
});

test('anthropic, a model id the table cannot place that refuses prefill: the 400 is answered by the same call instructed (2 requests, 1 billed), remembered for the model', async () => {
  // The fake answers as the API does: the first request is refused by the model check, the second streamed.
  const script = anthropicStream({ pieces: ['Paris.'], stopReason: 'end_turn', usage: { input_tokens: 95, output_tokens: 2 } }, KEY);
  server.enqueue(script, script);
  const p = provider('claude-nova-latest');
  assert.equal(p.continuation, 'assistant-prefix', 'an unknown id starts with prefill (exact where it works)');
  const first = await call(p);
  assert.equal(first.sent.length, 2, 'the refused prefill, then the instructed request');
  assert.equal(lastTurn(first.sent[0].body).role, 'assistant', 'the first request was a prefill');
  assert.equal(lastTurn(first.sent[1].body).content[0].text, CONTINUE_INSTRUCTION);
  assert.equal(REQUEST.partialAnswer + first.out.text, 'The capital of France is Paris.');
  // Only the request that was answered is billed: its usage is the call's usage.
  assert.deepEqual(first.out.usage, { inputTokens: 95, outputTokens: 2, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false });
  assert.equal(done(first.out).continuation, 'instructed');
  assert.equal(p.continuation, 'instructed', 'the provider now says how it continues');

  // The second and third calls (the third on a new provider, as the extension makes one per answer) go instructed at once.
  server.enqueue(anthropicStream({ pieces: [' Paris.'], stopReason: 'end_turn' }, KEY), anthropicStream({ pieces: [' Paris.'], stopReason: 'end_turn' }, KEY));
  const second = await call(p);
  assert.equal(second.sent.length, 1);
  assert.equal(lastTurn(second.sent[0].body).content[0].text, CONTINUE_INSTRUCTION);
  const fresh = provider('claude-nova-latest');
  assert.equal(fresh.continuation, 'instructed');
  const third = await call(fresh);
  assert.equal(third.sent.length, 1);
  assert.equal(lastTurn(third.sent[0].body).content[0].text, CONTINUE_INSTRUCTION);
  assert.equal(done(third.out).continuation, 'instructed');
});

test('anthropic, a model id the table cannot place that refuses sampling fields: each refused field is dropped once, then never sent', async () => {
  const p = provider('claude-lyra-latest');
  const first = await call(p);
  assert.equal(first.sent.length, 3, 'temperature refused, then top_p refused, then answered');
  assert.equal(first.sent[0].body.temperature, 0.7);
  assert.equal(first.sent[1].body.temperature, undefined);
  assert.equal(first.sent[1].body.top_p, 0.9);
  assert.equal(first.sent[2].body.top_p, undefined);
  assert.equal(first.out.text, ' Paris');
  assert.equal(lastTurn(first.sent[2].body).role, 'assistant', 'this model takes prefill');
  const second = await call(provider('claude-lyra-latest'));
  assert.equal(second.sent.length, 1);
  assert.equal(second.sent[0].body.temperature, undefined);
  assert.equal(second.sent[0].body.top_p, undefined);
});

test('anthropic: a refusal that is not about prefill or a field is reported, not retried', async () => {
  server.enqueue((request, res) => {
    res.writeHead(400, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ type: 'error', error: { type: 'invalid_request_error', message: 'max_tokens: 0 must be greater than or equal to 1' } }));
  });
  const before = server.requests.length;
  await assert.rejects(collect(provider('claude-3-5-haiku-latest'), REQUEST), (error: any) => error.code === 'bad_request');
  assert.equal(server.requests.length - before, 1);
  // The fake itself refuses prefill the way the API does (the message the provider reads).
  assert.match(PREFILL_REFUSED, /does not support assistant message prefill/);
});

// ---- Prompt caching: breakpoints where the next call reads what this one wrote.

const tok = (text: string) => Math.ceil(text.length / 4);
const SYSTEM = 'You are a careful assistant who answers about geography. '.repeat(80).trim();
const QUESTION = 'What is the capital of France, and what is it known for?';
const P1 = 'The capital of France is Paris. ' + 'It is known for its museums, its cafes and its long history. '.repeat(14);
const P2 = P1 + 'The Louvre is the most visited museum in the world. ' + 'Paris also has many parks and gardens. '.repeat(6);
const P3 = P2 + 'The Seine flows through the middle of the city. ';
const cachedRequest = (partialAnswer: string): ContinueRequest => ({
  messages: [
    { role: 'system', content: SYSTEM },
    { role: 'user', content: QUESTION },
  ],
  partialAnswer,
  maxTokens: 4,
  temperature: 0.7,
  cacheKey: 'answer-1',
});

const marks = (body: any): string[] => {
  const out: string[] = [];
  for (const block of body.system ?? []) if (block.cache_control) out.push('system');
  body.messages.forEach((m: any, i: number) => m.content.forEach((b: any, j: number) => b.cache_control && out.push(`${i}.${j}`)));
  return out;
};

test('anthropic caching (prefill, claude-sonnet-4-5): each call reads what the previous call of the answer wrote, and writes what it adds', async () => {
  const cache = new AnthropicPromptCache();
  const p = provider('claude-sonnet-4-5');
  const stable = tok(SYSTEM) + tok(QUESTION);
  assert.ok(tok(SYSTEM) >= 1024, 'the system prompt alone reaches the 1,024-token minimum');

  server.enqueue(anthropicStream({ pieces: [' Its'], cache }, KEY));
  const first = await call(p, cachedRequest(P1));
  const p1 = P1.trimEnd();
  assert.deepEqual(marks(first.sent[0].body), ['system', '0.0', '1.0']);
  assert.deepEqual(
    first.sent[0].body.messages[1].content.map((b: any) => b.text),
    [p1],
  );
  assert.deepEqual(first.out.usage, {
    inputTokens: stable + tok(p1),
    outputTokens: 1,
    cachedInputTokens: 0,
    cacheWriteTokens: stable + tok(p1),
    estimated: false,
  });

  server.enqueue(anthropicStream({ pieces: [' river'], cache }, KEY));
  const second = await call(p, cachedRequest(P2));
  const rest2 = P2.trimEnd().slice(p1.length);
  // The partial answer is split where the first call ended: that block ends a prefix the cache holds.
  assert.deepEqual(
    second.sent[0].body.messages[1].content.map((b: any) => b.text),
    [p1, rest2],
  );
  assert.deepEqual(marks(second.sent[0].body), ['system', '0.0', '1.0', '1.1'], 'four breakpoints, the most the API takes');
  assert.deepEqual(second.out.usage, {
    inputTokens: stable + tok(p1) + tok(rest2),
    outputTokens: 1,
    cachedInputTokens: stable + tok(p1),
    cacheWriteTokens: tok(rest2),
    estimated: false,
  });

  server.enqueue(anthropicStream({ pieces: [' too'], cache }, KEY));
  const third = await call(p, cachedRequest(P3));
  const rest3 = P3.trimEnd().slice(P2.trimEnd().length);
  assert.deepEqual(
    third.sent[0].body.messages[1].content.map((b: any) => b.text),
    [p1, rest2, rest3],
  );
  assert.deepEqual(marks(third.sent[0].body), ['system', '0.0', '1.1', '1.2']);
  assert.equal(third.out.usage?.cachedInputTokens, stable + tok(p1) + tok(rest2));
  assert.equal(third.out.usage?.cacheWriteTokens, tok(rest3));
  assert.equal(P3.trimEnd(), third.sent[0].body.messages[1].content.map((b: any) => b.text).join(''), 'the blocks join to the exact partial answer');
});

test('anthropic caching (instructed, claude-sonnet-4-6): the breakpoint is at the end of the partial answer, before the instruction', async () => {
  const cache = new AnthropicPromptCache();
  const p = provider('claude-sonnet-4-6');
  const long1 = P1 + 'More on this follows. '.repeat(200);
  const long2 = long1 + 'And a little more. ';
  server.enqueue(anthropicStream({ pieces: ['More'], cache }, KEY), anthropicStream({ pieces: ['More'], cache }, KEY));
  const first = await call(p, cachedRequest(long1));
  const body = first.sent[0].body;
  assert.deepEqual(marks(body), ['system', '0.0', '1.0']);
  assert.equal(body.messages[2].content[0].text, CONTINUE_INSTRUCTION);
  const upToPartial = tok(SYSTEM) + tok(QUESTION) + tok(long1.trimEnd());
  assert.ok(upToPartial >= 2048, 'long enough for the model to cache it');
  assert.equal(first.out.usage?.cacheWriteTokens, upToPartial);
  assert.equal(first.out.usage?.inputTokens, upToPartial + tok(CONTINUE_INSTRUCTION));
  const second = await call(p, cachedRequest(long2));
  assert.equal(second.out.usage?.cachedInputTokens, upToPartial, 'the second call reads what the first wrote');
});

test("anthropic caching: breakpoints go in whatever the prompt's length; under the model's minimum they miss and bill no write (claude-opus-4-6 caches from 4,096 tokens)", async () => {
  const cache = new AnthropicPromptCache();
  server.enqueue(anthropicStream({ pieces: [' Its'], cache }, KEY));
  const { sent, out } = await call(provider('claude-opus-4-6'), cachedRequest(P1));
  assert.deepEqual(marks(sent[0].body), ['system', '0.0', '1.0'], 'about 1,700 tokens by chars/4: silent misses, free');
  assert.equal(out.usage?.cacheWriteTokens, 0);
  assert.equal(out.usage?.cachedInputTokens, 0);
});

test('anthropic caching: a CJK question of 3,600 characters (about 900 tokens by chars/4, about 3,600 by Claude) gets its breakpoint (claude-sonnet-4-5, 1,024 minimum)', () => {
  const question = '関数の戻り値が正しくない理由を説明してください。'.repeat(150);
  assert.equal(question.length, 3600);
  const p = provider('claude-sonnet-4-5');
  const request = (partialAnswer: string): ContinueRequest => ({
    messages: [
      { role: 'system', content: 'You are Relay.' },
      { role: 'user', content: question },
    ],
    partialAnswer,
    maxTokens: 4,
    cacheKey: 'cjk',
  });
  for (const partial of ['', 'The first part of the answer. ']) {
    const body: any = p.buildBody(request(partial));
    assert.deepEqual(body.messages[0].content[0].cache_control, { type: 'ephemeral' }, 'the end of the conversation, which every call of the answer reads');
    assert.ok(marks(body).length <= 4);
  }
});

test('anthropic caching, a model id the table cannot place: its quote counts on no cache read under the largest minimum of any Claude, so it is never under the bill', async () => {
  const cache = new AnthropicPromptCache();
  const model = 'claude-vela-latest'; // the fake caches it from 4,096 tokens
  const p = provider(model);
  server.enqueue(anthropicStream({ pieces: [' Its'], cache }, KEY), anthropicStream({ pieces: [' river'], cache }, KEY));
  const first = (await call(p, cachedRequest(P1))).out.usage!;
  const billed = (await call(p, cachedRequest(P2))).out.usage!;
  assert.ok(
    first.inputTokens > 1024 && billed.inputTokens < 4096,
    `between the minimum guessed for placing breakpoints and the real one (${billed.inputTokens})`,
  );
  assert.equal(billed.cachedInputTokens, 0, "under the model's minimum: nothing was read");
  // The quote of the second call, as the money ceilings make it, against what the server billed.
  const price = { inputPerMTok: 3, outputPerMTok: 15, cachedInputPerMTok: 0.3, cacheWritePerMTok: 3.75 };
  const quoted = predictUsage(anthropicCacheRule(model), { sent: billed.inputTokens, previous: first.inputTokens, output: billed.outputTokens });
  assert.ok(costOf(quoted, price)! >= costOf(billed, price)!, `quoted ${costOf(quoted, price)} < billed ${costOf(billed, price)}`);
  assert.equal(quoted.cachedInputTokens, 0);
  // Unlisted ids, whatever their naming, read from the largest minimum; listed ones keep theirs.
  for (const id of ['claude-vela-latest', 'claude-opus-4-9', 'claude-haiku-5', 'claude-sonnet-5-5', 'claude-3-sonnet-20240229']) {
    assert.equal(anthropicModelTraits(id).sureMinCacheTokens, LARGEST_MIN_CACHE_TOKENS, id);
  }
  const listed = ['claude-sonnet-4-5', 'claude-sonnet-4-6', 'claude-3-5-haiku-latest', 'claude-opus-4-6', 'claude-opus-5'];
  assert.deepEqual(
    listed.map((id) => anthropicModelTraits(id).sureMinCacheTokens),
    [1024, 2048, 2048, 4096, 512],
  );
});
