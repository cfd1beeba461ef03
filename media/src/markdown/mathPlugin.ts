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
import { escapeSentinelLookalikes, openIndex, restoreEscaped, sentinelsIn, stripSentinels } from './sentinels';

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

/**
 * What a model may not do in math: colour it (\colorbox and \fcolorbox paint a background
 * that can pass for the LLM's highlight; \color and \textcolor, with a \rule, the same).
 * Each keeps its content, in the theme's colours. A fresh copy per formula: KaTeX writes
 * a formula's \gdef into this object, which would carry over to the next formula.
 */
function neutralMacros(): Record<string, string> {
  return {
    '\\colorbox': '\\@secondoftwo{#1}{\\text{#2}}',
    '\\fcolorbox': '\\@secondoftwo{#1}{\\@secondoftwo{#2}{\\text{#3}}}',
    '\\color': '\\@firstoftwo{}{#1}',
    '\\textcolor': '\\@secondoftwo{#1}{#2}',
  };
}

/** The largest size a formula may ask for (\rule, \kern...), in em; and the most macro expansions. */
export const MATH_MAX_SIZE_EM = 10;
export const MATH_MAX_EXPAND = 500;

export function renderMath(raw: string, display: boolean): string {
  // Without the sentinel range's characters, escaped or not: KaTeX takes none of them for a symbol.
  const tex = stripSentinels(restoreEscaped(stripSentinels(raw))).trim();
  const sentinels = sentinelsIn(raw);
  const firstOpen = [...sentinels].map(openIndex).find((index) => index !== undefined);
  const html = katex.renderToString(tex, {
    displayMode: display,
    throwOnError: false,
    strict: 'ignore',
    output: 'htmlAndMathml',
    trust: false,
    maxSize: MATH_MAX_SIZE_EM,
    maxExpand: MATH_MAX_EXPAND,
    macros: neutralMacros(),
  });
  const tag = display ? 'div' : 'span';
  const classes = `relay-math${display ? ' relay-math-display' : ''}${firstOpen !== undefined ? ' relay-llm' : ''}`;
  // The mark's data-span/title attributes are added by markLlmRanges when it meets the class.
  const spanAttr = firstOpen !== undefined ? ` data-span="${firstOpen}"` : '';
  // \char"E100 writes a character of the sentinel range: it shows, escaped like the text's own,
  // and never opens a mark the formula's writer never had.
  const element = escapeSentinelLookalikes(`<${tag} class="${classes}"${spanAttr} data-tex="${escapeHtml(tex)}">${html}</${tag}>`);
  return `${element}${sentinels}`;
}

/**
 * Work done looking for closing delimiters (characters scanned plus positions probed),
 * for tests: it grows with the length of the text, not with its square.
 */
export const closingSearchWork = { steps: 0 };

/**
 * Where each inline closing delimiter can be, per inline source: found in one scan per
 * delimiter, then searched. Looking from each opening `$` on to the end instead is a scan of
 * the rest of the paragraph per `$`: "$a $a $a ..." of 60 KB took seconds.
 */
const closings = new WeakMap<StateInline, Map<Delimiter, number[]>>();

/**
 * Offsets where `delimiter` closes in `src`: every occurrence of its close (overlapping ones
 * too); for `$`, only one right after something other than a space or a backslash.
 */
function closingOffsets(src: string, delimiter: Delimiter): number[] {
  const offsets: number[] = [];
  closingSearchWork.steps += src.length;
  for (let at = src.indexOf(delimiter.close); at >= 0; at = src.indexOf(delimiter.close, at + 1)) {
    if (delimiter.open === '$' && at > 0 && (src[at - 1] === '\\' || /\s/.test(src[at - 1]))) continue;
    offsets.push(at);
  }
  return offsets;
}

/** The first offset at or after `from` where `delimiter` closes, or -1. */
function firstClosing(state: StateInline, delimiter: Delimiter, from: number): number {
  let table = closings.get(state);
  if (!table) closings.set(state, (table = new Map()));
  let offsets = table.get(delimiter);
  if (!offsets) table.set(delimiter, (offsets = closingOffsets(state.src, delimiter)));
  let low = 0;
  let high = offsets.length;
  while (low < high) {
    closingSearchWork.steps++;
    const middle = (low + high) >>> 1;
    if (offsets[middle] < from) low = middle + 1;
    else high = middle;
  }
  return low < offsets.length ? offsets[low] : -1;
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
    const end = firstClosing(state, delimiter, contentStart);
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

/** For each block source and closing delimiter: for each line, the first line from it on that ends with the delimiter. */
const closingLines = new WeakMap<StateBlock, Map<string, Int32Array>>();

/**
 * The first line at or after `from` whose text ends with `close` (trailing spaces aside), or
 * a line past the end. Read from the source's own lines: a line whose content (after a
 * quote or list marker) ends with `close` ends with it in the source too, so a line found
 * here for none means no closing line in any container.
 */
function nextClosingLine(state: StateBlock, close: string, from: number): number {
  let table = closingLines.get(state);
  if (!table) closingLines.set(state, (table = new Map()));
  let next = table.get(close);
  if (!next) {
    const lines = state.src.split('\n');
    closingSearchWork.steps += state.src.length;
    next = new Int32Array(lines.length + 1).fill(lines.length);
    for (let line = lines.length - 1; line >= 0; line--) next[line] = lines[line].trimEnd().endsWith(close) ? line : next[line + 1];
    table.set(close, next);
  }
  return from < next.length ? next[from] : next.length;
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
    // No line up to the end closes it: not math (known without reading the lines again for each opening line).
    if (nextClosingLine(state, delimiter.close, startLine + 1) >= endLine) return false;
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
