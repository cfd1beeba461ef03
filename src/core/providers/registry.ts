/**
 * The LLM provider kinds, one entry each, declared next to their classes: the only place
 * the kinds are listed. Settings enums, the CLI's help and flags, key variables, default
 * addresses and price lookup read them from here; a new provider is one file plus one entry.
 */
import { anthropicEntry } from './anthropic';
import { ollamaEntry } from './ollama';
import { onnxLocalEntry } from './onnxLocal';
import { openAiChatEntry, openAiCompletionsEntry } from './openai';
import type { ProviderEntry } from './types';

export const PROVIDERS = {
  'openai-chat': openAiChatEntry,
  'openai-completions': openAiCompletionsEntry,
  anthropic: anthropicEntry,
  ollama: ollamaEntry,
  'onnx-local': onnxLocalEntry,
} satisfies Record<string, ProviderEntry>;

export type ProviderKind = keyof typeof PROVIDERS;

export const PROVIDER_KINDS = Object.keys(PROVIDERS) as ProviderKind[];

/** The kind a fresh install (and a CLI without --provider) uses. */
export const DEFAULT_PROVIDER_KIND: ProviderKind = 'openai-chat';

export function providerOf(kind: ProviderKind): ProviderEntry {
  return PROVIDERS[kind];
}

export function isProviderKind(value: unknown): value is ProviderKind {
  return typeof value === 'string' && Object.hasOwn(PROVIDERS, value);
}
