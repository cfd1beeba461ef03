/**
 * What the user attached to an `@relay` request (#file, #selection, a dragged file): read as
 * text and put after the question, as Explain Selection puts the selection, so the answer is
 * about them. They go wherever the question goes (the SLM, and the LLM's calls), so they are
 * bounded as a selection is, and what cannot be read as text is named, not sent.
 */
import * as vscode from 'vscode';
// Attached text is bounded as a selection to explain is.
import { looksBinary, MAX_SELECTION_CHARS } from './commands';
import { fencedCode } from '../core/codeFence';
import { lineSpan } from '../shared/lineRange';

export interface AttachedText {
  /** Where it is from: a workspace-relative path, with its lines for a range. */
  label: string;
  text: string;
}

export type ReadReferences = { ok: true; attached: AttachedText[]; skipped: string[] } | { ok: false; message: string };

/** A file's URI (duck-typed: a reference's value crosses the extension API as the host's own classes). */
function isUri(value: unknown): value is vscode.Uri {
  return typeof value === 'object' && value !== null && typeof (value as vscode.Uri).scheme === 'string' && typeof (value as vscode.Uri).fsPath === 'string';
}

function isLocation(value: unknown): value is vscode.Location {
  return typeof value === 'object' && value !== null && isUri((value as vscode.Location).uri) && typeof (value as vscode.Location).range === 'object';
}

/**
 * VS Code's implicit context (`vscode.implicit.viewport`, `.selection`, `.file`): the editor
 * the user has open, sent by the Chat view without being attached. Only what the user
 * attaches goes out (#file, #selection, a dragged file): these are named, never read or sent.
 */
function isImplicit(id: string): boolean {
  return id === 'vscode.implicit' || id.startsWith('vscode.implicit.');
}

/** Where an implicit reference points, for the "Not attached" line. */
function implicitLabel(value: unknown): string {
  const uri = isLocation(value) ? value.uri : isUri(value) ? value : undefined;
  return uri ? vscode.workspace.asRelativePath(uri) : 'the editor';
}

/** Reads every reference of the request; refuses (with the sizes) more attached text than an answer takes. */
export async function readReferences(references: readonly vscode.ChatPromptReference[] | undefined): Promise<ReadReferences> {
  const attached: AttachedText[] = [];
  const skipped: string[] = [];
  for (const reference of references ?? []) {
    const { value } = reference;
    if (isImplicit(reference.id)) {
      // The viewport, the selection and the file of one editor: named once.
      const note = `${implicitLabel(value)} (open in the editor, not attached: attach it with #file or #selection)`;
      if (!skipped.includes(note)) skipped.push(note);
      continue;
    }
    try {
      const item = await readReference(reference.id, value);
      if (!item) skipped.push(`${reference.id} (not a file or text)`);
      else if (looksBinary(item.text)) skipped.push(`${item.label} (binary)`);
      else if (item.text.trim()) attached.push(item);
    } catch (error) {
      // A folder, a file gone since it was attached: named, not sent.
      skipped.push(`${isUri(value) ? vscode.workspace.asRelativePath(value) : reference.id} (${error instanceof Error ? error.message : String(error)})`);
    }
  }
  const total = attached.reduce((sum, item) => sum + item.text.length, 0);
  if (total > MAX_SELECTION_CHARS) {
    return {
      ok: false,
      message: `The attached ${attached.length === 1 ? 'text has' : `texts have`} ${total.toLocaleString('en-US')} characters; attach at most ${MAX_SELECTION_CHARS.toLocaleString('en-US')} (a part of a file: select it and use #selection).`,
    };
  }
  return { ok: true, attached, skipped };
}

/** One reference as text: a string as it is, a range of a file, a whole file; undefined for anything else. */
async function readReference(id: string, value: unknown): Promise<AttachedText | undefined> {
  if (typeof value === 'string') return { label: id, text: value };
  if (isLocation(value)) {
    const document = await vscode.workspace.openTextDocument(value.uri);
    const { start, end } = value.range;
    // A selection of whole lines ends at the next line's start: that line is not in it.
    const last = end.character === 0 && end.line > start.line ? end.line : end.line + 1;
    return { label: `${vscode.workspace.asRelativePath(value.uri)}:${lineSpan(start.line + 1, last)}`, text: document.getText(value.range) };
  }
  if (isUri(value)) return { label: vscode.workspace.asRelativePath(value), text: (await vscode.workspace.openTextDocument(value)).getText() };
  return undefined;
}

/** The question, then each attachment in a fence longer than any it holds. */
export function promptWithAttachments(prompt: string, attached: readonly AttachedText[]): string {
  if (attached.length === 0) return prompt;
  const blocks = attached.map(({ label, text }) => `${label}:\n\n${fencedCode(text)}`);
  return `${prompt}\n\n${blocks.join('\n\n')}`;
}
