/**
 * The prompts sent to each LLM a short while ago (kept by an adapter for its lifetime: the
 * extension's chat, Retry). The LLM alone would have sent them too, and its provider's
 * cache would serve the part a new prompt repeats (a chat's history, a Retry's whole
 * prompt): the LLM-alone estimate a relay answer is compared with must count that, or the
 * saving it shows is larger than the real one. `relay eval` keeps none: its questions are
 * independent answers.
 */

/**
 * How long a provider's cache is taken to keep a prompt. Anthropic keeps an entry 5 minutes
 * (refreshed on use), OpenAI 5-10 minutes and up to an hour: the longer, the smaller the
 * saving claimed.
 */
export const PROMPT_CACHE_TTL_MS = 10 * 60_000;
const KEPT_PER_LLM = 16;

/** Texts and when they went, per LLM, within the TTL and bounded. */
class SentTexts {
  private readonly byLlm = new Map<string, { text: string; at: number }[]>();

  constructor(private readonly now: () => number) {}

  /** How many leading characters of `text` one of the texts sent to `llm` within the TTL shares. */
  shared(llm: string, text: string): number {
    let shared = 0;
    for (const p of this.recent(llm)) shared = Math.max(shared, commonPrefixLength(p.text, text));
    return shared;
  }

  add(llm: string, text: string): void {
    const kept = [...this.recent(llm).filter((p) => p.text !== text), { text, at: this.now() }].slice(-KEPT_PER_LLM);
    this.byLlm.set(llm, kept);
  }

  private recent(llm: string): { text: string; at: number }[] {
    const at = this.now();
    return (this.byLlm.get(llm) ?? []).filter((p) => at - p.at <= PROMPT_CACHE_TTL_MS);
  }
}

export class RecentPrompts {
  /** Every prompt answered (the LLM alone would have sent each). */
  private readonly prompts: SentTexts;
  /** What the relay really sent (prompt and answer so far, per call). */
  private readonly requests: SentTexts;

  constructor(now: () => number = Date.now) {
    this.prompts = new SentTexts(now);
    this.requests = new SentTexts(now);
  }

  /**
   * Leading characters of `prompt` the provider's cache likely holds: for the LLM alone (a
   * prompt answered before) and for the relay (a request it sent before). Then records
   * `prompt` as answered.
   */
  note(llm: string, prompt: string): { llmOnly: number; relay: number } {
    const warm = { llmOnly: this.prompts.shared(llm, prompt), relay: this.requests.shared(llm, prompt) };
    this.prompts.add(llm, prompt);
    return warm;
  }

  /** A request the relay sent to `llm` (its prompt and the answer so far). */
  sent(llm: string, text: string): void {
    this.requests.add(llm, text);
  }
}

/** How many leading characters `a` and `b` share. */
export function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i += 1;
  return i;
}
