/**
 * The few VS Code API pieces the @relay chat participant touches, for running its handler
 * under node:test (the real `vscode` module exists only inside VS Code). Loaded in place
 * of 'vscode' by useVscodeStub().
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

/** Makes `require('vscode')` load this module (from here on, in this process). */
export function useVscodeStub(): void {
  const resolver = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = resolver._resolveFilename;
  resolver._resolveFilename = function (request: string, ...rest: unknown[]) {
    if (request === 'vscode') return __filename;
    return original.call(this, request, ...rest);
  };
}
