/**
 * Where a provider of a kind is reached (its configured address or its registry default),
 * and the facts about an address that decide whether a key may travel there.
 */
import { providerOf, type ProviderKind } from './registry';

/**
 * The base URL a provider of `kind` uses: the configured one, else the kind's default
 * (undefined for onnx-local, or for an address that is not http(s): `localhost:8000/v1`
 * parses as a URL of scheme "localhost:" whose origin is "null").
 */
export function baseUrlOf(kind: ProviderKind, configured?: string): URL | undefined {
  const text = configured?.trim() || providerOf(kind).defaultBaseUrl;
  if (!text) return undefined;
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? url : undefined;
  } catch {
    return undefined;
  }
}

/**
 * 127.0.0.0/8, ::1 and localhost: traffic that never leaves the machine. Not `*.localhost`:
 * browsers keep it local, but Node asks the system's resolver, which may send it anywhere.
 */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** A key sent here would cross a network in clear text. */
export function isClearTextRemote(url: URL): boolean {
  return url.protocol === 'http:' && !isLoopback(url.hostname);
}
