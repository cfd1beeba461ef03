/**
 * `relay solve` against local servers that behave as the LLM APIs of late 2026 do
 * (servers/anthropic.ts FAKE_CLAUDES, servers/openai.ts FAKE_GPTS): Claude 4.6+ refusing
 * prefill, a model id newer than Relay's table, gpt-5 refusing temperature and max_tokens
 * and billing hidden reasoning. Each answer ends without an error, with the server's text
 * and an honest cost; the trained demo SLM asks the LLM for help on the demo question.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { main } from '../../../src/cli/main';
import { DEMO_QUESTION, findDemoModels } from '../../../src/cli/demoModels';
import { forgetLearnedFacts } from '../../../src/core/providers/modelCapabilities';
import { startFakeServer, type FakeServer } from '../providers/servers/harness';
import { anthropicStream, PREFILL_REFUSED } from '../providers/servers/anthropic';
import { openAiStream } from '../providers/servers/openai';
import { noSettingsFile } from './runCli';

let work: string;
const SLM = findDemoModels().slmFolder;
const KEY = 'sk-relay-test-key-0000000000';

before(() => {
  work = mkdtempSync(join(tmpdir(), 'relay-apis-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

async function solve(server: FakeServer, provider: string, model: string): Promise<{ code: number; json: Record<string, any>; stdout: string }> {
  let stdout = '';
  const out = { write: (t: string) => void (stdout += t), isTTY: false };
  const saved = { ...process.env };
  Object.assign(process.env, { RELAY_HOME: work, RELAY_CONFIG: noSettingsFile(work), RELAY_API_KEY: KEY });
  forgetLearnedFacts();
  try {
    const base = provider === 'anthropic' ? server.url : `${server.url}/v1`;
    const args = [
      'solve',
      DEMO_QUESTION,
      '--plain-prompt',
      '--slm',
      SLM,
      '--temperature',
      '0.7',
      '--seed',
      '3',
      '--provider',
      provider,
      '--base-url',
      base,
      '--model',
      model,
      '--price-in',
      '1',
      '--price-out',
      '4',
      '--json',
    ];
    const code = await main(args, { stdout: out, stderr: { write: () => undefined, isTTY: false } }, new AbortController().signal);
    const lines = stdout.trim().split('\n');
    return { code, json: JSON.parse(lines[lines.length - 1]), stdout };
  } finally {
    process.env = saved;
  }
}

test('Claude 4.6 (no prefill): the answer continues by instruction, one request per call, no error', async () => {
  const server = await startFakeServer(anthropicStream({ pieces: ['282'], stopReason: 'max_tokens', usage: { input_tokens: 40, output_tokens: 2 } }, KEY));
  try {
    const { code, json } = await solve(server, 'anthropic', 'claude-opus-4-6');
    assert.equal(code, 0, JSON.stringify(json));
    assert.ok(json.calls >= 1, 'the demo SLM called');
    // Besides the calls: the API's free token count of Relay's sample text, once for the new pair.
    const calls = server.requests.filter((r) => r.path === '/v1/messages');
    assert.deepEqual(
      server.requests.filter((r) => r.path !== '/v1/messages').map((r) => r.path),
      ['/v1/messages/count_tokens'],
    );
    assert.equal(calls.length, json.calls, 'no refused request');
    for (const request of calls) assert.equal(request.body.messages.at(-1).role, 'user', 'the conversation ends with a user turn');
    assert.ok(json.answer.includes('282'));
    assert.ok(json.cost_usd > 0);
  } finally {
    await server.close();
  }
});

test('a Claude id newer than the table that refuses prefill: one refused (unbilled) request, then instruction, remembered', async () => {
  const server = await startFakeServer(anthropicStream({ pieces: ['282'], stopReason: 'max_tokens', usage: { input_tokens: 40, output_tokens: 2 } }, KEY));
  try {
    const { code, json } = await solve(server, 'anthropic', 'claude-nova-latest');
    assert.equal(code, 0, JSON.stringify(json));
    const calls = server.requests.filter((r) => r.path === '/v1/messages');
    assert.equal(calls.length, json.calls + 1, 'one refusal in the whole answer');
    const refused = calls[0];
    assert.equal(refused.body.messages.at(-1).role, 'assistant', 'it tried prefill first');
    assert.equal(json.llm_input_tokens, 40 * json.calls, 'the refused request is not billed');
    assert.ok(PREFILL_REFUSED.length > 0);
  } finally {
    await server.close();
  }
});

test('gpt-5-mini: no temperature, max_completion_tokens, the lowest effort; billed reasoning of an unknown deployment is counted', async () => {
  const server = await startFakeServer(openAiStream({ pieces: ['282'], finishReason: 'length' }));
  try {
    const mini = await solve(server, 'openai-chat', 'gpt-5-mini');
    assert.equal(mini.code, 0, JSON.stringify(mini.json));
    assert.equal(server.requests.length, mini.json.calls, 'nothing refused');
    for (const request of server.requests) {
      assert.equal(request.body.temperature, undefined);
      assert.equal(request.body.max_tokens, undefined);
      assert.ok(request.body.max_completion_tokens >= 1);
      assert.equal(request.body.reasoning_effort, 'minimal');
    }
    assert.equal(mini.json.llm_reasoning_tokens, 0, 'a relay span never pays for reasoning');

    server.requests.length = 0;
    const deployment = await solve(server, 'openai-chat', 'team-gpt5-deployment');
    assert.ok(deployment.json.llm_reasoning_tokens > 0, 'the first call reasoned (the table could not place the name) and that is billed');
    assert.ok(deployment.json.llm_output_tokens >= deployment.json.llm_reasoning_tokens, 'as output');
    assert.match(deployment.stdout, /"llm_reasoning_tokens":\d+/);
    assert.notEqual(deployment.json.finish_reason, 'error');
  } finally {
    await server.close();
  }
});
