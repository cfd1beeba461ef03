// onnx-local's large model folder (relay.provider.model) is application-scoped: a remote window
// (WSL) reads the local machine's path there, e.g. a Windows one. It is checked where the large
// model is opened, so answers that use none (local only, slm-only) are not blocked, and one that
// uses it is refused with the setting and the fix. The SLM process is the fake worker
// (test/unit/slm/fakeWorker.ts); only the VS Code API is a stand-in.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { env, remoteSettings, resetSettings, useVscodeStub } from './vscodeStub';
useVscodeStub();
import type { ChatMessage } from '../../../src/core/slm/types';
import { ANSWER_TOKEN } from '../slm/fakeWorker';
import { within } from '../slm/fakeWorkerSetup';
import { useFakeWorkerExtension } from './fakeWorkerService';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { readSettings } = require('../../../src/extension/settings') as typeof import('../../../src/extension/settings');

const QUESTION: ChatMessage[] = [{ role: 'user', content: 'What is 2+3?' }];
const sink = { onEvent: () => undefined };
/** The Windows user's folder, as a WSL window's Linux extension host reads it. */
const WINDOWS_FOLDER = 'C:\\Users\\me\\models\\relay-llm';

const { withService, modelFolder } = useFakeWorkerExtension('onnx-local-folder-elsewhere-');

/** A WSL window of a user whose onnx-local folder is on Windows, with `more` user settings; the small model is the WSL machine's. */
function inWslWithWindowsFolder(more: Record<string, unknown>): void {
  resetSettings({ 'relay.provider.kind': 'onnx-local', 'relay.provider.model': WINDOWS_FOLDER, ...more });
  env.remoteName = 'wsl';
  remoteSettings.set('relay.slm.modelFolder', modelFolder('answers'));
}

// Linux: the fake worker's checks read /proc, and on Windows that path is absolute.
describe(
  "onnx-local's folder, written for another machine",
  { skip: process.platform !== 'linux' && 'reads /proc; a Windows path is absolute on Windows' },
  () => {
    test('local only: the settings are read and the small model answers', () =>
      withService(async (service) => {
        inWslWithWindowsFolder({ 'relay.localOnly': true });
        try {
          assert.equal(readSettings().provider.model, WINDOWS_FOLDER);
          assert.doesNotMatch((await service.setupWarning()) ?? '', /relay\.provider\.model/, 'no warning about a folder no answer opens');
          const outcome = await within(service.answer(QUESTION, sink), 'the answer');
          assert.equal(outcome.error, undefined);
          assert.equal(outcome.answer, ANSWER_TOKEN);
        } finally {
          env.remoteName = undefined;
        }
      }));

    test('slm-only, local only off: the small model answers too (no large model is opened)', () =>
      withService(async (service) => {
        inWslWithWindowsFolder({ 'relay.mode': 'slm-only' });
        try {
          const outcome = await within(service.answer(QUESTION, sink), 'the answer');
          assert.equal(outcome.error, undefined);
          assert.equal(outcome.answer, ANSWER_TOKEN);
        } finally {
          env.remoteName = undefined;
        }
      }));

    test('an answer that needs the large model is refused, naming the setting, that it applies to every window, and the fix', () =>
      withService(async (service) => {
        inWslWithWindowsFolder({ 'relay.mode': 'llm-only' });
        try {
          // Said before any answer too (the status bar and the views' banner), as a relative path was before.
          assert.match(
            (await service.setupWarning()) ?? '',
            /^Setting relay\.provider\.model in your user settings: for onnx-local it is the large model's folder/,
          );
          const outcome = await within(service.answer(QUESTION, sink), 'the answer');
          assert.equal(
            outcome.error?.message,
            'Setting relay.provider.model in your user settings: for onnx-local it is the large model\'s folder, and "C:\\\\Users\\\\me\\\\models\\\\relay-llm" is not an absolute path on this machine: ' +
              "set it to the folder's full path (e.g. /home/me/models/my-model, or ~/models/my-model in your home folder). " +
              'In this remote window (wsl) Relay runs on the remote machine, and relay.provider.model applies to every window, local ones included: ' +
              'write it under ~ (e.g. ~/models/my-model), the home folder of whichever machine reads it, and keep the model there on each machine.',
          );
          assert.equal(outcome.error?.fix, 'open-settings');
        } finally {
          env.remoteName = undefined;
        }
      }));
  },
);
