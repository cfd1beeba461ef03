/**
 * How far a call may write past the tokens it asked for before it is cut (the server ignores
 * max_tokens). Its own module, free of imports: providers/usage.ts believes reported output up
 * to it, and reading it from limits.ts (which prices calls) closed an import cycle through the
 * provider registry back to providers/base.ts.
 */

/**
 * A call whose text, counted in the SLM's tokenizer, grows past this many times the
 * tokens it was asked for (plus a margin) is cut. The ratio is generous because tokenizers
 * differ (a character-level SLM counts about four tokens for one of a BPE LLM's).
 */
export const OVERRUN_RATIO = 8;
export const OVERRUN_MARGIN = 16;

/** The most tokens (in the SLM's count) a call asked for `maxTokens` may write before it is cut. */
export function overrunAllowance(maxTokens: number): number {
  return maxTokens * OVERRUN_RATIO + OVERRUN_MARGIN;
}
