/**
 * OpenAI's pro models reason silently for minutes, waited for up to the call timeout
 * (reasoningWait.test.ts). The answer's silence ceiling counts only new tokens, so it stays
 * above that wait: a pro model still reasoning when the call timeout ends it is reported by
 * the call timeout's error (naming the server and relay.provider.callTimeoutSeconds), never
 * as "stalled". Against a 127.0.0.1 Responses server that sends the prelude and then nothing.
 * No timing is asserted: only how the answer ends.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collectRelay } from '../../../src/core/relay/engine';
import { within } from '../providers/servers/collect';
import { countingTokens, PRO_PRELUDE, useOpenAiServer } from '../providers/servers/proReasoning';
import { openAiSetup, useComposition } from './openAiComposition';

// Every call reasons past any timeout (silent until the client leaves).
const openAi = useOpenAiServer(
  countingTokens((_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.write(PRO_PRELUDE);
  }),
);
const compose = useComposition();
/** The options of an answer by `model` on OpenAI's API (answered by the fake server), with these timeouts (seconds) and silence ceiling setting. */
const composed = (model: string, timeouts: Parameters<typeof openAiSetup>[1], maxStallSeconds: number) =>
  compose(openAiSetup(model, timeouts, maxStallSeconds), openAi.server);

test('the silence ceiling stays above the wait for a pro model reasoning (its call timeout); other models keep it as it was', async () => {
  const timeouts = { connect: 10, firstByte: 60, idle: 30, call: 1200 };
  assert.equal((await composed('gpt-5-pro', timeouts, 180)).maxStallMs, 1200_000 + 15_000, 'a 20-minute call timeout, and the margin');
  assert.equal((await composed('o3-pro', { ...timeouts, call: 300 }, 180)).maxStallMs, 300_000 + 15_000, 'the default call timeout');
  assert.equal((await composed('gpt-5-pro', { ...timeouts, call: 60 }, 180)).maxStallMs, 180_000, 'a setting already above it is kept');
  assert.equal((await composed('gpt-5', timeouts, 180)).maxStallMs, 180_000, 'a model that writes at once: the setting (above 2 x 70 s + 15 s)');
});

test('a pro model reasoning past its call timeout, under a smaller silence ceiling setting: the answer ends with the call timeout error, not "stalled"', async () => {
  // The ceiling the setting gets for these waits alone is 2 x (0.1 + 0.1) + 15 = 15.4 s: below the 16 s call timeout.
  const options = await composed('gpt-5-pro', { connect: 0.1, firstByte: 0.1, idle: 0.1, call: 16 }, 1);
  const { stats, events } = await within(collectRelay(options), 120_000, 'the answer');
  const errors = events.filter((e) => e.type === 'error');
  assert.equal(stats.finishReason, 'error', `ended as ${stats.finishReason}, not by the call timeout`);
  assert.equal(errors.length, 1);
  const error = errors[0] as { code: string; message: string };
  assert.equal(error.code, 'timeout');
  assert.match(error.message, /The call to api\.openai\.com took more than 16 s in all/);
  assert.match(error.message, /raise relay\.provider\.callTimeoutSeconds/);
  assert.ok(
    openAi.server.requests.some((r) => r.path === '/v1/responses'),
    'the call went to the Responses API',
  );
});
