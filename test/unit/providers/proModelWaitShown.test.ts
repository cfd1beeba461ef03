/**
 * The wait shown while a pro model reasons. Its Responses stream sends response.created at once,
 * then nothing for minutes: the first body byte marks the call as possibly billed (as before),
 * and says the output is still pending, so the wait goes on being told, as the model reasoning,
 * until its text begins. Against a 127.0.0.1 server that holds its silence until the test saw
 * the ticks it waits for (bounded): only events are asserted, no times.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { runProviderTest } from '../../../src/core/providers/providerTest';
import type { LlmProvider, ProviderConfig, TransportEvent } from '../../../src/core/providers/types';
import type { WaitTick } from '../../../src/core/providers/waitClock';
import { sendJson } from './servers/harness';
import { countingTokens, Gate, openAiKeys, reasonsUntil, useOpenAiServer } from './servers/proReasoning';
import { REQUEST, collect, within } from './servers/collect';

const TEXT = [' Paris', ' is', ' a', ' city'];
const TIMEOUTS = { connectTimeoutMs: 10_000, firstByteTimeoutMs: 60_000, idleTimeoutMs: 60_000, callTimeoutMs: 120_000, maxRetries: 0 };

// Test Provider's token count comes after the continuation; no other request is expected.
const openAi = useOpenAiServer(countingTokens((_request, res) => sendJson(res, 500, { error: { message: 'no responder queued' } })));
const provider = (model: string, extra: Partial<ProviderConfig> = {}): LlmProvider => openAi.provider(model, { ...TIMEOUTS, ...extra });

/** A gate already open: the text follows the prelude at once. */
const openGate = (): Gate => {
  const gate = new Gate();
  gate.open();
  return gate;
};

/** The ticks from the first 'reasoning' on. */
const fromReasoning = (ticks: readonly WaitTick[]) => ticks.slice(ticks.findIndex((tick) => tick.state === 'reasoning'));

test("transport: a pro model's first byte (still where it was) says its output is pending, and 'output' follows when the text begins; an ordinary model's events are as before", async () => {
  openAi.server.enqueue(reasonsUntil(openGate(), TEXT));
  const pro: TransportEvent[] = [];
  const out = await within(collect(provider('gpt-5-pro'), { ...REQUEST, maxTokens: 100, onTransport: (e) => pro.push(e) }), 20_000, 'the pro call');
  assert.equal(out.text, TEXT.join(''));
  assert.deepEqual(pro, [
    { phase: 'connecting', attempt: 1 },
    { phase: 'waiting', attempt: 1 },
    { phase: 'receiving', attempt: 1, outputPending: true },
    { phase: 'output', attempt: 1 },
  ]);

  openAi.server.enqueue(reasonsUntil(openGate(), TEXT));
  const ordinary: TransportEvent[] = [];
  await within(collect(provider('gpt-5.1-codex'), { ...REQUEST, maxTokens: 100, onTransport: (e) => ordinary.push(e) }), 20_000, 'the codex call');
  assert.deepEqual(ordinary, [
    { phase: 'connecting', attempt: 1 },
    { phase: 'waiting', attempt: 1 },
    { phase: 'receiving', attempt: 1 },
  ]);
});

test('Test Provider: after the first byte the wait goes on ticking as gpt-5-pro reasoning, and ends once its text comes', async () => {
  const gate = new Gate();
  openAi.server.enqueue(reasonsUntil(gate, TEXT));
  const ticks: WaitTick[] = [];
  const onWait = (tick: WaitTick) => {
    ticks.push(tick);
    if (ticks.filter((t) => t.state === 'reasoning').length >= 2) gate.open();
  };
  const result = await within(
    runProviderTest(provider('gpt-5-pro'), null, () => undefined, { onWait }),
    60_000,
    'the test',
  );
  assert.equal(result.ok, true, result.summary);
  assert.ok(gate.isOpen, `the reasoning was never told while the server was silent: ${JSON.stringify(ticks)}`);
  const reasoning = fromReasoning(ticks);
  assert.deepEqual(
    reasoning.map((tick) => tick.state),
    [...reasoning.slice(0, -1).map(() => 'reasoning'), 'receiving'],
    'reasoning on every tick after the first byte, closed once the text came',
  );
  assert.ok(reasoning.every((tick) => tick.state !== 'reasoning' || tick.model === 'gpt-5-pro'));
});

test("a pro model served on chat that streams its reasoning (OpenRouter's delta.reasoning) is still told as reasoning until its text", async () => {
  const gate = new Gate();
  const chunk = (delta: Record<string, string>, finish: string | null = null) =>
    `data: ${JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] })}\n\n`;
  openAi.server.enqueue(async (_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(chunk({ reasoning: 'Thinking about France.' }));
    await gate.opened(15_000);
    if (!res.destroyed) res.end(TEXT.map((text) => chunk({ content: text })).join('') + chunk({}, 'stop') + 'data: [DONE]\n\n');
  });
  const chat = createProvider({ kind: 'openai-chat', baseUrl: `${openAi.server.url}/v1`, model: 'openai/o3-pro', ...TIMEOUTS }, openAiKeys());
  const ticks: WaitTick[] = [];
  const onWait = (tick: WaitTick) => {
    ticks.push(tick);
    if (ticks.filter((t) => t.state === 'reasoning').length >= 2) gate.open();
  };
  const result = await within(
    runProviderTest(chat, null, () => undefined, { onWait }),
    60_000,
    'the test',
  );
  assert.equal(result.ok, true, result.summary);
  assert.ok(gate.isOpen, `the reasoning was not told on after its first chunk: ${JSON.stringify(ticks)}`);
  assert.equal(fromReasoning(ticks).at(-1)?.state, 'receiving');
});
