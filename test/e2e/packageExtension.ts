// Packages the extension into a .vsix, so the end-to-end suite installs what ships:
// RELAY_E2E_VSIX (a package made earlier) if set, else `npm run package` for this machine's
// platform (scripts/packaging: production bundles, onnxruntime-node with this platform's
// binding, checked contents and size).
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..');

let packaged: string | undefined;

/** Returns the path of a .vsix of the current tree, packaging once per process. */
export function packageExtension(): string {
  if (packaged) return packaged;
  const given = process.env.RELAY_E2E_VSIX;
  if (given) {
    if (!existsSync(given)) throw new Error(`RELAY_E2E_VSIX points at ${given}, which does not exist. Unset it to package the current tree.`);
    return (packaged = resolve(given));
  }
  const started = Date.now();
  const target = `${process.platform}-${process.arch}`;
  const result = spawnSync('npm', ['run', '--silent', 'package', '--', '--target', target], { cwd: REPO_ROOT, stdio: 'inherit' });
  if (result.error) throw new Error(`npm could not start: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`\`npm run package -- --target ${target}\` exited with ${result.status}; its output above says why.`);
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  const vsix = join(REPO_ROOT, 'out', `relay-decoding-${target}-${version}.vsix`);
  if (!existsSync(vsix)) throw new Error(`\`npm run package\` finished but ${vsix} is not there.`);
  console.log(`[e2e] packaged ${vsix} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return (packaged = vsix);
}
