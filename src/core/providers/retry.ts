/**
 * Retries a streamed call on transient failures (429, 5xx, connection resets, timeouts)
 * with exponential backoff and jitter, honouring Retry-After. Never retries once text
 * has reached the caller: the retry would write a different continuation after text the
 * caller already has (a broken seam), and the service bills both tries.
 */
import { ProviderError } from './errors';
import { cancelledError } from './http';
import type { ProviderChunk } from './types';

export interface RetryPolicy {
  maxRetries: number;
  baseDelayMs: number;
  /** A wait longer than this (Retry-After) is not taken: the error is thrown instead. */
  maxDelayMs: number;
  random: () => number;
}

/** The wait before retry number `retry` (0-based): base * 2^retry, with half of it jittered. */
export function backoffDelay(retry: number, policy: RetryPolicy): number {
  const ceiling = policy.baseDelayMs * 2 ** retry;
  return Math.min(policy.maxDelayMs, Math.round(ceiling / 2 + (ceiling / 2) * policy.random()));
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(cancelledError());
    const onAbort = () => {
      clearTimeout(timer);
      reject(cancelledError());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export async function* withRetries(
  attempt: () => AsyncIterable<ProviderChunk>,
  policy: RetryPolicy,
  signal?: AbortSignal,
): AsyncGenerator<ProviderChunk> {
  for (let retry = 0; ; retry++) {
    let textStreamed = false;
    try {
      for await (const chunk of attempt()) {
        if (chunk.type === 'text' && chunk.text.length > 0) textStreamed = true;
        yield chunk;
      }
      return;
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      error.textStreamed = textStreamed;
      if (error.code === 'cancelled' || !error.retryable || textStreamed || retry >= policy.maxRetries) throw error;
      const wait = error.retryAfterMs ?? backoffDelay(retry, policy);
      if (wait > policy.maxDelayMs) {
        throw new ProviderError(
          error.code,
          `${error.message} (The server asked to wait ${Math.ceil(wait / 1000)} s before trying again.)`,
          { fix: error.fix, status: error.status, retryable: false, retryAfterMs: wait },
        );
      }
      await sleep(wait, signal);
    }
  }
}
