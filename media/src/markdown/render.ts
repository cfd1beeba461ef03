/**
 * Renders an answer's Markdown to HTML with the LLM's text marked: sentinels go into the
 * source, markdown-it (code highlighted by highlight.js, math by KaTeX) renders it, and
 * markLlmRanges turns the sentinel ranges into marks. DOM-free, so unit tests run it on
 * strings. Inline `style` attributes (KaTeX, table alignment) become `data-relay-style`,
 * because the webview's CSP blocks inline styles; the app applies them through CSSOM.
 */
import hljs from 'highlight.js/lib/core';
import bash from 'highlight.js/lib/languages/bash';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import MarkdownIt, { type Token } from 'markdown-it';
import { highlightKeepingSentinels, markLlmRanges, type TitleFor } from './markLlm';
import { mathPlugin } from './mathPlugin';
import { thinkingPlugin, withThinkingOpened } from './thinkingPlugin';
import { DECLINED, restoreEscaped, SENTINEL_PATTERN, sentinelsIn, sourceWithSentinels, stripSentinels, type SourceSegment } from './sentinels';

/** A run of text without sentinels. */
const BETWEEN_SENTINELS = /[^\uE000\uE001\uE100-\uF7FF]+/g;

const LANGUAGES = { bash, cpp, css, go, java, javascript, json, python, rust, sql, typescript, xml };
for (const [name, language] of Object.entries(LANGUAGES)) hljs.registerLanguage(name, language);
hljs.registerAliases(['sh', 'shell', 'zsh'], { languageName: 'bash' });
hljs.registerAliases(['c', 'c++', 'h', 'hpp'], { languageName: 'cpp' });
hljs.registerAliases(['html', 'svg'], { languageName: 'xml' });

function highlightCode(code: string, lang: string): string {
  const language = hljs.getLanguage(lang) ? lang : undefined;
  return highlightKeepingSentinels(code, (plain) => (language ? hljs.highlight(plain, { language, ignoreIllegals: true }).value : md.utils.escapeHtml(plain)));
}

const md: InstanceType<typeof MarkdownIt> = new MarkdownIt({
  html: false,
  linkify: false,
  typographer: false,
  highlight: (code, lang) => highlightCode(code, stripSentinels(lang).trim().toLowerCase()),
});
md.use(mathPlugin);
md.use(thinkingPlugin);

// A sentinel in a link target would be percent-encoded into the URL: keep URLs clean, and
// the text's own characters of that range as written (percent-encoded, not as their escapes).
const normalizeLink = md.normalizeLink.bind(md);
md.normalizeLink = (url) => normalizeLink(restoreEscaped(stripSentinels(url)));
const validateLink = md.validateLink.bind(md);
md.validateLink = (url) => validateLink(restoreEscaped(stripSentinels(url)));

/** The links a model may write: the web and mail. VS Code would open others (vscode:, command:, file:) itself. */
const LINK_SCHEMES = /^(?:https?:|mailto:)/i;
/** A token turned into nothing: a link's open or close tag dropped, its text kept. */
function dropTag(token: Token): void {
  token.type = 'text';
  token.tag = '';
  token.content = '';
  token.attrs = null;
  token.nesting = 0;
}
// A link to anything else shows as its text, without the link.
md.core.ruler.push('relay_link_schemes', (state) => {
  for (const block of state.tokens) {
    const kept: boolean[] = [];
    for (const token of block.children ?? []) {
      if (token.type === 'link_open') {
        const keep = LINK_SCHEMES.test(String(token.attrGet('href') ?? '').trim());
        kept.push(keep);
        if (!keep) dropTag(token);
      } else if (token.type === 'link_close' && kept.pop() === false) {
        dropTag(token);
      }
    }
  }
});
// An autolink's text is its URL percent-decoded: %EE%84%80 would become a sentinel there. The
// sentinels in the source stay (they say who wrote the link); one that decoding made becomes U+FFFD.
const normalizeLinkText = md.normalizeLinkText.bind(md);
md.normalizeLinkText = (url) => url.replace(BETWEEN_SENTINELS, (piece) => normalizeLinkText(piece).replace(SENTINEL_PATTERN, '\uFFFD'));

/**
 * No pictures in an answer: a model's image could look like anything, a highlight
 * included. Its description shows instead, as text (marked like any text, so it says
 * who wrote it), in a span whose hover says a picture was left out.
 */
md.renderer.rules.image = (tokens, index, options, env, self) => {
  const alt = self.renderInline(tokens[index].children ?? [], options, env);
  return `<span class="relay-image-alt" title="${IMAGE_NOT_SHOWN}">${alt || 'image'}</span>`;
};

// A wide table scrolls in its own box (a narrow panel would squeeze or spill it); the box takes
// focus, so a keyboard scrolls it too, and is named for a screen reader.
md.renderer.rules.table_open = (tokens, index, options, _env, self) =>
  `<div class="relay-table-scroll" tabindex="0" role="region" aria-label="Table">${self.renderToken(tokens, index, options)}`;
md.renderer.rules.table_close = (tokens, index, options, _env, self) => `${self.renderToken(tokens, index, options)}</div>\n`;

// Sentinels in a fence's info string would hide its language: move them into the code.
md.core.ruler.push('relay_fence_info', (state) => {
  for (const token of state.tokens) {
    if (token.type !== 'fence') continue;
    const moved = sentinelsIn(token.info);
    if (moved) {
      token.info = token.info.replace(SENTINEL_PATTERN, '');
      token.content = moved + token.content;
    }
  }
});

/** The hover of an image's description, shown in place of the image. */
export const IMAGE_NOT_SHOWN = 'An image the answer linked to: answers show no images, only their description';

/** When the markers in the HTML are not the segments' markers one for one (Markdown dropped or repeated one): a title that claims no figures. */
export const GENERIC_DECLINED_TITLE =
  'A call here was skipped: it would have cost more than the answer could spend under relay.maxCostRatio or relay.maxCostPerAnswerUsd';

/**
 * Renders Markdown `segments` to HTML with every LLM-written piece inside a `relay-llm`
 * mark, and a `relay-declined` marker for every skipped-call segment, titled by
 * `declinedTitleFor(its span index)`.
 */
export function renderMarkdown(segments: readonly SourceSegment[], titleFor: TitleFor, declinedTitleFor?: TitleFor): string {
  const html = md.render(withThinkingOpened(sourceWithSentinels(segments)));
  const markerSpans = segments.flatMap((segment) => (segment.declined !== undefined ? [segment.declined] : []));
  // The n-th marker in the HTML is the n-th marker segment, unless Markdown lost or repeated one
  // (a link reference definition moves its text): then no marker claims another one's figures.
  const inHtml = html.split(DECLINED).length - 1;
  const markerTitleFor = (occurrence: number): string =>
    declinedTitleFor && inHtml === markerSpans.length && occurrence < markerSpans.length ? declinedTitleFor(markerSpans[occurrence]) : GENERIC_DECLINED_TITLE;
  return restoreEscaped(markLlmRanges(html, titleFor, markerTitleFor).replace(/(<[^>]*?) style="/g, '$1 data-relay-style="'));
}
