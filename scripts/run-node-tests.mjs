// Runs Node's built-in test runner (through tsx) over the given test folders and returns
// the pass/fail/skip counts read from its summary, so test-all can add them up.
import { spawn } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

export function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

/** Spawns the runner, streams its output, resolves with the counts of its summary. */
export function runNodeTests(files, { concurrency = 1, timeoutMs = 10 * 60_000, env = {} } = {}) {
  return new Promise((resolve) => {
    const args = ['--import', 'tsx', '--test', '--test-reporter=spec', `--test-concurrency=${concurrency}`, `--test-timeout=${timeoutMs}`, ...files];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
    let tail = '';
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      tail = (tail + chunk.toString()).slice(-4000);
    });
    child.on('close', (code) => {
      const count = (label) => {
        const all = [...tail.matchAll(new RegExp(`ℹ ${label} (\\d+)`, 'g'))];
        return all.length > 0 ? Number(all[all.length - 1][1]) : 0;
      };
      resolve({ code: code ?? 1, passed: count('pass'), failed: count('fail'), skipped: count('skipped') + count('todo') });
    });
  });
}
