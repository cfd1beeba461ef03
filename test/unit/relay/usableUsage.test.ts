/** usableUsage (cost.ts): usage a server reports is priced and summed only when it is a count a call could be billed for. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { usableUsage } from '../../../src/core/relay/cost';
import { MAX_BELIEVED_OUTPUT_TOKENS } from '../../../src/core/providers/usage';
import type { Usage } from '../../../src/core/providers/types';

const usage = (inputTokens: number, outputTokens: number): Usage => ({
  inputTokens,
  outputTokens,
  cachedInputTokens: 0,
  cacheWriteTokens: 0,
  estimated: false,
});

test('usableUsage: counts no double holds exactly (1e300, 2^53 + 1) or fractional ones are unusable', () => {
  assert.equal(usableUsage(usage(1e300, 10)), undefined);
  assert.equal(usableUsage(usage(100, 9007199254740992)), undefined);
  assert.equal(usableUsage(usage(100.5, 10)), undefined);
  assert.deepEqual(usableUsage(usage(120, 4)), usage(120, 4));
});

test('usableUsage: an output far past the max_tokens asked (hidden reasoning) is kept; past what any call writes, capped and marked', () => {
  assert.deepEqual(usableUsage(usage(120, 4000), 16), usage(120, 4000), 'reasoning a host did not bound by max_tokens is billed');
  assert.deepEqual(usableUsage(usage(120, 20), 16), usage(120, 20), 'a little past the ask (tokenizers differ) is fine');
  assert.deepEqual(usableUsage(usage(120, 4e9), 16), { ...usage(120, MAX_BELIEVED_OUTPUT_TOKENS), estimated: true, outputCapped: true });
  // A budget larger than the ceiling asks for more: what it allows is believed.
  assert.deepEqual(usableUsage(usage(120, 200_000), 131_072), usage(120, 200_000));
});
