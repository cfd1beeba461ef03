import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { explainMessages, SOLVE_SUFFIX, solveMessages } from '../../../src/cli/commands/ask';
import { UsageError } from '../../../src/cli/args';
import { DEMO_QUESTION, demoReference } from '../../../src/cli/demoModels';

test('solve uses the paper evaluation prompt', () => {
  assert.deepEqual(solveMessages('What is 2+2?'), [{ role: 'user', content: `What is 2+2?${SOLVE_SUFFIX}` }]);
  assert.throws(() => solveMessages('  '), UsageError);
});

test('explain quotes the chosen lines of the file with its language', () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-explain-'));
  try {
    const file = join(dir, 'a.py');
    writeFileSync(file, 'one\ntwo\nthree\nfour\n');
    const [message] = explainMessages(`${file}:2-3`);
    assert.match(message.content, /lines 2-3/);
    assert.ok(message.content.includes('```py\ntwo\nthree\n```'));
    assert.ok(explainMessages(`${file}:4`)[0].content.includes('```py\nfour\n```'));
    // The final newline ends line 4: the file has 4 lines, not 5.
    assert.throws(() => explainMessages(`${file}:9-12`), /outside .* \(4 lines\)/);
    assert.throws(() => explainMessages(`${file}:5`), /outside .* \(4 lines\)/);
    assert.throws(() => explainMessages(join(dir, 'missing.py')), /no such file/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('demo questions: the trained range only, the reference computed', () => {
  assert.equal(demoReference(DEMO_QUESTION), String(33 * 4 + 29));
  assert.equal(demoReference(' 47*6+28=? '), '310');
  for (const outside of ['12*3+4=?', '47*6+28', '47*10+28=?', '147*6+28=?', 'What is 2+2?']) assert.equal(demoReference(outside), null, outside);
  assert.deepEqual(solveMessages('47*6+28=?', { plain: true }), [{ role: 'user', content: '47*6+28=?' }], 'the demo models get the question as is');
});
