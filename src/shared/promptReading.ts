/**
 * Which model on this machine reads the prompt: the small model (absent), or a large model of
 * provider onnx-local before its span, whose reading the user would otherwise take for the small one's.
 */
export type PromptReader = 'large';

/**
 * The one wording of a long prompt being read by a model on this machine, for the answer view,
 * the chat and the CLI: "Reading 2,730 tokens of context… 40%", or "The large model is reading…".
 */
export function promptReadingText(done: number, total: number, reusedTokens: number, reader?: PromptReader): string {
  const percent = total > 0 ? Math.floor((100 * done) / total) : 100;
  const held = reusedTokens > 0 ? ` (${reusedTokens.toLocaleString('en-US')} more already read)` : '';
  return `${promptReadingStart(total, reader)}${held}… ${percent}%`;
}

/** The reading's words without its figures, for a screen reader's one announcement: "Reading 2,730 tokens of context". */
export function promptReadingStart(total: number, reader?: PromptReader): string {
  return `${reader === 'large' ? 'The large model is reading' : 'Reading'} ${total.toLocaleString('en-US')} tokens of context`;
}
