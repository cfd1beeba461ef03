// The wait shown while a server sends nothing: the Nth tick says at least N s. Date.now() and
// the timers run on clocks that differ by a millisecond either way, and a first tick told as
// 999 ms read "0 s", so the "1 s" line was never shown.
import assert from 'node:assert/strict';
import { mock, test } from 'node:test';
import { WaitClock, type WaitTick } from '../../../src/core/providers/waitClock';

test('the first tick says 1 s though Date.now() counts 999 ms by then', async () => {
  let now = 1_000_000;
  const dateNow = mock.method(Date, 'now', () => now);
  const ticks: WaitTick[] = [];
  const clock = new WaitClock((tick) => ticks.push(tick), 'm');
  try {
    now += 999;
    // Bounded: the real one-second timer fires once; the loop only waits for it.
    for (let i = 0; i < 100 && ticks.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(ticks[0]?.waitedMs, 1000);
    assert.equal(ticks[0]?.state, 'waiting');
  } finally {
    clock.stop();
    dateNow.mock.restore();
  }
});

test('each retry is numbered, so two for the same reason read as two; a wait before any retry carries no note', () => {
  const ticks: WaitTick[] = [];
  const clock = new WaitClock((tick) => ticks.push(tick), 'm');
  try {
    clock.onTransport({ phase: 'retrying', attempt: 1, delayMs: 0, reason: 'no response for 60 s' });
    clock.onTransport({ phase: 'retrying', attempt: 2, delayMs: 0, reason: 'no response for 60 s' });
    assert.deepEqual(
      ticks.map((tick) => [tick.state, tick.note, tick.retry]),
      [
        ['retrying', 'no response for 60 s', 1],
        ['retrying', 'no response for 60 s', 2],
      ],
    );
  } finally {
    clock.stop();
  }
});
