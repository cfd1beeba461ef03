/**
 * Beyond the paper: the SLM reads the LLM's span as it streams and says when the LLM is no
 * longer needed. After each piece of the LLM's text the SLM's own next token is looked at
 * (greedy, never committed: a gate no token can pass refuses it and reports it); where the
 * LLM wrote that very token and the SLM was sure of it (top-1 at or above the policy's
 * threshold), the SLM agreed. Once it agrees with `tokens` tokens in a row the rest of the
 * span is what the SLM would write itself: the engine stops reading the stream and closes
 * it (a cancelled stream is billed only for what was generated).
 *
 * The LLM's text enters the SLM's context as it is scored (the prefill the engine does
 * anyway after a call, done piecewise): the SLM's own tokens where the LLM wrote them, other
 * text a word at a time once the word has ended (a word still being written may merge with
 * what follows).
 * `fed` says how much of the span is in the context; the engine appends the rest.
 */
import type { SlmSession } from '../slm/types';

/** A top-1 no token reaches: generate() refuses the SLM's next token and reports it without committing it. */
const NO_TOKEN_PASSES = 2;

export interface AgreementStop {
  /** Agreed tokens in a row that end the span. */
  tokens: number;
  /** The SLM agrees only where it is at least this sure (the policy's confidence threshold). */
  minTop1: number;
}

export class AgreementWatch {
  /** Characters of the span already in the SLM's context. */
  fed = 0;
  /** Tokens those characters added to the SLM's context. */
  fedTokens = 0;
  /** The SLM's next token at `fed`, once looked at. */
  private peeked: { text: string; top1: number } | undefined;
  private streak = 0;

  constructor(
    private readonly session: SlmSession,
    private readonly stop: AgreementStop,
    private readonly signal: AbortSignal,
  ) {}

  /** Reads the span so far (the whole of it, each time); true once the SLM has agreed with enough tokens in a row. */
  async read(span: string): Promise<boolean> {
    for (;;) {
      if (this.signal.aborted) return false;
      const next = (this.peeked ??= await this.peek());
      const rest = span.slice(this.fed);
      if (rest.length === 0) return false;
      if (next.text.length > 0 && rest.length < next.text.length && next.text.startsWith(rest)) return false; // too early to tell
      if (next.text.length > 0 && rest.startsWith(next.text)) {
        // The LLM wrote the SLM's token: it enters the context as that token; an unsure one is no agreement.
        await this.feed(next.text);
        this.streak = next.top1 >= this.stop.minTop1 ? this.streak + 1 : 0;
        if (this.streak >= this.stop.tokens) return true;
        continue;
      }
      // The LLM wrote something else: its text up to the end of that word enters the context.
      this.streak = 0;
      const cut = endOfWord(rest);
      if (cut <= 0) return false;
      await this.feed(rest.slice(0, cut));
    }
  }

  private async feed(text: string): Promise<void> {
    const appended = await this.session.append(text);
    this.fed += text.length;
    this.fedTokens += appended.tokenCount;
    this.peeked = undefined;
  }

  private async peek(): Promise<{ text: string; top1: number }> {
    const result = await this.session.generate({ maxTokens: 1, minTop1: NO_TOKEN_PASSES }, undefined, this.signal);
    const token = result.refusedToken;
    return token ? { text: token.text, top1: token.top1 } : { text: '', top1: 0 };
  }
}

/** Where the first word of `text` (with the whitespace before it) ends, when what follows shows it has (0: not yet). */
function endOfWord(text: string): number {
  const match = /^\s*\S+(?=\s)/u.exec(text);
  return match ? match[0].length : 0;
}
