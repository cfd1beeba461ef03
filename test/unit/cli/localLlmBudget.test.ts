// The CLI's onnx-local LLM is held to the KV-cache budget of --kv-cache-mb (slm.kvCacheBudgetMb),
// as the extension's is: at 0 it keeps no cache between calls.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig } from '../../../src/cli/config';
import { CliDeps } from '../../../src/cli/setup';
import { ensureTinyModel } from '../../fixtures/fixtures';

const PROMPT = '<|im_start|>user\nHello there<|im_end|>\n<|im_start|>assistant\n';

async function keptAfterTwoCalls(budgetMb: number): Promise<{ reused: number; kept: number }> {
  const home = mkdtempSync(join(tmpdir(), 'relay-llm-budget-'));
  const config = defaultConfig({ RELAY_HOME: home });
  config.slm.kvCacheBudgetMb = budgetMb;
  const deps = new CliDeps(config);
  try {
    const llm = await deps.openLocalLlm(await ensureTinyModel());
    let reused = 0;
    for (let call = 0; call < 2; call++) {
      const session = await llm.createSession();
      reused = (await session.prefill(PROMPT)).reusedTokens ?? 0;
      await session.generate({ maxTokens: 3 });
      await session.dispose();
    }
    return { reused, kept: llm.keptKvCaches.length };
  } finally {
    await deps.dispose();
    rmSync(home, { recursive: true, force: true });
  }
}

test('--kv-cache-mb 0 keeps no KV cache of the onnx-local LLM between calls; the default budget reuses the prompt', async () => {
  assert.deepEqual(await keptAfterTwoCalls(0), { reused: 0, kept: 0 });
  const kept = await keptAfterTwoCalls(defaultConfig({}).slm.kvCacheBudgetMb);
  assert.ok(kept.reused > 0 && kept.kept > 0, JSON.stringify(kept));
});
