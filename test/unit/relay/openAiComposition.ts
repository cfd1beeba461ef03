/**
 * An answer composed as Relay composes it (RelayComposition: settings to the engine's options),
 * llm-only, its calls going to OpenAI's API as answered by a test's FakeServer. The SLM is a
 * double; its folder holds only a tokenizer config.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { RelayComposition, type RelaySetup } from '../../../src/core/compose';
import { forgetLearnedFacts } from '../../../src/core/providers/modelCapabilities';
import type { RelayOptions } from '../../../src/core/relay/engine';
import type { ChatMessage } from '../../../src/core/slm/types';
import { loopbackAgent, type FakeServer } from '../providers/servers/harness';
import { openAiKeys } from '../providers/servers/proReasoning';
import { DoubleRuntime } from './doubles';

export const QUESTION: ChatMessage[] = [{ role: 'user', content: 'Why is the sky blue?' }];

/** `model` on OpenAI's API, llm-only, with these timeouts (seconds) and silence ceiling setting. */
export function openAiSetup(model: string, timeouts: RelaySetup['provider']['timeouts'], maxStallSeconds: number): RelaySetup {
  return {
    provider: { kind: 'openai-chat', baseUrl: 'http://api.openai.com/v1', model, templateFolder: '', timeouts, caching: 'auto' },
    prices: {},
    mode: 'llm-only',
    thinking: false,
    confidence: { threshold: 0.5, spanTokens: 2, maxLlmShare: 1 },
    maxTurns: 5,
    tokenBudget: 64,
    temperature: 0,
    limits: { maxLlmCalls: 8, maxCostUsd: 1, maxStallSeconds },
  };
}

/**
 * For the calling test file (its SLM folder made before its tests, removed after them): the
 * engine's options for QUESTION composed from `setup`, the calls answered by `server`; what
 * was learned of models is forgotten first.
 */
export function useComposition(): (setup: RelaySetup, server: FakeServer) => Promise<RelayOptions> {
  let folder: string | undefined;
  before(() => {
    folder = mkdtempSync(join(tmpdir(), 'relay-openai-composition-'));
    writeFileSync(join(folder, 'tokenizer_config.json'), JSON.stringify({}));
  });
  after(() => {
    if (folder) rmSync(folder, { recursive: true, force: true });
  });
  return async (setup, server) => {
    if (!folder) throw new Error('the SLM folder is made before the tests');
    forgetLearnedFacts();
    const slm = new DoubleRuntime([]);
    const deps = {
      slm,
      slmFolder: folder,
      keys: openAiKeys(),
      renderTemplate: async () => '',
      openLocalLlm: async () => slm,
      agents: { http: loopbackAgent(server.url), https: new HttpsAgent() },
    };
    const composition = await RelayComposition.open(setup, deps, 'llm-only');
    return composition.options(QUESTION, await composition.prepare(QUESTION));
  };
}
