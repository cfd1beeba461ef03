/**
 * Streaming support: finds where the text received so far can be cut so that everything
 * before the cut is made of finished Markdown blocks (rendered once, never again while
 * streaming) and only the short tail after it is still plain streaming text.
 */
import type { SourceSegment } from './sentinels';

/** Characters the block scanners have read (tests check that streaming reads each once). */
export const blockScanStats = { characters: 0 };

/**
 * Finds block boundaries in a text that only grows (an answer being written), reading each
 * character once: it keeps its place and its state (inside a fence, display math, thinking)
 * between calls, so a long unfinished block is not read again at every newline.
 */
export class BlockBoundaryScanner {
  private boundary: number;
  private fence: string | undefined;
  private math: string | undefined;
  /** Inside a thinking model's <think> ... </think>: one folded block, rendered when it closes. */
  private thinking = false;
  private lineStart: number;
  /** Where the search for the end of the unfinished line goes on. */
  private searchFrom: number;
  private previousBlank = false;

  /**
   * `from` must be a boundary (or 0); the text it scans must keep what it scanned (only grow).
   * insideThinking: the text starts in a thinking its prompt opened (only its `</think>` is written).
   */
  constructor(
    private readonly from = 0,
    insideThinking = false,
  ) {
    this.thinking = insideThinking;
    this.boundary = from;
    this.lineStart = from;
    this.searchFrom = from;
  }

  /**
   * Offset just after the last blank line of `text` (from `from` on) that lies outside a
   * code fence or display math, or `from` when there is none.
   */
  scan(text: string): number {
    for (;;) {
      const newline = text.indexOf('\n', this.searchFrom);
      blockScanStats.characters += (newline < 0 ? text.length : newline + 1) - this.searchFrom;
      if (newline < 0) {
        this.searchFrom = text.length; // the last line is unfinished
        break;
      }
      this.scanLine(text.slice(this.lineStart, newline), newline);
      this.lineStart = this.searchFrom = newline + 1;
    }
    return this.boundary;
  }

  private scanLine(line: string, newline: number): void {
    const trimmed = line.trim();
    const bare = trimmed.replace(/[\uE000-\uF8FF]/g, '');
    if (this.thinking) {
      if (bare === '</think>') this.thinking = false;
    } else if (this.fence) {
      if (trimmed.startsWith(this.fence) && trimmed.replace(/[`~]/g, '') === '') this.fence = undefined;
    } else if (this.math) {
      if (trimmed.endsWith(this.math)) this.math = undefined;
    } else {
      const fenceOpen = /^ {0,3}(`{3,}|~{3,})/.exec(line);
      if (bare === '<think>') this.thinking = true;
      else if (fenceOpen) this.fence = fenceOpen[1];
      else if (trimmed.startsWith('$$') && !(trimmed.length > 2 && trimmed.endsWith('$$'))) this.math = '$$';
      else if (trimmed.startsWith('\\[') && !trimmed.endsWith('\\]')) this.math = '\\]';
      else if (trimmed === '' && !this.previousBlank && this.lineStart > this.from) this.boundary = newline + 1;
    }
    this.previousBlank = trimmed === '' && !this.fence && !this.math && !this.thinking;
  }
}

/**
 * Offset just after the last blank line of `text` (from `from` on) that lies outside a
 * code fence or display math, or `from` when there is none. `from` must itself be such a
 * boundary (or 0).
 */
export function lastBlockBoundary(text: string, from: number): number {
  return new BlockBoundaryScanner(from).scan(text);
}

/** The segments covering text offsets [start, end) of their concatenation. */
export function sliceSegments(segments: readonly SourceSegment[], start: number, end: number): SourceSegment[] {
  const out: SourceSegment[] = [];
  let offset = 0;
  for (const segment of segments) {
    if (segment.declined !== undefined) {
      // A marker has no text: it belongs to the slice its offset starts (one at a cut goes with what follows).
      if (offset >= start && offset < end) out.push(segment);
      continue;
    }
    const segmentEnd = offset + segment.text.length;
    const from = Math.max(start, offset);
    const to = Math.min(end, segmentEnd);
    if (to > from) out.push({ text: segment.text.slice(from - offset, to - offset), llmIndex: segment.llmIndex });
    offset = segmentEnd;
    if (offset >= end) break;
  }
  return out;
}
