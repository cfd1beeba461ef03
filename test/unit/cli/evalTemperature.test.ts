/**
 * `relay eval --temperature t` against a local server that behaves as OpenAI's API does
 * (servers/openai.ts FAKE_GPTS): a model that refuses a temperature is sent none and samples
 * at its own default, and the eval says so (notes, JSON, answers file, once on stderr) instead
 * of labelling its answers with the temperature asked; a model that takes one is labelled as before.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findDemoModels } from '../../../src/cli/demoModels';
import { llmTemperatureSent } from '../../../src/cli/eval/llmTemperature';
import { forgetLearnedFacts } from '../../../src/core/providers/modelCapabilities';
import { createProvider } from '../../../src/core/providers/factory';
import type { KeySource } from '../../../src/core/providers/types';
import { openAiStream } from '../providers/servers/openai';
import { runCli, withServer } from './runCli';

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'relay-eval-temperature-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

const demo = findDemoModels();
const LLM_ANSWER = openAiStream({ pieces: ['95*8 = 760, ', '760+35 = 795. ', '\\boxed{795}'], finishReason: 'stop' });

/** `relay eval` of 2 demo questions, slm-only and llm-only, at temperature 0.7 with `model` at `baseUrl`; a fresh process (nothing learned) unless `sameProcess`. */
async function evalAt(baseUrl: string, model: string, out: string, options: { sameProcess?: boolean } = {}) {
  if (!options.sameProcess) forgetLearnedFacts();
  const args = ['eval', demo.evalData, '--slm', demo.slmFolder, '--plain-prompt', '--modes', 'slm-only,llm-only', '--limit', '2', '--seed', '1'];
  const llm = ['--provider', 'openai-chat', '--base-url', baseUrl, '--model', model, '--price-in', '1', '--price-out', '4', '--temperature', '0.7'];
  const run = await runCli([...args, ...llm, '--out', out], work);
  assert.equal(run.code, 0, run.stderr);
  const json = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as { settings: Record<string, unknown> };
  const answers = readFileSync(`${out}.answers.jsonl`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, unknown>)
    .filter((l) => l.type === 'answer');
  return { ...run, settings: json.settings, md: readFileSync(`${out}.md`, 'utf8'), answers };
}

const SAID_ONCE =
  /^relay: the LLM runs at its own default temperature \([\w.-]+ takes none, so none was sent\), not at the 0\.7 asked; the SLM runs at 0\.7\.$/gm;

test('relay eval: gpt-5-mini refuses a temperature: none is sent, and the notes, JSON, answers file and stderr say it ran at its own default', async () => {
  await withServer(LLM_ANSWER, async (server) => {
    const run = await evalAt(`${server.url}/v1`, 'gpt-5-mini', join(work, 'gpt5'));
    const calls = server.requests.filter((r) => r.path === '/v1/chat/completions');
    assert.ok(calls.length >= 2, 'the llm-only row called the LLM');
    for (const call of calls) assert.equal(call.body.temperature, undefined, 'no temperature sent');

    const note = /the SLM at temperature 0\.7, the LLM at its own default temperature \(gpt-5-mini takes none, so none was sent\), seed 1\./;
    assert.match(run.stdout, note);
    assert.doesNotMatch(run.stdout, /; temperature 0\.7, seed/);
    assert.match(run.md, note);
    assert.equal(run.settings.slmTemperature, 0.7);
    assert.equal(run.settings.llmTemperature, 'default');
    assert.equal(run.stderr.match(SAID_ONCE)?.length, 1, run.stderr);
    const llmAnswers = run.answers.filter((a) => a.llm !== null);
    assert.equal(llmAnswers.length, 2);
    for (const answer of llmAnswers) assert.equal(answer.llmTemperature, null);
    for (const answer of run.answers.filter((a) => a.llm === null)) assert.equal('llmTemperature' in answer, false, 'the SLM row used no LLM');
  });
});

test('relay eval: a deployment name the tables cannot place refuses the temperature at run time: said at the end of that run, and by its answers when resumed', async () => {
  await withServer(LLM_ANSWER, async (server) => {
    const out = join(work, 'deployment');
    const first = await evalAt(`${server.url}/v1`, 'team-gpt5-deployment', out);
    // The first call asked for 0.7 and was refused (after max_tokens, also refused); from then on none was sent.
    const sentOne = server.requests.filter((r) => r.path === '/v1/chat/completions').map((c) => c.body.temperature !== undefined);
    const firstWithout = sentOne.indexOf(false);
    assert.ok(firstWithout > 0 && sentOne.slice(firstWithout).every((sent) => !sent), JSON.stringify(sentOne));
    assert.equal(first.settings.llmTemperature, 'default');
    assert.match(first.stdout, /the LLM at its own default temperature \(team-gpt5-deployment takes none, so none was sent\)/);
    assert.equal(first.stderr.match(SAID_ONCE)?.length, 1, first.stderr);

    // Another process, which has not learned it: every answer resumed, each says how it ran.
    const requests = server.requests.length;
    const resumed = await evalAt(`${server.url}/v1`, 'team-gpt5-deployment', out);
    assert.equal(server.requests.length, requests, 'nothing ran again');
    assert.match(resumed.stdout, /\(4 from earlier runs, 0 new\)/);
    assert.equal(resumed.settings.llmTemperature, 'default');
    assert.match(resumed.stdout, /the LLM at its own default temperature/);
    assert.equal(resumed.stderr.match(SAID_ONCE)?.length, 1, resumed.stderr);
  });
});

test('relay eval: answers that ran at different temperatures are counted apart, and stderr says so once', async () => {
  await withServer(LLM_ANSWER, async (server) => {
    const out = join(work, 'mixed');
    await evalAt(`${server.url}/v1`, 'gpt-5-mini', out);
    // One answer of an earlier run that was sent 0.7 (its server took it then).
    const file = `${out}.answers.jsonl`;
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const first = lines.findIndex((l) => (JSON.parse(l) as { llmTemperature?: unknown }).llmTemperature === null);
    lines[first] = JSON.stringify({ ...JSON.parse(lines[first]), llmTemperature: 0.7 });
    writeFileSync(file, lines.join('\n') + '\n');
    const resumed = await evalAt(`${server.url}/v1`, 'gpt-5-mini', out);
    assert.equal(resumed.settings.llmTemperature, 'mixed');
    const said =
      /^relay: the SLM at temperature 0\.7, the LLM at temperature 0\.7 in 1 answer, its own default temperature \(gpt-5-mini takes none, so none was sent\) in 1 answer\.$/m;
    assert.match(resumed.stderr, said);
    assert.equal(resumed.stderr.match(/^relay: .*temperature/gm)?.length, 1, resumed.stderr);
  });
});

test('relay eval: a model that takes the temperature is sent it, and labelled with it as before', async () => {
  await withServer(LLM_ANSWER, async (server) => {
    const run = await evalAt(`${server.url}/v1`, 'gpt-4.1-mini', join(work, 'plain'));
    const calls = server.requests.filter((r) => r.path === '/v1/chat/completions');
    assert.ok(calls.length >= 2);
    for (const call of calls) assert.equal(call.body.temperature, 0.7);
    assert.match(run.stdout, /; temperature 0\.7, seed 1\./);
    assert.equal(run.settings.llmTemperature, 0.7);
    assert.doesNotMatch(run.stderr, /runs at/);
    for (const answer of run.answers.filter((a) => a.llm !== null)) assert.equal(answer.llmTemperature, 0.7);
  });
});

test('the temperature each provider sends, as the model tables and the providers decide it', () => {
  const keys = { keyFor: async () => ({ kind: 'none' }) } as unknown as KeySource;
  const sent = (kind: 'openai-chat' | 'openai-completions' | 'anthropic' | 'ollama', model: string, asked = 0.7) =>
    llmTemperatureSent(createProvider({ kind, model, baseUrl: 'http://127.0.0.1:9/v1', templateRenderer: () => 'prompt' }, keys), asked);
  assert.equal(sent('openai-chat', 'gpt-5'), null);
  assert.equal(sent('openai-chat', 'o3-mini'), null);
  assert.equal(sent('openai-chat', 'gpt-5-pro'), null);
  // gpt-5.1 and later are sent effort "none", which lets sampling through.
  assert.equal(sent('openai-chat', 'gpt-5.1'), 0.7);
  assert.equal(sent('openai-chat', 'gpt-5-chat-latest'), 0.7);
  // /completions servers are not OpenAI's reasoning models.
  assert.equal(sent('openai-completions', 'gpt-5'), 0.7);
  assert.equal(sent('anthropic', 'claude-opus-4-7'), null);
  assert.equal(sent('anthropic', 'claude-sonnet-4-5', 1.5), 1, 'Anthropic takes at most 1');
  assert.equal(sent('ollama', 'qwen3:8b', 1.5), 1.5);
  // A provider that does not say (an in-process LLM): the temperature asked.
  assert.equal(llmTemperatureSent({}, 0.7), 0.7);
});
