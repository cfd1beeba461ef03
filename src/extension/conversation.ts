/**
 * A conversation shown in a webview (the chat panel or the answer view): keeps its turns,
 * turns relay events into typed host messages, persists the turns where asked, and
 * handles what the webview sends back.
 */
import { randomUUID } from 'node:crypto';
import * as vscode from 'vscode';
import { cacheHitRate } from '../core/relay/cost';
import type { RelayEvent } from '../core/relay/events';
import { withoutThinking } from '../core/relay/thinking';
import { slmWroteAll } from '../core/relay/cost';
import type { ChatMessage } from '../core/slm/types';
import type { ModelLoad } from '../shared/modelLoading';
import {
  clipNotice,
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
import { providerTestRunning, type AnswerOutcome, type AnswerPlan, type RelayService } from './relayService';
import { showError, showInformation, showWarning } from './notifications';

export const MAX_PERSISTED_TURNS = 200;
/** While an answer is written, its text so far is saved at most this long after it changed (a crash keeps all but the last moments). */
const SAVE_WHILE_WRITING_MS = 1000;

/** What a restored answer that was still being written when the window went says (its text so far is kept). */
export const INTERRUPTED_MESSAGE = 'Interrupted: the window was reloaded or closed while this answer was written; the part written is kept.';

export interface ConversationHost {
  post(message: HostMessage): void;
  /** The editor that receives "Insert at cursor" of the answer `turnId` (the one its question came from). */
  targetEditor?: (turnId: string) => vscode.TextEditor | undefined;
}

/** An answer that is not from the settings: the demo's plan (relayService.ts) and what the view shows of it. */
export interface TurnExtras {
  plan?: AnswerPlan;
  demo?: DemoTurnView;
}

/** The assistant turn an ask wrote, and how it ended. turnId '': nothing was asked (another answer was running: the user was told). */
export interface AnsweredTurn {
  turnId: string;
  outcome: AnswerOutcome;
}

export class Conversation {
  private turns: ChatTurnView[];
  /** The set-up warning the banner shows, whose fix button opens the setting it names. */
  private setupWarning: string | undefined;
  private webview: ConversationHost | undefined;
  /** Each turn's question as the model saw it (the chat panel sends it as typed). */
  private readonly prompts = new Map<string, ChatMessage[]>();
  /** Each turn's extras (the demo's plan), so Retry answers it the same way. */
  private readonly extras = new Map<string, TurnExtras>();
  /** Handles the demo's buttons (demo.ts); none: they are ignored. */
  private demoHandler: ((action: DemoAction, turnId?: string) => Promise<void> | void) | undefined;
  /** The answer this conversation is writing: only it is what this view's Stop and New chat stop. */
  private running: ChatTurnView | undefined;
  /** The save of the running answer's text so far, once due. */
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  /** The window is closing (close()): what was saved then stays, the answers it stops are not saved over it. */
  private closed = false;

  constructor(
    readonly view: 'chat' | 'answer',
    private readonly service: RelayService,
    private readonly onAnswer: (stats: StatsView | undefined) => void,
    private readonly storage?: { state: vscode.Memento; key: string },
  ) {
    this.turns = restoredTurns(withRunningTurn(storage?.state.get<ChatTurnView[]>(storage.key), storage?.state.get<ChatTurnView>(runningKey(storage.key))));
    // An answer in either view makes both busy (one answer at a time): Send follows in both, Stop only in the view whose answer it is.
    service.onDidChangeBusy((busy) =>
      this.post({ type: 'busy', busy, own: busy && this.running !== undefined, ...(busy && service.testingProvider ? { testingProvider: true } : {}) }),
    );
  }

  attach(host: ConversationHost | undefined): void {
    this.webview = host;
  }

  /** The webview asked for its state (first load or reload). */
  async init(): Promise<void> {
    const setupWarning = await this.service.setupWarning();
    this.setupWarning = setupWarning;
    // Read after the wait: an answer that ended meanwhile must not be sent as still being written.
    this.post({
      type: 'init',
      view: this.view,
      turns: this.turns,
      busy: this.service.busy,
      ...(this.service.busy && this.service.testingProvider ? { testingProvider: true } : {}),
      ...(this.running ? { runningTurnId: this.running.id } : {}),
      setupWarning: setupWarning === undefined ? undefined : clipNotice(setupWarning),
    });
  }

  /**
   * The window is closing (extension deactivate, before the service stops the answer in
   * flight): the turns are saved as they stand, the answer being written with its text so
   * far (the next window shows it as interrupted, with Retry). Resolves once saved.
   */
  async close(): Promise<void> {
    const saved = this.persist();
    this.closed = true;
    await saved;
  }

  /** Set-up changed: the open webview updates its banner without a reload. */
  showSetupWarning(setupWarning: string | undefined): void {
    this.setupWarning = setupWarning;
    this.post({ type: 'setup', setupWarning: setupWarning === undefined ? undefined : clipNotice(setupWarning) });
  }

  private post(message: HostMessage): void {
    this.webview?.post(message);
  }

  /**
   * Saves the turns (a copy: later changes are saved by the next call), the running answer
   * with them (its own record, saved while it is written, goes); resolves once saved.
   */
  private persist(): Thenable<void> | undefined {
    clearTimeout(this.saveTimer);
    this.saveTimer = undefined;
    if (!this.storage || this.closed) return undefined;
    const { state, key } = this.storage;
    const turns = state.update(key, JSON.parse(JSON.stringify(this.turns.slice(-MAX_PERSISTED_TURNS))) as ChatTurnView[]);
    const running = state.update(runningKey(key), undefined);
    return Promise.all([turns, running]).then(() => undefined);
  }

  /**
   * The running answer changed: saved shortly (a reload or crash keeps its text so far),
   * alone under its own key: the list of turns, saved as it started, is not copied again
   * every second while it is written.
   */
  private persistSoon(turn: ChatTurnView): void {
    if (this.saveTimer || !this.storage || this.closed) return;
    this.saveTimer = setTimeout(() => {
      this.saveTimer = undefined;
      if (!this.storage || this.closed || !this.turns.includes(turn)) return;
      void this.storage.state.update(runningKey(this.storage.key), JSON.parse(JSON.stringify(turn)) as ChatTurnView);
    }, SAVE_WHILE_WRITING_MS);
  }

  /** Asks a question: adds the user turn and streams the assistant's answer. `extras`: the demo's. */
  async ask(question: string, messages?: ChatMessage[], extras?: TurnExtras): Promise<AnsweredTurn> {
    const refused = this.refuseWhileBusy('this question was not asked');
    if (refused) return refused;
    const userTurn: ChatTurnView = { id: randomUUID(), role: 'user', spans: [{ source: 'slm', text: question, tokens: 0 }] };
    this.turns.push(userTurn);
    this.post({ type: 'turn-start', turn: userTurn });
    const conversation = messages ?? (this.view === 'chat' ? alternatingMessages(this.turns) : [{ role: 'user' as const, content: question }]);
    // A chat's own question is the chat before the answer: Retry builds it again from the turns.
    return this.answerTurn(conversation, extras, messages !== undefined || this.view !== 'chat');
  }

  /** Answers again without a new question (the demo's "small model alone", beside the answer it compares with). */
  async answerWith(messages: ChatMessage[], extras: TurnExtras): Promise<AnsweredTurn> {
    return this.refuseWhileBusy('this answer was not started') ?? this.answerTurn(messages, extras);
  }

  /** Whether the answer being written is this conversation's (the status bar's click shows it here). */
  get answering(): boolean {
    return this.running !== undefined;
  }

  /**
   * One answer at a time: while one is written (in this view, the other, or @relay) nothing
   * is added here, so no turn ever lands after the running one. Undefined when idle; else
   * the user is told what did not happen and how to go on. Commands call it too, before
   * they ask for text that would be refused.
   */
  refuseWhileBusy(what: string): AnsweredTurn | undefined {
    if (!this.service.busy) return undefined;
    const where = this.running ? 'in this view' : 'in another view or in @relay';
    // A provider test is no answer: Stop does not end it, its notification does.
    const message = this.service.testingProvider
      ? providerTestRunning(what)
      : `Relay is still writing an answer (${where}), so ${what}. Try again when it ends, or stop it first (its Stop button, or "Relay: Stop").`;
    void showInformation(message);
    return { turnId: '', outcome: { answer: '', error: { message } } };
  }

  /** A demo answer was checked against its reference: kept with the turn and shown. */
  setDemoResult(turnId: string, result: DemoResultView): void {
    const turn = this.turns.find((candidate) => candidate.id === turnId);
    if (!turn?.demo) return;
    turn.demo = { ...turn.demo, result };
    void this.persist();
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

  /**
   * keepPrompt: the messages are kept for Retry. A chat's, built from its turns, are not
   * (a copy of the whole chat per answer): Retry builds them again (a plan's are kept).
   */
  private async answerTurn(messages: ChatMessage[], extras: TurnExtras = {}, keepPrompt = true): Promise<AnsweredTurn> {
    const turn: ChatTurnView = { id: randomUUID(), role: 'assistant', spans: [], ...(extras.demo ? { demo: extras.demo } : {}) };
    if (keepPrompt || extras.plan) this.prompts.set(turn.id, messages);
    this.extras.set(turn.id, extras);
    this.turns.push(turn);
    this.running = turn;
    // Saved as it starts: a window closed before it ends shows the question, and this answer as interrupted.
    void this.persist();
    this.post({ type: 'turn-start', turn });
    let outcome: AnswerOutcome;
    try {
      outcome = await this.service.answer(
        messages,
        {
          onEvent: (event, model, destination) => this.onEvent(turn, event, model, destination),
          onLoading: (load, waitedMs) => this.onLoading(turn, load, waitedMs),
        },
        extras.plan,
        // A chat is followed up: its next prompt is read while the user writes it.
        { readAhead: this.view === 'chat' && !extras.plan },
      );
    } finally {
      if (this.running === turn) this.running = undefined;
    }
    if (outcome.error) {
      turn.error = outcome.error;
      this.post({ type: 'turn-error', turnId: turn.id, message: outcome.error.message, fix: outcome.error.fix });
    }
    if (outcome.stats) {
      turn.stats = toStatsView(outcome.stats);
      this.post({ type: 'turn-done', turnId: turn.id, stats: turn.stats });
    }
    this.trimTurns();
    void this.persist();
    this.onAnswer(turn.stats);
    return { turnId: turn.id, outcome };
  }

  /**
   * Keeps the last MAX_PERSISTED_TURNS turns, as saved: the oldest go, with what was kept
   * for them, and from the open view too (an init never sends more than a window keeps).
   */
  private trimTurns(): void {
    const excess = this.turns.length - MAX_PERSISTED_TURNS;
    if (excess > 0) this.removeTurns(0, excess);
  }

  /** Removes `count` turns from `start` (all after it when omitted), what was kept for them, and them from the open view. */
  private removeTurns(start: number, count?: number): void {
    const removed = count === undefined ? this.turns.splice(start) : this.turns.splice(start, count);
    for (const gone of removed) {
      this.prompts.delete(gone.id);
      this.extras.delete(gone.id);
    }
    this.post({ type: 'turns-removed', turnIds: removed.map((gone) => gone.id) });
  }

  /** Whether the LLM call in flight continues by instruction (approximate), for its spans' hover. */
  private callApproximate = false;
  /** The LLM span the call in flight wrote into (none yet: the call has written nothing). */
  private callSpan: SpanView | undefined;
  /** Input and cached input tokens of the calls behind each LLM span, for its cached share. */
  private readonly spanInput = new WeakMap<SpanView, { input: number; cached: number }>();

  /** The answer waits on a model's load: the view's waiting line says so, with the seconds (a name longer than the view takes is cut here). */
  private onLoading(turn: ChatTurnView, load: ModelLoad, waitedMs: number | null): void {
    const { model, name, restarting } = load;
    this.post({ type: 'loading', turnId: turn.id, model, name: clipShortText(name), ...(restarting ? { restarting } : {}), waitedMs });
  }

  private onEvent(turn: ChatTurnView, event: RelayEvent, model: string, destination?: string): void {
    if (event.type === 'call-start') {
      this.callApproximate = event.continuation === 'instructed';
      this.callSpan = undefined;
    }
    if (event.type === 'thinking-opened') {
      // Kept with the turn: Copy, Insert, the chat's history and a restored view read its reasoning by it.
      turn.thinkingOpened = true;
      this.persistSoon(turn);
      this.post({ type: 'thinking-opened', turnId: turn.id });
    } else if (event.type === 'span') {
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
      this.persistSoon(turn);
      this.post({ type: 'span', turnId: turn.id, source: event.source, text: event.text, tokens: event.tokens, model: spanModel, ...details });
    } else if (event.type === 'call-wait') {
      const waitedMs = event.state === 'receiving' ? null : event.waitedMs;
      const reasoningModel = event.state === 'reasoning' && event.model ? clipShortText(event.model) : undefined;
      this.post({
        type: 'waiting',
        turnId: turn.id,
        host: clipShortText(event.host),
        waitedMs,
        retrying: event.state === 'retrying' ? event.note : undefined,
        ...(reasoningModel ? { reasoningModel } : {}),
      });
    } else if (event.type === 'prompt-reading') {
      this.post({
        type: 'reading',
        turnId: turn.id,
        done: event.done,
        total: event.total,
        reusedTokens: event.reusedTokens,
        ...(event.reader ? { reader: event.reader } : {}),
      });
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
    if (event.usage.outputCapped) span.outputCapped = true;
    this.post({
      type: 'call-figures',
      turnId: turn.id,
      durationMs: span.durationMs,
      calls: span.calls,
      costUsd: span.costUsd,
      ...(span.cachedShare !== undefined ? { cachedShare: span.cachedShare } : {}),
      ...(span.usageEstimated ? { usageEstimated: true } : {}),
      ...(span.outputCapped ? { outputCapped: true } : {}),
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
      if (refused) void showError(refused);
      return;
    }
    try {
      await this.dispatch(message);
    } catch (error) {
      void showError(`Relay: "${message.type}" from the ${this.view === 'chat' ? 'chat' : 'answer view'} failed: ${errorText(error)}`);
    }
  }

  private async dispatch(message: WebviewMessage): Promise<void> {
    switch (message.type) {
      case 'ready':
        return this.init();
      case 'send': {
        const asked = await this.ask(message.text);
        // Refused (an answer was being written elsewhere when it was sent): the view cleared its input, so the text goes back.
        if (asked.turnId === '' && asked.outcome.error) this.post({ type: 'not-sent', text: message.text, reason: asked.outcome.error.message });
        return;
      }
      case 'draft':
        // The next turn's prompt as far as it is written: read ahead while the user writes the rest.
        if (this.view === 'chat') void this.service.readAheadDraft(alternatingMessages([...this.turns, userTurnOf(message.text)]));
        return;
      case 'stop':
        // Only this view's answer: another view's (or @relay's) is stopped there, or with "Relay: Stop".
        if (this.running) this.service.stop();
        return;
      case 'new-chat':
        if (this.running) this.service.stop();
        this.turns = [];
        this.prompts.clear();
        this.extras.clear();
        void this.persist();
        this.post({ type: 'cleared' });
        return;
      case 'copy': {
        const text = this.answerTextOf(message.turnId, 'copy');
        if (text === undefined) return;
        await vscode.env.clipboard.writeText(text);
        void vscode.window.setStatusBarMessage('Relay: answer copied', 2000);
        return;
      }
      case 'insert': {
        const text = this.answerTextOf(message.turnId, 'insert');
        return text === undefined ? undefined : this.insert(message.turnId, text);
      }
      case 'retry':
        return this.retry(message.turnId);
      case 'fix':
        // The error it fixes names the setting to open: the turn's, or the banner's set-up warning.
        return runFix(message.action, message.turnId !== undefined ? this.turns.find((turn) => turn.id === message.turnId)?.error?.message : this.setupWarning);
      case 'demo':
        await this.demoHandler?.(message.action, message.turnId);
        return;
    }
  }

  /**
   * Retry on an answer. The answer view asks its question again (the question and the new
   * answer come at the end, as a new Explain would; the other answers of the view are never
   * sent). A chat goes back to that answer: it is replaced, the turns after it go (the user
   * confirms first), so what the model is sent always alternates question and answer.
   */
  private async retry(turnId: string): Promise<void> {
    const turn = this.turns.find((candidate) => candidate.id === turnId);
    if (turn?.role !== 'assistant') return; // a turn of a chat cleared since: nothing to answer again
    if (this.refuseWhileBusy('Retry did not start')) return;
    const extras = this.extras.get(turnId);
    if (!extras && turn.demo) {
      // A demo answer restored from an earlier window: its plan (the embedded pair) was not
      // kept, and the user's own models and paid LLM must not answer the demo's question.
      await this.demoHandler?.('again', turnId);
      return;
    }
    if (this.view === 'answer') return this.retryAnswer(turn, extras);
    return this.retryChat(turn, extras);
  }

  private async retryAnswer(turn: ChatTurnView, extras: TurnExtras | undefined): Promise<void> {
    const index = this.turns.indexOf(turn);
    const question = [...this.turns.slice(0, index)].reverse().find((candidate) => candidate.role === 'user');
    // The question exactly as the model saw it (kept in this window), else the turn's own question: never the view's other turns.
    const messages = this.prompts.get(turn.id) ?? (question ? [{ role: 'user' as const, content: textOfTurn(question) }] : undefined);
    if (!messages) {
      void showWarning('Relay: this answer cannot be retried: its question is no longer in the answer view. Ask it again.');
      return;
    }
    // The demo's "small model alone" goes beside the answer it compares with, as the first time.
    if (extras?.demo?.kind === 'slm-only') await this.answerTurn(messages, extras);
    else await this.ask(question ? textOfTurn(question) : messages[messages.length - 1].content, messages, extras);
  }

  private async retryChat(turn: ChatTurnView, extras: TurnExtras | undefined): Promise<void> {
    const later = this.turns.length - this.turns.indexOf(turn) - 1;
    if (later > 0) {
      const RETRY = 'Retry';
      const choice = await showWarning(
        `Retry this answer? The chat goes back to it: the ${later === 1 ? 'message' : `${later} messages`} after it ${later === 1 ? 'is' : 'are'} removed.`,
        { modal: true, detail: 'The answer is written again for its question, and the chat goes on from there.' },
        RETRY,
      );
      if (choice !== RETRY) return;
      // The chat may have changed while the user chose (New chat, another answer).
      if (!this.turns.includes(turn) || this.refuseWhileBusy('Retry did not start')) return;
    }
    const index = this.turns.indexOf(turn);
    const kept = this.prompts.get(turn.id);
    const messages = kept ?? alternatingMessages(this.turns.slice(0, index));
    if (messages[messages.length - 1]?.role !== 'user') {
      void showWarning('Relay: this answer cannot be retried: no question of yours comes before it. Ask it again.');
      return;
    }
    this.removeTurns(index);
    await this.answerTurn(messages, extras, kept !== undefined);
  }

  /**
   * What Copy and Insert give of a turn: the answer as the view shows it, without the
   * reasoning it folds away (withoutThinking, the view's rule, with the turn's thinkingOpened).
   * Undefined, with the user told, when that leaves nothing (the answer has only thought so
   * far, or written nothing).
   */
  private answerTextOf(turnId: string, action: 'copy' | 'insert'): string | undefined {
    const turn = this.turns.find((candidate) => candidate.id === turnId);
    const text = turn ? textOfTurn(turn) : '';
    const answer = turn ? answerOfTurn(turn) : '';
    if (answer.trim() !== '') return answer;
    void showInformation(`Relay: nothing to ${action}: the answer has no text${answer !== text ? ' beyond its thinking' : ''}.`);
    return undefined;
  }

  /**
   * Inserts at the cursor of the editor the turn's question came from, while it is still open
   * and visible; else of the active or a visible editor. An edit VS Code refuses is said.
   */
  private async insert(turnId: string, text: string): Promise<void> {
    const stored = this.webview?.targetEditor?.(turnId);
    const editor = stored && isOpenAndVisible(stored) ? stored : (vscode.window.activeTextEditor ?? vscode.window.visibleTextEditors[0]);
    if (!editor) {
      void showWarning('Relay: open an editor to insert the answer into.');
      return;
    }
    let applied: boolean;
    try {
      applied = await editor.edit((edit) => edit.replace(editor.selection.active, text));
    } catch (error) {
      void showWarning(`Relay: could not insert the answer: ${errorText(error)}`);
      return;
    }
    if (!applied) void showWarning('Relay: could not insert the answer: the document did not take the text: it may be read-only.');
  }
}

function textOfTurn(turn: ChatTurnView): string {
  return turn.spans.map((span) => span.text).join('');
}

/** An assistant turn's answer without its thinking, a thinking its prompt opened included. */
function answerOfTurn(turn: ChatTurnView): string {
  return withoutThinking(textOfTurn(turn), turn.thinkingOpened === true);
}

function userTurnOf(text: string): ChatTurnView {
  return { id: '', role: 'user', spans: [{ source: 'slm', text, tokens: 0 }] };
}

/**
 * A chat's turns as messages for the model, always alternating user and assistant: each
 * question with its answer, the answer without its thinking (withoutThinking); a question whose
 * answer failed, was never written or is only thinking is left out with it (an empty assistant
 * message tells the model nothing, and some providers refuse it); an answer with no question
 * of its own just before it (an older version's Retry) is left out; a question not answered
 * yet (the new one) ends the list.
 */
export function alternatingMessages(turns: readonly ChatTurnView[]): ChatMessage[] {
  const messages: ChatMessage[] = [];
  let question: ChatTurnView | undefined;
  for (const turn of turns) {
    if (turn.role === 'user') question = turn;
    else {
      const answer = answerOfTurn(turn);
      if (question && !turn.error && answer.trim() !== '')
        messages.push({ role: 'user', content: textOfTurn(question) }, { role: 'assistant', content: answer });
      question = undefined;
    }
  }
  if (question) messages.push({ role: 'user', content: textOfTurn(question) });
  return messages;
}

/** Where the answer being written is saved while it is written (the turns are saved under `key`). */
function runningKey(key: string): string {
  return `${key}.running`;
}

/**
 * The saved turns with the running answer's own record (its text as last saved) in its
 * place; a record of an answer that ended (or is not in the list) is passed over.
 */
function withRunningTurn(saved: ChatTurnView[] | undefined, running: ChatTurnView | undefined): ChatTurnView[] | undefined {
  if (!Array.isArray(saved) || typeof running !== 'object' || running === null) return saved;
  const index = saved.findIndex((turn) => turn?.id === running.id);
  if (index < 0 || saved[index].stats || saved[index].error) return saved;
  return [...saved.slice(0, index), running, ...saved.slice(index + 1)];
}

/**
 * Turns saved by an earlier window. An answer saved with neither stats nor error was still
 * being written when the window went: it is shown as interrupted, its text so far kept, with Retry.
 */
function restoredTurns(saved: ChatTurnView[] | undefined): ChatTurnView[] {
  if (!Array.isArray(saved)) return [];
  return saved
    .filter((turn) => typeof turn === 'object' && turn !== null)
    .map((turn) =>
      turn?.role === 'assistant' && !turn.stats && !turn.error ? { ...turn, error: { message: INTERRUPTED_MESSAGE, fix: 'retry' as const } } : turn,
    );
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
    // A cache share of counted usage would claim a figure no server reported (counted input has no cached part).
    ...(stats.calls > 0 && !stats.llmUsage.estimated && cacheHitRate(stats.llmUsage) !== undefined ? { cacheHitRate: cacheHitRate(stats.llmUsage) } : {}),
    ...(stats.calls > 0 && stats.llmUsage.estimated ? { usageEstimated: true } : {}),
    ...(stats.calls > 0 && stats.llmUsage.outputCapped ? { outputCapped: true } : {}),
    ...(stats.llmUsage.reasoningTokens ? { reasoningTokens: stats.llmUsage.reasoningTokens } : {}),
    ...(stats.declinedCalls ? { declinedCalls: stats.declinedCalls } : {}),
    ...(stats.declinedByUsdCeiling ? { declinedByUsdCeiling: stats.declinedByUsdCeiling } : {}),
    ...(stats.leastRatioToCall !== undefined ? { leastRatioToCall: stats.leastRatioToCall } : {}),
    ...(llmWroteAll(stats) ? { llmWroteAll: true } : {}),
    ...(slmWroteAll(stats) ? { slmWroteAll: true } : {}),
    ...(stats.llmOnlyEstimateNote ? { llmOnlyNote: stats.llmOnlyEstimateNote.slice(0, 500) } : {}),
  };
}
