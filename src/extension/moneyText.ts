/**
 * Money as the status bar, the savings view and the chat footer say it (no VS Code
 * import: unit-tested). A saving is only claimed where it happened: an unknown price says
 * so, an answer the LLM wrote whole saves nothing, and a negative saving is a loss
 * ("cost $0.0040 more than the LLM alone"), never "saved -$0.004".
 */

import { llmWroteWhole } from '../core/relay/cost';
import { declinedUnder } from '../core/relay/finishNotes';
import { significantUsd } from '../shared/usd';
import type { DeclinedCallView } from '../shared/webviewProtocol';

/** USD with the sign in front ("-$0.0040"); tiny amounts keep two significant digits. */
export function formatUsd(value: number | null): string {
  if (value === null) return 'unknown';
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return '$0';
  const sign = value < 0 ? '-' : '';
  const abs = Math.abs(value);
  return `${sign}$${abs >= 0.01 ? abs.toFixed(2) : significantUsd(abs, 2)}`;
}

export interface SavingFacts {
  /** llmOnlyCostUsd - costUsd (the engine's savedUsd); null: a price is unknown. */
  savedUsd: number | null;
  /** The LLM wrote the whole answer (llm-only, or the router sent it there): nothing saved by definition. */
  llmWroteAll?: boolean;
}

/** "$0.0052 saved", "cost $0.0040 more than the LLM alone", "no saving (the LLM wrote it all)", "no saving", "saving unknown (no price)". */
export function savingPhrase(facts: SavingFacts, usd: (value: number) => string = formatUsd): string {
  const saved = facts.savedUsd;
  // The LLM-only answer itself saves nothing, whatever its price.
  if (facts.llmWroteAll) return 'no saving (the LLM wrote it all)';
  if (saved === null) return 'saving unknown (no price)';
  if (saved < 0) return `cost ${usd(-saved)} more than the LLM alone`;
  if (saved === 0) return 'no saving';
  return `${usd(saved)} saved`;
}

/**
 * Whether the engine's stats describe an answer the LLM wrote whole (llm-only, or the
 * router sent it there). One that failed or wrote nothing is not: what it cost is a loss
 * (the engine's savedUsd is then -cost).
 */
export function llmWroteAll(stats: { mode: string; routedTo?: 'slm' | 'llm'; savedUsd: number | null }): boolean {
  return llmWroteWhole(stats) && !(stats.savedUsd !== null && stats.savedUsd < 0);
}

/** "82% of the input from the cache" (the host's wording for the chat footer; the webview has its own). */
export function cachedShareText(share: number): string {
  if (!(share > 0)) return 'none of the input from the cache';
  if (share < 0.005) return 'under 1% of the input from the cache';
  return `${Math.round(share * 100)}% of the input from the cache`;
}

/** A skipped call: "would have cost $0.0040; skipped (the answer could spend $0.0012 more under relay.maxCostRatio; it needed 0.62)". */
export function declinedDetail(declined: DeclinedCallView): string {
  const more = declined.allowanceUsd > 0 ? `${formatUsd(declined.allowanceUsd)} more` : 'nothing more';
  return `would have cost ${formatUsd(declined.predictedUsd)}; skipped (the answer could spend ${more} ${declinedUnder(declined)})`;
}
