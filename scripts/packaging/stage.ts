/**
 * Stages one platform's extension folder (out/package/<target>/) from the production build:
 * exactly the files the packaged extension needs, so `vsce package` in it has nothing to
 * leave out. node_modules holds onnxruntime-node (JS + this target's native files) and
 * onnxruntime-common; every other dependency is bundled by esbuild.
 */
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { NATIVE_DIR, type PackageTarget } from './targets';

/** Top-level manifest fields the packaged extension does not need (build-time only). */
const DROPPED_MANIFEST_FIELDS = ['devDependencies', 'scripts', 'bin', 'private'];

function copy(from: string, to: string): void {
  mkdirSync(dirname(to), { recursive: true });
  cpSync(from, to, { recursive: true });
}

/** Copies the files of `dir` (recursively) whose relative path passes `keep`. */
function copyFiltered(fromDir: string, toDir: string, keep: (relative: string) => boolean): void {
  for (const entry of readdirSync(fromDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const full = join(entry.parentPath, entry.name);
    const relative = full.slice(fromDir.length + 1).replace(/\\/g, '/');
    if (keep(relative)) copy(full, join(toDir, relative));
  }
}

function writeJson(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `${JSON.stringify(value, null, 2)}\n`);
}

export function stageManifest(rootManifest: Record<string, unknown>, ortVersion: string): Record<string, unknown> {
  const manifest: Record<string, unknown> = { ...rootManifest };
  for (const field of DROPPED_MANIFEST_FIELDS) delete manifest[field];
  // The only module loaded from node_modules at run time (esbuild leaves it external).
  manifest.dependencies = { 'onnxruntime-node': ortVersion };
  return manifest;
}

export interface StageInput {
  repoRoot: string;
  /** Output folder of `esbuild.config.mjs --production --outdir`. */
  buildDir: string;
  stageDir: string;
  target: PackageTarget;
}

export function stageExtension({ repoRoot, buildDir, stageDir, target }: StageInput): void {
  rmSync(stageDir, { recursive: true, force: true });
  mkdirSync(stageDir, { recursive: true });
  const from = (...p: string[]) => join(repoRoot, ...p);
  const to = (...p: string[]) => join(stageDir, ...p);

  const rootManifest = JSON.parse(readFileSync(from('package.json'), 'utf8')) as Record<string, unknown>;
  const ortManifest = JSON.parse(readFileSync(from('node_modules/onnxruntime-node/package.json'), 'utf8')) as Record<string, unknown>;
  const commonManifest = JSON.parse(readFileSync(from('node_modules/onnxruntime-common/package.json'), 'utf8')) as Record<string, unknown>;
  writeJson(to('package.json'), stageManifest(rootManifest, String(ortManifest.version)));
  for (const file of ['README.md', 'CHANGELOG.md', 'LICENSE']) copy(from(file), to(file));
  // The stage is clean already; this keeps vsce from warning that no ignore file exists.
  writeFileSync(to('.vscodeignore'), '# Staged by scripts/packaging: every file here ships.\n');

  // The CLI bundle is for npm users, not the extension.
  for (const bundle of ['extension.js', 'slmWorker.js']) copy(join(buildDir, bundle), to('dist', bundle));
  copyFiltered(join(buildDir, 'media'), to('dist', 'media'), (f) => !f.endsWith('.map'));
  for (const file of ['media/icon.png', 'media/relay-activity.svg']) copy(from(file), to(file));
  // The set-up walkthrough's pages (contributes.walkthroughs).
  copy(from('media', 'walkthrough'), to('media', 'walkthrough'));
  // The embedded demo models: relayService's default SLM and the onnx-local demo LLM.
  for (const model of ['relay-demo-slm', 'relay-demo-llm']) copy(from('models', model), to('models', model));

  const ortDir = 'node_modules/onnxruntime-node';
  // Its install-time dependencies (adm-zip, global-agent download CUDA libraries) are not needed to run.
  writeJson(to(ortDir, 'package.json'), {
    ...Object.fromEntries(Object.entries(ortManifest).filter(([k]) => !['scripts', 'devDependencies', 'dependencies'].includes(k))),
    dependencies: { 'onnxruntime-common': ortManifest.version },
  });
  copy(from(ortDir, 'README.md'), to(ortDir, 'README.md'));
  copyFiltered(from(ortDir, 'dist'), to(ortDir, 'dist'), (f) => f.endsWith('.js'));
  for (const file of target.nativeFiles) {
    copy(from(NATIVE_DIR, target.platform, target.arch, file), to(NATIVE_DIR, target.platform, target.arch, file));
  }

  const commonDir = 'node_modules/onnxruntime-common';
  writeJson(to(commonDir, 'package.json'), Object.fromEntries(Object.entries(commonManifest).filter(([k]) => !['scripts', 'devDependencies'].includes(k))));
  copy(from(commonDir, 'README.md'), to(commonDir, 'README.md'));
  copyFiltered(from(commonDir, 'dist', 'cjs'), to(commonDir, 'dist', 'cjs'), (f) => f.endsWith('.js') || f === 'package.json');
}
