/**
 * Renders a conversation with the model's own Jinja chat template (@huggingface/jinja),
 * with the special tokens of tokenizer_config.json as template variables, as
 * transformers' apply_chat_template does.
 */
import type { Template } from '@huggingface/jinja' with { 'resolution-mode': 'import' };
import { ModelFolderError, specialTokenText, type TokenizerFolder } from './modelFolder';
import { addedTokenTexts, keepAddedTokensAsText } from './addedTokens';
import type { ChatMessage } from './types';
import { settingRef } from '../settingNames';
import { ProviderError } from '../providers/errors';

/**
 * Most characters a rendered prompt may have. A template is a program: one that doubles a
 * string renders hundreds of millions of characters well within any render deadline (V8
 * joins strings lazily), and they would cross the process boundary whole (about a second
 * and most of a GB in the extension host). Prompts are far shorter (a context
 * of a million tokens is a few million characters).
 */
export const MAX_RENDERED_PROMPT_CHARS = 16 * 2 ** 20;

/** The problem of a rendered prompt over MAX_RENDERED_PROMPT_CHARS (undefined when within it). */
export function renderedSizeProblem(rendered: string): string | undefined {
  if (rendered.length <= MAX_RENDERED_PROMPT_CHARS) return undefined;
  return (
    `its chat template rendered ${rendered.length.toLocaleString('en-US')} characters, more than the ` +
    `${MAX_RENDERED_PROMPT_CHARS.toLocaleString('en-US')} a prompt may have (a template is a program, and this one repeats text without bound).`
  );
}

/**
 * `rendered` by the template of `path` (relay.provider.templateFolder's, for a raw-completion LLM),
 * or its refusal where it is too long to send (renderedSizeProblem): said where it renders (the
 * SLM process, the CLI's template thread), so a prompt that size never crosses to the caller.
 */
export function templateFolderPrompt(path: string, rendered: string): string {
  const problem = renderedSizeProblem(rendered);
  if (problem) throw new ProviderError('bad_request', `${path}: ${problem} Set ${settingRef('templateFolder')} to another model.`, { fix: 'open-settings' });
  return rendered;
}

/**
 * Whose chat template it is, which says what helps when it does not render: the small model's
 * (its folder), an onnx-local large model's (its folder), or the one relay.provider.templateFolder
 * names (it renders a raw-completion LLM's prompt only, so it cannot help with the other two).
 */
export type TemplateOwner = 'slm' | 'llm' | 'templateFolder';

const WHAT_HELPS: Record<TemplateOwner, string> = {
  slm: `Use another small model folder (${settingRef('slmFolder')}, or "Relay: Select Model").`,
  llm: `Use another large model folder (${settingRef('model')}).`,
  templateFolder: `Set ${settingRef('templateFolder')} to a model folder whose chat template renders.`,
};

/**
 * Said when a chat template renders past its deadline and is stopped (the SLM process, the
 * CLI's render thread). `whose`: e.g. "The small model's chat template"; `owner` picks the advice.
 */
export function renderTimeoutMessage(whose: string, timeoutMs: number, owner: TemplateOwner): string {
  return `${whose} took more than ${timeoutMs / 1000} s to render and was stopped (a template is a program, and this one may loop). ` + WHAT_HELPS[owner];
}

export class ChatTemplate {
  private constructor(
    private readonly template: Template,
    private readonly specialTokens: Record<string, string>,
    private readonly file: string,
    private readonly keepAddedTokens: (messages: ChatMessage[]) => ChatMessage[],
  ) {}

  /**
   * The chat template of a model folder as read (readModelFolder, readTokenizerFolder), its
   * errors naming the file it came from (chat_template.jinja or tokenizer_config.json);
   * undefined when the folder has none.
   */
  static async ofFolder(
    files: Pick<TokenizerFolder, 'chatTemplate' | 'chatTemplateFile' | 'tokenizerConfig' | 'tokenizerJson'>,
  ): Promise<ChatTemplate | undefined> {
    if (files.chatTemplate === undefined) return undefined;
    return ChatTemplate.create(files.chatTemplate, files.tokenizerConfig, files.chatTemplateFile!, files.tokenizerJson);
  }

  /** `tokenizerJson`: its added tokens are kept as text in what the user sends, with tokenizer_config.json's (addedTokens.ts). */
  static async create(source: string, tokenizerConfig: Record<string, unknown>, file: string, tokenizerJson?: Record<string, unknown>): Promise<ChatTemplate> {
    const { Template } = await import('@huggingface/jinja');
    let template: Template;
    try {
      template = new Template(source);
    } catch (e) {
      throw new ModelFolderError(file, `chat_template does not parse as Jinja (${(e as Error).message}). Use a model folder whose chat template parses.`);
    }
    const specialTokens: Record<string, string> = {};
    for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token', 'sep_token', 'cls_token', 'mask_token']) {
      const text = specialTokenText(tokenizerConfig[key]);
      if (text !== undefined) specialTokens[key] = text;
    }
    return new ChatTemplate(template, specialTokens, file, keepAddedTokensAsText(addedTokenTexts(tokenizerConfig, tokenizerJson, source)));
  }

  /**
   * Variables default to { enable_thinking: false }, as the providers' renderer
   * (src/core/providers/chatTemplate.ts): the paper runs Qwen3 in non-thinking mode, the
   * LLM continues the SLM's very prompt, so both must render it alike.
   */
  render(messages: ChatMessage[], options: { addGenerationPrompt?: boolean; variables?: Record<string, unknown> } = {}): string {
    // Input over the limit by itself is the input's fault, not the template's: said before rendering it.
    const inputChars = messages.reduce((sum, message) => sum + message.content.length, 0);
    if (inputChars > MAX_RENDERED_PROMPT_CHARS)
      throw new Error(
        `the input is too long: its messages alone are ${inputChars.toLocaleString('en-US')} characters, more than the ` +
          `${MAX_RENDERED_PROMPT_CHARS.toLocaleString('en-US')} a prompt may have. Send a shorter text.`,
      );
    const rendered = this.template.render({
      enable_thinking: false,
      ...this.specialTokens,
      ...options.variables,
      messages: this.keepAddedTokens(messages),
      add_generation_prompt: options.addGenerationPrompt ?? true,
    });
    const problem = renderedSizeProblem(rendered);
    if (problem) throw new ModelFolderError(this.file, `${problem} Use a model folder whose chat template renders.`);
    return rendered;
  }
}
