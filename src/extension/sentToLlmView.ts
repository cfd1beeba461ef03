/**
 * "Relay: Show What Was Sent": a read-only Markdown document (a content provider's
 * document cannot be edited or saved by accident) with exactly what went to the LLM for
 * the last answer and the last provider test. It refreshes when either changes.
 */
import * as vscode from 'vscode';
import { renderSentDocument, type SentRequestLog } from './sentRequests';

export const SENT_SCHEME = 'relay-sent';
const SENT_URI = vscode.Uri.from({ scheme: SENT_SCHEME, path: '/What Relay sent to the LLM.md' });

class SentDocumentProvider implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly changed = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.changed.event;
  private readonly subscription: { dispose(): void };

  constructor(private readonly log: SentRequestLog) {
    this.subscription = log.onChange(() => this.changed.fire(SENT_URI));
  }

  provideTextDocumentContent(): string {
    return renderSentDocument(this.log.last, this.log.lastTest);
  }

  dispose(): void {
    this.subscription.dispose();
    this.changed.dispose();
  }
}

/** Registers the document provider and the command; returns their disposables. */
export function registerSentToLlmView(log: SentRequestLog): vscode.Disposable[] {
  const provider = new SentDocumentProvider(log);
  return [
    provider,
    vscode.workspace.registerTextDocumentContentProvider(SENT_SCHEME, provider),
    vscode.commands.registerCommand('relay.showSentToLlm', async () => {
      const document = await vscode.workspace.openTextDocument(SENT_URI);
      await vscode.languages.setTextDocumentLanguage(document, 'markdown');
      await vscode.window.showTextDocument(document, { preview: true, viewColumn: vscode.ViewColumn.Beside });
    }),
  ];
}
