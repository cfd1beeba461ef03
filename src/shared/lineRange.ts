/**
 * The one wording of a range of lines (1-based, inclusive), for `relay explain` and for the
 * text attached to an `@relay` question: one line is named as one line ("5", "line 5"),
 * never as a range of one ("5-5", "lines 5-5").
 */

/** "5" for one line, "5-9" for several: as in `file:5` and `file:5-9`. */
export function lineSpan(first: number, last: number): string {
  return first === last ? `${first}` : `${first}-${last}`;
}

/** "line 5" for one line, "lines 5-9" for several. */
export function linesLabel(first: number, last: number): string {
  return `${first === last ? 'line' : 'lines'} ${lineSpan(first, last)}`;
}
