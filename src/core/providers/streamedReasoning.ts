/**
 * Reasoning a chat stream carries besides its text, where the host does not set it apart:
 * `<think>…</think>` at the head of the content (Groq's qwen3 by default, vLLM or LM Studio
 * serving Qwen3 or DeepSeek-R1 without a reasoning parser), split off here; and its token
 * count, which hosts that stream reasoning in a field of its own (Ollama, vLLM) leave out of
 * their usage, filled in here from the text.
 */
import { THINK_CLOSE, THINK_OPEN } from '../relay/thinking';
import type { ContinuationMethod, ProviderChunk } from './types';
import { isCount, type ReportedUsage, type TokenCounter } from './usage';

/** What one piece of content holds: answer text, and reasoning (tags included: they are billed output too). */
export interface SplitContent {
  text: string;
  reasoning: string;
}

/**
 * Whitespace held at the head of the content, or after `</think>`, before it is let through as
 * text: enough for the blank lines models put there, and a stream of nothing but whitespace
 * still reaches the reader (which cuts a call that writes past its limit).
 */
const MAX_HELD_WHITESPACE = 64;

/**
 * Splits a stream's content into text and the `<think>` block it opens with (after whitespace
 * only). Content that does not open with the tag passes through as it comes, held back at most
 * until it can no longer be the tag; a `<think>` further on is text (an answer may quote it).
 * Tags may be split across pieces. The blank lines after `</think>` go (as withoutThinking
 * drops them from an earlier answer); a space before the text stays, as it belongs to the
 * answer being continued ("is" + " Paris").
 */
export class ThinkTagSplitter {
  private state: 'head' | 'thinking' | 'after-close' | 'text' = 'head';
  private held = '';

  push(piece: string): SplitContent {
    if (this.state === 'text') return { text: piece, reasoning: '' };
    this.held += piece;
    return this.advance();
  }

  /** The stream ended: what is held goes out (a `<think>` never closed was all reasoning). */
  end(): SplitContent {
    const held = this.held;
    this.held = '';
    const state = this.state;
    this.state = 'text';
    if (state === 'thinking') return { text: '', reasoning: held };
    if (state === 'after-close') return { text: withoutBlankLines(held), reasoning: '' };
    return { text: held, reasoning: '' };
  }

  private advance(): SplitContent {
    let reasoning = '';
    if (this.state === 'head') {
      const rest = this.held.trimStart();
      if (!rest.startsWith(THINK_OPEN)) {
        const undecided = THINK_OPEN.startsWith(rest) && this.held.length - rest.length <= MAX_HELD_WHITESPACE;
        return undecided ? nothing() : this.release(this.held);
      }
      this.state = 'thinking';
    }
    if (this.state === 'thinking') {
      const close = this.held.indexOf(THINK_CLOSE);
      if (close < 0) {
        // The end may be the start of a `</think>` split across pieces: kept for the next one.
        const keep = partialTagAtEnd(this.held, THINK_CLOSE);
        reasoning = this.held.slice(0, this.held.length - keep);
        this.held = this.held.slice(this.held.length - keep);
        return { text: '', reasoning };
      }
      const end = close + THINK_CLOSE.length;
      reasoning = this.held.slice(0, end);
      this.held = this.held.slice(end);
      this.state = 'after-close';
    }
    const whitespaceOnly = this.held.trim().length === 0;
    if (whitespaceOnly && this.held.length <= MAX_HELD_WHITESPACE) return { text: '', reasoning };
    return { text: this.release(withoutBlankLines(this.held)).text, reasoning };
  }

  private release(text: string): SplitContent {
    this.held = '';
    this.state = 'text';
    return { text, reasoning: '' };
  }
}

const nothing = (): SplitContent => ({ text: '', reasoning: '' });

/** What one call's content goes through: ThinkTagSplitter, or as it comes. */
export interface ContentSplitter {
  push(piece: string): SplitContent;
  end(): SplitContent;
}

/**
 * The splitter for a call's content: a `<think>` at its head is the model's own reasoning only
 * where the call starts a new turn of the model (asked by instruction, or with no partial answer
 * to continue through the API's assistant prefix). An exact continuation (a raw prompt, the
 * partial answer as the assistant's prefix) writes the answer's own next characters, where a
 * `<think>` is text: an answer quoting the tag, or the visible thinking relay.slm.thinking asks for.
 */
export function contentSplitter(continuation: ContinuationMethod, partialAnswer: string): ContentSplitter {
  const startsNewTurn = continuation === 'instructed' || (continuation === 'assistant-prefix' && partialAnswer.trim() === '');
  return startsNewTurn ? new ThinkTagSplitter() : { push: (text) => ({ text, reasoning: '' }), end: nothing };
}

/** Whitespace through its last line break goes; spaces after it (the answer's own) stay. */
function withoutBlankLines(text: string): string {
  return text.replace(/^\s*\n/, '');
}

/** How many characters at the end of `text` are the start of `tag` (0 to tag.length - 1). */
function partialTagAtEnd(text: string, tag: string): number {
  for (let length = Math.min(tag.length - 1, text.length); length > 0; length--) if (text.endsWith(tag.slice(0, length))) return length;
  return 0;
}

/**
 * A report with the reasoning the stream carried, where the server reported none (Ollama,
 * vLLM with a reasoning parser, `<think>` in the content: no completion_tokens_details) but
 * its output count: the reasoning counted locally, never more than that output, and all of it
 * where no text came. Left out, a span the reasoning took reads as an empty call that names no
 * cause, and nothing asks the server to stop reasoning (OpenAiStyleProvider.noticeReasoning).
 * Without an output count the report is left as it is: the engine adds what streamed to its estimate.
 */
export function withStreamedReasoning(reported: ReportedUsage, reasoning: string, wroteText: boolean, countTokens: TokenCounter): ReportedUsage {
  const output = reported.outputTokens;
  if (reasoning.length === 0 || !isCount(output) || (reported.reasoningTokens ?? 0) > 0) return reported;
  return { ...reported, reasoningTokens: wroteText ? Math.min(countTokens(reasoning), output) : output };
}

/**
 * One call's content as it streams, split (contentSplitter) into reasoning and text chunks, and
 * what it held for the usage: the text as written (before `transform`) and the reasoning.
 */
export class StreamedContent {
  /** The text the server wrote (before `transform`), for the usage's local count. */
  text = '';
  private reasoningText = '';
  private readonly splitter: ContentSplitter;

  constructor(
    continuation: ContinuationMethod,
    partialAnswer: string,
    private readonly transform?: { push(text: string): string },
  ) {
    this.splitter = contentSplitter(continuation, partialAnswer);
  }

  /** A piece of the content (text, or a `<think>` at the head of a new turn). */
  push(piece: string): Generator<ProviderChunk> {
    return this.yield(this.splitter.push(piece));
  }

  /** Reasoning the server set apart (a field of its own): never text. */
  reasoning(text: string): Generator<ProviderChunk> {
    return this.yield({ text: '', reasoning: text });
  }

  /** The content ended: what the splitter held. */
  end(): Generator<ProviderChunk> {
    return this.yield(this.splitter.end());
  }

  /** `reported` with the reasoning this content carried where it has none (withStreamedReasoning). */
  withReasoning(reported: ReportedUsage, countTokens: TokenCounter): ReportedUsage {
    return withStreamedReasoning(reported, this.reasoningText, this.text.length > 0, countTokens);
  }

  private *yield(split: SplitContent): Generator<ProviderChunk> {
    if (split.reasoning.length > 0) {
      this.reasoningText += split.reasoning;
      yield { type: 'reasoning', text: split.reasoning };
    }
    if (split.text.length === 0) return;
    this.text += split.text;
    const text = this.transform ? this.transform.push(split.text) : split.text;
    if (text.length > 0) yield { type: 'text', text };
  }
}
