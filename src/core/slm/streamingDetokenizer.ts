/**
 * Streaming detokenisation by prefix difference (as transformers.js' streamer and TGI):
 * decode a short window of ids with and without the newest ones and emit the difference,
 * holding text back while it ends in U+FFFD (half a UTF-8 character). Seeding the window
 * with the last context token keeps tokenizers that strip a leading space (SentencePiece)
 * from eating the first space of the stream.
 */
import type { TextTokenizer } from './tokenizer';

export class StreamingDetokenizer {
  private ids: number[];
  /** ids[prefixOffset, readOffset) decode to text already emitted (or context). */
  private prefixOffset = 0;
  private readOffset: number;

  constructor(
    private readonly tokenizer: TextTokenizer,
    contextIds: readonly number[] = [],
  ) {
    this.ids = contextIds.slice(-1);
    this.readOffset = this.ids.length;
  }

  /** Text that `id` would add, without committing it. */
  peek(id: number): string {
    return this.next([...this.ids, id]).text;
  }

  /** Commits `id`; returns the new complete text ('' while a character is incomplete). */
  push(id: number): string {
    this.ids.push(id);
    const { text, advanced } = this.next(this.ids);
    if (advanced) {
      this.prefixOffset = this.readOffset;
      this.readOffset = this.ids.length;
      // Drop what can never be needed again so the window stays short.
      if (this.prefixOffset > 0) {
        this.ids = this.ids.slice(this.prefixOffset);
        this.readOffset -= this.prefixOffset;
        this.prefixOffset = 0;
      }
    }
    return text;
  }

  /** Whatever is still held back (an incomplete character at the very end), decoded as is. */
  flush(): string {
    const prefix = this.tokenizer.decode(this.ids.slice(this.prefixOffset, this.readOffset));
    const all = this.tokenizer.decode(this.ids.slice(this.prefixOffset));
    return all.length > prefix.length ? all.slice(prefix.length) : '';
  }

  private next(ids: number[]): { text: string; advanced: boolean } {
    const prefix = this.tokenizer.decode(ids.slice(this.prefixOffset, this.readOffset));
    const all = this.tokenizer.decode(ids.slice(this.prefixOffset));
    if (all.length > prefix.length && !all.endsWith('\uFFFD')) return { text: all.slice(prefix.length), advanced: true };
    return { text: '', advanced: false };
  }
}
