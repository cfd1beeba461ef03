/**
 * What "Relay: Try the Demo" runs, without VS Code (unit-tested): the embedded pair of
 * `relay demo` (src/cli/demoModels.ts) as a settings object of its own, so the user's
 * relay.* settings are neither read nor changed. The demo SLM (command mode, as its
 * config.json asks under auto) writes; the demo LLM runs on this machine through the
 * onnx-local provider, in a child process of its own like the SLM; the LLM is priced as a
 * named hosted model from the bundled catalog, and the view says that this is an estimate.
 * Greedy decoding, as in `npm run demo`: the same answer every time.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_PRICE_MODEL, DEMO_QUESTION, demoPrice, demoReference } from '../../cli/demoModels';
import { PRICE_CATALOG } from '../../core/providers/pricing';
import { answersMatch, extractAnswer } from '../../core/relay/answerExtraction';
import type { DemoResultView, DemoTurnView } from '../../shared/webviewProtocol';
import type { AnswerPlan } from '../relayService';
import type { RelaySettings } from '../settings';
import { HELD_OUT_QUESTIONS } from './heldOutQuestions';
import { DEFAULT_KV_CACHE_BUDGET_MB } from '../../core/slm/onnx/kvPrefixCache';

export { DEMO_PRICE_MODEL, DEMO_QUESTION, demoReference };

/** "Relay: Try the Demo". */
export const TRY_DEMO_COMMAND = 'relay.tryDemo';

/** The README's section the demo line links to (how the pair does on the held-out set). */
export const PAPER_TABLE_HEADING = "## The paper's table, in miniature";

/** What the demo models know, for the question box and its errors. */
export const DEMO_TASK = 'a*b+c=? with a and c from 10 to 99 and b from 2 to 9, e.g. 47*6+28=?';

/**
 * The set-up note while the small model is the embedded demo: not a fault (it answers its task
 * at once), so the status bar shows it without the warning colour.
 */
export const DEMO_MODEL_NOTE = `The small model is the embedded demo: it knows one toy task (${DEMO_TASK}). Run "Relay: Select Model" for one that explains code and answers questions.`;

/**
 * DEMO_MODEL_NOTE, and in a remote window where the folder is read from: the remote machine's
 * settings, so a folder picked in a local window (or set in the user settings before it was
 * the machine's) is not this window's.
 */
export function demoModelNote(remoteName: string | undefined): string {
  if (!remoteName) return DEMO_MODEL_NOTE;
  return `${DEMO_MODEL_NOTE} In this remote window (${remoteName}) Relay runs on the remote machine, which keeps its own folder in its settings (the Remote tab): pick it here.`;
}

export interface DemoModelFolders {
  slmFolder: string;
  llmFolder: string;
}

/** The demo models the package ships (models/relay-demo-slm, models/relay-demo-llm), or undefined when one is missing. */
export function embeddedDemoModels(extensionPath: string): DemoModelFolders | undefined {
  const slmFolder = join(extensionPath, 'models', 'relay-demo-slm');
  const llmFolder = join(extensionPath, 'models', 'relay-demo-llm');
  return existsSync(join(slmFolder, 'config.json')) && existsSync(join(llmFolder, 'config.json')) ? { slmFolder, llmFolder } : undefined;
}

/** Beside every saving of the demo: where the price comes from, and that the LLM is local. */
export const DEMO_PRICE_NOTE = `the local LLM priced as ${DEMO_PRICE_MODEL}, ${PRICE_CATALOG.name} of ${PRICE_CATALOG.date}`;

/** The LLM's name in the view (the hover of its spans). */
export const DEMO_LLM_LABEL = `relay-demo-llm (local, priced as ${DEMO_PRICE_MODEL})`;

/**
 * The demo's settings: the embedded pair, the reference price, greedy decoding, no cost
 * ceiling relative to the LLM alone (as `relay demo`); every other value is the setting's
 * default in package.json (checked by the unit test).
 * `kind` slm-only: the same SLM with no help, for the comparison.
 */
export function demoSettings(models: DemoModelFolders, kind: DemoTurnView['kind']): RelaySettings {
  const price = demoPrice();
  return {
    provider: {
      kind: 'onnx-local',
      baseUrl: '',
      model: models.llmFolder,
      templateFolder: '',
      timeouts: { connect: 10, firstByte: 60, idle: 30, call: 300 },
      caching: 'auto',
    },
    prices: { inputPerMTok: price.inputPerMTok, outputPerMTok: price.outputPerMTok, cachedInputPerMTok: price.cachedInputPerMTok },
    slm: {
      modelFolder: models.slmFolder,
      variant: undefined,
      q4Compute: 'as-exported',
      thinking: false,
      kvCacheBudgetMb: DEFAULT_KV_CACHE_BUDGET_MB,
      loadAtStartup: false,
    },
    mode: kind === 'relay' ? 'auto' : 'slm-only',
    confidence: { threshold: 0.5, spanTokens: 2 },
    maxLlmShare: 0.2,
    maxTurns: 5,
    tokenBudget: 8192,
    // No ceiling relative to the LLM alone (relay.maxCostRatio): the pair's own protocol, as `relay demo` runs it.
    limits: { maxLlmCalls: 64, maxCostUsd: 1, maxStallSeconds: 180 },
    temperature: 0,
    localOnly: false,
  };
}

/** The plan RelayService.answer runs instead of the user's settings. */
export function demoPlan(models: DemoModelFolders, kind: DemoTurnView['kind']): AnswerPlan {
  return { settings: demoSettings(models, kind), llmLabel: DEMO_LLM_LABEL, priceNote: DEMO_PRICE_NOTE };
}

/** What the view shows of a demo answer before it is checked. */
export function demoTurn(question: string, kind: DemoTurnView['kind'], pairOf?: string): DemoTurnView {
  const reference = demoReference(question);
  if (reference === null) throw new Error(`The demo models know one task (${DEMO_TASK}); got '${question}'.`);
  return { kind, question: question.trim(), reference, priceModel: DEMO_PRICE_MODEL, ...(pairOf ? { pairOf } : {}) };
}

/** The answer a demo turn wrote, checked against its reference as `relay demo` checks it. */
export function checkDemoAnswer(answer: string, reference: string): DemoResultView {
  const found = extractAnswer(answer);
  return { answer: found === null ? null : found.slice(0, 100), correct: answersMatch(found, reference) };
}

/** Why a typed question is not one the demo models can answer, or undefined when it is. */
export function demoQuestionProblem(question: string): string | undefined {
  return demoReference(question) === null ? `The demo models know one task: ${DEMO_TASK}.` : undefined;
}

/** A held-out question not asked yet in this window (any of them once all were asked). */
export function pickHeldOutQuestion(asked: ReadonlySet<string>, random: () => number = Math.random): string {
  const fresh = HELD_OUT_QUESTIONS.filter((question) => !asked.has(question));
  const pool = fresh.length > 0 ? fresh : HELD_OUT_QUESTIONS;
  return pool[Math.min(pool.length - 1, Math.floor(random() * pool.length))];
}
