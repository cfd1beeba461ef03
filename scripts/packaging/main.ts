/**
 * `npm run package [-- --target <t>[,<t>...] | --all]`: production build, one staged folder
 * and one .vsix per target (out/relay-decoding-<target>-<version>.vsix), each checked for
 * its contents and its size budget. No target = the platform this runs on.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { checkPackageContents, extensionFiles, formatProblems, manifestTargetPlatform } from './checkContents';
import { stageExtension } from './stage';
import { currentTargetName, findTarget, TARGETS, type PackageTarget } from './targets';
import { ZipFile } from './zipReader';

const REPO_ROOT = resolve(__dirname, '..', '..');
const OUT = join(REPO_ROOT, 'out');
const MB = 1024 * 1024;

function usage(): string {
  return `Usage: npm run package [-- --target <target>[,<target>...] | --all]\nTargets: ${TARGETS.map((t) => t.name).join(', ')}. Default: this machine (${currentTargetName()}).`;
}

function parseTargets(argv: string[]): PackageTarget[] {
  if (argv.includes('--help') || argv.includes('-h')) {
    console.log(usage());
    process.exit(0);
  }
  if (argv.includes('--all')) return [...TARGETS];
  const names: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--target') {
      if (!argv[i + 1]) throw new Error(`--target needs a value.\n${usage()}`);
      names.push(...argv[++i].split(','));
    } else if (arg.startsWith('--target=')) names.push(...arg.slice('--target='.length).split(','));
    else throw new Error(`Unknown argument "${arg}".\n${usage()}`);
  }
  if (names.length === 0) names.push(currentTargetName());
  return names.map(findTarget);
}

function run(command: string, args: string[], cwd: string): void {
  const result = spawnSync(command, args, { cwd, stdio: 'inherit' });
  if (result.error) throw new Error(`${command} could not start: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`\`${command} ${args.join(' ')}\` (in ${relative(REPO_ROOT, cwd) || '.'}) exited with ${result.status}.`);
}

interface Packaged {
  target: PackageTarget;
  vsix: string;
  bytes: number;
  files: number;
}

/** Opens the .vsix and checks it: contents, declared platform, size budget. Throws with every problem found. */
function verifyVsix(vsix: string, target: PackageTarget): Packaged {
  const zip = ZipFile.open(vsix);
  const files = extensionFiles(zip.entries.map((e) => e.name));
  const problems = checkPackageContents(files, target);
  const declared = manifestTargetPlatform(zip.read('extension.vsixmanifest').toString('utf8'));
  const expected = target.native ? target.name : undefined;
  if (declared !== expected)
    problems.push({
      file: 'extension.vsixmanifest',
      problem: `declares TargetPlatform ${declared ?? '(none: universal)'}, expected ${expected ?? '(none: universal)'}`,
    });
  const bytes = statSync(vsix).size;
  if (bytes > target.budgetBytes) {
    problems.push({
      file: relative(REPO_ROOT, vsix),
      problem: `${(bytes / MB).toFixed(1)} MB is over the ${target.name} budget of ${(target.budgetBytes / MB).toFixed(0)} MB (scripts/packaging/targets.ts)`,
    });
  }
  if (problems.length > 0) throw new Error(formatProblems(vsix, problems));
  return { target, vsix, bytes, files: files.length };
}

function printTable(packaged: Packaged[]): void {
  const rows = packaged.map((p) => [
    p.target.name,
    `${(p.bytes / MB).toFixed(2)} MB`,
    `${(p.target.budgetBytes / MB).toFixed(0)} MB`,
    String(p.files),
    relative(REPO_ROOT, p.vsix),
  ]);
  const header = ['target', 'size', 'budget', 'files', 'package'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join('  ');
  console.log(['', line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n'));
}

function main(): void {
  const targets = parseTargets(process.argv.slice(2));
  const version = (JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string }).version;
  for (const file of ['README.md', 'CHANGELOG.md', 'LICENSE']) {
    if (!existsSync(join(REPO_ROOT, file))) throw new Error(`${file} is missing at the repository root; the Marketplace needs it.`);
  }
  const buildDir = join(OUT, 'package', 'build');
  run(process.execPath, ['esbuild.config.mjs', '--production', '--outdir', buildDir], REPO_ROOT);
  const vsce = join(REPO_ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');
  const packaged: Packaged[] = [];
  for (const target of targets) {
    const stageDir = join(OUT, 'package', target.name);
    stageExtension({ repoRoot: REPO_ROOT, buildDir, stageDir, target });
    const vsix = join(OUT, `relay-decoding-${target.name}-${version}.vsix`);
    run(process.execPath, [vsce, 'package', ...(target.native ? ['--target', target.name] : []), '--out', vsix], stageDir);
    packaged.push(verifyVsix(vsix, target));
  }
  printTable(packaged);
}

try {
  main();
} catch (error) {
  console.error(`\npackage: ${(error as Error).message}`);
  process.exit(1);
}
