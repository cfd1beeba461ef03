/** The chat panel: a webview view in the Relay activity-bar container. */
import * as vscode from 'vscode';
import type { Conversation } from './conversation';
import { webviewHtml, webviewOptions } from './webviewHtml';

export class ChatViewProvider implements vscode.WebviewViewProvider {
  static readonly viewId = 'relay.chatView';

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly conversation: Conversation,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    view.webview.options = webviewOptions(this.extensionUri);
    view.webview.html = webviewHtml(view.webview, this.extensionUri, 'chat');
    this.conversation.attach({ post: (message) => void view.webview.postMessage(message) });
    view.webview.onDidReceiveMessage((message) => void this.conversation.receive(message));
    view.onDidDispose(() => this.conversation.attach(undefined));
  }
}
