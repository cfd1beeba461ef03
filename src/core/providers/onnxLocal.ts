/**
 * The onnx-local provider: a second local model folder, run by the same SLM runtime,
 * acting as the LLM (no network, no account). It continues exactly like a raw completion
 * server: the conversation through the model's chat template plus the partial answer,
 * then at most N tokens. Usage is counted exactly (its own tokenizer) at no price unless
 * the caller gives one.
 */
import { runtimeErrorFix, type SlmRuntime, type GeneratedToken, type GenerateResult } from '../slm/types';
import { ProviderError } from './errors';
import { settingRef } from '../settingNames';
import { transportReporter } from './base';
import type { ContinueRequest, LlmProvider, ProviderChunk, ProviderEntry } from './types';

export interface OnnxLocalOptions {
  /** Renders the prompt; default: the model's own chat template with the generation prompt. */
  renderPrompt?: (request: ContinueRequest) => Promise<string>;
}

export const onnxLocalEntry: ProviderEntry = {
  label: 'A second local ONNX model folder run by the same runtime (no network).',
  keyEnv: [],
  usesKey: false,
  keyRequired: () => false,
  pricedByHost: false,
  // A call may start from a KV cache the runtime kept (relay.slm.kvCacheBudgetMb): compute saved
  // here, not money. Usage counts every prompt token as plain input: cachedInputTokens is the part
  // billed at a cache price (costOf), and a local model has none, whatever price it is given.
  cacheRule: () => ({ kind: 'none' }),
  inProcess: true,
  // Its own folder's template, or another one given.
  prompt: 'template',
};

export class OnnxLocalProvider implements LlmProvider {
  readonly kind = 'onnx-local' as const;
  readonly continuation = 'raw-completion' as const;
  /** No network: the model runs here. */
  readonly host = 'this machine';

  constructor(
    private readonly runtime: SlmRuntime,
    /** Shown in events and totals (e.g. the folder's name). */
    readonly model: string,
    private readonly options: OnnxLocalOptions = {},
  ) {}

  async *continue(request: ContinueRequest, signal?: AbortSignal): AsyncIterable<ProviderChunk> {
    // Tells the caller how far the prompt is read; a progress display never stops the reading (base.ts).
    const tellTransport = transportReporter(request.onTransport);
    if (!(Number.isInteger(request.maxTokens) && request.maxTokens > 0)) {
      throw new ProviderError('bad_request', `maxTokens must be a positive integer (got ${request.maxTokens}).`);
    }
    if (signal?.aborted) {
      yield { type: 'done', finishReason: 'cancelled' };
      return;
    }
    // Its process may have ended since the last call (out of memory): these then wait on a new
    // one loading the model (minutes). Stop and the silence ceiling end the call there; the load
    // goes on for the next call, and a session it opens too late is let go.
    const prompt = await unlessAborted(
      this.options.renderPrompt
        ? this.options.renderPrompt(request)
        : this.runtime.renderChat(request.messages, { addGenerationPrompt: true }).then((rendered) => rendered + request.partialAnswer),
      signal,
    );
    const session =
      prompt === undefined ? undefined : await unlessAborted(this.runtime.createSession(signal), signal, (late) => void late.dispose().catch(() => undefined));
    if (prompt === undefined || session === undefined) {
      yield { type: 'done', finishReason: 'cancelled' };
      return;
    }
    // Tokens arrive through a callback; a small queue hands them to this generator.
    const pending: string[] = [];
    let wake: (() => void) | null = null;
    let finished: { result?: GenerateResult; error?: unknown } | null = null;
    const notify = (): void => {
      const w = wake;
      wake = null;
      w?.();
    };
    try {
      let tokenCount: number;
      try {
        // Stop and the stall watchdog end a long prompt's reading between its chunks; each chunk read
        // is told (the watchdog counts it as progress: a large model on a CPU reads for minutes).
        ({ tokenCount } = await session.prefill(prompt, {
          signal,
          onProgress: (p) => tellTransport({ phase: 'reading', attempt: 1, done: p.done, total: p.total, reusedTokens: p.reusedTokens }),
        }));
      } catch (error) {
        if (signal?.aborted) {
          yield { type: 'done', finishReason: 'cancelled' };
          return;
        }
        if (processEnded(error)) throw this.processFailure(error);
        // Typically a context longer than the model supports: a clear provider error, not an internal one.
        // Its own fix where it has one (out of memory: a smaller large model, its setting).
        throw new ProviderError('bad_request', `The local LLM model (${this.model}) cannot read the prompt: ${(error as Error)?.message ?? String(error)}`, {
          fix: runtimeErrorFix(error),
        });
      }
      if (signal?.aborted) {
        yield { type: 'done', finishReason: 'cancelled' };
        return;
      }
      const generation = session
        .generate(
          { maxTokens: request.maxTokens, sampling: { temperature: request.temperature ?? 0, topP: request.topP, seed: request.seed } },
          (token: GeneratedToken) => {
            if (token.text.length > 0) pending.push(token.text);
            notify();
          },
          signal,
        )
        .then(
          (result) => (finished = { result }),
          (error: unknown) => (finished = { error }),
        )
        .finally(notify);
      for (;;) {
        while (pending.length > 0) yield { type: 'text', text: pending.shift() as string };
        if (finished) break;
        await new Promise<void>((resolve) => {
          wake = resolve;
          if (pending.length > 0 || finished) notify();
        });
      }
      await generation;
      const done = finished as { result?: GenerateResult; error?: unknown };
      if (done.error !== undefined) {
        if (signal?.aborted) {
          yield { type: 'done', finishReason: 'cancelled' };
          return;
        }
        if (processEnded(done.error)) throw this.processFailure(done.error);
        throw new ProviderError('server', `The local LLM model (${this.model}) failed: ${(done.error as Error)?.message ?? String(done.error)}`, {
          fix: runtimeErrorFix(done.error),
        });
      }
      const result = done.result as GenerateResult;
      yield {
        type: 'usage',
        usage: { inputTokens: tokenCount, outputTokens: result.tokens.length, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
      };
      // Its window is full: no call can go on (the next prompt is longer still), and 'length' would
      // read as the token budget's end. What it wrote stays; the error says which window and the fix.
      if (result.stopReason === 'context_full') throw this.windowFull(result.tokens.length);
      const finishReason =
        result.stopReason === 'cancelled' ? 'cancelled' : result.stopReason === 'eos' || result.stopReason === 'stop_string' ? 'stop' : 'length';
      yield { type: 'done', finishReason };
    } finally {
      await session.dispose();
    }
  }

  /** It filled its context window after writing `written` tokens: a bad request (more text than it reads), fixed by less text or another large model. */
  private windowFull(written: number): ProviderError {
    const window = this.runtime.info.contextWindow;
    const reads = window === undefined ? 'no more tokens' : `at most ${window.toLocaleString('en-US')} tokens`;
    return new ProviderError(
      'bad_request',
      `The local LLM model (${this.model}) filled its context window after writing ${written} token${written === 1 ? '' : 's'}: it reads ${reads}, ` +
        `prompt and answer together. Send less text, or pick a large model with a longer context (${settingRef('model')}).`,
      { fix: 'llm-model', summary: 'its context window is full' },
    );
  }

  /**
   * Its process died (out of memory, a native crash): asking again starts a new one, so Retry is
   * the fix, unless the runtime names another (one that dies again and again needs a large model
   * that fits: its setting).
   */
  private processFailure(error: Error): ProviderError {
    const fix = runtimeErrorFix(error) ?? 'retry';
    return new ProviderError('server', `The local LLM model (${this.model}) stopped: ${error.message}`, {
      retryable: fix === 'retry',
      fix,
      summary: 'its process ended',
    });
  }
}

/**
 * `work`'s value, or undefined once `signal` aborts (the work goes on unawaited; what it makes
 * after that is handed to `drop`). A failure of the work is thrown as ever.
 */
function unlessAborted<T>(work: Promise<T>, signal: AbortSignal | undefined, drop?: (late: T) => void): Promise<T | undefined> {
  if (!signal) return work;
  if (signal.aborted) {
    void work.then(drop, () => undefined);
    return Promise.resolve(undefined);
  }
  return new Promise<T | undefined>((resolve, reject) => {
    const stop = (): void => {
      void work.then(drop, () => undefined);
      resolve(undefined);
    };
    signal.addEventListener('abort', stop, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener('abort', stop));
  });
}

/** The runtime's process ended under the call (processRuntime.ts's SlmProcessError, known by name: this module runs in-process runtimes too). */
function processEnded(error: unknown): error is Error {
  return error instanceof Error && error.name === 'SlmProcessError';
}
