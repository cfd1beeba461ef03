/**
 * A conversation shown in a webview (the chat panel or the answer view): keeps its turns,
 * turns relay events into typed host messages, persists the turns where asked, and
 * handles what the webview sends back.
 */
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { cacheHitRate } from '../core/relay/cost';
import type { RelayEvent } from '../core/relay/events';
import type { ChatMessage } from '../core/slm/types';
import {
  clipShortText,
  declinedCallView,
  MAX_MESSAGE_TEXT,
  parseWebviewMessage,
  type ChatTurnView,
  type DemoAction,
  type DemoResultView,
  type DemoTurnView,
  type HostMessage,
  type SpanView,
  type StatsView,
  type WebviewMessage,
} from '../shared/webviewProtocol';
import { runFix } from './fixCommands';
import { llmWroteAll } from './moneyText';
import type { AnswerOutcome, AnswerPlan, RelayService } from './relayService';

const MAX_PERSISTED_TURNS = 200;

export interface ConversationHost {
  post(message: HostMessage): void;
  /** Editor that receives "Insert at cursor". */
  targetEditor?: () => vscode.TextEditor | undefined;
}

/** An answer that is not from the settings: the demo's plan (relayService.ts) and what the view shows of it. */
export interface TurnExtras {
  plan?: AnswerPlan;
  demo?: DemoTurnView;
}

/** The assistant turn an ask wrote, and how it ended. */
export interface AnsweredTurn {
  turnId: string;
  outcome: AnswerOutcome;
}

export class Conversation {
  private turns: ChatTurnView[];
  private webview: ConversationHost | undefined;
  /** Each turn's question as the model saw it (the chat panel sends it as typed). */
  private readonly prompts = new Map<string, ChatMessage[]>();
  /** Each turn's extras (the demo's plan), so Retry answers it the same way. */
  private readonly extras = new Map<string, TurnExtras>();
  /** Handles the demo's buttons (demo.ts); none: they are ignored. */
  private demoHandler: ((action: DemoAction, turnId?: string) => Promise<void> | void) | undefined;

  constructor(
    readonly view: 'chat' | 'answer',
    private readonly service: RelayService,
    private readonly onAnswer: (stats: StatsView | undefined) => void,
    private readonly storage?: { state: vscode.Memento; key: string },
  ) {
    this.turns = storage?.state.get<ChatTurnView[]>(storage.key) ?? [];
    // An answer in either view makes both busy (one answer at a time): keep Stop and Send in step.
    service.onDidChangeBusy((busy) => this.post({ type: 'busy', busy }));
  }

  attach(host: ConversationHost | undefined): void {
    this.webview = host;
  }

  /** The webview asked for its state (first load or reload). */
  async init(): Promise<void> {
    this.post({ type: 'init', view: this.view, turns: this.turns, busy: this.service.busy, setupWarning: await this.service.setupWarning() });
  }

  /** Set-up changed: the open webview updates its banner without a reload. */
  showSetupWarning(setupWarning: string | undefined): void {
    this.post({ type: 'setup', setupWarning });
  }

  private post(message: HostMessage): void {
    this.webview?.post(message);
  }

  private persist(): void {
    if (this.storage) void this.storage.state.update(this.storage.key, this.turns.slice(-MAX_PERSISTED_TURNS));
  }

  /** Chat history as messages for the model: earlier turns plus the new question. */
  private history(): ChatMessage[] {
    return this.turns
      .filter((turn) => !turn.error || turn.role === 'user')
      .map((turn) => ({ role: turn.role, content: turn.spans.map((span) => span.text).join('') }));
  }

  /** Asks a question: adds the user turn and streams the assistant's answer. `extras`: the demo's. */
  async ask(question: string, messages?: ChatMessage[], extras?: TurnExtras): Promise<AnsweredTurn> {
    const userTurn: ChatTurnView = { id: randomUUID(), role: 'user', spans: [{ source: 'slm', text: question, tokens: 0 }] };
    this.turns.push(userTurn);
    this.post({ type: 'turn-start', turn: userTurn });
    const conversation = messages ?? (this.view === 'chat' ? this.history() : [{ role: 'user' as const, content: question }]);
    return this.answerTurn(conversation, extras);
  }

  /** Answers again without a new question (the demo's "small model alone", beside the answer it compares with). */
  answerWith(messages: ChatMessage[], extras: TurnExtras): Promise<AnsweredTurn> {
    return this.answerTurn(messages, extras);
  }

  /** A demo answer was checked against its reference: kept with the turn and shown. */
  setDemoResult(turnId: string, result: DemoResultView): void {
    const turn = this.turns.find((candidate) => candidate.id === turnId);
    if (!turn?.demo) return;
    turn.demo = { ...turn.demo, result };
    this.persist();
    this.post({ type: 'demo-result', turnId, result });
  }

  /** The demo's turn of `turnId`, if it is one. */
  demoTurn(turnId: string): DemoTurnView | undefined {
    return this.turns.find((turn) => turn.id === turnId)?.demo;
  }

  /** Who handles the demo's buttons (demo.ts). */
  setDemoHandler(handler: (action: DemoAction, turnId?: string) => Promise<void> | void): void {
    this.demoHandler = handler;
  }

  private async answerTurn(messages: ChatMessage[], extras: TurnExtras = {}): Promise<AnsweredTurn> {
    const turn: ChatTurnView = { id: randomUUID(), role: 'assistant', spans: [], ...(extras.demo ? { demo: extras.demo } : {}) };
    this.prompts.set(turn.id, messages);
    this.extras.set(turn.id, extras);
    this.turns.push(turn);
    this.post({ type: 'turn-start', turn });
    const outcome = await this.service.answer(
      messages,
      { onEvent: (event, model, destination) => this.onEvent(turn, event, model, destination) },
      extras.plan,
      // A chat is followed up: its next prompt is read while the user writes it.
      { readAhead: this.view === 'chat' && !extras.plan },
    );
    if (outcome.error) {
      turn.error = outcome.error;
      this.post({ type: 'turn-error', turnId: turn.id, message: outcome.error.message, fix: outcome.error.fix });
    }
    if (outcome.stats) {
      turn.stats = toStatsView(outcome.stats);
      this.post({ type: 'turn-done', turnId: turn.id, stats: turn.stats });
    }
    this.persist();
    this.onAnswer(turn.stats);
    return { turnId: turn.id, outcome };
  }

  /** Whether the LLM call in flight continues by instruction (approximate), for its spans' hover. */
  private callApproximate = false;
  /** The LLM span the call in flight wrote into (none yet: the call has written nothing). */
  private callSpan: SpanView | undefined;
  /** Input and cached input tokens of the calls behind each LLM span, for its cached share. */
  private readonly spanInput = new WeakMap<SpanView, { input: number; cached: number }>();

  private onEvent(turn: ChatTurnView, event: RelayEvent, model: string, destination?: string): void {
    if (event.type === 'call-start') {
      this.callApproximate = event.continuation === 'instructed';
      this.callSpan = undefined;
    }
    if (event.type === 'span') {
      const llm = event.source === 'llm';
      // A name or host longer than the view takes is cut here, so the span's text always arrives.
      const spanModel = llm ? clipShortText(model) : undefined;
      const details = {
        ...(llm && destination ? { host: clipShortText(destination) } : {}),
        ...(llm && this.callApproximate ? { approximate: true } : {}),
      };
      const last = turn.spans[turn.spans.length - 1];
      // Text never goes into a skipped call's marker: after one, a new span starts.
      if (last && last.source === event.source && !last.declined) {
        last.text += event.text;
        last.tokens += event.tokens;
        if (details.approximate) last.approximate = true;
      } else turn.spans.push({ source: event.source, text: event.text, tokens: event.tokens, model: spanModel, ...details });
      if (llm) this.callSpan = turn.spans[turn.spans.length - 1];
      this.post({ type: 'span', turnId: turn.id, source: event.source, text: event.text, tokens: event.tokens, model: spanModel, ...details });
    } else if (event.type === 'call-wait') {
      const waitedMs = event.state === 'receiving' ? null : event.waitedMs;
      this.post({ type: 'waiting', turnId: turn.id, host: clipShortText(event.host), waitedMs, retrying: event.state === 'retrying' ? event.note : undefined });
    } else if (event.type === 'prompt-reading') {
      this.post({ type: 'reading', turnId: turn.id, done: event.done, total: event.total, reusedTokens: event.reusedTokens });
    } else if (event.type === 'call-end') {
      this.endCall(turn, event);
    } else if (event.type === 'call-declined') {
      // A marker where the call would have been made: no text, so never part of the answer's text.
      const declined = declinedCallView(event);
      turn.spans.push({ source: 'slm', text: '', tokens: 0, declined });
      this.post({ type: 'call-declined', turnId: turn.id, ...declined });
    }
  }

  /**
   * A call ended: its duration, cost and cached share go to the span it wrote (a call that
   * wrote nothing has no span to describe). Consecutive calls that wrote one span add up.
   */
  private endCall(turn: ChatTurnView, event: Extract<RelayEvent, { type: 'call-end' }>): void {
    const span = this.callSpan;
    this.callSpan = undefined;
    if (!span) return;
    const first = span.calls === undefined;
    span.calls = (span.calls ?? 0) + 1;
    span.durationMs = (span.durationMs ?? 0) + event.durationMs;
    if (event.continuation === 'instructed') span.approximate = true;
    span.costUsd = first ? event.costUsd : span.costUsd === null || span.costUsd === undefined || event.costUsd === null ? null : span.costUsd + event.costUsd;
    const input = this.spanInput.get(span) ?? { input: 0, cached: 0 };
    input.input += event.usage.inputTokens;
    input.cached += event.usage.cachedInputTokens;
    this.spanInput.set(span, input);
    if (input.input > 0) span.cachedShare = Math.min(1, Math.max(0, input.cached / input.input));
    if (event.usage.estimated) span.usageEstimated = true;
    this.post({
      type: 'call-figures',
      turnId: turn.id,
      durationMs: span.durationMs,
      calls: span.calls,
      costUsd: span.costUsd,
      ...(span.cachedShare !== undefined ? { cachedShare: span.cachedShare } : {}),
      ...(span.usageEstimated ? { usageEstimated: true } : {}),
      ...(span.approximate ? { approximate: true } : {}),
    });
  }

  /**
   * Handles a (validated) message from the webview. Never rejects: whatever goes wrong
   * while handling one (an editor, the clipboard, a demo action) is shown to the user, not
   * left as an unhandled rejection nobody sees.
   */
  async receive(raw: unknown): Promise<void> {
    const message: WebviewMessage | undefined = parseWebviewMessage(raw);
    if (!message) {
      const refused = refusedSend(raw);
      if (refused) void vscode.window.showErrorMessage(refused);
      return;
    }
    try {
      await this.dispatch(message);
    } catch (error) {
      void vscode.window.showErrorMessage(`Relay: "${message.type}" from the ${this.view === 'chat' ? 'chat' : 'answer view'} failed: ${errorText(error)}`);
    }
  }

  private async dispatch(message: WebviewMessage): Promise<void> {
    switch (message.type) {
      case 'ready':
        return this.init();
      case 'send':
        await this.ask(message.text);
        return;
      case 'draft':
        // The next turn's prompt as far as it is written: read ahead while the user writes the rest.
        if (this.view === 'chat') void this.service.readAheadDraft([...this.history(), { role: 'user', content: message.text }]);
        return;
      case 'stop':
        this.service.stop();
        return;
      case 'new-chat':
        if (this.service.busy) this.service.stop();
        this.turns = [];
        this.persist();
        this.post({ type: 'cleared' });
        return;
      case 'copy':
        await vscode.env.clipboard.writeText(this.textOf(message.turnId));
        void vscode.window.setStatusBarMessage('Relay: answer copied', 2000);
        return;
      case 'insert':
        return this.insert(this.textOf(message.turnId));
      case 'retry': {
        const extras = this.extras.get(message.turnId);
        if (!extras && this.demoTurn(message.turnId)) {
          // A demo answer restored from an earlier window: its plan (the embedded pair) was not
          // kept, and the user's own models and paid LLM must not answer the demo's question.
          await this.demoHandler?.('again', message.turnId);
          return;
        }
        const messages = this.prompts.get(message.turnId) ?? this.retryMessages(message.turnId);
        if (messages) await this.answerTurn(messages, extras);
        return;
      }
      case 'fix':
        return runFix(message.action);
      case 'demo':
        await this.demoHandler?.(message.action, message.turnId);
        return;
    }
  }

  private retryMessages(turnId: string): ChatMessage[] | undefined {
    const index = this.turns.findIndex((turn) => turn.id === turnId);
    if (index <= 0) return undefined;
    return this.turns.slice(0, index).map((turn) => ({ role: turn.role, content: turn.spans.map((span) => span.text).join('') }));
  }

  private textOf(turnId: string): string {
    return (
      this.turns
        .find((turn) => turn.id === turnId)
        ?.spans.map((span) => span.text)
        .join('') ?? ''
    );
  }

  /**
   * Inserts at the cursor of the editor the question came from, while it is still open and
   * visible; else of the active or a visible editor. An edit VS Code refuses is said.
   */
  private async insert(text: string): Promise<void> {
    const stored = this.webview?.targetEditor?.();
    const editor = stored && isOpenAndVisible(stored) ? stored : (vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0]);
    if (!editor) {
      void vscode.window.showWarningMessage('Relay: open an editor to insert the answer into.');
      return;
    }
    let applied: boolean;
    try {
      applied = await editor.edit((edit) => edit.replace(editor.selection.active, text));
    } catch (error) {
      void vscode.window.showWarningMessage(`Relay: could not insert the answer: ${errorText(error)}`);
      return;
    }
    if (!applied) void vscode.window.showWarningMessage('Relay: could not insert the answer: the document did not take the text: it may be read-only.');
  }
}

/** An editor kept from earlier is usable while its document is open and it is still shown (a closed or switched tab's is neither). */
function isOpenAndVisible(editor: vscode.TextEditor): boolean {
  return !editor.document?.isClosed && vscode.window.visibleTextEditors.includes(editor);
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Why a 'send' the webview posted was refused, when it was refused for its length (the
 * view checks it first; a message lost in silence would be lost for good): undefined for
 * anything else, which only a broken view sends.
 */
function refusedSend(raw: unknown): string | undefined {
  if (typeof raw !== 'object' || raw === null) return undefined;
  const { type, text } = raw as { type?: unknown; text?: unknown };
  if (type !== 'send' || typeof text !== 'string' || text.length <= MAX_MESSAGE_TEXT) return undefined;
  return `Relay did not send the message: it is ${text.length.toLocaleString('en-US')} characters long, over the limit of ${MAX_MESSAGE_TEXT.toLocaleString('en-US')}. Shorten it and send it again.`;
}

export function toStatsView(stats: import('../core/relay/events').AnswerStats): StatsView {
  return {
    slmTokens: stats.slmTokens,
    llmTokens: stats.llmTokens,
    llmTokenShare: stats.llmTokenShare,
    calls: stats.calls,
    costUsd: stats.costUsd,
    llmOnlyCostUsd: stats.llmOnlyCostUsd,
    savedUsd: stats.savedUsd,
    elapsedMs: stats.elapsedMs,
    finishReason: stats.finishReason,
    ...(stats.thinkingTokens ? { thinkingTokens: stats.thinkingTokens } : {}),
    ...(stats.priceNote ? { priceNote: stats.priceNote } : {}),
    ...(stats.calls > 0 && cacheHitRate(stats.llmUsage) !== undefined ? { cacheHitRate: cacheHitRate(stats.llmUsage) } : {}),
    ...(stats.llmUsage.reasoningTokens ? { reasoningTokens: stats.llmUsage.reasoningTokens } : {}),
    ...(stats.declinedCalls ? { declinedCalls: stats.declinedCalls } : {}),
    ...(stats.leastRatioToCall !== undefined ? { leastRatioToCall: stats.leastRatioToCall } : {}),
    ...(llmWroteAll(stats) ? { llmWroteAll: true } : {}),
    ...(stats.llmOnlyEstimateNote ? { llmOnlyNote: stats.llmOnlyEstimateNote.slice(0, 500) } : {}),
  };
}
