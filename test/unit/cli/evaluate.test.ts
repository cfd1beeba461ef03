/**
 * `relay eval` on the trained demo models (real ONNX sessions, the onnx-local LLM) on a
 * few held-out questions, with the table's arithmetic recomputed from the per-answer rows;
 * the matched-router arithmetic by hand; the --modes grammar.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../../../src/cli/main';
import { isRelayRow, parseModeSpecs, rowKindOf } from '../../../src/cli/evalModes';
import { policyOf, RELAY_MODES } from '../../../src/core/relay/policies/registry';
import { compareWithMatchedRouters, formatTable, matchedRouterProbability, summarise, type EvalRow, type ModeSummary } from '../../../src/cli/evalTable';
import type { AnswerStats } from '../../../src/core/relay/events';
import { demoPrice, findDemoModels } from '../../../src/cli/demoModels';
import { noSettingsFile } from './runCli';
import { priceWords } from '../../../src/cli/commands/evaluate';

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'relay-eval-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const saved = { ...process.env };
  Object.assign(process.env, { RELAY_HOME: work, RELAY_CONFIG: noSettingsFile(work) });
  try {
    const code = await main(
      args,
      { stdout: { write: (t) => void (stdout += t), isTTY: false }, stderr: { write: (t) => void (stderr += t), isTTY: false } },
      new AbortController().signal,
    );
    return { code, stdout, stderr };
  } finally {
    process.env = saved;
  }
}

const close = (a: number | null, b: number | null, what: string): void => {
  assert.ok(a !== null && b !== null && Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
};

test('relay eval --demo --modes all: every row through the engine, the table recomputed from the rows', async () => {
  const out = join(work, 'all');
  const limit = 12;
  const { code, stdout, stderr } = await run([
    'eval',
    '--demo',
    '--modes',
    'all',
    '--limit',
    String(limit),
    '--temperature',
    '0.7',
    '--seed',
    '3',
    '--span-tokens',
    '1',
    '--max-llm-share',
    '1',
    '--out',
    out,
  ]);
  assert.equal(code, 0, stderr);
  assert.match(stderr, /\[#+\] 72\/72 matched-router/, 'one progress bar over 6 rows x 12 questions');
  const json = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as {
    summaries: ModeSummary[];
    rows: EvalRow[];
    settings: { seed: number; temperature: number };
  };
  assert.deepEqual(
    json.summaries.map((s) => s.spec),
    ['slm-only', 'llm-only', 'command', 'confidence@0.7', 'confidence@0.9', 'matched-router'],
  );
  assert.equal(json.settings.seed, 3);
  const price = demoPrice();
  for (const s of json.summaries) {
    const rows = json.rows.filter((r) => r.spec === s.spec);
    assert.equal(rows.length, limit);
    const correct = rows.filter((r) => r.correct).length;
    assert.equal(s.accuracy, correct / limit, `${s.spec} accuracy`);
    for (const r of rows) assert.equal(r.correct, r.answer.trim().endsWith(`A: ${r.reference}`), `${s.spec} #${r.index}: ${r.answer}`);
    const slm = rows.reduce((n, r) => n + r.stats.slmTokens, 0);
    const llm = rows.reduce((n, r) => n + r.stats.llmTokens, 0);
    close(s.llmTokenShare, llm / (slm + llm), `${s.spec} share`);
    assert.equal(s.callsPerQuestion, rows.reduce((n, r) => n + r.stats.calls, 0) / limit);
    // Cost by hand: every call's input and output at the demo's reference price.
    const cost = rows.reduce((n, r) => n + (r.stats.llmUsage.inputTokens * price.inputPerMTok + r.stats.llmUsage.outputTokens * price.outputPerMTok) / 1e6, 0);
    close(s.costUsd, cost, `${s.spec} cost`);
    if (correct > 0) close(s.costPerCorrectUsd, cost / correct, `${s.spec} cost per correct`);
    for (const r of rows) assert.equal(r.answer.includes('<call>'), false, 'commands never shown');
  }
  const [slmRow, llmRow, command, , , router] = json.summaries;
  assert.equal(slmRow.llmTokenShare, 0);
  assert.equal(slmRow.costUsd, 0);
  assert.equal(llmRow.llmTokenShare, 1);
  assert.ok(command.callsPerQuestion > 0, 'the trained SLM calls the LLM');
  assert.ok(command.llmTokenShare > 0 && command.llmTokenShare < 0.2);
  // The matched router: p from the most accurate relay row, and run for real.
  const relays = json.summaries.filter((s) => s.kind === 'relay');
  // No answer failed here: every row has an accuracy.
  const acc = (s: ModeSummary): number => s.accuracy as number;
  const best = relays.reduce((a, b) => (acc(b) > acc(a) ? b : a));
  const p = acc(llmRow) > acc(slmRow) ? Math.min(1, Math.max(0, (acc(best) - acc(slmRow)) / (acc(llmRow) - acc(slmRow)))) : 1;
  close(router.llmProbability ?? null, p, 'router p');
  assert.ok(router.label.includes(`matched to ${best.spec}`), router.label);
  const routed = json.rows.filter((r) => r.spec === 'matched-router');
  for (const r of routed) assert.ok(r.stats.routedTo === 'llm' ? r.stats.llmTokenShare === 1 : r.stats.llmTokens === 0);
  // Reductions of each relay row against the router matched to its own accuracy.
  for (const s of relays) {
    const q = (acc(s) - acc(slmRow)) / (acc(llmRow) - acc(slmRow));
    if (!(acc(llmRow) > acc(slmRow)) || q <= 0) {
      assert.equal(s.llmTokenReduction, null);
      continue;
    }
    const pq = Math.min(1, q);
    close(s.llmTokenReduction, 1 - s.llmTokens / (pq * llmRow.llmTokens), `${s.spec} token reduction`);
    close(s.costReduction, 1 - (s.costUsd as number) / (pq * (llmRow.costUsd as number)), `${s.spec} cost reduction`);
  }
  // The printed table shows the same figures.
  assert.match(
    stdout,
    /\| protocol\s+\| accuracy \| LLM token share \| calls\/q \| cost\s+\| cost\/correct \| latency\/q \| LLM-token reduction vs matched router \| cost reduction vs matched router \| errors \|/,
  );
  assert.ok(stdout.includes(`| ${command.label} `) && stdout.includes(`${(acc(command) * 100).toFixed(1)}%`));
  assert.match(command.label, /^relay, command mode: .*shipped/, "the shipped SLM's training is named (config.json relay_training)");
  assert.match(stdout, /priced as if it were OpenAI gpt-4o/);
  // The billing model's prediction against the reported usage, per row that made calls (the demo LLM counts with the SLM's tokenizer: exact).
  const billingRow = (s: ModeSummary) => json.rows.filter((r) => r.spec === s.spec && r.stats.billing).reduce((n, r) => n + (r.stats.billing?.calls ?? 0), 0);
  assert.equal(command.billing?.calls, billingRow(command));
  close(command.billing?.predictedUsd ?? null, command.billing?.reportedUsd ?? 0, 'command prediction');
  assert.equal(slmRow.billing, null, 'no calls, no prediction');
  assert.match(
    stdout,
    new RegExp(`Billing model: .*llm-only \\+0\\.00% over ${llmRow.billing?.calls} calls; command \\+0\\.00% over ${command.billing?.calls} calls`),
  );
  const csv = readFileSync(`${out}.csv`, 'utf8').trim().split('\n');
  assert.equal(csv.length, 1 + 6 * limit);
  assert.ok(readFileSync(`${out}.md`, 'utf8').startsWith('Command: `relay eval --demo --modes all --limit 12'));
  // Same seed, same figures: sampling is reproducible.
  const again = await run([
    'eval',
    '--demo',
    '--modes',
    'command',
    '--limit',
    String(limit),
    '--temperature',
    '0.7',
    '--seed',
    '3',
    '--out',
    join(work, 'again'),
  ]);
  assert.equal(again.code, 0);
  const second = JSON.parse(readFileSync(join(work, 'again.json'), 'utf8')) as { rows: EvalRow[] };
  assert.deepEqual(
    second.rows.map((r) => r.answer),
    json.rows.filter((r) => r.spec === 'command').map((r) => r.answer),
  );
});

test('matched router arithmetic by hand', () => {
  const row = (spec: string, kind: ModeSummary['kind'], accuracy: number, llmTokens: number, costUsd: number): ModeSummary => ({
    spec,
    label: spec,
    kind,
    mode: 'command',
    questions: 10,
    correct: accuracy * 10,
    accuracy,
    slmTokens: 0,
    llmTokens,
    llmTokenShare: 0,
    calls: 0,
    callsPerQuestion: 0,
    costUsd,
    costPerCorrectUsd: null,
    llmOnlyCostUsd: null,
    meanLatencyMs: 0,
    errors: 0,
    llmTokenReduction: null,
    costReduction: null,
    matchedRouterP: null,
    billing: null,
  });
  const summaries = [
    row('slm-only', 'baseline-slm', 0.5, 0, 0),
    row('llm-only', 'baseline-llm', 0.9, 1000, 0.01),
    row('good', 'relay', 0.8, 30, 0.002),
    row('worse-than-slm', 'relay', 0.4, 10, 0.001),
    row('better-than-llm', 'relay', 1, 100, 0.005),
  ];
  compareWithMatchedRouters(summaries);
  // p = (0.8 - 0.5) / (0.9 - 0.5) = 0.75: the router spends 750 LLM tokens and $0.0075.
  close(summaries[2].matchedRouterP, 0.75, 'p');
  close(summaries[2].llmTokenReduction, 1 - 30 / 750, 'tokens');
  close(summaries[2].costReduction, 1 - 0.002 / 0.0075, 'cost');
  assert.equal(summaries[3].llmTokenReduction, null, 'no router needed below the SLM');
  assert.equal(summaries[3].costReduction, null);
  close(summaries[4].matchedRouterP, 1, 'p capped at 1');
  close(summaries[4].llmTokenReduction, 1 - 100 / 1000, 'tokens at p = 1');
  assert.equal(summaries[0].llmTokenReduction, null, 'baselines are n/a');
});

test('accuracy leaves failed answers out: 1 right, 1 wrong and 2 failed is 50%, all failed is n/a, and no router is matched to it', () => {
  const stats = (finishReason: AnswerStats['finishReason']): AnswerStats => ({
    mode: 'llm-only',
    slmTokens: 0,
    llmTokens: 4,
    llmTokenShare: 1,
    calls: 1,
    llmUsage: { inputTokens: 10, outputTokens: 4, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
    costUsd: 0.001,
    llmOnlyCostUsd: 0.001,
    savedUsd: 0,
    elapsedMs: 10,
    finishReason,
  });
  const answer = (index: number, correct: boolean, failed = false): EvalRow => ({
    spec: 'llm-only',
    index,
    answer: failed ? '' : correct ? '5' : '6',
    reference: '5',
    predicted: failed ? null : correct ? '5' : '6',
    correct,
    stats: stats(failed ? 'error' : 'eos'),
    ...(failed ? { error: { code: 'network', message: 'Nothing is listening' } } : {}),
  });
  const some = summarise('llm-only', 'LLM alone', 'baseline-llm', 'llm-only', [
    answer(0, true),
    answer(1, false),
    answer(2, false, true),
    answer(3, false, true),
  ]);
  assert.equal(some.errors, 2);
  assert.equal(some.accuracy, 0.5, 'correct / answers that did not fail');
  const none = summarise('llm-only', 'LLM alone', 'baseline-llm', 'llm-only', [answer(0, false, true), answer(1, false, true)]);
  assert.equal(none.accuracy, null, 'every answer failed: no accuracy, not 0%');
  assert.match(formatTable([none]).split('\n')[2], /^\| LLM alone \| n\/a +\|/);
  const slm = { ...none, spec: 'slm-only', kind: 'baseline-slm' as const, accuracy: 0.5 };
  assert.equal(matchedRouterProbability(slm, none, 0.7), null, 'no router matched to an LLM row whose answers all failed');
  assert.equal(matchedRouterProbability(slm, { ...some, accuracy: 0.9 }, null), null);
});

test('--modes: the grammar, "all", and clear errors', () => {
  assert.deepEqual(
    parseModeSpecs('all').map((s) => s.spec),
    ['slm-only', 'llm-only', 'command', 'confidence@0.7', 'confidence@0.9', 'matched-router'],
  );
  assert.deepEqual(parseModeSpecs('confidence@0.8, random-router@0.25'), [
    { spec: 'confidence@0.8', kind: 'confidence', threshold: 0.8 },
    { spec: 'random-router@0.25', kind: 'random-router', llmProbability: 0.25 },
  ]);
  assert.throws(() => parseModeSpecs('fast'), /'fast' is not a mode/);
  assert.throws(() => parseModeSpecs('confidence@2'), /number from 0 to 1/);
  assert.throws(
    () => parseModeSpecs('slm-only@0.5'),
    /slm-only takes no value after @\. Values: confidence@<threshold>, random-router@<p>, command\|money-aware\|auto@<cost ratio>\./,
  );
  assert.deepEqual(
    parseModeSpecs('command@0.5,money-aware@2,auto@0.3').map((s) => [s.kind, s.maxCostRatio]),
    [
      ['command', 0.5],
      ['money-aware', 2],
      ['auto', 0.3],
    ],
  );
  assert.throws(() => parseModeSpecs('money-aware@0'), /cost ratio after @ must be a number from 0.01 to 100/);
  assert.throws(() => parseModeSpecs('command,command'), /lists command twice/);
  assert.throws(() => parseModeSpecs('command,matched-router'), /matched-router needs slm-only, llm-only and at least one relay row/);
});

test('--modes: a row with its own SLM folder, and named row sets', () => {
  // Folders that need not exist here: the check is stubbed (the next test checks it).
  const anyFolder = () => true;
  const specs = parseModeSpecs('slm-only=models/a, llm-only, command=models/b, command, matched-router', {}, anyFolder);
  assert.deepEqual(
    specs.map((s) => [s.spec, s.kind, s.slmFolder]),
    [
      ['slm-only=models/a', 'slm-only', resolve('models/a')],
      ['llm-only', 'llm-only', undefined],
      ['command=models/b', 'command', resolve('models/b')],
      ['command', 'command', undefined],
      ['matched-router', 'matched-router', undefined],
    ],
  );
  assert.deepEqual(parseModeSpecs('confidence@0.9=/m/base', {}, anyFolder)[0], {
    spec: 'confidence@0.9=/m/base',
    kind: 'confidence',
    threshold: 0.9,
    slmFolder: '/m/base',
  });
  assert.throws(() => parseModeSpecs('command=', {}, anyFolder), /a folder must follow '='/);
  assert.throws(() => parseModeSpecs('llm-only=/m/x', {}, anyFolder), /llm-only takes no SLM folder/);
  assert.throws(() => parseModeSpecs('command=/m/x,command=/m/x', {}, anyFolder), /lists command=\/m\/x twice/);
  assert.deepEqual(
    parseModeSpecs('set', { set: 'command=/m/x,command' }, anyFolder).map((s) => s.spec),
    ['command=/m/x', 'command'],
  );
});

test("--modes: a row's =<folder> that does not exist (or is a file) is refused while parsing, before any row runs", () => {
  assert.throws(() => parseModeSpecs('slm-only,command=/nonexistent'), /--modes: 'command=\/nonexistent': the SLM folder \/nonexistent does not exist/);
  const file = join(work, 'not-a-folder.txt');
  writeFileSync(file, 'x');
  assert.throws(() => parseModeSpecs(`command=${file}`), /does not exist \(or is not a folder\)/);
  const folder = findDemoModels().slmFolder;
  assert.equal(parseModeSpecs(`command=${folder}`)[0].slmFolder, folder);
});

test('relay eval --demo --modes paper: one row per training stage, each on its own SLM', async () => {
  const models = findDemoModels();
  const out = join(work, 'paper');
  const limit = 4;
  const common = ['--limit', String(limit), '--temperature', '0.7', '--seed', '5'];
  const { code, stderr } = await run(['eval', '--demo', '--modes', 'paper', ...common, '--out', out]);
  assert.equal(code, 0, stderr);
  const json = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as { summaries: ModeSummary[]; rows: EvalRow[]; slms: string[] };
  const ablation = (name: string) => join(models.ablationsFolder, name);
  assert.deepEqual(
    json.summaries.map((s) => s.mode),
    ['slm-only', 'llm-only', 'command', 'command', 'command', 'command', 'command', 'command', 'command', 'confidence', 'confidence', 'random-router'],
  );
  assert.deepEqual(
    [...json.slms].sort(),
    [
      ablation('slm-base'),
      ablation('slm-warmup'),
      ablation('slm-grpo-simple'),
      ablation('slm-grpo-difficulty'),
      ablation('slm-unsure-grpo-difficulty'),
      models.slmFolder,
    ].sort(),
  );
  // Each row is labelled with how its SLM was trained (config.json relay_training).
  const labels = json.summaries.map((s) => s.label);
  assert.match(labels[0], /^SLM alone \(.+\)$/);
  assert.equal(new Set(labels.slice(2, 9)).size, 7, labels.join(' | '));
  for (const label of labels.slice(2, 9)) assert.match(label, /^relay, command mode.*: .+/);
  // The default relay under the money ceiling, and under a ceiling of the LLM alone, beside the same SLM without it.
  assert.match(labels[6], /^relay, command mode \(auto\), cost <= 0.5x LLM alone: /);
  assert.match(labels[7], /^relay, command mode \(auto\), cost <= 1x LLM alone: /);

  // A row with `=<folder>` runs that SLM: the same answers alone as in the table, other
  // answers than the shipped SLM's command row.
  const grpoSpec = json.summaries[3].spec;
  const answersOf = (rows: EvalRow[], spec: string) => rows.filter((r) => r.spec === spec).map((r) => r.answer);
  const alone = await run(['eval', '--demo', '--modes', `command=${ablation('slm-grpo-simple')}`, ...common, '--out', join(work, 'one')]);
  assert.equal(alone.code, 0, alone.stderr);
  const one = JSON.parse(readFileSync(join(work, 'one.json'), 'utf8')) as { rows: EvalRow[] };
  assert.deepEqual(
    one.rows.map((r) => r.answer),
    answersOf(json.rows, grpoSpec),
  );
  assert.notDeepEqual(answersOf(json.rows, grpoSpec), answersOf(json.rows, 'command'));
  // The matched router runs the slm-only row's SLM (the base SLM): a question routed to the
  // SLM gets the slm-only row's answer, sampled with the same per-question seed.
  const slmOnly = json.rows.filter((r) => r.spec === json.summaries[0].spec);
  const routed = json.rows.filter((r) => r.spec === 'matched-router' && r.stats.routedTo === 'slm');
  for (const r of routed) assert.equal(r.answer, slmOnly[r.index].answer, `question ${r.index}`);

  await assert.rejects(run(['eval', '--modes', 'paper', 'data.jsonl']), /--modes paper runs the demo models .* add --demo/);
});

test("a row's own SLM brings its own relay settings: the LLM context of commands follows that folder's config.json", async () => {
  const models = findDemoModels();
  const paperSpace = join(work, 'slm-paper-space');
  cpSync(models.slmFolder, paperSpace, { recursive: true });
  const config = JSON.parse(readFileSync(join(paperSpace, 'config.json'), 'utf8'));
  assert.equal(config.relay_llm_context, 'commands_removed');
  delete config.relay_llm_context; // the paper's default: each command becomes a space in the LLM's context
  writeFileSync(join(paperSpace, 'config.json'), JSON.stringify(config));
  const out = join(work, 'space');
  const { code, stderr } = await run([
    'eval',
    '--demo',
    '--modes',
    `command=${paperSpace},command`,
    '--limit',
    '20',
    '--temperature',
    '0.7',
    '--seed',
    '5',
    '--out',
    out,
  ]);
  assert.equal(code, 0, stderr);
  const json = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as { rows: EvalRow[] };
  const withSpace = json.rows.filter((r) => r.spec !== 'command');
  const removed = json.rows.filter((r) => r.spec === 'command');
  // Same weights and seeds: both rows write the same text up to their second call, where
  // the first row's LLM reads the earlier command as a space (a trailing one is trimmed).
  const differs = withSpace.some((r, i) => r.stats.calls > 1 && r.stats.llmUsage.inputTokens !== removed[i].stats.llmUsage.inputTokens);
  assert.ok(differs, 'the LLM saw the same context in both rows');
});

/** `main` with a signal of the caller's and a terminal-like stderr (one progress line per answer). */
async function runWith(args: string[], signal: AbortSignal, onProgress: (line: string) => void): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const saved = { ...process.env };
  Object.assign(process.env, { RELAY_HOME: work, RELAY_CONFIG: noSettingsFile(work) });
  try {
    const err = {
      write: (t: string) => {
        stderr += t;
        onProgress(t);
      },
      isTTY: true,
    };
    const code = await main(args, { stdout: { write: (t) => void (stdout += t), isTTY: false }, stderr: err }, signal);
    return { code, stdout, stderr };
  } finally {
    process.env = saved;
  }
}

type EvalJson = { summaries: ModeSummary[]; rows: EvalRow[]; settings: { concurrency: number } };
const readJson = (prefix: string): EvalJson => JSON.parse(readFileSync(`${prefix}.json`, 'utf8')) as EvalJson;
const answerLines = (prefix: string) =>
  readFileSync(`${prefix}.answers.jsonl`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { type: string; spec: string; index: number; answer: string; stats: EvalRow['stats'] });
/**
 * What an answer is, without the time it took, the estimate's note (it counts the calls made
 * before it) and the prompt tokens a kept KV cache held (which answers ran before it decides).
 */
const essence = (r: EvalRow) => {
  const { reusedPromptTokens: _reused, ...stats } = r.stats;
  return { spec: r.spec, index: r.index, answer: r.answer, correct: r.correct, stats: { ...stats, elapsedMs: 0, llmOnlyEstimateNote: '' } };
};

test('relay eval --concurrency 16: the answers in flight listening to the one Stop signal print no listener-leak warning', async () => {
  const warnings: string[] = [];
  const onWarning = (warning: Error): void => void warnings.push(warning.name);
  process.on('warning', onWarning);
  try {
    const result = await run(['eval', '--demo', '--modes', 'slm-only', '--limit', '24', '--concurrency', '16', '--out', join(work, 'c16')]);
    assert.equal(result.code, 0, result.stderr);
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(
      warnings.filter((name) => name === 'MaxListenersExceededWarning'),
      [],
    );
  } finally {
    process.off('warning', onWarning);
  }
});

test('relay eval --concurrency: the same answers and table with 4 in flight as with 1', async () => {
  const common = [
    'eval',
    '--demo',
    '--modes',
    'slm-only,llm-only,command,confidence@0.7,matched-router',
    '--limit',
    '8',
    '--temperature',
    '0.7',
    '--seed',
    '3',
  ];
  const one = await run([...common, '--out', join(work, 'c1')]);
  assert.equal(one.code, 0, one.stderr);
  const four = await run([...common, '--concurrency', '4', '--out', join(work, 'c4')]);
  assert.equal(four.code, 0, four.stderr);
  const [a, b] = [readJson(join(work, 'c1')), readJson(join(work, 'c4'))];
  assert.equal(b.settings.concurrency, 4);
  assert.deepEqual(b.rows.map(essence), a.rows.map(essence));
  const figures = (s: ModeSummary) => ({ ...s, meanLatencyMs: 0 });
  assert.deepEqual(b.summaries.map(figures), a.summaries.map(figures));
  assert.match(four.stdout, /Wall time [\d.]+ s, 4 answers in flight\./);
  assert.match(one.stderr, /\[#{30}\] 40\/40 matched-router \d+\/8 correct · [\d.]+ answers\/min · \S+ in all\n/, 'rate and total time on the last bar');
  assert.match(one.stderr, /^command: 8 answers, \d+ correct \([\d.]+%\)/m, 'a line per finished row');
  // One line per answer in the answers file, written as each finished.
  const lines = answerLines(join(work, 'c4'));
  assert.equal(lines[0].type, 'run');
  assert.equal(lines.filter((l) => l.type === 'answer').length, 40);
});

test('relay eval, interrupted: every finished answer is kept, and the same command resumes without redoing them', async () => {
  const common = ['eval', '--demo', '--modes', 'slm-only,command,confidence@0.9', '--limit', '10', '--temperature', '0.7', '--seed', '4'];
  const reference = await run([...common, '--out', join(work, 'whole')]);
  assert.equal(reference.code, 0, reference.stderr);
  const out = join(work, 'cut');
  // Ctrl-C (the abort signal) once 13 answers are done, 3 in flight.
  const controller = new AbortController();
  const cut = await runWith([...common, '--concurrency', '3', '--out', out], controller.signal, (t) => {
    const done = /\] (\d+)\/30 /.exec(t);
    if (done && Number(done[1]) >= 13) controller.abort();
  });
  assert.equal(cut.code, 130);
  assert.equal(existsSync(`${out}.answers.jsonl.lock`), false, 'the next run may take the file');
  const kept = answerLines(out).filter((l) => l.type === 'answer');
  assert.ok(kept.length >= 13 && kept.length < 30, `${kept.length} answers kept`);
  assert.ok(
    kept.every((l) => l.stats.finishReason !== 'cancelled'),
    'an answer stopped halfway is not kept',
  );
  assert.match(cut.stdout, /Not complete: .*Run the same command again to finish; finished answers are kept\./);
  // The table of what finished is printed and written.
  assert.equal(readJson(out).rows.length, kept.length);

  const resumed = await run([...common, '--out', out]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, new RegExp(`Answers: .*cut\\.answers\\.jsonl \\(${kept.length} from earlier runs, ${30 - kept.length} new\\)\\.`));
  assert.doesNotMatch(resumed.stdout, /Not complete/);
  const lines = answerLines(out).filter((l) => l.type === 'answer');
  assert.equal(lines.length, 30, 'no answer was run twice');
  assert.equal(new Set(lines.map((l) => `${l.spec} ${l.index}`)).size, 30);
  // The same answers and table as the run that was never interrupted.
  assert.deepEqual(readJson(out).rows.map(essence), readJson(join(work, 'whole')).rows.map(essence));
  const table = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('|'))
      .map((l) => l.replace(/\| [\d.]+ m?s +\|/, '|'));
  assert.deepEqual(table(resumed.stdout), table(reference.stdout));

  // Nothing left to do: no model is opened, the table comes from the file alone.
  const again = await run([...common, '--out', out]);
  assert.match(again.stdout, /\(30 from earlier runs, 0 new\)/);
  assert.equal(answerLines(out).filter((l) => l.type === 'answer').length, 30);
  // Other settings are refused; --fresh starts over.
  await assert.rejects(
    run([...common.slice(0, -1), '5', '--out', out]),
    /holds the answers of a run with other settings, so they cannot be resumed here:\n {2}seed: 4 in the file, 5 now/,
  );
  const fresh = await run([...common.slice(0, -1), '5', '--limit', '2', '--fresh', '--out', out]);
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.equal(answerLines(out).filter((l) => l.type === 'answer').length, 6);
});

test('relay eval resumes a file killed mid-write and edited by hand: the bad lines named, their answers run again, the same table', async () => {
  const common = ['eval', '--demo', '--modes', 'slm-only,command', '--limit', '3', '--temperature', '0.7', '--seed', '4'];
  const out = join(work, 'edited');
  const whole = await run([...common, '--out', out]);
  assert.equal(whole.code, 0, whole.stderr);
  const file = `${out}.answers.jsonl`;
  const lines = readFileSync(file, 'utf8').trim().split('\n');
  // An older or hand-edited answer without its token counts, and the last answer cut halfway by SIGKILL.
  const edited = JSON.parse(lines[1]);
  delete edited.stats.llmUsage;
  const last = lines.length - 1;
  writeFileSync(file, [lines[0], JSON.stringify(edited), ...lines.slice(2, last)].join('\n') + '\n' + lines[last].slice(0, 50));
  const resumed = await run([...common, '--out', out]);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(
    resumed.stderr,
    /relay: 2 lines of \S*edited\.answers\.jsonl cannot be reused \(line 2: stats\.llmUsage is missing; line 7: cut short by a run that stopped while writing it \(dropped\)\); their answers are run again\./,
  );
  assert.match(resumed.stdout, /\(4 from earlier runs, 2 new\)/);
  const table = (text: string) =>
    text
      .split('\n')
      .filter((l) => l.startsWith('|'))
      .map((l) => l.replace(/\| [\d.]+ m?s +\|/, '|'));
  assert.deepEqual(table(resumed.stdout), table(whole.stdout));
});

test('relay eval on GSM8K- and MATH500-style files: the same questions give the same answers, --offset keeps each question its seed', async () => {
  const models = findDemoModels();
  const plain = readFileSync(models.evalData, 'utf8')
    .trim()
    .split('\n')
    .slice(0, 6)
    .map((l) => JSON.parse(l) as { question: string; answer: string });
  const data = join(work, 'styles.jsonl');
  writeFileSync(
    data,
    plain
      .map((q, i) =>
        JSON.stringify(
          i % 2 === 0
            ? { question: q.question, answer: `Multiply first, then add.\n#### ${Number(q.answer).toLocaleString('en-US')}` }
            : { problem: q.question, solution: `Multiply first, then add: $\\boxed{${q.answer}}$.`, unique_id: `demo/${i}.json`, level: 1 },
        ),
      )
      .join('\n') + '\n',
  );
  const common = ['--demo', '--modes', 'command', '--temperature', '0.7', '--seed', '9'];
  const whole = await run(['eval', ...common, '--limit', '6', '--out', join(work, 'demo6')]);
  assert.equal(whole.code, 0, whole.stderr);
  const styled = await run(['eval', data, ...common, '--offset', '2', '--limit', '3', '--out', join(work, 'styled')]);
  assert.equal(styled.code, 0, styled.stderr);
  assert.match(styled.stdout, /questions 3-5 of .*styles\.jsonl/);
  const a = readJson(join(work, 'demo6')).rows.slice(2, 5);
  const b = readJson(join(work, 'styled')).rows;
  assert.deepEqual(
    b.map((r) => [r.index, r.answer, r.correct, r.reference]),
    a.map((r) => [r.index, r.answer, r.correct, r.reference]),
  );
  assert.deepEqual(
    b.map((r) => r.id),
    ['line 3', 'demo/3.json', 'line 5'],
  );
  const csv = readFileSync(join(work, 'styled.csv'), 'utf8').trim().split('\n');
  assert.ok(csv[0].endsWith(',finish_reason,question_id') && csv[2].endsWith(',demo/3.json'), csv.join('\n'));
  await assert.rejects(run(['eval', data, ...common, '--concurrency', '0']), /--concurrency must be a whole number of at least 1 \(got 0\)/);
  await assert.rejects(run(['eval', data, ...common, '--offset', '-1']), /--offset must be a whole number \(got -1\)/);
});

test('every policy in the registry is an eval row as its entry says: its kind, its @value and its label', () => {
  const confidence = { spanTokens: 4, maxLlmShare: 1 };
  for (const mode of RELAY_MODES) {
    const entry = policyOf(mode);
    const [spec] = parseModeSpecs(mode);
    assert.equal(rowKindOf(spec.kind), entry.evalRow, mode);
    assert.equal(isRelayRow(spec), entry.evalRow === 'relay', mode);
    if (entry.evalValue === undefined) assert.throws(() => parseModeSpecs(`${mode}@0.5`), new RegExp(`${mode} takes no value`));
    else {
      const [valued] = parseModeSpecs(`${mode}@0.5`);
      const field = { 'cost-ratio': 'maxCostRatio', threshold: 'threshold', probability: 'llmProbability' }[entry.evalValue] as keyof typeof valued;
      assert.equal(valued[field], 0.5, mode);
    }
    const label = entry.evalLabel({
      costCeiling: ', cost <= 0.5x LLM alone',
      ownSlm: true,
      training: 'trained: X',
      threshold: 0.7,
      confidence,
      llmProbability: 0.25,
    });
    assert.ok(label.length > 0 && !label.includes('undefined'), `${mode}: ${label}`);
  }
  assert.equal(rowKindOf('auto'), 'relay');
  assert.equal(rowKindOf('matched-router'), 'router');
});

test('relay eval --out may name a folder that does not exist yet: it is made', async () => {
  const out = join(work, 'new', 'nested', 'run');
  const { code, stderr } = await run(['eval', '--demo', '--modes', 'slm-only', '--limit', '2', '--out', out]);
  assert.equal(code, 0, stderr);
  for (const ext of ['.csv', '.json', '.md', '.answers.jsonl']) assert.ok(readFileSync(`${out}${ext}`, 'utf8').length > 0, ext);
});

test("the eval's cost note quotes each long-context tier a call is billed at, not the base price alone", () => {
  const base = { inputPerMTok: 1.25, outputPerMTok: 10 };
  assert.equal(priceWords(base), '$1.25/M in, $10/M out');
  const tiered = { ...base, tiers: [{ aboveInputTokens: 200_000, inputPerMTok: 2.5, outputPerMTok: 15 }] };
  assert.equal(priceWords(tiered), '$1.25/M in, $10/M out; above 200,000 input tokens, the whole call at $2.5/M in, $15/M out');
});
