// `npm run bench:chat`: a 6-turn conversation on the Qwen3-0.6B-shaped int8 folder (user turns
// of about 150 tokens, answers of about 200), answered side by side in one process by a
// runtime that keeps the KV caches of finished answers (kvPrefixCache.ts: a turn computes only
// what its prompt does not share with a kept cache) and by one that keeps none (the whole
// conversation prefilled every turn, as before); then Retry of the last turn. Time to first
// token of every turn, the tokens reused, the kept caches' memory; a table, then one JSON line.
//
// Each turn: the prompt is read and 16 tokens are generated (timed, and compared between the
// two runtimes: same_tokens). The answer that goes into the history is then ~200 tokens of
// English read into the same kept cache: this model's random weights write token sequences
// that do not re-tokenise as written (partial UTF-8, merges), which a trained model's answers
// do, and a reused prefix ends at the first id that differs.
//
// Two conversations: the history rendered as generated (ChatML, as Qwen2.5's, Llama-style and
// SmolLM's templates do: the headline keys), and with the folder's own Qwen3 template, which
// drops the empty <think></think> of earlier answers, so a turn reuses up to the previous
// answer's start and computes that answer again (the `qwen3_template` keys); and with the Qwen3
// template once more, reading each next turn ahead as the chat does (readAhead.ts: after an
// answer, the conversation as the next prompt begins is read into a kept cache while the user
// writes; its time is reported apart, not in the next turn's first token: `qwen3_read_ahead`);
// and once more reading also each user message as it is written, as the chat does when the
// user pauses (readAhead.ts draftReads: up to the last finished word, then whole): here the
// user paused before the message's last word, then wrote it and sent (`qwen3_typing`; the
// draft's read apart too); and last, a sixth message sent as it stood when the user paused,
// which Send computes nothing of (`qwen3_typing.paused_send`).
//
// Times are the best of --rounds conversations (each on new runtimes), since the CPU may be shared.
//
// --profile instead: where turn 1's and the last turn's time goes, op by op (ONNX Runtime's
// profiler, ortProfile.ts), side by side in one process: turn 1's prompt on an empty cache, and
// the last turn's new tokens on a cache holding the history it reuses in the chat (the same
// ids, read in 512-token passes). A table, then one JSON line.
//
// Options: --turns 6  --user 150  --answer 200  --generate 16  --variant int8  --rounds 2  --profile
//   --conversations chatml,qwen3,qwen3-read-ahead,qwen3-typing (the JSON line's keys of those left out are absent)
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ensureQwen3Shaped } from '../test/fixtures/fixtures';
import { createLocalRuntime, type LocalRuntime } from '../src/core/slm/onnx/localRuntime';
import { DEFAULT_KV_CACHE_BUDGET_MB } from '../src/core/slm/onnx/kvPrefixCache';
import { DEFAULT_PREFILL_CHUNK } from '../src/core/slm/onnx/kvDecoder';
import { readOrtProfile, type OrtRunProfile } from '../src/core/slm/onnx/ortProfile';
import { physicalCoreCount } from '../src/core/slm/onnx/decoderSession';
import { draftReads, followUpPrefix, ReadAhead } from '../src/core/slm/readAhead';
import type { ChatMessage, GeneratedToken, OnnxVariant, SlmRuntime } from '../src/core/slm/types';
import { createProcessRuntime } from '../src/core/slm/onnx/processRuntime';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

interface Answer {
  ttftMs: number;
  /** CPU time of this process (ONNX Runtime's threads included) to the first token: steadier than wall time when other processes take the cores. */
  ttftCpuMs: number;
  promptTokens: number;
  reusedTokens: number;
  tokens: GeneratedToken[];
}

/** Reads the prompt on a new session and generates; time to first token from the start of the prefill. The session is disposed (a reusing runtime keeps its cache). */
async function answer(runtime: SlmRuntime, prompt: string, maxTokens: number): Promise<Answer> {
  const session = await runtime.createSession();
  const started = performance.now();
  const cpuStarted = process.cpuUsage();
  let first = NaN;
  let firstCpu = NaN;
  const prefill = await session.prefill(prompt);
  const result = await session.generate({ maxTokens, sampling: { temperature: 0 } }, () => {
    if (!Number.isNaN(first)) return;
    first = performance.now();
    const cpu = process.cpuUsage(cpuStarted);
    firstCpu = (cpu.user + cpu.system) / 1000;
  });
  await session.dispose();
  return { ttftMs: first - started, ttftCpuMs: firstCpu, promptTokens: prefill.tokenCount, reusedTokens: prefill.reusedTokens ?? 0, tokens: result.tokens };
}

/** The answer as it stays in the conversation, read into the kept cache as a trained model would have written it. */
async function keepAnswer(runtime: LocalRuntime, promptWithAnswer: string): Promise<void> {
  const session = await runtime.createSession();
  await session.prefill(promptWithAnswer);
  await session.dispose();
}

/** About `tokens` tokens of English, different for every seed. */
function prose(runtime: LocalRuntime, seed: number, tokens: number, start: string): string {
  const words =
    'explain why the function returns early when the cache is empty and how the caller should handle the missing value in the loop below while keeping the old behaviour for every existing test'.split(
      ' ',
    );
  let text = start;
  for (let i = 0; runtime.encode(text).length < tokens; i++) text += ' ' + words[(i * (seed + 3) + seed) % words.length];
  return text;
}

function chatml(messages: ChatMessage[]): string {
  return messages.map((m) => `<|im_start|>${m.role}\n${m.content}<|im_end|>\n`).join('') + '<|im_start|>assistant\n';
}

const ms = (v: number) => `${Math.round(v).toLocaleString('en-US')} ms`;
const ids = (a: Answer) => JSON.stringify(a.tokens.map((t) => t.id));

interface Turn {
  turn: number;
  reused: Answer;
  fresh: Answer;
  keptMb: number;
  /** qwen3-read-ahead: how long reading this turn's answer ahead for the next turn took (while the user would write). */
  readAheadMs?: number;
  /** qwen3-typing: how long reading this turn's message as the user paused before its last word took (while the user would write). */
  draftMs?: number;
}

interface Conversation {
  template: 'chatml' | 'qwen3' | 'qwen3-read-ahead' | 'qwen3-typing';
  rows: Turn[];
  retry: Answer;
  /** The first turn's prompt again, from scratch, right after the last turn: the turn-6/turn-1 ratio side by side in time. */
  firstAgain: Answer;
  /** qwen3-typing: another last message, read whole while the user paused, then sent as it stood. */
  paused?: { reused: Answer; fresh: Answer; readMs: number };
}

/** `round`: which of the --rounds this is; it decides, with the turn, which runtime goes first. */
async function converse(
  template: Conversation['template'],
  reuse: LocalRuntime,
  fresh: LocalRuntime,
  o: { turns: number; user: number; answer: number; generate: number },
  round: number,
): Promise<Conversation> {
  const render = async (messages: ChatMessage[], withAnswer?: string): Promise<string> => {
    if (template === 'chatml') return withAnswer === undefined ? chatml(messages) : chatml(messages) + withAnswer;
    return withAnswer === undefined ? reuse.renderChat(messages) : (await reuse.renderChat(messages)) + withAnswer;
  };
  const messages: ChatMessage[] = [{ role: 'system', content: 'You are a helpful assistant inside a code editor.' }];
  const rows: Turn[] = [];
  const readAhead = new ReadAhead();
  for (let turn = 1; turn <= o.turns; turn++) {
    messages.push({ role: 'user', content: prose(reuse, turn, o.user, `Question ${turn}:`) });
    const prompt = await render(messages);
    let draftMs: number | undefined;
    if (template === 'qwen3-typing') {
      // The user paused before the last word: the chat read the message as it stood then; they wrote the word and sent.
      const reads = await draftReads(reuse, messages.slice(0, -1), messages[messages.length - 1].content.replace(/\s*\S*$/u, ''));
      const started = performance.now();
      readAhead.start(reuse, async () => reads);
      await readAhead.settle(reads?.at(-1));
      draftMs = performance.now() - started;
    }
    // Alternate which runtime goes first, by turn and by round: the CPU is shared, and a neighbour's burst (or the
    // other side's freed buffers) should not always hit the same side; with the round in it, every turn's best of
    // two rounds has each side measured first once.
    const order = (turn + round) % 2 === 1 ? [reuse, fresh] : [fresh, reuse];
    const [a, b] = [await answer(order[0], prompt, o.generate), await answer(order[1], prompt, o.generate)];
    const [withReuse, without] = order[0] === reuse ? [a, b] : [b, a];
    const content = prose(reuse, turn + 100, o.answer, `Answer ${turn}:`);
    await keepAnswer(reuse, await render(messages, content));
    let readAheadMs: number | undefined;
    if ((template === 'qwen3-read-ahead' || template === 'qwen3-typing') && turn < o.turns) {
      // As the chat does after an answer; waited for here, as a user who writes for longer than it takes.
      const prefix = await followUpPrefix(reuse, messages, content);
      const started = performance.now();
      readAhead.start(reuse, async () => prefix);
      await readAhead.settle(prefix);
      readAheadMs = performance.now() - started;
    }
    const keptMb = reuse.keptKvCaches.reduce((sum, c) => sum + c.bytes, 0) / 2 ** 20;
    rows.push({
      turn,
      reused: withReuse,
      fresh: without,
      keptMb,
      ...(readAheadMs === undefined ? {} : { readAheadMs }),
      ...(draftMs === undefined ? {} : { draftMs }),
    });
    console.log(
      `${template} turn ${turn}: prompt ${withReuse.promptTokens} tokens, reused ${withReuse.reusedTokens}; first token ${ms(withReuse.ttftMs)} with reuse, ${ms(without.ttftMs)} without; kept ${keptMb.toFixed(0)} MB`,
    );
    messages.push({ role: 'assistant', content });
  }
  // Retry: the last turn's prompt again.
  messages.pop();
  const retry = await answer(reuse, await render(messages), o.generate);
  const firstAgain = await answer(fresh, await render(messages.slice(0, 2)), o.generate);
  let paused: Conversation['paused'];
  if (template === 'qwen3-typing') {
    // Another last message, read whole while the user paused after writing it, then sent as it stood.
    messages[messages.length - 1] = { role: 'user', content: prose(reuse, o.turns + 200, o.user, `Question ${o.turns}, asked otherwise:`) };
    const reads = await draftReads(reuse, messages.slice(0, -1), messages[messages.length - 1].content);
    const started = performance.now();
    readAhead.start(reuse, async () => reads);
    await readAhead.settle(reads?.at(-1));
    const readMs = performance.now() - started;
    const prompt = await render(messages);
    paused = { reused: await answer(reuse, prompt, o.generate), fresh: await answer(fresh, prompt, o.generate), readMs };
  }
  return { template, rows, retry, firstAgain, ...(paused ? { paused } : {}) };
}

function table(c: Conversation): void {
  const last = c.rows[c.rows.length - 1];
  const titles: Record<Conversation['template'], string> = {
    chatml: 'History as generated (ChatML)',
    qwen3: "The folder's Qwen3 template",
    'qwen3-read-ahead': "The folder's Qwen3 template, each next turn read ahead (readAhead.ts; its time apart, below)",
    'qwen3-typing':
      "The folder's Qwen3 template, each next turn read ahead and each message read up to its last word before Send (the reads' time apart, below)",
  };
  console.log(`\n${titles[c.template]}:`);
  console.log(
    '| turn | prompt tokens | reused | first token, reuse | first token, no reuse | speedup | CPU time, reuse / no reuse | same tokens | kept caches |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  const cpu = (a: Answer, b?: Answer) => (b ? `${ms(a.ttftCpuMs)} / ${ms(b.ttftCpuMs)}` : ms(a.ttftCpuMs));
  for (const r of c.rows) {
    console.log(
      `| ${r.turn} | ${r.reused.promptTokens.toLocaleString('en-US')} | ${r.reused.reusedTokens.toLocaleString('en-US')} | ${ms(r.reused.ttftMs)} | ${ms(r.fresh.ttftMs)} | ${(r.fresh.ttftMs / r.reused.ttftMs).toFixed(2)}x | ${cpu(r.reused, r.fresh)} | ${ids(r.reused) === ids(r.fresh)} | ${r.keptMb.toFixed(0)} MB |`,
    );
  }
  console.log(
    `| 1 again, after ${last.turn} | ${c.firstAgain.promptTokens.toLocaleString('en-US')} | 0 | | ${ms(c.firstAgain.ttftMs)} | | ${cpu(c.firstAgain)} | | |`,
  );
  console.log(
    `| Retry ${last.turn} | ${c.retry.promptTokens.toLocaleString('en-US')} | ${c.retry.reusedTokens.toLocaleString('en-US')} | ${ms(c.retry.ttftMs)} | ${ms(last.fresh.ttftMs)} | ${(last.fresh.ttftMs / c.retry.ttftMs).toFixed(1)}x | ${cpu(c.retry)} | ${ids(c.retry) === ids(last.reused)} | |`,
  );
  if (c.paused)
    console.log(
      `| ${last.turn}, another message sent as it stood at a pause | ${c.paused.reused.promptTokens.toLocaleString('en-US')} | ${c.paused.reused.reusedTokens.toLocaleString('en-US')} | ${ms(c.paused.reused.ttftMs)} | ${ms(c.paused.fresh.ttftMs)} | ${(c.paused.fresh.ttftMs / c.paused.reused.ttftMs).toFixed(1)}x | ${cpu(c.paused.reused, c.paused.fresh)} | ${ids(c.paused.reused) === ids(c.paused.fresh)} | |`,
    );
  const readAheads = c.rows.filter((r) => r.readAheadMs !== undefined);
  if (c.paused) console.log(`That message read whole at the pause: ${ms(c.paused.readMs)} (while the user would decide to send).`);
  const drafts = c.rows.filter((r) => r.draftMs !== undefined);
  if (drafts.length > 0) console.log(`Drafts read before Send, turns ${drafts.map((r) => `${r.turn}: ${ms(r.draftMs ?? 0)}`).join(', ')}.`);
  if (readAheads.length > 0)
    console.log(`Read ahead after turns ${readAheads.map((r) => `${r.turn}: ${ms(r.readAheadMs ?? 0)}`).join(', ')} (while the user would write).`);
}

/** Where the greedy tokens of the two runtimes first part: the index and each side's top-1 minus top-2 probability there. */
function parting(rows: Turn[]): { turn: number; index: number; margin_reuse: number; margin_no_reuse: number } | undefined {
  for (const r of rows) {
    const i = r.reused.tokens.findIndex((t, k) => t.id !== r.fresh.tokens[k]?.id);
    if (i >= 0)
      return {
        turn: r.turn,
        index: i,
        margin_reuse: Number(r.reused.tokens[i].margin.toPrecision(3)),
        margin_no_reuse: Number(r.fresh.tokens[i].margin.toPrecision(3)),
      };
  }
  return undefined;
}

/** Turn 1 at its best: measured with and without reuse at the start (nothing to reuse yet) and again after the last turn. */
const firstTurnMs = (c: Conversation) => Math.min(c.rows[0].reused.ttftMs, c.rows[0].fresh.ttftMs, c.firstAgain.ttftMs);
const firstTurnCpuMs = (c: Conversation) => Math.min(c.rows[0].reused.ttftCpuMs, c.rows[0].fresh.ttftCpuMs, c.firstAgain.ttftCpuMs);

function keys(c: Conversation) {
  const last = c.rows[c.rows.length - 1];
  const part = parting(c.rows);
  return {
    ttft_reuse_ms: c.rows.map((r) => Math.round(r.reused.ttftMs)),
    ttft_no_reuse_ms: c.rows.map((r) => Math.round(r.fresh.ttftMs)),
    prompt_tokens: c.rows.map((r) => r.reused.promptTokens),
    reused_tokens: c.rows.map((r) => r.reused.reusedTokens),
    retry_ttft_ms: Math.round(c.retry.ttftMs),
    turn1_ttft_ms: Math.round(firstTurnMs(c)),
    turn6_over_turn1: Number((last.reused.ttftMs / firstTurnMs(c)).toFixed(3)),
    turn6_speedup_vs_no_reuse: Number((last.fresh.ttftMs / last.reused.ttftMs).toFixed(2)),
    retry_speedup: Number((last.fresh.ttftMs / c.retry.ttftMs).toFixed(1)),
    // Both sides wrote tokens: two empty answers are not agreement.
    same_tokens: c.rows.every((r) => r.reused.tokens.length > 0 && ids(r.reused) === ids(r.fresh)),
    // The same ratios in CPU time (steadier on a shared machine).
    ttft_cpu_reuse_ms: c.rows.map((r) => Math.round(r.reused.ttftCpuMs)),
    ttft_cpu_no_reuse_ms: c.rows.map((r) => Math.round(r.fresh.ttftCpuMs)),
    turn6_over_turn1_cpu: Number((last.reused.ttftCpuMs / firstTurnCpuMs(c)).toFixed(3)),
    turn6_speedup_vs_no_reuse_cpu: Number((last.fresh.ttftCpuMs / last.reused.ttftCpuMs).toFixed(2)),
    retry_speedup_cpu: Number((last.fresh.ttftCpuMs / c.retry.ttftCpuMs).toFixed(1)),
    ...(part ? { tokens_part: part } : {}),
    retry_same_tokens: ids(c.retry) === ids(last.reused),
    ...(c.rows.some((r) => r.draftMs !== undefined) ? { draft_read_ms: c.rows.map((r) => Math.round(r.draftMs ?? 0)) } : {}),
    ...(c.rows.some((r) => r.readAheadMs !== undefined)
      ? { read_ahead_ms: c.rows.flatMap((r) => (r.readAheadMs === undefined ? [] : [Math.round(r.readAheadMs)])) }
      : {}),
    kept_cache_mb: c.rows.map((r) => Math.round(r.keptMb)),
    ...(c.paused
      ? {
          paused_send: {
            prompt_tokens: c.paused.reused.promptTokens,
            reused_tokens: c.paused.reused.reusedTokens,
            ttft_ms: Math.round(c.paused.reused.ttftMs),
            ttft_no_reuse_ms: Math.round(c.paused.fresh.ttftMs),
            speedup_vs_no_reuse: Number((c.paused.fresh.ttftMs / c.paused.reused.ttftMs).toFixed(1)),
            over_turn1: Number((c.paused.reused.ttftMs / firstTurnMs(c)).toFixed(3)),
            read_ms: Math.round(c.paused.readMs),
            same_tokens: ids(c.paused.reused) === ids(c.paused.fresh),
          },
        }
      : {}),
  };
}

/** The ChatML conversation's first prompt, and the last turn's prompt with what it reuses (the previous turn's prompt and answer, as kept). */
function chatPrompts(runtime: LocalRuntime, o: { turns: number; user: number; answer: number }): { first: number[]; last: number[]; reused: number } {
  const messages: ChatMessage[] = [{ role: 'system', content: 'You are a helpful assistant inside a code editor.' }];
  let first: number[] = [];
  let kept: number[] = [];
  for (let turn = 1; ; turn++) {
    messages.push({ role: 'user', content: prose(runtime, turn, o.user, `Question ${turn}:`) });
    const prompt = runtime.encode(chatml(messages));
    if (turn === 1) first = prompt;
    if (turn === o.turns) {
      let reused = 0;
      while (reused < kept.length && kept[reused] === prompt[reused]) reused++;
      return { first, last: prompt, reused };
    }
    const content = prose(runtime, turn + 100, o.answer, `Answer ${turn}:`);
    kept = runtime.encode(chatml(messages) + content);
    messages.push({ role: 'assistant', content });
  }
}

/** Per op, its least time (and its arithmetic) over the runs; the least whole run: the best of the rounds, as the timings above, since the CPU may be shared. */
function bestOps(runs: OrtRunProfile[]): { ms: number; ops: Map<string, { ms: number; flops: number }> } {
  const ops = new Map<string, { ms: number; flops: number }>();
  for (const run of runs) {
    for (const [op, t] of run.ops) {
      const best = ops.get(op);
      if (!best || t.ms < best.ms) ops.set(op, { ms: t.ms, flops: t.flops });
    }
  }
  return { ms: Math.min(...runs.map((r) => r.ms)), ops };
}

async function profileTurns(folder: string, variant: OnnxVariant, o: { turns: number; user: number; answer: number; rounds: number }): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-chat-profile-'));
  try {
    // No kept caches: every pass below is exactly the one asked for.
    const runtime = await createLocalRuntime(folder, { variant, kvCacheBudgetMb: 0, profileFilePrefix: join(dir, 'ort') });
    const { first, last, reused } = chatPrompts(runtime, o);
    const labels: string[] = [];
    const feed = async (session: Awaited<ReturnType<LocalRuntime['createSession']>>, ids: number[], label: string) => {
      await session.appendIds(ids);
      await session.nextLogits();
      for (let i = 0; i < Math.ceil(ids.length / DEFAULT_PREFILL_CHUNK); i++) labels.push(label);
    };
    const warm = await runtime.createSession();
    await feed(warm, [1, 2, 3, 4, 5, 6, 7, 8], 'warm-up');
    await warm.dispose();
    for (let r = 0; r < o.rounds; r++) {
      const one = await runtime.createSession();
      await feed(one, first, 'turn 1');
      await one.dispose();
      const six = await runtime.createSession();
      await feed(six, last.slice(0, reused), 'history');
      await feed(six, last.slice(reused), 'last turn');
      await six.dispose();
    }
    const file = runtime.endProfiling();
    await runtime.dispose();
    const runs = readOrtProfile(file!);
    if (runs.length !== labels.length) throw new Error(`the profile holds ${runs.length} runs, ${labels.length} expected`);
    const pick = (label: string) => runs.filter((_, i) => labels[i] === label);
    const a = bestOps(pick('turn 1'));
    const b = bestOps(pick('last turn'));
    const ops = [...new Set([...a.ops.keys(), ...b.ops.keys()])]
      .map((op) => ({ op, first: a.ops.get(op) ?? { ms: 0, flops: 0 }, last: b.ops.get(op) ?? { ms: 0, flops: 0 } }))
      .sort((x, y) => y.last.ms - y.first.ms - (x.last.ms - x.first.ms));
    const kernels = (m: typeof a) => [...m.ops.values()].reduce((sum, t) => sum + t.ms, 0);
    const growth = b.ms - a.ms;
    console.log(
      `\nWhere the time goes (ONNX Runtime's profile, best of ${o.rounds} rounds per op and per run): turn 1 = ${first.length} tokens on an empty cache; turn ${o.turns} = ${last.length - reused} new tokens on ${reused} kept.`,
    );
    console.log(`| op | turn 1 ms | turn ${o.turns} ms | difference | share of the difference | GFLOP/s turn 1 / turn ${o.turns} |`);
    console.log('|---|---|---|---|---|---|');
    const rate = (t: { ms: number; flops: number }) => (t.flops > 0 && t.ms > 0 ? (t.flops / t.ms / 1e6).toFixed(0) : '');
    for (const { op, first: x, last: y } of ops) {
      if (Math.max(x.ms, y.ms) < 1) continue;
      const d = y.ms - x.ms;
      console.log(
        `| ${op} | ${x.ms.toFixed(1)} | ${y.ms.toFixed(1)} | ${d >= 0 ? '+' : ''}${d.toFixed(1)} | ${((100 * d) / growth).toFixed(0)}% | ${rate(x) || '-'} / ${rate(y) || '-'} |`,
      );
    }
    console.log(`| all kernels | ${kernels(a).toFixed(1)} | ${kernels(b).toFixed(1)} | +${(kernels(b) - kernels(a)).toFixed(1)} | | |`);
    console.log(`| whole run | ${a.ms.toFixed(1)} | ${b.ms.toFixed(1)} | +${growth.toFixed(1)} | 100% | |`);
    const round = (v: number, d = 1) => Number(v.toFixed(d));
    console.log(
      JSON.stringify({
        profile: true,
        variant,
        turn1_tokens: first.length,
        last_turn_new_tokens: last.length - reused,
        last_turn_kept_tokens: reused,
        rounds: o.rounds,
        // Best of the rounds: per op, and for the whole run (so the ops need not add up to it).
        turn1_run_ms: round(a.ms),
        last_turn_run_ms: round(b.ms),
        last_over_turn1: round(b.ms / a.ms, 3),
        ops_ms: Object.fromEntries(ops.map(({ op, first: x, last: y }) => [op, [round(x.ms), round(y.ms)]])),
        gflop: Object.fromEntries(
          ops.filter(({ last: y }) => y.flops > 0).map(({ op, first: x, last: y }) => [op, [round(x.flops / 1e9), round(y.flops / 1e9)]]),
        ),
        load_average: round(loadavg()[0], 2),
        cores: physicalCoreCount(),
      }),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

interface FirstMessage {
  load_ms: number;
  /** Send with no SLM loaded, as before the first draft loaded it: the load, the prompt rendered and read, the first token. */
  cold_ms: number;
  /** Send after the first draft loaded the SLM and read the message (the user wrote for longer than the load took). */
  drafted_ms: number;
  speedup: number;
  prompt_tokens: number;
  drafted_reused_tokens: number;
  same_tokens: boolean;
}

/**
 * The chat's first message of a session, in the SLM process the extension runs
 * (processRuntime.ts): Send with no SLM loaded against Send after the first draft loaded it
 * and read the message whole (relayService.readAheadDraft). Timed from Send to the first token.
 */
async function firstMessage(folder: string, variant: OnnxVariant, o: { user: number; generate: number }): Promise<FirstMessage> {
  const writer = await createLocalRuntime(folder, { variant, kvCacheBudgetMb: 0 });
  const messages: ChatMessage[] = [
    { role: 'system', content: 'You are a helpful assistant inside a code editor.' },
    { role: 'user', content: prose(writer, 1, o.user, 'Question 1:') },
  ];
  await writer.dispose();
  const send = async (runtime: SlmRuntime, sent: number): Promise<Answer & { sendMs: number }> => {
    const prompt = await runtime.renderChat(messages);
    const reading = performance.now();
    const a = await answer(runtime, prompt, o.generate);
    // To the first token: what came before the prompt's reading, then answer()'s own time to it.
    return { ...a, sendMs: reading - sent + a.ttftMs };
  };
  const sent = performance.now();
  const cold = await createProcessRuntime(folder, { variant });
  const loadMs = performance.now() - sent;
  let coldAnswer: Answer & { sendMs: number };
  try {
    coldAnswer = await send(cold, sent);
  } finally {
    await cold.dispose();
  }
  const drafted = await createProcessRuntime(folder, { variant });
  let draftedAnswer: Answer & { sendMs: number };
  try {
    const readAhead = new ReadAhead();
    const reads = await draftReads(drafted, messages.slice(0, -1), messages[1].content);
    readAhead.start(drafted, async () => reads);
    await readAhead.settle(reads?.at(-1));
    draftedAnswer = await send(drafted, performance.now());
  } finally {
    await drafted.dispose();
  }
  console.log(
    `\nThe first message of a session (${coldAnswer.promptTokens} prompt tokens), in the SLM process: Send with no SLM loaded ${ms(coldAnswer.sendMs)} to the first token (the load ${ms(loadMs)}); after the first draft loaded it and read the message ${ms(draftedAnswer.sendMs)}.`,
  );
  return {
    load_ms: Math.round(loadMs),
    cold_ms: Math.round(coldAnswer.sendMs),
    drafted_ms: Math.round(draftedAnswer.sendMs),
    speedup: Number((coldAnswer.sendMs / draftedAnswer.sendMs).toFixed(1)),
    prompt_tokens: coldAnswer.promptTokens,
    drafted_reused_tokens: draftedAnswer.reusedTokens,
    same_tokens: ids(coldAnswer) === ids(draftedAnswer),
  };
}

async function main(): Promise<void> {
  const o = {
    turns: Number(arg('turns', '6')),
    user: Number(arg('user', '150')),
    answer: Number(arg('answer', '200')),
    generate: Number(arg('generate', '16')),
    rounds: Math.max(1, Number(arg('rounds', '2'))),
  };
  const variant = arg('variant', 'int8') as OnnxVariant;
  const loadBefore = loadavg()[0];
  console.log('Generating / finding the Qwen3-0.6B-shaped folder (npm run fixtures -- --big builds it once)...');
  const folder = await ensureQwen3Shaped();
  if (process.argv.includes('--profile')) return profileTurns(folder, variant, o);
  // Two runtimes per conversation (the second conversation must not find the first one's caches).
  const run = async (template: Conversation['template'], round: number): Promise<Conversation> => {
    const reuse = await createLocalRuntime(folder, { variant });
    const fresh = await createLocalRuntime(folder, { variant, kvCacheBudgetMb: 0 });
    try {
      // Warm-up: first-run allocations are nobody's prefill.
      for (const runtime of [reuse, fresh]) {
        const warm = await runtime.createSession();
        await warm.appendIds([1, 2, 3, 4, 5, 6, 7, 8]);
        await warm.generate({ maxTokens: 2 });
        await warm.dispose();
      }
      return await converse(template, reuse, fresh, o, round);
    } finally {
      await reuse.dispose();
      await fresh.dispose();
    }
  };
  // Rounds (each on new runtimes), every time the best of them: the CPU is shared, and a neighbour's burst lands on one measurement.
  const best = async (template: Conversation['template']): Promise<Conversation> => {
    const rounds: Conversation[] = [];
    for (let r = 0; r < o.rounds; r++) rounds.push(await run(template, r));
    const fastest = (pick: (c: Conversation) => Answer): Answer => {
      const answers = rounds.map(pick);
      const wall = answers.reduce((a, b) => (b.ttftMs < a.ttftMs ? b : a));
      return { ...wall, ttftCpuMs: Math.min(...answers.map((a) => a.ttftCpuMs)) };
    };
    return {
      template,
      rows: rounds[0].rows.map((row, i) => ({ ...row, reused: fastest((c) => c.rows[i].reused), fresh: fastest((c) => c.rows[i].fresh) })),
      retry: fastest((c) => c.retry),
      firstAgain: fastest((c) => c.firstAgain),
      ...(rounds[0].paused
        ? {
            paused: {
              reused: fastest((c) => c.paused!.reused),
              fresh: fastest((c) => c.paused!.fresh),
              readMs: Math.min(...rounds.map((c) => c.paused!.readMs)),
            },
          }
        : {}),
    };
  };
  const ALL: Conversation['template'][] = ['chatml', 'qwen3', 'qwen3-read-ahead', 'qwen3-typing'];
  const wanted = arg('conversations', ALL.join(','))
    .split(',')
    .map((t) => t.trim())
    .filter((t) => t !== 'none');
  const unknown = wanted.filter((t) => !(ALL as string[]).includes(t));
  if (unknown.length > 0) throw new Error(`--conversations: ${unknown.join(', ')} unknown; choose from ${ALL.join(', ')}`);
  const done = new Map<Conversation['template'], Conversation>();
  for (const template of ALL) if (wanted.includes(template)) done.set(template, await best(template));
  const first = await firstMessage(folder, variant, o);
  for (const c of done.values()) table(c);
  const keysOf = (template: Conversation['template']) => {
    const c = done.get(template);
    return c ? keys(c) : undefined;
  };
  const chat = done.get('chatml');
  const summary = {
    variant,
    template: 'chatml',
    turns: o.turns,
    user_tokens: o.user,
    answer_tokens: o.answer,
    generated_tokens: o.generate,
    rounds: o.rounds,
    ...(chat ? keys(chat) : {}),
    qwen3_template: keysOf('qwen3'),
    qwen3_read_ahead: keysOf('qwen3-read-ahead'),
    qwen3_typing: keysOf('qwen3-typing'),
    first_message: first,
    budget_mb: DEFAULT_KV_CACHE_BUDGET_MB,
    goals: { turn6_over_turn1: 1.3, turn6_speedup_vs_no_reuse: 4, retry_speedup: 10 },
    load_average: [Number(loadBefore.toFixed(2)), Number(loadavg()[0].toFixed(2))],
    cores: physicalCoreCount(),
  };
  console.log(JSON.stringify(summary));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
