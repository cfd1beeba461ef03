/**
 * Where a provider of a kind is reached (its configured address or its registry default),
 * and the facts about an address that decide whether a key may travel there.
 */
import { providerOf, type ProviderKind } from './registry';

/** The base URL a provider of `kind` uses: the configured one, else the kind's default (undefined for onnx-local). */
export function baseUrlOf(kind: ProviderKind, configured?: string): URL | undefined {
  const text = configured?.trim() || providerOf(kind).defaultBaseUrl;
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
