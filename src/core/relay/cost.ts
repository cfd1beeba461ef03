/**
 * Honest cost accounting of one answer. The paper counts only generated tokens; we also
 * count the input re-sent to the LLM on every call (the provider's reported usage, summed
 * over calls), cached-input discounts and cache writes (priced by pricing.costOf), and the
 * SLM's own tokens at zero price.
 */
import type { ModelPrice, Usage } from '../providers/types';
import { costOf } from '../providers/pricing';
import { believedOutput, isCount } from '../providers/usage';
import type { AnswerStats } from './events';
import type { LlmOnlyBasis } from './money';
import { OUTPUT_CAPPED } from '../../shared/outputCapped';

export function emptyUsage(): Usage {
  return { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
}

/**
 * Usage as reported, if it can be trusted: input and output are whole numbers of 0 or
 * more that a double holds exactly; the cached and cache-written parts are clamped into
 * the input. An output past what one call is believed to write (usage.ts believedOutput,
 * with `askedTokens`, the call's max_tokens) is capped there, estimated
 * and marked outputCapped: far past max_tokens it may still be billed hidden reasoning.
 * Undefined when the report is missing or absurd (NaN, negative, fractional, 1e300, not a
 * number), so the caller counts instead.
 */
export function usableUsage(reported: Usage | undefined, askedTokens?: number): Usage | undefined {
  if (!reported || typeof reported !== 'object') return undefined;
  const count = (value: unknown): number | undefined => (isCount(value) ? value : undefined);
  const inputTokens = count(reported.inputTokens);
  const reportedOutput = count(reported.outputTokens);
  if (inputTokens === undefined || reportedOutput === undefined) return undefined;
  const believed = believedOutput(reportedOutput, askedTokens);
  const capped = believed.capped || reported.outputCapped === true;
  const outputTokens = believed.tokens;
  const cachedInputTokens = Math.min(count(reported.cachedInputTokens) ?? 0, inputTokens);
  const cacheWriteTokens = Math.min(count(reported.cacheWriteTokens) ?? 0, inputTokens - cachedInputTokens);
  const reasoning = count(reported.reasoningTokens);
  const usage: Usage = { inputTokens, outputTokens, cachedInputTokens, cacheWriteTokens, estimated: reported.estimated === true || capped };
  if (capped) usage.outputCapped = true;
  // Hidden reasoning is part of the billed output, never more than it.
  return reasoning ? { ...usage, reasoningTokens: Math.min(reasoning, outputTokens) } : usage;
}

export function addUsage(total: Usage, more: Usage): Usage {
  const sum: Usage = {
    inputTokens: total.inputTokens + more.inputTokens,
    outputTokens: total.outputTokens + more.outputTokens,
    cachedInputTokens: total.cachedInputTokens + more.cachedInputTokens,
    cacheWriteTokens: total.cacheWriteTokens + more.cacheWriteTokens,
    estimated: total.estimated || more.estimated,
  };
  if (total.outputCapped || more.outputCapped) sum.outputCapped = true;
  const reasoning = (total.reasoningTokens ?? 0) + (more.reasoningTokens ?? 0);
  return reasoning > 0 ? { ...sum, reasoningTokens: reasoning } : sum;
}

/** The share of the input the provider served from its prompt cache; undefined when nothing was sent. */
export function cacheHitRate(usage: Usage): number | undefined {
  return usage.inputTokens > 0 ? usage.cachedInputTokens / usage.inputTokens : undefined;
}

/**
 * Cost of the LLM calls of one answer in USD. No call costs exactly 0 whatever the price;
 * otherwise null when the price is unknown (never a made-up zero).
 */
export function relayCostUsd(usage: Usage, calls: number, price: ModelPrice | undefined): number | null {
  if (calls === 0) return 0;
  return costOf(usage, price);
}

/** How the LLM-only figure was computed, for the note beside it. */
export function llmOnlyEstimateNote(basis: LlmOnlyBasis, warmTokens = 0): string {
  const warm =
    warmTokens > 0 && basis.kind !== 'reported'
      ? ` Its first ${warmTokens} prompt tokens are priced as the provider's cache would serve them: an earlier request of this conversation sent them.`
      : '';
  return estimateBasis(basis) + warm;
}

/** What every LLM-alone estimate is; how its tokens were counted follows. */
const ESTIMATE = "Estimate: the prompt once as LLM input plus the whole answer as LLM output (the small model's visible thinking left out), at the same prices";

function estimateBasis(basis: LlmOnlyBasis): string {
  switch (basis.kind) {
    case 'reported':
      if (basis.outputCapped) return `The LLM wrote the whole answer: this is its cost, ${OUTPUT_CAPPED}, so nothing is saved.`;
      return basis.estimated
        ? 'The LLM wrote the whole answer: this is its cost, estimated (the provider reported no usage), so nothing is saved.'
        : 'The LLM wrote the whole answer: this is its cost as billed, so nothing is saved.';
    case 'calibrated':
      if (basis.calls === 0) {
        return (
          `${ESTIMATE}; input converted to the LLM's own count with the ratio from its provider's count of a sample text (${basis.inputRatio.toFixed(2)} input tokens per small-model token), ` +
          "output counted in the small model's tokenizer (no call reported the LLM's own counts)."
        );
      }
      return (
        `${ESTIMATE}; token counts converted to the LLM's own with ${learnedRatios(basis.calls, basis.counted)} ` +
        `(${basis.outputRatio.toFixed(2)} output and ${basis.inputRatio.toFixed(2)} input tokens per small-model token).`
      );
    case 'own-text':
      return (
        `${ESTIMATE}; token counts converted to the LLM's own with this answer's own ratios, from the input its calls were billed for ` +
        `(${basis.outputRatio.toFixed(2)} output and ${basis.inputRatio.toFixed(2)} input tokens per small-model token` +
        `${basis.split ? '' : `: ${learnedRatios(basis.pairCalls, basis.pairCounted)}, moved to what this answer's call was billed for`}).`
      );
    default:
      return `${ESTIMATE}, counted in the small model's tokenizer (no call reported the LLM's own counts).`;
  }
}

/** Where a pair's ratios came from: `calls` reported calls and `counted` token counts of a sample text. */
function learnedRatios(calls: number, counted: number): string {
  return `the ratios its ${calls === 1 ? 'call' : `${calls} calls`} reported${counted > 0 ? " and its provider's count of a sample text" : ''}`;
}

/**
 * What the same answer would have cost written by the LLM alone: the prompt once as
 * input, every token of the answer as output. An estimate: the LLM would not write the
 * same number of tokens, and counts are in the SLM's tokenizer.
 */
export function llmOnlyCostUsd(promptTokens: number, answerTokens: number, price: ModelPrice | undefined): number | null {
  return costOf({ inputTokens: promptTokens, outputTokens: answerTokens, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: true }, price);
}

export function savedUsd(costUsd: number | null, llmOnly: number | null): number | null {
  return costUsd === null || llmOnly === null ? null : llmOnly - costUsd;
}

/** llmTokens / (slmTokens + llmTokens); 0 for an empty answer. */
export function llmTokenShare(slmTokens: number, llmTokens: number): number {
  const total = slmTokens + llmTokens;
  return total === 0 ? 0 : llmTokens / total;
}

/**
 * The answer called no large model because its mode needs none (relay.localOnly, relay.mode
 * slm-only): it cost $0 and there is no large model's answer to save against, which is not an
 * unknown price (no relay.prices.* setting changes it).
 */
export function slmWroteAll(stats: Pick<AnswerStats, 'mode' | 'calls'>): boolean {
  return stats.mode === 'slm-only' && stats.calls === 0;
}

/** The LLM wrote the whole answer (llm-only, or the router sent it there): it is the LLM-alone answer, which saves nothing by definition. */
export function llmWroteWhole(stats: { mode: string; routedTo?: AnswerStats['routedTo'] }): boolean {
  return stats.mode === 'llm-only' || stats.routedTo === 'llm';
}
