/**
 * The retry loop under random failures: a try is never repeated once bytes of its
 * response body arrived (the call may be billed), a timeout is retried at most once, and
 * the number of tries stays within maxRetries + 1.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { ProviderError, type ProviderErrorCode } from '../../../src/core/providers/errors';
import { withRetries, type Attempt } from '../../../src/core/providers/retry';
import type { ProviderChunk } from '../../../src/core/providers/types';

interface TryScript {
  /** Body bytes arrive before the try ends. */
  bytes: boolean;
  /** How the try ends: success, or an error of this code (retryable as the transport marks it). */
  outcome: 'ok' | Extract<ProviderErrorCode, 'timeout' | 'server' | 'rate_limit' | 'network' | 'auth' | 'bad_request'>;
}

const RETRYABLE = new Set(['timeout', 'server', 'rate_limit', 'network']);

test('retries: never after body bytes, a timeout once, at most maxRetries + 1 tries (random schedules)', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(
        fc.record({
          bytes: fc.boolean(),
          outcome: fc.constantFrom<TryScript['outcome']>('ok', 'timeout', 'server', 'rate_limit', 'network', 'auth', 'bad_request'),
        }),
        { minLength: 1, maxLength: 8 },
      ),
      fc.integer({ min: 0, max: 5 }),
      async (scripts, maxRetries) => {
        const tried: Array<{ attempt: Attempt; script: TryScript }> = [];
        const run = async function* (attempt: Attempt): AsyncGenerator<ProviderChunk> {
          const script = scripts[Math.min(attempt.number - 1, scripts.length - 1)];
          tried.push({ attempt, script });
          if (script.bytes) {
            attempt.responseStarted = true; // what the transport does on the first body byte
            yield { type: 'text', text: 'x' };
          }
          if (script.outcome !== 'ok') throw new ProviderError(script.outcome, 'scripted', { retryable: RETRYABLE.has(script.outcome), retryAfterMs: 0 });
          yield { type: 'done', finishReason: 'stop' };
        };
        let failure: ProviderError | undefined;
        try {
          for await (const _ of withRetries(run, { maxRetries, baseDelayMs: 0, maxDelayMs: 1000, random: () => 0 })) void _;
        } catch (error) {
          failure = error as ProviderError;
        }
        assert.ok(tried.length <= maxRetries + 1, `${tried.length} tries, maxRetries ${maxRetries}`);
        tried.forEach(({ attempt, script }, i) => {
          const last = i === tried.length - 1;
          if (!last) {
            assert.equal(attempt.responseStarted, false, 'a try whose body had started was repeated');
            assert.ok(RETRYABLE.has(script.outcome), `a ${script.outcome} was retried`);
          }
        });
        assert.ok(tried.filter(({ script }, i) => script.outcome === 'timeout' && i < tried.length - 1).length <= 1, 'a timeout is retried at most once');
        const last = tried[tried.length - 1];
        if (failure) assert.equal(failure.responseStarted, last.attempt.responseStarted, 'the error says whether the failed try may be billed');
        else assert.equal(last.script.outcome, 'ok');
      },
    ),
    { numRuns: 2000, seed: 20261202 },
  );
});
