/**
 * Turns a relay answer's events into Markdown for VS Code's Chat view (the `@relay`
 * participant), and chat history into the relay's messages. No VS Code import: unit-tested.
 *
 * LLM spans are shown in italics where that is safe (outside code, one line, no Markdown
 * characters of their own, no asterisk of the answer's in the same paragraph), and a footer lists every LLM span with its model,
 * tokens, time and cost, so the marking never depends on rendering alone. Calls the money
 * ceiling skipped are listed in the footer only, with the text they came after: nothing is
 * ever inserted into the answer's own Markdown for them.
 */
import type { AnswerStats, RelayEvent } from '../core/relay/events';
import type { ChatMessage } from '../core/slm/types';
import { cachedShareText, declinedDetail, formatUsd, llmWroteAll, savingPhrase } from './moneyText';
import { skippedCallsNote } from '../core/relay/finishNotes';
import { declinedCallView } from '../shared/webviewProtocol';

export interface LlmSpanNote {
  text: string;
  tokens: number;
  durationMs?: number;
  model: string;
  /** What the call cost (null: no price); absent when no call-end closed the span. */
  costUsd?: number | null;
  /** Cached share of the input the call sent, 0 to 1. */
  cachedShare?: number;
}

/** A call the money ceiling skipped, and the end of the answer's text where it would have been made. */
export interface DeclinedNote {
  predictedUsd: number;
  allowanceUsd: number;
  ratioNeeded?: number;
  after: string;
}

const FENCE = /^( {0,3})(`{3,}|~{3,})/;

/**
 * Tracks where the Markdown written so far stands: inside a fenced code block or not, and
 * what the current paragraph holds (emphasis we add must not pair with an asterisk of the
 * answer's own, nor land inside an inline code span).
 */
export class FenceTracker {
  private line = '';
  private open: string | undefined;
  private paragraph = '';

  get inFence(): boolean {
    return this.open !== undefined;
  }

  push(text: string): void {
    for (const char of text) {
      if (char === '\n') {
        this.endLine(this.line);
        this.paragraph = this.line.trim() === '' ? '' : `${this.paragraph}${this.line}\n`;
        this.line = '';
      } else {
        this.line += char;
      }
    }
  }

  /** Italics may be added here: outside code, no lone asterisk or open inline code in this paragraph. */
  get canEmphasize(): boolean {
    if (this.inFence || FENCE.test(this.line)) return false;
    const text = (this.paragraph + this.line).replace(/^( {0,3})[*+-](?=\s)/gm, '$1'); // list bullets are not emphasis
    const backticks = (text.match(/`/g) ?? []).length;
    return !text.includes('*') && backticks % 2 === 0;
  }

  private endLine(line: string): void {
    const match = FENCE.exec(line);
    if (!match) return;
    const marker = match[2];
    if (this.open === undefined) this.open = marker;
    else if (marker[0] === this.open[0] && marker.length >= this.open.length && line.trim() === marker) this.open = undefined;
  }
}

/** Italics around an LLM span when it cannot break the Markdown around it; else the text as is. */
export function markLlmSpan(text: string, unsafeHere: boolean): string {
  if (unsafeHere) return text;
  const match = /^(\s*)([\s\S]*?)(\s*)$/.exec(text);
  const [, lead, core, trail] = match ?? ['', '', text, ''];
  if (core.length === 0 || /[\n*_`~\\[\]<>#|]/.test(core)) return text;
  return `${lead}*${core}*${trail}`;
}

/** Builds the streamed Markdown of one answer from its events. */
export class ChatAnswerFormatter {
  private readonly fences = new FenceTracker();
  private pendingLlm = '';
  private pendingModel = '';
  private pendingTokens = 0;
  readonly llmSpans: LlmSpanNote[] = [];
  /** Calls skipped under the money ceiling, in order (shown in the footer, never in the answer). */
  readonly declined: DeclinedNote[] = [];
  /** The plain answer (no marking), kept for the next turn's history. */
  answer = '';

  /** Markdown to append for `event` ('' when nothing is to be shown yet). */
  push(event: RelayEvent, model: string): string {
    switch (event.type) {
      case 'span':
        this.answer += event.text;
        if (event.source === 'llm') {
          this.pendingLlm += event.text;
          this.pendingTokens += event.tokens;
          this.pendingModel = model;
          return '';
        }
        return this.flushLlm() + this.write(event.text);
      case 'call-end':
        return this.flushLlm(event);
      case 'call-declined':
        this.declined.push({ ...declinedCallView(event), after: this.answer + this.pendingLlm });
        return '';
      case 'done':
        return this.flushLlm();
      default:
        return '';
    }
  }

  private write(text: string): string {
    this.fences.push(text);
    return text;
  }

  private flushLlm(callEnd?: Extract<RelayEvent, { type: 'call-end' }>): string {
    if (this.pendingLlm.length === 0) return '';
    const text = this.pendingLlm;
    const usage = callEnd?.usage;
    const figures = callEnd
      ? {
          durationMs: callEnd.durationMs,
          costUsd: callEnd.costUsd,
          ...(usage && usage.inputTokens > 0 && !usage.estimated ? { cachedShare: usage.cachedInputTokens / usage.inputTokens } : {}),
        }
      : {};
    this.llmSpans.push({ text, tokens: this.pendingTokens, model: this.pendingModel, ...figures });
    this.pendingLlm = '';
    this.pendingTokens = 0;
    const shown = markLlmSpan(text, !this.fences.canEmphasize);
    this.fences.push(text);
    return shown;
  }

  /** Closes a code block the answer left open, so the footer renders as text. */
  closeOpenBlocks(): string {
    if (!this.fences.inFence) return '';
    const close = '\n```\n';
    this.fences.push(close);
    return close;
  }
}

function costText(value: number | null): string {
  return value === null ? 'unknown (no price for this model)' : formatUsd(value);
}

function snippet(text: string, max = 48): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

/** The last words of `text`, for "after “…is 2”". */
function tail(text: string, max = 32): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `…${flat.slice(flat.length - max + 1)}` : flat;
}

/** Text that must render as written (an error from a server, a quote from the answer): Markdown characters escaped, links and images included. */
export function markdownLiteral(text: string): string {
  return text.replace(/([*_`\\[\]<>!#|~])/g, '\\$1');
}

/** Text quoted in the footer. */
const quoted = (text: string): string => `“${markdownLiteral(text)}”`;

/**
 * The saving in the footer: "saved $0.00030 vs LLM only (estimate; prices: …)", a loss, or
 * none when the LLM wrote it all. The LLM alone is an estimate, and every figure says whose
 * prices it is in, as in the answer view.
 */
function savingText(stats: AnswerStats): string | undefined {
  if (stats.savedUsd === null) return undefined;
  const facts = { savedUsd: stats.savedUsd, llmWroteAll: llmWroteAll(stats) };
  const said = !facts.llmWroteAll && stats.savedUsd > 0 ? `saved ${formatUsd(stats.savedUsd)} vs LLM only` : savingPhrase(facts);
  const basis = [facts.llmWroteAll ? undefined : 'estimate', stats.priceNote].filter((part) => part !== undefined && part.length > 0).join('; ');
  return basis ? `${said} (${basis})` : said;
}

/** The stats footer under an answer: shares, calls, cost, saving or loss, each LLM span and each skipped call. */
export function statsFooter(stats: AnswerStats, spans: LlmSpanNote[], declined: DeclinedNote[] = []): string {
  const share = `${(stats.llmTokenShare * 100).toFixed(1)}%`;
  const parts = [`SLM ${stats.slmTokens} tokens`, `LLM ${stats.llmTokens} tokens (${share})`, `${stats.calls} ${stats.calls === 1 ? 'call' : 'calls'}`];
  const skipped = stats.declinedCalls ?? declined.length;
  if (skipped > 0) parts.push(`${skipped} ${skipped === 1 ? 'call' : 'calls'} skipped`);
  // Counted here, not reported by the server: said, as the answer view says it.
  const counted = stats.calls > 0 && stats.llmUsage.estimated && stats.costUsd !== null ? ' est. (usage not reported)' : '';
  parts.push(`cost ${costText(stats.costUsd)}${counted}`);
  const saving = savingText(stats);
  if (saving) parts.push(saving);
  parts.push(`${(stats.elapsedMs / 1000).toFixed(1)} s`);
  const lines = ['', '', '---', `**Relay** · ${parts.join(' · ')}`];
  if (spans.length > 0) {
    lines.push('', 'Written by the LLM (in italics above):');
    for (const span of spans.slice(0, 10)) {
      const figures = [`${span.tokens} tokens`];
      if (span.durationMs !== undefined) figures.push(`${span.durationMs} ms`);
      if (span.costUsd === null) figures.push('cost unknown: no price');
      else if (span.costUsd !== undefined)
        figures.push(`${formatUsd(span.costUsd)}${span.cachedShare !== undefined ? `, ${cachedShareText(span.cachedShare)}` : ''}`);
      lines.push(`- ${span.model}: ${quoted(snippet(span.text))} (${figures.join(', ')})`);
    }
    if (spans.length > 10) lines.push(`- … and ${spans.length - 10} more`);
  }
  if (declined.length > 0) {
    lines.push('', 'Calls skipped (they would have cost more than the answer could spend):');
    for (const call of declined.slice(0, 10)) {
      const where = call.after.trim() ? `after ${quoted(tail(call.after))}` : 'at the start';
      lines.push(`- ${where}: ${declinedDetail(call.predictedUsd, call.allowanceUsd, call.ratioNeeded)}`);
    }
    if (declined.length > 10) lines.push(`- … and ${declined.length - 10} more`);
  }
  const noCall = skippedCallsNote(stats);
  if (noCall) lines.push('', noCall);
  if (stats.finishReason === 'cancelled') lines.push('', '_Stopped: the partial answer is kept._');
  return `${lines.join('\n')}\n`;
}

/** One turn of chat history as the participant sees it. */
export type HistoryTurn = { kind: 'request'; prompt: string } | { kind: 'response'; answer: string };

/** The relay's messages: earlier turns of this participant, then the new prompt. */
export function historyToMessages(history: HistoryTurn[], prompt: string, maxTurns = 20): ChatMessage[] {
  const messages: ChatMessage[] = [];
  for (const turn of history) {
    if (turn.kind === 'request') {
      if (turn.prompt.trim()) messages.push({ role: 'user', content: turn.prompt });
    } else if (turn.answer.trim() && messages[messages.length - 1]?.role === 'user') {
      messages.push({ role: 'assistant', content: turn.answer });
    }
  }
  // A request without an answer (an error, or cancelled before a word) would leave two user
  // turns in a row, the last one too (before the new prompt): it is dropped wherever it is.
  const paired = messages.filter((message, i) => !(message.role === 'user' && (messages[i + 1]?.role ?? 'user') === 'user'));
  return [...paired.slice(-2 * maxTurns), { role: 'user', content: prompt }];
}
