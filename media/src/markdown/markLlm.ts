/**
 * Turns sentinel-delimited ranges in rendered HTML into `<span class="relay-llm">` marks.
 * Works on the HTML string (markdown-it output is well formed and escapes user text), so
 * it needs no DOM: text outside tags is split at sentinels and each piece inside a range
 * is wrapped on its own, which splits a range that crosses element boundaries into
 * several marks. Elements marked `relay-math` are atomic: they get the class instead.
 */
import { DECLINED, isSentinel, openIndex, SENTINEL_PATTERN } from './sentinels';

/** Hover text for the mark of LLM span `index`. */
export type TitleFor = (index: number) => string;
/** Hover text of the n-th skipped-call marker met in the HTML (0-based, in document order). */
export type MarkerTitleFor = (occurrence: number) => string;

const ATOMIC_CLASS = 'relay-math';

export function escapeHtml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

function markAttributes(index: number, titleFor: TitleFor): string {
  return ` data-span="${index}" title="${escapeHtml(titleFor(index))}"`;
}

/** Splits HTML into tags and text runs. */
function* htmlTokens(html: string): Generator<{ tag: boolean; value: string }> {
  let i = 0;
  while (i < html.length) {
    if (html[i] === '<') {
      const end = html.indexOf('>', i);
      const stop = end < 0 ? html.length : end + 1;
      yield { tag: true, value: html.slice(i, stop) };
      i = stop;
    } else {
      const next = html.indexOf('<', i);
      const stop = next < 0 ? html.length : next;
      yield { tag: false, value: html.slice(i, stop) };
      i = stop;
    }
  }
}

function tagName(tag: string): string {
  return /^<\/?([a-zA-Z][\w-]*)/.exec(tag)?.[1]?.toLowerCase() ?? '';
}

function addMarkToTag(tag: string, index: number, titleFor: TitleFor): string {
  let marked = tag.replace(/ class="([^"]*)"/, (_m, classes: string) =>
    classes.split(/\s+/).includes('relay-llm') ? ` class="${classes}"` : ` class="${classes} relay-llm"`,
  );
  marked = marked.replace(/ data-span="[^"]*"/, '').replace(/ title="[^"]*"/, '');
  // A replacer function: the title holds a model name, where `$'` or `$&` must stay text.
  return marked.replace(/^<[a-zA-Z][\w-]*/, (name) => name + markAttributes(index, titleFor));
}

/**
 * Whether `tag` opens an atomic element: one whose class list holds exactly ATOMIC_CLASS,
 * which only the math plugin writes (a fence's language becomes `language-relay-math`).
 */
function opensAtomic(tag: string): boolean {
  if (tag.startsWith('</')) return false;
  const classes = / class="([^"]*)"/.exec(tag)?.[1] ?? '';
  return classes.split(/\s+/).includes(ATOMIC_CLASS);
}

/**
 * The marker of a skipped call: an empty element (its look is CSS), so selecting and
 * copying the answer never copies it; the hover and the accessible name say what it is.
 */
export function declinedMarker(title: string, occurrence: number): string {
  const text = escapeHtml(title);
  return `<span class="relay-declined" data-declined="${occurrence}" role="img" aria-label="${text}" title="${text}"></span>`;
}

/**
 * Wraps every sentinel range of `html` in marks and removes the sentinels; each
 * skipped-call sentinel becomes a marker (titled by `markerTitleFor`, dropped without it).
 */
export function markLlmRanges(html: string, titleFor: TitleFor, markerTitleFor?: MarkerTitleFor): string {
  let active: number | undefined;
  let out = '';
  let atomic: { name: string; depth: number } | undefined;
  let markers = 0;
  /** The next marker's HTML; counted also where it cannot be shown, so the n-th keeps the n-th title. */
  const marker = (show: boolean): string => {
    const occurrence = markers++;
    return show && markerTitleFor ? declinedMarker(markerTitleFor(occurrence), occurrence) : '';
  };
  const applySentinel = (ch: string): void => {
    // A marker is a point, not a range: it leaves the range it sits in open.
    if (ch !== DECLINED) active = openIndex(ch);
  };

  for (const token of htmlTokens(html)) {
    if (token.tag) {
      // Sentinels that ended up in an attribute (alt text, say) still open or close a range.
      let tag = token.value;
      const found = tag.match(SENTINEL_PATTERN) ?? [];
      for (const ch of found) applySentinel(ch);
      const markersHere = found.filter((ch) => ch === DECLINED).length;
      tag = tag.replace(SENTINEL_PATTERN, '');
      const name = tagName(tag);
      if (atomic) {
        if (name === atomic.name && !tag.endsWith('/>')) atomic.depth += tag.startsWith('</') ? -1 : 1;
        if (atomic.depth === 0) atomic = undefined;
        out += tag;
        for (let i = 0; i < markersHere; i++) out += marker(false);
        continue;
      }
      if (opensAtomic(tag)) {
        atomic = { name, depth: 1 };
        // Marked when it sits inside a range or held sentinels itself (data-span set by the math plugin).
        const ownIndex = /data-span="(\d+)"/.exec(tag)?.[1];
        const index = active ?? (ownIndex !== undefined ? Number(ownIndex) : undefined);
        if (index !== undefined) tag = addMarkToTag(tag, index, titleFor);
      }
      out += tag;
      // A marker from an attribute goes right after its tag (outside an atomic element, which it would break).
      for (let i = 0; i < markersHere; i++) out += marker(!atomic);
      continue;
    }
    if (atomic) {
      // The element is marked as a whole, but a sentinel in it still ends or starts a range after it.
      for (const ch of token.value.match(SENTINEL_PATTERN) ?? []) {
        applySentinel(ch);
        if (ch === DECLINED) marker(false);
      }
      out += token.value.replace(SENTINEL_PATTERN, '');
      continue;
    }
    let piece = '';
    const flush = (): void => {
      if (!piece) return;
      // Whitespace between block elements (it holds a newline) is never visible: leave it bare.
      const invisible = /^\s*$/.test(piece) && piece.includes('\n');
      out += active !== undefined && !invisible ? `<span class="relay-llm"${markAttributes(active, titleFor)}>${piece}</span>` : piece;
      piece = '';
    };
    for (const ch of token.value) {
      if (isSentinel(ch)) {
        flush();
        applySentinel(ch);
        if (ch === DECLINED) out += marker(true);
      } else piece += ch;
    }
    flush();
  }
  return out;
}

/** Decoded length of an HTML text run (each entity counts as one character). */
function textRunChars(run: string): Array<{ raw: string }> {
  return run.match(/&(?:#\d+|#x[\da-fA-F]+|\w+);|[\s\S]/gu)?.map((raw) => ({ raw })) ?? [];
}

/**
 * Re-inserts sentinels into highlighted code. `code` is the fenced code with sentinels;
 * `highlight` gets it without them (so keywords split by a span boundary still
 * highlight), and the sentinels go back in at the same text offsets of its HTML.
 */
export function highlightKeepingSentinels(code: string, highlight: (plain: string) => string): string {
  const marks: Array<{ offset: number; ch: string }> = [];
  let plain = '';
  for (const ch of code) {
    if (isSentinel(ch)) marks.push({ offset: plain.length, ch });
    else plain += ch;
  }
  const html = highlight(plain);
  if (marks.length === 0) return html;
  let out = '';
  let offset = 0;
  let next = 0;
  for (const token of htmlTokens(html)) {
    if (token.tag) {
      out += token.value;
      continue;
    }
    for (const { raw } of textRunChars(token.value)) {
      while (next < marks.length && marks[next].offset <= offset) out += marks[next++].ch;
      out += raw;
      // Offsets count UTF-16 units of the plain text; an entity stands for one unit
      // (hljs only escapes ASCII), a literal character for its own length.
      offset += raw.startsWith('&') && raw.length > 1 ? 1 : raw.length;
    }
  }
  while (next < marks.length) out += marks[next++].ch;
  return out;
}
