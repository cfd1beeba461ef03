// The SLM process runs what a model folder brings (ONNX graphs, a chat template): it is started
// without the API keys of this process's environment. Real child processes: a worker that writes
// the environment it was given, then serves as the fake worker.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { useFakeWorker, within } from './fakeWorkerSetup';

const fake = useFakeWorker('relay-slm-env-');

/** The parent's variables for this test: the keys the CLI reads (a Windows-style spelling too), and one that is no key. */
const PARENT_ENV = {
  RELAY_API_KEY: 'sk-relay-parent',
  OPENAI_API_KEY: 'sk-openai-parent',
  Anthropic_Api_Key: 'sk-anthropic-parent',
  RELAY_TEST_NOT_A_KEY: 'kept',
};

test('the SLM process gets no API key from the environment (RELAY_API_KEY, each provider key variable); the rest it gets', async () => {
  const seen = join(fake.root, 'child-env.json');
  const worker = join(fake.root, 'envWorker.js');
  writeFileSync(worker, `require('node:fs').writeFileSync(${JSON.stringify(seen)}, JSON.stringify(process.env));\nrequire(${JSON.stringify(fake.worker)});\n`);
  const before = Object.fromEntries(Object.keys(PARENT_ENV).map((name) => [name, process.env[name]]));
  Object.assign(process.env, PARENT_ENV);
  let runtime;
  try {
    runtime = await within(createProcessRuntime(fake.modelFolder('model'), { workerPath: worker }), 'the load');
  } finally {
    for (const [name, value] of Object.entries(before)) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
  }
  try {
    const childEnv = JSON.parse(readFileSync(seen, 'utf8')) as Record<string, string>;
    for (const name of ['RELAY_API_KEY', 'OPENAI_API_KEY', 'Anthropic_Api_Key']) assert.equal(childEnv[name], undefined, `${name} reached the SLM process`);
    assert.equal(childEnv.RELAY_TEST_NOT_A_KEY, 'kept', 'the rest of the environment still reaches it');
    assert.equal(childEnv.PATH, process.env.PATH);
  } finally {
    await runtime.dispose();
  }
});
