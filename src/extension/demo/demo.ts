/**
 * "Relay: Try the Demo": the answer view on a held-out question, answered by the embedded
 * pair (demoPlan.ts) with no account, no key and no network, and without reading or
 * changing the user's settings. Both models run in child processes (RelayService's SLM
 * process and its onnx-local LLM process), never in the extension host. Under the answer:
 * "Ask another" (a fresh held-out question, or the user's own a*b+c=?), "Compare with the
 * small model alone" (the same question in slm-only, side by side) and "Set up a real
 * model" (the walkthrough).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import * as vscode from 'vscode';
import { showError, showInformation } from '../notifications';
import type { DemoAction, DemoTurnView } from '../../shared/webviewProtocol';
import type { AnswerPanel } from '../answerPanel';
import type { AnsweredTurn, Conversation } from '../conversation';
import type { RelayService } from '../relayService';
import type { RelayStatusBar } from '../statusBar';
import { WALKTHROUGH_ID } from '../walkthrough/firstRun';
import {
  checkDemoAnswer,
  DEMO_PRICE_MODEL,
  DEMO_QUESTION,
  DEMO_TASK,
  demoPlan,
  demoQuestionProblem,
  demoTurn,
  embeddedDemoModels,
  PAPER_TABLE_HEADING,
  pickHeldOutQuestion,
  type DemoModelFolders,
} from './demoPlan';

export class RelayDemo {
  /** Questions shown in this window: "Ask another" offers one not seen yet. */
  private readonly asked = new Set<string>();
  /** A question typed into "Ask another" that was not asked (an answer started meanwhile): the next box opens with it. */
  private unasked: string | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly panel: AnswerPanel,
    private readonly service: RelayService,
    private readonly statusBar: RelayStatusBar,
  ) {}

  /** The demo's buttons in the answer view. */
  handle(action: DemoAction, turnId?: string): Promise<void> {
    switch (action) {
      case 'another':
        return this.askAnother();
      case 'compare':
        return turnId ? this.compare(turnId) : Promise.resolve();
      case 'setup':
        return this.openWalkthrough();
      case 'paper-table':
        return this.openPaperTable();
      case 'again':
        return turnId ? this.again(turnId) : Promise.resolve();
    }
  }

  /** A demo answer asked again (Retry on one restored from an earlier window): by the demo's pair, as the first time. */
  private async again(turnId: string): Promise<void> {
    let demo: DemoTurnView | undefined;
    await this.panel.withConversation(async (conversation) => {
      demo = conversation.demoTurn(turnId);
    });
    if (!demo) return;
    if (demo.kind === 'relay') await this.run(demo.question);
    else if (demo.pairOf) await this.compare(demo.pairOf);
  }

  /** The command: the demo's question, answered by the pair in the answer view. False: it was not asked (the user was told why, or closed the view). */
  async run(question: string = DEMO_QUESTION): Promise<boolean> {
    const models = this.ready();
    if (!models) return false;
    const demo = demoTurn(question, 'relay');
    this.asked.add(demo.question);
    const asked = await this.panel.withConversation(async (conversation) => {
      const answered = await conversation.ask(demo.question, undefined, { plan: demoPlan(models, 'relay'), demo });
      this.checked(conversation, answered, demo.reference);
      if (answered.outcome.stats) this.statusBar.recordDemoAnswer(answered.outcome.stats, DEMO_PRICE_MODEL);
      return answered.turnId !== '';
    });
    return asked === true;
  }

  /** The same question, answered by the same SLM alone, beside the relay's answer. */
  private async compare(turnId: string): Promise<void> {
    const models = this.ready();
    if (!models) return;
    await this.panel.withConversation(async (conversation) => {
      const relay = conversation.demoTurn(turnId);
      if (relay?.kind !== 'relay') return;
      const demo = demoTurn(relay.question, 'slm-only', turnId);
      const answered = await conversation.answerWith([{ role: 'user', content: demo.question }], { plan: demoPlan(models, 'slm-only'), demo });
      this.checked(conversation, answered, demo.reference);
    });
  }

  /** A fresh held-out question, offered in an input box where the user may type their own. */
  private async askAnother(): Promise<void> {
    // Said before the box opens: a question typed while an answer runs would only be refused.
    if (!this.ready()) return;
    const value = this.unasked ?? pickHeldOutQuestion(this.asked);
    this.unasked = undefined;
    const question = await vscode.window.showInputBox({
      title: 'Relay demo: another question',
      prompt: `A held-out question the demo models never saw in training: press Enter, or type your own (${DEMO_TASK}).`,
      value,
      ignoreFocusOut: true,
      validateInput: (text) => demoQuestionProblem(text),
    });
    if (question === undefined || demoQuestionProblem(question)) return;
    if (!(await this.run(question.trim()))) this.unasked = question.trim();
  }

  private async openWalkthrough(): Promise<void> {
    await vscode.commands.executeCommand('workbench.action.openWalkthrough', `${this.context.extension.id}#${WALKTHROUGH_ID}`, false);
  }

  /**
   * The README's section on the paper's table, from the installed extension, in a text
   * editor beside the answer: nothing is fetched (a rendered preview would load the
   * README's images from the repository's site).
   */
  private async openPaperTable(): Promise<void> {
    // vsce packages README.md as readme.md.
    const name = ['README.md', 'readme.md'].find((file) => existsSync(join(this.context.extensionPath, file))) ?? 'README.md';
    const readme = vscode.Uri.joinPath(this.context.extensionUri, name);
    try {
      const document = await vscode.workspace.openTextDocument(readme);
      const line = Math.max(
        0,
        document
          .getText()
          .split(/\r?\n/)
          .findIndex((text) => text.startsWith(PAPER_TABLE_HEADING)),
      );
      const heading = new vscode.Range(line, 0, line, 0);
      const editor = await vscode.window.showTextDocument(document, { viewColumn: vscode.ViewColumn.Beside, preview: true, selection: heading });
      editor.revealRange(heading, vscode.TextEditorRevealType.AtTop);
    } catch (error) {
      void showError(`Relay: could not open the README of the extension (${(error as Error).message}).`);
    }
  }

  /** The demo models, when they are there and no answer is being written. */
  private ready(): DemoModelFolders | undefined {
    const models = embeddedDemoModels(this.context.extensionPath);
    if (!models) {
      void showError('Relay: the demo models (models/relay-demo-slm and models/relay-demo-llm) are missing from this installation. Reinstall the extension.');
      return undefined;
    }
    // A provider test counts too: the demo's models would call off the SLM load the test waits on.
    if (this.service.testingProvider) {
      void showInformation(
        'Relay is testing the provider ("Relay: Test Provider"), which may be loading the small model. Try the demo when the test ends, or cancel it first (its notification).',
      );
      return undefined;
    }
    if (this.service.busy) {
      void showInformation('Relay is writing an answer. Stop it first ("Relay: Stop"), then try the demo.');
      return undefined;
    }
    return models;
  }

  private checked(conversation: Conversation, answered: AnsweredTurn, reference: string): void {
    const { outcome, turnId } = answered;
    // A stopped or failed answer is not judged.
    if (outcome.stats && !outcome.error && outcome.stats.finishReason !== 'cancelled')
      conversation.setDemoResult(turnId, checkDemoAnswer(outcome.answer, reference));
  }
}
