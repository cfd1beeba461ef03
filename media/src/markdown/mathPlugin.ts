/**
 * markdown-it plugin for LaTeX math rendered with KaTeX: `$...$` and `\(...\)` inline,
 * `$$...$$` and `\[...\]` as display math (as blocks or inside a paragraph). Sentinels
 * inside the math are stripped before KaTeX sees them; the element is then marked as LLM
 * text as a whole and the sentinels are re-emitted after it so ranges stay balanced.
 */
import katex from 'katex';
import type MarkdownIt from 'markdown-it';

type StateBlock = MarkdownIt.StateBlock;
type StateInline = MarkdownIt.StateInline;
import { escapeHtml } from './markLlm';
import { openIndex, sentinelsIn, stripSentinels } from './sentinels';

interface Delimiter {
  open: string;
  close: string;
  display: boolean;
}

const INLINE_DELIMITERS: readonly Delimiter[] = [
  { open: '$$', close: '$$', display: true },
  { open: '\\[', close: '\\]', display: true },
  { open: '\\(', close: '\\)', display: false },
  { open: '$', close: '$', display: false },
];

export function renderMath(raw: string, display: boolean): string {
  const tex = stripSentinels(raw).trim();
  const sentinels = sentinelsIn(raw);
  const firstOpen = [...sentinels].map(openIndex).find((index) => index !== undefined);
  const html = katex.renderToString(tex, { displayMode: display, throwOnError: false, strict: 'ignore', output: 'htmlAndMathml' });
  const tag = display ? 'div' : 'span';
  const classes = `relay-math${display ? ' relay-math-display' : ''}${firstOpen !== undefined ? ' relay-llm' : ''}`;
  // The mark's data-span/title attributes are added by markLlmRanges when it meets the class.
  const spanAttr = firstOpen !== undefined ? ` data-span="${firstOpen}"` : '';
  return `<${tag} class="${classes}"${spanAttr} data-tex="${escapeHtml(tex)}">${html}</${tag}>${sentinels}`;
}

function mathInline(state: StateInline, silent: boolean): boolean {
  const src = state.src;
  const start = state.pos;
  for (const delimiter of INLINE_DELIMITERS) {
    if (!src.startsWith(delimiter.open, start)) continue;
    const contentStart = start + delimiter.open.length;
    if (delimiter.open === '$') {
      // "$5 and $10" is money, not math: no space just inside the dollars, no digit after.
      if (/\s/.test(src[contentStart] ?? ' ')) return false;
    }
    let end = src.indexOf(delimiter.close, contentStart);
    while (end > 0 && delimiter.open === '$' && (src[end - 1] === '\\' || /\s/.test(src[end - 1]))) {
      end = src.indexOf(delimiter.close, end + 1);
    }
    if (end < 0 || end === contentStart) return false;
    const after = end + delimiter.close.length;
    if (delimiter.open === '$' && /\d/.test(src[after] ?? '')) return false;
    if (!silent) {
      const token = state.push('math_inline', 'math', 0);
      token.content = src.slice(contentStart, end);
      token.meta = { display: delimiter.display };
    }
    state.pos = after;
    return true;
  }
  return false;
}

function mathBlock(state: StateBlock, startLine: number, endLine: number, silent: boolean): boolean {
  const lineStart = state.bMarks[startLine] + state.tShift[startLine];
  if (state.sCount[startLine] - state.blkIndent >= 4) return false;
  const firstLine = state.src.slice(lineStart, state.eMarks[startLine]);
  const delimiter = firstLine.startsWith('$$') ? { open: '$$', close: '$$' } : firstLine.startsWith('\\[') ? { open: '\\[', close: '\\]' } : undefined;
  if (!delimiter) return false;
  const afterOpen = firstLine.slice(delimiter.open.length);
  const closeAt = afterOpen.indexOf(delimiter.close);
  // "$$x$$ and more" on one line is inline display math inside a paragraph.
  if (closeAt >= 0 && afterOpen.slice(closeAt + delimiter.close.length).trim() !== '') return false;
  if (silent) return true;
  let content: string;
  let nextLine = startLine;
  const sameLineClose = afterOpen.trimEnd().endsWith(delimiter.close) && afterOpen.trim().length >= delimiter.close.length;
  if (sameLineClose) {
    const trimmed = afterOpen.trimEnd();
    content = trimmed.slice(0, trimmed.length - delimiter.close.length);
  } else {
    const lines = [afterOpen];
    let closed = false;
    while (++nextLine < endLine) {
      const text = state.src.slice(state.bMarks[nextLine] + state.tShift[nextLine], state.eMarks[nextLine]);
      const trimmed = text.trimEnd();
      if (trimmed.endsWith(delimiter.close)) {
        lines.push(trimmed.slice(0, trimmed.length - delimiter.close.length));
        closed = true;
        break;
      }
      lines.push(text);
    }
    if (!closed) return false;
    content = lines.join('\n');
  }
  state.line = nextLine + 1;
  const token = state.push('math_block', 'math', 0);
  token.block = true;
  token.content = content;
  token.map = [startLine, state.line];
  return true;
}

export function mathPlugin(md: InstanceType<typeof MarkdownIt>): void {
  md.inline.ruler.before('escape', 'math_inline', mathInline);
  md.block.ruler.before('fence', 'math_block', mathBlock, { alt: ['paragraph', 'reference', 'blockquote', 'list'] });
  md.renderer.rules.math_inline = (tokens, index) => renderMath(tokens[index].content, Boolean(tokens[index].meta?.display));
  md.renderer.rules.math_block = (tokens, index) => `${renderMath(tokens[index].content, true)}\n`;
}
