/**
 * Each reported call's prediction against its report, per answer. The stats keep only the
 * answer's sums (stats.billing), where one call's over-prediction cancels another's
 * under-prediction; a ceiling breaks on one call's under-prediction, so the bench looks per
 * call, at what the engine's call-end events say (predictedUsd beside costUsd).
 */
import type { RelayEvent } from '../../src/core/relay/events';

export interface CallPrediction {
  /** 1-based position among the answer's calls (reported or not). */
  call: number;
  predictedUsd: number;
  reportedUsd: number;
}

/** The answer's reported calls, each with what the billing model predicted for it. */
export function callPredictionsOf(events: readonly RelayEvent[]): CallPrediction[] {
  return events.flatMap((e) =>
    e.type === 'call-end' && e.predictedUsd !== undefined && e.costUsd !== null
      ? [{ call: e.callIndex + 1, predictedUsd: e.predictedUsd, reportedUsd: e.costUsd }]
      : [],
  );
}

/** Signed error of one call's prediction, % of its report (+ = over-predicted); null where it reported nothing billable. */
export const callErrorPct = (p: CallPrediction): number | null => (p.reportedUsd > 0 ? ((p.predictedUsd - p.reportedUsd) / p.reportedUsd) * 100 : null);

export interface PerCallError<T> {
  calls: number;
  /** Nearest-rank percentiles of |error|. */
  p50Pct: number;
  p90Pct: number;
  /** The largest error by magnitude, signed, and where. */
  max: { pct: number; at: T };
  /** The most negative error (under-prediction, the direction that lets a ceiling break), and where. */
  underWorst: { pct: number; at: T };
  over5Pct: number;
}

/** Per-call figures over `errors` (signed %, each with where it was); null when there are none. */
export function perCallError<T>(errors: { pct: number; at: T }[]): PerCallError<T> | null {
  if (errors.length === 0) return null;
  const magnitudes = errors.map((e) => Math.abs(e.pct)).sort((a, b) => a - b);
  const rank = (q: number) => magnitudes[Math.max(0, Math.ceil(q * magnitudes.length) - 1)];
  return {
    calls: errors.length,
    p50Pct: rank(0.5),
    p90Pct: rank(0.9),
    max: errors.reduce((worst, e) => (Math.abs(e.pct) > Math.abs(worst.pct) ? e : worst)),
    underWorst: errors.reduce((worst, e) => (e.pct < worst.pct ? e : worst)),
    over5Pct: magnitudes.filter((m) => m > 5).length,
  };
}
