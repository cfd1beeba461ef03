/** Builds the provider a ProviderConfig describes. */
import { settingRef } from '../settingNames';
import { ProviderError } from './errors';
import { isProviderKind, PROVIDER_KINDS, providerOf } from './registry';
import type { LlmProvider, ProviderConfig, ProviderOptions, KeySource } from './types';

export function createProvider(config: ProviderConfig, keys: KeySource, options: ProviderOptions = {}): LlmProvider {
  if (!isProviderKind(config.kind)) {
    throw new ProviderError('bad_request', `Unknown ${settingRef('providerKind')} "${String(config.kind)}". Use ${PROVIDER_KINDS.join(', ')}.`, {
      fix: 'open-settings',
    });
  }
  const entry = providerOf(config.kind);
  if (entry.create) return entry.create(config, keys, options);
  // onnx-local: a second local model, built by the adapter (it owns the SLM process) and injected.
  if (options.onnxLocal) return options.onnxLocal;
  throw new ProviderError('bad_request', `The ${config.kind} provider is built by the caller and was not given. Pick another ${settingRef('providerKind')}.`, {
    fix: 'open-settings',
  });
}
