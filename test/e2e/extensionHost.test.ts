// Runs the in-VS-Code integration suite of test/electron/suite inside code-server's real
// extension host, loading the extension unpacked from the repository (VS Code's
// extensionDevelopmentPath + extensionTestsPath). So the suite that test:electron runs in
// VS Code desktop also runs on machines that cannot download VS Code.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import * as esbuild from 'esbuild';
import { REPO_ROOT } from './packageExtension';
import { VsCodeSession } from './vscodeSession';

describe("integration suite in code-server's extension host", () => {
  let vscode: VsCodeSession | undefined;
  const suite = join(REPO_ROOT, 'out', 'e2e', 'extension-tests.js');

  before(async () => {
    const build = spawnSync(process.execPath, ['esbuild.config.mjs'], { cwd: REPO_ROOT, stdio: 'inherit' });
    assert.equal(build.status, 0, 'the extension builds');
    // Same bundle options as test/electron/run.mjs: the extension host loads CommonJS.
    await esbuild.build({
      entryPoints: [join(REPO_ROOT, 'test', 'electron', 'suite', 'index.ts')],
      outfile: suite,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      external: ['vscode'],
      logLevel: 'warning',
    });
    vscode = await VsCodeSession.start({ name: 'extension-host', extensionDevelopmentPath: REPO_ROOT, extensionTestsPath: suite });
  });

  after(async () => {
    await vscode?.close();
    if (vscode) console.log(vscode.summary());
  });

  it('passes every test of test/electron/suite', async () => {
    assert.ok(vscode);
    const summary = await vscode.waitForConsole(/\d+ passed, \d+ failed/, 60_000);
    const [, passed, failed] = /(\d+) passed, (\d+) failed/.exec(summary) ?? [];
    const results = vscode.consoleLines.filter((line) => /[✔✖] /.test(line)).map((line) => line.replace(/^.*?([✔✖])/, '$1'));
    console.log(results.join('\n'));
    assert.equal(Number(failed), 0, `failures in the extension host:\n${results.filter((l) => l.startsWith('✖')).join('\n')}`);
    assert.ok(Number(passed) >= 3, `expected at least 3 passing tests, the suite reported: ${summary}`);
  });
});
