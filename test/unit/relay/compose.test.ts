// The composition's prompt book: the LLM continues the very prompt the SLM saw, and a server
// that tokenises that text adding its tokenizer's BOS gets it without the BOS the template
// rendered (one, not two); an LLM run in this process gets it exactly as rendered.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { RelayComposition, type RelaySetup } from '../../../src/core/compose';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { ChatMessage } from '../../../src/core/slm/types';
import { SERVED_SLM_TIMEOUTS } from '../../../src/core/slm/served/timeouts';
import { DoubleRuntime } from './doubles';

const BOS = '<|begin_of_text|>';

/** A Llama-3-style SLM: its template renders BOS first. */
class BosRuntime extends DoubleRuntime {
  override async renderChat(messages: ChatMessage[]): Promise<string> {
    return BOS + (await super.renderChat(messages));
  }
}

const setup: RelaySetup = {
  provider: {
    kind: 'openai-completions',
    baseUrl: 'http://127.0.0.1:9/v1',
    model: 'meta-llama/Llama-3.1-8B',
    templateFolder: '',
    timeouts: { connect: 5, firstByte: 5, idle: 5, call: 5 },
    caching: 'auto',
  },
  prices: { inputPerMTok: 1, outputPerMTok: 2 },
  mode: 'confidence',
  thinking: false,
  confidence: { threshold: 0.5, spanTokens: 2, maxLlmShare: 1 },
  maxTurns: 5,
  tokenBudget: 256,
  temperature: 0,
  limits: { maxLlmCalls: 8, maxCostUsd: 1, maxStallSeconds: 60 },
};

test("the LLM gets the SLM's prompt without the BOS its server adds again, where the SLM's tokenizer adds one", async () => {
  const folder = mkdtempSync(join(tmpdir(), 'relay-compose-'));
  try {
    const messages: ChatMessage[] = [{ role: 'user', content: 'Why?' }];
    // The runtime says which BOS its tokenizer adds again (its info.promptBos: see slm/promptBos.test.ts).
    const prompted = async (tokenizerAddsBos: boolean) => {
      const slm = new BosRuntime([]);
      slm.info.promptBos = tokenizerAddsBos ? BOS : undefined;
      const deps = { slm, slmFolder: folder, keys: new MemoryKeySource(), renderTemplate: async () => '', openLocalLlm: async () => slm };
      const composition = await RelayComposition.open(setup, deps, 'confidence');
      const prompt = await composition.prepare(messages);
      // What the provider sends as its prompt (the same text its request body carries).
      const llmPrompt = composition.llm?.provider.sentText?.({ messages, partialAnswer: 'Because', maxTokens: 4 });
      return { slmPrompt: prompt, llmPrompt };
    };
    const adds = await prompted(true);
    assert.ok(adds.slmPrompt.startsWith(BOS), 'the SLM reads it with its BOS');
    assert.equal(adds.llmPrompt, `${adds.slmPrompt.slice(BOS.length)}Because`, 'the server adds its own');
    const keeps = await prompted(false);
    assert.equal(keeps.llmPrompt, `${keeps.slmPrompt}Because`, 'a tokenizer that adds none: the text as rendered');
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test('the silence ceiling stays above the provider timeouts (two silent tries), so a silent server is reported by its own timeout, not as "stalled"', async () => {
  const folder = mkdtempSync(join(tmpdir(), 'relay-compose-'));
  try {
    writeFileSync(join(folder, 'tokenizer_config.json'), JSON.stringify({}));
    const messages: ChatMessage[] = [{ role: 'user', content: 'Why?' }];
    const stallOf = async (maxStallSeconds: number, firstByte: number) => {
      const slm = new DoubleRuntime([]);
      const deps = { slm, slmFolder: folder, keys: new MemoryKeySource(), renderTemplate: async () => '', openLocalLlm: async () => slm };
      const composed = {
        ...setup,
        provider: { ...setup.provider, timeouts: { ...setup.provider.timeouts, firstByte } },
        limits: { ...setup.limits, maxStallSeconds },
      };
      const composition = await RelayComposition.open(composed, deps, 'confidence');
      return composition.options(messages, await composition.prepare(messages)).maxStallMs;
    };
    // connect 5 s + first byte 120 s, twice (a timeout is retried once), plus the margin.
    assert.equal(await stallOf(180, 120), 2 * (5 + 120) * 1000 + 15_000);
    assert.equal(await stallOf(180, 60), 180_000, 'a setting already above them is kept');
    assert.equal(await stallOf(1, 5), 2 * (5 + 5) * 1000 + 15_000);
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test("the silence ceiling stays above a served SLM's own connect and first-byte waits too (one try: it is not retried); an ONNX SLM's leaves the setting as it is", async () => {
  const folder = mkdtempSync(join(tmpdir(), 'relay-compose-'));
  try {
    writeFileSync(join(folder, 'tokenizer_config.json'), JSON.stringify({}));
    const messages: ChatMessage[] = [{ role: 'user', content: 'Why?' }];
    const stallOf = async (served: boolean, mode: 'confidence' | 'slm-only') => {
      const slm = new DoubleRuntime([]);
      if (served) slm.info.backend = { kind: 'completions-server', url: 'http://127.0.0.1:8000/v1', model: 'm' };
      const deps = { slm, slmFolder: folder, keys: new MemoryKeySource(), renderTemplate: async () => '', openLocalLlm: async () => slm };
      const composition = await RelayComposition.open({ ...setup, limits: { ...setup.limits, maxStallSeconds: 180 } }, deps, mode);
      return composition.options(messages, await composition.prepare(messages)).maxStallMs;
    };
    const servedWaits = SERVED_SLM_TIMEOUTS.connectTimeoutMs + SERVED_SLM_TIMEOUTS.firstByteTimeoutMs;
    assert.ok(servedWaits > 180_000, 'the served waits are above the default ceiling');
    for (const mode of ['confidence', 'slm-only'] as const) {
      // A cold server is reported by its own timeout, not as "stalled"; one try plus the margin, not the LLM's two.
      assert.equal(await stallOf(true, mode), servedWaits + 15_000, `${mode}: one silent try of the served SLM`);
      assert.equal(await stallOf(false, mode), 180_000, `${mode}: an ONNX SLM leaves the setting as it is`);
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
