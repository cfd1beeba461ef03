/**
 * A chat longer than the small model reads: its oldest exchanges are left out (a question
 * and its answer each), as few as leave the prompt room for an answer. The new question
 * (the last message) and a system message are always kept; a question that does not fit
 * even alone comes back with no history, for the engine to refuse with the sizes (prompt_too_long).
 */
import type { ChatMessage } from '../slm/types';

export interface FittedConversation {
  messages: ChatMessage[];
  prompt: string;
  /** Messages left out from the start of the conversation (0: it fitted as it was). */
  leftOut: number;
  /** The prompt's tokens, as the small model counts them. */
  promptTokens: number;
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

export async function fitConversation(messages: ChatMessage[], options: FitOptions): Promise<FittedConversation> {
  const limit = options.window - Math.min(options.answerRoom, Math.floor(options.window / 4));
  const system = messages[0]?.role === 'system' ? [messages[0]] : [];
  const rest = messages.slice(system.length);
  const measure = async (start: number): Promise<FittedConversation> => {
    const candidate = [...system, ...rest.slice(start)];
    const prompt = await options.render(candidate);
    return { messages: candidate, prompt, leftOut: start, promptTokens: await options.countTokens(prompt) };
  };
  const whole = await measure(0);
  if (whole.promptTokens <= limit) return whole;
  // Where an exchange begins (a user message), the last one being the new question: fewer
  // exchanges, fewer tokens, so the longest history that fits is found by bisection.
  const starts = rest.flatMap((message, i) => (message.role === 'user' && i > 0 ? [i] : []));
  if (starts.length === 0) return whole;
  let low = 0;
  let high = starts.length - 1;
  let best = await measure(starts[high]);
  if (best.promptTokens > limit) return best;
  while (low < high) {
    const mid = Math.floor((low + high) / 2);
    const tried = await measure(starts[mid]);
    if (tried.promptTokens <= limit) {
      best = tried;
      high = mid;
    } else low = mid + 1;
  }
  return best;
}
