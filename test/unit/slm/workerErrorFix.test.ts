// The fix an error of the SLM process carries reaches the client as the button it names, and
// only a fix the views know does: the process's messages are checked, not trusted.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';

let dir: string;
let worker: string;

/** A worker that fails every request with an error whose fix is the model folder's name (a folder named broken-folder: a model folder's problem, no fix). */
const WORKER = `'use strict';
const { basename } = require('node:path');
process.on('message', (m) => {
  if (!m || m.type !== 'request') return;
  const fix = basename(m.params.folder);
  if (fix === 'broken-folder') {
    const file = m.params.folder + '/config.json';
    process.send({ type: 'response', id: m.id, ok: false, error: { name: 'ModelFolderError', message: file + ': is not valid JSON.', file, problem: 'is not valid JSON.' } });
    return;
  }
  process.send({ type: 'response', id: m.id, ok: false, error: { name: 'OnnxRuntimeUnavailableError', message: 'no runtime here', fix } });
});
`;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'relay-worker-error-fix-'));
  worker = join(dir, 'worker.js');
  writeFileSync(worker, WORKER);
});
after(() => rmSync(dir, { recursive: true, force: true }));

async function loadError(fix: string, role: 'slm' | 'llm' = 'slm'): Promise<Error & { fix?: unknown }> {
  const folder = join(dir, fix);
  mkdirSync(folder, { recursive: true });
  try {
    await createProcessRuntime(folder, { workerPath: worker, role });
  } catch (error) {
    return error as Error & { fix?: unknown };
  }
  assert.fail('the load was expected to fail');
}

test('a fix the views know crosses the process with the error', async () => {
  const error = await loadError('pick-model');
  assert.equal(error.name, 'OnnxRuntimeUnavailableError');
  assert.equal(error.message, 'no runtime here');
  assert.equal(error.fix, 'pick-model');
});

test('a fix the views do not know is dropped; the error stays', async () => {
  const error = await loadError('format-disk');
  assert.equal(error.message, 'no runtime here');
  assert.equal(error.fix, undefined);
});

test("the large model's process (onnx-local): a 'pick another model' fix becomes its settings' (Select Model picks the small model)", async () => {
  const error = await loadError('pick-model', 'llm');
  assert.equal(error.message, 'no runtime here');
  assert.equal(error.fix, 'open-settings');
});

test("the large model's folder with a problem (no fix carried) gets its settings' fix, not Select Model's; the small model's keeps none", async () => {
  const llm = await loadError('broken-folder', 'llm');
  assert.equal(llm.name, 'ModelFolderError');
  assert.equal(llm.fix, 'open-settings');
  const slm = await loadError('broken-folder');
  assert.equal(slm.fix, undefined, "the small model's is decided by the view (pick another)");
});
