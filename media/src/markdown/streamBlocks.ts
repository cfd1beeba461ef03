/**
 * Streaming support: finds where the text received so far can be cut so that everything
 * before the cut is made of finished Markdown blocks (rendered once, never again while
 * streaming) and only the short tail after it is still plain streaming text.
 */
import type { SourceSegment } from './sentinels';

/**
 * Offset just after the last blank line of `text` (from `from` on) that lies outside a
 * code fence or display math, or `from` when there is none. `from` must itself be such a
 * boundary (or 0).
 */
export function lastBlockBoundary(text: string, from: number): number {
  let boundary = from;
  let fence: string | undefined;
  let math: string | undefined;
  /** Inside a thinking model's <think> ... </think>: one folded block, rendered when it closes. */
  let thinking = false;
  let lineStart = from;
  let previousBlank = false;
  while (lineStart <= text.length) {
    const newline = text.indexOf('\n', lineStart);
    if (newline < 0) break; // the last line is unfinished
    const line = text.slice(lineStart, newline);
    const trimmed = line.trim();
    const bare = trimmed.replace(/[\uE000-\uF8FF]/g, '');
    if (thinking) {
      if (bare === '</think>') thinking = false;
    } else if (fence) {
      if (trimmed.startsWith(fence) && trimmed.replace(/[`~]/g, '') === '') fence = undefined;
    } else if (math) {
      if (trimmed.endsWith(math)) math = undefined;
    } else {
      const fenceOpen = /^ {0,3}(`{3,}|~{3,})/.exec(line);
      if (bare === '<think>') thinking = true;
      else if (fenceOpen) fence = fenceOpen[1];
      else if (trimmed.startsWith('$$') && !(trimmed.length > 2 && trimmed.endsWith('$$'))) math = '$$';
      else if (trimmed.startsWith('\\[') && !trimmed.endsWith('\\]')) math = '\\]';
      else if (trimmed === '' && !previousBlank && lineStart > from) boundary = newline + 1;
    }
    previousBlank = trimmed === '' && !fence && !math && !thinking;
    lineStart = newline + 1;
  }
  return boundary;
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
