/**
 * The model's tokenizer (tokenizer.json through @huggingface/tokenizers). Text given to
 * the runtime is already rendered (chat template included), so encoding never adds
 * special tokens of its own; special tokens written in the text (<|im_start|>, ...) are
 * still recognised as single tokens.
 */
import type { Tokenizer as HfTokenizer } from '@huggingface/tokenizers' with { 'resolution-mode': 'import' };
import { ModelFolderError } from './modelFolder';

export interface TextTokenizer {
  encode(text: string): number[];
  decode(ids: readonly number[], options?: { skipSpecialTokens?: boolean }): string;
  tokenToId(token: string): number | undefined;
}

export class SlmTokenizer implements TextTokenizer {
  private constructor(private readonly inner: HfTokenizer) {}

  static async create(tokenizerJson: Record<string, unknown>, tokenizerConfig: Record<string, unknown>, file = 'tokenizer.json'): Promise<SlmTokenizer> {
    const { Tokenizer } = await import('@huggingface/tokenizers');
    try {
      return new SlmTokenizer(new Tokenizer(tokenizerJson, tokenizerConfig));
    } catch (e) {
      throw new ModelFolderError(file, `could not be loaded as a tokenizer (${(e as Error).message}).`);
    }
  }

  encode(text: string): number[] {
    return this.inner.encode(text, { add_special_tokens: false }).ids;
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return '';
    return this.inner.decode(ids as number[], {
      skip_special_tokens: options.skipSpecialTokens ?? false,
      clean_up_tokenization_spaces: false,
    });
  }

  tokenToId(token: string): number | undefined {
    return this.inner.token_to_id(token);
  }
}
