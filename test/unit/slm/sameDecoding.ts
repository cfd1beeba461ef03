// The check every KV-path test makes: sessions of differently rewritten graphs must decode
// exactly as a reference session (the whole-cache path), bit for bit.
import assert from 'node:assert/strict';
import type { KvDecoderSession } from '../../../src/core/slm/onnx/kvDecoder';

/** Short appends onto an empty cache. */
export const SHORT_CHUNKS: number[][] = [[3, 41, 7], [200], [19, 88, 150, 61, 9]];
/** Uneven appends, the first onto an empty cache, past the first 256-token capacity (the buffers grow). */
export const GROWTH_CHUNKS: number[][] = [1, 37, 220, 3].map((size) => Array.from({ length: size }, (_, i) => (i * 37 + size) % 350));

/**
 * Appends each chunk (ids, or text) to the reference and to every other session, and
 * asserts the same next-token logits after each; then generates greedily and asserts the
 * same tokens, context length and final logits. Returns the reference's tokens.
 */
export async function assertSameDecoding(
  reference: KvDecoderSession,
  others: KvDecoderSession[],
  chunks: (number[] | string)[],
  maxTokens: number,
  label = '',
): Promise<number[]> {
  const feed = (session: KvDecoderSession, chunk: number[] | string) => (typeof chunk === 'string' ? session.append(chunk) : session.appendIds(chunk));
  for (const chunk of chunks) {
    await feed(reference, chunk);
    const expected = await reference.nextLogits();
    for (const other of others) {
      await feed(other, chunk);
      assert.deepEqual(await other.nextLogits(), expected, `${label} after ${reference.contextLength} tokens`);
    }
  }
  const tokens = (await reference.generate({ maxTokens })).tokens.map((t) => t.id);
  const expected = await reference.nextLogits();
  for (const other of others) {
    assert.deepEqual(
      (await other.generate({ maxTokens })).tokens.map((t) => t.id),
      tokens,
      `${label} tokens`,
    );
    assert.equal(other.contextLength, reference.contextLength);
    assert.deepEqual(await other.nextLogits(), expected, `${label} after generating`);
  }
  return tokens;
}
