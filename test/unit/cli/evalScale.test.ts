/**
 * `relay eval` at scale, piece by piece: the bounded pool, the answers file (append,
 * resume, refusal of other settings, a line cut short by a crash) and the progress line.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { runPool } from '../../../src/cli/eval/pool';
import { AnswersLog, answerLineProblem, questionHash, settingsDifferences, type AnswerLine } from '../../../src/cli/eval/answersLog';
import { EvalProgress, formatDuration } from '../../../src/cli/eval/progress';
import type { AnswerStats } from '../../../src/core/relay/events';

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'relay-scale-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

const tick = () => new Promise<void>((resolve) => setImmediate(resolve));

test('the pool keeps at most N tasks in flight, starts them in order, and finishes them all', async () => {
  for (const n of [1, 3, 8]) {
    let inFlight = 0;
    let most = 0;
    const started: number[] = [];
    const tasks = Array.from({ length: 20 }, (_, i) => i);
    await runPool(tasks, n, async (i) => {
      started.push(i);
      most = Math.max(most, ++inFlight);
      for (let k = 0; k < (i % 4) + 1; k++) await tick();
      inFlight--;
    });
    assert.deepEqual(started, tasks, `order at ${n}`);
    assert.equal(most, n, `in flight at ${n}`);
  }
  await runPool([], 4, async () => assert.fail('no task'));
  await assert.rejects(
    runPool([1], 0, async () => {}),
    /concurrency must be a positive whole number/,
  );
});

test('the pool stops starting tasks on abort or on a failure, and waits for those in flight', async () => {
  const controller = new AbortController();
  const done: number[] = [];
  await runPool(
    Array.from({ length: 10 }, (_, i) => i),
    2,
    async (i) => {
      if (i === 3) controller.abort();
      await tick();
      done.push(i);
    },
    controller.signal,
  );
  assert.deepEqual(
    done.sort((a, b) => a - b),
    [0, 1, 2, 3],
    'the tasks in flight at the abort (2 and 3) finish; no new one starts',
  );
  const finished: number[] = [];
  await assert.rejects(
    runPool([0, 1, 2, 3, 4, 5], 2, async (i) => {
      await tick();
      if (i === 2) throw new Error('boom');
      await tick();
      finished.push(i);
    }),
    /boom/,
  );
  assert.deepEqual(finished.sort(), [0, 1, 3], 'the task beside the failure finished before the pool threw');
});

const stats = (finishReason: AnswerStats['finishReason'] = 'eos'): AnswerStats => ({
  mode: 'command',
  slmTokens: 10,
  llmTokens: 1,
  llmTokenShare: 1 / 11,
  calls: 1,
  llmUsage: { inputTokens: 20, outputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
  costUsd: 0.0001,
  llmOnlyCostUsd: 0.001,
  savedUsd: 0.0009,
  elapsedMs: 5,
  finishReason,
});

const answer = (index: number): Omit<AnswerLine, 'type'> => ({
  spec: 'command',
  index,
  id: `line ${index + 1}`,
  questionHash: questionHash(`q${index}`),
  slm: '/models/slm',
  mode: 'command',
  llm: 'openai-chat:gpt-4o',
  price: { inputPerMTok: 2.5, outputPerMTok: 10 },
  reference: '72',
  predicted: '72',
  correct: true,
  answer: `so \\boxed{72}\n\u009b2J`,
  stats: stats(),
  finishedAt: '2026-01-01T00:00:00.000Z',
});

test('the answers file: appended line by line, resumed with the same settings, refused with others, started over with --fresh', () => {
  const path = join(work, 'run.answers.jsonl');
  const settings = { data: '/data/gsm8k.jsonl', seed: 7, temperature: 0.7, slm: { folder: '/models/slm', variant: 'auto' } };
  const first = AnswersLog.open(path, { command: 'relay eval a', settings, startedAt: 't0' });
  assert.equal(first.resumed, false);
  first.log.append(answer(0));
  first.log.append(answer(1));
  // Written at once, before close: a crash now loses nothing.
  assert.equal(readFileSync(path, 'utf8').trim().split('\n').length, 3);
  first.log.close();
  const lines = readFileSync(path, 'utf8').trim().split('\n');
  assert.ok(!lines[1].includes('\u009b'), 'C1 controls are escaped: the file is safe to cat');

  const second = AnswersLog.open(path, { command: 'relay eval b', settings, startedAt: 't1' });
  assert.equal(second.resumed, true);
  assert.deepEqual(
    second.previous.map((l) => [l.type, l.index, l.answer]),
    [
      ['answer', 0, answer(0).answer],
      ['answer', 1, answer(1).answer],
    ],
  );
  second.log.append(answer(2));
  second.log.close();
  const kinds = readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l).type);
  assert.deepEqual(kinds, ['run', 'answer', 'answer', 'run', 'answer'], "each session's run line, then its answers");

  assert.throws(
    () => AnswersLog.open(path, { command: 'c', settings: { ...settings, seed: 8, slm: { folder: '/models/other', variant: 'auto' } }, startedAt: 't2' }),
    /holds the answers of a run with other settings, so they cannot be resumed here:\n {2}seed: 7 in the file, 8 now\n {2}slm\.folder: "\/models\/slm" in the file, "\/models\/other" now\nRun with the same settings to resume it, choose another --out, or pass --fresh/,
  );
  const fresh = AnswersLog.open(path, { command: 'c', settings: { ...settings, seed: 8 }, startedAt: 't2' }, { fresh: true });
  assert.deepEqual(fresh.previous, []);
  fresh.log.close();
  assert.equal(readFileSync(path, 'utf8').trim().split('\n').length, 1);
});

test('the answers file: a line cut short by a crash is dropped, an unreadable line is named, a foreign file is refused', () => {
  const path = join(work, 'crash.answers.jsonl');
  const settings = { seed: 1 };
  const log = AnswersLog.open(path, { command: null, settings, startedAt: 't0' }).log;
  log.append(answer(0));
  log.close();
  appendFileSync(path, 'this line is not JSON\n' + JSON.stringify({ type: 'answer', ...answer(1) }).slice(0, 40));
  const resumed = AnswersLog.open(path, { command: null, settings, startedAt: 't1' });
  assert.deepEqual(
    resumed.previous.map((l) => l.index),
    [0],
  );
  assert.deepEqual(resumed.unreadable, ['line 3: not JSON', 'line 4: cut short by a run that stopped while writing it (dropped)']);
  resumed.log.append(answer(1));
  resumed.log.close();
  const again = AnswersLog.open(path, { command: null, settings, startedAt: 't2' });
  assert.deepEqual(
    again.previous.map((l) => l.index),
    [0, 1],
    'the line after the cut is whole',
  );
  again.log.close();

  const foreign = join(work, 'foreign.answers.jsonl');
  writeFileSync(foreign, 'spec,index\n');
  assert.throws(
    () => AnswersLog.open(foreign, { command: null, settings, startedAt: 't' }),
    /is not an answers file of relay eval\. Choose another --out, or pass --fresh/,
  );
  writeFileSync(foreign, JSON.stringify({ type: 'run', format: 99, settings }) + '\n');
  assert.throws(() => AnswersLog.open(foreign, { command: null, settings, startedAt: 't' }), /answers format 99; this relay writes format 1/);
});

test('the answers file: a line cut short after a line that is not UTF-8 is cut at its bytes, not at its characters', () => {
  const path = join(work, 'latin1.answers.jsonl');
  const settings = { seed: 1 };
  const log = AnswersLog.open(path, { command: null, settings, startedAt: 't0' }).log;
  log.close();
  // An answer edited in Latin-1 (é as one byte, 0xe9), then a line cut short by a crash.
  const edited = JSON.stringify({ type: 'answer', ...answer(0), answer: 'caf\u00e9 \\boxed{72}' });
  appendFileSync(path, Buffer.from(edited + '\n', 'latin1'));
  appendFileSync(path, JSON.stringify({ type: 'answer', ...answer(1) }).slice(0, 40));
  AnswersLog.open(path, { command: null, settings, startedAt: 't1' }).log.close();
  const again = AnswersLog.open(path, { command: null, settings, startedAt: 't2' });
  again.log.close();
  assert.deepEqual(again.unreadable, [], "the cut line is gone whole: the next run's line is not glued to what was left of it");
  assert.deepEqual(
    readFileSync(path, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l).type),
    ['run', 'answer', 'run', 'run'],
  );
});

test('the answers file: an empty file or a cut first line (a crash or power loss at its first write) starts over', () => {
  const settings = { seed: 1 };
  for (const [name, text] of [
    ['empty', ''],
    ['cut', '{"type":"run","format":1,"comm'],
    ['zeros', '\0\0\0\0'],
  ]) {
    const path = join(work, `${name}.answers.jsonl`);
    writeFileSync(path, text);
    const opened = AnswersLog.open(path, { command: null, settings, startedAt: 't0' });
    opened.log.close();
    assert.equal(opened.resumed, false, name);
    assert.equal(JSON.parse(readFileSync(path, 'utf8')).type, 'run', name);
  }
  // Anything else without a whole line is not ours to replace.
  const other = join(work, 'notes.answers.jsonl');
  writeFileSync(other, 'my notes');
  assert.throws(() => AnswersLog.open(other, { command: null, settings, startedAt: 't' }), /is not an answers file of relay eval/);
  assert.equal(readFileSync(other, 'utf8'), 'my notes');
});

test('the answers file: a line edited by hand or from another version is named and its answer run again, never a crash later', () => {
  const path = join(work, 'edited.answers.jsonl');
  const settings = { seed: 1 };
  AnswersLog.open(path, { command: null, settings, startedAt: 't0' }).log.close();
  const edits: Record<string, unknown>[] = [
    { ...answer(0), answer: undefined },
    { ...answer(1), questionHash: undefined },
    { ...answer(2), stats: { ...stats(), llmUsage: undefined } },
    { ...answer(3), stats: { ...stats(), costUsd: '0.1' } },
    { ...answer(4), index: -1 },
  ];
  appendFileSync(
    path,
    edits.map((e) => JSON.stringify({ type: 'answer', ...e }) + '\n').join('') + 'null\n' + JSON.stringify({ type: 'answer', ...answer(5) }) + '\n',
  );
  const opened = AnswersLog.open(path, { command: null, settings, startedAt: 't1' });
  opened.log.close();
  assert.deepEqual(opened.unreadable, [
    'line 2: answer is missing',
    'line 3: questionHash is missing',
    'line 4: stats.llmUsage is missing',
    'line 5: stats.costUsd is not a number or null',
    'line 6: index is not a whole number',
    'line 7: not a JSON object',
  ]);
  assert.deepEqual(
    opened.previous.map((l) => l.index),
    [5],
  );
  assert.equal(answerLineProblem({ type: 'answer', ...answer(0) }), undefined);
  assert.equal(answerLineProblem({ type: 'result' }), 'type "result", not "answer" or "run"');
});

test('the answers file: one run writes it at a time; a lock left by a killed run is taken over', () => {
  const path = join(work, 'locked.answers.jsonl');
  const settings = { seed: 1 };
  const first = AnswersLog.open(path, { command: null, settings, startedAt: 't0' });
  first.log.append(answer(0));
  const refused = new RegExp(
    `another relay eval \\(process ${process.pid}\\) is writing .*locked\\.answers\\.jsonl; two runs on one --out would answer the same questions twice\\. Wait for it to end, or choose another --out\\. If no relay eval is running, delete .*locked\\.answers\\.jsonl\\.lock`,
  );
  assert.throws(() => AnswersLog.open(path, { command: null, settings, startedAt: 't1' }), refused);
  assert.throws(() => AnswersLog.open(path, { command: null, settings, startedAt: 't1' }, { fresh: true }), refused, '--fresh may not cut a running eval off');
  first.log.append(answer(1));
  first.log.close();
  assert.equal(existsSync(`${path}.lock`), false, 'released on close');
  const after = AnswersLog.open(path, { command: null, settings, startedAt: 't2' });
  after.log.close();
  assert.deepEqual(
    after.previous.map((l) => l.index),
    [0, 1],
  );
  // Refused for other settings: the lock is released all the same.
  assert.throws(() => AnswersLog.open(path, { command: null, settings: { seed: 2 }, startedAt: 't3' }), /other settings/);
  assert.equal(existsSync(`${path}.lock`), false);

  // A run killed with SIGKILL (its process gone), or a lock left empty by a power loss (some time ago): taken over.
  const gone = spawnSync(process.execPath, ['-e', '']).pid as number;
  for (const stale of [JSON.stringify({ pid: gone, host: hostname() }), '']) {
    writeFileSync(`${path}.lock`, stale);
    const longAgo = new Date(Date.now() - 60_000);
    utimesSync(`${path}.lock`, longAgo, longAgo);
    const taken = AnswersLog.open(path, { command: null, settings, startedAt: 't4' });
    assert.equal(taken.resumed, true);
    taken.log.close();
  }
  // A lock of another machine (a shared folder) cannot be checked: refused, with the way out.
  writeFileSync(`${path}.lock`, JSON.stringify({ pid: gone, host: 'other-machine' }));
  assert.throws(() => AnswersLog.open(path, { command: null, settings, startedAt: 't5' }), /another relay eval \(process \d+ on other-machine\) is writing/);
  rmSync(`${path}.lock`);
});

test('settings differences name the leaf that differs', () => {
  assert.deepEqual(settingsDifferences({ a: 1, b: { c: 'x', d: [1] } }, { a: 1, b: { c: 'y', d: [1] }, e: true }), [
    'b.c: "x" in the file, "y" now',
    'e: unset in the file, true now',
  ]);
  assert.deepEqual(settingsDifferences({ seed: undefined }, {}), []);
});

test('progress: the bar, the rate of this session, the ETA, resumed answers and a line per finished row', () => {
  let text = '';
  let now = 0;
  const progress = new EvalProgress({ write: (t) => void (text += t), isTTY: false }, 40, 20, () => now);
  progress.resumed('slm-only', 10, 8);
  progress.starting('slm-only');
  for (let i = 0; i < 10; i++) {
    now += 6000; // one answer every 6 s: 10 answers/min
    progress.answered('slm-only', i % 2 === 0);
  }
  assert.match(text, /\[#{8}\.{22}\] 11\/40 slm-only 9\/11 correct · 10 answers\/min · ETA 2m 54s\n/);
  assert.match(text, /slm-only: 20 answers \(10 from the answers file\), 13 correct \(65\.0%\), 1m 00s, 10\.0 answers\/min\n/);
  progress.starting('command');
  for (let i = 0; i < 20; i++) {
    now += 3000;
    progress.answered('command', true);
  }
  assert.match(text, /\[#{30}\] 40\/40 command 20\/20 correct · 15 answers\/min · 2m 00s in all\n/);
  assert.match(text, /command: 20 answers, 20 correct \(100\.0%\), 1m 00s, 20\.0 answers\/min\n$/);
  // On a terminal: redrawn in place, the row's line on a line of its own.
  let tty = '';
  const live = new EvalProgress({ write: (t) => void (tty += t), isTTY: true }, 2, 2, () => 1000);
  live.starting('command');
  live.answered('command', true);
  assert.match(tty, /^\r\[#{15}\.{15}\] 1\/2 command 1\/1 correct\u001b\[K$/, 'no rate before time passed');
  // Failed answers (an error) are left out of the row's accuracy, as in the table.
  let failing = '';
  const failed = new EvalProgress({ write: (t) => void (failing += t), isTTY: false }, 4, 4, () => 0);
  failed.answered('llm-only', true);
  failed.answered('llm-only', false, true);
  failed.answered('llm-only', false, true);
  failed.answered('llm-only', false);
  assert.match(failing, /4\/4 llm-only 1\/4 correct \(2 failed\)\n/);
  assert.match(failing, /llm-only: 4 answers, 2 failed, 1 correct \(50\.0%\)\n/);
  let allFailed = '';
  const dead = new EvalProgress({ write: (t) => void (allFailed += t), isTTY: false }, 1, 1, () => 0);
  dead.answered('llm-only', false, true);
  assert.match(allFailed, /llm-only: 1 answers, 1 failed, 0 correct \(n\/a\)\n/);
  assert.equal(formatDuration(3 * 3600 + 7 * 60 + 5), '3h 07m');
  assert.equal(formatDuration(59.4), '59s');
});
