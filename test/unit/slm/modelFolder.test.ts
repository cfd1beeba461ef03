// Model folder loading: variant choice and the errors a broken folder gets (each names the file).
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureTinyModel, tinyModelSpec } from '../../fixtures/fixtures';
import { writeDecoderFolder } from '../../fixtures/modelFolder';
import { buildTinyTokenizer } from '../../fixtures/tinyTokenizer';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { ModelFolderError, readModelFolder } from '../../../src/core/slm/modelFolder';

let tiny: string;
const scratch: string[] = [];

/** A writable copy of the tiny model folder. */
function copyOfTiny(): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-slm-folder-'));
  scratch.push(dir);
  cpSync(tiny, dir, { recursive: true, dereference: true });
  return dir;
}

async function rejectsNaming(promise: Promise<unknown>, file: string, problem: RegExp): Promise<void> {
  await assert.rejects(promise, (e: unknown) => {
    assert.ok(e instanceof ModelFolderError, `expected ModelFolderError, got ${String(e)}`);
    assert.equal(e.file, file);
    assert.match(e.message, problem);
    return true;
  });
}

before(async () => {
  tiny = await ensureTinyModel();
});
after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

describe('variant choice', () => {
  test('auto picks the variant with the fewest bytes (int8 here: its embedding is uint8 as transformers.js writes it, q4 keeps a float one), explicit picks that file', async () => {
    const auto = readModelFolder(tiny);
    assert.equal(auto.chosen.variant, 'int8');
    const sizes = Object.fromEntries(auto.variants.map((v) => [v.variant, v.totalBytes]));
    assert.ok(sizes.int8 < sizes.q4 && sizes.q4 < sizes.fp16 && sizes.fp16 < sizes.fp32, JSON.stringify(sizes));
    assert.equal(readModelFolder(tiny, 'q4').chosen.path, join(tiny, 'onnx', 'model_q4.onnx'));
    assert.equal(readModelFolder(tiny, 'fp32').chosen.path, join(tiny, 'onnx', 'model.onnx'));
    assert.equal(readModelFolder(tiny, 'fp16').chosen.path, join(tiny, 'onnx', 'model_fp16.onnx'));
  });

  test('a variant that is not in the folder is an error listing the ones that are', async () => {
    const partial = copyOfTiny();
    unlinkSync(join(partial, 'onnx', 'model_int8.onnx'));
    await rejectsNaming(createLocalRuntime(partial, { variant: 'int8' }), join(partial, 'onnx', 'model_int8.onnx'), /available: q4, fp16, fp32/);
  });

  test('external data: counted in the variant size, loaded from the _data file, a missing one is named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-slm-external-'));
    scratch.push(dir);
    const spec = tinyModelSpec();
    writeDecoderFolder(dir, spec, buildTinyTokenizer(), {
      variants: ['fp32'],
      externalData: true,
      generationEosIds: [spec.eosTokenId],
      padTokenId: spec.bosTokenId,
    });
    const onnx = join(dir, 'onnx', 'model.onnx');
    const fp32 = readModelFolder(dir).variants.find((v) => v.variant === 'fp32')!;
    assert.equal(fp32.totalBytes, statSync(onnx).size + statSync(`${onnx}_data`).size);
    assert.ok(statSync(`${onnx}_data`).size > statSync(onnx).size, 'the weights are outside the graph');

    // Same weights, same logits as the inline copy of the tiny model.
    const ids = [5, 17, 42, 99];
    const logitsOf = async (folder: string) => {
      const runtime = await createLocalRuntime(folder, { variant: 'fp32' });
      const session = await runtime.createSession();
      await session.appendIds(ids);
      const logits = await session.nextLogits();
      await runtime.dispose();
      return logits;
    };
    assert.deepEqual(await logitsOf(dir), await logitsOf(tiny));

    unlinkSync(`${onnx}_data`);
    await rejectsNaming(createLocalRuntime(dir), `${onnx}_data`, /missing.*external data/);
  });
});

describe('broken folders', () => {
  test('missing config.json', async () => {
    const dir = copyOfTiny();
    unlinkSync(join(dir, 'config.json'));
    await rejectsNaming(createLocalRuntime(dir), join(dir, 'config.json'), /missing/);
  });

  test('unsupported model_type', async () => {
    const dir = copyOfTiny();
    const config = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'));
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...config, model_type: 'bert' }));
    await rejectsNaming(createLocalRuntime(dir), join(dir, 'config.json'), /model_type "bert" is not supported.*qwen3/);
  });

  test('config.json that is not JSON', async () => {
    const dir = copyOfTiny();
    writeFileSync(join(dir, 'config.json'), '{ "model_type": ');
    await rejectsNaming(createLocalRuntime(dir), join(dir, 'config.json'), /not valid JSON/);
  });

  test('missing tokenizer.json', async () => {
    const dir = copyOfTiny();
    unlinkSync(join(dir, 'tokenizer.json'));
    await rejectsNaming(createLocalRuntime(dir), join(dir, 'tokenizer.json'), /missing/);
  });

  test('no ONNX file at all', async () => {
    const dir = copyOfTiny();
    unlinkSync(join(dir, 'onnx', 'model.onnx'));
    unlinkSync(join(dir, 'onnx', 'model_q4.onnx'));
    unlinkSync(join(dir, 'onnx', 'model_fp16.onnx'));
    unlinkSync(join(dir, 'onnx', 'model_int8.onnx'));
    await rejectsNaming(createLocalRuntime(dir), join(dir, 'onnx'), /no ONNX model found/);
  });

  test('truncated (corrupt) onnx file', async () => {
    const dir = copyOfTiny();
    const file = join(dir, 'onnx', 'model.onnx');
    truncateSync(file, Math.floor(statSync(file).size / 2));
    await rejectsNaming(createLocalRuntime(dir, { variant: 'fp32' }), file, /truncated or corrupt/);
  });

  test('onnx file full of garbage', async () => {
    const dir = copyOfTiny();
    const file = join(dir, 'onnx', 'model.onnx');
    writeFileSync(file, Buffer.from('this is not a protobuf at all, just text\n'.repeat(20)));
    await rejectsNaming(createLocalRuntime(dir, { variant: 'fp32' }), file, /corrupt/);
  });
});
