/**
 * The one wording of a model that reasons silently before it writes (OpenAI's pro models, for
 * minutes: its response began, its text has not), for the answer view, the chat, the CLI and
 * Test Provider: "gpt-5-pro is reasoning… 45 s (it can take minutes)". Without `seconds`, the
 * words without the count (what a screen reader announces once).
 */
export function reasoningWaitText(model: string, seconds?: number): string {
  return `${model} is reasoning…${seconds === undefined ? '' : ` ${seconds} s`} (it can take minutes)`;
}
