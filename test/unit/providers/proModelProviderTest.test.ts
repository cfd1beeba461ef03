/**
 * `relay provider test` / "Relay: Test Provider" for a model that reasons for minutes before it
 * writes (OpenAI's pro models): said before the wait (which may be all the user sees) and in
 * the warning after it, with the setting that bounds the wait and its value; other models
 * get neither. Against a 127.0.0.1 server speaking OpenAI's Responses stream (and chat) at once.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { createProvider } from '../../../src/core/providers/factory';
import { forgetLearnedFacts } from '../../../src/core/providers/modelCapabilities';
import { runProviderTest } from '../../../src/core/providers/providerTest';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { LlmProvider, ProviderConfig } from '../../../src/core/providers/types';
import { DoubleProvider, usage } from '../relay/doubles';
import { FakeServer, loopbackAgent, sendJson, startFakeServer } from './servers/harness';
import { openAiStream } from './servers/openai';

const KEY = 'sk-test-pro-test-0123456789abcdef';
const event = (data: Record<string, unknown>) => `event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`;
const USAGE = { input_tokens: 40, output_tokens: 12, output_tokens_details: { reasoning_tokens: 8 } };
const ANSWER =
  event({ type: 'response.created', response: { id: 'resp_1', status: 'in_progress' } }) +
  event({ type: 'response.output_item.added', output_index: 0, item: { id: 'msg_1', type: 'message', role: 'assistant', content: [] } }) +
  [' 4,', ' 5,', ' 6,', ' 7']
    .map((delta) => event({ type: 'response.output_text.delta', item_id: 'msg_1', output_index: 0, content_index: 0, delta }))
    .join('') +
  event({ type: 'response.completed', response: { id: 'resp_1', status: 'completed', usage: USAGE } });

const chat = openAiStream({ pieces: [' 4,', ' 5,', ' 6,', ' 7'] });

let server: FakeServer;
before(async () => {
  server = await startFakeServer((request, res) => {
    if (request.path.endsWith('/responses/input_tokens')) return sendJson(res, 200, { object: 'response.input_tokens', input_tokens: 40 });
    if (request.path.endsWith('/chat/completions')) return chat(request, res);
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8' });
    res.end(ANSWER);
  });
});
after(() => server.close());
beforeEach(() => forgetLearnedFacts());

/** The model on OpenAI's API (answered by the fake server). */
const provider = (model: string, extra: Partial<ProviderConfig> = {}): LlmProvider =>
  createProvider({ kind: 'openai-chat', baseUrl: 'http://api.openai.com/v1', model, maxRetries: 0, ...extra }, new MemoryKeySource({ 'openai-chat': KEY }), {
    agents: { http: loopbackAgent(server.url) },
  });

async function tested(llm: LlmProvider) {
  const lines: string[] = [];
  const result = await runProviderTest(llm, null, (line) => lines.push(line));
  return { result, lines };
}

test('gpt-5-pro: the test says before its wait that it may take up to the call timeout, and warns after it, beside its hidden reasoning', async () => {
  const { result, lines } = await tested(provider('gpt-5-pro'));
  assert.equal(result.ok, true, result.summary);
  assert.equal(server.lastRequest.path.startsWith('/v1/responses'), true);
  const before = lines.indexOf('gpt-5-pro reasons for minutes before it writes: this test may take up to 300 s.');
  assert.equal(before, 1, 'said right after "Testing...", before the wait');
  assert.ok(before < lines.findIndex((l) => l.startsWith('Continuation:')));
  const warning = lines.find((l) => l.startsWith('Warning: gpt-5-pro reasons before it writes and that cannot be turned off'));
  assert.ok(warning, lines.join('\n'));
  assert.match(
    warning,
    /still be billed\..* It also reasons for minutes before it writes, sending nothing meanwhile: Relay waits for its text up to relay\.provider\.callTimeoutSeconds \(CLI: --call-timeout\), now 300 s, so each call, and this test, may take minutes\.$/,
  );
  assert.equal(
    result.warning,
    'Its hidden reasoning cannot be turned off: short spans may come back empty and still be billed. It reasons for minutes before it writes: each call may take minutes.',
  );
});

test('the call timeout the user set is the one named', async () => {
  const { lines } = await tested(provider('o3-pro', { callTimeoutMs: 1_200_000 }));
  assert.ok(lines.includes('o3-pro reasons for minutes before it writes: this test may take up to 1200 s.'), lines.join('\n'));
  assert.ok(lines.some((l) => l.includes('relay.provider.callTimeoutSeconds (CLI: --call-timeout), now 1200 s, so each call')));
});

test('a reasoning model that writes at once (gpt-5-mini) gets the reasoning warning alone', async () => {
  const { result, lines } = await tested(provider('gpt-5-mini'));
  assert.equal(result.ok, true, result.summary);
  assert.doesNotMatch(lines.join('\n'), /for minutes/);
  assert.equal(result.warning, 'Its hidden reasoning cannot be turned off: short spans may come back empty and still be billed.');
});

test('a provider that waits for minutes without the reasoning warning: the warning stands alone, naming the model', async () => {
  class Quiet extends DoubleProvider {
    readonly quietUntilOutputMs = 600_000;
  }
  const { result, lines } = await tested(new Quiet([{ chunks: [' 4, 5'], finish: 'stop', usage: usage(10, 3) }]));
  assert.equal(result.ok, true, result.summary);
  assert.ok(
    lines.includes(
      'Warning: double-llm reasons for minutes before it writes, sending nothing meanwhile: Relay waits for its text up to relay.provider.callTimeoutSeconds (CLI: --call-timeout), now 600 s, so each call, and this test, may take minutes.',
    ),
    lines.join('\n'),
  );
  assert.equal(result.warning, 'It reasons for minutes before it writes: each call may take minutes.');
});
