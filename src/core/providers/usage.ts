/** Usage numbers: the server's when it reports them, counted locally (and marked) when not. */
import { overrunAllowance } from '../relay/limits';
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
  /** Hidden reasoning tokens; billed as output, and counted in outputTokens. */
  reasoningTokens?: number;
}

/**
 * Fills what the server left out by counting the prompt and the output text locally. With
 * `askedTokens` (the request's max_tokens, which bounds hidden reasoning too), an output
 * count far past it (overrunAllowance) is no count the call could have been billed for: it
 * is counted locally as well, so a broken or hostile server cannot inflate the totals.
 */
export function completeUsage(
  reported: ReportedUsage,
  inputText: string,
  outputText: string,
  countTokens: TokenCounter = estimateTokens,
  askedTokens?: number,
): Usage {
  const plausible = (value: unknown): value is number => isCount(value) && (askedTokens === undefined || value <= overrunAllowance(askedTokens));
  const inputKnown = isCount(reported.inputTokens);
  const outputKnown = plausible(reported.outputTokens) && (reported.reasoningTokens === undefined || plausible(reported.reasoningTokens));
  const reasoning = outputKnown && isCount(reported.reasoningTokens) ? reported.reasoningTokens : undefined;
  const output = outputKnown ? reported.outputTokens! : countTokens(outputText);
  const usage: Usage = {
    inputTokens: inputKnown ? reported.inputTokens! : countTokens(inputText),
    // Reasoning is billed as output: never report less output than the reasoning alone.
    outputTokens: Math.max(output, reasoning ?? 0),
    cachedInputTokens: isCount(reported.cachedInputTokens) ? reported.cachedInputTokens! : 0,
    cacheWriteTokens: isCount(reported.cacheWriteTokens) ? reported.cacheWriteTokens! : 0,
    estimated: !inputKnown || !outputKnown,
  };
  if (reasoning !== undefined) usage.reasoningTokens = reasoning;
  return usage;
}

/** A token count: a whole number of 0 or more that a double holds exactly (1e300 is no count). */
function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The usage of a call cancelled in the middle of its response: the input as the server
 * reported it (Anthropic says it, with its cache split, before the text), else counted; the
 * output counted from the text received, or the server's running count where that is more
 * (it may have written more than arrived). Estimated: the final count never came.
 */
export function cancelledUsage(
  reported: ReportedUsage,
  inputText: string,
  outputText: string,
  countTokens: TokenCounter = estimateTokens,
  askedTokens?: number,
): Usage {
  const { outputTokens: soFar, ...rest } = reported;
  const usage = completeUsage(rest, inputText, outputText, countTokens, askedTokens);
  if (isCount(soFar) && (askedTokens === undefined || soFar <= overrunAllowance(askedTokens))) usage.outputTokens = Math.max(usage.outputTokens, soFar);
  return { ...usage, estimated: true };
}
