/** Drains a provider stream into what the tests assert on. */
import type { ContinueRequest, FinishReason, LlmProvider, ProviderChunk, Usage } from '../../../../src/core/providers/types';

export interface Collected {
  text: string;
  chunks: ProviderChunk[];
  usage?: Usage;
  finishReason?: FinishReason;
}

export async function collect(
  provider: LlmProvider,
  request: ContinueRequest,
  signal?: AbortSignal,
  onChunk?: (chunk: ProviderChunk) => void,
): Promise<Collected> {
  const out: Collected = { text: '', chunks: [] };
  for await (const chunk of provider.continue(request, signal)) {
    out.chunks.push(chunk);
    onChunk?.(chunk);
    if (chunk.type === 'text') out.text += chunk.text;
    if (chunk.type === 'usage') out.usage = chunk.usage;
    if (chunk.type === 'done') out.finishReason = chunk.finishReason;
  }
  return out;
}

/** Runs the stream and returns what it threw (fails the test if it did not throw). */
export async function collectError(provider: LlmProvider, request: ContinueRequest, signal?: AbortSignal): Promise<any> {
  try {
    await collect(provider, request, signal);
  } catch (error) {
    return error;
  }
  throw new Error('expected the provider to throw');
}

export const REQUEST: ContinueRequest = {
  messages: [
    { role: 'system', content: 'You are a helpful assistant.' },
    { role: 'user', content: 'What is the capital of France?' },
  ],
  partialAnswer: 'The capital of France is',
  maxTokens: 4,
  temperature: 0.7,
  topP: 0.9,
  seed: 42,
};

/** Fast retry settings for tests. */
export const FAST = { retryBaseDelayMs: 1, maxRetryDelayMs: 2000, idleTimeoutMs: 5000, connectTimeoutMs: 5000, firstByteTimeoutMs: 5000 } as const;

/** Guards a wait against hanging the suite (not a speed assertion: the bound is generous). */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not happen within ${ms} ms`)), ms);
  });
  return Promise.race([promise, guard]).finally(() => clearTimeout(timer));
}
