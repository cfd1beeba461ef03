/**
 * The rows `relay eval --modes` can run side by side: `name[@value]`, comma separated.
 *   slm-only, llm-only, command[@ratio], confidence[@threshold], money-aware[@ratio],
 *   random-router[@p], auto[@ratio],
 *   @ratio: the row runs under relay.maxCostRatio = ratio (a call that would take an answer
 *     past ratio x the LLM-only estimate is declined); money-aware without it takes the
 *     configured ratio; the other rows run without that ceiling (the paper's protocol as is),
 *   matched-router: a random query router whose LLM probability is chosen after the
 *     other rows ran, to match the most accurate relay row (as in the paper's table):
 *     p = (acc_relay - acc_SLM) / (acc_LLM - acc_SLM); needs slm-only and llm-only.
 *   all: slm-only, llm-only, command, confidence@0.7, confidence@0.9, matched-router.
 * `=<folder>` after a row runs it with another SLM (e.g. an ablation checkpoint; a leading `~`
 * is the home folder, as in the path settings); the matched router then uses the SLM of the
 * slm-only row.
 */
import { statSync } from 'node:fs';
import { resolve } from 'node:path';
import type { RelayMode } from '../core/relay/events';
import { UsageError } from './args';
import { decimalNumber, expandPath } from './config';
import { policyOf, RELAY_MODES, type EvalRowKind, type EvalValue } from '../core/relay/policies/registry';

export const ALL_MODES = 'slm-only,llm-only,command,confidence@0.7,confidence@0.9,matched-router';

export interface EvalModeSpec {
  /** As written (after expansion), e.g. "confidence@0.7": the row's key in the files. */
  spec: string;
  kind: RelayMode | 'auto' | 'matched-router';
  /** confidence@t */
  threshold?: number;
  /** random-router@p */
  llmProbability?: number;
  /** command@r, auto@r, money-aware@r: the money ceiling relative to the LLM alone. */
  maxCostRatio?: number;
  /** `=<folder>`: this row's SLM instead of the configured one (absolute). */
  slmFolder?: string;
}

const KINDS = [...RELAY_MODES, 'auto', 'matched-router'] as const;

/** Whether a path is a folder (the default check of a row's `=<folder>`). */
export function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/**
 * `expansions` adds named row sets besides `all` (e.g. `paper` with --demo: every
 * ablation SLM of training/ side by side). A row's `=<folder>` must be a folder
 * (`folderExists`), so a mistyped one is said before any row runs.
 */
export function parseModeSpecs(text: string, expansions: Record<string, string> = {}, folderExists: (path: string) => boolean = isFolder): EvalModeSpec[] {
  const parts = text
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const sets: Record<string, string> = { all: ALL_MODES, ...expansions };
  const expanded = parts.flatMap((p) => (p in sets ? sets[p].split(',') : [p]));
  if (expanded.length === 0) throw new UsageError(`--modes is empty. Use e.g. --modes ${ALL_MODES} (or --modes all).`);
  const specs = expanded.map((part) => parseOne(part, folderExists));
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.spec)) throw new UsageError(`--modes lists ${s.spec} twice.`);
    seen.add(s.spec);
  }
  if (specs.some((s) => s.kind === 'matched-router')) {
    const has = (kind: string) => specs.some((s) => s.kind === kind);
    if (!has('slm-only') || !has('llm-only') || !specs.some(isRelayRow)) {
      throw new UsageError('--modes matched-router needs slm-only, llm-only and at least one relay row (command, confidence or auto) to match.');
    }
  }
  return specs;
}

function parseOne(text: string, folderExists: (path: string) => boolean): EvalModeSpec {
  const eq = text.indexOf('=');
  const head = eq < 0 ? text : text.slice(0, eq);
  const folder = eq < 0 ? undefined : text.slice(eq + 1).trim();
  if (folder === '') throw new UsageError(`--modes: '${text}': a folder must follow '='.`);
  const parsed = parseHead(head, text);
  if (folder !== undefined && (parsed.kind === 'llm-only' || parsed.kind === 'matched-router')) {
    throw new UsageError(`--modes: '${text}': ${parsed.kind} takes no SLM folder (the matched router uses the slm-only row's SLM).`);
  }
  if (folder === undefined) return parsed;
  // A shell mostly leaves a ~ after '=' as it is (slm-only=~/models/slm): expanded here as in the path settings.
  const slmFolder = resolve(expandPath(folder));
  if (!folderExists(slmFolder)) throw new UsageError(`--modes: '${text}': the SLM folder ${slmFolder} does not exist (or is not a folder).`);
  return { ...parsed, slmFolder };
}

function parseHead(head: string, text: string): EvalModeSpec {
  const [name, value, ...rest] = head.split('@');
  if (!(KINDS as readonly string[]).includes(name) || rest.length > 0) {
    throw new UsageError(`--modes: '${text}' is not a mode. Use ${KINDS.join(', ')} (each optionally =<slm folder>) or all. ${valueHelp()}`);
  }
  const kind = name as EvalModeSpec['kind'];
  if (value === undefined) return { spec: text, kind };
  const n = decimalNumber(value);
  const meaning = evalValueOf(kind);
  switch (meaning) {
    case 'cost-ratio':
      if (!Number.isFinite(n) || n < 0.01 || n > 100) throw new UsageError(`--modes: '${text}': the cost ratio after @ must be a number from 0.01 to 100.`);
      return { spec: text, kind, maxCostRatio: n };
    case 'threshold':
    case 'probability': {
      if (!Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--modes: '${text}': the value after @ must be a number from 0 to 1.`);
      return meaning === 'threshold' ? { spec: text, kind, threshold: n } : { spec: text, kind, llmProbability: n };
    }
    default:
      throw new UsageError(`--modes: '${text}': ${kind} takes no value after @. ${valueHelp()}`);
  }
}

/** What `@value` means for a row kind: the policy's own, and auto's like command's (a cost ratio). */
function evalValueOf(kind: EvalModeSpec['kind']): EvalValue | undefined {
  if (kind === 'auto') return 'cost-ratio';
  if (kind === 'matched-router') return undefined;
  return policyOf(kind).evalValue;
}

function valueHelp(): string {
  const taking = (what: EvalValue) => KINDS.filter((k) => evalValueOf(k) === what).join('|');
  return `Values: ${taking('threshold')}@<threshold>, ${taking('probability')}@<p>, ${taking('cost-ratio')}@<cost ratio>.`;
}

/** How `relay eval` files a row: auto is a relay, the matched router a router, the others as their policy says. */
export function rowKindOf(kind: EvalModeSpec['kind']): EvalRowKind {
  if (kind === 'auto') return 'relay';
  if (kind === 'matched-router') return 'router';
  return policyOf(kind).evalRow;
}

/** Rows where the SLM and the LLM share answers (the candidates the matched router is matched to). */
export function isRelayRow(spec: EvalModeSpec): boolean {
  return rowKindOf(spec.kind) === 'relay';
}
