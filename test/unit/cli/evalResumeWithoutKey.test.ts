/**
 * relay eval checks the LLM's key (and model) for the rows that still have questions to answer:
 * a finished answers file rebuilds its reports without a key that no call would use, a row
 * of the small model alone resumes without one, and a file with LLM answers left is refused
 * before any small model loads or answers. On a scripted ONNX SLM and an Anthropic server on
 * 127.0.0.1 (a provider that needs a key) that stops with the test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeServer } from '../providers/servers/harness';
import { anthropicStream } from '../providers/servers/anthropic';
import { noSettingsFile, scriptedSolveCli, spawnCli } from './runCli';

const QUESTION = 'What is two plus three?';
const cli = scriptedSolveCli('relay-eval-no-key-', QUESTION);
const KEY = 'sk-ant-api03-' + 'a'.repeat(40);
const WITH_KEY = { env: { RELAY_API_KEY: KEY } };

/** A data file of `count` copies of the question. */
function dataFile(name: string, count: number): string {
  const data = join(cli.work, name);
  const item = JSON.stringify({ question: QUESTION, answer: 'Two and three make five.\n#### 5' });
  writeFileSync(data, `${item}\n`.repeat(count));
  return data;
}

/** The eval flags of the scripted SLM calling the Anthropic server at `url`. */
const llmFlags = (url: string): string[] => [
  ...['--slm', cli.slmFolder, '--provider', 'anthropic', '--base-url', `${url}/v1`, '--model', 'claude-sonnet-4-5', '--temperature', '0'],
  ...['--max-cost-ratio', 'off', '--totals', join(cli.work, 'totals.json'), '--price-in', '1', '--price-out', '2'],
];

const answerLines = (out: string): number =>
  readFileSync(`${out}.answers.jsonl`, 'utf8')
    .trim()
    .split('\n')
    .filter((l) => JSON.parse(l).type === 'answer').length;

test('relay eval: a finished answers file is resumed without the key, its reports rebuilt and no call made', async () => {
  const server = await startFakeServer(anthropicStream({ pieces: [' five'] }, KEY));
  try {
    const out = join(cli.work, 'finished');
    const args = ['eval', dataFile('finished.jsonl', 1), '--modes', 'command', '--out', out, ...llmFlags(server.url)];
    const first = await cli.run(args, WITH_KEY);
    assert.equal(first.code, 0, first.stderr);
    const calls = server.requests.length;
    assert.ok(calls > 0, 'the first run called the LLM');
    rmSync(`${out}.md`);

    const again = await cli.run(args);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /\(1 from earlier runs, 0 new\)/);
    assert.equal(server.requests.length, calls, 'no call without the key');
    assert.match(readFileSync(`${out}.md`, 'utf8'), /\| relay, command mode \| 100\.0% /, 'the report rebuilt from the file');
  } finally {
    await server.close();
  }
});

test('relay eval: a row of the small model alone resumes without the key while the LLM rows are finished; LLM answers left are refused (exit 2) before the SLM answers', async () => {
  const server = await startFakeServer(anthropicStream({ pieces: [' five'] }, KEY));
  try {
    const data = dataFile('partial.jsonl', 2);
    const out = join(cli.work, 'partial');
    const args = (modes: string, limit: string) => ['eval', data, '--modes', modes, '--limit', limit, '--out', out, ...llmFlags(server.url)];
    assert.equal((await cli.run(args('command', '1'), WITH_KEY)).code, 0);
    const calls = server.requests.length;

    // The command row is done for question 1: slm-only's first answer needs no key.
    const slmOnly = await cli.run(args('slm-only,command', '1'));
    assert.equal(slmOnly.code, 0, slmOnly.stderr);
    assert.match(slmOnly.stdout, /\(1 from earlier runs, 1 new\)/);
    assert.equal(server.requests.length, calls);

    // Question 2 is left for both rows: refused before the small model loads, so it answers nothing either.
    const before = answerLines(out);
    const refused = await spawnCli(args('slm-only,command', '2'), { cwd: cli.work, env: { RELAY_HOME: cli.work, RELAY_CONFIG: noSettingsFile(cli.work) } });
    assert.equal(refused.code, 2, refused.stderr);
    assert.match(refused.stderr, /No API key is set for the anthropic provider\. Set RELAY_API_KEY in the environment to the key for 127\.0\.0\.1:\d+\./);
    assert.equal(answerLines(out), before, 'no answer was written');
    assert.equal(server.requests.length, calls);

    // With the key, the same run resumes.
    const resumed = await cli.run(args('slm-only,command', '2'), WITH_KEY);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /\(2 from earlier runs, 2 new\)/);
  } finally {
    await server.close();
  }
});
