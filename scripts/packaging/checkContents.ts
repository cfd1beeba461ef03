/**
 * What a platform .vsix must hold and must not: the check that fails the packaging when a
 * required file is missing or another platform's (or a GPU provider's) file slipped in.
 * Pure: it looks at entry names only, so the unit test can feed it any list.
 */
import { NATIVE_DIR, TARGETS, type PackageTarget } from './targets';

/** vsce puts the extension's files under this folder of the zip. */
export const VSIX_ROOT = 'extension/';

/** Files every package needs at run time (relative to the extension folder). */
export const REQUIRED_FILES: readonly string[] = [
  'package.json',
  // The notices of the bundled and shipped third-party code (stage.ts).
  'ThirdPartyNotices.txt',
  'dist/extension.js',
  'dist/slmWorker.js',
  'dist/media/chat.js',
  'dist/media/answer.js',
  'dist/media/styles/relay.css',
  'dist/media/katex/katex.min.css',
  'media/icon.png',
  'media/relay-activity.svg',
  // The walkthrough's pages (contributes.walkthroughs in package.json).
  ...['demo', 'provider', 'apiKey', 'model', 'privacy', 'solve'].map((page) => `media/walkthrough/${page}.md`),
  ...['relay-demo-slm', 'relay-demo-llm'].flatMap((m) =>
    ['config.json', 'tokenizer.json', 'tokenizer_config.json', 'onnx/model_int8.onnx'].map((f) => `models/${m}/${f}`),
  ),
  'node_modules/onnxruntime-node/package.json',
  'node_modules/onnxruntime-node/dist/index.js',
  'node_modules/onnxruntime-node/dist/binding.js',
  'node_modules/onnxruntime-node/dist/backend.js',
  'node_modules/onnxruntime-common/package.json',
  'node_modules/onnxruntime-common/dist/cjs/index.js',
  // Marks dist/cjs as CommonJS inside a "type": "module" package; without it require() fails.
  'node_modules/onnxruntime-common/dist/cjs/package.json',
];

/** Files that never belong in a package, whatever the target. */
const FORBIDDEN: readonly { pattern: RegExp; why: string }[] = [
  { pattern: /cuda|tensorrt|directml|dxcompiler|dxil|_providers_/i, why: 'a GPU execution provider library (Relay runs ONNX Runtime on the CPU)' },
  { pattern: /\.map$/, why: 'a source map' },
  { pattern: /(^|\/)(src|test|bench|training|scripts)\//, why: 'a source, test or build folder' },
  { pattern: /\.(ts|tsx)$/, why: 'TypeScript source or declarations' },
  {
    pattern: /^node_modules\/(?!onnxruntime-node\/|onnxruntime-common\/)/,
    why: 'a module the bundles do not require (esbuild bundles every other dependency)',
  },
  { pattern: /(^|\/)\.(env|git|vscode)(\/|$)/, why: 'a dot folder or secrets file' },
];

const NATIVE_FILE = /\.(node|so(\.\d+)*|dylib|dll)$/;

export interface ContentProblem {
  file: string;
  problem: string;
}

/** Names of the zip relative to the extension folder; the vsix bookkeeping files are dropped. */
export function extensionFiles(zipEntryNames: readonly string[]): string[] {
  return zipEntryNames.filter((n) => n.startsWith(VSIX_ROOT) && !n.endsWith('/')).map((n) => n.slice(VSIX_ROOT.length));
}

export function checkPackageContents(files: readonly string[], target: PackageTarget): ContentProblem[] {
  const problems: ContentProblem[] = [];
  const present = new Set(files);
  const ownDir = target.native ? `${NATIVE_DIR}/${target.native.platform}/${target.native.arch}/` : undefined;
  for (const file of [...REQUIRED_FILES, ...(ownDir ? target.nativeFiles.map((f) => ownDir + f) : [])]) {
    if (!present.has(file)) problems.push({ file, problem: 'required but missing' });
  }
  for (const file of files) {
    const problem = slippedIn(file, target, ownDir);
    if (problem) problems.push({ file, problem });
  }
  return problems;
}

/** Why `file` must not be in the package of `target`, or undefined when it may. */
function slippedIn(file: string, target: PackageTarget, ownDir: string | undefined): string | undefined {
  const foreign = TARGETS.find((t) => t !== target && t.native && file.startsWith(`${NATIVE_DIR}/${t.native.platform}/${t.native.arch}/`));
  if (foreign) return `belongs to ${foreign.name}, not ${target.name}`;
  const forbidden = FORBIDDEN.find((f) => f.pattern.test(file));
  if (forbidden) return `must not be shipped: ${forbidden.why}`;
  if (file.startsWith(`${NATIVE_DIR}/`)) {
    const needed = ownDir !== undefined && file.startsWith(ownDir) && target.nativeFiles.includes(file.slice(ownDir.length));
    return needed ? undefined : `is not one of the native files ${target.name} needs (${target.nativeFiles.join(', ')})`;
  }
  return NATIVE_FILE.test(file) ? "a native library outside onnxruntime-node's binding folder" : undefined;
}

/** The TargetPlatform vsce wrote into extension.vsixmanifest, or undefined for a universal package. */
export function manifestTargetPlatform(vsixManifest: string): string | undefined {
  return /<Identity\b[^>]*\bTargetPlatform="([^"]+)"/.exec(vsixManifest)?.[1];
}

export function formatProblems(vsix: string, problems: readonly ContentProblem[]): string {
  return [
    `${vsix} failed the package check (${problems.length} problem${problems.length === 1 ? '' : 's'}):`,
    ...problems.map((p) => `  ${p.file}: ${p.problem}`),
  ].join('\n');
}
