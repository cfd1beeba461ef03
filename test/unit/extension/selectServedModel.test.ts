// "Relay: Select Model" → "A model on a server…" against wire-form servers on 127.0.0.1
// backed by the project's ONNX runtime: the questions asked, the test run in the real SLM
// process (dist/slmWorker.js, bundled here) with a progress notification, what it found,
// and the settings saved only when the user says so. Only the VS Code API is a stand-in.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, before, describe, test } from 'node:test';
import {
  answerQuestions,
  createExtensionContext,
  env,
  fileUri,
  progressShown,
  questionsAsked,
  remoteSettings,
  resetSettings,
  settings,
  useVscodeStub,
  warningsShown,
  answerWarnings,
  workspaceSettings,
  workspace,
  type AskedQuestion,
  type StubExtensionContext,
} from './vscodeStub';
useVscodeStub();
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import type { ServedSlmKind } from '../../../src/core/slm/types';
import { TEMPERATURE_SCALED_LOGPROBS } from '../../../src/core/slm/served/serverCheck';
import { ensureScriptedModel } from '../../fixtures/fixtures';
import { startServedSlmServer } from '../../fixtures/servedSlmServers';
import { SCRIPT } from '../slm/script';
import { bundleSlmWorker } from './slmWorkerBundle';

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { selectModel } = require('../../../src/extension/selectModel') as typeof import('../../../src/extension/selectModel');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const served = require('../../../src/extension/selectServedModel') as typeof import('../../../src/extension/selectServedModel');
const { USE_SERVED_MODEL, TRY_AGAIN, SEND_ANYWAY, servedCheckSummary, mayPromptsGoTo } = served;
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { SWITCH_EVERYWHERE } = require('../../../src/extension/settings') as typeof import('../../../src/extension/settings');

const EXTENSION = join(__dirname, '..', '..', '..', '.cache', 'test-select-served-model');
const MODEL = 'relay-slm';

let folder: string;
let onnx: LocalRuntime;
let ext: StubExtensionContext;

before(async () => {
  await bundleSlmWorker(EXTENSION);
  folder = await ensureScriptedModel(SCRIPT);
  onnx = await createLocalRuntime(folder);
  ext = createExtensionContext(EXTENSION);
});
after(async () => {
  answerQuestions(() => undefined);
  ext?.dispose();
  await onnx?.dispose();
});
afterEach(() => answerQuestions(() => undefined));

interface Script {
  url: string;
  kind: ServedSlmKind;
  /** The button of the result's dialog (undefined: closed). */
  confirm?: string;
  /** The button of an error (undefined: closed). */
  onError?: string;
}

/** The user's answers: the server entry, the URL, the kind, the model's name, the folder, then the script's buttons. */
function user(script: Script): void {
  answerQuestions((q: AskedQuestion) => {
    if (q.api === 'showQuickPick' && /Select the small model/.test(q.text)) return q.items.find((item) => /A model on a server/.test(item.label));
    if (q.api === 'showInputBox' && /server \(1\/4\)/.test(q.text)) return script.url;
    if (q.api === 'showQuickPick' && /what the server speaks/.test(q.text)) return q.items.find((item) => item.slmKind === script.kind);
    if (q.api === 'showInputBox' && /name on the server/.test(q.text)) return MODEL;
    if (q.api === 'showOpenDialog') return [fileUri(folder)];
    if (q.api === 'showInformationMessage' && q.options?.modal) return script.confirm;
    if (q.api === 'showErrorMessage') return script.onError;
    return undefined;
  });
}

const asked = (from: number) => questionsAsked.slice(from);

/** The user picks "Use a local folder..." and the scripted model's folder. */
function userPicksLocalFolder(): void {
  answerQuestions((q: AskedQuestion) => {
    if (q.api === 'showQuickPick' && /Select the small model/.test(q.text)) return q.items.find((item) => /Use a local folder/.test(item.label));
    if (q.api === 'showOpenDialog') return [fileUri(folder)];
    return undefined;
  });
}

describe('Select Model: a model on a server', () => {
  test('a completions server: the address is checked as typed, the test runs with progress, its findings are shown, and the four settings are saved on yes', async () => {
    const server = await startServedSlmServer('completions-server', onnx, { model: MODEL });
    try {
      resetSettings();
      const from = questionsAsked.length;
      const progress = progressShown.length;
      user({ url: server.url, kind: 'completions-server', confirm: USE_SERVED_MODEL });
      await selectModel(ext.context);

      const urlBox = asked(from).find((q) => q.api === 'showInputBox' && /server \(1\/4\)/.test(q.text));
      assert.ok(urlBox);
      const validate = urlBox.options.validateInput as (value: string) => string | undefined;
      assert.match(validate('ftp://127.0.0.1:8000') ?? '', /not an http:\/\/ or https:\/\/ address/);
      assert.match(validate('http://user:pw@127.0.0.1:8000/v1') ?? '', /carries a login/);
      assert.match(validate('') ?? '', /Give the server's address/);
      assert.equal(validate(server.url), undefined);

      assert.deepEqual(progressShown.slice(progress), [{ title: `Relay: testing ${MODEL} at ${server.url}…`, cancellable: true }]);
      assert.ok(server.requests.length >= 2, 'the test asked the server');
      const result = asked(from).find((q) => q.api === 'showInformationMessage' && q.options?.modal);
      assert.ok(result);
      assert.equal(result.text, `Relay: ${MODEL} at ${server.url} works as the small model.`);
      assert.deepEqual(result.items, [USE_SERVED_MODEL]);
      const detail = String(result.options.detail);
      assert.match(detail, /^Latency: first token in \d+ ms; \d+ tokens in \d+ ms\./);
      assert.match(detail, /Log-probabilities: yes\. Every mode works: command, confidence and money-aware\./);
      assert.match(detail, /Token ids: yes\./);
      assert.match(detail, /Stop strings: yes\./);
      assert.match(detail, /Prefix cache: \d+ of \d+ prompt tokens of the second request came from it\./);

      assert.equal(settings.get('relay.slm.kind'), 'completions-server');
      assert.equal(settings.get('relay.slm.serverUrl'), server.url);
      assert.equal(settings.get('relay.slm.serverModel'), MODEL);
      assert.equal(settings.get('relay.slm.modelFolder'), folder);
      for (const headers of server.headers) assert.equal(headers.authorization, undefined, 'no key to the SLM server');
    } finally {
      await server.close();
    }
  });

  test('Ollama without log-probabilities: the result says command mode only and text tokens; closing the dialog saves nothing', async () => {
    const server = await startServedSlmServer('ollama', onnx, { model: MODEL, logprobs: false });
    try {
      resetSettings();
      // Ollama's own port puts Ollama first among the kinds (closing that pick ends it all).
      const atOllamaPort = questionsAsked.length;
      answerQuestions((q: AskedQuestion) => {
        if (q.api === 'showQuickPick' && /Select the small model/.test(q.text)) return q.items.find((item) => /A model on a server/.test(item.label));
        if (q.api === 'showInputBox') return 'http://127.0.0.1:11434';
        return undefined;
      });
      await selectModel(ext.context);
      const kinds = asked(atOllamaPort).find((q) => q.api === 'showQuickPick' && /what the server speaks/.test(q.text));
      assert.deepEqual(
        kinds?.items.map((item) => item.slmKind),
        ['ollama', 'completions-server'],
      );
      assert.equal(asked(atOllamaPort).at(-1), kinds, 'nothing after the closed pick');

      const from = questionsAsked.length;
      user({ url: server.url, kind: 'ollama', confirm: undefined });
      await selectModel(ext.context);
      const result = asked(from).find((q) => q.api === 'showInformationMessage' && q.options?.modal);
      const detail = String(result?.options.detail);
      assert.match(detail, /Log-probabilities: no\. Command mode only/);
      assert.match(detail, /Token ids: no\. The server re-tokenises the text/);
      assert.ok(server.requests.every((r) => r.raw === true));
      for (const name of ['relay.slm.kind', 'relay.slm.serverUrl', 'relay.slm.serverModel', 'relay.slm.modelFolder'])
        assert.equal(settings.has(name), false, name);
    } finally {
      await server.close();
    }
  });

  test('a server that is down: the error names the setting to fix, Try Again asks again with the answers filled in; nothing is saved', async () => {
    const down = await startServedSlmServer('completions-server', onnx, { model: MODEL });
    await down.close();
    resetSettings({ 'relay.slm.modelFolder': folder });
    const from = questionsAsked.length;
    let errors = 0;
    answerQuestions((q: AskedQuestion) => {
      if (q.api === 'showQuickPick' && /Select the small model/.test(q.text)) return q.items.find((item) => /A model on a server/.test(item.label));
      // The second time, the box holds what was typed the first time.
      if (q.api === 'showInputBox' && /server \(1\/4\)/.test(q.text)) return errors === 0 ? down.url : q.options.value;
      if (q.api === 'showQuickPick' && /what the server speaks/.test(q.text)) return q.items[0];
      if (q.api === 'showInputBox' && /name on the server/.test(q.text)) return errors === 0 ? MODEL : q.options.value;
      // The folder set before is offered first.
      if (q.api === 'showQuickPick' && /tokenizer and chat template/.test(q.text)) return q.items[0];
      if (q.api === 'showErrorMessage') return ++errors === 1 ? TRY_AGAIN : undefined;
      return undefined;
    });
    await selectModel(ext.context);
    const errorsShown = asked(from).filter((q) => q.api === 'showErrorMessage');
    assert.equal(errorsShown.length, 2, 'tried twice');
    assert.match(errorsShown[0].text, /did not pass the test\. .*could not be reached \(connection refused\)\. Start the server, or fix relay\.slm\.serverUrl/);
    assert.deepEqual(errorsShown[0].items, [TRY_AGAIN]);
    const urlBoxes = asked(from).filter((q) => q.api === 'showInputBox' && /server \(1\/4\)/.test(q.text));
    assert.equal(urlBoxes[1].options.value, down.url, 'the second attempt starts from the first');
    const folderPick = asked(from).find((q) => q.api === 'showQuickPick' && /tokenizer and chat template/.test(q.text));
    assert.equal(folderPick?.items[0].label, `Use ${folder}`);
    assert.equal(
      asked(from).some((q) => q.api === 'showOpenDialog'),
      false,
    );
    assert.equal(settings.has('relay.slm.kind'), false);
    assert.equal(settings.get('relay.slm.modelFolder'), folder);
  });

  test('picking an ONNX folder afterwards turns the server off (relay.slm.kind back to its default, onnx)', async () => {
    resetSettings({ 'relay.slm.kind': 'completions-server', 'relay.slm.serverModel': MODEL, 'relay.slm.modelFolder': folder });
    const from = questionsAsked.length;
    userPicksLocalFolder();
    await selectModel(ext.context);
    const picker = asked(from).find((q) => /Select the small model/.test(q.text));
    const serverEntry = picker?.items.find((item) => /A model on a server/.test(item.label));
    assert.match(serverEntry.label, /^\$\(check\) /, 'the server entry was marked as the current model');
    assert.equal(settings.has('relay.slm.kind'), false);
    assert.equal(settings.get('relay.slm.modelFolder'), folder);
  });

  test('settings of the wrong type written by hand do not break the picker that replaces them (Select Model is the fix the status bar names)', async () => {
    resetSettings({ 'relay.slm.kind': 'completions-server', 'relay.slm.serverModel': 7, 'relay.slm.serverUrl': false, 'relay.slm.modelFolder': 5 });
    const from = questionsAsked.length;
    userPicksLocalFolder();
    await selectModel(ext.context);
    const picker = asked(from).find((q) => /Select the small model/.test(q.text));
    assert.match(picker?.items.find((item) => /A model on a server/.test(item.label))?.description ?? '', / at the default address/);
    assert.equal(settings.get('relay.slm.modelFolder'), folder);
    assert.equal(settings.has('relay.slm.kind'), false);

    resetSettings({ 'relay.slm.serverUrl': 12345, 'relay.slm.serverModel': ['a'], 'relay.slm.modelFolder': {} });
    const served = questionsAsked.length;
    answerQuestions((q: AskedQuestion) =>
      q.api === 'showQuickPick' && /Select the small model/.test(q.text) ? q.items.find((item) => /A model on a server/.test(item.label)) : undefined,
    );
    await selectModel(ext.context);
    const urlBox = asked(served).find((q) => q.api === 'showInputBox' && /server \(1\/4\)/.test(q.text));
    assert.ok(urlBox, 'the server entry asks for the address');
    assert.ok(!String(urlBox.options.value ?? '').includes('12345'), 'a number is not offered as the address');
  });

  test("a workspace's relay.slm.variant, which wins over the user's choice just saved, is named, with a button that removes it", async () => {
    resetSettings();
    workspaceSettings.set('relay.slm.variant', 'fp16');
    const warned = warningsShown.length;
    answerWarnings((w) => w.items.find((item) => /Remove/.test(item)));
    userPicksLocalFolder();
    try {
      await selectModel(ext.context);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      answerWarnings(undefined);
    }
    const warning = warningsShown.slice(warned).find((w) => /relay\.slm\.variant/.test(w.message));
    assert.match(
      warning?.message ?? '',
      /this workspace's settings \(\.vscode\/settings\.json\) set relay\.slm\.variant to "fp16", which wins over the "auto" just chosen/,
    );
    assert.equal(settings.get('relay.slm.variant'), 'auto');
    assert.equal(workspaceSettings.has('relay.slm.variant'), false, 'the workspace value was removed');
  });

  test("in Restricted Mode a workspace's relay.slm.variant is ignored (restricted), so nothing is said about it", async () => {
    resetSettings();
    workspaceSettings.set('relay.slm.variant', 'fp16');
    const warned = warningsShown.length;
    workspace.isTrusted = false;
    userPicksLocalFolder();
    try {
      await selectModel(ext.context);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      workspace.isTrusted = true;
    }
    assert.deepEqual(
      warningsShown.slice(warned).filter((w) => /relay\.slm\.variant/.test(w.message)),
      [],
    );
    assert.equal(settings.get('relay.slm.variant'), 'auto');
  });

  test("removing a workspace's relay.slm.variant that VS Code cannot write says so, with the fix", async () => {
    resetSettings();
    workspaceSettings.set('relay.slm.variant', 'fp16');
    answerWarnings((w) => w.items.find((item) => /Remove/.test(item)));
    const getConfiguration = workspace.getConfiguration;
    workspace.getConfiguration = (section?: string) => {
      const config = getConfiguration(section);
      return {
        ...config,
        update: async (key: string, value: unknown, target?: unknown) => {
          if (value === undefined) throw new Error('Unable to write into workspace settings.');
          return config.update(key, value, target as never);
        },
      };
    };
    const from = questionsAsked.length;
    userPicksLocalFolder();
    try {
      await selectModel(ext.context);
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
    } finally {
      workspace.getConfiguration = getConfiguration;
      answerWarnings(undefined);
    }
    const errors = asked(from).filter((q) => q.api === 'showErrorMessage');
    assert.equal(errors.length, 1, errors.map((q) => q.text).join(' | '));
    assert.match(
      errors[0].text,
      /could not remove relay\.slm\.variant from this workspace's settings .*Unable to write into workspace settings\..*Remove it there by hand/,
    );
  });

  test("relay.localOnly on: the address box refuses a server not on this machine, in the settings' own words, before anything is sent", async () => {
    const server = await startServedSlmServer('completions-server', onnx, { model: MODEL });
    try {
      resetSettings({ 'relay.localOnly': true });
      const remote = 'http://192.0.2.10:8000/v1';
      const from = questionsAsked.length;
      const progress = progressShown.length;
      // The user backs out at the address (the box would not take the remote one).
      answerQuestions((q: AskedQuestion) =>
        q.api === 'showQuickPick' && /Select the small model/.test(q.text) ? q.items.find((item) => /A model on a server/.test(item.label)) : undefined,
      );
      await selectModel(ext.context);
      const urlBox = asked(from).find((q) => q.api === 'showInputBox' && /server \(1\/4\)/.test(q.text));
      assert.ok(urlBox);
      const validate = urlBox.options.validateInput as (value: string) => string | undefined;
      assert.match(
        validate(remote) ?? '',
        /^relay\.localOnly is on, and the small model's server \(relay\.slm\.serverUrl, http:\/\/192\.0\.2\.10:8000\) is not on this machine: every prompt would go there\. Point relay\.slm\.serverUrl at a server on this machine \(127\.0\.0\.1\), or turn relay\.localOnly off\.$/,
      );
      assert.equal(validate(server.url), undefined, 'a server on this machine is fine');
      assert.equal(validate('http://localhost:8000/v1'), undefined);
      assert.deepEqual(progressShown.slice(progress), [], 'not tested');

      // The same answers with a server on this machine pass, and are saved.
      user({ url: server.url, kind: 'completions-server', confirm: USE_SERVED_MODEL });
      await selectModel(ext.context);
      assert.ok(server.requests.length >= 2, 'tested');
      assert.equal(settings.get('relay.slm.serverUrl'), server.url);

      resetSettings({ 'relay.localOnly': false });
      assert.equal(validate(remote), undefined, 'local only off: any server');
    } finally {
      await server.close();
    }
  });

  test('a server on another machine over plain http: asked before the test prompt goes, naming it, with https and an SSH tunnel; no: nothing sent, nothing saved', async () => {
    resetSettings({ 'relay.localOnly': false });
    const remote = 'http://192.0.2.10:8000/v1';
    const warned = warningsShown.length;
    const progress = progressShown.length;
    user({ url: remote, kind: 'completions-server', confirm: USE_SERVED_MODEL });
    answerWarnings(undefined);
    await selectModel(ext.context);
    const warnings = warningsShown.slice(warned);
    assert.equal(warnings.length, 1);
    assert.equal(warnings[0].message, 'Relay: send prompts to 192.0.2.10:8000 over plain HTTP?');
    assert.equal(warnings[0].options?.modal, true);
    assert.deepEqual(warnings[0].items, [SEND_ANYWAY]);
    assert.equal(
      warnings[0].options?.detail,
      "The small model's server 192.0.2.10:8000 is not on this machine and does not use https: every prompt, with your code, crosses the network unencrypted. " +
        'Serve it over https://, or reach it through an SSH tunnel (ssh -N -L 8000:127.0.0.1:8000 192.0.2.10) at http://127.0.0.1:8000/v1.',
    );
    assert.deepEqual(progressShown.slice(progress), [], 'not tested: nothing was sent');
    assert.equal(settings.has('relay.slm.serverUrl'), false, 'nothing saved');

    // "Send Anyway" lets the test go; this machine and https are not asked about.
    answerWarnings(SEND_ANYWAY);
    try {
      assert.equal(await mayPromptsGoTo(remote), true);
      const asked = warningsShown.length;
      answerWarnings(undefined);
      for (const quiet of ['http://127.0.0.1:8000/v1', 'http://localhost:11434', 'https://gpu-box.lan/v1'])
        assert.equal(await mayPromptsGoTo(quiet), true, quiet);
      assert.equal(warningsShown.length, asked);
    } finally {
      answerWarnings(undefined);
    }
  });

  test("the test's findings: ids that did not spell the server's text name relay.slm.modelFolder as probably not the served model's", () => {
    const check = {
      firstTokenMs: 5,
      totalMs: 9,
      text: ' 1,',
      tokens: 3,
      logprobs: true,
      exactTokens: false,
      idsMismatch: true,
      cachedPromptTokens: undefined,
      promptTokens: undefined,
    };
    const summary = servedCheckSummary(check);
    assert.match(
      summary,
      /Token ids: they do not match the folder's tokenizer \(the server's ids did not spell its text\): relay\.slm\.modelFolder is probably not the served model's folder/,
    );
    assert.doesNotMatch(summary, /Token ids: no\./);
    assert.match(servedCheckSummary({ ...check, idsMismatch: false }), /Token ids: no\. The server re-tokenises the text/);
    // Temperature-scaled log-probabilities (SGLang): said in place of "every mode works".
    const scaled = servedCheckSummary({ ...check, logprobsWarning: TEMPERATURE_SCALED_LOGPROBS });
    assert.ok(scaled.includes(`Log-probabilities: yes, but ${TEMPERATURE_SCALED_LOGPROBS}`), scaled);
    assert.doesNotMatch(scaled, /Every mode works/);
  });

  test('a settings.json VS Code cannot write: the choice is said not to be saved, with the fix; the folder is not blamed', async () => {
    resetSettings();
    const getConfiguration = workspace.getConfiguration;
    workspace.getConfiguration = (section?: string) => ({
      ...getConfiguration(section),
      update: async () => {
        throw new Error('Unable to write into user settings. Please open the user settings to correct errors/warnings in it and try again.');
      },
    });
    const from = questionsAsked.length;
    userPicksLocalFolder();
    try {
      await selectModel(ext.context);
    } finally {
      workspace.getConfiguration = getConfiguration;
    }
    const errors = asked(from).filter((q) => q.api === 'showErrorMessage');
    assert.equal(errors.length, 1, errors.map((q) => q.text).join(' | '));
    assert.match(
      errors[0].text,
      /the choice was not saved: VS Code could not write your user settings \(Unable to write into user settings\..*\)\. Fix settings\.json/,
    );
    assert.ok(!asked(from).some((q) => q.api === 'showInformationMessage' && /the small model is now/.test(q.text)), 'no success message');
  });
  test('in a remote window, the server (kept for every window) is saved only once the user says every window may switch; Cancel saves nothing', async () => {
    const server = await startServedSlmServer('completions-server', onnx, { model: MODEL });
    // The laptop's own small model on its own server, set in a local window.
    const laptop = { 'relay.slm.kind': 'ollama', 'relay.slm.serverUrl': 'http://127.0.0.1:11434', 'relay.slm.serverModel': 'qwen3:0.6b' };
    env.remoteName = 'ssh-remote';
    try {
      resetSettings(laptop);
      const warned = warningsShown.length;
      const from = questionsAsked.length;
      user({ url: server.url, kind: 'completions-server', confirm: USE_SERVED_MODEL });
      answerWarnings(undefined);
      await selectModel(ext.context);

      const questions = warningsShown.slice(warned);
      assert.equal(questions.length, 1);
      assert.equal(questions[0].options?.modal, true);
      assert.deepEqual(questions[0].items, [SWITCH_EVERYWHERE]);
      assert.equal(questions[0].message, 'Relay: change relay.slm.kind, relay.slm.serverUrl and relay.slm.serverModel for every window, local ones included?');
      const detail = questions[0].options?.detail ?? '';
      assert.match(detail, /apply to all windows, local ones included, not only to this remote window \(ssh-remote\)/);
      assert.ok(
        detail.includes(
          `Local windows would send their prompts and selected code to ${server.url} too, an address tested from this remote machine (ssh-remote), not from theirs`,
        ),
        detail,
      );
      for (const [name, value] of Object.entries(laptop)) assert.equal(settings.get(name), value, `${name}: the local windows' server stays`);
      assert.equal(remoteSettings.size, 0, 'the folder is not saved alone');
      assert.ok(!asked(from).some((q) => q.api === 'showInformationMessage' && /the small model is now/.test(q.text)), 'nothing said to be saved');

      const accepted = questionsAsked.length;
      user({ url: server.url, kind: 'completions-server', confirm: USE_SERVED_MODEL });
      answerWarnings(SWITCH_EVERYWHERE);
      await selectModel(ext.context);
      assert.equal(settings.get('relay.slm.kind'), 'completions-server');
      assert.equal(settings.get('relay.slm.serverUrl'), server.url);
      assert.equal(settings.get('relay.slm.serverModel'), MODEL);
      assert.equal(remoteSettings.get('relay.slm.modelFolder'), folder, "the tokenizer's folder is the remote machine's");
      const saved = asked(accepted).find((q) => q.api === 'showInformationMessage' && /the small model is now/.test(q.text));
      assert.equal(saved?.text, `Relay: the small model is now ${MODEL} at ${server.url} in every window, local ones included.`);
    } finally {
      env.remoteName = undefined;
      answerWarnings(undefined);
      await server.close();
    }
  });

  test("the tokenizer's folder dialog opens on this machine's disk; a virtual workspace's folder is refused with the way out, and nothing is sent", async () => {
    resetSettings();
    const from = questionsAsked.length;
    const progress = progressShown.length;
    answerQuestions((q: AskedQuestion) => {
      if (q.api === 'showQuickPick' && /Select the small model/.test(q.text)) return q.items.find((item) => /A model on a server/.test(item.label));
      if (q.api === 'showInputBox' && /server \(1\/4\)/.test(q.text)) return 'http://127.0.0.1:8000/v1';
      if (q.api === 'showQuickPick' && /what the server speaks/.test(q.text)) return q.items[0];
      if (q.api === 'showInputBox' && /name on the server/.test(q.text)) return MODEL;
      if (q.api === 'showOpenDialog') return [{ scheme: 'vscode-vfs', authority: 'github', path: '/owner/repo/tokenizer', fsPath: '/owner/repo/tokenizer' }];
      return undefined;
    });
    await selectModel(ext.context);
    const dialog = asked(from).find((q) => q.api === 'showOpenDialog');
    assert.equal(dialog?.options.defaultUri?.scheme, 'file', "not the workspace's virtual scheme");
    const refused = asked(from).find((q) => q.api === 'showErrorMessage');
    assert.equal(
      refused?.text,
      'Relay cannot read the tokenizer of this folder: it is a vscode-vfs folder, not one on the disk Relay reads models from: pick a folder on this machine (Show Local).',
    );
    assert.deepEqual(progressShown.slice(progress), [], 'no server test');
    assert.equal(settings.has('relay.slm.kind'), false);
  });
});
