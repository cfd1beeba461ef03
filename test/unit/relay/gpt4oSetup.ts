/**
 * Settings for gpt-4o on OpenAI's API with its list prices (cached input at half price), as a
 * test composes an answer from them (RelayComposition), in `mode`.
 */
import type { RelaySetup } from '../../../src/core/compose';

export function gpt4oSetup(mode: RelaySetup['mode']): RelaySetup {
  return {
    provider: {
      kind: 'openai-chat',
      baseUrl: 'https://api.openai.com/v1',
      model: 'gpt-4o',
      templateFolder: '',
      timeouts: { connect: 5, firstByte: 5, idle: 5, call: 5 },
      caching: 'auto',
    },
    prices: { inputPerMTok: 2.5, outputPerMTok: 10, cachedInputPerMTok: 1.25 },
    mode,
    thinking: false,
    confidence: { threshold: 0.5, spanTokens: 2, maxLlmShare: 1 },
    maxTurns: 5,
    tokenBudget: 8192,
    temperature: 0,
    limits: { maxLlmCalls: 8, maxCostUsd: 1, maxStallSeconds: 60, maxCostRatio: 0.5 },
  };
}
