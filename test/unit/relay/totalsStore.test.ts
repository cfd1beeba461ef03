import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs, { existsSync, mkdtempSync, promises as fsPromises, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { addTotals, allSlmOnly, allUnpriced, emptyTotals, slmOnlyModelKey, totalsOfAnswer, TotalsStore } from '../../../src/core/relay/totalsStore';
import type { AnswerStats } from '../../../src/core/relay/events';

/** Makes every file write of the store fail half-way, as on a full disk, until the returned function restores it. */
function fullDisk(): () => void {
  const open = fsPromises.open;
  fsPromises.open = (async (...args: Parameters<typeof open>) => {
    const handle = await open(...args);
    const writeFile = handle.writeFile.bind(handle);
    handle.writeFile = async (data: string | Uint8Array) => {
      await writeFile(data.slice(0, 10));
      throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    };
    return handle;
  }) as typeof open;
  return () => (fsPromises.open = open);
}

/** The pid of a process that has exited. */
function deadPid(): number {
  return spawnSync(process.execPath, ['-e', '0']).pid as number;
}

function stats(cost: number | null, llmOnly: number | null, calls = 1): AnswerStats {
  return {
    mode: 'command',
    slmTokens: 90,
    llmTokens: 10,
    llmTokenShare: 0.1,
    calls,
    llmUsage: { inputTokens: 500, outputTokens: 10, cachedInputTokens: 100, cacheWriteTokens: 0, estimated: false },
    costUsd: cost,
    llmOnlyCostUsd: llmOnly,
    savedUsd: cost === null || llmOnly === null ? null : llmOnly - cost,
    elapsedMs: 5,
    finishReason: 'eos',
  };
}

test('totals survive a restart and a model switch, keyed by day and model', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const path = join(dir, 'nested', 'totals.json');
    let day = new Date(2026, 10, 28, 12);
    const first = new TotalsStore(path, { now: () => day });
    await first.record('openai-chat:gpt-4o-mini', stats(0.001, 0.01));
    await first.record('openai-chat:gpt-4o-mini', stats(0.002, 0.02));
    // A new store object = a restart; another model and another day.
    const second = new TotalsStore(path, { now: () => day });
    await second.record('anthropic:claude', stats(null, null));
    day = new Date(2026, 10, 29, 9);
    await second.record('anthropic:claude', stats(0.5, 1));
    const file = JSON.parse(readFileSync(path, 'utf8'));
    assert.deepEqual(Object.keys(file.days).sort(), ['2026-11-28', '2026-11-29']);
    const gpt = file.days['2026-11-28']['openai-chat:gpt-4o-mini'];
    assert.equal(gpt.answers, 2);
    assert.ok(Math.abs(gpt.costUsd - 0.003) < 1e-15);
    assert.ok(Math.abs(gpt.savedUsd - 0.027) < 1e-15);
    assert.equal(gpt.llmInputTokens, 1000);
    const all = await new TotalsStore(path).summary();
    assert.equal(all.answers, 4);
    assert.equal(all.unpricedAnswers, 1, 'an unknown price is counted apart, not as $0 saved');
    assert.ok(Math.abs(all.costUsd - 0.503) < 1e-12);
    assert.equal((await second.summary({ modelKey: 'anthropic:claude' })).answers, 2);
    assert.equal((await second.summary({ day: '2026-11-29' })).answers, 1);
    assert.deepEqual(readdirSync(join(dir, 'nested')).sort(), ['totals.json'], 'no temp or lock files left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('concurrent records in one process and from another process lose nothing', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const path = join(dir, 'totals.json');
    const store = new TotalsStore(path);
    const script = `
      const { TotalsStore } = require(${JSON.stringify(join(process.cwd(), 'src/core/relay/totalsStore.ts'))});
      const s = new TotalsStore(${JSON.stringify(path)});
      const st = ${JSON.stringify(stats(0.001, 0.01))};
      (async () => { for (let i = 0; i < 20; i++) await s.record('m', st); })();`;
    const child = new Promise<void>((resolve, reject) => {
      const proc = spawn(process.execPath, ['--import', 'tsx', '-e', script], { stdio: ['ignore', 'ignore', 'pipe'] });
      let stderr = '';
      proc.stderr.on('data', (d) => (stderr += d));
      proc.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`child failed: ${stderr}`))));
    });
    await Promise.all([...Array.from({ length: 20 }, () => store.record('m', stats(0.001, 0.01))), child]);
    assert.equal((await store.summary()).answers, 40);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a totals file edited by hand to hold null for a day or a model is named as damaged, not a JavaScript TypeError', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const path = join(dir, 'totals.json');
    for (const days of [{ '2024-01-01': null }, { '2024-01-01': { m: null } }, { '2024-01-01': 3 }]) {
      writeFileSync(path, JSON.stringify({ version: 1, days }));
      await assert.rejects(new TotalsStore(path).summary(), /totals\.json is not a relay totals file \(or it is damaged\)/, JSON.stringify(days));
    }
    await new TotalsStore(path).record('m', stats(0.001, 0.01));
    assert.equal((await new TotalsStore(path).summary()).answers, 1, 'recording moved it aside and started over');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a totals path that is a folder is named in words, not as EISDIR', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    await assert.rejects(new TotalsStore(dir).summary(), /Cannot read the relay totals at .*: it is a folder, not a file\.$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a corrupt totals file: a report leaves it where it is and says so; recording moves it aside (kept) and starts over', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const path = join(dir, 'totals.json');
    writeFileSync(path, '{ not json');
    const store = new TotalsStore(path);
    await assert.rejects(store.summary(), /totals\.json is not a relay totals file \(or it is damaged\); it was left as it is/);
    assert.equal(readFileSync(path, 'utf8'), '{ not json', 'a report moves nothing');
    await store.record('m', stats(0.001, 0.01));
    assert.equal((await store.summary()).answers, 1);
    assert.ok(readdirSync(dir).some((name) => name.startsWith('totals.json.corrupt-')));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a hand-edited total that is no count or amount (text, null, negative, 1e999) is named, never summed as text or NaN; recording keeps the file aside and goes on with the good totals', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const path = join(dir, 'totals.json');
    const good = { ...emptyTotals(), answers: 10, costUsd: 1, llmOnlyCostUsd: 3, savedUsd: 2 };
    const day = new Date(2026, 0, 2, 12);
    const cases: [string, string, RegExp][] = [
      ['costUsd', '"0.5"', /"bad": costUsd is "0\.5", not a number of 0 or more/],
      ['answers', '"5"', /"bad": answers is "5", not a number of 0 or more/],
      ['answers', '-3', /"bad": answers is -3, not a number of 0 or more/],
      ['llmTokens', 'null', /"bad": llmTokens is null, not a number of 0 or more/],
      ['savedUsd', '1e999', /"bad": savedUsd is Infinity, not a number\./],
    ];
    for (const [key, value, named] of cases) {
      const badEntry = JSON.stringify({ ...good, [key]: 0 }).replace(`"${key}":0`, `"${key}":${value}`);
      const text = `{"version":1,"days":{"2026-01-01":{"good":${JSON.stringify(good)},"bad":${badEntry}}},"modes":{"2026-01-01":{"bad":{"command":${badEntry}}}}}`;
      writeFileSync(path, text);
      const store = new TotalsStore(path, { now: () => day });
      await assert.rejects(
        store.summary(),
        (error: Error) => named.test(error.message) && /is not a relay totals file \(or it is damaged\); it was left as it is/.test(error.message),
        `${key}: ${value}`,
      );
      assert.equal(readFileSync(path, 'utf8'), text, 'a report moves nothing');

      await store.record('m', stats(0.001, 0.01));
      const aside = await store.keptAside();
      assert.equal(aside.length, 1, `${key}: ${value}: a copy was kept aside`);
      assert.equal(readFileSync(aside[0], 'utf8'), text, 'kept as it was');
      rmSync(aside[0]);
      const file = await store.read();
      assert.deepEqual(file.days['2026-01-01'], { good }, 'the good totals go on; the damaged one is left out');
      assert.equal(file.modes?.['2026-01-01']?.bad, undefined, 'with its per-policy totals');
      const all = await store.summary();
      assert.equal(all.answers, 11);
      assert.ok(Math.abs(all.costUsd - 1.001) < 1e-12, String(all.costUsd));
    }
    // A field an entry lacks (a hand-written one) counts as 0, not as NaN.
    writeFileSync(path, JSON.stringify({ version: 1, days: { '2026-01-01': { good, sparse: { answers: 2 } } } }));
    const all = await new TotalsStore(path).summary();
    assert.equal(all.answers, 12);
    assert.equal(all.costUsd, 1);
    assert.equal(all.llmTokens, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an answer with no LLM call whose LLM price is unknown is unpriced (its saving is unknown), not $0 saved; a failed one with a known cost is a loss', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const store = new TotalsStore(join(dir, 'totals.json'));
    // The small model wrote it all: no call, so it cost $0, but what the LLM alone would have cost is unknown.
    await store.record('custom', { ...stats(0, null, 0), savedUsd: null });
    const unpriced = await store.summary();
    assert.equal(unpriced.unpricedAnswers, 1);
    assert.ok(allUnpriced(unpriced), 'its money is unknown, not "$0, no saving"');
    // A failed answer: what its calls cost is lost (the engine gives its saving as -cost, its LLM-alone figure none).
    await store.record('priced', { ...stats(0.004, null), savedUsd: -0.004, finishReason: 'error' });
    const loss = await store.summary({ modelKey: 'priced' });
    assert.equal(loss.unpricedAnswers, 0);
    assert.equal(loss.savedUsd, -0.004);
    assert.equal(loss.costUsd, 0.004);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an answer the small model wrote alone (relay.localOnly, relay.mode slm-only) is counted as such: $0, no saving, not unpriced', () => {
  // As the engine gives it: no LLM was composed, so no price and no LLM-alone figure.
  const alone = totalsOfAnswer({ ...stats(0, null, 0), mode: 'slm-only', llmTokens: 0, savedUsd: null });
  assert.equal(alone.unpricedAnswers, 0, 'no price is missing: no relay.prices.* setting would change it');
  assert.equal(alone.slmOnlyAnswers, 1);
  assert.deepEqual([alone.costUsd, alone.llmOnlyCostUsd, alone.savedUsd], [0, 0, 0]);
  assert.ok(allSlmOnly(alone) && !allUnpriced(alone));
  // Even where a price came with it, no saving is claimed for an answer no large model could have written.
  assert.equal(totalsOfAnswer({ ...stats(0, 0.01, 0), mode: 'slm-only' }).savedUsd, 0);
  // Beside an unpriced answer, the money of the two is still unknown; beside a priced one, it is that one's.
  assert.ok(allUnpriced(addTotals(alone, totalsOfAnswer({ ...stats(0, null, 0), savedUsd: null }))));
  const withPriced = addTotals(alone, totalsOfAnswer(stats(0.001, 0.01)));
  assert.ok(!allUnpriced(withPriced) && !allSlmOnly(withPriced));
  assert.equal(withPriced.savedUsd, 0.009);
  assert.equal(slmOnlyModelKey('/models/Qwen3-0.6B-ONNX@main/'), 'slm:Qwen3-0.6B-ONNX@main');
  assert.equal(slmOnlyModelKey('C:\\models\\Qwen3-0.6B-ONNX@main'), 'slm:Qwen3-0.6B-ONNX@main');
});

test('a totals file written before answers of the small model alone were counted reads as it is (none of them), and records them beside its totals', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const path = join(dir, 'totals.json');
    const { slmOnlyAnswers: _, ...older } = {
      ...emptyTotals(),
      answers: 2,
      calls: 3,
      costUsd: 0.002,
      llmOnlyCostUsd: 0.01,
      savedUsd: 0.008,
      unpricedAnswers: 1,
    };
    writeFileSync(path, JSON.stringify({ version: 1, days: { '2026-11-28': { 'openai-chat:gpt-4o': older } } }));
    const store = new TotalsStore(path, { now: () => new Date(2026, 10, 28, 12) });
    const read = await store.summary();
    assert.equal(read.answers, 2);
    assert.equal(read.slmOnlyAnswers, 0, 'the field it lacks counts as 0');
    assert.equal(read.unpricedAnswers, 1);
    await store.record('slm:Qwen3-0.6B-ONNX@main', { ...stats(0, null, 0), mode: 'slm-only', savedUsd: null });
    assert.deepEqual(await store.keptAside(), [], 'nothing was taken for damage');
    const all = await store.summary();
    assert.deepEqual([all.answers, all.slmOnlyAnswers, all.unpricedAnswers, all.savedUsd], [3, 1, 1, 0.008]);
    assert.equal((await store.summary({ mode: 'slm-only' })).slmOnlyAnswers, 1, 'under its own policy');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("an older file's answers under a small model's key (slm:, which holds no other) read as the small model's alone, not as price unknown, per policy too", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const path = join(dir, 'totals.json');
    const { slmOnlyAnswers: _, ...older } = { ...emptyTotals(), answers: 2, slmTokens: 80, unpricedAnswers: 2 };
    const key = 'slm:Qwen3-0.6B-ONNX@main';
    writeFileSync(path, JSON.stringify({ version: 1, days: { '2026-11-28': { [key]: older } }, modes: { '2026-11-28': { [key]: { 'slm-only': older } } } }));
    const store = new TotalsStore(path, { now: () => new Date(2026, 10, 28, 12) });
    await store.record(key, { ...stats(0, null, 0), mode: 'slm-only', savedUsd: null });
    const all = await store.summary();
    assert.deepEqual([all.answers, all.slmOnlyAnswers, all.unpricedAnswers], [3, 3, 0]);
    assert.ok(allSlmOnly(all) && !allUnpriced(all), 'the savings view says "by the small model alone", not "price unknown"');
    const policy = await store.summary({ mode: 'slm-only' });
    assert.deepEqual([policy.answers, policy.slmOnlyAnswers, policy.unpricedAnswers], [3, 3, 0]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock left by a crashed process is removed once: writers that find it stale at the same moment lose no answer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    for (let trial = 0; trial < 40; trial++) {
      const path = join(dir, `totals-${trial}.json`);
      writeFileSync(`${path}.lock`, '');
      const longAgo = new Date(Date.now() - 60_000);
      utimesSync(`${path}.lock`, longAgo, longAgo);
      // Three windows (a store each), starting a few turns of the event loop apart.
      const writers = [0, 1, 2].map(async (i) => {
        for (let turn = 0; turn < (trial % 4) * i; turn++) await new Promise((resolve) => setImmediate(resolve));
        await new TotalsStore(path).record('m', stats(0.001, 0.01));
      });
      await Promise.all(writers);
      assert.equal((await new TotalsStore(path).summary()).answers, 3, `trial ${trial}`);
    }
    assert.deepEqual(
      readdirSync(dir).filter((name) => !name.endsWith('.json')),
      [],
      'no lock or temp file left',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a write that fails half-way (a full disk) leaves the totals as they were and no part-written temp file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  let restore = (): void => undefined;
  try {
    const path = join(dir, 'totals.json');
    const store = new TotalsStore(path);
    await store.record('m', stats(0.001, 0.01));
    const before = readFileSync(path, 'utf8');
    restore = fullDisk();
    await assert.rejects(store.record('m', stats(0.001, 0.01)), /ENOSPC/);
    restore();
    assert.equal(readFileSync(path, 'utf8'), before);
    assert.deepEqual(readdirSync(dir), ['totals.json'], 'no temp file left');
  } finally {
    restore();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a damaged totals file is kept aside before anything overwrites it: a copy that cannot be made stops the record; a write that then fails leaves it to repair again', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  const { copyFile } = fsPromises;
  let restore = (): void => undefined;
  try {
    const path = join(dir, 'totals.json');
    const good = { ...emptyTotals(), answers: 10, costUsd: 1 };
    const text = JSON.stringify({ version: 1, days: { '2026-01-01': { good, bad: { ...good, answers: 'ten' } } } });
    writeFileSync(path, text);
    fsPromises.copyFile = (async () => {
      throw Object.assign(new Error('EBUSY: resource busy or locked'), { code: 'EBUSY' });
    }) as typeof copyFile;
    await assert.rejects(new TotalsStore(path).record('m', stats(0.001, 0.01)), /totals\.json is damaged and could not be kept aside/);
    fsPromises.copyFile = copyFile;
    assert.equal(readFileSync(path, 'utf8'), text, 'the damaged file is as it was');

    // A full disk after the copy: the damaged file is still there, and the next record keeps its good totals.
    restore = fullDisk();
    await assert.rejects(new TotalsStore(path).record('m', stats(0.001, 0.01)), /ENOSPC/);
    restore();
    assert.equal(readFileSync(path, 'utf8'), text, 'still there');
    await new TotalsStore(path).record('m', stats(0.001, 0.01));
    assert.equal((await new TotalsStore(path).summary()).answers, 11, 'the good totals and the answer');
  } finally {
    fsPromises.copyFile = copyFile;
    restore();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock a crashed process left just now is outwaited: the record waits until it is stale and removes it, and the answer is counted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const path = join(dir, 'totals.json');
    // Fresh: it goes stale only after staleLockMs (5.5 s here, above the 5 s the wait once was).
    writeFileSync(`${path}.lock`, '');
    const store = new TotalsStore(path, { staleLockMs: 5_500 });
    await store.record('m', stats(0.001, 0.01));
    assert.equal((await store.summary()).answers, 1);
    assert.deepEqual(readdirSync(dir).sort(), ['totals.json'], 'no lock left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a cost is marked estimated only by priced answers whose usage was counted locally: an unpriced one is in no summed cost', () => {
  const estimated = (answer: AnswerStats): AnswerStats => ({ ...answer, llmUsage: { ...answer.llmUsage, estimated: true } });
  assert.equal(totalsOfAnswer(estimated(stats(0.001, 0.01))).usageEstimatedAnswers, 1);
  assert.equal(totalsOfAnswer(estimated(stats(null, null))).usageEstimatedAnswers, 0, 'its cost is unknown, not an estimate in the sums');
  assert.equal(totalsOfAnswer(stats(0.001, 0.01)).usageEstimatedAnswers, 0, 'reported usage');
});

test('a lock whose process died is taken over at once, long before it is stale, and the answer is counted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const path = join(dir, 'totals.json');
    writeFileSync(`${path}.lock`, `${deadPid()} 0123abcd`);
    // Fresh and far from stale: only the dead pid lets it be taken within the wait.
    const store = new TotalsStore(path, { staleLockMs: 600_000, lockTimeoutMs: 5_000 });
    await store.record('m', stats(0.001, 0.01));
    assert.equal((await store.summary()).answers, 1);
    assert.deepEqual(readdirSync(dir), ['totals.json'], 'no lock left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a lock a live process holds is waited for, then the record fails naming the file, the process and what to do; the lock is left', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const path = join(dir, 'totals.json');
    const held = `${process.ppid} 0123abcd`;
    writeFileSync(`${path}.lock`, held);
    const store = new TotalsStore(path, { lockTimeoutMs: 200 });
    await assert.rejects(store.record('m', stats(0.001, 0.01)), (error: Error) => {
      assert.ok(error.message.includes(`The relay totals file ${path} stayed locked for 200 ms by process ${process.ppid}`), error.message);
      assert.ok(error.message.includes(`If that process hangs, end it; if no other Relay is running, delete ${path}.lock.`), error.message);
      return true;
    });
    assert.equal(readFileSync(`${path}.lock`, 'utf8'), held, 'a live process keeps its lock');
    assert.equal(existsSync(path), false, 'nothing written without the lock');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a lock older than staleLockMs is taken over: an older Relay's (empty, naming no process) and a hung live process's", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const path = join(dir, 'totals.json');
    for (const content of ['', `${process.ppid} 0123abcd`]) {
      writeFileSync(`${path}.lock`, content);
      const longAgo = new Date(Date.now() - 60_000);
      utimesSync(`${path}.lock`, longAgo, longAgo);
      await new TotalsStore(path, { staleLockMs: 30_000, lockTimeoutMs: 5_000 }).record('m', stats(0.001, 0.01));
      assert.equal(existsSync(`${path}.lock`), false, `${JSON.stringify(content)}: taken over and released`);
    }
    assert.equal((await new TotalsStore(path).summary()).answers, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('two stores of one file recording at once (two windows) count every answer', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const path = join(dir, 'totals.json');
    const [first, second] = [new TotalsStore(path), new TotalsStore(path)];
    await Promise.all(Array.from({ length: 50 }, () => [first.record('m', stats(0.001, 0.01)), second.record('m', stats(0.001, 0.01))]).flat());
    assert.equal((await first.summary()).answers, 100);
    assert.deepEqual(readdirSync(dir), ['totals.json'], 'no lock or temp file left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a write is synced to disk before its rename, and the folder after it, so a power loss cannot leave an empty totals file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  const { open, rename } = fsPromises;
  const steps: string[] = [];
  try {
    const path = join(dir, 'totals.json');
    fsPromises.open = (async (...args: Parameters<typeof open>) => {
      const handle = await open(...args);
      const name = basename(String(args[0]));
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        steps.push(`sync ${name}`);
        return sync();
      };
      return handle;
    }) as typeof open;
    fsPromises.rename = (async (from: string, to: string) => {
      steps.push(`rename ${basename(from)} to ${basename(to)}`);
      return rename(from, to);
    }) as typeof rename;
    await new TotalsStore(path).record('m', stats(0.001, 0.01));
    const temp = /^totals\.json\.\d+\.\w+\.tmp$/;
    assert.equal(steps.length >= 2, true, steps.join(', '));
    assert.match(steps[0], /^sync /);
    assert.match(steps[0].slice('sync '.length), temp);
    assert.equal(steps[1], `rename ${steps[0].slice('sync '.length)} to totals.json`);
    if (process.platform !== 'win32') assert.deepEqual(steps.slice(2), [`sync ${basename(dir)}`]);
    assert.equal((await new TotalsStore(path).summary()).answers, 1);
  } finally {
    Object.assign(fsPromises, { open, rename });
    rmSync(dir, { recursive: true, force: true });
  }
});

test('reset removes the file with the retry that outlasts a brief Windows lock (an antivirus scan)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  const rm = fsPromises.rm;
  const platform = Object.getOwnPropertyDescriptor(process, 'platform') as PropertyDescriptor;
  try {
    const path = join(dir, 'totals.json');
    const store = new TotalsStore(path);
    await store.record('m', stats(0.001, 0.01));
    let refusals = 0;
    fsPromises.rm = (async (target: string, options?: Parameters<typeof rm>[1]) => {
      if (target === path && ++refusals <= 2) throw Object.assign(new Error(`EBUSY: resource busy or locked, unlink '${path}'`), { code: 'EBUSY' });
      return rm(target, options);
    }) as typeof rm;
    Object.defineProperty(process, 'platform', { ...platform, value: 'win32' });
    await store.reset();
    Object.defineProperty(process, 'platform', platform);
    assert.equal(refusals, 3, 'refused twice, then removed');
    assert.equal(existsSync(path), false);
    assert.equal((await store.summary()).answers, 0);
  } finally {
    Object.defineProperty(process, 'platform', platform);
    fsPromises.rm = rm;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a fresh lock of another machine (a home folder several machines share) is waited for though no process here has its pid, and taken over once stale', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  try {
    const path = join(dir, 'totals.json');
    const pid = deadPid();
    const theirs = JSON.stringify({ pid, host: 'other-host', nonce: '0123abcd' }) + '\n';
    writeFileSync(`${path}.lock`, theirs);
    await assert.rejects(new TotalsStore(path, { staleLockMs: 60_000, lockTimeoutMs: 300 }).record('m', stats(0.001, 0.01)), (error: Error) => {
      assert.ok(error.message.includes(`stayed locked for 300 ms by process ${pid} on "other-host"`), error.message);
      return true;
    });
    assert.equal(readFileSync(`${path}.lock`, 'utf8'), theirs, 'its lock is left');
    assert.equal(existsSync(path), false, 'nothing written without the lock');
    // That machine hung or died: once staleLockMs old, its lock is taken over and the answer counted.
    await new TotalsStore(path, { staleLockMs: 1_000, lockTimeoutMs: 30_000 }).record('m', stats(0.001, 0.01));
    assert.equal((await new TotalsStore(path).summary()).answers, 1);
    assert.deepEqual(readdirSync(dir), ['totals.json'], 'no lock left');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Runs `onSync` when a totals temp file is synced, just before its rename (the seam of a slow disk). */
function onTempSync(onSync: () => Promise<void> | void): () => void {
  const open = fsPromises.open;
  fsPromises.open = (async (...args: Parameters<typeof open>) => {
    const handle = await open(...args);
    if (String(args[0]).endsWith('.tmp')) {
      const sync = handle.sync.bind(handle);
      handle.sync = async () => {
        await onSync();
        return sync();
      };
    }
    return handle;
  }) as typeof open;
  return () => (fsPromises.open = open);
}

test('a holder slow past staleLockMs, its lock taken over meanwhile, redoes its record under a new lock: both answers are counted', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  let restore = (): void => undefined;
  try {
    const path = join(dir, 'totals.json');
    const [slow, other] = [new TotalsStore(path), new TotalsStore(path)];
    await slow.record('m', stats(0.001, 0.01));
    let stalled = (): void => undefined;
    const reachedSync = new Promise<void>((resolve) => (stalled = resolve));
    let resume = (): void => undefined;
    const resumed = new Promise<void>((resolve) => (resume = resolve));
    let syncs = 0;
    restore = onTempSync(async () => {
      if (++syncs > 1) return;
      stalled();
      await resumed;
    });
    const slowRecord = slow.record('m', stats(0.001, 0.01));
    await reachedSync;
    // The slow one's temp file is written, not yet renamed; its lock now looks staleLockMs old: the other store takes it over and writes.
    const longAgo = new Date(Date.now() - 60_000);
    utimesSync(`${path}.lock`, longAgo, longAgo);
    await other.record('m', stats(0.001, 0.01));
    resume();
    await slowRecord;
    restore();
    assert.equal((await other.summary()).answers, 3, "the first answer, the other store's and the slow one's");
    assert.deepEqual(readdirSync(dir), ['totals.json'], 'no lock or temp file left');
  } finally {
    restore();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a record whose lock is taken over at every try gives up after a few with an error naming the file and what to check; the totals are as they were', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  let restore = (): void => undefined;
  try {
    const path = join(dir, 'totals.json');
    const store = new TotalsStore(path, { staleLockMs: 5_000 });
    await store.record('m', stats(0.001, 0.01));
    const before = readFileSync(path, 'utf8');
    let syncs = 0;
    // Another Relay takes the lock over (and is done with it) while each write is synced.
    restore = onTempSync(() => {
      syncs += 1;
      rmSync(`${path}.lock`);
    });
    await assert.rejects(store.record('m', stats(0.001, 0.01)), (error: Error) => {
      assert.ok(error.message.startsWith(`The relay totals file ${path} was not written: another Relay`), error.message);
      assert.ok(error.message.includes('took its lock over 3 times while this one still wrote it, each time after 5000 ms'), error.message);
      assert.ok(error.message.includes('Check that the disk holding it answers'), error.message);
      return true;
    });
    restore();
    assert.equal(syncs, 3, 'tried three times');
    assert.equal(readFileSync(path, 'utf8'), before, "never renamed over the other Relay's write");
    assert.deepEqual(readdirSync(dir), ['totals.json'], 'no temp file left');
  } finally {
    restore();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a record waiting for a lock tries it less and less often: each try writes and removes a file with blocking calls in the extension host', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-totals-'));
  const write = fs.writeFileSync;
  try {
    const path = join(dir, 'totals.json');
    writeFileSync(`${path}.lock`, `${process.ppid} 0123abcd`);
    let tries = 0;
    // Each try of the owner lock starts by writing its lock file's content beside it (ownerLock.ts).
    fs.writeFileSync = ((file: Parameters<typeof write>[0], ...rest: unknown[]) => {
      if (String(file).startsWith(`${path}.lock.`)) tries += 1;
      return (write as (...args: unknown[]) => void)(file, ...rest);
    }) as typeof write;
    await assert.rejects(new TotalsStore(path, { lockTimeoutMs: 1_000 }).record('m', stats(0.001, 0.01)), /stayed locked for 1000 ms/);
    fs.writeFileSync = write;
    // Waits of 20 ms doubling to 250 ms fill 1 s in 8 (9 tries); polling every 20 ms would try about 50 times.
    assert.ok(tries >= 2 && tries <= 12, `${tries} tries`);
  } finally {
    fs.writeFileSync = write;
    rmSync(dir, { recursive: true, force: true });
  }
});
