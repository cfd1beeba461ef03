/** The chat panel: a webview view in the Relay activity-bar container. */
import * as vscode from 'vscode';
import type { Conversation } from './conversation';
import { webviewHtml, webviewOptions } from './webviewHtml';

export class ChatViewProvider implements vscode.WebviewViewProvider {
  static readonly viewId = 'relay.chatView';

  /** The view the conversation posts to: the one resolved last. */
  private current: vscode.WebviewView | undefined;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly conversation: Conversation,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.current = view;
    view.webview.options = webviewOptions(this.extensionUri);
    view.webview.html = webviewHtml(view.webview, this.extensionUri, 'chat');
    this.conversation.attach({ post: (message) => void view.webview.postMessage(message) });
    view.webview.onDidReceiveMessage((message) => void this.conversation.receive(message));
    view.onDidDispose(() => {
      // VS Code may dispose an old view after it resolved a new one: that one keeps the conversation.
      if (this.current !== view) return;
      this.current = undefined;
      this.conversation.attach(undefined);
    });
  }
}
