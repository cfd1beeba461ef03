/**
 * Beyond the paper: the relay that minimises money, not the LLM's share of tokens. The SLM
 * writes behind the same confidence gate as confidence mode; at a token it is unsure of,
 * the policy prices the call first (the engine's MoneyView: the re-sent context under the
 * provider's caching rules, plus the span) and decides whether and for how long to call:
 *
 * - Every call pays for the whole context again, so a call should be long enough that
 *   its output is worth that input: the span is the input's cost in output tokens,
 *   between `spanTokens` and `maxSpanTokens`. On a long context that means few, long
 *   spans, which also take in the unsure tokens that follow close behind (they come in
 *   clusters) in the same call.
 * - Where the answer can afford only one such call (under two), and the allowance would not
 *   pay for a second within REQUOTE_TOKENS more tokens of the answer, the call is kept for a
 *   cluster: an unsure token with no other within CLUSTER_GAP_TOKENS before it is written by
 *   the SLM (gate open for that one token), and the call goes to the next unsure token close
 *   behind, whose span then takes in the rest of the cluster. Money is scarce exactly where
 *   the context is long, and one call there should cover several unsure tokens, not one. On
 *   a short context the allowance regrows to a call within a few tokens: nothing is scarce,
 *   and waiting for a cluster that short answers seldom have left every unsure token to the SLM.
 * - The span is shortened to what the answer may still spend (the ratio and USD ceilings,
 *   money.ts); when even the shortest span does not fit, the engine declines the call
 *   (a 'call-declined' event says what it would have cost) and the gate stays closed
 *   until the allowance, which grows with every token the SLM writes, covers such a call
 *   (at most REQUOTE_TOKENS: the price of a call changes as the answer goes on).
 * - Where asked (confidence.agreeStopTokens, off by default), the SLM reads the span as it
 *   streams and the call ends once it agrees with that many of the LLM's tokens in a row
 *   (agreementWatch.ts): the span's unneeded output is not generated.
 * Without a known price it behaves as confidence mode with its fixed spans. The cap on the
 * LLM's share of tokens (confidence.maxLlmShare) does not apply: money is the ceiling here.
 */
import type { ConfidenceOptions } from './confidence';
import { answerEndedBy, type Next, type Outcome, type RelayPolicy, type RelayState } from './policy';

/** After a declined call, the most tokens the SLM writes before a call is priced again. */
export const REQUOTE_TOKENS = 32;
/** An unsure token this close (tokens of the answer) behind the previous one is in a cluster with it. */
export const CLUSTER_GAP_TOKENS = 8;

export class MoneyAwarePolicy implements RelayPolicy {
  readonly usesSlm = true;
  readonly usesLlm = true;
  /** The shortest and the longest span of one call. */
  private readonly minSpan: number;
  private readonly maxSpan: number;
  /** Tokens the SLM writes ungated after a declined call, until a call can fit again. */
  private closedFor = 0;
  /** Where (tokens of the answer) the SLM was last unsure. */
  private lastUnsureAt: number | undefined;

  constructor(private readonly c: ConfidenceOptions) {
    this.maxSpan = Math.max(1, c.maxSpanTokens);
    this.minSpan = Math.min(Math.max(1, c.spanTokens), this.maxSpan);
  }

  next(outcome: Outcome, state: RelayState): Next {
    if (outcome.kind === 'slm') {
      const ended = answerEndedBy(outcome.stopReason);
      if (ended) return ended;
      if (outcome.stopReason === 'low_confidence') {
        const inCluster = this.lastUnsureAt !== undefined && state.used - this.lastUnsureAt <= CLUSTER_GAP_TOKENS;
        this.lastUnsureAt = state.used;
        const span = Math.min(this.spanFor(state), state.left);
        // The SLM writes this token itself: the one call the answer can afford waits for a cluster.
        if (!inCluster && this.onlyOneCallFits(state, span)) return { do: 'slm', maxTokens: 1, stopAtCommand: false };
        const agree = this.c.agreeStopTokens ?? 0;
        const untilSlmAgrees = agree > 0 && this.c.threshold > 0 ? { tokens: agree, minTop1: this.c.threshold } : undefined;
        return { do: 'llm', maxTokens: span, context: { commands: 'remove' }, untilSlmAgrees };
      }
    }
    if (outcome.kind === 'llm' && outcome.finish === 'stop') return { do: 'end', reason: 'llm_eos' };
    if (outcome.kind === 'declined') this.closedFor = this.tokensUntilAffordable(state, outcome.predictedUsd, outcome.allowanceUsd);
    return this.slmTurn(state);
  }

  /** How many tokens the LLM should write now. */
  spanFor(state: RelayState): number {
    const money = state.money;
    if (!money) return this.minSpan;
    const inputUsd = money.quoteUsd(0);
    const perToken = Math.max(money.quoteUsd(1) - inputUsd, Number.MIN_VALUE);
    // As many output tokens as the re-sent input is worth, within the bounds...
    let span = Math.round(inputUsd / perToken);
    span = Math.min(this.maxSpan, Math.max(this.minSpan, span));
    // ...and within what the answer may still spend, which each token of the span raises by the
    // ratio's share of its price (the shortest span is asked for anyway: the engine declines it).
    // (Waiting for a longer affordable span was measured with bench:cost: no better at equal money.)
    const allowance = money.allowanceForUsd(0);
    const net = perToken - (money.allowanceForUsd(1) - allowance);
    if (net <= 0) return span;
    const affordable = Math.floor((allowance - inputUsd) / net);
    return Math.max(this.minSpan, Math.min(span, affordable));
  }

  /**
   * A call of `span` fits now, a second one would not, and the allowance would not pay for it
   * within REQUOTE_TOKENS more tokens either. (One that does not fit at all goes to the engine,
   * which declines it and says so.)
   */
  private onlyOneCallFits(state: RelayState, span: number): boolean {
    const money = state.money;
    if (!money) return false;
    const quote = money.quoteUsd(span);
    const allowance = money.allowanceForUsd(span);
    if (quote > allowance || 2 * quote <= allowance) return false;
    const growth = money.allowancePerTokenUsd;
    return growth <= 0 || (2 * quote - allowance) / growth > REQUOTE_TOKENS;
  }

  /** Tokens the SLM must write before the allowance covers a call it could not afford now. */
  private tokensUntilAffordable(state: RelayState, predictedUsd: number, allowanceUsd: number): number {
    const growth = state.money?.allowancePerTokenUsd ?? 0;
    // No growth (only a USD ceiling, which the answer's length does not raise): no more calls.
    if (growth <= 0) return Infinity;
    // Asked again at the latest after REQUOTE_TOKENS: the quote itself changes (calibration, the cache).
    return Math.min(REQUOTE_TOKENS, Math.max(1, Math.ceil((predictedUsd - allowanceUsd) / growth)));
  }

  private slmTurn(state: RelayState): Next {
    if (this.closedFor > 0) {
      const maxTokens = Number.isFinite(this.closedFor) ? Math.min(this.closedFor, state.left) : state.left;
      this.closedFor = Number.isFinite(this.closedFor) ? this.closedFor - maxTokens : Infinity;
      return { do: 'slm', maxTokens: Math.max(1, maxTokens), stopAtCommand: false };
    }
    const gate = this.c.threshold > 0 ? { minTop1: this.c.threshold } : undefined;
    return { do: 'slm', maxTokens: state.left, stopAtCommand: false, gate };
  }
}
