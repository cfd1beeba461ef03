/**
 * The status bar indicator: the LLM's share of tokens and the money saved, or lost. It
 * never claims a saving that did not happen: a session whose answers cost more than the
 * LLM alone says so, and answers the LLM wrote whole save nothing.
 */
import { stat } from 'node:fs/promises';
import * as vscode from 'vscode';
import type { AnswerStats } from '../core/relay/events';
import { slmWroteAll } from '../core/relay/cost';
import { roundUsd, type TotalsStore } from '../core/relay/totalsStore';
import { modelLoadingText, type ModelLoad } from '../shared/modelLoading';
import { formatPercent } from '../shared/percent';
import { SHOW_ANSWERS_COMMAND } from './answerPanel';
import { DEMO_MODEL_NOTE } from './demo/demoPlan';
import { llmWroteAll, savingPhrase } from './moneyText';
import { watchTotalsFile } from './totalsFileWatcher';
import { WALKTHROUGH_ID } from './walkthrough/firstRun';

/** Relay's extension id (package.json's publisher.name; the unit test checks it): the walkthrough is opened by it. */
const EXTENSION_ID = 'relay-decoding.relay-decoding';

/** A click while set-up is missing: the walkthrough, whose steps fix it (the savings view would be empty). */
export const OPEN_SETUP_WALKTHROUGH: vscode.Command = {
  command: 'workbench.action.openWalkthrough',
  title: 'Set Up Relay',
  arguments: [`${EXTENSION_ID}#${WALKTHROUGH_ID}`, false],
};

/** A click otherwise: the totals per day, model and policy. */
const SHOW_SAVINGS = 'relay.showSavings';

/** Where the answer being written is shown: the answer view, the Relay chat, or @relay in VS Code's Chat. */
export type AnswerPlace = 'answer-view' | 'chat-view' | 'vscode-chat';

/** While an answer runs, a click shows it where it is written (a closed view opens again with it). */
const SHOW_RUNNING: Record<AnswerPlace, { command: string; where: string }> = {
  'answer-view': { command: SHOW_ANSWERS_COMMAND, where: 'in the answer view' },
  'chat-view': { command: 'relay.openChat', where: 'in the Relay chat' },
  'vscode-chat': { command: 'workbench.action.chat.open', where: "for @relay in VS Code's Chat" },
};

/** The place of the answer being written: a view's conversation that is answering, else @relay (which has no conversation of its own). */
export function runningAnswerPlace(views: { answer: { answering: boolean }; chat: { answering: boolean } }): AnswerPlace {
  if (views.answer.answering) return 'answer-view';
  return views.chat.answering ? 'chat-view' : 'vscode-chat';
}

/** What the session's answers add up to (demo answers never count). */
export interface SessionTotals {
  slmTokens: number;
  llmTokens: number;
  /** Sum of savedUsd over the priced answers (negative: the relay cost more than the LLM alone). */
  savedUsd: number;
  /** Answers whose saving is known. */
  priced: number;
  /** Priced answers the LLM wrote whole (they save nothing). */
  llmWroteAll: number;
  /** Answers whose price is unknown (not in savedUsd). */
  unpriced: number;
  /** Answers the small model wrote alone (relay.localOnly, relay.mode slm-only): $0 each, neither priced nor unpriced. */
  slmOnly: number;
}

export function emptySession(): SessionTotals {
  return { slmTokens: 0, llmTokens: 0, savedUsd: 0, priced: 0, llmWroteAll: 0, unpriced: 0, slmOnly: 0 };
}

export function addToSession(session: SessionTotals, stats: AnswerStats): SessionTotals {
  const next = { ...session, slmTokens: session.slmTokens + stats.slmTokens, llmTokens: session.llmTokens + stats.llmTokens };
  if (slmWroteAll(stats)) return { ...next, slmOnly: next.slmOnly + 1 };
  if (stats.savedUsd === null) return { ...next, unpriced: next.unpriced + 1 };
  return {
    ...next,
    savedUsd: roundUsd(next.savedUsd + stats.savedUsd),
    priced: next.priced + 1,
    llmWroteAll: next.llmWroteAll + (llmWroteAll(stats) ? 1 : 0),
  };
}

/** The words for answers no large model wrote: what they cost, and no saving claimed (there is nothing to compare with). */
const SLM_ONLY_SAVING = 'small model alone, $0';

/** The session's saving as the status bar says it: "$0.42 saved", "cost $0.0040 more than the LLM alone", "no saving (the LLM wrote it all)", "small model alone, $0". */
export function sessionSavingText(session: SessionTotals): string {
  if (session.priced === 0) return session.unpriced > 0 ? 'saved: unknown price' : session.slmOnly > 0 ? SLM_ONLY_SAVING : 'no saving';
  // Every priced answer was written by the LLM alone: it is the LLM-only cost, nothing saved.
  const allByLlm = session.llmWroteAll === session.priced && session.savedUsd === 0;
  return savingPhrase({ savedUsd: session.savedUsd, llmWroteAll: allByLlm }, formatUsd);
}

/** One answer's saving, for the tooltip. */
export function answerSavingText(stats: AnswerStats): string {
  if (slmWroteAll(stats)) return `${SLM_ONLY_SAVING} (no large model was called)`;
  return savingPhrase({ savedUsd: stats.savedUsd, llmWroteAll: llmWroteAll(stats) }, formatUsd);
}

export class RelayStatusBar implements vscode.Disposable {
  private readonly item: vscode.StatusBarItem;
  private session = emptySession();
  private last: AnswerStats | undefined;
  private warning: string | undefined;
  /** Where the answer being written is shown; undefined while none runs (setBusy). */
  private running: AnswerPlace | undefined;
  /** The model's load the running answer waits on, if any (setLoading). */
  private loading: ModelLoad | undefined;
  /** The last demo answer, shown until a real one comes; never added to the session. */
  private demo: { stats: AnswerStats; priceModel: string } | undefined;

  constructor() {
    this.item = vscode.window.createStatusBarItem('relay.status', vscode.StatusBarAlignment.Right, 100);
    this.item.name = 'Relay';
    this.render();
    this.item.show();
  }

  dispose(): void {
    this.item.dispose();
  }

  /** An answer is running (where it is shown), or none (undefined): shown above anything else (set-up warnings, totals) until it ends. */
  setBusy(running: AnswerPlace | undefined): void {
    this.running = running;
    // A new answer, or none: no load is waited on yet.
    this.loading = undefined;
    this.render();
  }

  /** The running answer waits on a model's load ("loading model…", the model in the tooltip), or no longer (undefined: "answering…" again). */
  setLoading(load: ModelLoad | undefined): void {
    this.loading = this.running === undefined ? undefined : load;
    this.render();
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
    this.session = addToSession(this.session, stats);
    this.render();
  }

  /**
   * The session's figures start over when `totals` are reset ("Relay: Reset Savings"), in this
   * window or another: the bar never shows a saving that the savings view it opens no longer
   * holds. Another window's reset removes the file; a watcher's event is checked against the
   * file itself, since a write (a rename over it) may be reported as a removal.
   */
  followResets(totals: TotalsStore): vscode.Disposable {
    const startOver = (): void => {
      this.session = emptySession();
      this.last = undefined;
      this.render();
    };
    const startOverIfRemoved = (): void => {
      void stat(totals.path).then(
        () => undefined,
        (error: NodeJS.ErrnoException) => {
          if (error.code === 'ENOENT') startOver();
        },
      );
    };
    const watcher = watchTotalsFile(totals);
    return vscode.Disposable.from(
      totals.onDidChange((change) => {
        if (change === 'reset') startOver();
      }),
      watcher,
      watcher.onDidDelete(startOverIfRemoved),
      watcher.onDidChange(startOverIfRemoved),
    );
  }

  private render(): void {
    if (this.running) {
      // Set-up changes and totals written mid-answer are kept, and shown once it ends.
      const { command, where } = SHOW_RUNNING[this.running];
      // A model's first load takes seconds to minutes: said as such, the model named where there is room.
      this.item.text = this.loading ? '$(loading~spin) Relay: loading model…' : '$(loading~spin) Relay: answering…';
      this.item.tooltip = this.loading
        ? `${modelLoadingText(this.loading)}\nThe answer is written ${where} once it is loaded. Click to show it there; run "Relay: Stop" to stop it.`
        : `Relay is writing an answer ${where}. Click to show it there; run "Relay: Stop" to stop it.`;
      this.item.backgroundColor = undefined;
      this.item.command = command;
      return;
    }
    if (this.demo) {
      // The demo needs no set-up, so it is shown even while set-up is missing; what is missing stays
      // in front (the words, the colour and the click to the walkthrough), as it is without a demo.
      const { stats, priceModel } = this.demo;
      const setUpMissing = this.warning !== undefined && !this.warning.startsWith(DEMO_MODEL_NOTE);
      const demoFigures = `demo ${formatPercent(stats.llmTokenShare)} LLM · ${answerSavingText(stats)} (est.)`;
      this.item.backgroundColor = setUpMissing ? new vscode.ThemeColor('statusBarItem.warningBackground') : undefined;
      this.item.command = this.warning ? OPEN_SETUP_WALKTHROUGH : SHOW_SAVINGS;
      this.item.text = setUpMissing ? `$(warning) Relay: set up · ${demoFigures}` : `$(beaker) Relay ${demoFigures}`;
      this.item.tooltip = [
        `Demo answer: ${stats.llmTokens} of ${stats.slmTokens + stats.llmTokens} tokens by the LLM (${formatPercent(stats.llmTokenShare)}), ${stats.calls} call(s).`,
        `Both demo models ran on this machine; the LLM is priced as if it were ${priceModel}, so the saving is an estimate, not added to your savings.`,
        ...(this.warning
          ? [`For your own questions: ${this.warning}`, 'Click to open the set-up walkthrough.']
          : ['Click to show savings per day, model and policy.']),
      ].join('\n');
      return;
    }
    if (this.warning) {
      // The embedded demo model answers its own task: a note on what to do next, not a fault to colour.
      const demoModel = this.warning.startsWith(DEMO_MODEL_NOTE);
      this.item.text = demoModel ? '$(info) Relay: demo model' : '$(warning) Relay: set up';
      // The warning names its own fix; the walkthrough has a step for each.
      this.item.tooltip = `${this.warning}\nClick to open the set-up walkthrough.`;
      this.item.backgroundColor = demoModel ? undefined : new vscode.ThemeColor('statusBarItem.warningBackground');
      this.item.command = OPEN_SETUP_WALKTHROUGH;
      return;
    }
    this.item.backgroundColor = undefined;
    this.item.command = SHOW_SAVINGS;
    if (!this.last) {
      this.item.text = '$(pulse) Relay: idle';
      this.item.tooltip = 'Relay decoding: a local small model writes, a large model helps with a few tokens.\nClick to show savings.';
      return;
    }
    const sessionTotal = this.session.slmTokens + this.session.llmTokens;
    const sessionShare = sessionTotal > 0 ? this.session.llmTokens / sessionTotal : 0;
    const saved = sessionSavingText(this.session);
    // Both figures of the session (the last answer's are in the tooltip): one scope, so they read together.
    this.item.text = `$(pulse) Relay ${formatPercent(sessionShare)} LLM · ${saved}`;
    const skipped = this.last.declinedCalls ? `, ${this.last.declinedCalls} skipped (over the cost ceilings)` : '';
    const unpriced = this.session.unpriced > 0 && this.session.priced > 0 ? ` ${this.session.unpriced} answer(s) without a price are not counted.` : '';
    // Only answers a large model could have written are estimated against one; those of the small model alone are named apart.
    const comparable = this.session.priced + this.session.unpriced > 0;
    const basis = comparable ? ' (estimate against LLM-only answers)' : '';
    const alone = comparable && this.session.slmOnly > 0 ? ` ${this.session.slmOnly} answer(s) by the small model alone ($0) are not counted.` : '';
    this.item.tooltip = [
      `Last answer: ${this.last.llmTokens} of ${this.last.slmTokens + this.last.llmTokens} tokens by the LLM (${formatPercent(this.last.llmTokenShare)}), ${this.last.calls} call(s)${skipped}; ${answerSavingText(this.last)}.`,
      `This session: ${formatPercent(sessionShare)} of ${sessionTotal} tokens by the LLM; ${saved}${basis}.${unpriced}${alone}`,
      'Click to show savings per day, model and policy.',
    ].join('\n');
  }
}

/** USD for the status bar and the savings table: cents, 4 decimals under a cent ("under $0.0001" below that); the sign in front ("-$0.0040"). */
export function formatUsd(value: number | null): string {
  if (value === null) return 'unknown';
  const abs = Math.abs(value);
  const sign = value < 0 ? '-' : '';
  if (abs !== 0 && abs < 0.0001) return `${sign}under $0.0001`;
  return `${sign}$${abs === 0 || abs >= 0.01 ? abs.toFixed(2) : abs.toFixed(4)}`;
}
