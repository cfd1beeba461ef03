// Packages the extension into a .vsix, so the end-to-end suite installs what ships.
// Order: RELAY_E2E_VSIX (a package made earlier) > `npm run package` (the project's
// packaging script, once it exists) > `vsce package --no-dependencies` as a stand-in.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';

export const REPO_ROOT = resolve(__dirname, '..', '..');

function run(cmd: string, args: string[]): void {
  const result = spawnSync(cmd, args, { cwd: REPO_ROOT, stdio: 'inherit' });
  if (result.error) throw new Error(`${cmd} could not start: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`Packaging failed: \`${cmd} ${args.join(' ')}\` exited with ${result.status}`);
}

/** .vsix files in the places a packaging script writes them, changed since `since`. */
function vsixWrittenSince(since: number): string[] {
  const found: string[] = [];
  for (const dir of [REPO_ROOT, join(REPO_ROOT, 'dist'), join(REPO_ROOT, 'out')]) {
    if (!existsSync(dir)) continue;
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (name.endsWith('.vsix') && statSync(path).mtimeMs >= since) found.push(path);
    }
  }
  return found.sort((a, b) => statSync(b).mtimeMs - statSync(a).mtimeMs);
}

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
  if (existsSync(join(REPO_ROOT, 'scripts', 'package.mjs'))) {
    run('npm', ['run', '--silent', 'package']);
    const made = vsixWrittenSince(started - 1000); // allow for coarse mtimes
    if (made.length === 0) throw new Error('`npm run package` finished but wrote no .vsix in the repository root, dist/ or out/.');
    packaged = made[0];
  } else {
    // Stand-in until scripts/package.mjs exists: bundles + media only, no native modules.
    const out = join(REPO_ROOT, 'out', 'e2e', 'relay-e2e.vsix');
    mkdirSync(join(REPO_ROOT, 'out', 'e2e'), { recursive: true });
    run(process.execPath, ['esbuild.config.mjs', '--production']);
    run('npx', [
      'vsce', 'package', '--no-dependencies', '--skip-license', '--allow-missing-repository',
      '--ignoreFile', 'test/e2e/standin.vscodeignore', '--out', out,
    ]);
    packaged = out;
  }
  console.log(`[e2e] packaged ${packaged} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  return packaged;
}
