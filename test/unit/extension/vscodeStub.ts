/**
 * The few VS Code API pieces the @relay chat participant and the savings view touch, for
 * running them under node:test (the real `vscode` module exists only inside VS Code).
 * Loaded in place of 'vscode' by useVscodeStub().
 */
import Module from 'node:module';

export class ChatRequestTurn {
  constructor(
    readonly prompt: string,
    readonly participant: string,
  ) {}
}

export class MarkdownString {
  constructor(readonly value: string) {}
}

export class ChatResponseMarkdownPart {
  readonly value: MarkdownString;
  constructor(value: string) {
    this.value = new MarkdownString(value);
  }
}

export class ChatResponseTurn {
  constructor(
    readonly response: ChatResponseMarkdownPart[],
    readonly result: { metadata?: Record<string, unknown> },
    readonly participant: string,
  ) {}
}

export const Uri = { joinPath: (base: { path: string }, ...parts: string[]) => ({ path: [base.path, ...parts].join('/') }) };

export const registered: { id: string; handler: (...args: any[]) => Promise<unknown>; iconPath?: unknown }[] = [];

export const chat = {
  createChatParticipant(id: string, handler: (...args: any[]) => Promise<unknown>) {
    const participant = { id, handler, iconPath: undefined as unknown, dispose() {} };
    registered.push(participant);
    return participant;
  },
};

export const ViewColumn = { Active: -1 };

/** A webview panel as created by window.createWebviewPanel: what the extension set on it. */
export interface StubWebviewPanel {
  viewType: string;
  title: string;
  options: Record<string, unknown> | undefined;
  webview: { html: string };
  revealed: number;
  onDidDispose(listener: () => void): { dispose(): void };
  reveal(): void;
}

export const createdPanels: StubWebviewPanel[] = [];

export const window = {
  createWebviewPanel(viewType: string, title: string, _column: unknown, options?: Record<string, unknown>): StubWebviewPanel {
    const panel: StubWebviewPanel = {
      viewType,
      title,
      options,
      webview: { html: '' },
      revealed: 0,
      onDidDispose: () => ({ dispose() {} }),
      reveal() {
        panel.revealed++;
      },
    };
    createdPanels.push(panel);
    return panel;
  },
};

/** Makes `require('vscode')` load this module (from here on, in this process). */
export function useVscodeStub(): void {
  const resolver = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = resolver._resolveFilename;
  resolver._resolveFilename = function (request: string, ...rest: unknown[]) {
    if (request === 'vscode') return __filename;
    return original.call(this, request, ...rest);
  };
}
