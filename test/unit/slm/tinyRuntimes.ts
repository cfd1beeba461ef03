/**
 * The tiny generated model for the tests of one file: its folder (found or generated before
 * them) and runtimes on it, all disposed after them. `defaults` go to every runtime.
 */
import { after, before } from 'node:test';
import { createLocalRuntime, type LocalRuntime, type LocalRuntimeOptions } from '../../../src/core/slm/onnx/localRuntime';
import { ensureTinyModel } from '../../fixtures/fixtures';

export function tinyRuntimes(defaults: LocalRuntimeOptions = {}): { folder(): string; runtime(options?: LocalRuntimeOptions): Promise<LocalRuntime> } {
  let folder: string | undefined;
  const runtimes: LocalRuntime[] = [];
  before(async () => {
    folder = await ensureTinyModel();
  });
  after(async () => {
    for (const r of runtimes) await r.dispose();
  });
  const folderNow = (): string => {
    if (!folder) throw new Error('internal: the tiny model is used before it was found');
    return folder;
  };
  return {
    folder: folderNow,
    async runtime(options = {}) {
      const r = await createLocalRuntime(folderNow(), { ...defaults, ...options });
      runtimes.push(r);
      return r;
    },
  };
}
