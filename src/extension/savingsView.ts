/** "Relay: Show Savings": persisted totals per day and per model, resettable. */
import { promises as fs } from 'node:fs';
import * as vscode from 'vscode';
import type { TotalsEntry, TotalsFile, TotalsStore } from '../core/relay/totalsStore';
import { formatUsd, percent } from './statusBar';

let panel: vscode.WebviewPanel | undefined;

/** The panel's own command, the only one its links may run. */
const RESET_COMMAND = 'relay.resetSavings';

/**
 * The panel's options: command links enabled for the reset only, so HTML that got into
 * the page some other way still cannot run any other command.
 */
export const SAVINGS_PANEL_OPTIONS: vscode.WebviewPanelOptions & vscode.WebviewOptions = { enableCommandUris: [RESET_COMMAND] };

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

// totals.json is a file on disk anyone could edit: every value it holds is inserted
// escaped, and a value that is not a number shows as written instead of breaking the view.
const text = (value: unknown): string => escapeHtml(String(value));
const usd = (value: unknown): string => text(typeof value === 'number' ? formatUsd(value) : value);
const share = (llmTokens: unknown, tokens: unknown): string =>
  typeof llmTokens === 'number' && typeof tokens === 'number' ? percent(tokens ? llmTokens / tokens : 0) : '?';

/** The page for the totals `file` and their sum `all`. */
export function savingsHtml(file: TotalsFile, all: TotalsEntry): string {
  const rows: string[] = [];
  for (const day of Object.keys(file.days).sort().reverse()) {
    for (const [model, entry] of Object.entries(file.days[day] ?? {})) {
      if (typeof entry !== 'object' || entry === null) continue;
      const tokens = entry.slmTokens + entry.llmTokens;
      const cells = [text(day), text(model), text(entry.answers), text(tokens), share(entry.llmTokens, tokens), text(entry.calls)];
      cells.push(usd(entry.costUsd), usd(entry.llmOnlyCostUsd), usd(entry.savedUsd), text(entry.unpricedAnswers));
      rows.push(`<tr>${cells.map((cell) => `<td>${cell}</td>`).join('')}</tr>`);
    }
  }
  const allTokens = all.slmTokens + all.llmTokens;
  return `<!DOCTYPE html><html><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{font-family:var(--vscode-font-family);color:var(--vscode-foreground)}table{border-collapse:collapse}
td,th{border:1px solid var(--vscode-panel-border);padding:4px 8px;text-align:right}td:nth-child(2),th:nth-child(2),td:first-child{text-align:left}
a{color:var(--vscode-textLink-foreground)}</style></head><body>
<h2>Relay savings</h2>
<p>All time: ${text(all.answers)} answers, ${share(all.llmTokens, allTokens)} of tokens by the LLM,
relay cost ${usd(all.costUsd)} against an estimated ${usd(all.llmOnlyCostUsd)} for LLM-only answers: <strong>${usd(all.savedUsd)} saved</strong>.</p>
<p><small>Estimate: an LLM-only answer is priced as the prompt once as input plus the whole answer as output, at the same model's prices. The relay's cost counts every input token re-sent on each call, with cached-input discounts. Answers whose price is unknown are counted apart.</small></p>
<table><thead><tr><th>Day</th><th>Model</th><th>Answers</th><th>Tokens</th><th>LLM share</th><th>Calls</th><th>Relay cost</th><th>LLM-only (est.)</th><th>Saved</th><th>Unpriced</th></tr></thead>
<tbody>${rows.join('') || '<tr><td colspan="10">No answers yet.</td></tr>'}</tbody></table>
<p><a href="command:${RESET_COMMAND}">Reset totals</a></p></body></html>`;
}

export async function showSavings(totals: TotalsStore): Promise<void> {
  const file = await totals.read();
  const all = await totals.summary();
  if (!panel) {
    panel = vscode.window.createWebviewPanel('relay.savings', 'Relay Savings', vscode.ViewColumn.Active, SAVINGS_PANEL_OPTIONS);
    panel.onDidDispose(() => (panel = undefined));
  }
  panel.webview.html = savingsHtml(file, all);
  panel.reveal();
}

export async function resetSavings(totals: TotalsStore): Promise<void> {
  const choice = await vscode.window.showWarningMessage('Reset all Relay savings totals?', { modal: true }, 'Reset');
  if (choice !== 'Reset') return;
  await fs.rm(totals.path, { force: true });
  if (panel) await showSavings(totals);
}
