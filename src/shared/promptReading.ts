/**
 * The one wording of a long prompt being read by the small model, for the answer view, the
 * chat and the CLI: "Reading 2,730 tokens of context… 40%".
 */
export function promptReadingText(done: number, total: number, reusedTokens: number): string {
  const percent = total > 0 ? Math.floor((100 * done) / total) : 100;
  const held = reusedTokens > 0 ? ` (${reusedTokens.toLocaleString('en-US')} more already read)` : '';
  return `Reading ${total.toLocaleString('en-US')} tokens of context${held}… ${percent}%`;
}
