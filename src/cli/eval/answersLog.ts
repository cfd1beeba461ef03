/**
 * `<out>.answers.jsonl`: every answer of `relay eval`, appended as it finishes, so an
 * interrupted run (Ctrl-C, a crash, a lost machine) loses no finished answer and the next
 * run with the same `--out` resumes where it stopped.
 *
 * The file starts with a `run` line holding the settings that decide the answers (data
 * file, models, the LLM's price, sampling, limits) and the files of each SLM folder's model
 * and of an in-process LLM's;
 * each later session appends its own `run` line, then one `answer` line per answer.
 * Resuming is the default: a run whose `--out` names an existing answers file of the same
 * settings skips the answers already there; other settings are refused (with the settings
 * that differ; an LLM price that no settings give again, as such; the LLM's price is that of
 * the answers that called it, see comparableSettings), as is a model exported
 * again into a folder whose answers the file holds, the SLM's or the LLM's (with the files
 * that changed), and `--fresh` starts the file over. Changing `--limit`, `--offset`,
 * `--concurrency` or `--modes` is fine: rows and questions not in the file are run, those in
 * it are reused.
 *
 * One run at a time writes the file: `<answers file>.lock` names the process that does, and a
 * second run on the same `--out` is refused (a lock left by a killed run is taken over).
 */
import { closeSync, existsSync, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { AnswerStats, RelayMode } from '../../core/relay/events';
import type { ModelPrice } from '../../core/providers/types';
import { UsageError } from '../args';
import { printableJson, terminalSafe } from '../render';
import { takeOwnerLock } from '../../core/ownerLock';
import { isRecord } from '../../shared/isRecord';
import { addressWithoutLogin } from '../../core/http/shownUrl';

export const ANSWERS_FORMAT = 1;

export interface RunLine {
  type: 'run';
  format: number;
  /** The command line of this session. */
  command: string | null;
  /** The settings that decide the answers; a resumed run must have the same. */
  settings: Record<string, unknown>;
  /** The model files of each SLM folder in this process the rows read, by folder; absent for a served SLM and in files of earlier relays. */
  models?: Record<string, ModelFiles>;
  /** The model files of an in-process LLM's folder (onnx-local: provider.model); absent for a served LLM and in files of earlier relays. */
  llmModel?: { folder: string; files: ModelFiles };
  startedAt: string;
}

/**
 * The files of a model folder that decide its answers, by path in the folder ('/'-separated),
 * each with its size and modification time: taken without reading the files, and changed by
 * exporting or downloading the model again.
 */
export type ModelFiles = Record<string, { bytes: number; modifiedMs: number }>;

export interface AnswerLine {
  type: 'answer';
  /** The row (its --modes spec) and the question's index in the data file. */
  spec: string;
  index: number;
  /** The data set's id of the question. */
  id: string;
  /** A hash of the question's text: a data file edited since is noticed. */
  questionHash: string;
  /** The row's SLM folder. */
  slm: string;
  mode: RelayMode;
  /** The LLM (provider kind and model) and its price; null when the row used none. */
  llm: string | null;
  price: ModelPrice | null;
  /**
   * The temperature the LLM was sent (llmTemperature.ts): a number, or null when none was (the
   * model refuses one and sampled at its own default). Absent where the row used no LLM, and
   * in files of earlier relays.
   */
  llmTemperature?: number | null;
  /** Router rows: the LLM probability the answer was routed with. */
  llmProbability?: number;
  reference: string;
  predicted: string | null;
  correct: boolean;
  answer: string;
  stats: AnswerStats;
  /** Why the answer failed (stats.finishReason 'error'): its error event. */
  error?: AnswerError;
  /**
   * When the answer started (ISO, UTC) on the clock its LLM calls were priced at: with a price
   * by time of day (price.hours), which rate its hour bills (ratesByHour.ts). Absent in files
   * of earlier relays; not checked on resume (untrusted: read where used, one that is no time is unknown).
   */
  startedAt?: string;
  finishedAt: string;
}

/** An answer's error event, as recorded: its code and message (the message may quote a server). */
export interface AnswerError {
  code: string;
  message: string;
}

export const answersPath = (outPrefix: string): string => `${outPrefix}.answers.jsonl`;

export function questionHash(question: string): string {
  return createHash('sha256').update(question).digest('hex').slice(0, 16);
}

/** Leaf paths whose values differ, as "seed: 3 in the file, 7 now". */
export function settingsDifferences(before: unknown, now: unknown, path = ''): string[] {
  if (isRecord(before) && isRecord(now)) {
    const keys = [...new Set([...Object.keys(before), ...Object.keys(now)])];
    return keys.flatMap((k) => settingsDifferences(before[k], now[k], path ? `${path}.${k}` : k));
  }
  const a = JSON.stringify(before) ?? 'unset';
  const b = JSON.stringify(now) ?? 'unset';
  return a === b ? [] : [`${path}: ${a} in the file, ${b} now`];
}

const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

/** How the files of a model differ, in words ("onnx/model.onnx: 10 bytes then, 12 now"). */
export function modelFilesChanges(before: ModelFiles, now: ModelFiles): string[] {
  const when = (ms: number): string => new Date(ms).toISOString();
  return [...new Set([...Object.keys(before), ...Object.keys(now)])].flatMap((name) => {
    const [a, b] = [before[name], now[name]];
    if (a === undefined) return [`${name}: not there then`];
    if (b === undefined) return [`${name}: gone`];
    if (a.bytes !== b.bytes) return [`${name}: ${a.bytes} bytes then, ${b.bytes} now`];
    return a.modifiedMs === b.modifiedMs ? [] : [`${name}: modified since (${when(a.modifiedMs)} then, ${when(b.modifiedMs)} now)`];
  });
}

const isModelFiles = (v: unknown): v is ModelFiles => isRecord(v) && Object.values(v).every((f) => isRecord(f) && isNumber(f.bytes) && isNumber(f.modifiedMs));

/** The prices the file's answers that called the LLM were billed at (AnswerLine.price), one per answer. */
const billedPrices = (previous: AnswerLine[]): unknown[] => previous.filter((l) => l.llm !== null).map((l) => l.price);

/**
 * A file's settings as this relay compares them with its own. slm.kvCacheBudgetMb, which
 * earlier relays recorded, is left out: the KV-cache reuse budget changes speed (and, for an
 * int8 file, the rounding of a reused prompt, as the order answers run in does, which
 * --concurrency changes too: int8 answers are not bit-for-bit repeatable across runs anyway).
 * llmPrice is the price the file's LLM answers were billed at (AnswerLine.price; one that
 * differs from now's where they were billed at several), not the first run line's: that line
 * may predate them (an slm-only file resumed under a new price, then given LLM answers at
 * it), and earlier relays did not record it. Without such answers there is no cost to mix,
 * and a recorded price that differs (a Relay update repriced the LLM) does not refuse the resume.
 * provider.baseUrl is compared as answerSettings records it now, without user:password:
 * earlier relays recorded the address as written, login included, and a login does not
 * change the answers (nor is a difference in it, a secret, to be printed).
 */
function comparableSettings(recorded: Record<string, unknown>, previous: AnswerLine[], now: Record<string, unknown>): Record<string, unknown> {
  const comparable = structuredClone(recorded);
  if (isRecord(comparable.slm)) delete comparable.slm.kvCacheBudgetMb;
  if (isRecord(comparable.provider) && typeof comparable.provider.baseUrl === 'string')
    comparable.provider.baseUrl = addressWithoutLogin(comparable.provider.baseUrl);
  if ('llmPrice' in now) comparable.llmPrice = billedPrices(previous).find((price) => settingsDifferences(price, now.llmPrice).length > 0) ?? now.llmPrice;
  return comparable;
}

/** The files of a model as the latest run line that recorded them had them; undefined when none did (a file of an earlier relay). */
function recordedFiles(runs: unknown[], filesOf: (run: Record<string, unknown>) => unknown): ModelFiles | undefined {
  return runs
    .map((r) => (isRecord(r) ? filesOf(r) : undefined))
    .filter(isModelFiles)
    .pop();
}

/** Refuses a model whose files changed since they were recorded: resumed, the file would mix the answers of two models. */
function refuseChangedModel(path: string, model: string, answers: string, recorded: ModelFiles, now: ModelFiles): void {
  const changes = modelFilesChanges(recorded, now);
  if (changes.length === 0) return;
  throw new UsageError(
    `relay eval: ${model} changed since the run of ${terminalSafe(path)} began (${terminalSafe(changes.slice(0, 5).join('; '))}${changes.length > 5 ? '; ...' : ''}), so ${answers} cannot be resumed with it. ` +
      'Put that model back, choose another --out, or pass --fresh to start it over.',
  );
}

/** Model folders whose answers a file holds but whose model no run line recorded (a file of an earlier relay). */
export interface UncheckedModels {
  /** SLM folders. */
  slm: string[];
  /** The in-process LLM's folder. */
  llm?: string;
}

/**
 * Checks the model of each SLM folder the file holds answers of, and of an in-process LLM
 * when it holds answers that called one, against the latest run line that recorded its files.
 * Returns the folders no run line recorded (a file of an earlier relay): unknown.
 */
function checkModels(path: string, runs: unknown[], previous: AnswerLine[], now: Pick<RunLine, 'models' | 'llmModel'>): UncheckedModels {
  const unchecked: UncheckedModels = { slm: [] };
  for (const [folder, files] of Object.entries(now.models ?? {})) {
    if (!previous.some((l) => l.slm === folder)) continue;
    const recorded = recordedFiles(runs, (r) => (isRecord(r.models) ? r.models[folder] : undefined));
    if (recorded === undefined) unchecked.slm.push(folder);
    else refuseChangedModel(path, `the model in ${terminalSafe(folder)}`, 'its answers there', recorded, files);
  }
  const llm = now.llmModel;
  if (llm !== undefined && previous.some((l) => l.llm !== null)) {
    const recorded = recordedFiles(runs, (r) => (isRecord(r.llmModel) && r.llmModel.folder === llm.folder ? r.llmModel.files : undefined));
    if (recorded === undefined) unchecked.llm = llm.folder;
    else refuseChangedModel(path, `the LLM's model in ${terminalSafe(llm.folder)}`, 'the answers that called it', recorded, llm.files);
  }
  return unchecked;
}

/**
 * Whether no settings can resume the file: its answers were billed at an LLM price that its
 * own settings, priced by this relay, no longer give (the price list changed: a Relay update,
 * a dated price change), and pinning that price with --price-in changes the recorded prices,
 * refused too. `priceNow` undefined: the file's settings do not say (a hand edit).
 */
function billedPriceGone(previous: AnswerLine[], priceNow: unknown): boolean {
  if (priceNow === undefined) return false;
  return billedPrices(previous).some((price) => settingsDifferences(price, priceNow).length > 0);
}

export interface OpenOptions {
  /** Starts the file over. */
  fresh?: boolean;
  /** The LLM's price that recorded settings (untrusted) give with this relay's price list; undefined when they do not say. */
  llmPriceOf?: (settings: Record<string, unknown>) => unknown;
  /** Refuses the file's answers (throws) before anything is written to it: a refused resume leaves the file as it was. */
  checkPrevious?: (previous: AnswerLine[]) => void;
}

export interface OpenedLog {
  log: AnswersLog;
  /** Answer lines already in the file, in file order (a later line of the same answer wins). */
  previous: AnswerLine[];
  /** Lines that could not be used, each as "line 7: why" (a hand edit, another version's line, a line cut short by a crash); their answers are run again. */
  unreadable: string[];
  /** Model folders (SLM, in-process LLM) the file holds answers of whose model no run line recorded (written by an earlier relay): reused unchecked. */
  uncheckedModels: UncheckedModels;
  resumed: boolean;
}

/**
 * Why a parsed line is not an answer line this relay can reuse (edited by hand, or written by
 * another version), or undefined when it is one: every field the resume and the table read is
 * checked, so such a line is named rather than crashing the run halfway.
 */
export function answerLineProblem(v: unknown): string | undefined {
  if (!isRecord(v)) return 'not a JSON object';
  if (v.type !== 'answer') return `type ${JSON.stringify(v.type) ?? 'missing'}, not "answer" or "run"`;
  const wrong = (field: string, what: string): string =>
    `${field} is ${field.split('.').reduce<unknown>((o, k) => (isRecord(o) ? o[k] : undefined), v) === undefined ? 'missing' : `not ${what}`}`;
  for (const field of ['spec', 'id', 'questionHash', 'slm', 'mode', 'answer'] as const) if (typeof v[field] !== 'string') return wrong(field, 'a string');
  if (!(Number.isInteger(v.index) && (v.index as number) >= 0)) return wrong('index', 'a whole number');
  if (!(v.llm === null || typeof v.llm === 'string')) return wrong('llm', 'a string or null');
  if (!(v.price === null || (isRecord(v.price) && isNumber(v.price.inputPerMTok) && isNumber(v.price.outputPerMTok)))) return wrong('price', 'a price or null');
  if (!(v.llmProbability === undefined || isNumber(v.llmProbability))) return wrong('llmProbability', 'a number');
  if (!(v.llmTemperature === undefined || v.llmTemperature === null || isNumber(v.llmTemperature))) return wrong('llmTemperature', 'a number or null');
  if (!(v.error === undefined || (isRecord(v.error) && typeof v.error.code === 'string' && typeof v.error.message === 'string')))
    return wrong('error', 'a code and a message');
  const stats = v.stats;
  if (!isRecord(stats)) return wrong('stats', 'an object');
  for (const field of ['slmTokens', 'llmTokens', 'llmTokenShare', 'calls', 'elapsedMs'] as const)
    if (!isNumber(stats[field])) return wrong(`stats.${field}`, 'a number');
  for (const field of ['costUsd', 'llmOnlyCostUsd'] as const)
    if (!(stats[field] === null || isNumber(stats[field]))) return wrong(`stats.${field}`, 'a number or null');
  if (typeof stats.finishReason !== 'string') return wrong('stats.finishReason', 'a string');
  if (!(isRecord(stats.llmUsage) && isNumber(stats.llmUsage.inputTokens) && isNumber(stats.llmUsage.outputTokens)))
    return wrong('stats.llmUsage', 'token counts');
  if (!(stats.slmDiscardedTokens === undefined || isNumber(stats.slmDiscardedTokens))) return wrong('stats.slmDiscardedTokens', 'a number');
  const billing = stats.billing;
  if (!(billing === undefined || (isRecord(billing) && isNumber(billing.predictedUsd) && isNumber(billing.reportedUsd) && isNumber(billing.calls))))
    return wrong('stats.billing', 'a prediction and what was reported');
  return undefined;
}

/** How every run line starts (printableJson of a RunLine): the start of a file whose first write was cut. */
const RUN_LINE_START = '{"type":"run"';

/**
 * Takes `<path>.lock` for this process (ownerLock.ts). Two runs appending to one answers file
 * would answer the same questions twice (paying twice), and with --fresh one would cut the
 * other's answers off. A lock whose process is gone (a run killed, a machine that lost power)
 * is taken over.
 */
function takeLock(path: string): () => void {
  const lock = `${path}.lock`;
  // An answers file may lie on a network drive: the lock names its host.
  const attempt = takeOwnerLock(lock, { shared: true });
  if (attempt.taken) return attempt.release;
  const held = attempt.heldBy;
  const who =
    held === undefined
      ? 'another process'
      : held.host === undefined || held.host === hostname()
        ? `process ${held.pid}`
        : `process ${held.pid} on ${terminalSafe(held.host)}`;
  throw new UsageError(
    `relay eval: another relay eval (${who}) is writing ${terminalSafe(path)}; two runs on one --out would answer the same questions twice. ` +
      `Wait for it to end, or choose another --out. If no relay eval is running, delete ${terminalSafe(lock)} and run again.`,
  );
}

export class AnswersLog {
  private fd: number | undefined;

  private constructor(
    readonly path: string,
    fd: number,
    private readonly releaseLock: () => void,
  ) {
    this.fd = fd;
  }

  /**
   * Opens `path` for appending: a new file (or `fresh`) starts with this session's run line;
   * an existing one must hold the same settings, and its answers come back in `previous`.
   * Refused while another run writes it.
   */
  static open(path: string, run: Omit<RunLine, 'type' | 'format'>, options: OpenOptions = {}): OpenedLog {
    const release = takeLock(path);
    try {
      return AnswersLog.openLocked(path, release, run, options);
    } catch (error) {
      release();
      throw error;
    }
  }

  private static openLocked(path: string, releaseLock: () => void, run: Omit<RunLine, 'type' | 'format'>, options: OpenOptions): OpenedLog {
    const line: RunLine = { type: 'run', format: ANSWERS_FORMAT, ...run };
    const bytes = !options.fresh && existsSync(path) ? readFileSync(path) : undefined;
    // Counted in bytes, not characters (a hand edit may not be UTF-8): a line cut short by a crash is dropped, the file truncated after its last whole line.
    const wholeLength = bytes ? bytes.lastIndexOf(0x0a) + 1 : 0;
    const cut = bytes ? bytes.subarray(wholeLength).toString('utf8').replace(/\0/g, '') : '';
    // No whole line, and empty or the start of a run line: the first write was cut (a power loss can leave the file empty); nothing to resume.
    const firstWriteCut = bytes !== undefined && wholeLength === 0 && (RUN_LINE_START.startsWith(cut) || cut.startsWith(RUN_LINE_START));
    if (bytes === undefined || firstWriteCut) {
      const fd = openSync(path, 'w');
      writeSync(fd, printableJson(line) + '\n');
      return { log: new AnswersLog(path, fd, releaseLock), previous: [], unreadable: [], uncheckedModels: { slm: [] }, resumed: false };
    }
    const lines = bytes.subarray(0, wholeLength).toString('utf8').split('\n');
    const shown = terminalSafe(path);
    let first: RunLine | undefined;
    try {
      first = JSON.parse(lines[0]) as RunLine;
    } catch {
      first = undefined;
    }
    if (first?.type !== 'run' || !isRecord(first.settings)) {
      throw new UsageError(`relay eval: ${shown} exists and is not an answers file of relay eval. Choose another --out, or pass --fresh to replace it.`);
    }
    if (first.format !== ANSWERS_FORMAT) {
      throw new UsageError(
        `relay eval: ${shown} was written in answers format ${terminalSafe(String(first.format))}; this relay writes format ${ANSWERS_FORMAT}. Choose another --out, or pass --fresh to replace it.`,
      );
    }
    const previous: AnswerLine[] = [];
    const unreadable: string[] = [];
    const runs: unknown[] = [first];
    lines.forEach((text, i) => {
      if (i === 0 || text.trim() === '') return;
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        unreadable.push(`line ${i + 1}: not JSON`);
        return;
      }
      if (isRecord(parsed) && parsed.type === 'run') {
        runs.push(parsed);
        return;
      }
      const problem = answerLineProblem(parsed);
      if (problem) unreadable.push(`line ${i + 1}: ${problem}`);
      else previous.push(parsed as AnswerLine);
    });
    const differences = settingsDifferences(comparableSettings(first.settings, previous, run.settings), run.settings);
    if (differences.length > 0) {
      const priceGone = options.llmPriceOf !== undefined && billedPriceGone(previous, options.llmPriceOf(first.settings));
      throw new UsageError(
        `relay eval: ${shown} holds the answers of a run with other settings, so they cannot be resumed here:\n  ${terminalSafe(differences.slice(0, 8).join('\n  '))}\n` +
          (priceGone
            ? "The LLM's price is not the one the file's answers were billed at (this relay prices the same LLM otherwise: its price list was updated, or the price changed on a date), " +
              'and no setting brings that price back: choose another --out, or pass --fresh to start it over.'
            : 'Run with the same settings to resume it, choose another --out, or pass --fresh to start it over.'),
      );
    }
    const uncheckedModels = checkModels(path, runs, previous, run);
    options.checkPrevious?.(previous);
    const fd = openSync(path, 'r+');
    if (wholeLength !== bytes.length) {
      ftruncateSync(fd, wholeLength);
      unreadable.push(`line ${lines.length}: cut short by a run that stopped while writing it (dropped)`);
    }
    closeSync(fd);
    const append = openSync(path, 'a');
    writeSync(append, printableJson(line) + '\n');
    return { log: new AnswersLog(path, append, releaseLock), previous, unreadable, uncheckedModels, resumed: true };
  }

  /** One answer, written at once (a single write of a whole line). */
  append(line: Omit<AnswerLine, 'type'>): void {
    if (this.fd === undefined) throw new Error('Internal error: the answers file is closed.');
    writeSync(this.fd, printableJson({ type: 'answer', ...line }) + '\n');
  }

  /** Closes the file and lets the next run take it. */
  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
    this.releaseLock();
  }
}
