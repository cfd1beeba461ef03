/** The command behind each fix (src/core/fixes.ts) in VS Code: one map for the views' buttons, the chat's and the notifications'. */
import * as vscode from 'vscode';
import type { Fix } from '../core/fixes';
import { contributes } from '../../package.json';
import { settingSource, settingsProblem, userSettingsTab, type SettingSource } from './settings';
import { escapeRegExp } from '../shared/escapeRegExp';

/** 'retry' has none: each place that offers it runs its own work again. 'open-settings' opens the refused setting where there is one (fixCommand). */
export const FIX_COMMANDS: Record<Exclude<Fix, 'retry'>, vscode.Command> = {
  'set-key': { command: 'relay.setApiKey', title: 'Set API Key' },
  'open-settings': { command: 'workbench.action.openSettings', title: 'Open Relay Settings', arguments: ['relay.'] },
  'pick-model': { command: 'relay.selectModel', title: 'Select Model' },
  'llm-model': { command: 'workbench.action.openSettings', title: 'Set LLM Model', arguments: ['relay.provider.model'] },
  'try-demo': { command: 'relay.tryDemo', title: 'Try the Demo' },
};

/**
 * The Settings editor filtered to one setting (`relay.maxTurns`), on the tab of the settings
 * its value is written in: a workspace's value is fixed there, not under User, where the
 * value shown is not the one in effect. Unset: the user-level tab a value of it is read from
 * (userSettingsTab: in a remote window the Remote tab for the small model's folder and
 * server); the User tab where it may be either.
 */
export function settingCommand(setting: string, source: SettingSource | undefined): vscode.Command {
  const options = { query: `@id:${setting}` };
  switch (source ?? userSettingsTab(setting.slice('relay.'.length))) {
    case 'workspace':
      return { command: 'workbench.action.openWorkspaceSettings', title: `Open ${setting} (Workspace)`, arguments: [options] };
    case 'workspaceFolder':
      // VS Code asks which folder, in a window of several.
      return { command: 'workbench.action.openFolderSettings', title: `Open ${setting} (Folder)`, arguments: [options] };
    case 'remote':
      return { command: 'workbench.action.openRemoteSettings', title: `Open ${setting} (Remote)`, arguments: [options] };
    case 'user':
    case 'userOrRemote':
      return { command: 'workbench.action.openGlobalSettings', title: `Open ${setting}`, arguments: [options] };
  }
}

/** Every setting Relay contributes (package.json), each of which a message may name. */
const RELAY_SETTINGS = Object.keys(contributes.configuration.properties);

/**
 * The setting an error's message names first (a provider's error names the one to change:
 * "… in relay.provider.baseUrl (CLI: --base-url)"; "Local only is on (relay.localOnly)").
 */
export function settingNamedIn(message: string | undefined): string | undefined {
  if (!message) return undefined;
  let first: { setting: string; at: number } | undefined;
  for (const setting of RELAY_SETTINGS) {
    const at = message.search(new RegExp(`\\b${escapeRegExp(setting)}(?!\\w|\\.\\w)`));
    if (at >= 0 && (first === undefined || at < first.at)) first = { setting, at };
  }
  return first?.setting;
}

/**
 * The fix's command, or undefined for 'retry'. 'open-settings' opens the setting that
 * readSettings refuses now, where its value is written (SettingsError.source); else the one
 * the error's message names (a provider's error: the address, a template folder), where its
 * value is written; else all of the Relay settings.
 */
export function fixCommand(fix: Fix, message?: string): vscode.Command | undefined {
  if (fix === 'retry') return undefined;
  if (fix === 'open-settings') {
    const problem = settingsProblem();
    if (problem) return settingCommand(`relay.${problem.setting}`, problem.source);
    const named = settingNamedIn(message);
    if (named) return settingCommand(named, settingSource(named.slice('relay.'.length)));
  }
  return FIX_COMMANDS[fix];
}

/** Runs the fix; `message` is the error it fixes (which setting to open). */
export function runFix(fix: Fix, message?: string): void {
  const command = fixCommand(fix, message);
  if (command) void vscode.commands.executeCommand(command.command, ...(command.arguments ?? []));
}
