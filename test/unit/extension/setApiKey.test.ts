// "Relay: Set API Key": the input box will not take a key of the wrong shape (a pasted
// "Bearer sk-...", a line break from a wrapped copy, a curly quote), says what is wrong under
// the box without quoting the key, and stores a good key for the configured origin only.
// Only the VS Code API is a stand-in.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { answerQuestions, createExtensionContext, questionsAsked, resetSettings, useVscodeStub } from './vscodeStub';
useVscodeStub();
import { KeyStore } from '../../../src/extension/keyStore';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { setApiKey } = require('../../../src/extension/commands') as typeof import('../../../src/extension/commands');

const KEY = 'sk-proj-Typed0123456789abcdef';
const ext = createExtensionContext(join(__dirname, '..', '..', '..', '.cache', 'test-set-api-key'));
after(() => {
  answerQuestions(() => undefined);
  ext.dispose();
});

test('Set API Key: the box names what is wrong with a pasted key, and a good key is stored for the configured origin', async () => {
  resetSettings({ 'relay.provider.kind': 'openai-chat', 'relay.provider.baseUrl': 'https://api.example.test/v1' });
  const keys = new KeyStore(ext.context.secrets, ext.context.globalState, async () => false);
  answerQuestions((q) => (q.api === 'showQuickPick' ? q.items.find((item) => item.label === 'openai-chat') : q.api === 'showInputBox' ? KEY : undefined));
  const from = questionsAsked.length;
  await setApiKey(keys);
  const box = questionsAsked.slice(from).find((q) => q.api === 'showInputBox');
  assert.ok(box, 'the key was asked for');
  const validate = box.options.validateInput as (typed: string) => string | undefined;
  assert.match(validate(`Bearer ${KEY}`) ?? '', /^The key starts with 'Bearer ': paste the key alone/);
  assert.match(validate(`${KEY.slice(0, 9)}\r\n${KEY.slice(9)}`) ?? '', /^The key contains a space or a line break/);
  assert.match(validate(`\u201c${KEY}\u201d`) ?? '', /^The key contains '\u201c' \(U\+201C\)/);
  for (const typed of [`Bearer ${KEY}`, `${KEY.slice(0, 9)} ${KEY.slice(9)}`, `${KEY}\u201d`])
    assert.ok(!(validate(typed) ?? '').includes(KEY.slice(9)), 'never quotes the key');
  assert.equal(validate(''), undefined, 'empty removes the key');
  assert.equal(validate(`  ${KEY}\n`), undefined, 'spaces around it are trimmed');
  assert.equal(await ext.context.secrets.get('relay.apiKey.openai-chat@https://api.example.test'), KEY);
});

/** Runs Set API Key on settings it must refuse: no key may be asked for; returns the error shown. */
async function refusedBeforeAsking(settings: Record<string, unknown>): Promise<string> {
  resetSettings(settings);
  const keys = new KeyStore(ext.context.secrets, ext.context.globalState, async () => false);
  answerQuestions((q) => (q.api === 'showQuickPick' ? q.items[0] : q.api === 'showInputBox' ? KEY : undefined));
  const from = questionsAsked.length;
  await setApiKey(keys);
  const asked = questionsAsked.slice(from);
  assert.equal(
    asked.find((q) => q.api === 'showInputBox'),
    undefined,
    'no key is asked for',
  );
  return asked.find((q) => q.api === 'showErrorMessage')?.text ?? '';
}

test('Set API Key: an address without http(s):// is named as the setting to fix; no key is asked for or stored under the origin "null"', async () => {
  const error = await refusedBeforeAsking({ 'relay.provider.kind': 'openai-chat', 'relay.provider.baseUrl': 'localhost:8000/v1' });
  assert.match(error, /relay\.provider\.baseUrl in your user settings: "localhost:8000\/v1" is not an http\(s\) URL/);
  assert.equal(await ext.context.secrets.get('relay.apiKey.openai-chat@null'), undefined);
});

test("Set API Key: a provider kind that is not one of Relay's is named, and no key is stored for another kind's origin", async () => {
  const error = await refusedBeforeAsking({ 'relay.provider.kind': 'openai', 'relay.provider.baseUrl': 'https://api.example.test/v1' });
  assert.match(error, /relay\.provider\.kind in your user settings: "openai" is not one of/);
});

test('Set API Key where the secret storage refuses (Linux without a keyring): the message says so and what to do; no "command failed"', async () => {
  resetSettings({ 'relay.provider.kind': 'openai-chat', 'relay.provider.baseUrl': 'https://api.example.test/v1' });
  const refusing = Object.assign(Object.create(ext.context.secrets), {
    store: async () => {
      throw new Error('Cannot create an item in a locked collection');
    },
  });
  const keys = new KeyStore(refusing as never, ext.context.globalState, async () => false);
  answerQuestions((q) => (q.api === 'showQuickPick' ? q.items.find((item) => item.label === 'openai-chat') : q.api === 'showInputBox' ? KEY : undefined));
  const from = questionsAsked.length;
  await setApiKey(keys);
  const error = questionsAsked.slice(from).find((q) => q.api === 'showErrorMessage');
  assert.match(
    error?.text ?? '',
    /the API key for openai-chat was not stored\. VS Code could not save it in its secret storage \(Cannot create an item in a locked collection\)\. On Linux that storage needs a keyring/,
  );
  assert.ok(!(error?.text ?? '').includes(KEY.slice(8)), 'never quotes the key');
});
