/**
 * The one typed message map between the extension host and its webviews (chat panel and
 * answer view). Both sides validate what they receive with `parse*Message`, because a
 * webview message is untrusted input.
 */

export type SpanSource = 'slm' | 'llm';
import { FIXES, type Fix } from '../core/fixes';
import { isRecord } from './isRecord';
import type { ModelLoad } from './modelLoading';
import type { PromptReader } from './promptReading';

/** The button that fixes an error (src/core/fixes.ts). */
export type FixAction = Fix;

export interface StatsView {
  slmTokens: number;
  llmTokens: number;
  llmTokenShare: number;
  calls: number;
  costUsd: number | null;
  llmOnlyCostUsd: number | null;
  savedUsd: number | null;
  elapsedMs: number;
  finishReason: string;
  /** Tokens of the answer's thinking (<think>...</think>), part of the counts above. */
  thinkingTokens?: number;
  /** Where the prices came from ("prices: @pydantic/genai-prices of 2026-09-23"). */
  priceNote?: string;
  /** Cached share of the input the LLM was sent, 0 to 1 (absent without a call). */
  cacheHitRate?: number;
  /** Hidden reasoning tokens the LLM billed as output. */
  reasoningTokens?: number;
  /** A call's usage was counted here (its server reported none, or it was stopped before it did), or capped: the cost is an estimate. */
  usageEstimated?: boolean;
  /** A call's server reported more output than one call can write (Usage.outputCapped): it was billed at that ceiling. */
  outputCapped?: boolean;
  /** Calls not made because they would have cost more than the answer could spend (relay.maxCostRatio). */
  declinedCalls?: number;
  /** How many of them relay.maxCostPerAnswerUsd skipped (AnswerStats.declinedByUsdCeiling): the note under the answer names that ceiling for them. */
  declinedByUsdCeiling?: number;
  /** The least relay.maxCostRatio that would have let one of them through (AnswerStats.leastRatioToCall). */
  leastRatioToCall?: number;
  /** The LLM wrote the whole answer (llm-only, or the router sent it there): it is the LLM-only answer, so it saves nothing by definition. */
  llmWroteAll?: boolean;
  /** No large model was called: relay.localOnly or relay.mode slm-only (slmWroteAll). It cost $0, with no LLM-only answer to save against (not an unknown price). */
  slmWroteAll?: boolean;
  /** How the LLM-only figure was estimated (the engine's llmOnlyEstimateNote), for the hover. */
  llmOnlyNote?: string;
}

/** A call the answer's money ceiling did not allow: a marker where it would have been made. */
export interface DeclinedCallView {
  /** What the call would have cost, in USD. */
  predictedUsd: number;
  /** What the answer could still spend at that point, in USD (zero or less: nothing). */
  allowanceUsd: number;
  /** The least relay.maxCostRatio under which it would have been made (absent where the USD ceiling refused it). */
  ratioNeeded?: number;
  /** relay.maxCostPerAnswerUsd refused it, not relay.maxCostRatio. */
  byUsdCeiling?: true;
}

/** The fields of a skipped call the views keep, from a 'call-declined' event or message (nothing else it carries). */
export function declinedCallView(declined: DeclinedCallView): DeclinedCallView {
  const { predictedUsd, allowanceUsd, ratioNeeded, byUsdCeiling } = declined;
  return { predictedUsd, allowanceUsd, ...(ratioNeeded !== undefined ? { ratioNeeded } : {}), ...(byUsdCeiling === true ? { byUsdCeiling } : {}) };
}

/** A piece of an answer as it streams (a 'span' message), before its call's figures are known. */
export interface StreamedSpan {
  source: SpanSource;
  text: string;
  tokens: number;
  model?: string;
  host?: string;
  durationMs?: number;
  approximate?: boolean;
}

/**
 * A piece of an answer as the view shows it. host: where the LLM's requests went (an
 * origin, or 'this machine'); approximate: the LLM was asked to continue (instructed)
 * rather than continuing the text itself. For the hover.
 */
export interface SpanView extends StreamedSpan {
  /** LLM spans, once a call that wrote them ended: how many calls wrote the span (consecutive calls share one span). */
  calls?: number;
  /** What those calls cost in USD (computed by the host from each call-end); null: a price is unknown. */
  costUsd?: number | null;
  /** Cached share of the input those calls sent, 0 to 1 (absent when they sent none). */
  cachedShare?: number;
  /** The server reported no usage (the cost is the local estimate), or more output than a call can write (outputCapped). */
  usageEstimated?: boolean;
  /** A call's server reported more output than one call can write (Usage.outputCapped): it was billed at that ceiling. */
  outputCapped?: boolean;
  /** Not text: a marker of a call skipped here (its text is always ''). Never part of the answer's text. */
  declined?: DeclinedCallView;
}

/** The figures of an LLM span after a call that wrote into it ended (totals over the span's calls). */
export interface CallFiguresView {
  durationMs: number;
  calls: number;
  costUsd: number | null;
  cachedShare?: number;
  usageEstimated?: boolean;
  outputCapped?: boolean;
  approximate?: boolean;
}

export interface ChatTurnView {
  id: string;
  role: 'user' | 'assistant';
  /** Assistant turns keep their spans (and the markers of skipped calls) so highlighting survives a reload. */
  spans: SpanView[];
  stats?: StatsView;
  error?: { message: string; fix?: FixAction };
  /** Set on the answers of "Relay: Try the Demo" (the embedded pair, not the user's set-up). */
  demo?: DemoTurnView;
  /** The SLM's template opened `<think>` in the prompt: the answer starts in its reasoning (the engine's 'thinking-opened'). */
  thinkingOpened?: boolean;
}

/**
 * An answer of the demo: the embedded toy pair (the demo SLM and the onnx-local demo LLM,
 * priced as a named hosted model), or the same SLM alone for comparison.
 */
export interface DemoTurnView {
  /** relay: the SLM hands tokens to the local LLM; slm-only: the same SLM with no help. */
  kind: 'relay' | 'slm-only';
  /** The demo question (a*b+c=?). */
  question: string;
  /** The exact answer of the question. */
  reference: string;
  /** The hosted model whose list price the local LLM is priced at (an estimate). */
  priceModel: string;
  /** slm-only: the relay answer it is compared with (shown side by side). */
  pairOf?: string;
  /** The final answer the turn wrote (null: none found) and whether it is the reference. */
  result?: DemoResultView;
}

export interface DemoResultView {
  answer: string | null;
  correct: boolean;
}

/** What the demo's buttons ask for: another question, the SLM alone beside an answer, the set-up walkthrough, the README's table. */
/** 'again': a demo answer asked again (Retry on one restored from an earlier window), by the demo's models. */
export type DemoAction = 'another' | 'compare' | 'setup' | 'paper-table' | 'again';
export const DEMO_ACTIONS: readonly DemoAction[] = ['another', 'compare', 'setup', 'paper-table', 'again'];

/** Host -> webview. */
export type HostMessage =
  /**
   * The view's state (first load or reload). busy: an answer is being written (in any view,
   * or @relay); runningTurnId: the one of these turns being written (it streams on), absent
   * when none of them is: every turn is then shown as it is. testingProvider: what keeps
   * Relay busy is "Relay: Test Provider", not an answer.
   */
  | { type: 'init'; view: 'chat' | 'answer'; turns: ChatTurnView[]; busy: boolean; testingProvider?: boolean; runningTurnId?: string; setupWarning?: string }
  | { type: 'turn-start'; turn: ChatTurnView }
  /** Retry on an earlier chat answer: that answer and the turns after it go (the new answer follows). */
  | { type: 'turns-removed'; turnIds: string[] }
  /** The answer starts in its reasoning (its template opened `<think>` in the prompt): sent before its first span. */
  | { type: 'thinking-opened'; turnId: string }
  | ({ type: 'span'; turnId: string } & StreamedSpan)
  | { type: 'turn-done'; turnId: string; stats: StatsView }
  | { type: 'turn-error'; turnId: string; message: string; fix?: FixAction }
  /**
   * The large model's server has sent nothing for `waitedMs` ("waiting for <host>... 12 s");
   * `retrying` says why a new attempt comes; `reasoningModel`: its response began, but that
   * model reasons before it writes (OpenAI's pro models, for minutes); waitedMs null: bytes
   * (after reasoning: the text) came, the line goes.
   */
  | { type: 'waiting'; turnId: string; host: string; waitedMs: number | null; retrying?: string; reasoningModel?: string }
  /** The small model is reading a long prompt: `done` of `total` tokens ("Reading 2,730 tokens of context… 40%"); done = total: the line goes. */
  | { type: 'reading'; turnId: string; done: number; total: number; reusedTokens: number; reader?: PromptReader }
  /**
   * The answer waits on a model's load for `waitedMs` ("Loading the small model (Qwen3-0.6B)… 12 s"),
   * told once a second; waitedMs null: the wait ended (loaded, failed or stopped), the line goes.
   */
  | ({ type: 'loading'; turnId: string; waitedMs: number | null } & ModelLoad)
  | { type: 'cleared' }
  /**
   * An answer (or a provider test) started or ended. own: it is this view's, so its Stop stops it
   * (another view's or @relay's is stopped there, or with "Relay: Stop"); testingProvider: it is
   * "Relay: Test Provider", which no Stop ends (its notification does).
   */
  | { type: 'busy'; busy: boolean; own?: boolean; testingProvider?: boolean }
  /** Set-up changed (key stored, model picked, settings edited): the banner follows. */
  | { type: 'setup'; setupWarning?: string }
  /** A demo answer was checked against its reference. */
  | { type: 'demo-result'; turnId: string; result: DemoResultView }
  /** A call that wrote into the turn's last LLM span ended: the span's figures for its hover. */
  | ({ type: 'call-figures'; turnId: string } & CallFiguresView)
  /** A call was skipped here (the money ceiling): a marker at the end of the text so far. */
  | ({ type: 'call-declined'; turnId: string } & DeclinedCallView)
  /** A message the view sent was not asked (an answer was being written elsewhere): it goes back into the input, with why. */
  | { type: 'not-sent'; text: string; reason: string };

/** Webview -> host. */
export type WebviewMessage =
  | { type: 'ready' }
  | { type: 'send'; text: string }
  /** The chat input as the user writes it (debounced, while idle): read ahead into the SLM's cache. */
  | { type: 'draft'; text: string }
  | { type: 'stop' }
  | { type: 'new-chat' }
  | { type: 'copy'; turnId: string }
  | { type: 'insert'; turnId: string }
  | { type: 'retry'; turnId: string }
  /** A fix's button: under an answer's error (`turnId`: the error names what to fix), or in the set-up banner. */
  | { type: 'fix'; action: FixAction; turnId?: string }
  /** A demo button; `compare` names the relay answer to compare with. */
  | { type: 'demo'; action: DemoAction; turnId?: string };

export const FIX_ACTIONS: readonly FixAction[] = FIXES;
/** The longest message (and draft) the webview may send, in UTF-16 units: the view says so rather than send a longer one. */
export const MAX_MESSAGE_TEXT = 100_000;
/** The longest model name or host a span carries: the host clips longer ones before posting, the view clips too (clipShortText). */
export const MAX_SHORT_TEXT = 200;
/**
 * The longest set-up warning (and refusal reason) the views show: the host clips a longer one
 * before posting (a settings error quotes the value, a pasted curl command and all), the view
 * clips too, so an init is never refused for it (its turns would be lost from the view).
 */
export const MAX_NOTICE_TEXT = 2000;

/**
 * `text` cut to `max` (MAX_SHORT_TEXT) characters, the cut marked with an ellipsis; never
 * inside a surrogate pair (an emoji). Cut at its end, or with `keepEnd` in its middle: a
 * message's start says what is wrong, its end how to fix it.
 */
export function clipShortText(text: string, max = MAX_SHORT_TEXT, { keepEnd = false }: { keepEnd?: boolean } = {}): string {
  if (text.length <= max) return text;
  const kept = max - 1;
  let headEnd = keepEnd ? Math.ceil(kept / 2) : kept;
  // A high surrogate left at the end of the head would be half a character (shown as U+FFFD, escaped in JSON).
  if (headEnd > 0 && /[\uD800-\uDBFF]/.test(text[headEnd - 1])) headEnd -= 1;
  if (!keepEnd) return `${text.slice(0, headEnd)}…`;
  let tailStart = text.length - (kept - Math.ceil(kept / 2));
  // So would a low surrogate at the start of the tail.
  if (tailStart < text.length && /[\uDC00-\uDFFF]/.test(text[tailStart])) tailStart += 1;
  return `${text.slice(0, headEnd)}…${text.slice(tailStart)}`;
}

function isShortString(value: unknown, max = MAX_SHORT_TEXT): value is string {
  return typeof value === 'string' && value.length <= max;
}

const isCount = (value: unknown): boolean => typeof value === 'number' && Number.isFinite(value) && value >= 0;
const isFixOrAbsent = (value: unknown): boolean => value === undefined || FIX_ACTIONS.includes(value as FixAction);

/** Returns the message when it is a well-formed WebviewMessage, else undefined. */
export function parseWebviewMessage(value: unknown): WebviewMessage | undefined {
  if (!isRecord(value) || typeof value.type !== 'string') return undefined;
  switch (value.type) {
    case 'ready':
    case 'stop':
    case 'new-chat':
      return { type: value.type };
    case 'send':
      return typeof value.text === 'string' && value.text.trim().length > 0 && value.text.length <= MAX_MESSAGE_TEXT
        ? { type: 'send', text: value.text }
        : undefined;
    case 'draft':
      return typeof value.text === 'string' && value.text.length <= MAX_MESSAGE_TEXT ? { type: 'draft', text: value.text } : undefined;
    case 'copy':
    case 'insert':
    case 'retry':
      return isShortString(value.turnId) ? { type: value.type, turnId: value.turnId } : undefined;
    case 'fix':
      if (!FIX_ACTIONS.includes(value.action as FixAction) || !(value.turnId === undefined || isShortString(value.turnId))) return undefined;
      return { type: 'fix', action: value.action as FixAction, ...(value.turnId !== undefined ? { turnId: value.turnId } : {}) };
    case 'demo':
      if (!DEMO_ACTIONS.includes(value.action as DemoAction)) return undefined;
      if (value.action === 'compare') return isShortString(value.turnId) ? { type: 'demo', action: 'compare', turnId: value.turnId } : undefined;
      return { type: 'demo', action: value.action as DemoAction };
    default:
      return undefined;
  }
}

const HOST_TYPES = new Set([
  'init',
  'turn-start',
  'turns-removed',
  'thinking-opened',
  'span',
  'turn-done',
  'turn-error',
  'waiting',
  'reading',
  'loading',
  'cleared',
  'busy',
  'setup',
  'demo-result',
  'call-figures',
  'call-declined',
  'not-sent',
]);

const isUsd = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value);
const isShare = (value: unknown): boolean => isCount(value) && (value as number) <= 1;

/** A call's figures as a span carries them or a 'call-figures' message sends them (each field optional here). */
export function isCallFigures(value: Record<string, unknown>): boolean {
  return (
    (value.durationMs === undefined || isCount(value.durationMs)) &&
    (value.calls === undefined || (isCount(value.calls) && Number.isInteger(value.calls))) &&
    (value.costUsd === undefined || value.costUsd === null || (isUsd(value.costUsd) && value.costUsd >= 0)) &&
    (value.cachedShare === undefined || isShare(value.cachedShare)) &&
    (value.usageEstimated === undefined || typeof value.usageEstimated === 'boolean') &&
    (value.outputCapped === undefined || typeof value.outputCapped === 'boolean') &&
    (value.approximate === undefined || typeof value.approximate === 'boolean')
  );
}

/** A skipped call: what it would have cost (not negative) and what the answer could still spend (may be negative). */
export function isDeclinedCall(value: unknown): value is DeclinedCallView {
  return (
    isRecord(value) &&
    isUsd(value.predictedUsd) &&
    value.predictedUsd >= 0 &&
    isUsd(value.allowanceUsd) &&
    (value.ratioNeeded === undefined || isCostRatio(value.ratioNeeded)) &&
    (value.byUsdCeiling === undefined || value.byUsdCeiling === true)
  );
}

/** A cost ratio against the LLM alone: finite and positive. */
export const isCostRatio = (value: unknown): value is number => isUsd(value) && value > 0;

/** A demo answer's check: the answer found (or null) and whether it is right. */
export function isDemoResult(value: unknown): value is DemoResultView {
  return isRecord(value) && (value.answer === null || isShortString(value.answer)) && typeof value.correct === 'boolean';
}

/** `value` with its string `fields` clipped (clipShortText, to `max`); `value` itself when none is too long. */
function withShortFields(value: Record<string, unknown>, fields: readonly string[], max = MAX_SHORT_TEXT, keepEnd = false): Record<string, unknown> {
  const long = fields.filter((field) => typeof value[field] === 'string' && (value[field] as string).length > max);
  if (long.length === 0) return value;
  const clipped = { ...value };
  for (const field of long) clipped[field] = clipShortText(value[field] as string, max, { keepEnd });
  return clipped;
}

/** A set-up warning (or a refusal's reason) clipped to MAX_NOTICE_TEXT, its start and end kept: the host's before posting, the view's on receipt. */
export function clipNotice(text: string): string {
  return clipShortText(text, MAX_NOTICE_TEXT, { keepEnd: true });
}

/** `value` with its notice `fields` clipped (clipNotice). */
const withShortNotices = (value: Record<string, unknown>, fields: readonly string[]): Record<string, unknown> =>
  withShortFields(value, fields, MAX_NOTICE_TEXT, true);

/** Webview side: accept only known message types with the fields each needs. */
export function parseHostMessage(value: unknown): HostMessage | undefined {
  if (!isRecord(value) || typeof value.type !== 'string' || !HOST_TYPES.has(value.type)) return undefined;
  switch (value.type) {
    case 'init':
      return Array.isArray(value.turns) &&
        (value.view === 'chat' || value.view === 'answer') &&
        typeof value.busy === 'boolean' &&
        (value.testingProvider === undefined || typeof value.testingProvider === 'boolean') &&
        (value.runningTurnId === undefined || isShortString(value.runningTurnId)) &&
        // A long warning is cut (as the host cuts it), never a reason to refuse the turns with it.
        (value.setupWarning === undefined || typeof value.setupWarning === 'string')
        ? (withShortNotices(value, ['setupWarning']) as HostMessage)
        : undefined;
    case 'turn-start':
      return isRecord(value.turn) && isShortString(value.turn.id) ? (value as HostMessage) : undefined;
    case 'turns-removed':
      return Array.isArray(value.turnIds) && value.turnIds.every((id) => isShortString(id)) ? (value as HostMessage) : undefined;
    case 'thinking-opened':
      return isShortString(value.turnId) ? (value as HostMessage) : undefined;
    case 'span':
      // A long model name or host is cut (as the host cuts it), never a reason to lose the span's text.
      return isShortString(value.turnId) &&
        typeof value.text === 'string' &&
        (value.source === 'slm' || value.source === 'llm') &&
        isCount(value.tokens) &&
        (value.model === undefined || typeof value.model === 'string') &&
        (value.host === undefined || typeof value.host === 'string') &&
        (value.approximate === undefined || typeof value.approximate === 'boolean') &&
        (value.durationMs === undefined || isCount(value.durationMs))
        ? (withShortFields(value, ['model', 'host']) as HostMessage)
        : undefined;
    case 'turn-done':
      return isShortString(value.turnId) && isRecord(value.stats) ? (value as HostMessage) : undefined;
    case 'turn-error':
      // An unknown fix would render a button that does nothing: refuse the message.
      return isShortString(value.turnId) && typeof value.message === 'string' && isFixOrAbsent(value.fix) ? (value as HostMessage) : undefined;
    case 'waiting':
      return isShortString(value.turnId) &&
        typeof value.host === 'string' &&
        (value.waitedMs === null || isCount(value.waitedMs)) &&
        (value.retrying === undefined || isShortString(value.retrying, 300)) &&
        (value.reasoningModel === undefined || typeof value.reasoningModel === 'string')
        ? (withShortFields(value, ['host', 'reasoningModel']) as HostMessage)
        : undefined;
    case 'reading':
      return isShortString(value.turnId) &&
        isCount(value.done) &&
        isCount(value.total) &&
        isCount(value.reusedTokens) &&
        (value.reader === undefined || value.reader === 'large') &&
        (value.done as number) <= (value.total as number)
        ? (value as HostMessage)
        : undefined;
    case 'loading':
      return isShortString(value.turnId) &&
        (value.model === 'small' || value.model === 'large') &&
        typeof value.name === 'string' &&
        (value.restarting === undefined || typeof value.restarting === 'boolean') &&
        (value.waitedMs === null || isCount(value.waitedMs))
        ? (withShortFields(value, ['name']) as HostMessage)
        : undefined;
    case 'busy':
      return typeof value.busy === 'boolean' &&
        (value.own === undefined || typeof value.own === 'boolean') &&
        (value.testingProvider === undefined || typeof value.testingProvider === 'boolean')
        ? (value as HostMessage)
        : undefined;
    case 'setup':
      return value.setupWarning === undefined || typeof value.setupWarning === 'string'
        ? (withShortNotices(value, ['setupWarning']) as HostMessage)
        : undefined;
    case 'demo-result':
      return isShortString(value.turnId) && isDemoResult(value.result) ? (value as HostMessage) : undefined;
    case 'call-figures':
      return isShortString(value.turnId) && isCount(value.durationMs) && isCount(value.calls) && value.costUsd !== undefined && isCallFigures(value)
        ? (value as HostMessage)
        : undefined;
    case 'call-declined':
      return isShortString(value.turnId) && isDeclinedCall(value) ? (value as unknown as HostMessage) : undefined;
    case 'not-sent':
      // The text goes back into the input: a long reason is cut, never a reason to lose what the user wrote.
      return typeof value.text === 'string' && typeof value.reason === 'string' ? (withShortNotices(value, ['reason']) as HostMessage) : undefined;
    default:
      return value as HostMessage;
  }
}
