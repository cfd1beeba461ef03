// The foundation's end-to-end scenarios in a real VS Code 1.100 (code-server) with the
// packaged extension installed: what a user sees right after start, in the command
// palette, and in the chat view. One code-server and one browser serve every scenario.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { VsCodeSession } from './vscodeSession';
import { ScenarioTimer } from './scenarioTimer';

const RELAY_COMMANDS = [
  'Relay: Explain Selection',
  'Relay: Solve Problem',
  'Relay: Try the Demo',
  'Relay: Open Chat',
  'Relay: Set API Key',
  'Relay: Select Model',
  'Relay: Show Savings',
  'Relay: Stop',
];

describe('Relay in VS Code (code-server)', () => {
  let vscode: VsCodeSession;
  const scenarios = new ScenarioTimer('workbench', () => vscode);
  const timed = scenarios.timed.bind(scenarios);

  before(async () => {
    vscode = await VsCodeSession.start({
      name: 'workbench',
      workspaceFiles: { 'problem.md': 'Find x such that 2x + 3 = 11.\n' },
    });
  });

  after(async () => {
    await vscode?.close();
    if (vscode) console.log(vscode.summary());
    const line = scenarios.summary();
    if (line) console.log(line);
  });

  it(
    'shows the Relay status bar item after start, without any command run',
    timed('statusBar', async () => {
      const item = vscode.statusBarItem(/^\s*Relay/).first();
      await item.waitFor({ state: 'visible' }).catch(async (error: Error) => {
        throw new Error(`No status bar item starting with "Relay"; the status bar shows: ${(await vscode.statusBarTexts()).join(' | ')}`, { cause: error });
      });
      assert.match(await item.innerText(), /^\s*Relay\b/);
      await vscode.screenshot('status-bar');
    }),
  );

  it(
    'lists every Relay command in the command palette',
    timed('palette', async () => {
      // Explain Selection is only offered with an editor open, as a user would have.
      await vscode.openFile('problem.md');
      const listed = await vscode.paletteEntries('Relay:');
      await vscode.screenshot('command-palette');
      await vscode.closePalette();
      for (const title of RELAY_COMMANDS) {
        assert.ok(listed.includes(title), `"${title}" missing from the palette, which listed: ${listed.join(' | ')}`);
      }
    }),
  );

  it(
    "the editor's context menu on a selection names Relay: its submenu offers Explain Selection and Solve Problem",
    timed('contextMenu', async () => {
      await vscode.openFile('problem.md');
      const lines = vscode.page.locator('.editor-instance .monaco-editor .view-lines');
      await lines.click();
      await vscode.page.keyboard.press('ControlOrMeta+A');
      await lines.click({ button: 'right' });
      const menu = vscode.page.locator('.monaco-menu-container');
      const relay = menu.locator('.action-item', { hasText: /^\s*Relay\s*$/ });
      await relay.waitFor({ state: 'visible' });
      assert.equal(
        await menu.locator('.action-label', { hasText: /^Explain Selection$/ }).count(),
        0,
        'no bare "Explain Selection" beside the editor\'s own entries',
      );
      await relay.hover();
      const submenu = vscode.page.locator('.monaco-submenu');
      for (const title of ['Explain Selection', 'Solve Problem']) {
        await submenu.locator('.action-label', { hasText: title }).waitFor({ state: 'visible' });
      }
      await vscode.screenshot('editor-context-menu');
      await vscode.page.keyboard.press('Escape');
      await vscode.page.keyboard.press('Escape');
      await menu.waitFor({ state: 'hidden' });
    }),
  );

  it(
    '"Relay: Open Chat" shows the chat view with its input box',
    timed('openChat', async () => {
      await vscode.runCommand('Relay: Open Chat');
      const input = vscode.chatFrame().locator('#chat-input');
      await input.waitFor({ state: 'visible' });
      assert.equal(await input.evaluate((e) => e.tagName), 'TEXTAREA');
      await input.fill('What is relay decoding?');
      assert.equal(await input.inputValue(), 'What is relay decoding?', 'the input box takes typed text');
      await vscode.screenshot('chat-view');
    }),
  );

  it(
    'the chat view follows a switch to a light theme',
    timed('lightTheme', async () => {
      await vscode.updateSettings({ 'workbench.colorTheme': 'Default Light Modern' });
      await vscode.page.locator('.monaco-workbench.vs').waitFor({ state: 'attached' });
      await vscode.runCommand('Relay: Open Chat');
      // VS Code marks a webview's body with the theme kind; the chat's styles key off it.
      await vscode.chatFrame().locator('body.vscode-light').waitFor({ state: 'attached' });
      await vscode.chatFrame().locator('#chat-input').waitFor({ state: 'visible' });
      await vscode.screenshot('chat-view-light');
    }),
  );
});
