/**
 * The temperature the eval's LLM actually runs at, which is not always the one asked: models
 * that refuse `temperature` (OpenAI's o-series, gpt-5, -mini, -nano and -pro; Claude from 4.7)
 * are sent none and run at their own default, Anthropic takes at most 1, and a model that
 * refused it at run time is sent none from then on. An eval must not label the LLM's answers
 * with a temperature they were not sampled at. The provider says what it sends
 * (LlmProvider.sentTemperature), from the same code that writes its request body.
 */
import type { LlmProvider } from '../../core/providers/types';

/** The LLM's temperature as sent: a number, or null when none is sent (the model samples at its own default). */
export type SentTemperature = number | null;

/** The temperature `provider` sends when `asked` is asked, as far as this process knows the model now. */
export function llmTemperatureSent(provider: Pick<LlmProvider, 'sentTemperature'>, asked: number): SentTemperature {
  return provider.sentTemperature ? provider.sentTemperature(asked) : asked;
}

/** How the LLM's temperature reads beside the asked one ("its own default: gpt-5-mini was sent none"), for the eval's notes. */
export function llmTemperatureWords(sent: SentTemperature, asked: number, model: string): string {
  if (sent === null) return `its own default temperature (${model} takes none, so none was sent)`;
  return sent === asked ? `temperature ${sent}` : `temperature ${sent} (the most its API takes)`;
}
