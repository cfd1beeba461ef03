/**
 * What was sent for the last answer (the privacy view): each relay call to the LLM with
 * the tokens asked for and the text to continue, each HTTP request exactly as it went out
 * (URL and JSON body, retries included), and the requests a served SLM sent to its server.
 * Headers are never recorded, so an API key cannot show up here. No VS Code import:
 * unit-tested with real providers.
 */
import { withoutCredentials } from '../core/http/shownUrl';
import type { SentRequest } from '../core/providers/types';
import type { FinishReason, RelayEvent, RelayMode } from '../core/relay/events';
import type { ChatMessage } from '../core/slm/types';

export interface SentCall {
  callIndex: number;
  model: string;
  requestedTokens: number;
  /** The partial answer the LLM was asked to continue (from the engine's call-end). */
  partialAnswer?: string;
  /** HTTP requests of this call as sent; empty for a local (onnx-local) LLM. */
  requests: SentRequest[];
  tokensWritten?: number;
  finishReason?: string;
}

export interface SentAnswer {
  startedAt: Date;
  mode: RelayMode;
  /** Where the LLM is: provider kind and model, or why there is none. */
  provider: string;
  /** True when the LLM runs on this machine (onnx-local): nothing leaves it. */
  local: boolean;
  messages: ChatMessage[];
  calls: SentCall[];
  /** Requests that arrived outside a call (should not happen; shown rather than hidden). */
  unattributed: SentRequest[];
  /** The small model's server (relay.slm.kind other than onnx): kind, model and origin. */
  slmServer?: string;
  /** The last SLM_REQUESTS_KEPT requests sent to it, and how many were sent in all. */
  slmRequests: SentRequest[];
  slmRequestCount: number;
  /** Calls the small model asked for that the money ceilings declined: nothing was sent for them. */
  declinedCalls: number;
  /** The request recorded last (a provider's onRequestNotSent refers to it). */
  lastRecorded?: SentRequest;
  /** Why the answer ended, once it has. */
  endReason?: FinishReason;
  finished: boolean;
}

/** Whether anything at all went out for an answer: a call, another request (a token count), or the small model's server. */
export function sentAnything(answer: SentAnswer): boolean {
  return answer.calls.some((call) => call.requests.length > 0) || answer.unattributed.length > 0 || answer.slmRequestCount > 0;
}

/** "Relay: Test Provider"'s last run: where it went and its requests as sent (the continuation, then the free token count). */
export interface SentTest {
  startedAt: Date;
  /** Provider kind, model and origin. */
  provider: string;
  /** True for onnx-local: nothing leaves this machine. */
  local: boolean;
  requests: SentRequest[];
}

/** Requests to the small model's server kept per answer: each carries the whole context, and an answer may send hundreds. */
export const SLM_REQUESTS_KEPT = 40;

/** How often an open "Show What Was Sent" refreshes while an answer is written. */
const CHANGE_INTERVAL_MS = 500;

export class SentRequestLog {
  private current: SentAnswer | undefined;
  private test: SentTest | undefined;
  private listeners: (() => void)[] = [];
  private pendingChange: NodeJS.Timeout | undefined;

  /** The last answer's record (the one being written, while it is). */
  get last(): SentAnswer | undefined {
    return this.current;
  }

  /** The last provider test's record. */
  get lastTest(): SentTest | undefined {
    return this.test;
  }

  /** Called when the record changes (an open view refreshes). */
  onChange(listener: () => void): { dispose(): void } {
    this.listeners.push(listener);
    return { dispose: () => (this.listeners = this.listeners.filter((l) => l !== listener)) };
  }

  private changed(): void {
    clearTimeout(this.pendingChange);
    this.pendingChange = undefined;
    for (const listener of this.listeners) listener();
  }

  /** A change while an answer is written: an open view refreshes at most every CHANGE_INTERVAL_MS, not on every request. */
  private changedSoon(): void {
    if (this.pendingChange || this.listeners.length === 0) return;
    this.pendingChange = setTimeout(() => this.changed(), CHANGE_INTERVAL_MS);
    this.pendingChange.unref?.();
  }

  begin(info: { mode: RelayMode; provider: string; local: boolean; messages: ChatMessage[]; slmServer?: string }): void {
    this.current = {
      startedAt: new Date(),
      ...info,
      messages: info.messages.map((m) => ({ ...m })),
      calls: [],
      unattributed: [],
      slmRequests: [],
      slmRequestCount: 0,
      declinedCalls: 0,
      finished: false,
    };
    this.changed();
  }

  /** A provider test starts: its requests are kept apart from the last answer's, which it does not replace. */
  beginTest(info: { provider: string; local: boolean }): void {
    this.test = { startedAt: new Date(), ...info, requests: [] };
    this.changed();
  }

  /** A provider test's request, as sent. */
  recordTestRequest(request: SentRequest): void {
    if (!this.test) return;
    this.test.requests.push(recordedCopy(request));
    this.changed();
  }

  /** A served SLM's request to its server, during the answer being written (none is expected outside one: ignored). */
  recordSlmRequest(request: SentRequest): void {
    const answer = this.current;
    if (!answer || answer.finished) return;
    answer.slmRequestCount += 1;
    answer.slmRequests.push(recordedCopy(request));
    if (answer.slmRequests.length > SLM_REQUESTS_KEPT) answer.slmRequests.shift();
    this.changedSoon();
  }

  /** A provider's onRequest: attached to the call in progress. */
  recordRequest(request: SentRequest): void {
    if (!this.current) return;
    const copy = recordedCopy(request);
    const call = this.current.calls[this.current.calls.length - 1];
    if (call && call.finishReason === undefined) call.requests.push(copy);
    else this.current.unattributed.push(copy);
    this.current.lastRecorded = copy;
    this.changedSoon();
  }
  /** A provider's onRequestNotSent: the request recorded last never went out (nothing listening, cancelled first). */
  markNotSent(reason: string): void {
    const request = this.current?.lastRecorded;
    if (!request) return;
    request.notSent = reason;
    this.changedSoon();
  }

  onEvent(event: RelayEvent): void {
    const answer = this.current;
    if (!answer) return;
    if (event.type === 'call-start') {
      answer.calls.push({ callIndex: event.callIndex, model: event.model, requestedTokens: event.requestedTokens, requests: [] });
      this.changedSoon();
    } else if (event.type === 'call-end') {
      const call = answer.calls.find((c) => c.callIndex === event.callIndex);
      if (call) {
        call.partialAnswer = event.sentPartialAnswer;
        call.tokensWritten = event.tokens;
        call.finishReason = event.finishReason;
      }
      this.changedSoon();
    } else if (event.type === 'call-declined') {
      answer.declinedCalls += 1;
      this.changedSoon();
    } else if (event.type === 'done') {
      answer.finished = true;
      answer.endReason = event.stats.finishReason;
      this.changed();
    }
  }
}

/** A request as the record keeps it: its own copy of the body, the URL without a login. */
function recordedCopy(request: SentRequest): SentRequest {
  return { url: shownUrl(request.url), body: structuredCloneSafe(request.body), ...(request.purpose ? { purpose: request.purpose } : {}) };
}

/** A URL with any user:password@ part removed (a base URL may carry one); text that is no URL, or has none, as it is. */
function shownUrl(text: string): string {
  try {
    const url = new URL(text);
    return url.username || url.password ? withoutCredentials(url).href : text;
  } catch {
    return text;
  }
}

function structuredCloneSafe(value: unknown): unknown {
  try {
    return JSON.parse(JSON.stringify(value)) as unknown;
  } catch {
    return String(value);
  }
}

/** A fence longer than any run of backticks in `text`, so the text cannot close it. */
function fence(text: string): string {
  const longest = Math.max(2, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  return '`'.repeat(longest + 1);
}

function block(text: string, language = ''): string {
  const f = fence(text);
  return `${f}${language}\n${text}\n${f}`;
}

/** A request in the document: its heading (`### <title>POST <url>`) and its JSON body. */
function requestLines(title: string, request: SentRequest): string[] {
  const notSent = request.notSent ? ` (not sent: ${request.notSent})` : '';
  return [`### ${title}POST ${request.url}${notSent}`, '', block(JSON.stringify(request.body, null, 2), 'json'), ''];
}

/** "openai-chat gpt-4o at https://api.openai.com": the origin only, so a base URL's user:password never shows. */
export function providerLabel(kind: string, model: string, url: URL | undefined): string {
  return `${kind} ${model}${url ? ` at ${url.origin}` : ''}`;
}

/** The read-only document "Relay: Show What Was Sent" opens: the last answer, then the last provider test. */
export function renderSentDocument(answer: SentAnswer | undefined, test?: SentTest): string {
  const lines = answer
    ? answerLines(answer)
    : ['# What Relay sent to the LLM', '', 'No answer has been written in this window yet. Ask something, then run "Relay: Show What Was Sent" again.', ''];
  if (test) lines.push(...testLines(test));
  return `${lines.join('\n').trimEnd()}\n`;
}

function testLines(test: SentTest): string[] {
  const lines = [`## The last provider test ("Relay: Test Provider", ${test.startedAt.toISOString()})`, '', `- LLM: ${test.provider}`];
  lines.push(`- HTTP requests: ${test.requests.length}`, '');
  if (test.local) lines.push('The LLM is a local ONNX model (onnx-local): nothing left this machine.', '');
  else if (test.requests.length === 0) lines.push('Nothing was sent.', '');
  for (const request of test.requests) {
    const title = request.purpose === 'token-count' ? "Token count (free, nothing generated; Relay's own sample text): " : 'Continuation: ';
    lines.push(...requestLines(title, request));
  }
  return lines;
}

function answerLines(answer: SentAnswer): string[] {
  const lines: string[] = [];
  const requestCount = answer.calls.reduce((sum, call) => sum + call.requests.length, 0) + answer.unattributed.length;
  lines.push(
    answer.slmServer ? "# What Relay sent to the LLM and the small model's server for the last answer" : '# What Relay sent to the LLM for the last answer',
    '',
  );
  lines.push(`- Started: ${answer.startedAt.toISOString()}${answer.finished ? '' : ' (still being written)'}`);
  lines.push(`- Mode: ${answer.mode}`);
  lines.push(`- LLM: ${answer.provider}`);
  lines.push(`- Calls: ${answer.calls.length}; HTTP requests: ${requestCount}`);
  if (answer.slmServer) lines.push(`- Small model: ${answer.slmServer}; HTTP requests: ${answer.slmRequestCount}`);
  lines.push('- API keys travel in request headers, which are not shown here and never recorded.');
  lines.push('');
  if (answer.calls.length === 0 && answer.unattributed.length === 0) {
    const why =
      answer.mode === 'slm-only'
        ? 'Local only (SLM only): the LLM is never contacted.'
        : answer.declinedCalls > 0
          ? `The small model asked for help ${answer.declinedCalls === 1 ? 'once' : `${answer.declinedCalls} times`}; the money ceilings (relay.maxCostRatio, relay.maxCostPerAnswerUsd) declined ${answer.declinedCalls === 1 ? 'the call' : 'every call'}.`
          : answer.endReason === 'cost_limit'
            ? 'The answer reached its money ceiling (relay.maxCostPerAnswerUsd) before any call.'
            : answer.finished
              ? 'The small model wrote the whole answer without asking for help.'
              : 'No call so far.';
    lines.push(`**Nothing was sent to the LLM.** ${why}`, '');
  } else if (answer.declinedCalls > 0) {
    lines.push(
      `${answer.declinedCalls} more call${answer.declinedCalls === 1 ? ' was' : 's were'} declined by the money ceilings: nothing was sent for ${answer.declinedCalls === 1 ? 'it' : 'them'}.`,
      '',
    );
  }
  if (answer.local && answer.calls.length > 0) {
    // The small model's server, listed below, is another matter: it gets every prompt.
    lines.push(
      answer.slmServer
        ? "The LLM is a local ONNX model (onnx-local): no LLM request left this machine (the small model's server is listed below)."
        : 'The LLM is a local ONNX model (onnx-local): nothing left this machine.',
      '',
    );
  }
  lines.push('## The question (as the conversation given to the relay)', '');
  for (const message of answer.messages) lines.push(`**${message.role}:**`, '', block(message.content), '');
  for (const call of answer.calls) {
    lines.push(`## Call ${call.callIndex + 1}: ${call.model}, at most ${call.requestedTokens} tokens`, '');
    if (call.tokensWritten !== undefined) lines.push(`The LLM wrote ${call.tokensWritten} tokens (finish: ${call.finishReason}).`, '');
    if (call.partialAnswer !== undefined) {
      lines.push(
        'The answer so far, which the LLM was asked to continue:',
        '',
        call.partialAnswer.length > 0 ? block(call.partialAnswer) : '_(empty: the LLM starts the answer)_',
        '',
      );
    }
    call.requests.forEach((request, index) => {
      const retry = index > 0 ? ' (sent again after the one before failed)' : '';
      lines.push(...requestLines(`Request ${index + 1}${retry}: `, request));
    });
  }
  if (answer.unattributed.length > 0) {
    lines.push('## Other requests', '');
    for (const request of answer.unattributed) {
      const title =
        request.purpose === 'token-count' ? "Token count (free, nothing generated; Relay's own sample text, to price calls in the LLM's tokens): " : '';
      lines.push(...requestLines(title, request));
    }
  }
  if (answer.slmServer) {
    lines.push(`## Sent to the small model's server: ${answer.slmServer}`, '');
    lines.push(
      "Each request carries the whole context so far (the conversation, the selection, the answer so far with the LLM's words), " +
        'with no API key, cookie or login.' +
        (answer.slmRequestCount > answer.slmRequests.length
          ? ` ${answer.slmRequestCount} requests were sent; the last ${answer.slmRequests.length} are kept here.`
          : ''),
      '',
    );
    const first = answer.slmRequestCount - answer.slmRequests.length;
    answer.slmRequests.forEach((request, index) => {
      lines.push(...requestLines(`Request ${first + index + 1}: `, request));
    });
  }
  return lines;
}
