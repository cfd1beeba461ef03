/**
 * OpenAI's pro models reason silently for minutes, waited for up to the call timeout
 * (reasoningWait.test.ts). The answer's silence ceiling counts only new tokens, so it stays
 * above that wait: a pro model still reasoning when the call timeout ends it is reported by
 * the call timeout's error (naming the server and relay.provider.callTimeoutSeconds), never
 * as "stalled". Against a 127.0.0.1 Responses server that sends the prelude and then nothing.
 * No timing is asserted: only how the answer ends.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { RelayComposition, type RelaySetup } from '../../../src/core/compose';
import { forgetLearnedFacts } from '../../../src/core/providers/modelCapabilities';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { collectRelay } from '../../../src/core/relay/engine';
import type { ChatMessage } from '../../../src/core/slm/types';
import { FakeServer, loopbackAgent, sendJson, startFakeServer } from '../providers/servers/harness';
import { within } from '../providers/servers/collect';
import { DoubleRuntime } from './doubles';

const KEY = 'sk-test-pro-silence-0123456789abcdef';
const event = (data: Record<string, unknown>) => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;
/** What OpenAI sends at once for a pro model; then nothing while it reasons. */
const PRELUDE =
  event({ type: 'response.created', response: { id: 'resp_1', status: 'in_progress' } }) +
  event({ type: 'response.in_progress', response: { id: 'resp_1', status: 'in_progress' } }) +
  event({ type: 'response.output_item.added', output_index: 0, item: { id: 'rs_1', type: 'reasoning', summary: [] } });

let server: FakeServer;
let folder: string;
before(async () => {
  // OpenAI's free token count answers at once; every call reasons past any timeout (silent until the client leaves).
  server = await startFakeServer((request, res) => {
    if (request.path.endsWith('/responses/input_tokens')) return sendJson(res, 200, { object: 'response.input_tokens', input_tokens: 40 });
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.write(PRELUDE);
  });
  folder = mkdtempSync(join(tmpdir(), 'relay-pro-silence-'));
  writeFileSync(join(folder, 'tokenizer_config.json'), JSON.stringify({}));
});
after(async () => {
  await server.close();
  rmSync(folder, { recursive: true, force: true });
});

const messages: ChatMessage[] = [{ role: 'user', content: 'Why is the sky blue?' }];

/** gpt-5-pro on OpenAI's API (answered by the fake server), with these timeouts (seconds) and silence ceiling setting. */
function setupFor(model: string, timeouts: RelaySetup['provider']['timeouts'], maxStallSeconds: number): RelaySetup {
  return {
    provider: { kind: 'openai-chat', baseUrl: 'http://api.openai.com/v1', model, templateFolder: '', timeouts, caching: 'auto' },
    prices: {},
    mode: 'llm-only',
    thinking: false,
    confidence: { threshold: 0.5, spanTokens: 2, maxLlmShare: 1 },
    maxTurns: 5,
    tokenBudget: 64,
    temperature: 0,
    limits: { maxLlmCalls: 8, maxCostUsd: 1, maxStallSeconds },
  };
}

async function composed(setup: RelaySetup) {
  forgetLearnedFacts();
  const slm = new DoubleRuntime([]);
  const deps = {
    slm,
    slmFolder: folder,
    keys: new MemoryKeySource({ 'openai-chat': KEY }),
    renderTemplate: async () => '',
    openLocalLlm: async () => slm,
    agents: { http: loopbackAgent(server.url), https: new HttpsAgent() },
  };
  const composition = await RelayComposition.open(setup, deps, 'llm-only');
  return composition.options(messages, await composition.prepare(messages));
}

test('the silence ceiling stays above the wait for a pro model reasoning (its call timeout); other models keep it as it was', async () => {
  const timeouts = { connect: 10, firstByte: 60, idle: 30, call: 1200 };
  assert.equal((await composed(setupFor('gpt-5-pro', timeouts, 180))).maxStallMs, 1200_000 + 15_000, 'a 20-minute call timeout, and the margin');
  assert.equal((await composed(setupFor('o3-pro', { ...timeouts, call: 300 }, 180))).maxStallMs, 300_000 + 15_000, 'the default call timeout');
  assert.equal((await composed(setupFor('gpt-5-pro', { ...timeouts, call: 60 }, 180))).maxStallMs, 180_000, 'a setting already above it is kept');
  assert.equal((await composed(setupFor('gpt-5', timeouts, 180))).maxStallMs, 180_000, 'a model that writes at once: the setting (above 2 x 70 s + 15 s)');
});

test('a pro model reasoning past its call timeout, under a smaller silence ceiling setting: the answer ends with the call timeout error, not "stalled"', async () => {
  // The ceiling the setting gets for these waits alone is 2 x (0.1 + 0.1) + 15 = 15.4 s: below the 16 s call timeout.
  const options = await composed(setupFor('gpt-5-pro', { connect: 0.1, firstByte: 0.1, idle: 0.1, call: 16 }, 1));
  const { stats, events } = await within(collectRelay(options), 120_000, 'the answer');
  const errors = events.filter((e) => e.type === 'error');
  assert.equal(stats.finishReason, 'error', `ended as ${stats.finishReason}, not by the call timeout`);
  assert.equal(errors.length, 1);
  const error = errors[0] as { code: string; message: string };
  assert.equal(error.code, 'timeout');
  assert.match(error.message, /The call to api\.openai\.com took more than 16 s in all/);
  assert.match(error.message, /raise relay\.provider\.callTimeoutSeconds/);
  assert.ok(
    server.requests.some((r) => r.path === '/v1/responses'),
    'the call went to the Responses API',
  );
});
