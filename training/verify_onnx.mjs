// Checks an exported model folder from Node the way the extension loads it: tokenizer.json
// through @huggingface/tokenizers, the chat template through @huggingface/jinja, the ONNX
// file through onnxruntime-node with a KV cache (one prefill, then one token per step).
// Against torch's reference (export_model.py): the first step's logits agree closely, and
// following torch's greedy answer token by token, ONNX's greedy choice is torch's at every
// step (or a tie within rounding, which undertrained models can have).
// Usage: node training/verify_onnx.mjs <model folder> <reference.json>
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { Tokenizer } from '@huggingface/tokenizers';
import { Template } from '@huggingface/jinja';

const [folder, referencePath] = process.argv.slice(2);
if (!folder || !referencePath) {
  console.error('usage: node training/verify_onnx.mjs <model folder> <reference.json>');
  process.exit(2);
}
const readJson = (name) => JSON.parse(readFileSync(join(folder, name), 'utf8'));
const config = readJson('config.json');
const tokenizerConfig = readJson('tokenizer_config.json');
const tokenizer = new Tokenizer(readJson('tokenizer.json'), tokenizerConfig);
const template = new Template(tokenizerConfig.chat_template);
const onnxFile = readdirSync(join(folder, 'onnx')).filter((n) => n.endsWith('.onnx')).sort()[0];
const session = await ort.InferenceSession.create(join(folder, 'onnx', onnxFile), process.env.RELAY_ORT_OPT ? { graphOptimizationLevel: process.env.RELAY_ORT_OPT } : {});
const reference = JSON.parse(readFileSync(referencePath, 'utf8'));
const layers = config.num_hidden_layers;
const heads = config.num_key_value_heads;
const headDim = config.head_dim;
const eos = config.eos_token_id;
const TIE = 1e-4; // relative to the largest logit

const expectedInputs = ['input_ids', 'attention_mask', 'position_ids'];
for (let i = 0; i < layers; i++) expectedInputs.push(`past_key_values.${i}.key`, `past_key_values.${i}.value`);
const expectedOutputs = ['logits'];
for (let i = 0; i < layers; i++) expectedOutputs.push(`present.${i}.key`, `present.${i}.value`);
if (JSON.stringify(session.inputNames) !== JSON.stringify(expectedInputs)) throw new Error(`inputs ${session.inputNames}`);
if (JSON.stringify(session.outputNames) !== JSON.stringify(expectedOutputs)) throw new Error(`outputs ${session.outputNames}`);

const probeIds = tokenizer.encode(reference.tokenizer_probe, { add_special_tokens: false }).ids;
if (JSON.stringify(probeIds) !== JSON.stringify(reference.tokenizer_ids)) {
  throw new Error(`tokenizer.json encodes differently from Python: ${probeIds} vs ${reference.tokenizer_ids}`);
}
if (tokenizer.decode(probeIds, { skip_special_tokens: false }) !== reference.tokenizer_probe) throw new Error('tokenizer round trip differs');

const int64 = (values, dims) => new ort.Tensor('int64', BigInt64Array.from(values.map(BigInt)), dims);
const argmax = (row) => row.reduce((best, v, i) => (v > row[best] ? i : best), 0);

/** Feeds the prompt, then torch's answer one token at a time; returns ONNX's logits rows. */
async function logitsAlong(question, answerIds) {
  const prompt = template.render({ messages: [{ role: 'user', content: question }], add_generation_prompt: true });
  let ids = tokenizer.encode(prompt, { add_special_tokens: false }).ids;
  const past = {};
  for (let i = 0; i < layers; i++) {
    for (const kv of ['key', 'value']) past[`past_key_values.${i}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [1, heads, 0, headDim]);
  }
  let total = 0;
  const rows = [];
  for (let step = 0; step <= answerIds.length; step++) {
    const result = await session.run({
      input_ids: int64(ids, [1, ids.length]),
      attention_mask: int64(new Array(total + ids.length).fill(1), [1, total + ids.length]),
      position_ids: int64(ids.map((_, j) => total + j), [1, ids.length]),
      ...past,
    });
    total += ids.length;
    for (let i = 0; i < layers; i++) {
      past[`past_key_values.${i}.key`] = result[`present.${i}.key`];
      past[`past_key_values.${i}.value`] = result[`present.${i}.value`];
    }
    const vocab = result.logits.dims[2];
    rows.push(Array.from(result.logits.data.subarray((ids.length - 1) * vocab, ids.length * vocab)));
    if (step < answerIds.length) ids = [answerIds[step]];
  }
  return { prompt, rows };
}

let identical = 0;
let ties = 0;
const failures = [];
let firstStepError = 0;
for (let q = 0; q < reference.questions.length; q++) {
  const answerIds = tokenizer.encode(reference.answers[q], { add_special_tokens: false }).ids;
  const { prompt, rows } = await logitsAlong(reference.questions[q], answerIds);
  if (q === 0) {
    const scale = Math.max(...reference.first_step_logits.map(Math.abs));
    firstStepError = Math.max(...rows[0].map((v, i) => Math.abs(v - reference.first_step_logits[i]))) / scale;
    console.log(`prompt ${JSON.stringify(prompt)} -> torch ${JSON.stringify(reference.answers[q])}`);
  }
  let same = true;
  // Torch stopped with the end token unless it ran out of positions.
  const expected = [...answerIds, eos];
  const steps = Math.min(rows.length, expected.length);
  for (let s = 0; s < steps; s++) {
    const choice = argmax(rows[s]);
    if (choice === expected[s]) continue;
    same = false;
    const scale = Math.max(...rows[s].map(Math.abs));
    if (rows[s][choice] - rows[s][expected[s]] <= TIE * scale) ties++;
    else failures.push({ question: reference.questions[q], step: s, onnx: choice, torch: expected[s] });
    break;
  }
  if (same) identical++;
}
console.log(`first-step logits: max difference ${firstStepError.toExponential(2)} of the largest logit`);
console.log(`${folder}: ${onnxFile}, ${identical}/${reference.questions.length} greedy answers identical to torch, ${ties} near-ties, ${failures.length} real differences`);
for (const f of failures.slice(0, 5)) console.log('difference', JSON.stringify(f));
process.exit(failures.length === 0 && firstStepError < 1e-4 ? 0 : 1);
