/**
 * Renders a conversation with the model's own Jinja chat template (@huggingface/jinja),
 * with the special tokens of tokenizer_config.json as template variables, as
 * transformers' apply_chat_template does.
 */
import type { Template } from '@huggingface/jinja' with { 'resolution-mode': 'import' };
import { ModelFolderError, specialTokenText } from './modelFolder';
import type { ChatMessage } from './types';

export class ChatTemplate {
  private constructor(
    private readonly template: Template,
    private readonly specialTokens: Record<string, string>,
  ) {}

  static async create(source: string, tokenizerConfig: Record<string, unknown>, file: string): Promise<ChatTemplate> {
    const { Template } = await import('@huggingface/jinja');
    let template: Template;
    try {
      template = new Template(source);
    } catch (e) {
      throw new ModelFolderError(file, `chat_template does not parse as Jinja (${(e as Error).message}).`);
    }
    const specialTokens: Record<string, string> = {};
    for (const key of ['bos_token', 'eos_token', 'pad_token', 'unk_token', 'sep_token', 'cls_token', 'mask_token']) {
      const text = specialTokenText(tokenizerConfig[key]);
      if (text !== undefined) specialTokens[key] = text;
    }
    return new ChatTemplate(template, specialTokens);
  }

  /**
   * Variables default to { enable_thinking: false }, as the providers' renderer
   * (src/core/providers/chatTemplate.ts): the paper runs Qwen3 in non-thinking mode, the
   * LLM continues the SLM's very prompt, so both must render it alike.
   */
  render(messages: ChatMessage[], options: { addGenerationPrompt?: boolean; variables?: Record<string, unknown> } = {}): string {
    return this.template.render({
      enable_thinking: false,
      ...this.specialTokens,
      ...options.variables,
      messages,
      add_generation_prompt: options.addGenerationPrompt ?? true,
    });
  }
}
