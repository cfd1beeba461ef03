// A second process for downloadLock.test.ts: contends for the download lock of each folder
// under <root>/0 .. <root>/<count-1>, one folder per time slot, from the start time the
// test sends on stdin, and reports whether it ever held a lock while the other process held
// the same one. Run as: node --import tsx lockContender.ts <root> <count> <slotMs>
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { acquireLock } from '../../../src/core/models/modelStore';

const [root, countText, slotText] = process.argv.slice(2);
const count = Number(countText);
const slotMs = Number(slotText);

/** Waits until `at` (ms since the epoch): a timer to just before, then a spin, so that both processes start each slot together. */
async function until(at: number): Promise<void> {
  const early = at - Date.now() - 5;
  if (early > 0) await new Promise((resolve) => setTimeout(resolve, early));
  while (Date.now() < at) {
    // spin: the last milliseconds decide the race
  }
}

async function contend(startAt: number): Promise<void> {
  const acquired: number[] = [];
  const overlaps: number[] = [];
  for (let slot = 0; slot < count; slot += 1) {
    const folder = join(root, String(slot));
    await until(startAt + slot * slotMs);
    let release: (() => Promise<void>) | undefined;
    try {
      release = await acquireLock(folder, `slot ${slot}`);
    } catch {
      continue; // busy: the other process holds it
    }
    acquired.push(slot);
    // Created only if absent: present, the other process holds this lock too.
    const holder = join(folder, 'holder');
    try {
      writeFileSync(holder, String(process.pid), { flag: 'wx' });
      await new Promise((resolve) => setTimeout(resolve, slotMs / 3));
      rmSync(holder, { force: true });
    } catch {
      overlaps.push(slot);
    }
    await release();
  }
  process.stdout.write(`${JSON.stringify({ acquired, overlaps })}\n`);
}

process.stdout.write('READY\n');
process.stdin.once('data', (data) => {
  process.stdin.pause();
  void contend(Number(String(data).trim()));
});
