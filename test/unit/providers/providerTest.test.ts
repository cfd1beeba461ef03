import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PROVIDER_TEST_REQUEST, runProviderTest } from '../../../src/core/providers/providerTest';
import { waitLines } from '../../../src/cli/render';
import { createProvider } from '../../../src/core/providers/factory';
import { resolvePrice } from '../../../src/core/providers/pricing';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import { CALIBRATION_TEXT } from '../../../src/core/relay/tokenCalibration';
import { anthropicCountTokens, anthropicStream } from './servers/anthropic';
import { FakeServer, startFakeServer, type Responder } from './servers/harness';
import { openAiErrors, openAiStream } from './servers/openai';
import { FAST } from './servers/collect';

let server: FakeServer;
before(async () => {
  server = await startFakeServer(openAiStream({ pieces: [' 4', ',', ' 5', ','] }));
});
after(() => server.close());

const provider = (extra: Record<string, unknown> = {}) =>
  createProvider(
    { kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'gpt-4o-mini', assistantPrefix: 'on', maxRetries: 0, ...FAST, ...extra },
    new MemoryKeySource(),
  );

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('provider test: prints the continuation, latency, tokens and cost', async () => {
  server.enqueue(openAiStream({ pieces: [' 4', ',', ' 5', ','], usage: { prompt_tokens: 1_000_000, completion_tokens: 50 } }));
  const lines: string[] = [];
  const before = server.requests.length;
  const result = await runProviderTest(provider(), resolvePrice('openai-chat', 'gpt-4o-mini'), (l) => lines.push(l));
  const report = lines.join('\n');
  assert.equal(result.ok, true, report);
  assert.match(result.summary, /^gpt-4o-mini at 127\.0\.0\.1:\d+ answered: first text \d+ ms, total \d+ ms, cost \$0\.150030\.$/);
  assert.equal(server.lastRequest.body.max_tokens, PROVIDER_TEST_REQUEST.maxTokens);
  assert.match(report, /" 4, 5,"/);
  assert.match(report, /Latency: first text \d+ ms, total \d+ ms/);
  assert.match(report, /Tokens: 1000000 in, 50 out/);
  // 0.15 + 0.60 per million; an output count far past max_tokens (8) would be counted locally instead.
  assert.match(report, /Cost: \$0\.150030/);
  // A chat-completions server other than api.openai.com has no token count, and is not asked for one.
  assert.match(
    report,
    /Token count: none \(bad_request: The openai-chat provider at 127\.0\.0\.1:\d+ has no endpoint that counts tokens\.\); a new model pair's first call is priced from the small model's count$/,
  );
  assert.equal(server.requests.length - before, 1, 'the continuation only');
});

test('provider test: an unknown price prints as unknown, estimated usage is flagged', async () => {
  server.enqueue(openAiStream({ pieces: [' 4,'], usage: false }));
  const lines: string[] = [];
  assert.equal((await runProviderTest(provider(), null, (l) => lines.push(l))).ok, true);
  assert.match(lines.join('\n'), /Cost: unknown \(no price for this model; set relay\.prices\.\* \(CLI: --price-in/);
  assert.match(lines.join('\n'), /estimated/);
});

test('provider test: an error prints its code, message and fix and returns false', async () => {
  server.enqueue(openAiErrors.noModel('gpt-4o-mini'));
  const lines: string[] = [];
  const result = await runProviderTest(provider(), null, (l) => lines.push(l));
  assert.equal(result.ok, false);
  assert.equal(result.fix, 'llm-model', 'the button that helps, for a notification: the LLM model setting');
  assert.match(result.summary, /^FAILED \(model_not_found\)/);
  assert.match(lines.join('\n'), /FAILED \(model_not_found\)/);
  assert.match(lines.join('\n'), /Fix: pick another model in relay\.provider\.model \(CLI: --model\)\./);
});

test('provider test: a wrong key names the variables to set, and the fix names both ways', async () => {
  server.enqueue(openAiErrors.badKey('sk-wrong-key-000000'));
  const lines: string[] = [];
  assert.equal((await runProviderTest(provider(), null, (l) => lines.push(l))).ok, false);
  const report = lines.join('\n');
  assert.match(report, /FAILED \(auth\): .*\(CLI: set RELAY_API_KEY or OPENAI_API_KEY\)/);
  assert.match(report, /Fix: set the key with 'Relay: Set API Key' \(CLI: the RELAY_API_KEY environment variable or the provider's own\)\./);
  assert.doesNotMatch(report, /named above/);
});

test('provider test: while no byte has come it reports "waiting for <host>... N s" (at the first tick, then every 5 s), then stops', async () => {
  // The server answers once the first line was shown: a fixed delay would race the tick on a busy machine.
  let shown = (): void => undefined;
  const firstLine = new Promise<void>((resolve) => (shown = resolve));
  // Bounded: with no line at all the server answers after 10 s, and the assertions below fail.
  const fallback = setTimeout(() => shown(), 10_000);
  const late: Responder = async (request, res) => {
    await firstLine;
    return openAiStream({ pieces: [' 4,'] })(request, res);
  };
  server.enqueue(late);
  const p = provider();
  const progress: string[] = [];
  const onWait = waitLines(p.host, (line) => {
    progress.push(line);
    shown();
  });
  assert.equal((await runProviderTest(p, null, () => undefined, { onWait })).ok, true);
  clearTimeout(fallback);
  assert.equal(progress.length, 1, progress.join(' | '));
  assert.match(progress[0], new RegExp(`^waiting for ${p.host.replace(/\./g, '\\.')}\\.\\.\\. \\d+ s$`));
  const count = progress.length;
  await pause(1200);
  assert.equal(progress.length, count, 'no line after the answer came');
});

test('provider test: a retry is reported on the progress line with its reason', async () => {
  server.enqueue(openAiErrors.unavailable(), openAiStream({ pieces: [' 4,'] }));
  const progress: string[] = [];
  const retrying = provider({ maxRetries: 1 });
  assert.equal((await runProviderTest(retrying, null, () => undefined, { onWait: waitLines(retrying.host, (line) => progress.push(line)) })).ok, true);
  assert.ok(
    progress.some((line) => /^127\.0\.0\.1:\d+: HTTP 503; trying again \(0 s so far\)$/.test(line)),
    progress.join('\n'),
  );
});

test('provider test: passes against models that refuse prefill, sampling fields or max_tokens (from the table, or learned from the 400)', async () => {
  const KEY = 'sk-ant-provider-test-0123456789';
  const continuing = anthropicStream({ pieces: [' 4', ',', ' 5', ','], stopReason: 'max_tokens' }, KEY);
  const counting = anthropicCountTokens((body) => 100 + body.messages[0].content.length, KEY);
  const anthropic = await startFakeServer((request, res) => (request.path.endsWith('/count_tokens') ? counting : continuing)(request, res));
  try {
    for (const [model, continuation, requests] of [
      ['claude-3-5-haiku-latest', 'assistant-prefix', 1],
      ['claude-opus-4-6', 'instructed', 1],
      ['claude-opus-5', 'instructed', 1],
      // Not in the table: prefill first, refused, then the same call instructed.
      ['claude-nova-latest', 'assistant-prefix', 2],
    ] as const) {
      const p = createProvider({ kind: 'anthropic', baseUrl: anthropic.url, model, maxRetries: 0, ...FAST }, new MemoryKeySource({ anthropic: KEY }));
      const lines: string[] = [];
      const before = anthropic.requests.length;
      assert.equal((await runProviderTest(p, null, (l) => lines.push(l))).ok, true, lines.join('\n'));
      const report = lines.join('\n');
      assert.match(report, new RegExp(`continuation: ${continuation}`), model);
      assert.match(report, /Continuation: "1, 2, 3," \+ " 4, 5,"/, model);
      // Then the API's free count of the sample text a new pair's first answer has counted.
      assert.match(report, new RegExp(`Token count: ${100 + CALIBRATION_TEXT.length} input tokens for Relay's sample text`), model);
      assert.equal(anthropic.requests.length - before, requests + 1, model);
      assert.equal(anthropic.lastRequest.path, '/v1/messages/count_tokens', model);
    }
  } finally {
    await anthropic.close();
  }
  for (const model of ['gpt-5-mini', 'gpt-5.1', 'o4-mini']) {
    server.enqueue(openAiStream({ pieces: [' 4', ',', ' 5', ','], reasoning: { low: 2 } }));
    const lines: string[] = [];
    assert.equal((await runProviderTest(provider({ model, assistantPrefix: 'off' }), null, (l) => lines.push(l))).ok, true, lines.join('\n'));
    const sent = server.lastRequest.body;
    assert.equal(sent.max_completion_tokens, PROVIDER_TEST_REQUEST.maxTokens, model);
    assert.equal(sent.max_tokens, undefined, model);
    assert.equal(sent.reasoning_effort, { 'gpt-5-mini': 'minimal', 'gpt-5.1': 'none', 'o4-mini': 'low' }[model], model);
    assert.match(lines.join('\n'), /" 4, 5,"/, model);
  }
});
