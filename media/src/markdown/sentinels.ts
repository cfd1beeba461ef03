/**
 * Private-use sentinel characters that carry "the LLM wrote this" through Markdown
 * rendering. An open sentinel encodes the span's index (so the mark can say which call
 * wrote it); one close sentinel ends any span. A third kind stands for a marker, not a
 * range: a call skipped there (the renderer turns the n-th one into the n-th marker).
 * DOM-free so it runs in unit tests.
 */

export const CLOSE = '\uE000';
/** Where a call was skipped (relay.maxCostRatio): becomes a marker element, never text. */
export const DECLINED = '\uE001';
const OPEN_BASE = 0xe100;
const OPEN_MAX_INDEX = 0xf7ff - OPEN_BASE;
/** Matches any sentinel: open, close or skipped-call marker. */
export const SENTINEL_PATTERN = /[\uE000\uE001\uE100-\uF7FF]/g;

export function openSentinel(index: number): string {
  return String.fromCharCode(OPEN_BASE + Math.min(Math.max(0, index), OPEN_MAX_INDEX));
}

export function isSentinel(ch: string): boolean {
  return isSentinelCode(ch.charCodeAt(0));
}

function isSentinelCode(code: number): boolean {
  return code === 0xe000 || code === 0xe001 || (code >= OPEN_BASE && code <= 0xf7ff);
}

/** The span index an open sentinel carries, or undefined for the close sentinel / other text. */
export function openIndex(ch: string): number | undefined {
  const code = ch.charCodeAt(0);
  return code >= OPEN_BASE && code <= 0xf7ff ? code - OPEN_BASE : undefined;
}

/** Text without sentinels (a fence's language, a link's target: places where a character of that range means nothing). */
export function stripSentinels(text: string): string {
  return text.replace(SENTINEL_PATTERN, '');
}

/*
 * Text may hold characters of the sentinel range itself: icon fonts (Nerd Fonts, Font
 * Awesome) put their glyphs there, and code quotes them. Through rendering each one travels
 * escaped as noncharacters (U+FDD0 then four hex digits U+FDE0-U+FDEF: Unicode keeps
 * noncharacters for a program's own use, and markdown-it decodes no reference to one), so
 * it can never open, close or re-attribute a mark; restoreEscaped puts it back as written
 * at the very end. The colour always says who wrote the text, and the text stays whole.
 */
const ESCAPE = '\uFDD0';
const DIGIT_BASE = 0xfde0;
const NONCHARACTERS = /[\uFDD0-\uFDEF]/g;
const ESCAPED = /\uFDD0([\uFDE0-\uFDEF]{4})/g;

/** `text` with its sentinel-range characters escaped (and any noncharacter it held dropped: they are never shown). */
export function escapeSentinelLookalikes(text: string): string {
  return text.replace(NONCHARACTERS, '').replace(SENTINEL_PATTERN, (ch) => {
    const code = ch.charCodeAt(0);
    let digits = '';
    for (let shift = 12; shift >= 0; shift -= 4) digits += String.fromCharCode(DIGIT_BASE + ((code >> shift) & 0xf));
    return ESCAPE + digits;
  });
}

/**
 * Rendered HTML (or any text) with the escaped characters back as written; an escape that
 * rendering broke apart is dropped, and so is one of a character outside the sentinel range:
 * escapeSentinelLookalikes makes none, so text spelled it (an autolink's percent-decoded URL
 * can), and restored after all escaping it could be '<' or '"', markup in the answer.
 */
export function restoreEscaped(text: string): string {
  return text
    .replace(ESCAPED, (_escape: string, digits: string) => {
      let code = 0;
      for (const digit of digits) code = code * 16 + (digit.charCodeAt(0) - DIGIT_BASE);
      return isSentinelCode(code) ? String.fromCharCode(code) : '';
    })
    .replace(NONCHARACTERS, '');
}

/** A numeric character reference, hex or decimal, any case, any number of digits (markdown-it decodes up to 8). */
const NUMERIC_REFERENCE = /&#(?:[xX]([\da-fA-F]+)|(\d+));/g;

/** What a reference to a sentinel becomes: U+FFFD, the character for one that cannot be shown. */
export const NEUTRAL_REFERENCE = '&#xFFFD;';

/**
 * Markdown source with every numeric character reference to a sentinel (`&#xE100;`,
 * `&#57344;`, `&#X0E001;`) replaced by NEUTRAL_REFERENCE. markdown-it decodes references in
 * text, link titles, image labels and fence info after the raw sentinels were stripped, so
 * one left in would open, close or place a mark that the text's writer never had.
 */
export function neutraliseSentinelReferences(source: string): string {
  return source.replace(NUMERIC_REFERENCE, (reference: string, hex: string | undefined, decimal: string | undefined) => {
    const code = hex !== undefined ? parseInt(hex, 16) : parseInt(decimal ?? '', 10);
    return isSentinelCode(code) ? NEUTRAL_REFERENCE : reference;
  });
}

export function sentinelsIn(text: string): string {
  return (text.match(SENTINEL_PATTERN) ?? []).join('');
}

/**
 * A piece of Markdown source; `llmIndex` is set when the large model wrote it. A segment
 * with `declined` (the index of its marker span) is a skipped call's marker: its text is ''.
 */
export interface SourceSegment {
  text: string;
  llmIndex?: number;
  declined?: number;
}

/**
 * Joins the segments into Markdown source with sentinels around LLM text (the models' own
 * characters of that range escaped first, and references to sentinels neutralised,
 * also those that only form across segments once the sentinels are out), then moves any
 * sentinel that would sit at the start of a line past that line's block syntax (list
 * marker, heading hashes, quote marker, fence line...) so Markdown still sees the block.
 */
export function sourceWithSentinels(segments: readonly SourceSegment[]): string {
  let joined = '';
  for (const segment of segments) {
    if (segment.declined !== undefined) {
      joined += DECLINED;
      continue;
    }
    const text = escapeSentinelLookalikes(segment.text);
    if (!text) continue;
    joined += segment.llmIndex === undefined ? text : openSentinel(segment.llmIndex) + text + CLOSE;
  }
  // On the joined text: a reference can form across segments ("&#xE1" + an LLM span of sentinels only + "00;").
  // A real sentinel between its characters is no digit, so it never forms one.
  return relocateLineStartSentinels(neutraliseSentinelReferences(joined));
}

const FENCE_LINE = /^ {0,3}(`{3,}|~{3,})/;
const RULE_LINE = /^ {0,3}(?:([-*_])[ \t]*(?:\1[ \t]*){2,}|=+[ \t]*|-+[ \t]*)$/;
const TABLE_DELIMITER_LINE = /^[ \t]*\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*$/;
const BLOCK_PREFIX = /^[ \t]*(?:(?:>[ \t]?)+[ \t]*)?(?:(?:[-*+]|\d{1,9}[.)])[ \t]+)?(?:#{1,6}[ \t]+)?(?:\$\$|\\\[)?/;

export function relocateLineStartSentinels(source: string): string {
  const lines = source.split('\n');
  let carried = '';
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    let lead = 0;
    while (lead < line.length && isSentinel(line[lead])) lead++;
    carried += line.slice(0, lead);
    line = line.slice(lead);
    if (!carried) continue;
    const isLast = i === lines.length - 1;
    if (!isLast && (line.trim() === '' || FENCE_LINE.test(line) || RULE_LINE.test(line) || TABLE_DELIMITER_LINE.test(line))) {
      // Structural or blank line: a sentinel here would change the block; try the next line.
      lines[i] = line;
      continue;
    }
    const prefix = BLOCK_PREFIX.exec(line)?.[0] ?? '';
    lines[i] = prefix + carried + line.slice(prefix.length);
    carried = '';
  }
  return lines.join('\n');
}
