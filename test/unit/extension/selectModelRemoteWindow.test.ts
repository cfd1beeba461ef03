// "Relay: Select Model" in a remote window (Remote-SSH, WSL, Dev Containers): the small model
// runs on the remote machine, so the folder chosen there is saved in that machine's settings
// (the Remote tab), and the user settings, which the local window and other machines read,
// keep their own folder; a choice that changes an application-scoped setting (relay.slm.kind),
// which VS Code keeps in the local user settings for every window, is asked first. The
// stand-in reads and writes settings by scope as VS Code does.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import {
  answerQuestions,
  answerWarnings,
  createExtensionContext,
  env,
  fileUri,
  questionsAsked,
  remoteSettings,
  resetSettings,
  settings,
  useVscodeStub,
  warningsShown,
} from './vscodeStub';
useVscodeStub();

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { selectModel } = require('../../../src/extension/selectModel') as typeof import('../../../src/extension/selectModel');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { readSettings, SWITCH_EVERYWHERE } = require('../../../src/extension/settings') as typeof import('../../../src/extension/settings');

const REPO_ROOT = join(__dirname, '..', '..', '..');
/** A real ONNX model folder, as "Use a local folder..." checks it. */
const DEMO_FOLDER = join(REPO_ROOT, 'models', 'relay-demo-slm');
const LOCAL_FOLDER = join(REPO_ROOT, '.cache', 'the-local-machines-model');
const ext = createExtensionContext(join(REPO_ROOT, '.cache', 'test-select-model-remote-window'));
after(() => ext.dispose());

/** Runs Select Model and answers its questions as a user who picks "Use a local folder..." and `folder`. */
async function selectLocalFolder(folder: string): Promise<void> {
  answerQuestions((q) => {
    if (q.api === 'showQuickPick' && /Select the small model/.test(q.text)) return q.items.find((item) => /Use a local folder/.test(item.label));
    if (q.api === 'showOpenDialog') return [fileUri(folder)];
    return undefined;
  });
  await selectModel(ext.context);
}

test("in a remote window, the folder chosen is saved in the remote machine's settings; the user settings keep the local machine's", async () => {
  resetSettings({ 'relay.slm.modelFolder': LOCAL_FOLDER, 'relay.slm.variant': 'q4' });
  env.remoteName = 'ssh-remote';
  const asked = questionsAsked.length;
  const warned = warningsShown.length;
  try {
    await selectLocalFolder(DEMO_FOLDER);

    assert.deepEqual(warningsShown.slice(warned), [], 'only machine settings change: nothing to ask');
    assert.equal(remoteSettings.get('relay.slm.modelFolder'), DEMO_FOLDER, 'the folder is where the model runs');
    assert.equal(remoteSettings.get('relay.slm.variant'), 'auto', 'the variant goes with its folder');
    assert.equal(readSettings().slm.modelFolder, DEMO_FOLDER, 'the remote window runs the folder chosen');
    const saved = questionsAsked.slice(asked).find((q) => q.api === 'showInformationMessage');
    assert.match(saved?.text ?? '', /^Relay: the small model is now .*, saved in your remote settings \(ssh-remote\) for the windows on that machine\.$/);

    assert.equal(settings.get('relay.slm.modelFolder'), LOCAL_FOLDER, "the user settings keep the local machine's folder");
    assert.equal(settings.get('relay.slm.variant'), 'q4');
    env.remoteName = undefined;
    assert.equal(readSettings().slm.modelFolder, LOCAL_FOLDER, 'a local window still runs its own folder');
  } finally {
    env.remoteName = undefined;
    answerQuestions(() => undefined);
    resetSettings({});
  }
});

test('in a local window, the folder chosen is saved in the user settings, as before', async () => {
  resetSettings({ 'relay.slm.modelFolder': LOCAL_FOLDER });
  const asked = questionsAsked.length;
  try {
    await selectLocalFolder(DEMO_FOLDER);
    assert.equal(settings.get('relay.slm.modelFolder'), DEMO_FOLDER);
    assert.equal(remoteSettings.size, 0);
    const saved = questionsAsked.slice(asked).find((q) => q.api === 'showInformationMessage');
    assert.match(saved?.text ?? '', /^Relay: the small model is now .*\)\.$/);
    assert.doesNotMatch(saved?.text ?? '', /remote/);
  } finally {
    answerQuestions(() => undefined);
    resetSettings({});
  }
});

/** A user whose small model runs on a server on the laptop (set in a local window), in a Remote-SSH window. */
const ON_A_SERVER = {
  'relay.slm.kind': 'ollama',
  'relay.slm.serverUrl': 'http://127.0.0.1:11434',
  'relay.slm.serverModel': 'qwen3:0.6b',
  'relay.slm.modelFolder': LOCAL_FOLDER,
};

/** Runs Select Model as a user who picks the embedded demo, answering the modal question with `button` (undefined: Cancel). */
async function selectEmbeddedDemo(button: string | undefined): Promise<void> {
  answerQuestions((q) =>
    q.api === 'showQuickPick' && /Select the small model/.test(q.text) ? q.items.find((item) => /demo model \(embedded\)/.test(item.label)) : undefined,
  );
  answerWarnings(button);
  await selectModel(ext.context);
}

test('in a remote window, leaving a server (relay.slm.kind, kept for every window) is asked first; Cancel changes nothing anywhere', async () => {
  resetSettings(ON_A_SERVER);
  env.remoteName = 'ssh-remote';
  const warned = warningsShown.length;
  const asked = questionsAsked.length;
  try {
    await selectEmbeddedDemo(undefined);

    const questions = warningsShown.slice(warned);
    assert.equal(questions.length, 1);
    assert.equal(questions[0].options?.modal, true);
    assert.deepEqual(questions[0].items, [SWITCH_EVERYWHERE]);
    assert.match(questions[0].message, /relay\.slm\.kind for every window, local ones included\?/);
    assert.match(questions[0].options?.detail ?? '', /applies to all windows, local ones included, not only to this remote window \(ssh-remote\)/);
    assert.match(questions[0].options?.detail ?? '', /Local windows would stop using the small model's server too/);
    assert.equal(settings.get('relay.slm.kind'), 'ollama', "the local windows' server stays");
    assert.equal(remoteSettings.size, 0, 'nothing saved for the remote machine either');
    assert.ok(!questionsAsked.slice(asked).some((q) => q.api === 'showInformationMessage'), 'nothing said to be saved');
    env.remoteName = undefined;
    assert.deepEqual(readSettings().slm.server, { kind: 'ollama', url: 'http://127.0.0.1:11434', model: 'qwen3:0.6b' });
  } finally {
    env.remoteName = undefined;
    answerQuestions(() => undefined);
    answerWarnings(undefined);
    resetSettings({});
  }
});

test('in a remote window, "Switch Everywhere" leaves the server in every window, and the message says so, not "for the windows on that machine" alone', async () => {
  resetSettings(ON_A_SERVER);
  env.remoteName = 'ssh-remote';
  const asked = questionsAsked.length;
  try {
    await selectEmbeddedDemo(SWITCH_EVERYWHERE);

    assert.equal(settings.get('relay.slm.kind'), undefined, 'removed from the user settings every window reads');
    assert.equal(remoteSettings.get('relay.slm.modelFolder'), '', "the embedded demo, in the remote machine's settings");
    const saved = questionsAsked.slice(asked).find((q) => q.api === 'showInformationMessage');
    assert.match(
      saved?.text ?? '',
      /^Relay: the small model is now the embedded demo model, saved in your remote settings \(ssh-remote\) for the windows on that machine; /,
    );
    assert.match(saved?.text ?? '', /local windows, which read relay\.slm\.kind in your user settings too, no longer use the small model's server either/);
    env.remoteName = undefined;
    assert.equal(readSettings().slm.server, undefined, 'a local window left the server too');
  } finally {
    env.remoteName = undefined;
    answerQuestions(() => undefined);
    answerWarnings(undefined);
    resetSettings({});
  }
});

test("in a local window, leaving a server is not asked: it is this machine's setting", async () => {
  resetSettings(ON_A_SERVER);
  const warned = warningsShown.length;
  try {
    await selectEmbeddedDemo(undefined);
    assert.deepEqual(warningsShown.slice(warned), []);
    assert.equal(settings.get('relay.slm.kind'), undefined);
    assert.equal(settings.get('relay.slm.modelFolder'), '');
  } finally {
    answerQuestions(() => undefined);
    resetSettings({});
  }
});

/** A folder of a virtual workspace (GitHub Repositories), as VS Code's open dialog returns it there unless told where to open. */
const VIRTUAL_FOLDER = {
  scheme: 'vscode-vfs',
  authority: 'github',
  path: '/relay-decoding/relay/models/relay-demo-slm',
  fsPath: '/relay-decoding/relay/models/relay-demo-slm',
};

test('"Use a local folder..." opens the dialog on this machine\'s disk; a virtual workspace\'s folder is refused with the way out, and another can be chosen', async () => {
  resetSettings({});
  const asked = questionsAsked.length;
  let dialogs = 0;
  try {
    answerQuestions((q) => {
      if (q.api === 'showQuickPick' && /Select the small model/.test(q.text)) return q.items.find((item) => /Use a local folder/.test(item.label));
      if (q.api === 'showOpenDialog') return [dialogs++ === 0 ? VIRTUAL_FOLDER : fileUri(DEMO_FOLDER)];
      if (q.api === 'showErrorMessage') return 'Choose Another Folder';
      return undefined;
    });
    await selectModel(ext.context);

    const dialogsShown = questionsAsked.slice(asked).filter((q) => q.api === 'showOpenDialog');
    assert.equal(dialogsShown.length, 2);
    for (const dialog of dialogsShown) assert.equal(dialog.options.defaultUri?.scheme, 'file', "not the workspace's virtual scheme");
    const refused = questionsAsked.slice(asked).find((q) => q.api === 'showErrorMessage');
    assert.equal(
      refused?.text,
      'Relay cannot use this folder as a small model: it is a vscode-vfs folder, not one on the disk Relay reads models from: pick a folder on this machine (Show Local).',
    );
    assert.equal(settings.get('relay.slm.modelFolder'), DEMO_FOLDER, 'the folder chosen after it is used');
  } finally {
    answerQuestions(() => undefined);
    resetSettings({});
  }
});

test("in a remote window, a folder of the local machine's disk (Show Local) is refused: the model runs on the remote machine", async () => {
  resetSettings({});
  env.remoteName = 'wsl';
  const asked = questionsAsked.length;
  try {
    answerQuestions((q) => {
      if (q.api === 'showQuickPick' && /Select the small model/.test(q.text)) return q.items.find((item) => /Use a local folder/.test(item.label));
      if (q.api === 'showOpenDialog') return [{ scheme: 'vscode-local', path: '/c:/Users/me/models/qwen', fsPath: 'c:\\Users\\me\\models\\qwen' }];
      return undefined;
    });
    await selectModel(ext.context);
    const refused = questionsAsked.slice(asked).find((q) => q.api === 'showErrorMessage');
    assert.equal(
      refused?.text,
      'Relay cannot use this folder as a small model: it is a vscode-local folder, not one on the disk Relay reads models from: pick a folder on the remote machine (wsl), where Relay runs.',
    );
    assert.equal(remoteSettings.size + settings.size, 0, 'nothing saved');
  } finally {
    env.remoteName = undefined;
    answerQuestions(() => undefined);
    resetSettings({});
  }
});
