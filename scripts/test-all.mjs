// The README's test command: type check, lint, build, unit tests, end-to-end tests in a
// real VS Code (code-server). Prints the time of every step and, last, one summary line.
import { spawnSync } from 'node:child_process';
import { findTests, runNodeTests } from './run-node-tests.mjs';

const timings = [];
let passed = 0;
let failed = 0;
let skipped = 0;

function step(name, fn) {
  const started = Date.now();
  return Promise.resolve(fn()).then((ok) => {
    const seconds = ((Date.now() - started) / 1000).toFixed(1);
    timings.push(`${name}: ${seconds} s${ok ? '' : ' (FAILED)'}`);
    console.log(`\n== ${name}: ${ok ? 'ok' : 'FAILED'} in ${seconds} s`);
    return ok;
  });
}

function command(cmd, args) {
  return spawnSync(cmd, args, { stdio: 'inherit' }).status === 0;
}

async function tests(dir, options) {
  const result = await runNodeTests(findTests(dir), options);
  passed += result.passed;
  failed += result.failed;
  skipped += result.skipped;
  return result.code === 0 && result.failed === 0;
}

const onlyUnit = process.argv.includes('--unit');
let ok = true;
// Static checks count as tests: a red type check must not pass as green.
for (const [name, cmd, args] of [
  ['typecheck', 'npx', ['tsc', '-p', 'tsconfig.json', '--noEmit']],
  ['lint (eslint, prettier)', 'npm', ['run', '-s', 'lint']],
  ['build', 'node', ['esbuild.config.mjs']],
]) {
  const good = await step(name, () => command(cmd, args));
  if (good) passed += 1;
  else failed += 1;
  ok &&= good;
}
// Two files at a time: a third of the unit step is starting processes and waiting on
// servers, which the second core fills (measured: 320 s -> 208 s on 2 cores). Every test
// owns its ports (0), temp folders and fixtures (built in a temp folder, then renamed).
ok = (await step('unit tests', () => tests('test/unit', { concurrency: 2 }))) && ok;
if (!onlyUnit) ok = (await step('end-to-end tests (code-server)', () => tests('test/e2e'))) && ok;

console.log('\nTimings:\n  ' + timings.join('\n  '));
console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
process.exit(ok ? 0 : 1);
