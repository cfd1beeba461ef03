/** Pure formatting of answer statistics and mark hover text (DOM-free, unit-tested). */
import type { DeclinedCallView, DemoTurnView, SpanView, StatsView } from '../../../src/shared/webviewProtocol';
import { declinedUnder } from '../../../src/core/relay/finishNotes';
import { significantUsd } from '../../../src/shared/usd';
import { OUTPUT_CAPPED, USAGE_NOT_REPORTED } from '../../../src/shared/outputCapped';
import { formatPercent } from '../../../src/shared/percent';

/** A figure without a price: and without one, neither money ceiling (relay.maxCostRatio, relay.maxCostPerAnswerUsd) applies. */
const NO_PRICE_HINT = 'Unknown: no price for this model, so no money ceiling applies; set relay.prices.* in settings';

/** An answer no large model wrote (relay.localOnly, relay.mode slm-only): nothing spent, and nothing to compare with; no price is missing. */
const SMALL_MODEL_ALONE_HINT =
  'Only the small model wrote this answer (relay.localOnly or relay.mode slm-only): no large model was called, so it cost $0, and there is no large-model answer to save against';

/** USD with enough digits to show sub-cent costs; null (a price is unknown) is "unknown", never $0. */
export function formatUsd(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return 'unknown';
  if (value === 0) return '$0';
  const sign = value < 0 ? '-' : '';
  const abs = Math.abs(value);
  if (abs >= 1) return `${sign}$${abs.toFixed(2)}`;
  if (abs >= 0.01) return `${sign}$${abs.toFixed(3)}`;
  return `${sign}$${significantUsd(abs, 2)}`;
}

export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '–';
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export interface StatItem {
  label: string;
  value: string;
  /** Longer explanation for the hover. */
  hint: string;
}

/**
 * The saving against the LLM alone, honestly: unknown without a price, none when the LLM
 * wrote it all, and a loss (never a negative saving) when the relay cost more.
 */
/** Why a cost is marked est.: what the provider did not report. */
export const USAGE_ESTIMATED =
  "Estimated: at least one call's server reported no token usage (or the call was stopped before it did), so its tokens were counted here";

/** Why a cost is marked est. when a report was capped (Usage.outputCapped): the server reported more, not nothing. */
export const USAGE_CAPPED =
  "Estimated: at least one call's server reported more output tokens than one call can write, so Relay billed its output at that ceiling";

/** The words for an estimated usage: capped, or counted here; undefined when the usage was as reported. */
function usageNote(estimate: { usageEstimated?: boolean; outputCapped?: boolean }): string | undefined {
  return estimate.outputCapped ? USAGE_CAPPED : estimate.usageEstimated ? USAGE_ESTIMATED : undefined;
}

export function savingItem(stats: StatsView): StatItem {
  const usage = usageNote(stats);
  const estimate = `${stats.llmOnlyNote ? ` ${stats.llmOnlyNote}` : ''}${usage ? ` ${usage}.` : ''}`;
  const saved = stats.savedUsd;
  if (stats.llmWroteAll) {
    return {
      label: 'Saved',
      value: 'no saving (the LLM wrote it all)',
      hint: 'The large model wrote the whole answer: this is the LLM-only answer, so nothing is saved.',
    };
  }
  if (stats.slmWroteAll) return { label: 'Saved', value: 'not applicable (only the small model wrote it)', hint: SMALL_MODEL_ALONE_HINT };
  if (saved === null) return { label: 'Saved', value: 'unknown', hint: NO_PRICE_HINT };
  const prices = stats.priceNote ? ` (${stats.priceNote})` : '';
  if (saved < 0) {
    return {
      label: 'Loss',
      value: `cost ${formatUsd(-saved)} more than the LLM alone, est.${prices}`,
      hint: `This answer cost more than an estimated answer written only by the large model (a failed, empty, stopped or stalled answer saves nothing: what it cost is lost).${estimate}`,
    };
  }
  return { label: 'Saved', value: `${formatUsd(saved)} est.${prices}`, hint: `Estimated saving against an answer written only by the large model.${estimate}` };
}

export function statItems(stats: StatsView): StatItem[] {
  const usage = usageNote(stats);
  const skipped = stats.declinedCalls ? ` · ${stats.declinedCalls} ${stats.declinedCalls === 1 ? 'call' : 'calls'} skipped` : '';
  return [
    { label: 'SLM', value: `${stats.slmTokens} tok`, hint: 'Tokens written by the small local model' },
    {
      label: 'LLM',
      value: `${stats.llmTokens} tok · ${formatPercent(stats.llmTokenShare)}`,
      hint: 'Tokens written by the large model and their share of the answer',
    },
    ...(stats.thinkingTokens
      ? [
          {
            label: 'Thinking',
            value: `${stats.thinkingTokens} tok`,
            hint: 'Tokens the models spent thinking (<think>...</think>), part of the SLM and LLM tokens',
          },
        ]
      : []),
    {
      label: 'Calls',
      value: `${stats.calls}${skipped}`,
      hint: skipped
        ? 'Calls made to the large model; skipped: calls not made because they would have cost more than the answer could spend under relay.maxCostRatio or relay.maxCostPerAnswerUsd (the small rings in the answer)'
        : 'Calls made to the large model',
    },
    {
      label: 'Cost',
      value: `${formatUsd(stats.costUsd)}${stats.costUsd === null ? '' : stats.outputCapped ? ' est. (output capped)' : stats.usageEstimated ? ' est.' : ''}`,
      hint: stats.slmWroteAll
        ? SMALL_MODEL_ALONE_HINT
        : stats.costUsd === null
          ? NO_PRICE_HINT
          : `Cost of this answer${stats.reasoningTokens ? `, ${stats.reasoningTokens} hidden reasoning tokens billed as output included` : ''}${
              usage ? `. ${usage}` : ''
            }`,
    },
    ...(stats.cacheHitRate !== undefined
      ? [
          {
            label: 'Cache',
            value: `${formatPercent(stats.cacheHitRate)} hit`,
            hint: 'Share of the input re-sent to the large model that its prompt cache served (billed at the cached price)',
          },
        ]
      : []),
    savingItem(stats),
    { label: 'Time', value: formatDuration(stats.elapsedMs), hint: `Finished: ${stats.finishReason}` },
  ];
}

/** The line for an answer that ended early: one text for the view and the CLI (src/core/relay/finishNotes.ts). */
export { finishNote, skippedCallsNote } from '../../../src/core/relay/finishNotes';

/** "82% of the input from the cache": how much of what the calls sent again was billed at the cached price. */
export function cachedShareText(share: number): string {
  if (!(share > 0)) return 'none of the input from the cache';
  if (share < 0.005) return 'under 1% of the input from the cache';
  return `${Math.round(share * 100)}% of the input from the cache`;
}

/** What the span's calls cost, as the hover says it; undefined until a call that wrote it has ended. */
export function callCostText(span: SpanView): string | undefined {
  if (span.costUsd === undefined) return undefined;
  if (span.costUsd === null) return 'cost unknown (no price)';
  const detail = span.outputCapped
    ? OUTPUT_CAPPED
    : span.usageEstimated
      ? USAGE_NOT_REPORTED
      : span.cachedShare !== undefined
        ? cachedShareText(span.cachedShare)
        : undefined;
  return `${formatUsd(span.costUsd)}${detail ? ` (${detail})` : ''}`;
}

/** Hover text of an LLM mark: who wrote it, where, how many tokens, how long and what it cost. */
export function llmSpanTitle(span: SpanView | undefined): string {
  if (!span) return 'Written by the large model';
  const who = `Written by ${span.model || 'the large model'}${span.host ? ` at ${span.host}` : ''}`;
  const parts = [who, `${span.tokens} ${span.tokens === 1 ? 'token' : 'tokens'}`];
  if (span.approximate) parts.push('asked to continue (approximate)');
  if (span.calls !== undefined && span.calls > 1) parts.push(`${span.calls} calls`);
  if (span.durationMs !== undefined) parts.push(formatDuration(span.durationMs));
  const cost = callCostText(span);
  if (cost) parts.push(cost);
  return parts.join(' · ');
}

/** Hover text of a skipped call's marker. */
export function declinedTitle(declined: DeclinedCallView): string {
  const more = declined.allowanceUsd > 0 ? `${formatUsd(declined.allowanceUsd)} more` : 'nothing more';
  return `A call here would have cost ${formatUsd(declined.predictedUsd)}; skipped (the answer could spend ${more} ${declinedUnder(declined)})`;
}

export interface CostPoint {
  relay: number;
  llmOnly: number;
}

/** Cumulative session cost after each finished turn; turns with an unknown price are skipped. */
export function cumulativeCosts(stats: readonly StatsView[]): CostPoint[] {
  const points: CostPoint[] = [{ relay: 0, llmOnly: 0 }];
  for (const entry of stats) {
    if (entry.costUsd === null || entry.llmOnlyCostUsd === null) continue;
    const last = points[points.length - 1];
    points.push({ relay: last.relay + entry.costUsd, llmOnly: last.llmOnly + entry.llmOnlyCostUsd });
  }
  return points;
}

/** SVG polyline `points` for values scaled into a width x height box (y grows downward). */
export function polylinePoints(values: readonly number[], max: number, width: number, height: number): string {
  const steps = Math.max(1, values.length - 1);
  const scale = max > 0 ? max : 1;
  return values.map((value, index) => `${((index / steps) * width).toFixed(1)},${(height - (value / scale) * height).toFixed(1)}`).join(' ');
}

/** The heading of a demo answer. */
export function demoTitle(demo: DemoTurnView): string {
  return demo.kind === 'relay' ? 'Relay demo: small model + large model' : 'Small model alone';
}

/** The demo's one line of honesty: what the pair is and what its costs are. */
export function demoNote(demo: DemoTurnView): string {
  return demo.kind === 'relay'
    ? `A toy pair on one task (a*b+c=?): two tiny models trained for this demo, both running on this machine; the large one is priced as if it were ${demo.priceModel}, so the costs are estimates.`
    : 'The same question, the same small model, no help from the large model.';
}

/** The demo answer against its reference: "161: correct (33*4+29 = 161)". */
export function demoResultLine(demo: DemoTurnView): { text: string; correct: boolean } {
  const sum = `${demo.question.replace(/=\?\s*$/, '')} = ${demo.reference}`;
  const result = demo.result;
  if (!result) return { text: '', correct: false };
  if (result.answer === null) return { text: `No final answer (${sum})`, correct: false };
  return { text: result.correct ? `${result.answer}: correct (${sum})` : `${result.answer}: wrong (${sum})`, correct: result.correct };
}
