// A chat render asked for while the SLM process runs a forward pass (a read-ahead's prefill in
// the background, then the user presses Send): ONNX Runtime's run() holds the process's event
// loop for a whole prefill chunk, so the render waits. Its deadline counts from when the process
// begins it, not that wait: the process (and the KV caches it keeps) is not stopped for it. A
// template that loops is still stopped at its deadline, and a process that keeps a render
// waiting while it says nothing at all is still taken as hung.
// The real worker and model; holdingWorker.ts holds the process for a prefill as long as the
// test says (as a slow chunk does). The bounds below (30 s) only tell "ends" from "hangs".
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ensureScriptedModel } from '../../fixtures/fixtures';
import { createProcessRuntime, SlmProcessError, type ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { SCRIPT } from './script';
import { within as settlesWithin } from '../providers/servers/collect';

const HOLDING_WORKER = join(__dirname, 'holdingWorker.ts');
/** The render's deadline in these tests: far longer than the scripted model's template takes. */
const RENDER_TIMEOUT_MS = 500;
/** How long a held prefill holds the process: well past the render's deadline. */
const HOLD_MS = 4 * RENDER_TIMEOUT_MS;
const ENDS_WITHIN_MS = 30_000;
const MESSAGES = [{ role: 'user' as const, content: 'What is 2+2?' }];

let scripted: string;
let templates: string;
const runtimes: ProcessRuntime[] = [];

before(async () => {
  scripted = await ensureScriptedModel(SCRIPT);
  templates = mkdtempSync(join(tmpdir(), 'relay-render-behind-'));
});
after(async () => {
  for (const rt of runtimes) await rt.dispose().catch(() => undefined);
  rmSync(templates, { recursive: true, force: true });
});

const within = <T>(promise: Promise<T>, what: string): Promise<T> => settlesWithin(promise, ENDS_WITHIN_MS, `HUNG: ${what}`);

async function runtime(options: { cancelGraceMs?: number } = {}): Promise<ProcessRuntime> {
  const rt = await createProcessRuntime(scripted, { workerPath: HOLDING_WORKER, renderTimeoutMs: RENDER_TIMEOUT_MS, ...options });
  runtimes.push(rt);
  return rt;
}

test('a render that waits behind a forward pass longer than its deadline renders, and the process (its caches) stays', async () => {
  const rt = await runtime();
  const pid = rt.pid;
  const expected = await rt.renderChat(MESSAGES, { addGenerationPrompt: true });
  const session = await rt.createSession();
  // The read-ahead's chunk holds the process for HOLD_MS; the answer's render is asked for meanwhile.
  const reading = session.prefill(`[hold ${HOLD_MS}]${SCRIPT.prompt}`);
  const rendered = await within(rt.renderChat(MESSAGES, { addGenerationPrompt: true }), 'the render behind the prefill');
  assert.equal(rendered, expected);
  const read = await within(reading, 'the prefill');
  assert.ok(read.tokenCount > 0, 'the prefill was read to its end');
  assert.equal(rt.pid, pid, 'the process was not stopped');
  assert.equal(rt.starts, 1);
  // Another folder's template waits the same way.
  const good = join(templates, 'good');
  mkdirSync(good, { recursive: true });
  writeFileSync(join(good, 'tokenizer_config.json'), JSON.stringify({ chat_template: '{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}' }));
  const again = session.prefill(`[hold ${HOLD_MS}] and more`);
  assert.equal(await within(rt.renderWithTemplate(good, MESSAGES), 'the other template behind the prefill'), '<user>What is 2+2?');
  await within(again, 'the second prefill');
  assert.equal(rt.pid, pid, 'the process was not stopped');
  await session.dispose();
});

test('a template that loops once the process begins it is stopped at its deadline, however long it waited before', async () => {
  const looping = join(templates, 'looping');
  mkdirSync(looping, { recursive: true });
  writeFileSync(
    join(looping, 'tokenizer_config.json'),
    JSON.stringify({ chat_template: '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}' }),
  );
  const rt = await runtime();
  const pid = rt.pid;
  const session = await rt.createSession();
  // Whether the prefill's chunk runs before the template begins or never (the process is stopped) does not matter here.
  const reading = session.prefill(`[hold ${HOLD_MS}]${SCRIPT.prompt}`).catch(() => undefined);
  await assert.rejects(within(rt.renderWithTemplate(looping, MESSAGES), 'the looping render'), (e: unknown) => {
    assert.ok(e instanceof SlmProcessError, String(e));
    assert.match(
      e.message,
      /^The chat template of .*looping took more than 0\.5 s to render and was stopped \(a template is a program, and this one may loop\)/,
    );
    assert.equal(e.fix, 'open-settings');
    return true;
  });
  await within(reading, 'the prefill');
  assert.notEqual(await within(rt.renderChat(MESSAGES), 'the next render'), '');
  assert.notEqual(rt.pid, pid, 'the next call started a new process');
});

test('a process that keeps a render waiting and says nothing for longer than a few of its slowest steps is stopped as hung', async () => {
  const rt = await runtime({ cancelGraceMs: 200 });
  const pid = rt.pid;
  const session = await rt.createSession();
  // One step seen (about 100 ms): the process's steps are known to be short.
  await session.prefill(`[hold 100]${SCRIPT.prompt}`);
  // A forward pass that does not end (a native hang): the render behind it must not wait for ever.
  const hung = session.prefill(`[hold ${10 * 60_000}] and more`);
  hung.catch(() => undefined);
  await assert.rejects(within(rt.renderChat(MESSAGES), 'the render behind the hung prefill'), (e: unknown) => {
    assert.ok(e instanceof SlmProcessError, String(e));
    assert.match(e.message, /^The small model's chat template could not render: The small model's process said nothing for [\d.]+ s while it ran another call/);
    assert.match(e.message, /ask again \(or Retry\) and a new process starts/);
    assert.equal(e.fix, 'retry');
    return true;
  });
  await assert.rejects(
    within(hung, 'the hung prefill'),
    /The small model's process was stopped: it said nothing for [\d.]+ s while a chat template waited to render; 2 pending calls failed/,
  );
  assert.notEqual(await within(rt.renderChat(MESSAGES), 'the next render'), '');
  assert.notEqual(rt.pid, pid, 'the next call started a new process');
});
