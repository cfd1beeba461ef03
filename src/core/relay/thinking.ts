/**
 * Thinking models (Qwen3 with enable_thinking, DeepSeek-R1 style) write their reasoning
 * between <think> and </think> before the answer; some templates open the tag in the
 * prompt, so the answer starts inside it and only the close is seen (or nothing, when it
 * stops while it thinks). One reading of that shape for the stats, the CLI and the answer view;
 * where the engine said the prompt opened it ('thinking-opened'), `openedByPrompt` reads the
 * answer as if `<think>` began it, as the answer view renders it.
 */
export const THINK_OPEN = '<think>';
export const THINK_CLOSE = '</think>';

/** The thinking part of an answer (without its tags) and where it ends; null when the answer has none. */
export function thinkingOf(answer: string, openedByPrompt = false): { text: string; end: number; closed: boolean } | null {
  const close = answer.indexOf(THINK_CLOSE);
  if (openedByPrompt) {
    // Known to start inside the thinking: all of it is thinking up to its first close, if any.
    if (close < 0) return { text: answer, end: answer.length, closed: false };
    return { text: answer.slice(0, close), end: close + THINK_CLOSE.length, closed: true };
  }
  const open = answer.indexOf(THINK_OPEN);
  if (open >= 0 && (close < 0 || open < close) && answer.slice(0, open).trim() === '') {
    const start = open + THINK_OPEN.length;
    if (close < 0) return { text: answer.slice(start), end: answer.length, closed: false };
    return { text: answer.slice(start, close), end: close + THINK_CLOSE.length, closed: true };
  }
  // Opened by the prompt, unannounced: everything before the first close was thinking. Only a close the
  // model wrote as a tag: one an explanation quotes (in code, or mid-sentence) is text of the answer.
  if (close >= 0 && (open < 0 || close < open) && isTagPosition(answer, close))
    return { text: answer.slice(0, close), end: close + THINK_CLOSE.length, closed: true };
  return null;
}

/** Whether the `</think>` at `at` stands as a tag: at the start or end of its line, outside code spans and fences. */
function isTagPosition(answer: string, at: number): boolean {
  const lineStart = answer.lastIndexOf('\n', at - 1) + 1;
  const lineEnd = answer.indexOf('\n', at) < 0 ? answer.length : answer.indexOf('\n', at);
  const before = answer.slice(lineStart, at);
  const after = answer.slice(at + THINK_CLOSE.length, lineEnd);
  if (before.trim() !== '' && after.trim() !== '') return false;
  if ((before.match(/`/g) ?? []).length % 2 === 1) return false;
  const fences = answer
    .slice(0, lineStart)
    .split('\n')
    .filter((line) => /^ {0,3}(`{3,}|~{3,})/.test(line)).length;
  return fences % 2 === 0;
}

/**
 * The answer without its thinking: what an earlier answer is in the history sent again (the
 * models' guidance, and the LLM would bill the old thinking as input on every later call). The
 * blank lines between the thinking and the answer go with it; a thinking that never closed
 * leaves nothing: an answer whose prompt opened the thinking (`openedByPrompt`) and that never
 * closed it is all thinking. Deterministic, so each turn's history renders as the last one did
 * (prompt caches).
 */
export function withoutThinking(answer: string, openedByPrompt = false): string {
  const thinking = thinkingOf(answer, openedByPrompt);
  return thinking ? answer.slice(thinking.end).replace(/^\s*\n/, '') : answer;
}
