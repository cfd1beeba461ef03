/** The answer view beside the editor, used by "Explain Selection" and "Solve Problem". */
import * as vscode from 'vscode';
import { MAX_PERSISTED_TURNS, type Conversation } from './conversation';
import { parseWebviewMessage, type HostMessage } from '../shared/webviewProtocol';
import { webviewHtml, webviewOptions } from './webviewHtml';
import { showError } from './notifications';

/**
 * How long a view's script may take to say it is listening before the view is replaced by a
 * new one (the first wait), and how long the new one may take (the second).
 */
export const VIEW_READY_TIMEOUTS_MS = [15_000, 30_000] as const;

const RELOAD_WINDOW = 'Reload Window';

/** "Relay: Show Answers": the answer view with its answers, the one being written included; nothing is asked. */
export const SHOW_ANSWERS_COMMAND = 'relay.showAnswers';

export class AnswerPanel {
  private panel: vscode.WebviewPanel | undefined;
  private ready: Promise<void> | undefined;
  /** Resolves when the panel is closed (by the user, or by VS Code). */
  private closed: Promise<void> | undefined;
  /** The editor each answer's question came from, for its "Insert at cursor"; bounded as the conversation's turns are. */
  private readonly sourceEditors = new Map<string, vscode.TextEditor>();
  /** Set while a question from an editor (or a Retry of an answer from one) starts: its answer's turn takes it. */
  private startingFrom: vscode.TextEditor | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly conversation: Conversation,
    private readonly readyTimeoutsMs: readonly number[] = VIEW_READY_TIMEOUTS_MS,
  ) {}

  /**
   * Shows the panel; true once its script is listening, false when the user closed it
   * before that (a cancel: nothing is to be asked). A view whose content never loads (seen
   * with a view VS Code reopened after a window reload, in VS Code for the web) would
   * otherwise hold every later question forever: it is closed and a new one opened, which
   * gets the answers so far from workspace state like any new view.
   */
  private async show(): Promise<boolean> {
    for (const timeoutMs of this.readyTimeoutsMs) {
      const { ready, closed } = this.reveal();
      let timer: NodeJS.Timeout | undefined;
      const state = await Promise.race([
        ready.then(() => 'loaded' as const),
        closed.then(() => 'closed' as const),
        new Promise<'stuck'>((resolve) => (timer = setTimeout(() => resolve('stuck'), timeoutMs))),
      ]);
      clearTimeout(timer);
      if (state === 'loaded') return true;
      if (state === 'closed') return false;
      const stuck = this.panel;
      stuck?.dispose();
      // Forgotten here too, in case the dispose event comes later: the next round opens a new view.
      if (this.panel === stuck) this.forget();
    }
    throw new AnswerViewError();
  }

  /** The panel, created if needed; `ready` resolves when its script is listening, `closed` when it is closed. */
  private reveal(): { ready: Promise<void>; closed: Promise<void> } {
    if (this.panel && this.ready && this.closed) {
      this.panel.reveal(vscode.ViewColumn.Beside, true);
      return { ready: this.ready, closed: this.closed };
    }
    const panel = vscode.window.createWebviewPanel(
      'relay.answer',
      'Relay Answer',
      { viewColumn: vscode.ViewColumn.Beside, preserveFocus: true },
      {
        ...webviewOptions(this.extensionUri),
        retainContextWhenHidden: true,
      },
    );
    const ready = this.wire(panel);
    return { ready, closed: this.closed ?? Promise.resolve() };
  }

  private forget(): void {
    this.panel = undefined;
    this.ready = undefined;
    this.closed = undefined;
  }

  /** VS Code reopens the panel after a window reload; its answers come back from workspace state. */
  restore(panel: vscode.WebviewPanel): Promise<void> {
    if (this.panel) {
      panel.dispose(); // one answer view at a time
      return this.ready ?? Promise.resolve();
    }
    panel.webview.options = webviewOptions(this.extensionUri);
    return this.wire(panel);
  }

  private wire(panel: vscode.WebviewPanel): Promise<void> {
    this.panel = panel;
    this.closed = new Promise((resolve) => panel.onDidDispose(() => resolve()));
    this.ready = new Promise((resolve) => {
      panel.webview.onDidReceiveMessage((message: unknown) => {
        // A Retry's answer is inserted where the answer it retries would have been.
        const retried = retriedTurnId(message);
        if (retried !== undefined) this.startingFrom = this.sourceEditors.get(retried);
        void this.conversation.receive(message).then(() => {
          if (retried !== undefined) this.startingFrom = undefined;
          if ((message as { type?: unknown })?.type === 'ready') resolve();
        });
      });
    });
    this.conversation.attach({
      post: (message) => {
        this.followTurns(message);
        void panel.webview.postMessage(message);
      },
      targetEditor: (turnId) => this.sourceEditors.get(turnId),
    });
    panel.webview.html = webviewHtml(panel.webview, this.extensionUri, 'answer');
    panel.onDidDispose(() => {
      if (this.panel !== panel) return;
      this.forget();
      this.conversation.attach(undefined);
    });
    return this.ready;
  }

  /** Shows the view (creating it if needed), then runs `fn` on its conversation ("Relay: Try the Demo" asks with its own set-up). */
  async withConversation<T>(fn: (conversation: Conversation) => Promise<T>): Promise<T | undefined> {
    return (await this.shown()) ? fn(this.conversation) : undefined;
  }

  /**
   * Asks `question`, which came from `editor`: "Insert at cursor" of its answer goes there. A
   * question refused (an answer is still being written) leaves the editor of the answer
   * being written, whose Insert must not move to where the refused one came from. False
   * when it was not asked (refused, or the view closed or did not load): the caller keeps what was typed.
   */
  async ask(question: string, editor: vscode.TextEditor | undefined): Promise<boolean> {
    if (!(await this.shown())) return false;
    // Its answer's turn takes the editor as it starts (its Insert may be used while it is written); a refused one starts none.
    this.startingFrom = editor;
    const { turnId } = await this.conversation.ask(question);
    this.startingFrom = undefined;
    return turnId !== '';
  }

  /** Keeps the source editors in step with the turns the view is sent: an answer starting takes the editor it starts from; removed turns drop theirs. */
  private followTurns(message: HostMessage): void {
    if (message.type === 'turn-start' && message.turn.role === 'assistant' && this.startingFrom) {
      this.sourceEditors.set(message.turn.id, this.startingFrom);
      this.startingFrom = undefined;
      // Turns removed while no view listened are never said: the oldest go beyond what the conversation keeps.
      for (const turnId of this.sourceEditors.keys()) {
        if (this.sourceEditors.size <= MAX_PERSISTED_TURNS) break;
        this.sourceEditors.delete(turnId);
      }
    } else if (message.type === 'turns-removed') {
      for (const turnId of message.turnIds) this.sourceEditors.delete(turnId);
    } else if (message.type === 'cleared') this.sourceEditors.clear();
  }

  /** "Relay: Show Answers": the view, opened again if it was closed, with the answers so far (the one being written goes on there). */
  async showAnswers(): Promise<void> {
    await this.shown();
  }

  /** While an answer runs (or the provider is tested), says that `what` did not happen, as a refused question does; true then. */
  refuseWhileBusy(what: string): boolean {
    return this.conversation.refuseWhileBusy(what) !== undefined;
  }

  /** show() (false: the user closed the view before it loaded), or where the view would not load, an error that says so with a button that reloads the window. */
  private async shown(): Promise<boolean> {
    try {
      return await this.show();
    } catch (error) {
      if (!(error instanceof AnswerViewError)) throw error;
      void showError(`Relay: ${error.message}`, RELOAD_WINDOW).then((choice) => {
        if (choice === RELOAD_WINDOW) void vscode.commands.executeCommand('workbench.action.reloadWindow');
      });
      return false;
    }
  }
}

/** The answer view did not load even when opened anew: said, with the way out. */
export class AnswerViewError extends Error {
  constructor() {
    super('The Relay answer view did not load, so nothing was asked. Reload the window (Developer: Reload Window) and ask again.');
    this.name = 'AnswerViewError';
  }
}

/** The answer a Retry message from the view names (read as the conversation reads it); undefined for any other message. */
function retriedTurnId(message: unknown): string | undefined {
  const parsed = parseWebviewMessage(message);
  return parsed?.type === 'retry' ? parsed.turnId : undefined;
}
