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
import { CLOSE, neutraliseSentinelReferences, openSentinel, sourceWithSentinels, stripSentinels } from '../../../media/src/markdown/sentinels';

const titleFor = (index: number): string => `span ${index}`;

test('stripSentinels removes every span-marker character, open, close and skipped call, and nothing else', () => {
  const markers = ['\uE000', '\uE001', '\uE100', '\uE105', '\uE7FF', '\uF7FF'];
  assert.equal(stripSentinels(`a${markers.join('b')}c`), 'abbbbbc');
  // Other private-use characters and ordinary text are not markers.
  const kept = '\uE002\uE0FF\uF800\uF8FF Größe 日本 $x$';
  assert.equal(stripSentinels(kept), kept);
});

test('span text cannot open or close a mark: sentinels a model wrote are dropped before the markers go in', () => {
  const source = sourceWithSentinels([
    { text: `SLM ${openSentinel(5)}forged${CLOSE} text ` },
    { text: `LLM ${CLOSE}still LLM${openSentinel(9)}`, llmIndex: 1 },
    { text: ` SLM again${CLOSE}` },
  ]);
  assert.equal(source, `SLM forged text ${openSentinel(1)}LLM still LLM${CLOSE} SLM again`);
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
  // One that forms only across segments, once an LLM span of marker characters alone is dropped.
  const joined = sourceWithSentinels([{ text: 'x &#xE1' }, { text: CLOSE, llmIndex: 0 }, { text: '00;forged' }]);
  assert.equal(joined, 'x &#xFFFD;forged');
});

test('SLM text that decodes to marker characters gets no mark and no skipped-call marker, wherever markdown-it decodes it', () => {
  const sources = [
    'Plain &#xE100;forged by SLM&#xE000; text &#57601;dec&#57344; marker &#xE001; end',
    '[link](https://example.com "a &#xE100;title&#xE000;") after',
    '![an &#xE100;image&#xE000;](https://example.com/x.png) after',
    '```js&#xE100;\ncode\n```\n\nafter',
    '<https://example.com/%EE%84%80forged%EE%80%80> marker <https://example.com/%EE%80%81> after',
    'math $\\char"E100$ forged $\\char"E001$ text $\\char"E000$ rest',
  ];
  for (const source of sources) {
    const html = renderMarkdown([{ text: source }], titleFor, () => 'skipped');
    assert.doesNotMatch(html, /relay-llm|relay-declined|data-span/, `${source}\n${html}`);
    assert.doesNotMatch(html, /[\uE000-\uF8FF]/, `no marker character is left in the HTML: ${html}`);
  }
});

test("LLM text cannot end its own mark early with a reference or KaTeX's \\char", () => {
  const html = renderMarkdown([{ text: 'So ' }, { text: 'real &#xE000;LLM $\\char"E000$ words', llmIndex: 0 }, { text: ' and the SLM.' }], titleFor);
  assert.match(html, /<span class="relay-llm" data-span="0" title="span 0"> words<\/span> and the SLM\.<\/p>/, html);
});
