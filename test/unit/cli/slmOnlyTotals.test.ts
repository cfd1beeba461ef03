/**
 * `relay solve --mode slm-only` keeps its answer in the running totals, under its small model,
 * as the extension keeps one (relay.localOnly, relay.mode slm-only): `relay totals` and "Relay:
 * Show Savings" count the same answers, and say them as the small model's alone ($0), never
 * as answers of an unknown price.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { emptyTotals } from '../../../src/core/relay/totalsStore';
import { scriptedSolveCli } from './runCli';

const QUESTION = 'What is two plus three?';
const cli = scriptedSolveCli('relay-cli-slm-only-', QUESTION);

test('relay solve --mode slm-only records its answer under the small model, and relay totals says it cost $0 with no large model', async () => {
  const totals = join(cli.work, 'totals.json');
  const solved = await cli.run(['solve', QUESTION, '--json', '--slm', cli.slmFolder, '--mode', 'slm-only', '--temperature', '0', '--totals', totals]);
  assert.equal(solved.code, 0, solved.stderr);
  const line = JSON.parse(solved.stdout.trim().split('\n').pop() as string);
  assert.equal(line.calls, 0);
  const file = JSON.parse(readFileSync(totals, 'utf8'));
  const [day] = Object.keys(file.days);
  const entry = file.days[day][`slm:${basename(cli.slmFolder)}`];
  assert.ok(entry, `kept under the small model's folder name, as the extension keeps it: ${JSON.stringify(file.days[day])}`);
  assert.deepEqual([entry.answers, entry.slmOnlyAnswers, entry.unpricedAnswers, entry.costUsd, entry.savedUsd], [1, 1, 0, 0, 0]);
  assert.equal(file.modes[day][`slm:${basename(cli.slmFolder)}`]['slm-only'].answers, 1, 'under its policy');

  const shown = await cli.run(['totals', '--totals', totals]);
  assert.equal(shown.code, 0, shown.stderr);
  assert.match(
    shown.stdout,
    /^All time: 1 answers, 0 LLM calls, \d+ SLM \+ 0 LLM tokens, cost \$0; 1 answer by the small model alone \(no large model, \$0\)$/m,
  );
  assert.doesNotMatch(shown.stdout, /unknown|no price/);
});

test('relay totals beside priced answers: their saving is said, and the answers of the small model alone are named apart, not as unpriced', async () => {
  const totals = join(cli.work, 'mixed-totals.json');
  const priced = { ...emptyTotals(), answers: 1, calls: 1, slmTokens: 10, llmTokens: 1, costUsd: 0.001, llmOnlyCostUsd: 0.01, savedUsd: 0.009 };
  const alone = { ...emptyTotals(), answers: 2, slmTokens: 20, slmOnlyAnswers: 2 };
  writeFileSync(totals, JSON.stringify({ version: 1, days: { '2000-01-01': { 'openai-chat:gpt-4o': priced, 'slm:Qwen3-0.6B-ONNX@main': alone } } }));
  const shown = await cli.run(['totals', '--totals', totals]);
  assert.match(
    shown.stdout,
    /^All time: 3 answers, 1 LLM calls, 30 SLM \+ 1 LLM tokens, cost \$0\.00100, LLM-only estimate \$0\.0100, saved \$0\.00900; 2 answers by the small model alone \(no large model, \$0\)$/m,
  );
  assert.doesNotMatch(shown.stdout, /without a price/);
});
