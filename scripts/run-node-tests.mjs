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
    // The summary's counts, read line by line as they come: the details of failing tests follow
    // the summary, and can be longer than any tail kept.
    const counts = { pass: 0, fail: 0, skipped: 0, todo: 0 };
    let partial = '';
    const read = (text) => {
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      for (const line of lines) {
        const summary = /^ℹ (pass|fail|skipped|todo) (\d+)$/.exec(line.trim());
        if (summary) counts[summary[1]] = Number(summary[2]);
      }
    };
    child.stdout.on('data', (chunk) => {
      process.stdout.write(chunk);
      read(chunk.toString());
    });
    child.on('close', (code) => {
      read('\n');
      resolve({ code: code ?? 1, passed: counts.pass, failed: counts.fail, skipped: counts.skipped + counts.todo });
    });
  });
}
