// A package without this platform's ONNX Runtime binding (another platform's package, or a
// universal one) must say which package to install, in the loader and through the SLM
// child process of an installed-like folder, instead of Node's "Cannot find module".
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import * as esbuild from 'esbuild';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { createProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { loadOnnxRuntime, onnxBindingPath, OnnxRuntimeUnavailableError, onnxRuntimeUnavailableMessage } from '../../../src/core/slm/onnx/onnxRuntimeLoader';

const REPO = resolve(__dirname, '..', '..', '..');
const ORT_DIR = dirname(require.resolve('onnxruntime-node/package.json'));
const here = `${process.platform}-${process.arch}`;
let scratch: string;

/** An extension folder like an installed package: worker bundle + onnxruntime JS, and no native binding. */
async function extensionWithoutBinding(): Promise<string> {
  const ext = join(scratch, 'extension');
  await esbuild.build({
    entryPoints: { slmWorker: join(REPO, 'src/core/slm/onnx/worker/workerMain.ts') },
    outdir: join(ext, 'dist'),
    bundle: true,
    platform: 'node',
    format: 'cjs',
    target: 'node20',
    external: ['onnxruntime-node'],
    logLevel: 'error',
  });
  const ortCopy = join(ext, 'node_modules', 'onnxruntime-node');
  mkdirSync(ortCopy, { recursive: true });
  cpSync(join(ORT_DIR, 'package.json'), join(ortCopy, 'package.json'));
  cpSync(join(ORT_DIR, 'dist'), join(ortCopy, 'dist'), { recursive: true });
  // Its exports map hides package.json; npm installs it next to onnxruntime-node.
  cpSync(join(ORT_DIR, '..', 'onnxruntime-common'), join(ext, 'node_modules', 'onnxruntime-common'), { recursive: true });
  return ext;
}

before(() => {
  scratch = mkdtempSync(join(tmpdir(), 'relay-missing-binding-'));
});
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('onnxruntime-node without a binding for the platform', () => {
  test('loads on this machine, whose binding is installed', async () => {
    const ort = await loadOnnxRuntime();
    assert.equal(typeof ort.InferenceSession.create, 'function');
  });

  test('an unsupported platform names itself, the missing file and the supported platforms', async () => {
    await assert.rejects(loadOnnxRuntime({ platform: 'linux', arch: 'riscv64' }), (error: unknown) => {
      assert.ok(error instanceof OnnxRuntimeUnavailableError);
      assert.equal(error.target, 'linux-riscv64');
      assert.match(error.message, /cannot load on linux-riscv64/);
      assert.ok(error.message.includes(onnxBindingPath(ORT_DIR, 'linux', 'riscv64')), error.message);
      assert.match(error.message, /runs on linux-x64, linux-arm64, darwin-arm64, win32-x64, win32-arm64/);
      assert.match(
        error.message,
        /Run the small model on a server instead: set relay\.slm\.kind \(CLI: --slm-kind\) to completions-server/,
        'the way that works there',
      );
      assert.equal(error.fix, 'pick-model', '"Relay: Select Model" picks a model on a server');
      return true;
    });
  });

  test('Alpine (musl) is named as such, with the way that works there, not a linux package that cannot load', async () => {
    await assert.rejects(loadOnnxRuntime({ platform: 'linux', arch: 'x64', libc: 'musl', packageDir: join(scratch, 'no-binding') }), (error: unknown) => {
      assert.ok(error instanceof OnnxRuntimeUnavailableError);
      assert.equal(error.target, 'alpine-x64');
      assert.match(error.message, /cannot load on alpine-x64/);
      assert.match(error.message, /Run the small model on a server instead/);
      assert.doesNotMatch(error.message, /Install the Relay \.vsix/, 'VS Code refuses a linux-x64 package on alpine-x64');
      assert.equal(error.fix, 'pick-model');
      return true;
    });
  });

  test('a package made for another platform tells to install the .vsix of this one', async () => {
    const foreignPackage = join(scratch, 'foreign-onnxruntime-node');
    const keep = process.platform === 'win32' ? 'linux' : 'win32';
    cpSync(join(ORT_DIR, 'bin', 'napi-v6', keep), join(foreignPackage, 'bin', 'napi-v6', keep), { recursive: true });
    assert.deepEqual(readdirSync(join(foreignPackage, 'bin', 'napi-v6')), [keep]);
    await assert.rejects(loadOnnxRuntime({ packageDir: foreignPackage }), (error: unknown) => {
      assert.ok(error instanceof OnnxRuntimeUnavailableError);
      assert.ok(error.message.includes(`Install the Relay .vsix for ${here} (relay-decoding-${here}-<version>.vsix)`), error.message);
      assert.equal(error.fix, undefined, 'no button installs a package');
      return true;
    });
  });

  test('a binding that is there and that the system refuses: the fix is the system, not another package', async () => {
    const refused = () => Promise.reject(new Error('libonnxruntime.so.1: cannot open shared object file: No such file or directory'));
    await assert.rejects(loadOnnxRuntime({ importRuntime: refused }), (error: unknown) => {
      assert.ok(error instanceof OnnxRuntimeUnavailableError);
      assert.ok(error.bindingPresent);
      assert.match(error.message, /loading .*onnxruntime_binding\.node failed \(libonnxruntime\.so\.1: cannot open shared object file/);
      assert.doesNotMatch(error.message, /Install the Relay \.vsix/, "this platform's package is the one installed");
      assert.match(error.message, process.platform === 'linux' ? /glibc 2\.28 or later.*reload the window/ : /reload the window/);
      return true;
    });
    const windows = onnxRuntimeUnavailableMessage('win32-arm64', 'loading onnxruntime_binding.node failed (The specified module could not be found.)', true);
    assert.match(windows, /needs the Microsoft Visual C\+\+ Redistributable: install it \(https:\/\/aka\.ms\/vs\/17\/release\/vc_redist\.arm64\.exe\)/);
    assert.doesNotMatch(windows, /Install the Relay \.vsix/);
  });

  test('a binding of another platform present in the folder is not loaded into this process', async () => {
    const other = process.platform === 'win32' ? { platform: 'linux', arch: 'x64' } : { platform: 'win32', arch: 'x64' };
    await assert.rejects(loadOnnxRuntime(other), /cannot be loaded/);
  });

  test('the SLM child process of such a package answers "load" with that message instead of crashing', async () => {
    const ext = await extensionWithoutBinding();
    const model = await ensureTinyModel();
    await assert.rejects(createProcessRuntime(model, { workerPath: join(ext, 'dist', 'slmWorker.js') }), (error: unknown) => {
      assert.ok(error instanceof Error);
      assert.equal(error.name, 'OnnxRuntimeUnavailableError');
      assert.ok(error.message.includes(`cannot load on ${here}`), error.message);
      assert.ok(
        error.message.includes(join(ext, 'node_modules', 'onnxruntime-node', 'bin', 'napi-v6', process.platform, process.arch, 'onnxruntime_binding.node')),
        error.message,
      );
      assert.ok(error.message.includes(`Install the Relay .vsix for ${here}`), error.message);
      return true;
    });
  });

  test(
    "on Alpine the SLM child process's error carries its fix (pick a model on a server) across the process",
    { skip: process.platform !== 'linux' && 'musl is Linux' },
    async () => {
      const ext = await extensionWithoutBinding();
      const model = await ensureTinyModel();
      // What Node says under musl: its report names no glibc.
      const musl = join(scratch, 'musl.cjs');
      writeFileSync(
        musl,
        'const report = process.report; const getReport = report.getReport.bind(report);\n' +
          'report.getReport = (...args) => { const r = getReport(...args); delete r.header.glibcVersionRuntime; return r; };\n',
      );
      await assert.rejects(createProcessRuntime(model, { workerPath: join(ext, 'dist', 'slmWorker.js'), execArgv: ['--require', musl] }), (error: unknown) => {
        assert.ok(error instanceof Error);
        assert.equal(error.name, 'OnnxRuntimeUnavailableError');
        assert.ok(error.message.includes(`cannot load on alpine-${process.arch}`), error.message);
        assert.match(error.message, /Run the small model on a server instead/);
        assert.equal((error as { fix?: unknown }).fix, 'pick-model');
        return true;
      });
    },
  );
});
