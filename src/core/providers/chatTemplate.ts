/**
 * Builds a PromptRenderer from a Hugging Face chat template (tokenizer_config.json's
 * chat_template, or a chat_template.jinja next to it), rendered with @huggingface/jinja:
 * the conversation with add_generation_prompt, then the partial answer appended.
 *
 * The prompt it renders goes to a server as text (openai-completions, Ollama raw), which
 * tokenises it adding the tokenizer's BOS itself: vLLM (`add_special_tokens` defaults to
 * true on /v1/completions), llama.cpp (`tokenize_input_prompts(..., add_special=true)`),
 * Ollama raw mode. A template that renders `bos_token` would then give two, so one leading
 * `bos_token` is left out of the text where the tokenizer adds BOS (textPromptBos).
 */
import type { Template } from '@huggingface/jinja' with { 'resolution-mode': 'import' };
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ChatMessage } from '../slm/types';
import { ProviderError } from './errors';
import type { PromptRenderer } from './types';
import { settingRef } from '../settingNames';
import { addedTokenTexts, keepAddedTokensAsText } from '../slm/addedTokens';

export interface ChatTemplateOptions {
  /**
   * Extra template variables. Default { enable_thinking: false }: the paper runs Qwen3 in
   * non-thinking mode; templates that do not know the variable ignore it.
   */
  variables?: Record<string, unknown>;
  /** The folder's tokenizer.json, whose post_processor may add BOS (textPromptBos); loadChatTemplateRenderer reads it. */
  tokenizerJson?: Record<string, unknown>;
}

/**
 * The BOS token's text where the tokenizer adds BOS itself when a server tokenises a text
 * prompt (so a rendered prompt must not start with it), else undefined. tokenizer_config's
 * `add_bos_token` decides where it is set (transformers' Llama and Gemma tokenizers rebuild
 * their post-processor from it, and llama.cpp's GGUF conversion reads it); else the
 * tokenizer.json post_processor (Llama 3's TemplateProcessing puts `<|begin_of_text|>`
 * first).
 */
export function textPromptBos(tokenizerConfig: Record<string, unknown>, tokenizerJson?: Record<string, unknown>): string | undefined {
  const bos = tokenText(tokenizerConfig.bos_token);
  if (bos.length === 0) return undefined;
  const add = typeof tokenizerConfig.add_bos_token === 'boolean' ? tokenizerConfig.add_bos_token : postProcessorAddsFirst(tokenizerJson?.post_processor, bos);
  return add ? bos : undefined;
}

/** Whether a tokenizer.json post_processor puts `token` first in a single sequence. */
function postProcessorAddsFirst(processor: unknown, token: string): boolean {
  if (!processor || typeof processor !== 'object') return false;
  const p = processor as Record<string, any>;
  if (p.type === 'Sequence' && Array.isArray(p.processors)) return p.processors.some((q: unknown) => postProcessorAddsFirst(q, token));
  if (p.type === 'TemplateProcessing' && Array.isArray(p.single)) return p.single[0]?.SpecialToken?.id === token;
  if ((p.type === 'BertProcessing' || p.type === 'RobertaProcessing') && Array.isArray(p.cls)) return p.cls[0] === token;
  return false;
}

/** `prompt` without one leading `bos` (the text a server that adds BOS itself is sent); as it is when `bos` is undefined. */
export function withoutLeadingBos(prompt: string, bos: string | undefined): string {
  return bos !== undefined && bos.length > 0 && prompt.startsWith(bos) ? prompt.slice(bos.length) : prompt;
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
  const { variables: extra, tokenizerJson } = options;
  const variables = {
    enable_thinking: false,
    bos_token: tokenText(tokenizerConfig.bos_token),
    eos_token: tokenText(tokenizerConfig.eos_token),
    pad_token: tokenText(tokenizerConfig.pad_token),
    unk_token: tokenText(tokenizerConfig.unk_token),
    ...extra,
  };
  const bos = textPromptBos(tokenizerConfig, tokenizerJson);
  // As the SLM's renderer (slm/chatTemplate.ts): the server tokenises this text and would match them too.
  const keepAddedTokens = keepAddedTokensAsText(addedTokenTexts(tokenizerConfig, tokenizerJson, source));
  return (messages: ChatMessage[], partialAnswer: string) =>
    withoutLeadingBos(template.render({ ...variables, messages: keepAddedTokens(messages), add_generation_prompt: true }), bos) + partialAnswer;
}

/**
 * A chat_template.jinja file's text with its line endings made "\n". Git for Windows checks
 * text files out with CRLF, and Jinja keeps template text verbatim, so every turn would get
 * "\r\n" and the prompt a stray "\r"; transformers reads the file with universal newlines.
 * (A template inside tokenizer_config.json is a JSON string: a checkout leaves its "\r\n"
 * escapes alone, and transformers uses it verbatim, so it is not changed.)
 */
export function withLfLineEndings(template: string): string {
  return template.replace(/\r\n?/g, '\n');
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
  // As transformers: a chat_template.jinja file takes priority over the config's entry (a repository updates the file).
  const source = readJinja(folder) ?? templateSource(config.chat_template);
  if (!source) {
    throw new ProviderError(
      'bad_request',
      `No chat template in ${configPath} (nor chat_template.jinja beside it). Point ${settingRef('templateFolder')} to a chat model.`,
      { fix: 'open-settings' },
    );
  }
  return rendererFromTemplate(source, config, { ...options, tokenizerJson: options.tokenizerJson ?? postProcessorSource(folder, config) });
}

/**
 * The folder's tokenizer.json where whether BOS is added rests on its post_processor (a BOS
 * token and no add_bos_token in the config); undefined otherwise or when it cannot be read.
 */
function postProcessorSource(folder: string, config: Record<string, unknown>): Record<string, unknown> | undefined {
  if (tokenText(config.bos_token).length === 0 || typeof config.add_bos_token === 'boolean') return undefined;
  const file = join(folder, 'tokenizer.json');
  if (!existsSync(file)) return undefined;
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch {
    return undefined;
  }
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
  return existsSync(file) ? withLfLineEndings(readFileSync(file, 'utf8')) : undefined;
}

function tokenText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') return (value as { content: string }).content;
  return '';
}
