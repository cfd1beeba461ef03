/**
 * RelayService whose SLM process is the fake worker (test/unit/slm/fakeWorker.ts), written at
 * <extension>/dist/slmWorker.js where RelayService starts it. The test file puts the VS Code
 * stub in place (useVscodeStub) before it uses this.
 */
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import type { ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import type { RelayService } from '../../../src/extension/relayService';
import { ENDS_WITHIN_MS, until, useFakeWorker, within, type FakeWorkerFolder } from '../slm/fakeWorkerSetup';
import { slmWorkerPids } from './slmWorkerBundle';
import { createExtensionContext, resetSettings } from './vscodeStub';

/** What a RelayService tells its owner (extension.ts wires them to the views and the status bar). */
type RelayServiceHooks = ConstructorParameters<typeof RelayService>[1];

export interface FakeWorkerExtension extends FakeWorkerFolder {
  /**
   * Runs `body` with a new service telling `hooks` (none heard, by default); then closes it and
   * checks that no SLM process is left (any left is ended by pid). The body's own failure is
   * thrown first: it says more than what it left.
   */
  withService(body: (service: RelayService) => Promise<void>, hooks?: RelayServiceHooks): Promise<void>;
  /**
   * Settings of a small model (local only, loaded at startup) whose reload hangs, as a large
   * model's takes minutes: loaded by `service`, then its process killed between answers and
   * seen gone. Its folder is named 'hang-reload'.
   */
  slmDiedBetweenAnswers(service: RelayService): Promise<void>;
  /** Settings of a small model that loads ('ready-slm') and an onnx-local large model whose load hangs ('hang-load-llm'). */
  onnxLocalLoadHangs(): void;
}

/** The calling test file's extension folder (temporary, named from `prefix`) with the fake worker in it. */
export function useFakeWorkerExtension(prefix: string): FakeWorkerExtension {
  const folder = useFakeWorker(prefix, join('dist', 'slmWorker.js'));
  return {
    ...folder,
    withService: (body, hooks) => withService(folder.root, body, hooks),
    slmDiedBetweenAnswers: async (service) => {
      const slmFolder = folder.modelFolder('hang-reload');
      rmSync(join(slmFolder, 'loaded-once'), { force: true });
      resetSettings({ 'relay.slm.modelFolder': slmFolder, 'relay.localOnly': true, 'relay.slm.loadAtStartup': true });
      await within(service.preload(), 'the first load');
      const slm = (service as unknown as { runtime: { runtime: ProcessRuntime } }).runtime.runtime;
      process.kill(slm.pid!, 'SIGKILL'); // the OOM killer, between answers
      await until(() => slm.pid === undefined, 'the runtime seeing its process gone');
    },
    onnxLocalLoadHangs: () =>
      resetSettings({
        'relay.slm.modelFolder': folder.modelFolder('ready-slm'),
        'relay.provider.kind': 'onnx-local',
        'relay.provider.model': folder.modelFolder('hang-load-llm'),
      }),
  };
}

async function withService(
  extensionPath: string,
  body: (service: RelayService) => Promise<void>,
  hooks: RelayServiceHooks = { onBusy: () => undefined, onAnswered: () => undefined },
): Promise<void> {
  // Loaded once the stub is in place (it imports 'vscode').
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { RelayService } = require('../../../src/extension/relayService') as typeof import('../../../src/extension/relayService');
  const ext = createExtensionContext(extensionPath);
  const service = new RelayService(ext.context, hooks);
  let failure: unknown;
  try {
    await body(service);
  } catch (e) {
    failure = e;
  }
  service.dispose();
  ext.dispose();
  const deadline = Date.now() + (failure ? 0 : ENDS_WITHIN_MS);
  while (slmWorkerPids().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const left = slmWorkerPids();
  for (const pid of left) process.kill(pid, 'SIGKILL');
  if (failure) throw failure;
  assert.deepEqual(left, [], 'closing Relay stops every process it started');
}
