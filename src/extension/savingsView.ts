/** "Relay: Show Savings": persisted totals per day and per model, resettable. */
import { promises as fs } from 'node:fs';
import * as vscode from 'vscode';
import type { TotalsStore } from '../core/relay/totalsStore';
import { formatUsd, percent } from './statusBar';

let panel: vscode.WebviewPanel | undefined;

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c] ?? c);
}

export async function showSavings(totals: TotalsStore): Promise<void> {
  const file = await totals.read();
  const rows: string[] = [];
  for (const day of Object.keys(file.days).sort().reverse()) {
    for (const [model, entry] of Object.entries(file.days[day])) {
      const tokens = entry.slmTokens + entry.llmTokens;
      rows.push(
        `<tr><td>${escapeHtml(day)}</td><td>${escapeHtml(model)}</td><td>${entry.answers}</td><td>${tokens}</td>` +
          `<td>${percent(tokens ? entry.llmTokens / tokens : 0)}</td><td>${entry.calls}</td>` +
          `<td>${formatUsd(entry.costUsd)}</td><td>${formatUsd(entry.llmOnlyCostUsd)}</td><td>${formatUsd(entry.savedUsd)}</td>` +
          `<td>${entry.unpricedAnswers}</td></tr>`,
      );
    }
  }
  const all = await totals.summary();
  panel ??= vscode.window.createWebviewPanel('relay.savings', 'Relay Savings', vscode.ViewColumn.Active, { enableCommandUris: true });
  panel.onDidDispose(() => (panel = undefined));
  panel.webview.html = `<!DOCTYPE html><html><head><meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{font-family:var(--vscode-font-family);color:var(--vscode-foreground)}table{border-collapse:collapse}
td,th{border:1px solid var(--vscode-panel-border);padding:4px 8px;text-align:right}td:nth-child(2),th:nth-child(2),td:first-child{text-align:left}
a{color:var(--vscode-textLink-foreground)}</style></head><body>
<h2>Relay savings</h2>
<p>All time: ${all.answers} answers, ${percent(all.slmTokens + all.llmTokens ? all.llmTokens / (all.slmTokens + all.llmTokens) : 0)} of tokens by the LLM,
relay cost ${formatUsd(all.costUsd)} against an estimated ${formatUsd(all.llmOnlyCostUsd)} for LLM-only answers: <strong>${formatUsd(all.savedUsd)} saved</strong>.</p>
<p><small>Estimate: an LLM-only answer is priced as the prompt once as input plus the whole answer as output, at the same model's prices. The relay's cost counts every input token re-sent on each call, with cached-input discounts. Answers whose price is unknown are counted apart.</small></p>
<table><thead><tr><th>Day</th><th>Model</th><th>Answers</th><th>Tokens</th><th>LLM share</th><th>Calls</th><th>Relay cost</th><th>LLM-only (est.)</th><th>Saved</th><th>Unpriced</th></tr></thead>
<tbody>${rows.join('') || '<tr><td colspan="10">No answers yet.</td></tr>'}</tbody></table>
<p><a href="command:relay.resetSavings">Reset totals</a></p></body></html>`;
  panel.reveal();
}

export async function resetSavings(totals: TotalsStore): Promise<void> {
  const choice = await vscode.window.showWarningMessage('Reset all Relay savings totals?', { modal: true }, 'Reset');
  if (choice !== 'Reset') return;
  await fs.rm(totals.path, { force: true });
  if (panel) await showSavings(totals);
}
