/** The CLI's adapter to the composition root: its small model, keys, templates and settings. */
import { existsSync, readdirSync, readFileSync, statSync, type Stats } from 'node:fs';
import { basename } from 'node:path';
import { parseBaseUrl } from '../core/providers/base';
import { quotedAddress } from '../core/http/shownUrl';
import { settingRef } from '../core/settingNames';
import { createLocalRuntime, type LocalRuntime } from '../core/slm/onnx/localRuntime';
import { chooseVariant, listVariants, ModelFolderError } from '../core/slm/modelFolder';
import { createServedRuntime, type PrefixCacheReport } from '../core/slm/served/servedRuntime';
import { clearTextServer, clearTextServerWarning } from '../core/slm/served/clearTextServer';
import { SERVED_WIRE_FORMS } from '../core/slm/served/registry';
import { composeLlm, RelayComposition, type ComposedLlm, type CompositionDeps, type RelaySetup } from '../core/compose';
import { createAgents } from '../core/providers/http';
import { missingKeyError, setKeyHint } from '../core/providers/errors';
import { EnvKeySource, envVarsForKind } from '../core/providers/secrets';
import type { KeySource, ProviderKind } from '../core/providers/types';
import { llmOriginWithoutKey } from '../core/llmKeyCheck';
import type { ChatMessage, SlmRuntime } from '../core/slm/types';
import type { RelayMode } from '../core/relay/events';
import { readSlmRelayTraits, resolveRelayMode } from '../core/relay/modeResolution';
import { policyOf } from '../core/relay/policies/registry';
import { providerOf } from '../core/providers/registry';
import { modelFolderName } from '../shared/modelLoading';
import { UsageError } from './args';
import { configFilePath, originOf, type CliConfig } from './config';
import { unsaid, type LoadReporter } from './loadLines';
import { loadTemplateOnThread, rendersOnThread, renderTemplateOnThread } from './templateThread';
import { lowerFirst } from '../shared/lowerFirst';

/**
 * The CLI's SLM: in this process or on a server; either tokenises here (token counts, the
 * LLM's usage where a server omits it) and renders its chat template on a thread within a
 * deadline (templateThread.ts). A server's SLM also says what its prefix cache served.
 */
export type CliSlm = SlmRuntime & { encode(text: string): number[]; readonly prefixCache?: PrefixCacheReport };

/**
 * The settings that name a model or a server, checked before anything opens, so that a
 * malformed address or a folder that holds no model is a usage mistake (exit 2) said with
 * its flag, not a failure (exit 1) found after a model has loaded.
 */
export function checkModelSettings(config: CliConfig): void {
  const { baseUrl, kind } = config.provider;
  if (baseUrl.trim() !== '' && !providerOf(kind).inProcess) {
    try {
      parseBaseUrl(baseUrl.trim());
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
  }
  if (config.slm.kind !== 'onnx' && config.slm.serverUrl.trim() !== '') checkServerUrl(config.slm.serverUrl.trim());
  if (config.slm.folder) checkModelFolder(config, config.slm.kind === 'onnx' ? "an ONNX export's folder" : "the served model's folder");
  // An in-process LLM (onnx-local) renders with its own template: --template-folder is not used there.
  if (config.provider.templateFolder && !providerOf(kind).inProcess) checkTemplatePath(config.provider.templateFolder);
}

function checkServerUrl(text: string): void {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  const fix = `Fix ${settingRef('slmServerUrl')}, e.g. http://127.0.0.1:8000/v1.`;
  // Quoted without a login: a user:password written there is a secret, refused below even where it parses.
  if (url === undefined) throw new UsageError(`The small model's server address ${quotedAddress(text)} is not a URL. ${fix}`);
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new UsageError(`The small model's server address ${quotedAddress(text)} has no http:// or https://. ${fix}`);
  if (url.username || url.password) throw new UsageError(`The small model's server address must not carry credentials. ${fix}`);
}

/** The SLM folder as a message names it: with the config file and key, or the variable, it came from. */
export function slmFolderWords(config: CliConfig): string {
  const origin = originOf(config, 'slm', config.slm.folder);
  return origin?.file || origin?.from.startsWith('$') ? `${config.slm.folder} (from ${origin.from})` : config.slm.folder;
}

/** How to fix the SLM folder where it was set: the config file's key, the variable, else the flag. `what`: the folder it must be. */
function slmFolderFix(config: CliConfig, what: string): string {
  const origin = originOf(config, 'slm', config.slm.folder);
  if (origin?.file) return `Fix ${origin.file.key} in ${origin.file.path}, or pass --slm <${what}>.`;
  if (origin?.from === '$RELAY_SLM') return `Fix RELAY_SLM, or pass --slm <${what}>.`;
  return `Pass --slm <${what}> (or set RELAY_SLM).`;
}

/** The SLM folder does not exist: named with where it was set, and the fix there. `orElse`: another way out, after the fix. */
export function noSuchSlmFolder(config: CliConfig, what: string, orElse = ''): UsageError {
  return new UsageError(`The small model folder does not exist: ${slmFolderWords(config)}. ${slmFolderFix(config, what).replace(/\.$/, '')}${orElse}.`);
}

/** A model folder that is a folder and holds something (a missing one is said by its caller, with its own advice). */
function checkModelFolder(config: CliConfig, what: string): void {
  let stats: Stats;
  try {
    stats = statSync(config.slm.folder);
  } catch {
    return;
  }
  if (!stats.isDirectory()) throw new UsageError(`The small model folder ${slmFolderWords(config)} is a file, not a folder. ${slmFolderFix(config, what)}`);
  if (readdirSync(config.slm.folder).length === 0)
    throw new UsageError(
      `The small model folder ${slmFolderWords(config)} is empty: download the model's files into it, or ${lowerFirst(slmFolderFix(config, what))}`,
    );
}

/** The most a tokenizer_config.json is taken to be: a bigger file (model weights) is not read to find out it is not one. */
const MAX_TOKENIZER_CONFIG_BYTES = 64 * 1024 * 1024;

/**
 * --template-folder as loadChatTemplateRenderer (src/core/providers/chatTemplate.ts) can use
 * it: a folder holding tokenizer_config.json or chat_template.jinja, or a tokenizer_config.json
 * (a JSON file, of any name; the chat_template.jinja beside it wins, as in the loader). A
 * chat_template.jinja named itself, another file or an empty folder is refused here.
 */
function checkTemplatePath(path: string): void {
  const fix = `Pass --template-folder <a model folder, or its tokenizer_config.json> (or set RELAY_TEMPLATE_FOLDER).`;
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch {
    throw new UsageError(`The chat template path ${path} does not exist. ${fix}`);
  }
  if (stats.isDirectory()) {
    const entries = readdirSync(path);
    if (entries.length === 0)
      throw new UsageError(`The chat template folder ${path} is empty: download the model's tokenizer_config.json into it, or ${lowerFirst(fix)}`);
    if (!entries.includes('tokenizer_config.json') && !entries.includes('chat_template.jinja'))
      throw new UsageError(`The chat template folder ${path} holds no tokenizer_config.json (nor chat_template.jinja). ${fix}`);
    return;
  }
  if (basename(path) === 'chat_template.jinja')
    throw new UsageError(`--template-folder names the template file ${path}; pass the folder that holds it instead (or its tokenizer_config.json).`);
  let isJson = false;
  if (stats.isFile() && stats.size <= MAX_TOKENIZER_CONFIG_BYTES) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
      isJson = typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed);
    } catch {
      isJson = false;
    }
  }
  if (!isJson) throw new UsageError(`The chat template path ${path} is a file that is not a tokenizer_config.json (a JSON object). ${fix}`);
}

/** The small model's settings as far as they can be checked before it loads: its folder, its server's model name, its variant. */
export function checkSlmSettings(config: CliConfig): void {
  checkModelSettings(config);
  if (config.slm.kind !== 'onnx') {
    if (!config.slm.folder) {
      throw new UsageError(
        `The small model on a server (--slm-kind ${config.slm.kind}) still needs its folder for the tokenizer and chat template: pass --slm <folder> (the model's Hugging Face files: tokenizer.json, tokenizer_config.json, config.json).`,
      );
    }
    if (!existsSync(config.slm.folder)) throw noSuchSlmFolder(config, "the served model's folder");
    if (!config.slm.serverModel) throw new UsageError(NO_SERVER_MODEL);
    return;
  }
  if (!config.slm.folder) {
    throw new UsageError(
      `No small model folder is set. Pass --slm <folder>: ${OWN_SLM_EXAMPLE}, or one that VS Code's "Relay: Select Model" downloaded (docs/models.md says where). ` +
        `Or set RELAY_SLM or slm.modelFolder in ${configFilePath()}, or try 'relay demo'.`,
    );
  }
  if (!existsSync(config.slm.folder)) throw noSuchSlmFolder(config, "an ONNX export's folder", ", or try 'relay demo'");
  checkVariant(config);
}

/**
 * A small model of one's own and how to get it: the files "Relay: Select Model" downloads for
 * Qwen3-0.6B's q4f16 variant (src/core/models/variantFiles.ts: the JSON files, the chat
 * template, the graph and any external data), with the Hugging Face CLI (docs/models.md).
 */
export const OWN_SLM_EXAMPLE =
  'an ONNX export such as onnx-community/Qwen3-0.6B-ONNX, downloaded (q4f16, 570 MB) with ' +
  'hf download onnx-community/Qwen3-0.6B-ONNX --include "*.json" --include "*.jinja" --include "onnx/model_q4f16.onnx*" --local-dir ~/models/Qwen3-0.6B-ONNX ' +
  '(then --slm ~/models/Qwen3-0.6B-ONNX)';

/** `reportLoad`: how a load of the model in this process is said (a served model is loaded already: nothing to say). */
export async function openSlm(config: CliConfig, reportLoad: LoadReporter = unsaid): Promise<CliSlm> {
  checkSlmSettings(config);
  if (config.slm.kind !== 'onnx')
    return rendersOnThread(
      await createServedRuntime({ kind: config.slm.kind, url: config.slm.serverUrl, model: config.slm.serverModel, folder: config.slm.folder }),
      'slm',
    );
  const { folder, variant, q4Compute, kvCacheBudgetMb } = config.slm;
  const runtime = await reportLoad({ model: 'small', name: modelFolderName(folder) }, () =>
    createLocalRuntime(folder, { variant, q4Compute, kvCacheBudgetMb }),
  );
  return rendersOnThread(runtime, 'slm');
}

/**
 * The LLM's settings that would otherwise fail only at its first call, after the small model
 * has loaded and written: its model name and its key (an answer that made no call would end
 * with a saving against an LLM it could never reach). Checked before anything loads, for the
 * modes that will run.
 */
export async function checkLlmReady(config: CliConfig, modes: readonly RelayMode[]): Promise<void> {
  if (modes.some((mode) => policyOf(mode).needsLlm) && !config.provider.model) throw noLlmModel(config.provider.kind);
  await checkLlmKey(config, modes);
}

/** No --model where a mode needs the LLM (said before the SLM loads, and again where a composition opens). */
const noLlmModel = (kind: ProviderKind): UsageError =>
  new UsageError(`No LLM model is set for the ${kind} provider. Pass --model <name> (or set RELAY_MODEL), or use --mode slm-only.`);

/**
 * A key from the environment for where the LLM's requests go (src/core/llmKeyCheck.ts): else a
 * usage mistake that says why one was held back, or which variable to set.
 */
async function checkLlmKey(config: CliConfig, modes: readonly RelayMode[]): Promise<void> {
  const keys = envKeys(config);
  const keyless = await llmOriginWithoutKey(modes, config.provider, async (kind, url) => (await keys.keyFor(kind, url)).key !== undefined);
  if (!keyless) return;
  const { withheld } = await keys.keyFor(config.provider.kind, keyless);
  throw new UsageError(withheld ?? noKeyInEnvironment(config.provider.kind, keyless));
}

/**
 * The provider's no-key message with the CLI's fix in place of the extension's command: the
 * variable that would go to `url` (the provider's own at its own origin, else RELAY_API_KEY).
 */
function noKeyInEnvironment(kind: ProviderKind, url: URL): string {
  const keyEnv = envVarsForKind(kind);
  const [, ownVar] = keyEnv;
  const fix =
    ownVar && url.origin === providerOf(kind).keyHome
      ? `Set ${ownVar} (or RELAY_API_KEY) in the environment`
      : `Set RELAY_API_KEY in the environment to the key for ${url.host}`;
  return missingKeyError(kind, keyEnv).message.replace(setKeyHint(keyEnv), fix);
}

/** The CLI's keys: environment variables, sent where --allow-key-host and --allow-plain-http allow. */
const envKeys = (config: CliConfig): EnvKeySource => new EnvKeySource(process.env, config.keys);

/**
 * The warning for a served SLM on another machine over plain http:// (every prompt, the
 * user's code in it, crosses the network unencrypted), said on stderr before anything is
 * sent; undefined for an ONNX SLM or a server reached safely.
 */
export function clearTextSlmWarning(config: CliConfig): string | undefined {
  if (config.slm.kind === 'onnx') return undefined;
  const server = clearTextServer(config.slm.serverUrl.trim() || SERVED_WIRE_FORMS[config.slm.kind].defaultUrl);
  return server ? `relay: warning: ${clearTextServerWarning(server)}` : undefined;
}

/** Said when a served SLM has no model name (relay solve, relay slm test alike). */
export const NO_SERVER_MODEL = "No model name is set for the small model's server. Pass --slm-model <name> (the name the server serves it under).";

/**
 * The ONNX file --variant asks for (or, under auto, any) is in the folder: a variant the
 * folder lacks is a bad value (exit 2) said before anything loads, as a folder that is missing.
 */
function checkVariant(config: CliConfig): void {
  try {
    chooseVariant(config.slm.folder, listVariants(config.slm.folder), config.slm.variant);
  } catch (error) {
    if (error instanceof ModelFolderError) throw new UsageError(error.message);
    throw error;
  }
}

/** The CLI's settings as the composition root takes them (src/core/compose.ts). */
export function relaySetupOf(config: CliConfig): RelaySetup {
  const t = config.timeouts;
  return {
    provider: {
      ...config.provider,
      timeouts: { connect: t.connectSeconds, firstByte: t.firstByteSeconds, idle: t.idleSeconds, call: t.callSeconds },
    },
    prices: config.prices,
    mode: config.mode,
    thinking: config.slm.thinking,
    confidence: config.confidence,
    maxTurns: config.maxTurns,
    tokenBudget: config.tokenBudget,
    temperature: config.temperature,
    seed: config.seed,
    router: config.router,
    limits: config.limits,
  };
}

/**
 * What the CLI gives the composition root: its SLM in this process (so its tokenizer
 * counts tokens servers leave out), environment keys, templates rendered on a thread within
 * a deadline (templateThread.ts), local LLM folders opened here and disposed by `dispose()`.
 */
export class CliDeps implements Omit<CompositionDeps, 'slm' | 'slmFolder'> {
  private readonly localLlms = new Map<string, Promise<LocalRuntime>>();
  readonly keys: KeySource;
  readonly countTokens?: (text: string) => number;
  /** One connection pool for every answer of this run (relay eval makes hundreds), closed by dispose(). */
  readonly agents = createAgents();

  constructor(
    private readonly config: CliConfig,
    slm?: CliSlm,
    /** How a local LLM's load is said. */
    private readonly reportLoad: LoadReporter = unsaid,
  ) {
    this.keys = envKeys(config);
    this.countTokens = slm ? (text) => slm.encode(text).length : undefined;
  }

  readonly renderTemplate = (path: string, messages: ChatMessage[], thinking: boolean): Promise<string> => renderTemplateOnThread(path, messages, thinking);

  readonly openLocalLlm = (folder: string): Promise<LocalRuntime> => {
    if (!existsSync(folder)) throw new UsageError(`For the onnx-local provider, --model is the LLM's model folder; it does not exist: ${folder}`);
    let runtime = this.localLlms.get(folder);
    if (!runtime) {
      // Held to the SLM's KV-cache budget, as in the extension (--kv-cache-mb 0 keeps none).
      runtime = this.reportLoad({ model: 'large', name: modelFolderName(folder) }, () =>
        createLocalRuntime(folder, { kvCacheBudgetMb: this.config.slm.kvCacheBudgetMb }),
      ).then((opened) => rendersOnThread(opened, 'llm'));
      this.localLlms.set(folder, runtime);
    }
    return runtime;
  };

  async dispose(): Promise<void> {
    for (const runtime of this.localLlms.values()) await (await runtime.catch(() => undefined))?.dispose();
    this.localLlms.clear();
    this.agents.http.destroy();
    this.agents.https.destroy();
  }
}

/** The composition of one SLM with the configured LLM: checks the settings the CLI needs first, with its flags. */
export async function openComposition(config: CliConfig, slm: CliSlm, deps: CliDeps, mode?: RelayMode): Promise<RelayComposition> {
  const resolved = mode ?? resolvedMode(config);
  if (policyOf(resolved).needsLlm && !config.provider.model) throw noLlmModel(config.provider.kind);
  return RelayComposition.open(relaySetupOf(config), { ...depsOf(deps), slm, slmFolder: config.slm.folder }, mode);
}

/**
 * The LLM alone for one conversation (relay provider test): its raw prompt rendered by
 * --template-folder or the SLM folder's template; an in-process LLM's (onnx-local) by its own
 * chat template, as its runtime renders it (no template: the partial answer alone).
 */
export async function openLlmOnly(config: CliConfig, deps: CliDeps, conversation: ChatMessage[]): Promise<ComposedLlm> {
  const { kind, model, templateFolder } = config.provider;
  checkModelSettings(config);
  if (!model) throw new UsageError(`No LLM model is set for the ${kind} provider. Pass --model <name> (or set RELAY_MODEL).`);
  await checkLlmKey(config, ['llm-only']);
  const entry = providerOf(kind);
  if (entry.inProcess) {
    // composeLlm hands the provider a renderer, so the provider's default (this same template) never runs:
    // the conversation is rendered here once composeLlm has checked and opened the model (openLocalLlm gives the same runtime again).
    let prompt = '';
    const llm = await composeLlm(relaySetupOf(config), depsOf(deps), (_messages, partialAnswer) => prompt + partialAnswer);
    const runtime = await deps.openLocalLlm(model);
    if (runtime.info.hasChatTemplate) prompt = await runtime.renderChat(conversation, { addGenerationPrompt: true, thinking: config.slm.thinking });
    return llm;
  }
  const folder = templateFolder || config.slm.folder;
  if (!folder && entry.prompt === 'template') {
    throw new UsageError(`The ${kind} provider renders the prompt with a chat template: pass --template-folder <model folder> or --slm <folder>.`);
  }
  // A chat provider takes the messages: no renderer is used.
  if (!folder) return composeLlm(relaySetupOf(config), depsOf(deps), (_messages, partialAnswer) => partialAnswer);
  // A template that is missing or does not parse is said now; one that fails to render, at the call, as a renderer's error would be.
  await loadTemplateOnThread(folder, config.slm.thinking);
  const rendered = await renderTemplateOnThread(folder, conversation, config.slm.thinking).catch((error: Error) => error);
  return composeLlm(relaySetupOf(config), depsOf(deps), (_messages, partialAnswer) => {
    if (rendered instanceof Error) throw rendered;
    return rendered + partialAnswer;
  });
}

function depsOf(deps: CliDeps): Omit<CompositionDeps, 'slm' | 'slmFolder'> {
  return { keys: deps.keys, countTokens: deps.countTokens, renderTemplate: deps.renderTemplate, openLocalLlm: deps.openLocalLlm, agents: deps.agents };
}

/** The configured mode with 'auto' decided by the SLM folder (src/core/relay/modeResolution.ts). */
export function resolvedMode(config: CliConfig): RelayMode {
  return resolveRelayMode(config.mode, readSlmRelayTraits(config.slm.folder));
}
