/**
 * A scripted SLM and a scripted LLM that misbehave on purpose, for the engine's property
 * tests: commands with N = 0, huge N or no digits, tokens the gate refuses forever, a
 * context window that fills mid-span, a runtime that returns no tokens or throws;
 * continuations that are empty, whitespace, end at once, say 'length' with no text, carry
 * `<call>` tags, ignore max_tokens, report absurd usage, fail, or never say why they
 * stopped. Scripts repeat, so "forever" is a script of one entry. Every await point
 * counts a tick; `abortAt` cancels the answer at that tick, and a run that ticks past
 * `MAX_TICKS` is a runaway (the doubles stop it and report it).
 */
import type { ChatMessage, GenerateOptions, GenerateResult, GeneratedToken, ModelInfo, SlmRuntime, SlmSession } from '../../../src/core/slm/types';
import type { ContinueRequest, LlmProvider, ProviderChunk, Usage } from '../../../src/core/providers/types';
import { ProviderError } from '../../../src/core/providers/errors';

export const MAX_TICKS = 50_000;

/** Counts await points; cancels at `abortAt`; flags a runaway past MAX_TICKS. */
export class Ticker {
  ticks = 0;
  runaway = false;
  readonly controller = new AbortController();
  constructor(private readonly abortAt: number | undefined) {}

  async tick(): Promise<void> {
    this.ticks += 1;
    if (this.ticks === this.abortAt) this.controller.abort();
    if (this.ticks > MAX_TICKS && !this.runaway) {
      this.runaway = true;
      this.controller.abort();
    }
    await Promise.resolve();
  }
}

export type SlmStep =
  | { kind: 'token'; text: string; top1: number }
  /** End of sequence. */
  | { kind: 'eos' }
  /** A defective runtime: the call returns 'max_tokens' with whatever it has (maybe nothing). */
  | { kind: 'return' }
  /** The runtime fails (a native crash in the real one). */
  | { kind: 'throw' };

export class AdversarialRuntime implements SlmRuntime {
  readonly info: ModelInfo;
  appendedTexts: string[] = [];

  constructor(
    private readonly script: SlmStep[],
    private readonly ticker: Ticker,
    contextWindow: number | undefined,
  ) {
    this.info = {
      folder: '/adversarial',
      modelType: 'double',
      vocabSize: 1,
      eosTokenIds: [0],
      hasChatTemplate: true,
      contextWindow,
      backend: { kind: 'onnx', variant: 'fp32', onnxFile: 'none', numLayers: 1, numKeyValueHeads: 1, headDim: 1 },
    };
  }

  async renderChat(messages: ChatMessage[]): Promise<string> {
    await this.ticker.tick();
    return messages.map((m) => `[${m.role}]${m.content}`).join('') + '[assistant]';
  }

  async countTokens(text: string): Promise<number> {
    await this.ticker.tick();
    return [...text].length;
  }

  async createSession(): Promise<SlmSession> {
    await this.ticker.tick();
    return new AdversarialSession(this.script, this.ticker, this.info.contextWindow, this.appendedTexts);
  }

  async dispose(): Promise<void> {}
}

/** Context counted in characters, like countTokens; the window is enforced like the real decoder's. */
class AdversarialSession implements SlmSession {
  readonly id = 'adversarial';
  private context = 0;
  private position = 0;

  constructor(
    private readonly script: SlmStep[],
    private readonly ticker: Ticker,
    private readonly window: number | undefined,
    private readonly appendedTexts: string[],
  ) {}

  async prefill(text: string): Promise<{ tokenCount: number }> {
    await this.ticker.tick();
    const n = [...text].length;
    if (this.window !== undefined && this.context + n > this.window) throw new RangeError(`The context would hold ${this.context + n} tokens.`);
    this.context += n;
    return { tokenCount: n };
  }

  async append(text: string): Promise<{ tokenCount: number; recomputedTokens: number }> {
    await this.ticker.tick();
    const n = [...text].length;
    if (this.window !== undefined && this.context + n > this.window) throw new RangeError(`The context would hold ${this.context + n} tokens.`);
    this.context += n;
    this.appendedTexts.push(text);
    return { tokenCount: n, recomputedTokens: 0 };
  }

  async generate(options: GenerateOptions, onToken?: (t: GeneratedToken) => void, signal?: AbortSignal): Promise<GenerateResult> {
    const tokens: GeneratedToken[] = [];
    let text = '';
    const result = (stopReason: GenerateResult['stopReason'], refusedToken?: GeneratedToken): GenerateResult => ({
      tokens,
      text,
      stopReason,
      refusedToken,
      contextLength: this.context,
    });
    for (;;) {
      await this.ticker.tick();
      if (signal?.aborted) return result('cancelled');
      if (tokens.length >= options.maxTokens) return result('max_tokens');
      if (this.window !== undefined && this.context >= this.window) return result('context_full');
      const step = this.script[this.position % this.script.length];
      if (step.kind === 'eos') {
        this.position += 1;
        return result('eos');
      }
      if (step.kind === 'return') {
        this.position += 1;
        return result('max_tokens');
      }
      if (step.kind === 'throw') {
        this.position += 1;
        throw new Error('the runtime crashed (scripted)');
      }
      const token: GeneratedToken = { id: this.position, text: step.text, top1: step.top1, entropy: 1, margin: 0 };
      // The gate refuses before committing: the same token comes back next time.
      if (options.minTop1 !== undefined && step.top1 < options.minTop1) return result('low_confidence', token);
      this.position += 1;
      tokens.push(token);
      text += step.text;
      this.context += [...step.text].length;
      onToken?.(token);
      if (options.stopStrings?.some((s) => text.includes(s))) return result('stop_string');
    }
  }

  async dispose(): Promise<void> {
    await this.ticker.tick();
  }
}

export type UsageReport = 'missing' | 'honest' | 'nan' | 'negative' | 'huge' | 'cached-over-input';

export interface LlmReply {
  chunks: string[];
  /** 'none': the stream ends without saying why (the engine reports bad_response). */
  finish: 'stop' | 'length' | 'none';
  usage: UsageReport;
  /** Streams past maxTokens (a server ignoring max_tokens). */
  ignoreMaxTokens: boolean;
  /** Thrown after the chunks. */
  error?: 'auth' | 'network';
  /** Reports transport phases (connecting, waiting, receiving) as a real provider does. */
  transport: boolean;
}

export class AdversarialProvider implements LlmProvider {
  readonly kind = 'openai-completions' as const;
  readonly model = 'adversarial-llm';
  readonly host = 'adversarial.test';
  readonly continuation = 'raw-completion' as const;
  requests: ContinueRequest[] = [];

  constructor(
    private readonly replies: LlmReply[],
    private readonly ticker: Ticker,
  ) {}

  async *continue(request: ContinueRequest, signal?: AbortSignal): AsyncIterable<ProviderChunk> {
    this.requests.push(request);
    await this.ticker.tick();
    const reply = this.replies[(this.requests.length - 1) % this.replies.length];
    if (reply.transport) {
      request.onTransport?.({ phase: 'connecting', attempt: 1 });
      request.onTransport?.({ phase: 'waiting', attempt: 1 });
    }
    let written = '';
    let left = request.maxTokens;
    for (const chunk of reply.chunks) {
      await this.ticker.tick();
      if (signal?.aborted) {
        yield { type: 'done', finishReason: 'cancelled' };
        return;
      }
      if (reply.transport && written === '') request.onTransport?.({ phase: 'receiving', attempt: 1 });
      const part = reply.ignoreMaxTokens ? chunk : [...chunk].slice(0, Math.max(0, left)).join('');
      left -= [...part].length;
      written += part;
      yield { type: 'text', text: part };
    }
    if (reply.error === 'auth') throw new ProviderError('auth', 'The key was rejected (scripted).', { fix: 'set-key' });
    if (reply.error === 'network') throw new ProviderError('network', 'The connection dropped (scripted).', { fix: 'retry', retryable: true });
    const usage = usageFor(reply.usage, request, written);
    if (usage) yield { type: 'usage', usage };
    if (reply.finish !== 'none') yield { type: 'done', finishReason: reply.finish };
  }
}

function usageFor(report: UsageReport, request: ContinueRequest, written: string): Usage | undefined {
  const honest: Usage = {
    inputTokens: [...request.partialAnswer].length + 10,
    outputTokens: [...written].length,
    cachedInputTokens: 0,
    cacheWriteTokens: 0,
    estimated: false,
  };
  switch (report) {
    case 'missing':
      return undefined;
    case 'honest':
      return honest;
    case 'nan':
      return { ...honest, inputTokens: Number.NaN, outputTokens: Number.NaN };
    case 'negative':
      return { ...honest, inputTokens: -50, outputTokens: -3, cachedInputTokens: -1 };
    case 'huge':
      return { ...honest, inputTokens: 1e12, outputTokens: 1e12 };
    case 'cached-over-input':
      return { ...honest, cachedInputTokens: honest.inputTokens * 5, cacheWriteTokens: honest.inputTokens * 3 };
  }
}
