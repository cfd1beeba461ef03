// Where the int8 greedy tokens of our runtime and transformers.js part on a long prompt, and
// why (issue 21: `npm run bench:slm -- --prompt 2048 --decode 32 --repeat 1` said
// same_tokens false for int8, true for fp32). int8 files quantise each MatMul's activations
// per forward pass, with one scale for the whole tensor (DynamicQuantizeLinear), so a row's
// rounding depends on the other rows of its pass. Ours differs from transformers.js there in
// two ways: the prompt is read in 512-token passes, and the vocabulary projection runs on the
// last position only. This runs the prompt through ours as is, in one pass, and in one pass
// with every position's logits (the export's own computation, as transformers.js runs it),
// then transformers.js, and prints each one's tokens, where they part from transformers.js,
// and the logits of the two candidate tokens there. Last line JSON.
//
//   npx tsx bench/int8-parting.ts [--prompt 2048] [--decode 32]
import { join } from 'node:path';
import { ensureQwen3Shaped } from '../test/fixtures/fixtures';
import { createLocalRuntime, type LocalRuntimeOptions } from '../src/core/slm/onnx/localRuntime';
import { readModelFolder } from '../src/core/slm/modelFolder';
import { SlmTokenizer } from '../src/core/slm/tokenizer';
import { maxAbsDiff } from '../test/fixtures/referenceForward';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback;
}

interface Run {
  label: string;
  tokens: number[];
  /** Logits of every greedy step (a copy of the vocabulary row). */
  logits: Float32Array[];
}

async function ours(folder: string, ids: number[], decode: number, label: string, options: LocalRuntimeOptions): Promise<Run> {
  const runtime = await createLocalRuntime(folder, { variant: 'int8', kvCacheBudgetMb: 0, ...options });
  const session = await runtime.createSession();
  await session.appendIds(ids);
  const tokens: number[] = [];
  const logits: Float32Array[] = [];
  for (let step = 0; step < decode; step++) {
    const row = await session.nextLogits();
    let best = 0;
    for (let i = 1; i < row.length; i++) if (row[i] > row[best]) best = i;
    tokens.push(best);
    logits.push(row);
    await session.appendIds([best]);
  }
  await runtime.dispose();
  return { label, tokens, logits };
}

async function transformersJs(folder: string, ids: number[], decode: number): Promise<number[]> {
  const tjs = await import('@huggingface/transformers');
  tjs.env.allowRemoteModels = false;
  tjs.env.allowLocalModels = true;
  tjs.env.localModelPath = join(folder, '..');
  const model = await tjs.AutoModelForCausalLM.from_pretrained(folder.split(/[\\/]/).pop()!, { dtype: 'int8', device: 'cpu', local_files_only: true });
  const tokens: number[] = [];
  let prompt = true;
  const streamer = {
    put(value: bigint[][]) {
      if (prompt) prompt = false;
      else tokens.push(Number(value[0][0]));
    },
    end() {},
  };
  const input = new tjs.Tensor(
    'int64',
    BigInt64Array.from(ids, (x) => BigInt(x)),
    [1, ids.length],
  );
  const mask = new tjs.Tensor('int64', new BigInt64Array(ids.length).fill(1n), [1, ids.length]);
  await model.generate({ input_ids: input, attention_mask: mask, max_new_tokens: decode, do_sample: false, streamer } as never);
  await model.dispose();
  return tokens;
}

const firstDifference = (a: number[], b: number[]) => a.findIndex((x, i) => x !== b[i]);

async function main(): Promise<void> {
  const promptLength = Number(arg('prompt', '2048'));
  const decode = Number(arg('decode', '32'));
  const folder = await ensureQwen3Shaped();
  // The prompt of bench:slm: ordinary English through the real Qwen3 tokenizer.
  const files = readModelFolder(folder, 'int8');
  const tokenizer = await SlmTokenizer.create(files.tokenizerJson, files.tokenizerConfig);
  const words = 'the model reads every weight once per token so decoding speed follows memory bandwidth while prefill is bound by compute'.split(' ');
  let text = '';
  for (let i = 0; tokenizer.encode(text).length < promptLength; i++) text += (i ? ' ' : '') + words[(i * 7) % words.length];
  const ids = tokenizer.encode(text).slice(0, promptLength);

  const runs = [
    await ours(folder, ids, decode, 'ours (512-token passes, last-position logits)', {}),
    await ours(folder, ids, decode, 'ours (one pass, last-position logits)', { prefillChunkTokens: promptLength }),
    await ours(folder, ids, decode, 'ours (one pass, every position: as exported)', { prefillChunkTokens: promptLength, lastPositionLogits: false }),
  ];
  const theirs = await transformersJs(folder, ids, decode);
  const exported = runs[2];
  const summary: Record<string, unknown> = { prompt_tokens: ids.length, decode, transformers_js_tokens: theirs };
  for (const run of runs) {
    const part = firstDifference(run.tokens, theirs);
    const line: Record<string, unknown> = {
      same_tokens_as_transformers_js: part < 0,
      first_logit_max_diff_vs_as_exported: Number(maxAbsDiff(run.logits[0], exported.logits[0]).toPrecision(3)),
    };
    if (part >= 0) {
      // At the parting step: each candidate's logit in this run and in the export's own computation.
      const ourPick = run.tokens[part];
      const theirPick = theirs[part];
      const gap = (r: Run) => Number((r.logits[part][ourPick] - r.logits[part][theirPick]).toPrecision(3));
      Object.assign(line, {
        parts_at: part,
        tokens: [ourPick, theirPick],
        logit_gap_here: gap(run),
        logit_gap_as_exported: part < exported.logits.length && run !== exported ? gap(exported) : undefined,
        logit_of_ours_here: Number(run.logits[part][ourPick].toPrecision(5)),
      });
    }
    console.log(`${run.label}: ${JSON.stringify(line)}`);
    summary[run.label] = line;
  }
  console.log(JSON.stringify(summary));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
