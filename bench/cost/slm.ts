/**
 * The scripted SLM of bench:cost (SlmRuntime/SlmSession, like the unit tests' doubles):
 * it writes a trace's reference answer token by token in its own tokenizer (text.ts,
 * slmPieces; countTokens counts the same way), with the trace's scripted top-1
 * probability at each token. Generating with a gate (minTop1) stops before a token whose
 * top-1 is below it ('low_confidence', the token not emitted). append(text) reads the
 * LLM's text, a continuation of the same reference, and moves past it: the SLM resumes
 * right after what the LLM wrote (inside one of its own tokens if the LLM stopped there).
 */
import type { ChatMessage, GenerateOptions, GenerateResult, GeneratedToken, ModelInfo, RenderOptions, SlmRuntime, SlmSession } from '../../src/core/slm/types';
import { alignEnd, slmCount } from './text';
import type { Trace } from './traces';

/** A Qwen-like window: the 200-line explain and the chat history fit with room for the answer. */
export const SCRIPTED_CONTEXT_WINDOW = 32_768;

/** Top-1 of the rest of a token the LLM stopped inside of: the SLM is sure how a word it saw begin ends. */
const REST_OF_TOKEN_TOP1 = 0.97;

export class ScriptedSlm implements SlmRuntime {
  readonly info: ModelInfo = {
    folder: '/bench/scripted-slm',
    modelType: 'scripted',
    vocabSize: 1,
    eosTokenIds: [0],
    hasChatTemplate: true,
    contextWindow: SCRIPTED_CONTEXT_WINDOW,
    backend: { kind: 'onnx', variant: 'fp32', onnxFile: 'none', numLayers: 1, numKeyValueHeads: 1, headDim: 1 },
  };
  readonly sessions: ScriptedSession[] = [];

  constructor(readonly trace: Pick<Trace, 'reference' | 'pieces' | 'top1'>) {}

  /** A ChatML-shaped template. */
  async renderChat(messages: ChatMessage[], options?: RenderOptions): Promise<string> {
    const turns = messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('');
    return options?.addGenerationPrompt === false ? turns : `${turns}<|im_start|>assistant\n`;
  }

  /** Synchronous count, for ProviderOptions.countTokens. */
  count(text: string): number {
    return slmCount(text);
  }

  async countTokens(text: string): Promise<number> {
    return slmCount(text);
  }

  async createSession(): Promise<SlmSession> {
    const session = new ScriptedSession(this.trace, this.info.contextWindow ?? Infinity);
    this.sessions.push(session);
    return session;
  }

  async dispose(): Promise<void> {}
}

export class ScriptedSession implements SlmSession {
  readonly id = 'scripted';
  /** Where the SLM is in the reference (a character offset). */
  position = 0;
  /** Tokens in the context (prompt, written, appended). */
  contextLength = 0;
  /** Appends that did not line up with the reference exactly (a seam that added or dropped text). */
  misaligned = 0;
  readonly appended: string[] = [];

  constructor(
    private readonly trace: Pick<Trace, 'reference' | 'pieces' | 'top1'>,
    private readonly window: number,
  ) {}

  async prefill(text: string): Promise<{ tokenCount: number }> {
    const tokenCount = slmCount(text);
    this.contextLength += tokenCount;
    return { tokenCount };
  }

  /** The token that comes next: a whole scripted token, or the rest of one the LLM stopped inside of. */
  nextToken(): { text: string; top1: number; index: number } | undefined {
    const { pieces, reference, top1 } = this.trace;
    if (this.position >= reference.length) return undefined;
    // The token holding `position` (binary search over the starts).
    let lo = 0;
    let hi = pieces.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if (pieces[mid].start <= this.position) lo = mid;
      else hi = mid - 1;
    }
    const piece = pieces[lo];
    const end = piece.start + piece.text.length;
    if (this.position === piece.start) return { text: piece.text, top1: top1[lo], index: lo };
    return { text: reference.slice(this.position, end), top1: REST_OF_TOKEN_TOP1, index: lo };
  }

  async generate(options: GenerateOptions, onToken?: (token: GeneratedToken) => void, signal?: AbortSignal): Promise<GenerateResult> {
    const tokens: GeneratedToken[] = [];
    let text = '';
    const result = (stopReason: GenerateResult['stopReason'], refusedToken?: GeneratedToken): GenerateResult => ({
      tokens,
      text,
      stopReason,
      contextLength: this.contextLength,
      ...(refusedToken ? { refusedToken } : {}),
    });
    for (;;) {
      if (signal?.aborted) return result('cancelled');
      if (tokens.length >= options.maxTokens) return result('max_tokens');
      if (this.contextLength >= this.window) return result('context_full');
      const next = this.nextToken();
      if (!next) return result('eos');
      const token: GeneratedToken = { id: next.index, text: next.text, top1: next.top1, entropy: next.top1 < 0.5 ? 2 : 0.2, margin: next.top1 / 2 };
      if (options.minTop1 !== undefined && next.top1 < options.minTop1) return result('low_confidence', token);
      this.position += next.text.length;
      this.contextLength += 1;
      tokens.push(token);
      text += next.text;
      onToken?.(token);
      if (options.stopStrings?.some((s) => text.includes(s))) return result('stop_string');
      // Let the event loop run, as a real decoder's awaits do.
      if (tokens.length % 16 === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  async append(text: string): Promise<{ tokenCount: number; recomputedTokens: number }> {
    const tokenCount = slmCount(text);
    if (this.contextLength + tokenCount > this.window) throw new RangeError(`The context would hold ${this.contextLength + tokenCount} tokens.`);
    const aligned = alignEnd(this.trace.reference, this.position, text);
    if (!aligned.exact) this.misaligned += 1;
    this.position = Math.max(this.position, aligned.end);
    this.contextLength += tokenCount;
    this.appended.push(text);
    return { tokenCount, recomputedTokens: 0 };
  }

  async dispose(): Promise<void> {}
}
