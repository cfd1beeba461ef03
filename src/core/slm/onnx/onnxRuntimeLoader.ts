/**
 * Loads onnxruntime-node. Each platform package of the extension carries the native binding
 * of one platform only, so a package installed on another machine (or a universal package)
 * has none: that becomes an error naming the platform and the package to install, instead
 * of Node's "Cannot find module .../onnxruntime_binding.node".
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import type { Fix } from '../../fixes';
import { settingRef } from '../../settingNames';

/** The platforms whose binding the pinned onnxruntime-node ships (scripts/packaging/targets.ts packages each). */
export const SUPPORTED_ORT_TARGETS: readonly string[] = ['linux-x64', 'linux-arm64', 'darwin-arm64', 'win32-x64', 'win32-arm64'];

export class OnnxRuntimeUnavailableError extends Error {
  override readonly name = 'OnnxRuntimeUnavailableError';
  constructor(
    readonly target: string,
    readonly detail: string,
    /** The binding is installed and the system refused to load it: another package would not help. */
    readonly bindingPresent = false,
  ) {
    super(onnxRuntimeUnavailableMessage(target, detail, bindingPresent));
  }

  /** Where no package of Relay runs the model here, a model on a server does: "Relay: Select Model" picks one. */
  get fix(): Fix | undefined {
    return SUPPORTED_ORT_TARGETS.includes(this.target) ? undefined : 'pick-model';
  }
}

export function onnxRuntimeUnavailableMessage(target: string, detail: string, bindingPresent = false): string {
  const fix = !SUPPORTED_ORT_TARGETS.includes(target)
    ? `ONNX Runtime publishes no binding for ${target}${target.startsWith('alpine-') ? ' (its Linux bindings need glibc, and this Linux has musl)' : ''}; Relay's local model runs on ${SUPPORTED_ORT_TARGETS.join(', ')}. Run the small model on a server instead: set ${settingRef('slmKind')} to completions-server (vLLM, llama.cpp) or ollama, or in VS Code run "Relay: Select Model" and pick "A model on a server". Or use Relay on one of those platforms.`
    : bindingPresent
      ? systemFix(target)
      : `Install the Relay .vsix for ${target} (relay-decoding-${target}-<version>.vsix), or install Relay from the Marketplace, which picks it for you.`;
  return `The local model runtime (ONNX Runtime) cannot load on ${target}: ${detail}. ${fix}`;
}

/** What the system lacks when this platform's own binding is there and does not load. */
function systemFix(target: string): string {
  if (target.startsWith('win32-')) {
    // onnxruntime.dll imports MSVCP140.dll and VCRUNTIME140(_1).dll, which a fresh Windows may not have.
    const arch = target.endsWith('arm64') ? 'arm64' : 'x64';
    return `ONNX Runtime needs the Microsoft Visual C++ Redistributable: install it (https://aka.ms/vs/17/release/vc_redist.${arch}.exe), then reload the window.`;
  }
  if (target.startsWith('linux-')) {
    // The highest GLIBC_ and GLIBCXX_ (3.4.22) versions libonnxruntime.so.1 imports (objdump -T).
    return 'The error above names the library the system lacks or has too old (ONNX Runtime needs glibc 2.28 or later and libstdc++ from GCC 6 or later); install or update it, then reload the window.';
  }
  return 'The error above names what the system lacks; update macOS or install it, then reload the window.';
}

export interface OnnxRuntimeLoadOptions {
  platform?: string;
  arch?: string;
  /** The C library of a Linux system; default: this one's (musl on Alpine). */
  libc?: 'glibc' | 'musl';
  /** Folder of the onnxruntime-node package; default: where Node resolves it from here. */
  packageDir?: string;
  /** Imports the runtime (tests stand in for a system that refuses the native library). */
  importRuntime?: () => Promise<typeof Ort>;
}

/** Where onnxruntime-node's dist/binding.js requires the native binding from (it hardcodes N-API v6). */
export function onnxBindingPath(packageDir: string, platform: string, arch: string): string {
  return join(packageDir, 'bin', 'napi-v6', platform, arch, 'onnxruntime_binding.node');
}

/** This Linux's C library: Node's report names the glibc it runs on, and none under musl (Alpine). */
function linuxLibc(): 'glibc' | 'musl' {
  const report = process.report as NodeJS.ProcessReport & { excludeNetwork?: boolean };
  const excludeNetwork = report.excludeNetwork;
  // The network part of the report is slow to gather on some systems, and not needed here.
  report.excludeNetwork = true;
  try {
    return (report.getReport() as { header?: { glibcVersionRuntime?: string } }).header?.glibcVersionRuntime ? 'glibc' : 'musl';
  } finally {
    report.excludeNetwork = excludeNetwork;
  }
}

/**
 * The platform as VS Code names its packages: Linux with musl is alpine-<arch>, for which
 * ONNX Runtime publishes no binding (VS Code refuses a linux-<arch> package there).
 */
function targetName(platform: string, arch: string, libc: 'glibc' | 'musl' | undefined): string {
  const musl = platform === 'linux' && (libc ?? (process.platform === 'linux' ? linuxLibc() : 'glibc')) === 'musl';
  return `${musl ? 'alpine' : platform}-${arch}`;
}

/** Checks the binding is there, then imports onnxruntime-node; throws OnnxRuntimeUnavailableError otherwise. */
export async function loadOnnxRuntime(options: OnnxRuntimeLoadOptions = {}): Promise<typeof Ort> {
  const platform = options.platform ?? process.platform;
  const arch = options.arch ?? process.arch;
  // Named only when loading fails: the loads that work do not ask for Node's report.
  const unavailable = (detail: string, bindingPresent?: boolean) =>
    new OnnxRuntimeUnavailableError(targetName(platform, arch, options.libc), detail, bindingPresent);
  let packageDir = options.packageDir;
  if (packageDir === undefined) {
    try {
      packageDir = dirname(require.resolve('onnxruntime-node/package.json'));
    } catch {
      throw unavailable('the onnxruntime-node module is not installed next to the extension');
    }
  }
  const binding = onnxBindingPath(packageDir, platform, arch);
  if (!existsSync(binding)) throw unavailable(`this installation has no native binding for it (${binding} is missing)`);
  if (platform !== process.platform || arch !== process.arch) {
    throw unavailable(`this process runs on ${process.platform}-${process.arch}, so a binding for ${platform}-${arch} cannot be loaded`);
  }
  try {
    return await (options.importRuntime ?? (() => import('onnxruntime-node')))();
  } catch (error) {
    throw unavailable(`loading ${binding} failed (${(error as Error).message})`, true);
  }
}
