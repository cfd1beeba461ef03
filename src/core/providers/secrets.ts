/**
 * Where API keys come from, and the rule they keep: a key goes only to the origin
 * (scheme + host + port) it was given for. The extension stores keys per provider kind
 * and origin in VS Code's SecretStorage and asks before one goes anywhere else; the CLI
 * reads environment variables, where a provider's own variable (OPENAI_API_KEY,
 * ANTHROPIC_API_KEY) goes only to that provider's own origin and RELAY_API_KEY wherever
 * the user points Relay. Neither sends a key in clear text to a host off this machine
 * unless the user allowed it for that origin.
 */
import { settingRef } from '../settingNames';
import { clearTextDestination, isClearTextRemote } from './endpoints';
import { providerOf } from './registry';
import type { KeyDecision, KeySource, ProviderKind } from './types';

/** The SecretStorage name of a kind's key for one origin: relay.apiKey.openai-chat@https://api.openai.com. */
export function apiKeyName(kind: ProviderKind, origin: string): string {
  return `relay.apiKey.${kind}@${origin}`;
}

/** The name keys had before they were bound to an origin (read once, to move them). */
export function legacyApiKeyName(kind: ProviderKind): string {
  return `relay.apiKey.${kind}`;
}

/** Environment variables tried for a kind, first found wins: RELAY_API_KEY overrides (the registry's keyEnv). */
export function envVarsForKind(kind: ProviderKind): readonly string[] {
  return providerOf(kind).keyEnv;
}

/** Why a key (or the model hub's token) was not sent in clear text, and how to allow it (the CLI's flag, the extension's question). */
export function clearTextWithheld(
  url: URL,
  allowHow: string,
  what: { noun: string; setting: string } = { noun: 'API key', setting: settingRef('baseUrl') },
): string {
  const carried = what.noun === 'API key' ? 'the key and your code' : `the ${what.noun}`;
  return (
    `Relay did not send your ${what.noun} to ${url.origin}: it is plain HTTP to ${clearTextDestination(url)}, so ${carried} would cross the network in clear text. ` +
    `Use https:// in ${what.setting}, or ${allowHow}.`
  );
}

export interface EnvKeyOptions {
  /** Hosts (host or host:port) the kind's own variable may also go to (CLI: --allow-key-host). */
  allowKeyHosts?: readonly string[];
  /** Send a key over plain HTTP to a host off this machine (CLI: --allow-plain-http). */
  allowPlainHttp?: boolean;
}

/**
 * The CLI's keys: environment variables only, never files or flags. RELAY_API_KEY is the
 * user's key for wherever they point Relay; OPENAI_API_KEY and ANTHROPIC_API_KEY were
 * issued by those services and go only to their own origin (or a host allowed by flag).
 */
export class EnvKeySource implements KeySource {
  constructor(
    private readonly env: Record<string, string | undefined> = process.env,
    private readonly options: EnvKeyOptions = {},
  ) {}

  async keyFor(kind: ProviderKind, url: URL): Promise<KeyDecision> {
    const relayKey = this.env.RELAY_API_KEY?.trim();
    const [, ownVar] = envVarsForKind(kind);
    const ownKey = ownVar ? this.env[ownVar]?.trim() : undefined;
    const home = providerOf(kind).keyHome;
    const allowedHost = (this.options.allowKeyHosts ?? []).some((host) => host.toLowerCase() === url.host.toLowerCase());
    let key: string | undefined;
    let withheld: string | undefined;
    if (relayKey) key = relayKey;
    else if (ownKey && (url.origin === home || allowedHost)) key = ownKey;
    else if (ownKey) {
      withheld =
        `${ownVar} is only sent to ${home}, and ${settingRef('baseUrl')} points to ${url.origin}. ` +
        `Set RELAY_API_KEY to the key for ${url.host}, or pass --allow-key-host ${url.host} to send ${ownVar} there.`;
    }
    if (key && isClearTextRemote(url) && !this.options.allowPlainHttp) {
      return { withheld: clearTextWithheld(url, 'pass --allow-plain-http to send it anyway') };
    }
    return key ? { key } : withheld ? { withheld } : {};
  }
}

/** Keys held in memory by kind, sent to any origin (tests, and callers that already decided). */
export class MemoryKeySource implements KeySource {
  private readonly keys = new Map<ProviderKind, string>();

  constructor(entries: Partial<Record<ProviderKind, string>> = {}) {
    for (const [kind, key] of Object.entries(entries)) if (key) this.keys.set(kind as ProviderKind, key);
  }

  async keyFor(kind: ProviderKind): Promise<KeyDecision> {
    const key = this.keys.get(kind);
    return key ? { key } : {};
  }

  set(kind: ProviderKind, key: string): void {
    this.keys.set(kind, key);
  }
}
