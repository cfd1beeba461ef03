/**
 * A base URL's user:password (sent as Basic auth) is a secret to relay eval as to the rest of
 * Relay: its files (.answers.jsonl, .md, .json) and what a resume prints carry neither the
 * password nor its Basic value, from --base-url, --base-url= or RELAY_BASE_URL; and since a
 * login does not change the answers, a resume under another password, or none, is accepted,
 * as is a file of an earlier relay that recorded the login. In-process, on a scripted ONNX SLM
 * and an OpenAI-compatible server on 127.0.0.1 that stops with the test.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { startFakeServer } from '../providers/servers/harness';
import { openAiStream } from '../providers/servers/openai';
import { type CliRun, scriptedSolveCli } from './runCli';

const QUESTION = 'What is two plus three?';
const cli = scriptedSolveCli('relay-eval-login-', QUESTION);

const FIRST = 'Fir5t-pa55word';
const SECOND = 'Sec0nd-pa55word';
const OLD = 'Old-pa55word';
const secretsOf = (password: string): string[] => [password, Buffer.from(`alice:${password}`).toString('base64')];

/** The files of an eval's --out, and what its runs printed: none may hold a password. */
function assertNoSecret(out: string, runs: CliRun[], passwords: string[]): void {
  const texts: Array<[string, string]> = [
    ...['answers.jsonl', 'md', 'json', 'csv'].map((ext): [string, string] => [`${out}.${ext}`, readFileSync(`${out}.${ext}`, 'utf8')]),
    ...runs.flatMap((r, i): Array<[string, string]> => [
      [`run ${i + 1} stdout`, r.stdout],
      [`run ${i + 1} stderr`, r.stderr],
    ]),
  ];
  for (const [where, text] of texts) for (const secret of passwords.flatMap(secretsOf)) assert.ok(!text.includes(secret), `${where} holds ${secret}:\n${text}`);
}

const runLines = (out: string): Array<Record<string, any>> =>
  readFileSync(`${out}.answers.jsonl`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((l) => l.type === 'run');

test('relay eval: a base URL login is in no file and no output, and a resume under another password or none is accepted', async () => {
  const server = await startFakeServer(openAiStream({ pieces: [' five'], finishReason: 'length', usage: { prompt_tokens: 50, completion_tokens: 1 } }));
  try {
    const data = join(cli.work, 'two.jsonl');
    const item = JSON.stringify({ question: QUESTION, answer: 'Two and three make five.\n#### 5' });
    writeFileSync(data, `${item}\n${item}\n`);
    const out = join(cli.work, 'login');
    const host = server.url.replace('http://', '');
    const args = (baseUrl: string) => ['eval', data, '--modes', 'command', '--out', out, ...cli.llmFlags(baseUrl), '--price-in', '1', '--price-out', '2'];
    /** The arguments with no --base-url: `extra` gives the address otherwise. */
    const argsWithout = (...extra: string[]) => [...args('').filter((a, i, all) => a !== '--base-url' && all[i - 1] !== '--base-url'), ...extra];

    const first = await cli.run(args(`http://alice:${FIRST}@${host}/v1`));
    assert.equal(first.code, 0, first.stderr);
    assert.equal(server.requests.length, 2, 'one call per answer');
    assert.equal(server.requests[0].headers.authorization, `Basic ${Buffer.from(`alice:${FIRST}`).toString('base64')}`, 'the login still reaches the server');
    // The command line as written, its login masked (quoted for a shell: *); the settings without it.
    assert.match(readFileSync(`${out}.md`, 'utf8'), new RegExp(`^Command: \`relay eval .* --base-url 'http://\\*\\*\\*@${host}/v1' `));
    assert.equal(runLines(out)[0].settings.provider.baseUrl, `http://${host}/v1`);

    // Another password (written --base-url=...): the same answers, resumed.
    const second = await cli.run(argsWithout(`--base-url=http://alice:${SECOND}@${host}/v1`));
    assert.equal(second.code, 0, second.stderr);
    assert.match(second.stdout, /\(2 from earlier runs, 0 new\)/);
    assert.match(JSON.parse(readFileSync(`${out}.json`, 'utf8')).command, new RegExp(` '--base-url=http://\\*\\*\\*@${host}/v1'$`));
    // None (from RELAY_BASE_URL with a login, then without one): resumed too.
    const fromEnv = await cli.run(argsWithout(), { env: { RELAY_BASE_URL: `http://alice:${SECOND}@${host}/v1` } });
    assert.equal(fromEnv.code, 0, fromEnv.stderr);
    assert.match(fromEnv.stdout, /\(2 from earlier runs, 0 new\)/);
    const none = await cli.run(args(`http://${host}/v1`));
    assert.equal(none.code, 0, none.stderr);
    assert.match(none.stdout, /\(2 from earlier runs, 0 new\)/);
    assert.equal(server.requests.length, 2, 'no answer was asked again');
    assertNoSecret(out, [first, second, fromEnv, none], [FIRST, SECOND]);
  } finally {
    await server.close();
  }
});

test('relay eval: a file of an earlier relay that recorded a login resumes with it or without it; another address is refused without printing it', async () => {
  const server = await startFakeServer(openAiStream({ pieces: [' five'], finishReason: 'length', usage: { prompt_tokens: 50, completion_tokens: 1 } }));
  try {
    const data = join(cli.work, 'one.jsonl');
    writeFileSync(data, JSON.stringify({ question: QUESTION, answer: 'Two and three make five.\n#### 5' }) + '\n');
    const out = join(cli.work, 'earlier');
    const host = server.url.replace('http://', '');
    const withLogin = `http://alice:${OLD}@${host}/v1`;
    const args = (baseUrl: string) => ['eval', data, '--modes', 'command', '--out', out, ...cli.llmFlags(baseUrl), '--price-in', '1', '--price-out', '2'];
    assert.equal((await cli.run(args(`http://${host}/v1`))).code, 0);
    // As an earlier relay wrote it: the address with its login, in the settings and the command line.
    const file = `${out}.answers.jsonl`;
    writeFileSync(file, readFileSync(file, 'utf8').replaceAll(`http://${host}/v1`, withLogin));
    assert.ok(readFileSync(file, 'utf8').includes(`"baseUrl":"${withLogin}"`));

    const without = await cli.run(args(`http://${host}/v1`));
    assert.equal(without.code, 0, without.stderr);
    assert.match(without.stdout, /\(1 from earlier runs, 0 new\)/);
    const same = await cli.run(args(withLogin));
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /\(1 from earlier runs, 0 new\)/);
    assert.equal(server.requests.length, 1, 'no answer was asked again');
    // Another server is another LLM: refused, naming both addresses without the login.
    await assert.rejects(cli.run(args(`http://alice:${SECOND}@${host}/v2`)), (error: Error) => {
      assert.ok(error.message.includes(`provider.baseUrl: "http://${host}/v1" in the file, "http://${host}/v2" now`), error.message);
      for (const secret of [OLD, SECOND].flatMap(secretsOf)) assert.ok(!error.message.includes(secret), error.message);
      return true;
    });
  } finally {
    await server.close();
  }
});
