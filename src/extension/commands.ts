/** Handlers of the contributed commands. */
import * as vscode from 'vscode';
import type { ProviderKind } from '../core/providers/types';
import { baseUrlOf } from '../core/providers/endpoints';
import { typedKeyProblem } from '../core/providers/keyShape';
import { PROVIDER_KINDS, providerOf } from '../core/providers/registry';
import type { AnswerPanel } from './answerPanel';
import type { KeyStore } from './keyStore';
import { providerAddressSettings } from './settings';
import { showError, showInformation, showWarning } from './notifications';
import { fencedCode } from '../core/codeFence';

/** The kinds whose service takes a key ("Relay: Set API Key" offers them). */
const KEYED_KINDS = PROVIDER_KINDS.filter((kind) => providerOf(kind).usesKey);

/** The most characters of text sent as context: a selection to explain or solve, or what is attached to an @relay question. */
export const MAX_SELECTION_CHARS = 20_000;

function selectedText(editor: vscode.TextEditor | undefined): string {
  if (!editor || editor.selection.isEmpty) return '';
  return editor.document.getText(editor.selection);
}

export async function explainSelection(panel: AnswerPanel): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const text = selectedText(editor);
  if (!editor || !text.trim()) {
    void showInformation('Relay: select some code or text to explain first.');
    return;
  }
  if (text.length > MAX_SELECTION_CHARS) {
    void showWarning(`Relay: the selection has ${text.length} characters; select at most ${MAX_SELECTION_CHARS} to explain.`);
    return;
  }
  const language = editor.document.languageId;
  await panel.ask(`Explain this ${language} code:\n\n${fencedCode(text, language)}`, editor);
}

/** A problem typed into Solve Problem's box that was not asked (an answer started meanwhile, or it was too long): the next box opens with it. */
const unaskedProblems = new WeakMap<AnswerPanel, string>();

export async function solveProblem(panel: AnswerPanel): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  let problem = selectedText(editor);
  const typed = !problem.trim();
  if (typed) {
    // Said before the box opens: a problem typed while an answer runs would only be refused.
    if (panel.refuseWhileBusy('Solve Problem did not start')) return;
    const unasked = unaskedProblems.get(panel);
    unaskedProblems.delete(panel);
    problem =
      (await vscode.window.showInputBox({
        title: 'Relay: Solve Problem',
        prompt: 'The problem to solve (the small model writes, the large model helps)',
        placeHolder: 'e.g. How many ways can 5 people sit at a round table?',
        value: unasked,
        ignoreFocusOut: true,
      })) ?? '';
  }
  if (!problem.trim()) return;
  // The same bound as Explain Selection: a whole file selected is minutes of reading and a paid LLM's input.
  if (problem.length > MAX_SELECTION_CHARS) {
    if (typed) unaskedProblems.set(panel, problem);
    void showWarning(`Relay: the problem has ${problem.length} characters; ${typed ? 'shorten it to' : 'select'} at most ${MAX_SELECTION_CHARS} to solve.`);
    return;
  }
  const asked = await panel.ask(problem, editor);
  // A selection is still there to ask again; typed text is kept for the next box.
  if (!asked && typed) unaskedProblems.set(panel, problem);
}

/** Stores (or removes) the key of a provider kind for the origin its requests go to: a key is bound to where it was entered. */
export async function setApiKey(keys: KeyStore): Promise<void> {
  // The same checks as every answer's: an address without http(s):// would bind the key to the origin "null".
  let configured: { kind: ProviderKind; baseUrl: string };
  try {
    configured = providerAddressSettings(vscode.workspace.getConfiguration('relay'));
  } catch (error) {
    const open = await showError(`Relay: ${(error as Error).message} Then set the key.`, 'Open Settings');
    if (open) void vscode.commands.executeCommand('workbench.action.openSettings', 'relay.provider');
    return;
  }
  const current = configured.kind;
  const picked = await vscode.window.showQuickPick(
    KEYED_KINDS.map((kind) => ({ label: kind, description: kind === current ? 'current provider' : undefined })),
    // Kept open when focus leaves (the user goes to copy the key; a webview's fix button may take focus back as it opens).
    { title: 'Relay: Set API Key — for which provider?', ignoreFocusOut: true },
  );
  if (!picked) return;
  const kind = picked.label as ProviderKind;
  // The configured server for the current kind; another kind's key is for that kind's own service.
  const url = baseUrlOf(kind, kind === current ? configured.baseUrl : undefined);
  if (!url) {
    void showError(`Relay: relay.provider.baseUrl is not an http(s) URL; fix it in Settings, then set the key.`);
    return;
  }
  const key = await vscode.window.showInputBox({
    title: `Relay: API key for ${kind} at ${url.origin}`,
    prompt: `Sent only to ${url.origin}; stored in VS Code's secret storage, never in settings. Leave empty to remove the stored key.`,
    password: true,
    ignoreFocusOut: true,
    // Empty removes; anything else must have a key's shape (the message never quotes it).
    validateInput: (typed) => typedKeyProblem(typed, 'key'),
  });
  if (key === undefined) return;
  if (key.trim() === '') {
    await keys.remove(kind, url.origin);
    void showInformation(`Relay: the API key for ${kind} at ${url.origin} was removed.`);
  } else {
    try {
      await keys.store(kind, url.origin, key.trim());
    } catch (error) {
      void showError(`Relay: the API key for ${kind} was not stored. ${(error as Error).message}`);
      return;
    }
    // The configured provider's key: offer to try it now rather than at the next answer.
    const test = kind === current ? ['Test Provider'] : [];
    // Not awaited: a notification nobody closes must not hold up the command.
    void showInformation(`Relay: the API key for ${kind} is stored; it is sent only to ${url.origin}.`, ...test).then((picked) => {
      if (picked === 'Test Provider') void vscode.commands.executeCommand('relay.testProvider');
    });
  }
}
