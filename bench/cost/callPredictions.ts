/**
 * Each reported call's prediction against its report, per answer. The engine keeps only the
 * answer's sums (stats.billing), where one call's over-prediction cancels another's
 * under-prediction; a ceiling breaks on one call's under-prediction, so the bench looks per
 * call. It wraps MoneyLedger.record once and reads the change of the ledger's own tally
 * (billingCheck) across each call, so the figures are the engine's, to the call.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { MoneyLedger } from '../../src/core/relay/money';

export interface CallPrediction {
  /** 1-based position among the answer's calls (reported or not). */
  call: number;
  predictedUsd: number;
  reportedUsd: number;
}

interface AnswerLog {
  calls: number;
  predictions: CallPrediction[];
}

/** The answer the running code books calls for (rows run side by side, one per server). */
const currentAnswer = new AsyncLocalStorage<AnswerLog>();
let wrapped = false;

function wrapRecord(): void {
  if (wrapped) return;
  wrapped = true;
  const record = MoneyLedger.prototype.record;
  MoneyLedger.prototype.record = function (this: MoneyLedger, call: Parameters<MoneyLedger['record']>[0]): number {
    const log = currentAnswer.getStore();
    const before = this.billingCheck() ?? { predictedUsd: 0, reportedUsd: 0, calls: 0 };
    const cost = record.call(this, call);
    if (!log) return cost;
    log.calls += 1;
    const after = this.billingCheck();
    if (after && after.calls > before.calls)
      log.predictions.push({ call: log.calls, predictedUsd: after.predictedUsd - before.predictedUsd, reportedUsd: after.reportedUsd - before.reportedUsd });
    return cost;
  };
}

/** Runs one answer and returns, beside its result, each of its reported calls' prediction. */
export async function withCallPredictions<T>(answer: () => Promise<T>): Promise<{ result: T; predictions: CallPrediction[] }> {
  wrapRecord();
  const log: AnswerLog = { calls: 0, predictions: [] };
  const result = await currentAnswer.run(log, answer);
  return { result, predictions: log.predictions };
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
