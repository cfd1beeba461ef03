// `npm run bench:slm`: our SLM decoder against transformers.js on the Qwen3-0.6B-shaped
// folder (q4f16, q4, int8 and fp32), each engine in its own child process so peak RSS is its own.
// Same 512-token prompt, greedy, 128 new tokens. Prints a table and, last, one JSON line.
//
// The default variant (the smallest file, what a user gets) runs first and gives the headline keys.
// Options: --variants q4f16,q4,int8,fp32  --prompt 512  --decode 128
//          --engines ours,ours-head-major,ours-q4-int8,ours-f16-as-exported,transformers.js  --repeat 2
//          (also: ours-whole-kv)  --attention gqa (a folder whose attention is GroupQueryAttention)
// Times are the best of the rounds (engine order alternating), since the CPU may be shared.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { ensureQwen3Shaped, QWEN3_SHAPED_VARIANTS } from '../test/fixtures/fixtures';
import { bytesPerElement, DataType } from '../test/fixtures/onnx/onnxBuilder';
import { readOnnxModel } from '../test/fixtures/onnx/onnxReader';
import { createLocalRuntime } from '../src/core/slm/onnx/localRuntime';
import { readModelFolder, VARIANT_FILES } from '../src/core/slm/modelFolder';
import { SlmTokenizer } from '../src/core/slm/tokenizer';
import { physicalCoreCount, type KvOutputsMode } from '../src/core/slm/onnx/decoderSession';
import { SLM_PROCESS_V8_FLAGS } from '../src/core/slm/onnx/processRuntime';
import type { OnnxVariant } from '../src/core/slm/types';

/**
 * 'ours': the defaults (attention in place on a token-major cache, kvOutputs 'in-place');
 * 'ours-head-major': new rows only, into a head-major cache (kvOutputs 'new-tokens', the default before attention in place);
 * 'ours-whole-kv': ours with the whole `present` cache returned by every run (kvOutputs 'whole-cache', as before the new-token outputs);
 * 'ours-q4-int8': ours with the int8-compute rewrite of 4-bit weights (q4Compute 'int8', opt-in; q4 and q4f16 files);
 * 'ours-f16-as-exported': a q4f16 file computed as exported, on ONNX Runtime's float16 kernels
 *   (float16Compute 'as-exported'; the default computes it with float32 activations). For comparison.
 */
type Engine = 'ours' | 'ours-head-major' | 'ours-whole-kv' | 'ours-q4-int8' | 'ours-f16-as-exported' | 'transformers.js';

/** Engines that differ from 'ours' only on some variants: skipped on the others. */
const ENGINE_VARIANTS: Partial<Record<Engine, OnnxVariant[]>> = { 'ours-q4-int8': ['q4', 'q4f16'], 'ours-f16-as-exported': ['q4f16'] };

const KV_MODE: Record<Exclude<Engine, 'transformers.js'>, KvOutputsMode> = {
  ours: 'in-place',
  'ours-head-major': 'new-tokens',
  'ours-whole-kv': 'whole-cache',
  'ours-q4-int8': 'in-place',
  'ours-f16-as-exported': 'in-place',
};

interface EngineResult {
  engine: Engine;
  variant: OnnxVariant;
  loadMs: number;
  /** Our prefill alone (512 tokens into the cache, last-position logits); transformers.js cannot separate it. */
  prefillMs?: number;
  /** From the start of the prefill to the first generated token (best of two). */
  ttftMs: number;
  /** Median time between tokens over the decode. */
  msPerToken: number;
  decodeTps: number;
  tokens: number[];
  peakRssMb: number;
  /** Ours: the KV path the runtime took. */
  kvMode?: string;
  /** Ours: how a float16 file was computed. */
  float16Compute?: string;
}

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

// ---------------------------------------------------------------- child: one engine
/** Median time between consecutive tokens: robust to other processes taking the CPU now and then. */
function medianInterval(stamps: number[]): number {
  const gaps = stamps
    .slice(1)
    .map((s, i) => s - stamps[i])
    .sort((a, b) => a - b);
  return gaps.length ? gaps[Math.floor(gaps.length / 2)] : NaN;
}

async function runOurs(
  folder: string,
  variant: OnnxVariant,
  ids: number[],
  decode: number,
  engine: Exclude<Engine, 'transformers.js'>,
): Promise<Omit<EngineResult, 'peakRssMb'>> {
  let t = performance.now();
  const runtime = await createLocalRuntime(folder, {
    variant,
    kvOutputs: KV_MODE[engine],
    q4Compute: engine === 'ours-q4-int8' ? 'int8' : 'as-exported',
    ...(engine === 'ours-f16-as-exported' ? { float16Compute: 'as-exported' as const } : {}),
  });
  const loadMs = performance.now() - t;
  const wanted = KV_MODE[engine];
  // The default engines fall back as a user's runtime would (GroupQueryAttention exports: new-tokens); the comparison rows must not.
  if ((engine === 'ours-head-major' || engine === 'ours-whole-kv') && runtime.kvOutputs.mode !== wanted)
    throw new Error(`${engine}: the runtime fell back to ${runtime.kvOutputs.mode} (${runtime.kvOutputs.reason})`);
  // Warm-up (first-run allocations), then a fresh session for the measurement.
  const warm = await runtime.createSession();
  await warm.appendIds(ids.slice(0, 16));
  await warm.generate({ maxTokens: 2 });
  await warm.dispose();

  // Time to first token twice (fresh session each time), keeping the better: the CPU is shared.
  const firstToken = async () => {
    const s = await runtime.createSession();
    const started = performance.now();
    await s.appendIds(ids);
    const prefilled = performance.now();
    let first = NaN;
    await s.generate({ maxTokens: 1 }, () => (first = performance.now()));
    await s.dispose();
    return { prefillMs: prefilled - started, ttftMs: first - started };
  };
  const probe = await firstToken();
  const session = await runtime.createSession();
  t = performance.now();
  await session.appendIds(ids);
  const prefillMs = Math.min(probe.prefillMs, performance.now() - t);
  const stamps: number[] = [];
  const result = await session.generate({ maxTokens: decode }, () => stamps.push(performance.now()));
  const ttftMs = Math.min(probe.ttftMs, stamps[0] - t);
  const msPerToken = medianInterval(stamps);
  const kvMode = runtime.kvOutputs.mode;
  const float16Compute = runtime.float16Compute.mode;
  await runtime.dispose();
  return {
    engine,
    kvMode,
    float16Compute,
    variant,
    loadMs,
    prefillMs,
    ttftMs,
    msPerToken,
    decodeTps: 1000 / msPerToken,
    tokens: result.tokens.map((x) => x.id),
  };
}

async function runTransformersJs(folder: string, variant: OnnxVariant, ids: number[], decode: number): Promise<Omit<EngineResult, 'peakRssMb'>> {
  const tjs = await import('@huggingface/transformers');
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  tjs.env.localModelPath = join(folder, '..');
  const modelId = folder.split(/[\\/]/).pop()!;
  let t = performance.now();
  const model = await tjs.AutoModelForCausalLM.from_pretrained(modelId, { dtype: variant, device: 'cpu', local_files_only: true });
  const loadMs = performance.now() - t;
  const tensor = (list: number[]) =>
    new tjs.Tensor(
      'int64',
      BigInt64Array.from(list, (x: number) => BigInt(x)),
      [1, list.length],
    );
  const ones = (n: number) => new tjs.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]);
  const warmIds = ids.slice(0, 16);
  await model.generate({ input_ids: tensor(warmIds), attention_mask: ones(warmIds.length), max_new_tokens: 2, do_sample: false } as never);

  // Time to first token twice, keeping the better (as for ours).
  t = performance.now();
  await model.generate({ input_ids: tensor(ids), attention_mask: ones(ids.length), max_new_tokens: 1, do_sample: false } as never);
  const probeTtftMs = performance.now() - t;

  const stamps: number[] = [];
  const tokens: number[] = [];
  let prompt = true;
  const streamer = {
    put(value: bigint[][]) {
      if (prompt) {
        prompt = false;
        return;
      }
      stamps.push(performance.now());
      tokens.push(Number(value[0][0]));
    },
    end() {},
  };
  t = performance.now();
  await model.generate({
    input_ids: tensor(ids),
    attention_mask: ones(ids.length),
    max_new_tokens: decode,
    do_sample: false,
    streamer,
  } as never);
  const msPerToken = medianInterval(stamps);
  const ttftMs = Math.min(probeTtftMs, stamps[0] - t);
  await model.dispose();
  // transformers.js also stops at EOS, but reports it as a generated token: drop it so both lists compare.
  const eos = new Set(readModelFolder(folder, variant).eosTokenIds);
  const kept = eos.has(tokens[tokens.length - 1]) ? tokens.slice(0, -1) : tokens;
  return { engine: 'transformers.js', variant, loadMs, ttftMs, msPerToken, decodeTps: 1000 / msPerToken, tokens: kept };
}

async function child(): Promise<void> {
  const engine = arg('child', 'ours') as Engine;
  const variant = arg('variant', 'q4') as OnnxVariant;
  const folder = arg('folder', '');
  const ids = JSON.parse(readFileSync(arg('ids', ''), 'utf8')) as number[];
  const decode = Number(arg('decode', '128'));
  const result = engine === 'transformers.js' ? await runTransformersJs(folder, variant, ids, decode) : await runOurs(folder, variant, ids, decode, engine);
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  console.log(`RESULT ${JSON.stringify({ ...result, peakRssMb })}`);
}

// ---------------------------------------------------------------- parent
/** Best of a few large buffer copies, in bytes copied per second. */
function copyBandwidth(): number {
  const size = 256 * 2 ** 20;
  const a = Buffer.alloc(size, 1);
  const b = Buffer.alloc(size);
  let best = Infinity;
  for (let i = 0; i < 6; i++) {
    const t = performance.now();
    a.copy(b);
    best = Math.min(best, performance.now() - t);
  }
  return size / (best / 1000);
}

/**
 * Bytes of weights one decode step reads: every initializer except the tables a step reads one
 * row of (the embedding of a Gather; the cos/sin caches of a GroupQueryAttention or
 * RotaryEmbedding, read at the new positions only). Each table is counted once, however many
 * nodes read it. `float16AsFloat32`: float16 tensors count 4 bytes a value, as they are read
 * once a q4f16 file runs with float32 activations (float32Compute.ts folds their Casts).
 */
function weightBytesPerToken(onnxFile: string, float16AsFloat32 = false): number {
  const model = readOnnxModel(onnxFile);
  const sizeOf = (name: string) => {
    const t = model.initializers.find((i) => i.name === name);
    const bytes = float16AsFloat32 && t?.dataType === DataType.FLOAT16 ? 4 : t ? bytesPerElement(t.dataType) : 0;
    return t ? t.dims.reduce((a, b) => a * b, 1) * bytes : 0;
  };
  let total = 0;
  for (const t of model.initializers) total += sizeOf(t.name);
  const rowTables = new Set<string>();
  const tableInputs: Record<string, number[]> = { Gather: [0], GatherBlockQuantized: [0], GroupQueryAttention: [7, 8], RotaryEmbedding: [2, 3] };
  for (const node of model.nodes) {
    for (const i of tableInputs[node.opType] ?? []) if (node.inputs[i]) rowTables.add(node.inputs[i]);
  }
  return total - [...rowTables].reduce((sum, name) => sum + sizeOf(name), 0);
}

function runChild(engine: Engine, variant: OnnxVariant, folder: string, idsFile: string, decode: number): EngineResult {
  const tsx = pathToFileURL(require.resolve('tsx')).href;
  // Ours runs with the V8 flags of the extension's SLM process; transformers.js as a user runs it.
  const v8Flags = engine === 'transformers.js' ? [] : [...SLM_PROCESS_V8_FLAGS];
  const out = spawnSync(
    process.execPath,
    [...v8Flags, '--import', tsx, __filename, '--child', engine, '--variant', variant, '--folder', folder, '--ids', idsFile, '--decode', String(decode)],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 2 ** 20 },
  );
  const line = out.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  if (out.status !== 0 || !line) throw new Error(`${engine} ${variant} failed (exit ${out.status}):\n${out.stdout.slice(-2000)}`);
  return JSON.parse(line.slice('RESULT '.length));
}

function fmt(v: number | undefined, digits = 0): string {
  return v === undefined || Number.isNaN(v) ? '-' : v.toFixed(digits);
}

async function parent(): Promise<void> {
  const listed = arg('variants', 'q4f16,q4,int8,fp32').split(',') as OnnxVariant[];
  const engines = arg('engines', 'ours,ours-head-major,ours-q4-int8,ours-f16-as-exported,transformers.js').split(',') as Engine[];
  const promptLength = Number(arg('prompt', '512'));
  const decode = Number(arg('decode', '128'));
  const repeat = Math.max(1, Number(arg('repeat', '2')));
  const attention = arg('attention', 'matmul') as 'matmul' | 'gqa';
  console.log('Generating / finding the Qwen3-0.6B-shaped folder (npm run fixtures -- --big builds it once)...');
  const folder = await ensureQwen3Shaped(
    attention === 'gqa'
      ? { attention, variants: listed.filter((v) => v !== 'fp16') }
      : listed.every((v) => QWEN3_SHAPED_VARIANTS.includes(v))
        ? {}
        : { variants: [...new Set([...QWEN3_SHAPED_VARIANTS, ...listed])] },
  );
  // The headline figures are the default variant's: the one a user gets without a setting (the smallest file).
  const defaultVariant = readModelFolder(folder, 'auto').chosen.variant;
  const variants = listed.includes(defaultVariant) ? [defaultVariant, ...listed.filter((v) => v !== defaultVariant)] : listed;

  // The same prompt ids for both engines: ordinary English text through the real Qwen3 tokenizer.
  const files = readModelFolder(folder, variants[0]);
  const tokenizer = await SlmTokenizer.create(files.tokenizerJson, files.tokenizerConfig);
  const words = 'the model reads every weight once per token so decoding speed follows memory bandwidth while prefill is bound by compute'.split(' ');
  let text = '';
  for (let i = 0; tokenizer.encode(text).length < promptLength; i++) text += (i ? ' ' : '') + words[(i * 7) % words.length];
  const ids = tokenizer.encode(text).slice(0, promptLength);
  const dir = mkdtempSync(join(tmpdir(), 'relay-bench-'));
  const idsFile = join(dir, 'ids.json');
  writeFileSync(idsFile, JSON.stringify(ids));

  const loadBefore = loadavg()[0];
  const bandwidth = copyBandwidth();
  console.log(
    `copy bandwidth ${(bandwidth / 2 ** 30).toFixed(1)} GiB/s, ${physicalCoreCount()} physical cores; prompt ${ids.length} tokens, ${decode} new tokens, greedy`,
  );
  // The CPU is shared: every (variant, engine) runs `repeat` times, the engine order alternating
  // between rounds, and the best time of each keeps (the highest RSS, as it is a peak).
  const results: EngineResult[] = [];
  try {
    for (const variant of variants) {
      for (let round = 0; round < repeat; round++) {
        for (const engine of round % 2 === 0 ? engines : [...engines].reverse()) {
          if (ENGINE_VARIANTS[engine] && !ENGINE_VARIANTS[engine]!.includes(variant)) continue; // the same as ours there
          process.stdout.write(`running ${engine} ${variant} (round ${round + 1}/${repeat})... `);
          const r = runChild(engine, variant, folder, idsFile, decode);
          console.log(`${fmt(r.ttftMs)} ms to first token, ${fmt(r.decodeTps, 2)} tok/s, peak RSS ${fmt(r.peakRssMb)} MB`);
          const best = results.find((x) => x.variant === variant && x.engine === engine);
          if (!best) results.push(r);
          else {
            if (JSON.stringify(best.tokens) !== JSON.stringify(r.tokens)) throw new Error(`${engine} ${variant}: greedy tokens differ between rounds`);
            best.loadMs = Math.min(best.loadMs, r.loadMs);
            best.prefillMs = r.prefillMs === undefined ? best.prefillMs : Math.min(best.prefillMs ?? Infinity, r.prefillMs);
            best.ttftMs = Math.min(best.ttftMs, r.ttftMs);
            best.msPerToken = Math.min(best.msPerToken, r.msPerToken);
            best.decodeTps = 1000 / best.msPerToken;
            best.peakRssMb = Math.max(best.peakRssMb, r.peakRssMb);
          }
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }

  const header = ['variant', 'engine', 'load ms', 'prefill ms', 'TTFT ms', 'decode tok/s', 'ms/token', 'peak RSS MB', 'tokens'];
  const rows = results.map((r) => [
    r.variant,
    r.engine,
    fmt(r.loadMs),
    fmt(r.prefillMs),
    fmt(r.ttftMs),
    fmt(r.decodeTps, 2),
    fmt(r.msPerToken, 1),
    fmt(r.peakRssMb),
    String(r.tokens.length),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padEnd(widths[i])).join(' | ') + ' |';
  console.log('\n' + line(header));
  console.log('|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|');
  for (const row of rows) console.log(line(row));

  const byVariant: Record<string, Record<string, number | boolean | string | undefined>> = {};
  for (const variant of variants) {
    const ours = results.find((r) => r.variant === variant && r.engine === 'ours');
    const theirs = results.find((r) => r.variant === variant && r.engine === 'transformers.js');
    const int8Compute = results.find((r) => r.variant === variant && r.engine === 'ours-q4-int8');
    const wholeKv = results.find((r) => r.variant === variant && r.engine === 'ours-whole-kv');
    const headMajor = results.find((r) => r.variant === variant && r.engine === 'ours-head-major');
    const f16AsExported = results.find((r) => r.variant === variant && r.engine === 'ours-f16-as-exported');
    if (!ours) continue;
    const onnxFile = files.variants.find((v) => v.variant === variant)?.path ?? join(folder, 'onnx', VARIANT_FILES[variant][0]);
    // The bound of what ours reads: a q4f16 file computed with float32 activations reads its float16 scales as float32.
    const weightBytes = weightBytesPerToken(onnxFile, ours.float16Compute === 'float32');
    const boundMs = (weightBytes / bandwidth) * 1000;
    byVariant[variant] = {
      weight_bytes_per_token: weightBytes,
      bandwidth_bound_ms_per_token: Number(boundMs.toFixed(1)),
      bandwidth_bound_fraction: Number((boundMs / ours.msPerToken).toFixed(3)),
      ours_ttft_ms: Math.round(ours.ttftMs),
      ours_prefill_ms: Math.round(ours.prefillMs ?? NaN),
      ours_decode_tps: Number(ours.decodeTps.toFixed(2)),
      ours_peak_rss_mb: Math.round(ours.peakRssMb),
      ours_kv_mode: ours.kvMode,
      ...(ours.float16Compute === 'float32' ? { ours_float16_compute: ours.float16Compute } : {}),
      ...(theirs
        ? {
            theirs_ttft_ms: Math.round(theirs.ttftMs),
            theirs_decode_tps: Number(theirs.decodeTps.toFixed(2)),
            theirs_peak_rss_mb: Math.round(theirs.peakRssMb),
            // transformers.js cannot time its prefill apart from the first token: compare time to first token on both sides.
            prefill_ratio: Number((theirs.ttftMs / ours.ttftMs).toFixed(3)),
            decode_tps_ratio: Number((ours.decodeTps / theirs.decodeTps).toFixed(3)),
            rss_ratio: Number((ours.peakRssMb / theirs.peakRssMb).toFixed(3)),
            // Both sides wrote tokens: two empty outputs are not agreement.
            same_tokens: ours.tokens.length > 0 && JSON.stringify(ours.tokens) === JSON.stringify(theirs.tokens),
          }
        : {}),
      ...(int8Compute
        ? {
            int8_compute_decode_tps: Number(int8Compute.decodeTps.toFixed(2)),
            int8_compute_ttft_ms: Math.round(int8Compute.ttftMs),
            int8_compute_peak_rss_mb: Math.round(int8Compute.peakRssMb),
            int8_compute_decode_speedup: Number((int8Compute.decodeTps / ours.decodeTps).toFixed(3)),
            int8_compute_bandwidth_bound_fraction: Number((boundMs / int8Compute.msPerToken).toFixed(3)),
            int8_compute_same_tokens: theirs ? JSON.stringify(int8Compute.tokens) === JSON.stringify(theirs.tokens) : undefined,
          }
        : {}),
      ...(f16AsExported
        ? {
            f16_as_exported_decode_tps: Number(f16AsExported.decodeTps.toFixed(2)),
            f16_as_exported_ttft_ms: Math.round(f16AsExported.ttftMs),
            f16_as_exported_prefill_ms: Math.round(f16AsExported.prefillMs ?? NaN),
            f16_as_exported_peak_rss_mb: Math.round(f16AsExported.peakRssMb),
            f16_as_exported_kv_mode: f16AsExported.kvMode,
            f16_as_exported_bandwidth_bound_fraction: Number((((weightBytesPerToken(onnxFile) / bandwidth) * 1000) / f16AsExported.msPerToken).toFixed(3)),
            float32_compute_decode_speedup: Number((ours.decodeTps / f16AsExported.decodeTps).toFixed(3)),
            float32_compute_ttft_speedup: Number((f16AsExported.ttftMs / ours.ttftMs).toFixed(3)),
            f16_as_exported_same_tokens: theirs ? JSON.stringify(f16AsExported.tokens) === JSON.stringify(theirs.tokens) : undefined,
            f16_as_exported_same_tokens_as_ours: JSON.stringify(f16AsExported.tokens) === JSON.stringify(ours.tokens),
          }
        : {}),
      ...(headMajor
        ? {
            head_major_decode_tps: Number(headMajor.decodeTps.toFixed(2)),
            head_major_ttft_ms: Math.round(headMajor.ttftMs),
            head_major_peak_rss_mb: Math.round(headMajor.peakRssMb),
            in_place_decode_speedup: Number((ours.decodeTps / headMajor.decodeTps).toFixed(3)),
            head_major_same_tokens: JSON.stringify(headMajor.tokens) === JSON.stringify(ours.tokens),
          }
        : {}),
      ...(wholeKv
        ? {
            whole_kv_decode_tps: Number(wholeKv.decodeTps.toFixed(2)),
            whole_kv_peak_rss_mb: Math.round(wholeKv.peakRssMb),
            new_token_kv_decode_speedup: Number((ours.decodeTps / wholeKv.decodeTps).toFixed(3)),
            whole_kv_same_tokens: JSON.stringify(wholeKv.tokens) === JSON.stringify(ours.tokens),
          }
        : {}),
    };
  }
  const headline = byVariant[variants[0]] ?? {};
  const compared = variants.map((v) => byVariant[v]?.same_tokens).filter((same) => same !== undefined);
  const summary = {
    variant: variants[0],
    default_variant: defaultVariant,
    prefill_ratio: headline.prefill_ratio,
    decode_tps_ratio: headline.decode_tps_ratio,
    rss_ratio: headline.rss_ratio,
    // Only where both engines ran: no comparison is not agreement.
    same_tokens: compared.length > 0 ? compared.every((same) => same === true) : undefined,
    bandwidth_bound_fraction: headline.bandwidth_bound_fraction,
    copy_bandwidth_gib_s: Number((bandwidth / 2 ** 30).toFixed(2)),
    // Other processes on the machine skew every figure: the 1-minute load average before and after the runs.
    load_average: [Number(loadBefore.toFixed(2)), Number(loadavg()[0].toFixed(2))],
    cores: physicalCoreCount(),
    prompt_tokens: ids.length,
    decode_tokens: decode,
    rounds: repeat,
    by_variant: byVariant,
  };
  console.log(JSON.stringify(summary));
}

(process.argv.includes('--child') ? child() : parent()).catch((e) => {
  console.error(e);
  process.exit(1);
});
