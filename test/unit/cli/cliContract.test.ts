/**
 * The CLI's contract at its edges: an answer's error in --json and on stderr, eval's failed
 * answers (named, recorded, exit 1), --out checked before anything runs, Ctrl-C in the
 * tests (130), the demo's price note, explain's files, the config file's types, the help
 * text against the code, and flags a command has no use for. In-process, on a scripted
 * ONNX SLM and HTTP servers on 127.0.0.1 that stop with the tests.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { COMMAND_FLAGS, HELP } from '../../../src/cli/main';
import { UsageError } from '../../../src/cli/args';
import { commandLineProblem } from '../../../src/cli/commandLine';
import { explainMessages } from '../../../src/cli/commands/ask';
import { ENV_NAMES, FILE_KEYS, CONFIG_FLAGS, loadConfig } from '../../../src/cli/config';
import { demoStatsPriceNote } from '../../../src/cli/demoModels';
import { statsJson } from '../../../src/cli/render';
import { RELAY_MODES } from '../../../src/core/relay/policies/registry';
import { DEFAULT_MAX_COST_RATIO } from '../../../src/core/relay/limits';
import type { AnswerStats } from '../../../src/core/relay/events';
import { hang } from '../providers/servers/harness';
import { MODEL_NOT_FOUND, scriptedSolveCli, withServer } from './runCli';

const REPO = join(__dirname, '..', '..', '..');
const QUESTION = 'What is two plus three?';
const cli = scriptedSolveCli('relay-cli-contract-', QUESTION);
const { run, llmFlags } = cli;
const badRequest = MODEL_NOT_FOUND;

test('relay solve --json: an error answer carries error {code, message} in its JSON line, and the message on stderr', async () => {
  await withServer(badRequest, async (server) => {
    const { code, stdout, stderr } = await run(['solve', QUESTION, '--json', ...llmFlags(`${server.url}/v1`)]);
    assert.equal(code, 1);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, 'stdout holds the JSON line alone');
    const line = JSON.parse(lines[0]);
    assert.equal(line.finish_reason, 'error');
    assert.equal(typeof line.error?.code, 'string');
    assert.match(line.error.message, /does not exist/);
    assert.ok(stderr.includes(`relay: error (${line.error.code}): `), stderr);
    assert.match(stderr, /does not exist/);
  });
});

test('relay eval: failed answers are named on stderr (each message once), recorded in the files, and exit 1', async () => {
  const data = join(cli.work, 'two.jsonl');
  const item = JSON.stringify({ question: QUESTION, answer: 'Two and three make five.\n#### 5' });
  writeFileSync(data, `${item}\n${item}\n`);
  const out = join(cli.work, 'failing');
  // Nothing listens on port 1: every call fails at once.
  const { code, stdout, stderr } = await run(['eval', data, '--modes', 'command,llm-only', '--out', out, ...llmFlags('http://127.0.0.1:1/v1')]);
  assert.equal(code, 1, 'an eval with failed answers is not a success');
  const said = stderr.split('\n').filter((l) => l.startsWith('relay: ') && l.includes('an answer failed: error ('));
  assert.equal(said.length, 1, `one line for the one distinct error:\n${stderr}`);
  assert.match(said[0], /^relay: command: an answer failed: error \(/);
  assert.match(stdout, /Failed answers \(an error, not a wrong answer; .*\): command 2\/2 \(first: error \(.*\); llm-only 2\/2 \(first: error \(/);
  const json = JSON.parse(readFileSync(`${out}.json`, 'utf8'));
  const command = json.summaries.find((s: { spec: string }) => s.spec === 'command');
  assert.equal(command.errors, 2);
  assert.equal(typeof command.firstError.code, 'string');
  assert.ok(said[0].includes(command.firstError.message), 'the message on stderr is the one in the JSON');
  assert.ok(json.rows.every((r: { stats: AnswerStats; error?: unknown }) => r.stats.finishReason !== 'error' || r.error));
  assert.match(readFileSync(`${out}.md`, 'utf8'), /- Failed answers .*command 2\/2/);
  const answers = readFileSync(`${out}.answers.jsonl`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l));
  assert.ok(answers.filter((l) => l.type === 'answer' && l.spec === 'command').every((l) => l.error?.message === command.firstError.message));
});

test('relay eval: a failed answer is left out of the accuracy (n/a when all failed), in the table, the JSON and the matched router', async () => {
  const data = join(cli.work, 'two-for-accuracy.jsonl');
  const item = JSON.stringify({ question: QUESTION, answer: 'Two and three make five.\n#### 5' });
  writeFileSync(data, `${item}\n${item}\n`);
  const out = join(cli.work, 'accuracy');
  // Nothing listens on port 1: every answer that calls the LLM fails; the SLM alone answers.
  const { code, stdout } = await run(['eval', data, '--modes', 'slm-only,llm-only,command,matched-router', '--out', out, ...llmFlags('http://127.0.0.1:1/v1')]);
  assert.equal(code, 1);
  const json = JSON.parse(readFileSync(`${out}.json`, 'utf8'));
  const summary = (spec: string) => json.summaries.find((s: { spec: string }) => s.spec === spec);
  assert.equal(summary('llm-only').errors, 2);
  assert.equal(summary('llm-only').accuracy, null, 'every answer failed: no accuracy, not 0');
  assert.equal(summary('command').accuracy, null);
  const slmAccuracy = summary('slm-only').accuracy;
  assert.equal(typeof slmAccuracy, 'number');
  const tableRow = (label: string) => stdout.split('\n').find((l) => l.startsWith(`| ${label} `)) ?? '';
  assert.match(tableRow(summary('llm-only').label), /^\| [^|]+\| n\/a +\|/, stdout);
  assert.match(tableRow(summary('slm-only').label), new RegExp(`^\\| [^|]+\\| ${(slmAccuracy * 100).toFixed(1)}% +\\|`), stdout);
  assert.match(stdout, /Accuracy: correct answers \/ answers that did not fail; a failed answer .* is left out/);
  // No router matched to an accuracy that failed answers made up.
  assert.equal(summary('matched-router'), undefined, stdout);
  assert.match(stdout, /Matched router: matched-router did not run: every answer of llm-only, command failed/);
});

test('relay eval --out: an empty prefix, a folder-like prefix, a file for a folder and a folder for a file are refused before any answer runs', async () => {
  const data = join(cli.work, 'one.jsonl');
  writeFileSync(data, JSON.stringify({ question: QUESTION, answer: '5' }) + '\n');
  const evalArgs = (out: string) => ['eval', data, '--modes', 'slm-only', '--slm', cli.slmFolder, '--out', out];
  const refused = async (out: string, pattern: RegExp) => {
    await assert.rejects(run(evalArgs(out)), (error: Error) => {
      assert.ok(error instanceof UsageError, `${out}: ${error.stack}`);
      assert.match(error.message, /^--out /);
      assert.match(error.message, pattern);
      return true;
    });
  };
  const cwd = process.cwd();
  const scratch = join(cli.work, 'cwd');
  mkdirSync(scratch);
  process.chdir(scratch);
  try {
    await refused('', /names no file/);
    await refused('results/', /names no file/);
    await refused(join(cli.work, 'res') + '/', /names no file/);
  } finally {
    process.chdir(cwd);
  }
  assert.equal(existsSync(join(scratch, '.answers.jsonl')) || existsSync(join(scratch, 'results')), false, 'no hidden files, no folder');
  const w3 = join(cli.work, 'w3');
  mkdirSync(join(w3, 'x.csv'), { recursive: true });
  await refused(join(w3, 'x'), /x\.csv is a folder/);
  assert.equal(existsSync(join(w3, 'x.answers.jsonl')), false, 'nothing ran');
  writeFileSync(join(cli.work, 'plain-file'), 'x');
  await refused(join(cli.work, 'plain-file', 'sub', 'x'), /plain-file is a file, not a folder/);
  // A folder that does not exist yet is still made.
  const { code, stderr } = await run(evalArgs(join(cli.work, 'new', 'deeper', 'r')));
  assert.equal(code, 0, stderr);
  assert.ok(existsSync(join(cli.work, 'new', 'deeper', 'r.csv')));
});

test('relay provider test and relay slm test stopped (Ctrl-C) exit 130, not 1', async () => {
  await withServer(hang, async (server) => {
    const controller = new AbortController();
    const stop = setInterval(() => {
      if (server.requests.length > 0) controller.abort();
    }, 20);
    try {
      const result = await run(
        ['provider', 'test', '--provider', 'openai-completions', '--base-url', `${server.url}/v1`, '--model', 'm', '--template-folder', cli.slmFolder],
        { signal: controller.signal },
      );
      assert.equal(result.code, 130, result.stdout);
    } finally {
      clearInterval(stop);
    }
  });
  const stopped = new AbortController();
  stopped.abort();
  const slm = await run(['slm', 'test', '--slm', cli.slmFolder, '--slm-kind', 'completions-server', '--slm-url', 'http://127.0.0.1:1/v1', '--slm-model', 'm'], {
    signal: stopped.signal,
  });
  assert.equal(slm.code, 130, slm.stdout);
});

test("relay demo --json and relay solve --demo report the demo's own price note, and record no totals", async () => {
  const totalsPath = join(cli.work, 'totals.json');
  const totalsBefore = existsSync(totalsPath) ? readFileSync(totalsPath, 'utf8') : undefined;
  const demo = await run(['demo', '--json']);
  assert.equal(demo.code, 0, demo.stderr);
  const line = JSON.parse(demo.stdout.trim().split('\n').pop() as string);
  assert.equal(line.price_note, demoStatsPriceNote());
  assert.equal(line.price_model, 'gpt-4o');
  const solved = await run(['solve', '--demo', '47*6+28=?', '--json']);
  const solvedLine = JSON.parse(solved.stdout.trim().split('\n').pop() as string);
  assert.equal(solvedLine.price_note, demoStatsPriceNote(), 'not "prices: your settings": the user set none');
  const text = await run(['solve', '--demo', '47*6+28=?']);
  assert.ok(text.stdout.includes(`(${demoStatsPriceNote()})`), text.stdout);
  assert.doesNotMatch(text.stdout, /your settings/);
  // Prices the user sets are the user's.
  const priced = await run(['solve', '--demo', '47*6+28=?', '--json', '--price-in', '1', '--price-out', '2']);
  assert.match(JSON.parse(priced.stdout.trim().split('\n').pop() as string).price_note, /your settings/);
  // The demo's local LLM priced as a hosted one is no real saving: the running totals never hear of it.
  assert.equal(existsSync(totalsPath) ? readFileSync(totalsPath, 'utf8') : undefined, totalsBefore, 'solve --demo records no totals');
});

test('relay solve reads the question from standard input when none is given, or for -; - on a terminal is refused', async () => {
  // Greedy: the same answer each run.
  const piped = await run(['solve', '--demo', '--json', '--temperature', '0'], { stdin: '47*6+28=?\n' });
  assert.equal(piped.code, 0, piped.stderr);
  const lastLine = (stdout: string) => JSON.parse(stdout.trim().split('\n').pop() as string);
  const asArgument = lastLine((await run(['solve', '--demo', '47*6+28=?', '--json', '--temperature', '0'])).stdout);
  const line = lastLine(piped.stdout);
  assert.match(line.answer, /A: 310$/);
  assert.equal(line.prompt_tokens, asArgument.prompt_tokens, "the same prompt: the file's last line break is not part of the question");
  const dash = await run(['solve', '--demo', '-', '--json', '--temperature', '0'], { stdin: '47*6+28=?' });
  assert.equal(lastLine(dash.stdout).answer, line.answer);
  await assert.rejects(run(['solve', '--demo', '-']), /standard input is a terminal; pipe the question in/);
  await assert.rejects(run(['solve', '--demo']), /needs a question, .*or on standard input: relay solve < question\.txt/);
});

test('relay solve --demo and relay explain --demo refuse what the demo models cannot do, as relay demo does (a usage mistake: exit 2)', async () => {
  const refused = (args: string[], pattern: RegExp, options: { stdin?: string } = {}) =>
    assert.rejects(run(args, options), (e: Error) => {
      assert.ok(e instanceof UsageError, e.stack);
      assert.match(e.message, pattern);
      return true;
    });
  const task = /The demo models know one task: questions like 33\*4\+29=\? \(a\*b\+c=\? with a, c in 10\.\.99 and b in 2\.\.9\)\./;
  await refused(['demo', 'What is the capital of France?'], new RegExp(`^${task.source} Got 'What is the capital of France\\?'\\.$`));
  await refused(
    ['solve', '--demo', 'What is the capital of France?'],
    new RegExp(`^${task.source} Got 'What is the capital of France\\?'\\. Drop --demo to ask your own models`),
  );
  await refused(['solve', '--demo', '--json'], /^The demo models know one task: .* Got 'What is 17 \* 24\?'\. Drop --demo/, { stdin: 'What is 17 * 24?\n' });
  const file = join(cli.work, 'explain-demo.py');
  writeFileSync(file, 'print(1)\n');
  await refused(['explain', '--demo', file], new RegExp(`^relay explain --demo: ${task.source} They cannot explain a file\\. Drop --demo`));
});

test('a command line longer than ONNX Runtime survives at start-up is refused with its size and the way round it (standard input)', () => {
  assert.equal(commandLineProblem(['node', 'cli.js', 'solve', 'x'.repeat(16_000)]), undefined);
  const problem = commandLineProblem(['node', 'cli.js', 'solve', 'x'.repeat(30_000)]);
  assert.ok(problem instanceof UsageError);
  assert.match(problem.message, /the command line is 29 KB; ONNX Runtime crashes at start-up past about 28 KB.*relay solve < question\.txt/);
});

test("statsJson: the caller's keys win over the stats' own", () => {
  const stats = { mode: 'command', priceNote: 'prices: x', llmUsage: {} } as unknown as AnswerStats;
  const json = statsJson(stats, { answer: 'a', price_note: 'mine' });
  assert.equal(json.price_note, 'mine');
  assert.equal(Object.keys(json)[0], 'answer', 'the caller keys first in the line');
});

test('relay explain: one line is named "line N", never "lines N-N" (file:N, file:N-N, a range cut at the last line, a one-line file)', () => {
  const dir = join(cli.work, 'explain-one-line');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'f.txt');
  writeFileSync(file, 'a\nb\nc\n');
  const prompt = (spec: string) => explainMessages(spec)[0].content;
  assert.match(prompt(`${file}:2`), /from .*f\.txt \(line 2\) does/);
  assert.match(prompt(`${file}:2-2`), /\(line 2\)/);
  assert.match(prompt(`${file}:3-9`), /\(line 3\)[^]*```txt\nc\n```$/, 'a range past the end is cut at the last line: one line');
  assert.match(prompt(`${file}:2-3`), /\(lines 2-3\)/, 'several lines stay a range');
  writeFileSync(join(dir, 'one.txt'), 'only\n');
  assert.match(prompt(join(dir, 'one.txt')), /\(line 1\)/);
  for (const spec of [`${file}:2`, `${file}:2-2`, `${file}:3-9`, join(dir, 'one.txt')]) assert.doesNotMatch(prompt(spec), /lines? (\d+)-\1\b/);
  const outside = (spec: string, words: RegExp) =>
    assert.throws(
      () => explainMessages(spec),
      (e: Error) => e instanceof UsageError && words.test(e.message),
    );
  outside(`${file}:5`, /^relay explain: line 5 is outside .*f\.txt \(3 lines\); write .*f\.txt:1-3\.$/);
  outside(`${file}:5-6`, /^relay explain: lines 5-6 are outside .*f\.txt \(3 lines\); write .*f\.txt:1-3\.$/);
});

test('relay explain: folders, empty and binary files are refused; the final newline starts no line; a backwards range says so', () => {
  const dir = join(cli.work, 'explain');
  mkdirSync(dir, { recursive: true });
  assert.throws(
    () => explainMessages(dir),
    (e: Error) => e instanceof UsageError && /is a folder/.test(e.message),
  );
  const file = join(dir, 'f.txt');
  writeFileSync(file, 'a\nb\nc\n');
  assert.match(explainMessages(file)[0].content, /\(lines 1-3\)/);
  assert.match(explainMessages(`${file}:3`)[0].content, /\(line 3\)[^]*```txt\nc\n```$/);
  assert.throws(() => explainMessages(`${file}:4`), /line 4 is outside .*f\.txt \(3 lines\)/);
  assert.throws(() => explainMessages(`${file}:3-1`), /the range 3-1 ends before it starts/);
  writeFileSync(join(dir, 'no-newline.txt'), 'a\nb');
  assert.match(explainMessages(join(dir, 'no-newline.txt'))[0].content, /\(lines 1-2\)/);
  writeFileSync(join(dir, 'bin.dat'), Buffer.from([0x7f, 0x45, 0x4c, 0x46, 0x00, 0x01]));
  assert.throws(
    () => explainMessages(join(dir, 'bin.dat')),
    (e: Error) => e instanceof UsageError && /binary file/.test(e.message),
  );
  writeFileSync(join(dir, 'empty.txt'), '');
  assert.throws(
    () => explainMessages(join(dir, 'empty.txt')),
    (e: Error) => e instanceof UsageError && /is empty/.test(e.message),
  );
});

test('the config file: maxCostRatio null is no ceiling; arrays, objects and wrong types are refused, naming the key and the type', () => {
  const file = join(cli.work, 'config.json');
  const env = { RELAY_HOME: cli.work, RELAY_CONFIG: file };
  const load = (value: unknown) => {
    writeFileSync(file, JSON.stringify(value));
    return loadConfig(new Map(), env);
  };
  assert.equal(load({}).limits.maxCostRatio, DEFAULT_MAX_COST_RATIO);
  assert.equal(load({ maxCostRatio: null }).limits.maxCostRatio, undefined, 'null: no ceiling, as in VS Code');
  assert.equal(load({ maxCostRatio: 'off' }).limits.maxCostRatio, undefined);
  assert.equal(load({ maxCostRatio: 0.8 }).limits.maxCostRatio, 0.8);
  assert.equal(loadConfig(new Map([['max-cost-ratio', '0.3']]), env).limits.maxCostRatio, 0.3, 'a flag still wins over the file');
  assert.equal(load({ seed: null, temperature: 0.3 }).temperature, 0.3);
  assert.throws(() => load({ temperature: [0.3] }), /\(temperature\): must be a number, not an array/);
  assert.throws(() => load({ temperature: '0.3' }), /\(temperature\): must be a number, not the string "0\.3"/);
  assert.throws(() => load({ provider: { baseUrl: ['a', 'b'] } }), /\(provider\.baseUrl\): must be a string, not an array/);
  assert.throws(() => load({ slm: { modelFolder: 5 } }), /\(slm\.modelFolder\): must be a string, not the number 5/);
  assert.throws(() => load({ slm: { thinking: true } }), /\(slm\.thinking\): must be a string, not the boolean true/);
  assert.throws(() => load({ maxTurns: { n: 3 } }), /\(maxTurns\): must be a number, not an object/);
  assert.throws(() => load({ maxCostRatio: [1] }), /\(maxCostRatio\): must be a number, or null \(or "off"\) for no ceiling, not an array/);
});

test('relay help names every flag, environment variable and config key the code reads, the eval modes, and the exit statuses', async () => {
  const flags = new Set(Object.values(COMMAND_FLAGS).flatMap((set) => [...set]));
  for (const flag of [...flags, ...CONFIG_FLAGS]) assert.match(HELP, new RegExp(`--${flag}\\b`), `--${flag}`);
  for (const name of [...Object.keys(ENV_NAMES), 'RELAY_CONFIG', 'RELAY_HOME']) assert.ok(HELP.includes(name), name);
  for (const key of Object.keys(FILE_KEYS)) assert.ok(HELP.includes(key), key);
  for (const mode of [...RELAY_MODES, 'auto', 'matched-router']) assert.ok(HELP.includes(mode), mode);
  assert.match(HELP, /--max-cost-ratio <r\|off>.*\(default 0\.5\)/);
  assert.match(HELP, /2 for a usage mistake/);
  assert.match(HELP, /130 when stopped/);
  const bare = await run([]);
  assert.equal(bare.code, 2, 'bare relay: the help, as a usage mistake');
  assert.equal((await run(['help'])).code, 0);
  // The README's command-line section says the same.
  const readme = readFileSync(join(REPO, 'README.md'), 'utf8');
  assert.match(readme, /exit status is 0 .* 1 .* 2 .* 130/s);
});

test('a flag the command has no use for is refused, naming the flag and the command', async () => {
  const refused = (args: string[], pattern: RegExp) => assert.rejects(run(args), (e: Error) => e instanceof UsageError && pattern.test(e.message));
  await refused(['demo', '--mode', 'slm-only'], /^relay demo does not take --mode .* relay solve --demo/);
  await refused(['demo', '--temperature', '5'], /^relay demo does not take --temperature/);
  await refused(['solve', QUESTION, '--limit', '3'], /^relay solve does not take --limit \(relay eval takes it\)\./);
  for (const flag of ['--fresh', '--out=x', '--modes=all', '--offset=1', '--concurrency=2'])
    await refused(['solve', QUESTION, flag], new RegExp(`^relay solve does not take ${flag.split('=')[0]} \\(relay eval takes it\\)`));
  await refused(['eval', 'data.jsonl', '--json'], /^relay eval does not take --json \(relay demo, relay solve, relay explain, relay totals take it\)/);
  await refused(['explain', 'f.txt', '--plain-prompt'], /^relay explain does not take --plain-prompt/);
  await refused(['provider', 'test', '--json'], /^relay provider test does not take --json/);
  await refused(['slm', 'test', '--demo'], /^relay slm test does not take --demo/);
  await refused(['totals', '--mode', 'command'], /^relay totals does not take --mode/);
  await assert.rejects(run(['frobnicate', '--json']), /Unknown command 'frobnicate'/);
  // What each command uses still goes through.
  const totals = await run(['totals', '--json', '--totals', join(cli.work, 'no-totals.json')]);
  assert.equal(totals.code, 0);
  assert.equal(JSON.parse(totals.stdout).path, join(cli.work, 'no-totals.json'));
});
