// Settings of the wrong type in settings.json, and the commands' bounds on what they send:
// each names the problem (and the setting) instead of a crash or a silent default.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resetSettings, useVscodeStub, warningsShown, window } from './vscodeStub';
useVscodeStub();

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { readSettings } = require('../../../src/extension/settings') as typeof import('../../../src/extension/settings');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { solveProblem } = require('../../../src/extension/commands') as typeof import('../../../src/extension/commands');

test('a text or on/off setting of another type names the setting; "true" in quotes is not taken for false', () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ 'relay.provider.model': 42 }, /Setting relay\.provider\.model: 42 is not text: write it in quotes/],
    [{ 'relay.provider.baseUrl': 123 }, /Setting relay\.provider\.baseUrl: 123 is not text/],
    [{ 'relay.slm.modelFolder': ['a'] }, /Setting relay\.slm\.modelFolder: \["a"\] is not text/],
    [{ 'relay.localOnly': 'true' }, /Setting relay\.localOnly: "true" is not true or false \(without quotes\)/],
    [{ 'relay.slm.loadAtStartup': 1 }, /Setting relay\.slm\.loadAtStartup: 1 is not true or false/],
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
  const selection = { isEmpty: false };
  window.activeTextEditor = { selection, document: { getText: () => text, languageId: 'plaintext' } };
  const asked: string[] = [];
  const before = warningsShown.length;
  try {
    await solveProblem({ ask: async (question: string) => void asked.push(question) } as never);
  } finally {
    window.activeTextEditor = undefined;
  }
  assert.deepEqual(asked, []);
  assert.match(warningsShown[before]?.message ?? '', /the problem has 25000 characters; select at most 20000 to solve/);
});
