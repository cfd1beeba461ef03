// A headless Chromium page holding the webview code (media/src) bundled as the webview gets
// it, for tests that need a real DOM: structure of rendered Markdown, DOM identity while
// streaming, the app's handling of host messages. Uses the system Chromium that the e2e
// suite uses (playwright-core never downloads a browser); where there is none, the tests
// that need it skip and say how to get it.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, afterEach, before, beforeEach } from 'node:test';
import * as esbuild from 'esbuild';
import { chromium, type Browser, type Page } from 'playwright-core';

const REPO_ROOT = join(__dirname, '..', '..', '..');
export const CHROMIUM = process.env.RELAY_CHROMIUM || '/usr/bin/chromium';
/** Why browser tests skip here, or undefined when they can run. */
export const NO_BROWSER = existsSync(CHROMIUM)
  ? undefined
  : `no Chromium at ${CHROMIUM}: install it (Debian: apt-get install chromium) or set RELAY_CHROMIUM to its path`;

/**
 * RELAY_WEBVIEW_CPU_SLOWDOWN=20 runs the pages' scripts 20 times slower (Chromium's CPU throttling), as on a loaded CI
 * machine, which draws a frame between any two posted messages: a test that assumes otherwise fails at will here (the
 * failed-answer announcement test before d7f7d42 failed 7 runs in 10 at 20, none without).
 */
const CPU_SLOWDOWN = cpuSlowdown(process.env.RELAY_WEBVIEW_CPU_SLOWDOWN);

function cpuSlowdown(value: string | undefined): number {
  if (value === undefined || value === '') return 1;
  const rate = Number(value);
  if (!Number.isFinite(rate) || rate < 1) throw new Error(`RELAY_WEBVIEW_CPU_SLOWDOWN=${value}: give how many times slower, a number of 1 or more (e.g. 20)`);
  return rate;
}

let bundle: Promise<string> | undefined;
/** One browser per test file (a launch costs about a second); each page gets its own context. */
let browser: Promise<Browser> | undefined;

/** media/src bundled with the webview's esbuild options (browser, es2022, IIFE). */
function webviewBundle(): Promise<string> {
  bundle ??= esbuild
    .build({
      entryPoints: [join(__dirname, 'pageEntry.ts')],
      bundle: true,
      write: false,
      platform: 'browser',
      target: 'es2022',
      format: 'iife',
      logLevel: 'warning',
      absWorkingDir: REPO_ROOT,
    })
    .then((result) => result.outputFiles[0].text);
  return bundle;
}

/** A finished answer's stats as the host posts them (turn-done), for the tests that need some. */
export const STATS = {
  slmTokens: 3,
  llmTokens: 1,
  llmTokenShare: 0.25,
  calls: 1,
  costUsd: 0.0001,
  llmOnlyCostUsd: 0.001,
  savedUsd: 0.0009,
  elapsedMs: 200,
  finishReason: 'eos',
};

export interface WebviewPage {
  page: Page;
  /** Messages the app posted to the host through the acquireVsCodeApi() stand-in. */
  posted(): Promise<unknown[]>;
  close(): Promise<void>;
}

/**
 * One page for the tests of a describe block: opened before them, closed (with the browser)
 * after them. Returns the page, for use inside the tests.
 */
export function sharedWebviewPage(view: 'chat' | 'answer' = 'answer'): () => WebviewPage {
  let webview: WebviewPage | undefined;
  before(async () => {
    webview = await openWebviewPage(view);
  });
  after(async () => {
    await webview?.close();
    await closeBrowser();
  });
  return () => {
    if (!webview) throw new Error('internal: the shared webview page is used before it was opened');
    return webview;
  };
}

/**
 * A fresh page for each test of a describe block, with the app started: opened before each
 * test, closed after it, and the browser closed after the block. Returns the page, for use
 * inside the tests.
 */
export function startedWebviewPerTest(view: 'chat' | 'answer' = 'answer'): () => WebviewPage {
  let webview: WebviewPage | undefined;
  beforeEach(async () => {
    webview = await openWebviewPage(view);
    await webview.page.evaluate(() => (window as any).relayWebview.startApp());
  });
  afterEach(async () => {
    await webview?.close();
  });
  after(closeBrowser);
  return () => {
    if (!webview) throw new Error('internal: the webview page is used before it was opened');
    return webview;
  };
}

/**
 * Posts `messages` to the page as the host would, and resolves once the app has handled
 * them: postMessage is async, so a marker message posted after them arrives last.
 */
export async function deliverMessages(page: Page, messages: readonly unknown[]): Promise<void> {
  await page.evaluate(async (messages) => {
    for (const message of messages) window.postMessage(message, '*');
    await new Promise<void>((resolve) => {
      const onMessage = (event: MessageEvent) => {
        if (event.data === 'relay-test-flush') {
          window.removeEventListener('message', onMessage);
          resolve();
        }
      };
      window.addEventListener('message', onMessage);
      window.postMessage('relay-test-flush', '*');
    });
  }, messages);
}

/**
 * Opens a blank page with the webview bundle loaded. `view` also sets body[data-view] and a
 * recording acquireVsCodeApi(), as VS Code's webview host provides, for startApp().
 */
export async function openWebviewPage(view: 'chat' | 'answer' = 'answer'): Promise<WebviewPage> {
  browser ??= chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-dev-shm-usage'],
  });
  const context = await (await browser).newContext();
  try {
    const page = await context.newPage();
    page.setDefaultTimeout(15_000);
    if (CPU_SLOWDOWN > 1) await (await context.newCDPSession(page)).send('Emulation.setCPUThrottlingRate', { rate: CPU_SLOWDOWN });
    const errors: string[] = [];
    page.on('pageerror', (error) => errors.push(error.message));
    await page.setContent(`<!DOCTYPE html><html><head><meta charset="UTF-8"></head><body data-view="${view}"></body></html>`);
    // tsx compiles the tests with keepNames: functions passed to page.evaluate call __name().
    await page.evaluate('window.__name = (fn) => fn');
    await page.evaluate(() => {
      const posted: unknown[] = [];
      let state: unknown;
      (window as any).relayPosted = posted;
      (window as any).acquireVsCodeApi = () => ({
        postMessage: (message: unknown) => posted.push(message),
        getState: () => state,
        setState: (next: unknown) => (state = next),
      });
    });
    await page.addScriptTag({ content: await webviewBundle() });
    return {
      page,
      posted: () => page.evaluate(() => [...(window as any).relayPosted]),
      close: async () => {
        await context.close();
        if (errors.length > 0) throw new Error(`the page threw: ${errors.join(' | ')}`);
      },
    };
  } catch (error) {
    await context.close();
    throw error;
  }
}

/** Closes the browser the pages of this test file shared (call in the last `after`). */
export async function closeBrowser(): Promise<void> {
  const launched = browser;
  browser = undefined;
  if (launched) await (await launched).close();
}
