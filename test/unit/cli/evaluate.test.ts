/**
 * `relay eval` on the trained demo models (real ONNX sessions, the onnx-local LLM) on a
 * few held-out questions, with the table's arithmetic recomputed from the per-answer rows;
 * the matched-router arithmetic by hand; the --modes grammar.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { main } from '../../../src/cli/main';
import { parseModeSpecs } from '../../../src/cli/evalModes';
import { compareWithMatchedRouters, type EvalRow, type ModeSummary } from '../../../src/cli/evalTable';
import { demoPrice, findDemoModels } from '../../../src/cli/demoModels';

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'relay-eval-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

async function run(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const saved = { ...process.env };
  Object.assign(process.env, { RELAY_HOME: work, RELAY_CONFIG: join(work, 'none.json') });
  try {
    const code = await main(args, { stdout: { write: (t) => void (stdout += t), isTTY: false }, stderr: { write: (t) => void (stderr += t), isTTY: false } }, new AbortController().signal);
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
  const { code, stdout, stderr } = await run(['eval', '--demo', '--modes', 'all', '--limit', String(limit), '--temperature', '0.7', '--seed', '3', '--span-tokens', '1', '--max-llm-share', '1', '--out', out]);
  assert.equal(code, 0, stderr);
  assert.match(stderr, /\[#+\] 72\/72 matched-router/, 'one progress bar over 6 rows x 12 questions');
  const json = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as { summaries: ModeSummary[]; rows: EvalRow[]; settings: { seed: number; temperature: number } };
  assert.deepEqual(json.summaries.map((s) => s.spec), ['slm-only', 'llm-only', 'command', 'confidence@0.7', 'confidence@0.9', 'matched-router']);
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
  const best = relays.reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
  const p = llmRow.accuracy > slmRow.accuracy ? Math.min(1, Math.max(0, (best.accuracy - slmRow.accuracy) / (llmRow.accuracy - slmRow.accuracy))) : 1;
  close(router.llmProbability ?? null, p, 'router p');
  assert.ok(router.label.includes(`matched to ${best.spec}`), router.label);
  const routed = json.rows.filter((r) => r.spec === 'matched-router');
  for (const r of routed) assert.ok(r.stats.routedTo === 'llm' ? r.stats.llmTokenShare === 1 : r.stats.llmTokens === 0);
  // Reductions of each relay row against the router matched to its own accuracy.
  for (const s of relays) {
    const q = (s.accuracy - slmRow.accuracy) / (llmRow.accuracy - slmRow.accuracy);
    if (!(llmRow.accuracy > slmRow.accuracy) || q <= 0) {
      assert.equal(s.llmTokenReduction, null);
      continue;
    }
    const pq = Math.min(1, q);
    close(s.llmTokenReduction, 1 - s.llmTokens / (pq * llmRow.llmTokens), `${s.spec} token reduction`);
    close(s.costReduction, 1 - (s.costUsd as number) / (pq * (llmRow.costUsd as number)), `${s.spec} cost reduction`);
  }
  // The printed table shows the same figures.
  assert.match(stdout, /\| protocol\s+\| accuracy \| LLM token share \| calls\/q \| cost\s+\| cost\/correct \| latency\/q \| LLM-token reduction vs matched router \| cost reduction vs matched router \| errors \|/);
  assert.ok(stdout.includes(`| ${command.label} `) && stdout.includes(`${(command.accuracy * 100).toFixed(1)}%`));
  assert.match(command.label, /^relay, command mode: .*shipped/, "the shipped SLM's training is named (config.json relay_training)");
  assert.match(stdout, /priced as if it were OpenAI gpt-4o/);
  const csv = readFileSync(`${out}.csv`, 'utf8').trim().split('\n');
  assert.equal(csv.length, 1 + 6 * limit);
  assert.ok(readFileSync(`${out}.md`, 'utf8').startsWith('Command: `relay eval --demo --modes all --limit 12'));
  // Same seed, same figures: sampling is reproducible.
  const again = await run(['eval', '--demo', '--modes', 'command', '--limit', String(limit), '--temperature', '0.7', '--seed', '3', '--out', join(work, 'again')]);
  assert.equal(again.code, 0);
  const second = JSON.parse(readFileSync(join(work, 'again.json'), 'utf8')) as { rows: EvalRow[] };
  assert.deepEqual(second.rows.map((r) => r.answer), json.rows.filter((r) => r.spec === 'command').map((r) => r.answer));
});

test('matched router arithmetic by hand', () => {
  const row = (spec: string, kind: ModeSummary['kind'], accuracy: number, llmTokens: number, costUsd: number): ModeSummary =>
    ({ spec, label: spec, kind, mode: 'command', questions: 10, correct: accuracy * 10, accuracy, slmTokens: 0, llmTokens, llmTokenShare: 0, calls: 0, callsPerQuestion: 0, costUsd, costPerCorrectUsd: null, llmOnlyCostUsd: null, meanLatencyMs: 0, errors: 0, llmTokenReduction: null, costReduction: null, matchedRouterP: null });
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

test('--modes: the grammar, "all", and clear errors', () => {
  assert.deepEqual(parseModeSpecs('all').map((s) => s.spec), ['slm-only', 'llm-only', 'command', 'confidence@0.7', 'confidence@0.9', 'matched-router']);
  assert.deepEqual(parseModeSpecs('confidence@0.8, random-router@0.25'), [
    { spec: 'confidence@0.8', kind: 'confidence', threshold: 0.8 },
    { spec: 'random-router@0.25', kind: 'random-router', llmProbability: 0.25 },
  ]);
  assert.throws(() => parseModeSpecs('fast'), /'fast' is not a mode/);
  assert.throws(() => parseModeSpecs('confidence@2'), /number from 0 to 1/);
  assert.throws(() => parseModeSpecs('slm-only@0.5'), /only confidence@<threshold>, random-router@<p> and command\|auto\|money-aware@<cost ratio> take a value/);
  assert.deepEqual(parseModeSpecs('command@0.5,money-aware@2,auto@0.3').map((s) => [s.kind, s.maxCostRatio]), [['command', 0.5], ['money-aware', 2], ['auto', 0.3]]);
  assert.throws(() => parseModeSpecs('money-aware@0'), /cost ratio after @ must be a number from 0.01 to 100/);
  assert.throws(() => parseModeSpecs('command,command'), /lists command twice/);
  assert.throws(() => parseModeSpecs('command,matched-router'), /matched-router needs slm-only, llm-only and at least one relay row/);
});

test('--modes: a row with its own SLM folder, and named row sets', () => {
  const specs = parseModeSpecs('slm-only=models/a, llm-only, command=models/b, command, matched-router');
  assert.deepEqual(specs.map((s) => [s.spec, s.kind, s.slmFolder]), [
    ['slm-only=models/a', 'slm-only', resolve('models/a')],
    ['llm-only', 'llm-only', undefined],
    ['command=models/b', 'command', resolve('models/b')],
    ['command', 'command', undefined],
    ['matched-router', 'matched-router', undefined],
  ]);
  assert.deepEqual(parseModeSpecs('confidence@0.9=/m/base')[0], { spec: 'confidence@0.9=/m/base', kind: 'confidence', threshold: 0.9, slmFolder: '/m/base' });
  assert.throws(() => parseModeSpecs('command='), /a folder must follow '='/);
  assert.throws(() => parseModeSpecs('llm-only=/m/x'), /llm-only takes no SLM folder/);
  assert.throws(() => parseModeSpecs('command=/m/x,command=/m/x'), /lists command=\/m\/x twice/);
  assert.deepEqual(parseModeSpecs('set', { set: 'command=/m/x,command' }).map((s) => s.spec), ['command=/m/x', 'command']);
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
    ['slm-only', 'llm-only', 'command', 'command', 'command', 'command', 'command', 'command', 'confidence', 'confidence', 'random-router'],
  );
  assert.deepEqual(
    [...json.slms].sort(),
    [ablation('slm-base'), ablation('slm-warmup'), ablation('slm-grpo-simple'), ablation('slm-grpo-difficulty'), ablation('slm-unsure-grpo-difficulty'), models.slmFolder].sort(),
  );
  // Each row is labelled with how its SLM was trained (config.json relay_training).
  const labels = json.summaries.map((s) => s.label);
  assert.match(labels[0], /^SLM alone \(.+\)$/);
  assert.equal(new Set(labels.slice(2, 8)).size, 6, labels.join(' | '));
  for (const label of labels.slice(2, 8)) assert.match(label, /^relay, command mode.*: .+/);
  // The default relay under the money ceiling, beside the same SLM without it.
  assert.match(labels[6], /^relay, command mode \(auto\), cost <= 0.5x LLM alone: /);

  // A row with `=<folder>` runs that SLM: the same answers alone as in the table, other
  // answers than the shipped SLM's command row.
  const grpoSpec = json.summaries[3].spec;
  const answersOf = (rows: EvalRow[], spec: string) => rows.filter((r) => r.spec === spec).map((r) => r.answer);
  const alone = await run(['eval', '--demo', '--modes', `command=${ablation('slm-grpo-simple')}`, ...common, '--out', join(work, 'one')]);
  assert.equal(alone.code, 0, alone.stderr);
  const one = JSON.parse(readFileSync(join(work, 'one.json'), 'utf8')) as { rows: EvalRow[] };
  assert.deepEqual(one.rows.map((r) => r.answer), answersOf(json.rows, grpoSpec));
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
  const { code, stderr } = await run(['eval', '--demo', '--modes', `command=${paperSpace},command`, '--limit', '20', '--temperature', '0.7', '--seed', '5', '--out', out]);
  assert.equal(code, 0, stderr);
  const json = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as { rows: EvalRow[] };
  const withSpace = json.rows.filter((r) => r.spec !== 'command');
  const removed = json.rows.filter((r) => r.spec === 'command');
  // Same weights and seeds: both rows write the same text up to their second call, where
  // the first row's LLM reads the earlier command as a space (a trailing one is trimmed).
  const differs = withSpace.some((r, i) => r.stats.calls > 1 && r.stats.llmUsage.inputTokens !== removed[i].stats.llmUsage.inputTokens);
  assert.ok(differs, 'the LLM saw the same context in both rows');
});
