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
 * 127.0.0.0/8, ::1 and localhost: addresses of this machine. Not `*.localhost`: browsers keep
 * it local, but Node asks the system's resolver, which may send it anywhere. A proxy may still
 * stand between Relay and most of them (isSentDirect).
 */
export function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return host === 'localhost' || host === '::1' || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * The hosts VS Code's extension host always connects to directly (microsoft/vscode-proxy-agent
 * keeps the caller's agent or resolves DIRECT only for these). A request to any other address,
 * 127.0.0.2 included, goes through the proxy in http.proxy or HTTP_PROXY when one is set.
 * Its list also has ::ffff:127.0.0.1, but URL writes that ::ffff:7f00:1, which it does not match.
 * The CLI keeps the same rule: where a key may go is decided in one place.
 */
const SENT_DIRECT: ReadonlySet<string> = new Set(['localhost', '127.0.0.1', '::1']);

/** Requests to `hostname` reach this machine with no proxy between, whatever the proxy settings. */
export function isSentDirect(hostname: string): boolean {
  return SENT_DIRECT.has(hostname.replace(/^\[|\]$/g, '').toLowerCase());
}

/** A key sent here would be readable on the way: plain HTTP to another machine, or to a loopback address a proxy may carry. */
export function isClearTextRemote(url: URL): boolean {
  return url.protocol === 'http:' && !isSentDirect(url.hostname);
}

/** Where clear text to `url` (isClearTextRemote) may be read, as a message says it after "plain HTTP to". */
export function clearTextDestination(url: URL): string {
  return isLoopback(url.hostname)
    ? `${url.hostname}, a loopback address a proxy may carry (VS Code sends every address but localhost, 127.0.0.1 and [::1] through http.proxy or HTTP_PROXY)`
    : 'a host off this machine';
}
