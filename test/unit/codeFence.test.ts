// Code put in a prompt stays inside its block: Explain Selection (VS Code), relay explain (CLI) and
// @relay's attachments fence it with more backticks than it holds, so a selection of Markdown or a
// template string with ``` cannot end the block early and turn the rest of the code into prose.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { useVscodeStub, window as stubWindow } from './extension/vscodeStub';
useVscodeStub();
import { explainMessages } from '../../src/cli/commands/ask';
import { fencedCode } from '../../src/core/codeFence';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { explainSelection } = require('../../src/extension/commands') as typeof import('../../src/extension/commands');

const MARKDOWN = 'Run it:\n\n```sh\nnpm test\n```\n\nThen read the log.';

/** The code between the prompt's opening fence and its closing one, as a Markdown reader finds it. */
function firstBlock(prompt: string): { fence: string; code: string } {
  const open = /^(`{3,})[^`\n]*\n/m.exec(prompt);
  assert.ok(open, prompt);
  const rest = prompt.slice(open.index + open[0].length);
  const close = new RegExp(`\\n${open[1]}(?:\\n|$)`).exec(rest);
  assert.ok(close, prompt);
  return { fence: open[1], code: rest.slice(0, close.index) };
}

test('fencedCode: three backticks for plain code; one more than the longest run the text holds', () => {
  assert.equal(fencedCode('x = 1', 'python'), '```python\nx = 1\n```');
  assert.deepEqual(firstBlock(fencedCode(MARKDOWN, 'markdown')), { fence: '````', code: MARKDOWN });
  assert.equal(firstBlock(fencedCode('a ````` b')).fence, '``````');
});

test('Explain Selection: a selection holding ``` stays whole inside the block', async () => {
  const asked: string[] = [];
  const before = stubWindow.activeTextEditor;
  const selection = { isEmpty: false, start: { line: 0, character: 0 }, end: { line: 1, character: 0 } };
  stubWindow.activeTextEditor = {
    selection,
    selections: [selection],
    document: { languageId: 'markdown', getText: () => MARKDOWN },
  };
  try {
    await explainSelection({ ask: async (question: string) => void asked.push(question) } as never);
  } finally {
    stubWindow.activeTextEditor = before;
  }
  assert.equal(asked.length, 1);
  assert.deepEqual(firstBlock(asked[0]), { fence: '````', code: MARKDOWN });
});

test('relay explain: a file holding ``` stays whole inside the block', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-fence-'));
  try {
    const file = join(dir, 'README.md');
    writeFileSync(file, `${MARKDOWN}\n`);
    assert.deepEqual(firstBlock(explainMessages(file)[0].content), { fence: '````', code: MARKDOWN });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
