/**
 * Builds a PromptRenderer from a Hugging Face chat template (tokenizer_config.json's
 * chat_template, or a chat_template.jinja next to it), rendered with @huggingface/jinja:
 * the conversation with add_generation_prompt, then the partial answer appended.
 */
import type { Template } from '@huggingface/jinja' with { 'resolution-mode': 'import' };
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ChatMessage } from '../slm/types';
import { ProviderError } from './errors';
import type { PromptRenderer } from './types';
import { settingRef } from '../settingNames';

export interface ChatTemplateOptions {
  /**
   * Extra template variables. Default { enable_thinking: false }: the paper runs Qwen3 in
   * non-thinking mode; templates that do not know the variable ignore it.
   */
  variables?: Record<string, unknown>;
}

/** A renderer from template source text; special tokens come from the tokenizer config. */
export async function rendererFromTemplate(
  source: string,
  tokenizerConfig: Record<string, unknown> = {},
  options: ChatTemplateOptions = {},
): Promise<PromptRenderer> {
  const { Template } = await import('@huggingface/jinja');
  let template: Template;
  try {
    template = new Template(source);
  } catch (error) {
    throw new ProviderError(
      'bad_request',
      `The chat template does not parse: ${(error as Error).message}. Point ${settingRef('templateFolder')} to another model.`,
      { fix: 'open-settings' },
    );
  }
  const variables = {
    enable_thinking: false,
    bos_token: tokenText(tokenizerConfig.bos_token),
    eos_token: tokenText(tokenizerConfig.eos_token),
    pad_token: tokenText(tokenizerConfig.pad_token),
    unk_token: tokenText(tokenizerConfig.unk_token),
    ...options.variables,
  };
  return (messages: ChatMessage[], partialAnswer: string) => template.render({ ...variables, messages, add_generation_prompt: true }) + partialAnswer;
}

/** A renderer from a model folder or a tokenizer_config.json path. */
export async function loadChatTemplateRenderer(path: string, options: ChatTemplateOptions = {}): Promise<PromptRenderer> {
  if (!existsSync(path)) {
    throw new ProviderError(
      'bad_request',
      `The chat template path does not exist: ${path}. Set ${settingRef('templateFolder')} to a model folder or a tokenizer_config.json.`,
      { fix: 'open-settings' },
    );
  }
  const folder = statSync(path).isDirectory() ? path : dirname(path);
  const configPath = statSync(path).isDirectory() ? join(path, 'tokenizer_config.json') : path;
  let config: Record<string, unknown> = {};
  if (existsSync(configPath)) {
    try {
      config = JSON.parse(readFileSync(configPath, 'utf8')) as Record<string, unknown>;
    } catch (error) {
      throw new ProviderError('bad_request', `${configPath} is not valid JSON (${(error as Error).message}).`, { fix: 'open-settings' });
    }
  }
  const source = templateSource(config.chat_template) ?? readJinja(folder);
  if (!source) {
    throw new ProviderError(
      'bad_request',
      `No chat template in ${configPath} (nor chat_template.jinja beside it). Point ${settingRef('templateFolder')} to a chat model.`,
      { fix: 'open-settings' },
    );
  }
  return rendererFromTemplate(source, config, options);
}

/** chat_template is a string, or a list of named templates of which 'default' is used. */
function templateSource(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (Array.isArray(value)) {
    const named = value.find((t) => t?.name === 'default') ?? value[0];
    return typeof named?.template === 'string' ? named.template : undefined;
  }
  return undefined;
}

function readJinja(folder: string): string | undefined {
  const file = join(folder, 'chat_template.jinja');
  return existsSync(file) ? readFileSync(file, 'utf8') : undefined;
}

function tokenText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return '';
}
