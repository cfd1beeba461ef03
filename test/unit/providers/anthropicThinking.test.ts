/**
 * Claude 5 models think when the request does not say, and max_tokens bounds thinking and
 * text together: a 2-64-token relay span spent thinking writes nothing and is billed. The
 * provider turns thinking off where the model takes that, asks for the lowest effort where it
 * cannot be turned off, learns a refusal of "disabled", and books a call that only thought as
 * reasoning so the answer names the cause. Against a 127.0.0.1 Messages API that thinks per
 * model as the public record says (servers/anthropic.ts).
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import type { AnthropicProvider } from '../../../src/core/providers/anthropic';
import { createProvider } from '../../../src/core/providers/factory';
import { anthropicModelTraits, forgetLearnedFacts, spanSpentOnReasoning, spanSpentOnReasoningMessage } from '../../../src/core/providers/modelCapabilities';
import { runProviderTest } from '../../../src/core/providers/providerTest';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { collectRelay } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import { chars, DoubleRuntime } from '../relay/doubles';
import { anthropicStream } from './servers/anthropic';
import { FakeServer, startFakeServer } from './servers/harness';
import { FAST, REQUEST, collect } from './servers/collect';

const KEY = 'sk-ant-api03-test-thinking-0123456789';
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
  createProvider({ kind: 'anthropic', baseUrl: server.url, model, maxRetries: 0, ...FAST }, new MemoryKeySource({ anthropic: KEY })) as AnthropicProvider;

async function call(model: string, script: Parameters<typeof anthropicStream>[0], request = REQUEST) {
  const before = server.requests.length;
  server.enqueue(anthropicStream(script, KEY), anthropicStream(script, KEY));
  const out = await collect(provider(model), request);
  return { out, sent: server.requests.slice(before).map((r) => r.body) };
}

test('the table: Claude 5 and later think unless turned off (Opus, Sonnet), Fable and Mythos always; Claude 4.8 and earlier only when asked', () => {
  const thinking = (id: string) => anthropicModelTraits(id).thinking;
  for (const id of ['claude-opus-5', 'claude-sonnet-5', 'claude-opus-5-5', 'claude-sonnet-6-20270101', 'anthropic.claude-opus-5-v1'])
    assert.equal(thinking(id), 'disable', id);
  for (const id of ['claude-fable-5', 'claude-fable-5-1', 'claude-mythos-5', 'claude-mythos-6']) assert.equal(thinking(id), 'always', id);
  for (const id of ['claude-opus-4-8', 'claude-sonnet-4-6', 'claude-haiku-4-5', 'claude-3-5-haiku-latest', 'claude-nova-latest'])
    assert.equal(thinking(id), 'off', id);
});

for (const model of ['claude-opus-5', 'claude-sonnet-5']) {
  test(`${model}: sent thinking "disabled", so the span is written as text (the server would think through it otherwise)`, async () => {
    const { out, sent } = await call(model, { pieces: [' Paris', ',', ' on', ' the'], thinkingTokens: 4 });
    assert.equal(sent.length, 1);
    assert.deepEqual(sent[0].thinking, { type: 'disabled' });
    assert.equal(sent[0].output_config, undefined);
    assert.equal(out.text, ' Paris, on the');
    assert.equal(out.usage?.reasoningTokens, undefined);
  });
}

test('claude-sonnet-4-6 (thinks only when asked): neither thinking nor output_config is sent', async () => {
  const { sent } = await call('claude-sonnet-4-6', { pieces: [' Paris'] });
  assert.equal(sent[0].thinking, undefined);
  assert.equal(sent[0].output_config, undefined);
});

test("a Claude id the version parser cannot read still gets Claude's fixes when its span is spent thinking, not OpenAI's", () => {
  for (const model of ['claude-opus-latest', 'claude-next', 'anthropic/claude-preview']) {
    const message = spanSpentOnReasoningMessage(model, { span: 2, reasoningTokens: 2 });
    assert.match(message, /Pick a Claude model/, model);
    assert.doesNotMatch(message, /gpt-/, model);
  }
});

test('claude-fable-5 (always thinks, refuses "disabled"): sent effort "low" and no thinking field; a short think leaves the rest of the span to the text', async () => {
  const { out, sent } = await call('claude-fable-5', { pieces: [' Paris', ',', ' on', ' the'], thinkingTokens: 1, thinkingText: 'Simple: Paris.' });
  assert.equal(sent.length, 1, 'taken at once');
  assert.deepEqual(sent[0].output_config, { effort: 'low' });
  assert.equal('thinking' in sent[0], false);
  assert.equal(out.text, ' Paris, on', 'the thinking is never the answer');
  assert.deepEqual(
    out.chunks.filter((c) => c.type === 'reasoning'),
    [{ type: 'reasoning', text: 'Simple: Paris.' }],
    'streamed as reasoning',
  );
  assert.equal(out.usage?.outputTokens, 4);
  assert.equal(out.usage?.reasoningTokens, undefined, 'text came too: the split of output_tokens is unknown');
});

test('claude-fable-5 thinking through max_tokens: no text, the output booked as reasoning, which the engine reads as spent on reasoning', async () => {
  const { out } = await call('claude-fable-5', { pieces: [' Paris'], thinkingTokens: 64 });
  assert.equal(out.text, '');
  assert.equal(out.finishReason, 'length');
  assert.equal(
    out.chunks.some((c) => c.type === 'reasoning'),
    false,
    'display "omitted": nothing to show',
  );
  assert.deepEqual(out.usage, { inputTokens: 30, outputTokens: 4, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false, reasoningTokens: 4 });
  assert.equal(provider('claude-fable-5').limitBoundsReasoning, true, 'max_tokens bounds thinking too: a quote adds none on top of the span');
  assert.deepEqual(spanSpentOnReasoning({ finish: out.finishReason, wroteText: false, span: REQUEST.maxTokens, usage: out.usage }), {
    span: 4,
    reasoningTokens: 4,
  });
});

test('a model the table says can turn thinking off that refuses "disabled": sent again at once without it, at effort "low", and remembered', async () => {
  const { out, sent } = await call('claude-opus-5-5', { pieces: [' Paris'] });
  assert.equal(sent.length, 2, 'the refused request (not billed), then the one taken');
  assert.deepEqual(sent[0].thinking, { type: 'disabled' });
  assert.equal('thinking' in sent[1], false);
  assert.deepEqual(sent[1].output_config, { effort: 'low' });
  assert.equal(out.text, ' Paris');
  const again = await call('claude-opus-5-5', { pieces: [' Paris'] });
  assert.equal(again.sent.length, 1, 'a new provider of the process knows it');
  assert.equal('thinking' in again.sent[0], false);
  assert.deepEqual(again.sent[0].output_config, { effort: 'low' });
});

test('an answer from claude-fable-5 that thinks through every 2-token span ends with llm_hidden_reasoning, naming thinking, not a bare llm_no_progress', async () => {
  const before = server.requests.length;
  server.enqueue(...Array.from({ length: 4 }, () => anthropicStream({ pieces: [' Paris'], thinkingTokens: 64 }, KEY)));
  const run = await collectRelay({
    mode: 'confidence',
    slm: new DoubleRuntime(chars('abcdefgh', 0.1)),
    llm: provider('claude-fable-5'),
    messages: [{ role: 'user', content: 'Q' }],
    slmSampling: { temperature: 0 },
    confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 2 },
  });
  const calls = server.requests.slice(before).filter((r) => r.path === '/v1/messages');
  assert.equal(calls.length, 2, 'two empty calls, as for any: not a loop');
  assert.equal(run.answer, 'a');
  assert.equal(run.stats.finishReason, 'error');
  const [error] = run.events.filter((e): e is Extract<RelayEvent, { type: 'error' }> => e.type === 'error');
  assert.equal(error.code, 'llm_hidden_reasoning');
  assert.equal(error.fix, 'llm-model');
  assert.match(error.message, /claude-fable-5\) spent all 2 tokens .* on hidden reasoning .*It always thinks: thinking cannot be turned off\./);
  assert.match(error.message, /Pick a Claude model that thinks only when asked/);
  assert.doesNotMatch(error.message, /gpt-/, 'no OpenAI-only fixes for a Claude model');
  assert.equal(run.stats.llmUsage.reasoningTokens, 4);
});

test('Relay: Test Provider on claude-fable-5: a test call spent thinking fails naming it; one that writes passes with a warning', async () => {
  const price = { inputPerMTok: 10, outputPerMTok: 50 };
  server.enqueue(anthropicStream({ pieces: [' 4'], thinkingTokens: 64 }, KEY));
  const lines: string[] = [];
  const failed = await runProviderTest(provider('claude-fable-5'), price, (line) => lines.push(line));
  assert.equal(failed.ok, false);
  assert.equal(failed.fix, 'llm-model');
  assert.match(failed.summary, /spent all 8 tokens it was asked for on hidden reasoning .*always thinks/);

  // The usage not reported: the thinking that streamed still names the cause.
  server.enqueue((_request, res) => {
    const frame = (type: string, data: object) => `event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`;
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(
      frame('message_start', { message: { id: 'm', type: 'message', role: 'assistant', content: [] } }) +
        frame('content_block_start', { index: 0, content_block: { type: 'thinking', thinking: '' } }) +
        frame('content_block_delta', { index: 0, delta: { type: 'thinking_delta', thinking: 'The user wants numbers.' } }) +
        frame('content_block_stop', { index: 0 }) +
        frame('message_delta', { delta: { stop_reason: 'max_tokens' } }) +
        frame('message_stop', {}),
    );
  });
  const unreported = await runProviderTest(provider('claude-fable-5'), price, () => undefined);
  assert.equal(unreported.ok, false);
  assert.equal(
    unreported.summary,
    'FAILED: the provider answered but wrote no text: claude-fable-5 thought (hidden reasoning, billed as output) within the 8 tokens asked for.',
  );
  assert.equal(unreported.fix, 'llm-model');

  server.enqueue(anthropicStream({ pieces: [' 4', ',', ' 5'], thinkingTokens: 2, stopReason: 'end_turn' }, KEY));
  const passed = await runProviderTest(provider('claude-fable-5'), price, () => undefined);
  assert.equal(passed.ok, true);
  assert.match(passed.warning ?? '', /cannot be turned off/);
  const opus = await runProviderTest(provider('claude-opus-5'), price, () => undefined);
  assert.equal(opus.warning, undefined, 'thinking turned off: nothing to warn of');
});
