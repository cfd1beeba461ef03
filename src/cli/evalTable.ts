/**
 * The arithmetic of `relay eval`'s table: per-row figures summed over the questions, and
 * the comparison with a random query-level router matched to a row's accuracy (the
 * paper's cost reduction): a router that sends a share p = (acc - acc_SLM) / (acc_LLM -
 * acc_SLM) of the questions to the LLM reaches the row's accuracy on average, and spends
 * p times the LLM-alone row's LLM tokens and cost (plus 1 - p times the SLM row's cost).
 */
import type { AnswerStats, RelayMode } from '../core/relay/events';
import { formatUsd } from './render';
import type { EvalRowKind } from '../core/relay/policies/registry';

export interface EvalRow {
  /** The row's mode spec, e.g. "confidence@0.7". */
  spec: string;
  index: number;
  /** The data set's id of the question (eval/loaders.ts). */
  id?: string;
  /** The answer as the user would see it (commands hidden). */
  answer: string;
  reference: string;
  predicted: string | null;
  correct: boolean;
  stats: AnswerStats;
  /** Why the answer failed (finishReason 'error'), where its error was recorded. */
  error?: { code: string; message: string };
}

export type RowKind = EvalRowKind;

export interface ModeSummary {
  spec: string;
  label: string;
  kind: RowKind;
  /** The engine mode the row ran. */
  mode: RelayMode;
  questions: number;
  correct: number;
  /**
   * Correct answers / answers that did not fail: a failed answer (an error, counted in
   * `errors`) is no answer, so neither right nor wrong; null when every answer failed.
   */
  accuracy: number | null;
  slmTokens: number;
  llmTokens: number;
  /** The paper's call ratio over the set: LLM tokens / all tokens (commands included). */
  llmTokenShare: number;
  calls: number;
  callsPerQuestion: number;
  /** Summed over the questions; null when some answer's cost was unknown. */
  costUsd: number | null;
  costPerCorrectUsd: number | null;
  llmOnlyCostUsd: number | null;
  meanLatencyMs: number;
  errors: number;
  /** The first recorded error of the row's failed answers (absent when none failed). */
  firstError?: { code: string; message: string };
  /** Router rows: the LLM probability they ran with. */
  llmProbability?: number;
  /** Relay rows: 1 - LLM tokens / those of the router matched to this row's accuracy; null = n/a. */
  llmTokenReduction: number | null;
  /** Relay rows: 1 - cost / the matched router's cost (input tokens re-sent on every call included); null = n/a. */
  costReduction: number | null;
  /** Relay rows: the matched router's LLM probability; null = n/a. */
  matchedRouterP: number | null;
  /**
   * The billing model's prediction of the calls whose usage was reported (each priced before
   * it was made, with the output it then wrote) against what that usage cost; null where no
   * call reported usage at a known price.
   */
  billing: { predictedUsd: number; reportedUsd: number; calls: number } | null;
}

/** Signed error of a prediction, in percent of what was reported (+ = over-predicted); null when nothing was reported. */
export function predictionErrorPct(billing: ModeSummary['billing']): number | null {
  return billing && billing.reportedUsd > 0 ? ((billing.predictedUsd - billing.reportedUsd) / billing.reportedUsd) * 100 : null;
}

export function summarise(spec: string, label: string, kind: RowKind, mode: RelayMode, rows: EvalRow[], llmProbability?: number): ModeSummary {
  const correct = rows.filter((r) => r.correct).length;
  const total = (pick: (s: AnswerStats) => number): number => rows.reduce((n, r) => n + pick(r.stats), 0);
  const known = (pick: (s: AnswerStats) => number | null): number | null =>
    rows.some((r) => pick(r.stats) === null) ? null : rows.reduce((n, r) => n + (pick(r.stats) as number), 0);
  const slmTokens = total((s) => s.slmTokens);
  const llmTokens = total((s) => s.llmTokens);
  const calls = total((s) => s.calls);
  const cost = known((s) => s.costUsd);
  const n = rows.length;
  const errors = rows.filter((r) => r.stats.finishReason === 'error').length;
  const billed = rows.flatMap((r) => (r.stats.billing && r.stats.billing.calls > 0 ? [r.stats.billing] : []));
  const billing =
    billed.length === 0
      ? null
      : billed.reduce((a, b) => ({ predictedUsd: a.predictedUsd + b.predictedUsd, reportedUsd: a.reportedUsd + b.reportedUsd, calls: a.calls + b.calls }), {
          predictedUsd: 0,
          reportedUsd: 0,
          calls: 0,
        });
  return {
    spec,
    label,
    kind,
    mode,
    questions: n,
    correct,
    accuracy: accuracyOf(correct, n, errors),
    slmTokens,
    llmTokens,
    llmTokenShare: slmTokens + llmTokens === 0 ? 0 : llmTokens / (slmTokens + llmTokens),
    calls,
    callsPerQuestion: n ? calls / n : 0,
    costUsd: cost,
    costPerCorrectUsd: cost === null || correct === 0 ? null : cost / correct,
    llmOnlyCostUsd: known((s) => s.llmOnlyCostUsd),
    meanLatencyMs: n ? total((s) => s.elapsedMs) / n : 0,
    errors,
    ...firstErrorOf(rows),
    llmProbability,
    llmTokenReduction: null,
    costReduction: null,
    matchedRouterP: null,
    billing,
  };
}

/** Correct answers / answers that did not fail; null when none is left (every answer failed, or none ran). */
export function accuracyOf(correct: number, answers: number, failed: number): number | null {
  const judged = answers - failed;
  return judged > 0 ? correct / judged : null;
}

function firstErrorOf(rows: EvalRow[]): { firstError?: { code: string; message: string } } {
  const failed = rows.find((r) => r.stats.finishReason === 'error' && r.error);
  return failed?.error ? { firstError: failed.error } : {};
}

/**
 * The router's LLM probability that matches `accuracy` on average; null when the LLM is not
 * better than the SLM, or when an accuracy is unknown (every answer of its row failed).
 */
export function matchedRouterProbability(slm: ModeSummary, llm: ModeSummary, accuracy: number | null): number | null {
  if (accuracy === null || slm.accuracy === null || llm.accuracy === null) return null;
  const gap = llm.accuracy - slm.accuracy;
  if (!(gap > 0)) return null;
  return Math.min(1, Math.max(0, (accuracy - slm.accuracy) / gap));
}

/**
 * Fills the reductions of the relay rows against the router matched to each row's own
 * accuracy; n/a (null) where the row is no more accurate than the SLM alone (no router
 * needed) or where the baselines are missing or have no accuracy (every answer failed).
 */
export function compareWithMatchedRouters(summaries: ModeSummary[]): void {
  const slm = summaries.find((s) => s.kind === 'baseline-slm');
  const llm = summaries.find((s) => s.kind === 'baseline-llm');
  if (!slm || !llm) return;
  for (const row of summaries) {
    if (row.kind !== 'relay') continue;
    const p = matchedRouterProbability(slm, llm, row.accuracy);
    if (p === null || p <= 0) continue;
    row.matchedRouterP = p;
    row.llmTokenReduction = 1 - row.llmTokens / (p * llm.llmTokens);
    const routerCost = llm.costUsd === null || slm.costUsd === null ? null : p * llm.costUsd + (1 - p) * slm.costUsd;
    row.costReduction = routerCost === null || row.costUsd === null || routerCost === 0 ? null : 1 - row.costUsd / routerCost;
  }
}

const pct = (x: number | null, digits = 1): string => (x === null ? 'n/a' : `${(x * 100).toFixed(digits)}%`);

function latency(ms: number): string {
  return ms < 1000 ? `${ms.toFixed(0)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** A Markdown table (readable as is on a terminal). */
export function formatTable(summaries: ModeSummary[]): string {
  const header = [
    'protocol',
    'accuracy',
    'LLM token share',
    'calls/q',
    'cost',
    'cost/correct',
    'latency/q',
    'LLM-token reduction vs matched router',
    'cost reduction vs matched router',
    'errors',
  ];
  const rows = summaries.map((s) => [
    s.label,
    pct(s.accuracy),
    pct(s.llmTokenShare, 2),
    s.callsPerQuestion.toFixed(2),
    formatUsd(s.costUsd),
    formatUsd(s.costPerCorrectUsd),
    latency(s.meanLatencyMs),
    pct(s.llmTokenReduction),
    pct(s.costReduction),
    String(s.errors),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}
