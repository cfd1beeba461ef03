// RelayService's local models on the real SLM process (dist/slmWorker.js, bundled here with
// esbuild into an extension folder of its own) and the tiny generated ONNX model: the
// onnx-local LLM keeps its KV caches within relay.slm.kvCacheBudgetMb, and an SLM whose
// weights are written over in place is loaded again. Only the VS Code API is a stand-in.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createExtensionContext, resetSettings, useVscodeStub } from './vscodeStub';
import { bundleSlmWorker, slmWorkerPids } from './slmWorkerBundle';
useVscodeStub();
import { ensureTinyModel } from '../../fixtures/fixtures';
import { DEFAULT_KV_CACHE_BUDGET_MB } from '../../../src/core/slm/onnx/kvPrefixCache';
import type { ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayService } = require('../../../src/extension/relayService') as typeof import('../../../src/extension/relayService');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { readSettings } = require('../../../src/extension/settings') as typeof import('../../../src/extension/settings');
type Service = InstanceType<typeof RelayService>;
type Settings = ReturnType<typeof readSettings>;
/** The service's loads, as its answers call them. */
interface Loads {
  localLlm(folder: string, kvCacheBudgetMb: number): Promise<ProcessRuntime>;
  slm(folder: string, settings: Settings): Promise<ProcessRuntime>;
}

const EXTENSION = join(__dirname, '..', '..', '..', '.cache', 'test-relay-service-local-models');
const PROMPT = '<|im_start|>user\nHello there, how are you today?<|im_end|>\n<|im_start|>assistant\n';
const skip = process.platform !== 'linux' && 'reads /proc';

let folder: string;
const scratch: string[] = [];
before(async () => {
  await bundleSlmWorker(EXTENSION);
  folder = await ensureTinyModel();
});
after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** Runs `body` with a new service; then closes it, and ends any process it left (by pid). */
async function withService(body: (service: Service, loads: Loads) => Promise<void>): Promise<void> {
  const ext = createExtensionContext(EXTENSION);
  const service = new RelayService(ext.context, { onBusy: () => undefined, onAnswered: () => undefined });
  const loads = service as unknown as Loads;
  try {
    await body(service, { localLlm: loads.localLlm.bind(service), slm: loads.slm.bind(service) });
  } finally {
    service.dispose();
    ext.dispose();
    for (let i = 0; i < 250 && slmWorkerPids().length > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    for (const pid of slmWorkerPids()) process.kill(pid, 'SIGKILL');
  }
}

/** Reads `prompt` twice, each on a new session disposed after it: how many tokens the second read took from the first's kept cache. */
async function reusedOnSecondRead(runtime: ProcessRuntime, prompt: string): Promise<number> {
  let reused = 0;
  for (let i = 0; i < 2; i++) {
    const session = await runtime.createSession();
    reused = (await session.prefill(prompt)).reusedTokens ?? 0;
    await session.dispose();
  }
  return reused;
}

describe('the onnx-local LLM', { skip }, () => {
  // The answer's own budget (relay.slm.kvCacheBudgetMb, or the demo's): another budget loads it again.
  test('keeps no KV cache with a budget of 0', () =>
    withService(async (_service, { localLlm }) => {
      assert.equal(await reusedOnSecondRead(await localLlm(folder, 0), PROMPT), 0);
    }));

  test('keeps them with the default budget; another budget loads it again', () =>
    withService(async (_service, { localLlm }) => {
      const kept = await localLlm(folder, DEFAULT_KV_CACHE_BUDGET_MB);
      assert.ok((await reusedOnSecondRead(kept, PROMPT)) > 0);
      assert.equal(await localLlm(folder, DEFAULT_KV_CACHE_BUDGET_MB), kept, 'the same budget: the same process');
      const none = await localLlm(folder, 0);
      assert.notEqual(none, kept);
      assert.equal(await reusedOnSecondRead(none, PROMPT), 0);
    }));

  test('whose weights are written over in place is loaded again at the next call; untouched, it is not', () =>
    withService(async (_service, { localLlm }) => {
      const copy = mkdtempSync(join(tmpdir(), 'relay-llm-weights-'));
      scratch.push(copy);
      cpSync(await ensureTinyModel({ variants: ['fp32'], shardBytes: 1 << 30 }), copy, { recursive: true, dereference: true });
      const first = await localLlm(copy, 0);
      assert.equal(await localLlm(copy, 0), first, 'the same files: the same process');
      const data = join(copy, 'onnx', 'model.onnx_data');
      const before = statSync(data);
      writeFileSync(data, readFileSync(data));
      if (statSync(data).mtimeMs === before.mtimeMs) utimesSync(data, before.atime, new Date(before.mtimeMs + 1000));
      const second = await localLlm(copy, 0);
      assert.notEqual(second, first, 'loaded again');
      assert.equal(first.pid, undefined, 'the old process was stopped');
    }));

  // Before the answer, where Stop ends the wait; not inside an LLM call, where Stop and the silence ceiling could not.
  test('whose process ended between answers (out of memory) is started again before it is handed out', () =>
    withService(async (_service, { localLlm }) => {
      const kept = await localLlm(folder, 0);
      process.kill(kept.pid as number, 'SIGKILL');
      for (let i = 0; i < 1500 && kept.running; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(kept.running, false, 'the runtime saw its process end');
      assert.equal(await localLlm(folder, 0), kept, 'the same runtime');
      assert.equal(kept.running, true, 'its process runs again, the model loaded');
      assert.equal(kept.starts, 2);
    }));
});

describe('the SLM', { skip }, () => {
  test('whose weights are written over in place is loaded again at the next request; untouched, it is not', () =>
    withService(async (_service, { slm }) => {
      const copy = mkdtempSync(join(tmpdir(), 'relay-slm-weights-'));
      scratch.push(copy);
      cpSync(await ensureTinyModel({ variants: ['fp32'], shardBytes: 1 << 30 }), copy, { recursive: true, dereference: true });
      resetSettings({ 'relay.slm.modelFolder': copy });
      const first = await slm(copy, readSettings());
      assert.equal(await slm(copy, readSettings()), first, 'the same files: the same process');
      const data = join(copy, 'onnx', 'model.onnx_data');
      const before = statSync(data);
      // As `cp` onto it: the same inode, written again.
      writeFileSync(data, readFileSync(data));
      assert.equal(statSync(data).ino, before.ino);
      if (statSync(data).mtimeMs === before.mtimeMs) utimesSync(data, before.atime, new Date(before.mtimeMs + 1000));
      const second = await slm(copy, readSettings());
      assert.notEqual(second, first, 'loaded again');
      assert.equal(first.pid, undefined, 'the old process was stopped');
      assert.notEqual(second.pid, undefined);
    }));
});

describe('releaseFolder (before a download replaces the files: Windows will not replace a mapped file)', { skip }, () => {
  test("stops the processes of the SLM and the onnx-local LLM loaded from that folder, not another folder's; the next request loads it again", () =>
    withService(async (service, { slm, localLlm }) => {
      const copy = mkdtempSync(join(tmpdir(), 'relay-release-'));
      scratch.push(copy);
      cpSync(folder, copy, { recursive: true, dereference: true });
      resetSettings({ 'relay.slm.modelFolder': copy });
      const small = await slm(copy, readSettings());
      const large = await localLlm(folder, 0);
      assert.equal(await service.releaseFolder(join(copy, '.')), true);
      assert.equal(small.pid, undefined, "the SLM's process was stopped");
      assert.notEqual(large.pid, undefined, 'a model from another folder stays loaded');
      assert.equal(await service.releaseFolder(folder), true);
      assert.equal(large.pid, undefined, "the LLM's process was stopped");
      const again = await slm(copy, readSettings());
      assert.notEqual(again, small, 'loaded again');
      assert.notEqual(again.pid, undefined);
    }));
});

describe('an onnx-local LLM the settings no longer use', { skip }, () => {
  test('is let go when the provider changes (the configuration handler) and when an answer runs without it; kept while it is configured', () =>
    withService(async (service, { localLlm }) => {
      resetSettings({ 'relay.provider.kind': 'onnx-local', 'relay.provider.model': folder, 'relay.slm.modelFolder': folder });
      const llm = await localLlm(folder, 0);
      await service.releaseUnusedLlm();
      assert.notEqual(llm.pid, undefined, 'still configured: kept');
      resetSettings({ 'relay.provider.kind': 'openai-chat', 'relay.provider.model': 'gpt-4o', 'relay.slm.modelFolder': folder });
      await service.releaseUnusedLlm();
      assert.equal(llm.pid, undefined, 'another provider: its process was stopped');

      const again = await localLlm(folder, 0);
      resetSettings({
        'relay.provider.kind': 'onnx-local',
        'relay.provider.model': folder,
        'relay.slm.modelFolder': folder,
        'relay.localOnly': true,
        'relay.tokenBudget': 16,
      });
      const outcome = await service.answer([{ role: 'user', content: 'Hello' }], { onEvent: () => undefined });
      assert.equal(outcome.error, undefined, outcome.error?.message);
      assert.equal(again.pid, undefined, 'an answer with local only (no LLM) let it go');
    }));
});
