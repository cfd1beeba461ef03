/**
 * The SLM process's entry bundled as esbuild.config.mjs bundles it into dist/, into an
 * extension folder of a test's own (RelayService and the model picker start
 * <extensionPath>/dist/slmWorker.js).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import * as esbuild from 'esbuild';

const REPO = join(__dirname, '..', '..', '..');

/** Bundles the worker into `<extensionFolder>/dist/slmWorker.js`. */
export async function bundleSlmWorker(extensionFolder: string): Promise<void> {
  const build = await esbuild.build({
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    logLevel: 'silent',
    legalComments: 'none',
    external: ['vscode', 'onnxruntime-node'],
    entryPoints: { slmWorker: join(REPO, 'src/core/slm/onnx/worker/workerMain.ts') },
    outdir: join(extensionFolder, 'dist'),
  });
  assert.deepEqual(build.errors, []);
}
