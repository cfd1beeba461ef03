/**
 * "Relay: Select Model": the curated models (with size per variant and what they need,
 * downloaded ones marked), the embedded demo model, "Use a local folder..." (checked by
 * the runtime's model folder loader, its error shown), any other hub repository, and a
 * model on a server (selectServedModel.ts).
 * Downloads run in a cancellable progress notification (bytes and speed), resume where
 * they stopped, and set relay.slm.modelFolder only once the model is whole. A catalog entry
 * that pins a commit and its files' sha256 downloads exactly those; the list says which
 * entries are unpinned (they follow a branch and trust the hub's checksums).
 */
import * as vscode from 'vscode';
import { downloadModel, type DownloadProgress } from '../core/models/downloader';
import { formatBytes, isModelDownloadError, ModelDownloadError, type ModelDownloadErrorCode } from '../core/models/errors';
import { checkRepoId, listRepoFiles, normalizeEndpoint, readRepoText, type HubContext, type HubFile } from '../core/models/hubApi';
import { withoutCredentials } from '../core/http/shownUrl';
import { DEFAULT_HUB_TIMEOUTS } from '../core/models/hubHttp';
import { typedKeyProblem } from '../core/providers/keyShape';
import { modelFolder, modelStatus } from '../core/models/modelStore';
import { availableVariants, filesForVariant } from '../core/models/variantFiles';
import { readModelFolder, SUPPORTED_MODEL_TYPES } from '../core/slm/modelFolder';
import type { OnnxVariant } from '../core/slm/types';
import {
  catalogModelForRepo,
  describeVariant,
  downloadRevision,
  EMBEDDED_DEMO_ID,
  MODEL_CATALOG,
  pinSummary,
  sizeRange,
  variantOptions,
  type CatalogModel,
  type CatalogPin,
} from './modelCatalog';
import { pathOnThisMachine, selectServedModel, showFolderDialog } from './selectServedModel';
import { askModal } from './askModal';
import { KeyStore, MODEL_HUB } from './keyStore';
import { currentPath, currentText, saveUserSettings, settingSourceText, textSetting, userSettingsTab } from './settings';
import { showError, showInformation, showWarning, withProgressNotification } from './notifications';

const DEFAULT_ENDPOINT = 'https://huggingface.co';
/** Lets go of a model loaded from a folder (RelayService.releaseFolder); not in the palette. */
export const RELEASE_MODEL_FOLDER_COMMAND = 'relay.releaseModelFolder';
const TOKEN_HINT = 'run "Relay: Set Model Hub Token"';

type PickId = { kind: 'catalog'; model: CatalogModel } | { kind: 'folder' } | { kind: 'other-repo' } | { kind: 'server' };

/** The hub endpoint setting, validated (a bad value is an error naming the setting). */
function hubEndpoint(): string {
  const value = textSetting(vscode.workspace.getConfiguration('relay'), 'models.hubEndpoint', DEFAULT_ENDPOINT).trim() || DEFAULT_ENDPOINT;
  normalizeEndpoint(value);
  return value.replace(/\/+$/, '');
}

/** The hub token is kept as the providers' keys are: bound to the hub's origin it was entered for (keyStore.ts). */
function tokens(context: vscode.ExtensionContext): KeyStore {
  return new KeyStore(context.secrets, context.globalState, askModal);
}

async function hubContext(context: vscode.ExtensionContext, signal?: AbortSignal): Promise<HubContext> {
  const endpoint = hubEndpoint();
  const store = tokens(context);
  // A token stored before tokens were bound to an origin belongs to the endpoint it was being sent to.
  await store.migrateLegacy(MODEL_HUB, endpoint);
  const decision = await store.keyFor(MODEL_HUB, normalizeEndpoint(endpoint));
  return {
    endpoint,
    token: decision.key || undefined,
    signal,
    timeouts: DEFAULT_HUB_TIMEOUTS,
    // A gated model's message says why a stored token was not sent.
    tokenHint: decision.withheld ? `${TOKEN_HINT}. ${decision.withheld.replace(/\.$/, '')}` : TOKEN_HINT,
  };
}

function storageRoot(context: vscode.ExtensionContext): string {
  return context.globalStorageUri.fsPath;
}

async function useFolder(folder: string, variant: OnnxVariant | 'auto', label: string): Promise<void> {
  const config = vscode.workspace.getConfiguration('relay');
  // An ONNX folder runs in Relay: off the server, if one was set (removed: the default, onnx).
  const offServer = (currentText(config, 'slm.kind') || 'onnx') !== 'onnx' ? { 'slm.kind': undefined } : {};
  const values = { 'slm.modelFolder': folder, 'slm.variant': variant, ...offServer };
  // In a remote window relay.slm.kind is the local user settings' too (application scope): every window leaves the server.
  const everyWindow = "Local windows would stop using the small model's server too, and run their own relay.slm.modelFolder in Relay.";
  const saved = await saveUserSettings(values, everyWindow);
  if (!saved) return;
  // In a remote window the folder is the remote machine's, and so is the choice: windows on other machines keep theirs.
  const where = userSettingsTab('slm.modelFolder') === 'remote' ? `, saved ${settingSourceText('remote')} for the windows on that machine` : '';
  const elsewhere = saved.everyWindow
    ? `; local windows, which read relay.slm.kind ${settingSourceText('user')} too, no longer use the small model's server either and run their own folder`
    : '';
  void showInformation(`Relay: the small model is now ${label}${where}${elsewhere}.`);
  offerToDropWorkspaceVariant(variant);
}

const REMOVE_WORKSPACE_VALUE = 'Remove It from This Workspace';

/**
 * relay.slm.variant may be set by a workspace (it picks a file of the user's folder), and a
 * workspace value wins over the user's choice just saved: say so, and offer to remove it.
 */
function offerToDropWorkspaceVariant(chosen: OnnxVariant | 'auto'): void {
  // In Restricted Mode VS Code ignores a workspace's value (relay.slm.variant is restricted): nothing wins over the choice.
  if (!vscode.workspace.isTrusted) return;
  const config = vscode.workspace.getConfiguration('relay');
  const inspected = config.inspect<string>('slm.variant');
  const overriding = [
    { value: inspected?.workspaceFolderValue, target: vscode.ConfigurationTarget.WorkspaceFolder, where: "this folder's settings" },
    { value: inspected?.workspaceValue, target: vscode.ConfigurationTarget.Workspace, where: "this workspace's settings (.vscode/settings.json)" },
  ].filter((o) => o.value !== undefined && o.value !== chosen);
  if (overriding.length === 0) return;
  // Not awaited: a notification nobody closes must not hold up the command.
  void showWarning(
    `Relay: ${overriding[0].where} set relay.slm.variant to ${JSON.stringify(overriding[0].value)}, which wins over the ${JSON.stringify(chosen)} just chosen.`,
    REMOVE_WORKSPACE_VALUE,
  ).then(async (picked) => {
    if (picked !== REMOVE_WORKSPACE_VALUE) return;
    try {
      for (const o of overriding) await config.update('slm.variant', undefined, o.target);
    } catch (error) {
      void showError(
        `Relay: could not remove relay.slm.variant from ${overriding[0].where} (${error instanceof Error ? error.message : String(error)}). Remove it there by hand.`,
      );
    }
  });
}

export async function selectModel(context: vscode.ExtensionContext): Promise<void> {
  const config = vscode.workspace.getConfiguration('relay');
  // On a server, no folder entry is the current model (the folder only lends its tokenizer).
  const servedNow =
    (currentText(config, 'slm.kind') || 'onnx') !== 'onnx'
      ? `${currentText(config, 'slm.serverModel')} at ${currentText(config, 'slm.serverUrl') || 'the default address'}`
      : undefined;
  const current = servedNow ? undefined : currentPath(config, 'slm.modelFolder');
  const root = storageRoot(context);
  const items: (vscode.QuickPickItem & { pick?: PickId })[] = [{ label: 'Curated models', kind: vscode.QuickPickItemKind.Separator }];
  for (const model of MODEL_CATALOG) {
    const status = model.hubRepo ? safeStatus(root, model.hubRepo, downloadRevision(model)) : undefined;
    const isCurrent = model.id === EMBEDDED_DEMO_ID ? current === '' : status !== undefined && current === status.folder;
    const downloaded =
      model.id === EMBEDDED_DEMO_ID ? 'built in' : status && status.variants.length > 0 ? `downloaded: ${status.variants.join(', ')}` : undefined;
    items.push({
      label: `${isCurrent ? '$(check) ' : ''}${model.label}`,
      description: [downloaded, model.id === EMBEDDED_DEMO_ID ? undefined : sizeRange(model), model.hubRepo && !model.pin ? 'unpinned' : undefined]
        .filter(Boolean)
        .join(' · '),
      detail: `${model.relayTrained ? 'Trained to call the LLM (command mode). ' : ''}${model.note} Needs ${model.needs}.${model.hubRepo ? ` ${model.hubRepo}: ${pinSummary(model)}.` : ''}`,
      pick: { kind: 'catalog', model },
    });
  }
  items.push({ label: 'Other', kind: vscode.QuickPickItemKind.Separator });
  items.push({
    label: '$(folder) Use a local folder...',
    description: 'an ONNX export: config.json, tokenizer.json, onnx/model*.onnx; works offline',
    pick: { kind: 'folder' },
  });
  items.push({
    label: '$(cloud-download) Another model hub repository...',
    description: 'an onnx-community style export, e.g. onnx-community/Qwen3-0.6B-ONNX',
    pick: { kind: 'other-repo' },
  });
  items.push({
    label: `${servedNow ? '$(check) ' : ''}$(server) A model on a server…`,
    description: servedNow ? `now: ${servedNow}` : 'vLLM, SGLang, llama.cpp, LM Studio or Ollama; tested before it is used',
    pick: { kind: 'server' },
  });

  const picked = await vscode.window.showQuickPick(items, { title: 'Relay: Select the small model', matchOnDescription: true, matchOnDetail: true });
  if (!picked?.pick) return;
  const choice = picked.pick;
  if (choice.kind === 'folder') return pickLocalFolder();
  if (choice.kind === 'server') return selectServedModel(context);
  if (choice.kind === 'catalog' && choice.model.id === EMBEDDED_DEMO_ID) return useFolder('', 'auto', 'the embedded demo model');
  let repo: string;
  let revision = 'main';
  let pin: CatalogPin | undefined;
  if (choice.kind === 'catalog') {
    repo = choice.model.hubRepo as string;
    revision = downloadRevision(choice.model);
    pin = choice.model.pin;
  } else {
    const typed = await vscode.window.showInputBox({
      title: 'Relay: model hub repository',
      prompt: 'owner/name of an ONNX export in the transformers.js layout (onnx/model_q4.onnx, tokenizer.json, ...)',
      placeHolder: 'onnx-community/Qwen3-0.6B-ONNX',
      ignoreFocusOut: true,
      validateInput: (value) => {
        try {
          checkRepoId(value.trim());
          return undefined;
        } catch (error) {
          return (error as Error).message;
        }
      },
    });
    if (!typed) return;
    repo = typed.trim();
  }
  await pickVariantAndDownload(context, repo, revision, pin);
}

function safeStatus(root: string, repo: string, revision: string): ReturnType<typeof modelStatus> | undefined {
  try {
    return modelStatus(root, repo, revision);
  } catch {
    return undefined;
  }
}

/** Folder picker, validated by the runtime's loader; its error is shown with a way to try again. */
async function pickLocalFolder(): Promise<void> {
  for (;;) {
    const folder = await showFolderDialog('Relay: the small model folder', 'Use this model folder');
    if (!folder) return;
    try {
      const path = pathOnThisMachine(folder);
      const model = readModelFolder(path, 'auto');
      await useFolder(path, 'auto', `${path} (${model.config.modelType}, ${model.chosen.variant})`);
      return;
    } catch (error) {
      const again = await showError(`Relay cannot use this folder as a small model: ${(error as Error).message}`, 'Choose Another Folder');
      if (again !== 'Choose Another Folder') return;
    }
  }
}

/** What reading a repository's file list came to. */
interface ListingRead {
  listing?: HubFile[];
  /** Why the repository's model cannot run here, when that was checked and it cannot. */
  unsupported?: string;
  /** Why the list could not be read. */
  error?: unknown;
  cancelled?: boolean;
}

/**
 * The file list of `repo`, and with `checkArchitecture` whether its model runs here (its
 * config.json), both under one cancellable progress notification: a slow hub never leaves
 * the user waiting on something they cannot stop.
 */
async function readListing(context: vscode.ExtensionContext, repo: string, revision: string, checkArchitecture: boolean): Promise<ListingRead> {
  try {
    const hub = await hubContext(context);
    return await withProgressNotification({ title: `Relay: reading the file list of ${repo}…`, cancellable: true }, async (progress, token) => {
      const controller = new AbortController();
      const cancel = token.onCancellationRequested(() => controller.abort());
      try {
        const cancellable = { ...hub, signal: controller.signal };
        const listing = await listRepoFiles(cancellable, repo, revision);
        // A listing without a variant is refused for that; its config.json would say nothing more.
        if (!checkArchitecture || availableVariants(listing).length === 0) return { listing };
        progress.report({ message: 'checking its config.json…' });
        return { listing, unsupported: await unsupportedArchitecture(cancellable, repo, revision) };
      } finally {
        cancel.dispose();
      }
    });
  } catch (error) {
    if (isModelDownloadError(error) && error.code === 'cancelled') return { cancelled: true };
    return { error };
  }
}

/** `pin`: the catalog entry's pinned commit (= `revision`) and file hashes, which the download must match. */
async function pickVariantAndDownload(context: vscode.ExtensionContext, repo: string, revision: string, pin?: CatalogPin): Promise<void> {
  const root = storageRoot(context);
  const status = modelStatus(root, repo, revision);
  const read = await readListing(context, repo, revision, status.variants.length === 0);
  if (read.cancelled) return;
  const { listing, error: listingError } = read;
  if (listing && availableVariants(listing).length === 0) {
    try {
      filesForVariant(repo, listing, 'auto'); // throws the message that says what is missing
    } catch (error) {
      void showError(`Relay: ${(error as Error).message}`);
      return;
    }
  }
  if (read.unsupported) {
    void showError(`Relay: ${read.unsupported}`);
    return;
  }
  const options = variantOptions({ listed: listing ? availableVariants(listing) : undefined, catalog: catalogModelForRepo(repo), downloaded: status.variants });
  if (!listing && status.variants.length === 0) {
    // Nothing downloaded to fall back on: say why the list could not be read (gated, offline...).
    await showDownloadError(
      context,
      repo,
      revision,
      listingError ?? new ModelDownloadError('network', `The file list of ${repo} could not be read.`),
      'auto',
      pin,
    );
    return;
  }
  const picked = await vscode.window.showQuickPick(
    options.map((option) => ({
      label: describeVariant(option),
      option,
      detail: option.downloaded ? 'Use the downloaded copy' : 'Download from the model hub',
    })),
    {
      title: `Relay: which variant of ${repo}?${listing ? '' : ' (offline: only downloaded ones)'}${pin ? ` (pinned to commit ${pin.commit.slice(0, 7)})` : ' (unpinned)'}`,
      placeHolder: 'q4 and int8 are smallest and fastest on a CPU; fp16/fp32 are exact but larger',
    },
  );
  if (!picked) return;
  const variant = picked.option.variant;
  if (picked.option.downloaded) return useFolder(status.folder, variant, `${repo} (${variant}, downloaded)`);
  if (!listing) return;
  const files = filesForVariant(repo, listing, variant).files;
  await runDownload(context, repo, revision, variant, files, pin);
}

/** "Retry": the file list is read again, since a repository that moved on serves other files than the old list says. */
async function downloadAgain(context: vscode.ExtensionContext, repo: string, revision: string, variant: OnnxVariant, pin?: CatalogPin): Promise<void> {
  const read = await readListing(context, repo, revision, false);
  if (read.cancelled) return;
  let files: HubFile[];
  try {
    if (!read.listing) throw read.error ?? new ModelDownloadError('network', `The file list of ${repo} could not be read.`);
    files = filesForVariant(repo, read.listing, variant).files;
  } catch (error) {
    await showDownloadError(context, repo, revision, error, variant, pin);
    return;
  }
  await runDownload(context, repo, revision, variant, files, pin);
}

/** Why the repository's model cannot run here (its config.json's model_type), before gigabytes are fetched. */
async function unsupportedArchitecture(hub: HubContext, repo: string, revision: string): Promise<string | undefined> {
  let modelType: unknown;
  try {
    modelType = (JSON.parse(await readRepoText(hub, repo, revision, 'config.json')) as { model_type?: unknown }).model_type;
  } catch (error) {
    if (isModelDownloadError(error) && error.code === 'cancelled') throw error;
    return undefined; // the download itself reports what is wrong
  }
  if (typeof modelType === 'string' && (SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelType)) return undefined;
  return `${repo} is a ${JSON.stringify(modelType)} model, which Relay's runtime does not run; supported: ${SUPPORTED_MODEL_TYPES.join(', ')}.`;
}

function progressMessage(progress: DownloadProgress): string {
  const speed = progress.bytesPerSecond > 0 ? ` · ${formatBytes(progress.bytesPerSecond)}/s` : '';
  const file = progress.file ? ` · ${progress.file} (${progress.fileIndex}/${progress.fileCount})` : '';
  if (progress.phase === 'checking') return 'checking what is already here…';
  if (progress.phase === 'verifying') return `verifying ${progress.file ?? ''}…`;
  return `${formatBytes(progress.bytesDone)} of ${formatBytes(progress.bytesTotal)}${speed}${file}`;
}

async function runDownload(
  context: vscode.ExtensionContext,
  repo: string,
  revision: string,
  variant: OnnxVariant,
  files: HubFile[],
  pin?: CatalogPin,
): Promise<void> {
  const title = `Relay: downloading ${repo} (${variant})`;
  try {
    // The files may be replaced, and Windows refuses that while the loaded model maps them.
    await vscode.commands.executeCommand(RELEASE_MODEL_FOLDER_COMMAND, modelFolder(storageRoot(context), repo, revision)).then(undefined, () => undefined);
    const hub = await hubContext(context);
    const result = await withProgressNotification({ title, cancellable: true }, async (progress, token) => {
      const controller = new AbortController();
      const cancel = token.onCancellationRequested(() => controller.abort());
      let reportedPercent = 0;
      try {
        return await downloadModel({
          endpoint: hub.endpoint,
          repo,
          revision,
          files,
          storageRoot: storageRoot(context),
          variants: [variant],
          pinnedSha256: pin?.sha256,
          token: hub.token,
          tokenHint: TOKEN_HINT,
          signal: controller.signal,
          progressIntervalMs: 500,
          onProgress: (p) => {
            const percent = p.bytesTotal > 0 ? Math.floor((100 * p.bytesDone) / p.bytesTotal) : 0;
            progress.report({ message: progressMessage(p), increment: Math.max(0, percent - reportedPercent) });
            reportedPercent = Math.max(reportedPercent, percent);
          },
        });
      } finally {
        cancel.dispose();
      }
    });
    // The loader must accept what was downloaded before the setting points at it.
    const model = readModelFolder(result.folder, variant);
    const fetched = result.bytesDownloaded > 0 ? `${formatBytes(result.bytesDownloaded)} downloaded` : 'already downloaded';
    await useFolder(result.folder, variant, `${repo} (${model.config.modelType}, ${variant}; ${fetched})`);
  } catch (error) {
    await showDownloadError(context, repo, revision, error, variant, pin);
  }
}

async function showDownloadError(
  context: vscode.ExtensionContext,
  repo: string,
  revision: string,
  error: unknown,
  variant: OnnxVariant | 'auto',
  pin?: CatalogPin,
): Promise<void> {
  const message = error instanceof Error ? error.message : String(error);
  if (isModelDownloadError(error) && error.code === 'cancelled') {
    void showInformation(`Relay: the download of ${repo} was cancelled. What was downloaded is kept; selecting the model again resumes it.`);
    return;
  }
  const code = isModelDownloadError(error) ? error.code : undefined;
  const choice = await showError(`Relay: ${message}`, ...downloadErrorActions(code));
  if (choice === 'Set Model Hub Token') {
    const outcome = await askHubToken(context);
    // A refused token may be replaced or removed (public models need none): either is worth another try.
    if (outcome === 'stored' || (outcome === 'removed' && code === 'token_refused')) await pickVariantAndDownload(context, repo, revision, pin);
  } else if (choice === 'Open Model Page') {
    // The endpoint may carry user:password; a browser's address bar and history must not.
    await vscode.env.openExternal(vscode.Uri.parse(new URL(repo, withoutCredentials(normalizeEndpoint(hubEndpoint()))).href));
  } else if (choice === 'Retry') {
    if (variant !== 'auto') await downloadAgain(context, repo, revision, variant, pin);
    else await pickVariantAndDownload(context, repo, revision, pin);
  }
}

/**
 * The buttons of a failed download's notification. Every code is named (the switch is
 * exhaustive), so a new one cannot fall through to another's buttons: a refused token is
 * fixed by the token alone, a gated repository also by accepting its terms on its page.
 */
function downloadErrorActions(code: ModelDownloadErrorCode | undefined): string[] {
  switch (code) {
    case 'gated':
      return ['Set Model Hub Token', 'Open Model Page'];
    case 'token_refused':
      return ['Set Model Hub Token'];
    case 'network':
    case 'server':
    case 'disk_full':
    case 'checksum':
    case 'size':
      return ['Retry'];
    case 'bad_request':
    case 'not_found':
    case 'unverifiable':
    case 'busy':
    case 'cancelled':
    case undefined:
      return [];
  }
}

/** "Relay: Set Model Hub Token": an access token for gated repositories, in SecretStorage only. True when one was stored. */
export async function setHubToken(context: vscode.ExtensionContext): Promise<boolean> {
  return (await askHubToken(context)) === 'stored';
}

/** Asks for the hub token and stores it, or removes the stored one when the box is left empty; undefined when nothing changed. */
async function askHubToken(context: vscode.ExtensionContext): Promise<'stored' | 'removed' | undefined> {
  let origin: string;
  try {
    origin = normalizeEndpoint(hubEndpoint()).origin;
  } catch (error) {
    void showError(`Relay: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
  const token = await vscode.window.showInputBox({
    title: `Relay: access token for ${origin}`,
    prompt: `A read token from ${origin}/settings/tokens, for gated or private models. It goes to ${origin} only (relay.models.hubEndpoint), and is kept in VS Code's secret storage. Leave empty to remove it.`,
    password: true,
    ignoreFocusOut: true,
    // Empty removes; anything else must have a key's shape (the message never quotes it).
    validateInput: (typed) => typedKeyProblem(typed, 'token'),
  });
  if (token === undefined) return undefined;
  const store = tokens(context);
  await store.migrateLegacy(MODEL_HUB, origin);
  if (token.trim() === '') {
    await store.remove(MODEL_HUB, origin);
    void showInformation(`Relay: the model hub token for ${origin} was removed.`);
    return 'removed';
  }
  try {
    await store.store(MODEL_HUB, origin, token.trim());
  } catch (error) {
    void showError(`Relay: the model hub token was not stored. ${(error as Error).message}`);
    return undefined;
  }
  void showInformation(`Relay: the model hub token for ${origin} is stored.`);
  return 'stored';
}
