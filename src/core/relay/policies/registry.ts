/**
 * The relay policies, one entry each: the only place the modes are listed. Settings
 * enums, CLI help, eval specs and validation read them from here; a new policy is one
 * file plus one entry.
 */
import type { RelayOptions } from '../engine';
import { routeToLlm } from '../random';
import { CommandPolicy } from './command';
import { ConfidencePolicy, DEFAULT_CONFIDENCE } from './confidence';
import { LlmOnlyPolicy } from './llmOnly';
import { MoneyAwarePolicy } from './moneyAware';
import type { RelayPolicy } from './policy';
import { SlmOnlyPolicy } from './slmOnly';

export interface PolicyEntry {
  /** One line for settings and help. */
  description: string;
  /** Needs an LLM provider. */
  needsLlm: boolean;
  /** Offered in the relay.mode setting (the others are for `relay eval`). */
  inSettings: boolean;
  /** Throws a clear error when the options cannot run this policy. */
  validate?(options: RelayOptions): void;
  create(options: RelayOptions): RelayPolicy;
  /** How `relay eval` files this policy's rows: either model alone (a baseline), a relay, or a query router. */
  evalRow: EvalRowKind;
  /** What a value after `@` means in `relay eval --modes name@value` (absent: it takes none). */
  evalValue?: EvalValue;
  /** The row's label in the eval table. */
  evalLabel(row: EvalRowFacts): string;
}

export type EvalRowKind = 'baseline-slm' | 'baseline-llm' | 'relay' | 'router';

/** cost-ratio: the row's relay.maxCostRatio; threshold: the confidence gate's top-1; probability: a router's LLM share. */
export type EvalValue = 'cost-ratio' | 'threshold' | 'probability';

/** What a row's label may say, worked out by `relay eval`. */
export interface EvalRowFacts {
  /** ", cost <= 0.5x LLM alone" where the row runs under a money ceiling, else ''. */
  costCeiling: string;
  /** How the row's SLM was trained (its config.json), when known. */
  training?: string;
  /** The row runs its own SLM (`=<folder>`), not the configured one. */
  ownSlm: boolean;
  /** The confidence gate's top-1 threshold for this row. */
  threshold: number;
  confidence: { spanTokens: number; maxLlmShare: number };
  /** Routers: the share of questions sent to the LLM, and the row it was matched to. */
  llmProbability?: number;
  matchedTo?: string;
}

/** " (trained: ...)" where the row runs its own SLM and its training is known. */
const ownSlm = (row: EvalRowFacts): string => (row.ownSlm && row.training ? ` (${row.training})` : '');

export const RELAY_POLICIES = {
  command: {
    description: "The paper's protocol: the small model writes <call>N</call> and the LLM writes the next N tokens.",
    needsLlm: true,
    inSettings: true,
    create: (o) => new CommandPolicy(o.maxTurns ?? DEFAULT_MAX_TURNS, o.commandReplacement ?? ' '),
    evalRow: 'relay',
    evalValue: 'cost-ratio',
    evalLabel: (r) => `relay, command mode${r.costCeiling}${r.training ? `: ${r.training}` : ''}`,
  },
  confidence: {
    description: 'For off-the-shelf small models: the LLM writes a short span wherever the small model is unsure of its next token.',
    needsLlm: true,
    inSettings: true,
    create: (o) => new ConfidencePolicy({ ...DEFAULT_CONFIDENCE, ...(o.confidence ?? {}) }),
    evalRow: 'relay',
    evalValue: 'threshold',
    evalLabel: (r) =>
      `relay, confidence mode: top-1 < ${r.threshold}, LLM writes ${r.confidence.spanTokens}${r.confidence.maxLlmShare < 1 ? `, cap ${r.confidence.maxLlmShare}` : ''}${ownSlm(r)}`,
  },
  'money-aware': {
    description:
      'For off-the-shelf small models, when prices are known: where the small model is unsure, the LLM writes a span sized to what the re-sent context costs, within relay.maxCostRatio of the LLM alone; calls that cannot pay off are skipped.',
    needsLlm: true,
    inSettings: true,
    create: (o) => new MoneyAwarePolicy({ ...DEFAULT_CONFIDENCE, ...(o.confidence ?? {}) }),
    evalRow: 'relay',
    evalValue: 'cost-ratio',
    evalLabel: (r) => `relay, money-aware: top-1 < ${r.threshold}${r.costCeiling}${ownSlm(r)}`,
  },
  'slm-only': {
    description: 'Never contact the LLM.',
    needsLlm: false,
    inSettings: true,
    create: () => new SlmOnlyPolicy(),
    evalRow: 'baseline-slm',
    evalLabel: (r) => `SLM alone${ownSlm(r)}`,
  },
  'llm-only': {
    description: 'The LLM writes the whole answer (the baseline the savings are measured against).',
    needsLlm: true,
    inSettings: true,
    create: () => new LlmOnlyPolicy(),
    evalRow: 'baseline-llm',
    evalLabel: () => 'LLM alone',
  },
  'random-router': {
    description: 'A baseline for relay eval: each query goes wholly to the LLM with probability p, else to the small model, seeded by the query.',
    needsLlm: true,
    inSettings: false,
    validate: (o) => {
      if (!o.router) throw new Error("Relay mode 'random-router' needs router.llmProbability (between 0 and 1).");
    },
    create: (o) => {
      const router = o.router ?? { llmProbability: 0.5 };
      const key = o.messages.map((m) => `${m.role}:${m.content}`).join('\n');
      return routeToLlm(router.llmProbability, router.seed ?? 0, key) ? new LlmOnlyPolicy('llm') : new SlmOnlyPolicy('slm');
    },
    evalRow: 'router',
    evalValue: 'probability',
    evalLabel: (r) =>
      `random router${r.matchedTo ? ` matched to ${r.matchedTo}` : ''} (${((r.llmProbability ?? 0) * 100).toFixed(1)}% of questions to the LLM)`,
  },
} satisfies Record<string, PolicyEntry>;

export type RelayMode = keyof typeof RELAY_POLICIES;

/** A mode's entry, typed as the common shape (optional members included). */
export function policyOf(mode: RelayMode): PolicyEntry {
  return RELAY_POLICIES[mode];
}

export const RELAY_MODES = Object.keys(RELAY_POLICIES) as RelayMode[];

/** The modes the relay.mode setting offers, besides 'auto'. */
export const SETTINGS_MODES = RELAY_MODES.filter((mode) => RELAY_POLICIES[mode].inSettings);

/** The paper's limits. */
export const DEFAULT_MAX_TURNS = 5;
