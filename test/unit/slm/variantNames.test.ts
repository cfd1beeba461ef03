// The variant names and files of the exports people use: model_q4f16.onnx and
// model_bnb4.onnx next to the others, in a folder and in a repository listing (download), with
// `auto` taking the fewest bytes on both sides.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { ensureTinyModel, EVERY_VARIANT } from '../../fixtures/fixtures';
import { availableVariants, filesForVariant } from '../../../src/core/models/variantFiles';
import { ModelDownloadError } from '../../../src/core/models/errors';
import { readModelFolder, VARIANT_FILES } from '../../../src/core/slm/modelFolder';

const JSON_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json'].map((path) => ({ path, size: 1000 }));

describe('variant names', () => {
  test('each variant has its onnx-community file name', () => {
    assert.deepEqual(VARIANT_FILES.q4f16, ['model_q4f16.onnx']);
    assert.deepEqual(VARIANT_FILES.bnb4, ['model_bnb4.onnx']);
    assert.deepEqual(Object.keys(VARIANT_FILES).sort(), ['bnb4', 'fp16', 'fp32', 'int8', 'q4', 'q4f16']);
  });

  test('a folder with every export lists all six, each explicit choice loads its file, auto the smallest', async () => {
    const folder = await ensureTinyModel({ variants: EVERY_VARIANT });
    const model = readModelFolder(folder);
    assert.deepEqual(model.variants.map((v) => v.variant).sort(), ['bnb4', 'fp16', 'fp32', 'int8', 'q4', 'q4f16']);
    const smallest = [...model.variants].sort((a, b) => a.totalBytes - b.totalBytes)[0];
    assert.equal(model.chosen.variant, smallest.variant);
    for (const v of model.variants) assert.equal(readModelFolder(folder, v.variant).chosen.path, join(folder, 'onnx', VARIANT_FILES[v.variant][0]));
  });

  test('a repository listing: q4f16 and bnb4 are offered with their data files, auto takes the fewest bytes, a missing one names what there is', () => {
    // Sizes in the proportions of onnx-community/Qwen3-0.6B-ONNX (q4f16 the smallest).
    const listing = [
      ...JSON_FILES,
      { path: 'onnx/model_q4.onnx', size: 500_000 },
      { path: 'onnx/model_q4.onnx_data', size: 995_000_000 },
      { path: 'onnx/model_q4f16.onnx', size: 600_000 },
      { path: 'onnx/model_q4f16.onnx_data', size: 570_000_000 },
      { path: 'onnx/model_bnb4.onnx', size: 500_000 },
      { path: 'onnx/model_bnb4.onnx_data', size: 900_000_000 },
      { path: 'onnx/model_int8.onnx', size: 700_000 },
      { path: 'onnx/model_int8.onnx_data', size: 754_000_000 },
    ];
    const choices = availableVariants(listing);
    assert.deepEqual(
      choices.map((c) => c.variant),
      ['q4f16', 'int8', 'bnb4', 'q4'],
    );
    const q4f16 = filesForVariant('onnx-community/x', listing, 'auto');
    assert.equal(q4f16.variant, 'q4f16');
    assert.deepEqual(
      q4f16.files.filter((f) => f.path.startsWith('onnx/')).map((f) => f.path),
      ['onnx/model_q4f16.onnx', 'onnx/model_q4f16.onnx_data'],
    );
    assert.deepEqual(
      filesForVariant('onnx-community/x', listing, 'bnb4')
        .files.filter((f) => f.path.startsWith('onnx/'))
        .map((f) => f.path),
      ['onnx/model_bnb4.onnx', 'onnx/model_bnb4.onnx_data'],
    );
    // A repository that ships only q4f16 (onnx-community/Llama-3.2-1B-Instruct-q4f16).
    const only = [...JSON_FILES, { path: 'onnx/model_q4f16.onnx', size: 1_000_000 }, { path: 'onnx/model_q4f16.onnx_data', size: 1_000_000_000 }];
    assert.equal(filesForVariant('onnx-community/only', only, 'auto').variant, 'q4f16');
    assert.throws(
      () => filesForVariant('onnx-community/only', only, 'q4'),
      (e: unknown) => e instanceof ModelDownloadError && /has no q4 variant; it offers q4f16/.test(e.message),
    );
  });
});
