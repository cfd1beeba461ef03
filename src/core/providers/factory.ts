/** Builds the provider a ProviderConfig describes. */
import { settingRef } from '../settingNames';
import { AnthropicProvider } from './anthropic';
import { ProviderError } from './errors';
import { OllamaProvider } from './ollama';
import { OpenAiChatProvider, OpenAiCompletionsProvider } from './openai';
import type { LlmProvider, ProviderConfig, ProviderOptions, KeySource } from './types';

export function createProvider(config: ProviderConfig, keys: KeySource, options: ProviderOptions = {}): LlmProvider {
  switch (config.kind) {
    case 'openai-completions':
      return new OpenAiCompletionsProvider(config, keys, options);
    case 'openai-chat':
      return new OpenAiChatProvider(config, keys, options);
    case 'anthropic':
      return new AnthropicProvider(config, keys, options);
    case 'ollama':
      return new OllamaProvider(config, keys, options);
    case 'onnx-local':
      if (options.onnxLocal) return options.onnxLocal;
      throw new ProviderError('bad_request', `The onnx-local provider is not available in this build yet. Pick another ${settingRef('providerKind')}.`, { fix: 'open-settings' });
    default:
      throw new ProviderError(
        'bad_request',
        `Unknown ${settingRef('providerKind')} "${String((config as { kind: unknown }).kind)}". Use openai-chat, openai-completions, anthropic, ollama or onnx-local.`,
        { fix: 'open-settings' },
      );
  }
}
