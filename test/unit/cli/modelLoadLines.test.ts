// A model the CLI loads takes seconds to minutes (a real 0.6B-1.7B model): the load is said on
// stderr as it begins ("relay: loading the small model (Qwen3-0.6B)..."), then its seconds every
// 5 s, and nothing once loaded; stdout keeps the answer and the --json line alone. The models are
// the real demo models, loaded by the real CLI; a load held open is one the test holds.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDemo } from '../../../src/cli/commands/demo';
import { findDemoModels } from '../../../src/cli/demoModels';
import { loadLine, reportedLoad } from '../../../src/cli/loadLines';
import { EvalProgress } from '../../../src/cli/eval/progress';
import { modelFolderName, type ModelLoad } from '../../../src/shared/modelLoading';
import { capture, noSettingsFile, runCli, spawnCli } from './runCli';

const SMALL: ModelLoad = { model: 'small', name: 'Qwen3-0.6B' };
/** Far longer than any of these takes; reached only by what hangs. */
const ENDS_WITHIN_MS = 30_000;

test("a load's line: the answer view's words, written as the CLI's other lines ('...', lower case), the folder's name made safe to print", () => {
  assert.equal(loadLine(SMALL), 'relay: loading the small model (Qwen3-0.6B)...');
  assert.equal(loadLine(SMALL, 12), 'relay: loading the small model (Qwen3-0.6B)... 12 s');
  assert.equal(loadLine({ model: 'large', name: 'Qwen3-8B', restarting: true }), 'relay: restarting the large model (Qwen3-8B)...');
  assert.equal(loadLine({ model: 'small', name: 'evil\u001b]52;c;aGk=\u0007\u001b[2J' }), 'relay: loading the small model (evil)...');
});

test('relay solve --json with an onnx-local LLM: each load is said on stderr as it begins, small then large; stdout is the JSON line alone', async () => {
  const { slmFolder, llmFolder } = findDemoModels();
  const home = mkdtempSync(join(tmpdir(), 'relay-load-lines-'));
  try {
    const { code, stdout, stderr } = await spawnCli(
      ['solve', '47*6+28=?', '--plain-prompt', '--slm', slmFolder, '--provider', 'onnx-local', '--model', llmFolder, '--json'],
      {
        cwd: home,
        env: { RELAY_HOME: home, RELAY_CONFIG: noSettingsFile(home) },
      },
    );
    assert.equal(code, 0, stderr);
    // A machine slow enough adds the seconds of a load every 5 s: left out here.
    const said = stderr.split('\n').filter((line) => !/\.\.\. \d+ s$/.test(line));
    assert.deepEqual(said.slice(0, 2), [
      `relay: loading the small model (${modelFolderName(slmFolder)})...`,
      `relay: loading the large model (${modelFolderName(llmFolder)})...`,
    ]);
    const lines = stdout.trim().split('\n');
    assert.equal(lines.length, 1, stdout);
    assert.equal(typeof JSON.parse(lines[0]).finish_reason, 'string');
    assert.doesNotMatch(stdout, /loading/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('relay demo: its two loads are said on stderr, one after the other, and nothing else; stdout stays the demo', async () => {
  const stdout = capture();
  const stderr = capture();
  const code = await runDemo({ stdout: stdout.out, stderr: stderr.out }, { json: false, signal: new AbortController().signal });
  assert.equal(code, 0, stderr.text());
  assert.equal(stderr.text(), 'relay: loading the small model (relay-demo-slm)...\nrelay: loading the large model (relay-demo-llm)...\n');
  assert.doesNotMatch(stdout.text(), /loading/);
  assert.match(stdout.text(), /Reference: /);
});

test('relay provider test with an onnx-local LLM: its load is said on stderr first, the report stays on stdout', async () => {
  const { llmFolder } = findDemoModels();
  const home = mkdtempSync(join(tmpdir(), 'relay-load-lines-'));
  try {
    const { code, stdout, stderr } = await runCli(['provider', 'test', '--provider', 'onnx-local', '--model', llmFolder], home);
    assert.equal(code, 0, stderr);
    assert.equal(stderr, 'relay: loading the large model (relay-demo-llm)...\n');
    assert.match(stdout, /^Testing onnx-local model/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test('a held load is said at once, before it ends; once loaded nothing more is said, and what it opened is returned', async () => {
  const err = capture();
  let release: (value: string) => void = () => undefined;
  const held = new Promise<string>((resolve) => (release = resolve));
  const loading = reportedLoad(err.out, SMALL, () => held);
  assert.equal(err.text(), 'relay: loading the small model (Qwen3-0.6B)...\n', 'said before the load ends');
  release('the runtime');
  assert.equal(await loading, 'the runtime');
  assert.equal(err.text(), 'relay: loading the small model (Qwen3-0.6B)...\n', 'no "loaded" line');
  // A load that fails is said by its error, where it is caught: nothing more here.
  await assert.rejects(
    reportedLoad(err.out, SMALL, async () => {
      throw new Error('no model');
    }),
    /no model/,
  );
});

test("a held load's seconds come on stderr even while the event loop stands still (as ONNX Runtime's session build holds it), and stop once it ends", async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-load-ticks-'));
  const file = join(dir, 'stderr.txt');
  const fd = openSync(file, 'w');
  const waitBlocked = (ms: number): void => void Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
  // Released in the end whatever happens: a load left held would keep its lines going.
  let release: () => void = () => undefined;
  try {
    const err = { write: (text: string) => void writeSync(fd, text), isTTY: false, fd };
    const loading = reportedLoad(err, SMALL, () => new Promise<void>((resolve) => (release = resolve)), { everyMs: 1000 });
    // This thread blocked, as a real load blocks it: only another thread can write the seconds.
    const deadline = Date.now() + ENDS_WITHIN_MS;
    while (!readFileSync(file, 'utf8').includes(' s\n')) {
      if (Date.now() > deadline) assert.fail(`HUNG: no seconds within ${ENDS_WITHIN_MS} ms: ${readFileSync(file, 'utf8')}`);
      waitBlocked(50);
    }
    release();
    await loading;
    const said = readFileSync(file, 'utf8');
    const [first, ...ticks] = said.trimEnd().split('\n');
    assert.equal(first, loadLine(SMALL));
    assert.ok(ticks.length > 0);
    for (const tick of ticks) assert.equal(tick, loadLine(SMALL, Number(/(\d+) s$/.exec(tick)?.[1])), 'in loadLine words');
    // Past another tick's time: the thread was ended with the load.
    waitBlocked(1500);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(readFileSync(file, 'utf8'), said, 'nothing once loaded');
  } finally {
    release();
    closeSync(fd);
    rmSync(dir, { recursive: true, force: true });
  }
});

test("relay eval: each SLM folder's load is said on a line of its own as its rows begin, and the LLM's where a row calls it", async () => {
  const { ablationsFolder } = findDemoModels();
  const other = join(ablationsFolder, 'slm-grpo-simple');
  const home = mkdtempSync(join(tmpdir(), 'relay-load-lines-eval-'));
  try {
    const { code, stderr } = await runCli(['eval', '--demo', '--modes', `slm-only,command=${other}`, '--limit', '1', '--out', join(home, 'out')], home);
    assert.equal(code, 0, stderr);
    const loads = stderr.split('\n').filter((line) => line.startsWith('relay: loading'));
    assert.deepEqual(loads, [
      'relay: loading the small model (relay-demo-slm)...',
      `relay: loading the small model (${modelFolderName(other)})...`,
      'relay: loading the large model (relay-demo-llm)...',
    ]);
    // The second folder's load comes after the first row's answers, on a line of its own.
    assert.match(stderr, /slm-only: 1 answers, \d correct[^\n]*\nrelay: loading the small model/);
  } finally {
    rmSync(home, { recursive: true, force: true });
  }
});

test("relay eval's progress on a terminal: a load's line clears the bar's line first (the next answer draws the bar again)", () => {
  let text = '';
  const progress = new EvalProgress({ write: (t) => void (text += t), isTTY: true }, 2, 2, () => 0);
  progress.answered('slm-only', true);
  progress.lineWriter().write('relay: loading the small model (m)...\n');
  assert.equal(text.slice(text.indexOf('correct')), 'correct\u001b[K\r\u001b[Krelay: loading the small model (m)...\n');
});
