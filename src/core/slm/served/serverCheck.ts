/**
 * What a small model's server can do for the relay, found by asking it: two short
 * generations on one conversation (the second extends the first, so a prefix cache that
 * reports itself shows), timed. For `relay slm test` and a test button alike.
 */
import type { ServedRuntime } from './servedRuntime';

export interface ServedSlmCheck {
  /** First token of the first request, and the whole request, in milliseconds. */
  firstTokenMs: number | undefined;
  totalMs: number;
  /** The text the model wrote (untrusted: the caller sanitises it for where it shows it). */
  text: string;
  tokens: number;
  /** Whether the server reports top log-probabilities (confidence and money-aware modes need them). */
  logprobs: boolean;
  /** Whether the context goes as token ids and generated ids come back (exact), or as text. */
  exactTokens: boolean;
  /**
   * The server sent token ids that are not the folder's tokenizer's (they did not spell its
   * text, or are past its vocabulary): relay.slm.modelFolder is probably not the served
   * model's folder, so prompts are rendered with another model's chat template and counted
   * with another tokenizer. The ids were not used (exactTokens is false).
   */
  idsMismatch: boolean;
  /** Prompt tokens of the second request the server says it served from its prefix cache; undefined: not reported. */
  cachedPromptTokens: number | undefined;
  /**
   * Where the cached tokens were not reported: how the server's prefix cache is turned on and
   * made to report them (vLLM reports them only with --enable-prompt-tokens-details, SGLang
   * only with --enable-cache-report), to show beside "not reported".
   */
  cacheReport?: string;
  promptTokens: number | undefined;
}

/** A conversation any model continues in a few tokens. */
export const SERVED_CHECK_PROMPT = [{ role: 'user' as const, content: 'Count from 1 to 20, separated by commas.' }];

export async function checkServedSlm(runtime: ServedRuntime, options: { now?: () => number; signal?: AbortSignal } = {}): Promise<ServedSlmCheck> {
  const now = options.now ?? (() => performance.now());
  const prompt = await runtime.renderChat(SERVED_CHECK_PROMPT, { addGenerationPrompt: true });
  const session = await runtime.createSession();
  const mismatchesBefore = runtime.idMismatches;
  try {
    await session.prefill(prompt);
    const started = now();
    let firstToken: number | undefined;
    let logprobs = true;
    let result;
    try {
      // A gate of 0 refuses nothing, but needs log-probabilities: a server without them says so.
      result = await session.generate({ maxTokens: 8, minTop1: 0 }, () => (firstToken ??= now()), options.signal);
    } catch (error) {
      if (!/without log-probabilities/.test((error as Error).message)) throw error;
      logprobs = false;
      result = await session.generate({ maxTokens: 8 }, () => (firstToken ??= now()), options.signal);
    }
    const totalMs = now() - started;
    const before = { ...runtime.prefixCache };
    await session.generate({ maxTokens: 2 }, undefined, options.signal);
    const after = runtime.prefixCache;
    const reported = after.reported > before.reported;
    return {
      firstTokenMs: firstToken === undefined ? undefined : firstToken - started,
      totalMs,
      text: result.text,
      tokens: result.tokens.length,
      logprobs,
      exactTokens: runtime.exactTokens,
      idsMismatch: runtime.idMismatches > mismatchesBefore,
      cachedPromptTokens: reported ? after.cachedPromptTokens - before.cachedPromptTokens : undefined,
      ...(reported ? {} : { cacheReport: runtime.wireForm.prefixCache }),
      promptTokens: after.requests > before.requests ? after.promptTokens - before.promptTokens : undefined,
    };
  } finally {
    await session.dispose();
  }
}
