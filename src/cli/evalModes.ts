/**
 * The rows `relay eval --modes` can run side by side: `name[@value]`, comma separated.
 *   slm-only, llm-only, command, confidence[@threshold], random-router[@p], auto,
 *   matched-router: a random query router whose LLM probability is chosen after the
 *     other rows ran, to match the most accurate relay row (as in the paper's table):
 *     p = (acc_relay - acc_SLM) / (acc_LLM - acc_SLM); needs slm-only and llm-only.
 *   all: slm-only, llm-only, command, confidence@0.7, confidence@0.9, matched-router.
 */
import type { RelayMode } from '../core/relay/events';
import { UsageError } from './args';

export const ALL_MODES = 'slm-only,llm-only,command,confidence@0.7,confidence@0.9,matched-router';

export interface EvalModeSpec {
  /** As written (after expansion), e.g. "confidence@0.7": the row's key in the files. */
  spec: string;
  kind: RelayMode | 'auto' | 'matched-router';
  /** confidence@t */
  threshold?: number;
  /** random-router@p */
  llmProbability?: number;
}

const KINDS = ['slm-only', 'llm-only', 'command', 'confidence', 'random-router', 'auto', 'matched-router'] as const;

export function parseModeSpecs(text: string): EvalModeSpec[] {
  const parts = text.split(',').map((p) => p.trim()).filter((p) => p !== '');
  const expanded = parts.flatMap((p) => (p === 'all' ? ALL_MODES.split(',') : [p]));
  if (expanded.length === 0) throw new UsageError(`--modes is empty. Use e.g. --modes ${ALL_MODES} (or --modes all).`);
  const specs = expanded.map(parseOne);
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

function parseOne(text: string): EvalModeSpec {
  const [name, value, ...rest] = text.split('@');
  if (!(KINDS as readonly string[]).includes(name) || rest.length > 0) {
    throw new UsageError(`--modes: '${text}' is not a mode. Use ${KINDS.join(', ')}, confidence@<threshold>, random-router@<p> or all.`);
  }
  const kind = name as EvalModeSpec['kind'];
  if (value === undefined) return { spec: text, kind };
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--modes: '${text}': the value after @ must be a number from 0 to 1.`);
  if (kind === 'confidence') return { spec: text, kind, threshold: n };
  if (kind === 'random-router') return { spec: text, kind, llmProbability: n };
  throw new UsageError(`--modes: '${text}': only confidence@<threshold> and random-router@<p> take a value.`);
}

/** Rows where the SLM and the LLM share answers (the candidates the matched router is matched to). */
export function isRelayRow(spec: EvalModeSpec): boolean {
  return spec.kind === 'command' || spec.kind === 'confidence' || spec.kind === 'auto';
}
