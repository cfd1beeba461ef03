// Where a model's weights may be read from: only files inside the model's folder, and only
// for tensors the file marks as stored outside it (TensorProto.data_location = EXTERNAL).
// A crafted ONNX file must not make Relay read /dev/zero, open a FIFO or a file elsewhere
// on the disk: neither in the background page-cache read nor while checking the files.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { DataType, OnnxGraphBuilder, type CraftedStorage } from '../../fixtures/onnx/onnxBuilder';
import { ModelFolderError } from '../../../src/core/slm/modelFolder';
import { loadDecoderSession } from '../../../src/core/slm/onnx/decoderSession';
import { embeddingRanges, warmPageCache } from '../../../src/core/slm/onnx/embeddingPageCache';
import { readModelGraph } from '../../../src/core/slm/onnx/modelGraph';

const scratch: string[] = [];
after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  scratch.push(dir);
  return dir;
}

const VOCAB = 32;
const EMBED_BYTES = VOCAB * VOCAB * 4;
/** From a model folder's onnx/ down to the root of the file system, whatever the temp dir. */
const TO_DEV_ZERO = `${'../'.repeat(24)}dev/zero`;
const HUGE = String(1 << 30);

/**
 * The smallest graph the decoder loader accepts: logits = Gather(embed, input_ids), one
 * KV layer passed through. `embed` is stored as `storage` says: 'external' writes it to
 * model.onnx_data as exporters do, a CraftedStorage writes it by hand.
 */
function writeDecoder(storage: 'external' | CraftedStorage): { folder: string; onnxFile: string } {
  const folder = tempDir('relay-external-');
  mkdirSync(join(folder, 'onnx'));
  const onnxFile = join(folder, 'onnx', 'model.onnx');
  const g = new OnnxGraphBuilder();
  g.input('input_ids', DataType.INT64, [1, 'n']);
  g.input('past_key_values.0.key', DataType.FLOAT, [1, 1, 'p', 2]);
  g.input('past_key_values.0.value', DataType.FLOAT, [1, 1, 'p', 2]);
  const embed = g.float(
    'embed',
    [VOCAB, VOCAB],
    Float32Array.from({ length: VOCAB * VOCAB }, (_, i) => i % 7),
  );
  g.op('Gather', [embed, 'input_ids'], { axis: 0 }, { outputs: ['logits'] });
  g.output('logits', DataType.FLOAT, [1, 'n', VOCAB]);
  g.output('present.0.key', DataType.FLOAT, [1, 1, 'p', 2], 'past_key_values.0.key');
  g.output('present.0.value', DataType.FLOAT, [1, 1, 'p', 2], 'past_key_values.0.value');
  if (storage === 'external') g.write(onnxFile, { externalData: `${onnxFile}_data`, externalThreshold: 1024 });
  else {
    g.craftStorage('embed', storage);
    g.write(onnxFile);
  }
  return { folder, onnxFile };
}

/** An EXTERNAL tensor's entries: the whole table at `location`. */
function externalAt(location: string): CraftedStorage {
  return { inline: false, dataLocationExternal: true, externalData: { location, offset: '0', length: String(EMBED_BYTES) } };
}

const load = (onnxFile: string) => loadDecoderSession(onnxFile, { kvHeads: 1, headDim: 2 }, { lastPositionLogits: false, kvOutputs: 'whole-cache' });

async function refusedNaming(onnxFile: string, location: string, problem: RegExp): Promise<void> {
  await assert.rejects(load(onnxFile), (error: unknown) => {
    assert.ok(error instanceof ModelFolderError, `expected a ModelFolderError, got ${String(error)}`);
    assert.equal(error.file, onnxFile);
    assert.ok(error.message.includes(JSON.stringify(location)), `the message names the location: ${error.message}`);
    assert.match(error.message, problem);
    assert.match(error.message, /download the model again|trust/, 'and says what to do');
    return true;
  });
}

const canMakeFifo = process.platform !== 'win32';
// Symlinks need privileges on Windows; the containment rules are the same there.
const canSymlink = process.platform !== 'win32';
function makeFifo(path: string): void {
  execFileSync('mkfifo', [path]);
}

describe('which tensors count as external data', () => {
  test('an inline tensor that also names an external location (data_location not EXTERNAL) is not external data', () => {
    const { onnxFile } = writeDecoder({ inline: true, externalData: { location: TO_DEV_ZERO, offset: '0', length: HUGE } });
    const graph = readModelGraph(readFileSync(onnxFile));
    assert.equal(graph.externalData.has('embed'), false, 'ONNX Runtime reads raw_data and never that location; neither do we');
    assert.deepEqual([...graph.externalDataFiles], []);
  });

  test('a tensor marked EXTERNAL is external data, with its location, offset and length', () => {
    const { onnxFile } = writeDecoder('external');
    const graph = readModelGraph(readFileSync(onnxFile));
    assert.deepEqual(graph.externalData.get('embed'), { location: 'model.onnx_data', offset: 0, length: EMBED_BYTES });
    assert.deepEqual([...graph.externalDataFiles], ['model.onnx_data']);
  });
});

describe('the background page-cache read', () => {
  test('reads nothing for an inline table whose external_data points at /dev/zero with a huge length', async () => {
    const { folder, onnxFile } = writeDecoder({ inline: true, externalData: { location: TO_DEV_ZERO, offset: '0', length: HUGE } });
    const ranges = embeddingRanges(readModelGraph(readFileSync(onnxFile)), join(folder, 'onnx'));
    assert.deepEqual(ranges, []);
    assert.equal(await warmPageCache(ranges), 0);
  });

  test('ignores an EXTERNAL table whose file lies outside the model folder (a ../ path, an absolute path, a symlink out)', { skip: !canSymlink }, () => {
    const elsewhere = tempDir('relay-elsewhere-');
    const outsideFile = join(elsewhere, 'weights.bin');
    writeFileSync(outsideFile, Buffer.alloc(EMBED_BYTES));
    const relativeOut = `${'../'.repeat(24)}${outsideFile.replace(/^\/+/, '')}`;
    for (const location of [relativeOut, outsideFile]) {
      const { folder, onnxFile } = writeDecoder(externalAt(location));
      assert.deepEqual(embeddingRanges(readModelGraph(readFileSync(onnxFile)), join(folder, 'onnx')), [], location);
    }
    const { folder, onnxFile } = writeDecoder(externalAt('model.onnx_data'));
    symlinkSync(outsideFile, join(folder, 'onnx', 'model.onnx_data'));
    assert.deepEqual(embeddingRanges(readModelGraph(readFileSync(onnxFile)), join(folder, 'onnx')), [], 'a symlink is judged by where it leads');
  });

  test('never reads a device: /dev/zero given as a range reads 0 bytes', { skip: process.platform === 'win32' }, async () => {
    assert.equal(await warmPageCache([{ path: '/dev/zero', offset: 0, length: 64 << 20 }]), 0);
  });

  test('never opens a FIFO, inside the folder or not (opening one for reading waits for a writer)', { skip: !canMakeFifo }, async () => {
    const { folder, onnxFile } = writeDecoder(externalAt('model.onnx_data'));
    const fifo = join(folder, 'onnx', 'model.onnx_data');
    makeFifo(fifo);
    assert.deepEqual(embeddingRanges(readModelGraph(readFileSync(onnxFile)), join(folder, 'onnx')), []);
    assert.equal(await warmPageCache([{ path: fifo, offset: 0, length: 4096 }]), 0);
  });

  test('reads no further than the file is long, whatever length the model claims', async () => {
    const { folder, onnxFile } = writeDecoder('external');
    const graph = readModelGraph(readFileSync(onnxFile));
    graph.externalData.set('embed', { location: 'model.onnx_data', offset: 64, length: 1 << 30 });
    const ranges = embeddingRanges(graph, join(folder, 'onnx'));
    assert.equal(ranges.length, 1);
    assert.equal(await warmPageCache(ranges), EMBED_BYTES - 64);
  });
});

describe('loading a decoder', () => {
  test('a normal external data file next to the model loads', async () => {
    const { onnxFile } = writeDecoder('external');
    const loaded = await load(onnxFile);
    assert.deepEqual(loaded.io.layers.length, 1);
    await loaded.session.release();
  });

  test('an inline tensor that names a missing or outside external file loads: that location is never looked at', async () => {
    for (const location of [TO_DEV_ZERO, 'no-such-file.onnx_data']) {
      const { onnxFile } = writeDecoder({ inline: true, externalData: { location, offset: '0', length: HUGE } });
      const loaded = await load(onnxFile);
      await loaded.session.release();
    }
  });

  test('an EXTERNAL tensor stored outside the model folder is refused, naming the file and the location', async () => {
    const elsewhere = tempDir('relay-elsewhere-');
    const outsideFile = join(elsewhere, 'weights.bin');
    writeFileSync(outsideFile, Buffer.alloc(EMBED_BYTES));
    for (const location of [TO_DEV_ZERO, `../${'../'.repeat(24)}${outsideFile.replace(/^\/+/, '')}`, outsideFile]) {
      const { onnxFile } = writeDecoder(externalAt(location));
      await refusedNaming(onnxFile, location, /outside the model folder/);
    }
  });

  test('an external data file that is a symlink leading out of the model folder is refused', { skip: !canSymlink }, async () => {
    const elsewhere = tempDir('relay-elsewhere-');
    const outsideFile = join(elsewhere, 'weights.bin');
    writeFileSync(outsideFile, Buffer.alloc(EMBED_BYTES));
    const { folder, onnxFile } = writeDecoder(externalAt('model.onnx_data'));
    symlinkSync(outsideFile, join(folder, 'onnx', 'model.onnx_data'));
    await refusedNaming(onnxFile, 'model.onnx_data', /outside the model folder/);
  });

  test('an external data file that is a FIFO is refused before anything opens it', { skip: !canMakeFifo }, async () => {
    const { folder, onnxFile } = writeDecoder(externalAt('model.onnx_data'));
    makeFifo(join(folder, 'onnx', 'model.onnx_data'));
    await refusedNaming(onnxFile, 'model.onnx_data', /not a regular file/);
  });
});
