// Settings of the wrong type in settings.json, and the commands' bounds on what they send:
// each names the problem (and the setting) instead of a crash or a silent default.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { expandPath } from '../../../src/cli/config';
import { parseClaudeVersion } from '../../../src/core/providers/modelCapabilities';
import { builtInPrice } from '../../../src/core/providers/pricing';
import { SETTING_NAMES } from '../../../src/core/settingNames';
import {
  commandsRun,
  env,
  remoteSettings,
  resetSettings,
  useVscodeStub,
  warningsShown,
  window,
  workspaceFolderSettings,
  workspaceSettings,
} from './vscodeStub';
useVscodeStub();

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { readSettings, HTTP_URL_PATTERN, SettingsError } = require('../../../src/extension/settings') as typeof import('../../../src/extension/settings');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { fixCommand, runFix, settingNamedIn } = require('../../../src/extension/fixCommands') as typeof import('../../../src/extension/fixCommands');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { solveProblem } = require('../../../src/extension/commands') as typeof import('../../../src/extension/commands');

test('a text or on/off setting of another type names the setting; "true" in quotes is not taken for false', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ 'relay.provider.model': 42 }, /Setting relay\.provider\.model in your user settings: 42 is not text: write it in quotes/],
    [{ 'relay.provider.baseUrl': 123 }, /Setting relay\.provider\.baseUrl in your user settings: 123 is not text/],
    [{ 'relay.slm.modelFolder': ['a'] }, /Setting relay\.slm\.modelFolder in your user settings: \["a"\] is not text/],
    [{ 'relay.localOnly': 'true' }, /Setting relay\.localOnly in your user settings: "true" is not true or false \(without quotes\)/],
    [{ 'relay.slm.loadAtStartup': 1 }, /Setting relay\.slm\.loadAtStartup in your user settings: 1 is not true or false/],
  ];
  for (const [settings, expected] of cases) {
    resetSettings(settings);
    assert.throws(() => readSettings(), expected);
  }
  resetSettings({ 'relay.localOnly': true, 'relay.provider.templateFolder': null });
  const read = readSettings();
  assert.equal(read.localOnly, true);
  assert.equal(read.provider.templateFolder, '', 'null is the default');
  resetSettings({});
});

test('Solve Problem refuses a selection too long to send, as Explain Selection does: nothing is asked', async () => {
  const text = 'x'.repeat(25_000);
  const selection = { isEmpty: false, start: { line: 0, character: 0 }, end: { line: 0, character: text.length } };
  window.activeTextEditor = { selection, selections: [selection], document: { getText: () => text, languageId: 'plaintext' } };
  const asked: string[] = [];
  const before = warningsShown.length;
  try {
    await solveProblem({ ask: async (question: string) => void asked.push(question) } as never);
  } finally {
    window.activeTextEditor = undefined;
  }
  assert.deepEqual(asked, []);
  assert.match(warningsShown[before]?.message ?? '', /the problem has 25,000 characters; select at most 20,000 to solve/);
});

const MANIFEST_SETTINGS = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')).contributes.configuration.properties as Record<
  string,
  { pattern?: string; patternErrorMessage?: string }
>;

/** The message readSettings refuses the settings with (it must refuse them). */
function refusal(): string {
  try {
    readSettings();
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail('readSettings accepted the settings');
}

test('~ in a path setting is the home folder, as the CLI reads it; a model name (not onnx-local) stays as written', () => {
  resetSettings({
    'relay.slm.modelFolder': '~/models/Qwen3-0.6B-ONNX',
    'relay.provider.templateFolder': ' ~ ',
    'relay.provider.kind': 'onnx-local',
    'relay.provider.model': '~/models/llm',
  });
  const read = readSettings();
  assert.equal(read.slm.modelFolder, join(homedir(), 'models', 'Qwen3-0.6B-ONNX'));
  assert.equal(read.slm.modelFolder, expandPath('~/models/Qwen3-0.6B-ONNX'), "the CLI's --slm reads it alike");
  assert.equal(read.provider.templateFolder, homedir());
  assert.equal(read.provider.model, join(homedir(), 'models', 'llm'), "onnx-local's model is its folder");
  resetSettings({ 'relay.provider.kind': 'openai-chat', 'relay.provider.model': '~/not-a-folder' });
  assert.equal(readSettings().provider.model, '~/not-a-folder', "another provider's model is a name");
  resetSettings({});
});

test('a path in double quotes (Windows Explorer\'s "Copy as path") is read without them, as the CLI reads it; one pair only', () => {
  const folder = join(homedir(), 'models', 'qwen');
  resetSettings({ 'relay.slm.modelFolder': ` "${folder}" `, 'relay.provider.templateFolder': '"~/templates"' });
  const read = readSettings();
  assert.equal(read.slm.modelFolder, folder);
  assert.equal(read.slm.modelFolder, expandPath(`"${folder}"`), "the CLI's --slm reads it alike");
  assert.equal(read.provider.templateFolder, join(homedir(), 'templates'), '~ inside the quotes is the home folder');
  resetSettings({ 'relay.provider.kind': 'onnx-local', 'relay.provider.model': `"${folder}"` });
  assert.equal(readSettings().provider.model, folder, "onnx-local's folder too");
  // A quote that does not close is no pair: refused as written.
  resetSettings({ 'relay.slm.modelFolder': `"${folder}` });
  assert.match(refusal(), /is a relative path/);
  resetSettings({});
});

test('a relative path in a path setting is refused, naming the setting and asking for an absolute path; its fix opens that setting', () => {
  const cases: [Record<string, unknown>, string, string][] = [
    [{ 'relay.slm.modelFolder': 'models/Qwen3-0.6B-ONNX' }, 'slm.modelFolder', 'models/Qwen3-0.6B-ONNX'],
    [{ 'relay.provider.templateFolder': './template' }, 'provider.templateFolder', './template'],
    // The served small model's folder (its tokenizer) too.
    [{ 'relay.slm.kind': 'completions-server', 'relay.slm.serverModel': 'qwen', 'relay.slm.modelFolder': 'tokenizer' }, 'slm.modelFolder', 'tokenizer'],
  ];
  for (const [settings, key, written] of cases) {
    resetSettings(settings);
    const message = refusal();
    assert.ok(
      message.startsWith(`Setting relay.${key} in your user settings: ${JSON.stringify(written)} is a relative path: use an absolute path (e.g. `),
      message,
    );
    assert.match(message, /~\/models\/my-model in your home folder\)\. VS Code has no folder it would be relative to\.$/);
    assert.deepEqual(fixCommand('open-settings'), {
      command: 'workbench.action.openGlobalSettings',
      title: `Open relay.${key}`,
      arguments: [{ query: `@id:relay.${key}` }],
    });
  }
  // onnx-local's folder is checked where the large model is opened (onnxLocalFolderElsewhere.test.ts): answers without it are not blocked.
  resetSettings({ 'relay.provider.kind': 'onnx-local', 'relay.provider.model': 'llm-folder' });
  assert.equal(readSettings().provider.model, 'llm-folder');
  // onnx-local renders no template: a stale relative value there blocks no answer.
  resetSettings({ 'relay.provider.kind': 'onnx-local', 'relay.provider.model': join(homedir(), 'llm'), 'relay.provider.templateFolder': './template' });
  assert.equal(readSettings().provider.templateFolder, './template');
  resetSettings({});
});

test('a bad value says where it is written (workspace, folder or user settings), and the fix opens the Settings editor at that setting there', () => {
  resetSettings({});
  workspaceSettings.set('relay.maxTurns', 0);
  assert.equal(
    refusal(),
    'Setting relay.maxTurns in the workspace settings (.vscode/settings.json): 0 is not a whole number from 1 to 100. Fix it in Settings.',
  );
  const workspace = {
    command: 'workbench.action.openWorkspaceSettings',
    title: 'Open relay.maxTurns (Workspace)',
    arguments: [{ query: '@id:relay.maxTurns' }],
  };
  assert.deepEqual(fixCommand('open-settings'), workspace);
  // The button of the views, the chat and the notifications runs it (runFix).
  const run = commandsRun.length;
  runFix('open-settings');
  assert.deepEqual(commandsRun.slice(run), [{ command: workspace.command, args: workspace.arguments }]);

  // A good workspace value hides the user's bad one: nothing is refused.
  resetSettings({ 'relay.maxTurns': 0 });
  workspaceSettings.set('relay.maxTurns', 5);
  assert.equal(readSettings().maxTurns, 5);
  assert.deepEqual(fixCommand('open-settings'), { command: 'workbench.action.openSettings', title: 'Open Relay Settings', arguments: ['relay.'] });

  // A workspace folder's value wins over the workspace's.
  workspaceFolderSettings.set('relay.maxTurns', 1.5);
  assert.equal(
    refusal(),
    "Setting relay.maxTurns in the workspace folder settings (the folder's .vscode/settings.json): 1.5 is not a whole number from 1 to 100. Fix it in Settings.",
  );
  assert.deepEqual(fixCommand('open-settings'), {
    command: 'workbench.action.openFolderSettings',
    title: 'Open relay.maxTurns (Folder)',
    arguments: [{ query: '@id:relay.maxTurns' }],
  });

  resetSettings({ 'relay.tokenBudget': 200000 });
  assert.equal(refusal(), 'Setting relay.tokenBudget in your user settings: 200000 is not a whole number from 16 to 131072. Fix it in Settings.');
  assert.deepEqual(fixCommand('open-settings'), {
    command: 'workbench.action.openGlobalSettings',
    title: 'Open relay.tokenBudget',
    arguments: [{ query: '@id:relay.tokenBudget' }],
  });
  resetSettings({});
});

test("relay.provider.baseUrl and relay.slm.serverUrl carry settings.ts's URL rule as their pattern: the Settings editor marks what Relay refuses", () => {
  for (const name of ['relay.provider.baseUrl', 'relay.slm.serverUrl']) {
    assert.equal(MANIFEST_SETTINGS[name].pattern, HTTP_URL_PATTERN, name);
    assert.match(MANIFEST_SETTINGS[name].patternErrorMessage ?? '', /^Give an http:\/\/ or https:\/\/ URL without spaces, e\.g\. http/, name);
  }
  // As VS Code compiles a `pattern`.
  const pattern = new RegExp(MANIFEST_SETTINGS['relay.provider.baseUrl'].pattern ?? '(?!)', 'u');
  const served = (url: string) => ({
    'relay.slm.kind': 'completions-server',
    'relay.slm.serverModel': 'qwen',
    'relay.slm.modelFolder': join(homedir(), 'tokenizer'),
    'relay.slm.serverUrl': url,
  });
  const accepts = (settings: Record<string, unknown>): boolean => {
    resetSettings(settings);
    try {
      readSettings();
      return true;
    } catch {
      return false;
    }
  };
  const urls = [
    '',
    'http://127.0.0.1:8000/v1',
    ' https://api.example.com/v1 ',
    'http://[::1]:11434',
    'ftp://127.0.0.1:8000',
    'HTTP://127.0.0.1:8000/v1',
    'http:127.0.0.1:8000',
    'http://127.0.0.1:8000/v 1',
    'https://',
    '127.0.0.1:8000',
    'not a url',
  ];
  for (const url of urls) {
    const matches = pattern.test(url);
    assert.equal(
      accepts({ 'relay.provider.baseUrl': url }),
      matches,
      `relay.provider.baseUrl ${JSON.stringify(url)}: the pattern ${matches ? 'takes' : 'marks'} it`,
    );
    assert.equal(accepts(served(url)), matches, `relay.slm.serverUrl ${JSON.stringify(url)}: the pattern ${matches ? 'takes' : 'marks'} it`);
  }
  // A scheme in capitals is a URL as any other (the CLI's --slm-url takes it): what worked before the pattern still does.
  for (const url of ['HTTP://127.0.0.1:8000/v1', 'Https://api.example.com/v1']) {
    assert.ok(accepts(served(url)), `relay.slm.serverUrl ${url}`);
    assert.ok(accepts({ 'relay.provider.baseUrl': url }), `relay.provider.baseUrl ${url}`);
  }
  resetSettings({});
});

test('the setting an error names is the first whole setting name in it, not a longer name or a prefix of one', () => {
  assert.equal(settingNamedIn('Start the server or fix relay.provider.baseUrl (CLI: --base-url), or relay.provider.kind.'), 'relay.provider.baseUrl');
  assert.equal(settingNamedIn('Check that relay.provider.kind (CLI: --provider) matches the service, then relay.provider.baseUrl.'), 'relay.provider.kind');
  assert.equal(settingNamedIn('relay.provider.modelFolder is no setting; relay.slm.modelFolder is.'), 'relay.slm.modelFolder');
  assert.equal(settingNamedIn('Pick another model in relay.provider.model.'), 'relay.provider.model', 'a full stop after it');
  assert.equal(settingNamedIn('nothing to open here'), undefined);
  assert.equal(settingNamedIn(undefined), undefined);
  resetSettings({});
  assert.deepEqual(fixCommand('open-settings', 'fix relay.provider.templateFolder (CLI: --template-folder)'), {
    command: 'workbench.action.openGlobalSettings',
    title: 'Open relay.provider.templateFolder',
    arguments: [{ query: '@id:relay.provider.templateFolder' }],
  });
});

test('"Open Relay Settings" opens the one setting a message names, whichever package.json contributes (relay.localOnly, relay.mode), not all of them', () => {
  resetSettings({});
  const localOnly = 'FAILED: Local only is on (relay.localOnly): no LLM is contacted, so none is tested. Turn it off in Settings to test the provider.';
  assert.deepEqual(fixCommand('open-settings', localOnly), {
    command: 'workbench.action.openGlobalSettings',
    title: 'Open relay.localOnly',
    arguments: [{ query: '@id:relay.localOnly' }],
  });
  const noLogprobs =
    'Completions server at 127.0.0.1:8000 sent tokens without log-probabilities. Use command mode (relay.mode), or a server that reports them.';
  assert.deepEqual(fixCommand('open-settings', noLogprobs)?.arguments, [{ query: '@id:relay.mode' }]);
  // The names messages give with their CLI flags (settingRef) are settings VS Code has.
  for (const [id, { setting }] of Object.entries(SETTING_NAMES)) {
    const contributed = setting.endsWith('*')
      ? Object.keys(MANIFEST_SETTINGS).some((key) => key.startsWith(setting.slice(0, -1)))
      : setting in MANIFEST_SETTINGS;
    assert.ok(contributed, `${id}: ${setting} is contributed by package.json`);
  }
});

test("relay.provider.model's examples are models their services serve today: a hosted one is priced by the bundled catalog, and no Claude 3 (retired)", () => {
  const { description } = MANIFEST_SETTINGS['relay.provider.model'] as { description: string };
  const examples = /e\.g\. (.+?)\.(?:\s|$)/.exec(description)?.[1].split(', ') ?? [];
  assert.ok(examples.length >= 2, description);
  for (const model of examples) {
    const claude = parseClaudeVersion(model);
    if (claude) {
      // Anthropic retired every Claude 3 model (claude-3-5-haiku on 2026-02-19): a request for one is a not_found_error.
      assert.ok(claude.major >= 4, `${model} is a retired Claude 3 model`);
      assert.ok(builtInPrice('anthropic', model), `${model} is in the price catalog`);
    } else if (/^(gpt-|o\d)/.test(model)) {
      assert.ok(builtInPrice('openai-chat', model), `${model} is in the price catalog`);
    } else {
      assert.match(model, /^[\w.-]+\/[\w.-]+$/, `${model}: an example is a hosted OpenAI or Anthropic model, or a self-hosted one named by its repository`);
    }
  }
});

test("in a remote window, a bad value from the remote machine's settings says so, and the fix opens the Remote tab at that setting", () => {
  env.remoteName = 'ssh-remote';
  try {
    // The small model's folder is the remote machine's (machine scope): its value can only come from there.
    resetSettings({});
    remoteSettings.set('relay.slm.modelFolder', 'models/qwen');
    assert.match(refusal(), /^Setting relay\.slm\.modelFolder in your remote settings \(ssh-remote\): "models\/qwen" is a relative path/);
    const remote = {
      command: 'workbench.action.openRemoteSettings',
      title: 'Open relay.slm.modelFolder (Remote)',
      arguments: [{ query: '@id:relay.slm.modelFolder' }],
    };
    assert.deepEqual(fixCommand('open-settings'), remote);
    const run = commandsRun.length;
    runFix('open-settings');
    assert.deepEqual(commandsRun.slice(run), [{ command: remote.command, args: remote.arguments }]);

    // An unset machine-scoped setting an error names is set there too.
    resetSettings({});
    assert.deepEqual(fixCommand('open-settings', 'fix relay.provider.templateFolder (CLI: --template-folder)'), {
      command: 'workbench.action.openRemoteSettings',
      title: 'Open relay.provider.templateFolder (Remote)',
      arguments: [{ query: '@id:relay.provider.templateFolder' }],
    });

    // An application-scoped setting is read from the user settings alone, in a remote window too.
    resetSettings({ 'relay.maxLlmCallsPerAnswer': 0 });
    assert.equal(refusal(), 'Setting relay.maxLlmCallsPerAnswer in your user settings: 0 is not a whole number from 1 to 10000. Fix it in Settings.');
    assert.deepEqual(fixCommand('open-settings'), {
      command: 'workbench.action.openGlobalSettings',
      title: 'Open relay.maxLlmCallsPerAnswer',
      arguments: [{ query: '@id:relay.maxLlmCallsPerAnswer' }],
    });

    // Another may be in either (VS Code's inspect() tells them apart no more than that): both are named.
    resetSettings({});
    remoteSettings.set('relay.maxTurns', 0);
    assert.equal(refusal(), 'Setting relay.maxTurns in your user or remote settings (ssh-remote): 0 is not a whole number from 1 to 100. Fix it in Settings.');
    assert.equal(fixCommand('open-settings')?.command, 'workbench.action.openGlobalSettings');
  } finally {
    env.remoteName = undefined;
    resetSettings({});
  }
});

test("an onnx-local LLM folder that does not exist: the fix opens relay.provider.model, not all of Relay's settings", () => {
  resetSettings({ 'relay.provider.kind': 'onnx-local', 'relay.provider.model': join(homedir(), 'no-such-llm-folder') });
  // As RelayService refuses it when it would load the folder (readSettings takes any absolute path).
  const message = new SettingsError(
    'provider.model',
    `for onnx-local it is the large model's folder, and ${join(homedir(), 'no-such-llm-folder')} does not exist.`,
  ).message;
  assert.deepEqual(fixCommand('open-settings', message), {
    command: 'workbench.action.openGlobalSettings',
    title: 'Open relay.provider.model',
    arguments: [{ query: '@id:relay.provider.model' }],
  });
  resetSettings({});
});
