// Builds every bundle of the project: the extension host, the SLM child process, the CLI
// and the webview scripts. `--production` minifies; `--watch` rebuilds on change.
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync } from 'node:fs';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
// `--outdir <dir>` builds somewhere else than dist/ (the packaging script stages a clean copy).
const outIndex = process.argv.indexOf('--outdir');
const out = outIndex > 0 && process.argv[outIndex + 1] ? process.argv[outIndex + 1] : 'dist';

const common = {
  bundle: true,
  sourcemap: true,
  minify: production,
  logLevel: 'warning',
  legalComments: 'none',
};

/** Node bundles: the native ONNX runtime is loaded from node_modules, never bundled. */
const node = {
  ...common,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  external: ['vscode', 'onnxruntime-node'],
};

const builds = [
  { ...node, entryPoints: { extension: 'src/extension/extension.ts' }, outdir: out },
  { ...node, entryPoints: { slmWorker: 'src/core/slm/onnx/worker/workerMain.ts' }, outdir: out },
  { ...node, entryPoints: { cli: 'src/cli/main.ts' }, outdir: out, banner: { js: '#!/usr/bin/env node' } },
  {
    ...common,
    platform: 'browser',
    target: 'es2022',
    format: 'iife',
    entryPoints: { chat: 'media/src/chat.ts', answer: 'media/src/answer.ts' },
    outdir: `${out}/media`,
    loader: { '.woff2': 'file', '.woff': 'dataurl', '.ttf': 'dataurl' },
  },
];

mkdirSync(`${out}/media`, { recursive: true });
// Styles are plain CSS, copied so the webview can load them by URI.
cpSync('media/styles', `${out}/media/styles`, { recursive: true });
// KaTeX's stylesheet and its woff2 fonts (the webview's Chromium never asks for the other formats).
cpSync('node_modules/katex/dist/katex.min.css', `${out}/media/katex/katex.min.css`);
cpSync('node_modules/katex/dist/fonts', `${out}/media/katex/fonts`, { recursive: true, filter: (path) => !/\.(woff|ttf)$/.test(path) });

if (watch) {
  for (const b of builds) (await esbuild.context(b)).watch();
  console.log('esbuild: watching');
} else {
  const started = Date.now();
  await Promise.all(builds.map((b) => esbuild.build(b)));
  console.log(`esbuild: built ${builds.length} bundles${production ? ' (production)' : ''} in ${Date.now() - started} ms`);
}
