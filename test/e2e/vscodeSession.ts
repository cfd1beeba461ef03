// One real VS Code (code-server) with the packaged extension installed, in an isolated
// temp folder, driven by headless Debian Chromium through playwright-core. A test file
// starts one session in `before` and closes it in `after`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { chromium, type Browser, type BrowserServer, type FrameLocator, type Locator, type Page } from 'playwright-core';
import { ensureCodeServer } from './codeServer';
import { packageExtension, REPO_ROOT } from './packageExtension';
import { MemorySampler, processesOfRun, RUN_MARKER_VARIABLE, stopRun, type ProcessInfo } from './processes';

export const RESULTS_DIR = join(REPO_ROOT, 'test-results', 'e2e');
const CHROMIUM = '/usr/bin/chromium';
const manifest = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as {
  publisher: string;
  name: string;
  contributes: { configuration: { properties: Record<string, { scope?: string }> } };
};
/**
 * code-server's window is a remote one: a machine-scoped setting (the small model's folder and
 * server) is read from the machine's settings (user-data/Machine), never from the user's.
 */
const MACHINE_SCOPED = new Set(
  Object.entries(manifest.contributes.configuration.properties)
    .filter(([, property]) => property.scope === 'machine' || property.scope === 'machine-overridable')
    .map(([key]) => key),
);
/** VS Code's id of the extension, as it appears in its webviews' URLs. */
export const EXTENSION_ID = `${manifest.publisher}.${manifest.name}`;
const START_TIMEOUT_MS = 90_000;
const UI_TIMEOUT_MS = 30_000;

/** Quiet, offline, no first-run noise: what a screenshot should not be cluttered by. */
const BASE_SETTINGS: Record<string, unknown> = {
  'security.workspace.trust.enabled': false,
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.welcomePage.walkthroughs.openOnInstall': false,
  'telemetry.telemetryLevel': 'off',
  'update.mode': 'none',
  'extensions.autoUpdate': false,
  'extensions.autoCheckUpdates': false,
  'extensions.ignoreRecommendations': true,
  'chat.commandCenter.enabled': false,
  'workbench.colorTheme': 'Default Dark Modern',
};

export interface SessionOptions {
  /** Names the temp folder and the log; helps to tell sessions apart. */
  name: string;
  /** Extra user settings (relay.*, workbench.colorTheme for a light screenshot, ...). */
  settings?: Record<string, unknown>;
  /** Extra environment of code-server, hence of the extension host. */
  env?: Record<string, string>;
  /** Files to create in the opened workspace folder, by relative path. */
  workspaceFiles?: Record<string, string>;
  viewport?: { width: number; height: number };
  /**
   * Load the extension unpacked from this folder (VS Code's extensionDevelopmentPath)
   * instead of installing the packaged .vsix.
   */
  extensionDevelopmentPath?: string;
  /** A CommonJS module whose run() VS Code's extension host calls (extensionTestsPath). */
  extensionTestsPath?: string;
}

export interface Timings {
  [step: string]: number;
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function seconds(since: number): number {
  return Math.round((Date.now() - since) / 100) / 10;
}

/** Resolves with code-server's URL once it logs it; rejects when it exits or stalls. */
function waitForListening(child: ChildProcess, logLines: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => fail(`code-server printed no "HTTP server listening" line within ${START_TIMEOUT_MS / 1000} s`), START_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      buffered += chunk.toString();
      const lines = buffered.split('\n');
      buffered = lines.pop() ?? '';
      for (const line of lines) {
        logLines.push(line);
        const match = /HTTP server listening on (http:\/\/127\.0\.0\.1:\d+)\//.exec(line);
        if (match) {
          clearTimeout(timer);
          child.off('exit', onExit);
          resolve(match[1]);
        }
      }
    };
    const onExit = (code: number | null) => fail(`code-server exited (code ${code}) before listening`);
    function fail(why: string) {
      clearTimeout(timer);
      reject(new Error(`${why}. Its log:\n${logLines.slice(-30).join('\n')}`));
    }
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    child.once('exit', onExit);
  });
}

export class VsCodeSession {
  readonly timings: Timings = {};
  page!: Page;
  private browser?: Browser;
  private browserServer?: BrowserServer;
  private codeServer?: ChildProcess;
  private sampler?: MemorySampler;
  private readonly runId = randomUUID();
  private readonly logLines: string[] = [];
  /** Console output of the page, the extension host's included. */
  readonly consoleLines: string[] = [];
  /** Every URL the browser requested (the workbench, its webviews and their service workers). */
  readonly requests: string[] = [];
  /** The URLs of those answered by a service worker (a webview's files: never fetched from their URL's host). */
  readonly answeredByServiceWorker = new Set<string>();
  private root = '';
  private closed = false;
  peakMemoryMiB = 0;
  /** code-server's address, e.g. http://127.0.0.1:40123 */
  url = '';
  /** The folder opened as the workspace. */
  workspace = '';

  private constructor(private readonly options: SessionOptions) {}

  /** Installs what is missing, packages and installs the extension, opens the workbench. */
  static async start(options: SessionOptions): Promise<VsCodeSession> {
    const session = new VsCodeSession(options);
    try {
      await session.launch();
    } catch (error) {
      await session.close().catch(() => undefined);
      throw error;
    }
    return session;
  }

  /** Isolated HOME/TMPDIR/XDG_* so nothing is read from or written to the real home. */
  private isolatedEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env };
    for (const key of Object.keys(env)) if (/^(npm_|VSCODE_|ELECTRON_)/i.test(key)) delete env[key];
    return {
      ...env,
      HOME: join(this.root, 'home'),
      TMPDIR: join(this.root, 'tmp'),
      XDG_DATA_HOME: join(this.root, 'home', '.local', 'share'),
      XDG_CONFIG_HOME: join(this.root, 'home', '.config'),
      XDG_CACHE_HOME: join(this.root, 'home', '.cache'),
      [RUN_MARKER_VARIABLE]: this.runId,
      ...extra,
    };
  }

  private codeServerArgs(): string[] {
    return ['--config', join(this.root, 'config.yaml'), '--user-data-dir', join(this.root, 'user-data'), '--extensions-dir', join(this.root, 'extensions')];
  }

  private async launch(): Promise<void> {
    const { name, settings = {}, env = {}, workspaceFiles = {}, viewport = { width: 1400, height: 900 } } = this.options;
    const { extensionDevelopmentPath, extensionTestsPath } = this.options;
    let started = Date.now();
    const install = await ensureCodeServer();
    this.timings.install = seconds(started);

    started = Date.now();
    const vsix = extensionDevelopmentPath ? undefined : packageExtension();
    this.timings.package = seconds(started);

    this.root = mkdtempSync(join(tmpdir(), `relay-e2e-${name}-`));
    const workspace = (this.workspace = join(this.root, 'workspace'));
    for (const dir of ['home', 'tmp', 'user-data/User', 'user-data/Machine', 'extensions', 'workspace']) mkdirSync(join(this.root, dir), { recursive: true });
    writeFileSync(join(this.root, 'config.yaml'), 'bind-addr: 127.0.0.1:0\nauth: none\ncert: false\n');
    const { user, machine } = splitByScope({ ...BASE_SETTINGS, ...settings });
    writeFileSync(this.userSettingsPath, JSON.stringify(user, null, 2));
    writeFileSync(this.machineSettingsPath, JSON.stringify(machine, null, 2));
    for (const [path, text] of Object.entries(workspaceFiles)) {
      mkdirSync(dirname(join(workspace, path)), { recursive: true });
      writeFileSync(join(workspace, path), text);
    }

    if (vsix) this.installExtension(install.entry, vsix);

    started = Date.now();
    this.codeServer = spawn(
      process.execPath,
      [
        install.entry,
        ...this.codeServerArgs(),
        '--disable-telemetry',
        '--disable-update-check',
        '--disable-workspace-trust',
        '--disable-getting-started-override',
        workspace,
      ],
      // Its own process group, so teardown can signal it and its children together.
      { env: this.isolatedEnv(env), stdio: ['ignore', 'pipe', 'pipe'], detached: true },
    );
    this.sampler = new MemorySampler(this.runId);
    const url = (this.url = await waitForListening(this.codeServer, this.logLines));
    this.timings.codeServerStart = seconds(started);

    started = Date.now();
    this.browserServer = await chromium.launchServer({
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--disable-dev-shm-usage',
      ],
      env: this.isolatedEnv() as Record<string, string>,
      timeout: START_TIMEOUT_MS,
    });
    this.browser = await chromium.connect(this.browserServer.wsEndpoint());
    const context = await this.browser.newContext({ viewport });
    context.on('request', (request) => this.requests.push(request.url()));
    context.on('response', (response) => {
      if (response.fromServiceWorker()) this.answeredByServiceWorker.add(response.url());
    });
    this.page = await context.newPage();
    this.page.setDefaultTimeout(UI_TIMEOUT_MS);
    // The extension host's console output reaches the page's console.
    this.page.on('console', (message) => this.consoleLines.push(`[${message.type()}] ${message.text()}`));
    this.timings.browserStart = seconds(started);

    started = Date.now();
    const payload: [string, string][] = [];
    const remote = (path: string) => `vscode-remote://${new URL(url).host}${path}`;
    if (extensionDevelopmentPath) payload.push(['extensionDevelopmentPath', remote(extensionDevelopmentPath)]);
    if (extensionTestsPath) payload.push(['extensionTestsPath', remote(extensionTestsPath)]);
    const query = payload.length > 0 ? `&payload=${encodeURIComponent(JSON.stringify(payload))}` : '';
    await this.page.goto(`${url}/?folder=${encodeURIComponent(workspace)}${query}`);
    await this.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: START_TIMEOUT_MS });
    // An extension test run may finish (and tear the host down) before the UI settles.
    if (extensionTestsPath) {
      this.timings.workbench = seconds(started);
      return;
    }
    // The extension's contributions are registered once its view container shows up.
    await this.page
      .locator('.activitybar .action-item a[aria-label^="Relay"]')
      .waitFor({ state: 'visible', timeout: START_TIMEOUT_MS })
      .catch(() => {
        throw new Error(`The Relay view container never appeared in the activity bar: the extension did not load. code-server's log:\n${this.log()}`);
      });
    this.timings.workbench = seconds(started);
  }

  private installExtension(entry: string, vsix: string): void {
    const started = Date.now();
    const installed = spawnSync(process.execPath, [entry, ...this.codeServerArgs(), '--install-extension', vsix], {
      env: this.isolatedEnv(),
      encoding: 'utf8',
      timeout: 60_000,
    });
    const installLog = `${installed.stdout ?? ''}${installed.stderr ?? ''}`;
    if (installed.status !== 0 || !/successfully installed/i.test(installLog)) {
      throw new Error(`Installing ${vsix} into code-server failed (exit ${installed.status}):\n${installLog}`);
    }
    this.timings.installExtension = seconds(started);
  }

  /** Resolves with the first console line (the browser's and the extension host's) matching `pattern`. */
  async waitForConsole(pattern: RegExp, timeoutMs = UI_TIMEOUT_MS): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const line = this.consoleLines.find((l) => pattern.test(l));
      if (line) return line;
      if (Date.now() > deadline) throw new Error(`No console line matched ${pattern} within ${timeoutMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** The user's settings.json (what the User tab shows). */
  get userSettingsPath(): string {
    return join(this.root, 'user-data', 'User', 'settings.json');
  }

  /** The machine's settings.json (the Remote tab): where machine-scoped settings are read and written. */
  get machineSettingsPath(): string {
    return join(this.root, 'user-data', 'Machine', 'settings.json');
  }

  /**
   * Merges `settings` into the user and machine settings files (each setting where its scope
   * is read) and reloads the window, which is how code-server's browser workbench reliably
   * picks them up (it does not watch the files).
   */
  async updateSettings(settings: Record<string, unknown>): Promise<void> {
    const { user, machine } = splitByScope(settings);
    for (const [path, values] of [
      [this.userSettingsPath, user],
      [this.machineSettingsPath, machine],
    ] as const) {
      if (Object.keys(values).length === 0) continue;
      const current = await this.settledUserSettings(path);
      writeFileSync(path, JSON.stringify({ ...current, ...values }, null, 2));
    }
    await this.reload();
  }

  /**
   * The user settings once VS Code has finished writing them: a theme switch writes the file
   * too, after the workbench already shows the theme, and a read in the middle of that
   * write finds it empty (or a write of ours would be overwritten by it). Waits until the
   * file parses and stays the same for a moment.
   */
  private async settledUserSettings(path: string): Promise<Record<string, unknown>> {
    const deadline = Date.now() + 10_000;
    let previous: string | undefined;
    for (;;) {
      const text = readFileSync(path, 'utf8');
      let parsed: Record<string, unknown> | undefined;
      try {
        parsed = JSON.parse(text) as Record<string, unknown>;
      } catch {
        parsed = undefined;
      }
      if (parsed && text === previous) return parsed;
      if (Date.now() > deadline) {
        if (parsed) return parsed;
        throw new Error(`${path} is not valid JSON after 10 s: ${JSON.stringify(text.slice(0, 200))}`);
      }
      previous = text;
      await new Promise((resolve) => setTimeout(resolve, 300));
    }
  }

  /** Reloads the window (as "Developer: Reload Window" does) and waits for the workbench. */
  async reload(): Promise<void> {
    await this.page.reload();
    await this.page.locator('.monaco-workbench').waitFor({ state: 'visible', timeout: START_TIMEOUT_MS });
    await this.page.locator('.activitybar .action-item a[aria-label^="Relay"]').waitFor({ state: 'visible', timeout: START_TIMEOUT_MS });
  }

  /** The texts of every status bar item, for failure messages. */
  async statusBarTexts(): Promise<string[]> {
    return (await this.page.locator('.statusbar-item').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
  }

  /** The workbench's status bar entry whose text contains `text`. */
  statusBarItem(text: string | RegExp): Locator {
    return this.page.locator('.statusbar-item', { hasText: text });
  }

  /**
   * The DOM inside one of Relay's webviews, two iframes deep. VS Code draws webviews in an
   * overlay, not inside their pane, so the outer iframe is found by its URL, which names
   * the extension and, for a sidebar view only, `purpose=webviewView` (an editor panel's
   * URL has no purpose).
   */
  webviewFrame(purpose: 'webviewView' | 'webviewPanel'): FrameLocator {
    const kind = purpose === 'webviewView' ? '[src*="purpose=webviewView"]' : ':not([src*="purpose="])';
    const outer = this.page.locator(`iframe.webview[src*="extensionId=${EXTENSION_ID}&"]${kind}`).filter({ visible: true });
    return outer.contentFrame().frameLocator('iframe#active-frame');
  }

  /** The chat view's webview (Relay's only sidebar webview view). */
  chatFrame(): FrameLocator {
    return this.webviewFrame('webviewView');
  }

  /** Opens the command palette with `>query` typed; returns the list's row locator. */
  private async openPalette(query: string): Promise<Locator> {
    const input = this.page.locator('.quick-input-widget input.input');
    for (let attempt = 1; !(await input.isVisible()); attempt++) {
      // A key pressed while a webview has focus reaches the workbench only through the
      // webview's key forwarding, which can lose it (seen after clicking a webview's
      // button): after the first try, open Quick Open from the title bar's command center.
      if (attempt === 1) await this.page.keyboard.press('F1');
      else await this.page.locator('.command-center-center').first().click();
      try {
        await input.waitFor({ state: 'visible', timeout: 3000 });
      } catch (error) {
        if (attempt >= 4) throw new Error(`The command palette did not open (F1, then the command center, ${attempt} tries)`, { cause: error });
      }
    }
    await input.fill(`>${query}`);
    return this.page.locator('.quick-input-list .monaco-list-row');
  }

  /** The labels the command palette lists for `query` (the palette is left open). */
  async paletteEntries(query: string): Promise<string[]> {
    const rows = await this.openPalette(query);
    await rows.first().waitFor({ state: 'visible' });
    // The list filters as it is typed: wait until every row matches the query.
    const needle = query.toLowerCase();
    await this.page.waitForFunction(
      (q) => [...document.querySelectorAll('.quick-input-list .monaco-list-row .label-name')].every((e) => (e.textContent ?? '').toLowerCase().includes(q)),
      needle,
    );
    return rows.locator('.label-name').allTextContents();
  }

  async closePalette(): Promise<void> {
    await this.page.keyboard.press('Escape');
    await this.page.locator('.quick-input-widget').waitFor({ state: 'hidden' });
  }

  /**
   * Runs a command by its title through the command palette, as a user would. The palette
   * lists what was registered when it opened, so a missing row is retried with a fresh
   * palette until UI_TIMEOUT_MS, then reported with what the palette did list.
   */
  async runCommand(title: string): Promise<void> {
    const deadline = Date.now() + UI_TIMEOUT_MS;
    for (;;) {
      const rows = await this.openPalette(title);
      const row = rows.filter({ has: this.page.locator('.label-name', { hasText: new RegExp(`^${escapeRegExp(title)}$`) }) }).first();
      try {
        await row.waitFor({ state: 'visible', timeout: 3000 });
      } catch {
        const listed = await rows.locator('.label-name').allTextContents();
        await this.closePalette();
        if (Date.now() < deadline) continue;
        throw new Error(`Command "${title}" is not in the command palette; it lists: ${listed.join(' | ') || 'nothing'}`);
      }
      await row.click();
      await this.waitForPaletteClosed();
      return;
    }
  }

  /**
   * Runs a command that opens a quick input, and waits until the one whose title contains
   * `title` shows. A quick input closes when focus leaves it, and after a reload the views
   * being restored may take focus just as it opens: then the command is run again, within
   * the UI deadline (the command must still open it).
   */
  async runCommandForInput(command: string, title: string): Promise<void> {
    const deadline = Date.now() + UI_TIMEOUT_MS;
    const shown = this.page.locator('.quick-input-widget').locator('.quick-input-title', { hasText: title });
    for (;;) {
      await this.runCommand(command);
      try {
        await shown.waitFor({ state: 'visible', timeout: 5000 });
        return;
      } catch (error) {
        if (Date.now() >= deadline) throw error;
      }
    }
  }

  /**
   * After a command runs, the palette either closes or turns into the command's own quick
   * input (an input box or quick pick reuses the widget), whose input no longer holds `>...`.
   */
  private async waitForPaletteClosed(): Promise<void> {
    await this.page.waitForFunction(() => {
      const widget = document.querySelector<HTMLElement>('.quick-input-widget');
      const input = widget?.querySelector<HTMLInputElement>('input.input');
      return !widget || widget.offsetParent === null || getComputedStyle(widget).display === 'none' || !input?.value.startsWith('>');
    });
  }

  /**
   * Waits for the quick input (input box or quick pick) whose title contains `title`,
   * types `text` and presses Enter: fills an input box, or picks the first match of a
   * quick pick.
   */
  async answerQuickInput(title: string, text: string): Promise<void> {
    const widget = this.page.locator('.quick-input-widget');
    await widget.locator('.quick-input-title', { hasText: title }).waitFor({ state: 'visible' });
    const input = widget.locator('input.input');
    await input.fill(text);
    const rows = widget.locator('.quick-input-list .monaco-list-row');
    // A quick pick filters as it is typed: wait for the match before accepting it.
    if (await rows.first().isVisible()) await rows.filter({ hasText: text }).first().waitFor({ state: 'visible' });
    await input.press('Enter');
    await widget.locator('.quick-input-title', { hasText: title }).waitFor({ state: 'hidden' });
  }

  /** Switches between the default dark and light themes (no reload; webviews follow). */
  async useThemeKind(kind: 'dark' | 'light'): Promise<void> {
    const workbench = this.page.locator(kind === 'light' ? '.monaco-workbench.vs' : '.monaco-workbench.vs-dark');
    if ((await workbench.count()) > 0) return;
    await this.runCommand('Preferences: Toggle between Light/Dark Themes');
    await workbench.waitFor({ state: 'attached' });
  }

  /** Picks a colour theme by its label through "Preferences: Color Theme" (the way a user does). */
  async useColorTheme(label: string, workbenchClass: string): Promise<void> {
    const workbench = this.page.locator(`.monaco-workbench.${workbenchClass}`);
    if ((await workbench.count()) > 0) return;
    await this.runCommand('Preferences: Color Theme');
    const widget = this.page.locator('.quick-input-widget');
    const input = widget.locator('input.input');
    await input.waitFor({ state: 'visible' });
    await input.fill(label);
    await widget
      .locator('.quick-input-list .monaco-list-row .label-name', { hasText: new RegExp(`^${escapeRegExp(label)}$`) })
      .first()
      .click();
    await workbench.waitFor({ state: 'attached' });
  }

  /** Opens a workspace file in an editor through Quick Open. */
  async openFile(relativePath: string): Promise<void> {
    await this.page.keyboard.press('Control+P');
    const input = this.page.locator('.quick-input-widget input.input');
    await input.waitFor({ state: 'visible' });
    await input.fill(relativePath);
    const row = this.page.locator('.quick-input-list .monaco-list-row', { hasText: relativePath.split('/').pop() }).first();
    await row.waitFor({ state: 'visible' });
    await this.page.keyboard.press('Enter');
    await this.page.locator('.editor-instance .monaco-editor').first().waitFor({ state: 'visible' });
  }

  /** Saves a full-window screenshot to test-results/e2e/<name>.png and returns its path. */
  async screenshot(name: string): Promise<string> {
    mkdirSync(RESULTS_DIR, { recursive: true });
    const path = join(RESULTS_DIR, `${name}.png`);
    await this.page.screenshot({ path });
    return path;
  }

  /** The live processes this session started (code-server, its extension host and what that spawned, Chromium). */
  processes(): ProcessInfo[] {
    return processesOfRun(this.runId);
  }

  /** Where the packaged extension is installed. */
  get extensionsDir(): string {
    return join(this.root, 'extensions');
  }

  /** code-server's log so far (for failure messages). */
  log(): string {
    return this.logLines.join('\n');
  }

  /** Stops Chromium and code-server, waits until every process of the run has exited. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const started = Date.now();
    const bounded = (promise: Promise<unknown>) => Promise.race([promise.catch(() => undefined), new Promise((resolve) => setTimeout(resolve, 10_000))]);
    if (this.browser) await bounded(this.browser.close());
    if (this.browserServer) await bounded(this.browserServer.close());
    if (this.codeServer?.pid && this.codeServer.exitCode === null) {
      try {
        process.kill(-this.codeServer.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    try {
      await stopRun(this.runId);
    } finally {
      this.peakMemoryMiB = Math.round((this.sampler?.stop() ?? 0) / 1024);
      this.timings.teardown = seconds(started);
      this.keepLogs();
      if (this.root) rmSync(this.root, { recursive: true, force: true, maxRetries: 3 });
    }
  }

  /** code-server's output and VS Code's logs (extension host included) outlive the temp folder. */
  private keepLogs(): void {
    const dir = join(RESULTS_DIR, 'logs', this.options.name);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'code-server.log'), this.log() + '\n');
    writeFileSync(join(dir, 'browser-console.log'), this.consoleLines.join('\n') + '\n');
    const vscodeLogs = join(this.root, 'user-data', 'logs');
    if (this.root && existsSync(vscodeLogs)) cpSync(vscodeLogs, join(dir, 'vscode'), { recursive: true });
  }

  /** One line for the test log: where the time went and the memory peak. */
  summary(): string {
    const steps = Object.entries(this.timings)
      .map(([step, s]) => `${step} ${s} s`)
      .join(', ');
    return `[e2e ${this.options.name}] ${steps}; peak memory ${this.peakMemoryMiB} MiB (code-server, Chromium and the test runner, PSS)`;
  }
}

/** Settings split into those read from the user's settings and the machine-scoped ones (MACHINE_SCOPED). */
function splitByScope(settings: Record<string, unknown>): { user: Record<string, unknown>; machine: Record<string, unknown> } {
  const user: Record<string, unknown> = {};
  const machine: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(settings)) (MACHINE_SCOPED.has(key) ? machine : user)[key] = value;
  return { user, machine };
}
