// "Relay: Select Model" when the file server announces another size than the hub lists (a
// proxy or a mirror sending other bytes, often for a while only), against a local hub
// (fakeHub: 127.0.0.1 servers that answer as huggingface.co and its CDN): the error says
// what to do and offers Retry, which downloads the model. Only the VS Code API is a stand-in.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { answerQuestions, createExtensionContext, resetSettings, settings, useVscodeStub, type StubExtensionContext } from './vscodeStub';
useVscodeStub();
import { demoRepoFiles, FakeHub } from '../models/fakeHub';
import { userDownloads } from './selectModelQuestions';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { selectModel } = require('../../../src/extension/selectModel') as typeof import('../../../src/extension/selectModel');

const REPO = 'onnx-community/Proxied-ONNX';
const GRAPH = 'onnx/model_int8.onnx';

let hub: FakeHub;
let ext: StubExtensionContext;

before(async () => {
  hub = await FakeHub.start({ [REPO]: { commit: 'a'.repeat(40), files: demoRepoFiles() } });
  ext = createExtensionContext(join(__dirname, '..', '..', '..', '.cache', 'test-select-model-size-retry'));
});
after(async () => {
  answerQuestions(() => undefined);
  ext.dispose();
  await hub.close();
});

test('a file server that announces another size than the hub lists: the error says what to do and offers Retry, which downloads the model', async () => {
  resetSettings({ 'relay.models.hubEndpoint': hub.endpoint });
  // The first transfer of the graph announces 10 bytes more than the listing; the next is right.
  hub.cdnFaults.set(GRAPH, [{ sizeOffBy: 10 }]);
  const errors: { text: string; buttons: string[] }[] = [];
  userDownloads(REPO, undefined, (text, buttons) => {
    errors.push({ text, buttons });
    return 'Retry';
  });
  await selectModel(ext.context);

  assert.equal(errors.length, 1, errors.map((error) => error.text).join(' | '));
  assert.match(errors[0].text, /sends onnx\/model_int8\.onnx with \d+ bytes, where \d+ were expected/);
  assert.match(errors[0].text, /try again later, or set relay\.models\.hubEndpoint to another mirror/);
  assert.deepEqual(errors[0].buttons, ['Retry']);
  const folder = settings.get('relay.slm.modelFolder');
  assert.ok(typeof folder === 'string' && existsSync(join(folder, GRAPH)), `Retry downloaded the model and set it (${String(folder)})`);
});
