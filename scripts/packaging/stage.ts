/**
 * Stages one platform's extension folder (out/package/<target>/) from the production build:
 * exactly the files the packaged extension needs, so `vsce package` in it has nothing to
 * leave out. node_modules holds onnxruntime-node (JS + this target's native files) and
 * onnxruntime-common; every other dependency is bundled by esbuild.
 */
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

/** The notices of the code the package redistributes (bundled or shipped as files). */
export const NOTICES_FILE = 'ThirdPartyNotices.txt';

/** Bundles of the build that ship in the extension (the CLI's is for npm users). */
const SHIPPED_BUNDLES = ['extension.js', 'slmWorker.js', 'media/chat.js', 'media/answer.js'];

/** Shipped as files beside the bundles (stageExtension copies them), not bundled. */
const SHIPPED_PACKAGES = ['node_modules/onnxruntime-node', 'node_modules/onnxruntime-common'];

/**
 * ThirdPartyNotices.txt: every package whose code the shipped bundles took (the build's
 * bundled-packages.json, from esbuild's metafile) or that ships as files, with its version,
 * declared licence and the licence files it publishes. MIT, BSD and Apache code may be
 * redistributed only with its notices, and the bundles keep no comments.
 */
export function thirdPartyNotices(repoRoot: string, buildDir: string): string {
  const listPath = join(buildDir, 'bundled-packages.json');
  if (!existsSync(listPath)) throw new Error(`${listPath} is missing: build with esbuild.config.mjs, which writes it.`);
  const byBundle = JSON.parse(readFileSync(listPath, 'utf8')) as Record<string, string[]>;
  const packages = new Set<string>(SHIPPED_PACKAGES);
  for (const bundle of SHIPPED_BUNDLES) {
    if (!byBundle[bundle]) throw new Error(`${listPath} names no bundle ${bundle}: build again.`);
    for (const dir of byBundle[bundle]) packages.add(dir);
  }
  const sections = [...packages].sort().map((dir) => {
    const manifest = JSON.parse(readFileSync(join(repoRoot, dir, 'package.json'), 'utf8')) as {
      name: string;
      version: string;
      license?: string;
      homepage?: string;
    };
    const licenceFiles = readdirSync(join(repoRoot, dir))
      .filter((name) => /^(licen[cs]e|copying|notice)/i.test(name))
      .sort();
    const texts = licenceFiles.map((name) => `--- ${name} ---\n${readFileSync(join(repoRoot, dir, name), 'utf8').trim()}`);
    return [
      `${manifest.name} ${manifest.version}`,
      `License: ${manifest.license ?? 'not declared'}${manifest.homepage ? ` (${manifest.homepage})` : ''}`,
      ...(texts.length > 0 ? texts : [`The package publishes no licence file; its package.json declares ${manifest.license ?? 'none'}.`]),
    ].join('\n');
  });
  return (
    'Relay includes the following third-party software. Each is listed with its version, its\n' +
    'declared licence and the licence text it publishes.\n\n' +
    sections.join(`\n\n${'='.repeat(78)}\n\n`) +
    '\n'
  );
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
  if (target.native) {
    const { platform, arch } = target.native;
    for (const file of target.nativeFiles) copy(from(NATIVE_DIR, platform, arch, file), to(NATIVE_DIR, platform, arch, file));
  }

  writeFileSync(to(NOTICES_FILE), thirdPartyNotices(repoRoot, buildDir));

  const commonDir = 'node_modules/onnxruntime-common';
  writeJson(to(commonDir, 'package.json'), Object.fromEntries(Object.entries(commonManifest).filter(([k]) => !['scripts', 'devDependencies'].includes(k))));
  copy(from(commonDir, 'README.md'), to(commonDir, 'README.md'));
  copyFiltered(from(commonDir, 'dist', 'cjs'), to(commonDir, 'dist', 'cjs'), (f) => f.endsWith('.js') || f === 'package.json');
}
