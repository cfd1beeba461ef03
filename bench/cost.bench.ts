/**
 * `npm run bench:cost`: what relay answers cost in money, through the real engine and real
 * HTTP servers on 127.0.0.1 that bill like each provider (issue 19).
 *
 * - Billing models (bench/cost/servers.ts): OpenAI-style automatic prefix caching with
 *   cached input at 50% and at 90% off, Anthropic explicit breakpoints (read 0.1x, write
 *   1.25x), and no caching. Each server counts tokens with its own tokenizer, not the SLM's.
 * - Traces (bench/cost/traces.ts): explain 40 and 200 lines, a chat turn after 3,000
 *   tokens of history, a short problem with a 2,000-token reasoning answer; the scripted
 *   SLM (bench/cost/slm.ts) writes the reference answer and is unsure (top-1 below 0.5) at
 *   3-8% of positions, in clusters and isolated.
 * - Policies: llm-only (the measured LLM-only cost); today's fixed spans (confidence mode,
 *   threshold 0.5, 2-token spans, no share cap); the money-aware policy at maxCostRatio 0.3,
 *   0.5 and 1.0 ("never more than the LLM alone"); fixed spans under a money ceiling equal
 *   to what money-aware spent; fixed spans at LLM-share caps 0.2 ... 0.01 (the curve behind
 *   the "at equal money" comparison).
 * - Token ratios: as the product keeps one TokenRatios per SLM and LLM pair for the life of
 *   the process (src/core/compose.ts), every answer of one billing model shares one; a
 *   warm-up answer (fixed spans on a 12-line explain, not measured) runs first, so every
 *   measured row is calibrated. The first call of a session is probed on its own per trace,
 *   with fresh ratios and one call, and reported apart. Every server counts tokens for free
 *   as its service does (Anthropic's count_tokens; OpenAI's responses/input_tokens, the
 *   OpenAI-format servers standing for api.openai.com), so the provider's count of Relay's
 *   sample text sets the input ratio before that first call, as in the product.
 * - "vs measured" divides by the LLM alone as a user calling it once is billed (run.ts
 *   llmAloneBilledUsd: without the cache write Relay's llm-only call pays under breakpoints).
 * - The billing model's prediction is reported pooled (stats.billing) and per call
 *   (bench/cost/callPredictions.ts), where one call's error cannot hide behind another's.
 *
 * Options: --traces a,b  --billing a,b (ids, default all). Prints tables and, last, one
 * JSON line.
 */
import { performance } from 'node:perf_hooks';
import { QUOTE_MARGIN, TokenRatios, UNCALIBRATED_MARGIN } from '../src/core/relay/money';
import { DEFAULT_MAX_LLM_CALLS } from '../src/core/relay/limits';
import { callErrorPct, perCallError, type PerCallError } from './cost/callPredictions';
import { BenchTarget, BILLING_MODELS, coldCall, GATE, llmAloneBilledUsd, MAX_LLM_CALLS, type Policy, type RowResult } from './cost/run';
import { SCRIPTED_CONTEXT_WINDOW } from './cost/slm';
import { buildTraces, buildWarmupTrace, type Trace } from './cost/traces';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const only = (name: string): Set<string> | undefined => {
  const value = flag(name);
  return value ? new Set(value.split(',')) : undefined;
};

/** maxCostRatio of the money-aware rows: 0.3, the issue's 0.5, and 1.0 ("never costs more than the LLM alone"). */
const RATIOS = [0.3, 0.5, 1.0];
/** The LLM-share caps of fixed spans that draw its money/coverage curve (1 is the main "fixed" row). */
const CURVE_SHARES = [0.2, 0.1, 0.05, 0.02, 0.01];
const HEADLINE_RATIO = 0.5;
/** The editor-shaped traces of the issue's coverage goal (the problem is the paper's shape; chat-3k-warm is reported beside). */
const EDITOR_TRACES: readonly string[] = ['explain-40', 'explain-200', 'chat-3k'];
const EDITOR_AND_WARM_CHAT: readonly string[] = [...EDITOR_TRACES, 'chat-3k-warm'];

const FIXED: Policy = { id: 'fixed', mode: 'confidence', maxLlmShare: 1 };
const LLM_ONLY: Policy = { id: 'llm-only', mode: 'llm-only' };
/** The first call alone (fixed spans, one call), run with fresh token ratios: what the first answer of a session predicts. */
const FIRST_CALL: Policy = { id: 'first call', mode: 'confidence', maxLlmShare: 1, maxLlmCalls: 1 };
const ratioLabel = (ratio: number): string => ratio.toFixed(1);
const maId = (ratio: number): string => `money-aware ${ratioLabel(ratio)}`;
const ceilingId = (ratio: number): string => `fixed at money-aware ${ratioLabel(ratio)}'s $`;
const moneyAware = (ratio: number): Policy => ({ id: maId(ratio), mode: 'money-aware', maxCostRatio: ratio });
/** money-aware with its calls ended once the SLM agrees with AGREE_STOP LLM tokens in a row (opt-in; measured beside the default). */
const AGREE_STOP = 4;
const agreeId = (ratio: number): string => `${maId(ratio)} + agree-stop ${AGREE_STOP}`;
const agreeStop = (ratio: number): Policy => ({ ...moneyAware(ratio), id: agreeId(ratio), agreeStopTokens: AGREE_STOP });

interface Pair {
  trace: Trace;
  billing: string;
  /** The measured rows, all with the billing model's shared (calibrated) token ratios. */
  rows: RowResult[];
  /** The first call of a session (fresh token ratios, one call). */
  firstCall: RowResult;
  /** Whether the provider's token count of the sample text set its input ratio first (tokenCalibration.ts). */
  firstCallCounted: boolean;
}

interface TargetRun {
  pairs: Pair[];
  /** The warm-up answer that taught the shared ratios (not a measured row). */
  warmup: RowResult;
  ratios: TokenRatios;
}

async function runTarget(target: BenchTarget, traces: Trace[]): Promise<TargetRun> {
  // Not measured: the first answer of the "session" teaches the ratios every measured row then shares.
  const warmup = await target.run(buildWarmupTrace(), FIXED);
  const pairs: Pair[] = [];
  for (const trace of traces) {
    const firstRatios = new TokenRatios();
    const firstCall = await target.run(trace, FIRST_CALL, firstRatios);
    const rows: RowResult[] = [];
    rows.push(await target.run(trace, LLM_ONLY));
    rows.push(await target.run(trace, FIXED));
    for (const share of CURVE_SHARES) rows.push(await target.run(trace, { id: `fixed share ${share}`, mode: 'confidence', maxLlmShare: share }));
    for (const ratio of RATIOS) {
      const row = await target.run(trace, moneyAware(ratio));
      rows.push(row);
      const spent = row.stats.costUsd ?? 0;
      if (spent > 0) rows.push(await target.run(trace, { id: ceilingId(ratio), mode: 'confidence', maxLlmShare: 1, maxCostUsd: spent }));
      rows.push(await target.run(trace, agreeStop(ratio)));
    }
    pairs.push({ trace, billing: target.billing.id, rows, firstCall, firstCallCounted: firstRatios.counted > 0 });
  }
  return { pairs, warmup, ratios: target.ratios };
}

const row = (pair: Pair, id: string): RowResult | undefined => pair.rows.find((r) => r.policy === id);

/** What the LLM alone is billed on the pair's server, called once by a user (llmAloneBilledUsd): what every "vs measured" divides by. */
function llmAloneBilled(pair: Pair): number | undefined {
  const llmOnly = row(pair, 'llm-only');
  const billing = BILLING_MODELS.find((b) => b.id === pair.billing);
  return llmOnly && billing ? llmAloneBilledUsd(billing.price, llmOnly.stats.llmUsage) : undefined;
}

/**
 * Fixed spans' coverage (positions) at `usd`: linear interpolation on the upper envelope
 * of its (money, coverage) points (the share-cap curve and the full run, plus $0 with
 * nothing covered); the full run's coverage past its own money.
 */
function fixedCoverageAt(pair: Pair, usd: number): number {
  const points = pair.rows
    .filter((r) => r.policy === 'fixed' || r.policy.startsWith('fixed share '))
    .map((r) => ({ usd: r.stats.costUsd ?? 0, covered: r.covered }))
    .concat([{ usd: 0, covered: 0 }])
    .sort((a, b) => a.usd - b.usd || a.covered - b.covered);
  let best = 0;
  const envelope = points.map((p) => ({ usd: p.usd, covered: (best = Math.max(best, p.covered)) }));
  if (usd >= envelope[envelope.length - 1].usd) return envelope[envelope.length - 1].covered;
  for (let i = 1; i < envelope.length; i++) {
    const a = envelope[i - 1];
    const b = envelope[i];
    if (usd <= b.usd) return b.usd === a.usd ? b.covered : a.covered + ((usd - a.usd) / (b.usd - a.usd)) * (b.covered - a.covered);
  }
  return envelope[envelope.length - 1].covered;
}

interface EqualMoney {
  trace: string;
  billing: string;
  ratio: number;
  usd: number;
  moneyAware: number;
  ceiling: number | null;
  interpolated: number;
  /** The fixed-span coverage compared against: the better of the two ways. */
  fixed: number;
  low: number;
}

function equalMoney(pairs: Pair[], ratio: number): EqualMoney[] {
  const out: EqualMoney[] = [];
  for (const pair of pairs) {
    const ma = row(pair, maId(ratio));
    if (!ma) continue;
    const usd = ma.stats.costUsd ?? 0;
    const ceilingRow = row(pair, ceilingId(ratio));
    const ceiling = ceilingRow && (ceilingRow.stats.costUsd ?? 0) <= usd * (1 + 1e-9) ? ceilingRow.covered : usd > 0 ? null : 0;
    const interpolated = fixedCoverageAt(pair, usd);
    out.push({
      trace: pair.trace.id,
      billing: pair.billing,
      ratio,
      usd,
      moneyAware: ma.covered,
      ceiling,
      interpolated,
      fixed: Math.max(interpolated, ceiling ?? 0),
      low: pair.trace.low.length,
    });
  }
  return out;
}

function table(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  return [line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

const pct = (x: number | null, digits = 1): string => (x === null || !Number.isFinite(x) ? 'n/a' : `${(x * 100).toFixed(digits)}%`);
const usd = (x: number | null): string => (x === null ? 'n/a' : `$${x.toFixed(4)}`);
const round = (x: number, digits = 4): number => Math.round(x * 10 ** digits) / 10 ** digits;
const signedPct = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(1)}%`;

async function main(): Promise<void> {
  const started = performance.now();
  const traceFilter = only('traces');
  const billingFilter = only('billing');
  const traces = buildTraces().filter((t) => !traceFilter || traceFilter.has(t.id));
  const billings = BILLING_MODELS.filter((b) => !billingFilter || billingFilter.has(b.id));
  /** A table of one cell per trace (rows) and billing model (columns). */
  const traceByBillingTable = (cell: (trace: string, billing: string) => string): string =>
    table(
      ['trace', ...billings.map((b) => b.id)],
      traces.map((t) => [t.id, ...billings.map((b) => cell(t.id, b.id))]),
    );
  const targets = await Promise.all(billings.map((b) => BenchTarget.start(b)));
  let runs: TargetRun[];
  try {
    // One answer at a time per server (its cache is per answer, its token ratios its own); the servers run side by side.
    runs = await Promise.all(targets.map((t) => runTarget(t, traces)));
  } finally {
    await Promise.all(targets.map((t) => t.close()));
  }
  const pairs = runs.flatMap((r) => r.pairs);

  console.log('bench:cost: relay answers through the real engine and providers, billed by HTTP servers on 127.0.0.1');
  console.log(
    `traces: ${traces.map((t) => `${t.id} (prompt ${t.messages.map((m) => m.content).join('').length} chars, answer ${t.pieces.length} SLM tokens, ${t.low.length} low-confidence = ${pct(t.low.length / t.pieces.length)})`).join('; ')}`,
  );
  console.log(
    `billing: ${billings.map((b) => `${b.id} = ${b.label} (${b.kind} ${b.model}, $${b.price.inputPerMTok}/$${b.price.outputPerMTok} per MTok in/out${b.price.cachedInputPerMTok !== undefined ? `, cached $${b.price.cachedInputPerMTok}` : ''}${b.price.cacheWritePerMTok !== undefined ? `, write $${b.price.cacheWritePerMTok}` : ''})`).join('; ')}`,
  );
  console.log(
    `policies: fixed = confidence, threshold ${GATE.threshold}, ${GATE.spanTokens}-token spans, no share cap; money-aware at maxCostRatio ${RATIOS.map(ratioLabel).join(', ')}; every answer: ${MAX_LLM_CALLS} calls at most, budget 8192, SLM window ${SCRIPTED_CONTEXT_WINDOW}, temperature 0`,
  );
  console.log(
    `token ratios: one TokenRatios per billing model (its tokenizer pair), shared by all its answers as the product shares one per SLM and LLM pair; ` +
      `a warm-up answer (fixed spans, ${buildWarmupTrace().label}) taught it before the first measured row: ` +
      runs.map((r) => `${r.warmup.billing} ${r.warmup.stats.calls} calls`).join(', ') +
      `; after the run: ${runs.map((r) => `${r.warmup.billing} ${r.ratios.input.toFixed(3)} in / ${r.ratios.output.toFixed(3)} out LLM tokens per SLM token (${r.ratios.calls} calls)`).join('; ')}`,
  );
  console.log('');

  const mainPolicies = (r: RowResult) =>
    r.policy === 'llm-only' || r.policy === 'fixed' || r.policy.startsWith('money-aware') || r.policy.startsWith('fixed at');
  const rows: string[][] = [];
  for (const trace of traces) {
    for (const billing of billings) {
      const pair = pairs.find((p) => p.trace.id === trace.id && p.billing === billing.id);
      if (!pair) continue;
      const aloneUsd = llmAloneBilled(pair);
      for (const r of pair.rows.filter(mainPolicies)) {
        rows.push([
          trace.id,
          billing.id,
          r.policy,
          r.ratio === null ? 'n/a' : r.ratio.toFixed(3),
          aloneUsd ? ((r.stats.costUsd ?? 0) / aloneUsd).toFixed(3) : 'n/a',
          usd(r.stats.costUsd),
          String(r.stats.calls),
          String(r.declined),
          pct(r.stats.llmTokenShare),
          pct(r.cacheHit),
          r.policy === 'llm-only' ? '-' : `${r.covered}/${r.lowTotal} ${pct(r.covered / r.lowTotal, 0)}`,
          r.stats.finishReason,
          r.exact,
        ]);
      }
    }
  }
  const measured = pairs.flatMap((p) => p.rows);
  const uncalibrated = measured.filter((r) => r.ratioCallsBefore === 0);
  console.log(
    'Money per answer (money/LLM-only = costUsd / llmOnlyCostUsd of the done event; "vs measured" divides costUsd by what the LLM alone is billed on the same server: ' +
      "the llm-only answer's usage, without the cache write where that is cheaper, as a user calling the model once pays it (Relay's llm-only call sets breakpoints, and under breakpoints pays a 1.25x write on its prompt, so its own row reads above 1 there)). " +
      `Every row shares its billing model's token ratios, learned since the warm-up: ${uncalibrated.length === 0 ? `all ${measured.length} rows began calibrated` : `${uncalibrated.length} of ${measured.length} rows began UNCALIBRATED (${uncalibrated.map((r) => `${r.trace}/${r.billing}/${r.policy}`).join(', ')})`}; the first call of a session is reported apart, below.`,
  );
  console.log(
    table(
      [
        'trace',
        'billing',
        'policy',
        'money/LLM-only',
        'vs measured',
        'cost',
        'calls',
        'declined',
        'LLM share',
        'cache hit',
        'low-conf written by LLM',
        'end',
        'answer exact',
      ],
      rows,
    ),
  );
  console.log('');

  console.log(`Fixed spans' money/coverage curve (LLM-share cap: cost, low-confidence positions written by the LLM)`);
  console.log(
    table(
      ['trace', 'billing', ...['1', ...CURVE_SHARES.map(String)].map((s) => `cap ${s}`)],
      pairs.map((p) => [
        p.trace.id,
        p.billing,
        ...['fixed', ...CURVE_SHARES.map((s) => `fixed share ${s}`)].map((id) => {
          const r = row(p, id);
          return r ? `${usd(r.stats.costUsd)} ${r.covered}` : 'n/a';
        }),
      ]),
    ),
  );
  console.log('');

  // Why: one cold call against the LLM-only estimate, per editor trace and billing model.
  const coldRows: string[][] = [];
  const coldShares: Record<string, Record<string, number>> = {};
  const why: string[] = [];
  for (const trace of traces.filter((t) => EDITOR_TRACES.includes(t.id))) {
    const shares = new Map<string, string[]>();
    for (const billing of billings) {
      const pair = pairs.find((p) => p.trace.id === trace.id && p.billing === billing.id);
      const llmOnly = pair && row(pair, 'llm-only');
      if (!llmOnly) continue;
      const cold = coldCall(billing, llmOnly.stats.llmUsage.inputTokens, llmOnly.stats.llmUsage.outputTokens, GATE.spanTokens, RATIOS);
      (coldShares[trace.id] ??= {})[billing.id] = round(cold.share, 3);
      const key = `${cold.share.toFixed(2)}x`;
      shares.set(key, [...(shares.get(key) ?? []), billing.id]);
      coldRows.push([
        trace.id,
        billing.id,
        String(llmOnly.stats.llmUsage.inputTokens),
        String(llmOnly.stats.llmUsage.outputTokens),
        `${cold.share.toFixed(2)}x`,
        ...RATIOS.map((ratio) => {
          const at = cold.fitsFrom.get(ratio);
          return at === null || at === undefined ? 'never' : `${pct(at, 0)} of the answer`;
        }),
      ]);
    }
    why.push(`${trace.id}: one uncached call = ${[...shares].map(([share, ids]) => `${share} (${ids.join(', ')})`).join(', ')} LLM-only`);
  }
  if (coldRows.length > 0) {
    console.log(`Why: ${why.join('; ')}.`);
    console.log(
      `One cold call (the prompt as the llm-only request sent it, in the server's tokens, nothing cached, written at the cache-write price where the rule writes; a ${GATE.spanTokens}-token span) ` +
        'over the LLM-only estimate (that prompt at the input price plus the whole answer at the output price). The ratio is held at every point of the answer against the LLM-only ' +
        `estimate of the answer so far, with the calibrated ${(QUOTE_MARGIN * 100).toFixed(0)}% margin (${(UNCALIBRATED_MARGIN * 100).toFixed(0)}% before any report), so such a call fits a ratio only once the SLM has written the share shown (chat-3k-warm is left out: its first call reads the previous turn's cache).`,
    );
    console.log(
      table(['trace', 'billing', 'prompt tokens', 'answer tokens', 'one cold call / LLM-only', ...RATIOS.map((r) => `fits ${ratioLabel(r)} from`)], coldRows),
    );
    console.log('');
  }

  const equal = RATIOS.flatMap((ratio) => equalMoney(pairs, ratio));
  if (equal.length > 0) {
    console.log(
      'Low-confidence positions written by the LLM at equal money. Fixed spans at money-aware\'s cost, two ways: "ceiling" = a fixed-span answer run with ' +
        "RelayOptions.maxCostUsd = money-aware's costUsd (the engine prices each call at its worst, so it spends at most that); " +
        '"interpolated" = linear interpolation over the curve above; compared against the better of the two.',
    );
    console.log(
      table(
        ['trace', 'billing', 'ratio', "money-aware's $", 'money-aware', 'fixed ceiling', 'fixed interpolated', 'gain'],
        equal.map((e) => [
          e.trace,
          e.billing,
          ratioLabel(e.ratio),
          usd(e.usd),
          `${e.moneyAware}/${e.low}`,
          e.ceiling === null ? 'n/a' : String(e.ceiling),
          e.interpolated.toFixed(1),
          e.fixed > 0 ? `${(e.moneyAware / e.fixed).toFixed(2)}x` : e.moneyAware > 0 ? 'inf' : '-',
        ]),
      ),
    );
    console.log('');
  }

  // The billing model's prediction against the servers' usage, per billing model and policy family.
  const all = measured;
  const predictionRows: string[][] = [];
  const predictionOf = (rs: RowResult[]) => {
    const withBilling = rs.filter((r) => r.stats.billing);
    const predicted = withBilling.reduce((s, r) => s + (r.stats.billing?.predictedUsd ?? 0), 0);
    const reported = withBilling.reduce((s, r) => s + (r.stats.billing?.reportedUsd ?? 0), 0);
    const calls = withBilling.reduce((s, r) => s + (r.stats.billing?.calls ?? 0), 0);
    return { predicted, reported, calls, errorPct: reported > 0 ? (Math.abs(predicted - reported) / reported) * 100 : null };
  };
  /** Each reported call's signed prediction error in the rows, with where it was. */
  const callErrors = (rs: RowResult[]) =>
    rs.flatMap((r) =>
      r.callPredictions.flatMap((p) => {
        const pct = callErrorPct(p);
        return pct === null ? [] : [{ pct, at: { trace: r.trace, billing: r.billing, policy: r.policy, call: p.call } }];
      }),
    );
  type CallAt = ReturnType<typeof callErrors>[number]['at'];
  // Anthropic's partial answer is split at most 64 blocks deep (anthropic.ts), then starts over with
  // one cache write the prediction does not foresee; only an answer past the default call ceiling gets there.
  const withinCallCeiling = (es: ReturnType<typeof callErrors>) => es.filter((e) => e.at.call <= DEFAULT_MAX_LLM_CALLS);
  /** A row of the prediction table: pooled over `rs` (null: per call only), and per call. */
  const predictionLine = (billing: string, family: string, rs: RowResult[] | null, perCall: PerCallError<CallAt> | null): string[] => {
    const p = rs && predictionOf(rs);
    return [
      billing,
      family,
      String(p ? p.calls : (perCall?.calls ?? 0)),
      p ? usd(p.predicted) : '-',
      p ? usd(p.reported) : '-',
      !p ? '-' : p.errorPct === null ? 'n/a' : `${p.errorPct.toFixed(2)}%`,
      ...(perCall
        ? [
            `${perCall.p50Pct.toFixed(2)}%`,
            `${perCall.p90Pct.toFixed(2)}%`,
            signedPct(perCall.max.pct),
            signedPct(perCall.underWorst.pct),
            String(perCall.over5Pct),
          ]
        : ['n/a', 'n/a', 'n/a', 'n/a', 'n/a']),
    ];
  };
  for (const billing of billings) {
    for (const family of ['fixed', 'money-aware', 'llm-only']) {
      const rs = all.filter((r) => r.billing === billing.id && r.policy.startsWith(family));
      if (predictionOf(rs).calls > 0) predictionRows.push(predictionLine(billing.id, family, rs, perCallError(callErrors(rs))));
    }
  }
  const prediction = predictionOf(all);
  const perCall = perCallError(callErrors(all));
  const perCallWithinCeiling = perCallError(withinCallCeiling(callErrors(all)));
  if (predictionRows.length > 0) {
    console.log(
      "Billing model's prediction (stats.billing: predicted before each call, with the output it then wrote) against the usage the servers reported. " +
        '"pooled" = |sum predicted - sum reported| / sum reported, where one call\'s over-prediction cancels another\'s under-prediction; ' +
        `per call: |error| percentiles, the largest error (signed, + = over-predicted), the worst under-prediction (the direction that lets a ceiling break), calls off by more than 5%; ` +
        `the last row only the calls within the default ceiling of ${DEFAULT_MAX_LLM_CALLS} calls per answer (past it, Anthropic's partial answer split starts over: one cache write the prediction does not foresee).` +
        (perCall ? ` Largest: ${perCall.max.at.trace} / ${perCall.max.at.billing} / ${perCall.max.at.policy}, call ${perCall.max.at.call}.` : ''),
    );
    console.log(
      table(
        ['billing', 'policies', 'calls', 'predicted', 'reported', 'pooled error', 'per call p50', 'p90', 'max', 'worst under', '> 5%'],
        [
          ...predictionRows,
          predictionLine('all', 'all', all, perCall),
          predictionLine('all', `calls 1-${DEFAULT_MAX_LLM_CALLS} of an answer`, null, perCallWithinCeiling),
        ],
      ),
    );
    console.log('');
  } else {
    console.log('No answer reported stats.billing (the engine does not predict calls yet).');
  }

  // The first call of a session: fresh token ratios, one call (what the first answer of a session predicts).
  const firstCalls = pairs.map((p) => p.firstCall).filter((r) => r.stats.billing && r.stats.billing.calls === 1);
  const counted = (r: RowResult): boolean => pairs.some((p) => p.firstCall === r && p.firstCallCounted);
  const firstCounted = predictionOf(firstCalls.filter(counted));
  const firstUncounted = predictionOf(firstCalls.filter((r) => !counted(r)));
  const countedBillings = [...new Set(pairs.filter((p) => p.firstCallCounted).map((p) => p.billing))];
  const firstError = (r: RowResult) => {
    const b = r.stats.billing!;
    return b.reportedUsd > 0 ? ((b.predictedUsd - b.reportedUsd) / b.reportedUsd) * 100 : 0;
  };
  const firstPrediction = predictionOf(firstCalls);
  const firstWorst = [...firstCalls].sort((a, b) => Math.abs(firstError(b)) - Math.abs(firstError(a)))[0];
  // Under-prediction is what lets a ceiling break (over-prediction only declines calls that fit).
  const firstWorstUnder = [...firstCalls].sort((a, b) => firstError(a) - firstError(b))[0];
  // Without the warm chat, whose first call is mostly read from the cache: the few fresh tokens past where the cached prefix ends are most of its price.
  const firstCold = predictionOf(firstCalls.filter((r) => !pairs.some((p) => p.trace.id === r.trace && p.trace.warm)));
  if (firstCalls.length > 0) {
    console.log(
      "The first call of a session (fresh token ratios: counts in the SLM's tokenizer, except where the provider's free token count of a sample text set the input ratio first: " +
        `${countedBillings.length > 0 ? countedBillings.join(', ') : 'none here'}): predicted against reported cost, signed (+ = over-predicted), ` +
        `one probe answer per trace and billing model with one call; the engine quotes it with a ${(UNCALIBRATED_MARGIN * 100).toFixed(0)}% margin (${(QUOTE_MARGIN * 100).toFixed(0)}% once counted). ` +
        `Over all ${firstCalls.length}: ${firstPrediction.errorPct === null ? 'n/a' : `${firstPrediction.errorPct.toFixed(2)}%`} (predicted ${usd(firstPrediction.predicted)}, reported ${usd(firstPrediction.reported)}); ` +
        `without chat-3k-warm (its first call is mostly read from the previous turn's cache, and the few fresh tokens past where that prefix ends are most of its price: the prefix is counted as the provider reported the previous turn's last call, except under breakpoints, where it is the conversation's, counted at the sample's ratio): ${firstCold.errorPct === null ? 'n/a' : `${firstCold.errorPct.toFixed(2)}%`}; ` +
        `counted first: ${firstCounted.errorPct === null ? 'n/a' : `${firstCounted.errorPct.toFixed(2)}%`}, not counted: ${firstUncounted.errorPct === null ? 'n/a' : `${firstUncounted.errorPct.toFixed(2)}%`}.`,
    );
    console.log(
      traceByBillingTable((trace, billing) => {
        const r = firstCalls.find((f) => f.trace === trace && f.billing === billing);
        return r ? signedPct(firstError(r)) : 'n/a';
      }),
    );
    console.log('');
  }

  // Ending a call once the SLM agrees (opt-in), beside the same ratio without it: what the servers billed, what the engine counted, coverage.
  const agreeOf = (ratio: number) => {
    const sum = (rows: RowResult[], pick: (r: RowResult) => number) => rows.reduce((n, r) => n + pick(r), 0);
    const plain = all.filter((r) => r.policy === maId(ratio));
    const agree = all.filter((r) => r.policy === agreeId(ratio));
    const covered = (rows: RowResult[]) =>
      sum(rows, (r) => r.covered) /
      Math.max(
        1,
        sum(rows, (r) => r.lowTotal),
      );
    const figures = (rows: RowResult[]) => ({
      server: sum(rows, (r) => r.serverUsd),
      engine: sum(rows, (r) => r.stats.costUsd ?? 0),
      calls: sum(rows, (r) => r.stats.calls),
      coverage: covered(rows),
    });
    return { plain: figures(plain), agree: figures(agree), stopped: sum(agree, (r) => r.agreedCalls) };
  };
  console.log(
    `Ending a call once the SLM agrees with ${AGREE_STOP} LLM tokens in a row (opt-in, confidence.agreeStopTokens), beside money-aware at the same ratio, over every trace and billing model. ` +
      'A call ended early reports no usage: the engine counts it as its whole span, as priced; the servers bill what they generated.',
  );
  console.log(
    table(
      ['ratio', 'policy', 'calls', 'ended early', 'server bill', 'engine counted', 'low-confidence positions by the LLM'],
      RATIOS.flatMap((ratio) => {
        const a = agreeOf(ratio);
        const line = (id: string, f: typeof a.plain, stopped: string) => [
          ratioLabel(ratio),
          id,
          String(f.calls),
          stopped,
          usd(f.server),
          usd(f.engine),
          `${(f.coverage * 100).toFixed(1)}%`,
        ];
        return [line('money-aware', a.plain, '-'), line(`+ agree-stop ${AGREE_STOP}`, a.agree, String(a.stopped))];
      }),
    ),
  );
  console.log('');

  // Server bill against the engine's: they differ only where a call was cancelled (the engine then estimates).
  const billGap = all.reduce((s, r) => s + Math.abs((r.stats.costUsd ?? 0) - r.serverUsd), 0);
  const cancelled = all.reduce((s, r) => s + r.cancelledCalls, 0);
  const inexact = all.filter((r) => r.exact === 'spaces' || r.exact === 'no');
  console.log(
    `Engine cost vs server bill: total |difference| ${usd(billGap)} over ${all.length} answers (${cancelled} calls cancelled by the client); ` +
      `${inexact.length} complete answers differ from the reference (${inexact.filter((r) => r.exact === 'spaces').length} in whitespace only: the instructed seam), ${all.reduce((s, r) => s + r.misaligned, 0)} requests whose partial answer needed a search to line up.`,
  );

  const headline = all.filter((r) => r.policy === maId(HEADLINE_RATIO));
  const neverMore = all.filter((r) => r.policy === maId(1));
  const maxRatio = (rs: RowResult[]) => (rs.length > 0 ? Math.max(...rs.map((r) => r.ratio ?? Infinity)) : null);
  const gain = (ratio: number, traceIds: readonly string[]) => {
    const editor = equal.filter((e) => e.ratio === ratio && traceIds.includes(e.trace));
    if (editor.length === 0) return null;
    const ma = editor.reduce((s, e) => s + e.moneyAware, 0);
    const fixed = editor.reduce((s, e) => s + e.fixed, 0);
    return fixed > 0 ? ma / fixed : ma > 0 ? Infinity : null;
  };
  const gainJson = (g: number | null) => (g === null ? null : Number.isFinite(g) ? round(g, 3) : 'inf');
  // Per answer, so that one answer's over-prediction does not cancel another's under-prediction.
  const predicted = all.filter((r) => r.stats.billing);
  const absErrorPct =
    predicted.length > 0
      ? (predicted.reduce((s, r) => s + Math.abs((r.stats.billing?.predictedUsd ?? 0) - (r.stats.billing?.reportedUsd ?? 0)), 0) /
          predicted.reduce((s, r) => s + (r.stats.billing?.reportedUsd ?? 0), 0)) *
        100
      : null;
  const worstBilling = billings
    .map((b) => ({ id: b.id, ...predictionOf(all.filter((r) => r.billing === b.id)) }))
    .filter((p) => p.errorPct !== null)
    .sort((a, b) => (b.errorPct ?? 0) - (a.errorPct ?? 0))[0];
  const fixedRows = all.filter((r) => r.policy === 'fixed');
  const maRatio = maxRatio(headline);
  const ma10Ratio = maxRatio(neverMore);
  const coverageGain = gain(HEADLINE_RATIO, EDITOR_TRACES);
  const coverageGain10 = gain(1, EDITOR_TRACES);
  /** What the LLM alone is billed for a row's trace on the same server (llmAloneBilled). */
  const measuredLlmOnlyUsd = (r: RowResult): number | undefined => {
    const pair = pairs.find((p) => p.trace.id === r.trace && p.billing === r.billing);
    return pair && llmAloneBilled(pair);
  };
  /** The highest cost (default: the engine's) over what the LLM alone is billed (llmAloneBilled). */
  const maxVsMeasured = (rs: RowResult[], cost: (r: RowResult) => number = (r) => r.stats.costUsd ?? 0) => {
    const withRatio = rs.flatMap((r) => {
      const measuredUsd = measuredLlmOnlyUsd(r);
      return measuredUsd ? [{ trace: r.trace, billing: r.billing, ratio: cost(r) / measuredUsd }] : [];
    });
    return withRatio.sort((a, b) => b.ratio - a.ratio)[0] ?? null;
  };
  const vsMeasuredJson = (worst: ReturnType<typeof maxVsMeasured>) => (worst ? { ...worst, ratio: round(worst.ratio) } : null);
  const maVsMeasured = maxVsMeasured(headline);
  const ma10VsMeasured = maxVsMeasured(neverMore);
  /** A ratio goal judged on both its estimate (what the engine holds) and the bill against the LLM alone's. */
  const withinRatio = (estimate: number | null, billed: ReturnType<typeof maxVsMeasured>, ratio: number) =>
    estimate === null ? null : Math.max(estimate, billed?.ratio ?? 0) <= ratio;
  /** What money-aware at `ratio` did on the traces: calls made, and (trace, billing) pairs where it spent anything. */
  const spendOf = (ratio: number, traceIds: readonly string[]) => {
    const rs = all.filter((r) => r.policy === maId(ratio) && traceIds.includes(r.trace));
    return { calls: rs.reduce((s, r) => s + r.stats.calls, 0), pairsWithSpend: rs.filter((r) => (r.stats.costUsd ?? 0) > 0).length, pairs: rs.length };
  };
  const headlineSpend = {
    editor_with_warm_chat: spendOf(HEADLINE_RATIO, EDITOR_AND_WARM_CHAT),
    all: spendOf(
      HEADLINE_RATIO,
      traces.map((t) => t.id),
    ),
  };
  const perCallJson = (e: PerCallError<CallAt> | null) =>
    e && {
      calls: e.calls,
      p50_pct: round(e.p50Pct, 3),
      p90_pct: round(e.p90Pct, 3),
      max_pct: round(e.max.pct, 3),
      under_worst_pct: round(e.underWorst.pct, 3),
      over_5pct: e.over5Pct,
    };
  /**
   * The LLM-alone estimate (llmOnlyCostUsd of the done event: what every saving shown is
   * measured against) over what the LLM alone is billed on the same server (llmAloneBilled), signed
   * (+ = the estimate is high, so a saving shown is larger than the real one), for every
   * complete answer of a policy that uses the SLM.
   */
  const estimateErrors = all.flatMap((r) => {
    if (r.policy === 'llm-only' || !(r.exact === 'yes' || r.exact === 'spaces') || r.stats.llmOnlyCostUsd == null) return [];
    const measuredUsd = measuredLlmOnlyUsd(r);
    return measuredUsd
      ? [{ trace: r.trace, billing: r.billing, policy: r.policy, calls: r.stats.calls, pct: (r.stats.llmOnlyCostUsd / measuredUsd - 1) * 100 }]
      : [];
  });
  const estimateJson = (es: typeof estimateErrors) => {
    if (es.length === 0) return null;
    const over = [...es].sort((a, b) => b.pct - a.pct)[0];
    const under = [...es].sort((a, b) => a.pct - b.pct)[0];
    const at = (e: typeof over) => ({ trace: e.trace, billing: e.billing, policy: e.policy, error_pct: round(e.pct, 2) });
    return {
      answers: es.length,
      mean_abs_pct: round(es.reduce((s, e) => s + Math.abs(e.pct), 0) / es.length, 2),
      worst_over: at(over),
      worst_under: at(under),
    };
  };
  /** (trace, billing) pairs of the editor-shaped traces where money-aware spent something: what a gain rests on. */
  const pairsWithSpend = (ratio: number) => equal.filter((e) => e.ratio === ratio && EDITOR_TRACES.includes(e.trace) && e.usd > 0).length;
  const nothingSpent = (ratio: number) =>
    `money-aware at ${ratioLabel(ratio)} made no LLM call on the editor-shaped traces (spent $0 there): nothing to compare at equal money`;
  const predictionPct = prediction.errorPct;
  const json = {
    money_aware_max_ratio: maRatio === null ? null : round(maRatio),
    money_aware_05_calls: Object.fromEntries(Object.entries(headlineSpend).map(([k, v]) => [k, v.calls])),
    money_aware_05_pairs_with_spend: Object.fromEntries(Object.entries(headlineSpend).map(([k, v]) => [k, v.pairsWithSpend])),
    money_aware_05_pairs: Object.fromEntries(Object.entries(headlineSpend).map(([k, v]) => [k, v.pairs])),
    money_aware_03_max_ratio: round(maxRatio(all.filter((r) => r.policy === maId(0.3))) ?? NaN),
    money_aware_10_max_ratio: ma10Ratio === null ? null : round(ma10Ratio),
    coverage_gain_at_equal_money: gainJson(coverageGain),
    ...(coverageGain === null ? { coverage_gain_note: nothingSpent(HEADLINE_RATIO) } : {}),
    coverage_gain_at_equal_money_03: gainJson(gain(0.3, EDITOR_TRACES)),
    ...(gain(0.3, EDITOR_TRACES) === null ? { coverage_gain_03_note: nothingSpent(0.3) } : {}),
    coverage_gain_at_equal_money_10: gainJson(coverageGain10),
    ...(coverageGain10 === null ? { coverage_gain_10_note: nothingSpent(1) } : {}),
    coverage_gain_pairs_with_spend: Object.fromEntries(RATIOS.map((r) => [ratioLabel(r), pairsWithSpend(r)])),
    coverage_gain_pairs: EDITOR_TRACES.length * billings.length,
    coverage_gain_at_equal_money_with_warm_chat: gainJson(gain(HEADLINE_RATIO, EDITOR_AND_WARM_CHAT)),
    equal_money_method: `fixed spans' low-confidence positions at money-aware's costUsd: the better of a run with maxCostUsd = that cost and linear interpolation over fixed spans at LLM-share caps 1, ${CURVE_SHARES.join(', ')}; summed over the editor-shaped traces (${EDITOR_TRACES.join(', ')}) and every billing model; null when money-aware spent nothing there`,
    money_aware_editor_usd: round(
      headline.filter((r) => EDITOR_TRACES.includes(r.trace)).reduce((s, r) => s + (r.stats.costUsd ?? 0), 0),
      6,
    ),
    money_aware_10_editor_usd: round(
      neverMore.filter((r) => EDITOR_TRACES.includes(r.trace)).reduce((s, r) => s + (r.stats.costUsd ?? 0), 0),
      6,
    ),
    money_aware_max_vs_measured: vsMeasuredJson(maVsMeasured),
    llm_only_estimate_error: estimateJson(estimateErrors),
    llm_only_estimate_error_with_calls: estimateJson(estimateErrors.filter((e) => e.calls > 0)),
    money_aware_10_max_vs_measured: vsMeasuredJson(ma10VsMeasured),
    one_cold_call_vs_llm_only: coldShares,
    prediction_error_pct: predictionPct === null ? null : round(predictionPct, 3),
    prediction_error_p50_pct: perCall && round(perCall.p50Pct, 3),
    prediction_error_p90_pct: perCall && round(perCall.p90Pct, 3),
    prediction_error_max_pct: perCall && round(perCall.max.pct, 3),
    prediction_error_max_at: perCall?.max.at ?? null,
    prediction_under_worst_pct: perCall && round(perCall.underWorst.pct, 3),
    prediction_calls_over_5pct: perCall?.over5Pct ?? null,
    prediction_per_call_within_default_call_ceiling: perCallWithinCeiling && { call_ceiling: DEFAULT_MAX_LLM_CALLS, ...perCallJson(perCallWithinCeiling) },
    prediction_abs_error_pct: absErrorPct === null ? null : round(absErrorPct, 3),
    prediction_worst_billing: worstBilling ? { billing: worstBilling.id, error_pct: round(worstBilling.errorPct ?? 0, 3) } : null,
    prediction_calls: prediction.calls,
    prediction_error_first_call_pct: firstPrediction.errorPct === null ? null : round(firstPrediction.errorPct, 3),
    prediction_error_first_call_cold_pct: firstCold.errorPct === null ? null : round(firstCold.errorPct, 3),
    prediction_first_call_worst_under: firstWorstUnder
      ? { trace: firstWorstUnder.trace, billing: firstWorstUnder.billing, error_pct: round(firstError(firstWorstUnder), 3) }
      : null,
    prediction_first_call_worst: firstWorst ? { trace: firstWorst.trace, billing: firstWorst.billing, error_pct: round(firstError(firstWorst), 3) } : null,
    prediction_first_calls: firstCalls.length,
    prediction_error_first_call_counted_pct: firstCounted.errorPct === null ? null : round(firstCounted.errorPct, 3),
    prediction_error_first_call_uncounted_pct: firstUncounted.errorPct === null ? null : round(firstUncounted.errorPct, 3),
    first_call_counted_billing: countedBillings,
    token_ratios: Object.fromEntries(
      runs.map((r) => [r.warmup.billing, { input: round(r.ratios.input), output: round(r.ratios.output), calls: r.ratios.calls }]),
    ),
    uncalibrated_rows: uncalibrated.length,
    fixed_max_ratio: round(maxRatio(fixedRows) ?? NaN),
    fixed_min_ratio: round(Math.min(...fixedRows.map((r) => r.ratio ?? Infinity))),
    fixed_coverage: round(
      fixedRows.reduce((s, r) => s + r.covered, 0) /
        Math.max(
          1,
          fixedRows.reduce((s, r) => s + r.lowTotal, 0),
        ),
    ),
    money_aware_coverage: round(
      headline.reduce((s, r) => s + r.covered, 0) /
        Math.max(
          1,
          headline.reduce((s, r) => s + r.lowTotal, 0),
        ),
    ),
    money_aware_10_coverage: round(
      neverMore.reduce((s, r) => s + r.covered, 0) /
        Math.max(
          1,
          neverMore.reduce((s, r) => s + r.lowTotal, 0),
        ),
    ),
    agree_stop: Object.fromEntries(
      RATIOS.map((ratio) => {
        const a = agreeOf(ratio);
        const agreeRows = all.filter((r) => r.policy === agreeId(ratio));
        const estimate = maxRatio(agreeRows);
        return [
          ratioLabel(ratio),
          {
            tokens: AGREE_STOP,
            calls_ended_early: a.stopped,
            server_usd_ratio: a.plain.server > 0 ? round(a.agree.server / a.plain.server) : null,
            coverage_ratio: a.plain.coverage > 0 ? round(a.agree.coverage / a.plain.coverage) : null,
            max_ratio: estimate === null ? null : round(estimate),
            max_vs_measured: vsMeasuredJson(maxVsMeasured(agreeRows)),
            // The engine counts a call it ended early as its whole span; the server bills what it wrote.
            max_server_bill_vs_measured: vsMeasuredJson(maxVsMeasured(agreeRows, (r) => r.serverUsd)),
          },
        ];
      }),
    ),
    goals: {
      money_aware_within_ratio: withinRatio(maRatio, maVsMeasured, HEADLINE_RATIO),
      money_aware_10_within_ratio: withinRatio(ma10Ratio, ma10VsMeasured, 1),
      coverage_gain_2x: coverageGain === null ? null : coverageGain >= 2,
      prediction_pooled_within_5pct: predictionPct === null ? null : predictionPct <= 5,
      prediction_per_call_p90_within_5pct: perCall === null ? null : perCall.p90Pct <= 5,
    },
    answers: all.length,
    traces: traces.map((t) => t.id),
    billing: billings.map((b) => b.id),
    elapsed_s: round((performance.now() - started) / 1000, 1),
  };
  console.log(
    'The LLM-alone estimate (what every saving shown is measured against) over what the LLM alone is billed on the same server ("vs measured"\'s divisor), signed (+ = the estimate is high: a saving shown larger than the real one), over the complete answers of every policy that uses the SLM. ' +
      "Once a call of the answer reported, the estimate counts with the answer's own ratios (money.ts, estimateRatios); answers whose calls all ended early (agree-stop) or made none keep the pair's. " +
      "breakpoints: Relay's llm-only answer pays a cache write on its prompt (1.25x; on chat-3k-warm on the new turn's part, the previous turn's prompt read by Anthropic's lookback), which neither the estimate nor the LLM alone billed counts.",
  );
  console.log(
    traceByBillingTable((trace, billing) => {
      const es = estimateErrors.filter((e) => e.trace === trace && e.billing === billing);
      if (es.length === 0) return '-';
      const pcts = es.map((e) => e.pct);
      return `${signedPct(pcts.reduce((sum, x) => sum + x, 0) / pcts.length)} (${signedPct(Math.min(...pcts))} .. ${signedPct(Math.max(...pcts))})`;
    }),
  );
  console.log('');
  console.log(JSON.stringify(json));
}

main().catch((error) => {
  console.error(`bench:cost failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
