/** The answer view beside the editor, used by "Explain Selection" and "Solve Problem". */
import * as vscode from 'vscode';
import type { Conversation } from './conversation';
import { webviewHtml, webviewOptions } from './webviewHtml';

export class AnswerPanel {
  private panel: vscode.WebviewPanel | undefined;
  private ready: Promise<void> | undefined;
  private sourceEditor: vscode.TextEditor | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly conversation: Conversation,
  ) {}

  /** Shows the panel (creating it if needed) and resolves once its script is listening. */
  private show(): Promise<void> {
    if (this.panel && this.ready) {
      this.panel.reveal(vscode.ViewColumn.Beside, true);
      return this.ready;
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
    return this.wire(panel);
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
    this.ready = new Promise((resolve) => {
      panel.webview.onDidReceiveMessage((message: unknown) => {
        void this.conversation.receive(message).then(() => {
          if ((message as { type?: unknown })?.type === 'ready') resolve();
        });
      });
    });
    this.conversation.attach({ post: (message) => void panel.webview.postMessage(message), targetEditor: () => this.sourceEditor });
    panel.webview.html = webviewHtml(panel.webview, this.extensionUri, 'answer');
    panel.onDidDispose(() => {
      if (this.panel !== panel) return;
      this.panel = undefined;
      this.ready = undefined;
      this.conversation.attach(undefined);
    });
    return this.ready;
  }

  /** Shows the view (creating it if needed), then runs `fn` on its conversation ("Relay: Try the Demo" asks with its own set-up). */
  async withConversation<T>(fn: (conversation: Conversation) => Promise<T>): Promise<T> {
    await this.show();
    return fn(this.conversation);
  }

  async ask(question: string, editor: vscode.TextEditor | undefined): Promise<void> {
    this.sourceEditor = editor;
    await this.show();
    await this.conversation.ask(question);
  }
}
