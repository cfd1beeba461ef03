/**
 * The LLM's API key, checked before an answer starts (the extension's answer and set-up
 * warning, the CLI's commands): without it a provider that needs a key fails only at its
 * first call, after the small model has loaded and written, and an answer that happens to
 * make no call ends as if the LLM had been there.
 */
import { baseUrlOf } from './providers/endpoints';
import { providerOf } from './providers/registry';
import type { ProviderKind } from './providers/types';
import type { RelayMode } from './relay/events';
import { policyOf } from './relay/policies/registry';

/**
 * Where the LLM's requests go when one of `modes` needs the LLM, its provider needs a key
 * there (the registry's rule, which the provider applies before sending) and `hasKeyFor`
 * says no key would go to that origin; else undefined. `hasKeyFor` must not ask the user
 * anything: it says whether the key source could give one.
 */
export async function llmOriginWithoutKey(
  modes: readonly RelayMode[],
  provider: { kind: ProviderKind; baseUrl?: string },
  hasKeyFor: (kind: ProviderKind, url: URL) => boolean | Promise<boolean>,
): Promise<URL | undefined> {
  if (!modes.some((mode) => policyOf(mode).needsLlm)) return undefined;
  const url = baseUrlOf(provider.kind, provider.baseUrl);
  return url && providerOf(provider.kind).keyRequired(url) && !(await hasKeyFor(provider.kind, url)) ? url : undefined;
}
