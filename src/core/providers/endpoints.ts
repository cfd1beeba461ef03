/**
 * Where each provider kind is reached by default, and the facts about an address that
 * decide whether a key may travel there (its origin, loopback or not).
 */
import type { ProviderKind } from './types';

/** The base URL of each HTTP kind when none is set. */
export const DEFAULT_BASE_URLS: Readonly<Record<Exclude<ProviderKind, 'onnx-local'>, string>> = {
  'openai-chat': 'https://api.openai.com/v1',
  'openai-completions': 'http://127.0.0.1:8000/v1',
  anthropic: 'https://api.anthropic.com',
  ollama: 'http://127.0.0.1:11434',
};

/**
 * The origin a kind's own environment variable (OPENAI_API_KEY, ANTHROPIC_API_KEY) was
 * issued for; kinds without one use RELAY_API_KEY only.
 */
export const KEY_HOME_ORIGINS: Readonly<Partial<Record<ProviderKind, string>>> = {
  'openai-chat': 'https://api.openai.com',
  anthropic: 'https://api.anthropic.com',
};

/** The base URL a provider of `kind` uses: the configured one, else the kind's default (undefined for onnx-local). */
export function baseUrlOf(kind: ProviderKind, configured?: string): URL | undefined {
  const text = configured?.trim() || (kind === 'onnx-local' ? undefined : DEFAULT_BASE_URLS[kind]);
  if (!text) return undefined;
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/** 127.0.0.0/8, ::1 and localhost: traffic that never leaves the machine. */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host.endsWith('.localhost') || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** A key sent here would cross a network in clear text. */
export function isClearTextRemote(url: URL): boolean {
  return url.protocol === 'http:' && !isLoopback(url.hostname);
}
