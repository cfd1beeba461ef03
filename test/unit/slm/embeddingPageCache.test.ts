// The background read of the embedding table after load: which bytes it reads (the
// Gather's table, not the weights every run reads anyway) and that it never fails a load.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { DataType, OnnxGraphBuilder } from '../../fixtures/onnx/onnxBuilder';
import { embeddingRanges, warmPageCache } from '../../../src/core/slm/onnx/embeddingPageCache';
import { readModelGraph } from '../../../src/core/slm/onnx/modelGraph';

const dir = mkdtempSync(join(tmpdir(), 'relay-embedding-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A model with two external tables: one gathered per token, one multiplied in full. */
function writeModel(): { modelPath: string; embedBytes: number } {
  const g = new OnnxGraphBuilder();
  const ids = g.input('input_ids', DataType.INT64, [1, 'n']);
  const vocab = 300;
  const hidden = 16;
  const embed = g.float(
    'embed',
    [vocab, hidden],
    Float32Array.from({ length: vocab * hidden }, (_, i) => i),
  );
  const weight = g.float('proj', [hidden, 64], new Float32Array(hidden * 64).fill(0.5));
  g.op('MatMul', [g.op('Gather', [embed, ids], { axis: 0 }), weight], {}, { outputs: ['y'] });
  g.output('y', DataType.FLOAT, [1, 'n', 64]);
  const modelPath = join(dir, 'model.onnx');
  g.write(modelPath, { externalData: join(dir, 'model.onnx_data'), externalThreshold: 1024 });
  return { modelPath, embedBytes: vocab * hidden * 4 };
}

test('the ranges are the gathered table only, where the file keeps it; reading them returns its byte count', async () => {
  const { modelPath, embedBytes } = writeModel();
  const graph = readModelGraph(readFileSync(modelPath));
  assert.deepEqual([...graph.externalData.keys()].sort(), ['embed', 'proj'], 'both tables are external');
  const ranges = embeddingRanges(graph, dir);
  assert.equal(ranges.length, 1);
  assert.equal(ranges[0].path, join(dir, 'model.onnx_data'));
  assert.equal(ranges[0].length, embedBytes);
  assert.equal(ranges[0].offset, graph.externalData.get('embed')!.offset);
  // The range holds the table: its first float is 0, its last vocab*hidden-1.
  const data = readFileSync(ranges[0].path);
  const floats = new Float32Array(data.buffer.slice(data.byteOffset + ranges[0].offset, data.byteOffset + ranges[0].offset + embedBytes));
  assert.equal(floats[0], 0);
  assert.equal(floats[floats.length - 1], 300 * 16 - 1);
  assert.equal(await warmPageCache(ranges), embedBytes);
  assert.equal(await warmPageCache([{ path: ranges[0].path, offset: 0, length: -1 }]), statSync(ranges[0].path).size, 'length -1 reads to the end');
});

test('a missing or short file is no error: the read stops where the bytes end', async () => {
  assert.equal(await warmPageCache([{ path: join(dir, 'absent.onnx_data'), offset: 0, length: 4096 }]), 0);
  writeModel();
  const size = statSync(join(dir, 'model.onnx_data')).size;
  assert.equal(await warmPageCache([{ path: join(dir, 'model.onnx_data'), offset: size - 10, length: 4096 }]), 10);
});
