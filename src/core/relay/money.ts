/**
 * The money of one answer, kept by the engine: what the calls cost so far, what the next
 * call would cost before it is made, what the LLM alone would have cost, and how much the
 * answer may still spend. Beyond the paper, which counts only generated tokens.
 *
 * The engine counts tokens in the SLM's tokenizer; providers bill in their own. Both
 * ratios (TokenRatios) are learned from the calls whose usage the provider reported: input
 * (reported input tokens over the local count of what was sent) and output (reported
 * output tokens, hidden reasoning excluded, over the local count of the text the LLM
 * wrote). They belong to the pair of tokenizers, so an adapter keeps them across answers;
 * before the first report both are 1, except the input ratio where the provider counts
 * tokens for free: its count of a sample text teaches it first (tokenCalibration.ts).
 * Hidden reasoning is predicted as the average per reported call of this answer; before its
 * first report, of the pair's (kept with the ratios: a reasoning model reasons in every
 * answer). A price by time of day (ModelPrice.hours) quotes and books each call at the rate
 * of the ledger's clock.
 */
import { predictUsage, type CacheRule } from '../providers/billing';
import { costOf, priceAtTime, priceForInput, pricesBetween } from '../providers/pricing';
import type { ModelPrice, Usage } from '../providers/types';
import { MAX_BELIEVED_OUTPUT_TOKENS } from '../providers/usage';

/**
 * A quote is raised by this share (plus the billing model's error seen so far in this
 * answer) so that a ceiling holds when the provider bills a little more than predicted.
 */
export const QUOTE_MARGIN = 0.05;
/**
 * Before any call reported its usage the counts are the SLM's, raised by this share. Small:
 * the LLM-only estimate the quote is held against is counted the same way, so a ratio of
 * the two hardly depends on the tokenizers; a large margin only declines calls that fit.
 */
export const UNCALIBRATED_MARGIN = 0.1;
/**
 * A write is predicted where a request may reach the minimum cacheable length (CallShape.sentAtMost):
 * its part no report counted (the whole prompt before one did, else what it adds to the request it
 * extends) raised by this share. The token ratios are averages: on bench:cost a gap of answer text
 * between calls counted up to 10% over its answer's ratio, and a request a few tokens past the
 * minimum is written whole. Not more: a prompt predicted well under the minimum would be quoted a
 * write of all its input, declining calls that fit (25% declined money-aware's only call on a
 * 40-line explain).
 */
export const CACHE_MINIMUM_MARGIN = 0.1;
/**
 * The money ceiling raises a call's input over the learned token ratio by this share: the
 * ratio is an average, and one text's may lie above it.
 */
export const CEILING_RATIO_MARGIN = 0.25;

/** LLM tokens per SLM token, learned from reported usage; shared by the answers of one SLM and LLM pair. */
export class TokenRatios {
  private reportedIn = 0;
  private localIn = 0;
  private reportedOut = 0;
  private localOut = 0;
  /** Hidden reasoning tokens the calls that taught these ratios reported, and how many calls that was. */
  private reasoning = 0;
  private reasoningCalls = 0;
  /** Calls whose usage taught these ratios. */
  calls = 0;
  /** Token counts of a sample text by the provider's counting endpoint (no call) that taught the input ratio. */
  counted = 0;
  private countTry: Promise<void> | undefined;
  private countTries = 0;
  /** When a count that failed in passing (calibrate's `retryable`) may be asked again; undefined: not again. */
  private countAgainAt: number | undefined;

  get input(): number {
    return this.localIn > 0 ? this.reportedIn / this.localIn : 1;
  }

  get output(): number {
    return this.localOut > 0 ? this.reportedOut / this.localOut : 1;
  }

  get known(): boolean {
    return this.calls + this.counted > 0;
  }

  /** Whether a call's report taught the output ratio (a token count teaches only the input's). */
  get outputKnown(): boolean {
    return this.localOut > 0;
  }

  /** Hidden reasoning tokens per reported call of this pair (0 before any). */
  get reasoningPerCall(): number {
    return this.reasoningCalls > 0 ? this.reasoning / this.reasoningCalls : 0;
  }

  /** Told after each call that taught these ratios (a store that keeps them saves then). */
  onLearned?: () => void;

  /**
   * The least the provider counted at the end of an instructed request that the next request
   * did not repeat (the instruction turn, and the answer's last token, which the text after it
   * may tokenize anew), as a prefix cache's reports bound it (MoneyLedger.record); 0 before one
   * does. The instruction counted at the input ratio reads short where it tokenizes denser than
   * the prompts that ratio averages, and a cached prefix predicted a few tokens long rounds up a
   * whole 128-token step. Of the pair's tokenizer and chat template; not kept across sessions
   * (a few calls teach it again).
   */
  get instructedTailAtLeast(): number {
    return this.instructedTail;
  }

  private instructedTail = 0;

  learnInstructedTail(tokens: number): void {
    if (Number.isFinite(tokens) && tokens > this.instructedTail) this.instructedTail = tokens;
  }

  /** Lowers what was learned to `tokens` at most: a cache hit showed no more was left unrepeated (a shorter prefix served before, another machine's cache). */
  capInstructedTail(tokens: number): void {
    if (Number.isFinite(tokens) && tokens >= 0 && tokens < this.instructedTail) this.instructedTail = tokens;
  }

  /**
   * Learns from a call's reported usage. A ratio no two tokenizers give is not learned (what a
   * server reports is untrusted, and these ratios outlive the answer: one absurd report would
   * price every later call and inflate every later LLM-alone estimate).
   */
  add(call: { localInput: number; reportedInput: number; localOutput: number; reportedOutput: number; reasoning?: number }): void {
    if (!(call.localInput > 0 && call.reportedInput > 0) || !plausibleRatio(call.reportedInput / call.localInput)) return;
    this.calls += 1;
    this.reportedIn += call.reportedInput;
    this.localIn += call.localInput;
    if (call.reasoning !== undefined && Number.isFinite(call.reasoning) && call.reasoning >= 0) {
      this.reasoning += call.reasoning;
      this.reasoningCalls += 1;
    }
    if (call.localOutput > 0 && call.reportedOutput > 0 && plausibleRatio(call.reportedOutput / call.localOutput)) {
      this.reportedOut += call.reportedOutput;
      this.localOut += call.localOutput;
    }
    this.onLearned?.();
  }

  /**
   * The input ratio from the provider's own count of a sample text (the local count of the
   * same text beside it), while no call has reported usage. False when not taken: already
   * known, or a ratio no two tokenizers give (what a server says is untrusted).
   */
  addCount(sample: { localInput: number; reportedInput: number }): boolean {
    if (this.known || !(sample.localInput > 0 && sample.reportedInput > 0) || !plausibleRatio(sample.reportedInput / sample.localInput)) return false;
    this.counted += 1;
    this.reportedIn += sample.reportedInput;
    this.localIn += sample.localInput;
    this.onLearned?.();
    return true;
  }

  /**
   * Teaches the input ratio by `count` (addCount's sample) unless a call or a count already
   * did. One try, shared by the answers that start meanwhile; a service without a counting
   * endpoint, or one whose answer was not a count, is not asked again in this process. A
   * count that failed in a way that may pass (`retryable`: no network yet, a busy server) is
   * asked again by an answer that starts COUNT_RETRY_MS later, up to COUNT_TRIES tries.
   */
  calibrate(
    count: () => Promise<{ localInput: number; reportedInput: number }>,
    options: { retryable?: (error: unknown) => boolean; now?: () => number } = {},
  ): Promise<void> {
    if (this.known) return Promise.resolve();
    const now = options.now ?? Date.now;
    if (this.countAgainAt !== undefined && now() >= this.countAgainAt) this.countTry = undefined;
    this.countTry ??= this.tryCount(count, options.retryable ?? (() => false), now);
    return this.countTry;
  }

  private tryCount(
    count: () => Promise<{ localInput: number; reportedInput: number }>,
    retryable: (error: unknown) => boolean,
    now: () => number,
  ): Promise<void> {
    this.countTries += 1;
    this.countAgainAt = undefined;
    return count().then(
      (sample) => void this.addCount(sample),
      (error: unknown) => {
        if (this.countTries < COUNT_TRIES && retryable(error)) this.countAgainAt = now() + COUNT_RETRY_MS;
      },
    );
  }

  /** The sums behind the ratios, as plain numbers (kept across sessions by TokenRatioStore). */
  snapshot(): TokenRatiosSnapshot {
    return {
      calls: this.calls,
      counted: this.counted,
      reportedIn: this.reportedIn,
      localIn: this.localIn,
      reportedOut: this.reportedOut,
      localOut: this.localOut,
      reasoning: this.reasoning,
      reasoningCalls: this.reasoningCalls,
    };
  }

  /**
   * Ratios from a snapshot; undefined for anything that is not one (stored data is read
   * back, not trusted). The sums are scaled to at most RESTORED_CALLS calls' weight, so
   * the calls of this session soon outweigh old ones (a provider may change its tokenizer
   * under the same model name).
   */
  static restore(value: unknown): TokenRatios | undefined {
    if (typeof value !== 'object' || value === null) return undefined;
    const v = value as Record<string, unknown>;
    // Snapshots from before token counts have no `counted`; from before reasoning was kept, no `reasoning`.
    const sums = [v.calls, v.counted ?? 0, v.reportedIn, v.localIn, v.reportedOut, v.localOut, v.reasoning ?? 0, v.reasoningCalls ?? 0];
    if (!sums.every((x) => typeof x === 'number' && Number.isFinite(x) && x >= 0)) return undefined;
    const [calls, counted, reportedIn, localIn, reportedOut, localOut, reasoning, reasoningCalls] = sums as number[];
    if (!(calls + counted >= 1 && reportedIn > 0 && localIn > 0)) return undefined;
    // Reasoning comes from calls only, and no call reasons past what one call can be believed to
    // write: a reasoning part that breaks this is dropped, the ratios kept.
    const reasoningKept = reasoningCalls <= calls && reasoning <= reasoningCalls * MAX_BELIEVED_OUTPUT_TOKENS;
    const input = reportedIn / localIn;
    const output = localOut > 0 ? reportedOut / localOut : 1;
    if (!(plausibleRatio(input) && plausibleRatio(output))) return undefined;
    const scale = Math.min(1, RESTORED_CALLS / (calls + counted));
    const ratios = new TokenRatios();
    ratios.calls = calls > 0 ? Math.max(1, Math.round(calls * scale)) : 0;
    ratios.counted = calls > 0 ? 0 : Math.max(1, Math.round(counted * scale));
    ratios.reportedIn = reportedIn * scale;
    ratios.localIn = localIn * scale;
    ratios.reportedOut = reportedOut * scale;
    ratios.localOut = localOut * scale;
    if (reasoningKept && reasoningCalls > 0) {
      // Scaled as the calls are (rounded), never to more calls than those: the average per call kept.
      ratios.reasoningCalls = Math.min(ratios.calls, reasoningCalls * scale);
      ratios.reasoning = (reasoning / reasoningCalls) * ratios.reasoningCalls;
    }
    return ratios;
  }
}

/** The most token counts of one pair in one process (TokenRatios.calibrate). */
export const COUNT_TRIES = 3;
/** The wait after a count that failed in passing before an answer asks again. */
export const COUNT_RETRY_MS = 60_000;

/**
 * The most output tokens a call that wrote `localOutput` tokens of text (local count) is taken
 * to have been counted by the LLM's tokenizer, not billed for reasoning it did not report:
 * twice that count, or twice the same call's input ratio where that is higher, and 2 tokens
 * for rounding. Two tokenizers rarely differ by more on the same text, while reasoning billed
 * unsaid is many times a span. Not from the input ratio alone: a prompt can tokenize far
 * denser than its answer (bench:cost's problem trace: 0.35 in, 0.73 out).
 */
function outputWithinInputRatio(localOutput: number, inputRatio: number): number {
  return Number.isFinite(inputRatio) ? 2 * Math.max(1, inputRatio) * localOutput + 2 : 0;
}

/** A ratio far outside what any two tokenizers give is not a measurement. */
function plausibleRatio(ratio: number): boolean {
  return ratio > 0.01 && ratio < 100;
}

export interface TokenRatiosSnapshot {
  calls: number;
  counted: number;
  reportedIn: number;
  localIn: number;
  reportedOut: number;
  localOut: number;
  /** Hidden reasoning tokens reported, over `reasoningCalls` calls (absent in snapshots from before they were kept). */
  reasoning: number;
  reasoningCalls: number;
}

/**
 * One reported call of an answer, for its own token ratios: the input it was billed for, and
 * the local counts of its prompt side (the prompt and an instruction turn) and of the answer
 * so far it sent.
 */
interface OwnTextReport {
  reported: number;
  promptSide: number;
  answer: number;
}

/** The least answer (local tokens) between two reports of one answer that its own output ratio is read from. */
export const OWN_RATIO_MIN_TOKENS = 64;

/** The weight, in calls, of ratios restored from an earlier session. */
export const RESTORED_CALLS = 20;

/**
 * Leading prompt tokens (local count) a provider's cache likely holds for an answer
 * (recentPrompts.ts WarmPrefix, counted): for the LLM alone; for the relay's first call under
 * a prefix cache; and under Anthropic's breakpoints (absent: none).
 */
export interface WarmTokens {
  llmOnly: number;
  relay: number;
  relayBreakpoint?: number;
  /**
   * An earlier request the prompt repeats whole, whose input the provider reported: its local
   * count and the provider's. Under a prefix cache the first call's cached prefix is then counted
   * in the provider's own tokens up to there, not with a ratio learned on other texts.
   */
  relayReported?: { local: number; providerTokens: number };
}

export interface MoneyCeilings {
  /** The most an answer may cost relative to the LLM-only estimate (e.g. 0.5); undefined: no such ceiling. */
  maxCostRatio?: number;
  /** The most an answer may cost, in USD; undefined: no such ceiling. */
  maxCostUsd?: number;
}

/** What a policy may read of the answer's money (USD; token counts in the SLM's tokenizer). */
export interface MoneyView {
  readonly spentUsd: number;
  /** What the answer may still spend on calls now, under every ceiling (can be negative). */
  readonly allowanceUsd: number;
  /**
   * What a call that writes up to `tokens` tokens may spend: the allowance, plus the ratio's
   * share of those tokens, which the LLM alone would have written too (they join the answer,
   * and so its LLM-only estimate). Safe when the call writes fewer: a token not written saves
   * its whole price from the quote but only the ratio's share from this.
   */
  allowanceForUsd(tokens: number): number;
  /** How much the allowance grows per token the SLM writes (the LLM-only estimate grows with the answer; not under a binding USD ceiling). */
  readonly allowancePerTokenUsd: number;
  /** The output price of one token (SLM count) written by the LLM. */
  readonly outputUsdPerToken: number;
  /** Predicted cost of a call now with max_tokens `tokens` (the provider's count: what it may bill), margin included. */
  quoteUsd(tokens: number): number;
}

/** How the LLM-only estimate was computed, for the note beside the figure. */
export type LlmOnlyBasis =
  | { kind: 'slm-tokenizer' }
  /** `calls` reported usage; with none, the input ratio is from the provider's count of a sample text (output counted locally). */
  | { kind: 'calibrated'; calls: number; counted: number; outputRatio: number; inputRatio: number }
  /**
   * The provider's count of this answer's own text (MoneyLedger.estimateRatios); `split`: from
   * two reports, else the pair's ratios (from `pairCalls` reported calls and `pairCounted`
   * token counts) moved to one.
   */
  | { kind: 'own-text'; inputRatio: number; outputRatio: number; split: boolean; pairCalls: number; pairCounted: number }
  /** The LLM wrote the whole answer: its cost is the answer's own (`estimated`: counted here, the provider reported no usage; `outputCapped`: its report was capped, usage.ts). */
  | { kind: 'reported'; estimated: boolean; outputCapped?: boolean };

/** Margins and tallies of the billing model's predictions against the provider's reports. */
class PredictionTally {
  predictedUsd = 0;
  reportedUsd = 0;
  calls = 0;

  add(predicted: number, reported: number): void {
    this.predictedUsd += predicted;
    this.reportedUsd += reported;
    this.calls += 1;
  }

  get error(): number {
    return this.reportedUsd > 0 ? Math.abs(this.predictedUsd - this.reportedUsd) / this.reportedUsd : 0;
  }
}

/** Of `prices`, the one that bills `usage` most (the first where several bill the same). */
function dearestPrice(prices: readonly ModelPrice[], usage: Usage): ModelPrice {
  let dearest = prices[0];
  for (const p of prices) if ((costOf(usage, p) ?? 0) > (costOf(usage, dearest) ?? 0)) dearest = p;
  return dearest;
}

/**
 * A request the next call extends, in the provider's count: what it sent (`reported`: all of it
 * by the provider's report of this answer's previous call, else partly predicted), the local
 * count it stood for, and how much of its end the next request does not repeat (an instructed
 * continuation ends with the instruction turn; the next request puts more answer there).
 */
interface ExtendedRequest {
  sent: number;
  local: number;
  tail: number;
  reported: boolean;
}

/** Tokens at the end of a request's answer that the text after it may tokenize anew (MoneyLedger.unrepeatedEnd). */
const RETOKENIZED_SEAM_TOKENS = 1;

export class MoneyLedger {
  private spent = 0;
  /** Hidden reasoning tokens this answer's reported calls were billed for, and how many reported. */
  private reasoning = 0;
  private reportedCalls = 0;
  /** The previous call of this answer's request. */
  private previous: ExtendedRequest | undefined;
  /** Every reported call: the billing model's prediction against the report (shown in stats and relay eval). */
  private readonly all = new PredictionTally();
  /** Only calls predicted with known token ratios: their error widens the margin of later quotes. */
  private readonly calibrated = new PredictionTally();

  constructor(
    private readonly price: ModelPrice,
    private readonly rule: CacheRule,
    private readonly ceilings: MoneyCeilings,
    /** The pair's token ratios (the engine has them taught by a token count before the first call). */
    readonly ratios: TokenRatios = new TokenRatios(),
    /**
     * Leading prompt tokens (local count) the provider's cache likely holds: `llmOnly`, what
     * the LLM alone would have sent a short while before (the previous chat turn, a Retry),
     * read at the cached price in the LLM-alone estimate; `relay`, what this conversation's
     * calls sent before, the first call's cached prefix.
     */
    warm: WarmTokens = { llmOnly: 0, relay: 0 },
    /** The time the prices are read at (ms since the epoch; tests set the hour). */
    private readonly now: () => number = Date.now,
  ) {
    this.llmOnlyWarm = warm.llmOnly;
    this.startedAt = now();
    // A prefix cache serves any earlier request's prefix; breakpoints only what an earlier request
    // wrote at one of its breakpoints and this one finds at a block boundary: its conversation.
    this.warmRelay = rule.kind === 'breakpoints' ? (warm.relayBreakpoint ?? 0) : warm.relay;
    const reported = warm.relayReported;
    this.warmReported = rule.kind !== 'breakpoints' && reported && reported.local <= this.warmRelay ? reported : undefined;
  }

  /** Leading prompt tokens (local count) an earlier request of the conversation left in the cache for the first call. */
  private readonly warmRelay: number;
  /** The part of it an earlier request the provider reported on sent whole (WarmTokens.relayReported). */
  private readonly warmReported: { local: number; providerTokens: number } | undefined;

  /**
   * The request the next call extends: the previous call's, else the earlier request of the
   * conversation that warmed the cache, counted with the ratio known now (a token count may
   * teach it after the answer began).
   */
  private get extended(): ExtendedRequest | undefined {
    if (this.previous) return this.previous;
    if (this.warmRelay <= 0) return undefined;
    const reported = this.warmReported;
    const sent = reported ? reported.providerTokens + (this.warmRelay - reported.local) * this.inputRatio : this.warmRelay * this.inputRatio;
    return { sent, local: this.warmRelay, tail: 0, reported: false };
  }

  /** Prompt tokens (local count) the LLM-alone estimate reads from the cache (0: none). */
  readonly llmOnlyWarm: number;

  /**
   * This answer's first and latest reported calls: the input each was billed for, and the
   * local counts of what it sent (OwnTextReport). The LLM-alone estimate is of this very
   * text, so once a call has reported, it is counted with this answer's own ratios instead
   * of the pair's, which average other texts (estimateRatios).
   */
  private firstReport: OwnTextReport | undefined;
  private lastReport: OwnTextReport | undefined;

  /**
   * The ratios the LLM-alone estimate counts the prompt (input) and the answer (output)
   * with. Before a call of this answer reported: the pair's. Once two reports lie at least
   * OWN_RATIO_MIN_TOKENS of answer apart, the answer's from what the provider billed for
   * the text between them, and the prompt's from the first report less its answer. With
   * one: the pair's, moved to what that call was billed for. (On bench:cost the
   * pair's ratios read a maths answer 9% high and code explanations' answers 9% low, and
   * the prompts a few percent high: the pair's come from other texts.)
   */
  private get estimateRatios(): { input: number; output: number; split?: boolean } {
    const pair = { input: this.inputRatio, output: this.outputRatio };
    const first = this.firstReport;
    const last = this.lastReport;
    if (!first || !last) return pair;
    const between = last.answer - first.answer;
    if (between >= OWN_RATIO_MIN_TOKENS && last.promptSide === first.promptSide) {
      const output = (last.reported - first.reported) / between;
      const input = first.promptSide > 0 ? (first.reported - output * first.answer) / first.promptSide : NaN;
      if (plausibleRatio(output) && plausibleRatio(input)) return { input, output, split: true };
    }
    // One report, one equation for two ratios: its difference from the pair's prediction is
    // shared in proportion to each part's share of that prediction, squared (a least-squares
    // update with the same relative doubt in both ratios), so the prediction matches the report
    // and a part the call barely sent keeps the pair's ratio.
    const prompt = pair.input * last.promptSide;
    const answer = pair.output * last.answer;
    const miss = last.reported - (prompt + answer);
    const weight = prompt * prompt + answer * answer;
    const own = { input: pair.input * (1 + (miss * prompt) / weight), output: pair.output * (1 + (miss * answer) / weight) };
    return weight > 0 && plausibleRatio(own.input) && plausibleRatio(own.output) ? own : pair;
  }

  get spentUsd(): number {
    return this.spent;
  }

  /** The price in force now (pricing.priceAtTime): the rate of this hour where the price has hours. */
  private get priceNow(): ModelPrice {
    return priceAtTime(this.price, new Date(this.now()));
  }

  /** When the answer began (the ledger's clock): its LLM-alone estimate is priced over its whole span. */
  private readonly startedAt: number;

  private get inputRatio(): number {
    return this.ratios.input;
  }

  private get outputRatio(): number {
    return this.ratios.output;
  }

  /**
   * The input of a request that sends `localInput` tokens (local count), in the provider's count:
   * the request it extends, and what it adds at the ratio of that text. After a call of this
   * answer that is answer text (the answer's own ratio, estimateRatios: counted at the input
   * ratio, which the prompt dominates, a long gap between calls read up to 12% short on
   * bench:cost); after an earlier request of the conversation, the rest of the prompt.
   */
  private sentFor(localInput: number, margin = 0): number {
    const extended = this.extended;
    if (!extended) return localInput * this.inputRatio * (1 + margin);
    const ratio = this.previous ? this.estimateRatios.output : this.inputRatio;
    // The request extended is an estimate too where no report of it came (the earlier turn, an unreported call).
    const extendedSent = extended.reported ? extended.sent : extended.sent * (1 + margin);
    return Math.max(0, extendedSent + (localInput - extended.local) * ratio * (1 + margin));
  }

  /**
   * The provider's tokens at the end of `extended` that the next request does not repeat: its
   * instruction turn, at least what the cache's reports showed of it (TokenRatios.instructedTailAtLeast);
   * and under a prefix cache its last token, which the answer after it may join into another (a
   * byte-for-byte prefix is not a token prefix). Breakpoints need no such token: the answer is
   * split into blocks where calls ended, and a block is tokenized on its own.
   */
  private unrepeatedEnd(extended: ExtendedRequest): number {
    const seam = this.rule.kind === 'breakpoints' ? 0 : RETOKENIZED_SEAM_TOKENS;
    return extended.tail > 0 ? Math.max(extended.tail + seam, this.ratios.instructedTailAtLeast) : seam;
  }

  /** The usage the provider will report for a call sending `localInput` tokens and writing `outputTokens` of its own. */
  predict(localInput: number, providerOutputTokens: number): Usage {
    const extended = this.extended;
    const shared = extended ? Math.max(0, extended.sent - this.unrepeatedEnd(extended)) : 0;
    return predictUsage(this.rule, {
      sent: this.sentFor(localInput),
      sentAtMost: this.sentFor(localInput, CACHE_MINIMUM_MARGIN),
      previous: shared,
      output: providerOutputTokens,
    });
  }

  /**
   * Teaches the pair the least an instructed request ends with that the next does not repeat,
   * from what a prefix cache served of the previous request (reported): `cached` tokens in whole
   * steps, so the prefix shared was under `cached` + step. Only from a served prefix at most a
   * step under what the instruction as counted predicts (not the learned length, which would let
   * a short serving raise it step after step): a miss, an eviction, another machine's older
   * cache or a changed prompt says nothing of the tail. And any hit bounds it from above: a cache
   * never serves past the prefix shared, so a length learned from a shorter serving comes down.
   */
  private learnInstructedTail(localInput: number, cached: number): void {
    const rule = this.rule;
    const previous = this.previous;
    if (rule.kind !== 'automatic-prefix' || !previous?.reported || previous.tail <= 0 || localInput < previous.local) return;
    if (cached < rule.minTokens) return;
    const counted = previous.tail + RETOKENIZED_SEAM_TOKENS;
    this.ratios.capInstructedTail(Math.max(counted, previous.sent - cached));
    const asCounted = predictUsage(rule, { sent: this.sentFor(localInput), previous: Math.max(0, previous.sent - counted), output: 0 }).cachedInputTokens;
    if (cached < asCounted - rule.step) return;
    this.ratios.learnInstructedTail(previous.sent - (cached + rule.step - 1));
  }

  /**
   * The usage of a call the SLM ended early (its stream closed before the usage came): as
   * predicted from what was known before it (the cache, the token ratios, the reasoning seen
   * so far), with the output given in the provider's count (the engine gives the whole span
   * it priced: the max_tokens it sent).
   */
  estimateUnreported(localInput: number, providerOutputTokens: number): Usage {
    const reasoning = Math.round(this.reasoningPerCall);
    const u = this.predict(localInput, providerOutputTokens + reasoning);
    const round = Math.round;
    const usage: Usage = {
      inputTokens: round(u.inputTokens),
      outputTokens: round(u.outputTokens),
      cachedInputTokens: round(u.cachedInputTokens),
      cacheWriteTokens: round(u.cacheWriteTokens),
      estimated: true,
    };
    return reasoning > 0 ? { ...usage, reasoningTokens: reasoning } : usage;
  }

  /**
   * An estimated usage (a call cancelled or broken off, counted by its provider or locally)
   * with the hidden reasoning per call (reasoningPerCall) added to its output, where it counts
   * none: a stopped call of a reasoning model was billed for the reasoning it did before.
   */
  withReasoningEstimate(usage: Usage): Usage {
    const reasoning = Math.round(this.reasoningPerCall);
    // A capped report is at the most a call is billed for already.
    if (!usage.estimated || usage.outputCapped || usage.reasoningTokens !== undefined || reasoning <= 0) return usage;
    return { ...usage, outputTokens: usage.outputTokens + reasoning, reasoningTokens: reasoning };
  }

  /**
   * Hidden reasoning tokens per call: of this answer's reported calls (a call that reported
   * nothing says nothing of its reasoning), before the first the pair's, so the first call of
   * a reasoning model's next answer is priced with the reasoning it will be billed for.
   */
  get reasoningPerCall(): number {
    return this.reportedCalls > 0 ? this.reasoning / this.reportedCalls : this.ratios.reasoningPerCall;
  }

  /** How much a prediction is raised: the calibrated error plus QUOTE_MARGIN, or UNCALIBRATED_MARGIN before any report. */
  private margin(): number {
    return this.ratios.known ? QUOTE_MARGIN + this.calibrated.error : UNCALIBRATED_MARGIN;
  }

  /**
   * Predicted cost of a call sending `localInput` tokens (local count) with max_tokens
   * `tokens`, margin included. max_tokens is the provider's count, so the quote bills all of
   * it as written: a call is asked for its span and usually writes it whole. Hidden reasoning
   * is added at its average per call (reasoningPerCall), unless `limitBoundsReasoning`: N went in
   * max_completion_tokens, which bounds the reasoning too, so the call bills at most N.
   * Priced at the long-context tier its predicted input reaches (costOf).
   */
  quoteUsd(localInput: number, tokens: number, limitBoundsReasoning = false): number {
    const usage = this.predict(localInput, limitBoundsReasoning ? tokens : tokens + this.reasoningPerCall);
    return (costOf(usage, this.priceNow) ?? 0) * (1 + this.margin());
  }

  /**
   * The most input tokens (the provider's count) a call sending `localInput` tokens may be
   * billed for, for the money ceiling. Before any call reported its usage: `bound`
   * (inputTokenBound, which holds for any byte-level tokenizer). After: the learned ratio
   * raised by CEILING_RATIO_MARGIN, within that bound. Never under the local count, which is
   * what a call whose usage is not reported is booked at.
   */
  worstInputTokens(localInput: number, bound: number): number {
    return this.worst(localInput, bound, this.ratios.known ? this.inputRatio : undefined);
  }

  /**
   * The most output tokens (the provider's count) a call may have written so far, having
   * streamed `localOutput` tokens (local count) in `bytes` bytes, for the money ceiling while
   * it streams: as worstInputTokens, with the output ratio (which only a call's report teaches).
   */
  worstOutputTokens(localOutput: number, bytes: number): number {
    return this.worst(localOutput, bytes, this.ratios.outputKnown ? this.outputRatio : undefined);
  }

  /** `bound` (never under `local`), or within it the ratio raised by CEILING_RATIO_MARGIN where one was learned. */
  private worst(local: number, bound: number, ratio: number | undefined): number {
    const cap = Math.max(bound, local);
    if (ratio === undefined) return cap;
    return Math.min(cap, Math.max(local, local * ratio * (1 + CEILING_RATIO_MARGIN)));
  }

  /**
   * Books a finished call: `usage` as reported (or estimated), the local count of what it
   * sent and of the text it wrote, at the price in force now (the call's end).
   */
  record(call: {
    localInput: number;
    localOutput: number;
    usage: Usage;
    reported: boolean;
    localTail?: number;
    localPrompt?: number;
    /** When the call was sent (the ledger's clock); absent: now. */
    sentAt?: number;
    /**
     * Output tokens billed past the most the call asked for (a host that ignores its limit): hidden
     * reasoning, booked as such where the report splits out less (Anthropic counts thinking with the
     * text of a call that wrote any), so the next quote and hold-back include it.
     */
    outputPastSpan?: number;
  }): number {
    // A call that ran across a change of rate by time of day is booked at the dearer one: which
    // instant the provider bills by is not documented, and a booking under the bill would leave
    // the later calls' USD room too large.
    const price = dearestPrice(pricesBetween(this.price, call.sentAt ?? this.now(), this.now()), call.usage);
    const cost = costOf(call.usage, price) ?? 0;
    this.spent += cost;
    if (call.reported) {
      // Predicted from what was known before the call, with the output it really wrote.
      const predictedUsage = this.predict(call.localInput, call.usage.outputTokens);
      const predicted = costOf(predictedUsage, price) ?? 0;
      this.learnInstructedTail(call.localInput, call.usage.cachedInputTokens);
      this.predictedLast = predicted;
      this.all.add(predicted, cost);
      if (this.ratios.known) this.calibrated.add(predicted, cost);
      const splitReasoning = call.usage.reasoningTokens ?? 0;
      const reasoning = Math.max(splitReasoning, call.outputPastSpan ?? 0);
      this.reasoning += reasoning;
      this.reportedCalls += 1;
      const visible = call.usage.outputTokens - splitReasoning;
      this.ratios.add({
        localInput: call.localInput,
        reportedInput: call.usage.inputTokens,
        localOutput: call.localOutput,
        // Output counted well above the text it wrote is hidden reasoning a host billed without
        // saying so (usage.ts believes it as billed), not the tokenizer. Learned, it would
        // inflate every LLM-alone estimate, and the saving shown with it.
        reportedOutput: visible <= outputWithinInputRatio(call.localOutput, call.usage.inputTokens / call.localInput) ? visible : 0,
        reasoning,
      });
      const tail = (call.localTail ?? 0) * this.inputRatio;
      this.previous = { sent: call.usage.inputTokens, local: call.localInput, tail, reported: true };
      this.reportedText = Math.max(0, this.previous.sent - (tail > 0 ? Math.max(tail, this.ratios.instructedTailAtLeast) : 0));
      if (call.localPrompt !== undefined && call.usage.inputTokens > 0 && call.localInput > 0) {
        const promptSide = Math.min(call.localInput, call.localPrompt + (call.localTail ?? 0));
        this.lastReport = { reported: call.usage.inputTokens, promptSide, answer: call.localInput - promptSide };
        this.firstReport ??= this.lastReport;
      }
    } else {
      this.reportedText = undefined;
      this.predictedLast = undefined;
      if (call.usage.inputTokens > 0) {
        this.previous = { sent: this.sentFor(call.localInput), local: call.localInput, tail: (call.localTail ?? 0) * this.inputRatio, reported: false };
      }
    }
    return cost;
  }

  private reportedText: number | undefined;
  private predictedLast: number | undefined;

  /**
   * What the billing model predicted for the call just booked, from what was known before it and
   * the output it wrote (a reported call only), at its price: its report's counterpart, per call
   * (billingCheck sums them, where one call's miss hides another's).
   */
  get lastPredictedUsd(): number | undefined {
    return this.predictedLast;
  }

  /**
   * The provider's count of the text the call just booked continued (the conversation and the
   * answer so far: its reported input less an instruction turn after them), where it reported
   * one. A later request that repeats that text has this much of it in the provider's cache.
   */
  get lastReportedTextTokens(): number | undefined {
    return this.reportedText;
  }

  /**
   * The LLM alone: the prompt once as input (what an earlier request of the conversation
   * sent read from the cache, as the provider's rule serves it; no cache write counted),
   * the whole answer as output, both in the provider's count as calibrated; `llmTokens`
   * more output tokens in the provider's count (a call's span, not yet in the answer). One
   * request: the whole of it at the long-context tier the prompt reaches (costOf), at the
   * price in force now.
   */
  llmOnlyUsd(localPrompt: number, localAnswer: number, llmTokens = 0): number {
    const ratios = this.estimateRatios;
    const sent = localPrompt * ratios.input;
    const warm = Math.min(localPrompt, this.llmOnlyWarm) * ratios.input;
    const cached = warm > 0 ? Math.min(sent, predictUsage(this.rule, { sent, previous: warm, output: 0 }).cachedInputTokens) : 0;
    const usage: Usage = {
      inputTokens: sent,
      outputTokens: localAnswer * ratios.output + llmTokens,
      cachedInputTokens: cached,
      cacheWriteTokens: 0,
      estimated: true,
    };
    // An answer that ran across a change of rate is compared at the cheaper one: a saving shown is never more than real.
    const cheapest = pricesBetween(this.price, this.startedAt, this.now()).map((p) => costOf(usage, p) ?? 0);
    return Math.min(...cheapest);
  }

  llmOnlyBasis(): LlmOnlyBasis {
    if (this.lastReport) {
      const { input, output, split } = this.estimateRatios;
      return {
        kind: 'own-text',
        inputRatio: input,
        outputRatio: output,
        split: split === true,
        pairCalls: this.ratios.calls,
        pairCounted: this.ratios.counted,
      };
    }
    return this.ratios.known
      ? { kind: 'calibrated', calls: this.ratios.calls, counted: this.ratios.counted, outputRatio: this.outputRatio, inputRatio: this.inputRatio }
      : { kind: 'slm-tokenizer' };
  }

  /**
   * What the answer may still spend now, with a prompt and an answer of these lengths (local
   * counts), on a call that writes up to `spanTokens` (the provider's count; MoneyView.allowanceForUsd).
   */
  allowanceUsd(localPrompt: number, localAnswer: number, spanTokens = 0): number {
    let allowance = Infinity;
    if (this.ceilings.maxCostRatio !== undefined) {
      allowance = this.ceilings.maxCostRatio * this.llmOnlyUsd(localPrompt, localAnswer, spanTokens) - this.spent;
    }
    if (this.ceilings.maxCostUsd !== undefined) allowance = Math.min(allowance, this.ceilings.maxCostUsd - this.spent);
    return allowance;
  }

  /** Whether a call quoted `quoteUsd` would take the answer past the USD ceiling (relay.maxCostPerAnswerUsd), whatever the ratio. */
  passesUsdCeiling(quoteUsd: number): boolean {
    return this.ceilings.maxCostUsd !== undefined && quoteUsd > this.ceilings.maxCostUsd - this.spent;
  }

  /**
   * The least relay.maxCostRatio under which a call quoted `quoteUsd` (writing up to
   * `spanTokens`) would be made at this point of the answer: what was spent plus the quote,
   * over the LLM-alone estimate so far. Undefined without a ratio ceiling, or where the USD
   * ceiling alone refuses the call (no ratio would let it through).
   */
  ratioNeededFor(localPrompt: number, localAnswer: number, spanTokens: number, quoteUsd: number): number | undefined {
    if (this.ceilings.maxCostRatio === undefined) return undefined;
    if (this.passesUsdCeiling(quoteUsd)) return undefined;
    const llmOnly = this.llmOnlyUsd(localPrompt, localAnswer, spanTokens);
    return llmOnly > 0 ? (this.spent + quoteUsd) / llmOnly : undefined;
  }

  /**
   * How much the allowance grows per token of the answer (local count): the ratio's share of its
   * price in the LLM-only estimate; nothing where the USD ceiling is what binds at these lengths
   * (its room does not grow with the answer).
   */
  allowancePerTokenUsd(localPrompt: number, localAnswer: number): number {
    const ratio = this.ceilings.maxCostRatio;
    if (ratio === undefined) return 0;
    const maxUsd = this.ceilings.maxCostUsd;
    if (maxUsd !== undefined && maxUsd <= ratio * this.llmOnlyUsd(localPrompt, localAnswer)) return 0;
    // At the long-context tier of the LLM-alone prompt, as llmOnlyUsd prices it.
    const { input, output } = this.estimateRatios;
    return (ratio * priceForInput(this.priceNow, localPrompt * input).outputPerMTok * output) / 1_000_000;
  }

  outputUsdPerToken(): number {
    return (this.priceNow.outputPerMTok * this.outputRatio) / 1_000_000;
  }

  /** The billing model against the provider's reports, for stats (undefined before any reported call). */
  billingCheck(): { predictedUsd: number; reportedUsd: number; calls: number } | undefined {
    const { predictedUsd, reportedUsd, calls } = this.all;
    return calls > 0 ? { predictedUsd, reportedUsd, calls } : undefined;
  }
}
