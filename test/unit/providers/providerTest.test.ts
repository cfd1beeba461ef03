import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { PROVIDER_TEST_REQUEST, runProviderTest } from '../../../src/cli/providerTest';
import { createProvider } from '../../../src/core/providers/factory';
import { resolvePrice } from '../../../src/core/providers/pricing';
import { MemorySecretStore } from '../../../src/core/providers/secrets';
import { FakeServer, startFakeServer } from './servers/harness';
import { openAiErrors, openAiStream } from './servers/openai';
import { FAST } from './servers/collect';

let server: FakeServer;
before(async () => {
  server = await startFakeServer(openAiStream({ pieces: [' 4', ',', ' 5', ','] }));
});
after(() => server.close());

const provider = () => createProvider({ kind: 'openai-chat', baseUrl: `${server.url}/v1`, model: 'gpt-4o-mini', assistantPrefix: 'on', maxRetries: 0, ...FAST }, new MemorySecretStore());

test('provider test: prints the continuation, latency, tokens and cost', async () => {
  server.enqueue(openAiStream({ pieces: [' 4', ',', ' 5', ','], usage: { prompt_tokens: 1_000_000, completion_tokens: 1_000_000 } }));
  const lines: string[] = [];
  const ok = await runProviderTest(provider(), resolvePrice('openai-chat', 'gpt-4o-mini'), (l) => lines.push(l));
  const report = lines.join('\n');
  assert.equal(ok, true, report);
  assert.equal(server.lastRequest.body.max_tokens, PROVIDER_TEST_REQUEST.maxTokens);
  assert.match(report, /" 4, 5,"/);
  assert.match(report, /Latency: first text \d+ ms, total \d+ ms/);
  assert.match(report, /Tokens: 1000000 in, 1000000 out/);
  assert.match(report, /Cost: \$0\.750000/); // 0.15 + 0.60 per million
});

test('provider test: an unknown price prints as unknown, estimated usage is flagged', async () => {
  server.enqueue(openAiStream({ pieces: [' 4,'], usage: false }));
  const lines: string[] = [];
  assert.equal(await runProviderTest(provider(), null, (l) => lines.push(l)), true);
  assert.match(lines.join('\n'), /Cost: unknown/);
  assert.match(lines.join('\n'), /estimated/);
});

test('provider test: an error prints its code, message and fix and returns false', async () => {
  server.enqueue(openAiErrors.noModel('gpt-4o-mini'));
  const lines: string[] = [];
  assert.equal(await runProviderTest(provider(), null, (l) => lines.push(l)), false);
  assert.match(lines.join('\n'), /FAILED \(model_not_found\)/);
  assert.match(lines.join('\n'), /Fix: pick another model/);
});
