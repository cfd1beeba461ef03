/**
 * The CLI's settings: built-in defaults, then ~/.relay/config.json (or $RELAY_CONFIG),
 * then environment variables, then command-line flags; later ones win. API keys are
 * never read from here: they come from environment variables only (EnvKeySource,
 * src/core/providers/secrets.ts).
 */
import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { pastedPath } from '../core/homePath';
import type { ProviderKind, ModelPrice } from '../core/providers/types';
import { SLM_KINDS, VARIANT_CHOICES, type Q4Compute, type SlmKind } from '../core/slm/types';
import { DEFAULT_KV_CACHE_BUDGET_MB } from '../core/slm/onnx/kvPrefixCache';
import type { RequestedMode } from '../core/relay/modeResolution';
import { RELAY_MODES } from '../core/relay/policies/registry';
import { DEFAULT_PROVIDER_KIND, PROVIDER_KINDS } from '../core/providers/registry';
import { didYouMean, KEYS_COME_FROM, UsageError } from './args';
import { DEFAULT_MAX_COST_RATIO, DEFAULT_MAX_COST_USD, DEFAULT_MAX_LLM_CALLS, DEFAULT_MAX_STALL_MS } from '../core/relay/limits';
import { CACHING_CHOICES, type CachingChoice } from '../core/providers/billing';
import { DEFAULT_CALL_TIMEOUT_MS, DEFAULT_CONNECT_TIMEOUT_MS, DEFAULT_FIRST_BYTE_TIMEOUT_MS, DEFAULT_IDLE_TIMEOUT_MS } from '../core/providers/callDefaults';

export interface CliConfig {
  provider: {
    kind: ProviderKind;
    baseUrl: string;
    model: string;
    /** openai-completions: model folder or tokenizer_config.json for the prompt template; default the SLM's. */
    templateFolder: string;
    /** How the service caches re-sent input (src/core/providers/billing.ts). */
    caching: CachingChoice;
  };
  /** Price overrides in USD per million tokens (any missing one falls back to the price table). */
  prices: Partial<ModelPrice>;
  /**
   * thinking: render the prompt with the template's thinking on (Qwen3's enable_thinking).
   * kind: where the SLM runs (onnx: the folder here; a server kind: serverModel at serverUrl, the folder giving its tokenizer and template).
   */
  slm: {
    folder: string;
    variant: (typeof VARIANT_CHOICES)[number];
    q4Compute: Q4Compute;
    thinking: boolean;
    kind: SlmKind;
    serverUrl: string;
    serverModel: string;
    kvCacheBudgetMb: number;
  };
  /** 'auto': command mode for SLMs trained to call (config.json relay_trained), else money-aware when the price is known, else confidence. */
  mode: RequestedMode;
  confidence: { threshold: number; spanTokens: number; maxLlmShare: number; agreeStopTokens?: number };
  maxTurns: number;
  tokenBudget: number;
  /** Ceilings of one answer (src/core/relay/limits.ts). */
  limits: { maxLlmCalls: number; maxCostUsd: number; maxStallSeconds: number; maxCostRatio?: number };
  /** Timeouts of one LLM call, in seconds (src/core/providers/types.ts ProviderConfig). */
  timeouts: { connectSeconds: number; firstByteSeconds: number; idleSeconds: number; callSeconds: number };
  temperature: number;
  seed: number | undefined;
  router: { llmProbability: number };
  /** Where running totals persist. */
  totalsPath: string;
  /** Send the question as is, without the paper's "reason step by step ... \boxed{}" suffix (--plain-prompt, --demo). */
  plainPrompt: boolean;
  /** Where environment keys may go beyond their own origin (--allow-key-host), and clear-text consent (--allow-plain-http). */
  keys: { allowKeyHosts: string[]; allowPlainHttp: boolean };
  /**
   * Where each setting that was given came from, by flag name, with the value it set (a
   * message about a bad value names the file and key, or the variable, it came from; a value
   * changed since, such as --demo's or a row's own SLM, is no longer that origin's).
   */
  origins?: Record<string, SettingOrigin>;
}

export interface SettingOrigin {
  /** As errors name it: --flag, $VARIABLE or "<file> (key)". */
  from: string;
  /** The value it set (a path expanded). */
  value: string;
  /** A value from the config file: the file and its key as written there. */
  file?: { path: string; key: string };
}

/** The origin of `flag`'s value when the config still holds the value it set (`current`). */
export function originOf(config: CliConfig, flag: string, current: string): SettingOrigin | undefined {
  const origin = config.origins?.[flag];
  return origin !== undefined && origin.value === current ? origin : undefined;
}

export function relayHome(env: NodeJS.ProcessEnv = process.env): string {
  return env.RELAY_HOME ? expandPath(env.RELAY_HOME) : join(homedir(), '.relay');
}

export function defaultConfig(env: NodeJS.ProcessEnv = process.env): CliConfig {
  return {
    provider: { kind: DEFAULT_PROVIDER_KIND, baseUrl: '', model: '', templateFolder: '', caching: 'auto' },
    prices: {},
    slm: {
      folder: '',
      variant: 'auto',
      q4Compute: 'as-exported',
      thinking: false,
      kind: 'onnx',
      serverUrl: '',
      serverModel: '',
      kvCacheBudgetMb: DEFAULT_KV_CACHE_BUDGET_MB,
    },
    mode: 'auto',
    confidence: { threshold: 0.5, spanTokens: 2, maxLlmShare: 0.2 },
    maxTurns: 5,
    tokenBudget: 8192,
    limits: {
      maxLlmCalls: DEFAULT_MAX_LLM_CALLS,
      maxCostUsd: DEFAULT_MAX_COST_USD,
      maxStallSeconds: DEFAULT_MAX_STALL_MS / 1000,
      maxCostRatio: DEFAULT_MAX_COST_RATIO,
    },
    timeouts: {
      connectSeconds: DEFAULT_CONNECT_TIMEOUT_MS / 1000,
      firstByteSeconds: DEFAULT_FIRST_BYTE_TIMEOUT_MS / 1000,
      idleSeconds: DEFAULT_IDLE_TIMEOUT_MS / 1000,
      callSeconds: DEFAULT_CALL_TIMEOUT_MS / 1000,
    },
    temperature: 0.7,
    seed: undefined,
    router: { llmProbability: 0.5 },
    totalsPath: join(relayHome(env), 'totals.json'),
    plainPrompt: false,
    keys: { allowKeyHosts: [], allowPlainHttp: false },
  };
}

const MODES: RequestedMode[] = [...RELAY_MODES, 'auto'];

/** Flag name -> how it sets the config. Also the list of value flags the parser accepts. */
const SETTERS: Record<string, (c: CliConfig, v: string, from: string) => void> = {
  provider: (c, v, from) => (c.provider.kind = oneOf(v, PROVIDER_KINDS, from)),
  'base-url': (c, v) => (c.provider.baseUrl = v),
  model: (c, v) => (c.provider.model = v),
  'template-folder': (c, v) => (c.provider.templateFolder = v),
  slm: (c, v) => (c.slm.folder = v),
  variant: (c, v, from) => (c.slm.variant = oneOf(v, VARIANT_CHOICES, from)),
  'q4-compute': (c, v, from) => (c.slm.q4Compute = oneOf(v, ['as-exported', 'int8'] as const, from)),
  'kv-cache-mb': (c, v, from) => (c.slm.kvCacheBudgetMb = int(v, from, 0, 65536)),
  thinking: (c, v, from) => (c.slm.thinking = oneOf(v, ['off', 'on'] as const, from) === 'on'),
  'slm-kind': (c, v, from) => (c.slm.kind = oneOf(v, SLM_KINDS, from)),
  'slm-url': (c, v) => (c.slm.serverUrl = v),
  'slm-model': (c, v) => (c.slm.serverModel = v),
  mode: (c, v, from) => (c.mode = oneOf(v, MODES, from)),
  threshold: (c, v, from) => (c.confidence.threshold = num(v, from, 0, 1)),
  'span-tokens': (c, v, from) => (c.confidence.spanTokens = int(v, from, 1, 64)),
  'max-llm-share': (c, v, from) => (c.confidence.maxLlmShare = num(v, from, 0, 1)),
  'agree-stop': (c, v, from) => (c.confidence.agreeStopTokens = int(v, from, 0, 64)),
  'max-turns': (c, v, from) => (c.maxTurns = int(v, from, 1, 100)),
  budget: (c, v, from) => (c.tokenBudget = int(v, from, 16, 131072)),
  'max-calls': (c, v, from) => (c.limits.maxLlmCalls = int(v, from, 1, 10_000)),
  'max-cost': (c, v, from) => (c.limits.maxCostUsd = num(v, from, 0.000001, 10_000)),
  'max-cost-ratio': (c, v, from) => (c.limits.maxCostRatio = v.trim() === 'off' ? undefined : num(v, from, 0.01, 100, ', or off (no such ceiling)')),
  caching: (c, v, from) => (c.provider.caching = oneOf(v, CACHING_CHOICES, from)),
  'max-stall': (c, v, from) => (c.limits.maxStallSeconds = num(v, from, 1, 86_400)),
  'connect-timeout': (c, v, from) => (c.timeouts.connectSeconds = num(v, from, 0.1, 3600)),
  'first-byte-timeout': (c, v, from) => (c.timeouts.firstByteSeconds = num(v, from, 0.1, 3600)),
  'idle-timeout': (c, v, from) => (c.timeouts.idleSeconds = num(v, from, 0.1, 3600)),
  'call-timeout': (c, v, from) => (c.timeouts.callSeconds = num(v, from, 0.1, 86_400)),
  temperature: (c, v, from) => (c.temperature = num(v, from, 0, 2)),
  seed: (c, v, from) => (c.seed = int(v, from, 0, 2 ** 31 - 1)),
  'llm-probability': (c, v, from) => (c.router.llmProbability = num(v, from, 0, 1)),
  'price-in': (c, v, from) => (c.prices.inputPerMTok = num(v, from, 0, 1e6)),
  'price-out': (c, v, from) => (c.prices.outputPerMTok = num(v, from, 0, 1e6)),
  'price-cached': (c, v, from) => (c.prices.cachedInputPerMTok = num(v, from, 0, 1e6)),
  'price-cache-write': (c, v, from) => (c.prices.cacheWritePerMTok = num(v, from, 0, 1e6)),
  totals: (c, v) => (c.totalsPath = v),
  'allow-key-host': (c, v) =>
    (c.keys.allowKeyHosts = [
      ...c.keys.allowKeyHosts,
      ...v
        .split(',')
        .map((h) => h.trim())
        .filter(Boolean),
    ]),
};

export const CONFIG_FLAGS: ReadonlySet<string> = new Set(Object.keys(SETTERS));

/** Environment variable -> flag name. */
export const ENV_NAMES: Record<string, string> = {
  RELAY_PROVIDER: 'provider',
  RELAY_BASE_URL: 'base-url',
  RELAY_MODEL: 'model',
  RELAY_TEMPLATE_FOLDER: 'template-folder',
  RELAY_SLM: 'slm',
  RELAY_VARIANT: 'variant',
  RELAY_Q4_COMPUTE: 'q4-compute',
  RELAY_KV_CACHE_MB: 'kv-cache-mb',
  RELAY_THINKING: 'thinking',
  RELAY_SLM_KIND: 'slm-kind',
  RELAY_SLM_URL: 'slm-url',
  RELAY_SLM_MODEL: 'slm-model',
  RELAY_MODE: 'mode',
  RELAY_THRESHOLD: 'threshold',
  RELAY_SPAN_TOKENS: 'span-tokens',
  RELAY_MAX_LLM_SHARE: 'max-llm-share',
  RELAY_AGREE_STOP: 'agree-stop',
  RELAY_MAX_TURNS: 'max-turns',
  RELAY_TOKEN_BUDGET: 'budget',
  RELAY_MAX_CALLS: 'max-calls',
  RELAY_MAX_COST: 'max-cost',
  RELAY_MAX_COST_RATIO: 'max-cost-ratio',
  RELAY_CACHING: 'caching',
  RELAY_MAX_STALL: 'max-stall',
  RELAY_CONNECT_TIMEOUT: 'connect-timeout',
  RELAY_FIRST_BYTE_TIMEOUT: 'first-byte-timeout',
  RELAY_IDLE_TIMEOUT: 'idle-timeout',
  RELAY_CALL_TIMEOUT: 'call-timeout',
  RELAY_TEMPERATURE: 'temperature',
  RELAY_SEED: 'seed',
  RELAY_LLM_PROBABILITY: 'llm-probability',
  RELAY_PRICE_IN: 'price-in',
  RELAY_PRICE_OUT: 'price-out',
  RELAY_TOTALS: 'totals',
};

/** config.json keys (camelCase, nested like the VS Code settings) -> flag name. */
export const FILE_KEYS: Record<string, string> = {
  'provider.kind': 'provider',
  'provider.baseUrl': 'base-url',
  'provider.model': 'model',
  'provider.templateFolder': 'template-folder',
  'slm.modelFolder': 'slm',
  'slm.variant': 'variant',
  'slm.q4Compute': 'q4-compute',
  'slm.kvCacheBudgetMb': 'kv-cache-mb',
  'slm.thinking': 'thinking',
  'slm.kind': 'slm-kind',
  'slm.serverUrl': 'slm-url',
  'slm.serverModel': 'slm-model',
  mode: 'mode',
  'confidence.threshold': 'threshold',
  'confidence.spanTokens': 'span-tokens',
  maxLlmShare: 'max-llm-share',
  'confidence.agreeStopTokens': 'agree-stop',
  maxTurns: 'max-turns',
  tokenBudget: 'budget',
  maxLlmCallsPerAnswer: 'max-calls',
  maxCostPerAnswerUsd: 'max-cost',
  maxCostRatio: 'max-cost-ratio',
  'provider.caching': 'caching',
  maxSecondsWithoutProgress: 'max-stall',
  'provider.connectTimeoutSeconds': 'connect-timeout',
  'provider.firstByteTimeoutSeconds': 'first-byte-timeout',
  'provider.idleTimeoutSeconds': 'idle-timeout',
  'provider.callTimeoutSeconds': 'call-timeout',
  temperature: 'temperature',
  seed: 'seed',
  'router.llmProbability': 'llm-probability',
  'prices.inputPerMTok': 'price-in',
  'prices.outputPerMTok': 'price-out',
  'prices.cachedInputPerMTok': 'price-cached',
  'prices.cacheWritePerMTok': 'price-cache-write',
  totalsPath: 'totals',
};

/**
 * A path setting as the user meant it: one pair of surrounding double quotes is dropped
 * (Windows Explorer's "Copy as path" adds them, and cmd's `set VAR="..."` keeps them), as VS
 * Code's path settings drop them; a leading `~/` (or `~` alone) is the home folder
 * (pastedPath); a relative path from the config file is relative to that file's folder
 * (`baseFolder`), not to wherever the command runs. Other relative paths stay relative to the
 * current folder.
 */
export function expandPath(path: string, baseFolder?: string): string {
  const expanded = pastedPath(path);
  return baseFolder !== undefined && !isAbsolute(expanded) ? resolve(baseFolder, expanded) : expanded;
}

/** The settings that are paths (slm.modelFolder, provider.templateFolder, totalsPath); --model too for onnx-local. */
const PATH_FLAGS: ReadonlySet<string> = new Set(['slm', 'template-folder', 'totals']);

export function configFilePath(env: NodeJS.ProcessEnv = process.env): string {
  return env.RELAY_CONFIG ? expandPath(env.RELAY_CONFIG) : join(relayHome(env), 'config.json');
}

/** A setting's value as given, before it is checked: a flag's or variable's text, or the config file's JSON value. */
interface RawSetting {
  value: unknown;
  /** Where it came from, as errors name it: --flag, $VARIABLE or file (key). */
  from: string;
  /** The config file's folder, for a value from the file. */
  fileFolder?: string;
  /** The config file and the key as written there, for a value from the file. */
  file?: { path: string; key: string };
}

/**
 * The settings: the file's, then the environment's, then the flags' values, merged before
 * any is checked, so that a bad value a later layer overrides (RELAY_TEMPERATURE=5 with
 * --temperature 0) is no error; the value that wins is checked and named where it came from.
 */
export function loadConfig(flags: Map<string, string | true>, env: NodeJS.ProcessEnv = process.env): CliConfig {
  const config = defaultConfig(env);
  const winners = new Map<string, RawSetting>();
  const file = configFilePath(env);
  for (const [key, setting] of readConfigFile(file, env)) winners.set(key, setting);
  for (const [name, flag] of Object.entries(ENV_NAMES)) {
    const value = env[name];
    if (value !== undefined && value !== '') winners.set(flag, { value, from: `$${name}` });
  }
  for (const [flag, value] of flags) {
    if (SETTERS[flag] && typeof value === 'string') winners.set(flag, { value, from: `--${flag}` });
  }
  // onnx-local's --model is the LLM's folder; other providers' is a name.
  const provider = winners.get('provider');
  const modelIsFolder = provider !== undefined && provider.value === 'onnx-local';
  const origins: Record<string, SettingOrigin> = {};
  for (const [flag, { value, from, fileFolder, file: inFile }] of winners) {
    // null: no ceiling, as relay.maxCostRatio's null in VS Code.
    if (value === null && flag === 'max-cost-ratio') {
      config.limits.maxCostRatio = undefined;
      continue;
    }
    let text = fileFolder === undefined ? (value as string) : fileValue(value, flag, from);
    if (PATH_FLAGS.has(flag) || (flag === 'model' && modelIsFolder)) text = expandPath(text, fileFolder);
    SETTERS[flag](config, text, from);
    origins[flag] = { from, value: text, ...(inFile ? { file: inFile } : {}) };
  }
  return { ...config, origins };
}

/** The config file's settings by flag name (none when there is no file); refuses a file that is no JSON object or names unknown keys. */
function readConfigFile(file: string, env: NodeJS.ProcessEnv): Map<string, RawSetting> {
  const settings = new Map<string, RawSetting>();
  let stats;
  try {
    stats = statSync(file);
  } catch {
    if (env.RELAY_CONFIG)
      throw new UsageError(
        `$RELAY_CONFIG names ${file}, which does not exist. Create it, or unset RELAY_CONFIG to use ${join(relayHome(env), 'config.json')}.`,
      );
    return settings;
  }
  if (stats.isDirectory())
    throw new UsageError(`${file} is a folder, not a config file. Move it away, or write the settings as a JSON object in a file of that name.`);
  let parsed: unknown;
  try {
    // A leading byte order mark (Notepad writes one) is not JSON, but it is no mistake either.
    parsed = JSON.parse(readFileSync(file, 'utf8').replace(/^\uFEFF/, ''));
  } catch (error) {
    throw new UsageError(`${file} is not valid JSON (${(error as Error).message}). Fix it or delete it.`);
  }
  for (const [key, value] of flatten(parsed)) {
    const flag = FILE_KEYS[settingKey(key)];
    if (!flag && /key|token|secret|password/i.test(key)) throw new UsageError(`${file}: unknown setting '${key}'. ${KEYS_COME_FROM}`);
    if (!flag) {
      const suggestion = didYouMean(settingKey(key), Object.keys(FILE_KEYS));
      throw new UsageError(
        `${file}: unknown setting '${key}'.${suggestion ? ` Did you mean '${suggestion}'?` : ''} Known: ${Object.keys(FILE_KEYS).join(', ')}.`,
      );
    }
    // null and "" leave the default (but maxCostRatio's null: no ceiling).
    if ((value === null && flag !== 'max-cost-ratio') || value === '') continue;
    settings.set(flag, { value, from: `${file} (${key})`, fileFolder: dirname(file), file: { path: file, key } });
  }
  return settings;
}

/** A config-file key without the `relay.` of the VS Code setting it was copied from. */
const settingKey = (key: string): string => key.replace(/^relay\./, '');

/** The config file's leaves, as dotted keys; a known key's value stays whole (an object there is a wrong type, said as such). */
function flatten(value: unknown, prefix = ''): [string, unknown][] {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    if (prefix === '') throw new UsageError('The relay config file must hold a JSON object.');
    return [[prefix, value]];
  }
  return Object.entries(value).flatMap(([k, v]) => {
    const key = prefix ? `${prefix}.${k}` : k;
    return typeof v === 'object' && v !== null && !Array.isArray(v) && !(settingKey(key) in FILE_KEYS) ? flatten(v, key) : [[key, v] as [string, unknown]];
  });
}

/** The settings whose config-file value is a JSON number (the rest are strings, as in VS Code's settings). */
const NUMBER_FLAGS: ReadonlySet<string> = new Set([
  'kv-cache-mb',
  'threshold',
  'span-tokens',
  'max-llm-share',
  'agree-stop',
  'max-turns',
  'budget',
  'max-calls',
  'max-cost',
  'max-cost-ratio',
  'max-stall',
  'connect-timeout',
  'first-byte-timeout',
  'idle-timeout',
  'call-timeout',
  'temperature',
  'seed',
  'llm-probability',
  'price-in',
  'price-out',
  'price-cached',
  'price-cache-write',
]);

/**
 * A config-file value as the setter's text, when its JSON type is the setting's: a number
 * for numeric settings (maxCostRatio also "off"), a string for the others. Arrays, objects,
 * booleans and numbers-as-strings are refused, naming the key and the type it takes.
 */
function fileValue(value: unknown, flag: string, from: string): string {
  const what = Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'an object' : `the ${typeof value} ${JSON.stringify(value)}`;
  if (NUMBER_FLAGS.has(flag)) {
    if (typeof value === 'number') return String(value);
    if (flag === 'max-cost-ratio' && value === 'off') return value;
    const expected = flag === 'max-cost-ratio' ? 'a number, or null (or "off") for no ceiling' : 'a number';
    throw new UsageError(`${from}: must be ${expected}, not ${what}.`);
  }
  if (typeof value === 'string') return value;
  throw new UsageError(`${from}: must be a string, not ${what}.`);
}

function oneOf<T extends string>(value: string, allowed: readonly T[], from: string): T {
  if (!(allowed as readonly string[]).includes(value)) throw new UsageError(`${from}: '${value}' is not one of ${allowed.join(', ')}.`);
  return value as T;
}

/**
 * A number written in decimal (12, -0.5, .5, 1e-6: a config file's numbers read back as
 * text), else NaN: JavaScript's Number() also takes 0x20, 0b11 and 0o7, which nobody means
 * for a budget or a price.
 */
export function decimalNumber(text: string): number {
  return /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text.trim()) ? Number(text) : NaN;
}

/** A whole number in plain decimal digits (32, not 0x20 nor 3.2e1), else NaN. */
export function decimalInteger(text: string): number {
  return /^[+-]?\d+$/.test(text.trim()) ? Number(text) : NaN;
}

/** `orElse`: what else the setting takes, said after the range (", or off (no such ceiling)"). */
function num(value: string, from: string, min: number, max: number, orElse = ''): number {
  const n = decimalNumber(value);
  if (!Number.isFinite(n) || n < min || n > max) throw new UsageError(`${from}: '${value}' must be a number from ${min} to ${max}${orElse}.`);
  return n;
}

function int(value: string, from: string, min: number, max: number): number {
  const n = num(value, from, min, max);
  if (!Number.isInteger(decimalInteger(value))) throw new UsageError(`${from}: '${value}' must be a whole number.`);
  return n;
}
