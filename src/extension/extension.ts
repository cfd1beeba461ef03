/** Activation: wires the VS Code adapter (commands, views, status bar) to the relay engine. */
import * as vscode from 'vscode';
import { AnswerPanel, SHOW_ANSWERS_COMMAND } from './answerPanel';
import { ChatViewProvider } from './chatView';
import { registerChatParticipant } from './chatParticipant';
import { explainSelection, setApiKey, solveProblem } from './commands';
import { Conversation } from './conversation';
import { RelayDemo } from './demo/demo';
import { TRY_DEMO_COMMAND } from './demo/demoPlan';
import { testProvider } from './providerTestCommand';
import { RelayService } from './relayService';
import { RESET_COMMAND, resetSavings, showSavings } from './savingsView';
import { REMOVE_DOWNLOADED_MODELS_COMMAND, removeDownloadedModels } from './removeModels';
import { RELEASE_MODEL_FOLDER_COMMAND, selectModel, setHubToken } from './selectModel';
import { registerSentToLlmView } from './sentToLlmView';
import { RelayStatusBar, runningAnswerPlace } from './statusBar';
import { offerFirstRunSetup } from './walkthrough/firstRun';

class ExplainCodeActions implements vscode.CodeActionProvider {
  static readonly kinds = [vscode.CodeActionKind.Empty];
  provideCodeActions(_document: vscode.TextDocument, range: vscode.Range | vscode.Selection): vscode.CodeAction[] {
    if (range.isEmpty) return [];
    const action = new vscode.CodeAction('Explain with Relay', vscode.CodeActionKind.Empty);
    action.command = { command: 'relay.explainSelection', title: 'Explain with Relay' };
    return [action];
  }
}

export function activate(context: vscode.ExtensionContext): void {
  const statusBar = new RelayStatusBar();
  const service = new RelayService(context, {
    onBusy: (busy) => {
      // Called as the answer starts, once its conversation (if any) holds it: a click on the status bar shows it there.
      const place = busy ? runningAnswerPlace({ answer: answers, chat }) : undefined;
      statusBar.setBusy(place);
      // Relay: Stop shows in the title bar of the view whose answer runs, not in another view's (whose own Stop refuses it).
      // Unset (undefined) while no answer runs.
      void vscode.commands.executeCommand('setContext', 'relay.answeringIn', place);
    },
    onAnswered: (stats) => statusBar.recordAnswer(stats),
    onLoading: (load) => statusBar.setLoading(load),
  });
  let conversations: Conversation[] = [];
  let setupChecks = 0;
  const refreshSetup = async (): Promise<void> => {
    const check = ++setupChecks;
    const warning = await service.setupWarning();
    // A check that ends after a later one began (a key stored meanwhile) is stale: the later one says.
    if (check !== setupChecks) return;
    statusBar.setWarning(warning);
    for (const conversation of conversations) conversation.showSetupWarning(warning);
  };
  const afterAnswer = (): void => void refreshSetup();
  // The Relay output channel, made when first written to (the provider test's report).
  let channel: vscode.OutputChannel | undefined;
  const output = (): vscode.OutputChannel => {
    if (!channel) {
      channel = vscode.window.createOutputChannel('Relay');
      context.subscriptions.push(channel);
    }
    return channel;
  };

  const chat = new Conversation('chat', service, afterAnswer, { state: context.workspaceState, key: 'relay.chat.turns' });
  const answers = new Conversation('answer', service, afterAnswer, { state: context.workspaceState, key: 'relay.answer.turns' });
  conversations = [chat, answers];
  saveConversations = async () => void (await Promise.all(conversations.map((conversation) => conversation.close())));
  stopForShutdown = (withinMs) => service.stopForShutdown(withinMs);
  const answerPanel = new AnswerPanel(context.extensionUri, answers);
  // The demo runs the embedded pair with a set-up of its own: no account, no key, no network, no settings changed.
  const demo = new RelayDemo(context, answerPanel, service, statusBar);
  answers.setDemoHandler((action, turnId) => demo.handle(action, turnId));

  context.subscriptions.push(
    statusBar,
    service,
    // A reset in this window starts the session's figures over.
    statusBar.followResets(service.totals),
    // A key set or removed, in this window or another (VS Code tells every window): the set-up is checked again.
    context.secrets.onDidChange(() => void refreshSetup()),
    vscode.window.registerWebviewViewProvider(ChatViewProvider.viewId, new ChatViewProvider(context.extensionUri, chat), {
      webviewOptions: { retainContextWhenHidden: true },
    }),
    // After a window reload VS Code reopens the answer view; its answers come back from workspace state.
    vscode.window.registerWebviewPanelSerializer('relay.answer', {
      // Not awaiting the webview's 'ready': VS Code loads the restored webview only after this resolves.
      deserializeWebviewPanel: async (panel) => void answerPanel.restore(panel),
    }),
    vscode.commands.registerCommand('relay.explainSelection', () => explainSelection(answerPanel)),
    vscode.commands.registerCommand('relay.solveProblem', () => solveProblem(answerPanel)),
    vscode.commands.registerCommand(TRY_DEMO_COMMAND, () => demo.run()),
    vscode.commands.registerCommand('relay.openChat', () => vscode.commands.executeCommand(`${ChatViewProvider.viewId}.focus`)),
    vscode.commands.registerCommand(SHOW_ANSWERS_COMMAND, () => answerPanel.showAnswers()),
    vscode.commands.registerCommand('relay.setApiKey', async () => {
      await setApiKey(service.keys);
      await refreshSetup();
    }),
    vscode.commands.registerCommand('relay.selectModel', async () => {
      await selectModel(context);
      await refreshSetup();
    }),
    vscode.commands.registerCommand('relay.setHubToken', () => setHubToken(context)),
    vscode.commands.registerCommand(REMOVE_DOWNLOADED_MODELS_COMMAND, async () => {
      await removeDownloadedModels(context);
      await refreshSetup();
    }),
    vscode.commands.registerCommand(RELEASE_MODEL_FOLDER_COMMAND, (folder: string) => service.releaseFolder(folder)),
    vscode.commands.registerCommand('relay.testProvider', () => testProvider(service, output())),
    ...registerSentToLlmView(service.sentRequests),
    vscode.commands.registerCommand('relay.showSavings', () => showSavings(service.totals)),
    vscode.commands.registerCommand(RESET_COMMAND, () => resetSavings(service.totals)),
    vscode.commands.registerCommand('relay.stop', () => {
      if (!service.stop()) void vscode.window.setStatusBarMessage('Relay: nothing to stop', 2000);
    }),
    // Where code is edited: files, new files, notebook cells, virtual workspaces (GitHub Repositories); not output or diff views.
    vscode.languages.registerCodeActionsProvider(
      ['file', 'untitled', 'vscode-notebook-cell', 'vscode-vfs'].map((scheme) => ({ scheme })),
      new ExplainCodeActions(),
      { providedCodeActionKinds: ExplainCodeActions.kinds },
    ),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration('relay')) void refreshSetup();
      if (event.affectsConfiguration('relay.slm')) void service.preload();
      if (event.affectsConfiguration('relay.provider') || event.affectsConfiguration('relay.localOnly')) void service.releaseUnusedLlm();
    }),
  );
  const participant = registerChatParticipant(context.extensionUri, service);
  if (participant) context.subscriptions.push(participant);
  // Keys stored before they were bound to an origin move first, then the set-up is checked.
  const ready = service.migrateKeys().catch(() => undefined);
  void ready.then(refreshSetup);
  // relay.slm.loadAtStartup: the model loads while the user gets to work.
  void service.preload();
  void ready
    .then(() => service.setupWarning())
    .then((warning) => offerFirstRunSetup(context, warning))
    .catch(() => undefined);
}

/** Saves both views' turns as they stand (set by activate). */
let saveConversations: (() => Promise<void>) | undefined;
/** Stops the running answer once its views are saved, and waits a while for it to be counted (set by activate). */
let stopForShutdown: ((withinMs: number) => Promise<void>) | undefined;
/** How long the window's close waits for a stopped answer's totals: VS Code gives deactivate a few seconds in all. */
const SHUTDOWN_COUNT_WITHIN_MS = 2000;

export async function deactivate(): Promise<void> {
  // Before the context's disposables stop the answer in flight (and the SLM process): the
  // answer being written is saved with its text so far, and shows as interrupted next time.
  await saveConversations?.();
  saveConversations = undefined;
  // Then it is stopped, not shown any more, and its billed calls reach the savings totals.
  await stopForShutdown?.(SHUTDOWN_COUNT_WITHIN_MS);
  stopForShutdown = undefined;
}
