/**
 * The tokenizer's control tokens (`<|im_end|>`, `<|im_start|>`, `<think>`, ...) written in a
 * conversation's text: a selection, a chat message, an attached file, an earlier answer that
 * quoted them. A tokenizer matches them in any text, so code that quotes them (chat templates,
 * LLM apps, Relay's own source) would end a turn and open a fake one in the prompt.
 * transformers does the same by default; for a tool that explains code, such text is the
 * conversation's, so it is kept as text: a zero-width space after its first character stops
 * the match and shows nothing. Added tokens that are ordinary vocabulary (Gemma's `<b>`,
 * `<div>`, `<code>`: not special, not in the chat template) are left alone: they are text.
 */
import { THINK_CLOSE, THINK_OPEN } from '../relay/thinking';
import type { ChatMessage } from './types';
import { escapeRegExp } from '../../shared/escapeRegExp';

const ZERO_WIDTH_SPACE = '\u200b';
/** The special-token keys of tokenizer_config.json (their text is an added token too). */
const SPECIAL_TOKEN_KEYS = ['bos_token', 'eos_token', 'pad_token', 'unk_token', 'sep_token', 'cls_token', 'mask_token'];

/**
 * The control tokens a tokenizer matches in text, from tokenizer_config.json (and tokenizer.json
 * where at hand): the special ones, and those the chat template itself writes (`templateSource`;
 * Qwen3's `<think>` is not marked special). Without the template, every added token counts.
 */
export function addedTokenTexts(tokenizerConfig: Record<string, unknown>, tokenizerJson?: Record<string, unknown>, templateSource?: string): string[] {
  const texts = new Set<string>();
  const add = (value: unknown): void => {
    const text = typeof value === 'string' ? value : value && typeof value === 'object' ? (value as { content?: unknown }).content : undefined;
    // One character cannot be broken up, and a plain word would be changed wherever it is written.
    if (typeof text !== 'string' || text.length <= 1 || !/[<|>[\]]/.test(text)) return;
    // Vocabulary the tokenizer was given whole (Gemma's HTML tags) is text, unless the template writes it as a marker.
    const special = typeof value === 'string' || (value as { special?: unknown }).special !== false;
    if (special || templateSource === undefined || templateSource.includes(text)) texts.add(text);
  };
  for (const key of SPECIAL_TOKEN_KEYS) add(tokenizerConfig[key]);
  const decoder = tokenizerConfig.added_tokens_decoder;
  if (decoder && typeof decoder === 'object') for (const token of Object.values(decoder)) add(token);
  const listed = tokenizerJson?.added_tokens;
  if (Array.isArray(listed)) for (const token of listed) add(token);
  return [...texts];
}

/**
 * What keeps `texts` (addedTokenTexts) as text in a conversation's messages, earlier answers
 * too (one that quoted `<|im_end|>` would end its turn there); in an answer, the thinking tags
 * that templates parse (they split out or drop the reasoning) stay as they are. Built once per
 * template, called for every render.
 */
export function keepAddedTokensAsText(texts: readonly string[]): (messages: ChatMessage[]) => ChatMessage[] {
  if (texts.length === 0) return (messages) => messages;
  const assistantTexts = texts.filter((text) => text !== THINK_OPEN && text !== THINK_CLOSE);
  const inAnswers = assistantTexts.length === texts.length ? undefined : assistantTexts.length > 0 ? patternOf(assistantTexts) : null;
  const everywhere = patternOf(texts);
  const keep = (content: string, pattern: RegExp): string => content.replace(pattern, (token) => token[0] + ZERO_WIDTH_SPACE + token.slice(1));
  return (messages) =>
    messages.map((message) => {
      const pattern = message.role === 'assistant' && inAnswers !== undefined ? inAnswers : everywhere;
      if (pattern === null) return message;
      const content = keep(message.content, pattern);
      return content === message.content ? message : { ...message, content };
    });
}

function patternOf(texts: readonly string[]): RegExp {
  // Longest first: `<|im_start|>` before any token it starts with.
  return new RegExp(
    [...texts]
      .sort((a, b) => b.length - a.length)
      .map(escapeRegExp)
      .join('|'),
    'g',
  );
}
