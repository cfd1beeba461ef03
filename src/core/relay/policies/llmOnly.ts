/** The LLM writes the whole answer (the baseline savings are measured against); tokens counted in the SLM's tokenizer. */
import type { Next, Outcome, RelayPolicy, RelayState } from './policy';

export class LlmOnlyPolicy implements RelayPolicy {
  readonly usesSlm = false;
  readonly usesLlm = true;

  constructor(readonly routedTo?: 'llm') {}

  next(outcome: Outcome, state: RelayState): Next {
    if (outcome.kind === 'start') return { do: 'llm', maxTokens: state.budget, context: { commands: 'none' } };
    if (outcome.kind === 'llm' && outcome.finish === 'stop') return { do: 'end', reason: 'llm_eos' };
    return { do: 'end', reason: state.llmTokens > 0 ? 'budget' : 'llm_no_progress' };
  }
}
