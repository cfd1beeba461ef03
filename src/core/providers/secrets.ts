/** API key names in the SecretStore, and the CLI's store backed by environment variables. */
import type { ProviderKind, SecretStore } from './types';

/** The SecretStore key of a provider kind's API key. */
export function apiKeyName(kind: ProviderKind): string {
  return `relay.apiKey.${kind}`;
}

/** Environment variables tried for a kind, first found wins: RELAY_API_KEY overrides. */
export function envVarsForKind(kind: ProviderKind): string[] {
  switch (kind) {
    case 'openai-chat':
      return ['RELAY_API_KEY', 'OPENAI_API_KEY'];
    case 'anthropic':
      return ['RELAY_API_KEY', 'ANTHROPIC_API_KEY'];
    default:
      return ['RELAY_API_KEY'];
  }
}

/** The CLI's SecretStore: keys come from environment variables, never from files or flags. */
export class EnvSecretStore implements SecretStore {
  constructor(private readonly env: Record<string, string | undefined> = process.env) {}

  async get(key: string): Promise<string | undefined> {
    const match = /^relay\.apiKey\.(.+)$/.exec(key);
    if (!match) return undefined;
    for (const name of envVarsForKind(match[1] as ProviderKind)) {
      const value = this.env[name]?.trim();
      if (value) return value;
    }
    return undefined;
  }
}

/** In-memory store (tests, and callers that already hold the key). */
export class MemorySecretStore implements SecretStore {
  private readonly values = new Map<string, string>();
  constructor(entries: Record<string, string> = {}) {
    for (const [k, v] of Object.entries(entries)) this.values.set(k, v);
  }
  async get(key: string): Promise<string | undefined> {
    return this.values.get(key);
  }
  set(key: string, value: string): void {
    this.values.set(key, value);
  }
}
