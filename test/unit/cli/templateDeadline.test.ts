/**
 * A chat template that loops (a template is a program) cannot hold the CLI: it renders on a
 * thread stopped at the render deadline, and Ctrl-C is heard meanwhile. Real CLI processes on
 * a copy of the demo SLM whose template loops, and the render thread itself.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
/** Its template renders a question as the demo SLM's does, and loops on one that says "loop". */
let loopsOnAskSlm = '';
before(() => {
  work = mkdtempSync(join(tmpdir(), 'relay-template-deadline-'));
  loopingSlm = demoSlmWithTemplate('looping-slm', () => LOOPING);
  loopsOnAskSlm = demoSlmWithTemplate('loops-on-ask-slm', (own) => `{% if 'loop' in messages[0].content %}${LOOPING}{% else %}${own}{% endif %}`);
});

/** A copy of the demo SLM with another template (given its own), and without relay_task (a demo model is refused for "hi"). */
function demoSlmWithTemplate(name: string, template: (own: string) => string): string {
  const folder = join(work, name);
  const demo = findDemoModels().slmFolder;
  cpSync(demo, folder, { recursive: true });
  const { relay_task: _task, ...config } = JSON.parse(readFileSync(join(demo, 'config.json'), 'utf8'));
  writeFileSync(join(folder, 'config.json'), JSON.stringify(config));
  const tokenizerConfig = JSON.parse(readFileSync(join(demo, 'tokenizer_config.json'), 'utf8'));
  writeFileSync(join(folder, 'tokenizer_config.json'), JSON.stringify({ ...tokenizerConfig, chat_template: template(tokenizerConfig.chat_template) }));
  return folder;
}

/** Sends `signal` to the CLI once its stderr has shown `line`: the command is then where the test wants it, whatever the machine's speed. */
function signalAt(line: RegExp, signal: NodeJS.Signals): (child: ChildProcess) => void {
  return (child) => {
    let stderr = '';
    const onData = (chunk: Buffer): void => {
      stderr += chunk.toString();
      if (!line.test(stderr)) return;
      child.stderr?.off('data', onData);
      child.kill(signal);
    };
    child.stderr?.on('data', onData);
  };
}
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
  // Its own template: another small model helps; --template-folder renders only a raw-completion LLM's prompt, so it is not offered.
  assert.match(result.stderr, /Use another small model folder \(relay\.slm\.modelFolder \(CLI: --slm\), or "Relay: Select Model"\)\./);
  assert.doesNotMatch(result.stderr, /--template-folder/);
});

test('relay solve --json stopped while the chat template renders ends stdout with the JSON line of a cancelled answer, exit 130', POSIX, async () => {
  // Stopped during the load or after it, the render that follows is stopped: the same outcome either way.
  const result = await spawnCli([...solveLooping(), '--json'], { env: home('json'), cwd: REPO, started: signalAt(/loading the small model/, 'SIGINT') });
  assert.equal(result.code, 130, result.stderr);
  assert.match(result.stderr, /relay: stopped before the answer began\./);
  const lines = result.stdout.trim().split('\n');
  const json = JSON.parse(lines[lines.length - 1]) as Record<string, unknown>;
  assert.equal(json.finish_reason, 'cancelled');
  assert.equal(json.finish_note, 'Stopped: the answer is incomplete.');
  assert.equal(json.answer, '');
  assert.equal(json.cost_usd, 0);
});

test(
  'relay eval stopped while a chat template renders exits 130 with its reports, the answers before kept and the stopped one left to the next run',
  POSIX,
  async () => {
    const data = join(work, 'two-questions.jsonl');
    writeFileSync(
      data,
      [
        { question: '2*3+1=?', answer: '7' },
        { question: 'loop 4*5+2=?', answer: '22' },
      ]
        .map((q) => JSON.stringify(q))
        .join('\n') + '\n',
    );
    const out = join(work, 'eval-stopped', 'run');
    // The first answer's progress line is written just before the second question's template renders (and loops).
    const result = await spawnCli(['eval', data, '--slm', loopsOnAskSlm, '--modes', 'slm-only', '--out', out], {
      env: home('eval'),
      cwd: REPO,
      started: signalAt(/ 1\/2 /, 'SIGINT'),
    });
    assert.equal(result.code, 130, result.stderr);
    assert.doesNotMatch(result.stderr, /was not rendered/);
    for (const report of ['.csv', '.json', '.md']) assert.ok(existsSync(out + report), `${out}${report} written\n${result.stderr}`);
    const answers = readFileSync(`${out}.answers.jsonl`, 'utf8')
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as { type?: string; index?: number });
    assert.deepEqual(
      answers.filter((line) => line.type === 'answer').map((line) => line.index),
      [0],
      'the first answer kept; the stopped one is not an answer',
    );
  },
);

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
      new RegExp(
        `^Error: The chat template of ${looping} took more than 10 s to render and was stopped .*` +
          'Set relay\\.provider\\.templateFolder \\(CLI: --template-folder\\) to a model folder whose chat template renders\\.$',
      ),
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
