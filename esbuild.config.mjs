// Builds every bundle of the project: the extension host, the SLM child process, the CLI
// and the webview scripts. `--production` minifies; `--watch` rebuilds on change.
import * as esbuild from 'esbuild';
import { cpSync, mkdirSync, writeFileSync } from 'node:fs';
import { relative, resolve } from 'node:path';

const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');
// `--outdir <dir>` builds somewhere else than dist/ (the packaging script stages a clean copy).
const outIndex = process.argv.indexOf('--outdir');
const out = outIndex > 0 && process.argv[outIndex + 1] ? process.argv[outIndex + 1] : 'dist';

const common = {
  bundle: true,
  // Production maps are written beside the bundles but not named in them: none ship.
  sourcemap: production ? 'external' : true,
  minify: production,
  logLevel: 'warning',
  // Licence texts go to ThirdPartyNotices.txt instead (written by the packaging from the list below).
  legalComments: 'none',
  metafile: true,
};

/** Node bundles: the native ONNX runtime is loaded from node_modules, never bundled. */
const node = {
  ...common,
  platform: 'node',
  target: 'node20',
  format: 'cjs',
  // tsx: the dev-only loader a worker run from sources asks for; never in a bundle.
  external: ['vscode', 'onnxruntime-node', 'tsx'],
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
  const results = await Promise.all(builds.map((b) => esbuild.build(b)));
  writeFileSync(`${out}/bundled-packages.json`, `${JSON.stringify(bundledPackages(results), null, 2)}\n`);
  console.log(`esbuild: built ${builds.length} bundles${production ? ' (production)' : ''} in ${Date.now() - started} ms`);
}

/**
 * The npm packages each bundle took code from ({ "extension.js": ["node_modules/katex", ...] }):
 * what the packaged extension redistributes, so its notices can name every one.
 */
function bundledPackages(results) {
  const byBundle = {};
  for (const result of results) {
    for (const [output, { inputs }] of Object.entries(result.metafile.outputs)) {
      if (output.endsWith('.map') || !output.endsWith('.js')) continue;
      const packages = new Set();
      for (const input of Object.keys(inputs)) {
        // The innermost node_modules: a package nested in another's is a package of its own.
        const match = /^(.*node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(input.replace(/\\/g, '/'));
        if (match) packages.add(match[1]);
      }
      byBundle[relative(resolve(out), resolve(output)).replace(/\\/g, '/')] = [...packages].sort();
    }
  }
  return byBundle;
}
