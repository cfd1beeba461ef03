/**
 * The ceilings of one answer and the watchdog of its progress. Defaults are set so that
 * a normal answer never meets them; a misbehaving model or server always does, and the
 * answer then ends with the ceiling's own reason, keeping what was written.
 */
import type { ModelPrice } from '../providers/types';
import { DEFAULT_CALL_TIMEOUT_MS } from '../providers/callDefaults';
import { cacheWritePerMTokOf, pricesBetween, pricesUpTo } from '../providers/pricing';

/** LLM calls per answer. The paper's command mode makes at most maxTurns - 1 (4). */
export const DEFAULT_MAX_LLM_CALLS = 64;
/** USD per answer when prices are known: far above any normal answer (a 4,000-token context sent 64 times to gpt-4o costs $0.64). */
export const DEFAULT_MAX_COST_USD = 1;
/**
 * The most an answer the SLM writes may cost relative to the LLM alone, when prices are
 * known: a call that would take it past this is declined (the SLM goes on alone).
 */
export const DEFAULT_MAX_COST_RATIO = 0.5;
/**
 * Milliseconds without a new token before the answer ends ('stalled'). Above one LLM
 * call's worst wait before it fails on its own (first-byte timeout, one retry, backoff),
 * so a slow server is reported by the provider's own timeout first.
 */
export const DEFAULT_MAX_STALL_MS = 180_000;
/** Room above a server's silent tries for the backoff between them and the report's way back. */
const STALL_MARGIN_MS = 15_000;
/** Tries an LLM call makes at a silent server: a timeout is retried once (retry.ts). */
export const LLM_SILENT_TRIES = 2;

/** How long a caller waits for a silent server: connect + first byte per try, and the tries it makes. */
export interface SilentServerWaits {
  connectTimeoutMs: number;
  firstByteTimeoutMs: number;
  tries: number;
  /** A model that reasons silently first is waited for this long instead, all tries together (LlmProvider.quietUntilOutputMs). */
  quietUntilOutputMs?: number;
}

/**
 * The silence ceiling an answer runs under: the setting, raised where it would end the answer
 * before the caller's own timeout can report a silent server or a model still reasoning. That
 * report names the slow server and the setting to raise, where "stalled" names neither.
 */
export function stallCeilingMs(settingMs: number, waits?: SilentServerWaits): number {
  if (!waits) return settingMs;
  const silentMs = Math.max(waits.tries * (waits.connectTimeoutMs + waits.firstByteTimeoutMs), waits.quietUntilOutputMs ?? 0);
  return Math.max(settingMs, silentMs + STALL_MARGIN_MS);
}
/** Consecutive LLM calls that add nothing before the answer ends ('llm_no_progress'). */
export const MAX_EMPTY_LLM_CALLS = 2;
export { OVERRUN_MARGIN, OVERRUN_RATIO, overrunAllowance } from './overrun';

export interface AnswerLimits {
  maxLlmCalls: number;
  /** Undefined: no money ceiling (used only when the price is known). */
  maxCostUsd: number | undefined;
  maxStallMs: number;
}

/**
 * Tokens of framing per message that a request's text does not contain (role markers and
 * separators: a handful on every API), counted generously.
 */
export const FRAMING_TOKENS_PER_MESSAGE = 16;

/**
 * The most input tokens a request sending `text` in `messages` messages can be billed for by
 * a tokenizer that works on bytes, as every API's of today does: no token is shorter than a
 * byte. The money ceiling's input before the provider's own count is known.
 */
export function inputTokenBound(text: string, messages: number): number {
  return Buffer.byteLength(text, 'utf8') + FRAMING_TOKENS_PER_MESSAGE * (messages + 1);
}

/**
 * The money ceiling: how many output tokens (the provider's count) the next call may write
 * before the answer passes it, once its input is paid at its most expensive: `inputTokens`
 * in the provider's count (MoneyLedger.worstInputTokens), each billed at the dearer of fresh
 * input and a cache write, at the long-context tier that input reaches (pricing.priceForInput),
 * at the dearest rate by time of day (ModelPrice.hours) in force from `startsAtMs` until the
 * call may have ended (`callTimeoutMs` later: a call that starts just before a peak window
 * may be billed at its rate); without `startsAtMs`, the dearest of the day.
 * Infinity without a ceiling or a price; negative when not even the input fits. A call whose max_tokens exceeds it is not made: every allowed output token
 * counts as written. Where max_tokens bounds hidden reasoning too (max_completion_tokens) that is
 * all a call can bill; elsewhere the engine also holds back the answer's average reasoning per call.
 */
export function outputTokensWithinCeiling(
  spentUsd: number,
  inputTokens: number,
  price: ModelPrice | undefined,
  maxCostUsd: number | undefined,
  /** The cache rule bills writes (billing.ts billsCacheWrites): a write without its own price costs what pricing.costOf bills it. */
  writesCache = false,
  /** When the call starts (ms since the epoch). */
  startsAtMs?: number,
  /** The longest a call may take, retries included (LlmProvider.callTimeoutMs); undefined: the default. */
  callTimeoutMs = DEFAULT_CALL_TIMEOUT_MS,
): number {
  if (maxCostUsd === undefined || !price) return Infinity;
  // A long-context tier bills the whole call dearer once its input passes the threshold: the
  // room is the least under any price a call of at most `inputTokens` input may be billed at,
  // at any hour it may be billed at.
  const timed = startsAtMs === undefined ? pricesBetween(price, NaN, NaN) : pricesBetween(price, startsAtMs, startsAtMs + callTimeoutMs);
  let room = Infinity;
  for (const p of timed.flatMap((t) => pricesUpTo(t, inputTokens))) {
    const writePerMTok = writesCache ? cacheWritePerMTokOf(p) : (p.cacheWritePerMTok ?? 0);
    const inputPerMTok = Math.max(p.inputPerMTok, writePerMTok);
    const leftUsd = maxCostUsd - spentUsd - (inputTokens * inputPerMTok) / 1_000_000;
    if (leftUsd < 0) return -1;
    if (p.outputPerMTok > 0) room = Math.min(room, (leftUsd * 1_000_000) / p.outputPerMTok);
  }
  return room;
}

/**
 * Calls `onStall` once no progress was reported for `limitMs`. One timer at a time,
 * re-armed for the time left. It keeps the process alive on purpose: an answer waiting
 * on a promise that never settles must still end (stop() is always called at the end).
 */
export class StallWatchdog {
  private lastProgress = Date.now();
  private timer: ReturnType<typeof setTimeout> | undefined;
  private stopped = true;

  constructor(
    private readonly limitMs: number,
    private readonly onStall: () => void,
  ) {}

  start(): void {
    if (this.timer) clearTimeout(this.timer);
    this.stopped = false;
    this.lastProgress = Date.now();
    this.arm(this.limitMs);
  }

  progress(): void {
    this.lastProgress = Date.now();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private arm(ms: number): void {
    this.timer = setTimeout(() => {
      if (this.stopped) return;
      const quiet = Date.now() - this.lastProgress;
      if (quiet >= this.limitMs) {
        this.stop();
        this.onStall();
      } else this.arm(this.limitMs - quiet);
    }, ms);
  }
}
