/**
 * What a small model's server can do for the relay, found by asking it: two short
 * generations on one conversation (the second extends the first, so a prefix cache that
 * reports itself shows), timed, and where it reports log-probabilities, one token more of the
 * first at another temperature (temperatureScaled). For `relay slm test` and a test button alike.
 */
import type { GeneratedToken } from '../types';
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
  /**
   * Where the log-probabilities it reports would mislead the confidence gate: what is wrong
   * and the fix (TEMPERATURE_SCALED_LOGPROBS), to show beside "log-probabilities: yes".
   */
  logprobsWarning?: string;
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

/**
 * The gate, as Relay's own runtime, reads softmax(logits), which vLLM's V1 engine (its default
 * `--logprobs-mode raw_logprobs`), llama.cpp's n_probs and Ollama report. SGLang reports
 * log(softmax(logits / T)) at a temperature T above 0 (renormalised over top-p;
 * python/sglang/srt/layers/sampler.py), the raw ones only with SGLANG_RETURN_ORIGINAL_LOGPROB;
 * so do vLLM's V0 engine and its `--logprobs-mode processed_logprobs` (vllm-project/vllm#9453).
 */
export const TEMPERATURE_SCALED_LOGPROBS =
  "the server's log-probabilities are temperature-scaled: at a relay.temperature (CLI: --temperature) other than 0 or 1 the confidence gate would read them wrong " +
  '(below 1 a token looks surer than it is, so confidence and money-aware modes call the LLM less than set). ' +
  "SGLang: start it with SGLANG_RETURN_ORIGINAL_LOGPROB=1; vLLM: --logprobs-mode raw_logprobs (the V1 engine's default; the V0 engine cannot).";

/**
 * The temperature of the check's probe: far from 1, so that a server that scales by it
 * doubles the log-odds of the first position's two most likely tokens.
 */
const PROBE_TEMPERATURE = 0.5;
/**
 * Log-odds at temperature 0 the probe reads: below, scaling cannot be told from a server's
 * rounding or the drift between a prefix-cache hit and a miss; above, the second token's probability (top-1 less the margin) is too small for
 * doubled log-odds to be read apart from none. Outside: no verdict.
 */
const PROBE_LOG_ODDS = { min: 1, max: 20 };
/** How far the log-odds at PROBE_TEMPERATURE may grow before they are taken as scaled (scaled: they double). */
const PROBE_TOLERANCE = 0.5;

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
    const after = { ...runtime.prefixCache };
    const reported = after.reported > before.reported;
    // After the cache's count (its prompt is the first request's, served from the cache too). A
    // probe that fails (a server refusing its temperature or seed) gives no verdict: the checks above passed.
    const scaled =
      logprobs &&
      (await temperatureScaled(runtime, prompt, result.tokens[0], options.signal).catch((error: unknown) => {
        if (options.signal?.aborted) throw error;
        return false;
      }));
    return {
      firstTokenMs: firstToken === undefined ? undefined : firstToken - started,
      totalMs,
      text: result.text,
      tokens: result.tokens.length,
      logprobs,
      ...(scaled ? { logprobsWarning: TEMPERATURE_SCALED_LOGPROBS } : {}),
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

/**
 * Whether the server's log-probabilities follow the sampling temperature: the first token of
 * the check's prompt asked once more, at PROBE_TEMPERATURE (one request), its first position's
 * log-odds compared with those at temperature 0 (`greedy`, the first request's first token). The
 * same position has the same distribution whichever token is drawn; log(softmax(logits / T))
 * divides its log-odds by T (a top-p renormalisation leaves them, or drops the second token:
 * infinite odds). Odds at temperature 0 it cannot read (PROBE_LOG_ODDS; one token reported, or none written): no verdict.
 */
async function temperatureScaled(runtime: ServedRuntime, prompt: string, greedy: GeneratedToken | undefined, signal?: AbortSignal): Promise<boolean> {
  const base = greedy && logOdds(greedy);
  if (base === undefined || !(base >= PROBE_LOG_ODDS.min && base <= PROBE_LOG_ODDS.max)) return false;
  const session = await runtime.createSession();
  try {
    await session.prefill(prompt);
    const probe = await session.generate({ maxTokens: 1, minTop1: 0, sampling: { temperature: PROBE_TEMPERATURE, seed: 0 } }, undefined, signal);
    const odds = probe.tokens[0] && logOdds(probe.tokens[0]);
    return odds !== undefined && odds > base * (1 + PROBE_TOLERANCE);
  } finally {
    await session.dispose();
  }
}

/** log(p1 / p2) of a position's two most likely tokens: Infinity where no second one has mass (none reported, or the server dropped it). */
function logOdds(token: GeneratedToken): number | undefined {
  if (!(token.top1 > 0)) return undefined;
  const second = token.top1 - token.margin;
  return second > 0 ? Math.log(token.top1) - Math.log(second) : Infinity;
}
