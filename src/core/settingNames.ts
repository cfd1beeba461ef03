/**
 * The one table of user-facing names for each setting: the VS Code setting, the CLI flag
 * and its environment variable. Messages that tell a user what to change name both
 * (`settingRef`), so the same text is right in the extension and on the command line.
 */

export interface SettingName {
  /** VS Code setting (also the key in ~/.relay/config.json without the `relay.` prefix). */
  setting: string;
  /** The CLI flag. */
  flag: string;
  /** The CLI's environment variable, where there is one. */
  env?: string;
}

export const SETTING_NAMES = {
  providerKind: { setting: 'relay.provider.kind', flag: '--provider', env: 'RELAY_PROVIDER' },
  baseUrl: { setting: 'relay.provider.baseUrl', flag: '--base-url', env: 'RELAY_BASE_URL' },
  model: { setting: 'relay.provider.model', flag: '--model', env: 'RELAY_MODEL' },
  templateFolder: { setting: 'relay.provider.templateFolder', flag: '--template-folder', env: 'RELAY_TEMPLATE_FOLDER' },
  slmFolder: { setting: 'relay.slm.modelFolder', flag: '--slm', env: 'RELAY_SLM' },
  slmVariant: { setting: 'relay.slm.variant', flag: '--variant', env: 'RELAY_VARIANT' },
  thinking: { setting: 'relay.slm.thinking', flag: '--thinking', env: 'RELAY_THINKING' },
  slmKind: { setting: 'relay.slm.kind', flag: '--slm-kind', env: 'RELAY_SLM_KIND' },
  slmServerUrl: { setting: 'relay.slm.serverUrl', flag: '--slm-url', env: 'RELAY_SLM_URL' },
  slmServerModel: { setting: 'relay.slm.serverModel', flag: '--slm-model', env: 'RELAY_SLM_MODEL' },
  prices: { setting: 'relay.prices.*', flag: '--price-in / --price-out / --price-cached / --price-cache-write' },
  tokenBudget: { setting: 'relay.tokenBudget', flag: '--budget', env: 'RELAY_TOKEN_BUDGET' },
  maxTurns: { setting: 'relay.maxTurns', flag: '--max-turns', env: 'RELAY_MAX_TURNS' },
  maxLlmCalls: { setting: 'relay.maxLlmCallsPerAnswer', flag: '--max-calls', env: 'RELAY_MAX_CALLS' },
  maxCostUsd: { setting: 'relay.maxCostPerAnswerUsd', flag: '--max-cost', env: 'RELAY_MAX_COST' },
  maxCostRatio: { setting: 'relay.maxCostRatio', flag: '--max-cost-ratio', env: 'RELAY_MAX_COST_RATIO' },
  caching: { setting: 'relay.provider.caching', flag: '--caching', env: 'RELAY_CACHING' },
  spanTokens: { setting: 'relay.confidence.spanTokens', flag: '--span-tokens', env: 'RELAY_SPAN_TOKENS' },
  maxStallSeconds: { setting: 'relay.maxSecondsWithoutProgress', flag: '--max-stall', env: 'RELAY_MAX_STALL' },
  connectTimeout: { setting: 'relay.provider.connectTimeoutSeconds', flag: '--connect-timeout', env: 'RELAY_CONNECT_TIMEOUT' },
  firstByteTimeout: { setting: 'relay.provider.firstByteTimeoutSeconds', flag: '--first-byte-timeout', env: 'RELAY_FIRST_BYTE_TIMEOUT' },
  idleTimeout: { setting: 'relay.provider.idleTimeoutSeconds', flag: '--idle-timeout', env: 'RELAY_IDLE_TIMEOUT' },
  callTimeout: { setting: 'relay.provider.callTimeoutSeconds', flag: '--call-timeout', env: 'RELAY_CALL_TIMEOUT' },
} as const satisfies Record<string, SettingName>;

export type SettingId = keyof typeof SETTING_NAMES;

/** "relay.provider.baseUrl (CLI: --base-url)": the setting and the flag that change it. */
export function settingRef(id: SettingId): string {
  const name: SettingName = SETTING_NAMES[id];
  return `${name.setting} (CLI: ${name.flag})`;
}
