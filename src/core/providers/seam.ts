/**
 * Joining an LLM's continuation onto the partial answer, for the streaming case:
 * - InstructedSeamCleaner: a chat model asked to "continue" may greet, quote, repeat the
 *   tail of the answer or drop the joining space; the head of its reply is held back
 *   until it can be cleaned, then everything passes through.
 * - WhitespaceSeam: Anthropic prefill must not end in whitespace; the trimmed whitespace
 *   is already in the caller's answer, so the same whitespace at the head of the reply is
 *   dropped and the joined text stays exact.
 */

/** The user turn that asks a chat model (without prefix support) to go on with its answer. */
export const CONTINUE_INSTRUCTION =
  'Your answer above was cut off. Continue it from exactly where it stops: reply with only the text that comes next, ' +
  'as if you had never stopped. Do not repeat any of it, do not greet, do not quote it, and do not comment. ' +
  'If the answer is already complete, reply with nothing.';

const PREAMBLE = new RegExp(
  String.raw`^\s*(?:` +
    String.raw`(?:sure|certainly|of course|okay|ok|alright|absolutely|got it)\b[^\n:]{0,60}?[:!.,]\s*` +
    String.raw`|here(?:'s| is| are)\b[^\n:]{0,60}(?:continuation|rest|continued|next)[^\n:]{0,40}:\s*` +
    String.raw`|(?:continuation|continuing|continued)\s*:\s*` +
    String.raw`)`,
  'i',
);
const LEADING_QUOTE = /^\s*["“'‘«]/;
const LEADING_ELLIPSIS = /^\s*(?:\.\.\.|…)\s?/;
/** Characters after which a new word needs a space. */
const ENDS_WORD = /[\p{L}\p{N}.,;:!?)\]}”’%]$/u;
const STARTS_WORD = /^[\p{L}\p{N}(\[“‘]/u;
const MIN_OVERLAP = 3;
const MAX_OVERLAP = 2000;
/** Bytes of the reply held back before cleaning, unless the stream ends first. */
const HOLD = 64;

export class InstructedSeamCleaner {
  private buffer = '';
  private decided = false;
  private readonly tail: string;

  /** `seam`: what the SLM's own next token put between the answer and what follows (ContinueRequest.seam). */
  constructor(
    private readonly partialAnswer: string,
    private readonly seam?: SeamHint,
  ) {
    this.tail = partialAnswer.trimEnd();
  }

  push(text: string): string {
    if (this.decided) return text;
    this.buffer += text;
    if (this.buffer.length < HOLD || this.couldStillOverlap()) return '';
    return this.flush();
  }

  end(): string {
    return this.decided ? '' : this.flush();
  }

  /** While the head of the reply is still text of the answer, a longer repeat may follow. */
  private couldStillOverlap(): boolean {
    if (this.buffer.length > this.tail.length + HOLD) return false;
    const head = this.buffer.trimStart();
    const stripped = stripPreamble(this.buffer).trimStart();
    return (head.length > 0 && this.tail.includes(head)) || (stripped.length > 0 && this.tail.includes(stripped));
  }

  private flush(): string {
    this.decided = true;
    const cleaned = cleanSeam(this.partialAnswer, this.buffer, this.seam);
    this.buffer = '';
    return cleaned;
  }
}

function stripPreamble(text: string): string {
  let out = text;
  for (let i = 0; i < 3; i++) {
    const next = out.replace(PREAMBLE, '').replace(LEADING_ELLIPSIS, '');
    if (next === out) break;
    out = next;
  }
  return out;
}

/** 'space': the next word starts fresh; 'none': the text goes on inside a word or a number (or with punctuation). */
export type SeamHint = 'space' | 'none';

/**
 * Cleans the head of an instructed continuation so that partialAnswer + result reads right.
 * A chat model often drops the space a new word needs; but where the answer was cut inside
 * a word or a number ("155" + "0"), adding one would change the text. `seam` (the SLM's own
 * next token) says which; without it, a digit after a digit is glued and other words spaced.
 */
export function cleanSeam(partialAnswer: string, head: string, seam?: SeamHint): string {
  const tail = partialAnswer.trimEnd();
  let text = stripPreamble(head);

  // A quote that opens a repeat of the answer's tail is the model quoting itself.
  const quote = LEADING_QUOTE.exec(text);
  if (quote) {
    const unquoted = text.slice(quote[0].length);
    if (overlapLength(tail, unquoted.trimStart()) > 0) text = unquoted;
  }

  const leading = /^\s*/.exec(text)![0];
  let body = text.slice(leading.length);
  const overlap = overlapLength(tail, body);
  let spacing = leading;
  if (overlap > 0) {
    body = body.slice(overlap);
    spacing = /^\s*/.exec(body)![0];
    body = body.slice(spacing.length);
  }
  if (body.length === 0) return '';

  if (partialAnswer.length > 0 && /\s$/.test(partialAnswer)) return body; // the answer already ends with the space
  if (partialAnswer.length === 0) return body;
  if (spacing.length > 0) return spacing + body;
  if (seam === 'none') return body;
  if (seam === 'space') return ` ${body}`;
  if (/\p{N}$/u.test(tail) && /^\p{N}/u.test(body)) return body;
  return ENDS_WORD.test(tail) && STARTS_WORD.test(body) ? ` ${body}` : body;
}

/**
 * The length of the longest tail of `answer` that `reply` starts with, on word
 * boundaries and at least MIN_OVERLAP visible characters long; 0 if none.
 */
export function overlapLength(answer: string, reply: string): number {
  const limit = Math.min(answer.length, reply.length, MAX_OVERLAP);
  for (let k = limit; k > 0; k--) {
    const piece = reply.slice(0, k);
    if (piece.replace(/\s/g, '').length < MIN_OVERLAP) return 0;
    if (!answer.endsWith(piece)) continue;
    const before = answer.length - k - 1;
    const startsOnBoundary = before < 0 || !isWordChar(answer[before]) || !isWordChar(piece[0]);
    const endsOnBoundary = k === reply.length || !isWordChar(reply[k]) || !isWordChar(piece[k - 1]);
    if (startsOnBoundary && endsOnBoundary) return k;
  }
  return 0;
}

function isWordChar(ch: string): boolean {
  return /[\p{L}\p{N}_]/u.test(ch);
}

export class WhitespaceSeam {
  private matched = 0;
  private done: boolean;

  /** `trimmed`: the whitespace cut from the end of the answer before it was sent. */
  constructor(private readonly trimmed: string) {
    this.done = trimmed.length === 0;
  }

  push(text: string): string {
    if (this.done) return text;
    let i = 0;
    while (i < text.length && this.matched < this.trimmed.length && text[i] === this.trimmed[this.matched]) {
      i++;
      this.matched++;
    }
    if (i < text.length || this.matched === this.trimmed.length) this.done = true;
    return text.slice(i);
  }
}

/** Splits an answer into the part sent as prefill and its trailing whitespace. */
export function splitTrailingWhitespace(text: string): { body: string; whitespace: string } {
  const body = text.trimEnd();
  return { body, whitespace: text.slice(body.length) };
}
