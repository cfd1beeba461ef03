// The packaging checks: a staged platform folder passes; a missing file, another platform's
// binding, a GPU provider library or a stray module fails with the file named; the zip
// reader reads what vsce's zip writer (yazl) writes.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { checkPackageContents, extensionFiles, manifestTargetPlatform, REQUIRED_FILES } from '../../../scripts/packaging/checkContents';
import { stageExtension, stageManifest, thirdPartyNotices } from '../../../scripts/packaging/stage';
import { findTarget, NATIVE_DIR, TARGETS } from '../../../scripts/packaging/targets';
import { ZipFile } from '../../../scripts/packaging/zipReader';

const REPO = resolve(__dirname, '..', '..', '..');
let scratch: string;

function listFiles(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => relative(dir, join(e.parentPath, e.name)).replace(/\\/g, '/'));
}

/** A stand-in for the esbuild output: the stage copies files, their content does not matter here. */
function fakeBuild(): string {
  const build = join(scratch, 'build');
  for (const file of [
    'extension.js',
    'extension.js.map',
    'slmWorker.js',
    'cli.js',
    'media/chat.js',
    'media/chat.js.map',
    'media/answer.js',
    'media/styles/relay.css',
    'media/katex/katex.min.css',
  ]) {
    mkdirSync(dirname(join(build, file)), { recursive: true });
    writeFileSync(join(build, file), '// built\n');
  }
  writeFileSync(join(build, 'bundled-packages.json'), JSON.stringify(BUNDLED));
  return build;
}

/** What esbuild.config.mjs writes: the packages each bundle took code from (real folders of this checkout). */
const BUNDLED: Record<string, string[]> = {
  'extension.js': ['node_modules/@pydantic/genai-prices'],
  'slmWorker.js': ['node_modules/@huggingface/tokenizers'],
  'cli.js': ['node_modules/@huggingface/jinja'],
  'media/chat.js': ['node_modules/katex', 'node_modules/punycode.js'],
  'media/answer.js': ['node_modules/highlight.js'],
};

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'relay-package-check-'));
});
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('staged platform folder', () => {
  // linux-arm64: the smallest binding to copy, and foreign to most machines that run this.
  const target = findTarget('linux-arm64');
  let files: string[];

  before(() => {
    const stageDir = join(scratch, 'stage');
    stageExtension({ repoRoot: REPO, buildDir: fakeBuild(), stageDir, target });
    files = listFiles(stageDir).filter((f) => f !== '.vscodeignore');
  });

  test("holds every required file, only this target's native files, and passes the check", () => {
    assert.deepEqual(checkPackageContents(files, target), []);
    for (const file of REQUIRED_FILES) assert.ok(files.includes(file), file);
    const native = files.filter((f) => f.startsWith(`${NATIVE_DIR}/`)).sort();
    assert.deepEqual(native, [`${NATIVE_DIR}/linux/arm64/libonnxruntime.so.1`, `${NATIVE_DIR}/linux/arm64/onnxruntime_binding.node`]);
    assert.ok(!files.some((f) => f.endsWith('.map') || f === 'dist/cli.js'));
    assert.ok(!files.some((f) => f.startsWith('node_modules/') && !/^node_modules\/onnxruntime-(node|common)\//.test(f)));
  });

  test('ThirdPartyNotices.txt names every package the shipped bundles took code from, and the shipped runtime, with the licence text each publishes', () => {
    const notices = readFileSync(join(scratch, 'stage', 'ThirdPartyNotices.txt'), 'utf8');
    const heads = [...notices.matchAll(/^(\S+) (\d+\.\d+\.\d+\S*)\nLicense: (\S+)/gm)].map((m) => `${m[1]} ${m[3]}`);
    assert.deepEqual(heads, [
      '@huggingface/tokenizers Apache-2.0',
      '@pydantic/genai-prices MIT',
      'highlight.js BSD-3-Clause',
      'katex MIT',
      'onnxruntime-common MIT',
      'onnxruntime-node MIT',
      'punycode.js MIT',
    ]);
    assert.ok(!notices.includes('@huggingface/jinja'), "the CLI's bundle does not ship");
    assert.match(notices, /--- LICENSE ---\nThe MIT License \(MIT\)\s+Copyright \(c\) 2013-20\d\d Khan Academy/, "katex's own text");
    assert.match(notices, /--- LICENSE-MIT\.txt ---\nCopyright Mathias Bynens/, 'licence files by any of their names');
    assert.match(notices, /Apache License\s+Version 2\.0/);
  });

  test("ONNX Runtime's packages, which publish no licence file, carry Microsoft's MIT licence, and the native library's linked projects are named", () => {
    const notices = readFileSync(join(scratch, 'stage', 'ThirdPartyNotices.txt'), 'utf8');
    for (const name of ['onnxruntime-node', 'onnxruntime-common'])
      assert.match(
        notices,
        new RegExp(
          `^${name} 1\\.30\\.0\nLicense: MIT\n--- LICENSE [^\n]*---\nMIT License\n\nCopyright \\(c\\) Microsoft Corporation\\.\n\nPermission is hereby granted`,
          'm',
        ),
        name,
      );
    const linked = /--- Statically linked into the native library ---\n([\s\S]*?)\n--- /.exec(notices)?.[1] ?? '';
    for (const [project, licence] of [
      ['abseil-cpp', 'Apache-2.0'],
      ['ONNX', 'Apache-2.0'],
      ['RE2', 'BSD-3-Clause'],
      ['FlatBuffers', 'Apache-2.0'],
      ['Protocol Buffers', 'BSD-3-Clause'],
      ['Eigen', 'MPL-2.0'],
    ])
      assert.match(linked, new RegExp(`^  ${project} +${licence} +https://`, 'm'), project);
    assert.ok(linked.includes('https://github.com/microsoft/onnxruntime/blob/v1.30.0/ThirdPartyNotices.txt'), 'where their full notices are');
    for (const text of ['Apache-2.0', 'BSD-3-Clause', 'BSD-2-Clause'])
      assert.equal(notices.split(`--- ${text} licence text ---`).length, 2, `the ${text} text, once`);
    assert.doesNotMatch(notices, /publishes no licence file; its package\.json declares/);
  });

  test('a shipped package with no licence file and no notice kept for it stops the packaging, naming it and where its notice goes', () => {
    const repo = join(scratch, 'repo-unlicensed');
    const pkg = (dir: string, manifest: object) => {
      mkdirSync(join(repo, dir), { recursive: true });
      writeFileSync(join(repo, dir, 'package.json'), JSON.stringify(manifest));
    };
    pkg('node_modules/onnxruntime-node', { name: 'onnxruntime-node', version: '1.30.0', license: 'MIT' });
    pkg('node_modules/onnxruntime-common', { name: 'onnxruntime-common', version: '1.30.0', license: 'MIT' });
    pkg('node_modules/quiet-lib', { name: 'quiet-lib', version: '2.1.0', license: 'MIT' });
    const build = fakeBuild();
    const onlyFrom = (dirs: string[]) => JSON.stringify({ ...Object.fromEntries(Object.keys(BUNDLED).map((b) => [b, []])), 'extension.js': dirs });
    writeFileSync(join(build, 'bundled-packages.json'), onlyFrom(['node_modules/quiet-lib']));
    assert.throws(
      () => thirdPartyNotices(repo, build),
      /quiet-lib 2\.1\.0 \(node_modules\/quiet-lib\) ships in the package and publishes no licence file.*add its notice under scripts\/packaging\/notices\//,
    );
    // Another ONNX Runtime release: what its library links must be checked again before it ships.
    writeFileSync(join(build, 'bundled-packages.json'), onlyFrom([]));
    pkg('node_modules/onnxruntime-node', { name: 'onnxruntime-node', version: '1.31.0', license: 'MIT' });
    assert.throws(
      () => thirdPartyNotices(repo, build),
      /onnxruntime-node 1\.31\.0 ships, but the notices in scripts\/packaging\/notices\/ are for onnxruntime-node 1\.30\.0/,
    );
  });

  test('a build without its bundled-packages.json is not staged (no package without notices)', () => {
    const build = fakeBuild();
    rmSync(join(build, 'bundled-packages.json'));
    assert.throws(
      () => stageExtension({ repoRoot: REPO, buildDir: build, stageDir: join(scratch, 'stage-no-list'), target }),
      /bundled-packages\.json is missing: build with esbuild\.config\.mjs/,
    );
  });

  test('the same folder fails the check of every other target', () => {
    for (const other of TARGETS.filter((t) => t !== target)) {
      const problems = checkPackageContents(files, other);
      assert.ok(
        problems.some((p) => p.problem === `belongs to linux-arm64, not ${other.name}`),
        other.name,
      );
      if (other.native)
        assert.ok(
          problems.some((p) => p.problem === 'required but missing' && p.file.includes(`/${other.native?.platform}/${other.native?.arch}/`)),
          other.name,
        );
    }
  });

  test('the universal package (where no platform package matches: an Intel Mac) carries no native file, and passes its own check', () => {
    const universal = findTarget('universal');
    const stageDir = join(scratch, 'stage-universal');
    stageExtension({ repoRoot: REPO, buildDir: fakeBuild(), stageDir, target: universal });
    const staged = listFiles(stageDir).filter((f) => f !== '.vscodeignore');
    assert.deepEqual(checkPackageContents(staged, universal), []);
    assert.deepEqual(
      staged.filter((f) => f.startsWith(`${NATIVE_DIR}/`) || /\.(node|so(\.\d+)*|dylib|dll)$/.test(f)),
      [],
    );
    assert.ok(staged.includes('node_modules/onnxruntime-node/dist/index.js'), 'its JS stays: the loader names the missing binding');
    assert.ok(staged.includes('ThirdPartyNotices.txt'));
  });

  test('a bare `vsce package` at the root stops before packaging, naming `npm run package`; the staged manifest has no such step', () => {
    const root = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
    const prepublish = root.scripts['vscode:prepublish'];
    assert.ok(prepublish, 'vsce runs vscode:prepublish before it packages');
    const [command, ...args] = prepublish.split(' ');
    const run = spawnSync(command === 'node' ? process.execPath : command, args, { cwd: REPO, encoding: 'utf8' });
    assert.equal(run.status, 1);
    assert.match(run.stderr, /npm run package/);
    assert.equal((stageManifest(root, '1.30.0') as { scripts?: unknown }).scripts, undefined, 'the packaging script is not refused');
  });

  test('the manifest keeps the marketplace fields and drops the build-only ones', () => {
    const root = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as Record<string, unknown>;
    const staged = stageManifest(root, '1.30.0');
    for (const field of ['devDependencies', 'scripts', 'bin']) assert.equal(staged[field], undefined, field);
    assert.deepEqual(staged.dependencies, { 'onnxruntime-node': '1.30.0' });
    for (const field of ['icon', 'categories', 'keywords', 'galleryBanner', 'repository', 'license', 'contributes'])
      assert.deepEqual(staged[field], root[field], field);
  });
});

describe('package check', () => {
  const target = findTarget('linux-x64');
  const good = [...REQUIRED_FILES, `${NATIVE_DIR}/linux/x64/onnxruntime_binding.node`, `${NATIVE_DIR}/linux/x64/libonnxruntime.so.1`];

  test('a complete list passes; each slipped-in file is named with the reason', () => {
    assert.deepEqual(checkPackageContents(good, target), []);
    const cases: [string, RegExp][] = [
      [`${NATIVE_DIR}/darwin/arm64/libonnxruntime.1.dylib`, /belongs to darwin-arm64/],
      [`${NATIVE_DIR}/linux/x64/libonnxruntime_providers_cuda.so`, /GPU execution provider/],
      [`${NATIVE_DIR}/linux/x64/DirectML.dll`, /GPU execution provider/],
      [`${NATIVE_DIR}/win32/x64/DirectML.dll`, /belongs to win32-x64, not linux-x64/],
      [`${NATIVE_DIR}/linux/x64/libonnxruntime_extra.so`, /not one of the native files linux-x64 needs/],
      ['node_modules/adm-zip/adm-zip.js', /do not require/],
      ['dist/extension.js.map', /source map/],
      ['media/src/app.ts', /source, test or build folder/],
      ['dist/native/helper.node', /native library outside/],
    ];
    for (const [file, reason] of cases) {
      const problems = checkPackageContents([...good, file], target);
      assert.equal(problems.length, 1, `${file}: ${JSON.stringify(problems)}`);
      assert.equal(problems[0].file, file);
      assert.match(problems[0].problem, reason);
    }
  });

  test('each missing required file is named', () => {
    for (const missing of ['dist/slmWorker.js', 'node_modules/onnxruntime-common/dist/cjs/package.json', `${NATIVE_DIR}/linux/x64/libonnxruntime.so.1`]) {
      assert.deepEqual(
        checkPackageContents(
          good.filter((f) => f !== missing),
          target,
        ),
        [{ file: missing, problem: 'required but missing' }],
      );
    }
  });

  test('reads the target platform vsce declares', () => {
    assert.equal(
      manifestTargetPlatform('<Identity Language="en-US" Id="relay-decoding" Version="0.1.0" Publisher="relay-decoding" TargetPlatform="win32-arm64"/>'),
      'win32-arm64',
    );
    assert.equal(manifestTargetPlatform('<Identity Language="en-US" Id="relay-decoding" Version="0.1.0" Publisher="relay-decoding"/>'), undefined);
  });
});

describe('zip reader', () => {
  test('lists and reads the entries of a zip written by yazl (the writer vsce uses)', async () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports -- yazl ships no types; vsce depends on it.
    const yazl = require('yazl') as {
      ZipFile: new () => { addBuffer(b: Buffer, name: string, o?: { compress?: boolean }): void; end(): void; outputStream: NodeJS.ReadableStream };
    };
    const zip = new yazl.ZipFile();
    const manifest = Buffer.from('<Identity Id="relay-decoding" TargetPlatform="linux-x64"/>'.repeat(50));
    const binary = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 7919) % 256));
    zip.addBuffer(manifest, 'extension.vsixmanifest');
    zip.addBuffer(binary, 'extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node', { compress: false });
    zip.addBuffer(Buffer.from('{}'), 'extension/package.json');
    zip.end();
    const path = join(scratch, 'test.vsix');
    await new Promise<void>((done, fail) => zip.outputStream.pipe(createWriteStream(path)).on('close', done).on('error', fail));

    const read = ZipFile.open(path);
    assert.deepEqual(
      read.entries.map((e) => e.name),
      ['extension.vsixmanifest', 'extension/node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node', 'extension/package.json'],
    );
    assert.ok(read.entries[0].compressedSize < manifest.length, 'the manifest entry is deflated');
    assert.deepEqual(read.read('extension.vsixmanifest'), manifest);
    assert.deepEqual(read.read(read.entries[1].name), binary);
    assert.deepEqual(extensionFiles(read.entries.map((e) => e.name)), [
      'node_modules/onnxruntime-node/bin/napi-v6/linux/x64/onnxruntime_binding.node',
      'package.json',
    ]);
    assert.throws(() => read.read('extension/missing.js'), /has no entry extension\/missing\.js/);
  });

  test('a file that is not a zip is named as such', () => {
    const path = join(scratch, 'not-a-zip.vsix');
    writeFileSync(path, 'PK but not really a zip file, just some text that is long enough to scan');
    assert.throws(() => ZipFile.open(path), /not-a-zip\.vsix is not a zip file/);
  });
});
