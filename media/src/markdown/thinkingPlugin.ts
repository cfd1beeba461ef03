/**
 * markdown-it plugin for a thinking model's reasoning: a `<think>` line up to a
 * `</think>` line (or the end, while it is unfinished) renders folded, as
 * `<details class="relay-thinking">`, its content as ordinary Markdown with the LLM's
 * marks kept. Sentinels on the tag lines are re-emitted inside, so ranges stay balanced.
 * An answer whose template opened the tag in the prompt shows only the close: the
 * source gets the open first (`withThinkingOpened`).
 */
import type MarkdownIt from 'markdown-it';
import { thinkingOf, THINK_CLOSE, THINK_OPEN } from '../../../src/core/relay/thinking';
import { sentinelsIn, stripSentinels } from './sentinels';

type StateBlock = MarkdownIt.StateBlock;

function lineText(state: StateBlock, line: number): string {
  return state.src.slice(state.bMarks[line] + state.tShift[line], state.eMarks[line]);
}

function thinkingBlock(state: StateBlock, startLine: number, endLine: number, silent: boolean): boolean {
  if (state.sCount[startLine] - state.blkIndent >= 4) return false;
  const openLine = lineText(state, startLine);
  if (stripSentinels(openLine).trim() !== THINK_OPEN) return false;
  if (silent) return true;
  let closeLine = startLine + 1;
  while (closeLine < endLine && stripSentinels(lineText(state, closeLine)).trim() !== THINK_CLOSE) closeLine++;
  const closed = closeLine < endLine;

  const open = state.push('thinking_open', 'details', 1);
  open.block = true;
  open.meta = { sentinels: sentinelsIn(openLine), closed };
  open.map = [startLine, closeLine];
  // The content is parsed as blocks of its own, up to the closing line.
  const oldParent = state.parentType;
  const oldLineMax = state.lineMax;
  state.parentType = 'container' as typeof state.parentType;
  state.lineMax = closeLine;
  state.md.block.tokenize(state, startLine + 1, closeLine);
  state.parentType = oldParent;
  state.lineMax = oldLineMax;
  const close = state.push('thinking_close', 'details', -1);
  close.block = true;
  close.meta = { sentinels: closed ? sentinelsIn(lineText(state, closeLine)) : '' };
  state.line = closed ? closeLine + 1 : endLine;
  return true;
}

/**
 * The source with the thinking's tags on lines of their own (models write them so, but not
 * always), and `<think>` put first when the answer only closes a thinking the prompt opened.
 */
export function withThinkingOpened(source: string): string {
  const plain = stripSentinels(source);
  if (!thinkingOf(plain)) return source;
  let out = source;
  const closeAt = out.indexOf(THINK_CLOSE);
  if (closeAt >= 0) {
    const after = closeAt + THINK_CLOSE.length;
    const before = out.slice(0, closeAt);
    out = `${before}${/\n[\uE000-\uF8FF]*$/.test(before) || before === '' ? '' : '\n'}${THINK_CLOSE}${out[after] === '\n' ? '' : '\n'}${out.slice(after)}`;
  }
  const openAt = out.indexOf(THINK_OPEN);
  if (plain.trimStart().startsWith(THINK_OPEN) && openAt >= 0) {
    const after = openAt + THINK_OPEN.length;
    return out[after] === '\n' ? out : `${out.slice(0, after)}\n${out.slice(after)}`;
  }
  return `${THINK_OPEN}\n${out}`;
}

export function thinkingPlugin(md: InstanceType<typeof MarkdownIt>): void {
  md.block.ruler.before('fence', 'relay_thinking', thinkingBlock, { alt: ['paragraph', 'reference', 'blockquote', 'list'] });
  md.renderer.rules.thinking_open = (tokens, index) => {
    const { sentinels, closed } = tokens[index].meta as { sentinels: string; closed: boolean };
    return `<details class="relay-thinking"><summary>${closed ? 'Thinking' : 'Thinking (unfinished)'}</summary>\n${sentinels}`;
  };
  md.renderer.rules.thinking_close = (tokens, index) => `${(tokens[index].meta as { sentinels: string }).sentinels}</details>\n`;
}
