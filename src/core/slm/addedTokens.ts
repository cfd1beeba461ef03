/**
 * The tokenizer's added tokens (`<|im_end|>`, `<|im_start|>`, `<think>`, ...) written in what
 * the user sends: a selection, a chat message, an attached file. A tokenizer matches them in
 * any text, so code that quotes them (chat templates, LLM apps, Relay's own source) would end
 * the user's turn and open a fake assistant one in the prompt. transformers does the same by
 * default; for a tool that explains code, such text is the user's, so it is kept as text: a
 * zero-width space after its first character stops the match and shows nothing.
 */
import type { ChatMessage } from './types';

const ZERO_WIDTH_SPACE = '\u200b';
/** The special-token keys of tokenizer_config.json (their text is an added token too). */
const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'pad_token', 'unk_token', 'sep_token', 'cls_token', 'mask_token'];

/** The texts a tokenizer matches as added tokens, from tokenizer_config.json (and tokenizer.json where at hand). */
export function addedTokenTexts(tokenizerConfig: Record<string, unknown>, tokenizerJson?: Record<string, unknown>): string[] {
  const texts = new Set<string>();
  const add = (value: unknown): void => {
    const text = typeof value === 'string' ? value : value && typeof value === 'object' ? (value as { content?: unknown }).content : undefined;
    // One character cannot be broken up, and a plain word would be changed wherever it is written.
    if (typeof text === 'string' && text.length > 1 && /[<|>[\]]/.test(text)) texts.add(text);
  };
  for (const key of SPECIAL_TOKEN_KEYS) add(tokenizerConfig[key]);
  const decoder = tokenizerConfig.added_tokens_decoder;
  if (decoder && typeof decoder === 'object') for (const token of Object.values(decoder)) add(token);
  const listed = tokenizerJson?.added_tokens;
  if (Array.isArray(listed)) for (const token of listed) add(token);
  return [...texts];
}

/**
 * What keeps `texts` (addedTokenTexts) as text in a conversation's user and system messages
 * (assistant turns, which templates parse for <think>, stay as they are); built once per
 * template, called for every render.
 */
export function keepAddedTokensAsText(texts: readonly string[]): (messages: ChatMessage[]) => ChatMessage[] {
  if (texts.length === 0) return (messages) => messages;
  // Longest first: `<|im_start|>` before any token it starts with.
  const pattern = new RegExp(
    [...texts]
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp)
      .join('|'),
    'g',
  );
  return (messages) =>
    messages.map((message) => {
      if (message.role === 'assistant') return message;
      const content = message.content.replace(pattern, (token) => token[0] + ZERO_WIDTH_SPACE + token.slice(1));
      return content === message.content ? message : { ...message, content };
    });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
