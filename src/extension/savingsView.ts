/**
 * "Relay: Show Savings": persisted totals per day and per model, and per policy (the
 * relay mode each answer ran in), resettable. Money is what the answers cost; a saving is
 * only claimed where it happened, and a negative one is shown as what it is, a loss.
 */
import * as vscode from 'vscode';
import { showError, showWarning } from './notifications';
import {
  addTotals,
  allSlmOnly,
  allUnpriced,
  emptyTotals,
  roundUsd,
  slmOnlyAnswersText,
  summariseTotals,
  totalsByPolicy,
  UNKNOWN_POLICY,
  type TotalsEntry,
  type TotalsFile,
  type TotalsStore,
} from '../core/relay/totalsStore';
import { savingPhrase } from './moneyText';
import { formatUsd } from './statusBar';
import { watchTotalsFile } from './totalsFileWatcher';
import { fileErrorInWords } from '../core/fileErrors';
import { formatPercent } from '../shared/percent';

/** The open panel, the totals it shows, and what re-renders it when they change (follow). */
interface OpenView {
  panel: vscode.WebviewPanel;
  totals: TotalsStore;
  following: vscode.Disposable[];
}

let open: OpenView | undefined;
/** Renders begun: a read that ends after a later one began is dropped, never shown over the newer totals. */
let rendersBegun = 0;

/** The panel's own command, the only one its links may run; also "Relay: Reset Savings" in the palette. It asks first. */
export const RESET_COMMAND = 'relay.resetSavings';

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
const usd = (value: unknown): string => text(typeof value === 'number' ? formatUsd(roundUsd(value)) : value);
const share = (llmTokens: unknown, tokens: unknown): string =>
  typeof llmTokens === 'number' && typeof tokens === 'number' ? text(formatPercent(tokens ? llmTokens / tokens : 0)) : '?';
/** A saving cell: "$0.0052", or "cost $0.0040 more" where the relay cost more than the LLM alone (never "-$0.004"). */
const saving = (value: unknown): string => {
  const sum = typeof value === 'number' ? roundUsd(value) : value;
  return text(typeof sum === 'number' && sum < 0 ? `cost ${formatUsd(-sum)} more` : typeof sum === 'number' ? formatUsd(sum) : sum);
};
/** Answers none of which had a known price: their money is unknown, not $0. */
const UNKNOWN = 'unknown';
/** The LLM-only and saving cells of answers the small model wrote alone: there was no large model to compare with. */
const NOT_APPLICABLE = 'not applicable (small model alone)';
/** A relay cost some of whose answers' LLM usage was counted locally (the provider reported none) or capped: an estimate. */
const cost = (entry: TotalsEntry): string => usd(entry.costUsd) + (entry.usageEstimatedAnswers > 0 ? ' (est.)' : '');

/** The cells of one totals entry, after its key cells. */
function entryCells(entry: TotalsEntry): string[] {
  const tokens = entry.slmTokens + entry.llmTokens;
  return [
    text(entry.answers),
    text(tokens),
    share(entry.llmTokens, tokens),
    text(entry.calls),
    ...(allUnpriced(entry)
      ? [UNKNOWN, UNKNOWN, UNKNOWN]
      : allSlmOnly(entry)
        ? [cost(entry), NOT_APPLICABLE, NOT_APPLICABLE]
        : [cost(entry), usd(entry.llmOnlyCostUsd), saving(entry.savedUsd)]),
    text(entry.unpricedAnswers),
  ];
}

const row = (cells: string[]): string => `<tr>${cells.map((cell) => `<td>${cell}</td>`).join('')}</tr>`;
const ENTRY_HEADERS =
  '<th>Answers</th><th>Tokens</th><th>LLM share</th><th>Calls</th><th>Relay cost</th><th>LLM-only (est.)</th><th>Saved (est.)</th><th>Unpriced</th>';

/** How a policy is named in the table. */
function policyLabel(policy: string): string {
  return policy === UNKNOWN_POLICY ? 'unknown (recorded before policies were kept)' : policy;
}

/** The per-policy table's rows: all days first (one row per policy, by cost), then each day. */
function policyRows(file: TotalsFile): string[] {
  const byDay = totalsByPolicy(file);
  const allDays: Record<string, TotalsEntry> = {};
  for (const policies of Object.values(byDay)) {
    for (const [policy, entry] of Object.entries(policies)) allDays[policy] = addTotals(allDays[policy] ?? emptyTotals(), entry);
  }
  const rows = Object.entries(allDays)
    .sort(([, a], [, b]) => b.costUsd - a.costUsd)
    .map(([policy, entry]) => row([text('all days'), text(policyLabel(policy)), ...entryCells(entry)]));
  for (const day of Object.keys(byDay).sort().reverse()) {
    for (const [policy, entry] of Object.entries(byDay[day]).sort(([a], [b]) => a.localeCompare(b)))
      rows.push(row([text(day), text(policyLabel(policy)), ...entryCells(entry)]));
  }
  return rows;
}

/** The page for the totals `file` and their sum `all`; `keptAside`: copies of damaged totals files recording kept aside (TotalsStore.keptAside). */
export function savingsHtml(file: TotalsFile, all: TotalsEntry, keptAside: string[] = []): string {
  const rows: string[] = [];
  for (const day of Object.keys(file.days).sort().reverse()) {
    for (const [model, entry] of Object.entries(file.days[day] ?? {})) {
      if (typeof entry !== 'object' || entry === null) continue;
      rows.push(row([text(day), text(model), ...entryCells(entry)]));
    }
  }
  const policies = policyRows(file);
  const allTokens = all.slmTokens + all.llmTokens;
  const allSaving = typeof all.savedUsd === 'number' ? savingPhrase({ savedUsd: roundUsd(all.savedUsd) }, formatUsd) : String(all.savedUsd);
  // Money is said only for the answers with a price; those without one are named, never counted as $0.
  const unpriced = typeof all.unpricedAnswers === 'number' && all.unpricedAnswers > 0 ? all.unpricedAnswers : 0;
  const slmOnly = typeof all.slmOnlyAnswers === 'number' && all.slmOnlyAnswers > 0 ? all.slmOnlyAnswers : 0;
  // Answers no large model wrote are said as such: neither an unknown price nor a saving.
  const alone = slmOnly > 0 ? ` ${text(slmOnlyAnswersText(slmOnly))}.` : '';
  const money = allSlmOnly(all)
    ? "all by the small model alone (no large model, $0): nothing was spent, and there is no large model's answer to compare with."
    : allUnpriced(all)
      ? `the price of their model is unknown, so what they cost and saved is unknown.${alone}`
      : `relay cost ${cost(all)} against an estimated ${usd(all.llmOnlyCostUsd)} for LLM-only answers: <strong>${text(allSaving)}</strong>` +
        (unpriced > 0 ? ` (not counting ${text(unpriced)} ${unpriced === 1 ? 'answer' : 'answers'} whose price is unknown).` : '.') +
        alone +
        (all.usageEstimatedAnswers > 0
          ? ` The LLM usage of ${text(all.usageEstimatedAnswers)} ${all.usageEstimatedAnswers === 1 ? 'answer' : 'answers'} was counted locally (the provider reported none) or capped (it reported more output than one call can write), so the relay cost is partly an estimate.`
          : '');
  const aside =
    keptAside.length > 0
      ? `<p>Damaged totals files were kept aside, as they were, when an answer was recorded: ${keptAside.map((path) => `<code>${text(path)}</code>`).join(', ')}. Relay went on with the totals it could read of them; the rest is only there.</p>`
      : '';
  return pageHtml(`<h2>Relay savings</h2>
<p>All time: ${text(all.answers)} answers, ${share(all.llmTokens, allTokens)} of tokens by the LLM;
${money}</p>
${aside}
<p><small>Estimate: an LLM-only answer is priced as the prompt once as input plus the whole answer as output (the small model's visible thinking left out), at the same model's prices. The relay's cost counts every input token re-sent on each call, with cached-input discounts. A failed, empty, stopped or stalled answer saves nothing (what it cost is a loss), and an answer the LLM wrote alone saves nothing. Answers whose price is unknown are counted apart, and so are answers the small model wrote alone (relay.localOnly or relay.mode slm-only: no large model was called, so they cost $0 and save nothing against one). A relay cost marked (est.) includes answers whose LLM usage was counted locally because the provider reported none, or capped because it reported more output than one call can write.</small></p>
<h3>Per day and model</h3>
<table><thead><tr><th>Day</th><th>Model</th>${ENTRY_HEADERS}</tr></thead>
<tbody>${rows.join('') || '<tr><td colspan="10">No answers yet.</td></tr>'}</tbody></table>
<h3>Per policy</h3>
<p><small>The relay mode each answer ran in (relay.mode, with auto resolved): which policy saves money on your work, and which costs more than the LLM alone.</small></p>
<table><thead><tr><th>Day</th><th>Policy</th>${ENTRY_HEADERS}</tr></thead>
<tbody>${policies.join('') || '<tr><td colspan="10">No answers yet.</td></tr>'}</tbody></table>
<p><a href="command:${RESET_COMMAND}">Reset totals</a></p>`);
}

/** The panel's document around `body`: its language and title, a policy that lets no script in, the theme's colours. */
function pageHtml(body: string): string {
  return `<!DOCTYPE html><html lang="en"><head><meta charset="UTF-8"><title>Relay savings</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<style>body{font-family:var(--vscode-font-family);color:var(--vscode-foreground)}table{border-collapse:collapse}
td,th{border:1px solid var(--vscode-panel-border);padding:4px 8px;text-align:right}td:nth-child(2),th:nth-child(2),td:first-child{text-align:left}
a{color:var(--vscode-textLink-foreground)}</style></head><body>
${body}</body></html>`;
}

/** The page of `totals` as the file holds them now; throws (naming the file and what to do) where it cannot be read. */
async function pageOf(totals: TotalsStore): Promise<string> {
  const file = await totals.read();
  return savingsHtml(file, summariseTotals(file), await totals.keptAside());
}

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export async function showSavings(totals: TotalsStore): Promise<void> {
  const render = ++rendersBegun;
  let page: string;
  try {
    page = await pageOf(totals);
  } catch (error) {
    // A damaged file is left for the user to look at: the message names it and what to do.
    void showError(`Relay: ${messageOf(error)}`);
    return;
  }
  const view = openView(totals);
  if (render === rendersBegun) view.panel.webview.html = page;
  view.panel.reveal();
}

/**
 * Reads the totals again into the open panel: they changed, or it is shown again. A file
 * that cannot be read is said in the panel, not in a notification at each change.
 */
async function refresh(): Promise<void> {
  if (!open) return;
  const { totals } = open;
  const render = ++rendersBegun;
  const page = await pageOf(totals).catch((error: unknown) => pageHtml(`<h2>Relay savings</h2>\n<p>${text(messageOf(error))}</p>`));
  if (render === rendersBegun && open?.totals === totals) open.panel.webview.html = page;
}

/** The panel, made if none is open, following `totals`. */
function openView(totals: TotalsStore): OpenView {
  if (open?.totals === totals) return open;
  if (open) {
    for (const disposable of open.following) disposable.dispose();
    open.totals = totals;
  } else {
    const panel = vscode.window.createWebviewPanel('relay.savings', 'Relay Savings', vscode.ViewColumn.Active, SAVINGS_PANEL_OPTIONS);
    const view: OpenView = (open = { panel, totals, following: [] });
    panel.onDidDispose(() => {
      for (const disposable of view.following) disposable.dispose();
      if (open === view) open = undefined;
    });
  }
  open.following = follow(open.panel, totals);
  return open;
}

/**
 * What re-renders the panel: this window's records and resets; the file written or removed
 * by another window or the CLI (VS Code watches it, outside the workspace too); and the
 * panel shown again, for a change the watcher missed (a network drive).
 */
function follow(panel: vscode.WebviewPanel, totals: TotalsStore): vscode.Disposable[] {
  const changed = (): void => void refresh();
  const watcher = watchTotalsFile(totals);
  return [
    totals.onDidChange(changed),
    watcher,
    watcher.onDidCreate(changed),
    watcher.onDidChange(changed),
    watcher.onDidDelete(changed),
    panel.onDidChangeViewState(() => {
      if (panel.visible) changed();
    }),
  ];
}

export async function resetSavings(totals: TotalsStore): Promise<void> {
  const choice = await showWarning('Reset all Relay savings totals?', { modal: true }, 'Reset');
  if (choice !== 'Reset') return;
  try {
    // An open panel follows the reset (follow).
    await totals.reset();
  } catch (error) {
    void showError(`Relay: the totals were not reset: ${totals.path} could not be removed (${fileErrorInWords(error)}). Remove it by hand to start over.`);
  }
}
