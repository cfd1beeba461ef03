import { test } from 'node:test';
import assert from 'node:assert/strict';
import { CommandFilter, parseCallCount, stripCommandsForLlm } from '../../../src/core/relay/commandFilter';

/** Feeds the pieces one by one and returns what the user would see and the commands found. */
function feed(pieces: string[]): { visible: string; commands: string[]; stray: number; leftover?: string } {
  const filter = new CommandFilter();
  let visible = '';
  const commands: string[] = [];
  let stray = 0;
  for (const piece of pieces) {
    const out = filter.push(piece);
    visible += out.visible;
    if (out.command) commands.push(out.command);
    if (out.strayClose) stray += 1;
  }
  const rest = filter.flush(true);
  return { visible: visible + rest.visible, commands, stray, leftover: rest.unterminatedCommand };
}

test('a command split at every possible token boundary is hidden and reported whole', () => {
  const text = 'Sum is <call>12</call> fifteen.';
  for (let cut = 1; cut < text.length; cut++) {
    for (let cut2 = cut + 1; cut2 <= text.length; cut2++) {
      const got = feed([text.slice(0, cut), text.slice(cut, cut2), text.slice(cut2)]);
      assert.equal(got.visible, 'Sum is  fifteen.', `cuts ${cut},${cut2}`);
      assert.deepEqual(got.commands, ['<call>12</call>']);
    }
  }
});

test('character by character: only a possible tag start is held back', () => {
  const filter = new CommandFilter();
  assert.equal(filter.push('a<').visible, 'a');
  assert.equal(filter.push('c').visible, '');
  assert.equal(filter.push('x').visible, '<cx', 'released once it cannot be a tag');
  assert.equal(filter.push('</').visible, '');
  assert.equal(filter.push('b>').visible, '</b>');
});

test('look-alikes stay visible; a stray </call> is hidden and flagged', () => {
  assert.equal(feed(['x < y and <callx>']).visible, 'x < y and <callx>');
  const stray = feed(['done.</ca', 'll> tail']);
  assert.equal(stray.visible, 'done. tail');
  assert.equal(stray.stray, 1);
});

test('an unterminated command is dropped at the end and returned by flush', () => {
  const got = feed(['ok <call>', '3']);
  assert.equal(got.visible, 'ok ');
  assert.equal(got.leftover, '<call>3');
  assert.equal(feed(['ends with <ca']).visible, 'ends with ', 'a tag cut off by the end of the stream is no text');
  assert.equal(feed(['cut at </cal']).visible, 'cut at ');
  assert.equal(feed(['so x <']).visible, 'so x <', 'a lone < is text');
  // Before the LLM takes over, the SLM's stream ends but the answer goes on: `</` may become `</div>`.
  const handOff = new CommandFilter();
  assert.equal(handOff.push('Close it with </').visible, 'Close it with ');
  assert.equal(handOff.flush().visible, '</', 'released: the LLM continues it');
});

test('N is parsed as the paper does; no digits gives null', () => {
  assert.equal(parseCallCount('<call>20</call>'), 20);
  assert.equal(parseCallCount('<call> 7 </call>'), 7);
  assert.equal(parseCallCount('<call>0</call>'), 0);
  assert.equal(parseCallCount('<call>x</call>'), null);
  assert.equal(parseCallCount('<call></call>'), null);
});

test('the LLM context has every command replaced by a space, then trimmed', () => {
  assert.equal(stripCommandsForLlm('  A <call>5</call>B<call> 0 </call> '), 'A  B');
  assert.equal(stripCommandsForLlm('keep <call>x</call>'), 'keep <call>x</call>', 'only well-formed commands, like the paper');
});
