/**
 * The first-run prompt: shown once (globalState) to a first-time user whose set-up is
 * incomplete; it runs the demo (the embedded pair, offline, no setting changed) or opens
 * the walkthrough.
 */
import * as vscode from 'vscode';
import { showInformation } from '../notifications';
import { TRY_DEMO_COMMAND } from '../demo/demoPlan';
import { FIRST_RUN_STATE_KEY, SETUP_CHOICES, setupPromptMessage, shouldOfferSetup } from './setupPrompt';

export const WALKTHROUGH_ID = 'relay.gettingStarted';

/** relay.* settings the user or the workspace has set (any level above the default). */
export function configuredRelaySettings(manifest: { contributes?: { configuration?: { properties?: Record<string, unknown> } } }): string[] {
  const config = vscode.workspace.getConfiguration();
  return Object.keys(manifest.contributes?.configuration?.properties ?? {}).filter((key) => {
    const inspected = config.inspect(key);
    return (
      inspected !== undefined && (inspected.globalValue !== undefined || inspected.workspaceValue !== undefined || inspected.workspaceFolderValue !== undefined)
    );
  });
}

export async function offerFirstRunSetup(context: vscode.ExtensionContext, setupWarning: string | undefined): Promise<void> {
  const facts = {
    alreadyPrompted: context.globalState.get<boolean>(FIRST_RUN_STATE_KEY, false),
    setupWarning,
    configuredSettings: configuredRelaySettings(context.extension.packageJSON as never),
  };
  if (!shouldOfferSetup(facts) || setupWarning === undefined) return;
  // Marked first: closing the window while the prompt shows must not bring it back.
  await context.globalState.update(FIRST_RUN_STATE_KEY, true);
  const choice = await showInformation(setupPromptMessage(setupWarning), SETUP_CHOICES.demo, SETUP_CHOICES.walkthrough, SETUP_CHOICES.later);
  if (choice === SETUP_CHOICES.demo) {
    await vscode.commands.executeCommand(TRY_DEMO_COMMAND);
  } else if (choice === SETUP_CHOICES.walkthrough) {
    await vscode.commands.executeCommand('workbench.action.openWalkthrough', `${context.extension.id}#${WALKTHROUGH_ID}`, false);
  }
}
