/**
 * `relay eval data.jsonl`: questions with reference answers (GSM8K, MATH500 or plain JSONL,
 * eval/loaders.ts), several modes side by side through the relay engine, the paper-style
 * table (evalTable.ts), and CSV + JSON + Markdown files.
 *
 * At scale: `--concurrency N` answers in flight (a bounded pool over rows x questions;
 * rows of one SLM share its runtime, one SLM open at a time), every answer appended to
 * `<out>.answers.jsonl` as it finishes and reused by the next run with the same `--out`
 * and settings (eval/answersLog.ts), progress with rate and ETA on stderr (eval/progress.ts).
 *
 * Sampling is reproducible: question i of the data file (whatever --offset) samples with
 * seed deriveSeed(seed, i) in every row, so answers do not depend on the order they run
 * in, nor on N. Two exceptions. Rows under a money ceiling price each call with LLM/SLM
 * token ratios learned from the calls before (src/core/relay/money.ts TokenRatios); where
 * the LLM's tokenizer differs from the SLM's, the order answers finish in can move a call
 * across the ceiling. And an LLM priced by time of day (ModelPrice.hours: DeepSeek V4) has
 * each call costed at the rate of its UTC hour (pricing.ts priceAtTime), one that runs across
 * a change of rate at the dearer (relay/money.ts): what an answer costs, and where a money
 * ceiling stops its calls (so its text), depend on when it runs. Rows run one after another,
 * so they may have run at different rates: each answer records its start, and the notes
 * count each row's answers in the hours at another rate (eval/ratesByHour.ts).
 */
import { setMaxListeners } from 'node:events';
import { accessSync, constants, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, isAbsolute, join, relative, resolve, sep } from 'node:path';
import { collectRelay } from '../../core/relay/engine';
import type { RelayMode } from '../../core/relay/events';
import { answersMatch, extractAnswer } from '../../core/relay/answerExtraction';
import { readSlmRelayTraits, resolveRelayMode } from '../../core/relay/modeResolution';
import { policyOf, type EvalRowFacts } from '../../core/relay/policies/registry';
import { deriveSeed } from '../../core/relay/random';
import { UsageError } from '../args';
import type { CliConfig } from '../config';
import { rowKindOf, type EvalModeSpec } from '../evalModes';
import { compareWithMatchedRouters, formatTable, matchedRouterProbability, predictionErrorPct, summarise, type EvalRow, type ModeSummary } from '../evalTable';
import { printableJson, terminalSafe, type Output } from '../render';
import { checkDemoTaskEvalRow } from '../demoTaskModel';
import { checkLlmReady, checkSlmSettings, CliDeps, clearTextSlmWarning, openComposition, openSlm } from '../setup';
import type { RelayComposition } from '../../core/compose';
import type { HourPrice, LlmProvider, ModelPrice } from '../../core/providers/types';
import { resolvePrice } from '../../core/providers/pricing';
import { addressWithoutLogin } from '../../core/http/shownUrl';
import { isProviderKind, providerOf } from '../../core/providers/registry';
import { chooseVariant, filesRead, listVariants, MODEL_FILE_MAX_BYTES, type VariantChoice } from '../../core/slm/modelFolder';
import type { PrefixCacheReport } from '../../core/slm/served/servedRuntime';
import {
  AnswersLog,
  answersPath,
  questionHash,
  type AnswerError,
  type AnswerLine,
  type ModelFiles,
  type RunLine,
  type UncheckedModels,
} from '../eval/answersLog';
import { readEvalData, type EvalItem } from '../eval/loaders';
import { runPool } from '../eval/pool';
import { EvalProgress } from '../eval/progress';
import { reportedLoad, type LoadReporter } from '../loadLines';
import { llmTemperatureSent, llmTemperatureWords, type SentTemperature } from '../eval/llmTemperature';
import { hourWindowsOf, hoursWords, ratesByHour } from '../eval/ratesByHour';
import { isRecord } from '../../shared/isRecord';
import { solveMessages } from './ask';
import { stoppedRender } from '../templateThread';

export { readEvalData, type EvalItem } from '../eval/loaders';
export type { EvalRow, ModeSummary } from '../evalTable';

function csvCell(value: unknown): string {
  // Cells hold the models' answers, and CSV files get `cat`ed: no terminal control in them.
  const text = value === null || value === undefined ? '' : terminalSafe(String(value));
  return /[",\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function toCsv(rows: EvalRow[]): string {
  const header = [
    'spec',
    'mode',
    'index',
    'reference',
    'predicted',
    'correct',
    'slm_tokens',
    'llm_tokens',
    'llm_token_share',
    'calls',
    'llm_input_tokens',
    'llm_output_tokens',
    'cost_usd',
    'llm_only_cost_usd',
    'elapsed_ms',
    'finish_reason',
    'question_id',
  ];
  const lines = rows.map((r) =>
    [
      r.spec,
      r.stats.mode,
      r.index,
      r.reference,
      r.predicted,
      r.correct,
      r.stats.slmTokens,
      r.stats.llmTokens,
      r.stats.llmTokenShare,
      r.stats.calls,
      r.stats.llmUsage.inputTokens,
      r.stats.llmUsage.outputTokens,
      r.stats.costUsd,
      r.stats.llmOnlyCostUsd,
      r.stats.elapsedMs,
      r.stats.finishReason,
      r.id,
    ]
      .map(csvCell)
      .join(','),
  );
  return [header.join(','), ...lines].join('\n') + '\n';
}

/** A path as shown in the notes: relative to the working folder when inside it. */
function shown(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel) ? rel : path;
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** The files `relay eval --out <prefix>` writes. */
export const outFiles = (outPrefix: string): string[] => [answersPath(outPrefix), `${outPrefix}.csv`, `${outPrefix}.json`, `${outPrefix}.md`];

/**
 * Checks `--out <prefix>` before anything runs, and makes its folder: a prefix names files
 * (`results/run1` -> results/run1.csv ...), so it may not be empty or end in a separator;
 * its folder must be a folder (made when missing) that can be written, and no file it
 * names may be a folder.
 */
export function prepareOutPrefix(outPrefix: string): void {
  const shownPrefix = terminalSafe(outPrefix);
  const name = basename(outPrefix);
  if (outPrefix.trim() === '' || /[\\/]$/.test(outPrefix) || outPrefix.endsWith(sep) || name === '.' || name === '..') {
    throw new UsageError(
      `--out '${shownPrefix}' names no file: it is the start of the files' names (--out results/run1 writes results/run1.csv, .json, .md and .answers.jsonl).`,
    );
  }
  const folder = dirname(resolve(outPrefix));
  // The nearest folder that exists must be a folder, not a file.
  let existing = folder;
  for (;;) {
    let isFolder: boolean | undefined;
    try {
      isFolder = statSync(existing).isDirectory();
    } catch {
      isFolder = undefined;
    }
    if (isFolder === false) throw new UsageError(`--out '${shownPrefix}': ${terminalSafe(existing)} is a file, not a folder.`);
    if (isFolder === true || dirname(existing) === existing) break;
    existing = dirname(existing);
  }
  // The missing folders are made one level at a time below the one that exists: a recursive
  // mkdir under a file system that refuses new folders without saying so (/proc) never returns on Node 20.
  const missing: string[] = [];
  for (let dir = folder; dir !== existing; dir = dirname(dir)) missing.unshift(dir);
  for (const dir of missing) {
    try {
      mkdirSync(dir);
    } catch (error) {
      // Made meanwhile (another run with the same --out) is no mistake.
      if ((error as NodeJS.ErrnoException).code === 'EEXIST' && isDirectory(dir)) continue;
      throw new UsageError(
        `--out '${shownPrefix}': cannot make the folder ${terminalSafe(dir)} in ${terminalSafe(dirname(dir))} (${terminalSafe((error as Error).message)}). Choose another --out.`,
      );
    }
  }
  try {
    accessSync(folder, constants.W_OK);
  } catch (error) {
    throw new UsageError(`--out '${shownPrefix}': cannot write in ${terminalSafe(folder)} (${terminalSafe((error as Error).message)}).`);
  }
  for (const file of outFiles(outPrefix)) {
    let isFolder = false;
    try {
      isFolder = statSync(file).isDirectory();
    } catch {
      continue;
    }
    if (isFolder) throw new UsageError(`--out '${shownPrefix}': ${terminalSafe(file)} is a folder; relay eval writes a file there. Choose another --out.`);
    try {
      accessSync(file, constants.W_OK);
    } catch (error) {
      throw new UsageError(`--out '${shownPrefix}': cannot write ${terminalSafe(file)} (${terminalSafe((error as Error).message)}).`);
    }
  }
}

export interface EvalOptions {
  limit?: number;
  /** Skip this many questions of the file first. */
  offset?: number;
  /** Answers in flight at once (default 1). */
  concurrency?: number;
  /** Start `<out>.answers.jsonl` over instead of resuming it. */
  fresh?: boolean;
  outPrefix: string;
  signal: AbortSignal;
  /** The command line, recorded in the files: with every address's user:password masked (main.ts recordedCommandLine). */
  commandLine?: string;
  /** A sentence about the LLM's price shown under the table (e.g. the demo's reference price). */
  priceNote?: string;
  /** Where a row's SLM comes from; default: the CLI's (setup.ts openSlm, whatever runtime it opens). */
  models?: EvalModels;
}

/** A row's SLM, open, and the compositions of its rows; rows of the same folder share it. */
export interface OpenRowModels {
  compose(mode: RelayMode): Promise<RelayComposition>;
  /** A line for the notes about the SLM's server (what its prefix cache served), read before dispose; none for an SLM in this process. */
  serverNote?(): string | undefined;
  dispose(): Promise<void>;
}

/** Opens the SLM of `config.slm` (any SlmRuntime: in this process, or a server's) for the rows of that folder. */
export interface EvalModels {
  /** `reportLoad`: how a load of a model in this process is said (on stderr, between the progress lines). */
  open(config: CliConfig, reportLoad: LoadReporter): Promise<OpenRowModels>;
}

export const CLI_EVAL_MODELS: EvalModels = {
  async open(config, reportLoad) {
    const slm = await openSlm(config, reportLoad);
    const deps = new CliDeps(config, slm, reportLoad);
    return {
      compose: (mode) => openComposition(config, slm, deps, mode),
      serverNote: () => (slm.prefixCache ? prefixCacheNote(config.slm.serverModel, slm.prefixCache) : undefined),
      dispose: async () => {
        await deps.dispose();
        await slm.dispose();
      },
    };
  },
};

/**
 * A price in the eval's notes: per million tokens in and out, each long-context tier a call
 * is billed at above its threshold, and the hours of the UTC day billed at other rates
 * (ModelPrice.hours), windows of one rate together: "...; 01:00-04:00 and 06:00-10:00 UTC on weekdays: $0.44/M in, $1.32/M out".
 */
export function priceWords(price: ModelPrice): string {
  const flat = (p: { inputPerMTok: number; outputPerMTok: number }) => `$${p.inputPerMTok}/M in, $${p.outputPerMTok}/M out`;
  const tiers = (price.tiers ?? []).map((t) => `; above ${t.aboveInputTokens.toLocaleString('en-US')} input tokens, the whole call at ${flat(t)}`);
  // The price may come from an answers file (a hand edit): windows that are not numbers are left out, not a crash.
  /** The windows of each rate as written, the rates in the order of their first hour in the day. */
  const byRate = new Map<string, HourPrice[]>();
  for (const w of hourWindowsOf(price).sort((a, b) => a.fromUtcSecond - b.fromUtcSecond)) byRate.set(flat(w), [...(byRate.get(flat(w)) ?? []), w]);
  const hours = [...byRate].map(([rate, windows]) => `; ${hoursWords(windows)}: ${rate}`);
  return flat(price) + tiers.join('') + hours.join('');
}

/** What a served SLM's prefix cache did in this run, as far as the server reported it. */
export function prefixCacheNote(model: string, report: PrefixCacheReport): string {
  const name = terminalSafe(model);
  if (report.reported === 0)
    return `SLM server (${name}): its prefix cache did not report what it served (vLLM reports it with --enable-prompt-tokens-details).`;
  const share = report.promptTokens > 0 ? ` (${((100 * report.cachedPromptTokens) / report.promptTokens).toFixed(1)}%)` : '';
  // Requests cut at the gate or at a command close before the server's usage: only those that ran to their end count.
  return `SLM server (${name}): ${report.cachedPromptTokens.toLocaleString('en-US')} of ${report.promptTokens.toLocaleString('en-US')} prompt tokens served from its prefix cache${share} over the ${report.requests} requests that ran to their end.`;
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

/** An answer's error on one line, safe to print (its message may quote a server). */
const errorText = (failure: AnswerError): string => `error (${terminalSafe(failure.code)}): ${terminalSafe(failure.message).replace(/\s*\n\s*/g, ' ')}`;

const signedPct = (x: number): string => `${x >= 0 ? '+' : ''}${x.toFixed(2)}%`;

/** A row's money ceiling: its own @ratio; money-aware without one takes the configured ratio; other rows run without it. */
function maxCostRatioFor(config: CliConfig): (spec: EvalModeSpec) => number | undefined {
  return (spec) => spec.maxCostRatio ?? (spec.kind === 'money-aware' ? config.limits.maxCostRatio : undefined);
}

/**
 * The settings that decide the answers, recorded in the answers file: a resumed run must
 * have the same (timeouts, where totals go, keys, the stall limit, the KV-cache reuse budget
 * and where a setting came from do not change an answer; --modes, --limit, --offset and
 * --concurrency may change between runs). The LLM's price is recorded as resolved: the
 * catalog of another Relay version may price the same model otherwise, and costs would mix.
 */
export function answerSettings(config: CliConfig, dataPath: string): Record<string, unknown> {
  const { timeouts: _timeouts, totalsPath: _totals, keys: _keys, mode: _mode, origins: _origins, limits, slm, provider, ...rest } = config;
  const { maxStallSeconds: _stall, ...answerLimits } = limits;
  // Where the SLM's server listens does not decide the answers (its model does): a restarted server on another port resumes.
  // An ONNX SLM's record has no server fields, as before servers.
  const { serverUrl: _serverUrl, kvCacheBudgetMb: _kvCache, kind, serverModel, ...folderSlm } = slm;
  const answerSlm = kind === 'onnx' ? folderSlm : { ...folderSlm, kind, serverModel };
  const { kind: llmKind, model, baseUrl } = provider;
  const llmPrice = resolvePrice(llmKind, model, config.prices, baseUrl);
  // The base URL's user:password is a secret (sent as Basic auth) and does not change the answers: recorded without it.
  const answerProvider = { ...provider, baseUrl: addressWithoutLogin(baseUrl) };
  return { data: resolve(dataPath), provider: answerProvider, ...rest, slm: answerSlm, limits: answerLimits, llmPrice };
}

/**
 * The LLM's price that the settings recorded in an answers file (answerSettings; untrusted: a
 * hand edit, another version's) give with this relay's price list, or undefined when they do
 * not say: another price than the file's answers were billed at cannot be had again.
 */
function llmPriceOfRecorded(settings: Record<string, unknown>): unknown {
  const { provider, prices } = settings;
  if (!isRecord(provider) || !isProviderKind(provider.kind) || typeof provider.model !== 'string' || !isRecord(prices)) return undefined;
  return resolvePrice(provider.kind, provider.model, prices, typeof provider.baseUrl === 'string' ? provider.baseUrl : undefined);
}

/**
 * What identifies the model of each SLM folder the rows read in this process, recorded in
 * the answers file so that a model exported again into the same folder is noticed. None for a
 * served SLM: its folder gives only the tokenizer, and its model is recorded by name.
 */
export function slmModelFiles(config: CliConfig, folders: string[]): Record<string, ModelFiles> | undefined {
  if (config.slm.kind !== 'onnx') return undefined;
  return Object.fromEntries(folders.map((folder) => [folder, modelFilesOf(folder, config.slm.variant)]));
}

/**
 * What identifies the model of an in-process LLM (onnx-local: provider.model is its folder),
 * recorded like the SLM folders' so that a model exported again into it is noticed. None for
 * a served LLM: it is recorded by name.
 */
function llmModelFiles(config: CliConfig): RunLine['llmModel'] {
  const { kind, model } = config.provider;
  if (!providerOf(kind).inProcess || model === '') return undefined;
  // Loaded with the variant chosen by default (setup.ts openLocalLlm).
  return { folder: model, files: modelFilesOf(model, 'auto') };
}

/**
 * The size and modification time of the files of `folder` that decide its answers: those a
 * load reads (modelFolder.ts filesRead: the text files, the chosen variant's graph and its
 * external data). Stat only: weights of gigabytes are not read.
 */
function modelFilesOf(folder: string, variant: VariantChoice): ModelFiles {
  let names: string[];
  try {
    names = filesRead(folder, chooseVariant(folder, listVariants(folder), variant));
  } catch {
    // No such variant: opening the folder says so, before any answer runs.
    names = Object.keys(MODEL_FILE_MAX_BYTES);
  }
  const files: ModelFiles = {};
  for (const name of names) {
    try {
      const stat = statSync(join(folder, name));
      // Whole seconds: what every file system keeps, and a time put back (touch -r, a copy that keeps times) keeps exactly.
      files[name] = { bytes: stat.size, modifiedMs: Math.floor(stat.mtimeMs / 1000) * 1000 };
    } catch {
      // Not in this folder (generation_config.json and chat_template.jinja are optional).
    }
  }
  return files;
}

/** The once-note on the models a file of an earlier relay did not record, each named as the SLM's or the LLM's; undefined when none. */
function uncheckedModelsNote(file: string, unchecked: UncheckedModels): string | undefined {
  const folders = (list: string[]): string => list.map((f) => terminalSafe(shown(f))).join(', ');
  const models = [
    ...(unchecked.slm.length === 0 ? [] : [`${unchecked.slm.length === 1 ? "the SLM's model in" : "the SLMs' models in"} ${folders(unchecked.slm)}`]),
    ...(unchecked.llm === undefined ? [] : [`the LLM's model in ${folders([unchecked.llm])}`]),
  ];
  if (models.length === 0) return undefined;
  const which = unchecked.slm.length + (unchecked.llm === undefined ? 0 : 1) > 1 ? 'one of these models' : 'that model';
  return `${file} was written by an earlier relay that did not record ${models.join(' or ')}; its answers are reused as they are. If ${which} was exported again since, pass --fresh.`;
}

/** The temperatures the LLM ran at in `answered` (those that used it), each with its count; an answer of an earlier relay, which did not record it, as `unrecorded` says. */
function llmTemperaturesOf(answered: AnswerLine[], unrecorded: () => SentTemperature): { sent: SentTemperature; answers: number }[] {
  const counts = new Map<SentTemperature, number>();
  for (const line of answered.filter((l) => l.llm !== null)) {
    const sent = line.llmTemperature === undefined ? unrecorded() : line.llmTemperature;
    counts.set(sent, (counts.get(sent) ?? 0) + 1);
  }
  return [...counts].map(([sent, answers]) => ({ sent, answers }));
}

/** The JSON's llmTemperature: a number, "default" (none sent: the model's own), "mixed" (answers differ; the notes say how), or null (no answer used the LLM). */
function llmTemperatureJson(temperatures: { sent: SentTemperature }[]): number | 'default' | 'mixed' | null {
  if (temperatures.length === 0) return null;
  if (temperatures.length > 1) return 'mixed';
  return temperatures[0].sent ?? 'default';
}

/** The notes' temperature: one where both models ran at the one asked, else each model's. */
function temperatureNote(asked: number, llm: { sent: SentTemperature; answers: number }[], model: string): string {
  if (llm.every((t) => t.sent === asked)) return `temperature ${asked}`;
  const each =
    llm.length === 1
      ? llmTemperatureWords(llm[0].sent, asked, model)
      : llm.map((t) => `${llmTemperatureWords(t.sent, asked, model)} in ${t.answers} answer${t.answers === 1 ? '' : 's'}`).join(', ');
  return `the SLM at temperature ${asked}, the LLM at ${each}`;
}

interface Task {
  spec: EvalModeSpec;
  item: EvalItem;
  llmProbability: number | undefined;
}

const keyOf = (spec: string, index: number): string => `${spec}\n${index}`;

export async function runEval(
  dataPath: string,
  specs: EvalModeSpec[],
  config: CliConfig,
  io: { stdout: Output; stderr: Output },
  options: EvalOptions,
): Promise<number> {
  const started = Date.now();
  const items = readEvalData(dataPath, { limit: options.limit, offset: options.offset });
  // A mistake in --out is said before any answer runs, not after the last.
  prepareOutPrefix(options.outPrefix);
  const concurrency = options.concurrency ?? 1;
  // Every answer in flight listens to the one Stop signal (a few listeners each): not a leak, so no warning on stderr.
  setMaxListeners(Math.max(10, 4 * concurrency + 10), options.signal);
  const models = options.models ?? CLI_EVAL_MODELS;
  const seed = config.seed ?? 0;
  const { confidence } = config;
  const maxCostRatioOf = maxCostRatioFor(config);
  // A row's SLM: its own `=<folder>`, the slm-only row's for the matched router, else the configured one.
  const slmOnlyFolder = specs.find((s) => s.kind === 'slm-only')?.slmFolder;
  const folderOf = (spec: EvalModeSpec): string => spec.slmFolder ?? (spec.kind === 'matched-router' ? slmOnlyFolder : undefined) ?? config.slm.folder;
  const modeOf = (spec: EvalModeSpec): RelayMode =>
    spec.kind === 'matched-router' ? 'random-router' : spec.kind === 'auto' ? resolveRelayMode('auto', readSlmRelayTraits(folderOf(spec))) : spec.kind;
  /** The settings of the rows of one SLM folder. */
  const configOf = (folder: string): CliConfig => ({ ...config, slm: { ...config.slm, folder } });
  // The SLMs' settings: said before the first question's SLM loads and writes.
  for (const folder of new Set(specs.map(folderOf))) checkSlmSettings(configOf(folder));
  // A demo model asked with the step-by-step suffix would score its garbage: refused as relay solve refuses it.
  for (const spec of specs) checkDemoTaskEvalRow(configOf(folderOf(spec)), modeOf(spec));
  // The LLM's model and key too, not at its first call, for the rows with questions left: where the answers file
  // can give no answer, before it is written; else once it says which rows are done (a finished run's reports are
  // rebuilt without a key that no call would use).
  const answersFile = answersPath(options.outPrefix);
  const reusesNothing = options.fresh === true || !existsSync(answersFile);
  if (reusesNothing) await checkLlmReady(config, specs.map(modeOf));
  const label = (spec: EvalModeSpec, mode: RelayMode, training: string | undefined, p?: number, matchedTo?: string): string => {
    const rowRatio = maxCostRatioOf(spec);
    const facts: EvalRowFacts = {
      costCeiling: rowRatio === undefined ? '' : `, cost <= ${rowRatio}x LLM alone`,
      training,
      ownSlm: spec.slmFolder !== undefined,
      threshold: spec.threshold ?? confidence.threshold,
      confidence,
      llmProbability: p,
      matchedTo,
    };
    // auto names the mode it resolved to; every other row is labelled by its policy.
    if (spec.kind === 'auto') return `relay, ${mode} mode (auto)${facts.costCeiling}${training ? `: ${training}` : ''}`;
    return policyOf(mode).evalLabel(facts);
  };
  const ordered = [...specs.filter((s) => s.kind !== 'matched-router'), ...specs.filter((s) => s.kind === 'matched-router')];
  const routers = ordered.filter((s) => s.kind === 'matched-router');
  const others = ordered.filter((s) => s.kind !== 'matched-router');
  const byIndex = new Map(items.map((item) => [item.index, item]));

  // The answers file: what earlier runs with this --out finished is reused. --out may name a new folder (made above).
  const opened = AnswersLog.open(
    answersFile,
    {
      command: options.commandLine ?? null,
      settings: answerSettings(config, dataPath),
      models: slmModelFiles(config, [...new Set(ordered.map(folderOf))]),
      llmModel: llmModelFiles(config),
      startedAt: new Date().toISOString(),
    },
    {
      fresh: options.fresh,
      llmPriceOf: llmPriceOfRecorded,
      checkPrevious: (previous) => {
        const changed = previous.map((line) => byIndex.get(line.index)).find((item, i) => item && previous[i].questionHash !== questionHash(item.question));
        if (changed)
          throw new UsageError(
            `relay eval: question ${changed.index + 1} (${terminalSafe(changed.id)}) of ${terminalSafe(dataPath)} is not the one answered in ${terminalSafe(answersFile)}: the data file changed. Choose another --out, or pass --fresh to start over.`,
          );
      },
    },
  );
  const { log } = opened;
  /** The latest line of each (row, question) of this run's questions. */
  const results = new Map<string, AnswerLine>();
  for (const line of opened.previous) if (byIndex.has(line.index)) results.set(keyOf(line.spec, line.index), line);
  let freshCount = 0;
  /** The line of a row's answer to a question when it belongs to this row as it runs now (same SLM; routers: same p). */
  const lineOf = (spec: EvalModeSpec, index: number, llmProbability: number | undefined): AnswerLine | undefined => {
    const line = results.get(keyOf(spec.spec, index));
    if (!line || line.slm !== folderOf(spec)) return undefined;
    if (llmProbability !== undefined && !(Math.abs((line.llmProbability ?? NaN) - llmProbability) <= 1e-12)) return undefined;
    return line;
  };
  /** Answers that failed (a server down) are run again; the rest are reused. */
  const reusable = (line: AnswerLine | undefined): boolean => line !== undefined && line.stats.finishReason !== 'error';
  const rowOf = (line: AnswerLine): EvalRow => {
    // Judged again with this relay's extraction and normalisation, against the data file's reference.
    const item = byIndex.get(line.index) as EvalItem;
    const predicted = extractAnswer(line.answer);
    return {
      spec: line.spec,
      index: line.index,
      id: line.id,
      answer: line.answer,
      reference: item.reference,
      predicted,
      correct: answersMatch(predicted, item.reference),
      stats: line.stats,
      ...(line.error ? { error: line.error } : {}),
    };
  };
  const rowsOf = (spec: EvalModeSpec, llmProbability: number | undefined): EvalRow[] =>
    items.flatMap((item) => {
      const line = lineOf(spec, item.index, llmProbability);
      return line ? [rowOf(line)] : [];
    });
  const probabilityOf = (spec: EvalModeSpec): number | undefined =>
    spec.llmProbability ?? (spec.kind === 'random-router' ? config.router.llmProbability : undefined);
  if (!reusesNothing) {
    const unfinished = (spec: EvalModeSpec, llmProbability: number | undefined): boolean =>
      items.some((item) => !reusable(lineOf(spec, item.index, llmProbability)));
    const othersLeft = others.filter((spec) => unfinished(spec, probabilityOf(spec)));
    // A matched router's p comes from the other rows' accuracies: it has questions left while they do (undefined: any p).
    const rowsLeft = [...othersLeft, ...routers.filter((spec) => othersLeft.length > 0 || unfinished(spec, undefined))];
    try {
      await checkLlmReady(config, rowsLeft.map(modeOf));
    } catch (error) {
      log.close();
      throw error;
    }
  }

  const progress = new EvalProgress(io.stderr, items.length * ordered.length, items.length);
  const inClear = clearTextSlmWarning(config);
  if (inClear) progress.line(terminalSafe(inClear));
  // Said before anything runs (Ctrl-C is still cheap): lines of the file that are not reused, and why.
  const { unreadable } = opened;
  const unreadableNote =
    unreadable.length === 0
      ? undefined
      : `${unreadable.length === 1 ? '1 line' : `${unreadable.length} lines`} of ${shown(answersFile)} cannot be reused (${terminalSafe(unreadable.slice(0, 5).join('; '))}${unreadable.length > 5 ? '; ...' : ''}); their answers are run again.`;
  if (unreadableNote) progress.line(`relay: ${unreadableNote}`);
  // Said once: this run records the models, so the next one checks them.
  const unchecked = uncheckedModelsNote(shown(answersFile), opened.uncheckedModels);
  if (unchecked) progress.line(`relay: ${unchecked}`);
  // Said once that the LLM is not sampled at the temperature asked: here where the model tables tell, else after the run (refused at run time).
  let saidTemperature = false;
  const sayLlmTemperature = (sent: SentTemperature): void => {
    if (saidTemperature || sent === config.temperature) return;
    saidTemperature = true;
    progress.line(
      `relay: the LLM runs at ${llmTemperatureWords(sent, config.temperature, terminalSafe(config.provider.model))}, not at the ${config.temperature} asked; the SLM runs at ${config.temperature}.`,
    );
  };
  /** The LLM's provider, once a row that calls it is composed: it says the temperature it sends. */
  let llmProvider: LlmProvider | undefined;
  // Why answers fail, on stderr as it happens: each row's first error, each message once.
  const failedRows = new Set<string>();
  const saidErrors = new Set<string>();
  const reportFailure = (spec: string, failure: AnswerError): void => {
    if (failedRows.has(spec)) return;
    failedRows.add(spec);
    const text = errorText(failure);
    if (saidErrors.has(text)) return;
    saidErrors.add(text);
    progress.line(`relay: ${spec}: an answer failed: ${text}`);
  };
  const pendingOf = (spec: EvalModeSpec, llmProbability: number | undefined): Task[] => {
    const pending: Task[] = [];
    let resumed = 0;
    let correct = 0;
    for (const item of items) {
      const line = lineOf(spec, item.index, llmProbability);
      if (reusable(line)) {
        resumed++;
        if (rowOf(line as AnswerLine).correct) correct++;
      } else pending.push({ spec, item, llmProbability });
    }
    if (resumed > 0) progress.resumed(spec.spec, resumed, correct);
    return pending;
  };

  // A load takes seconds to minutes with a real model: said on a line of its own, the bar redrawn by the next answer.
  const reportLoad: LoadReporter = (load, open) => reportedLoad(progress.lineWriter(), load, open);
  // One SLM (and its LLM provider) is open at a time; the rows of that SLM share it.
  let open: { folder: string; models: OpenRowModels } | undefined;
  const serverNotes: string[] = [];
  const close = async () => {
    const current = open;
    open = undefined;
    const note = current?.models.serverNote?.();
    if (note) serverNotes.push(note);
    await current?.models.dispose();
  };
  const openFolder = async (folder: string): Promise<OpenRowModels> => {
    if (open?.folder !== folder) {
      await close();
      open = { folder, models: await models.open(configOf(folder), reportLoad) };
    }
    return open.models;
  };
  /** Runs the tasks of one SLM's rows, `concurrency` at a time, each answer appended to the file as it finishes. */
  const runTasks = async (folder: string, tasks: Task[]): Promise<void> => {
    if (tasks.length === 0 || options.signal.aborted) return;
    const rowModels = await openFolder(folder);
    const compositions = new Map<string, RelayComposition>();
    for (const task of tasks) {
      if (compositions.has(task.spec.spec)) continue;
      const composition = await rowModels.compose(modeOf(task.spec));
      compositions.set(task.spec.spec, composition);
      // Said before the LLM's first answer where the provider's model tables tell; else after the run (refused at run time).
      if (composition.llm && !llmProvider) sayLlmTemperature(llmTemperatureSent((llmProvider = composition.llm.provider), config.temperature));
    }
    const messagesOf = new Map<number, ReturnType<typeof solveMessages>>();
    await runPool(
      tasks,
      concurrency,
      async ({ spec, item, llmProbability }) => {
        const composition = compositions.get(spec.spec) as RelayComposition;
        progress.starting(spec.spec);
        let messages = messagesOf.get(item.index);
        if (!messages) messagesOf.set(item.index, (messages = solveMessages(item.question, { plain: config.plainPrompt })));
        const questionSeed = deriveSeed(seed, item.index);
        let prompt: string;
        try {
          prompt = await composition.prepare(messages, options.signal);
        } catch (error) {
          // Stopped while its chat template rendered (templateThread.ts): not an answer, as one stopped halfway is not.
          if (stoppedRender(error, options.signal)) return;
          throw error;
        }
        const base = composition.options(messages, prompt);
        // The clock the engine prices by time of day on (RelayOptions.now: Date.now, unless a test composes one): the answer's start on it is recorded.
        const clock = base.now ?? Date.now;
        const startedAt = new Date(clock()).toISOString();
        const { answer, stats, events } = await collectRelay({
          ...base,
          now: clock,
          slmSampling: { ...base.slmSampling, seed: questionSeed },
          llmSeed: questionSeed,
          confidence: { ...base.confidence, threshold: spec.threshold ?? confidence.threshold },
          router: { llmProbability: llmProbability ?? 0, seed },
          maxCostRatio: maxCostRatioOf(spec),
          signal: options.signal,
        });
        // Stopped halfway: not an answer; the next run answers it again.
        if (stats.finishReason === 'cancelled') return;
        const predicted = extractAnswer(answer);
        const correct = answersMatch(predicted, item.reference);
        const errorEvent = events.find((e) => e.type === 'error');
        const failure: AnswerError | undefined = errorEvent?.type === 'error' ? { code: errorEvent.code, message: errorEvent.message } : undefined;
        if (failure) reportFailure(spec.spec, failure);
        const line: Omit<AnswerLine, 'type'> = {
          spec: spec.spec,
          index: item.index,
          id: item.id,
          questionHash: questionHash(item.question),
          slm: folder,
          mode: stats.mode,
          llm: composition.llm?.modelKey ?? null,
          price: composition.llm?.price ?? null,
          // After the answer: a refusal of the temperature during its calls is known by then.
          ...(composition.llm ? { llmTemperature: llmTemperatureSent(composition.llm.provider, config.temperature) } : {}),
          ...(llmProbability === undefined ? {} : { llmProbability }),
          reference: item.reference,
          predicted,
          correct,
          answer,
          stats,
          ...(failure ? { error: failure } : {}),
          startedAt,
          finishedAt: new Date().toISOString(),
        };
        log.append(line);
        freshCount++;
        results.set(keyOf(spec.spec, item.index), { type: 'answer', ...line });
        progress.answered(spec.spec, correct, failure !== undefined || stats.finishReason === 'error');
      },
      options.signal,
    );
  };

  const summaries: ModeSummary[] = [];
  const tableRows: EvalRow[] = [];
  const stopped: string[] = [];
  /** Matched routers that could not be matched (a baseline row without an accuracy). */
  const unmatched: string[] = [];
  const addRow = (spec: EvalModeSpec, rows: EvalRow[], llmProbability?: number, matchedTo?: string): ModeSummary | undefined => {
    if (rows.length < items.length) stopped.push(`${spec.spec} ${rows.length}/${items.length}`);
    if (rows.length === 0) return undefined;
    const summary = summarise(
      spec.spec,
      label(spec, modeOf(spec), slmTraining(folderOf(spec)), llmProbability, matchedTo),
      rowKindOf(spec.kind),
      modeOf(spec),
      rows,
      llmProbability,
    );
    tableRows.push(...rows);
    summaries.push(summary);
    return summary;
  };
  try {
    try {
      // The rows of each SLM together (in the order of --modes within it), then the matched routers.
      const folders = [...new Set(others.map(folderOf))];
      for (const folder of folders) {
        const tasks = others.filter((s) => folderOf(s) === folder).flatMap((spec) => pendingOf(spec, probabilityOf(spec)));
        await runTasks(folder, tasks);
      }
      for (const spec of others) addRow(spec, rowsOf(spec, probabilityOf(spec)), probabilityOf(spec));
      // The matched router needs every other row complete: its p comes from their accuracies.
      const complete = others.every((spec) => rowsOf(spec, probabilityOf(spec)).length === items.length);
      for (const spec of routers) {
        const relays = summaries.filter((s) => s.kind === 'relay');
        const slmRow = summaries.find((s) => s.kind === 'baseline-slm');
        const llmRow = summaries.find((s) => s.kind === 'baseline-llm');
        // Accuracies leave failed answers out (evalTable.ts accuracyOf): a row whose every answer failed has none to match.
        const best = relays
          .filter((s) => s.accuracy !== null)
          .reduce<ModeSummary | undefined>((a, b) => (a === undefined || (b.accuracy ?? 0) > (a.accuracy ?? 0) ? b : a), undefined);
        const noAccuracy = [slmRow, llmRow, ...(best ? [] : relays)].filter((s) => s !== undefined && s.accuracy === null).map((s) => s?.spec);
        if (complete && noAccuracy.length > 0)
          unmatched.push(`${spec.spec} did not run: every answer of ${noAccuracy.join(', ')} failed, so there is no accuracy to match it to`);
        if (!complete || !best || !slmRow || !llmRow || noAccuracy.length > 0) {
          stopped.push(`${spec.spec} 0/${items.length}`);
          continue;
        }
        const p = matchedRouterProbability(slmRow, llmRow, best.accuracy) ?? 1;
        await runTasks(folderOf(spec), pendingOf(spec, p));
        addRow(spec, rowsOf(spec, p), p, best.spec);
      }
    } finally {
      await close();
    }
  } finally {
    log.close();
  }
  compareWithMatchedRouters(summaries);
  const wallSeconds = (Date.now() - started) / 1000;
  const offset = options.offset ?? 0;
  // The LLM and its price, as the answers recorded them (resumed answers included).
  const answered = ordered.flatMap((spec) => items.map((item) => results.get(keyOf(spec.spec, item.index)))).filter((l): l is AnswerLine => l !== undefined);
  // Answers of an earlier relay recorded none: as this run's provider sends it (none ran: as asked, as they were labelled).
  const llmTemperatures = llmTemperaturesOf(answered, () => (llmProvider ? llmTemperatureSent(llmProvider, config.temperature) : config.temperature));
  if (llmTemperatures.length === 1) sayLlmTemperature(llmTemperatures[0].sent);
  else if (llmTemperatures.length > 1 && !saidTemperature) {
    // Answers that ran at different temperatures (a server that refused it after some were written, another run resumed).
    saidTemperature = true;
    progress.line(`relay: ${temperatureNote(config.temperature, llmTemperatures, terminalSafe(config.provider.model))}.`);
  }
  const settings = {
    questions: items.length,
    offset,
    /** Asked (--temperature); the SLM ran at it, the LLM at llmTemperature. */
    temperature: config.temperature,
    slmTemperature: config.temperature,
    llmTemperature: llmTemperatureJson(llmTemperatures),
    seed,
    confidenceSpanTokens: confidence.spanTokens,
    maxLlmShare: confidence.maxLlmShare,
    maxTurns: config.maxTurns,
    tokenBudget: config.tokenBudget,
    plainPrompt: config.plainPrompt,
    concurrency,
  };
  const usedFolders = [...new Set(ordered.filter((s) => summaries.some((m) => m.spec === s.spec)).map(folderOf))];
  const llmKey =
    answered
      .map((l) => l.llm)
      .filter((k) => k !== null)
      .pop() ?? null;
  const price: ModelPrice | null =
    answered
      .map((l) => l.price)
      .filter((p) => p !== null)
      .pop() ?? null;
  // Each row's answers as the table counts them, for the hours they were billed in.
  const hours = ratesByHour(
    price,
    summaries.map((s) => {
      const spec = ordered.find((o) => o.spec === s.spec) as EvalModeSpec;
      return { spec: s.spec, lines: items.flatMap((item) => lineOf(spec, item.index, s.llmProbability) ?? []) };
    }),
  );
  const range = offset > 0 ? `questions ${offset + 1}-${offset + items.length}` : `${items.length} questions`;
  const notes = [
    `${range} of ${shown(dataPath)}; SLM ${usedFolders.map(shown).join(', ')}; LLM ${llmKey === null ? 'none' : terminalSafe(llmKey)}; ${temperatureNote(config.temperature, llmTemperatures, terminalSafe(config.provider.model))}, seed ${seed}.`,
    'Accuracy: correct answers / answers that did not fail; a failed answer (an error, counted under errors) is left out, neither right nor wrong; n/a where every answer of a row failed.',
    'LLM token share: tokens written by the LLM / all tokens of the answers (commands included), counted in the SLM tokenizer, summed over the questions.',
    `Cost: the LLM's input (re-sent on every call) and output tokens at ${price ? priceWords(price) : 'an unknown price'}; the SLM's tokens cost $0. ${options.priceNote ?? ''}`.trim(),
    ...(hours?.notes ?? []),
    "Reductions vs matched router: 1 - the row's LLM tokens (or cost) / those of a random query router sending (acc - acc_SLM) / (acc_LLM - acc_SLM) of the questions to the LLM; n/a where the row is no more accurate than the SLM alone.",
    `Wall time ${wallSeconds.toFixed(1)} s${concurrency > 1 ? `, ${concurrency} answers in flight` : ''}.`,
    `Answers: ${shown(answersFile)}${opened.resumed ? ` (${tableRows.length - freshCount} from earlier runs, ${freshCount} new)` : ''}.`,
  ];
  const predicted = summaries.filter((s) => predictionErrorPct(s.billing) !== null);
  if (predicted.length > 0) {
    const each = predicted.map((s) => `${s.spec} ${signedPct(predictionErrorPct(s.billing) as number)} over ${s.billing?.calls} calls`);
    notes.push(
      `Billing model: each call priced before it was made (with the output it then wrote) against what the provider's reported usage cost, + = over-predicted: ${each.join('; ')}.`,
    );
  }
  notes.push(...serverNotes);
  const discarded = tableRows.reduce((sum, r) => sum + (r.stats.slmDiscardedTokens ?? 0), 0);
  if (discarded > 0) {
    const written = tableRows.reduce((sum, r) => sum + r.stats.slmTokens, 0);
    notes.push(
      `Served SLM waste: ${discarded} tokens generated and discarded (${((100 * discarded) / Math.max(1, written + discarded)).toFixed(1)}% of what it generated): a server cannot refuse a token before writing it, so the stream is cut at the gate's refused token and what had come after is dropped.`,
    );
  }
  if (unreadableNote) notes.push(unreadableNote);
  const failed = summaries.filter((s) => s.errors > 0);
  if (failed.length > 0) {
    const each = failed.map((s) => `${s.spec} ${s.errors}/${s.questions}${s.firstError ? ` (first: ${errorText(s.firstError)})` : ''}`);
    notes.push(`Failed answers (an error, not a wrong answer; run the same command again to retry them): ${each.join('; ')}.`);
  }
  if (unmatched.length > 0) notes.push(`Matched router: ${unmatched.join('; ')}.`);
  if (stopped.length > 0) notes.push(`Not complete: ${stopped.join(', ')} answers. Run the same command again to finish; finished answers are kept.`);
  const table = summaries.length > 0 ? formatTable(summaries) : '(no finished answers yet)';
  io.stdout.write(`${table}\n\n${notes.join('\n')}\n`);
  const write = (file: string, text: string): void => {
    try {
      writeFileSync(file, text);
    } catch (error) {
      // Checked before the run; something changed since (a folder made there, a full disk).
      throw new Error(
        `relay eval: could not write ${terminalSafe(file)} (--out ${terminalSafe(options.outPrefix)}): ${terminalSafe((error as Error).message)}. The answers are kept in ${terminalSafe(answersFile)}.`,
      );
    }
  };
  write(`${options.outPrefix}.csv`, toCsv(tableRows));
  write(
    `${options.outPrefix}.md`,
    `${options.commandLine ? `Command: \`${options.commandLine}\`\n\n` : ''}${table}\n\n${notes.map((n) => `- ${n}`).join('\n')}\n`,
  );
  write(
    `${options.outPrefix}.json`,
    printableJson(
      {
        data: dataPath,
        command: options.commandLine ?? null,
        answers: answersFile,
        slm: config.slm.folder,
        slms: usedFolders,
        llm: llmKey,
        price,
        ratesByHour: hours,
        settings,
        wallSeconds,
        summaries,
        rows: tableRows,
      },
      2,
    ) + '\n',
  );
  io.stdout.write(`Wrote ${options.outPrefix}.csv, ${options.outPrefix}.json and ${options.outPrefix}.md\n`);
  if (options.signal.aborted) return 130;
  // An answer that failed is not a result: exit 1, so scripts notice.
  return failed.length > 0 ? 1 : 0;
}
