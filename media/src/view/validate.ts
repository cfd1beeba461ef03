/**
 * Field checks for the payloads that parseHostMessage only checks as objects (a turn and
 * its stats), so a malformed message is dropped instead of breaking the view.
 */
import {
  FIX_ACTIONS,
  isCallFigures,
  isCostRatio,
  isDeclinedCall,
  isDemoResult,
  type ChatTurnView,
  type DemoTurnView,
  type FixAction,
  type StatsView,
} from '../../../src/shared/webviewProtocol';

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const isCount = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value) && value >= 0;
const isUsdOrNull = (value: unknown): boolean => value === null || (typeof value === 'number' && Number.isFinite(value));

export function isStats(value: unknown): value is StatsView {
  return (
    isRecord(value) &&
    isCount(value.slmTokens) &&
    isCount(value.llmTokens) &&
    isCount(value.llmTokenShare) &&
    isCount(value.calls) &&
    isUsdOrNull(value.costUsd) &&
    isUsdOrNull(value.llmOnlyCostUsd) &&
    isUsdOrNull(value.savedUsd) &&
    isCount(value.elapsedMs) &&
    typeof value.finishReason === 'string' &&
    (value.thinkingTokens === undefined || isCount(value.thinkingTokens)) &&
    (value.priceNote === undefined || (typeof value.priceNote === 'string' && value.priceNote.length <= 200)) &&
    (value.cacheHitRate === undefined || (isCount(value.cacheHitRate) && (value.cacheHitRate as number) <= 1)) &&
    (value.reasoningTokens === undefined || isCount(value.reasoningTokens)) &&
    (value.declinedCalls === undefined || isCount(value.declinedCalls)) &&
    (value.declinedByUsdCeiling === undefined || isCount(value.declinedByUsdCeiling)) &&
    (value.leastRatioToCall === undefined || isCostRatio(value.leastRatioToCall)) &&
    (value.llmWroteAll === undefined || typeof value.llmWroteAll === 'boolean') &&
    (value.slmWroteAll === undefined || typeof value.slmWroteAll === 'boolean') &&
    (value.llmOnlyNote === undefined || (typeof value.llmOnlyNote === 'string' && value.llmOnlyNote.length <= 500))
  );
}

function isSpan(value: unknown): boolean {
  return (
    isRecord(value) &&
    typeof value.text === 'string' &&
    (value.source === 'slm' || value.source === 'llm') &&
    (value.tokens === undefined || isCount(value.tokens)) &&
    (value.model === undefined || typeof value.model === 'string') &&
    (value.host === undefined || typeof value.host === 'string') &&
    isCallFigures(value) &&
    // A skipped call's marker carries no text.
    (value.declined === undefined || (isDeclinedCall(value.declined) && value.text === ''))
  );
}

const isShortText = (value: unknown, max = 200): value is string => typeof value === 'string' && value.length <= max;

/** The demo fields of a turn ("Relay: Try the Demo"). */
export function isDemoTurn(value: unknown): value is DemoTurnView {
  return (
    isRecord(value) &&
    (value.kind === 'relay' || value.kind === 'slm-only') &&
    isShortText(value.question) &&
    isShortText(value.reference) &&
    isShortText(value.priceModel) &&
    (value.pairOf === undefined || isShortText(value.pairOf)) &&
    (value.result === undefined || isDemoResult(value.result))
  );
}

export function isTurn(value: unknown): value is ChatTurnView {
  return (
    isRecord(value) &&
    typeof value.id === 'string' &&
    value.id.length <= 200 &&
    (value.role === 'user' || value.role === 'assistant') &&
    Array.isArray(value.spans) &&
    value.spans.every(isSpan) &&
    (value.stats === undefined || isStats(value.stats)) &&
    (value.error === undefined ||
      (isRecord(value.error) &&
        typeof value.error.message === 'string' &&
        (value.error.fix === undefined || FIX_ACTIONS.includes(value.error.fix as FixAction)))) &&
    (value.demo === undefined || isDemoTurn(value.demo)) &&
    (value.thinkingOpened === undefined || typeof value.thinkingOpened === 'boolean')
  );
}
