/**
 * In-memory stand-ins for the SLM runtime and an LLM provider, honouring the same
 * contracts (stop strings kept and matched across tokens, the minTop1 gate refusing
 * before commit, append extending the context, AbortSignal). One token = one script
 * entry when generating; countTokens counts one token per character, so costs are easy
 * to check by hand. Tests on the real ONNX fixture and HTTP servers live beside these.
 */
import type { ChatMessage, GenerateOptions, GenerateResult, GeneratedToken, ModelInfo, SlmRuntime, SlmSession } from '../../../src/core/slm/types';
import type { ContinueRequest, LlmProvider, ProviderChunk, Usage } from '../../../src/core/providers/types';
import { ProviderError } from '../../../src/core/providers/errors';

export interface ScriptToken {
  text: string;
  top1?: number;
  /**
   * A position the LLM's text will fill (like the real fixture's 'external' entries):
   * append() moves past these, so the SLM resumes the script after them.
   */
  external?: boolean;
}

/** Splits text into one-character tokens at top1 0.99 (a drop can be set per token). */
export function chars(text: string, top1 = 0.99): ScriptToken[] {
  return [...text].map((c) => ({ text: c, top1 }));
}

export class DoubleSession implements SlmSession {
  readonly id = 'double';
  /** Everything in the context, in order: the prompt, generated text, appended text. */
  context = '';
  appended: string[] = [];
  private position = 0;
  disposed = false;

  constructor(
    private readonly script: ScriptToken[],
    private readonly endWithEos: boolean,
    private readonly onGenerate?: (session: DoubleSession) => Promise<void>,
    /** The model's window in characters (one token each), enforced like the real decoder. */
    private readonly contextWindow?: number,
    /** The script is the whole answer, whoever writes it: appended text takes the place of as many script entries. */
    private readonly appendAdvances = false,
  ) {}

  async prefill(text: string): Promise<{ tokenCount: number }> {
    this.context += text;
    return { tokenCount: [...text].length };
  }

  async generate(options: GenerateOptions, onToken?: (t: GeneratedToken) => void, signal?: AbortSignal): Promise<GenerateResult> {
    const tokens: GeneratedToken[] = [];
    let text = '';
    await this.onGenerate?.(this);
    for (;;) {
      if (signal?.aborted) return this.result(tokens, text, 'cancelled');
      if (tokens.length >= options.maxTokens) return this.result(tokens, text, 'max_tokens');
      if (this.contextWindow !== undefined && [...this.context].length >= this.contextWindow) return this.result(tokens, text, 'context_full');
      const next = this.script[this.position];
      if (!next) {
        if (this.endWithEos) return this.result(tokens, text, 'eos');
        return this.result(tokens, text, 'max_tokens');
      }
      const top1 = next.top1 ?? 0.99;
      const token: GeneratedToken = { id: this.position, text: next.text, top1, entropy: 0.1, margin: top1 - 0.005 };
      if (options.minTop1 !== undefined && top1 < options.minTop1) {
        return { ...this.result(tokens, text, 'low_confidence'), refusedToken: token };
      }
      this.position += 1;
      tokens.push(token);
      text += token.text;
      this.context += token.text;
      onToken?.(token);
      if (options.stopStrings?.some((s) => text.includes(s))) return this.result(tokens, text, 'stop_string');
      await Promise.resolve();
    }
  }

  async append(text: string): Promise<{ tokenCount: number; recomputedTokens: number }> {
    if (this.contextWindow !== undefined && [...this.context].length + [...text].length > this.contextWindow) {
      throw new RangeError(`The context would hold ${[...this.context].length + [...text].length} tokens.`);
    }
    this.appended.push(text);
    this.context += text;
    if (this.appendAdvances) this.position += [...text].length;
    while (this.script[this.position]?.external) this.position += 1;
    return { tokenCount: [...text].length, recomputedTokens: 0 };
  }

  async dispose(): Promise<void> {
    this.disposed = true;
  }

  private result(tokens: GeneratedToken[], text: string, stopReason: GenerateResult['stopReason']): GenerateResult {
    return { tokens, text, stopReason, contextLength: [...this.context].length };
  }
}

export class DoubleRuntime implements SlmRuntime {
  readonly info: ModelInfo;
  sessions: DoubleSession[] = [];

  constructor(
    private readonly script: ScriptToken[],
    private readonly options: { endWithEos?: boolean; onGenerate?: (s: DoubleSession) => Promise<void>; contextWindow?: number; appendAdvances?: boolean } = {},
  ) {
    this.info = {
      folder: '/double',
      modelType: 'double',
      vocabSize: 1,
      eosTokenIds: [0],
      hasChatTemplate: true,
      contextWindow: options.contextWindow,
      backend: { kind: 'onnx', variant: 'fp32', onnxFile: 'none', numLayers: 1, numKeyValueHeads: 1, headDim: 1 },
    };
  }

  async renderChat(messages: ChatMessage[]): Promise<string> {
    return messages.map((m) => `[${m.role}]${m.content}`).join('') + '[assistant]';
  }

  async countTokens(text: string): Promise<number> {
    return [...text].length;
  }

  async createSession(): Promise<SlmSession> {
    const session = new DoubleSession(
      this.script,
      this.options.endWithEos ?? true,
      this.options.onGenerate,
      this.options.contextWindow,
      this.options.appendAdvances,
    );
    this.sessions.push(session);
    return session;
  }

  async dispose(): Promise<void> {}
}

export interface ScriptedReply {
  /** Chunks streamed in order. */
  chunks: string[];
  /** How the call ends when it was not cut by maxTokens. */
  finish?: 'stop' | 'length';
  usage?: Usage;
  /** Thrown after the chunks. */
  error?: ProviderError;
  /** Wait for the abort signal after the chunks (to test cancellation mid-call). */
  hang?: boolean;
  /** Milliseconds to wait before the first chunk (a slow server). */
  delayMs?: number;
  /** Waited for before the first chunk: a slow server that answers when the test says (no race with the engine's timers). */
  answerWhen?: Promise<void>;
  /** Stream every chunk whatever maxTokens says (a server ignoring max_tokens). */
  ignoreMaxTokens?: boolean;
}

/** Replies in order; text is cut at maxTokens characters (finish 'length'), like a server would. */
export class DoubleProvider implements LlmProvider {
  readonly kind = 'openai-completions' as const;
  readonly model = 'double-llm';
  readonly host = 'double.test';
  readonly continuation = 'raw-completion' as const;
  requests: ContinueRequest[] = [];
  onHang?: () => void;

  constructor(private readonly replies: ScriptedReply[]) {}

  /** A completions server: the messages and the partial answer, nothing more. */
  sentText(request: ContinueRequest): string {
    return [...request.messages.map((m) => m.content), request.partialAnswer].join('\n');
  }

  async *continue(request: ContinueRequest, signal?: AbortSignal): AsyncIterable<ProviderChunk> {
    this.requests.push(request);
    const reply = this.replies[this.requests.length - 1];
    if (!reply) throw new Error(`DoubleProvider: no reply scripted for call ${this.requests.length}`);
    let left = request.maxTokens;
    let cut = false;
    if (reply.delayMs) await new Promise((resolve) => setTimeout(resolve, reply.delayMs));
    await reply.answerWhen;
    for (const chunk of reply.chunks) {
      if (signal?.aborted) {
        yield { type: 'done', finishReason: 'cancelled' };
        return;
      }
      const part = reply.ignoreMaxTokens ? chunk : [...chunk].slice(0, left).join('');
      left -= [...part].length;
      if (part.length > 0) yield { type: 'text', text: part };
      if (left <= 0 && !reply.ignoreMaxTokens) {
        cut = true;
        break;
      }
    }
    if (reply.error) throw reply.error;
    if (reply.hang) {
      this.onHang?.();
      await new Promise<void>((resolve) => {
        if (signal?.aborted) resolve();
        signal?.addEventListener('abort', () => resolve(), { once: true });
      });
      throw new ProviderError('cancelled', 'The request was cancelled.');
    }
    if (reply.usage) yield { type: 'usage', usage: reply.usage };
    yield { type: 'done', finishReason: cut ? 'length' : (reply.finish ?? 'length') };
  }
}

export function usage(input: number, output: number, cached = 0, cacheWrite = 0): Usage {
  return { inputTokens: input, outputTokens: output, cachedInputTokens: cached, cacheWriteTokens: cacheWrite, estimated: false };
}
