/** The SLM alone (a baseline): commands it writes are hidden and ignored (kept in its context). */
import { answerEndedBy, type Next, type Outcome, type RelayPolicy, type RelayState } from './policy';

export class SlmOnlyPolicy implements RelayPolicy {
  readonly usesSlm = true;
  readonly usesLlm = false;

  constructor(readonly routedTo?: 'slm') {}

  next(outcome: Outcome, state: RelayState): Next {
    if (outcome.kind === 'slm') {
      const ended = answerEndedBy(outcome.stopReason);
      if (ended) return ended;
      if (outcome.stopReason !== 'stop_string' && state.left <= 0) return { do: 'end', reason: 'budget' };
    }
    return { do: 'slm', maxTokens: state.left, stopAtCommand: true };
  }
}
