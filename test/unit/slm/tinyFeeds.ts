// Raw ONNX Runtime feeds for the tiny generated model (2 layers, 2 KV heads of 16), shared
// by the tests that run rewritten graphs without the runtime.
import * as ort from 'onnxruntime-node';

/** A first run over `ids`: an all-ones mask, positions from 0, an empty float32 cache. */
export function emptyCacheFeeds(ids: number[]): Record<string, ort.Tensor> {
  const n = ids.length;
  const feeds: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.from(ids, BigInt), [1, n]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(n).fill(1n), [1, n]),
    position_ids: new ort.Tensor('int64', BigInt64Array.from(ids.keys(), BigInt), [1, n]),
  };
  for (let i = 0; i < 2; i++) {
    for (const kv of ['key', 'value']) feeds[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, 2, 0, 16]);
  }
  return feeds;
}
