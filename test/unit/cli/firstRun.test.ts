/**
 * A first run of the command line, as a new user makes it: the demo model named with --slm
 * (README names its folder) is refused for what it cannot answer, naming the demo; no small
 * model at all names a command that downloads one; `relay provider test` on an onnx-local
 * LLM prompts it with its own chat template. Real CLI, real ONNX models.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { UsageError } from '../../../src/cli/args';
import { findDemoModels } from '../../../src/cli/demoModels';
import { CONTINUATION, scriptedProviderTestLlm } from '../providers/scriptedProviderTestLlm';
import { runCli } from './runCli';

let home: string;
before(() => {
  home = mkdtempSync(join(tmpdir(), 'relay-first-run-'));
});
after(() => rmSync(home, { recursive: true, force: true }));

const run = (args: string[]) => runCli(args, home);
const demo = findDemoModels();

/** A usage mistake (exit 2) whose message matches every one of `patterns`. */
function usageMistake(...patterns: RegExp[]) {
  return (error: unknown): boolean => {
    assert.ok(error instanceof UsageError, String(error));
    for (const pattern of patterns) assert.match(error.message, pattern);
    return true;
  };
}

test('relay solve --slm <the demo SLM>: a question off its task is refused (exit 2), naming relay demo and --demo', async () => {
  await assert.rejects(
    run(['solve', 'What is 2+2?', '--slm', demo.slmFolder, '--mode', 'slm-only']),
    usageMistake(/is a demo model/, /Got 'What is 2\+2\?'/, /relay demo '47\*6\+28=\?'/, /relay solve --demo/, /hf download /),
  );
  // The ablation SLMs are demo models too.
  await assert.rejects(run(['solve', 'What is 2+2?', '--slm', join(demo.ablationsFolder, 'slm-base'), '--mode', 'slm-only']), usageMistake(/is a demo model/));
});

test('relay solve --slm <the demo SLM>: its own task with the step-by-step suffix is refused, naming --plain-prompt; sent as is, it answers', async () => {
  await assert.rejects(
    run(['solve', '33*4+29=?', '--slm', demo.slmFolder, '--mode', 'slm-only']),
    usageMistake(/--plain-prompt/, /relay solve --demo '33\*4\+29=\?'/),
  );
  const answered = await run(['solve', '33*4+29=?', '--plain-prompt', '--slm', demo.slmFolder, '--mode', 'slm-only', '--temperature', '0']);
  assert.equal(answered.code, 0, answered.stderr);
  assert.match(answered.stdout, /=/, 'the demo model wrote its worked steps');
});

test('relay eval --slm <the demo SLM> without --plain-prompt is refused before any answer, naming --plain-prompt; with it, it answers', async () => {
  const out = join(home, 'demo-eval');
  const evalDemoSlm = (...more: string[]) => run(['eval', demo.evalData, '--limit', '1', '--out', out, '--temperature', '0', ...more]);
  await assert.rejects(evalDemoSlm('--slm', demo.slmFolder, '--mode', 'slm-only'), usageMistake(/is a demo model/, /relay eval adds/, /--plain-prompt/));
  // A row's own folder (an ablation SLM) is checked too, with that row's mode.
  await assert.rejects(
    evalDemoSlm('--slm', demo.slmFolder, '--modes', `llm-only,slm-only=${join(demo.ablationsFolder, 'slm-base')}`),
    usageMistake(/is a demo model/),
  );
  const answered = await evalDemoSlm('--slm', demo.slmFolder, '--mode', 'slm-only', '--plain-prompt');
  assert.equal(answered.code, 0, answered.stderr);
  assert.match(answered.stdout, /\| SLM alone \| 100\.0% /, 'sent as is, the demo model answers its task');
});

test('relay explain --slm <a demo SLM> is refused: the demo models cannot explain a file', async () => {
  const file = join(home, 'code.ts');
  writeFileSync(file, 'export const answer = 42;\n');
  await assert.rejects(
    run(['explain', file, '--slm', demo.slmFolder, '--mode', 'slm-only']),
    usageMistake(/^relay explain: /, /cannot explain a file/, /--slm a small model of your own/),
  );
});

test("no small model: the message names a command that downloads one, the folder to pass, and Select Model's downloads", async () => {
  await assert.rejects(
    run(['solve', 'What is 2+2?', '--mode', 'slm-only']),
    usageMistake(
      /No small model folder is set/,
      /hf download onnx-community\/Qwen3-0\.6B-ONNX --include "\*\.json" --include "\*\.jinja" --include "onnx\/model_q4f16\.onnx\*" --local-dir ~\/models\/Qwen3-0\.6B-ONNX/,
      /--slm ~\/models\/Qwen3-0\.6B-ONNX/,
      /"Relay: Select Model" downloaded/,
    ),
  );
});

test("relay provider test --provider onnx-local: the model is prompted with its own chat template around the test's question, then the partial answer", async () => {
  const { folder, rendered } = await scriptedProviderTestLlm();
  assert.match(rendered, /^<\|im_start\|>user\nCount from 1 to 10, separated by commas\.<\|im_end\|>\n<\|im_start\|>assistant\n/);
  const result = await run(['provider', 'test', '--provider', 'onnx-local', '--model', folder]);
  assert.equal(result.code, 0, result.stdout + result.stderr);
  // Written only after that prompt (the partial answer alone gets the template's own words back).
  assert.ok(result.stdout.includes(`Continuation: "1, 2, 3," + ${JSON.stringify(CONTINUATION)} (finish: stop)`), result.stdout);
});
