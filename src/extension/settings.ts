/**
 * Reads and validates the `relay.*` settings. A bad value becomes a message that names
 * the setting and the fix, never a silent default.
 */
import { existsSync } from 'node:fs';
import { basename, isAbsolute } from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import * as vscode from 'vscode';
import { askModal } from './askModal';
import { showError } from './notifications';
import type { RelaySetup } from '../core/compose';
import { pastedPath } from '../core/homePath';
import type { ProviderKind } from '../core/providers/types';
import { SLM_KINDS, VARIANT_CHOICES, type OnnxVariant, type Q4Compute, type ServedSlmKind } from '../core/slm/types';
import type { RelayMode } from '../core/relay/events';
import { SETTINGS_MODES } from '../core/relay/policies/registry';
import { DEFAULT_PROVIDER_KIND, isProviderKind, PROVIDER_KINDS, providerOf } from '../core/providers/registry';
import { CACHING_CHOICES, type CachingChoice } from '../core/providers/billing';
import { isLoopback } from '../core/providers/endpoints';
import { quotedAddress } from '../core/http/shownUrl';
import { contributes } from '../../package.json';

export interface RelaySettings {
  /** As the composition root takes it. */
  provider: RelaySetup['provider'];
  prices: { inputPerMTok?: number; outputPerMTok?: number; cachedInputPerMTok?: number; cacheWritePerMTok?: number };
  /** `server`: the SLM runs there (relay.slm.kind other than onnx), modelFolder giving its tokenizer and chat template; absent: the ONNX folder runs in Relay. */
  slm: {
    modelFolder: string;
    variant: OnnxVariant | undefined;
    q4Compute: Q4Compute;
    thinking: boolean;
    kvCacheBudgetMb: number;
    /** Load the SLM when VS Code starts (relay.slm.loadAtStartup). */
    loadAtStartup: boolean;
    server?: SlmServerSettings;
  };
  mode: RelayMode | 'auto';
  confidence: { threshold: number; spanTokens: number };
  maxLlmShare: number;
  maxTurns: number;
  tokenBudget: number;
  /** Ceilings of one answer: LLM calls, USD and USD relative to the LLM alone (used when prices are known), seconds without a new token. */
  limits: RelaySetup['limits'];
  temperature: number;
  localOnly: boolean;
}

/** A small model on a server (relay.slm.kind, relay.slm.serverUrl, relay.slm.serverModel). */
export interface SlmServerSettings {
  kind: ServedSlmKind;
  /** Empty: the kind's default address. */
  url: string;
  model: string;
}

const MODES: readonly string[] = ['auto', ...SETTINGS_MODES];

/**
 * Where the value of a relay.* setting in effect is written: the most specific of a workspace
 * folder's settings, the workspace's (.vscode/settings.json, or the .code-workspace file) and
 * the user-level ones (UserSettingsTab); undefined when none sets it (its default).
 */
export type SettingSource = 'workspaceFolder' | 'workspace' | UserSettingsTab;

/**
 * The user-level settings a relay.* setting is read from in this window: the user's, or in a
 * remote window (Remote-SSH, WSL, Dev Containers) the remote machine's ('remote') for a
 * machine-scoped setting, the local user's for an application-scoped one, and either
 * ('userOrRemote', the remote's winning) for the others. VS Code's inspect() gives one
 * globalValue for both, so the scope tells (VS Code's LOCAL_MACHINE_SCOPES and
 * REMOTE_MACHINE_SCOPES). ConfigurationTarget.Global writes a machine-scoped one there too.
 */
export type UserSettingsTab = 'user' | 'remote' | 'userOrRemote';

/** The scope package.json gives relay.`key` (undefined: window, VS Code's default). */
function contributedScope(key: string): string | undefined {
  return (contributes.configuration.properties as Record<string, { scope?: string }>)[`relay.${key}`]?.scope;
}

/** `key` without the `relay.` prefix. */
export function userSettingsTab(key: string): UserSettingsTab {
  if (!vscode.env.remoteName) return 'user';
  const scope = contributedScope(key);
  if (scope === 'application') return 'user';
  return scope === 'machine' || scope === 'machine-overridable' ? 'remote' : 'userOrRemote';
}

/** `key` without the `relay.` prefix. */
export function settingSource(key: string): SettingSource | undefined {
  const inspected = vscode.workspace.getConfiguration('relay').inspect(key);
  if (inspected?.workspaceFolderValue !== undefined) return 'workspaceFolder';
  if (inspected?.workspaceValue !== undefined) return 'workspace';
  if (inspected?.globalValue !== undefined) return userSettingsTab(key);
  return undefined;
}

/** "in the workspace settings (.vscode/settings.json)", as a message names where a value is written. */
export function settingSourceText(source: SettingSource): string {
  switch (source) {
    case 'workspaceFolder':
      return "in the workspace folder settings (the folder's .vscode/settings.json)";
    case 'workspace': {
      const file = vscode.workspace.workspaceFile;
      return `in the workspace settings (${file ? basename(file.path) : '.vscode/settings.json'})`;
    }
    case 'user':
      return 'in your user settings';
    case 'remote':
      return `in your remote settings (${vscode.env.remoteName})`;
    case 'userOrRemote':
      return `in your user or remote settings (${vscode.env.remoteName})`;
  }
}

/**
 * A setting whose value is refused: the message names the setting and where its value is
 * written (a workspace's .vscode/settings.json wins over the user's settings, unseen there);
 * `source` is where the fix opens the Settings editor (fixCommands.ts).
 */
export class SettingsError extends Error {
  readonly source: SettingSource | undefined;
  constructor(
    readonly setting: string,
    message: string,
  ) {
    const source = settingSource(setting);
    super(`Setting relay.${setting}${source ? ` ${settingSourceText(source)}` : ''}: ${message}`);
    this.name = 'SettingsError';
    this.source = source;
  }
}

/** A text setting (its default when unset); another type in settings.json is an error that names the setting, not a crash. */
export function textSetting(config: vscode.WorkspaceConfiguration, key: string, fallback: string): string {
  const value = config.get<unknown>(key);
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'string') throw new SettingsError(key, `${JSON.stringify(value)} is not text: write it in quotes. Fix it in Settings.`);
  return value;
}

/** A folder's absolute path as this machine writes one, for the messages that ask for one. */
const EXAMPLE_FOLDER = process.platform === 'win32' ? 'C:\\models\\my-model' : '/home/me/models/my-model';

/**
 * A path as written, trimmed, without one pair of surrounding double quotes (Windows
 * Explorer's "Copy as path" adds them) and with `~` expanded as the CLI expands it
 * (src/core/homePath.ts); empty when unset. Not checked: see pathSetting.
 */
function writtenPath(config: vscode.WorkspaceConfiguration, key: string): string {
  const written = textSetting(config, key, '').trim();
  return written ? pastedPath(written) : '';
}

/**
 * A path setting (relay.slm.modelFolder, relay.provider.templateFolder), as writtenPath reads
 * it. A relative path is refused: the extension host's working folder is no folder the user
 * chose, and a workspace's is not where these user settings belong.
 */
function pathSetting(config: vscode.WorkspaceConfiguration, key: string): string {
  const path = writtenPath(config, key);
  if (path && !isAbsolute(path)) {
    throw new SettingsError(
      key,
      `${JSON.stringify(textSetting(config, key, '').trim())} is a relative path: use an absolute path (e.g. ${EXAMPLE_FOLDER}, or ~/models/my-model in your home folder). VS Code has no folder it would be relative to.`,
    );
  }
  return path;
}

/**
 * Why onnx-local's large model folder (relay.provider.model) cannot be opened on this machine,
 * if it cannot; said where the large model is opened, not by readSettings. That setting is
 * application-scoped, so a remote window reads the local machine's path (a Windows path in a WSL
 * window), and answers that use no large model (relay.localOnly, slm-only) must not trip on it.
 */
export function localLlmFolderProblem(folder: string): string | undefined {
  if (folder && isAbsolute(folder) && existsSync(folder)) return undefined;
  const problem =
    folder && !isAbsolute(folder)
      ? `${JSON.stringify(folder)} is not an absolute path on this machine: set it to the folder's full path (e.g. ${EXAMPLE_FOLDER}, or ~/models/my-model in your home folder).`
      : `${folder || '(empty)'} does not exist.`;
  const remote = vscode.env.remoteName
    ? ` In this remote window (${vscode.env.remoteName}) Relay runs on the remote machine, and relay.provider.model applies to every window, local ones included: write it under ~ (e.g. ~/models/my-model), the home folder of whichever machine reads it, and keep the model there on each machine.`
    : '';
  return `for onnx-local it is the large model's folder, and ${problem}${remote}`;
}

/** An on/off setting; "true" in quotes is not taken for false in silence (relay.localOnly keeps code on this machine). */
function switchSetting(config: vscode.WorkspaceConfiguration, key: string, fallback: boolean): boolean {
  const value = config.get<unknown>(key);
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'boolean') throw new SettingsError(key, `${JSON.stringify(value)} is not true or false (without quotes). Fix it in Settings.`);
  return value;
}

function numberIn(config: vscode.WorkspaceConfiguration, key: string, min: number, max: number, integer = false): number {
  const value = config.get<unknown>(key);
  if (typeof value !== 'number' || !Number.isFinite(value) || value < min || value > max || (integer && !Number.isInteger(value))) {
    throw new SettingsError(key, `${JSON.stringify(value)} is not ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}. Fix it in Settings.`);
  }
  return value;
}

function optionalPrice(config: vscode.WorkspaceConfiguration, key: string): number | undefined {
  const value = config.get<unknown>(key);
  if (value === null || value === undefined || value === '') return undefined;
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) {
    throw new SettingsError(
      key,
      `${JSON.stringify(value)} is not a price: give USD per million tokens (a number of 0 or more), or leave it empty for the built-in table.`,
    );
  }
  return value;
}

/**
 * What relay.provider.baseUrl and relay.slm.serverUrl take, as written (spaces around are
 * trimmed): empty, or http:// or https:// (in any case, as URLs take it) and no spaces. package.json gives both settings
 * this `pattern`, so the Settings editor marks what readSettings refuses.
 */
export const HTTP_URL_PATTERN = String.raw`^\s*([hH][tT][tT][pP][sS]?://\S+)?\s*$`;
const HTTP_URL = new RegExp(HTTP_URL_PATTERN);

/** An http(s) address without a login, or the error that names relay.slm.serverUrl (also the model picker's input check). */

export function slmServerUrlProblem(text: string): string | undefined {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `${quotedAddress(text)} is not a URL: give the server's address, e.g. http://127.0.0.1:8000/v1 (vLLM, SGLang, llama.cpp, LM Studio) or http://127.0.0.1:11434 (Ollama).`;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return `${quotedAddress(text)} is not an http:// or https:// address.`;
  // What the URL parser forgives (http:host, spaces in the path) the Settings editor's pattern marks: one rule for both.
  if (!HTTP_URL.test(text)) return `${quotedAddress(text)} is not written as http://host... or https://host... (no spaces), e.g. http://127.0.0.1:8000/v1.`;
  // The SLM's server gets no key or login; a URL with one would put it in requests and records.
  if (url.username || url.password) return `${quotedAddress(text)} carries a login (user:password@); the small model's server is sent none. Remove it.`;
  return undefined;
}

/** relay.slm.kind and its server, validated; nothing for onnx (the folder runs in Relay). */
function slmServerOf(config: vscode.WorkspaceConfiguration): { server?: SlmServerSettings } {
  const kind = textSetting(config, 'slm.kind', 'onnx');
  if (!(SLM_KINDS as readonly string[]).includes(kind)) throw new SettingsError('slm.kind', `"${kind}" is not one of ${SLM_KINDS.join(', ')}.`);
  if (kind === 'onnx') return {};
  const url = textSetting(config, 'slm.serverUrl', '').trim();
  const urlProblem = url ? slmServerUrlProblem(url) : undefined;
  if (urlProblem) throw new SettingsError('slm.serverUrl', urlProblem);
  const model = textSetting(config, 'slm.serverModel', '').trim();
  if (!model)
    throw new SettingsError(
      'slm.serverModel',
      `is empty, and relay.slm.kind is ${kind}: set it to the name the server serves the small model under (or run "Relay: Select Model").`,
    );
  const folder = pathSetting(config, 'slm.modelFolder');
  // The embedded demo's tokenizer is not the server's model's: its folder must be named.
  if (!folder) {
    throw new SettingsError(
      'slm.modelFolder',
      `is empty, and relay.slm.kind is ${kind}: set it to the served model's folder (its tokenizer.json, tokenizer_config.json and config.json; no weights needed), which gives the tokenizer and chat template.`,
    );
  }
  return { server: { kind: kind as ServedSlmKind, url, model } };
}

export function readSettings(): RelaySettings {
  const settings = readEachSetting();
  localOnlyKeptLocal(settings);
  return settings;
}

/** The setting readSettings refuses now, if any: what the 'open-settings' fix opens (fixCommands.ts). */
export function settingsProblem(): SettingsError | undefined {
  try {
    readSettings();
    return undefined;
  } catch (error) {
    return error instanceof SettingsError ? error : undefined;
  }
}

/**
 * Local only promises that nothing leaves the machine, and a small model on a server gets
 * every prompt whole: that server must be on this machine too.
 */
function localOnlyKeptLocal(settings: RelaySettings): void {
  const server = settings.slm.server;
  if (!settings.localOnly || !server?.url) return;
  const url = new URL(server.url);
  if (isLoopback(url.hostname)) return;
  throw new SettingsError('localOnly', localOnlyServerRefusal(url));
}

function localOnlyServerRefusal(url: URL): string {
  return (
    `is on, and the small model's server (relay.slm.serverUrl, ${url.origin}) is not on this machine: every prompt would go there. ` +
    'Point relay.slm.serverUrl at a server on this machine (127.0.0.1), or turn relay.localOnly off.'
  );
}

/**
 * Why a small model's server at `address` may not be used while relay.localOnly is on (as
 * readSettings refuses it), for a picker to say before it sends the server anything; a
 * relay.localOnly that is not a plain true or false counts as on.
 */
export function localOnlyServerProblem(config: vscode.WorkspaceConfiguration, address: string): string | undefined {
  let localOnly: boolean;
  try {
    localOnly = switchSetting(config, 'localOnly', false);
  } catch {
    localOnly = true;
  }
  if (!localOnly) return undefined;
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return undefined;
  }
  return isLoopback(url.hostname) ? undefined : `relay.localOnly ${localOnlyServerRefusal(url)}`;
}

/** relay.provider.kind and relay.provider.baseUrl, validated: what decides where a key is sent (also Set API Key's check). */
export function providerAddressSettings(config: vscode.WorkspaceConfiguration): { kind: ProviderKind; baseUrl: string } {
  const kind = textSetting(config, 'provider.kind', DEFAULT_PROVIDER_KIND);
  if (!isProviderKind(kind)) throw new SettingsError('provider.kind', `"${kind}" is not one of ${PROVIDER_KINDS.join(', ')}.`);
  const baseUrl = textSetting(config, 'provider.baseUrl', '').trim();
  if (baseUrl && !HTTP_URL.test(baseUrl)) {
    throw new SettingsError('provider.baseUrl', `${quotedAddress(baseUrl)} is not an http(s) URL, e.g. https://api.openai.com/v1.`);
  }
  return { kind, baseUrl };
}

/** The button of the question saveUserSettings asks before it changes every window's settings from a remote window. */
export const SWITCH_EVERYWHERE = 'Switch Everywhere';

/**
 * The keys among `values` (relay.* without the prefix) whose saving from this window changes
 * every window's: in a remote window the application-scoped ones, which VS Code keeps in the
 * local user settings, where their value would change.
 */
function sharedSettingChanges(values: Record<string, unknown>): string[] {
  if (!vscode.env.remoteName) return [];
  const config = vscode.workspace.getConfiguration('relay');
  return Object.entries(values)
    .filter(([key, value]) => {
      if (contributedScope(key) !== 'application') return false;
      const inspected = config.inspect(key);
      return !isDeepStrictEqual(value ?? inspected?.defaultValue, inspected?.globalValue ?? inspected?.defaultValue);
    })
    .map(([key]) => key);
}

/**
 * Saves a picker's choice in the user's settings (relay.* keys without the prefix; undefined
 * removes one); in a remote window VS Code puts a machine-scoped one (the small model's folder)
 * in the remote machine's, where the model runs (userSettingsTab), and an application-scoped
 * one in the local user settings, which every window reads: that is asked first in a modal
 * question, `everyWindow` saying what it would do to the other windows. A settings.json VS Code
 * cannot write (it has errors) is said, with the fix. False when nothing was saved (the user
 * said no, or VS Code could not write), and the caller says nothing more; else whether the
 * save changed every window's settings (`everyWindow`), for the caller's words.
 */
export async function saveUserSettings(values: Record<string, unknown>, everyWindow = ''): Promise<{ everyWindow: boolean } | false> {
  const shared = sharedSettingChanges(values).map((key) => `relay.${key}`);
  if (shared.length > 0) {
    const names = shared.length === 1 ? shared[0] : `${shared.slice(0, -1).join(', ')} and ${shared.at(-1)}`;
    const yes = await askModal(
      `Relay: change ${names} for every window, local ones included?`,
      `${shared.length === 1 ? 'This setting applies' : 'These settings apply'} to all windows, local ones included, not only to this remote window (${vscode.env.remoteName}): VS Code keeps ${shared.length === 1 ? 'it' : 'them'} in your local user settings.${everyWindow ? ` ${everyWindow}` : ''}`,
      SWITCH_EVERYWHERE,
    );
    if (!yes) return false;
  }
  const config = vscode.workspace.getConfiguration('relay');
  try {
    for (const [key, value] of Object.entries(values)) await config.update(key, value, vscode.ConfigurationTarget.Global);
    return { everyWindow: shared.length > 0 };
  } catch (error) {
    const remote = Object.keys(values).some((key) => userSettingsTab(key) !== 'user');
    const files = remote
      ? `your user or remote settings (${(error as Error).message}). Fix that settings.json ("Preferences: Open User Settings (JSON)" or "Preferences: Open Remote Settings (JSON)")`
      : `your user settings (${(error as Error).message}). Fix settings.json ("Preferences: Open User Settings (JSON)")`;
    void showError(`Relay: the choice was not saved: VS Code could not write ${files}, then choose again.`);
    return false;
  }
}

/**
 * A text setting's value as a picker shows it as the current choice; anything but text counts
 * as unset, since the picker is how the user replaces it (readSettings names the bad value).
 */
export function currentText(config: vscode.WorkspaceConfiguration, key: string): string {
  const value = config.get<unknown>(key);
  return typeof value === 'string' ? value.trim() : '';
}

/** A path setting as readSettings reads it (quotes dropped, `~` expanded: pastedPath), unchecked; '' when unset or not text. */
export function currentPath(config: vscode.WorkspaceConfiguration, key: string): string {
  const text = currentText(config, key);
  return text ? pastedPath(text) : '';
}

function readEachSetting(): RelaySettings {
  const config = vscode.workspace.getConfiguration('relay');
  const { kind, baseUrl } = providerAddressSettings(config);
  const mode = textSetting(config, 'mode', 'auto');
  if (!MODES.includes(mode)) throw new SettingsError('mode', `"${mode}" is not one of ${MODES.join(', ')}.`);
  const variant = textSetting(config, 'slm.variant', 'auto');
  if (!(VARIANT_CHOICES as readonly string[]).includes(variant))
    throw new SettingsError('slm.variant', `"${variant}" is not one of ${VARIANT_CHOICES.join(', ')}.`);
  const thinking = textSetting(config, 'slm.thinking', 'off');
  if (thinking !== 'off' && thinking !== 'on') throw new SettingsError('slm.thinking', `"${thinking}" is not off or on.`);
  const caching = textSetting(config, 'provider.caching', 'auto');
  if (!(CACHING_CHOICES as readonly string[]).includes(caching))
    throw new SettingsError('provider.caching', `"${caching}" is not one of ${CACHING_CHOICES.join(', ')}.`);
  const q4Compute = textSetting(config, 'slm.q4Compute', 'as-exported');
  if (q4Compute !== 'as-exported' && q4Compute !== 'int8') throw new SettingsError('slm.q4Compute', `"${q4Compute}" is not as-exported or int8.`);
  return {
    provider: {
      kind: kind as ProviderKind,
      baseUrl,
      // onnx-local's model is its folder.
      // Checked where it is opened (localLlmFolderProblem): answers that need no large model do not.
      model: providerOf(kind).inProcess ? writtenPath(config, 'provider.model') : textSetting(config, 'provider.model', '').trim(),
      // Unused by onnx-local (compose.ts renders it for the other kinds): a stale value there blocks nothing.
      templateFolder: providerOf(kind).inProcess
        ? pastedPath(textSetting(config, 'provider.templateFolder', '').trim())
        : pathSetting(config, 'provider.templateFolder'),
      timeouts: {
        connect: numberIn(config, 'provider.connectTimeoutSeconds', 0.1, 3600),
        firstByte: numberIn(config, 'provider.firstByteTimeoutSeconds', 0.1, 3600),
        idle: numberIn(config, 'provider.idleTimeoutSeconds', 0.1, 3600),
        call: numberIn(config, 'provider.callTimeoutSeconds', 0.1, 86_400),
      },
      caching: caching as CachingChoice,
    },
    prices: {
      inputPerMTok: optionalPrice(config, 'prices.inputPerMTok'),
      outputPerMTok: optionalPrice(config, 'prices.outputPerMTok'),
      cachedInputPerMTok: optionalPrice(config, 'prices.cachedInputPerMTok'),
      cacheWritePerMTok: optionalPrice(config, 'prices.cacheWritePerMTok'),
    },
    slm: {
      modelFolder: pathSetting(config, 'slm.modelFolder'),
      variant: variant === 'auto' ? undefined : (variant as OnnxVariant),
      q4Compute,
      thinking: thinking === 'on',
      kvCacheBudgetMb: numberIn(config, 'slm.kvCacheBudgetMb', 0, 65536, true),
      loadAtStartup: switchSetting(config, 'slm.loadAtStartup', false),
      ...slmServerOf(config),
    },
    mode: mode as RelaySettings['mode'],
    confidence: { threshold: numberIn(config, 'confidence.threshold', 0, 1), spanTokens: numberIn(config, 'confidence.spanTokens', 1, 64, true) },
    maxLlmShare: numberIn(config, 'maxLlmShare', 0, 1),
    maxTurns: numberIn(config, 'maxTurns', 1, 100, true),
    tokenBudget: numberIn(config, 'tokenBudget', 16, 131072, true),
    limits: {
      maxLlmCalls: numberIn(config, 'maxLlmCallsPerAnswer', 1, 10_000, true),
      maxCostUsd: numberIn(config, 'maxCostPerAnswerUsd', 0.000001, 10_000),
      maxStallSeconds: numberIn(config, 'maxSecondsWithoutProgress', 1, 86_400),
      // null: no ceiling relative to the LLM alone.
      maxCostRatio: config.get<unknown>('maxCostRatio') === null ? undefined : numberIn(config, 'maxCostRatio', 0.01, 100),
    },
    temperature: numberIn(config, 'temperature', 0, 2),
    localOnly: switchSetting(config, 'localOnly', false),
  };
}

/** The settings as the composition root takes them (src/core/compose.ts). */
export function relaySetupOf(settings: RelaySettings): RelaySetup {
  return {
    provider: settings.provider,
    prices: settings.prices,
    mode: settings.mode,
    localOnly: settings.localOnly,
    thinking: settings.slm.thinking,
    confidence: { ...settings.confidence, maxLlmShare: settings.maxLlmShare },
    maxTurns: settings.maxTurns,
    tokenBudget: settings.tokenBudget,
    temperature: settings.temperature,
    limits: settings.limits,
  };
}
