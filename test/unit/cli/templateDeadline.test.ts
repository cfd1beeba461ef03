/**
 * A chat template that loops (a template is a program) cannot hold the CLI: it renders on a
 * thread stopped at the render deadline, and Ctrl-C is heard meanwhile. Real CLI processes on
 * a copy of the demo SLM whose template loops, and the render thread itself.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findDemoModels } from '../../../src/cli/demoModels';
import { renderTemplateOnThread, loadTemplateOnThread } from '../../../src/cli/templateThread';
import { ProviderError } from '../../../src/core/providers/errors';
import { noSettingsFile, spawnCli } from './runCli';

const REPO = join(__dirname, '..', '..', '..');
/** A template that loops for ever (10^10 empty steps). */
const LOOPING = '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}';
const DEADLINE_WORDS = /The small model's chat template took more than 10 s to render and was stopped \(a template is a program, and this one may loop\)/;
const POSIX = { skip: process.platform === 'win32' && 'POSIX signals' };

let work = '';
let loopingSlm = '';
before(() => {
  work = mkdtempSync(join(tmpdir(), 'relay-template-deadline-'));
  // The demo SLM with a template that loops, and without relay_task (a demo model is refused for "hi").
  loopingSlm = join(work, 'looping-slm');
  const demo = findDemoModels().slmFolder;
  cpSync(demo, loopingSlm, { recursive: true });
  const { relay_task: _task, ...config } = JSON.parse(readFileSync(join(demo, 'config.json'), 'utf8'));
  writeFileSync(join(loopingSlm, 'config.json'), JSON.stringify(config));
  const tokenizerConfig = JSON.parse(readFileSync(join(demo, 'tokenizer_config.json'), 'utf8'));
  writeFileSync(join(loopingSlm, 'tokenizer_config.json'), JSON.stringify({ ...tokenizerConfig, chat_template: LOOPING }));
});
after(() => rmSync(work, { recursive: true, force: true }));

function home(name: string): Record<string, string> {
  const dir = mkdtempSync(join(work, `${name}-`));
  return { RELAY_HOME: dir, RELAY_CONFIG: noSettingsFile(dir) };
}

const solveLooping = (): string[] => ['solve', 'hi', '--slm', loopingSlm, '--mode', 'slm-only'];

test('relay solve on a model whose chat template loops ends at the render deadline with exit 1, saying why', async () => {
  // spawnCli kills a process still running after a minute: one the loop held would end with no code.
  const result = await spawnCli(solveLooping(), { env: home('deadline'), cwd: REPO });
  assert.equal(result.code, 1, result.stderr);
  assert.match(result.stderr, DEADLINE_WORDS);
  assert.match(result.stderr, /--template-folder/);
});

for (const [signal, code] of [
  ['SIGINT', 130],
  ['SIGTERM', 143],
] as const) {
  test(`${signal} while the chat template renders stops the command at once with ${code}, not at the render deadline`, POSIX, async () => {
    let child: ChildProcess | undefined;
    const result = await spawnCli(solveLooping(), {
      env: home(signal),
      cwd: REPO,
      started: (c) => {
        child = c;
        let stderr = '';
        const onData = (chunk: Buffer): void => {
          stderr += chunk.toString();
          if (!stderr.includes('loading the small model')) return;
          c.stderr?.off('data', onData);
          // The tiny model loads in well under a second; its template then loops until the deadline (10 s).
          setTimeout(() => child?.kill(signal), 2000);
        };
        c.stderr?.on('data', onData);
      },
    });
    assert.equal(result.code, code, result.stderr);
    assert.match(result.stderr, /relay: stopped before the answer began\./);
    assert.doesNotMatch(result.stderr, DEADLINE_WORDS, 'the signal ended it, not the deadline');
  });
}

test("another folder's template (--template-folder) renders on the thread: one that loops is stopped at the deadline while this thread runs on; the next render works", async () => {
  const looping = join(work, 'looping-template');
  const good = join(work, 'good-template');
  for (const [folder, template] of [
    [looping, LOOPING],
    [good, '{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}'],
  ]) {
    mkdirSync(folder, { recursive: true });
    writeFileSync(join(folder, 'tokenizer_config.json'), JSON.stringify({ chat_template: template }));
  }
  const messages = [{ role: 'user' as const, content: 'hi' }];
  let ticks = 0;
  const ticker = setInterval(() => ticks++, 100);
  try {
    await assert.rejects(
      renderTemplateOnThread(looping, messages, false),
      new RegExp(`^Error: The chat template of ${looping} took more than 10 s to render and was stopped`),
    );
  } finally {
    clearInterval(ticker);
  }
  assert.ok(ticks > 20, `this thread's timers ran while the template looped (${ticks} ticks)`);
  assert.equal(await renderTemplateOnThread(good, messages, false), '<user>hi');
  // A folder with no template: the provider's error as it is thrown in this thread (provider test reports its code).
  await assert.rejects(loadTemplateOnThread(work, false), (e: unknown) => {
    assert.ok(e instanceof ProviderError, String(e));
    assert.equal(e.code, 'bad_request');
    assert.match(e.message, /^No chat template in .*tokenizer_config\.json/);
    return true;
  });
});
