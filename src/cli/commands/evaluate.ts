/**
 * `relay eval data.jsonl`: questions with reference answers (GSM8K `#### n`, MATH
 * `\boxed{}`, or a plain answer), several modes side by side through the relay engine,
 * a progress bar, the paper-style table (evalTable.ts), and CSV + JSON + Markdown files.
 * Sampling is reproducible: question i of every row samples with seed deriveSeed(seed, i).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { isAbsolute, join, relative } from 'node:path';
import { collectRelay } from '../../core/relay/engine';
import type { RelayMode } from '../../core/relay/events';
import { answersMatch, extractAnswer, extractReference } from '../../core/relay/answerExtraction';
import { readSlmRelayTraits, resolveRelayMode } from '../../core/relay/modeResolution';
import { deriveSeed } from '../../core/relay/random';
import { UsageError } from '../args';
import type { CliConfig } from '../config';
import type { EvalModeSpec } from '../evalModes';
import { compareWithMatchedRouters, formatTable, matchedRouterProbability, summarise, type EvalRow, type ModeSummary, type RowKind } from '../evalTable';
import { printableJson, terminalSafe, type Output } from '../render';
import { CliDeps, openComposition, openSlm } from '../setup';
import type { RelayComposition } from '../../core/compose';
import type { ModelPrice } from '../../core/providers/types';
import type { LocalRuntime } from '../../core/slm/localRuntime';
import { solveMessages } from './ask';

export type { EvalRow, ModeSummary } from '../evalTable';

export interface EvalItem {
  question: string;
  reference: string;
}

export function readEvalData(path: string, limit?: number): EvalItem[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new UsageError(`relay eval: cannot read ${path}: ${(error as Error).message}`);
  }
  const items: EvalItem[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === '') continue;
    let row: Record<string, unknown>;
    try {
      row = JSON.parse(lines[i]);
    } catch {
      throw new UsageError(`relay eval: ${path} line ${i + 1} is not JSON. Each line must be an object like {"question": "...", "answer": "#### 42"}.`);
    }
    const question = row.question ?? row.problem ?? row.prompt;
    const reference = row.answer ?? row.solution ?? row.reference;
    if (typeof question !== 'string' || (typeof reference !== 'string' && typeof reference !== 'number')) {
      throw new UsageError(`relay eval: ${path} line ${i + 1} needs a "question" (or "problem") string and an "answer" (or "solution") field.`);
    }
    items.push({ question, reference: extractReference(String(reference)) });
    if (limit !== undefined && items.length >= limit) break;
  }
  if (items.length === 0) throw new UsageError(`relay eval: ${path} has no questions.`);
  return items;
}

function csvCell(value: unknown): string {
  // Cells hold the models' answers, and CSV files get `cat`ed: no terminal control in them.
  const text = value === null || value === undefined ? '' : terminalSafe(String(value));
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(rows: EvalRow[]): string {
  const header = ['spec', 'mode', 'index', 'reference', 'predicted', 'correct', 'slm_tokens', 'llm_tokens', 'llm_token_share', 'calls', 'llm_input_tokens', 'llm_output_tokens', 'cost_usd', 'llm_only_cost_usd', 'elapsed_ms', 'finish_reason'];
  const lines = rows.map((r) =>
    [r.spec, r.stats.mode, r.index, r.reference, r.predicted, r.correct, r.stats.slmTokens, r.stats.llmTokens, r.stats.llmTokenShare, r.stats.calls, r.stats.llmUsage.inputTokens, r.stats.llmUsage.outputTokens, r.stats.costUsd, r.stats.llmOnlyCostUsd, r.stats.elapsedMs, r.stats.finishReason]
      .map(csvCell)
      .join(','),
  );
  return [header.join(','), ...lines].join('\n') + '\n';
}

/** A progress bar on stderr (redrawn in place on a TTY, a line per 10% otherwise). */
export function progressBar(err: Output, total: number): (done: number, label: string) => void {
  let lastDecile = -1;
  return (done, label) => {
    const width = 30;
    const filled = Math.round((done / total) * width);
    const text = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${label}`;
    if (err.isTTY) err.write(`\r${text}\u001b[K${done === total ? '\n' : ''}`);
    else {
      const decile = Math.floor((done / total) * 10);
      if (decile !== lastDecile) {
        lastDecile = decile;
        err.write(text + '\n');
      }
    }
  };
}

/** A path as shown in the notes: relative to the working folder when inside it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

export interface EvalOptions {
  limit?: number;
  outPrefix: string;
  signal: AbortSignal;
  /** The command line, recorded in the files. */
  commandLine?: string;
  /** A sentence about the LLM's price shown under the table (e.g. the demo's reference price). */
  priceNote?: string;
}

interface RowModels {
  folder: string;
  /** The settings with this row's SLM folder (its chat template, its relay traits). */
  config: CliConfig;
  slm: LocalRuntime;
  deps: CliDeps;
}

/**
 * How a model folder's SLM was trained, as export_model.py records it (config.json
 * relay_training). It is printed in the table, and a downloaded model folder wrote it: terminal-safe.
 */
export function slmTraining(folder: string): string | undefined {
  try {
    const value = JSON.parse(readFileSync(join(folder, 'config.json'), 'utf8')).relay_training;
    const training = typeof value === 'string' ? terminalSafe(value).trim() : '';
    return training !== '' ? training : undefined;
  } catch {
    return undefined;
  }
}

const KIND_OF: Record<EvalModeSpec['kind'], RowKind> = {
  'slm-only': 'baseline-slm',
  'llm-only': 'baseline-llm',
  command: 'relay',
  confidence: 'relay',
  'money-aware': 'relay',
  auto: 'relay',
  'random-router': 'router',
  'matched-router': 'router',
};

/** A row's money ceiling: its own @ratio; money-aware without one takes the configured ratio; other rows run without it. */
function maxCostRatioFor(config: CliConfig): (spec: EvalModeSpec) => number | undefined {
  return (spec) => spec.maxCostRatio ?? (spec.kind === 'money-aware' ? config.limits.maxCostRatio : undefined);
}

export async function runEval(dataPath: string, specs: EvalModeSpec[], config: CliConfig, io: { stdout: Output; stderr: Output }, options: EvalOptions): Promise<number> {
  const started = Date.now();
  const items = readEvalData(dataPath, options.limit);
  const seed = config.seed ?? 0;
  const { confidence } = config;
  const maxCostRatioOf = maxCostRatioFor(config);
  // A row's SLM: its own `=<folder>`, the slm-only row's for the matched router, else the configured one.
  const slmOnlyFolder = specs.find((s) => s.kind === 'slm-only')?.slmFolder;
  const folderOf = (spec: EvalModeSpec): string => spec.slmFolder ?? (spec.kind === 'matched-router' ? slmOnlyFolder : undefined) ?? config.slm.folder;
  const engineMode = (spec: EvalModeSpec, traits: ReturnType<typeof readSlmRelayTraits>): RelayMode =>
    spec.kind === 'matched-router' ? 'random-router' : spec.kind === 'auto' ? resolveRelayMode('auto', traits) : spec.kind;
  const label = (spec: EvalModeSpec, mode: RelayMode, training: string | undefined, p?: number, matchedTo?: string): string => {
    const trained = training ? `: ${training}` : '';
    const own = spec.slmFolder && training ? ` (${training})` : '';
    const rowRatio = maxCostRatioOf(spec);
    const ratio = rowRatio === undefined ? '' : `, cost <= ${rowRatio}x LLM alone`;
    switch (spec.kind) {
      case 'slm-only':
        return `SLM alone${own}`;
      case 'llm-only':
        return 'LLM alone';
      case 'command':
        return `relay, command mode${ratio}${trained}`;
      case 'auto':
        return `relay, ${mode} mode (auto)${ratio}${trained}`;
      case 'money-aware':
        return `relay, money-aware: top-1 < ${spec.threshold ?? confidence.threshold}${ratio}${own}`;
      case 'confidence':
        return `relay, confidence mode: top-1 < ${spec.threshold ?? confidence.threshold}, LLM writes ${confidence.spanTokens}${confidence.maxLlmShare < 1 ? `, cap ${confidence.maxLlmShare}` : ''}${own}`;
      default:
        return `random router${matchedTo ? ` matched to ${matchedTo}` : ''} (${((p ?? 0) * 100).toFixed(1)}% of questions to the LLM)`;
    }
  };
  const ordered = [...specs.filter((s) => s.kind !== 'matched-router'), ...specs.filter((s) => s.kind === 'matched-router')];
  const rows: EvalRow[] = [];
  const summaries: ModeSummary[] = [];
  const usedFolders: string[] = [];
  let llmKey: string | null = null;
  let llmPrice: ModelPrice | null = null;
  const messagesOf = items.map((item) => solveMessages(item.question, { plain: config.plainPrompt }));
  // One SLM (and its LLM provider) is open at a time; rows of the same SLM share it.
  let open: RowModels | undefined;
  const close = async () => {
    const current = open;
    open = undefined;
    await current?.deps.dispose();
    await current?.slm.dispose();
  };
  /** This row's composition: its SLM (opened once for the rows that share it) with the configured LLM, in the row's mode. */
  const compositionFor = async (folder: string, mode: RelayMode): Promise<RelayComposition> => {
    if (open?.folder !== folder) {
      await close();
      const rowConfig = { ...config, slm: { ...config.slm, folder } };
      const slm = await openSlm(rowConfig);
      open = { folder, config: rowConfig, slm, deps: new CliDeps(rowConfig, slm) };
      if (!usedFolders.includes(folder)) usedFolders.push(folder);
    }
    const composition = await openComposition(open.config, open.slm, open.deps, mode);
    if (composition.llm) {
      llmKey = composition.llm.modelKey;
      llmPrice = composition.llm.price ?? null;
    }
    return composition;
  };
  try {
    const progress = progressBar(io.stderr, items.length * ordered.length);
    let done = 0;
    for (const spec of ordered) {
      if (options.signal.aborted) break;
      let llmProbability = spec.llmProbability ?? (spec.kind === 'random-router' ? config.router.llmProbability : undefined);
      let matchedTo: string | undefined;
      if (spec.kind === 'matched-router') {
        const best = summaries.filter((s) => s.kind === 'relay').reduce((a, b) => (b.accuracy > a.accuracy ? b : a));
        const slmRow = summaries.find((s) => s.kind === 'baseline-slm') as ModeSummary;
        const llmRow = summaries.find((s) => s.kind === 'baseline-llm') as ModeSummary;
        llmProbability = matchedRouterProbability(slmRow, llmRow, best.accuracy) ?? 1;
        matchedTo = best.spec;
      }
      const folder = folderOf(spec);
      const traits = readSlmRelayTraits(folder);
      const mode = engineMode(spec, traits);
      const composition = await compositionFor(folder, mode);
      const specRows: EvalRow[] = [];
      let correct = 0;
      for (let index = 0; index < items.length; index++) {
        if (options.signal.aborted) break;
        const questionSeed = deriveSeed(seed, index);
        const messages = messagesOf[index];
        const base = composition.options(messages, await composition.prepare(messages));
        const { answer, stats } = await collectRelay({
          ...base,
          slmSampling: { ...base.slmSampling, seed: questionSeed },
          llmSeed: questionSeed,
          confidence: { ...base.confidence, threshold: spec.threshold ?? confidence.threshold },
          router: { llmProbability: llmProbability ?? 0, seed },
          maxCostRatio: maxCostRatioOf(spec),
          signal: options.signal,
        });
        const predicted = extractAnswer(answer);
        const row: EvalRow = { spec: spec.spec, index, answer, reference: items[index].reference, predicted, correct: answersMatch(predicted, items[index].reference), stats };
        if (row.correct) correct += 1;
        specRows.push(row);
        progress(++done, `${spec.spec} ${correct}/${specRows.length} correct`);
      }
      rows.push(...specRows);
      summaries.push(summarise(spec.spec, label(spec, mode, slmTraining(folder), llmProbability, matchedTo), KIND_OF[spec.kind], mode, specRows, llmProbability));
    }
  } finally {
    await close();
  }
  compareWithMatchedRouters(summaries);
  const wallSeconds = (Date.now() - started) / 1000;
  const settings = {
    questions: items.length,
    temperature: config.temperature,
    seed,
    confidenceSpanTokens: confidence.spanTokens,
    maxLlmShare: confidence.maxLlmShare,
    maxTurns: config.maxTurns,
    tokenBudget: config.tokenBudget,
    plainPrompt: config.plainPrompt,
  };
  // Set inside the row loop (TypeScript does not see assignments in closures).
  const price = llmPrice as ModelPrice | null;
  const notes = [
    `${items.length} questions of ${shown(dataPath)}; SLM ${usedFolders.map(shown).join(', ')}; LLM ${llmKey ?? 'none'}; temperature ${config.temperature}, seed ${seed}.`,
    'LLM token share: tokens written by the LLM / all tokens of the answers (commands included), counted in the SLM tokenizer, summed over the questions.',
    `Cost: the LLM's input (re-sent on every call) and output tokens at ${price ? `$${price.inputPerMTok}/M in, $${price.outputPerMTok}/M out` : 'an unknown price'}; the SLM's tokens cost $0. ${options.priceNote ?? ''}`.trim(),
    'Reductions vs matched router: 1 - the row\'s LLM tokens (or cost) / those of a random query router sending (acc - acc_SLM) / (acc_LLM - acc_SLM) of the questions to the LLM; n/a where the row is no more accurate than the SLM alone.',
    `Wall time ${wallSeconds.toFixed(1)} s.`,
  ];
  const table = formatTable(summaries);
  io.stdout.write(`${table}\n\n${notes.join('\n')}\n`);
  writeFileSync(`${options.outPrefix}.csv`, toCsv(rows));
  writeFileSync(`${options.outPrefix}.md`, `${options.commandLine ? `Command: \`${options.commandLine}\`\n\n` : ''}${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`);
  writeFileSync(
    `${options.outPrefix}.json`,
    printableJson(
      { data: dataPath, command: options.commandLine ?? null, slm: config.slm.folder, slms: usedFolders, llm: llmKey, price, settings, wallSeconds, summaries, rows },
      2,
    ) + '\n',
  );
  io.stdout.write(`Wrote ${options.outPrefix}.csv, ${options.outPrefix}.json and ${options.outPrefix}.md\n`);
  return options.signal.aborted ? 130 : 0;
}
