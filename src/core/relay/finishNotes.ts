/**
 * One visible line for an answer that ended early, the same in the answer view and on the
 * command line: what stopped it and, where a setting did, which one (and its CLI flag).
 * Undefined for a complete answer or an error (whose own message is shown instead).
 */
import { SETTING_NAMES, settingRef } from '../settingNames';
import type { AnswerStats } from './events';

export function finishNote(finishReason: string): string | undefined {
  switch (finishReason) {
    case 'cancelled':
      return 'Stopped: the answer is incomplete.';
    case 'budget':
      return `Stopped at the token budget (${settingRef('tokenBudget')}): the answer may be incomplete.`;
    case 'turn_limit':
      return `Stopped at the turn limit (${settingRef('maxTurns')}): the answer may be incomplete.`;
    case 'context_full':
      return "Stopped: the prompt and the answer fill the small model's context window. Send less text, or pick a small model with a longer context.";
    case 'llm_no_progress':
      return 'Stopped: the large model added nothing to the answer twice in a row (empty continuations), so no more calls were made. The answer may be incomplete.';
    case 'slm_no_progress':
      return 'Stopped: the small model added nothing (a fault of its runtime). The answer may be incomplete.';
    case 'call_limit':
      return `Stopped at the most large-model calls for one answer (${settingRef('maxLlmCalls')}): the answer may be incomplete.`;
    case 'cost_limit':
      return `Stopped before a large-model call that could take this answer past its spending ceiling (${settingRef('maxCostUsd')}): the answer may be incomplete. (Until a provider has counted or reported its tokens once, a call is priced at one token per byte of what it sends.)`;
    case 'stalled':
      return `Stopped: nothing new came for too long (${settingRef('maxStallSeconds')}). The answer may be incomplete.`;
    default:
      return undefined;
  }
}

/** A cost ratio as a value for relay.maxCostRatio that suffices: rounded up to two decimals. */
export function ratioSetting(ratio: number): string {
  return (Math.ceil(ratio * 100 - 1e-9) / 100).toFixed(2);
}

/**
 * The ceiling that skipped a call, as the end of its reason: "under relay.maxCostRatio; it
 * needed 0.63" (where a ratio would have let it through), or "under relay.maxCostPerAnswerUsd".
 * `name` writes a setting's name (the CLI adds its flag).
 */
export function declinedUnder(
  declined: { ratioNeeded?: number; byUsdCeiling?: true },
  name: (id: 'maxCostRatio' | 'maxCostUsd') => string = (id) => SETTING_NAMES[id].setting,
): string {
  if (declined.byUsdCeiling) return `under ${name('maxCostUsd')}`;
  return `under ${name('maxCostRatio')}${declined.ratioNeeded !== undefined ? `; it needed ${ratioSetting(declined.ratioNeeded)}` : ''}`;
}

/**
 * The line for an answer the large model did not help with because the money ceilings skipped
 * every call it wanted: which ceiling skipped them, and what would have let one through.
 * Undefined for any other answer (one with calls shows its skipped calls in its figures and hovers).
 */
export function skippedCallsNote(stats: Pick<AnswerStats, 'calls' | 'declinedCalls' | 'leastRatioToCall' | 'declinedByUsdCeiling'>): string | undefined {
  const skipped = stats.declinedCalls ?? 0;
  if (stats.calls > 0 || skipped === 0) return undefined;
  const byUsd = Math.min(stats.declinedByUsdCeiling ?? 0, skipped);
  const byRatio = skipped - byUsd;
  if (byRatio === 0) {
    const which = skipped === 1 ? 'The one call this answer wanted' : `Each of the ${skipped} calls this answer wanted`;
    return (
      `No call to the large model. ${which} would have cost more than ${settingRef('maxCostUsd')} leaves for it ` +
      '(a call re-sends the whole prompt): raise that ceiling to let the large model help with answers like this one, or send less text.'
    );
  }
  if (stats.leastRatioToCall === undefined) return undefined;
  const which =
    byUsd > 0
      ? `Of the ${skipped} calls this answer wanted, ${byUsd} would have cost more than ${settingRef('maxCostUsd')} leaves and ${byRatio} more than ${settingRef('maxCostRatio')} allows at ${byRatio === 1 ? 'its' : 'their'} point of the answer`
      : `${skipped === 1 ? 'The one call this answer wanted' : `Each of the ${skipped} calls this answer wanted`} would have cost more than ${settingRef('maxCostRatio')} allows at its point of the answer`;
  const above = stats.leastRatioToCall > 1 ? ', more than the large model alone would have cost up to there' : '';
  const cheapest = byRatio === 1 && byUsd > 0 ? 'That call needed' : 'The cheapest needed';
  return (
    `No call to the large model. ${which} (a call re-sends the whole prompt). ${cheapest} ${ratioSetting(stats.leastRatioToCall)}${above}: ` +
    `raise ${byUsd > 0 ? SETTING_NAMES.maxCostRatio.setting : 'the setting'} to that or more to let the large model help with answers like this one, or send less text.`
  );
}
