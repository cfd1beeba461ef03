// Installs code-server 4.100.3 (a real VS Code 1.100 workbench served over HTTP) into a
// cache folder outside the repository, offline: only the npm registry and Debian apt are
// reachable (test/e2e/README.md says what comes from where; each step below says why).
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { processAlive } from '../../src/core/ownerLock';

export const CODE_SERVER_VERSION = '4.100.3';
/** What code-server 4.100.3's @vscode/ripgrep looks for before it tries GitHub. */
const RIPGREP_CACHE_DIR = 'vscode-ripgrep-cache-1.15.11';
const RIPGREP_RELEASE = 'v13.0.0-10';
const DEBIAN_PACKAGES: Record<string, string> = {
  chromium: '/usr/bin/chromium',
  ripgrep: '/usr/bin/rg',
  'libkrb5-dev': '/usr/include/krb5.h',
};
const MARKER = '.relay-e2e-complete';
const LOCK_WAIT_MS = 15 * 60_000;

export interface CodeServerInstall {
  /** Folder holding node_modules/code-server. */
  dir: string;
  /** code-server's entry script, run with this Node. */
  entry: string;
  /** Seconds the install took; 0 when it was already cached. */
  installSeconds: number;
}

export function cacheRoot(): string {
  if (process.env.RELAY_E2E_CACHE) return process.env.RELAY_E2E_CACHE;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'relay-e2e');
}

function log(message: string): void {
  console.log(`[e2e install] ${message}`);
}

/** Runs a command with inherited output; throws naming the command when it fails. */
function run(cmd: string, args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): void {
  const result = spawnSync(cmd, args, { stdio: 'inherit', cwd: options.cwd, env: options.env ?? process.env });
  if (result.error) throw new Error(`${cmd} could not start: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`\`${cmd} ${args.join(' ')}\` failed with exit code ${result.status}`);
}

/** apt-installs whichever of chromium, ripgrep and libkrb5-dev is missing (we run as root). */
export function ensureDebianPackages(): void {
  const missing = Object.entries(DEBIAN_PACKAGES)
    .filter(([, probe]) => !existsSync(probe))
    .map(([name]) => name);
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) {
    throw new Error(`Debian packages missing: ${missing.join(', ')}. Install them: sudo apt-get install -y ${missing.join(' ')}`);
  }
  log(`apt-get install ${missing.join(' ')}`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  // Other jobs on the machine may hold dpkg's lock for a while: wait for it, boundedly.
  const lockWait = ['-o', 'DPkg::Lock::Timeout=300'];
  run('apt-get', [...lockWait, 'update'], { env });
  run('apt-get', [...lockWait, 'install', '-y', '--no-install-recommends', ...missing], { env });
}

function ripgrepTarget(): string {
  if (process.arch === 'x64') return 'x86_64-unknown-linux-musl';
  if (process.arch === 'arm64') return 'aarch64-unknown-linux-musl';
  throw new Error(`No ripgrep build known for linux-${process.arch}; the end-to-end suite supports x64 and arm64 Linux.`);
}

/**
 * A lock folder (mkdir is atomic) holding the owner's pid, so two runs never install at
 * once; a lock whose owner died is taken over. Waits at most LOCK_WAIT_MS.
 */
async function withInstallLock<T>(lockDir: string, fn: () => Promise<T> | T): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  let told = false;
  for (;;) {
    try {
      mkdirSync(lockDir);
      writeFileSync(join(lockDir, 'pid'), String(process.pid));
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      let owner = NaN;
      try {
        owner = Number(readFileSync(join(lockDir, 'pid'), 'utf8'));
      } catch {
        // The owner is between mkdir and writing its pid: give it a moment.
      }
      if (Number.isInteger(owner) && owner > 0 && !processAlive(owner)) {
        log(`taking over the lock of process ${owner}, which is gone`);
        rmSync(lockDir, { recursive: true, force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`Timed out waiting for another code-server install to finish (lock ${lockDir}, pid ${owner}). If no install runs, delete that folder.`);
      }
      if (!told) log(`waiting for another run's install (lock held by pid ${owner})`);
      told = true;
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(lockDir, { recursive: true, force: true });
  }
}

function installCodeServer(dir: string): void {
  // Whatever is here lacks the marker, so it is a half-finished install: start afresh.
  rmSync(dir, { recursive: true, force: true });
  const tmp = join(dir, 'tmp');
  mkdirSync(join(tmp, RIPGREP_CACHE_DIR), { recursive: true });
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'relay-e2e-code-server', private: true }, null, 2));
  // @vscode/ripgrep's postinstall would download rg from GitHub; given this tarball in
  // $TMPDIR it unpacks Debian's rg instead.
  const tarball = join(tmp, RIPGREP_CACHE_DIR, `ripgrep-${RIPGREP_RELEASE}-${ripgrepTarget()}.tar.gz`);
  run('tar', ['-czf', tarball, '-C', '/usr/bin', 'rg']);
  // Settings of an outer npm (`npm test` exports npm_config_*) must not steer this install.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
  const env: NodeJS.ProcessEnv = {
    ...inherited,
    TMPDIR: tmp,
    npm_config_unsafe_perm: 'true', // code-server's postinstall refuses root otherwise
    npm_config_yes: 'true', // node-pty's postinstall runs `npx node-gyp`
    npm_config_nodedir: '/usr', // build native modules against the local Node headers
    npm_config_fund: 'false',
    npm_config_audit: 'false',
    npm_config_update_notifier: 'false',
  };
  log(`npm install code-server@${CODE_SERVER_VERSION} into ${dir}`);
  run('npm', ['install', '--no-save', '--no-package-lock', `code-server@${CODE_SERVER_VERSION}`], { cwd: dir, env });
  // Even --version writes a default config under HOME: keep it inside the scratch folder.
  const scratch = { HOME: tmp, XDG_CONFIG_HOME: join(tmp, 'config'), XDG_DATA_HOME: join(tmp, 'data'), XDG_CACHE_HOME: join(tmp, 'cache'), TMPDIR: tmp };
  const version = execFileSync(process.execPath, [entryOf(dir), '--version'], { encoding: 'utf8', env: { ...inherited, ...scratch } });
  if (!new RegExp(`^${CODE_SERVER_VERSION.replace(/\./g, '\\.')} `, 'm').test(version)) {
    throw new Error(`Installed code-server reports version "${version.trim()}", expected ${CODE_SERVER_VERSION}.`);
  }
  rmSync(tmp, { recursive: true, force: true });
}

function entryOf(dir: string): string {
  return join(dir, 'node_modules', 'code-server', 'out', 'node', 'entry.js');
}

/** Installs (once, under a lock) and returns where code-server is. */
export async function ensureCodeServer(): Promise<CodeServerInstall> {
  const root = cacheRoot();
  const dir = join(root, `code-server-${CODE_SERVER_VERSION}`);
  const marker = join(dir, MARKER);
  const started = Date.now();
  mkdirSync(root, { recursive: true });
  let installed = false;
  await withInstallLock(join(root, `code-server-${CODE_SERVER_VERSION}.lock`), () => {
    ensureDebianPackages();
    if (existsSync(marker) && existsSync(entryOf(dir))) return;
    installCodeServer(dir);
    // Written last: its presence means every step above finished.
    writeFileSync(marker, new Date().toISOString() + '\n');
    installed = true;
  });
  const installSeconds = installed ? (Date.now() - started) / 1000 : 0;
  if (installed) log(`code-server ${CODE_SERVER_VERSION} installed in ${installSeconds.toFixed(1)} s`);
  else log(`code-server ${CODE_SERVER_VERSION} cached at ${dir} (checked in ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return { dir, entry: entryOf(dir), installSeconds };
}
