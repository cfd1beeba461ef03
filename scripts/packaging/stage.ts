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

/** Where Relay keeps the notices a shipped package's npm release lacks. */
const VENDORED_NOTICES_DIR = join(__dirname, 'notices');

interface VendoredNotice {
  /** The release these notices were checked against: another one's licence and linked code must be checked again. */
  version: string;
  /** Files of VENDORED_NOTICES_DIR, each with the title it gets in ThirdPartyNotices.txt. */
  files: readonly { file: string; title: string }[];
}

const ONNX_RUNTIME_LICENCE = { file: 'onnxruntime-LICENSE.txt', title: 'LICENSE (the MIT licence of ONNX Runtime; the npm package publishes no licence file)' };

/**
 * The notices Relay adds for a package, by name. onnxruntime-node and onnxruntime-common publish
 * no licence file, and the native library of onnxruntime-node statically links code of other
 * projects (seen with `strings` on each platform's library).
 */
export const VENDORED_NOTICES: Readonly<Record<string, VendoredNotice>> = {
  'onnxruntime-common': { version: '1.30.0', files: [ONNX_RUNTIME_LICENCE] },
  'onnxruntime-node': {
    version: '1.30.0',
    files: [
      ONNX_RUNTIME_LICENCE,
      { file: 'onnxruntime-node-linked-components.txt', title: 'Statically linked into the native library' },
      ...['Apache-2.0', 'BSD-3-Clause', 'BSD-2-Clause'].map((licence) => ({ file: `licenses/${licence}.txt`, title: `${licence} licence text` })),
    ],
  },
};

/** The licence texts a package publishes, by any of their usual names. */
function publishedLicences(packageDir: string): { title: string; text: string }[] {
  return readdirSync(packageDir)
    .filter((name) => /^(licen[cs]e|copying|notice)/i.test(name))
    .sort()
    .map((name) => ({ title: name, text: readFileSync(join(packageDir, name), 'utf8') }));
}

/** What Relay adds for a package; throws when the notices kept are for another release of it. */
function vendoredLicences(name: string, version: string): { title: string; text: string }[] {
  const vendored = VENDORED_NOTICES[name];
  if (!vendored) return [];
  if (vendored.version !== version) {
    throw new Error(
      `${name} ${version} ships, but the notices in scripts/packaging/notices/ are for ${name} ${vendored.version}: ` +
        `check the licence of ${version} and the code its files link, update the notices, then set its version in VENDORED_NOTICES (scripts/packaging/stage.ts).`,
    );
  }
  return vendored.files.map(({ file, title }) => ({ title, text: readFileSync(join(VENDORED_NOTICES_DIR, file), 'utf8') }));
}

/**
 * ThirdPartyNotices.txt: every package whose code the shipped bundles took (the build's
 * bundled-packages.json, from esbuild's metafile) or that ships as files, with its version,
 * declared licence and the licence files it publishes or Relay keeps for it (VENDORED_NOTICES).
 * MIT, BSD and Apache code may be redistributed only with its notices, and the bundles keep
 * no comments, so a package with neither stops the packaging.
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
    const licences = [...publishedLicences(join(repoRoot, dir)), ...vendoredLicences(manifest.name, manifest.version)];
    if (licences.length === 0) {
      throw new Error(
        `${manifest.name} ${manifest.version} (${dir}) ships in the package and publishes no licence file, and Relay keeps no notice for it: ` +
          `add its notice under scripts/packaging/notices/ and name it in VENDORED_NOTICES (scripts/packaging/stage.ts).`,
      );
    }
    return [
      `${manifest.name} ${manifest.version}`,
      `License: ${manifest.license ?? 'not declared'}${manifest.homepage ? ` (${manifest.homepage})` : ''}`,
      ...licences.map(({ title, text }) => `--- ${title} ---\n${text.trim()}`),
    ].join('\n');
  });
  return (
    'Relay includes the following third-party software. Each is listed with its version, its\n' +
    'declared licence and the licence text it publishes (or, where it publishes none, the one\n' +
    'Relay keeps for it).\n\n' +
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
