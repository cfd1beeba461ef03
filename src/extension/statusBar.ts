/** The status bar indicator: the LLM's share of tokens and the money saved. */
import * as vscode from 'vscode';
import type { AnswerStats } from '../core/relay/events';

export class RelayStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private session = { slmTokens: 0, llmTokens: 0, savedUsd: 0, unpriced: 0 };
  private last: AnswerStats | undefined;
  private warning: string | undefined;
  /** The last demo answer, shown until a real one comes; never added to the session. */
  private demo: { stats: AnswerStats; priceModel: string } | undefined;

  constructor() {
    this.item = vscode.window.createStatusBarItem('relay.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Relay';
    this.item.command = 'relay.showSavings';
    this.render();
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }

  setBusy(busy: boolean): void {
    if (busy) {
      this.item.text = '$(loading~spin) Relay: answering…';
      this.item.tooltip = 'Relay is writing an answer. Run "Relay: Stop" to stop it.';
      this.item.backgroundColor = undefined;
    } else this.render();
  }

  setWarning(warning: string | undefined): void {
    this.warning = warning;
    this.render();
  }

  /** A demo answer ("Relay: Try the Demo"): shown as such, its estimate kept out of the session's savings. */
  recordDemoAnswer(stats: AnswerStats, priceModel: string): void {
    this.demo = { stats, priceModel };
    this.render();
  }

  recordAnswer(stats: AnswerStats): void {
    this.demo = undefined;
    this.last = stats;
    this.session.slmTokens += stats.slmTokens;
    this.session.llmTokens += stats.llmTokens;
    if (stats.savedUsd === null) this.session.unpriced += 1;
    else this.session.savedUsd += stats.savedUsd;
    this.render();
  }

  private render(): void {
    if (this.demo) {
      // The demo needs no set-up, so it is shown even while set-up is missing (the tooltip says what is).
      const { stats, priceModel } = this.demo;
      this.item.backgroundColor = undefined;
      this.item.text = `$(beaker) Relay demo ${percent(stats.llmTokenShare)} LLM · ${formatUsd(stats.savedUsd)} saved (est.)`;
      this.item.tooltip = [
        `Demo answer: ${stats.llmTokens} of ${stats.slmTokens + stats.llmTokens} tokens by the LLM (${percent(stats.llmTokenShare)}), ${stats.calls} call(s).`,
        `Both demo models ran on this machine; the LLM is priced as if it were ${priceModel}, so the saving is an estimate, not added to your savings.`,
        ...(this.warning ? [`For your own questions: ${this.warning}`] : []),
        'Click to show savings per day and model.',
      ].join('\n');
      return;
    }
    if (this.warning) {
      this.item.text = '$(warning) Relay: set up';
      this.item.tooltip = `${this.warning}\nClick for savings; run "Relay: Select Model" or "Relay: Set API Key" to fix.`;
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
      return;
    }
    this.item.backgroundColor = undefined;
    if (!this.last) {
      this.item.text = '$(pulse) Relay: idle';
      this.item.tooltip = 'Relay decoding: a local small model writes, a large model helps with a few tokens.\nClick to show savings.';
      return;
    }
    const sessionTotal = this.session.slmTokens + this.session.llmTokens;
    const sessionShare = sessionTotal > 0 ? this.session.llmTokens / sessionTotal : 0;
    const saved = this.session.unpriced > 0 && this.session.savedUsd === 0 ? 'saved: unknown price' : `${formatUsd(this.session.savedUsd)} saved`;
    this.item.text = `$(pulse) Relay ${percent(this.last.llmTokenShare)} LLM · ${saved}`;
    this.item.tooltip = [
      `Last answer: ${this.last.llmTokens} of ${this.last.slmTokens + this.last.llmTokens} tokens by the LLM (${percent(this.last.llmTokenShare)}), ${this.last.calls} call(s).`,
      `This session: ${percent(sessionShare)} of ${sessionTotal} tokens by the LLM; ${saved} (estimate against LLM-only answers).`,
      'Click to show savings per day and model.',
    ].join('\n');
  }
}

export function percent(share: number): string {
  return `${(share * 100).toFixed(share < 0.1 ? 1 : 0)}%`;
}

export function formatUsd(value: number | null): string {
  if (value === null) return 'unknown';
  return value !== 0 && Math.abs(value) < 0.01 ? `$${value.toFixed(4)}` : `$${value.toFixed(2)}`;
}
