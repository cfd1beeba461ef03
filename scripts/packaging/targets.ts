/**
 * The platform packages Relay ships, and what each must carry of onnxruntime-node's
 * native files. Only the CPU execution provider is used (decoderSession.ts), so GPU
 * provider libraries (CUDA, TensorRT, DirectML, DXC) stay out: DirectML.dll is
 * delay-loaded by onnxruntime.dll and never touched on the CPU path.
 */

export interface PackageTarget {
  /** vsce's target name, also `${platform}-${arch}` of Node; 'universal': no platform of its own. */
  name: string;
  /** Absent for the universal package, which carries no native files. */
  native?: { platform: 'linux' | 'darwin' | 'win32'; arch: 'x64' | 'arm64' };
  /** Files of node_modules/onnxruntime-node/bin/napi-v6/<platform>/<arch>/ to ship. */
  nativeFiles: string[];
  /** Largest acceptable .vsix, in bytes: the size measured for 0.1.0 plus about 20% margin. */
  budgetBytes: number;
}

const MB = 1024 * 1024;

/** Measured 0.1.0: linux-x64 21.3 MB, linux-arm64 14.2, darwin-arm64 16.7, win32-x64 14.4, win32-arm64 14.5, universal 4.4. darwin-x64 has no package of its own: onnxruntime-node 1.30.0 ships no binding for it. */
export const TARGETS: readonly PackageTarget[] = [
  { name: 'linux-x64', native: { platform: 'linux', arch: 'x64' }, nativeFiles: ['onnxruntime_binding.node', 'libonnxruntime.so.1'], budgetBytes: 25 * MB },
  { name: 'linux-arm64', native: { platform: 'linux', arch: 'arm64' }, nativeFiles: ['onnxruntime_binding.node', 'libonnxruntime.so.1'], budgetBytes: 17 * MB },
  // The binding links @rpath/libonnxruntime.1.dylib; libonnxruntime.1.30.0.dylib is a byte-identical copy.
  {
    name: 'darwin-arm64',
    native: { platform: 'darwin', arch: 'arm64' },
    nativeFiles: ['onnxruntime_binding.node', 'libonnxruntime.1.dylib'],
    budgetBytes: 20 * MB,
  },
  { name: 'win32-x64', native: { platform: 'win32', arch: 'x64' }, nativeFiles: ['onnxruntime_binding.node', 'onnxruntime.dll'], budgetBytes: 17 * MB },
  { name: 'win32-arm64', native: { platform: 'win32', arch: 'arm64' }, nativeFiles: ['onnxruntime_binding.node', 'onnxruntime.dll'], budgetBytes: 17 * MB },
  // What the Marketplace serves where no package above matches (an Intel Mac, Alpine): the LLM
  // providers and a small model on a server work; the local runtime says it cannot load, and why.
  { name: 'universal', nativeFiles: [], budgetBytes: 6 * MB },
];

export function findTarget(name: string): PackageTarget {
  const target = TARGETS.find((t) => t.name === name);
  if (!target) {
    throw new Error(
      `Unknown package target "${name}". Targets: ${TARGETS.map((t) => t.name).join(', ')} (darwin-x64 has no onnxruntime-node 1.30.0 binding: its users get the universal package).`,
    );
  }
  return target;
}

/** The target of the machine running this script. */
export function currentTargetName(): string {
  return `${process.platform}-${process.arch}`;
}

export const NATIVE_DIR = 'node_modules/onnxruntime-node/bin/napi-v6';
