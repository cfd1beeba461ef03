/**
 * Turns a relay answer's events into Markdown for VS Code's Chat view (the `@relay`
 * participant), and chat history into the relay's messages. No VS Code import: unit-tested.
 *
 * LLM spans are shown in italics where that is safe (outside code and HTML, one line, no Markdown
 * characters of their own, no asterisk of the answer's in the same paragraph), and a footer lists every LLM span with its model,
 * tokens, time and cost, so the marking never depends on rendering alone. Calls the money
 * ceiling skipped are listed in the footer only, with the text they came after: nothing is
 * ever inserted into the answer's own Markdown for them.
 */
import type { AnswerStats, RelayEvent } from '../core/relay/events';
import type { ChatMessage } from '../core/slm/types';
import { cachedShareText, declinedDetail, formatUsd, llmWroteAll, savingPhrase } from './moneyText';
import { skippedCallsNote } from '../core/relay/finishNotes';
import { declinedCallView } from '../shared/webviewProtocol';
import { OUTPUT_CAPPED, USAGE_NOT_REPORTED } from '../shared/outputCapped';

export interface LlmSpanNote {
  text: string;
  tokens: number;
  durationMs?: number;
  model: string;
  /** What the call cost (null: no price); absent when no call-end closed the span. */
  costUsd?: number | null;
  /** Cached share of the input the call sent, 0 to 1. */
  cachedShare?: number;
  /** The call's usage was counted here (the server reported none): its cost is an estimate. */
  usageEstimated?: true;
  /** The server reported more output than one call can write: the cost is at that ceiling. */
  outputCapped?: true;
}

/** A call the money ceiling skipped, and the end of the answer's text where it would have been made. */
export interface DeclinedNote {
  predictedUsd: number;
  allowanceUsd: number;
  ratioNeeded?: number;
  byUsdCeiling?: true;
  after: string;
}

/** A fence: up to 3 spaces in (from the margin or a list item's content, see FenceTracker), then 3+ backticks or tildes. */
const FENCE = /^([ \t]*)(`{3,}|~{3,})(.*)$/;
/** A list item's marker after its indent: a bullet or 1. / 1), then a space or the end of the line. */
const ITEM_MARKER = /^([ \t]*)([*+-]|\d{1,9}[.)])(?=[ \t]|$)/;
/** A line's block markers (blockquotes' `>` and list markers: `> - 2. `), before its text. */
const BLOCK_MARKERS = /^(?:[ \t]*(?:>|(?:[*+-]|\d{1,9}[.)])(?=[ \t]|$)))*[ \t]*/;
/** A line that is block markers then a number so far: a `.` or `)` after it would make it a list item's marker. */
const UNFINISHED_ITEM_NUMBER = new RegExp(`${BLOCK_MARKERS.source}\\d{1,9}$`);
/** A kind of HTML block: how a line starts one, the line that ends it, what to write to end it ('' for a blank line), and whether it may interrupt a paragraph. */
interface HtmlBlockKind {
  start: RegExp;
  end: RegExp;
  closer: string;
  interrupts: boolean;
}

/** CommonMark's block-level tag names: a line starting with one of these tags starts an HTML block (type 6). */
const BLOCK_TAGS =
  'address|article|aside|base|basefont|blockquote|body|caption|center|col|colgroup|dd|details|dialog|dir|div|dl|dt|fieldset|figcaption|figure|footer|form|frame|frameset|h[1-6]|head|header|hr|html|iframe|legend|li|link|main|menu|menuitem|nav|noframes|ol|optgroup|option|p|param|search|section|summary|table|tbody|td|tfoot|th|thead|title|tr|track|ul';
/** A complete open tag (attributes and all) or closing tag, as CommonMark's type 7 needs it. */
const WHOLE_TAG =
  /<[A-Za-z][A-Za-z0-9-]*(?:\s+[A-Za-z_:][A-Za-z0-9_.:-]*(?:\s*=\s*(?:[^"'=<>`\x00-\x20]+|'[^']*'|"[^"]*"))?)*\s*\/?>|<\/[A-Za-z][A-Za-z0-9-]*\s*>/;

/**
 * CommonMark's HTML blocks, types 1 to 7. Types 6 and 7 end at a blank line; type 7 (any other
 * tag, alone on its line) cannot interrupt a paragraph.
 */
const HTML_BLOCKS: HtmlBlockKind[] = [
  ...['pre', 'script', 'style', 'textarea'].map((tag) => ({
    start: new RegExp(`^<${tag}(?:[\\s>]|$)`, 'i'),
    end: /<\/(?:pre|script|style|textarea)>/i,
    closer: `</${tag}>`,
    interrupts: true,
  })),
  { start: /^<!--/, end: /-->/, closer: '-->', interrupts: true },
  { start: /^<\?/, end: /\?>/, closer: '?>', interrupts: true },
  { start: /^<![A-Za-z]/, end: />/, closer: '>', interrupts: true },
  { start: /^<!\[CDATA\[/, end: /\]\]>/, closer: ']]>', interrupts: true },
  { start: new RegExp(`^<\\/?(?:${BLOCK_TAGS})(?:[\\s>]|\\/>|$)`, 'i'), end: /^[ \t]*$/, closer: '', interrupts: true },
  { start: new RegExp(`^(?:${WHOLE_TAG.source})\\s*$`), end: /^[ \t]*$/, closer: '', interrupts: false },
];

/** The column `text` ends at when it starts at column `start` (a tab stops at the next multiple of 4, as CommonMark's do). */
function columnAfter(text: string, start = 0): number {
  let column = start;
  for (const char of text) column += char === '\t' ? 4 - (column % 4) : 1;
  return column;
}

/** `text` with each tab written as the spaces up to its tab stop, `text` starting at column `start`. */
function expandTabs(text: string, start: number): string {
  let column = start;
  let expanded = '';
  for (const char of text) {
    const width = char === '\t' ? 4 - (column % 4) : 1;
    expanded += char === '\t' ? ' '.repeat(width) : char;
    column += width;
  }
  return expanded;
}

/** Columns of a line's leading whitespace (a tab counts 4, as CommonMark's tab stops at the start of a line). */
function indentOf(line: string): number {
  return columnAfter(/^[ \t]*/.exec(line)?.[0] ?? '');
}

/** A thematic break (a rule): `---`, `* * *`, `___`. */
const THEMATIC_BREAK = /^[ \t]*([-*_])(?:[ \t]*\1){2,}[ \t]*$/;

/** A list item on a line: its content's column (after the marker and 1 to 4 spaces; 1 when there are more) and its text's (4 or more past the content's: indented code in the item). */
interface ListItemColumns {
  content: number;
  text: number;
  /** No text follows its marker. */
  empty: boolean;
  /** Its marker is a number other than 1, or it is empty: it cannot interrupt a paragraph (CommonMark). */
  cannotInterrupt: boolean;
}

/**
 * The list items whose markers open `line`, outermost first (`- 1. x` opens two: an item's
 * content may start with another's marker), and the line's text up to the last one's content.
 * A rule (`- - -`, or `* * *` as an item's content) is no item; a marker 5 or more spaces past
 * another is the outer item's indented code. `unfinished`: more text comes on the line, so no item is empty.
 */
function listItemsOn(line: string, unfinished = false): { markers: string; items: ListItemColumns[] } {
  const items: ListItemColumns[] = [];
  let used = 0;
  let column = 0;
  for (;;) {
    const rest = line.slice(used);
    const marker = THEMATIC_BREAK.test(rest) ? null : ITEM_MARKER.exec(rest);
    if (!marker || (items.length > 0 && marker[1] !== '')) break;
    const markerEnd = columnAfter(marker[0], column);
    const gap = /^[ \t]*/.exec(rest.slice(marker[0].length))?.[0] ?? '';
    const spaces = columnAfter(gap, markerEnd) - markerEnd;
    const hasText = unfinished || marker[0].length + gap.length < rest.length;
    const code = spaces > 4;
    const cannotInterrupt = !hasText || (/^\d/.test(marker[2]) && Number.parseInt(marker[2], 10) !== 1);
    items.push({ content: markerEnd + (hasText && !code ? spaces : 1), text: markerEnd + spaces, empty: !hasText, cannotInterrupt });
    used += marker[0].length + gap.length;
    column = markerEnd + spaces;
    if (!hasText || code || used === line.length) break;
  }
  return { markers: line.slice(0, used), items };
}

/** A line's start that opens a block of its own (a fence, heading, quote, list item, rule, HTML or math), so it cannot continue a paragraph lazily. */
const OPENS_BLOCK = /^(?:`{3,}|~{3,}|#{1,6}(?:[ \t]|$)|>|[*+-](?:[ \t]|$)|\d{1,9}[.)](?:[ \t]|$)|\$\$)/;

/**
 * A line that may continue the paragraph before it where it is not in the paragraph's
 * blockquote or list item (a lazy line), `indent` in from the list item it is in: not one that
 * opens a block (a list item's marker always does there, as markdown-it reads it).
 */
function continuesParagraph(line: string, indent: number): boolean {
  const text = line.trimStart();
  if (text === '') return false;
  // Indented code cannot start there: the line is the paragraph's.
  if (indent >= 4) return true;
  return !OPENS_BLOCK.test(text) && !THEMATIC_BREAK.test(text) && !HTML_BLOCKS.some(({ start, interrupts }) => interrupts && start.test(text));
}

/** What is open inside one blockquote (or the document, outside any), as FenceTracker follows it. */
interface QuoteLevel {
  /** What continues this blockquote on a line: its `>`, as far in as it opened ('' for the document). */
  prefix: string;
  /** The content column of the list item it is in, in the text around it (0 outside lists): a `>` left of it starts another. */
  within: number;
  /** The open fence: its marker, its indent, and the content column of the list item it is in (0 outside lists). */
  open: { marker: string; indent: string; listColumn: number } | undefined;
  /** The content columns of the list items the current line may belong to, outermost first. */
  listColumns: number[];
  /** The content column of an item the last line opened empty: a blank line next ends it (an item starts with one blank line at most). */
  emptyItem: number | undefined;
  /** The HTML block we are in: the line that ends it, what closes it at the content of the list item it is in ('' for a blank line), and that content's column (0 outside lists). */
  htmlBlock: { end: RegExp; closer: string; listColumn: number } | undefined;
  afterBlank: boolean;
  inMathBlock: boolean;
  /** Its last line was a paragraph's: a line without this blockquote's `>` may still continue it. */
  inParagraph: boolean;
}

function quoteLevel(prefix = '', within = 0): QuoteLevel {
  return {
    prefix,
    within,
    open: undefined,
    listColumns: [],
    emptyItem: undefined,
    htmlBlock: undefined,
    afterBlank: true,
    inMathBlock: false,
    inParagraph: false,
  };
}

/** `line` is left of the content of the list item the open fence or HTML block was opened in: it ends the item, and the block. */
function endsListBlock(level: QuoteLevel, line: string): boolean {
  const block = level.open ?? level.htmlBlock;
  return block !== undefined && line.trim() !== '' && indentOf(line) < block.listColumn;
}

/** A blockquote marker on a line: see FenceTracker.quoteAt. */
interface QuoteMarker {
  prefix: string;
  rest: string;
  /** The column the rest starts at, from the line's start. */
  start: number;
  /** The `>`'s column in the text it was found in. */
  column: number;
  within: number;
  /** After a list item's marker: a new item, so a new blockquote. */
  afterItemMarker: boolean;
  /** 4 or more in from the margin or a list item's content. */
  indented: boolean;
}

/**
 * Where a line goes: `views[i]` is the line as blockquote level i sees it (level 0, the
 * document, sees it whole; each level after, the text after its `>`), `markers` the markers
 * it has, `kept` how many of the open quotes they continue (the others end, unless the line
 * is `lazy`: it continues the innermost quote's paragraph without their markers).
 */
interface LineRoute {
  views: string[];
  markers: QuoteMarker[];
  kept: number;
  lazy: boolean;
}

/**
 * Tracks where the Markdown written so far stands: inside which blockquotes (each `>` is taken
 * off a line before the rules below apply to the rest; a quote ends at a line without its `>`
 * unless that line continues a paragraph), inside a fenced code block or not, inside
 * an HTML block or not, inside which list items (their content's column: a fence or code
 * block in an item is indented from there), and what the current
 * paragraph holds (emphasis we add must not pair with an asterisk of the answer's own, land
 * inside an inline code span, a link's target, an autolink or URL, or inline math).
 */
export class FenceTracker {
  private line = '';
  /** The document, then each blockquote open in the one before it. */
  private levels: QuoteLevel[] = [quoteLevel()];
  private paragraph = '';
  private lastChar = '';

  /** The last character written ('' before any). */
  get last(): string {
    return this.lastChar;
  }

  /** The line written so far ('' at a line's start). */
  get currentLine(): string {
    return this.line;
  }

  private get innermost(): QuoteLevel {
    return this.levels[this.levels.length - 1];
  }

  get inFence(): boolean {
    return this.innermost.open !== undefined;
  }

  /**
   * The line that closes the fence or HTML block open at the end, after its blockquotes' markers:
   * the fence's marker indented as it was opened, or what ends the HTML block (`-->`, `</pre>`);
   * undefined outside both, and in an HTML block that a blank line ends (what follows an answer
   * starts with one). An unfinished last line counts as ended: it may open a block, end one, or
   * end the list or blockquote one was in.
   */
  get closingLine(): string | undefined {
    if (this.line !== '') {
      const ended = new FenceTracker();
      ended.levels = structuredClone(this.levels);
      ended.push(`${this.line}\n`);
      return ended.closingLine;
    }
    const { open, htmlBlock } = this.innermost;
    const quotes = this.levels.map((level) => level.prefix).join('');
    if (open) return `${quotes}${open.indent}${open.marker}`;
    return htmlBlock?.closer ? `${quotes}${htmlBlock.closer}` : undefined;
  }

  push(text: string): void {
    if (text.length > 0) this.lastChar = text.at(-1) ?? '';
    for (const char of text) {
      if (char === '\n') {
        const { content, sameParagraph } = this.endLine(this.line);
        this.paragraph = content.trim() === '' ? '' : `${sameParagraph ? this.paragraph : ''}${content}\n`;
        this.line = '';
      } else {
        this.line += char;
      }
    }
  }

  /**
   * Italics may be added here: outside code (a fence, an indented code block), outside HTML,
   * a link's target, an autolink, a URL and inline math, with no lone asterisk or open inline
   * code in this paragraph; in a blockquote, by the same rules for the text after its `>`.
   */
  get canEmphasize(): boolean {
    const { level, content, sameParagraph, lazy } = this.place(this.line);
    // A lazy line is the paragraph's text whatever its indent, in none of the quote's list items or code.
    if (!lazy) {
      const { inParagraph } = level;
      // (A fence or HTML block in a list item ends at a line left of the item's content.)
      if (((level.open || level.htmlBlock) && !endsListBlock(level, content)) || level.inMathBlock) return false;
      if (this.fenceAt(level, content, inParagraph) || this.htmlBlockAt(level, content, inParagraph)) return false;
      // Four columns in from the margin or the list item's content, or an item's text 5 spaces past its marker: an
      // indented code block (or a paragraph's line, left alone too).
      if (this.relativeIndent(level, content) >= 4) return false;
      const item = this.listItemsAt(level, content, inParagraph, true).items.at(-1);
      if (item && item.text - item.content >= 4) return false;
    }
    const text = ((sameParagraph ? this.paragraph : '') + content).replace(/^([ \t]*)(?:[*+-]|\d{1,9}[.)])(?=\s)/gm, '$1'); // list bullets are not emphasis
    const backticks = (text.match(/`/g) ?? []).length;
    if (text.includes('*') || backticks % 2 !== 0) return false;
    // An unclosed link target: [docs](https://exa|
    const target = text.lastIndexOf('](');
    if (target >= 0) {
      let depth = 1;
      for (const char of text.slice(target + 2)) depth += char === '(' ? 1 : char === ')' ? -1 : 0;
      if (depth > 0) return false;
    }
    // An unclosed autolink or HTML tag: <https://github.com/| or <a href="x| or <|
    if (/<(?:[A-Za-z/!?][^>]*)?$/.test(text)) return false;
    // A URL or an e-mail address running up to here (linkified as GFM does).
    if (/(?:[A-Za-z][A-Za-z0-9+.-]*:\/\/|www\.)\S*$|[\w.+-]+@[\w.-]*$/.test(text)) return false;
    // Inline math open on this line: $\pi r^2 + |
    const dollars = (content.match(/(?<!\\)\$/g) ?? []).length;
    return dollars % 2 === 0;
  }

  /** How far `line` is indented from the margin or from the content of the list item it is in. */
  private relativeIndent(level: QuoteLevel, line: string): number {
    const indent = indentOf(line);
    return indent - (level.listColumns.filter((column) => column <= indent).at(-1) ?? 0);
  }

  /**
   * The list items `line` opens at `level` (see listItemsOn): none in indented code, nor where
   * the first cannot interrupt the paragraph the line would otherwise go on (`inParagraph`, and
   * the line not left of the content of the list item that paragraph is in): `2. x` is its text.
   */
  private listItemsAt(level: QuoteLevel, line: string, inParagraph: boolean, unfinished = false): ReturnType<typeof listItemsOn> {
    const none = { markers: '', items: [] };
    if (this.relativeIndent(level, line) >= 4) return none;
    const found = listItemsOn(line, unfinished);
    const interrupts = inParagraph && indentOf(line) >= (level.listColumns.at(-1) ?? 0);
    return interrupts && found.items[0]?.cannotInterrupt ? none : found;
  }

  /**
   * The fence that `line` opens or closes, if it is one here: up to 3 spaces in from the margin
   * or the list item's content, or right after a list item's marker (its indent then the item's text's).
   */
  private fenceAt(level: QuoteLevel, line: string, inParagraph: boolean): RegExpExecArray | undefined {
    const { markers, items } = this.listItemsAt(level, line, inParagraph);
    const item = items.at(-1);
    const afterMarker = item !== undefined && item.text - item.content < 4;
    const match = FENCE.exec(afterMarker ? ' '.repeat(columnAfter(markers)) + line.slice(markers.length) : line);
    if (!match) return undefined;
    if (!afterMarker && this.relativeIndent(level, line) > 3) return undefined;
    // A backtick fence's info string has no backtick (```a``` is inline code).
    if (match[2][0] === '`' && match[3].includes('`')) return undefined;
    return match;
  }

  /** The kind of HTML block that `line` starts, if it starts one: up to 3 spaces in, after any list markers; not one that cannot interrupt the paragraph it is in. */
  private htmlBlockAt(level: QuoteLevel, line: string, inParagraph: boolean): HtmlBlockKind | undefined {
    if (this.relativeIndent(level, line) > 3) return undefined;
    const { markers } = this.listItemsAt(level, line, inParagraph);
    const content = line.slice(markers.length).trimStart();
    // A new list item's content starts no paragraph: it may start any.
    return HTML_BLOCKS.find(({ start, interrupts }) => start.test(content) && (interrupts || !inParagraph || markers !== ''));
  }

  /**
   * The blockquote marker `line` opens with at `level` (its text starting at column `start`),
   * if it has one: `>` (after the markers on a list item's own line), with the one space after
   * it that belongs to the marker; `indented` when it is 4 or more in from the margin or the
   * item's content (code, unless it continues an open quote: see route).
   */
  private quoteAt(level: QuoteLevel, line: string, start: number): QuoteMarker | undefined {
    // Code, HTML and math take the line as it is (not a fence's or HTML block's in a list item that this line ends).
    if (((level.open || level.htmlBlock) && !endsListBlock(level, line)) || level.inMathBlock) return undefined;
    const { markers, items } = this.listItemsAt(level, line, level.inParagraph);
    const before = markers || (/^[ \t]*/.exec(line)?.[0] ?? '');
    if (line[before.length] !== '>') return undefined;
    const column = columnAfter(before, start) - start;
    const afterItemMarker = items.length > 0;
    const within = items.at(-1)?.content ?? indentOf(line) - this.relativeIndent(level, line);
    if (afterItemMarker && column - within > 3) return undefined; // code
    const markerEnd = columnAfter(line.slice(0, before.length + 1), start);
    const after = line.slice(before.length + 1);
    const spaces = /^[ \t]*/.exec(after)?.[0] ?? '';
    const width = columnAfter(spaces, markerEnd) - markerEnd;
    // The rest with its tabs in spaces (tab stops are the line's, not the rest's: `> - \tx` puts x 5 past the `-`), so the
    // rules after see its columns; the marker takes one column of the whitespace after it.
    const expanded = expandTabs(after, markerEnd);
    const rest = width > 0 ? expanded.slice(1) : expanded;
    return { prefix: `${' '.repeat(column)}> `, rest, start: markerEnd + Math.min(width, 1), column, within, afterItemMarker, indented: column - within > 3 };
  }

  /**
   * Which blockquote levels `line` reaches (the ones open, or new ones it opens), and whether
   * it is lazy. `unfinished`: more text goes on the line (a span about to be written), so a
   * line blank so far will not end a quote's paragraph.
   */
  private route(line: string, unfinished = false): LineRoute {
    const views = [line];
    const markers: QuoteMarker[] = [];
    let kept = 0;
    for (let start = 0; ;) {
      const depth = views.length - 1;
      // A level this line opens starts empty.
      const quote = this.quoteAt(depth === kept ? this.levels[depth] : quoteLevel(), views[depth], start);
      if (!quote) break;
      // An open quote goes on at a `>` no further left than it opened, not after a new item's marker; markdown-it takes one
      // indented any further as its marker too (CommonMark: code, or a lazy line: no italics either way).
      const inner = depth === kept ? this.levels[depth + 1] : undefined;
      const continues = inner !== undefined && !quote.afterItemMarker && quote.column >= inner.within;
      if (quote.indented && !continues) break;
      if (continues) kept++;
      views.push(quote.rest);
      markers.push(quote);
      start = quote.start;
    }
    const reached = views.length - 1;
    const text = views[reached];
    // markdown-it takes a line that goes on two quotes or more lazily, 4 or more in, out of them when its text would open a
    // block (`> > a` then `    - b`: code after the quotes; CommonMark: the paragraph's text): taken so here too.
    const lazyQuotes = this.levels.length - 1 - reached;
    const lazy =
      kept === reached &&
      lazyQuotes > 0 &&
      this.innermost.inParagraph &&
      ((unfinished && text.trim() === '') ||
        (continuesParagraph(text, this.relativeIndent(this.levels[reached], text)) && (lazyQuotes < 2 || continuesParagraph(text, 0))));
    return { views, markers, kept, lazy };
  }

  /** Where `line`, unfinished, stands without changing anything: the level whose rules apply, the text they apply to, whether the paragraph goes on, and whether lazily. */
  private place(line: string): { level: QuoteLevel; content: string; sameParagraph: boolean; lazy: boolean } {
    const { views, kept, lazy } = this.route(line, true);
    const reached = views.length - 1;
    const content = views[reached];
    if (lazy || (kept === reached && reached === this.levels.length - 1)) return { level: this.innermost, content, sameParagraph: true, lazy };
    return { level: kept === reached ? this.levels[reached] : quoteLevel(), content, sameParagraph: false, lazy };
  }

  /** Ends `line`: each level it reaches takes its view of it; quotes it lacks the `>` of end, unless it is lazy. */
  private endLine(line: string): { content: string; sameParagraph: boolean } {
    const { views, markers, kept, lazy } = this.route(line);
    const reached = views.length - 1;
    const sameParagraph = lazy || (kept === reached && reached === this.levels.length - 1);
    if (!lazy) {
      // A quote without its marker here ends, and what was open in it (a fence too).
      this.levels = this.levels.slice(0, kept + 1);
      for (const { prefix, within } of markers.slice(kept)) this.levels.push(quoteLevel(prefix, within));
    }
    // The levels outside see a blockquote's line (it may end a list item of theirs).
    for (let i = 0; i < reached; i++) {
      this.endLineAt(this.levels[i], views[i]);
      this.levels[i].inParagraph = false;
    }
    if (lazy) {
      // Text of the innermost paragraph, whatever it starts with: nothing else changes.
      this.innermost.afterBlank = false;
    } else {
      this.endLineAt(this.levels[reached], views[reached]);
    }
    return { content: views[reached], sameParagraph };
  }

  private endLineAt(level: QuoteLevel, line: string): void {
    const wasParagraph = level.inParagraph;
    level.inParagraph = false;
    const blank = line.trim() === '';
    const indent = indentOf(line);
    const { emptyItem } = level;
    level.emptyItem = undefined;
    if (blank && emptyItem !== undefined) level.listColumns = level.listColumns.filter((column) => column < emptyItem);
    // A setext heading's underline (`---`, `===`, `-`) in the paragraph's own list item: it ends the paragraph, and is no item or rule.
    const paragraphColumn = level.listColumns.at(-1) ?? 0;
    if (wasParagraph && indent >= paragraphColumn && indent - paragraphColumn < 4 && /^[ \t]*(?:=+|-+)[ \t]*$/.test(line)) {
      level.afterBlank = false;
      return;
    }
    // List items' markers, unless they are a line of indented code or text of the paragraph.
    const { markers, items } = this.listItemsAt(level, line, wasParagraph);
    const listItem = items.length > 0;
    // A line left of a list item's content ends that item unless it is a lazy line of the item's paragraph (not after a
    // blank line, not a block of its own however far in: markdown-it ends the item at `    # h` under `  2. a`); any line
    // left of it ends a fence or HTML block in it.
    const endsBlock = endsListBlock(level, line);
    if (endsBlock) {
      level.open = undefined;
      level.htmlBlock = undefined;
    }
    if (!blank && !listItem && (level.afterBlank || !wasParagraph || !continuesParagraph(line, 0) || endsBlock)) {
      level.listColumns = level.listColumns.filter((column) => column <= indent);
    }
    level.afterBlank = blank;
    if (level.htmlBlock !== undefined) {
      // Raw HTML to its end: no fence, list or math starts inside it.
      if (level.htmlBlock.end.test(line)) level.htmlBlock = undefined;
      return;
    }
    // A fence right after the item's marker is in the item.
    if (listItem && level.open === undefined) {
      level.listColumns = [...level.listColumns.filter((column) => column <= indent), ...items.map((item) => item.content)];
      if (items.at(-1)?.empty) level.emptyItem = items.at(-1)?.content;
    }
    const match = this.fenceAt(level, line, wasParagraph);
    if (level.open === undefined && !match) {
      const mathLine = line.trim() === '$$';
      if (mathLine) level.inMathBlock = !level.inMathBlock;
      // Types 1 to 5 may end on the line that starts them.
      const html = level.inMathBlock ? undefined : this.htmlBlockAt(level, line, wasParagraph);
      // Its closer at the content of the list item it is in (further left, it would end the item instead).
      const listColumn = level.listColumns.at(-1) ?? 0;
      if (html && !html.end.test(line)) level.htmlBlock = { end: html.end, closer: html.closer && `${' '.repeat(listColumn)}${html.closer}`, listColumn };
      // Text that a line without the quote's `>` may go on with (indented code, in an item too, and headings may not).
      const item = items.at(-1);
      const codeLine = (this.relativeIndent(level, line) >= 4 && !wasParagraph) || (item !== undefined && item.text - item.content >= 4);
      // (An item's text: an empty item holds no paragraph.)
      const text = line.slice(markers.length);
      level.inParagraph =
        text.trim() !== '' && !mathLine && !level.inMathBlock && !html && !codeLine && !/^[ \t]*#{1,6}(?:[ \t]|$)/.test(text) && !THEMATIC_BREAK.test(text);
      return;
    }
    if (!match) return;
    const marker = match[2];
    if (level.open === undefined)
      level.open = { marker, indent: match[1], listColumn: level.listColumns.filter((column) => column <= indentOf(match[1])).at(-1) ?? 0 };
    else if (marker[0] === level.open.marker[0] && marker.length >= level.open.marker.length && line.trim() === marker) level.open = undefined;
  }
}

/** ASCII and Unicode punctuation and symbols: an emphasis mark beside them may not open or close. */
const PUNCTUATION = /[\p{P}\p{S}]/u;

/**
 * What of an LLM span stays outside its asterisks at its start, written after `line` (the line
 * so far): the block markers it writes or finishes there (`2. `, `- `: after an asterisk they
 * would be text, and the list item lost), then spaces and punctuation (an asterisk beside them
 * may not open or close). All of it when the line ends in a number that a `.` to come would
 * make a list item's marker.
 */
function spanLead(text: string, line = ''): string {
  const upToBreak = line + text.split('\n')[0];
  if (UNFINISHED_ITEM_NUMBER.test(upToBreak)) return text;
  const markers = text.slice(0, Math.max(0, (BLOCK_MARKERS.exec(upToBreak)?.[0] ?? '').length - line.length));
  return markers + (/^[\s\p{P}\p{S}]*/u.exec(text.slice(markers.length))?.[0] ?? '');
}

/**
 * Italics around an LLM span when it cannot break the Markdown around it; else the text as is.
 * Its lead (see spanLead) and the spaces and punctuation at its end stay outside the asterisks
 * (`3.*14159*`, `f(*x*)`, `2. *two*`); `before` is the last character written before the span
 * (after a backslash, an asterisk would be escaped; after an `_`, it would let that `_` close
 * emphasis), `line` the line written so far. What follows the span is not known here: see
 * ChatAnswerFormatter.release.
 */
export function markLlmSpan(text: string, unsafeHere: boolean, before = '', line = ''): string {
  if (unsafeHere) return text;
  const lead = spanLead(text, line);
  const match = /^([\s\S]*?)([\s\p{P}\p{S}]*)$/u.exec(text.slice(lead.length));
  const [, core, trail] = match ?? ['', text.slice(lead.length), ''];
  // Markdown characters of its own, or a new line before it (where other blocks may start): as it is.
  if (core.length === 0 || /[\n*_`~\\[\]<>#|$]/.test(core + lead + trail.trimEnd()) || lead.includes('\n')) return text;
  // After a backslash an asterisk is escaped; after the model's own `_` it would let that `_` close emphasis.
  if (lead === '' && (before === '\\' || before === '_')) return text;
  if (PUNCTUATION.test(core[0]) || PUNCTUATION.test(core.at(-1) ?? '')) return text;
  return `${lead}*${core}*${trail}`;
}

/** Builds the streamed Markdown of one answer from its events. */
export class ChatAnswerFormatter {
  private readonly fences = new FenceTracker();
  private pendingLlm = '';
  private pendingModel = '';
  private pendingTokens = 0;
  readonly llmSpans: LlmSpanNote[] = [];
  /** Calls skipped under the money ceiling, in order (shown in the footer, never in the answer). */
  readonly declined: DeclinedNote[] = [];
  /** The plain answer (no marking), kept for the next turn's history. */
  answer = '';
  /** The answer starts in a reasoning its prompt opened ('thinking-opened'): the history reads it so (withoutThinking). */
  thinkingOpened = false;

  /** Markdown to append for `event` ('' when nothing is to be shown yet). */
  push(event: RelayEvent, model: string): string {
    switch (event.type) {
      case 'span':
        this.answer += event.text;
        if (event.source === 'llm') {
          this.pendingLlm += event.text;
          this.pendingTokens += event.tokens;
          this.pendingModel = model;
          return '';
        }
        return this.flushLlm() + this.write(event.text);
      case 'thinking-opened':
        this.thinkingOpened = true;
        return '';
      case 'call-end':
        return this.flushLlm(event);
      case 'call-declined':
        this.declined.push({ ...declinedCallView(event), after: this.answer + this.pendingLlm });
        return '';
      case 'done':
        return this.flushLlm();
      default:
        return '';
    }
  }

  private write(text: string): string {
    this.fences.push(text);
    return text;
  }

  private flushLlm(callEnd?: Extract<RelayEvent, { type: 'call-end' }>): string {
    if (this.pendingLlm.length === 0) return '';
    const text = this.pendingLlm;
    const usage = callEnd?.usage;
    const figures = callEnd
      ? {
          durationMs: callEnd.durationMs,
          costUsd: callEnd.costUsd,
          ...(usage && usage.inputTokens > 0 && !usage.estimated ? { cachedShare: usage.cachedInputTokens / usage.inputTokens } : {}),
          ...(usage?.estimated ? { usageEstimated: true as const } : {}),
          ...(usage?.outputCapped ? { outputCapped: true as const } : {}),
        }
      : {};
    this.llmSpans.push({ text, tokens: this.pendingTokens, model: this.pendingModel, ...figures });
    this.pendingLlm = '';
    this.pendingTokens = 0;
    // What stays outside the asterisks counts first: spaces may indent the line into code, a `(` open a link's target.
    const before = this.fences.last;
    const line = this.fences.currentLine;
    const lead = spanLead(text, line);
    this.fences.push(lead);
    const shown = markLlmSpan(text, !this.fences.canEmphasize, before, line);
    this.fences.push(text.slice(lead.length));
    return shown;
  }

  /** Closes a code or HTML block the answer left open, so the footer renders as text (not code, nor hidden in a comment). */
  closeOpenBlocks(): string {
    const closing = this.fences.closingLine;
    if (closing === undefined) return '';
    // A fence with its own marker (~~~ or a longer run of backticks would not be closed by ```), as indented as it opened, or
    // an HTML block with its end; in its blockquotes, on a line of its own. (The footer and notices after start with a blank
    // line: that ends an HTML block a blank line ends.)
    const close = `${this.fences.currentLine === '' ? '' : '\n'}${closing}\n`;
    this.fences.push(close);
    return close;
  }
}

function costText(value: number | null): string {
  return value === null ? 'unknown (no price for this model)' : formatUsd(value);
}

function snippet(text: string, max = 48): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The last words of `text`, for "after “…is 2”". */
function tail(text: string, max = 32): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `…${flat.slice(flat.length - max + 1)}` : flat;
}

/**
 * Text that must render as written (an error from a server, a quote from the answer): Markdown
 * characters escaped, links and images included, and GFM's autolinks broken (VS Code renders chat
 * Markdown with marked, GFM on, which links a bare scheme://, www. and an e-mail address, mailto:
 * and xmpp: ones too): the ':' before '//', the '.' after 'www' and every '@' are escaped.
 */
export function markdownLiteral(text: string): string {
  return text.replace(/[*_`\\[\]<>!#|~@]|:(?=\/\/)|(?<=www)\./gi, '\\$&');
}

/** Text quoted in the footer. */
const quoted = (text: string): string => `“${markdownLiteral(text)}”`;

/**
 * The saving in the footer: "saved $0.00030 vs LLM only (estimate; prices: …)", a loss, or
 * none when the LLM wrote it all. The LLM alone is an estimate, and every figure says whose
 * prices it is in, as in the answer view.
 */
function savingText(stats: AnswerStats): string | undefined {
  if (stats.savedUsd === null) return undefined;
  const facts = { savedUsd: stats.savedUsd, llmWroteAll: llmWroteAll(stats) };
  const said = !facts.llmWroteAll && stats.savedUsd > 0 ? `saved ${formatUsd(stats.savedUsd)} vs LLM only` : savingPhrase(facts);
  const basis = [facts.llmWroteAll ? undefined : 'estimate', stats.priceNote].filter((part) => part !== undefined && part.length > 0).join('; ');
  return basis ? `${said} (${basis})` : said;
}

/** The footer's figures on one line: shares, calls, skipped calls, cost, saving or loss, time (also said where a stopped answer's footer is lost). */
export function statsSummary(stats: AnswerStats, declinedCount = 0): string {
  const share = `${(stats.llmTokenShare * 100).toFixed(1)}%`;
  const parts = [`SLM ${stats.slmTokens} tokens`, `LLM ${stats.llmTokens} tokens (${share})`, `${stats.calls} ${stats.calls === 1 ? 'call' : 'calls'}`];
  const skipped = stats.declinedCalls ?? declinedCount;
  if (skipped > 0) parts.push(`${skipped} ${skipped === 1 ? 'call' : 'calls'} skipped`);
  // Counted here (not reported by the server) or capped (reported past what a call can write): said, as the answer view says it.
  const estimated = stats.calls > 0 && stats.llmUsage.estimated && stats.costUsd !== null;
  const estimate = !estimated ? '' : stats.llmUsage.outputCapped ? ` est. (${OUTPUT_CAPPED})` : ' est. (usage not reported)';
  parts.push(`cost ${costText(stats.costUsd)}${estimate}`);
  const saving = savingText(stats);
  if (saving) parts.push(saving);
  parts.push(`${(stats.elapsedMs / 1000).toFixed(1)} s`);
  return parts.join(' · ');
}

/** What a call's cost rests on, in the answer view's hover words: usage capped or not reported, else the share the cache served. */
function costBasis(span: LlmSpanNote): string[] {
  if (span.outputCapped) return [OUTPUT_CAPPED];
  if (span.usageEstimated) return [USAGE_NOT_REPORTED];
  return span.cachedShare !== undefined ? [cachedShareText(span.cachedShare)] : [];
}

/** The stats footer under an answer: shares, calls, cost, saving or loss, each LLM span and each skipped call. */
export function statsFooter(stats: AnswerStats, spans: LlmSpanNote[], declined: DeclinedNote[] = []): string {
  const lines = ['', '', '---', `**Relay** · ${statsSummary(stats, declined.length)}`];
  if (spans.length > 0) {
    lines.push('', 'Written by the LLM (listed below; in italics above where the Markdown allowed):');
    for (const span of spans.slice(0, 10)) {
      const figures = [`${span.tokens} tokens`];
      if (span.durationMs !== undefined) figures.push(`${span.durationMs} ms`);
      if (span.costUsd === null) figures.push('cost unknown: no price');
      else if (span.costUsd !== undefined) figures.push([formatUsd(span.costUsd), ...costBasis(span)].join(', '));
      lines.push(`- ${span.model}: ${quoted(snippet(span.text))} (${figures.join(', ')})`);
    }
    if (spans.length > 10) lines.push(`- … and ${spans.length - 10} more`);
  }
  if (declined.length > 0) {
    lines.push('', 'Calls skipped (they would have cost more than the answer could spend):');
    for (const call of declined.slice(0, 10)) {
      const where = call.after.trim() ? `after ${quoted(tail(call.after))}` : 'at the start';
      lines.push(`- ${where}: ${declinedDetail(call)}`);
    }
    if (declined.length > 10) lines.push(`- … and ${declined.length - 10} more`);
  }
  const noCall = skippedCallsNote(stats);
  if (noCall) lines.push('', noCall);
  if (stats.finishReason === 'cancelled') lines.push('', '_Stopped: the partial answer is kept._');
  return `${lines.join('\n')}\n`;
}

/** One turn of chat history as the participant sees it. */
export type HistoryTurn = { kind: 'request'; prompt: string } | { kind: 'response'; answer: string };

/**
 * The relay's messages: earlier turns of this participant, then the new prompt. Every turn is
 * kept (no count of turns is cut: the relay fits the conversation to the model's context by
 * tokens and says so, and a history that starts as the last one did keeps its cached prefix).
 */
export function historyToMessages(history: HistoryTurn[], prompt: string): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const turn of history) {
    if (turn.kind === 'request') {
      if (turn.prompt.trim()) messages.push({ role: 'user', content: turn.prompt });
    } else if (turn.answer.trim() && messages[messages.length - 1]?.role === 'user') {
      messages.push({ role: 'assistant', content: turn.answer });
    }
  }
  // A request without an answer (an error, or cancelled before a word) would leave two user
  // turns in a row, the last one too (before the new prompt): it is dropped wherever it is.
  const paired = messages.filter((message, i) => !(message.role === 'user' && (messages[i + 1]?.role ?? 'user') === 'user'));
  return [...paired, { role: 'user', content: prompt }];
}

/**
 * An earlier answer read back from the Markdown the Chat view kept of it, where nothing else
 * recorded it (a stopped answer, from before VS Code was reloaded): Relay's own notices (what
 * was not attached, an error, the footer) are dropped and its italics taken off. Only where
 * ChatAnswerFormatter could have written them (the same FenceTracker says so): the answer's
 * own asterisks elsewhere (after another of its own, in code, math or HTML) are kept. A best
 * effort: the answer's own *emphasis* of plain words where italics could have been loses its
 * asterisks too (the Markdown cannot tell the two apart).
 */
export function answerFromMarkdown(markdown: string): string {
  let text = markdown.replace(/^_Not attached:_ [^\n]*\n\n/, '');
  const notice = text.search(/(?:^|\n\n)(?:\*\*Relay:\*\* |---\n\*\*Relay\*\* · )/);
  if (notice >= 0) text = text.slice(0, notice);
  const fences = new FenceTracker();
  let answer = '';
  for (let i = 0; i < text.length;) {
    // `*plain words*` as markLlmSpan writes it, not part of a longer run of asterisks.
    const italics = text[i] === '*' && text[i - 1] !== '*' ? /^\*([^\s*][^\n*]*?)\*(?!\*)/.exec(text.slice(i)) : null;
    const ours = italics !== null && fences.canEmphasize && markLlmSpan(italics[1], false, fences.last, fences.currentLine) === italics[0];
    const written = ours ? italics[1] : text[i];
    fences.push(written);
    answer += written;
    i += ours ? italics[0].length : 1;
  }
  return answer;
}
