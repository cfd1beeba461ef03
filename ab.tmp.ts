import * as ort from 'onnxruntime-node';
import { loadDecoderSession } from './src/core/slm/onnx/decoderSession';
const dir = 'test/fixtures/generated/qwen3-0.6b-shaped-f3099597f44a/onnx/';
const median = (a: number[]) => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];
(async () => {
  const file = dir + (process.argv[2] === 'fp32' ? 'model.onnx' : 'model_q4.onnx');
  const sessions: Record<string, ort.InferenceSession> = {
    tjsLike: await ort.InferenceSession.create(file),
    ours: (await loadDecoderSession(file, { kvHeads: 8, headDim: 128 })).session,
    oursNoRewrite: (await loadDecoderSession(file, { kvHeads: 8, headDim: 128 }, { lastPositionLogits: false })).session,
    tjsLike2: await ort.InferenceSession.create(file),
  };
  const past = 600;
  const f: Record<string, ort.Tensor> = {
    input_ids: new ort.Tensor('int64', BigInt64Array.of(1234n), [1, 1]),
    attention_mask: new ort.Tensor('int64', new BigInt64Array(past + 1).fill(1n), [1, past + 1]),
    position_ids: new ort.Tensor('int64', BigInt64Array.of(BigInt(past)), [1, 1]),
  };
  for (let i = 0; i < 28; i++) for (const kv of ['key', 'value']) f[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(8 * past * 128).fill(0.01), [1, 8, past, 128]);
  const res: Record<string, number[]> = {};
  for (let rep = 0; rep < 10; rep++) {
    for (const [name, s] of Object.entries(sessions)) {
      const t = performance.now();
      await s.run(f);
      (res[name] ??= []).push(performance.now() - t);
    }
  }
  for (const [name, v] of Object.entries(res)) console.log(name, 'median run ms', median(v.slice(1)).toFixed(1), 'min', Math.min(...v).toFixed(1));
  console.log('maxRSS MB', (process.resourceUsage().maxRSS / 1024).toFixed(0));
})();
