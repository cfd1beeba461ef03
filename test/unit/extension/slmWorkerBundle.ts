/**
 * The SLM process in extension tests: its entry bundled as esbuild.config.mjs bundles it
 * into dist/, into an extension folder of a test's own (RelayService and the model picker
 * start <extensionPath>/dist/slmWorker.js), and the running ones found.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
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

/** Child processes of this test process that run an SLM worker (Linux /proc). */
export function slmWorkerPids(): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // pid (comm) state ppid ...: comm may hold spaces, so read after its closing parenthesis.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (ppid === process.pid && readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('slmWorker.js')) pids.push(Number(name));
    } catch {
      // the process ended while being read
    }
  }
  return pids;
}
