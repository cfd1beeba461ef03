/** Usage numbers: the server's when it reports them, counted locally (and marked) when not. */
import type { Usage } from './types';

export type TokenCounter = (text: string) => number;

/** The fallback when no tokenizer is injected: about four characters per token. */
export function estimateTokens(text: string): number {
  return text.length === 0 ? 0 : Math.ceil(text.length / 4);
}

export interface ReportedUsage {
  inputTokens?: number;
  outputTokens?: number;
  cachedInputTokens?: number;
  cacheWriteTokens?: number;
}

/** Fills what the server left out by counting the prompt and the output text locally. */
export function completeUsage(
  reported: ReportedUsage,
  inputText: string,
  outputText: string,
  countTokens: TokenCounter = estimateTokens,
): Usage {
  const inputKnown = isCount(reported.inputTokens);
  const outputKnown = isCount(reported.outputTokens);
  return {
    inputTokens: inputKnown ? reported.inputTokens! : countTokens(inputText),
    outputTokens: outputKnown ? reported.outputTokens! : countTokens(outputText),
    cachedInputTokens: isCount(reported.cachedInputTokens) ? reported.cachedInputTokens! : 0,
    cacheWriteTokens: isCount(reported.cacheWriteTokens) ? reported.cacheWriteTokens! : 0,
    estimated: !inputKnown || !outputKnown,
  };
}

function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isFinite(value) && value >= 0;
}
