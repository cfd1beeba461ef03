/**
 * "Relay: Remove Downloaded Models": VS Code never deletes an extension's global storage,
 * not even on uninstall, and models there reach gigabytes each. A multi-select pick of the
 * model store's folders (size on disk, variants, incomplete downloads, the one in use, one
 * loaded in another window or the CLI) and of its partial downloads alone; a modal names the
 * space to free; models loaded from a folder are let go of before it is removed; a setting
 * that pointed into a folder that no longer holds a whole model is cleared, and the report
 * says so and what was freed, or per folder why not.
 */
import * as vscode from 'vscode';
import { formatBytes } from '../core/models/errors';
import {
  listStoredModels,
  modelStoreFolder,
  removeStoredModel,
  removeStoredPartials,
  type FolderUse,
  type RemovalOptions,
  type RemovalOutcome,
  type StoredModel,
} from '../core/models/storedModels';
import { RELEASE_MODEL_FOLDER_COMMAND } from './selectModel';
import { currentPath, currentText, saveUserSettings } from './settings';
import { showError, showInformation, showWarning, withProgressNotification } from './notifications';

export const REMOVE_DOWNLOADED_MODELS_COMMAND = 'relay.removeDownloadedModels';
const TITLE = 'Relay: Remove Downloaded Models';
const REMOVE = 'Remove';
const SELECT_MODEL = 'Select Model';
const SLM_FOLDER_SETTING = 'relay.slm.modelFolder';
const LLM_FOLDER_SETTING = 'relay.provider.model';

type RemovalItem = vscode.QuickPickItem & ({ model: StoredModel } | { partialsOf: StoredModel[] });

/** The settings that name a model folder now: the SLM's, and the LLM's when onnx-local runs one. */
function foldersInUse(): FolderUse[] {
  const config = vscode.workspace.getConfiguration('relay');
  // As readSettings reads them (~ expanded, quotes dropped): a folder written ~/... or "..." is in use all the same.
  const uses: FolderUse[] = [{ setting: SLM_FOLDER_SETTING, path: currentPath(config, 'slm.modelFolder') }];
  if (currentText(config, 'provider.kind') === 'onnx-local') uses.push({ setting: LLM_FOLDER_SETTING, path: currentPath(config, 'provider.model') });
  return uses.filter((use) => use.path !== '');
}

function variantsText(model: StoredModel): string {
  const parts = [...model.completeVariants, ...model.incompleteVariants.map((variant) => `${variant} (incomplete)`)];
  return parts.length > 0 ? parts.join(', ') : 'no model file';
}

function modelItem(model: StoredModel): RemovalItem {
  const notes = [formatBytes(model.bytes), variantsText(model)];
  if (!model.complete) notes.push('incomplete download');
  else if (model.partialBytes > 0) notes.push(`${formatBytes(model.partialBytes)} of it a partial download`);
  if (model.downloadingPid !== undefined) notes.push('being downloaded now');
  if (model.usedBy.length > 0) notes.push(`in use (${model.usedBy.join(', ')})`);
  if (model.loadedElsewhere.length > 0) notes.push(`loaded elsewhere (process ${model.loadedElsewhere.join(', ')})`);
  return {
    label: `${model.usedBy.length > 0 ? '$(pass-filled) ' : ''}${model.label}`,
    description: notes.join(' · '),
    detail: model.folder,
    model,
  };
}

function partialsItem(models: StoredModel[]): RemovalItem {
  const bytes = models.reduce((total, model) => total + model.partialBytes, 0);
  return {
    label: 'Partial downloads only',
    description: `${formatBytes(bytes)} in ${models.length} ${models.length === 1 ? 'folder' : 'folders'}; their finished files stay`,
    detail: `Kept to resume: ${models.map((model) => model.label).join(', ')}. Their downloads start those files over.`,
    partialsOf: models,
  };
}

/** What removing the folder does to the setting that points into it, for the modal. */
function consequence(model: StoredModel, setting: string): string {
  if (setting === SLM_FOLDER_SETTING) {
    return `${model.label} is the small model in use (${SLM_FOLDER_SETTING}): the setting is cleared, so Relay answers with the embedded demo model until you pick another with "Relay: Select Model".`;
  }
  return `${model.label} is the large model onnx-local runs (${LLM_FOLDER_SETTING}): the setting is cleared; set it to another model folder before the next answer that needs the LLM.`;
}

/** What removing a folder another process has a model loaded from does there, for the modal. */
function loadedElsewhereWarning(model: StoredModel, platform: NodeJS.Platform): string {
  const where = `${model.label} is loaded in another VS Code window or by the relay CLI (process ${model.loadedElsewhere.join(', ')})`;
  return platform === 'win32'
    ? `${where}: Windows refuses to delete its weights while it is loaded there, so close that window or end that command first; a refused removal leaves it whole.`
    : `${where}: it answers there until it loads the model again, which then fails.`;
}

/** `removal`: tests inject a failing removal, or another platform's. */
export async function removeDownloadedModels(context: vscode.ExtensionContext, removal: Omit<RemovalOptions, 'releasedHere'> = {}): Promise<void> {
  const storageRoot = context.globalStorageUri.fsPath;
  const store = modelStoreFolder(storageRoot);
  let models: StoredModel[];
  try {
    models = await listStoredModels(storageRoot, foldersInUse());
  } catch (error) {
    void showError(
      `Relay: cannot read the model store ${store} (${(error as Error).message}). Check the folder's permissions, or remove models there by hand.`,
    );
    return;
  }
  if (models.length === 0) {
    void showInformation(
      `Relay: no downloaded models to remove: the model store (${store}) is empty or does not exist yet. "Relay: Select Model" downloads models there.`,
    );
    return;
  }

  const items: RemovalItem[] = models.map(modelItem);
  const withPartials = models.filter((model) => model.partialBytes > 0);
  if (withPartials.length > 0) items.push({ label: 'Partial downloads', kind: vscode.QuickPickItemKind.Separator } as RemovalItem, partialsItem(withPartials));
  const picked = await vscode.window.showQuickPick(items, {
    title: TITLE,
    placeHolder: `Pick what to remove from ${store}`,
    canPickMany: true,
    matchOnDescription: true,
    matchOnDetail: true,
  });
  if (!picked || picked.length === 0) return;

  const folders = picked.flatMap((item) => ('model' in item ? [item.model] : []));
  // A whole folder removed takes its partial downloads with it.
  const partialsOnly = picked.flatMap((item) => ('partialsOf' in item ? item.partialsOf : [])).filter((model) => !folders.includes(model));
  const total = folders.reduce((sum, model) => sum + model.bytes, 0) + partialsOnly.reduce((sum, model) => sum + model.partialBytes, 0);
  const what = [
    ...(folders.length > 0 ? [`${folders.length} downloaded ${folders.length === 1 ? 'model' : 'models'}`] : []),
    ...(partialsOnly.length > 0 ? ['partial downloads'] : []),
  ].join(' and ');
  const detail = [
    ...folders.map((model) => `${model.label}: ${formatBytes(model.bytes)}`),
    ...partialsOnly.map((model) => `${model.label}: ${formatBytes(model.partialBytes)} of partial downloads (its download starts those files over)`),
    ...folders.flatMap((model) => model.usedBy.map((setting) => `\n${consequence(model, setting)}`)),
    ...folders.filter((model) => model.loadedElsewhere.length > 0).map((model) => `\n${loadedElsewhereWarning(model, removal.platform ?? process.platform)}`),
  ].join('\n');
  const answer = await showWarning(`Remove ${what} and free ${formatBytes(total)}?`, { modal: true, detail }, REMOVE);
  if (answer !== REMOVE) return;

  const outcomes = await withProgressNotification({ title: 'Relay: removing downloaded models' }, async () => {
    const done: RemovalOutcome[] = [];
    for (const model of folders) done.push(await removeFolder(storageRoot, model, removal));
    for (const model of partialsOnly) {
      const outcome = await removeStoredPartials(storageRoot, model, removal);
      done.push({ ...outcome, label: `the partial downloads of ${model.label}` });
    }
    return done;
  });
  const cleared = await clearSettingsOfRemoved(folders, outcomes);
  report(outcomes, cleared);
}

/** Lets go of the models loaded from the folder (as a download does first), then removes it. */
async function removeFolder(storageRoot: string, model: StoredModel, removal: Omit<RemovalOptions, 'releasedHere'>): Promise<RemovalOutcome> {
  // Windows refuses to delete a file a process has mapped, and ONNX Runtime maps the weights.
  const released = await vscode.commands.executeCommand<boolean | undefined>(RELEASE_MODEL_FOLDER_COMMAND, model.folder).then(undefined, () => undefined);
  if (released === false && model.usedBy.length > 0) {
    return {
      folder: model.folder,
      label: model.label,
      freedBytes: 0,
      problem: `An answer is being written with ${model.label}, so ${model.folder} was not touched. Wait for it, or stop it (Relay: Stop), then remove the model again.`,
      stillComplete: model.complete,
    };
  }
  // Released: what still holds a file is another process (another window, the CLI), which the message names.
  return removeStoredModel(storageRoot, model, { ...removal, releasedHere: released === true });
}

/**
 * Clears the settings that pointed into a folder that is now gone or no longer whole (it lost
 * files); the settings cleared. A removal refused before any file the model needs (a weights
 * file another window maps) leaves them: that window, and the next answer here, still load it.
 */
async function clearSettingsOfRemoved(folders: StoredModel[], outcomes: RemovalOutcome[]): Promise<string[]> {
  const broken = folders.filter((model) => {
    const outcome = outcomes.find((done) => done.folder === model.folder);
    return outcome !== undefined && (outcome.problem === undefined || outcome.freedBytes > 0) && !outcome.stillComplete;
  });
  const settings = new Set(broken.flatMap((model) => model.usedBy));
  const values: Record<string, undefined> = {};
  if (settings.has(SLM_FOLDER_SETTING)) {
    values['slm.modelFolder'] = undefined;
    // The variant was picked for that folder's files; the demo model may not have it.
    values['slm.variant'] = undefined;
  }
  if (settings.has(LLM_FOLDER_SETTING)) values['provider.model'] = undefined;
  if (Object.keys(values).length === 0) return [];
  return (await saveUserSettings(values)) ? [...settings] : [];
}

function report(outcomes: RemovalOutcome[], cleared: string[]): void {
  const freed = outcomes.reduce((sum, outcome) => sum + outcome.freedBytes, 0);
  const failed = outcomes.filter((outcome) => outcome.problem !== undefined);
  const notes: string[] = [];
  if (cleared.includes(SLM_FOLDER_SETTING)) {
    const served = currentText(vscode.workspace.getConfiguration('relay'), 'slm.kind') || 'onnx';
    notes.push(
      served === 'onnx'
        ? `${SLM_FOLDER_SETTING} was cleared: the small model is the embedded demo until you pick another with "Relay: Select Model".`
        : `${SLM_FOLDER_SETTING} (the served model's tokenizer folder) was cleared: pick the model again with "Relay: Select Model".`,
    );
  }
  if (cleared.includes(LLM_FOLDER_SETTING)) notes.push(`${LLM_FOLDER_SETTING} was cleared: set it to another model folder for onnx-local.`);
  const actions = cleared.includes(SLM_FOLDER_SETTING) ? [SELECT_MODEL] : [];
  const pick = (answer: string | undefined): void => {
    if (answer === SELECT_MODEL) void vscode.commands.executeCommand('relay.selectModel');
  };
  if (failed.length === 0) {
    const names = outcomes.map((outcome) => outcome.label).join(', ');
    void showInformation([`Relay: removed ${names}; ${formatBytes(freed)} freed.`, ...notes].join(' '), ...actions).then(pick);
    return;
  }
  const problems = failed.map((outcome) => `${outcome.label}: ${outcome.problem}`);
  void showError(
    [`Relay: ${formatBytes(freed)} freed; ${failed.length} of ${outcomes.length} could not be removed (wholly or at all).`, ...problems, ...notes].join(' '),
    ...actions,
  ).then(pick);
}
