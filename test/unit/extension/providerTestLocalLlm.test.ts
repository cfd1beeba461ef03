// "Relay: Test Provider" on an onnx-local LLM, on the real SLM process (dist/slmWorker.js,
// bundled here into an extension folder of its own) and a scripted model that writes the
// expected continuation only after the prompt the test should send: the test's question
// through the LLM's own chat template, then the partial answer. Only the VS Code API is a stand-in.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { createExtensionContext, resetSettings, useVscodeStub } from './vscodeStub';
import { bundleSlmWorker, slmWorkerPids } from './slmWorkerBundle';
useVscodeStub();
import { CONTINUATION, scriptedProviderTestLlm } from '../providers/scriptedProviderTestLlm';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayService } = require('../../../src/extension/relayService') as typeof import('../../../src/extension/relayService');

const EXTENSION = join(__dirname, '..', '..', '..', '.cache', 'test-provider-test-local-llm');
const skip = process.platform !== 'linux' && 'reads /proc';

before(() => bundleSlmWorker(EXTENSION));

test("an onnx-local LLM is prompted with its own chat template around the test's question, then the partial answer", { skip }, async () => {
  const { folder } = await scriptedProviderTestLlm();
  resetSettings({ 'relay.provider.kind': 'onnx-local', 'relay.provider.model': folder });
  const ext = createExtensionContext(EXTENSION);
  const service = new RelayService(ext.context, { onBusy: () => undefined, onAnswered: () => undefined });
  try {
    const lines: string[] = [];
    const result = await service.testProvider((line) => lines.push(line));
    assert.equal(result.ok, true, lines.join('\n'));
    // Written only after that prompt (the partial answer alone gets the template's own words back).
    assert.ok(lines.includes(`Continuation: "1, 2, 3," + ${JSON.stringify(CONTINUATION)} (finish: stop)`), lines.join('\n'));
  } finally {
    service.dispose();
    ext.dispose();
    resetSettings({});
    for (let i = 0; i < 250 && slmWorkerPids().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const pid of slmWorkerPids()) process.kill(pid, 'SIGKILL');
  }
});
