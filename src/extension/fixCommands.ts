/** The command behind each fix (src/core/fixes.ts) in VS Code: one map for the views' buttons, the chat's and the notifications'. */
import * as vscode from 'vscode';
import type { Fix } from '../core/fixes';

/** 'retry' has none: each place that offers it runs its own work again. */
export const FIX_COMMANDS: Record<Exclude<Fix, 'retry'>, vscode.Command> = {
  'set-key': { command: 'relay.setApiKey', title: 'Set API Key' },
  'open-settings': { command: 'workbench.action.openSettings', title: 'Open Relay Settings', arguments: ['relay.'] },
  'pick-model': { command: 'relay.selectModel', title: 'Select Model' },
  'llm-model': { command: 'workbench.action.openSettings', title: 'Set LLM Model', arguments: ['relay.provider.model'] },
  'try-demo': { command: 'relay.tryDemo', title: 'Try the Demo' },
};

/** The fix's command, or undefined for 'retry'. */
export function fixCommand(fix: Fix): vscode.Command | undefined {
  return fix === 'retry' ? undefined : FIX_COMMANDS[fix];
}

export function runFix(fix: Fix): void {
  const command = fixCommand(fix);
  if (command) void vscode.commands.executeCommand(command.command, ...(command.arguments ?? []));
}
