/**
 * A chat longer than the small model reads: its oldest exchanges are left out (a question
 * and its answer each), in blocks, so that the prompt's start stays put for several turns:
 * what the last turn read (the SLM's kept cache, the read-ahead, the provider's prompt cache
 * and its routing key) is then reused. The new question (the last message) and a system
 * message are always kept; a question that does not fit even alone comes back with no history,
 * for the engine to refuse with the sizes (prompt_too_long).
 */
import type { ChatMessage } from '../slm/types';

export interface FittedConversation {
  messages: ChatMessage[];
  prompt: string;
  /** Messages left out from the start of the conversation (0: it fitted as it was). */
  leftOut: number;
  /** The prompt's tokens, as the small model counts them. */
  promptTokens: number;
  /** Even the new question alone (with the system message) fills the window: no history was the cause, the engine refuses it. */
  questionTooLong: boolean;
}

export interface FitOptions {
  /** Tokens the small model reads at most, prompt and answer together. */
  window: number;
  /** Tokens kept free for the answer. */
  answerRoom: number;
  /** The prompt of a conversation (the SLM's chat template). */
  render(messages: ChatMessage[]): Promise<string>;
  countTokens(text: string): Promise<number>;
}

/**
 * The history is cut into blocks of this share of the prompt's room, counted from the
 * conversation's beginning, and left out a block at a time: a cut leaves about 60% of the room
 * or more, and the start then stays for the turns that fill the other 40% (a turn or two's miss
 * in every few, against the whole window read again at every turn when one exchange at a time goes).
 */
const BLOCK_SHARE = 0.4;

export async function fitConversation(messages: ChatMessage[], options: FitOptions): Promise<FittedConversation> {
  const limit = options.window - Math.min(options.answerRoom, Math.floor(options.window / 4));
  const system = messages[0]?.role === 'system' ? [messages[0]] : [];
  const rest = messages.slice(system.length);
  const tokensOf = async (conversation: ChatMessage[]): Promise<{ prompt: string; promptTokens: number }> => {
    const prompt = await options.render(conversation);
    return { prompt, promptTokens: await options.countTokens(prompt) };
  };
  const measure = async (start: number): Promise<FittedConversation> => {
    const candidate = [...system, ...rest.slice(start)];
    const { prompt, promptTokens } = await tokensOf(candidate);
    return { messages: candidate, prompt, leftOut: start, promptTokens, questionTooLong: promptTokens >= options.window };
  };
  const whole = await measure(0);
  if (whole.promptTokens <= limit) return whole;
  // Where an exchange begins (a user message), the last one being the new question: fewer
  // exchanges, fewer tokens, so the longest history that fits is found by bisection.
  const starts = rest.flatMap((message, i) => (message.role === 'user' && i > 0 ? [i] : []));
  if (starts.length === 0) return whole;
  const last = starts.length - 1;
  const fitting = await measure(starts[last]);
  if (fitting.promptTokens > limit) return fitting;
  const fewest = await firstIndex(0, last, async (i) => (await measure(starts[i])).promptTokens <= limit);
  // The prompt's tokens from the conversation's beginning through the question at `start`: the
  // same at every later turn, so the blocks' edges stay where they are as the chat grows.
  const tokensThrough = async (start: number): Promise<number> => (await tokensOf([...system, ...rest.slice(0, start + 1)])).promptTokens;
  const block = Math.max(1, Math.floor(limit * BLOCK_SHARE));
  // The history starts at a block's first exchange: the first at or after `fewest` past the next block edge.
  const edge = (Math.floor((await tokensThrough(fewest === 0 ? 0 : starts[fewest - 1])) / block) + 1) * block;
  const blockStart = await firstIndex(fewest, last, async (i) => (await tokensThrough(starts[i])) >= edge);
  // A block that ends only in the new question (a long question): as much history as fits instead.
  return measure(starts[blockStart === last ? fewest : blockStart]);
}

/** The first index in [low, high) where `holds` (true from there on), or `high` where none does. */
async function firstIndex(low: number, high: number, holds: (i: number) => Promise<boolean>): Promise<number> {
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    if (await holds(mid)) high = mid;
    else low = mid + 1;
  }
  return low;
}
