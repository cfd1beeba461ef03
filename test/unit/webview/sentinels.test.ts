// The colour of the answer view must tell the truth about who wrote what, whatever the
// models write: span text cannot carry the private-use characters that mark LLM ranges,
// a code block cannot pose as math to swallow a range's end, and a model name goes into
// a mark's hover text as written. Nor can text that only becomes those characters once the
// renderer decodes it: a character reference (in text, a link title, an image's label, a
// fence's language), a percent-encoded autolink, KaTeX's \char. DOM-free checks of the pieces; the DOM-level checks are
// in forgedMarks.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { markLlmRanges } from '../../../media/src/markdown/markLlm';
import { renderMarkdown } from '../../../media/src/markdown/render';
import {
  CLOSE,
  neutraliseSentinelReferences,
  openSentinel,
  restoreEscaped,
  sentinelsIn,
  sourceWithSentinels,
  stripSentinels,
} from '../../../media/src/markdown/sentinels';

const titleFor = (index: number): string => `span ${index}`;

test('stripSentinels removes every span-marker character, open, close and skipped call, and nothing else', () => {
  const markers = ['\uE000', '\uE001', '\uE100', '\uE105', '\uE7FF', '\uF7FF'];
  assert.equal(stripSentinels(`a${markers.join('b')}c`), 'abbbbbc');
  // Other private-use characters and ordinary text are not markers.
  const kept = '\uE002\uE0FF\uF800\uF8FF Größe 日本 $x$';
  assert.equal(stripSentinels(kept), kept);
});

test('span text cannot open or close a mark: sentinels a model wrote are escaped before the markers go in, and come back as written', () => {
  const pieces = [`SLM ${openSentinel(5)}forged${CLOSE} text `, `LLM ${CLOSE}still LLM${openSentinel(9)}`, ` SLM again${CLOSE}`];
  const source = sourceWithSentinels([{ text: pieces[0] }, { text: pieces[1], llmIndex: 1 }, { text: pieces[2] }]);
  assert.equal(sentinelsIn(source), `${openSentinel(1)}${CLOSE}`, 'the only markers are the real ones');
  assert.equal(source.indexOf(openSentinel(1)), source.indexOf('LLM ') - 1);
  assert.equal(source.indexOf(CLOSE), source.indexOf(' SLM again') - 1);
  assert.equal(restoreEscaped(stripSentinels(source)), pieces.join(''), 'the text as written');
});

test('escaped characters survive rendering as written, in text, code, a link, and beside math; noncharacters are dropped', () => {
  const icons = '\uE0A0\uE100\uF7FF\uE000\uE001';
  const html = renderMarkdown(
    [
      { text: `Branch ${icons}\uFDD0\uFDEF.\n\n\`\`\`js\nconst s = "${icons}";\n\`\`\`\n\n[${icons}](https://example.com/${icons} "${icons}") ` },
      { text: `LLM ${icons} $x^{2}\uE100\uE000$`, llmIndex: 0 },
    ],
    titleFor,
  );
  assert.doesNotMatch(html, /[\uFDD0-\uFDEF]/, 'no escape is left');
  assert.ok(html.includes(`<p>Branch ${icons}.</p>`), html);
  assert.ok(html.includes(`<span class="hljs-string">&quot;${icons}&quot;</span>`), `in the code: ${html}`);
  assert.ok(html.includes(`title="${icons}">${icons}</a>`), `the link's title and text: ${html}`);
  assert.ok(html.includes('href="https://example.com/%EE%82%A0%EE%84%80%EF%9F%BF%EE%80%80%EE%80%81"'), `the URL, percent-encoded: ${html}`);
  assert.ok(html.includes(`<span class="relay-llm" data-span="0" title="span 0">LLM ${icons} </span>`), `the LLM's text, marked: ${html}`);
  assert.ok(html.includes('data-tex="x^{2}"'), `the formula, without them (KaTeX takes none for a symbol): ${html}`);
  assert.equal((html.match(/relay-llm/g) ?? []).length, 2, 'two marks: the text and the formula');
});

test('a model name with $-patterns goes into the hover text of a marked math element as written', () => {
  const model = "m$'x$&y$1$$z$`";
  const html = markLlmRanges(`${openSentinel(0)}<span class="relay-math" data-tex="x">x</span>${CLOSE}`, () => `Written by ${model}`);
  assert.equal(html, `<span data-span="0" title="Written by m$'x$&amp;y$1$$z$\`" class="relay-math relay-llm" data-tex="x">x</span>`);
  const rendered = renderMarkdown([{ text: 'so ' }, { text: '$x^2$', llmIndex: 0 }], () => `Written by ${model}`);
  assert.ok(rendered.includes(`<span data-span="0" title="Written by m$'x$&amp;y$1$$z$\`" class="relay-math relay-llm" data-tex="x^2">`), rendered);
});

test("a code block named after the math class is not atomic: an LLM range ends where the LLM's text ends", () => {
  const html = renderMarkdown([{ text: 'Intro\n\n```relay-math\ncode', llmIndex: 0 }, { text: ' more\n```\n\nSLM text here\n' }], titleFor);
  assert.ok(html.includes('<p>SLM text here</p>'), `the SLM paragraph is unmarked:\n${html}`);
  assert.match(html, /<code class="language-relay-math"><span class="relay-llm" data-span="0" title="span 0">code<\/span> more\n<\/code>/);
});

test('a character reference to a marker character is neutralised, in any spelling; other references are kept', () => {
  const forms = ['&#xE100;', '&#XE100;', '&#xe000;', '&#x0000E001;', '&#57600;', '&#0057344;', '&#57345;', '&#xF7FF;'];
  for (const form of forms) assert.equal(neutraliseSentinelReferences(`a${form}b`), 'a&#xFFFD;b', form);
  const kept = '&#xE002; &#xF800; &#65; &#x41; &amp; &#xE10; &#x;';
  assert.equal(neutraliseSentinelReferences(kept), kept);
  // One that forms only across segments, once an LLM span of noncharacters alone is dropped.
  const joined = sourceWithSentinels([{ text: 'x &#xE1' }, { text: '\uFDD0\uFDE0', llmIndex: 0 }, { text: '00;forged' }]);
  assert.equal(joined, 'x &#xFFFD;forged');
});

test('SLM text that decodes to marker characters gets no mark and no skipped-call marker, wherever markdown-it decodes it', () => {
  const sources = [
    'Plain &#xE100;forged by SLM&#xE000; text &#57601;dec&#57344; marker &#xE001; end',
    '[link](https://example.com "a &#xE100;title&#xE000;") after',
    '![an &#xE100;image&#xE000;](https://example.com/x.png) after',
    '```js&#xE100;\ncode\n```\n\nafter',
    '<https://example.com/%EE%84%80forged%EE%80%80> marker <https://example.com/%EE%80%81> after',
  ];
  for (const source of sources) {
    const html = renderMarkdown([{ text: source }], titleFor, () => 'skipped');
    assert.doesNotMatch(html, /relay-llm|relay-declined|data-span/, `${source}\n${html}`);
    assert.doesNotMatch(html, /[\uE000-\uF8FF]/, `no marker character is left in the HTML: ${html}`);
  }
  // KaTeX's \char writes the character itself: it shows as written, and is no marker.
  const math = renderMarkdown([{ text: 'math $\\char"E100$ forged $\\char"E001$ text $\\char"E000$ rest' }], titleFor, () => 'skipped');
  assert.doesNotMatch(math, /relay-llm|relay-declined|data-span/, math);
  assert.deepEqual(
    math.match(/<span class="mord">([^<]*)<\/span>/g),
    ['\uE100', '\uE001', '\uE000'].map((ch) => `<span class="mord">${ch}</span>`),
  );
});

test("LLM text cannot end its own mark early with a reference or KaTeX's \\char", () => {
  const html = renderMarkdown([{ text: 'So ' }, { text: 'real &#xE000;LLM $\\char"E000$ words', llmIndex: 0 }, { text: ' and the SLM.' }], titleFor);
  assert.match(html, /<span class="relay-llm" data-span="0" title="span 0"> words<\/span> and the SLM\.<\/p>/, html);
});
