/** The SLM alone (a baseline): commands it writes are hidden and ignored (kept in its context). */
import type { Next, Outcome, RelayPolicy, RelayState } from './policy';

export class SlmOnlyPolicy implements RelayPolicy {
  readonly usesSlm = true;

  constructor(readonly routedTo?: 'slm') {}

  next(outcome: Outcome, state: RelayState): Next {
    if (outcome.kind === 'slm') {
      if (outcome.stopReason === 'eos') return { do: 'end', reason: 'eos' };
      if (outcome.stopReason === 'context_full') return { do: 'end', reason: 'context_full' };
      if (outcome.stopReason === 'cancelled') return { do: 'end', reason: 'cancelled' };
      if (outcome.stopReason !== 'stop_string' && state.left <= 0) return { do: 'end', reason: 'budget' };
    }
    return { do: 'slm', maxTokens: state.left, stopAtCommand: true };
  }
}
