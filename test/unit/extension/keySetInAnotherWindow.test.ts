// An API key set in one VS Code window reaches the others: VS Code shares its secret storage
// between them and tells each (SecretStorage.onDidChange), but a window's copy of globalState,
// where Relay lists the origins that hold a key, arrives later. The set-up check of a window
// that has the secret but not yet the list must not say "No API key". Two windows here: two
// RelayServices on one secret storage, each with its own globalState.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type * as vscodeTypes from 'vscode';
import { createExtensionContext, resetSettings, useVscodeStub } from './vscodeStub';
useVscodeStub();

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayService } = require('../../../src/extension/relayService') as typeof import('../../../src/extension/relayService');

// Installed as the extension is: the embedded demo model is the small model, no model to build.
const REPO = join(__dirname, '..', '..', '..');
const windowA = createExtensionContext(REPO);
const windowB = createExtensionContext(REPO);
const sharedSecrets = { ...windowB.context, secrets: windowA.secrets } as unknown as vscodeTypes.ExtensionContext;
const serviceA = new RelayService(windowA.context, { onBusy: () => undefined, onAnswered: () => undefined });
const serviceB = new RelayService(sharedSecrets, { onBusy: () => undefined, onAnswered: () => undefined });
after(() => {
  serviceA.dispose();
  serviceB.dispose();
  windowA.dispose();
  windowB.dispose();
  resetSettings();
});

test("a key set in window A: window B's set-up check finds it before B's list of key origins has it", async () => {
  resetSettings({
    'relay.slm.modelFolder': '',
    'relay.mode': 'auto',
    'relay.provider.kind': 'openai-chat',
    'relay.provider.baseUrl': 'https://api.openai.com/v1',
    'relay.provider.model': 'gpt-4o-mini',
  });
  const noKey = 'No API key for openai-chat at https://api.openai.com: run "Relay: Set API Key".';
  assert.equal(await serviceB.setupWarning(), noKey, 'no key anywhere yet');
  const told: string[] = [];
  windowA.secrets.onDidChange(({ key }) => told.push(key));

  await serviceA.keys.store('openai-chat', 'https://api.openai.com', 'sk-window-a-0000');

  assert.deepEqual(told, ['relay.apiKey.openai-chat@https://api.openai.com'], 'the secret storage tells every window');
  assert.equal(windowB.globalState.get('relay.keyOrigins'), undefined, "B's list of origins is not there yet");
  // What is left to say is the next step, the demo model's note: the key is there.
  assert.match((await serviceB.setupWarning()) ?? '', /^The small model is the embedded demo/);
});
