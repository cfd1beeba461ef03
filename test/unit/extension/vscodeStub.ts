/**
 * The few VS Code API pieces the @relay chat participant, the savings view and
 * RelayService touch, for running them under node:test (the real `vscode` module exists
 * only inside VS Code). Loaded in place of 'vscode' by useVscodeStub().
 *
 * Settings behave as VS Code's: a key nobody set reads as the default that package.json
 * contributes; `settings` holds what a test set (setSettings / resetSettings).
 */
import Module from 'node:module';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as vscodeTypes from 'vscode';

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

export const Uri = {
  joinPath: (base: { path: string }, ...parts: string[]) => ({ path: [base.path, ...parts].join('/') }),
  file: (path: string) => fileUri(path),
  from: (parts: { scheme: string; path: string }) => ({ fsPath: parts.path, ...parts }),
};

export const registered: { id: string; handler: (...args: any[]) => Promise<unknown>; iconPath?: unknown }[] = [];

export const chat = {
  createChatParticipant(id: string, handler: (...args: any[]) => Promise<unknown>) {
    const participant = { id, handler, iconPath: undefined as unknown, dispose() {} };
    registered.push(participant);
    return participant;
  },
};

export const ViewColumn = { Active: -1, Beside: -2 };

/** A webview panel as created by window.createWebviewPanel: what the extension set on it. */
export interface StubWebviewPanel {
  viewType: string;
  title: string;
  options: Record<string, unknown> | undefined;
  webview: {
    html: string;
    options: unknown;
    cspSource: string;
    /** What the extension posted to the webview. */
    posted: unknown[];
    asWebviewUri(uri: { path: string }): { path: string };
    postMessage(message: unknown): Promise<boolean>;
    onDidReceiveMessage(listener: (message: unknown) => void): { dispose(): void };
  };
  revealed: number;
  disposed: boolean;
  /** Shown in its editor group (a new panel is); setVisible changes it. */
  visible: boolean;
  onDidDispose(listener: () => void): { dispose(): void };
  onDidChangeViewState(listener: (event: { webviewPanel: StubWebviewPanel }) => void): { dispose(): void };
  /** The user switching to another tab (false) or back to this one (true): fires onDidChangeViewState. */
  setVisible(visible: boolean): void;
  reveal(): void;
  dispose(): void;
  /** The webview's script posting `message` to the extension. */
  fromWebview(message: unknown): void;
}

export const createdPanels: StubWebviewPanel[] = [];

/** A question asked with window.showWarningMessage: the text, the options (modal, detail) and the buttons offered. */
export interface AskedWarning {
  message: string;
  options: { modal?: boolean; detail?: string } | undefined;
  items: string[];
}

export const warningsShown: AskedWarning[] = [];

/** What the user clicks in a warning: a button's title, or undefined (closed / Cancel, the default). */
let warningAnswer: (warning: AskedWarning) => string | undefined = () => undefined;

/** Scripts the answer to every later showWarningMessage (a title, undefined for "closed", or a function of the question). */
export function answerWarnings(answer: string | undefined | ((warning: AskedWarning) => string | undefined)): void {
  warningAnswer = typeof answer === 'function' ? answer : () => answer;
}

/**
 * A question put to the user through the window API other than showWarningMessage (which
 * has its own record): an input box, a quick pick, an open dialog, a notification.
 */
export interface AskedQuestion {
  api: 'showInputBox' | 'showQuickPick' | 'showOpenDialog' | 'showInformationMessage' | 'showErrorMessage';
  /** A notification's message, else the title of the box, pick or dialog. */
  text: string;
  options: any;
  /** A quick pick's items, a notification's buttons (titles). */
  items: any[];
}

export const questionsAsked: AskedQuestion[] = [];

/** What the user answers each question (see answerQuestions); by default they close it. */
let questionAnswer: (question: AskedQuestion) => unknown = () => undefined;

/**
 * Scripts the answers to every later question: a string for an input box (which must pass
 * its validateInput, as VS Code would not accept it otherwise), one of the items for a
 * quick pick, a button's title for a notification, [fileUri(path)] for an open dialog;
 * undefined closes it.
 */
export function answerQuestions(answer: (question: AskedQuestion) => unknown): void {
  questionAnswer = answer;
}

/** Progress notifications shown (window.withProgress), in order. */
export const progressShown: { title?: string; cancellable?: boolean }[] = [];

export const ProgressLocation = { SourceControl: 1, Window: 10, Notification: 15 };
export const QuickPickItemKind = { Separator: -1, Default: 0 };

function ask(api: AskedQuestion['api'], text: string, options: any, items: any[]): unknown {
  const question: AskedQuestion = { api, text, options, items };
  questionsAsked.push(question);
  return questionAnswer(question);
}

/** showInformationMessage / showErrorMessage: (message, options?, ...items); the answer must be one of the buttons. */
function notify(api: 'showInformationMessage' | 'showErrorMessage', message: string, rest: unknown[]): string | undefined {
  const first = rest[0];
  const options = typeof first === 'object' && first !== null && !('title' in first) ? rest.shift() : undefined;
  const items = rest.map((item) => (typeof item === 'string' ? item : String((item as { title?: string }).title)));
  const answer = ask(api, message, options, items);
  return typeof answer === 'string' && items.includes(answer) ? answer : undefined;
}

/** A status bar item as window.createStatusBarItem makes it: what the extension set on it. */
export interface StubStatusBarItem {
  id: string;
  alignment: number;
  priority: number | undefined;
  name?: string;
  text: string;
  tooltip?: string;
  /** A command id, or a command with its arguments (vscode.Command). */
  command?: string | { command: string; title: string; arguments?: unknown[] };
  backgroundColor?: unknown;
  shown: boolean;
  show(): void;
  hide(): void;
  dispose(): void;
}

export const createdStatusBarItems: StubStatusBarItem[] = [];

export const StatusBarAlignment = { Left: 1, Right: 2 };

export class ThemeColor {
  constructor(readonly id: string) {}
}

/** What the extension wrote to the clipboard, last last. */
export const clipboardWrites: string[] = [];

export const env = {
  /** Set: a remote window (Remote-SSH 'ssh-remote', 'wsl', 'dev-container'), whose settings read as VS Code's do there (see remoteSettings). */
  remoteName: undefined as string | undefined,
  clipboard: {
    async writeText(value: string): Promise<void> {
      clipboardWrites.push(value);
    },
    async readText(): Promise<string> {
      return clipboardWrites.at(-1) ?? '';
    },
  },
};

/** Commands the extension ran (commands.executeCommand), in order; none of them runs here. */
export const commandsRun: { command: string; args: unknown[] }[] = [];

/** The commands the extension registered (commands.registerCommand), by id; executeCommand does not run them. */
export const registeredCommands = new Map<string, (...args: any[]) => unknown>();

export const commands = {
  async executeCommand(command: string, ...args: unknown[]): Promise<undefined> {
    commandsRun.push({ command, args });
    return undefined;
  },
  registerCommand(command: string, handler: (...args: any[]) => unknown): { dispose(): void } {
    registeredCommands.set(command, handler);
    return { dispose: () => void (registeredCommands.get(command) === handler && registeredCommands.delete(command)) };
  },
};

/** What activation registers that these tests do not drive (code actions); each registration does nothing. */
export const languages = {
  registerCodeActionsProvider: () => ({ dispose() {} }),
};

export const CodeActionKind = { Empty: { value: '' } };

export class CodeAction {
  command?: unknown;
  constructor(
    readonly title: string,
    readonly kind?: unknown,
  ) {}
}

export const window = {
  /** The editors shown (none unless a test puts some here), as VS Code lists them. */
  visibleTextEditors: [] as unknown[],
  /** The focused editor (none unless a test sets one). */
  activeTextEditor: undefined as unknown,
  createStatusBarItem(id: string, alignment: number, priority?: number): StubStatusBarItem {
    const item: StubStatusBarItem = {
      id,
      alignment,
      priority,
      text: '',
      shown: false,
      show: () => void (item.shown = true),
      hide: () => void (item.shown = false),
      dispose: () => void (item.shown = false),
    };
    createdStatusBarItems.push(item);
    return item;
  },
  setStatusBarMessage(): { dispose(): void } {
    return { dispose() {} };
  },
  /** Records the question; resolves with the scripted answer (answerWarnings). */
  async showWarningMessage(message: string, ...rest: unknown[]): Promise<string | undefined> {
    // showWarningMessage(message, options?, ...items): options is an object that is no MessageItem (which has a title).
    const first = rest[0];
    const options = typeof first === 'object' && first !== null && !('title' in first) ? (rest.shift() as AskedWarning['options']) : undefined;
    const warning: AskedWarning = {
      message,
      options,
      items: rest.map((item) => (typeof item === 'string' ? item : String((item as { title?: string }).title))),
    };
    warningsShown.push(warning);
    const answer = warningAnswer(warning);
    return answer !== undefined && warning.items.includes(answer) ? answer : undefined;
  },
  async showInformationMessage(message: string, ...rest: unknown[]): Promise<string | undefined> {
    return notify('showInformationMessage', message, rest);
  },
  async showErrorMessage(message: string, ...rest: unknown[]): Promise<string | undefined> {
    return notify('showErrorMessage', message, rest);
  },
  async showInputBox(options: { title?: string; validateInput?: (value: string) => unknown } = {}): Promise<string | undefined> {
    const answer = ask('showInputBox', options.title ?? '', options, []);
    if (typeof answer !== 'string') return undefined;
    const problem = await options.validateInput?.(answer);
    if (problem) throw new Error(`The input box "${options.title}" would not accept ${JSON.stringify(answer)}: ${String(problem)}`);
    return answer;
  },
  async showQuickPick(items: unknown[] | Promise<unknown[]>, options: { title?: string } = {}): Promise<unknown> {
    const list = await items;
    const answer = ask('showQuickPick', options.title ?? '', options, list);
    if (answer === undefined) return undefined;
    // canPickMany: the answer is the list of items picked.
    for (const item of Array.isArray(answer) ? answer : [answer]) {
      if (!list.includes(item)) throw new Error(`The quick pick "${options.title}" offers no such item: ${JSON.stringify(item)}`);
    }
    return answer;
  },
  async showOpenDialog(options: { title?: string } = {}): Promise<unknown> {
    return ask('showOpenDialog', options.title ?? '', options, []);
  },
  /** Runs the task at once; the stub's progress reports go nowhere and its token is never cancelled. */
  async withProgress<R>(
    options: { title?: string; cancellable?: boolean },
    task: (progress: { report(value: unknown): void }, token: unknown) => Promise<R>,
  ): Promise<R> {
    progressShown.push({ title: options.title, cancellable: options.cancellable });
    const token = { isCancellationRequested: false, onCancellationRequested: () => ({ dispose() {} }) };
    return task({ report() {} }, token);
  },
  /** Activation's view registrations; no view is shown here, so none is resolved. */
  registerWebviewViewProvider: () => ({ dispose() {} }),
  registerWebviewPanelSerializer: () => ({ dispose() {} }),
  createWebviewPanel(viewType: string, title: string, _column: unknown, options?: Record<string, unknown>): StubWebviewPanel {
    const received: ((message: unknown) => void)[] = [];
    const disposed: (() => void)[] = [];
    const viewStateChanged = new EventEmitter<{ webviewPanel: StubWebviewPanel }>();
    const panel: StubWebviewPanel = {
      viewType,
      title,
      options,
      webview: {
        html: '',
        options: undefined,
        cspSource: 'stub:',
        posted: [],
        asWebviewUri: (uri) => uri,
        async postMessage(message) {
          panel.webview.posted.push(message);
          return !panel.disposed;
        },
        onDidReceiveMessage(listener) {
          received.push(listener);
          return { dispose() {} };
        },
      },
      revealed: 0,
      disposed: false,
      visible: true,
      onDidDispose(listener) {
        disposed.push(listener);
        return { dispose() {} };
      },
      onDidChangeViewState: (listener) => viewStateChanged.event(listener),
      setVisible(visible) {
        panel.visible = visible;
        viewStateChanged.fire({ webviewPanel: panel });
      },
      reveal() {
        panel.revealed++;
      },
      dispose() {
        if (panel.disposed) return;
        panel.disposed = true;
        for (const listener of disposed) listener();
      },
      fromWebview(message) {
        for (const listener of received) listener(message);
      },
    };
    createdPanels.push(panel);
    return panel;
  },
};

export class Disposable {
  /** One disposable that disposes all of `disposables`, as VS Code's Disposable.from. */
  static from(...disposables: { dispose(): unknown }[]): Disposable {
    return new Disposable(() => {
      for (const disposable of disposables) disposable.dispose();
    });
  }
  constructor(private readonly callOnDispose: () => void) {}
  dispose(): void {
    this.callOnDispose();
  }
}

/** VS Code's EventEmitter: `event` subscribes, `fire` calls every listener, `dispose` drops them. */
export class EventEmitter<T> {
  private listeners: ((value: T) => void)[] = [];
  private disposed = false;

  readonly event = (listener: (value: T) => void, thisArgs?: unknown, disposables?: { dispose(): void }[]): Disposable => {
    const bound = (value: T) => listener.call(thisArgs, value);
    if (!this.disposed) this.listeners.push(bound);
    const subscription = new Disposable(() => (this.listeners = this.listeners.filter((l) => l !== bound)));
    disposables?.push(subscription);
    return subscription;
  };

  fire(value: T): void {
    for (const listener of [...this.listeners]) listener(value);
  }

  dispose(): void {
    this.disposed = true;
    this.listeners = [];
  }
}

/** The `relay.*` defaults package.json contributes, as VS Code serves them for settings nobody set. */
const CONTRIBUTED_DEFAULTS: ReadonlyMap<string, unknown> = (() => {
  const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    contributes?: { configuration?: { properties?: Record<string, { default?: unknown }> } | { properties?: Record<string, { default?: unknown }> }[] };
  };
  const sections = ([] as { properties?: Record<string, { default?: unknown }> }[]).concat(manifest.contributes?.configuration ?? []);
  const defaults = new Map<string, unknown>();
  for (const section of sections) for (const [key, property] of Object.entries(section.properties ?? {})) defaults.set(key, property.default);
  return defaults;
})();

/** The `scope` package.json gives each `relay.*` setting (none: VS Code's default, window). */
const CONTRIBUTED_SCOPES: ReadonlyMap<string, string | undefined> = (() => {
  const manifest = JSON.parse(readFileSync(join(__dirname, '..', '..', '..', 'package.json'), 'utf8')) as {
    contributes: { configuration: { properties: Record<string, { scope?: string }> } };
  };
  return new Map(Object.entries(manifest.contributes.configuration.properties).map(([key, property]) => [key, property.scope]));
})();

/** Settings a test set, by full name ('relay.provider.model'); anything else reads as its contributed default. */
export const settings = new Map<string, unknown>();

/** Sets settings by full name (undefined removes one, so it reads as its default again). */
export function setSettings(values: Record<string, unknown>): void {
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined) settings.delete(key);
    else settings.set(key, value);
  }
}

/** Values a workspace's .vscode/settings.json sets, by full name: they win over the user's (settings). */
export const workspaceSettings = new Map<string, unknown>();

/** Values a workspace folder's .vscode/settings.json sets (a window of several folders), by full name: they win over both. */
export const workspaceFolderSettings = new Map<string, unknown>();

/**
 * The remote machine's settings (the Remote tab), by full name: read only while env.remoteName is
 * set, as VS Code reads them in a remote window. There it reads a `machine` or
 * `machine-overridable` setting from these alone, an `application` one from the local user
 * settings (settings) alone, any other from both, these winning; and an update with
 * ConfigurationTarget.Global writes here for a machine-scoped setting or one that has a value
 * here (LOCAL_MACHINE_SCOPES, REMOTE_MACHINE_SCOPES and toEditableConfigurationTarget in VS
 * Code's workbench/services/configuration).
 */
export const remoteSettings = new Map<string, unknown>();

const MACHINE_SCOPES: readonly (string | undefined)[] = ['machine', 'machine-overridable'];

/** The user-level value of `key` in effect: the local user settings', or in a remote window what VS Code merges of them and the remote's. */
function userValue(key: string): unknown {
  if (env.remoteName === undefined) return settings.get(key);
  const scope = CONTRIBUTED_SCOPES.get(key);
  const local = MACHINE_SCOPES.includes(scope) ? undefined : settings.get(key);
  const remote = scope === 'application' ? undefined : remoteSettings.get(key);
  return remote !== undefined ? remote : local;
}

/** Back to the contributed defaults only (no user, workspace or folder values). */
export function resetSettings(values: Record<string, unknown> = {}): void {
  settings.clear();
  remoteSettings.clear();
  workspaceSettings.clear();
  workspaceFolderSettings.clear();
  setSettings(values);
}

export const ConfigurationTarget = { Global: 1, Workspace: 2, WorkspaceFolder: 3 };

function configurationOf(section: string | undefined) {
  const full = (key: string) => (section ? `${section}.${key}` : key);
  const read = (key: string): unknown =>
    workspaceFolderSettings.has(full(key))
      ? workspaceFolderSettings.get(full(key))
      : workspaceSettings.has(full(key))
        ? workspaceSettings.get(full(key))
        : userValue(full(key)) !== undefined
          ? userValue(full(key))
          : CONTRIBUTED_DEFAULTS.get(full(key));
  return {
    get<T>(key: string, defaultValue?: T): T | undefined {
      const value = read(key);
      return (value === undefined ? defaultValue : value) as T | undefined;
    },
    has(key: string): boolean {
      return read(key) !== undefined;
    },
    inspect(key: string) {
      return {
        key: full(key),
        defaultValue: CONTRIBUTED_DEFAULTS.get(full(key)),
        // As VS Code's: one value for the local user settings and the remote's together.
        globalValue: userValue(full(key)),
        workspaceValue: workspaceSettings.get(full(key)),
        workspaceFolderValue: workspaceFolderSettings.get(full(key)),
      };
    },
    /** Global (the default, as VS Code's for a window without a folder) writes the user's value (in a remote window, see remoteSettings); Workspace the workspace's. */
    async update(key: string, value: unknown, target: number = ConfigurationTarget.Global): Promise<void> {
      if (target === ConfigurationTarget.Global) {
        const toRemote = env.remoteName !== undefined && (MACHINE_SCOPES.includes(CONTRIBUTED_SCOPES.get(full(key))) || remoteSettings.has(full(key)));
        if (!toRemote) setSettings({ [full(key)]: value });
        else if (value === undefined) remoteSettings.delete(full(key));
        else remoteSettings.set(full(key), value);
      } else if (value === undefined) workspaceSettings.delete(full(key));
      else workspaceSettings.set(full(key), value);
    },
  };
}

/** A position in a document: zero-based line and character. */
export class Position {
  constructor(
    readonly line: number,
    readonly character: number,
  ) {}
}

export class Range {
  constructor(
    readonly start: Position,
    readonly end: Position,
  ) {}
}

export class Location {
  constructor(
    readonly uri: { fsPath: string; scheme: string; path: string },
    readonly range: Range,
  ) {}
}

/** A file URI as the host passes one (what the code under test reads of it). */
export function fileUri(path: string): { fsPath: string; scheme: string; path: string } {
  return { fsPath: path, scheme: 'file', path };
}

/** The folder workspace.asRelativePath makes paths relative to (none: paths stay absolute). */
export let workspaceFolder: string | undefined;
export function setWorkspaceFolder(folder: string | undefined): void {
  workspaceFolder = folder;
}

export const workspace = {
  /** Workspace Trust: false is Restricted Mode. */
  isTrusted: true,
  getConfiguration(section?: string) {
    return configurationOf(section);
  },
  /** Reads the file from disk as VS Code opens one: a folder or a missing file rejects. */
  async openTextDocument(uri: { fsPath: string }) {
    const text = readFileSync(uri.fsPath, 'utf8');
    const lines = text.split('\n');
    const offset = (p: Position) => lines.slice(0, p.line).reduce((sum, line) => sum + line.length + 1, 0) + p.character;
    return { uri, getText: (range?: Range) => (range ? text.slice(offset(range.start), offset(range.end)) : text) };
  },
  asRelativePath(uri: { fsPath: string }): string {
    return workspaceFolder && uri.fsPath.startsWith(`${workspaceFolder}/`) ? uri.fsPath.slice(workspaceFolder.length + 1) : uri.fsPath;
  },
  createFileSystemWatcher,
  /** Never fired: a test that changes settings calls what the extension's handler would. */
  onDidChangeConfiguration: () => ({ dispose() {} }),
  registerTextDocumentContentProvider: () => ({ dispose() {} }),
};

/** A glob relative to a folder (a Uri or a path); the stub's watchers match only a file name in that folder. */
export class RelativePattern {
  readonly baseUri: { fsPath: string };
  constructor(
    base: { fsPath: string } | string,
    readonly pattern: string,
  ) {
    this.baseUri = typeof base === 'string' ? fileUri(base) : base;
  }
}

export type FileChange = 'create' | 'change' | 'delete';

/** A watcher as workspace.createFileSystemWatcher makes it: it hears of a change only when a test reports one (fileChangedOnDisk). */
export interface StubFileSystemWatcher {
  /** The file it watches. */
  path: string;
  disposed: boolean;
  fire(change: FileChange): void;
  onDidCreate(listener: () => void): { dispose(): void };
  onDidChange(listener: () => void): { dispose(): void };
  onDidDelete(listener: () => void): { dispose(): void };
  dispose(): void;
}

export const createdFileWatchers: StubFileSystemWatcher[] = [];

function createFileSystemWatcher(pattern: RelativePattern): StubFileSystemWatcher {
  if (/[*?{[]/.test(pattern.pattern)) throw new Error(`The stub watches one file, not the glob ${pattern.pattern}`);
  const events = { create: new EventEmitter<void>(), change: new EventEmitter<void>(), delete: new EventEmitter<void>() };
  const watcher: StubFileSystemWatcher = {
    path: join(pattern.baseUri.fsPath, pattern.pattern),
    disposed: false,
    fire: (change) => events[change].fire(),
    onDidCreate: (listener) => events.create.event(listener),
    onDidChange: (listener) => events.change.event(listener),
    onDidDelete: (listener) => events.delete.event(listener),
    dispose() {
      watcher.disposed = true;
      for (const emitter of Object.values(events)) emitter.dispose();
    },
  };
  createdFileWatchers.push(watcher);
  return watcher;
}

/** What VS Code's file watcher reports of `path` to every open watcher of it: a file another window (or the CLI) wrote or removed. */
export function fileChangedOnDisk(path: string, change: FileChange): void {
  for (const watcher of createdFileWatchers) if (!watcher.disposed && watcher.path === path) watcher.fire(change);
}

/** VS Code's SecretStorage, in memory. */
export class MemorySecretStorage {
  readonly values = new Map<string, string>();
  private readonly changed = new EventEmitter<{ key: string }>();
  readonly onDidChange = this.changed.event;
  async get(key: string): Promise<string | undefined> {
    return this.values.get(key);
  }
  async store(key: string, value: string): Promise<void> {
    this.values.set(key, value);
    this.changed.fire({ key });
  }
  async delete(key: string): Promise<void> {
    this.values.delete(key);
    this.changed.fire({ key });
  }
  async keys(): Promise<string[]> {
    return [...this.values.keys()];
  }
}

/** VS Code's Memento (globalState), in memory; values are copied through JSON as VS Code stores them. */
export class MemoryMemento {
  readonly values = new Map<string, string>();
  keys(): readonly string[] {
    return [...this.values.keys()];
  }
  get<T>(key: string, defaultValue?: T): T | undefined {
    const text = this.values.get(key);
    return text === undefined ? defaultValue : (JSON.parse(text) as T);
  }
  async update(key: string, value: unknown): Promise<void> {
    if (value === undefined) this.values.delete(key);
    else this.values.set(key, JSON.stringify(value));
  }
  setKeysForSync(): void {}
}

export interface StubExtensionContext {
  /** What the extension code takes (only the members below are there). */
  context: vscodeTypes.ExtensionContext;
  secrets: MemorySecretStorage;
  globalState: MemoryMemento;
  workspaceState: MemoryMemento;
  /** The temp folder behind globalStorageUri. */
  globalStorage: string;
  /** Removes the temp folder. */
  dispose(): void;
}

/**
 * A minimal ExtensionContext: in-memory secrets, globalState and workspaceState, globalStorageUri in a new
 * temp folder, the given extensionPath (where dist/slmWorker.js and models/ are looked up).
 */
export function createExtensionContext(extensionPath: string): StubExtensionContext {
  const globalStorage = mkdtempSync(join(tmpdir(), 'relay-global-storage-'));
  const secrets = new MemorySecretStorage();
  const globalState = new MemoryMemento();
  const workspaceState = new MemoryMemento();
  const subscriptions: { dispose(): unknown }[] = [];
  const context = {
    extensionPath,
    extensionUri: { fsPath: extensionPath, path: extensionPath, scheme: 'file' },
    globalStorageUri: { fsPath: globalStorage, path: globalStorage, scheme: 'file' },
    secrets,
    globalState,
    workspaceState,
    subscriptions,
    asAbsolutePath: (relative: string) => join(extensionPath, relative),
  };
  return {
    context: context as unknown as vscodeTypes.ExtensionContext,
    secrets,
    globalState,
    workspaceState,
    globalStorage,
    dispose: () => rmSync(globalStorage, { recursive: true, force: true }),
  };
}

/** Makes `require('vscode')` load this module (from here on, in this process). */
export function useVscodeStub(): void {
  const resolver = Module as unknown as { _resolveFilename: (request: string, ...rest: unknown[]) => string };
  const original = resolver._resolveFilename;
  resolver._resolveFilename = function (request: string, ...rest: unknown[]) {
    if (request === 'vscode') return __filename;
    return original.call(this, request, ...rest);
  };
}
