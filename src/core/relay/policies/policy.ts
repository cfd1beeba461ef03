/**
 * The seam between the relay engine and a relay policy. The engine owns everything that
 * must always hold (calls, appends, budget, window, ceilings, cancellation, the progress
 * invariant); a policy only says what comes next after each outcome: let the SLM write
 * (with which gate), call the LLM (for how many tokens, on which context), or finish.
 * Decisions are plain data.
 */
import type { GenerationStopReason } from '../../slm/types';
import type { FinishReason, SpanSource } from '../events';
import type { AgreementStop } from '../agreementWatch';
import type { MoneyView } from '../money';

/** The SLM refuses a token below this top-1 probability (the decoder's confidence gate). */
export interface SlmGate {
  minTop1: number;
}

/** What the LLM continues: the answer so far with the SLM's relay commands replaced (the paper) or removed, or nothing (llm-only). */
export type LlmContext = { commands: 'replace'; replacement: string } | { commands: 'remove' } | { commands: 'none' };

export type Next =
  /** The SLM writes up to `maxTokens`, stopping after a `</call>` when asked, refusing tokens below the gate. */
  | { do: 'slm'; maxTokens: number; stopAtCommand: boolean; gate?: SlmGate }
  /**
   * The LLM writes up to `maxTokens` (the engine caps it by the budget and the SLM's window);
   * with `untilSlmAgrees`, the engine stops reading once the SLM agrees with that many of
   * the LLM's tokens in a row (agreementWatch.ts), where the SLM can score them cheaply.
   */
  | { do: 'llm'; maxTokens: number; context: LlmContext; untilSlmAgrees?: AgreementStop }
  | { do: 'end'; reason: FinishReason }
  /** The answer ends with an error the user is told about (e.g. a malformed command). */
  | { do: 'fail'; code: string; message: string };

/** An SLM turn that ended the answer: its end of sequence, a full window, or Stop. */
export function answerEndedBy(stopReason: GenerationStopReason): Next | undefined {
  if (stopReason === 'eos' || stopReason === 'context_full' || stopReason === 'cancelled') return { do: 'end', reason: stopReason };
  return undefined;
}

export type Outcome =
  | { kind: 'start' }
  /** command: the relay command the turn ended with, if any (`</call>` without `<call>` leaves it undefined). */
  | { kind: 'slm'; stopReason: GenerationStopReason; command?: string }
  | { kind: 'llm'; finish: 'length' | 'stop' }
  /** The engine did not make the call the policy asked for: it could not pay off under the money ceilings. */
  | { kind: 'declined'; predictedUsd: number; allowanceUsd: number };

/** What a policy may read of the answer so far (tokens counted in the SLM's tokenizer). */
export interface RelayState {
  readonly budget: number;
  readonly used: number;
  readonly left: number;
  readonly slmTokens: number;
  readonly llmTokens: number;
  /** SLM turns taken so far (including the one just ended). */
  readonly turns: number;
  readonly calls: number;
  /** The answer's money, when the LLM's price is known. */
  readonly money?: MoneyView;
}

export interface RelayPolicy {
  /** False for a policy the SLM takes no part in (llm-only): no SLM session, no window check. */
  readonly usesSlm: boolean;
  /** False for a policy that never contacts the LLM (slm-only): nothing is sent to it, not even a token count. */
  readonly usesLlm: boolean;
  /** random-router: where this query went. */
  readonly routedTo?: SpanSource;
  next(outcome: Outcome, state: RelayState): Next;
}
