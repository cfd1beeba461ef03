/**
 * The embedded default: the trained demo models of training/ that ship in models/ (a
 * 0.45M-parameter SLM trained to call, a 3.3M-parameter LLM; character-level, one task:
 * `a*b+c=?` with worked steps). No download, no account, no network, no dev dependency.
 * The LLM runs locally through the onnx-local provider and costs nothing, so it is priced
 * at a named hosted model's list price to make the cost and savings figures mean something.
 */
import { DEFAULT_MAX_COST_RATIO } from '../core/relay/limits';
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { builtInPrice, PRICE_CATALOG } from '../core/providers/pricing';
import type { ModelPrice } from '../core/providers/types';
import { readModelFile } from '../core/slm/modelFolder';
import { UsageError } from './args';
import type { CliConfig } from './config';
import { terminalSafe } from './render';

/** The reference price of the demo's LLM: OpenAI gpt-4o's list price, from the price table. */
export const DEMO_PRICE_MODEL = 'gpt-4o';

/**
 * The demo's question: greedy decoding (deterministic) makes the SLM call the LLM (twice);
 * the SLM alone gets it wrong, the relay gets it right (checked by test/unit/cli).
 */
export const DEMO_QUESTION = '33*4+29=?';

export interface DemoModels {
  slmFolder: string;
  llmFolder: string;
  /** The held-out questions (models/relay-demo-eval.jsonl). */
  evalData: string;
  /** models/ablations: the SLM of every training stage of training/ (for `relay eval --demo --modes paper`). */
  ablationsFolder: string;
}

/** The ablation SLMs of models/ablations, in the order of the paper's table. */
export const ABLATION_SLMS = {
  base: 'slm-base',
  warmup: 'slm-warmup',
  grpoSimple: 'slm-grpo-simple',
  grpoDifficulty: 'slm-grpo-difficulty',
  unsureGrpoDifficulty: 'slm-unsure-grpo-difficulty',
} as const;

/**
 * `--modes paper` on the demo models: the paper's table with every training stage as a row.
 * The base SLM (no relay training) runs SLM alone, confidence mode and the matched router;
 * command mode runs each stage's SLM: the paper's three, then the shipped SLM (our departure's
 * warm-up) and the paper's difficulty-aware GRPO on top of it.
 */
export function paperModes(models: DemoModels, cwd: string = process.cwd()): string {
  const folder = (name: string): string => {
    const path = join(models.ablationsFolder, name);
    if (!existsSync(join(path, 'config.json'))) {
      throw new UsageError(
        `--modes paper needs the ablation SLMs of training/ in ${models.ablationsFolder}; ${name} is missing. training/retrain.sh writes them.`,
      );
    }
    const rel = relative(cwd, path);
    return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
  };
  const base = folder(ABLATION_SLMS.base);
  return [
    `slm-only=${base}`,
    'llm-only',
    `command=${folder(ABLATION_SLMS.warmup)}`,
    `command=${folder(ABLATION_SLMS.grpoSimple)}`,
    `command=${folder(ABLATION_SLMS.grpoDifficulty)}`,
    'command',
    // What a user gets by default once prices are known: the same relay under relay.maxCostRatio;
    // then under the loosest ceiling that still never costs more than the LLM alone.
    `auto@${DEFAULT_MAX_COST_RATIO}`,
    'auto@1',
    `command=${folder(ABLATION_SLMS.unsureGrpoDifficulty)}`,
    `confidence@0.7=${base}`,
    `confidence@0.9=${base}`,
    'matched-router',
  ].join(',');
}

export function demoPrice(): ModelPrice {
  const price = builtInPrice('openai-chat', DEMO_PRICE_MODEL);
  if (!price) throw new Error(`The price table has no ${DEMO_PRICE_MODEL}; the demo needs a reference price.`);
  return price;
}

export function demoPriceNote(price: ModelPrice = demoPrice()): string {
  return `The local LLM costs nothing; it is priced as if it were OpenAI ${DEMO_PRICE_MODEL} ($${price.inputPerMTok}/M input, $${price.outputPerMTok}/M output tokens per ${PRICE_CATALOG.name} of ${PRICE_CATALOG.date}), so costs and savings are estimates.`;
}

/** The demo's price note beside its figures (stats line, JSON price_note), as the relay's own "prices: ..." notes. */
export function demoStatsPriceNote(): string {
  return `estimate: the local LLM priced at OpenAI ${DEMO_PRICE_MODEL}'s list price`;
}

/**
 * Finds models/relay-demo-{slm,llm}: next to the bundle (dist/cli.js -> ../models), the
 * sources (src/cli -> ../../models), or in $RELAY_DEMO_MODELS.
 */
export function findDemoModels(env: NodeJS.ProcessEnv = process.env, from: string = __dirname): DemoModels {
  const candidates = env.RELAY_DEMO_MODELS ? [resolve(env.RELAY_DEMO_MODELS)] : [];
  for (let dir = from, i = 0; i < 4; i++, dir = dirname(dir)) candidates.push(join(dir, 'models'));
  for (const models of candidates) {
    const slmFolder = join(models, 'relay-demo-slm');
    const llmFolder = join(models, 'relay-demo-llm');
    if (existsSync(join(slmFolder, 'config.json')) && existsSync(join(llmFolder, 'config.json'))) {
      return { slmFolder, llmFolder, evalData: join(models, 'relay-demo-eval.jsonl'), ablationsFolder: join(models, 'ablations') };
    }
  }
  throw new UsageError(
    `The embedded demo models (models/relay-demo-slm and models/relay-demo-llm) were not found; looked in ${candidates.join(', ')}. ` +
      'Run relay from the project folder (or an installed copy that ships models/), or set RELAY_DEMO_MODELS to the models folder.',
  );
}

/**
 * `--demo`: the SLM and an onnx-local LLM from the embedded models, the question sent as
 * is (the models know one prompt format), the reference price unless prices are set.
 */
export function useDemoModels(config: CliConfig, models: DemoModels = findDemoModels()): CliConfig {
  const price = demoPrice();
  return {
    ...config,
    slm: { ...config.slm, folder: models.slmFolder },
    provider: { ...config.provider, kind: 'onnx-local', model: models.llmFolder, baseUrl: '' },
    prices: { inputPerMTok: price.inputPerMTok, outputPerMTok: price.outputPerMTok, cachedInputPerMTok: price.cachedInputPerMTok, ...config.prices },
    plainPrompt: true,
  };
}

/**
 * The reference answer of a question of the demo task (`47*6+28=?` -> 310: a, c in
 * 10..99, b in 2..9, the range the models were trained on); null for anything else.
 */
export function demoReference(question: string): string | null {
  const match = /^([1-9]\d)\*([2-9])\+([1-9]\d)=\?$/.exec(question.trim());
  return match ? String(Number(match[1]) * Number(match[2]) + Number(match[3])) : null;
}

/** What the demo models can answer, as a refusal says it. */
export const DEMO_TASK_WORDS = `The demo models know one task: questions like ${DEMO_QUESTION} (a*b+c=? with a, c in 10..99 and b in 2..9).`;

/** `relay demo` and `relay solve --demo` refuse another question in these words (the question shown short, on one line). */
export function demoTaskProblem(question: string): string {
  const oneLine = terminalSafe(question).trim().replace(/\s+/g, ' ');
  const shown = oneLine.length > 80 ? `${oneLine.slice(0, 77)}...` : oneLine;
  return `${DEMO_TASK_WORDS} Got '${shown}'.`;
}

/** What `--demo` on solve and explain adds to the refusal: the way to ask anything else. */
export const DEMO_OTHER_QUESTIONS = 'Drop --demo to ask your own models (--slm, --provider, --model; see relay help).';

/**
 * Whether `folder` holds a model of training/: its config.json has `relay_task`, as
 * training/export_model.py writes it for the demo pair and the ablation SLMs, which know the
 * demo's one task in its one prompt format and write nonsense, or nothing, for anything else,
 * with no error of their own.
 */
export function isDemoTaskModel(folder: string): boolean {
  try {
    const config: unknown = JSON.parse(readModelFile(join(folder, 'config.json')));
    return config !== null && typeof config === 'object' && typeof (config as Record<string, unknown>).relay_task === 'string';
  } catch {
    // No readable config.json: the model's own load says what is wrong with it.
    return false;
  }
}
