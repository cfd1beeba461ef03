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
import { linesLabel } from '../shared/lineRange';

/** The kinds whose service takes a key ("Relay: Set API Key" offers them). */
const KEYED_KINDS = PROVIDER_KINDS.filter((kind) => providerOf(kind).usesKey);

/** The most characters of text sent as context: a selection to explain or solve, or what is attached to an @relay question. */
export const MAX_SELECTION_CHARS = 20_000;

/** Non-blank selected text: its lines (1-based) and how many selections it joins (those on the same or the next line). */
interface SelectedPart {
  text: string;
  first: number;
  last: number;
  selections: number;
}

/** The most parts (selections on lines apart) a question names: each costs a label and a fence of its own. */
export const MAX_SELECTION_PARTS = 50;

/**
 * The editor's non-blank selections (multi-cursor: all of them), in document order; those on
 * the same or the next line are one part (a column selection is one selection a line: one part,
 * not thousands of fences).
 */
function selectedParts(editor: vscode.TextEditor | undefined): SelectedPart[] {
  if (!editor) return [];
  const parts: SelectedPart[] = [];
  const selections = editor.selections
    .filter((selection) => !selection.isEmpty)
    .sort((a, b) => a.start.line - b.start.line || a.start.character - b.start.character);
  for (const selection of selections) {
    const part = {
      selections: 1,
      text: editor.document.getText(selection),
      first: selection.start.line + 1,
      // A selection of whole lines ends at the next line's start: that line is not in it.
      last: selection.end.character === 0 && selection.end.line > selection.start.line ? selection.end.line : selection.end.line + 1,
    };
    if (part.text.trim() === '') continue;
    const previous = parts.at(-1);
    if (previous && part.first <= previous.last + 1) {
      previous.text += `\n${part.text}`;
      previous.last = Math.max(previous.last, part.last);
      previous.selections += 1;
    } else parts.push(part);
  }
  return parts;
}

/** Text holding NUL characters is a binary file's, not text (the rule @relay's attachments and the CLI follow). */
export function looksBinary(text: string): boolean {
  return text.includes('\u0000');
}

function selectionCount(parts: readonly SelectedPart[]): number {
  return parts.reduce((sum, part) => sum + part.selections, 0);
}

/** Why selected text is not sent (binary, or over the bound), said for `verb`; `holding`: "the selection has" or the like. Undefined when it can be. */
function selectionProblem(parts: readonly SelectedPart[], length: number, holding: string, verb: string): string | undefined {
  if (parts.some((part) => looksBinary(part.text)))
    return `Relay: ${selectionCount(parts) === 1 ? 'the selection' : 'a selection'} holds NUL characters: it looks like a binary file, so nothing was sent. Select text to ${verb}.`;
  if (length > MAX_SELECTION_CHARS)
    return `Relay: ${holding} ${length.toLocaleString('en-US')} characters; select at most ${MAX_SELECTION_CHARS.toLocaleString('en-US')} to ${verb}.`;
  if (parts.length > MAX_SELECTION_PARTS)
    return `Relay: the selections lie in ${parts.length.toLocaleString('en-US')} places of the file; select at most ${MAX_SELECTION_PARTS} to ${verb} (selections on neighbouring lines count as one).`;
  return undefined;
}

export async function explainSelection(panel: AnswerPanel): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const parts = selectedParts(editor);
  if (!editor || parts.length === 0) {
    void showInformation('Relay: select some code or text to explain first.');
    return;
  }
  const length = parts.reduce((sum, part) => sum + part.text.length, 0);
  const count = selectionCount(parts);
  const problem = selectionProblem(parts, length, count === 1 ? 'the selection has' : `the ${count.toLocaleString('en-US')} selections have`, 'explain');
  if (problem) {
    void showWarning(problem);
    return;
  }
  await panel.ask(explainQuestion(parts, editor.document.languageId), editor);
}

/** The question Explain Selection asks: one selection in its fence; several each in its own, named by its lines. */
function explainQuestion(parts: readonly SelectedPart[], language: string): string {
  // One selection is asked as it always was: the same prompt reuses the models' cached reading of it.
  if (parts.length === 1) return `Explain this ${language} code:\n\n${fencedCode(parts[0].text, language)}`;
  const blocks = parts.map((part) => `${linesLabel(part.first, part.last)}:\n\n${fencedCode(part.text, language)}`);
  return `Explain this ${language} code (${parts.length} parts of one file):\n\n${blocks.join('\n\n')}`;
}

/** A problem typed into Solve Problem's box that was not asked (an answer started meanwhile, or it was too long): the next box opens with it. */
const unaskedProblems = new WeakMap<AnswerPanel, string>();

export async function solveProblem(panel: AnswerPanel): Promise<void> {
  const editor = vscode.window.activeTextEditor;
  const parts = selectedParts(editor);
  // Several selections are one problem in parts (its statement, its data): in document order, a blank line between.
  let problem = parts.map((part) => part.text).join('\n\n');
  const typed = parts.length === 0;
  if (!typed) {
    const refused = selectionProblem(parts, problem.length, 'the problem has', 'solve');
    if (refused) {
      void showWarning(refused);
      return;
    }
  } else {
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
  // A typed problem has a selection's bound (a whole file pasted is minutes of reading and a paid LLM's input); it is kept for the next box.
  if (problem.length > MAX_SELECTION_CHARS) {
    unaskedProblems.set(panel, problem);
    void showWarning(
      `Relay: the problem has ${problem.length.toLocaleString('en-US')} characters; shorten it to at most ${MAX_SELECTION_CHARS.toLocaleString('en-US')} to solve.`,
    );
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
