/**
 * The savings totals file as VS Code watches it (outside the workspace too): how a view hears of
 * answers recorded and resets made by another window or the CLI, whose TotalsStore events it
 * never gets.
 */
import { basename, dirname } from 'node:path';
import * as vscode from 'vscode';
import type { TotalsStore } from '../core/relay/totalsStore';

export function watchTotalsFile(totals: TotalsStore): vscode.FileSystemWatcher {
  return vscode.workspace.createFileSystemWatcher(new vscode.RelativePattern(vscode.Uri.file(dirname(totals.path)), basename(totals.path)));
}
