// withoutThinking (src/core/relay/thinking.ts): what an earlier answer of a thinking model is
// in the history sent again. thinkingOf's reading of the shapes is tested in test/unit/webview/thinking.test.ts.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { withoutThinking } from '../../../src/core/relay/thinking';

test('an answer loses its thinking and the blank lines after it; one without thinking, or quoting the tag, stays as written', () => {
  assert.equal(withoutThinking('<think>\nAdd them.\n</think>\n\n  It is 5.\n'), '  It is 5.\n', "the answer's own indentation and end kept");
  assert.equal(withoutThinking('<think>Quick</think>Answer'), 'Answer');
  assert.equal(withoutThinking('Opened by the prompt.\n</think>\n\nFive.'), 'Five.');
  assert.equal(withoutThinking('<think>\nStill weighing it'), '', 'a thinking that never closed leaves nothing');
  assert.equal(withoutThinking('It is 5.'), 'It is 5.');
  assert.equal(withoutThinking('Write `</think>` to close it.'), 'Write `</think>` to close it.');
});

test('an answer whose prompt opened the thinking (the engine said so) is read as if <think> began it', () => {
  assert.equal(withoutThinking('Still weighing it.\n\nAnd more.\n', true), '', 'stopped before the close: all of it was thinking');
  assert.equal(withoutThinking('Add them.\n</think>\n\nIt is 5.', true), 'It is 5.');
  assert.equal(withoutThinking('Add them.</think>It is 5.', true), 'It is 5.', 'a close inside a line closes it too, as the view reads it');
  assert.equal(withoutThinking('Still weighing it.', false), 'Still weighing it.', 'not said: the answer as written');
});
