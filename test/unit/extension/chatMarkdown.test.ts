// The @relay chat participant's Markdown: LLM spans in italics where safe (checked by
// rendering with markdown-it, as VS Code's chat renders CommonMark), left alone inside
// code, a footer naming every LLM span; history turned into the relay's messages.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import MarkdownIt from 'markdown-it';
import type { AnswerStats, RelayEvent } from '../../../src/core/relay/events';
import { ChatAnswerFormatter, FenceTracker, answerFromMarkdown, historyToMessages, markLlmSpan, statsFooter } from '../../../src/extension/chatMarkdown';
import type { Usage } from '../../../src/core/providers/types';
import { USAGE_NOT_REPORTED } from '../../../src/shared/outputCapped';
import { llmSpanTitle } from '../../../media/src/view/format';

const md = new MarkdownIt();

function slm(text: string): RelayEvent {
  return { type: 'span', source: 'slm', text, tokens: 1 };
}
function llm(text: string, callIndex = 0): RelayEvent {
  return { type: 'span', source: 'llm', text, tokens: 2, callIndex };
}
function callEnd(callIndex = 0, durationMs = 120): RelayEvent {
  return {
    type: 'call-end',
    callIndex,
    tokens: 2,
    durationMs,
    finishReason: 'length',
    usage: { inputTokens: 10, outputTokens: 2, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
    sentPartialAnswer: '',
    continuation: 'raw-completion',
    costUsd: null,
  };
}

function stream(events: RelayEvent[]): { markdown: string; formatter: ChatAnswerFormatter } {
  const formatter = new ChatAnswerFormatter();
  let markdown = '';
  for (const event of events) markdown += formatter.push(event, 'gpt-4o-mini');
  markdown += formatter.closeOpenBlocks();
  return { markdown, formatter };
}

const STATS: AnswerStats = {
  mode: 'command',
  slmTokens: 40,
  llmTokens: 2,
  llmTokenShare: 2 / 42,
  calls: 1,
  llmUsage: { inputTokens: 10, outputTokens: 2, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
  costUsd: 0.0000123,
  llmOnlyCostUsd: 0.00031,
  savedUsd: 0.0002977,
  elapsedMs: 1234,
  finishReason: 'eos',
};

test('an LLM span in prose renders in italics, mid-word too, and the plain answer is kept unmarked', () => {
  const { markdown, formatter } = stream([
    slm('So 47 times 6 is 2'),
    llm('82'),
    callEnd(),
    slm(', plus 28 is 310.'),
    { type: 'done', answer: '', stats: STATS },
  ]);
  assert.equal(formatter.answer, 'So 47 times 6 is 282, plus 28 is 310.');
  const html = md.render(markdown);
  assert.match(html, /is 2<em>82<\/em>, plus/);
  assert.deepEqual(formatter.llmSpans, [{ text: '82', tokens: 2, durationMs: 120, model: 'gpt-4o-mini', costUsd: null, cachedShare: 0 }]);
});

test('an asterisk of the answer in the same paragraph (47*6) blocks the italics, which would pair with it; the next paragraph is marked again', () => {
  const { markdown } = stream([slm('So 47*6 is 2'), llm('82'), callEnd(0), slm('.\n\n- Then 282+28 is 3'), llm('10', 1), callEnd(1), slm('.')]);
  const html = md.render(markdown);
  assert.match(html, /So 47\*6 is 282\./, 'the answer renders as written, no emphasis pairing');
  assert.match(html, /<li>Then 282\+28 is 3<em>10<\/em>\.<\/li>/);
});

test('inside an inline code span the LLM span is left as it is', () => {
  const { markdown } = stream([slm('Call `parse('), llm('x'), callEnd(), slm(')` now.')]);
  assert.match(md.render(markdown), /<code>parse\(x\)<\/code>/);
});

test('leading and trailing spaces stay outside the emphasis, so it still renders', () => {
  assert.equal(markLlmSpan(' two and three ', false), ' *two and three* ');
  assert.match(md.render(`we add${markLlmSpan(' two and three ', false)}to get five`), /we add <em>two and three<\/em> to get five/);
});

test('inside a fenced code block the LLM span is left as it is (no stray asterisks in code)', () => {
  const { markdown } = stream([slm('Here:\n```js\nconst x = '), llm('42'), callEnd(), slm(';\n```\nDone.')]);
  assert.ok(markdown.includes('const x = 42;'));
  const html = md.render(markdown);
  assert.match(html, /<code class="language-js">const x = 42;\n<\/code>/);
  assert.doesNotMatch(html, /\*42\*/);
});

test('a span with Markdown characters or a line break is not wrapped', () => {
  assert.equal(markLlmSpan('a*b', false), 'a*b');
  assert.equal(markLlmSpan('line\nnext', false), 'line\nnext');
  assert.equal(markLlmSpan('   ', false), '   ');
});

test('an answer that stops inside a code block gets the block closed before the footer', () => {
  const { markdown } = stream([slm('```python\nprint(1')]);
  const html = md.render(markdown + statsFooter(STATS, []));
  assert.match(html, /<strong>Relay<\/strong>/, 'the footer renders as text, not code');
});

test('the fence tracker follows open and close fences, tildes and longer fences', () => {
  const fences = new FenceTracker();
  fences.push('text\n````\n```\n');
  assert.equal(fences.inFence, true, 'a shorter fence does not close a longer one');
  fences.push('````\n~~~\n');
  assert.equal(fences.inFence, true);
  fences.push('~~~\n');
  assert.equal(fences.inFence, false);
});

test('the footer gives the shares, calls, cost, savings and each LLM span with its model, tokens and time', () => {
  const footer = statsFooter(STATS, [{ text: '82', tokens: 2, durationMs: 120, model: 'gpt-4o-mini' }]);
  assert.match(
    footer,
    /\*\*Relay\*\* · SLM 40 tokens · LLM 2 tokens \(4\.8%\) · 1 call · cost \$0\.000012 · saved \$0\.00030 vs LLM only \(estimate\) · 1\.2 s/,
  );
  // Whose prices, as beside every other figure.
  const priced = statsFooter({ ...STATS, priceNote: 'prices: @pydantic/genai-prices of 2026-09-23' }, []);
  assert.match(priced, /saved \$0\.00030 vs LLM only \(estimate; prices: @pydantic\/genai-prices of 2026-09-23\)/);
  assert.match(footer, /- gpt-4o-mini: “82” \(2 tokens, 120 ms\)/);
  assert.doesNotMatch(footer, /est\./);
  const counted = statsFooter({ ...STATS, llmUsage: { ...STATS.llmUsage, estimated: true } }, []);
  assert.match(counted, /· cost \$0\.000012 est\. \(usage not reported\) ·/, 'a cost from counted usage says so');
  const unknown = statsFooter({ ...STATS, costUsd: null, savedUsd: null, finishReason: 'cancelled' }, []);
  assert.match(unknown, /cost unknown \(no price for this model\)/);
  assert.doesNotMatch(unknown, /saved/);
  assert.match(unknown, /Stopped: the partial answer is kept/);
});

test('history: earlier @relay turns become user/assistant pairs; an unanswered request is dropped', () => {
  const messages = historyToMessages(
    [
      { kind: 'request', prompt: 'What is 2+3?' },
      { kind: 'response', answer: '5' },
      { kind: 'request', prompt: 'cancelled one' },
      { kind: 'response', answer: '' },
      { kind: 'request', prompt: 'And times 4?' },
      { kind: 'response', answer: '20' },
    ],
    'Minus 1?',
  );
  assert.deepEqual(messages, [
    { role: 'user', content: 'What is 2+3?' },
    { role: 'assistant', content: '5' },
    { role: 'user', content: 'And times 4?' },
    { role: 'assistant', content: '20' },
    { role: 'user', content: 'Minus 1?' },
  ]);
  // The last request went unanswered (an error, or stopped before a word): not sent before the new one.
  assert.deepEqual(
    historyToMessages(
      [
        { kind: 'request', prompt: 'q1' },
        { kind: 'response', answer: '' },
      ],
      'q2',
    ),
    [{ role: 'user', content: 'q2' }],
  );
});

function callEndCosting(costUsd: number | null, inputTokens: number, cachedInputTokens: number, callIndex = 0): RelayEvent {
  return {
    ...(callEnd(callIndex) as Extract<RelayEvent, { type: 'call-end' }>),
    costUsd,
    usage: { inputTokens, outputTokens: 2, cachedInputTokens, cacheWriteTokens: 0, estimated: false },
  };
}
function declinedCall(predictedUsd: number, allowanceUsd: number, ratioNeeded?: number): RelayEvent {
  return { type: 'call-declined', predictedUsd, allowanceUsd, requestedTokens: 8, atMs: 100, ...(ratioNeeded !== undefined ? { ratioNeeded } : {}) };
}

test("skipped calls never touch the answer's Markdown: the footer lists them with what they would have cost, and each span its cost and cached share", () => {
  const events = [
    slm('So 47 times 6 is 2'),
    llm('82'),
    callEndCosting(0.0031, 500, 410),
    slm(', plus 28 is'),
    slm(' 310.'),
    { type: 'done', answer: '', stats: STATS } as RelayEvent,
  ];
  const withSkips = [...events.slice(0, 4), declinedCall(0.004, 0.0012, 0.7071), ...events.slice(4, 5), declinedCall(0.005, -0.0002), ...events.slice(5)];
  const plain = stream(events);
  const skipped = stream(withSkips);
  assert.equal(skipped.markdown, plain.markdown, 'the streamed answer is exactly the same');
  assert.equal(skipped.formatter.answer, 'So 47 times 6 is 282, plus 28 is 310.');
  assert.deepEqual(skipped.formatter.declined, [
    { predictedUsd: 0.004, allowanceUsd: 0.0012, ratioNeeded: 0.7071, after: 'So 47 times 6 is 282, plus 28 is' },
    { predictedUsd: 0.005, allowanceUsd: -0.0002, after: 'So 47 times 6 is 282, plus 28 is 310.' },
  ]);

  const footer = statsFooter({ ...STATS, declinedCalls: 2 }, skipped.formatter.llmSpans, skipped.formatter.declined);
  assert.match(footer, /· 1 call · 2 calls skipped · cost /);
  assert.match(footer, /- gpt-4o-mini: “82” \(2 tokens, 120 ms, \$0\.0031, 82% of the input from the cache\)/);
  assert.match(
    footer,
    /Calls skipped \(they would have cost more than the answer could spend\):\n- after “So 47 times 6 is 282, plus 28 is”: would have cost \$0\.0040; skipped \(the answer could spend \$0\.0012 more under relay\.maxCostRatio; it needed 0\.71\)\n- after “…times 6 is 282, plus 28 is 310\.”: would have cost \$0\.0050; skipped \(the answer could spend nothing more under relay\.maxCostRatio\)/,
  );
  assert.doesNotMatch(footer, /No call to the large model/, 'the large model did help');
  const noCall = statsFooter({ ...STATS, calls: 0, llmTokens: 0, declinedCalls: 2, leastRatioToCall: 0.7071 }, [], skipped.formatter.declined);
  assert.match(noCall, /\n\nNo call to the large model\. Each of the 2 calls .* The cheapest needed 0\.71: raise the setting/);
  const html = md.render(skipped.markdown + footer);
  assert.match(html, /<p>So 47 times 6 is 2<em>82<\/em>, plus 28 is 310\.<\/p>\s*<hr>/, 'the answer renders as before, the notes below the rule');

  const unpriced = stream([slm('a '), llm('b'), callEndCosting(null, 10, 0), slm(' c')]);
  assert.match(statsFooter(STATS, unpriced.formatter.llmSpans), /“b” \(2 tokens, 120 ms, cost unknown: no price\)/);
});

test("the footer says a call's cost is estimated where its usage was not reported, or capped, in the answer view's hover words", () => {
  const costing = (callIndex: number, costUsd: number, usage: Partial<Usage>): RelayEvent => ({
    ...(callEndCosting(costUsd, 1000, 0, callIndex) as Extract<RelayEvent, { type: 'call-end' }>),
    usage: { inputTokens: 1000, outputTokens: 2, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false, ...usage },
  });
  const { formatter } = stream([
    slm('A '),
    llm('reported', 0),
    costing(0, 0.00066, { cachedInputTokens: 800 }),
    slm(' B '),
    llm('counted', 1),
    // Cut by the agreement stop: the server reported no usage.
    costing(1, 0.0025, { estimated: true }),
    slm(' C '),
    llm('capped', 2),
    costing(2, 1.31, { estimated: true, outputCapped: true }),
  ]);
  const lines = statsFooter(STATS, formatter.llmSpans)
    .split('\n')
    .filter((line) => line.startsWith('- '));
  assert.deepEqual(lines, [
    '- gpt-4o-mini: “reported” (2 tokens, 120 ms, $0.00066, 80% of the input from the cache)',
    '- gpt-4o-mini: “counted” (2 tokens, 120 ms, $0.0025, estimated: the server reported no usage)',
    '- gpt-4o-mini: “capped” (2 tokens, 120 ms, $1.31, output capped: the server reported more than one call can write)',
  ]);
  const hover = llmSpanTitle({ source: 'llm', text: 'counted', tokens: 2, costUsd: 0.0025, usageEstimated: true });
  assert.ok(hover.endsWith(`(${USAGE_NOT_REPORTED})`) && lines[1].endsWith(`, ${USAGE_NOT_REPORTED})`), 'one text for both');
});

test('the footer shows a loss as a loss, and nothing saved when the LLM wrote it all', () => {
  const loss = statsFooter({ ...STATS, costUsd: 0.0052, llmOnlyCostUsd: 0.0012, savedUsd: -0.004 }, []);
  assert.match(loss, /cost \$0\.0052 · cost \$0\.0040 more than the LLM alone \(estimate\) · 1\.2 s/);
  assert.doesNotMatch(loss, /saved|-\$|\$-/);
  const failed = statsFooter({ ...STATS, costUsd: 0.0003, savedUsd: -0.0003, finishReason: 'error' }, []);
  assert.match(failed, /cost \$0\.00030 more than the LLM alone/);
  const llmOnly = statsFooter({ ...STATS, mode: 'llm-only', savedUsd: 0, llmOnlyEstimateNote: 'The LLM wrote the whole answer.' }, []);
  assert.match(llmOnly, /no saving \(the LLM wrote it all\)/);
  assert.doesNotMatch(llmOnly, /saved \$/);
});

/** The answer `parts` stream as (s: the small model, l: the LLM), rendered as VS Code's chat renders it (URLs linkified as GFM). */
function rendered(parts: [string, string][]): { markdown: string; html: string } {
  const events: RelayEvent[] = [];
  for (const [source, text] of parts) events.push(...(source === 's' ? [slm(text)] : [llm(text), callEnd()]));
  const { markdown } = stream([...events, { type: 'done', answer: '', stats: STATS }]);
  return { markdown, html: new MarkdownIt({ linkify: true }).render(markdown) };
}

test("inside a list item's fence indented 4 or more, a ~~~ fence, or an indented code block, the LLM span is left as it is; list prose is still marked", () => {
  const cases: [string, [string, string][], RegExp][] = [
    [
      'a blank line inside a list fence',
      [
        ['s', '- Do this:\n\n    ```python\n    import os\n\n    x = '],
        ['l', 'getcwd'],
        ['s', '()\n    ```\n'],
      ],
      /<code class="language-python">import os\n\nx = getcwd\(\)\n<\/code>/,
    ],
    [
      'a ~~~ list fence',
      [
        ['s', '- Do this:\n\n    ~~~python\n    x = '],
        ['l', '42'],
        ['s', '\n    ~~~\n'],
      ],
      /<code class="language-python">x = 42\n<\/code>/,
    ],
    [
      'a nested list fence',
      [
        ['s', '1. Step\n   - sub:\n\n     ```js\n\n     const x = '],
        ['l', '42'],
        ['s', ';\n     ```\n'],
      ],
      /<code class="language-js">\nconst x = 42;\n<\/code>/,
    ],
    [
      'an indented code block',
      [
        ['s', 'Example:\n\n    const x = '],
        ['l', '42'],
        ['s', ';\n\nDone.'],
      ],
      /<pre><code>const x = 42;\n<\/code><\/pre>/,
    ],
    [
      'a tab-indented code block',
      [
        ['s', 'Example:\n\n\tconst x = '],
        ['l', '42'],
        ['s', ';\n\nDone.'],
      ],
      /<pre><code>const x = 42;\n<\/code><\/pre>/,
    ],
  ];
  for (const [name, parts, code] of cases) {
    const { markdown, html } = rendered(parts);
    assert.match(html, code, name);
    assert.doesNotMatch(markdown, /\*/, name);
  }
  // Outside code the list and what follows it are marked as before.
  const prose = rendered([
    ['s', '- Do this:\n\n    ```sh\n    ls\n    ```\n- Then 2'],
    ['l', '82'],
    ['s', '.\n\nAfter the list 3'],
    ['l', '10'],
    ['s', '.'],
  ]);
  assert.match(prose.html, /<li>\s*<p>Then 2<em>82<\/em>\.<\/p>\s*<\/li>/);
  assert.match(prose.html, /<p>After the list 3<em>10<\/em>\.<\/p>/);
});

test('italics never break a link target, an autolink, a URL, inline math or an escape, and punctuation at either end of a span stays outside them', () => {
  const cases: [[string, string][], RegExp][] = [
    [
      [
        ['s', 'See [the docs](https://exa'],
        ['l', 'mple'],
        ['s', '.com/guide).'],
      ],
      /<a href="https:\/\/example\.com\/guide">the docs<\/a>/,
    ],
    [
      [
        ['s', 'See <https://github.com/'],
        ['l', 'nodejs'],
        ['s', '/node>.'],
      ],
      /<a href="https:\/\/github\.com\/nodejs\/node">https:\/\/github\.com\/nodejs\/node<\/a>/,
    ],
    [
      [
        ['s', 'See https://github.com/'],
        ['l', 'nodejs'],
        ['s', '/node for more.'],
      ],
      /<a href="https:\/\/github\.com\/nodejs\/node">https:\/\/github\.com\/nodejs\/node<\/a> for more/,
    ],
    [
      [
        ['s', 'Write to someone@exa'],
        ['l', 'mple'],
        ['s', '.com today.'],
      ],
      /<a href="mailto:someone@example\.com">someone@example\.com<\/a>/,
    ],
    [
      [
        ['s', 'The area is $\\pi r^2 + '],
        ['l', 'x'],
        ['s', '$ here.'],
      ],
      /<p>The area is \$\\pi r\^2 \+ x\$ here\.<\/p>/,
    ],
    [
      [
        ['s', 'Open C:\\'],
        ['l', 'Users'],
        ['s', ' folder.'],
      ],
      /<p>Open C:\\Users folder\.<\/p>/,
    ],
    [
      [
        ['s', 'Pi is 3'],
        ['l', '.14159'],
        ['s', ' roughly.'],
      ],
      /<p>Pi is 3\.<em>14159<\/em> roughly\.<\/p>/,
    ],
    [
      [
        ['s', 'Call f'],
        ['l', '(x)'],
        ['s', ' now.'],
      ],
      /<p>Call f\(<em>x<\/em>\) now\.<\/p>/,
    ],
    [
      [
        ['s', 'Use '],
        ['l', 'numpy.'],
        ['s', 'array here.'],
      ],
      /<p>Use <em>numpy<\/em>\.array here\.<\/p>/,
    ],
    [
      [
        ['s', '| a | b |\n|--'],
        ['l', '--'],
        ['s', '|---|\n| 1 | 2 |\n'],
      ],
      /<table>/,
    ],
  ];
  for (const [parts, expected] of cases) {
    const { markdown, html } = rendered(parts);
    assert.match(html, expected, markdown);
    assert.doesNotMatch(html.replace(/<code>[^<]*<\/code>/g, ''), /\*/, `no literal asterisk: ${markdown}`);
  }
  assert.equal(markLlmSpan('Users', false, '\\'), 'Users');
  assert.equal(markLlmSpan('...', false), '...');
});

test('an answer that stops inside a ~~~ fence, a ```` fence or an indented list fence gets it closed with its own marker before the footer', () => {
  for (const open of ['~~~python', '````markdown\n```js', '- Step:\n\n    ```python']) {
    const { markdown } = stream([slm(`Here:\n${open}\nprint(1`)]);
    const html = md.render(markdown + statsFooter(STATS, []));
    assert.match(html, /<strong>Relay<\/strong>/, `the footer renders as text after ${JSON.stringify(open)}`);
  }
});

test('history keeps every exchange, not only the last 20 (the relay fits it to the context by tokens)', () => {
  const history = Array.from({ length: 25 }, (_, i) => [
    { kind: 'request' as const, prompt: `q${i}` },
    { kind: 'response' as const, answer: `a${i}` },
  ]).flat();
  const messages = historyToMessages(history, 'last');
  assert.equal(messages.length, 51);
  assert.deepEqual(messages[0], { role: 'user', content: 'q0' });
});

test('the footer says the italics are where the Markdown allowed, the list is complete', () => {
  const footer = statsFooter(STATS, [{ text: '82', tokens: 2, model: 'gpt-4o-mini' }]);
  assert.match(footer, /Written by the LLM \(listed below; in italics above where the Markdown allowed\):/);
});

test("an answer read back from the Markdown the view kept: Relay's notices and italics off, code as written", () => {
  const markdown =
    '_Not attached:_ blob.bin (binary)\n\nFirst, we add *two and three* to `a*b*`\n```\nx = *y*\n```\n\nand *z*.\n\n**Relay:** The server stopped.\n\n---\n**Relay** · SLM 4 tokens';
  assert.equal(answerFromMarkdown(markdown), 'First, we add two and three to `a*b*`\n```\nx = *y*\n```\n\nand z.');
});

test("code indented 4 past a list item's content (6 spaces under '- ', 7 under '1. ') is an indented code block: the LLM span is left as it is, and nothing is added to close it", () => {
  const cases: [string, [string, string][], RegExp][] = [
    [
      'under a bullet',
      [
        ['s', '- Step:\n\n      const x = '],
        ['l', '42'],
        ['s', ';\n'],
      ],
      /<pre><code>const x = 42;\n<\/code><\/pre>/,
    ],
    [
      'under a number',
      [
        ['s', '1. Step:\n\n       const x = '],
        ['l', '42'],
        ['s', ';\n'],
      ],
      /<pre><code>const x = 42;\n<\/code><\/pre>/,
    ],
    [
      'under an outer item, after its nested list ended',
      [
        ['s', '- a\n  - b\n\n  more a\n\n      const x = '],
        ['l', '42'],
        ['s', ';\n'],
      ],
      /<p>more a<\/p>\s*<pre><code>const x = 42;\n<\/code><\/pre>/,
    ],
    [
      'text 5 spaces after its bullet',
      [
        ['s', '-     const x = '],
        ['l', '42'],
        ['s', ';\n'],
      ],
      /<li>\s*<pre><code>const x = 42;\n<\/code><\/pre>/,
    ],
    [
      'a span whose own spaces indent its line',
      [
        ['s', '- Step:\n\n     '],
        ['l', ' x = 42'],
        ['s', '\n'],
      ],
      /<pre><code>x = 42\n<\/code><\/pre>/,
    ],
    [
      'a bullet inside an indented code block',
      [
        ['s', 'Example:\n\n    - item\n    x = '],
        ['l', '42'],
        ['s', '\n'],
      ],
      /<pre><code>- item\nx = 42\n<\/code><\/pre>/,
    ],
  ];
  for (const [name, parts, code] of cases) {
    const { markdown, html } = rendered(parts);
    assert.match(html, code, name);
    assert.doesNotMatch(markdown, /\*/, name);
  }
  // A ``` indented so is a line of that code, not a fence: an answer stopping there gets no closing ``` added to its code.
  const stopped = '- Step:\n\n      ```\n      print(1';
  assert.equal(stream([slm(stopped)]).markdown, stopped);
  // The item's own prose after its code is still marked.
  const prose = rendered([
    ['s', '- Step:\n\n      ls\n\n  Then 2'],
    ['l', '82'],
    ['s', '.'],
  ]);
  assert.match(prose.html, /<p>Then 2<em>82<\/em>\.<\/p>/);
});

test('inside an HTML block (a line starting with a tag, a comment, <pre> across blank lines, in a list item too) the LLM span is left as it is; after it, marked again', () => {
  const html = new MarkdownIt({ html: true });
  const cases: [string, [string, string][], RegExp][] = [
    [
      'a <div> on its own line',
      [
        ['s', '<div>\nThe answer is 2'],
        ['l', '82'],
        ['s', '.\n</div>\n'],
      ],
      /<div>\nThe answer is 282\.\n<\/div>/,
    ],
    [
      'text after the tag on its line',
      [
        ['s', '<div>The answer is 2'],
        ['l', '82'],
        ['s', '.</div>\n'],
      ],
      /<div>The answer is 282\.<\/div>/,
    ],
    [
      'a <pre> block across a blank line',
      [
        ['s', '<pre>\nx = 1\n\ny = '],
        ['l', '42'],
        ['s', '\n</pre>\n'],
      ],
      /<pre>\nx = 1\n\ny = 42\n<\/pre>/,
    ],
    [
      'a comment across a blank line',
      [
        ['s', '<!--\nnote\n\nis 2'],
        ['l', '82'],
        ['s', ' -->\n'],
      ],
      /<!--\nnote\n\nis 282 -->/,
    ],
    [
      'in a list item',
      [
        ['s', '- <div>\n  x is 2'],
        ['l', '82'],
        ['s', '\n  </div>\n'],
      ],
      /<li>\s*<div>\nx is 282\n<\/div>\s*<\/li>/,
    ],
  ];
  for (const [name, parts, block] of cases) {
    const { markdown } = rendered(parts);
    assert.match(html.render(markdown), block, name);
    assert.doesNotMatch(markdown, /\*/, name);
  }
  const after = rendered([
    ['s', '<div>\nx\n</div>\n\nThen 2'],
    ['l', '82'],
    ['s', '.'],
  ]);
  assert.match(html.render(after.markdown), /<p>Then 2<em>82<\/em>\.<\/p>/);
});

test("an answer read back from the Markdown keeps the model's own *emphasis* where no italics could have been added (after its own asterisk, in indented code, in HTML)", () => {
  const answer = stream([slm('So 47 times 6 is 2'), llm('82'), callEnd(), slm(', **not** *283*.\n\nExample:\n\n    x = *y*\n\n<div>\n*z* here\n</div>\n')]);
  assert.equal(answer.markdown, 'So 47 times 6 is 2*82*, **not** *283*.\n\nExample:\n\n    x = *y*\n\n<div>\n*z* here\n</div>\n');
  assert.equal(answerFromMarkdown(answer.markdown), answer.formatter.answer);
});

test("a fence indented less than its list item's text stands alone: its unindented code does not close it, and nothing is added after its own closing fence", () => {
  // "10. " puts the item's text 4 columns in: a fence 3 spaces in is not in the item, so
  // "def f():" at the margin is code, and the footer after "That is all." is text.
  const answer = '10. Add the helper:\n   ```python\ndef f():\n    return 1\n   ```\nThat is all.';
  const { markdown } = stream([slm(answer)]);
  assert.equal(markdown, answer);
  const html = md.render(markdown + statsFooter(STATS, []));
  assert.match(html, /<strong>Relay<\/strong>/, 'the footer is rendered as text, not inside a code block');
});

test("inside a blockquote, code (a fence, indented code, a list item's fence or code), HTML and math get no italics; its prose, lazy lines and the text after it ends are marked", () => {
  const html = new MarkdownIt({ html: true });
  const cases: [string, [string, string][], RegExp][] = [
    [
      'a ~~~ fence',
      [
        ['s', '> Example:\n>\n> ~~~\n> x = '],
        ['l', '42'],
        ['s', '\n> ~~~\n'],
      ],
      /<blockquote>\n<p>Example:<\/p>\n<pre><code>x = 42\n<\/code><\/pre>\n<\/blockquote>/,
    ],
    [
      'indented code',
      [
        ['s', '> Example:\n>\n>     x = '],
        ['l', '42'],
        ['s', '\n'],
      ],
      /<blockquote>\n<p>Example:<\/p>\n<pre><code>x = 42\n<\/code><\/pre>/,
    ],
    [
      'an HTML block',
      [
        ['s', '> <div>\n> x is 2'],
        ['l', '82'],
        ['s', '\n> </div>\n'],
      ],
      /<blockquote>\n<div>\nx is 282\n<\/div>\n<\/blockquote>/,
    ],
    [
      "a list item's fence",
      [
        ['s', '> - Step:\n>\n>   ~~~\n>   x = '],
        ['l', '42'],
        ['s', '\n>   ~~~\n'],
      ],
      /<li>\n<p>Step:<\/p>\n<pre><code>x = 42\n<\/code><\/pre>\n<\/li>/,
    ],
    [
      "code indented under a list item's text",
      [
        ['s', '> - Step:\n>\n>       x = '],
        ['l', '42'],
        ['s', '\n'],
      ],
      /<li>\n<p>Step:<\/p>\n<pre><code>x = 42\n<\/code><\/pre>\n<\/li>/,
    ],
    [
      'a nested quote',
      [
        ['s', '> > ~~~\n> > x = '],
        ['l', '42'],
        ['s', '\n> > ~~~\n'],
      ],
      /<blockquote>\n<blockquote>\n<pre><code>x = 42\n<\/code><\/pre>/,
    ],
    [
      'a quote in a list item',
      [
        ['s', '- Step:\n\n  > ~~~\n  > x = '],
        ['l', '42'],
        ['s', '\n  > ~~~\n'],
      ],
      /<li>\n<p>Step:<\/p>\n<blockquote>\n<pre><code>x = 42\n<\/code><\/pre>/,
    ],
    [
      'math',
      [
        ['s', '> $$\n> x = '],
        ['l', '42'],
        ['s', '\n> $$\n'],
      ],
      /<blockquote>\n<p>\$\$\nx = 42\n\$\$<\/p>/,
    ],
  ];
  for (const [name, parts, block] of cases) {
    const { markdown } = rendered(parts);
    assert.match(html.render(markdown), block, name);
    assert.doesNotMatch(markdown, /\*/, name);
  }
  // The quote's prose, a list item in it, a lazy line (no `>`, still the item's paragraph), and the text after a quoted fence.
  const prose = rendered([
    ['s', '> Note: 6 times 47 is 2'],
    ['l', '82'],
    ['s', '\n> - and 3'],
    ['l', '10'],
    ['s', ' more\n    lazy 4'],
    ['l', '2'],
    ['s', '.\n\n> ~~~\n> x\n\nThen 2'],
    ['l', '82'],
    ['s', '.'],
  ]);
  assert.match(prose.html, /<blockquote>\n<p>Note: 6 times 47 is 2<em>82<\/em><\/p>\n<ul>\n<li>and 3<em>10<\/em> more\nlazy 4<em>2<\/em>\.<\/li>/);
  assert.match(prose.html, /<\/blockquote>\n<p>Then 2<em>82<\/em>\.<\/p>/);
});

test("an answer that stops inside a blockquote's fence gets it closed with the quote's markers (nested, in a list item), so the code stays in the quote and the footer is text", () => {
  const cases: [string, string, RegExp][] = [
    ['> Run:\n> ~~~python\n> print(1', '\n> ~~~\n', /<blockquote>\n<p>Run:<\/p>\n<pre><code class="language-python">print\(1\n<\/code><\/pre>\n<\/blockquote>/],
    ['> > ```\n> > x', '\n> > ```\n', /<blockquote>\n<blockquote>\n<pre><code>x\n<\/code><\/pre>\n<\/blockquote>\n<\/blockquote>/],
    ['> - Step:\n>\n>   ```sh\n>   ls', '\n>   ```\n', /<li>\n<p>Step:<\/p>\n<pre><code class="language-sh">ls\n<\/code><\/pre>\n<\/li>/],
    ['- Step:\n\n  > ~~~\n  > ls', '\n  > ~~~\n', /<li>\n<p>Step:<\/p>\n<blockquote>\n<pre><code>ls\n<\/code><\/pre>\n<\/blockquote>\n<\/li>/],
  ];
  for (const [answer, closing, code] of cases) {
    const { markdown } = stream([slm(answer)]);
    assert.equal(markdown, answer + closing);
    const html = md.render(markdown + statsFooter(STATS, []));
    assert.match(html, code, answer);
    assert.match(html, /<p><strong>Relay<\/strong>/, `the footer renders as text after ${JSON.stringify(answer)}`);
  }
});

test("an answer read back from the Markdown keeps the model's own asterisks in a blockquote's code, and takes Relay's italics off its prose", () => {
  const answer = stream([slm('> ~~~\n> x = *y*\n> ~~~\n>\n>     a = *b*\n>\n> So 2'), llm('82'), callEnd(), slm('.')]);
  assert.equal(answer.markdown, '> ~~~\n> x = *y*\n> ~~~\n>\n>     a = *b*\n>\n> So 2*82*.');
  assert.equal(answerFromMarkdown(answer.markdown), answer.formatter.answer);
});

test('an answer that stops on the line that opens a fence, before its line break, gets that fence closed before the footer', () => {
  for (const answer of ['Here:\n```python', '> Here:\n> ~~~', '- Step:\n\n  ```sh']) {
    const { markdown } = stream([slm(answer)]);
    const html = md.render(markdown + statsFooter(STATS, []));
    assert.match(html, /<p><strong>Relay<\/strong>/, `the footer renders as text after ${JSON.stringify(answer)}`);
  }
});

test("a fence right after a list item's marker is the item's code; a line left of an item's content ends a fence in it, and a rule or a line after code ends the item", () => {
  const cases: [string, [string, string][], RegExp][] = [
    [
      "a fence on the item's own line",
      [
        ['s', '- ~~~\n  x = '],
        ['l', '42'],
        ['s', '\n  ~~~\n'],
      ],
      /<li>\n<pre><code>x = 42\n<\/code><\/pre>\n<\/li>/,
    ],
    [
      'a line left of the content ends the fence: the next ~~~ opens one',
      [
        ['s', '- Step:\n\n  ~~~\n  ls\n Done.\n  ~~~\n  x = '],
        ['l', '42'],
        ['s', '\n  ~~~\n'],
      ],
      /<p>Done\.<\/p>\n<pre><code>x = 42\n<\/code><\/pre>/,
    ],
    [
      'a line after the fence closed is not lazy: the list ends',
      [
        ['s', '- Step:\n\n  ~~~\n  ls\n  ~~~\nDone.\n\n    x = '],
        ['l', '42'],
        ['s', '\n'],
      ],
      /<p>Done\.<\/p>\n<pre><code>x = 42\n<\/code><\/pre>/,
    ],
    [
      'a rule ends the list',
      [
        ['s', '- Step\n---\n    x = '],
        ['l', '42'],
        ['s', '\n'],
      ],
      /<hr>\n<pre><code>x = 42\n<\/code><\/pre>/,
    ],
  ];
  for (const [name, parts, code] of cases) {
    const { markdown, html } = rendered(parts);
    assert.match(html, code, name);
    assert.doesNotMatch(markdown, /\*/, name);
  }
  // Stopped inside the item's own-line fence: closed at the item's content, the footer is text.
  const stopped = stream([slm('1. ```js\n   print(1')]);
  assert.equal(stopped.markdown, '1. ```js\n   print(1\n   ```\n');
});

test("a span right after a lone '<' (a tag's name to come) gets no italics", () => {
  const { markdown, html } = rendered([
    ['s', 'Wrap it in <'],
    ['l', 'div'],
    ['s', '> tags.'],
  ]);
  assert.equal(markdown, 'Wrap it in <div> tags.');
  assert.doesNotMatch(html, /\*/);
});

test("what a span keeps outside its italics counts before it is marked: a '(' that opens a link's target, a list marker whose spaces indent the item's text into code", () => {
  const cases: [string, [string, string][], RegExp][] = [
    [
      "a link's target",
      [
        ['s', 'A [link]'],
        ['l', '(http://ex'],
        ['s', 'ample.com) words'],
      ],
      /<p>A <a href="http:\/\/example\.com">link<\/a> words<\/p>/,
    ],
    [
      "code 5 spaces past an item's marker",
      [
        ['l', '-     code'],
        ['s', ' here\n'],
      ],
      /<li>\n<pre><code>code here\n<\/code><\/pre>\n<\/li>/,
    ],
  ];
  for (const [name, parts, expected] of cases) {
    const { markdown, html } = rendered(parts);
    assert.match(html, expected, name);
    assert.doesNotMatch(markdown, /\*/, name);
  }
});

test("a list item's marker that a span writes or finishes at a line's start stays outside its italics (a number that may become one is left unmarked), so the item is kept", () => {
  const cases: [[string, string][], string][] = [
    [
      [
        ['s', '1. one\n'],
        ['l', '2. two'],
      ],
      '1. one\n2. *two*',
    ],
    [
      [
        ['s', '> 1. one\n> '],
        ['l', '2) two'],
      ],
      '> 1. one\n> 2) *two*',
    ],
    [
      [
        ['s', '1'],
        ['l', '0. ten'],
      ],
      '10. *ten*',
    ],
    [
      [
        ['s', '1. one\n'],
        ['l', '2'],
        ['s', '. two'],
      ],
      '1. one\n2. two',
    ],
  ];
  for (const [parts, expected] of cases) {
    const { markdown, html } = rendered(parts);
    assert.equal(markdown, expected);
    const plain = parts.map(([, text]) => text).join('');
    assert.equal(html.replace(/<\/?em>/g, ''), new MarkdownIt({ linkify: true }).render(plain), `the items render as without italics: ${markdown}`);
  }
});

test('an answer that stops inside an HTML block (a comment, <pre>, <script>, <?, <!X, CDATA; in a blockquote or a list item) gets it closed, so the footer and "Stopped" render as text', () => {
  const html = new MarkdownIt({ html: true });
  const cases: [string, string][] = [
    ['Text\n\n<!-- a note', '\n-->\n'],
    ['See:\n\n<pre>\nx = 1', '\n</pre>\n'],
    ['See:\n\n<pre>\nx = 1\n', '</pre>\n'],
    ['<script>\nlet a', '\n</script>\n'],
    ['<?php echo 1', '\n?>\n'],
    ['<!DOCTYPE html', '\n>\n'],
    ['<![CDATA[ x', '\n]]>\n'],
    ['> <!-- hidden\n> still', '\n> -->\n'],
    ['- Step:\n\n  <textarea>\n  x', '\n  </textarea>\n'],
    // Ended by the blank line the footer starts with.
    ['<div>\nwords', ''],
  ];
  for (const [answer, closing] of cases) {
    const { markdown } = stream([slm(answer)]);
    assert.equal(markdown, answer + closing);
    const page = html.render(markdown + statsFooter({ ...STATS, finishReason: 'cancelled' }, []));
    assert.match(page, /<p><strong>Relay<\/strong>/, `the footer renders as text after ${JSON.stringify(answer)}`);
    assert.match(page, /<p><em>Stopped: the partial answer is kept\.<\/em><\/p>/, answer);
  }
  assert.match(html.render(stream([slm('> <!-- hidden\n> still')]).markdown), /<blockquote>\n<!-- hidden\nstill\n-->\n<\/blockquote>/, 'closed in the quote');
});

/** `markdown` (an answer as streamed, its blocks closed) and the footer after it, as markdown-it renders them with HTML on. */
function renderedWithFooter(markdown: string): string {
  return new MarkdownIt({ html: true }).render(markdown + statsFooter(STATS, []));
}

test('an ordered item numbered other than 1, or an empty one, cannot interrupt a paragraph (CommonMark): it is text, and the code after it is read from the margin', () => {
  const cases: [string, [string, string][], RegExp][] = [
    [
      'a fence 3 in after "2. foo"',
      [
        ['s', 'Para\n2. foo\n   ~~~\nx = '],
        ['l', '42'],
        ['s', '\n   ~~~\n'],
      ],
      /<p>Para\n2\. foo<\/p>\n<pre><code>x = 42\n<\/code><\/pre>/,
    ],
    [
      'indented code after "2. foo"',
      [
        ['s', 'Para\n2. foo\n\n    x = '],
        ['l', '42'],
        ['s', '\n'],
      ],
      /<pre><code>x = 42\n<\/code><\/pre>/,
    ],
    [
      'a fence after an empty "1."',
      [
        ['s', 'Para\n1.\n   ~~~\nx = '],
        ['l', '42'],
        ['s', '\n   ~~~\n'],
      ],
      /<p>Para\n1\.<\/p>\n<pre><code>x = 42\n<\/code><\/pre>/,
    ],
    [
      'code 4 past an item\'s content, after "2. b" in the item\'s paragraph',
      [
        ['s', '1. a\n   2. b\n\n       x = '],
        ['l', '42'],
        ['s', '\n'],
      ],
      /<p>a\n2\. b<\/p>\n<pre><code>x = 42\n<\/code><\/pre>/,
    ],
  ];
  for (const [name, parts, code] of cases) {
    const { markdown, html } = rendered(parts);
    assert.match(html, code, name);
    assert.doesNotMatch(markdown, /\*/, name);
  }
  // Stopped in that fence: it is closed as it opened (3 in, at the margin's column), so the footer is text.
  const stopped = stream([slm('Para\n2. foo\n   ~~~\nx = 1')]).markdown;
  assert.equal(stopped, 'Para\n2. foo\n   ~~~\nx = 1\n   ~~~\n');
  assert.match(renderedWithFooter(stopped), /<p><strong>Relay<\/strong>/);
  // A next item of the list, and a new list left of an item's content, are items still: their prose is marked.
  const items = rendered([
    ['s', '1. one\n2. two 2'],
    ['l', '82'],
    ['s', '\n- a\n3. three 3'],
    ['l', '10'],
  ]);
  assert.match(items.html, /<li>two 2<em>82<\/em><\/li>/);
  assert.match(items.html, /<ol start="3">\n<li>three 3<em>10<\/em><\/li>/);
});

test('a line that is only an inline tag (HTML block type 7) cannot interrupt a paragraph, and a tag with text after it starts none: a fence after either is code', () => {
  const cases: [string, [string, string][], RegExp][] = [
    [
      'a <span> line after a paragraph',
      [
        ['s', 'Para\n<span>\n```\nx\n\ny = '],
        ['l', '42'],
        ['s', '\n```\n'],
      ],
      /<pre><code>x\n\ny = 42\n<\/code><\/pre>/,
    ],
    [
      'a <span> with text after it',
      [
        ['s', '<span> text\n~~~\nx\n\ny = '],
        ['l', '42'],
        ['s', '\n~~~\n'],
      ],
      /<pre><code>x\n\ny = 42\n<\/code><\/pre>/,
    ],
    [
      'a <span> line alone (an HTML block: its text is raw)',
      [
        ['s', 'Para\n\n<span>\nx is 2'],
        ['l', '82'],
        ['s', '\n'],
      ],
      /<span>\nx is 282\n/,
    ],
  ];
  for (const [name, parts, block] of cases) {
    const { markdown } = rendered(parts);
    assert.match(new MarkdownIt({ html: true }).render(markdown), block, name);
    assert.doesNotMatch(markdown, /\*/, name);
  }
  // Stopped in such a fence: closed (in the quote, which the lazy <span> did not end); in the list item (which it did not end
  // either) a line left of the item's content has ended it, so nothing is added. The footer is text.
  const stopped: [string, string][] = [
    ['Para\n<span>\n```\nx', '\n```\n'],
    ['> Para\n<span>\n> ~~~\n> x = 1', '\n> ~~~\n'],
    ['- a\n<span>\n\n  ~~~\n x = 1', ''],
  ];
  for (const [answer, closing] of stopped) {
    const { markdown } = stream([slm(answer)]);
    assert.equal(markdown, answer + closing);
    assert.match(renderedWithFooter(markdown), /<p><strong>Relay<\/strong>/, answer);
  }
});

test("a lazy line is its paragraph's text whatever its indent (marked), except one that markdown-it takes out of two quotes or more as code (its text would open a block), and the lines after it", () => {
  const lazy = rendered([
    ['s', '> > text 2'],
    ['l', '82'],
    ['s', '\n    more 4'],
    ['l', '2'],
    ['s', '.\n\n> - item\n      lazy 1'],
    ['l', '0'],
  ]);
  assert.match(lazy.html, /<blockquote>\n<blockquote>\n<p>text 2<em>82<\/em>\nmore 4<em>2<\/em>\.<\/p>/);
  assert.match(lazy.html, /<li>item\nlazy 1<em>0<\/em><\/li>/);
  for (const answer of ['> > text\n    1. v', '> > - - x\n    1. v', '> > text\n    ``` v', '> > text\n    - a\n    x = ', '> > text\n    # a\n>     x = ']) {
    const { markdown, html } = rendered([
      ['s', answer],
      ['l', '42'],
      ['s', '\n'],
    ]);
    assert.match(html, /<pre><code>[^<]*42\n<\/code><\/pre>/, answer);
    assert.doesNotMatch(markdown, /\*/, answer);
  }
});

test("a list item whose content starts with another (`- - x`) opens both: code and fences are measured from the inner item's content", () => {
  const code = rendered([
    ['s', '- - x\n\n      ```\n      y\n\n    w = '],
    ['l', '42'],
    ['s', '\n'],
  ]);
  assert.match(code.html, /<pre><code>y\n\nw = 42\n<\/code><\/pre>/);
  assert.doesNotMatch(code.markdown, /\*/);
  // Text 2 past the inner item's content is its paragraph: marked.
  const prose = rendered([
    ['s', '- - x\n\n      more 2'],
    ['l', '82'],
    ['s', '\n'],
  ]);
  assert.match(prose.html, /<p>more 2<em>82<\/em><\/p>/);
  // A line left of the inner item's content ends its fence: nothing is added that would open another.
  const stopped = stream([slm('- - x\n\n    ```\n    a\n   b')]).markdown;
  assert.equal(stopped, '- - x\n\n    ```\n    a\n   b');
  assert.match(renderedWithFooter(stopped), /<p><strong>Relay<\/strong>/);
});

test("a span right after the model's own _ gets no italics (an asterisk there would let that _ close emphasis); a span is shown whole at its call's end, never held", () => {
  const { markdown, html } = rendered([
    ['s', 'Say _a x_'],
    ['l', '82'],
    ['s', ' now'],
  ]);
  assert.equal(markdown, 'Say _a x_82 now');
  assert.equal(html, '<p>Say _a x_82 now</p>\n', markdown);
  // What the view has when the user stops it right after a call: the whole span, closed (Stop drops what comes later).
  const formatter = new ChatAnswerFormatter();
  assert.equal(formatter.push(slm('So 2'), 'm'), 'So 2');
  assert.equal(formatter.push(llm('82'), 'm'), '');
  assert.equal(formatter.push(callEnd(), 'm'), '*82*');
});

test('also read as markdown-it reads them: an HTML block or code in a list item, an empty item, a setext underline, a block opener under an item, a tab after a quoted item', () => {
  const cases: [string, [string, string][], RegExp][] = [
    [
      'an HTML block in a list item ends with the item: the fence after it is code',
      [
        ['s', '- text\n- <div>\n```\nx = '],
        ['l', '42'],
        ['s', '\n```\n'],
      ],
      /<pre><code>x = 42\n<\/code><\/pre>/,
    ],
    [
      'an item opened empty ends at a blank line: the line after is not in it',
      [
        ['s', '1.\n\n    x = '],
        ['l', '42'],
        ['s', '\n'],
      ],
      /<pre><code>x = 42\n<\/code><\/pre>/,
    ],
    [
      'a setext underline ends the paragraph: a tag line after it starts an HTML block',
      [
        ['s', 'Title\n-\n<span>\nx is 2'],
        ['l', '82'],
        ['s', '\n'],
      ],
      /<span>\nx is 282\n/,
    ],
    [
      "an item whose text is indented code holds no paragraph: a line without the quote's > is not lazy",
      [
        ['s', '> -     code\n    x = '],
        ['l', '42'],
        ['s', '\n'],
      ],
      /<\/blockquote>\n<pre><code>x = 42\n<\/code><\/pre>/,
    ],
    [
      "a heading's # left of an item's content ends the item, 4 in or not",
      [
        ['s', '  2. foo\n    # h\n      1. x = '],
        ['l', '42'],
        ['s', '\n'],
      ],
      /<pre><code># h\n {2}1\. x = 42\n<\/code><\/pre>/,
    ],
    [
      "an empty item holds no paragraph: a line without its quote's > is not lazy",
      [
        ['s', '> > 1.\n>      x = '],
        ['l', '42'],
        ['s', '\n'],
      ],
      /<pre><code> x = 42\n<\/code><\/pre>/,
    ],
    [
      'a bullet after a paragraph with text to come 5 spaces past it: code',
      [
        ['s', 'Para\n-     '],
        ['l', 'code'],
        ['s', '\n'],
      ],
      /<li>\n<pre><code>code\n<\/code><\/pre>/,
    ],
    [
      "a tab after a quoted item's marker counts to the line's tab stop: its text is code",
      [
        ['s', '> - \tx = '],
        ['l', '42'],
        ['s', '\n'],
      ],
      /<li>\n<pre><code>x = 42\n<\/code><\/pre>/,
    ],
  ];
  for (const [name, parts, expected] of cases) {
    const { markdown } = rendered(parts);
    assert.match(new MarkdownIt({ html: true }).render(markdown), expected, name);
    assert.doesNotMatch(markdown, /\*/, name);
  }
  // Stopped in an HTML block of an item that a line has ended: nothing is added; in a fence after it, the fence is closed.
  const stopped = stream([slm('- <pre>\nx\n```\ncode')]).markdown;
  assert.equal(stopped, '- <pre>\nx\n```\ncode\n```\n');
  assert.match(renderedWithFooter(stopped), /<p><strong>Relay<\/strong>/);
});
