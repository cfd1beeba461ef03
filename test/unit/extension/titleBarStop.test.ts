// The title-bar Stop (relay.stop) of a view shows only while that view's own answer runs: the
// command stops whatever answer runs, and another view's own Stop refuses an answer that is not
// its (conversation.ts). Activation sets relay.answeringIn to where the answer runs
// (runningAnswerPlace, statusBar.ts); each title-bar entry reads it. The SLM process is the fake
// worker (test/unit/slm/fakeWorker.ts); only the VS Code API is a stand-in (vscodeStub.ts).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { cancellationToken, recordingStream } from './chatResponseStream';
import { commandsRun, createExtensionContext, registered, resetSettings, useVscodeStub } from './vscodeStub';
useVscodeStub();
import { ANSWER_TOKEN } from '../slm/fakeWorker';
import { within } from '../slm/fakeWorkerSetup';
import { useFakeWorkerExtension } from './fakeWorkerService';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { activate, deactivate } = require('../../../src/extension/extension') as typeof import('../../../src/extension/extension');

const { root, modelFolder } = useFakeWorkerExtension('relay-title-bar-stop-');

interface MenuEntry {
  command: string;
  when?: string;
}

test("each title-bar Stop shows only while its own view's answer runs", () => {
  const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    contributes: { menus: Record<string, MenuEntry[]> };
  };
  const stops = (menu: string) => manifest.contributes.menus[menu].filter((entry) => entry.command === 'relay.stop').map((entry) => entry.when);
  assert.deepEqual(stops('view/title'), ["relay.answeringIn == 'chat-view' && view == relay.chatView"]);
  assert.deepEqual(stops('editor/title'), ["relay.answeringIn == 'answer-view' && activeWebviewPanelId == 'relay.answer'"]);
  // The command palette's Relay: Stop stays for any answer.
  assert.equal(
    manifest.contributes.menus.commandPalette?.find((entry) => entry.command === 'relay.stop'),
    undefined,
    'no condition hides it from the palette',
  );
});

test("an @relay answer sets relay.answeringIn to VS Code's Chat while it runs, and unsets it after", async () => {
  resetSettings({ 'relay.slm.modelFolder': modelFolder('answers'), 'relay.localOnly': true });
  const ext = createExtensionContext(root);
  try {
    activate(ext.context);
    const answeringIn = () => commandsRun.filter((run) => run.command === 'setContext' && run.args[0] === 'relay.answeringIn').map((run) => run.args[1]);
    const { out, stream } = recordingStream();
    await within(registered.at(-1)!.handler({ prompt: 'What is 2+3?' }, { history: [] }, stream, cancellationToken().token), 'the @relay answer');
    assert.match(out.markdown, new RegExp(ANSWER_TOKEN), 'the answer was written');
    assert.deepEqual(answeringIn(), ['vscode-chat', undefined]);
  } finally {
    await deactivate();
    for (const subscription of ext.context.subscriptions) subscription.dispose();
    ext.dispose();
  }
});
