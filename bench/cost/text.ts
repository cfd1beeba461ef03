/**
 * Text tools of bench:cost: a seeded random source, the two tokenizers (the scripted
 * SLM's and the billing servers'; deliberately different, as a Qwen SLM's and an OpenAI
 * or Anthropic LLM's are, so that the engine's calibration of one count against the other
 * is exercised), and the alignment of a written text against a trace's reference answer.
 */

/** mulberry32: a small seeded generator, [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function pick<T>(random: () => number, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)];
}

export function intIn(random: () => number, low: number, high: number): number {
  return low + Math.floor(random() * (high - low + 1));
}

/** A token: its text and where it starts in the text it came from. */
export interface Piece {
  text: string;
  start: number;
}

/**
 * The scripted SLM's tokenizer, shaped like a Qwen BPE on code and prose: runs of
 * newlines are one token; spaces and tabs join the token that follows; a run of letters
 * is cut into pieces of at most 6 letters (long identifiers take several tokens); every
 * digit and every punctuation character is a token of its own.
 */
const SLM_PATTERN = /\n+|[ \t]*(?:[A-Za-z]+|[0-9]|[^\sA-Za-z0-9])|[ \t]+/g;
const SLM_WORD_PIECE = 6;

export function slmPieces(text: string): Piece[] {
  const out: Piece[] = [];
  for (const m of text.matchAll(SLM_PATTERN)) {
    const start = m.index;
    const token = m[0];
    const letters = /^([ \t]*)([A-Za-z]+)$/.exec(token);
    if (!letters || letters[2].length <= SLM_WORD_PIECE) {
      out.push({ text: token, start });
      continue;
    }
    // The leading blanks stay with the first piece.
    let at = letters[1].length + SLM_WORD_PIECE;
    out.push({ text: token.slice(0, at), start });
    while (at < token.length) {
      out.push({ text: token.slice(at, at + SLM_WORD_PIECE), start: start + at });
      at += SLM_WORD_PIECE;
    }
  }
  return out;
}

export function slmCount(text: string): number {
  return slmPieces(text).length;
}

/**
 * The billing servers' tokenizer, shaped like a GPT/Claude BPE: a newline with the blanks
 * before it, a word with one leading blank (whole, however long), numbers in groups of up
 * to three digits, runs of punctuation, runs of blanks. Fewer tokens than the SLM's on
 * code and numbers, about as many on prose.
 */
const SERVER_PATTERN = /[ \t]*\n+|[ \t]?[A-Za-z]+|[ \t]?[0-9]{1,3}|[ \t]?[^\sA-Za-z0-9]+|[ \t]+/g;

export function serverTokens(text: string): string[] {
  return text.match(SERVER_PATTERN) ?? [];
}

export function serverCount(text: string): number {
  return serverTokens(text).length;
}

const isSpace = (c: string): boolean => c === ' ' || c === '\t' || c === '\n' || c === '\r';

/**
 * Where `text`, written at `from` in `reference`, ends in the reference. Whitespace may
 * differ (a seam cleaner adds or drops a space; a prefill has its trailing blanks cut);
 * any other difference is a mismatch, and then the last 24 visible characters of the text
 * are looked for near where they should be (a continuation that dropped or repeated a few
 * words). Returns the position after the text and whether it matched without that search.
 */
export function alignEnd(reference: string, from: number, text: string): { end: number; exact: boolean } {
  let r = from;
  let t = 0;
  while (t < text.length) {
    const tc = text[t];
    const rc = reference[r];
    if (rc !== undefined && tc === rc) {
      t++;
      r++;
    } else if (isSpace(tc)) {
      t++;
    } else if (rc !== undefined && isSpace(rc)) {
      r++;
    } else {
      return { end: searchTail(reference, from, text, r), exact: false };
    }
  }
  return { end: r, exact: true };
}

/** The position after the last 24 visible characters of `text`, searched in the reference near `guess`; `guess` when not found. */
function searchTail(reference: string, from: number, text: string, guess: number): number {
  const visible = text.replace(/\s+/g, '');
  const tail = visible.slice(-24);
  if (tail.length === 0) return guess;
  // The reference's visible characters from `from`, with their positions.
  const positions: number[] = [];
  let squeezed = '';
  for (let i = from; i < reference.length; i++) {
    if (isSpace(reference[i])) continue;
    squeezed += reference[i];
    positions.push(i);
  }
  const expected = visible.length;
  let best = -1;
  let bestDistance = Infinity;
  for (let at = squeezed.indexOf(tail); at >= 0; at = squeezed.indexOf(tail, at + 1)) {
    const endAt = at + tail.length;
    const distance = Math.abs(endAt - expected);
    if (distance < bestDistance) {
      best = endAt;
      bestDistance = distance;
    }
  }
  if (best < 0 || bestDistance > 400) return guess;
  return positions[best - 1] + 1;
}
