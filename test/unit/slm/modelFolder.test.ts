// Model folder loading: variant choice and the errors a broken folder gets (each names the file).
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureTinyModel, tinyModelSpec } from '../../fixtures/fixtures';
import { writeDecoderFolder } from '../../fixtures/modelFolder';
import { buildTinyTokenizer } from '../../fixtures/tinyTokenizer';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { ModelFolderError, readModelFolder } from '../../../src/core/slm/modelFolder';
import { readSlmRelayTraits } from '../../../src/core/relay/modeResolution';

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

  test('a chat template that does not parse names the file it came from: chat_template.jinja (which wins), else tokenizer_config.json', async () => {
    const dir = copyOfTiny();
    const configFile = join(dir, 'tokenizer_config.json');
    const config = JSON.parse(readFileSync(configFile, 'utf8'));
    // A template in the config that parses, and a chat_template.jinja (used instead) that does not.
    writeFileSync(configFile, JSON.stringify({ ...config, chat_template: '{{ messages[0].content }}' }));
    const jinjaFile = join(dir, 'chat_template.jinja');
    writeFileSync(jinjaFile, '{% for m in messages %}{{ m.content }');
    await rejectsNaming(
      createLocalRuntime(dir, { variant: 'fp32' }),
      jinjaFile,
      /chat_template does not parse as Jinja .*Use a model folder whose chat template parses\./,
    );
    // Without the file, the config's own broken template is named by the config.
    unlinkSync(jinjaFile);
    writeFileSync(configFile, JSON.stringify({ ...config, chat_template: '{% for %}' }));
    await rejectsNaming(createLocalRuntime(dir, { variant: 'fp32' }), configFile, /chat_template does not parse as Jinja/);
  });
});

/**
 * readModelFolder and readSlmRelayTraits (which the extension host runs) on `dir`, in a
 * child process: a read of a FIFO would block this one for ever, /dev/zero fill its memory.
 * What each gave, or 'HUNG' when the child did not end within 30 s (it is then killed).
 */
function readInChild(dir: string): { folder: unknown; traits: unknown } | 'HUNG' {
  const source = `
    const { readModelFolder } = require(${JSON.stringify(join(__dirname, '../../../src/core/slm/modelFolder.ts'))});
    const { readSlmRelayTraits } = require(${JSON.stringify(join(__dirname, '../../../src/core/relay/modeResolution.ts'))});
    const outcome = (read) => { try { read(); return 'read'; } catch (e) { return { name: e.name, file: e.file, problem: e.problem ?? e.message }; } };
    const folder = outcome(() => readModelFolder(${JSON.stringify(dir)}));
    let traits; try { traits = readSlmRelayTraits(${JSON.stringify(dir)}); } catch (e) { traits = String(e); }
    console.log(JSON.stringify({ folder, traits }));
  `;
  const child = spawnSync(process.execPath, ['--import', 'tsx', '-e', source], { encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  if (child.error || child.signal) return 'HUNG';
  return JSON.parse(child.stdout.trim().split('\n').at(-1)!) as { folder: unknown; traits: unknown };
}

describe(
  'files that are no regular file, or far too large, are refused before they are read',
  { skip: process.platform === 'win32' && 'FIFOs and /dev/zero' },
  () => {
    test('config.json a FIFO: the folder is refused naming the file (no read that blocks for ever); its relay traits read as none', () => {
      const dir = copyOfTiny();
      unlinkSync(join(dir, 'config.json'));
      execFileSync('mkfifo', [join(dir, 'config.json')]);
      assert.deepEqual(readInChild(dir), {
        folder: {
          name: 'ModelFolderError',
          file: join(dir, 'config.json'),
          problem: 'is not a regular file (a device, a pipe or a folder); replace it with the file of the model, or download the model again.',
        },
        traits: { trainedToCall: false },
      });
    });

    test('config.json a symlink to /dev/zero: refused the same way (nothing read)', () => {
      const dir = copyOfTiny();
      unlinkSync(join(dir, 'config.json'));
      symlinkSync('/dev/zero', join(dir, 'config.json'));
      const read = readInChild(dir);
      assert.notEqual(read, 'HUNG');
      assert.deepEqual(read, {
        folder: {
          name: 'ModelFolderError',
          file: join(dir, 'config.json'),
          problem: 'is not a regular file (a device, a pipe or a folder); replace it with the file of the model, or download the model again.',
        },
        traits: { trainedToCall: false },
      });
    });

    test('a tokenizer.json over 64 MB, a config.json over 8 MB: refused by size, naming the file; a symlink to a regular file elsewhere is read (a Hugging Face cache snapshot)', async () => {
      const dir = copyOfTiny();
      // Sparse: no disk written.
      truncateSync(join(dir, 'tokenizer.json'), 64 * 2 ** 20 + 1);
      await rejectsNaming(
        createLocalRuntime(dir),
        join(dir, 'tokenizer.json'),
        /is 64\.0 MB, more than the 64 MB such a file may have; it is not the model's file/,
      );
      const config = join(dir, 'config.json');
      const real = readFileSync(config, 'utf8');
      truncateSync(config, 8 * 2 ** 20 + 1);
      assert.throws(() => readModelFolder(dir), /config\.json: is 8\.0 MB, more than the 8 MB such a file may have/);
      assert.deepEqual(readSlmRelayTraits(dir), { trainedToCall: false, commandReplacement: undefined });
      // The Hugging Face cache's layout: the snapshot's files are symlinks to blobs outside it.
      const blobs = mkdtempSync(join(tmpdir(), 'relay-slm-blobs-'));
      scratch.push(blobs);
      writeFileSync(join(blobs, 'config'), JSON.stringify({ ...JSON.parse(real), relay_trained: true }));
      unlinkSync(config);
      symlinkSync(join(blobs, 'config'), config);
      assert.equal(readSlmRelayTraits(dir).trainedToCall, true);
      cpSync(join(tiny, 'tokenizer.json'), join(dir, 'tokenizer.json'), { dereference: true });
      assert.equal(readModelFolder(dir).config.raw.relay_trained, true);
    });
  },
);
