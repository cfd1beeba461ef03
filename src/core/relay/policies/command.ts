/**
 * The paper's protocol (eval/generate_withhelp.py): the SLM decodes until `</call>`; N is
 * read with `<call>\s*(\d+)`; N = 0 is no call; a `<call>` without digits fails the answer;
 * the LLM continues the answer with every command replaced (a space, or '' for models
 * trained with commands removed) for N tokens; its end-of-sequence ends the answer; after
 * maxTurns SLM turns a further command is ignored and the answer ends ('turn_limit'); a
 * `</call>` with no `<call>` ends the answer as in the reference code.
 */
import { parseCallCount } from '../commandFilter';
import type { Next, Outcome, RelayPolicy, RelayState } from './policy';

export class CommandPolicy implements RelayPolicy {
  readonly usesSlm = true;
  readonly usesLlm = true;

  constructor(
    private readonly maxTurns: number,
    /** What replaces each command in the LLM's context: ' ' in the paper. */
    private readonly replacement: string,
  ) {}

  next(outcome: Outcome, state: RelayState): Next {
    const slm: Next = { do: 'slm', maxTokens: state.left, stopAtCommand: true };
    // A call the money ceiling declined: the SLM goes on as if the LLM had written nothing.
    if (outcome.kind === 'start' || outcome.kind === 'declined') return slm;
    if (outcome.kind === 'llm') return outcome.finish === 'stop' ? { do: 'end', reason: 'llm_eos' } : slm;
    switch (outcome.stopReason) {
      case 'eos':
        return { do: 'end', reason: 'eos' };
      case 'context_full':
        return { do: 'end', reason: 'context_full' };
      case 'cancelled':
        return { do: 'end', reason: 'cancelled' };
      case 'stop_string':
        break;
      default:
        if (state.left <= 0) return { do: 'end', reason: 'budget' };
        return state.turns >= this.maxTurns ? { do: 'end', reason: 'turn_limit' } : slm;
    }
    if (outcome.command === undefined) return { do: 'end', reason: 'eos' }; // a stray </call>
    if (state.turns >= this.maxTurns) return { do: 'end', reason: 'turn_limit' };
    const n = parseCallCount(outcome.command);
    if (n === null) {
      return {
        do: 'fail',
        code: 'malformed_command',
        message: `The small model wrote a relay command without a token count (${JSON.stringify(outcome.command)}); as in the paper, the answer ends here.`,
      };
    }
    if (state.left <= 0) return { do: 'end', reason: 'budget' };
    return n === 0 ? slm : { do: 'llm', maxTokens: n, context: { commands: 'replace', replacement: this.replacement } };
  }
}
