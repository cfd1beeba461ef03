// "Relay: Try the Demo" in a real VS Code 1.100 (code-server) with the packaged extension,
// in a fresh profile: no relay.* setting, no key, no model downloaded. From the command
// palette the demo answers a held-out question with the embedded pair (the demo SLM and
// the onnx-local demo LLM, each in a child process of the extension host), the LLM's
// characters highlighted, the stats strip and the status bar filled; then "Compare with
// the small model alone", "Ask another" and "Set up a real model". Screenshots in a dark
// and a light theme.
//
// No request leaves the machine: every Node process of code-server (its extension host and
// the model processes included) runs with netGuard.ts preloaded, which logs each socket
// connect, DNS lookup and UDP send with its destination; the scenario fails on any
// destination off this machine, and on any request of the browser to another origin than
// code-server's. The first test shows the guard catches such a connection.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as esbuild from 'esbuild';
import type { FrameLocator, Locator } from 'playwright-core';
import { HELD_OUT_QUESTIONS } from '../../src/extension/demo/heldOutQuestions';
import type { NetRecord } from './netGuard';
import { REPO_ROOT } from './packageExtension';
import { ScenarioTimer } from './scenarioTimer';
import { RESULTS_DIR, VsCodeSession } from './vscodeSession';

const GUARD = join(REPO_ROOT, 'out', 'e2e', 'netGuard.cjs');
const NET_LOG = join(RESULTS_DIR, 'demo-network.jsonl');
/** What `npm run demo` prints for its question (greedy, so every run): 33*4=1[3]2. 132+29=1[6]1. A: 161 */
const DEMO_QUESTION = '33*4+29=?';
const DEMO_ANSWER = '33*4=132. 132+29=161. A: 161';
const DEMO_LLM_CHARACTERS = ['3', '6'];
const SLM_ALONE_ANSWER = '33*4=132. 132+29=151. A: 151';

const squash = (text: string) => text.replace(/\s+/g, ' ').trim();

/** netGuard.ts as the CommonJS file NODE_OPTIONS --require loads. */
async function buildGuard(): Promise<void> {
  const result = await esbuild.build({
    entryPoints: [join(REPO_ROOT, 'test', 'e2e', 'netGuard.ts')],
    outfile: GUARD,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'warning',
  });
  assert.deepEqual(result.errors, []);
}

function readNetLog(path: string): NetRecord[] {
  if (!existsSync(path)) return [];
  return readFileSync(path, 'utf8')
    .split('\n')
    .filter((line) => line.trim())
    .map((line) => JSON.parse(line) as NetRecord);
}

/** Each pid's ancestors, from the guard's process records (pid -> ppid). */
function descendantsOf(records: NetRecord[], root: (record: NetRecord) => boolean): Set<number> {
  const parent = new Map(records.filter((r) => r.event === 'process').map((r) => [r.pid, r.ppid]));
  const roots = new Set(records.filter((r) => r.event === 'process' && root(r)).map((r) => r.pid));
  const found = new Set<number>();
  for (const pid of parent.keys()) {
    for (let at: number | undefined = pid, hops = 0; at !== undefined && hops < 20; at = parent.get(at), hops++) {
      if (roots.has(at)) {
        found.add(pid);
        break;
      }
    }
  }
  return found;
}

const describeRecord = (r: NetRecord) =>
  `${r.event} ${r.host ?? r.path ?? ''}${r.port ? `:${r.port}` : ''} from pid ${r.pid}${r.stack ? ` at ${r.stack}` : ''}`;

describe('"Relay: Try the Demo" in a fresh VS Code (code-server), offline', () => {
  let vscode: VsCodeSession;
  let settingsAtStart = '';
  const scenarios = new ScenarioTimer('demo', () => vscode);
  const timed = scenarios.timed.bind(scenarios);

  before(async () => {
    await buildGuard();
    mkdirSync(RESULTS_DIR, { recursive: true });
    rmSync(NET_LOG, { force: true });
    vscode = await VsCodeSession.start({
      name: 'demo',
      // The README's first screenshot: a window of the proportions a README shows well.
      viewport: { width: 1280, height: 720 },
      // No relay.* setting and no key: a first-time user.
      env: {
        NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ''} --require ${GUARD}`.trim(),
        RELAY_E2E_NET_LOG: NET_LOG,
      },
    });
    settingsAtStart = settingsText();
  });

  after(async () => {
    await vscode?.close();
    if (vscode) console.log(vscode.summary());
    const line = scenarios.summary();
    if (line) console.log(line);
  });

  /** The user's and the machine's settings, as one text: the demo changes neither. */
  function settingsText(): string {
    return [vscode.userSettingsPath, vscode.machineSettingsPath].map((path) => readFileSync(path, 'utf8')).join('\n');
  }

  const answerView = (): FrameLocator => vscode.webviewFrame('webviewPanel');

  /** Screenshots in the dark theme, then the light one (the webview follows), then back. */
  async function screenshotBothThemes(name: string, frame: FrameLocator): Promise<void> {
    await vscode.screenshot(`${name}-dark`);
    await vscode.useThemeKind('light');
    await frame.locator('body.vscode-light').waitFor({ state: 'attached' });
    await vscode.screenshot(`${name}-light`);
    await vscode.useThemeKind('dark');
    await frame.locator('body.vscode-dark').waitFor({ state: 'attached' });
  }

  async function statsOf(turn: Locator): Promise<Record<string, string>> {
    const entries = await turn
      .locator('.relay-stats .relay-stat')
      .evaluateAll((items) => items.map((item) => [item.querySelector('dt')?.textContent ?? '', item.querySelector('dd')?.textContent ?? '']));
    return Object.fromEntries(entries);
  }

  /**
   * Fails on any attempt, logged by the guard, to reach a destination off this machine, and
   * on any browser request to another origin than code-server's (a webview's own resources
   * are served inside the browser by its service worker, from the extension's folder).
   */
  function assertNothingLeftTheMachine(): NetRecord[] {
    writeFileSync(join(RESULTS_DIR, 'demo-browser-requests.txt'), vscode.requests.join('\n') + '\n');
    const records = readNetLog(NET_LOG);
    const outbound = records.filter((r) => r.event !== 'process' && !r.local);
    assert.deepEqual(outbound.map(describeRecord), [], 'no process of code-server tried to reach another machine');
    const origin = new URL(vscode.url).origin;
    // A webview loads its files from https://<authority>.vscode-resource.vscode-cdn.net/<path>: its service
    // worker answers those with the file code-server serves (vscode-remote-resource), never from that host.
    const webviewFile = (url: URL) =>
      url.hostname.endsWith('.vscode-resource.vscode-cdn.net') &&
      url.pathname.startsWith(`${vscode.extensionsDir}/`) &&
      vscode.answeredByServiceWorker.has(url.href);
    const foreign = vscode.requests.filter((url) => /^(https?|wss?):/.test(url) && new URL(url).origin !== origin && !webviewFile(new URL(url)));
    assert.deepEqual(foreign, [], `the browser requested nothing but ${origin} (and the extension's webview files through the service worker)`);
    return records;
  }

  it(
    'the guard logs a connection to another machine (so the check below can fail)',
    timed('guard', async () => {
      const log = join(RESULTS_DIR, 'demo-network-selftest.jsonl');
      rmSync(log, { force: true });
      // Each socket is destroyed before its connect runs (net connects on the next tick; the
      // lookup of a name fails at once), so nothing is sent: only the attempts are logged.
      const script = [
        "const net = require('net'), tls = require('tls'), http = require('http');",
        "net.connect(9, '192.0.2.1').on('error', () => {}).destroy();",
        "tls.connect({ host: '192.0.2.2', port: 443 }).on('error', () => {}).destroy();",
        "http.get({ host: 'relay-e2e.invalid', port: 80, lookup: (h, o, cb) => cb(new Error('no lookup in a test')) }).on('error', () => {});",
        "net.connect(9, '127.0.0.1').on('error', () => {}).destroy();",
      ].join('\n');
      const run = spawnSync(process.execPath, ['-e', script], {
        env: { ...process.env, NODE_OPTIONS: `--require ${GUARD}`, RELAY_E2E_NET_LOG: log },
        encoding: 'utf8',
        timeout: 30_000,
      });
      assert.equal(run.status, 0, run.stderr);
      const records = readNetLog(log);
      assert.deepEqual(
        records.filter((r) => r.event === 'connect').map((r) => [r.host, r.port, r.local]),
        [
          ['192.0.2.1', 9, false],
          ['192.0.2.2', 443, false],
          ['relay-e2e.invalid', 80, false],
          ['127.0.0.1', 9, true],
        ],
      );
      assert.ok(
        records.some((r) => r.event === 'process' && r.pid === run.pid),
        'the process registered',
      );
    }),
  );

  it(
    'a first-time user is offered the demo first',
    timed('firstRun', async () => {
      const toast = vscode.page.locator('.notifications-toasts .notification-toast', { hasText: 'Try the demo (no account, no network)' });
      await toast.waitFor({ state: 'visible', timeout: 60_000 });
      const buttons = (await toast.locator('.monaco-button').allInnerTexts()).map((t) => t.trim()).filter(Boolean);
      assert.deepEqual(buttons.slice(0, 3), ['Try the Demo', 'Open Set-up Walkthrough', 'Later']);
      await toast.locator('.monaco-button', { hasText: 'Later' }).click();
      await toast.waitFor({ state: 'hidden' });
    }),
  );

  it(
    '"Relay: Try the Demo" from the palette: the LLM\'s characters highlighted, the stats, the status bar; nothing leaves the machine',
    timed('demo', async () => {
      // The empty workspace's explorer would take a quarter of the screenshots.
      await vscode.runCommand('View: Close Primary Side Bar');
      await vscode.runCommand('Relay: Try the Demo');
      const turn = answerView().locator('article.relay-demo-relay').first();
      await turn.locator('.relay-demo-result').waitFor({ state: 'visible', timeout: 60_000 });

      assert.equal(await answerView().locator('article.relay-turn-user .relay-body').first().innerText(), DEMO_QUESTION);
      assert.equal(squash(await turn.locator('.relay-body').innerText()), DEMO_ANSWER, 'the answer `npm run demo` prints');
      const marks = turn.locator('.relay-body .relay-llm');
      assert.deepEqual(await marks.allInnerTexts(), DEMO_LLM_CHARACTERS, "the LLM's characters, and only they, are highlighted");
      assert.match((await marks.first().getAttribute('title')) ?? '', /^Written by relay-demo-llm \(local, priced as gpt-4o\) at this machine · 1 token/);
      assert.equal(await turn.locator('.relay-demo-result.relay-demo-correct').innerText(), '161: correct (33*4+29 = 161)');
      assert.match(
        await turn.locator('.relay-demo-note').innerText(),
        /^A toy pair on one task \(a\*b\+c=\?\).*priced as if it were gpt-4o, so the costs are estimates\. The paper's table, in miniature$/,
      );
      assert.equal(await answerView().locator('.relay-banner').isVisible(), false, 'no set-up warning over the demo');

      const stats = await statsOf(turn);
      assert.equal(stats.SLM, '54 tok');
      assert.equal(stats.LLM, '2 tok · 3.6%');
      assert.equal(stats.Calls, '2');
      assert.match(stats.Cost, /^\$0\.000\d+$/);
      assert.match(stats.Saved, /^\$0\.000\d+ est\. \(the local LLM priced as gpt-4o, @pydantic\/genai-prices of \d{4}-\d{2}-\d{2}\)$/);

      const status = vscode.statusBarItem('demo 3.6% LLM');
      await status.waitFor({ state: 'visible' }).catch(async (error: Error) => {
        throw new Error(`the status bar never showed "demo 3.6% LLM"; it shows: ${(await vscode.statusBarTexts()).join(' | ')}`, { cause: error });
      });
      assert.match(await status.innerText(), /\$0\.000\d saved \(est\.\)/);

      // Both models ran in child processes of the extension host, not in it.
      const records = assertNothingLeftTheMachine();
      const extensionHost = records.filter((r) => r.event === 'process' && r.thread === undefined && /--type=extensionHost/.test(r.argv ?? ''));
      assert.equal(
        extensionHost.length,
        1,
        `the guard ran in the extension host; processes: ${records
          .filter((r) => r.event === 'process')
          .map((r) => r.argv)
          .join(' | ')}`,
      );
      // The demo lets go of its LLM's process once it has answered (its SLM is the user's default, kept):
      // the processes that ran are the ones the guard saw start.
      const workers = [
        ...new Set(records.filter((r) => r.event === 'process' && r.thread === undefined && /slmWorker/.test(r.argv ?? '')).map((r) => r.pid)),
      ].map((pid) => ({ pid }));
      assert.equal(
        workers.length,
        2,
        `two model processes ran (SLM and LLM): ${records
          .filter((r) => r.event === 'process')
          .map((r) => r.argv)
          .join(' | ')}`,
      );
      assert.equal(
        vscode.processes().filter((p) => p.command.includes('slmWorker')).length,
        1,
        "the demo's LLM process ended with the answer; the SLM, the user's own default, stays",
      );
      const underHost = descendantsOf(records, (r) => r.pid === extensionHost[0].pid);
      for (const worker of workers) assert.ok(underHost.has(worker.pid), `model process ${worker.pid} is a child of the extension host and ran with the guard`);
      const fromModels = records.filter((r) => r.event !== 'process' && workers.some((w) => w.pid === r.pid));
      assert.deepEqual(fromModels.map(describeRecord), [], 'the model processes opened no connection at all');

      assert.equal(settingsText(), settingsAtStart, 'no setting changed');
      await screenshotBothThemes('demo-answer', answerView());
    }),
  );

  it(
    '"Compare with the small model alone": the same question with no help, side by side',
    timed('compare', async () => {
      await answerView().locator('article.relay-demo-relay button', { hasText: 'Compare with the small model alone' }).first().click();
      const pair = answerView().locator('.relay-demo-pair');
      const alone = pair.locator('article.relay-demo-slm-only');
      await alone.locator('.relay-demo-result').waitFor({ state: 'visible', timeout: 60_000 });
      assert.deepEqual((await pair.locator('> article .relay-who').allInnerTexts()).map(squash), [
        'Relay demo: small model + large model',
        'Small model alone',
      ]);
      assert.equal(squash(await alone.locator('.relay-body').innerText()), SLM_ALONE_ANSWER);
      assert.equal(await alone.locator('.relay-llm').count(), 0);
      assert.equal(await alone.locator('.relay-demo-result.relay-demo-wrong').innerText(), '151: wrong (33*4+29 = 161)');
      assert.equal((await statsOf(alone)).Calls, '0');
      assert.equal(await pair.locator('button', { hasText: 'Compare with the small model alone' }).count(), 0, 'compared once');
      await vscode.statusBarItem('demo 3.6% LLM').waitFor({ state: 'visible' });
      assertNothingLeftTheMachine();
      await screenshotBothThemes('demo-compare', answerView());
    }),
  );

  it(
    '"Ask another": a held-out question is offered; the user\'s own a*b+c=? is answered the same way',
    timed('askAnother', async () => {
      await answerView().locator('article.relay-demo-relay button', { hasText: 'Ask another' }).first().click();
      const widget = vscode.page.locator('.quick-input-widget');
      await widget.locator('.quick-input-title', { hasText: 'Relay demo: another question' }).waitFor({ state: 'visible' });
      const offered = await widget.locator('input.input').inputValue();
      assert.ok(HELD_OUT_QUESTIONS.includes(offered) && offered !== DEMO_QUESTION, `a fresh held-out question is offered, got "${offered}"`);
      // A question of another task is refused with what the models know.
      await widget.locator('input.input').fill('What is 2+2?');
      await widget.locator('.quick-input-message', { hasText: 'one task' }).waitFor({ state: 'visible' });
      await vscode.answerQuickInput('Relay demo: another question', '47*6+28=?');
      const turns = answerView().locator('article.relay-demo-relay');
      await turns.nth(1).locator('.relay-demo-result').waitFor({ state: 'visible', timeout: 60_000 });
      assert.deepEqual((await answerView().locator('article.relay-turn-user .relay-body').allInnerTexts()).map(squash), [DEMO_QUESTION, '47*6+28=?']);
      assert.match(await turns.nth(1).locator('.relay-demo-result').innerText(), /^(\d+: (correct|wrong)|No final answer) \(47\*6\+28 = 310\)$/);
      assert.equal(await turns.nth(1).locator('.relay-stats').count(), 1);
      assertNothingLeftTheMachine();
    }),
  );

  it(
    'the demo line\'s link opens the README of the installed extension at "The paper\'s table, in miniature"',
    timed('paperTable', async () => {
      await answerView().locator('article.relay-demo-relay .relay-demo-note button', { hasText: "The paper's table, in miniature" }).first().click();
      const editor = vscode.page.locator('.editor-instance .monaco-editor .view-lines');
      await editor.filter({ hasText: "## The paper's table, in miniature" }).first().waitFor({ state: 'visible', timeout: 30_000 });
      await vscode.page
        .locator('.tab', { hasText: /readme\.md/i })
        .first()
        .waitFor({ state: 'visible' });
      await vscode.screenshot('demo-paper-table');
      assertNothingLeftTheMachine();
    }),
  );

  it(
    '"Set up a real model" opens the walkthrough, whose first step is the demo; still no setting changed and nothing sent',
    timed('setup', async () => {
      await answerView().locator('article.relay-demo-relay button', { hasText: 'Set up a real model' }).last().click();
      const walkthrough = vscode.page.locator('.gettingStartedContainer');
      await walkthrough.locator('.step-title', { hasText: 'Try the demo: no account, no network' }).first().waitFor({ state: 'visible', timeout: 30_000 });
      assert.ok((await walkthrough.locator('.step-title', { hasText: 'Choose the large model (LLM)' }).count()) > 0);
      await vscode.screenshot('demo-walkthrough');
      assert.equal(settingsText(), settingsAtStart, 'no setting changed by the demo');
      assertNothingLeftTheMachine();
    }),
  );
});
