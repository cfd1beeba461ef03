// What a model writes in Markdown cannot make the answer view show what it did not write
// nor hang it: an image shows as its description (a picture could look like anything, a
// highlight included), math cannot be coloured (\colorbox would paint an LLM-like
// background) nor made huge, and a paragraph full of `$` renders with work that grows with
// its length, not its square (it froze the view for seconds). DOM-free: the renderer's HTML.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { closingSearchWork, MATH_MAX_SIZE_EM } from '../../../media/src/markdown/mathPlugin';
import { IMAGE_NOT_SHOWN, renderMarkdown } from '../../../media/src/markdown/render';

const titleFor = (index: number): string => `span ${index}`;
const render = (text: string, llmIndex?: number): string => renderMarkdown([{ text, llmIndex }], titleFor);

/** The visible HTML of KaTeX's output (its MathML copy is hidden), without the wrapper's data-tex. */
const katexHtml = (html: string): string => html.replace(/<span class="katex-mathml">[\s\S]*?<\/math><\/span>/g, '').replace(/ data-tex="[^"]*"/g, '');

test('an image is not shown: its description is, as text, and says a picture was left out', () => {
  const html = render('See ![a *red* arrow](https://evil.example/x.png) and ![](data:image/png;base64,AAAA) here.');
  assert.doesNotMatch(html, /<img|evil\.example|data:image/, html);
  assert.equal(
    html,
    `<p>See <span class="relay-image-alt" title="${IMAGE_NOT_SHOWN}">a <em>red</em> arrow</span> and <span class="relay-image-alt" title="${IMAGE_NOT_SHOWN}">image</span> here.</p>\n`,
  );
  // The LLM's description is marked as the LLM's, like any of its text.
  assert.match(
    renderMarkdown([{ text: 'See ' }, { text: '![the chart](u)', llmIndex: 0 }], titleFor),
    /<span class="relay-llm" data-span="0" title="span 0">the chart<\/span>/,
  );
});

test('math cannot paint a background or take a colour: \\colorbox, \\fcolorbox, \\color and \\textcolor keep only their content', () => {
  const formulas = [
    '$\\colorbox{orange}{\\text{looks like LLM}}$',
    '$\\fcolorbox{red}{orange}{looks like LLM}$',
    '$\\color{#ea5c00} looks$',
    '$\\textcolor{orange}{looks}$',
    '$\\let\\cb\\colorbox \\cb{orange}{looks}$',
    '$$\\rlap{\\color{orange}\\rule{5em}{1em}}\\text{looks like LLM}$$',
  ];
  for (const formula of formulas) {
    const html = katexHtml(render(formula));
    assert.doesNotMatch(html, /background|color:|mathbackground|mathcolor/, `${formula}\n${html}`);
    assert.match(html.replace(/<[^>]*>/g, ''), /looks/, `the content stays: ${html}`);
  }
  // A \gdef in one formula does not carry over to the next one.
  assert.match(katexHtml(render('$\\gdef\\colorbox#1#2{#2}x$ and $\\colorbox{orange}{y}$')), /mord">y</);
  assert.doesNotMatch(katexHtml(render('$\\gdef\\colorbox#1#2{#2}x$ and $\\colorbox{orange}{y}$')), /background/);
});

test(`math cannot ask for more than ${MATH_MAX_SIZE_EM} em, nor expand macros without end`, () => {
  const rule = render('$\\rule{10em}{300em}$');
  const sizes = [...rule.matchAll(/(?:height|border-top-width|border-right-width):([\d.]+)em/g)].map((match) => Number(match[1]));
  assert.ok(sizes.length > 0 && sizes.every((size) => size <= MATH_MAX_SIZE_EM), rule);
  assert.match(render('$\\def\\a{\\a\\a}\\a$'), /katex-error/, 'an endless macro is an error, shown as the formula');
});

test('a 60 KB paragraph full of `$` renders with work that grows with its length, and math in it still renders', () => {
  const long = `First $x^2$ then ${'$a '.repeat(20_000)}end`;
  closingSearchWork.steps = 0;
  const html = render(long);
  // Looking from each `$` on to the end (as before) is some 2e8 steps here.
  assert.ok(closingSearchWork.steps < 10 * long.length, `${closingSearchWork.steps} steps for ${long.length} characters`);
  // `$x^2$` is math; no `$a` closes (a `$` after a space closes nothing), so they stay text.
  assert.equal(html.match(/relay-math/g)?.length, 1);
  assert.ok(html.startsWith('<p>First <span class="relay-math" data-tex="x^2">'), html.slice(0, 200));
  assert.ok(html.endsWith(`</span> then ${'$a '.repeat(20_000)}end</p>\n`), html.slice(-200));

  const display = `${'\\(a '.repeat(15_000)}\\(y\\) and \\[z\\]`;
  closingSearchWork.steps = 0;
  const displayHtml = render(display);
  assert.ok(closingSearchWork.steps < 10 * display.length, `${closingSearchWork.steps} steps for ${display.length} characters`);
  assert.equal(displayHtml.match(/class="relay-math"/g)?.length, 1, 'the first \\( closes at the only \\)');
  assert.equal(displayHtml.match(/class="relay-math relay-math-display"/g)?.length, 1);
});

test('many lines opening display math that never closes render with work that grows with their number', () => {
  const lines = `$$\nx^2\n$$\n\n${'$$ price\n\n'.repeat(10_000)}`;
  closingSearchWork.steps = 0;
  const html = render(lines);
  assert.ok(closingSearchWork.steps < 10 * lines.length, `${closingSearchWork.steps} steps for ${lines.length} characters`);
  assert.equal(html.match(/relay-math-display/g)?.length, 1, 'the closed block at the start is math');
  assert.equal(html.match(/<p>\$\$ price<\/p>/g)?.length, 10_000, 'the unclosed lines stay text');
});

test('math still renders as before: inline, display, money is not math, an escaped dollar is not a closing one', () => {
  const html = render('Cost $5 and $10.\n\nThen $a\\$b$ and $x$, $$y$$ and \\(z\\).\n\n$$\nw\n$$');
  assert.deepEqual(
    [...html.matchAll(/data-tex="([^"]*)"/g)].map((match) => match[1]),
    ['a\\$b', 'x', 'y', 'z', 'w'],
  );
  assert.match(html, /<p>Cost \$5 and \$10\.<\/p>/);
});

test('a link from model text is one to the web or to mail; vscode:, command:, file: and relative targets show as text', () => {
  assert.match(
    render('[docs](https://example.com/a) and [mail](mailto:a@example.com)'),
    /<a href="https:\/\/example\.com\/a">docs<\/a> and <a href="mailto:a@example\.com">mail<\/a>/,
  );
  for (const target of ['vscode://vscode.git/clone?url=https://evil.example/r', 'command:workbench.action.terminal.new', 'file:///etc/passwd', './README.md']) {
    const html = render(`[click](${target})`);
    assert.doesNotMatch(html, /<a /, `${target}: ${html}`);
    // markdown-it itself refuses file: (the source shows as written); the others lose their link.
    if (!target.startsWith('file:')) assert.equal(html, '<p>click</p>\n', 'the text stays');
  }
});

test("an autolink whose percent-encoding spells the renderer's own escapes cannot put markup in the answer (a forged large-model mark, a link of any scheme)", () => {
  // U+FDD0 and four of U+FDE0-U+FDEF escape a character of the sentinel range through rendering;
  // an autolink's text is its URL percent-decoded, so plain ASCII could spell such escapes for '<', '"', '>'.
  const encoded = (code: number) => encodeURIComponent(String.fromCharCode(code));
  const spelled = (text: string) =>
    [...text].map((ch) => encoded(0xfdd0) + [12, 8, 4, 0].map((shift) => encoded(0xfde0 + ((ch.charCodeAt(0) >> shift) & 0xf))).join('')).join('');
  const forged = '<span class="relay-llm" title="Written by gpt-4o">I AM THE LLM</span><a href="vscode://file/etc/passwd">Set API Key</a>';
  const html = render(`The small model wrote this: <https://e.x/${spelled(forged)}>`);
  assert.doesNotMatch(html, /relay-llm|vscode:|<span|<a href="vscode/, html);
  assert.doesNotMatch(html, /[\uFDD0-\uFDEF]/, 'no noncharacter is left in what is shown');
  // The escapes the renderer made itself still give back the characters they stand for (an icon font's glyph in code).
  assert.match(render('`\uF007 and \uE100`'), /<code>\uF007 and \uE100<\/code>/);
});
