/**
 * Beyond the paper, for SLMs never trained to call: the decoder's gate refuses a token
 * whose top-1 probability is below the threshold (top-1 because the toy measurements in
 * shared/notes/training-on-cpu.md gated on it, it is cheap and reads as "how sure"); the
 * refused token is discarded and the LLM writes a fixed span, then the SLM resumes.
 * Hand-offs happen only while the LLM's share of the answer is below the cap (it can pass
 * the cap by at most one span). The LLM sees the answer untrimmed (mid-sentence seams
 * must stay exact) and without the commands a command-trained SLM may write (ignored).
 */
import { llmTokenShare } from '../cost';
import { answerEndedBy, type Next, type Outcome, type RelayPolicy, type RelayState } from './policy';

export interface ConfidenceOptions {
  /** Hand off when the SLM's top-1 probability of its next token is below this. */
  threshold: number;
  /** Tokens the LLM writes at each hand-off. */
  spanTokens: number;
  /** Upper bound of spanTokens (a setting typo must not hand the answer to the LLM). */
  maxSpanTokens: number;
  /** No hand-off while the LLM's share of the answer's tokens is at or above this. */
  maxLlmShare: number;
  /**
   * money-aware: end a call once the SLM agrees with this many of the LLM's tokens in a row
   * (agreementWatch.ts). Absent or 0: off, the default, as bench:cost found no gain with it
   * where every call re-sends a long context (README, Performance).
   */
  agreeStopTokens?: number;
}

export const DEFAULT_CONFIDENCE: ConfidenceOptions = { threshold: 0.5, spanTokens: 2, maxSpanTokens: 64, maxLlmShare: 0.2 };

export class ConfidencePolicy implements RelayPolicy {
  readonly usesSlm = true;
  readonly usesLlm = true;
  private readonly spanTokens: number;

  constructor(private readonly c: ConfidenceOptions) {
    this.spanTokens = Math.min(c.spanTokens, c.maxSpanTokens);
  }

  next(outcome: Outcome, state: RelayState): Next {
    if (outcome.kind === 'slm') {
      const ended = answerEndedBy(outcome.stopReason);
      if (ended) return ended;
      if (outcome.stopReason === 'low_confidence') {
        return { do: 'llm', maxTokens: Math.min(this.spanTokens, state.left), context: { commands: 'remove' } };
      }
    }
    if (outcome.kind === 'llm' && outcome.finish === 'stop') return { do: 'end', reason: 'llm_eos' };
    return this.slmTurn(state);
  }

  private slmTurn(state: RelayState): Next {
    const { threshold, maxLlmShare } = this.c;
    const shareBelowCap = llmTokenShare(state.slmTokens, state.llmTokens) < maxLlmShare;
    const gate = threshold > 0 && shareBelowCap ? { minTop1: threshold } : undefined;
    let maxTokens = state.left;
    if (threshold > 0 && !shareBelowCap && maxLlmShare > 0) {
      // Gate closed by the cap: decode only until the LLM's share falls below it again.
      const untilShareFalls = Math.floor(state.llmTokens / maxLlmShare - state.used) + 1;
      maxTokens = Math.max(1, Math.min(state.left, untilShareFalls));
    }
    return { do: 'slm', maxTokens, stopAtCommand: false, gate };
  }
}
