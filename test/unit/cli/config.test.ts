import { test } from 'node:test';
import { DEFAULT_MAX_COST_RATIO } from '../../../src/core/relay/limits';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { CONFIG_FLAGS, ENV_NAMES, expandPath, FILE_KEYS, loadConfig } from '../../../src/cli/config';
import { SETTING_NAMES } from '../../../src/core/settingNames';
import { parseArgs, UsageError } from '../../../src/cli/args';

test('settings: defaults < config file < environment < flags', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-config-'));
  try {
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ provider: { kind: 'anthropic', model: 'claude-3-5-haiku' }, mode: 'confidence', confidence: { threshold: 0.3 }, tokenBudget: 1000 }),
    );
    const env = { RELAY_HOME: dir, RELAY_MODEL: 'claude-sonnet-4', RELAY_TOKEN_BUDGET: '2000' };
    const config = loadConfig(new Map([['budget', '3000']]), env);
    assert.equal(config.provider.kind, 'anthropic', 'from the file');
    assert.equal(config.provider.model, 'claude-sonnet-4', 'env beats the file');
    assert.equal(config.mode, 'confidence');
    assert.equal(config.confidence.threshold, 0.3);
    assert.equal(config.tokenBudget, 3000, 'flag beats env');
    assert.equal(config.maxTurns, 5, 'the paper default');
    assert.equal(config.totalsPath, join(dir, 'totals.json'));
    assert.equal(config.slm.q4Compute, 'as-exported', "a q4 file's own arithmetic unless asked");
    assert.equal(loadConfig(new Map(), { ...env, RELAY_Q4_COMPUTE: 'int8' }).slm.q4Compute, 'int8');
    assert.equal(config.slm.kvCacheBudgetMb, 1536, 'KV caches kept within the default budget');
    assert.equal(loadConfig(new Map([['kv-cache-mb', '0']]), env).slm.kvCacheBudgetMb, 0);
    assert.equal(loadConfig(new Map(), { ...env, RELAY_KV_CACHE_MB: '4096' }).slm.kvCacheBudgetMb, 4096);
    assert.equal(config.slm.thinking, false, 'thinking off unless asked');
    assert.equal(loadConfig(new Map([['thinking', 'on']]), env).slm.thinking, true);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('bad settings name the setting, the value and what is allowed', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-config-'));
  try {
    const env = { RELAY_HOME: dir };
    assert.throws(() => loadConfig(new Map([['mode', 'fast']]), env), /--mode: 'fast' is not one of command, confidence/);
    assert.throws(() => loadConfig(new Map([['threshold', '1.5']]), env), /--threshold: '1.5' must be a number from 0 to 1/);
    assert.throws(() => loadConfig(new Map([['q4-compute', 'fp16']]), env), /--q4-compute: 'fp16' is not one of as-exported, int8/);
    assert.throws(() => loadConfig(new Map([['kv-cache-mb', '-1']]), env), /--kv-cache-mb: '-1' must be a number from 0 to 65536/);
    assert.throws(() => loadConfig(new Map(), { ...env, RELAY_MAX_TURNS: '2.5' }), /\$RELAY_MAX_TURNS: '2.5' must be a whole number/);
    writeFileSync(join(dir, 'config.json'), '{ nope');
    assert.throws(() => loadConfig(new Map(), env), /config.json is not valid JSON/);
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ apiKey: 'x' }));
    assert.throws(() => loadConfig(new Map(), env), /unknown setting 'apiKey'/, 'keys are never read from the file');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('the argument parser rejects unknown options and missing values', () => {
  const parsed = parseArgs(['solve', 'what', '--json', '--mode=command', '--budget', '10'], new Set(['json']), new Set(['mode', 'budget']));
  assert.deepEqual(parsed.positionals, ['solve', 'what']);
  assert.equal(parsed.options.get('mode'), 'command');
  assert.equal(parsed.options.get('budget'), '10');
  assert.throws(() => parseArgs(['--nope'], new Set(), new Set()), UsageError);
  assert.throws(() => parseArgs(['--mode'], new Set(), new Set(['mode'])), /--mode needs a value/);
  // A value left out is not taken from the next option; one written with = is the value.
  assert.throws(() => parseArgs(['--model', '--json', 'q'], new Set(['json']), new Set(['model'])), /--model needs a value, and --json is an option/);
  assert.equal(parseArgs(['--model=--json'], new Set(['json']), new Set(['model'])).options.get('model'), '--json');
  assert.equal(parseArgs(['--model', '--not-a-flag'], new Set(['json']), new Set(['model'])).options.get('model'), '--not-a-flag');
});

test('ceilings and timeouts: defaults, flags, environment and config file, in seconds', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-config-'));
  try {
    const defaults = loadConfig(new Map(), { RELAY_HOME: dir });
    assert.deepEqual(defaults.limits, { maxLlmCalls: 64, maxCostUsd: 1, maxStallSeconds: 180, maxCostRatio: DEFAULT_MAX_COST_RATIO });
    assert.deepEqual(defaults.timeouts, { connectSeconds: 10, firstByteSeconds: 60, idleSeconds: 30, callSeconds: 300 });
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({ maxCostPerAnswerUsd: 0.25, maxCostRatio: 0.3, provider: { idleTimeoutSeconds: 12, caching: 'deepseek' } }),
    );
    const set = loadConfig(
      new Map([
        ['max-calls', '8'],
        ['first-byte-timeout', '120'],
      ]),
      { RELAY_HOME: dir, RELAY_MAX_STALL: '30', RELAY_CALL_TIMEOUT: '90' },
    );
    assert.deepEqual(set.limits, { maxLlmCalls: 8, maxCostUsd: 0.25, maxStallSeconds: 30, maxCostRatio: 0.3 });
    assert.equal(set.provider.caching, 'deepseek');
    assert.equal(loadConfig(new Map([['max-cost-ratio', 'off']]), { RELAY_HOME: dir }).limits.maxCostRatio, undefined, "'off' lifts the ratio ceiling");
    assert.equal(loadConfig(new Map(), { RELAY_HOME: dir, RELAY_MAX_COST_RATIO: '0.8' }).limits.maxCostRatio, 0.8);
    assert.throws(() => loadConfig(new Map([['max-cost-ratio', '0']]), { RELAY_HOME: dir }), /--max-cost-ratio: '0' must be a number from 0.01/);
    // A value that is neither says that off is taken too.
    assert.throws(
      () => loadConfig(new Map([['max-cost-ratio', 'banana']]), { RELAY_HOME: dir }),
      (e: Error) => e.message === "--max-cost-ratio: 'banana' must be a number from 0.01 to 100, or off (no such ceiling).",
    );
    assert.throws(() => loadConfig(new Map(), { RELAY_HOME: dir, RELAY_MAX_COST_RATIO: 'none' }), /\$RELAY_MAX_COST_RATIO: 'none' must be .*, or off/);
    assert.throws(
      () => loadConfig(new Map([['max-calls', 'x']]), { RELAY_HOME: dir }),
      (e: Error) => !/ or off/.test(e.message),
      'only where off is taken',
    );
    assert.throws(() => loadConfig(new Map([['caching', 'magic']]), { RELAY_HOME: dir }), /--caching/);
    assert.deepEqual(set.timeouts, { connectSeconds: 10, firstByteSeconds: 120, idleSeconds: 12, callSeconds: 90 });
    assert.throws(() => loadConfig(new Map([['max-calls', '0']]), { RELAY_HOME: dir }), /--max-calls: '0' must be a number from 1/);
    assert.throws(() => loadConfig(new Map([['idle-timeout', 'soon']]), { RELAY_HOME: dir }), /--idle-timeout/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('every flag and variable that messages name (src/core/settingNames.ts) is one the CLI reads', () => {
  for (const [id, name] of Object.entries(SETTING_NAMES)) {
    if (name.flag.includes(' ')) continue; // prices: several flags
    const flag = name.flag.replace(/^--/, '');
    assert.ok(CONFIG_FLAGS.has(flag), `${id}: ${name.flag} is a CLI flag`);
    if ('env' in name && name.env) assert.equal(ENV_NAMES[name.env], flag, `${id}: $${name.env} sets ${name.flag}`);
    assert.equal(FILE_KEYS[name.setting.replace(/^relay\./, '')], flag, `${id}: ${name.setting} is a config.json key for ${name.flag}`);
  }
});

test('a small model on a server: kind, address and name from flags, environment or config file; a bad kind lists the kinds', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-cfg-slm-'));
  try {
    // The config file is RELAY_HOME's, written below (RELAY_CONFIG must name a file that exists).
    const env = { RELAY_HOME: dir };
    assert.deepEqual(
      (({ kind, serverUrl, serverModel }) => ({ kind, serverUrl, serverModel }))(loadConfig(new Map(), env).slm),
      { kind: 'onnx', serverUrl: '', serverModel: '' },
      'the ONNX folder by default',
    );
    const flags = loadConfig(
      new Map([
        ['slm-kind', 'completions-server'],
        ['slm-url', 'http://gpu:8001/v1'],
        ['slm-model', 'HINT-lab/RelayLLM-1.7B-Simple'],
      ]),
      env,
    ).slm;
    assert.equal(flags.kind, 'completions-server');
    assert.equal(flags.serverUrl, 'http://gpu:8001/v1');
    assert.equal(flags.serverModel, 'HINT-lab/RelayLLM-1.7B-Simple');
    assert.equal(loadConfig(new Map(), { ...env, RELAY_SLM_KIND: 'ollama', RELAY_SLM_MODEL: 'qwen3:1.7b' }).slm.serverModel, 'qwen3:1.7b');
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ slm: { kind: 'ollama', serverUrl: 'http://127.0.0.1:11434' } }));
    assert.equal(loadConfig(new Map(), env).slm.kind, 'ollama');
    assert.throws(() => loadConfig(new Map([['slm-kind', 'vllm']]), env), /--slm-kind: 'vllm' is not one of onnx, completions-server, ollama/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a path in double quotes (cmd\'s set RELAY_SLM="...", Explorer\'s "Copy as path") is read without them; one pair only', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-config-'));
  try {
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ slm: { modelFolder: '"models/slm"' }, totalsPath: '"~/t.json"' }));
    const env = { RELAY_HOME: dir };
    const config = loadConfig(new Map(), env);
    assert.equal(config.slm.folder, join(dir, 'models', 'slm'), "the config file's relative path, relative to its folder");
    assert.equal(config.totalsPath, join(homedir(), 't.json'), '~ inside the quotes is the home folder');
    const folder = join(dir, 'qwen');
    assert.equal(loadConfig(new Map(), { ...env, RELAY_SLM: `"${folder}"` }).slm.folder, folder);
    const onnxLocal = new Map([
      ['provider', 'onnx-local'],
      ['model', `"${folder}"`],
    ]);
    assert.equal(loadConfig(onnxLocal, env).provider.model, folder, "onnx-local's --model is a folder");
    assert.equal(loadConfig(new Map([['model', '"gpt-5"']]), env).provider.model, '"gpt-5"', "another provider's model is a name, as written");
    assert.equal(expandPath('"C:\\Users\\me\\models\\qwen"'), 'C:\\Users\\me\\models\\qwen');
    assert.equal(expandPath('""/tmp/x""'), '"/tmp/x"', 'one pair');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
