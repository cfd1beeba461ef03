import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { TotalsStore } from '../../../src/core/relay/totalsStore';
import type { AnswerStats } from '../../../src/core/relay/events';

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
