// Raw ONNX Runtime feeds for the tiny generated model (2 layers, 2 KV heads of 16), shared
// by the tests that run rewritten graphs without the runtime.
import * as ort from 'onnxruntime-node';

/**
 * A first run over `ids`: an all-ones mask, positions from 0, an empty float32 cache
 * (head-major as the export declares it, or token-major for the in-place attention
 * rewrite, whose key inputs hold one row that the graph ignores).
 */
export function emptyCacheFeeds(ids: number[], layout: 'head-major' | 'token-major' = 'head-major'): Record<string, ort.Tensor> {
  const n = ids.length;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.keys(), BigInt), [1, n]),
  };
  for (let i = 0; i < 2; i++) {
    for (const kv of ['key', 'value']) {
      const rows = layout === 'token-major' && kv === 'key' ? 1 : 0;
      const dims = layout === 'token-major' ? [1, rows, 2, 16] : [1, 2, 0, 16];
      feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(rows * 32), dims);
    }
  }
  return feeds;
}
