// A usage Relay capped (the server reported more output than one call can write: Usage.outputCapped)
// is said to be capped on the CLI: the stats line, the --json line (llm_output_capped) and
// `relay totals`. Usage that was not reported keeps its words.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { statsJson, statsLine } from '../../../src/cli/render';
import { MAX_BELIEVED_OUTPUT_TOKENS } from '../../../src/core/providers/usage';
import { TotalsStore } from '../../../src/core/relay/totalsStore';
import { runCli } from './runCli';
import { CAPPED, COUNTED, REPORTED, statsWith } from '../../fixtures/cappedUsage';

const home = mkdtempSync(join(tmpdir(), 'relay-cli-capped-'));
after(() => rmSync(home, { recursive: true, force: true }));

test('the stats line says the output was capped, not estimated; the JSON says llm_output_capped', () => {
  const line = statsLine(statsWith(CAPPED), false);
  assert.ok(line.includes(`LLM in 30 / out ${MAX_BELIEVED_OUTPUT_TOKENS} (output capped: the server reported more than one call can write) |`), line);
  assert.ok(statsLine(statsWith(COUNTED), false).includes('LLM in 30 / out 2 (estimated) |'), 'usage not reported keeps its words');
  assert.ok(statsLine(statsWith(REPORTED), false).includes('LLM in 30 / out 2 |'));

  const json = statsJson(statsWith(CAPPED));
  assert.equal(json.llm_output_capped, true);
  assert.equal(json.llm_usage_estimated, true, 'still an estimate');
  assert.deepEqual(Object.keys(json).slice(Object.keys(json).indexOf('llm_usage_estimated'), Object.keys(json).indexOf('llm_usage_estimated') + 2), [
    'llm_usage_estimated',
    'llm_output_capped',
  ]);
  assert.equal(statsJson(statsWith(COUNTED)).llm_output_capped, false);
  assert.equal(statsJson(statsWith(REPORTED)).llm_output_capped, false);
});

test('relay totals: an answer whose output was capped is an estimate, and the line says it may have been capped', async () => {
  const store = new TotalsStore(join(home, 'totals.json'));
  await store.record('openai-chat:gpt-4o', statsWith(CAPPED));
  const run = await runCli(['totals'], home);
  assert.equal(run.code, 0, run.stderr);
  assert.match(
    run.stdout,
    /All time: 1 answers, .* cost \$1\.3100 \(est\.: the LLM usage of 1 answer was counted locally, or capped at the most one call can write\), LLM-only/,
  );
});
