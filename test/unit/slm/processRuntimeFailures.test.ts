// The SLM process when it misbehaves: a run that never returns after a cancel, a shutdown
// never answered, a load that hangs or crashes the process, a chat template that renders
// without bound, a parent that goes away while the child is inside a template's loop.
// Each ends, with an error that names the problem and the fix, and no process is left.
// The bounds below (30 s) only tell "ends" from "hangs for ever".
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureScriptedModel } from '../../fixtures/fixtures';
import { ChatTemplate, MAX_RENDERED_PROMPT_CHARS } from '../../../src/core/slm/chatTemplate';
import { ModelFolderError } from '../../../src/core/slm/modelFolder';
import { createProcessRuntime, SlmProcessError, type ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { fakeWorkerStarts, SLOW_STEP_MS, writeFakeWorker } from './fakeWorker';
import { SCRIPT } from './script';
import { within as settlesWithin } from '../providers/servers/collect';

/** Far longer than any of these takes; reached only by a call that hangs. */
const ENDS_WITHIN_MS = 30_000;

let dir: string;
let fake: string;
/** Processes a test started: ended by pid at the end of the file, should one be left (a failing test). */
const startedPids: number[] = [];

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'relay-slm-failures-'));
  fake = join(dir, 'fakeWorker.js');
  writeFakeWorker(fake);
});
after(() => {
  for (const pid of [...startedPids, ...fakePids()]) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** The pids of the fake worker's processes so far. */
function fakePids(): number[] {
  return readFileSync(join(dir, 'starts.log'), 'utf8').split('\n').filter(Boolean).map(Number);
}

/** Settles as `promise` does, or rejects after ENDS_WITHIN_MS saying that it hung. */
const within = <T>(promise: Promise<T>, what: string): Promise<T> => settlesWithin(promise, ENDS_WITHIN_MS, `HUNG: ${what}`);

/** Whether process `pid` still runs (a zombie, ended but not yet reaped, counts as gone). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return process.platform !== 'linux';
  }
}

async function waitGone(pid: number, what: string): Promise<void> {
  const deadline = Date.now() + ENDS_WITHIN_MS;
  while (running(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
  assert.ok(!running(pid), `${what} (pid ${pid}) is still running ${ENDS_WITHIN_MS / 1000} s later`);
}

/** A model folder name for the fake worker (its behaviour is chosen by the name). */
function folder(name: string): string {
  const path = join(dir, name);
  mkdirSync(path, { recursive: true });
  return path;
}

describe('a process that does not answer', () => {
  test('a cancelled run that never returns: the process is stopped after the grace, the call rejects saying so, the next call starts a new process', async () => {
    const rt = await createProcessRuntime(folder('model'), { workerPath: fake, cancelGraceMs: 200 });
    try {
      const pid = rt.pid!;
      const session = await rt.createSession();
      await session.prefill('hi');
      const stop = new AbortController();
      const generating = session.generate({ maxTokens: 10 }, undefined, stop.signal);
      stop.abort();
      await assert.rejects(within(generating, 'the cancelled generate'), (e: unknown) => {
        assert.ok(e instanceof SlmProcessError, String(e));
        assert.match(e.message, /The small model's process did not end a cancelled generate call within 0\.2 s and was stopped; 1 pending call failed/);
        assert.match(e.message, /ask again \(or Retry\) and a new process starts/);
        return true;
      });
      await waitGone(pid, 'the hung process');
      await rt.createSession();
      assert.notEqual(rt.pid, pid);
      assert.equal(rt.starts, 2);
    } finally {
      await within(rt.dispose(), 'dispose()');
    }
  });

  test('a cancel is given a few of the slowest steps the process took: a chunk slower than the grace alone is not taken for a hang', async () => {
    const graceMs = SLOW_STEP_MS / 6;
    const rt = await createProcessRuntime(folder('slow-steps'), { workerPath: fake, cancelGraceMs: graceMs });
    try {
      const pid = rt.pid!;
      const session = await rt.createSession();
      await session.prefill('a first prompt, one slow step');
      const stop = new AbortController();
      stop.abort();
      // The step runs to its end (SLOW_STEP_MS), past the grace given alone.
      const cancelled = await within(session.prefill('a second prompt', { signal: stop.signal }), 'the cancelled prefill');
      assert.equal(cancelled.tokenCount, 1);
      assert.equal(rt.pid, pid, 'the process was not stopped');
      assert.equal(rt.starts, 1);
    } finally {
      await within(rt.dispose(), 'dispose()');
    }
  });

  test('dispose() of a process that never answers its shutdown ends, and the process is gone', async () => {
    const rt = await createProcessRuntime(folder('deaf'), { workerPath: fake });
    const pid = rt.pid!;
    await within(rt.dispose(), 'dispose()');
    await waitGone(pid, 'the process that did not answer its shutdown');
  });
});

describe('a load that does not end, or ends the process', () => {
  test('a load that hangs is stopped at its deadline: the error names the folder and what to do (pick another model)', async () => {
    const hanging = folder('hang-load');
    const before = fakeWorkerStarts(fake);
    await assert.rejects(within(createProcessRuntime(hanging, { workerPath: fake, loadTimeoutMs: 300 }), 'the load'), (e: unknown) => {
      assert.ok(e instanceof SlmProcessError, String(e));
      assert.equal(
        e.message.split(':')[0],
        `The small model in ${hanging} did not finish loading within 0.3 s, and its process was stopped. Its files may be on a slow or unresponsive disk (copy the folder to a local disk), or the model may be too large for this machine`,
      );
      assert.match(e.message, /pick another model \("Relay: Select Model"\)/);
      assert.equal(e.fix, 'pick-model');
      return true;
    });
    assert.equal(fakeWorkerStarts(fake), before + 1);
    await waitGone(fakePids().at(-1)!, 'the process of the hung load');
  });

  test('the caller gives up on a first load that hangs (its signal): createProcessRuntime rejects and the process goes', async () => {
    const before = fakeWorkerStarts(fake);
    const stop = new AbortController();
    const loading = createProcessRuntime(folder('hang-load'), { workerPath: fake, signal: stop.signal });
    while (fakeWorkerStarts(fake) === before) await new Promise((resolve) => setTimeout(resolve, 20));
    stop.abort();
    await assert.rejects(within(loading, 'the load'), /Loading the small model in .*hang-load was cancelled/);
    await waitGone(fakePids().at(-1)!, 'the process of the cancelled load');
  });

  test("a model that crashes its process at load: 'crashed while loading <folder>' with the signal, and the fix that helps", async () => {
    const crashing = folder('crash-load');
    await assert.rejects(createProcessRuntime(crashing, { workerPath: fake }), (e: unknown) => {
      assert.ok(e instanceof SlmProcessError, String(e));
      assert.match(e.message, new RegExp(`^The small model crashed while loading ${crashing} \\(its process was killed by SIGSEGV\\)\\. `));
      assert.match(e.message, /pick another model \("Relay: Select Model"\)\.$/);
      assert.doesNotMatch(e.message, /create a new session/);
      assert.equal(e.fix, 'pick-model');
      return true;
    });
    // The onnx-local LLM: its folder is a setting, not the small-model picker.
    await assert.rejects(createProcessRuntime(crashing, { workerPath: fake, role: 'llm' }), (e: unknown) => {
      assert.ok(e instanceof SlmProcessError, String(e));
      assert.match(e.message, /^The large model crashed while loading .*set relay\.provider\.model \(CLI: --model\) to another model folder\.$/);
      assert.equal(e.fix, 'open-settings');
      return true;
    });
  });
});

/** A template that doubles a string 27 times: 268 M characters, in well under the render deadline. */
const DOUBLING = "{% set s = namespace(v='ab') %}{% for i in range(27) %}{% set s.v = s.v + s.v %}{% endfor %}{{ s.v }}";
/** A template that loops for ever (10^10 empty steps). */
const LOOPING = '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}';

describe('chat templates that render without bound', () => {
  let scripted: string;
  let runtime: ProcessRuntime | undefined;
  before(async () => {
    scripted = await ensureScriptedModel(SCRIPT);
  });
  after(async () => {
    await runtime?.dispose();
  });

  test("another folder's template whose output is too large is refused in the SLM process, naming the folder and the setting; the process goes on", async () => {
    const big = folder('doubling-template');
    writeFileSync(join(big, 'tokenizer_config.json'), JSON.stringify({ chat_template: DOUBLING }));
    const good = folder('good-template');
    writeFileSync(join(good, 'tokenizer_config.json'), JSON.stringify({ chat_template: '{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}' }));
    runtime = await createProcessRuntime(scripted);
    const pid = runtime.pid;
    const messages = [{ role: 'user' as const, content: 'hi' }];
    await assert.rejects(runtime.renderWithTemplate(big, messages), (e: unknown) => {
      assert.equal((e as Error).name, 'ProviderError');
      assert.match(
        (e as Error).message,
        new RegExp(
          `^${big}: its chat template rendered 268,435,456 characters, more than the 16,777,216 a prompt may have .*Set relay\\.provider\\.templateFolder`,
        ),
      );
      assert.equal((e as { fix?: string }).fix, 'open-settings');
      return true;
    });
    assert.equal(await runtime.renderWithTemplate(good, messages), '<user>hi');
    assert.equal(runtime.pid, pid, 'the same process: a refused render does not stop it');
  });

  test("the model's own template: a ModelFolderError naming its tokenizer_config.json (pick another model)", async () => {
    const file = join(dir, 'own', 'tokenizer_config.json');
    const template = await ChatTemplate.create(DOUBLING, {}, file);
    assert.throws(
      () => template.render([{ role: 'user', content: 'hi' }]),
      (e: unknown) => {
        assert.ok(e instanceof ModelFolderError, String(e));
        assert.equal(e.file, file);
        assert.match(e.problem, /rendered 268,435,456 characters, more than the 16,777,216/);
        return true;
      },
    );
    const plain = await ChatTemplate.create('{{ messages[0].content }}', {}, file);
    const longest = 'x'.repeat(MAX_RENDERED_PROMPT_CHARS);
    assert.equal(plain.render([{ role: 'user', content: longest }]).length, MAX_RENDERED_PROMPT_CHARS, 'up to the limit renders');
    assert.throws(() => plain.render([{ role: 'user', content: `${longest}x` }]), /more than the 16,777,216 a prompt may have/);
  });
});

describe(
  'the process that started the SLM goes away while the SLM is inside a looping template',
  { skip: process.platform === 'win32' && 'POSIX signals' },
  () => {
    /** Starts test/unit/slm/orphanHost.ts; resolves with the host and its SLM process's pid once the template loops. */
    async function startHost(templateFolder: string, scripted: string, how: 'exit' | 'stay'): Promise<{ host: ReturnType<typeof spawn>; slmPid: number }> {
      const host = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'orphanHost.ts'), scripted, templateFolder, how], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      return within(
        new Promise((resolve, reject) => {
          host.stdout!.on('data', (chunk: Buffer) => {
            out += chunk.toString();
            const pid = /slm (\d+)/.exec(out);
            if (pid && !startedPids.includes(Number(pid[1]))) startedPids.push(Number(pid[1]));
            if (pid && out.includes('looping')) resolve({ host, slmPid: Number(pid[1]) });
          });
          host.on('exit', (code) => {
            if (!out.includes('looping')) reject(new Error(`the host exited (${code}) before its template looped: ${out}`));
          });
        }),
        'starting the host',
      );
    }

    let scripted: string;
    let looping: string;
    before(async () => {
      scripted = await ensureScriptedModel(SCRIPT);
      looping = folder('looping-template');
      writeFileSync(join(looping, 'tokenizer_config.json'), JSON.stringify({ chat_template: LOOPING }));
    });

    test('the host exits (the window closes): its SLM process is killed with it, not left looping', async () => {
      const { slmPid } = await startHost(looping, scripted, 'exit');
      await waitGone(slmPid, 'the SLM process of the host that exited');
    });

    test('the host is killed outright (SIGKILL, no exit hook runs): the SLM process sees its parent gone and ends', async () => {
      const { host, slmPid } = await startHost(looping, scripted, 'stay');
      host.kill('SIGKILL');
      await waitGone(slmPid, 'the SLM process of the killed host');
    });
  },
);
