// Runs the whole training pipeline at tiny sizes (training/smoke.py: pre-training, warm-up
// with inserted commands, the LLM data filter, GRPO with both rewards and the LLM in the
// loop, export, evaluation) and then checks the exported folders from Node: names, config
// flags, tokenizer, and greedy decoding through onnxruntime-node equal to torch's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const repo = resolve(__dirname, '../../..');
const python = '/usr/bin/python3';

function torchMissingReason(): string | undefined {
  if (!existsSync(python)) return `${python} not found (run training/install-deps.sh)`;
  const probe = spawnSync(python, ['-c', 'import torch, numpy, onnx'], { encoding: 'utf8' });
  return probe.status === 0 ? undefined : 'python3-torch/python3-onnx not installed (run training/install-deps.sh)';
}

const skipReason = torchMissingReason();

test('training pipeline smoke run: tiny models through warm-up, GRPO and export', { skip: skipReason, timeout: 180_000 }, () => {
  const out = mkdtempSync(join(tmpdir(), 'relay-training-smoke-'));
  try {
    const run = spawnSync(python, [join(repo, 'training', 'smoke.py'), out], {
      cwd: join(repo, 'training'),
      encoding: 'utf8',
      env: { ...process.env, OPENBLAS_NUM_THREADS: '1' },
      timeout: 170_000,
    });
    assert.equal(run.status, 0, `smoke.py failed:\n${run.stderr.slice(-3000)}`);
    const summary = JSON.parse(run.stdout.trim().split('\n').pop() as string);

    // Warm-up data: the SLM's own samples, each with one well-formed command.
    assert.ok(summary.warmup_examples > 0);
    assert.match(summary.example, /<call>\d+<\/call>/);
    // GRPO ran both rewards, and its rollouts really handed tokens to the LLM.
    assert.deepEqual(summary.grpo_steps, { difficulty: 2, simple: 2 });
    assert.ok(summary.grpo_calls.difficulty > 0 && summary.grpo_calls.simple > 0, JSON.stringify(summary.grpo_calls));
    assert.ok(summary.grpo_llm_share.difficulty > 0, 'the LLM wrote no token in the rollouts');
    assert.ok(summary.confidence_llm_tokens > 0);
    assert.equal(summary.table_lines, 7); // header, rule, 4 protocols, matched router

    for (const role of ['slm', 'llm']) {
      const folder = join(out, `${role}-folder`);
      const config = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8'));
      assert.equal(config.relay_trained === true, role === 'slm');
      if (role === 'slm') assert.equal(config.relay_call_syntax, '<call>N</call>');
      const tokenizerConfig = JSON.parse(readFileSync(join(folder, 'tokenizer_config.json'), 'utf8'));
      assert.equal(typeof tokenizerConfig.chat_template, 'string');
      assert.ok(existsSync(join(folder, 'generation_config.json')));
      const verify = spawnSync(process.execPath, [join(repo, 'training', 'verify_onnx.mjs'), folder, join(out, `${role}-reference.json`)], {
        cwd: repo,
        encoding: 'utf8',
      });
      assert.equal(verify.status, 0, `${role}: ONNX differs from torch:\n${verify.stdout}${verify.stderr}`);
      assert.match(verify.stdout, /model_int8\.onnx, \d\/3 greedy answers identical to torch, \d near-ties, 0 real differences/);
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
});
