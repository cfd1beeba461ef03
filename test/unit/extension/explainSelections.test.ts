// What Explain Selection and Solve Problem send from the editor: every non-blank selection
// (multi-cursor), in document order; one selection exactly as it always was (the models'
// cached reading of the prompt depends on it); several bounded by their total; a selection
// holding NUL characters (a binary file opened anyway) named and never sent to a model.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { questionsAsked, useVscodeStub, warningsShown, window as stubWindow } from './vscodeStub';
useVscodeStub();

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { explainSelection, solveProblem } = require('../../../src/extension/commands') as typeof import('../../../src/extension/commands');

interface Point {
  line: number;
  character: number;
}

/** A selection from `start` to `end` ([line, character], zero-based), as VS Code gives it. */
function selection([startLine, startCharacter]: [number, number], [endLine, endCharacter]: [number, number]) {
  const start = { line: startLine, character: startCharacter };
  const end = { line: endLine, character: endCharacter };
  return { start, end, anchor: start, active: end, isEmpty: startLine === endLine && startCharacter === endCharacter };
}

type Selection = ReturnType<typeof selection>;

/** An editor on `text` with `selections`, the first the primary one (VS Code lists them in the order they were made). */
function editorOn(text: string, selections: Selection[], languageId = 'typescript') {
  const lines = text.split('\n');
  const offset = (point: Point) => lines.slice(0, point.line).reduce((sum, line) => sum + line.length + 1, 0) + point.character;
  const document = { languageId, isClosed: false, getText: (range?: Selection) => (range ? text.slice(offset(range.start), offset(range.end)) : text) };
  return { document, selection: selections[0], selections };
}

/** Runs `command` on `editor`: what it asked the answer view, and the warnings it showed. */
async function run(command: typeof explainSelection, editor: ReturnType<typeof editorOn>): Promise<{ asked: string[]; warnings: string[]; boxes: number }> {
  const asked: string[] = [];
  const panel = { ask: async (question: string) => (asked.push(question), true), refuseWhileBusy: () => false };
  const warningsBefore = warningsShown.length;
  const boxesBefore = questionsAsked.filter((question) => question.api === 'showInputBox').length;
  stubWindow.activeTextEditor = editor;
  try {
    await command(panel as never);
  } finally {
    stubWindow.activeTextEditor = undefined;
  }
  const boxes = questionsAsked.filter((question) => question.api === 'showInputBox').length - boxesBefore;
  return { asked, warnings: warningsShown.slice(warningsBefore).map((warning) => warning.message), boxes };
}

const CODE = 'function a() {\n  return 1;\n}\nconst unrelated = 0;\nfunction b() {\n  return a() + 1;\n}\n';

test('one selection is asked exactly as before: the language, then the code in its fence', async () => {
  const { asked } = await run(explainSelection, editorOn(CODE, [selection([0, 0], [3, 0])]));
  assert.deepEqual(asked, ['Explain this typescript code:\n\n```typescript\nfunction a() {\n  return 1;\n}\n\n```']);
});

test('several selections are all explained, in document order, each named by its lines; empty and blank ones are left out', async () => {
  // Made bottom first (the primary selection is the later one), with a cursor and a blank line selected besides.
  const editor = editorOn(CODE, [selection([4, 0], [7, 0]), selection([3, 6], [3, 6]), selection([0, 0], [0, 14]), selection([7, 0], [7, 0])]);
  editor.selections.push(selection([2, 1], [3, 0])); // only the newline after '}'
  const { asked, warnings } = await run(explainSelection, editor);
  assert.deepEqual(warnings, []);
  assert.deepEqual(asked, [
    'Explain this typescript code (2 parts of one file):\n\n' +
      'line 1:\n\n```typescript\nfunction a() {\n```\n\n' +
      'lines 5-7:\n\n```typescript\nfunction b() {\n  return a() + 1;\n}\n\n```',
  ]);
  // A blank selection beside one that is not: the prompt of one selection.
  const one = await run(explainSelection, editorOn(CODE, [selection([2, 1], [3, 0]), selection([3, 0], [3, 20])]));
  assert.deepEqual(one.asked, ['Explain this typescript code:\n\n```typescript\nconst unrelated = 0;\n```']);
});

test('several selections are bounded by their total, said with the figures as @relay says them', async () => {
  const long = `${'x'.repeat(12_000)}\n${'y'.repeat(12_000)}\n`;
  const { asked, warnings } = await run(explainSelection, editorOn(long, [selection([0, 0], [0, 12_000]), selection([1, 0], [1, 12_000])]));
  assert.deepEqual(asked, []);
  // On neighbouring lines they go as one part, a line break between: 24,001 characters sent.
  assert.deepEqual(warnings, ['Relay: the 2 selections have 24,001 characters; select at most 20,000 to explain.']);
  const single = await run(explainSelection, editorOn('z'.repeat(25_000), [selection([0, 0], [0, 25_000])], 'plaintext'));
  assert.deepEqual(single.asked, []);
  assert.deepEqual(single.warnings, ['Relay: the selection has 25,000 characters; select at most 20,000 to explain.']);
});

test('Solve Problem takes several selections as one problem: in document order, a blank line between', async () => {
  const text = 'Data: 3, 5, 8\nnotes nobody asked about\nWhat is the mean of the data?\n';
  const { asked, boxes } = await run(solveProblem, editorOn(text, [selection([2, 0], [2, 29]), selection([0, 0], [0, 13])], 'plaintext'));
  assert.equal(boxes, 0, 'no box: the selection is the problem');
  assert.deepEqual(asked, ['Data: 3, 5, 8\n\nWhat is the mean of the data?']);
  // One selection: the problem as selected.
  const one = await run(solveProblem, editorOn(text, [selection([2, 0], [2, 29])], 'plaintext'));
  assert.deepEqual(one.asked, ['What is the mean of the data?']);
});

test('a selection holding NUL characters (a binary file opened anyway) is named, never sent', async () => {
  const binary = 'ELF\u0000\u0001\u0002\u0000\uFFFDabc\nsome text';
  const explained = await run(explainSelection, editorOn(binary, [selection([0, 0], [1, 9])], 'plaintext'));
  assert.deepEqual(explained.asked, []);
  assert.deepEqual(explained.warnings, [
    'Relay: the selection holds NUL characters: it looks like a binary file, so nothing was sent. Select text to explain.',
  ]);
  // One binary part among several: nothing goes.
  const parts = await run(explainSelection, editorOn(binary, [selection([1, 0], [1, 9]), selection([0, 0], [0, 10])], 'plaintext'));
  assert.deepEqual(parts.asked, []);
  assert.match(parts.warnings[0] ?? '', /^Relay: a selection holds NUL characters/);
  const solved = await run(solveProblem, editorOn(binary, [selection([0, 0], [1, 9])], 'plaintext'));
  assert.deepEqual(solved.asked, []);
  assert.equal(solved.boxes, 0);
  assert.deepEqual(solved.warnings, ['Relay: the selection holds NUL characters: it looks like a binary file, so nothing was sent. Select text to solve.']);
});

test('a column selection (one selection a line) is one part, not a fence a line; selections in more than 50 places are refused', async () => {
  const lines = Array.from({ length: 4000 }, (_, i) => `row ${String(i).padStart(4, '0')} value`);
  const column = lines.map((_, i) => selection([i, 4], [i, 8]));
  const { asked, warnings } = await run(explainSelection, editorOn(lines.join('\n'), column));
  assert.deepEqual(warnings, []);
  assert.equal(asked.length, 1);
  assert.equal((asked[0].match(/```/g) ?? []).length, 2, 'one fence');
  assert.ok(
    asked[0].length < 20_000 + 200,
    `the question holds the 19,999 characters sent (16,000 selected, a line break between) and little else (${asked[0].length})`,
  );
  // Every other line: 2,000 places, each a part of its own.
  const scattered = lines.flatMap((_, i) => (i % 2 === 0 ? [selection([i, 4], [i, 8])] : []));
  const refused = await run(explainSelection, editorOn(lines.join('\n'), scattered));
  assert.deepEqual(refused.asked, []);
  assert.deepEqual(refused.warnings, [
    'Relay: the selections lie in 2,000 places of the file; select at most 50 to explain (selections on neighbouring lines count as one).',
  ]);
});
