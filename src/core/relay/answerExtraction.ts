/**
 * Final-answer extraction and comparison for GSM8K/MATH-style evaluation.
 *
 * Extraction: the last `\boxed{...}` of a text (nested braces), else (GSM8K references)
 * what follows `####`, else its last number.
 *
 * Comparison (`answersMatch`): both sides are normalised (math delimiters, `\text{}` and
 * spacing commands, `\left`/`\right`, `\dfrac`, `\frac12`, degrees, percent and dollar
 * signs, thousands commas, a leading `x =`), units are dropped from the prediction where
 * the reference has none, then the two are equal when they are the same string, the same
 * number (constant expressions such as `\frac{\sqrt{3}}{2}`, `2\frac{1}{4}` or `10^{3}`
 * are evaluated; integers compare exactly), the same tuple or interval element by element
 * (brackets must agree), the same set or comma-separated list in any order, or the same
 * multiple-choice letter. Anything else does not match: there is no symbolic algebra
 * (`x^2+2x+1` does not match `(x+1)^2`).
 */

/** The content of the last `\boxed{...}` (or `\fbox{...}`, or `\boxed 5`), braces balanced; null if none. */
export function extractBoxed(text: string): string | null {
  const starts = [...text.matchAll(/\\(?:boxed|fbox)(?:\s*\{|\s+(?=[^\s{]))/g)];
  for (let m = starts.length - 1; m >= 0; m--) {
    const open = (starts[m].index ?? 0) + starts[m][0].length;
    if (!starts[m][0].endsWith('{')) {
      // `\boxed 5`: the next run of non-space characters, without closing punctuation.
      const word = /^[^\s$]+/.exec(text.slice(open))?.[0].replace(/[.,;]+$/, '') ?? '';
      if (word !== '') return word;
      continue;
    }
    const close = matchingBrace(text, open - 1);
    if (close >= 0) return text.slice(open, close).trim();
  }
  return null;
}

/** The index of the `}` closing the `{` at `open`, or -1. */
function matchingBrace(text: string, open: number): number {
  let depth = 0;
  for (let i = open; i < text.length; i++) {
    if (text[i] === '\\' && (text[i + 1] === '{' || text[i + 1] === '}')) {
      i++; // an escaped brace (`\{`) does not count
      continue;
    }
    if (text[i] === '{') depth++;
    else if (text[i] === '}' && --depth === 0) return i;
  }
  return -1;
}

/** The last number of a text ("1,234.5", "-3", "3/4"), as written, commas removed; null if none. */
export function extractLastNumber(text: string): string | null {
  const all = [...text.replace(/\u2212/g, '-').matchAll(/-?\d[\d,]*(?:\.\d+)?(?:\/\d+)?|-?\.\d+/g)];
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
  if (hashes >= 0)
    return reference
      .slice(hashes + 4)
      .trim()
      .replace(/,/g, '');
  return extractBoxed(reference) ?? reference.trim();
}

/** Math delimiters, a whole-string `\boxed{}`, Unicode minus: what both sides lose before anything else. */
function unwrap(answer: string): string {
  let s = answer
    .replace(/\u2212/g, '-')
    .replace(/\\displaystyle/g, '')
    .trim();
  for (let changed = true; changed;) {
    const before = s;
    s = s.replace(/^\$+|\$+$/g, '').trim();
    s = s
      .replace(/^\\\(([\s\S]*)\\\)$/, '$1')
      .replace(/^\\\[([\s\S]*)\\\]$/, '$1')
      .trim();
    const boxed = /^\\(?:boxed|fbox)\s*\{/.exec(s);
    if (boxed && matchingBrace(s, boxed[0].length - 1) === s.length - 1) s = s.slice(boxed[0].length, -1).trim();
    s = s.replace(/[.\s]+$/, '');
    changed = s !== before;
  }
  return s;
}

const TEXT_COMMANDS = /\\(?:text|textbf|textit|textrm|textnormal|mathrm|mathbf|mathit|mbox|operatorname)\s*\{([^{}]*)\}/g;

/** Units written after a number: `5\text{ cm}`, `18 dollars`, `12 \mbox{inches}^2`; the rest is the value. */
function splitUnits(s: string): { value: string; units: string | null } {
  const m = /^(.*?[\d}])\s*((?:\\(?:text|mbox|mathrm)\s*\{\s*[a-zA-Z][a-zA-Z .]*\}|\s[a-zA-Z]{2,}(?:\s+[a-zA-Z]+)*)(?:\s*\^\s*\{?[23]\}?)?)$/.exec(s);
  if (!m || !/\d/.test(m[1])) return { value: s, units: null };
  const units = m[2]
    .replace(TEXT_COMMANDS, '$1')
    .replace(/[\s.]+/g, '')
    .toLowerCase();
  return { value: m[1], units };
}

/**
 * An answer in a canonical form: no delimiters, spacing or wrappers, `\frac` for every
 * fraction command, braces on `\frac12` and `\sqrt2`, no degree, percent or dollar signs,
 * no thousands commas, no leading `x =`. Idempotent.
 */
export function normaliseAnswer(answer: string): string {
  let s = unwrap(answer);
  for (let before = ''; before !== s;) {
    before = s;
    s = s.replace(TEXT_COMMANDS, '$1');
  }
  s = s.replace(/\\(?:left|right|bigl|bigr|Bigl|Bigr|big|Big)(?![a-zA-Z])\.?/g, '');
  s = s.replace(/\\[!,;:> ]|\\q?quad(?![a-zA-Z])|~/g, ' ');
  s = s.replace(/\\[dt]frac(?![a-zA-Z])/g, '\\frac');
  s = s
    .replace(/\\leq(?![a-zA-Z])/g, '\\le')
    .replace(/\\geq(?![a-zA-Z])/g, '\\ge')
    .replace(/\\neq(?![a-zA-Z])/g, '\\ne');
  s = s.replace(/\^\s*\{\s*\\circ\s*\}|\^\s*\\circ(?![a-zA-Z])|\\degree(?![a-zA-Z])|°/g, '');
  s = s.replace(/\\?%/g, '');
  s = s.replace(/\\?\$/g, '');
  s = s.replace(/\s+/g, '');
  s = s
    .replace(/\\frac(\d)(\d)/g, '\\frac{$1}{$2}')
    .replace(/\\frac(\d)\{/g, '\\frac{$1}{')
    .replace(/\\frac(\{[^{}]*\})(\d)/g, '\\frac$1{$2}');
  s = s.replace(/\\sqrt(\d+|[a-zA-Z](?![a-zA-Z]))/g, '\\sqrt{$1}');
  s = s.replace(/\^\{(\w)\}/g, '^$1');
  s = s.replace(/\.$/, '');
  s = s.replace(/^(?:[a-zA-Z]|\\[a-zA-Z]+)(?:=|\\in(?![a-zA-Z]))(?!=)/, ''); // "x=5" -> "5", "x\in[1,2]" -> "[1,2]"
  if (/^[-+]?\d{1,3}(?:,\d{3})+(?:\.\d+)?$/.test(s)) s = s.replace(/,/g, '');
  return s;
}

/** Whether a model's answer matches the reference (see the top of this file). */
export function answersMatch(predicted: string | null, reference: string): boolean {
  if (predicted === null) return false;
  const ref = splitUnits(unwrap(reference));
  const pred = splitUnits(unwrap(predicted));
  // Units where the reference has none are dropped; where it has some, the prediction may leave them out.
  if (ref.units !== null && pred.units !== null && pred.units !== ref.units) return false;
  return equivalent(normaliseAnswer(pred.value), normaliseAnswer(ref.value));
}

/** Two normalised answers. */
function equivalent(a: string, b: string): boolean {
  if (a === '' || b === '') return false;
  if (a === b) return true;
  if (/^[a-zA-Z]{2,}$/.test(a) && /^[a-zA-Z]{2,}$/.test(b)) return a.toLowerCase() === b.toLowerCase();
  const va = latexValue(a);
  const vb = latexValue(b);
  if (va !== null && vb !== null) return sameNumber(a, va, b, vb);
  const choiceA = /^\(?([A-E])\)?$/.exec(a);
  const choiceB = /^\(?([A-E])\)?$/.exec(b);
  if (choiceA && choiceB) return choiceA[1] === choiceB[1];
  // Unions of intervals: piece by piece.
  const unionA = splitTopLevel(a, '\\cup');
  const unionB = splitTopLevel(b, '\\cup');
  if (unionA.length > 1 || unionB.length > 1) return unionA.length === unionB.length && unionA.every((x, i) => equivalent(x, unionB[i]));
  const sa = structure(a);
  const sb = structure(b);
  if (sa && sb) {
    if (sa.kind !== sb.kind || sa.open !== sb.open || sa.close !== sb.close || sa.items.length !== sb.items.length) return false;
    if (sa.kind === 'ordered') return sa.items.every((x, i) => equivalent(x, sb.items[i]));
    return sameMultiset(sa.items, sb.items);
  }
  return false;
}

function sameNumber(a: string, va: number, b: string, vb: number): boolean {
  const integer = /^[-+]?\d+$/;
  if (integer.test(a) && integer.test(b)) return BigInt(a) === BigInt(b);
  return Math.abs(va - vb) <= 1e-8 * Math.max(1, Math.abs(vb));
}

function sameMultiset(a: string[], b: string[]): boolean {
  const left = [...b];
  for (const x of a) {
    const i = left.findIndex((y) => equivalent(x, y));
    if (i < 0) return false;
    left.splice(i, 1);
  }
  return left.length === 0;
}

interface Structure {
  /** ordered: tuples and intervals; unordered: sets and bare comma-separated lists. */
  kind: 'ordered' | 'unordered';
  open: string;
  close: string;
  items: string[];
}

/** `(a,b)`, `[a,b)`, `\{a,b\}` or `a,b`: brackets and top-level items; null for anything else. */
function structure(s: string): Structure | null {
  if (s.startsWith('\\{') && s.endsWith('\\}') && closingOf(s, 0) === s.length - 2) {
    return { kind: 'unordered', open: '{', close: '}', items: splitTopLevel(s.slice(2, -2), ',') };
  }
  if ((s[0] === '(' || s[0] === '[') && (s.endsWith(')') || s.endsWith(']')) && closingOf(s, 0) === s.length - 1) {
    const items = splitTopLevel(s.slice(1, -1), ',');
    if (items.length >= 2) return { kind: 'ordered', open: s[0], close: s[s.length - 1], items };
    return null;
  }
  const items = splitTopLevel(s, ',');
  return items.length >= 2 && items.every((x) => x !== '') ? { kind: 'unordered', open: '', close: '', items } : null;
}

/** Where the bracket opened at `start` closes (any of ( [ { and \{ \}, mixed: an interval is `[a,b)`); -1 if never. */
function closingOf(s: string, start: number): number {
  let depth = 0;
  for (let i = start; i < s.length; i++) {
    if (s[i] === '\\' && (s[i + 1] === '{' || s[i + 1] === '}')) {
      depth += s[i + 1] === '{' ? 1 : -1;
      if (depth === 0) return i;
      i++;
      continue;
    }
    if ('([{'.includes(s[i])) depth++;
    else if (')]}'.includes(s[i]) && --depth === 0) return i;
  }
  return -1;
}

/** Splits at `sep` outside any brackets. */
function splitTopLevel(s: string, sep: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let from = 0;
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && (s[i + 1] === '{' || s[i + 1] === '}')) {
      depth += s[i + 1] === '{' ? 1 : -1;
      i++;
      continue;
    }
    if ('([{'.includes(s[i])) depth++;
    else if (')]}'.includes(s[i])) depth--;
    else if (depth === 0 && s.startsWith(sep, i)) {
      parts.push(s.slice(from, i));
      from = i + sep.length;
      i += sep.length - 1;
    }
  }
  parts.push(s.slice(from));
  return parts;
}

/**
 * The value of a constant LaTeX expression in normalised form (numbers, + - * / ^,
 * `\cdot`, `\times`, `\div`, `\frac`, `\sqrt`, `\sqrt[n]`, `\pi`, brackets, implicit
 * products and mixed numbers such as `2\frac{1}{4}`); null when it is anything else
 * (variables, `\infty`, lists) or not finite.
 */
export function latexValue(s: string): number | null {
  const parser = new ValueParser(s);
  try {
    const value = parser.expression();
    return parser.atEnd() && Number.isFinite(value) ? value : null;
  } catch {
    return null;
  }
}

class ValueParser {
  private i = 0;
  constructor(private readonly s: string) {}

  atEnd(): boolean {
    return this.i === this.s.length;
  }

  private fail(): never {
    throw new Error('not a constant');
  }

  private eat(token: string): boolean {
    if (!this.s.startsWith(token, this.i)) return false;
    // A command must not continue as a longer one (`\pi` is not the start of `\pm`... nor `\pix`).
    if (token.startsWith('\\') && /[a-zA-Z]/.test(this.s[this.i + token.length] ?? '')) return false;
    this.i += token.length;
    return true;
  }

  expression(): number {
    let value = this.term();
    for (;;) {
      if (this.eat('+')) value += this.term();
      else if (this.eat('-')) value -= this.term();
      else return value;
    }
  }

  private term(): number {
    let value = this.unary();
    for (;;) {
      if (this.eat('*') || this.eat('\\cdot') || this.eat('\\times')) value *= this.unary();
      else if (this.eat('/') || this.eat('\\div')) value /= this.unary();
      else if (this.startsAtom()) {
        // A mixed number: an integer followed by a fraction of integers (2\frac{1}{4} = 2.25).
        const mixed = /^\d+$/.test(this.s.slice(0, this.i).replace(/^[-+]/, '')) && /^\\frac\{\d+\}\{\d+\}$/.test(this.s.slice(this.i));
        const next = this.power();
        value = mixed ? value + Math.sign(value || 1) * next : value * next;
      } else return value;
    }
  }

  private unary(): number {
    if (this.eat('-')) return -this.unary();
    if (this.eat('+')) return this.unary();
    return this.power();
  }

  private startsAtom(): boolean {
    const c = this.s[this.i];
    if (c === undefined) return false;
    // No digit: `2.5.3` or `\sqrt{2}3` is no product anyone writes.
    return c === '(' || ['\\frac', '\\sqrt', '\\pi'].some((t) => this.s.startsWith(t, this.i) && !/[a-zA-Z]/.test(this.s[this.i + t.length] ?? ''));
  }

  private power(): number {
    const base = this.atom();
    if (!this.eat('^')) return base;
    // An exponent: a braced group, a run of digits, or one atom; -x binds to the exponent.
    const negative = this.eat('-');
    const exponent = this.s[this.i] === '{' ? this.group() : /\d/.test(this.s[this.i] ?? '') ? this.number() : this.atom();
    return base ** (negative ? -exponent : exponent);
  }

  private group(): number {
    if (!this.eat('{')) return this.single();
    const value = this.expression();
    if (!this.eat('}')) this.fail();
    return value;
  }

  /** `\frac12`-style single-character arguments (normalisation braces digits; kept for safety). */
  private single(): number {
    const c = this.s[this.i];
    if (c !== undefined && /\d/.test(c)) {
      this.i++;
      return Number(c);
    }
    return this.fail();
  }

  private number(): number {
    const m = /^(?:\d+(?:\.\d*)?|\.\d+)/.exec(this.s.slice(this.i));
    if (!m) this.fail();
    this.i += m[0].length;
    return Number(m[0]);
  }

  private atom(): number {
    const c = this.s[this.i];
    if (c === undefined) this.fail();
    if (/[\d.]/.test(c)) return this.number();
    if (this.eat('(')) return this.closeWith(')');
    if (this.eat('[')) return this.closeWith(']');
    if (c === '{') return this.group();
    if (this.eat('\\pi')) return Math.PI;
    if (this.eat('\\frac')) {
      const top = this.group();
      return top / this.group();
    }
    if (this.eat('\\sqrt')) {
      let degree = 2;
      if (this.eat('[')) degree = this.closeWith(']');
      const radicand = this.group();
      if (radicand < 0 && degree % 2 === 1) return -((-radicand) ** (1 / degree));
      return radicand ** (1 / degree);
    }
    return this.fail();
  }

  private closeWith(close: string): number {
    const value = this.expression();
    if (!this.eat(close)) this.fail();
    return value;
  }
}
