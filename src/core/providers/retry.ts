/**
 * Retries a streamed call on transient failures (429, 5xx, connection failures, timeouts)
 * with exponential backoff and jitter, honouring Retry-After, but only while no byte of a
 * success response body has arrived. From the first body byte on the service may bill
 * the call, and a retry would bill it again and write a different continuation after
 * text the caller may already hold. "Text reached the caller" is the wrong test: the
 * instructed openai-chat seam cleaner holds the head of a reply back. A timeout is
 * retried at most once per call: a server that was silent twice will be silent again.
 */
import { ProviderError } from './errors';
import { cancelledError } from './http';
import type { ProviderChunk } from './types';

export interface RetryPolicy {
  /** Retries after the first try. */
  maxRetries: number;
  baseDelayMs: number;
  /** A wait longer than this (Retry-After) is not taken: the error is thrown instead. */
  maxDelayMs: number;
  random: () => number;
}

/** One try of a call; the transport sets `responseStarted` when the first body byte arrives. */
export interface Attempt {
  /** Counts from 1. */
  readonly number: number;
  responseStarted: boolean;
}

export interface RetryHooks {
  signal?: AbortSignal;
  /** Told before each wait, with the try that failed. */
  onRetry?: (failed: Attempt, delayMs: number, error: ProviderError) => void;
  /** Milliseconds the whole call has left: a wait that would use them up is not started. */
  remainingMs?: () => number;
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

/** Whether the failed try may be tried again, before looking at the wait. */
function mayRetry(error: ProviderError, attempt: Attempt, policy: RetryPolicy, timeoutRetried: boolean): boolean {
  if (error.code === 'cancelled' || !error.retryable || attempt.responseStarted) return false;
  if (attempt.number > policy.maxRetries) return false;
  return !(error.code === 'timeout' && timeoutRetried);
}

export async function* withRetries(
  run: (attempt: Attempt) => AsyncIterable<ProviderChunk>,
  policy: RetryPolicy,
  hooks: RetryHooks = {},
): AsyncGenerator<ProviderChunk> {
  let timeoutRetried = false;
  for (let number = 1; ; number++) {
    const attempt: Attempt = { number, responseStarted: false };
    try {
      yield* run(attempt);
      return;
    } catch (error) {
      if (!(error instanceof ProviderError)) throw error;
      error.responseStarted = attempt.responseStarted;
      if (!mayRetry(error, attempt, policy, timeoutRetried)) throw error;
      if (error.code === 'timeout') timeoutRetried = true;
      const wait = error.retryAfterMs ?? backoffDelay(number - 1, policy);
      if (wait > policy.maxDelayMs) {
        throw new ProviderError(error.code, `${error.message} (The server asked to wait ${Math.ceil(wait / 1000)} s before trying again.)`, {
          fix: error.fix,
          status: error.status,
          retryable: false,
          retryAfterMs: wait,
          summary: error.summary,
        });
      }
      // A retry that could not start before the call's time is up would only end in the call timeout.
      if (hooks.remainingMs && wait >= hooks.remainingMs()) throw error;
      hooks.onRetry?.(attempt, wait, error);
      await sleep(wait, hooks.signal);
    }
  }
}
