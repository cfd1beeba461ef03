/**
 * `npm run bench:relay`: what the relay engine costs on top of the SLM.
 *
 * 1. Engine overhead per token. On one model, in one run: a bare decode loop
 *    (session.generate, no stop strings, no events) vs the engine (runRelay, slm-only:
 *    stop string `</call>`, the streaming command filter, span events through the async
 *    channel) writing the same greedy tokens. The overhead is measured two ways:
 *    - direct: the engine driven by a zero-cost SLM that replays the recorded tokens, so
 *      its time is the engine's own work per token (precise; the headline figure);
 *    - difference of wall times of engine and bare loop (noisy on a shared CPU; a check).
 * 2. Re-prefill after an LLM span: session.append(span) (only the new tokens are run
 *    through the model) vs recomputing the whole context in a fresh session.
 *
 * Models: the Qwen3-0.6B-shaped fixture (q4; real shapes, so honest step times) and the
 * scripted fixture (real 151,936-token vocabulary but almost no compute: the worst case
 * for the overhead's share). Options: --tokens N (Qwen3-shaped decode tokens, default 32),
 * --skip-big. Prints a table and, last, one JSON line.
 */
import { performance } from 'node:perf_hooks';
import { ensureQwen3Shaped, ensureScriptedModel } from '../test/fixtures/fixtures';
import { createLocalRuntime, type LocalRuntime } from '../src/core/slm/onnx/localRuntime';
import type { GenerateOptions, GenerateResult, GeneratedToken, SlmRuntime, SlmSession } from '../src/core/slm/types';
import { runRelay } from '../src/core/relay/engine';

const args = process.argv.slice(2);
const flag = (name: string): string | undefined => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : undefined;
};
const BIG_TOKENS = Number(flag('tokens') ?? 32);
const SCRIPTED_TOKENS = 256;
const REPEATS = 3;

const PROMPT_TEXT =
  'You are a careful assistant. Explain, step by step, how to compute the average speed of a train that travels 180 km in 2.5 hours, ' +
  'then check the result by multiplying back, and finally state the answer with its unit. Keep each step short and precise. ';

interface Measure {
  model: string;
  decodeMsPerToken: number;
  engineMsPerToken: number;
  directOverheadMsPerToken: number;
  sameTokens: boolean;
  appendMs: number;
  appendTokens: number;
  recomputedTokens: number;
  fullPrefillMs: number;
  fullPrefillTokens: number;
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function bareDecode(runtime: SlmRuntime, prompt: string, tokens: number): Promise<{ ms: number; result: GenerateResult }> {
  const session = await runtime.createSession();
  try {
    await session.prefill(prompt);
    const started = performance.now();
    const result = await session.generate({ maxTokens: tokens, sampling: { temperature: 0 } }, () => undefined);
    return { ms: performance.now() - started, result };
  } finally {
    await session.dispose();
  }
}

/** The engine's per-token path, timed from the first token (prefill excluded, like the bare loop). */
async function engineDecode(runtime: SlmRuntime, prompt: string, tokens: number): Promise<{ ms: number; text: string; count: number }> {
  let last = 0;
  let text = '';
  let count = 0;
  let firstTokenAt = 0;
  const timed: SlmRuntime = Object.create(runtime);
  // Start the clock when generation starts, as the bare loop does.
  timed.createSession = async () => {
    const session = await runtime.createSession();
    return new Proxy(session, {
      get(target, key, receiver) {
        if (key === 'generate') {
          return (o: GenerateOptions, onToken?: (t: GeneratedToken) => void, signal?: AbortSignal) => {
            if (firstTokenAt === 0) firstTokenAt = performance.now();
            return target.generate(o, onToken, signal);
          };
        }
        const value = Reflect.get(target, key, receiver);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
  };
  for await (const event of runRelay({
    mode: 'slm-only',
    slm: timed,
    messages: [{ role: 'user', content: 'x' }],
    prompt,
    tokenBudget: tokens,
    slmSampling: { temperature: 0 },
  })) {
    if (event.type === 'span') text += event.text;
    if (event.type === 'done') {
      last = performance.now();
      count = event.stats.slmTokens;
    }
  }
  return { ms: last - firstTokenAt, text, count };
}

/** A zero-cost SLM that replays recorded tokens (honouring stop strings and maxTokens like the runtime). */
function replayRuntime(tokens: GeneratedToken[]): SlmRuntime {
  const session: SlmSession = {
    id: 'replay',
    prefill: async () => ({ tokenCount: 1 }),
    append: async () => ({ tokenCount: 0, recomputedTokens: 0 }),
    dispose: async () => undefined,
    generate: async (options, onToken) => {
      let text = '';
      const out: GeneratedToken[] = [];
      for (const token of tokens.slice(0, options.maxTokens)) {
        out.push(token);
        text += token.text;
        onToken?.(token);
        if (options.stopStrings?.some((s) => text.includes(s))) return { tokens: out, text, stopReason: 'stop_string', contextLength: out.length };
      }
      return { tokens: out, text, stopReason: 'max_tokens', contextLength: out.length };
    },
  };
  return {
    info: {
      folder: '',
      modelType: 'replay',
      vocabSize: 0,
      eosTokenIds: [],
      hasChatTemplate: false,
      backend: { kind: 'onnx', variant: 'fp32', onnxFile: '', numLayers: 0, numKeyValueHeads: 0, headDim: 0 },
    },
    renderChat: async () => '',
    countTokens: async (text) => text.length,
    createSession: async () => session,
    dispose: async () => undefined,
  };
}

async function directOverhead(tokens: GeneratedToken[]): Promise<number> {
  const runtime = replayRuntime(tokens);
  const runs: number[] = [];
  for (let r = 0; r < 5; r++) {
    const started = performance.now();
    for await (const _event of runRelay({
      mode: 'slm-only',
      slm: runtime,
      messages: [{ role: 'user', content: 'x' }],
      prompt: 'p',
      tokenBudget: tokens.length,
      slmSampling: { temperature: 0 },
    })) {
      // consume
    }
    runs.push((performance.now() - started) / tokens.length);
  }
  return median(runs);
}

async function spliceCost(
  runtime: LocalRuntime,
  prompt: string,
  generated: string,
): Promise<Pick<Measure, 'appendMs' | 'appendTokens' | 'recomputedTokens' | 'fullPrefillMs' | 'fullPrefillTokens'>> {
  const span = ' The large model writes these few words of the answer.';
  const session = await runtime.createSession();
  let appendMs: number;
  let appended: { tokenCount: number; recomputedTokens: number };
  try {
    await session.prefill(prompt + generated);
    const started = performance.now();
    appended = await session.append(span);
    appendMs = performance.now() - started;
  } finally {
    await session.dispose();
  }
  const fresh = await runtime.createSession();
  try {
    const started = performance.now();
    const { tokenCount } = await fresh.prefill(prompt + generated + span);
    return {
      appendMs,
      appendTokens: appended.tokenCount,
      recomputedTokens: appended.recomputedTokens,
      fullPrefillMs: performance.now() - started,
      fullPrefillTokens: tokenCount,
    };
  } finally {
    await fresh.dispose();
  }
}

async function measure(label: string, runtime: LocalRuntime, prompt: string, tokens: number): Promise<Measure> {
  const bare: number[] = [];
  const engine: number[] = [];
  let sameTokens = true;
  let recorded: GenerateResult | undefined;
  await bareDecode(runtime, prompt, Math.min(tokens, 8)); // warm-up: first-run allocations are not the engine's
  for (let r = 0; r < REPEATS; r++) {
    const b = await bareDecode(runtime, prompt, tokens);
    const e = await engineDecode(runtime, prompt, tokens);
    bare.push(b.ms / b.result.tokens.length);
    engine.push(e.ms / e.count);
    sameTokens &&= e.count === b.result.tokens.length && e.text === b.result.text;
    recorded = b.result;
  }
  const result = recorded as GenerateResult;
  const direct = await directOverhead(result.tokens);
  const splice = await spliceCost(runtime, prompt, result.text);
  return { model: label, decodeMsPerToken: median(bare), engineMsPerToken: median(engine), directOverheadMsPerToken: direct, sameTokens, ...splice };
}

async function main(): Promise<void> {
  const measures: Measure[] = [];
  const scriptedFolder = await ensureScriptedModel({ prompt: PROMPT_TEXT, timeline: [{ text: ' Step one:' }], endWithEos: false });
  // No kept KV caches (kvCacheBudgetMb 0): the recompute baseline of the splice must compute the whole context.
  const scripted = await createLocalRuntime(scriptedFolder, { kvCacheBudgetMb: 0 });
  try {
    measures.push(await measure('scripted (vocab 151936, tiny compute)', scripted, PROMPT_TEXT, SCRIPTED_TOKENS));
  } finally {
    await scripted.dispose();
  }
  if (!args.includes('--skip-big')) {
    const bigFolder = await ensureQwen3Shaped();
    const big = await createLocalRuntime(bigFolder, { variant: 'q4', kvCacheBudgetMb: 0 });
    try {
      measures.push(await measure(`Qwen3-0.6B-shaped q4`, big, PROMPT_TEXT, BIG_TOKENS));
    } finally {
      await big.dispose();
    }
  }
  const rows = measures.map((m) => [
    m.model,
    m.decodeMsPerToken.toFixed(3),
    m.engineMsPerToken.toFixed(3),
    m.directOverheadMsPerToken.toFixed(4),
    `${((m.directOverheadMsPerToken / m.decodeMsPerToken) * 100).toFixed(2)}%`,
    String(m.sameTokens),
    `${m.appendMs.toFixed(1)} ms / ${m.appendTokens} tok (recomputed ${m.recomputedTokens})`,
    `${m.fullPrefillMs.toFixed(1)} ms / ${m.fullPrefillTokens} tok`,
  ]);
  const header = [
    'model',
    'bare ms/tok',
    'engine ms/tok',
    'overhead ms/tok (direct)',
    'overhead % of decode',
    'same tokens',
    'append after LLM span',
    'recompute whole context',
  ];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  console.log('Relay engine overhead (CPU shared with other jobs; medians of ' + REPEATS + ' runs)');
  console.log([line(header), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n'));
  const headline = measures[measures.length - 1];
  const scriptedMeasure = measures[0];
  console.log(
    JSON.stringify({
      model: headline.model,
      overhead_pct_of_decode: (headline.directOverheadMsPerToken / headline.decodeMsPerToken) * 100,
      overhead_ms_per_token: headline.directOverheadMsPerToken,
      decode_ms_per_token: headline.decodeMsPerToken,
      wall_overhead_pct_of_decode: ((headline.engineMsPerToken - headline.decodeMsPerToken) / headline.decodeMsPerToken) * 100,
      scripted_overhead_pct_of_decode: (scriptedMeasure.directOverheadMsPerToken / scriptedMeasure.decodeMsPerToken) * 100,
      same_tokens: measures.every((m) => m.sameTokens),
      recomputed_tokens_after_splice: headline.recomputedTokens,
      append_ms: headline.appendMs,
      append_tokens: headline.appendTokens,
      full_recompute_ms: headline.fullPrefillMs,
      full_recompute_tokens: headline.fullPrefillTokens,
    }),
  );
}

main().catch((error) => {
  console.error(`bench:relay failed: ${error instanceof Error ? error.stack : String(error)}`);
  process.exit(1);
});
