/**
 * The prompts sent to each LLM a short while ago (kept by an adapter for its lifetime: the
 * extension's chat, Retry). The LLM alone would have sent them too, and its provider's
 * cache would serve the part a new prompt repeats (a chat's history, a Retry's whole
 * prompt): the LLM-alone estimate a relay answer is compared with must count that, or the
 * saving it shows is larger than the real one. `relay eval` keeps none: its questions are
 * independent answers.
 */

import { createHash } from 'node:crypto';
import type { WarmTokens } from './money';

/**
 * How long a provider's cache is taken to keep a prompt. Anthropic keeps an entry 5 minutes
 * (refreshed on use), OpenAI 5-10 minutes and up to an hour: the longer, the smaller the
 * saving claimed.
 */
export const PROMPT_CACHE_TTL_MS = 10 * 60_000;
const KEPT_PER_LLM = 16;

/** What went to each LLM and when, within the TTL and bounded; an item added again replaces its older copy. */
class SentPerLlm<T> {
  private readonly byLlm = new Map<string, { item: T; key: string; at: number }[]>();

  constructor(
    private readonly now: () => number,
    /** Which items are the same (kept once). */
    private readonly keyOf: (item: T) => string,
  ) {}

  /** The items sent to `llm` within the TTL. */
  recent(llm: string): T[] {
    return this.entries(llm).map((e) => e.item);
  }

  add(llm: string, item: T): void {
    const key = this.keyOf(item);
    const kept = [...this.entries(llm).filter((e) => e.key !== key), { item, key, at: this.now() }].slice(-KEPT_PER_LLM);
    this.byLlm.set(llm, kept);
  }

  private entries(llm: string): { item: T; key: string; at: number }[] {
    const at = this.now();
    return (this.byLlm.get(llm) ?? []).filter((e) => at - e.at <= PROMPT_CACHE_TTL_MS);
  }
}

/** How many leading characters of `text` the one of `texts` that shares most shares. */
function longestShared(texts: readonly string[], text: string): number {
  return texts.reduce((most, sent) => Math.max(most, commonPrefixLength(sent, text)), 0);
}

/**
 * The provider's input count of an earlier request that `text` repeats whole (the longest such
 * with a count), or undefined. A chat turn's first call repeats the previous turn's last request
 * whole: its reported count says exactly where the cached prefix ends in the provider's tokens,
 * which a token ratio learned on other texts only estimates (and at 90% off cached input the
 * few fresh tokens past that point are most of the call's price).
 */
function repeatedWhole(requests: readonly SentRequestText[], text: string): { chars: number; providerTokens: number } | undefined {
  let best: { chars: number; providerTokens: number } | undefined;
  for (const r of requests) {
    if (r.providerTokens === undefined || r.text.length <= (best?.chars ?? 0) || !text.startsWith(r.text)) continue;
    best = { chars: r.text.length, providerTokens: r.providerTokens };
  }
  return best;
}

/** A relay request as sent (prompt and answer so far), with the provider's count of its input where the provider reported it. */
interface SentRequestText {
  text: string;
  providerTokens?: number;
}

/**
 * How many messages a conversation may have grown since a request whose breakpoint a new one
 * reads: Anthropic looks for a cache hit at the content block boundaries up to about 20
 * blocks before a breakpoint, and the first call of an answer has its breakpoint at the end
 * of the conversation, each message one block.
 */
export const BREAKPOINT_LOOKBACK_MESSAGES = 20;

/**
 * Leading characters of `prompt` a breakpoint at the end of an earlier request's conversation
 * covers: that conversation, message for message, begins `conversation`, at most
 * BREAKPOINT_LOOKBACK_MESSAGES messages back.
 */
function atBreakpoint(sent: readonly SentConversation[], prompt: string, conversation: readonly string[]): number {
  const readable = sent.filter((s) => {
    const grown = conversation.length - s.conversation.length;
    return grown >= 0 && grown <= BREAKPOINT_LOOKBACK_MESSAGES && s.conversation.every((m, i) => m === conversation[i]);
  });
  return longestShared(
    readable.map((s) => s.prompt),
    prompt,
  );
}

/** A relay request's prompt and the conversation (one string per message) it rendered. */
interface SentConversation {
  prompt: string;
  conversation: readonly string[];
}

/** Leading characters of a new prompt a provider's cache likely holds (RecentPrompts.note). */
export interface WarmPrefix {
  /** For the LLM alone: a prompt answered before. */
  llmOnly: number;
  /** For the relay under a prefix cache: a request it sent before (prompt and answer so far). */
  relay: number;
  /**
   * Where this prompt repeats a request sent before whole, and the provider reported that
   * request's input: its length (characters) and the provider's count of it.
   */
  relayReported?: { chars: number; providerTokens: number };
  /**
   * For the relay under Anthropic's breakpoints: the conversation of a request it sent
   * before, which that request's breakpoint at its conversation's end wrote (its answer so
   * far was in blocks this prompt does not have).
   */
  relayBreakpoint: number;
}

export class RecentPrompts {
  /** Every prompt answered (the LLM alone would have sent each). */
  private readonly prompts: SentPerLlm<string>;
  /** What the relay really sent (prompt and answer so far, per call). */
  private readonly requests: SentPerLlm<SentRequestText>;
  /** The conversations of those requests. */
  private readonly conversations: SentPerLlm<SentConversation>;

  constructor(now: () => number = Date.now) {
    this.prompts = new SentPerLlm(now, (text) => text);
    this.requests = new SentPerLlm(now, (sent) => sent.text);
    this.conversations = new SentPerLlm(now, (sent) => sent.prompt);
  }

  /**
   * Leading characters of `prompt` (which renders `conversation`, one string per message) the
   * provider's cache likely holds (WarmPrefix). Then records `prompt` as answered.
   */
  note(llm: string, prompt: string, conversation: readonly string[] = []): WarmPrefix {
    const requests = this.requests.recent(llm);
    const relayReported = repeatedWhole(requests, prompt);
    const warm: WarmPrefix = {
      llmOnly: longestShared(this.prompts.recent(llm), prompt),
      relay: longestShared(
        requests.map((r) => r.text),
        prompt,
      ),
      relayBreakpoint: conversation.length > 0 ? atBreakpoint(this.conversations.recent(llm), prompt, conversation) : 0,
      ...(relayReported ? { relayReported } : {}),
    };
    this.prompts.add(llm, prompt);
    return warm;
  }

  /**
   * A request the relay sent to `llm`: its prompt (rendering `conversation`) and the answer so
   * far; `providerTokens`, the provider's count of that text (the call-end's sentTextTokens).
   */
  sent(llm: string, prompt: string, partialAnswer: string, conversation: readonly string[] = [], providerTokens?: number): void {
    this.requests.add(llm, { text: prompt + partialAnswer, ...(providerTokens !== undefined && providerTokens > 0 ? { providerTokens } : {}) });
    if (conversation.length > 0) this.conversations.add(llm, { prompt, conversation });
  }
}

/** A WarmPrefix (characters of `prompt`) in tokens, as the engine takes it (WarmTokens), with `count` the SLM's count of a text. */
export async function warmTokensOf(shared: WarmPrefix, prompt: string, count: (text: string) => number | Promise<number>): Promise<WarmTokens> {
  const tokens = async (chars: number) => (chars > 0 ? count(prompt.slice(0, chars)) : 0);
  const reported = shared.relayReported;
  return {
    llmOnly: await tokens(shared.llmOnly),
    relay: await tokens(shared.relay),
    relayBreakpoint: await tokens(shared.relayBreakpoint),
    ...(reported ? { relayReported: { local: await tokens(reported.chars), providerTokens: reported.providerTokens } } : {}),
  };
}

/**
 * The prompt-cache routing key of a conversation (OpenAI's prompt_cache_key, at most 64
 * characters): a hash of its first messages (the system prompt and the first question, which
 * every later turn and a Retry repeat) and of the model at its destination. Requests with one
 * key go to the machines holding their prefix; a new key per answer could miss the cache a
 * chat's next turn is priced with. The text itself is not in the key.
 */
export function conversationCacheKey(messages: readonly { role: string; content: string }[], modelAtDestination: string): string {
  const opening = conversationOf(messages.slice(0, messages[0]?.role === 'system' ? 2 : 1));
  const hash = createHash('sha256')
    .update([modelAtDestination, ...opening].join('\u0000'))
    .digest('base64url');
  return `relay-${hash.slice(0, 32)}`;
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
