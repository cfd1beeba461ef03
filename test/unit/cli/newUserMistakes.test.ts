/**
 * Mistakes a new user makes on the command line, each said before anything loads: line ranges
 * from 0, flags typed with one dash or a pasted long dash, no API key for the LLM (said before
 * the small model loads and writes, and nothing booked), a mistyped subcommand, numbers in hex,
 * a model folder whose config.json is no model's. In-process on a scripted ONNX SLM, and the
 * CLI in a process of its own where its exit code and output streams matter.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { KEYS_COME_FROM, parseArgs, UsageError } from '../../../src/cli/args';
import { explainMessages } from '../../../src/cli/commands/ask';
import { loadConfig } from '../../../src/cli/config';
import { parseModeSpecs } from '../../../src/cli/evalModes';
import { llmOriginWithoutKey } from '../../../src/core/llmKeyCheck';
import { ModelFolderError, readModelFolder } from '../../../src/core/slm/modelFolder';
import { noSettingsFile, scriptedSolveCli, spawnCli } from './runCli';

const QUESTION = 'What is two plus three?';
const cli = scriptedSolveCli('relay-new-user-', QUESTION);
const { run } = cli;

/** A UsageError (exit 2) whose message matches `pattern`. */
const usageError = (pattern: RegExp) => (e: unknown) => e instanceof UsageError && pattern.test(e.message);

test("relay explain: lines count from 1 (file:0, file:0-3, file:1-0 name the range to write); a range past the end names the file's real line count", () => {
  const dir = join(cli.work, 'explain-ranges');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, 'small.txt');
  writeFileSync(file, Array.from({ length: 20 }, (_, i) => `${i + 1}`).join('\n') + '\n');
  const refused = (spec: string, words: RegExp) => assert.throws(() => explainMessages(spec), usageError(words), spec);
  refused(`${file}:0`, /^relay explain: lines count from 1; write .*small\.txt:1\.$/);
  refused(`${file}:0-3`, /^relay explain: lines count from 1; write .*small\.txt:1-3\.$/);
  refused(`${file}:0-0`, /lines count from 1; write .*small\.txt:1\.$/);
  // An end at 0 is not a range written backwards: "0-1" would be refused in turn.
  refused(`${file}:1-0`, /^relay explain: lines count from 1; write .*small\.txt:1\.$/);
  refused(`${file}:3-0`, /^relay explain: lines count from 1; write .*small\.txt:1-3\.$/);
  // The final newline ends line 20: the file has 20 lines, and the fix is the whole of them.
  refused(`${file}:25-30`, /^relay explain: lines 25-30 are outside .*small\.txt \(20 lines\); write .*small\.txt:1-20\.$/);
  refused(`${file}:21`, /^relay explain: line 21 is outside .*small\.txt \(20 lines\); write .*small\.txt:1-20\.$/);
  // Lines that are blank are not "an empty file", and a range that reaches past them is fine.
  writeFileSync(file, '\n\n\nconst x = 1;\n');
  refused(`${file}:1-2`, /^relay explain: lines 1-2 of .*small\.txt are blank; there is nothing to explain\.$/);
  assert.match(explainMessages(`${file}:1-4`)[0].content, /\(lines 1-4\)[^]*const x = 1;/);
  writeFileSync(file, '');
  refused(`${file}:1-3`, /'.*small\.txt' is empty/);
  writeFileSync(file, 'only\n');
  refused(`${file}:2`, /line 2 is outside .*small\.txt \(1 line\); write .*small\.txt:1\.$/);
});

test('a flag typed with one dash or a pasted long dash is a usage mistake that names the flag, not words of the question', async () => {
  const slm = ['--slm', cli.slmFolder, '--mode', 'slm-only'];
  await assert.rejects(run(['solve', '33*4+29=?', '-json', ...slm]), usageError(/^'-json' has one dash: write --json\./));
  await assert.rejects(run(['solve', '-slm', cli.slmFolder, '--mode', 'slm-only', '33*4+29=?']), usageError(/^'-slm' has one dash: write --slm\./));
  await assert.rejects(run(['solve', '33*4+29=?', `-slm=${cli.slmFolder}`]), usageError(/has one dash: write --slm=.*\./));
  await assert.rejects(run(['demo', '-json']), usageError(/^'-json' has one dash: write --json\./));
  await assert.rejects(
    run(['solve', '\u2014json', 'hi', ...slm]),
    usageError(/^'\u2014json' starts with a long dash \(\u2014\), pasted from a web page\? Write --json\./),
  );
  await assert.rejects(run(['solve', 'hi', '\u2013\u2013json', ...slm]), usageError(/long dash \(\u2013\u2013\).* Write --json\./));
  // A near miss gets the flag it is near.
  await assert.rejects(run(['solve', 'hi', '-jsno', ...slm]), usageError(/'-jsno' has one dash: write --json\./));
  // A key flag with one dash would send the key to the LLM inside the question: refused, the key not repeated.
  await assert.rejects(run(['solve', 'hi', '-api-key=sk-abcdef123456', ...slm]), (e: unknown) => {
    assert.ok(e instanceof UsageError);
    assert.ok(e.message.includes(KEYS_COME_FROM));
    assert.doesNotMatch(e.message, /sk-abcdef/);
    return true;
  });
});

test('words that merely start with a dash stay words: "-", "-5+3=?", "-x", words with spaces, and flags the command does not take', () => {
  const commandFlags: Record<string, ReadonlySet<string>> = { solve: new Set(['json', 'slm']), eval: new Set(['limit']) };
  const parse = (argv: string[]) => parseArgs(argv, new Set(['json']), new Set(['slm', 'limit']), (command) => commandFlags[command]);
  const words = ['solve', '-', '-5+3=?', '-x', '-json and more', '-limit'];
  assert.deepEqual(parse(words).positionals, words);
  assert.throws(() => parse(['eval', '-limit']), usageError(/'-limit' has one dash: write --limit\./));
  // -h stays the help.
  assert.equal(parse(['solve', '-h']).options.get('help'), true);
});

test('no API key for the LLM: exit 2 before the small model loads, the variable named first, no answer and nothing booked', async () => {
  const totals = join(cli.work, 'no-key-totals.json');
  const { code, stdout, stderr } = await spawnCli(
    ['solve', QUESTION, '--slm', cli.slmFolder, '--mode', 'command', '--provider', 'anthropic', '--model', 'x', '--totals', totals],
    { cwd: cli.work, env: { RELAY_HOME: cli.work, RELAY_CONFIG: noSettingsFile(cli.work) } },
  );
  assert.equal(code, 2, stderr);
  assert.equal(stdout, '', 'no answer text: the small model did not write');
  assert.match(stderr, /^relay: No API key is set for the anthropic provider\. Set ANTHROPIC_API_KEY \(or RELAY_API_KEY\) in the environment\.\n$/);
  assert.doesNotMatch(stderr, /Relay: Set API Key/, 'the CLI names its own fix, not the VS Code command');
  assert.equal(existsSync(totals), false, 'no saving booked against an LLM it could never reach');
});

test('relay provider test without a key: exit 2, the advice said once', async () => {
  const { code, stdout, stderr } = await spawnCli(['provider', 'test', '--provider', 'anthropic', '--model', 'x'], {
    cwd: cli.work,
    env: { RELAY_HOME: cli.work, RELAY_CONFIG: noSettingsFile(cli.work) },
  });
  assert.equal(code, 2, stderr);
  assert.equal(stdout, '');
  assert.equal(stderr.match(/ANTHROPIC_API_KEY/g)?.length, 1, stderr);
});

test('a key held back from --base-url (OPENAI_API_KEY goes only to api.openai.com) is said before the SLM loads, in solve and in eval', async () => {
  const totals = join(cli.work, 'held-back-totals.json');
  const llm = ['--slm', cli.slmFolder, '--provider', 'openai-chat', '--base-url', 'https://openrouter.ai/api/v1', '--model', 'x'];
  const flags = [...llm, '--mode', 'command'];
  const env = { OPENAI_API_KEY: 'sk-test-0123456789abcdef' };
  const heldBack = usageError(/^OPENAI_API_KEY is only sent to https:\/\/api\.openai\.com, .*Set RELAY_API_KEY to the key for openrouter\.ai/);
  await assert.rejects(run(['solve', QUESTION, ...flags, '--totals', totals], { env }), heldBack);
  assert.equal(existsSync(totals), false);
  // No key at all for that origin: RELAY_API_KEY is the one that would go there.
  await assert.rejects(
    run(['solve', QUESTION, ...flags]),
    usageError(/^No API key is set for the openai-chat provider\. Set RELAY_API_KEY in the environment to the key for openrouter\.ai\.$/),
  );
  const data = join(cli.work, 'held-back.jsonl');
  writeFileSync(data, `${JSON.stringify({ question: QUESTION, answer: '5' })}\n`);
  const out = join(cli.work, 'held-back-eval');
  await assert.rejects(run(['eval', data, '--modes', 'slm-only,command', ...llm, '--out', out], { env }), heldBack);
  assert.equal(existsSync(`${out}.answers.jsonl`), false, 'no question was answered');
});

test('the key rule (src/core): only modes that need the LLM, only where its provider needs a key, only when none would go there', async () => {
  const none = () => false;
  const anthropic = { kind: 'anthropic' as const, baseUrl: '' };
  assert.equal((await llmOriginWithoutKey(['command'], anthropic, none))?.origin, 'https://api.anthropic.com');
  assert.equal(await llmOriginWithoutKey(['slm-only'], anthropic, none), undefined, 'the small model alone needs no key');
  assert.equal(await llmOriginWithoutKey(['slm-only', 'llm-only'], anthropic, async () => true), undefined);
  // A server on this machine takes no key.
  assert.equal(await llmOriginWithoutKey(['command'], { kind: 'openai-completions', baseUrl: 'http://127.0.0.1:8000/v1' }, none), undefined);
  assert.equal(
    (await llmOriginWithoutKey(['command'], { kind: 'openai-chat', baseUrl: 'https://openrouter.ai/api/v1' }, none))?.origin,
    'https://openrouter.ai',
  );
});

test('relay provider tst / relay slm tset: the unknown subcommand is named, with the one it is near', async () => {
  await assert.rejects(
    run(['provider', 'tst']),
    usageError(/^Unknown subcommand 'tst' of relay provider\. Did you mean 'relay provider test'\? Usage: relay provider test$/),
  );
  await assert.rejects(run(['slm', 'tset']), usageError(/^Unknown subcommand 'tset' of relay slm\. Did you mean 'relay slm test'\?/));
  await assert.rejects(run(['provider']), usageError(/^relay provider needs a subcommand\. Usage: relay provider test$/));
  await assert.rejects(run(['provider', 'test', 'gpt-4o']), usageError(/^relay provider test takes no more words \(got: gpt-4o\)/));
  // An Object property is no command either (it used to crash: "allowed.has is not a function").
  await assert.rejects(run(['constructor', '--json']), usageError(/^Unknown command 'constructor'/));
});

test('numbers are written in decimal: --budget 0x20, --limit 0x2 and --threshold 0x0 are refused; 32 and 1e-6 are taken', async () => {
  const env = { RELAY_HOME: cli.work };
  assert.throws(() => loadConfig(new Map([['budget', '0x20']]), env), usageError(/--budget: '0x20' must be a number from 16 to 131072/));
  assert.throws(() => loadConfig(new Map([['budget', '3.2e1']]), env), usageError(/--budget: '3\.2e1' must be a whole number/));
  assert.throws(() => loadConfig(new Map([['threshold', '0x0']]), env), usageError(/--threshold: '0x0' must be a number/));
  assert.throws(() => loadConfig(new Map([['seed', '0b11']]), env), usageError(/--seed: '0b11'/));
  assert.equal(loadConfig(new Map([['budget', '32']]), env).tokenBudget, 32);
  assert.equal(loadConfig(new Map([['max-cost', '1e-6']]), env).limits.maxCostUsd, 1e-6);
  assert.equal(loadConfig(new Map([['threshold', '.5']]), env).confidence.threshold, 0.5);
  await assert.rejects(run(['eval', 'data.jsonl', '--limit', '0x2']), usageError(/^--limit must be a whole number of at least 1 \(got 0x2\)/));
  assert.throws(() => parseModeSpecs('confidence@0x0'), usageError(/the value after @ must be a number from 0 to 1/));
});

test('a config.json without "model_type" says what the folder must be: an ONNX export of a causal LM from Hugging Face', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-no-model-type-'));
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ architectures: ['Something'] }));
    assert.throws(
      () => readModelFolder(dir),
      (e: unknown) =>
        e instanceof ModelFolderError &&
        e.file === join(dir, 'config.json') &&
        /has no "model_type", so it is not the config\.json of a causal language model from Hugging Face\. The folder must hold an ONNX export of one .*download it again, or point at the folder whose config\.json names its "model_type"\./.test(
          e.message,
        ),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
