/**
 * The relay engine's event stream: everything a UI needs to render an answer as it is
 * written, with the source of every span.
 */
import type { ProviderFix } from '../providers/errors';
import type { ContinuationMethod, Usage } from '../providers/types';

export type { RelayMode } from './policies/registry';
import type { RelayMode } from './policies/registry';
import type { PromptReader } from '../../shared/promptReading';

export type SpanSource = 'slm' | 'llm';

export interface AnswerStats {
  mode: RelayMode;
  /** Tokens of the final answer written by each model, counted in the SLM's tokenizer. */
  slmTokens: number;
  llmTokens: number;
  /** llmTokens / (slmTokens + llmTokens): the paper's call ratio. */
  llmTokenShare: number;
  calls: number;
  /** LLM usage summed over all calls, input tokens re-sent on every call included. */
  llmUsage: Usage;
  /** Cost of this answer in USD; null when a price is unknown. */
  costUsd: number | null;
  /**
   * Estimated cost of an LLM-only answer of the same length (prompt once as input, the
   * whole answer as output); null when a price is unknown.
   */
  llmOnlyCostUsd: number | null;
  /** llmOnlyCostUsd - costUsd; null when either is unknown. */
  savedUsd: number | null;
  elapsedMs: number;
  /** Why the answer ended; see FinishReason. */
  finishReason: FinishReason;
  /** Tokens of the SLM's commands (`<call>N</call>`), part of slmTokens as in the paper's count, never shown. */
  commandTokens?: number;
  /** Tokens of the rendered prompt in the SLM's tokenizer (the LLM-only estimate's input). */
  promptTokens?: number;
  /** Leading prompt tokens the SLM did not compute again: a kept KV cache (the chat so far, Retry) or a server's prefix cache held them. */
  reusedPromptTokens?: number;
  /** SLM turns taken (command mode: at most maxTurns). */
  turns?: number;
  /** Tokens of the thinking part (<think>...</think>, counted in the SLM tokenizer), included in the token counts above; absent when the answer did not think. */
  thinkingTokens?: number;
  /** random-router mode: where this query went. */
  routedTo?: SpanSource;
  /** How llmOnlyCostUsd was computed, for the UI to show next to the figure. */
  llmOnlyEstimateNote?: string;
  /** Where the prices came from (the catalog and its date, or the user's settings), shown beside every savings figure. */
  priceNote?: string;
  /** Calls skipped because they could not pay off under the answer's money ceilings ('call-declined' events). */
  declinedCalls?: number;
  /**
   * The least relay.maxCostRatio that would have let one of the skipped calls through, at its
   * point of the answer (the smallest 'call-declined' ratioNeeded); absent where no call was
   * skipped for the ratio alone.
   */
  leastRatioToCall?: number;
  /** Of declinedCalls, those relay.maxCostPerAnswerUsd refused (no ratio would have let them through); absent when none. */
  declinedByUsdCeiling?: number;
  /**
   * A served SLM's waste: tokens it generated that the answer does not keep (a server cannot
   * refuse a token before writing it: the gate's refused token and what arrived after it).
   * Not in slmTokens; absent when nothing was discarded.
   */
  slmDiscardedTokens?: number;
  /**
   * The billing model against the provider: its prediction of the calls whose usage was
   * reported (made before each call, with the output the call then wrote) and what that
   * reported usage costs. Absent when no call reported usage or the price is unknown.
   */
  billing?: { predictedUsd: number; reportedUsd: number; calls: number };
}

/**
 * Why an answer ended. Every early end keeps the partial answer.
 * - eos: the SLM ended; llm_eos: the LLM ended the answer;
 * - budget: the token budget is spent; turn_limit: the last allowed SLM turn ended with a
 *   command (ignored, as in the paper);
 * - context_full: prompt and answer fill the SLM's context window;
 * - llm_no_progress: LLM calls in a row added nothing to the answer (empty, or only what
 *   the seam cleaner removed); slm_no_progress: an SLM turn added nothing (a defect of the
 *   runtime, never looped on);
 * - call_limit / cost_limit: the answer's ceiling of LLM calls or of money was reached
 *   before the next call; stalled: no new token for the longest allowed silence;
 * - cancelled / error: stopped by the user, or failed (an 'error' event says why).
 */
export type FinishReason =
  | 'eos'
  | 'llm_eos'
  | 'budget'
  | 'turn_limit'
  | 'context_full'
  | 'llm_no_progress'
  | 'slm_no_progress'
  | 'call_limit'
  | 'cost_limit'
  | 'stalled'
  | 'cancelled'
  | 'error';

export type RelayEvent =
  | {
      type: 'span';
      source: SpanSource;
      text: string;
      /** Tokens behind this text (SLM: generated tokens; LLM: this chunk counted in the SLM tokenizer). */
      tokens: number;
      callIndex?: number;
      /** Milliseconds since the answer started. */
      atMs?: number;
    }
  /** continuation: how the provider means to continue (a call-end may correct it, e.g. after a refused prefill). */
  | { type: 'call-start'; callIndex: number; requestedTokens: number; model: string; host: string; continuation: ContinuationMethod }
  /**
   * An LLM call has had no response byte for `waitedMs` (sent once per second from the
   * first second on; `retrying` says why a new attempt is coming). 'reasoning': its response
   * began but `model` reasons before it writes (OpenAI's pro models, for minutes), and the
   * wait goes on. 'receiving' closes the wait once bytes (or, after 'reasoning', the output) come.
   */
  | {
      type: 'call-wait';
      callIndex: number;
      host: string;
      waitedMs: number;
      state: 'waiting' | 'retrying' | 'reasoning' | 'receiving';
      note?: string;
      model?: string;
    }
  | {
      type: 'call-end';
      callIndex: number;
      tokens: number;
      durationMs: number;
      /** error: the call failed (an 'error' event follows); the text it wrote before failing is kept. */
      finishReason: 'length' | 'stop' | 'cancelled' | 'error';
      usage: Usage;
      /** Exactly the text the LLM was asked to continue (for the privacy view). */
      sentPartialAnswer: string;
      /** How this call continued the answer: exact (raw completion, assistant prefix) or approximate (instructed). */
      continuation: ContinuationMethod;
      /** What this call cost (its usage at the answer's prices); null when the price is unknown. */
      costUsd: number | null;
      /** The call was ended early: the SLM agreed with the LLM's last tokens (agreementWatch.ts). */
      slmAgreed?: boolean;
      /**
       * The provider's count of the conversation and answer so far this call sent (its reported
       * input, less an instruction turn after them), where it reported usage and the price is
       * known: a later request repeating that text finds this much of it cached (RecentPrompts).
       */
      sentTextTokens?: number;
      /** What the billing model predicted this call would cost (MoneyLedger.lastPredictedUsd), where it reported usage and the price is known: costUsd's counterpart. */
      predictedUsd?: number;
    }
  /**
   * A call the answer's money ceilings did not allow here: it would have cost about
   * `predictedUsd` while the answer could still spend `allowanceUsd`. The SLM went on alone.
   */
  | {
      type: 'call-declined';
      predictedUsd: number;
      allowanceUsd: number;
      requestedTokens: number;
      atMs: number;
      /** The least relay.maxCostRatio under which this call would have been made here (absent where the USD ceiling refused it). */
      ratioNeeded?: number;
      /** The per-answer USD ceiling (relay.maxCostPerAnswerUsd) refused it, whatever the ratio: absent where relay.maxCostRatio did. */
      byUsdCeiling?: true;
    }
  /**
   * A model on this machine is reading a prompt too long for one step (a long selection, a long
   * chat's first turn): the SLM, or a large model of provider onnx-local before its span.
   * `done` of `total` tokens computed, `reusedTokens` more already held by a kept
   * cache. Sent before the first step and after each (a step is about a second on a laptop);
   * Stop works between steps. `reader` 'large' says the large model reads (absent: the SLM).
   */
  | { type: 'prompt-reading'; done: number; total: number; reusedTokens: number; atMs: number; reader?: PromptReader }
  /**
   * The prompt ends inside a thinking part: the SLM's chat template opened `<think>` in it
   * (DeepSeek-R1-Distill, Qwen3 *-Thinking-2507), so the answer starts in its reasoning and
   * only `</think>` (if anything) ends it. Sent once, before the first span, only then, and only
   * where the SLM starts the answer (not llm-only, nor a query routed to the LLM). A view reads
   * the answer as if `<think>` began it (thinkingOf's `openedByPrompt`).
   */
  | { type: 'thinking-opened' }
  /** code: a ProviderError code, or 'malformed_command' | 'prompt_too_long' | 'slm' | 'internal'; fix: the button that helps. */
  | { type: 'error'; message: string; code: string; fix?: ProviderFix }
  | { type: 'done'; answer: string; stats: AnswerStats };
