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

/**
 * How many messages a conversation may have grown since a request whose breakpoint a new one
 * reads: Anthropic looks for a cache hit at the content block boundaries up to about 20
 * blocks before a breakpoint, and the first call of an answer has its breakpoint at the end
 * of the conversation, each message one block.
 */
export const BREAKPOINT_LOOKBACK_MESSAGES = 20;

/** The conversations (one string per message) the relay's requests rendered, with their prompts, per LLM. */
class SentConversations {
  private readonly byLlm = new Map<string, { prompt: string; conversation: readonly string[]; at: number }[]>();

  constructor(private readonly now: () => number) {}

  /**
   * Leading characters of `prompt` a breakpoint at the end of an earlier request's
   * conversation covers: that conversation, message for message, begins `conversation`, at
   * most BREAKPOINT_LOOKBACK_MESSAGES messages back.
   */
  atBreakpoint(llm: string, prompt: string, conversation: readonly string[]): number {
    let shared = 0;
    for (const sent of this.recent(llm)) {
      const grown = conversation.length - sent.conversation.length;
      if (grown < 0 || grown > BREAKPOINT_LOOKBACK_MESSAGES || !sent.conversation.every((m, i) => m === conversation[i])) continue;
      shared = Math.max(shared, commonPrefixLength(sent.prompt, prompt));
    }
    return shared;
  }

  add(llm: string, prompt: string, conversation: readonly string[]): void {
    const others = this.recent(llm).filter((s) => s.prompt !== prompt);
    this.byLlm.set(llm, [...others, { prompt, conversation, at: this.now() }].slice(-KEPT_PER_LLM));
  }

  private recent(llm: string): { prompt: string; conversation: readonly string[]; at: number }[] {
    const at = this.now();
    return (this.byLlm.get(llm) ?? []).filter((s) => at - s.at <= PROMPT_CACHE_TTL_MS);
  }
}

/** Leading characters of a new prompt a provider's cache likely holds (RecentPrompts.note). */
export interface WarmPrefix {
  /** For the LLM alone: a prompt answered before. */
  llmOnly: number;
  /** For the relay under a prefix cache: a request it sent before (prompt and answer so far). */
  relay: number;
  /**
   * For the relay under Anthropic's breakpoints: the conversation of a request it sent
   * before, which that request's breakpoint at its conversation's end wrote (its answer so
   * far was in blocks this prompt does not have).
   */
  relayBreakpoint: number;
}

export class RecentPrompts {
  /** Every prompt answered (the LLM alone would have sent each). */
  private readonly prompts: SentTexts;
  /** What the relay really sent (prompt and answer so far, per call). */
  private readonly requests: SentTexts;
  /** The conversations of those requests. */
  private readonly conversations: SentConversations;

  constructor(now: () => number = Date.now) {
    this.prompts = new SentTexts(now);
    this.requests = new SentTexts(now);
    this.conversations = new SentConversations(now);
  }

  /**
   * Leading characters of `prompt` (which renders `conversation`, one string per message) the
   * provider's cache likely holds (WarmPrefix). Then records `prompt` as answered.
   */
  note(llm: string, prompt: string, conversation: readonly string[] = []): WarmPrefix {
    const warm = {
      llmOnly: this.prompts.shared(llm, prompt),
      relay: this.requests.shared(llm, prompt),
      relayBreakpoint: conversation.length > 0 ? this.conversations.atBreakpoint(llm, prompt, conversation) : 0,
    };
    this.prompts.add(llm, prompt);
    return warm;
  }

  /** A request the relay sent to `llm`: its prompt (rendering `conversation`) and the answer so far. */
  sent(llm: string, prompt: string, partialAnswer: string, conversation: readonly string[] = []): void {
    this.requests.add(llm, prompt + partialAnswer);
    if (conversation.length > 0) this.conversations.add(llm, prompt, conversation);
  }
}

/** A conversation as RecentPrompts compares it: one string per message. */
export function conversationOf(messages: readonly { role: string; content: string }[]): string[] {
  return messages.map((m) => `${m.role}\n${m.content}`);
}

/** How many leading characters `a` and `b` share. */
export function commonPrefixLength(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  let i = 0;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i += 1;
  return i;
}
