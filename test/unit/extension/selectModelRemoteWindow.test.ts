// "Relay: Select Model" in a remote window (Remote-SSH, WSL, Dev Containers): the small model
// runs on the remote machine, so the folder chosen there is saved in that machine's settings
// (the Remote tab), and the user settings, which the local window and other machines read,
// keep their own folder. The stand-in reads and writes settings by scope as VS Code does.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { answerQuestions, createExtensionContext, env, questionsAsked, remoteSettings, resetSettings, settings, useVscodeStub } from './vscodeStub';
useVscodeStub();

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { selectModel } = require('../../../src/extension/selectModel') as typeof import('../../../src/extension/selectModel');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { readSettings } = require('../../../src/extension/settings') as typeof import('../../../src/extension/settings');

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
    if (q.api === 'showOpenDialog') return [{ fsPath: folder }];
    return undefined;
  });
  await selectModel(ext.context);
}

test("in a remote window, the folder chosen is saved in the remote machine's settings; the user settings keep the local machine's", async () => {
  resetSettings({ 'relay.slm.modelFolder': LOCAL_FOLDER, 'relay.slm.variant': 'q4' });
  env.remoteName = 'ssh-remote';
  const asked = questionsAsked.length;
  try {
    await selectLocalFolder(DEMO_FOLDER);

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
