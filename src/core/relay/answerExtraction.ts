/**
 * Final-answer extraction and comparison for GSM8K/MATH-style evaluation: the last
 * `\boxed{...}` of a text, else (GSM8K references) what follows `####`, else its last
 * number. Answers compare numerically when both are numbers, else as normalised LaTeX.
 */

/** The content of the last `\boxed{...}` (or `\fbox{...}`), braces balanced; null if none. */
export function extractBoxed(text: string): string | null {
  const starts = [...text.matchAll(/\\(?:boxed|fbox)\s*\{/g)];
  for (let m = starts.length - 1; m >= 0; m--) {
    const open = (starts[m].index ?? 0) + starts[m][0].length;
    let depth = 1;
    for (let i = open; i < text.length; i++) {
      if (text[i] === '{') depth++;
      else if (text[i] === '}' && --depth === 0) return text.slice(open, i).trim();
    }
  }
  return null;
}

/** The last number of a text ("1,234.5", "-3", "3/4"), as written, commas removed; null if none. */
export function extractLastNumber(text: string): string | null {
  const all = [...text.matchAll(/-?\d[\d,]*(?:\.\d+)?(?:\/\d+)?|-?\.\d+/g)];
  if (all.length === 0) return null;
  return all[all.length - 1][0].replace(/,/g, '');
}

/** A model's final answer: last \boxed{}, else the last number. */
export function extractAnswer(text: string): string | null {
  return extractBoxed(text) ?? extractLastNumber(text);
}

/** A data set's reference: GSM8K `#### 42`, MATH `\boxed{...}` in the solution, else the text itself. */
export function extractReference(reference: string): string {
  const hashes = reference.lastIndexOf('####');
  if (hashes >= 0) return reference.slice(hashes + 4).trim().replace(/,/g, '');
  return extractBoxed(reference) ?? reference.trim();
}

export function normaliseAnswer(answer: string): string {
  let s = answer.trim();
  s = s.replace(/^\$+|\$+$/g, '');
  s = s.replace(/\\text\{\s*([^}]*)\}/g, '$1');
  s = s.replace(/\\(?:left|right|!|,|;|:)/g, '');
  s = s.replace(/\\[dt]frac/g, '\\frac');
  s = s.replace(/\^\{?\\circ\}?|°/g, '');
  s = s.replace(/\\%|%/g, '');
  s = s.replace(/\s+/g, '');
  s = s.replace(/\.$/, '');
  s = s.replace(/^([a-zA-Z]\w*)=/, ''); // "x=5" -> "5"
  return s;
}

function asNumber(answer: string): number | null {
  const s = normaliseAnswer(answer).replace(/,/g, '');
  const frac = /^(-?)\\frac\{(-?\d+(?:\.\d+)?)\}\{(-?\d+(?:\.\d+)?)\}$/.exec(s) ?? /^(-?)(\d+(?:\.\d+)?)\/(\d+(?:\.\d+)?)$/.exec(s);
  if (frac) {
    const value = Number(frac[2]) / Number(frac[3]);
    return frac[1] === '-' ? -value : value;
  }
  return /^-?(?:\d+(?:\.\d+)?|\.\d+)$/.test(s) ? Number(s) : null;
}

export function answersMatch(predicted: string | null, reference: string): boolean {
  if (predicted === null) return false;
  const a = asNumber(predicted);
  const b = asNumber(reference);
  if (a !== null && b !== null) return Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b));
  return normaliseAnswer(predicted) === normaliseAnswer(reference);
}
