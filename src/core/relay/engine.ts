/**
 * The relay engine: one answer written by the SLM with the LLM's help, streamed as
 * RelayEvents. `runRelay(options)` returns an AsyncIterable that always ends with exactly
 * one 'done' event (also after cancellation, a ceiling or an error; the partial answer is
 * kept). Every 'call-start' is followed by its 'call-end' (finishReason 'error' when the
 * provider failed, before the 'error' event). With a seed, SLM turn k and LLM call k
 * sample with deriveSeed(seed, k), so turns do not replay each other's draws.
 *
 * The invariant (enforced in `drive`, the one loop every mode runs in): every turn adds
 * at least one token to the answer or ends it with a named reason. An LLM call that adds
 * nothing (empty, whitespace the seam removed, 'length' with no tokens) is a failed call:
 * the SLM writes that position itself, and a second such call in a row ends the answer
 * with 'llm_no_progress'. Around it, ceilings that a normal answer never meets (limits.ts):
 * LLM calls, money (when the price is known), silence (no new token for maxStallMs), the
 * token budget and the SLM's context window: a prompt that does not fit is refused before
 * any call, and an answer that fills the window ends with 'context_full'.
 *
 * Modes are policies (policies/registry.ts, one file each): after every outcome a policy
 * says what comes next (the SLM writes, with which gate; the LLM writes N tokens on which
 * context; the answer ends). The paper's command mode and its context rules are in
 * policies/command.ts; confidence mode (beyond the paper) in policies/confidence.ts; the
 * baselines slm-only, llm-only and random-router beside them. Commands are never shown:
 * the displayed answer is the spans' text; an unterminated `<call>` at the end of the
 * SLM's output is dropped and not executed.
 */
import {
  runtimeErrorFix,
  slmCanCount,
  type ChatMessage,
  type GeneratedToken,
  type GenerateResult,
  type SamplingOptions,
  type SlmRuntime,
  type SlmSession,
} from '../slm/types';
import { randomUUID } from 'node:crypto';
import type { ContinuationMethod, ContinueRequest, LlmProvider, ModelPrice, Usage, FinishReason as LlmFinishReason } from '../providers/types';
import { isProviderError, type ProviderFix } from '../providers/errors';
import { spanSpentOnReasoning, spanSpentOnReasoningMessage, type CallLength, type SpanSpentOnReasoning } from '../providers/modelCapabilities';
import { WaitClock } from '../providers/waitClock';
import { CONTINUE_INSTRUCTION } from '../providers/seam';
import { estimateTokens } from '../providers/usage';

/** Tokens around an instruction turn (end of the assistant turn, the user turn's markers, the next assistant's): about 8 in chat templates. */
export const INSTRUCTION_TURN_MARKERS = 8;

/** The instruction turn an instructed call ends with (the next call does not repeat it), with its role markers, in the SLM's count. */
export async function instructionTurnTokens(slm: Pick<SlmRuntime, 'countTokens'>): Promise<number> {
  return (await slm.countTokens(CONTINUE_INSTRUCTION)) + INSTRUCTION_TURN_MARKERS;
}
import type { AnswerStats, FinishReason, RelayEvent, RelayMode } from './events';
import { CALL_CLOSE, CommandFilter, removeCommands, stripCommandsForLlm } from './commandFilter';
import { addUsage, emptyUsage, llmOnlyCostUsd, llmOnlyEstimateNote, llmTokenShare, relayCostUsd, savedUsd, usableUsage } from './cost';
import { billsCacheWrites, NO_CACHE, type CacheRule } from '../providers/billing';
import { costOf, priceAtTime } from '../providers/pricing';
import { MoneyLedger, type MoneyView, type TokenRatios, type WarmTokens } from './money';
import { calibrateTokenRatios } from './tokenCalibration';
import { AgreementWatch, type AgreementStop } from './agreementWatch';
import { EventChannel } from './eventChannel';
import {
  DEFAULT_MAX_COST_USD,
  DEFAULT_MAX_LLM_CALLS,
  DEFAULT_MAX_STALL_MS,
  inputTokenBound,
  MAX_EMPTY_LLM_CALLS,
  outputTokensWithinCeiling,
  overrunAllowance,
  StallWatchdog,
  type AnswerLimits,
} from './limits';
import { deriveSeed } from './random';
import type { ConfidenceOptions } from './policies/confidence';
import type { LlmContext, Next, Outcome, RelayPolicy, RelayState } from './policies/policy';
import { policyOf, RELAY_MODES, RELAY_POLICIES } from './policies/registry';
import { THINK_OPEN, thinkingOf } from './thinking';

export { DEFAULT_CONFIDENCE, type ConfidenceOptions } from './policies/confidence';
export { DEFAULT_MAX_TURNS } from './policies/registry';
export const DEFAULT_TOKEN_BUDGET = 8192;
export const DEFAULT_TEMPERATURE = 0.7;

export interface RelayOptions {
  mode: RelayMode;
  slm: SlmRuntime;
  /** Required except in slm-only mode. */
  llm?: LlmProvider;
  messages: ChatMessage[];
  /** The prompt as the SLM sees it; default: the SLM's chat template with the generation prompt. */
  prompt?: string;
  /** Render the default prompt with the template's thinking on (enable_thinking); the thinking is relayed like the rest. */
  thinking?: boolean;
  maxTurns?: number;
  /** Tokens per answer, SLM and LLM together (counted in the SLM tokenizer). */
  tokenBudget?: number;
  /** LLM calls per answer (default 64). */
  maxLlmCalls?: number;
  /** USD per answer, checked before each call at its most expensive (default 1; only with a known price). */
  maxCostUsd?: number;
  /**
   * The most an answer may cost relative to the LLM-only estimate of the answer so far
   * (e.g. 0.5), only with a known price and in the modes where the SLM writes: a call whose
   * predicted cost does not fit is declined ('call-declined') and the SLM goes on alone.
   * Undefined: no such ceiling.
   */
  maxCostRatio?: number;
  /** How the provider bills re-sent input (its prompt cache), for predicting a call's cost; default: no caching. */
  cacheRule?: CacheRule;
  /** LLM tokens per SLM token as learned so far (kept by the adapter across the answers of one SLM and LLM); default: this answer's own. */
  tokenRatios?: TokenRatios;
  /**
   * Leading prompt tokens (SLM count) the provider's cache likely holds (the adapter knows:
   * a previous chat turn, a Retry): `llmOnly`, what the LLM alone would have sent before (the
   * estimate the answer is compared with reads them from the cache); `relay`, what this
   * conversation's calls really sent before (the first call is priced with them cached);
   * `relayBreakpoint`, the part of that an Anthropic breakpoint covers (their conversation).
   */
  warmTokens?: WarmTokens;
  /**
   * The prompt-cache routing key of every call (OpenAI's prompt_cache_key): one per
   * conversation, so a chat's next turn or a Retry is routed where its prefix is cached, as
   * warmTokens assumes. Absent: one new key for this answer.
   */
  promptCacheKey?: string;
  /** Milliseconds without a new token before the answer ends as 'stalled' (default 180 000). */
  maxStallMs?: number;
  /** SLM sampling; default temperature 0.7 as in the paper (0 = greedy). */
  slmSampling?: SamplingOptions;
  /** LLM temperature; default 0.7 as in the paper. */
  llmTemperature?: number;
  llmSeed?: number;
  confidence?: Partial<ConfidenceOptions>;
  router?: { llmProbability: number; seed?: number };
  /** Price of the LLM; undefined = unknown, costs are then null. */
  price?: ModelPrice;
  /** Where the price came from ("prices: @pydantic/genai-prices of 2026-09-23"), shown beside the savings. */
  priceNote?: string;
  /** The time a price by time of day (ModelPrice.hours) is read at, in ms since the epoch; default Date.now (tests set the hour). */
  now?: () => number;
  /**
   * Command mode: what replaces each command in the LLM's context. Default ' ' (the
   * paper); '' for models trained with the commands removed (the demo models, whose
   * character-level LLM never saw a space inside a number).
   */
  commandReplacement?: string;
  signal?: AbortSignal;
}

/** Validates options at once (clear errors, no half-started run) and starts the answer. */
export function runRelay(options: RelayOptions): AsyncIterable<RelayEvent> {
  validate(options);
  const controller = new AbortController();
  const channel = new EventChannel<RelayEvent>(() => controller.abort());
  const external = options.signal;
  const onAbort = (): void => controller.abort();
  if (external?.aborted) controller.abort();
  else external?.addEventListener('abort', onAbort, { once: true });
  const run = new RelayRun(options, controller, (event) => channel.push(event));
  void run.execute().finally(() => {
    external?.removeEventListener('abort', onAbort);
    channel.close();
  });
  return channel;
}

/** Runs an answer to the end and returns its 'done' event (for eval and tests). */
export async function collectRelay(
  options: RelayOptions,
  onEvent?: (event: RelayEvent) => void,
): Promise<{ answer: string; stats: AnswerStats; events: RelayEvent[] }> {
  const events: RelayEvent[] = [];
  for await (const event of runRelay(options)) {
    events.push(event);
    onEvent?.(event);
  }
  const done = events[events.length - 1];
  if (!done || done.type !== 'done') throw new Error('The relay ended without a done event (internal error).');
  return { answer: done.answer, stats: done.stats, events };
}

function validate(o: RelayOptions): void {
  if (!RELAY_MODES.includes(o.mode)) throw new Error(`Unknown relay mode '${String(o.mode)}'. Use one of: ${RELAY_MODES.join(', ')}.`);
  if (RELAY_POLICIES[o.mode].needsLlm && !o.llm) {
    throw new Error(`Relay mode '${o.mode}' needs an LLM provider. Configure one, or use mode 'slm-only'.`);
  }
  policyOf(o.mode).validate?.(o);
  const positiveInt = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isInteger(v) && v > 0)) throw new Error(`${name} must be a positive integer (got ${v}).`);
  };
  const positive = (name: string, v: number | undefined): void => {
    if (v !== undefined && !(Number.isFinite(v) && v > 0)) throw new Error(`${name} must be a positive number (got ${v}).`);
  };
  positiveInt('maxTurns', o.maxTurns);
  positiveInt('tokenBudget', o.tokenBudget);
  positiveInt('maxLlmCalls', o.maxLlmCalls);
  positive('maxCostUsd', o.maxCostUsd);
  positive('maxStallMs', o.maxStallMs);
  positive('maxCostRatio', o.maxCostRatio);
  const c = o.confidence ?? {};
  if (c.threshold !== undefined && !(c.threshold >= 0 && c.threshold <= 1)) {
    throw new Error(`The confidence threshold must be between 0 and 1 (got ${c.threshold}).`);
  }
  if (c.maxLlmShare !== undefined && !(c.maxLlmShare >= 0 && c.maxLlmShare <= 1)) {
    throw new Error(`maxLlmShare must be between 0 and 1 (got ${c.maxLlmShare}).`);
  }
  positiveInt('confidence.spanTokens', c.spanTokens);
  positiveInt('confidence.maxSpanTokens', c.maxSpanTokens);
  if (o.messages.length === 0) throw new Error('The relay needs at least one message (the question).');
}

/** Thrown inside a run to end it with an 'error' event and finishReason 'error'. */
class RunError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly fix?: ProviderFix,
  ) {
    super(message);
  }
}

/**
 * A failure of the small model's runtime as the answer's error: its message, and the fix it
 * carries (a model that runs out of memory, or whose process dies again and again: pick-model).
 * What ends the run already (a RunError, a ceiling, a Stop) is kept as it is.
 */
function slmFailure(error: unknown): Error {
  if (error instanceof RunError || error instanceof AnswerEnds || error instanceof StoppedWhileSlmRestarts) return error;
  return new RunError('slm', `The small model failed: ${error instanceof Error ? error.message : String(error)}`, runtimeErrorFix(error));
}

/** Thrown inside a run to end it early with a reason of its own (a ceiling), keeping the answer. */
class AnswerEnds extends Error {
  constructor(readonly reason: FinishReason) {
    super(reason);
  }
}

class RelayRun {
  private readonly started = Date.now();
  private readonly budget: number;
  private readonly policy: RelayPolicy;
  private readonly limits: AnswerLimits;
  private readonly signal: AbortSignal;
  private readonly watchdog: StallWatchdog;
  /** Set when the run aborted itself (a ceiling that fires while something is awaited). */
  private endedBy: FinishReason | undefined;
  private session: SlmSession | null = null;
  private prompt = '';
  /** The prompt ends with `<think>` (its template opened the thinking) and the SLM starts the answer: it starts in its reasoning. */
  private promptOpenedThinking = false;
  private promptTokens = 0;
  /** Prompt tokens the SLM did not compute again (a kept cache held them). */
  private reusedPromptTokens = 0;
  /** Tokens in the SLM's KV cache (prompt, its own output, appended LLM text). */
  private contextTokens = 0;
  /** What the paper calls current_solution: SLM output (commands included) + LLM text. */
  private solution = '';
  /** What the user sees. */
  private answer = '';
  /** Each shown span's end in `answer` and its tokens (SLM count), for the tokens of the thinking part. */
  private readonly shownSpans: { end: number; tokens: number }[] = [];
  private slmTokens = 0;
  private llmTokens = 0;
  private commandTokens = 0;
  private calls = 0;
  private turns = 0;
  /** LLM calls in a row that added nothing. */
  private emptyLlmCalls = 0;
  /** The last LLM call wrote nothing because hidden reasoning took its whole span (billed): the cause to name if the answer stalls. */
  private lastSpanSpentOnReasoning: SpanSpentOnReasoning | undefined;
  /** After a call that added nothing, the SLM writes the next position itself (confidence mode). */
  private slmWritesNext = false;
  private lastLlmText = '';
  /** Characters of lastLlmText the SLM read while scoring the stream (agreementWatch.ts). */
  private lastLlmFed = 0;
  /** The SLM's own next token where it handed off (the one it was unsure of): whether a new word starts there. */
  private seam: 'space' | 'none' | undefined;
  /** One prompt-cache routing key for every call of this answer (OpenAI's prompt_cache_key): the conversation's, where the adapter gives one. */
  private readonly cacheKey: string;
  private usage: Usage = emptyUsage();
  /** The answer's money when the price is known (predictions, calibration, ceilings). */
  private readonly ledger: MoneyLedger | undefined;
  /** The time prices by time of day are read at (RelayOptions.now). */
  private readonly priceClock: () => number;
  private declinedCalls = 0;
  /** Of those, the ones relay.maxCostPerAnswerUsd refused (AnswerStats.declinedByUsdCeiling). */
  private declinedByUsdCeiling = 0;
  /** The smallest ratioNeeded of the calls declined so far (AnswerStats.leastRatioToCall). */
  private leastRatioToCall: number | undefined;
  /** Tokens a served SLM generated past where the answer stopped reading (GenerateResult.discardedTokens). */
  private slmDiscardedTokens = 0;
  /**
   * Hides the SLM's commands across its turns: in the modes that hand off at any token a turn
   * may end inside a tag or a command, which the next SLM turn finishes (resolveSlmText
   * settles it before a call and at the end).
   */
  private readonly commands = new CommandFilter();
  /** SLM tokens whose text the filter still holds back (counted in the span that shows it). */
  private heldSlmTokens = 0;
  /** A call ended because it wrote past the money ceiling's room. */
  private cutByMoney = false;
  /** A call of this answer was billed more output than it asked for: its limit does not bound the reasoning here (limitBoundsReasoning). */
  private limitIgnored = false;
  /** Some count of this answer is the character estimate (the SLM could not be asked): no call of it teaches the token ratios. */
  private countedWithoutSlm = false;

  constructor(
    private readonly o: RelayOptions,
    private readonly controller: AbortController,
    private readonly emit: (event: RelayEvent) => void,
  ) {
    this.signal = controller.signal;
    this.cacheKey = o.promptCacheKey ?? `relay-${randomUUID()}`;
    this.budget = o.tokenBudget ?? DEFAULT_TOKEN_BUDGET;
    this.policy = RELAY_POLICIES[o.mode].create(o);
    this.limits = {
      maxLlmCalls: o.maxLlmCalls ?? DEFAULT_MAX_LLM_CALLS,
      maxCostUsd: o.maxCostUsd ?? DEFAULT_MAX_COST_USD,
      maxStallMs: o.maxStallMs ?? DEFAULT_MAX_STALL_MS,
    };
    this.watchdog = new StallWatchdog(this.limits.maxStallMs, () => this.endNow('stalled'));
    this.priceClock = o.now ?? Date.now;
    if (o.price && o.llm) {
      // The ratio ceiling is for answers the SLM writes; the LLM alone costs what it costs.
      const maxCostRatio = this.policy.usesSlm ? o.maxCostRatio : undefined;
      const ceilings = { maxCostRatio, maxCostUsd: this.limits.maxCostUsd };
      this.ledger = new MoneyLedger(o.price, o.cacheRule ?? NO_CACHE, ceilings, o.tokenRatios, o.warmTokens, this.priceClock);
    }
  }

  /** Ends the answer from outside the awaited work (the watchdog): whatever runs is cancelled. */
  private endNow(reason: FinishReason): void {
    if (this.signal.aborted) return;
    this.endedBy = reason;
    this.controller.abort();
  }

  async execute(): Promise<void> {
    let finish: FinishReason;
    try {
      finish = await this.runMode();
    } catch (error) {
      finish = this.failure(error);
    }
    this.watchdog.stop();
    if (finish === 'cancelled' && this.endedBy) finish = this.endedBy;
    // An answer that failed or was stopped is not counted through the SLM: its process may have
    // died, and a count would start a new one and load the model again (minutes) before 'done'.
    // Nor is one whose SLM process is known to have ended (during an LLM call, in llm-only mode).
    const countsThroughSlm = finish !== 'error' && !this.signal.aborted && slmCanCount(this.o.slm);
    try {
      // What the SLM's last turn held back is shown; a command it left open is dropped.
      await this.resolveSlmText(countsThroughSlm, true);
    } catch {
      // The SLM could not count the dropped command (it died): the answer's figures go without it.
    }
    try {
      await this.session?.dispose();
    } catch {
      // The session may belong to a runtime that died; nothing is left to free then.
    }
    let stats: AnswerStats;
    try {
      stats = countsThroughSlm ? await this.stats(finish) : this.statsWithout(finish);
    } catch (error) {
      finish = this.failure(error);
      stats = this.statsWithout(finish);
    }
    this.emit({ type: 'done', answer: this.answer, stats });
  }

  private failure(error: unknown): FinishReason {
    if (error instanceof AnswerEnds) return error.reason;
    if (error instanceof StoppedWhileSlmRestarts) {
      // A Stop, said: the answer waited on the small model's reload, not on nothing.
      this.emit({ type: 'error', code: 'cancelled', message: error.message });
      return 'cancelled';
    }
    if (this.signal.aborted) return 'cancelled';
    if (error instanceof RunError) {
      this.emit(errorEvent(error.code, error.message, error.fix));
    } else if (isProviderError(error)) {
      if (error.code === 'cancelled') return 'cancelled';
      this.emit(errorEvent(error.code, error.message, error.fix));
    } else {
      const message = error instanceof Error ? error.message : String(error);
      this.emit({ type: 'error', code: 'internal', message });
    }
    return 'error';
  }

  private async runMode(): Promise<FinishReason> {
    this.prompt =
      this.o.prompt ?? (await this.beforeAnswer(() => this.o.slm.renderChat(this.o.messages, { addGenerationPrompt: true, thinking: this.o.thinking })));
    // Said before any span: a view cannot tell reasoning from answer until the close otherwise. Only
    // where the SLM starts the answer: an LLM writing alone never closes it, and its answer is no one's thinking.
    this.promptOpenedThinking = this.policy.usesSlm && this.prompt.trimEnd().endsWith(THINK_OPEN);
    if (this.promptOpenedThinking) this.emit({ type: 'thinking-opened' });
    // A new pair's provider counts a sample text while the SLM reads the prompt; calls are priced after.
    const calibration =
      this.ledger && this.o.llm && this.policy.usesLlm ? calibrateTokenRatios(this.ledger.ratios, this.o.llm, this.o.slm, Date.now, this.signal) : undefined;
    if (this.policy.usesSlm) await this.openSession();
    else this.promptTokens = await this.beforeAnswer((signal) => this.o.slm.countTokens(this.prompt, signal));
    // Known before any call is priced: an instructed call sends it too (localInput). A provider
    // that turns to an instruction during the answer has it counted when that call is booked.
    if (this.ledger && this.policy.usesLlm && this.o.llm?.continuation === 'instructed') await this.beforeAnswer(() => this.instructionTokens());
    // The calibration's SLM count is watched for silence too (a tokenizer that never returns): its
    // end cancels the answer's signal, which the count was given, and the process is stopped.
    this.watchdog.start();
    if (calibration) await untilAborted(calibration, this.signal);
    return this.drive();
  }

  private get used(): number {
    return this.slmTokens + this.llmTokens;
  }

  private get left(): number {
    return this.budget - this.used;
  }

  /** Tokens the SLM's context window still holds (Infinity when the model does not say). */
  private get room(): number {
    const window = this.o.slm.info.contextWindow;
    return window === undefined ? Infinity : window - this.contextTokens;
  }

  private state(): RelayState {
    return {
      budget: this.budget,
      used: this.used,
      left: this.left,
      slmTokens: this.slmTokens,
      llmTokens: this.llmTokens,
      turns: this.turns,
      calls: this.calls,
      money: this.money(),
    };
  }

  /**
   * What the next call sends, in the SLM's count: the prompt and the answer so far without
   * the SLM's commands, and the instruction turn where the provider continues by instruction
   * (on a short prompt it is a good part of the input). (The LLM gets the conversation in its
   * own format; the ledger's calibration absorbs the difference.) The instruction only once
   * the pair's token ratios are known: the SLM's own count of Relay's English instruction can
   * be several times the LLM's (the demo model's one token per character: about 5x), and
   * unlike the prompt nothing in the LLM-alone estimate is counted the same way to offset it.
   * (The money ceiling bounds the first call by its bytes, instruction included.)
   */
  private get localInput(): number {
    const instructed = this.o.llm?.continuation === 'instructed' && this.ledger?.ratios.known === true;
    return this.conversationTokens + (instructed ? (this.instructionTokenCount ?? 0) : 0);
  }

  /** The prompt and the answer so far without the SLM's commands (SLM count): what every call sends. */
  private get conversationTokens(): number {
    return this.promptTokens + this.answerTokens;
  }

  /**
   * The answer so far without the SLM's commands (SLM count): what the user reads, and what
   * the LLM alone would have written (the commands count as the SLM's tokens in the paper's
   * share, never as the LLM alone's output).
   */
  private get answerTokens(): number {
    return this.used - this.commandTokens;
  }

  /**
   * The answer the LLM alone would have written (SLM count), for the LLM-alone estimate and
   * the allowance it gives: without the thinking part, tags included. Relay asks a reasoning
   * LLM for its lowest effort, and the LLM alone would never write the SLM's visible thinking,
   * so pricing it as the LLM's output would claim savings (and allow calls) that are not real.
   */
  private get baselineAnswerTokens(): number {
    return Math.max(0, this.answerTokens - this.thinkingPartTokens());
  }

  /** Whether the answer is still inside its thinking part (its tokens add nothing to the LLM-alone estimate yet). */
  private get thinkingOpen(): boolean {
    return this.thinkingPart().open;
  }

  /** Where the answer's thinking part ends in `answer`, and whether it is still open. */
  private thinkingPart(): { end: number; open: boolean } {
    // A template that opened <think> in the prompt: the answer thinks until it writes the close.
    const thinking = thinkingOf(this.answer, this.promptOpenedThinking);
    return thinking ? { end: thinking.end, open: !thinking.closed } : { end: 0, open: false };
  }

  /** Tokens (SLM count) of the shown spans up to the thinking part's end; a span across it counts by its share of characters. */
  private thinkingPartTokens(): number {
    const { end } = this.thinkingPart();
    let tokens = 0;
    let start = 0;
    for (const span of this.shownSpans) {
      if (start >= end) break;
      const inside = Math.min(span.end, end) - start;
      tokens += span.end - start > 0 ? (span.tokens * inside) / (span.end - start) : 0;
      start = span.end;
    }
    return tokens;
  }

  private money(): MoneyView | undefined {
    const ledger = this.ledger;
    if (!ledger) return undefined;
    const localInput = this.localInput;
    const answerTokens = this.baselineAnswerTokens;
    const spanCredit = this.spanCredit();
    return {
      spentUsd: ledger.spentUsd,
      allowanceUsd: ledger.allowanceUsd(this.promptTokens, answerTokens),
      allowanceForUsd: (tokens) => ledger.allowanceUsd(this.promptTokens, answerTokens, spanCredit(tokens)),
      allowancePerTokenUsd: ledger.allowancePerTokenUsd(this.promptTokens, answerTokens),
      outputUsdPerToken: ledger.outputUsdPerToken(),
      quoteUsd: (tokens) => ledger.quoteUsd(localInput, this.billedSpan(tokens), this.limitBoundsReasoning),
    };
  }

  /**
   * Whether a call's output limit bounds its hidden reasoning too (LlmProvider.limitBoundsReasoning),
   * until a call of this answer is billed more output than it asked for (a proxy that ignores
   * max_completion_tokens): its reasoning is then priced and held back as where it is not bounded.
   */
  private get limitBoundsReasoning(): boolean {
    return this.o.llm?.limitBoundsReasoning === true && !this.limitIgnored;
  }

  /** The most output tokens a call asked for `tokens` may be billed: no fewer than the provider asks for at least (LlmProvider.minOutputTokens). */
  private billedSpan(tokens: number): number {
    return Math.max(tokens, this.o.llm?.minOutputTokens ?? 0);
  }

  /** The span tokens a call's allowance may count as the LLM alone's output: none while the answer thinks (they would be thinking too). */
  private spanCredit(): (tokens: number) => number {
    const thinking = this.thinkingOpen;
    return (tokens) => (thinking ? 0 : tokens);
  }

  /**
   * A call the money ceilings do not allow here: said, and not made, and the SLM writes on. Under
   * the ratio ceiling, and in money-aware mode under the USD ceiling alone too: its spans are sized
   * to what both leave and it promises to skip what cannot fit (moneyAware.ts). Command and
   * confidence mode under the USD ceiling alone end the answer at a call that could pass it
   * (checkCeilings: `cost_limit`), as relay.maxCostPerAnswerUsd documents.
   */
  private declined(span: number): Outcome | undefined {
    if (!this.ledger || !this.policy.usesSlm) return undefined;
    if (this.o.maxCostRatio === undefined && this.o.mode !== 'money-aware') return undefined;
    const predictedUsd = this.ledger.quoteUsd(this.localInput, this.billedSpan(span), this.limitBoundsReasoning);
    const answerTokens = this.baselineAnswerTokens;
    const credited = this.spanCredit()(span);
    const allowanceUsd = this.ledger.allowanceUsd(this.promptTokens, answerTokens, credited);
    if (predictedUsd <= allowanceUsd) return undefined;
    this.declinedCalls += 1;
    const ratioNeeded = this.ledger.ratioNeededFor(this.promptTokens, answerTokens, credited, predictedUsd);
    if (ratioNeeded !== undefined) this.leastRatioToCall = Math.min(this.leastRatioToCall ?? Infinity, ratioNeeded);
    const byUsdCeiling = this.ledger.passesUsdCeiling(predictedUsd);
    if (byUsdCeiling) this.declinedByUsdCeiling += 1;
    this.emit({
      type: 'call-declined',
      predictedUsd,
      allowanceUsd,
      requestedTokens: span,
      atMs: Date.now() - this.started,
      ...(ratioNeeded !== undefined ? { ratioNeeded } : {}),
      ...(byUsdCeiling ? { byUsdCeiling: true as const } : {}),
    });
    // As after a call that added nothing: the SLM writes the next position itself.
    this.slmWritesNext = true;
    return { kind: 'declined', predictedUsd, allowanceUsd };
  }

  /**
   * The one loop of every policy, and the one place its invariant is kept: a step adds at
   * least one token or ends the answer; an LLM call that adds nothing is retried once
   * differently (the SLM writes that position itself, ungated), never looped on.
   */
  private async drive(): Promise<FinishReason> {
    let outcome: Outcome = { kind: 'start' };
    let stepsWithoutProgress = 0;
    for (;;) {
      if (this.signal.aborted) return 'cancelled';
      let next: Next = this.policy.next(outcome, this.state());
      if (next.do === 'end') return next.reason === 'llm_no_progress' ? this.llmNoProgress() : next.reason;
      if (next.do === 'fail') throw new RunError(next.code, next.message);
      if (this.left <= 0) return 'budget';
      if (this.slmWritesNext && next.do === 'slm' && next.gate) next = { ...next, maxTokens: 1, gate: undefined };
      this.slmWritesNext = false;
      const before = { used: this.used, calls: this.calls, llmTokens: this.llmTokens };

      const result = next.do === 'slm' ? await this.slmStep(next) : await this.llmStep(next);
      if (typeof result === 'string') return result;
      outcome = result;
      if (this.signal.aborted) return 'cancelled';
      const called = this.calls > before.calls;
      if (called && this.llmTokens > before.llmTokens) this.emptyLlmCalls = 0;
      else if (called && outcome.kind === 'llm' && outcome.finish === 'length') {
        this.emptyLlmCalls += 1;
        if (this.emptyLlmCalls >= MAX_EMPTY_LLM_CALLS) return this.llmNoProgress();
        this.slmWritesNext = true;
      }
      // A step may add nothing (the gate refused the first token; then an empty call), never three in a row.
      stepsWithoutProgress = this.used > before.used ? 0 : stepsWithoutProgress + 1;
      if (stepsWithoutProgress >= 3) return outcome.kind === 'llm' ? this.llmNoProgress() : 'slm_no_progress';
    }
  }

  /** The end for LLM calls that add nothing; where hidden reasoning took the last one's span, an error that names it and the fix. */
  private llmNoProgress(): FinishReason {
    const spent = this.lastSpanSpentOnReasoning;
    if (spent) throw new RunError('llm_hidden_reasoning', spanSpentOnReasoningMessage((this.o.llm as LlmProvider).model, spent, this.callLength), 'llm-model');
    return 'llm_no_progress';
  }

  /** What sets the tokens each LLM call asks for in this mode: the budget where the LLM writes alone, the SLM's commands in command mode, else the span setting. */
  private get callLength(): CallLength {
    if (!this.policy.usesSlm) return 'tokenBudget';
    return this.o.mode === 'command' ? 'commands' : 'spanTokens';
  }

  private async openSession(): Promise<SlmSession> {
    const window = this.o.slm.info.contextWindow;
    if (window !== undefined) {
      // Refused before any work: the sizes say what to change.
      const tokens = await this.beforeAnswer((signal) => this.o.slm.countTokens(this.prompt, signal));
      if (tokens >= window) {
        this.promptTokens = tokens;
        throw new RunError(
          'prompt_too_long',
          `The prompt is ${count(tokens)} tokens; the small model reads at most ${count(window)} (prompt and answer together). ` +
            'Send less text (a shorter selection or question), or pick a small model with a longer context.',
          'pick-model',
        );
      }
    }
    // A session opened after Stop (the process was restarting) is let go at once.
    this.session = await this.beforeAnswer(
      (signal) => this.o.slm.createSession(signal),
      (late) => void late.dispose().catch(() => undefined),
    );
    // A long prompt says how far it is read, and Stop ends the reading between steps. The silence
    // ceiling holds here too (a forward pass that never returns, in `relay eval` where no one
    // presses Stop): each step read is progress. Stopped after, for the waits before the answer.
    this.watchdog.start();
    const { tokenCount, reusedTokens = 0 } = await this.session
      .prefill(this.prompt, {
        signal: this.signal,
        onProgress: (p) => {
          this.watchdog.progress();
          this.emit({ type: 'prompt-reading', done: p.done, total: p.total, reusedTokens: p.reusedTokens, atMs: Date.now() - this.started });
        },
      })
      .catch((error: unknown) => {
        throw slmFailure(error);
      });
    this.watchdog.stop();
    this.promptTokens = tokenCount;
    this.reusedPromptTokens = reusedTokens;
    this.contextTokens = tokenCount;
    return this.session;
  }

  /**
   * SLM work before the answer begins (the prompt's render and count, the session's opening),
   * given the answer's signal. Its process may have ended since the adapter looked (after
   * composition.prepare(), say): the work then waits on a new process loading the model
   * (minutes, within the load's own deadline). Stop ends the answer there, saying so; the load
   * goes on in the background, and what the work makes after Stop is handed to `drop` (a session
   * is disposed). Otherwise the silence ceiling holds (a tokenizer whose regex never returns, where
   * no one presses Stop); its end, as Stop, lets a child-process runtime (VS Code's) stop a process
   * that does not answer. An in-process runtime (the CLI's) counts on the main thread, where no
   * ceiling can fire. A failure is the small model's (with the fix it carries).
   */
  private beforeAnswer<T>(work: (signal: AbortSignal) => Promise<T>, drop?: (late: T) => void): Promise<T> {
    if (this.signal.aborted) return Promise.reject(new AnswerEnds('cancelled'));
    const restartedBefore = !slmCanCount(this.o.slm);
    if (!restartedBefore) this.watchdog.start();
    const working = work(this.signal);
    return new Promise<T>((resolve, reject) => {
      const stop = (): void => {
        if (drop) void working.then(drop, () => undefined);
        reject(restartedBefore || !slmCanCount(this.o.slm) ? new StoppedWhileSlmRestarts() : new AnswerEnds('cancelled'));
      };
      this.signal.addEventListener('abort', stop, { once: true });
      void working.then(resolve, (error: unknown) => reject(slmFailure(error))).finally(() => this.signal.removeEventListener('abort', stop));
    }).finally(() => {
      if (!restartedBefore) this.watchdog.stop();
    });
  }

  /**
   * Tokens of `text` in the SLM's count; where its process ended (before or during the count),
   * the character estimate the providers use without a tokenizer: a count would start a new
   * process and load the model again (minutes) before the call could end or Stop take effect.
   */
  private async countTokens(text: string): Promise<{ tokens: number; estimated: boolean }> {
    if (slmCanCount(this.o.slm)) {
      try {
        return { tokens: await this.o.slm.countTokens(text, this.signal), estimated: false };
      } catch (error) {
        // Its process ended under the count: estimated as where it had ended before.
        if (slmCanCount(this.o.slm)) throw error;
      }
    }
    this.countedWithoutSlm = true;
    return { tokens: estimateTokens(text), estimated: true };
  }

  /** The SLM writes one turn; its outcome goes to the policy. */
  private async slmStep(next: Extract<Next, { do: 'slm' }>): Promise<Outcome | FinishReason> {
    const session = this.session as SlmSession;
    const turn = await this.slmTurn(session, {
      maxTokens: next.maxTokens,
      stopStrings: next.stopAtCommand ? [CALL_CLOSE] : undefined,
      minTop1: next.gate?.minTop1,
    });
    this.turns += 1;
    const refused = turn.result.stopReason === 'low_confidence' ? turn.result.refusedToken?.text : undefined;
    this.seam = refused === undefined || refused.length === 0 ? undefined : /^\s/u.test(refused) ? 'space' : 'none';
    if (turn.result.stopReason === 'cancelled' || this.signal.aborted) return 'cancelled';
    return { kind: 'slm', stopReason: turn.result.stopReason, command: turn.command };
  }

  /** The LLM writes up to `n` tokens (within the budget and the SLM's window), then the SLM reads them. */
  private async llmStep(next: Extract<Next, { do: 'llm' }>): Promise<Outcome | FinishReason> {
    const span = Math.min(next.maxTokens, this.left, this.policy.usesSlm ? this.room : Infinity);
    if (span <= 0) return this.left <= 0 ? 'budget' : 'context_full';
    const declined = this.declined(span);
    if (declined) return declined;
    await this.resolveSlmText();
    // Stop may land while the SLM counts what it held back: no call starts after it.
    if (this.signal.aborted) return 'cancelled';
    const finish = await this.llmCall(span, this.llmContext(next.context), next.untilSlmAgrees);
    if (finish === 'cancelled' || this.signal.aborted) return 'cancelled';
    // The LLM alone has nothing to go on with once the money ceiling cut its call.
    if (this.cutByMoney && !this.policy.usesSlm) throw new AnswerEnds('cost_limit');
    if (finish === 'stop' || !this.session || this.left <= 0 || this.lastLlmText.length === 0) return { kind: 'llm', finish };
    // The SLM's context gets the LLM's text right after the command (cache extended, not recomputed);
    // what the SLM read while scoring the stream is in it already.
    const rest = this.lastLlmText.slice(this.lastLlmFed);
    if (rest.length === 0) return { kind: 'llm', finish };
    let appended: { tokenCount: number };
    try {
      // Its process ended during the call, and the session with it: append says so at once, where a
      // count would first start a new process and load the model again.
      const tokens = slmCanCount(this.o.slm) ? await this.o.slm.countTokens(rest, this.signal) : 0;
      // Stop may land during the count: a stopped answer's session is not fed more.
      if (this.signal.aborted) return 'cancelled';
      if (tokens > this.room) return 'context_full';
      appended = await this.session.append(rest);
    } catch (error) {
      if (this.signal.aborted) return 'cancelled';
      throw slmFailure(error);
    }
    this.contextTokens += appended.tokenCount;
    return { kind: 'llm', finish };
  }

  /** The text the LLM continues, as the policy asked. */
  private llmContext(context: LlmContext): string {
    switch (context.commands) {
      case 'replace':
        return stripCommandsForLlm(this.solution, context.replacement);
      case 'remove':
        return removeCommands(this.solution);
      default:
        return '';
    }
  }

  /** One SLM generation; hides commands; streams visible text as spans. */
  private async slmTurn(
    session: SlmSession,
    options: { maxTokens: number; stopStrings?: string[]; minTop1?: number },
  ): Promise<{ result: GenerateResult; command?: string }> {
    let command: string | undefined;
    let stray = false;
    const onToken = (token: GeneratedToken): void => {
      this.slmTokens += 1;
      this.heldSlmTokens += 1;
      this.solution += token.text;
      this.watchdog.progress();
      const out = this.commands.push(token.text);
      if (out.command !== undefined) {
        command = out.command;
        this.heldSlmTokens = 0;
      }
      if (out.strayClose) stray = true;
      this.showSlm(out.visible);
    };
    let result: GenerateResult;
    try {
      result = await session.generate(
        { maxTokens: options.maxTokens, stopStrings: options.stopStrings, minTop1: options.minTop1, sampling: this.sampling() },
        onToken,
        this.signal,
      );
    } catch (error) {
      // What the filter holds is settled when the answer ends (execute).
      if (this.signal.aborted) return { result: { tokens: [], text: '', stopReason: 'cancelled', contextLength: this.contextTokens } };
      throw slmFailure(error);
    }
    // Nothing is flushed at a turn's end: a tag or a command the turn left unfinished goes on in
    // the SLM's next turn, and resolveSlmText settles it before anyone else writes.
    this.slmDiscardedTokens += result.discardedTokens ?? 0;
    this.contextTokens = result.contextLength;
    if (command !== undefined) this.commandTokens += (await this.countTokens(command)).tokens;
    return { result, command: stray && command === undefined ? undefined : command };
  }

  private showSlm(text: string): void {
    if (text.length === 0) return;
    this.answer += text;
    this.shownSpans.push({ end: this.answer.length, tokens: this.heldSlmTokens });
    this.emit({ type: 'span', source: 'slm', text, tokens: this.heldSlmTokens, atMs: Date.now() - this.started });
    this.heldSlmTokens = 0;
  }

  /**
   * Before the LLM writes, and when the answer ends: a command the SLM left open (the gate
   * handed off inside it) is dropped, never shown nor executed, and taken out of the text
   * every later call sends.
   */
  private async resolveSlmText(countsThroughSlm = true, endOfAnswer = false): Promise<void> {
    const { visible, unterminatedCommand } = this.commands.flush(endOfAnswer);
    const heldTokens = this.heldSlmTokens;
    this.showSlm(visible);
    if (unterminatedCommand === undefined) return;
    this.heldSlmTokens = 0;
    if (this.solution.endsWith(unterminatedCommand)) this.solution = this.solution.slice(0, -unterminatedCommand.length);
    // Without the SLM (an answer that failed or was stopped, or its process ended): the tokens it held back for the command, where nothing else was held with them.
    if (!countsThroughSlm || !slmCanCount(this.o.slm)) this.commandTokens += visible.length === 0 ? heldTokens : 0;
    else this.commandTokens += await this.o.slm.countTokens(unterminatedCommand, this.signal);
  }

  private sampling(): SamplingOptions {
    const sampling = this.o.slmSampling ?? { temperature: DEFAULT_TEMPERATURE };
    // Each turn samples from its own stream: re-seeding every turn alike would replay the first turn's draws.
    return sampling.seed === undefined || this.turns === 0 ? sampling : { ...sampling, seed: deriveSeed(sampling.seed, this.turns) };
  }

  /**
   * Ends the answer before a call that would pass the call or money ceiling. Returns the
   * most output tokens (the provider's count) the call may write within the money ceiling:
   * at least the span asked for, Infinity without a ceiling.
   */
  private checkCeilings(request: ContinueRequest): number {
    if (this.calls >= this.limits.maxLlmCalls) throw new AnswerEnds('call_limit');
    if (!this.ledger || this.limits.maxCostUsd === undefined) return Infinity;
    const inputTokens = this.ledger.worstInputTokens(this.localInput, inputTokenBound(this.sentText(request), request.messages.length + 2));
    const writes = billsCacheWrites(this.o.cacheRule);
    const { maxCostUsd } = this.limits;
    const room = outputTokensWithinCeiling(this.ledger.spentUsd, inputTokens, this.o.price, maxCostUsd, writes, this.priceClock(), this.o.llm?.callTimeoutMs);
    // Where max_tokens does not bound hidden reasoning, the average reasoning per call (ledger) is held
    // back too: it is billed as output (one call's own may be more; nothing bounds it there).
    const reasoning = this.limitBoundsReasoning ? 0 : Math.ceil(this.ledger.reasoningPerCall);
    if (room - reasoning < this.billedSpan(request.maxTokens)) throw new AnswerEnds('cost_limit');
    return room - reasoning;
  }

  /** The LLM's price in force now (pricing.priceAtTime); undefined where unknown. */
  private priceNow(): ModelPrice | undefined {
    return this.o.price && priceAtTime(this.o.price, new Date(this.priceClock()));
  }

  /** Has a call that streamed `tokens` (local count) in `bytes` bytes written past `room`, the output its money ceiling allows? */
  private pastMoneyRoom(room: number, tokens: number, bytes: number): boolean {
    if (!this.ledger || room === Infinity) return false;
    return this.ledger.worstOutputTokens(tokens, bytes) > room;
  }

  /** What a call sends, as its provider says (a provider that cannot say: the messages, the partial answer and an instruction). */
  private sentText(request: ContinueRequest): string {
    try {
      const said = this.o.llm?.sentText?.(request);
      if (typeof said === 'string') return said;
    } catch {
      // The call itself reports what went wrong; the ceiling goes on with the engine's own count.
    }
    return [...request.messages.map((m) => m.content), request.partialAnswer, CONTINUE_INSTRUCTION].join('\n');
  }

  /**
   * The SLM reads along where asked and where it can score cheaply (in this machine's
   * runtime; a served SLM would pay a request per token).
   */
  private agreementWatch(stop: AgreementStop | undefined, signal: AbortSignal): AgreementWatch | undefined {
    if (!stop || !this.session || this.o.slm.info.backend.kind !== 'onnx') return undefined;
    return new AgreementWatch(this.session, stop, signal);
  }

  /** One LLM call writing at most `maxTokens`; its text joins the answer as it streams. */
  private async llmCall(maxTokens: number, partialAnswer: string, untilSlmAgrees?: AgreementStop): Promise<LlmFinishReason> {
    const llm = this.o.llm as LlmProvider;
    const callIndex = this.calls;
    const request: ContinueRequest = {
      messages: this.o.messages,
      partialAnswer,
      maxTokens,
      temperature: this.o.llmTemperature ?? DEFAULT_TEMPERATURE,
      seed: this.o.llmSeed === undefined ? undefined : deriveSeed(this.o.llmSeed, callIndex),
      onTransport: (event) => {
        wait.onTransport(event);
        // A local LLM reading a long prompt is working, not silent: each step it reads is progress,
        // told as the SLM's own reading is (openSession), in place of the call's wait (WaitClock).
        if (event.phase === 'reading') {
          this.watchdog.progress();
          this.emit({
            type: 'prompt-reading',
            done: event.done,
            total: event.total,
            reusedTokens: event.reusedTokens,
            atMs: Date.now() - this.started,
            reader: 'large',
          });
        }
      },
      cacheKey: this.cacheKey,
      seam: this.seam,
    };
    const moneyRoom = this.checkCeilings(request);
    if (Number.isFinite(moneyRoom)) request.maxBilledOutputTokens = Math.floor(moneyRoom);
    const conversationTokens = this.conversationTokens;
    this.calls += 1;
    const callStarted = Date.now();
    // When the call was sent, on the clock prices by time of day are read at (RelayOptions.now).
    const sentAt = this.priceClock();
    this.emit({ type: 'call-start', callIndex, requestedTokens: maxTokens, model: llm.model, host: llm.host, continuation: llm.continuation });
    const wait = new WaitClock((tick) => this.emit({ type: 'call-wait', callIndex, host: llm.host, ...tick }), llm.model, /* readingToldApart: */ true);
    // The call's own signal: a server that ignores max_tokens is cut without cancelling the answer.
    const call = new AbortController();
    const onAbort = (): void => call.abort();
    this.signal.addEventListener('abort', onAbort, { once: true });
    let text = '';
    let tokens = 0;
    /** UTF-8 bytes of `text`, kept as it grows (the money ceiling's bound before the output ratio is known). */
    let bytes = 0;
    /** The reasoning the host streamed beside the text (local count, UTF-8 bytes): billed as output, never shown. */
    let reasoningTokens = 0;
    let reasoningBytes = 0;
    let usage: Usage | undefined;
    let finish: LlmFinishReason | undefined;
    let failed = false;
    let overran = false;
    let agreed = false;
    let continuation: ContinuationMethod = llm.continuation;
    const watch = this.agreementWatch(untilSlmAgrees, call.signal);
    let watching = watch !== undefined;
    this.lastLlmFed = 0;
    try {
      const allowance = overrunAllowance(maxTokens);
      for await (const chunk of llm.continue(request, call.signal)) {
        wait.chunkArrived(chunk);
        if (chunk.type === 'text') {
          if (typeof chunk.text !== 'string' || chunk.text.length === 0) continue;
          const { tokens: chunkTokens } = await this.countTokens(chunk.text);
          text += chunk.text;
          tokens += chunkTokens;
          bytes += Buffer.byteLength(chunk.text, 'utf8');
          this.llmTokens += chunkTokens;
          this.answer += chunk.text;
          this.shownSpans.push({ end: this.answer.length, tokens: chunkTokens });
          this.solution += chunk.text;
          this.watchdog.progress();
          this.emit({ type: 'span', source: 'llm', text: chunk.text, tokens: chunkTokens, callIndex, atMs: Date.now() - this.started });
          const pastMoney = this.pastMoneyRoom(moneyRoom, tokens + reasoningTokens, bytes + reasoningBytes);
          // Past the budget, not at it: a span that fills the budget exactly is a server keeping to
          // its max_tokens, whose usage and finish are still to come.
          if (tokens >= allowance || this.left < 0 || pastMoney) {
            // Written past what was asked, the budget or the money ceiling (a server that ignores
            // max_tokens): keep it, stop reading, close the request.
            overran = true;
            this.cutByMoney ||= pastMoney;
            finish = 'length';
            break;
          }
          try {
            agreed = watching && watch !== undefined && (await watch.read(text));
          } catch {
            // Scoring is an optimisation: the SLM reads the rest after the call, as without it (what it read stays read).
            watching = false;
          }
          if (agreed) {
            finish = 'length';
            break;
          }
        } else if (chunk.type === 'reasoning') {
          // Billed as output, and unbounded where max_tokens bounds only the text: it counts toward
          // the money room, cut as text past it is. It is not the answer moving (no watchdog progress).
          if (typeof chunk.text !== 'string' || chunk.text.length === 0) continue;
          reasoningTokens += (await this.countTokens(chunk.text)).tokens;
          reasoningBytes += Buffer.byteLength(chunk.text, 'utf8');
          if (this.pastMoneyRoom(moneyRoom, tokens + reasoningTokens, bytes + reasoningBytes)) {
            overran = true;
            this.cutByMoney = true;
            finish = 'length';
            break;
          }
        } else if (chunk.type === 'usage') {
          usage = chunk.usage;
        } else if (chunk.type === 'done') {
          finish = chunk.finishReason;
          continuation = chunk.continuation ?? llm.continuation;
        }
      }
    } catch (error) {
      failed = true;
      throw error;
    } finally {
      wait.stop();
      this.signal.removeEventListener('abort', onAbort);
      if (overran || agreed) call.abort();
      this.lastLlmText = text;
      if (watch) {
        this.lastLlmFed = watch.fed;
        this.contextTokens += watch.fedTokens;
      }
      // A request the provider rejected before writing anything (bad key, quota, unknown model) is
      // not billed; one cancelled, cut or failed after it started may have been, so it is estimated.
      const rejected = failed && !this.signal.aborted && tokens === 0 && !wait.responseStarted;
      // Usage a server reports is untrusted: missing or absurd numbers are replaced by the local
      // count, and an output past what one call can write is capped (usage.ts).
      const reported = usableUsage(usage, maxTokens);
      // Output billed past the most the call asked for: its limit did not bound the reasoning (limitBoundsReasoning),
      // and that much is reasoning even where the report does not split it out (ledger.record).
      const outputPastSpan = reported ? Math.max(0, reported.outputTokens - this.billedSpan(maxTokens)) : 0;
      if (outputPastSpan > 0) {
        this.limitIgnored = true;
        // Learned for the model at its origin: later answers' first calls are priced unbounded too.
        llm.billedPastLimit?.();
      }
      // The span as asked (a provider's minimum included), and the reasoning as reported or as streamed where that is more (a host may report none).
      this.lastSpanSpentOnReasoning = spanSpentOnReasoning({
        finish: failed ? undefined : finish,
        wroteText: tokens > 0,
        span: this.billedSpan(maxTokens),
        usage: reported,
        streamedReasoningTokens: reasoningTokens,
      });
      // Counted without the SLM where its process ended (this.countTokens): a count would start a
      // new one and load the model again before the call could end or Stop take effect.
      // What it sent, by how it continued (a provider may have turned to an instruction during the call).
      const localTail = this.ledger && continuation === 'instructed' ? await this.instructionTokens() : 0;
      const localInput = conversationTokens + localTail;
      // A call the SLM ended early gets no final report either; the provider may have written more
      // than arrived before the stream closed, so its output is its whole span, as it was priced. A
      // call cut for writing past its room: what arrived, with the reasoning seen so far.
      const outputSoFar = agreed ? this.billedSpan(maxTokens) : tokens;
      const cutShort = (agreed || overran) && this.ledger !== undefined;
      const unreported = (): Promise<Usage> | Usage =>
        cutShort && this.ledger ? this.ledger.estimateUnreported(localInput, outputSoFar) : this.estimateUsage(partialAnswer, outputSoFar);
      // A call that ended before its final usage (closed early, cut, failed, stopped) holds at best
      // the usage so far: the input as the provider has it (Anthropic's message_start, before the
      // text: as billed, a cache write included), the output not final, so it is at least the
      // engine's own count of the call (the whole span for one the SLM ended). A call that finished
      // with its server's estimate (no usage sent) keeps it: one tokenizer's count, not two mixed.
      const endedEarly = agreed || overran || failed || this.signal.aborted;
      const soFar = endedEarly && reported?.estimated ? { ...reported, outputTokens: Math.max(reported.outputTokens, outputSoFar) } : reported;
      const counted = soFar ?? (rejected ? emptyUsage() : await unreported());
      // An estimate (a cancelled or broken call) sees no hidden reasoning: the calls' average is added.
      const averaged = this.ledger && !(cutShort && reported === undefined) ? this.ledger.withReasoningEstimate(counted) : counted;
      // Reasoning the host streamed was billed: an estimate holds at least what arrived (the average where more).
      const unseenReasoning = averaged.estimated && !averaged.outputCapped ? reasoningTokens - (averaged.reasoningTokens ?? 0) : 0;
      const callUsage = unseenReasoning > 0 ? { ...averaged, outputTokens: averaged.outputTokens + unseenReasoning, reasoningTokens } : averaged;
      this.usage = addUsage(this.usage, callUsage);
      const costUsd = this.ledger
        ? this.ledger.record({
            localInput,
            localOutput: tokens,
            usage: callUsage,
            // Only what the server reported teaches the token ratios, which outlive the answer: a
            // provider's own estimate (no usage sent, a cancelled call) is a local count, not the LLM's.
            // A call cancelled before its request went out bills nothing: no report to learn from.
            // Nor does one whose local counts are the character estimate (the SLM could not count them).
            reported: reported !== undefined && !reported.estimated && reported.inputTokens > 0 && !this.countedWithoutSlm,
            localTail,
            localPrompt: this.promptTokens,
            sentAt,
            outputPastSpan,
          })
        : costOf(callUsage, this.priceNow());
      // Every call-start gets its call-end, also when the provider failed (the UI closes the span).
      this.emit({
        type: 'call-end',
        callIndex,
        tokens,
        durationMs: Date.now() - callStarted,
        finishReason: this.signal.aborted ? 'cancelled' : (finish ?? 'error'),
        usage: callUsage,
        sentPartialAnswer: partialAnswer,
        continuation,
        costUsd,
        ...(agreed ? { slmAgreed: true } : {}),
        ...(this.ledger?.lastReportedTextTokens !== undefined ? { sentTextTokens: this.ledger.lastReportedTextTokens } : {}),
        ...(this.ledger?.lastPredictedUsd !== undefined ? { predictedUsd: this.ledger.lastPredictedUsd } : {}),
      });
    }
    if (finish === undefined) {
      if (this.signal.aborted) return 'cancelled';
      throw new RunError('bad_response', `The LLM provider (${llm.kind}) ended its stream without saying why it stopped.`);
    }
    return finish;
  }

  private instructionTokenCount: number | undefined;

  /** instructionTurnTokens, counted once per answer (estimated, and not kept, where the SLM cannot count: countTokens). */
  private async instructionTokens(): Promise<number> {
    if (this.instructionTokenCount !== undefined) return this.instructionTokenCount;
    let estimated = false;
    const tokens = await instructionTurnTokens({
      countTokens: async (text) => {
        const counted = await this.countTokens(text);
        estimated = counted.estimated;
        return counted.tokens;
      },
    });
    if (!estimated) this.instructionTokenCount = tokens;
    return tokens;
  }

  /** When a server reports no usage: the input and output counted in the SLM tokenizer (or estimated: countTokens). */
  private async estimateUsage(partialAnswer: string, outputTokens: number): Promise<Usage> {
    const { tokens: input } = await this.countTokens(this.prompt + partialAnswer);
    return { inputTokens: input, outputTokens, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: true };
  }

  private async stats(finish: FinishReason): Promise<AnswerStats> {
    if (this.promptTokens === 0 && this.prompt.length > 0) this.promptTokens = await this.o.slm.countTokens(this.prompt, this.signal);
    const thinking = thinkingOf(this.answer, this.promptOpenedThinking);
    const stats = this.statsWithout(finish);
    return thinking ? { ...stats, thinkingTokens: await this.o.slm.countTokens(thinking.text, this.signal) } : stats;
  }

  private statsWithout(finish: FinishReason): AnswerStats {
    // A long-context tier is chosen per call (by its own input), and so is a rate by time of day
    // (by its time): such a price sums the calls' costs as the ledger booked them rather than
    // pricing the calls' summed usage.
    const perCall = this.o.price?.tiers?.length || this.o.price?.hours?.length;
    const costUsd = this.ledger && perCall ? this.ledger.spentUsd : relayCostUsd(this.usage, this.calls, this.priceNow());
    // The LLM alone: what this answer cost when the LLM wrote all of it; else the estimate (calibrated once a call reported usage).
    const llmOnly = !this.policy.usesSlm
      ? costUsd
      : this.ledger
        ? this.ledger.llmOnlyUsd(this.promptTokens, this.baselineAnswerTokens)
        : llmOnlyCostUsd(this.promptTokens, this.baselineAnswerTokens, this.priceNow());
    // An answer that failed, was stopped, stalled or wrote nothing saved nothing; what its calls
    // cost is a loss. Its LLM-alone figure is nothing either (no whole answer was delivered to
    // compare with: a Stop then Retry would count the prompt twice), so the figures add up
    // wherever they are summed: saved = LLM alone - cost. Nothing written means nothing after the
    // thinking part where the SLM writes (a model that thought until the budget, or closed
    // </think> and stopped; an LLM writing alone after a template that opened <think> never
    // closes it, and its answer is no one's thinking), and an unknown price keeps both figures unknown.
    const written = this.policy.usesSlm ? this.answer.slice(this.thinkingPart().end) : this.answer;
    const savesNothing = ENDS_THAT_SAVE_NOTHING.has(finish) || written.trim().length === 0;
    const billing = this.ledger?.billingCheck();
    return {
      mode: this.o.mode,
      slmTokens: this.slmTokens,
      llmTokens: this.llmTokens,
      llmTokenShare: llmTokenShare(this.slmTokens, this.llmTokens),
      calls: this.calls,
      llmUsage: this.usage,
      costUsd,
      llmOnlyCostUsd: savesNothing && llmOnly !== null ? 0 : llmOnly,
      savedUsd: savesNothing ? (costUsd === null || llmOnly === null ? null : -costUsd) : savedUsd(costUsd, llmOnly),
      elapsedMs: Date.now() - this.started,
      finishReason: finish,
      commandTokens: this.commandTokens,
      promptTokens: this.promptTokens,
      ...(this.reusedPromptTokens > 0 ? { reusedPromptTokens: this.reusedPromptTokens } : {}),
      turns: this.turns,
      routedTo: this.policy.routedTo,
      llmOnlyEstimateNote: llmOnlyEstimateNote(
        !this.policy.usesSlm
          ? { kind: 'reported', estimated: this.usage.estimated, ...(this.usage.outputCapped ? { outputCapped: true } : {}) }
          : (this.ledger?.llmOnlyBasis() ?? { kind: 'slm-tokenizer' }),
        this.ledger?.llmOnlyWarm,
      ),
      ...(this.o.priceNote && this.o.price ? { priceNote: this.o.priceNote } : {}),
      ...(this.declinedCalls > 0 ? { declinedCalls: this.declinedCalls } : {}),
      ...(this.leastRatioToCall !== undefined ? { leastRatioToCall: this.leastRatioToCall } : {}),
      ...(this.declinedByUsdCeiling > 0 ? { declinedByUsdCeiling: this.declinedByUsdCeiling } : {}),
      ...(this.slmDiscardedTokens > 0 ? { slmDiscardedTokens: this.slmDiscardedTokens } : {}),
      ...(billing ? { billing } : {}),
    };
  }
}

/** What an answer stopped before it began waited on when its small model's process had ended (a crash, the OOM killer); the extension says it too, before the engine starts. */
export const SLM_RESTARTING =
  'the small model was restarting (its process had ended, and a new one loads the model again). It goes on loading in the background; ask again once it is ready';

/** Stop while the SLM's process restarted before the answer began: the answer ends as stopped, and says why it had waited. */
class StoppedWhileSlmRestarts extends Error {
  constructor() {
    super(`Stopped before the answer began: ${SLM_RESTARTING}.`);
  }
}

/** Ends that deliver no finished answer: the user's Stop, a failure, and the watchdogs' ends. */
export const ENDS_THAT_SAVE_NOTHING: ReadonlySet<FinishReason> = new Set<FinishReason>(['error', 'cancelled', 'stalled', 'llm_no_progress', 'slm_no_progress']);

function errorEvent(code: string, message: string, fix: ProviderFix): RelayEvent {
  return fix ? { type: 'error', code, message, fix } : { type: 'error', code, message };
}

/** 5100 -> "5,100". */
function count(n: number): string {
  return n.toLocaleString('en-US');
}

/** Resolves with `work`, or at once when `signal` aborts (the work goes on, unawaited). */
function untilAborted(work: Promise<void>, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise<void>((resolve) => {
    const done = (): void => {
      signal.removeEventListener('abort', done);
      resolve();
    };
    signal.addEventListener('abort', done, { once: true });
    work.then(done, done);
  });
}
