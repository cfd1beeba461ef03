/**
 * What an answer shows while OpenAI's pro model reasons silently (its Responses stream: the
 * prelude at once, then nothing until the text). Through the real composition, provider and
 * engine against a 127.0.0.1 server: the call's wait events keep coming after the first byte,
 * as gpt-5-pro reasoning, and stop once the text flows; the CLI's stderr says so. A model that
 * writes at once keeps its events as they were: the wait ends at the first byte. The server
 * holds its silences until the test saw the events it waits for (bounded): no times asserted.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { waitReporter } from '../../../src/cli/render';
import { collectRelay } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import type { Responder } from '../providers/servers/harness';
import { within } from '../providers/servers/collect';
import { countingTokens, Gate, PRO_PRELUDE, proText, reasonsUntil, useOpenAiServer } from '../providers/servers/proReasoning';
import { openAiSetup, useComposition } from './openAiComposition';

const TEXT = [' The', ' sky', ' scatters', ' blue', ' light.'];

// Any further call of an answer: written at once.
const openAi = useOpenAiServer(
  countingTokens((_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.end(PRO_PRELUDE + proText(TEXT));
  }),
);
const compose = useComposition();
const composed = (model: string) => compose(openAiSetup(model, { connect: 10, firstByte: 60, idle: 60, call: 120 }, 180), openAi.server);

type CallWait = Extract<RelayEvent, { type: 'call-wait' }>;
const firstCallWaits = (events: readonly RelayEvent[]) => events.filter((e): e is CallWait => e.type === 'call-wait' && e.callIndex === 0);
const firstCallSpan = (events: readonly RelayEvent[]) => events.findIndex((e) => e.type === 'span' && e.source === 'llm' && e.callIndex === 0);

test('gpt-5-pro: after the first byte the wait events go on, as the model reasoning, and stop once its text flows; stderr says so', async () => {
  const gate = new Gate();
  openAi.server.enqueue(reasonsUntil(gate, TEXT));
  let stderr = '';
  const toStderr = waitReporter({ write: (text) => void (stderr += text), isTTY: false });
  let reasoningTicks = 0;
  const onEvent = (event: RelayEvent) => {
    toStderr(event);
    if (event.type === 'call-wait' && event.callIndex === 0 && event.state === 'reasoning') reasoningTicks += 1;
    if (reasoningTicks >= 2) gate.open();
  };
  const { answer, events } = await within(collectRelay(await composed('gpt-5-pro'), onEvent), 60_000, 'the answer');
  assert.ok(gate.isOpen, `no wait was told as reasoning while the server was silent after its first byte: ${JSON.stringify(firstCallWaits(events))}`);
  assert.equal(answer, TEXT.join(''));

  const waits = firstCallWaits(events);
  const reasoningFrom = waits.findIndex((e) => e.state === 'reasoning');
  const states = waits.slice(reasoningFrom).map((e) => e.state);
  assert.deepEqual(states, [...states.slice(0, -1).map(() => 'reasoning'), 'receiving'], 'reasoning on every tick until the text, then closed');
  assert.ok(states.length >= 3, 'ticked on while the server was silent');
  for (const e of waits.slice(reasoningFrom, -1)) assert.deepEqual([e.host, e.model], ['api.openai.com', 'gpt-5-pro']);
  assert.ok(waits.slice(0, reasoningFrom).every((e) => e.state === 'waiting'));

  // The wait ends before the text: no wait event of the call after its first span.
  const span = firstCallSpan(events);
  assert.ok(span > events.indexOf(waits.at(-1)!), 'the wait closed before the text was shown');
  assert.match(stderr, /^relay: api\.openai\.com: gpt-5-pro is reasoning\.\.\. \d+ s \(it can take minutes\)$/m);
});

test('a model that writes at once (gpt-5.1): its wait still ends at the first byte, whatever the silence after it', async () => {
  const toldWaiting = new Gate();
  // Silent before its headers until the wait was told (so its closing event is sent), then the prelude, a silence, the text.
  const writesLater: Responder = async (_request, res) => {
    await toldWaiting.opened(15_000);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.write(PRO_PRELUDE);
    // A plain pause, not a measured one: a clock that went on after the first byte would tick in it.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    if (!res.destroyed) res.end(proText(TEXT));
  };
  openAi.server.enqueue(writesLater);
  const onEvent = (event: RelayEvent) => {
    if (firstCallWaits([event]).length === 1) toldWaiting.open();
  };
  const { events } = await within(collectRelay(await composed('gpt-5.1'), onEvent), 60_000, 'the answer');
  const states = firstCallWaits(events).map((e) => e.state);
  assert.ok(toldWaiting.isOpen);
  assert.deepEqual(states, [...states.slice(0, -1).map(() => 'waiting'), 'receiving'], 'waiting until the first byte, then closed');
  assert.ok(firstCallWaits(events).every((e) => e.model === undefined));
});
