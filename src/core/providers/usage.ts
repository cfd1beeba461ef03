/** Usage numbers: the server's when it reports them, counted locally (and marked) when not. */
import { overrunAllowance } from '../relay/overrun';
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
 * The most output tokens one call's report is taken for. Where max_tokens bounds only the
 * visible text (a host that takes max_tokens while the model reasons before it, unbounded), a
 * call asked for 2 tokens is billed every hidden reasoning token, and the report is the only
 * record of them: a count far past what was asked is still what the bill says, and dropping it
 * would show less than was spent. So a count is believed up to the longest output a hosted
 * model writes in one response (128K tokens, the documented maximum of GPT-5 and Claude Opus
 * 4.6), or up to what was asked if that is more (overrunAllowance: tokenizers differ). A larger
 * count is a broken or hostile server's: it is capped there, and the usage says so
 * (`outputCapped`, estimated), so no report can make a figure absurd.
 */
export const MAX_BELIEVED_OUTPUT_TOKENS = 128 * 1024;

/**
 * A reported output count of a call asked for `askedTokens` (its max_tokens) as believed: up to
 * MAX_BELIEVED_OUTPUT_TOKENS, or what was asked if that is more, and whether it was capped there.
 */
export function believedOutput(count: number, askedTokens?: number): { tokens: number; capped: boolean } {
  const ceiling = Math.max(MAX_BELIEVED_OUTPUT_TOKENS, askedTokens === undefined ? 0 : overrunAllowance(askedTokens));
  return { tokens: Math.min(count, ceiling), capped: count > ceiling };
}

/**
 * Fills what the server left out by counting the prompt and the output text locally. The
 * output it reports, hidden reasoning included, is taken as believedOutput(…, askedTokens) takes
 * it, and said where capped (estimated, outputCapped).
 */
export function completeUsage(
  reported: ReportedUsage,
  inputText: string,
  outputText: string,
  countTokens: TokenCounter = estimateTokens,
  askedTokens?: number,
): Usage {
  const inputKnown = isCount(reported.inputTokens);
  const outputKnown = isCount(reported.outputTokens);
  const reasoning = outputKnown && isCount(reported.reasoningTokens) ? reported.reasoningTokens : undefined;
  // Reasoning is billed as output: never report less output than the reasoning alone.
  const output = believedOutput(outputKnown ? Math.max(reported.outputTokens!, reasoning ?? 0) : countTokens(outputText), askedTokens);
  const capped = output.capped;
  const usage: Usage = {
    inputTokens: inputKnown ? reported.inputTokens! : countTokens(inputText),
    outputTokens: output.tokens,
    cachedInputTokens: isCount(reported.cachedInputTokens) ? reported.cachedInputTokens! : 0,
    cacheWriteTokens: isCount(reported.cacheWriteTokens) ? reported.cacheWriteTokens! : 0,
    estimated: !inputKnown || !outputKnown || capped,
  };
  if (reasoning !== undefined) usage.reasoningTokens = Math.min(reasoning, usage.outputTokens);
  if (capped) usage.outputCapped = true;
  return usage;
}

/** A token count: a whole number of 0 or more that a double holds exactly (1e300 is no count). */
export function isCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/**
 * The usage of a call cancelled in the middle of its response: the input as the server
 * reported it (Anthropic says it, with its cache split, before the text), else counted; the
 * output counted from the text received, or the server's running count where that is more
 * (it may have written more than arrived). Estimated: the final count never came. Anthropic
 * also yields it as soon as message_start told the input (anthropic.ts): the usage so far,
 * which a caller that stops reading before the final usage books, output raised to its own count.
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
  if (isCount(soFar)) {
    const output = believedOutput(soFar, askedTokens);
    usage.outputTokens = Math.max(usage.outputTokens, output.tokens);
    if (output.capped) usage.outputCapped = true;
  }
  return { ...usage, estimated: true };
}
