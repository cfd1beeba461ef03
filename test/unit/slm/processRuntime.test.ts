// The runtime in its own process: same results as in-process, streaming, cancellation,
// a killed child rejects pending calls with a clear error and the next call restarts it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, describe, test } from 'node:test';
import { ensureScriptedModel, ensureTinyModel, scriptedExpectation, type ScriptedExpectation } from '../../fixtures/fixtures';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { ModelFolderError } from '../../../src/core/slm/modelFolder';
import { createProcessRuntime, SlmProcessError, type ProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import type { GeneratedToken } from '../../../src/core/slm/types';
import { SCRIPT } from './script';

let scriptedFolder: string;
let script: ScriptedExpectation;
let runtime: ProcessRuntime;

before(async () => {
  scriptedFolder = await ensureScriptedModel(SCRIPT);
  script = await scriptedExpectation(SCRIPT);
  runtime = await createProcessRuntime(scriptedFolder);
});
after(async () => {
  await runtime?.dispose();
});

describe('child-process runtime', () => {
  test('runs in another process and gives the same tokens and signals as in-process (tiny model, sampled)', async () => {
    assert.ok(runtime.pid && runtime.pid !== process.pid);
    const tiny = await ensureTinyModel();
    const local = await createLocalRuntime(tiny);
    const remote = await createProcessRuntime(tiny);
    try {
      assert.deepEqual(remote.info, local.info);
      const messages = [{ role: 'user' as const, content: 'Tell me something' }];
      const prompt = await remote.renderChat(messages);
      assert.equal(prompt, await local.renderChat(messages));
      assert.equal(await remote.countTokens(prompt), await local.countTokens(prompt));
      const run = async (rt: typeof local | typeof remote) => {
        const s = await rt.createSession();
        await s.prefill(prompt);
        const streamed: GeneratedToken[] = [];
        const r = await s.generate({ maxTokens: 12, sampling: { temperature: 0.8, topK: 40, seed: 11 } }, (t) => streamed.push(t));
        assert.deepEqual(streamed, r.tokens);
        await s.append(' and more');
        const r2 = await s.generate({ maxTokens: 4 });
        await s.dispose();
        return [r, r2];
      };
      assert.deepEqual(await run(remote), await run(local));
    } finally {
      await local.dispose();
      await remote.dispose();
    }
  });

  test('the scripted model stops at </call> through the process too', async () => {
    const s = await runtime.createSession();
    await s.prefill(SCRIPT.prompt);
    const r = await s.generate({ maxTokens: 50, stopStrings: ['</call>'] });
    assert.equal(r.stopReason, 'stop_string');
    assert.equal(r.text, 'Let me see <call>2</call>');
    assert.deepEqual(await s.append(script.entries[2].text), { tokenCount: script.entries[2].ids.length, recomputedTokens: 0 });
    await s.dispose();
  });

  test('an AbortSignal cancels a generation in flight', async () => {
    const s = await runtime.createSession();
    await s.prefill(SCRIPT.prompt);
    const controller = new AbortController();
    let seen = 0;
    // Without the abort this would end at the script's EOS, far short of 10000 tokens.
    const r = await s.generate(
      { maxTokens: 10_000 },
      () => {
        seen += 1;
        if (seen === 3) controller.abort();
      },
      controller.signal,
    );
    assert.equal(r.stopReason, 'cancelled');
    assert.ok(r.tokens.length >= 3 && r.tokens.length < 10_000);
    await s.dispose();
  });

  test('kill -9 of the child: the pending call rejects with a clear error, the next call restarts it', async () => {
    const tinyScript = { ...SCRIPT, endWithEos: false };
    const folder = await ensureScriptedModel(tinyScript);
    const rt = await createProcessRuntime(folder);
    try {
      const s = await rt.createSession();
      await s.prefill(SCRIPT.prompt);
      const firstPid = rt.pid!;
      // With no EOS after the script the model writes filler forever: the call can only end by the kill.
      const pending = s.generate({ maxTokens: 1_000_000 }, (t) => {
        if (t.id >= 0 && rt.pid === firstPid) process.kill(firstPid, 'SIGKILL');
      });
      await assert.rejects(pending, (e: unknown) => {
        assert.ok(e instanceof SlmProcessError);
        assert.match(e.message, /The small model's process was killed by SIGKILL; 1 pending call failed/);
        assert.match(e.message, /its KV caches\) is gone\. What was written is kept; ask again \(or Retry\) and a new process starts\./);
        return true;
      });
      // The old session is gone and says so.
      await assert.rejects(
        s.generate({ maxTokens: 1 }),
        /The small model's process was killed by SIGKILL while this answer was written \(session \S+ belonged to it\)\. What was written is kept; ask again \(or Retry\) and a new process starts\.$/,
      );
      // The next call starts a new process that works.
      const again = await rt.createSession();
      assert.notEqual(rt.pid, firstPid);
      assert.equal(rt.starts, 2);
      await again.prefill(SCRIPT.prompt);
      const r = await again.generate({ maxTokens: 50, stopStrings: ['</call>'] });
      assert.equal(r.text, 'Let me see <call>2</call>');
    } finally {
      await rt.dispose();
    }
  });

  test('the esbuild bundle of the worker (as shipped in dist/) serves the same results', async () => {
    const esbuild = await import('esbuild');
    const outfile = join(__dirname, '..', '..', '..', '.cache', 'slm-worker-test', 'slmWorker.js');
    await esbuild.build({
      entryPoints: [join(__dirname, '..', '..', '..', 'src', 'core', 'slm', 'onnx', 'worker', 'workerMain.ts')],
      outfile,
      bundle: true,
      platform: 'node',
      target: 'node20',
      format: 'cjs',
      external: ['onnxruntime-node'],
      logLevel: 'error',
    });
    const bundled = await createProcessRuntime(scriptedFolder, { workerPath: outfile });
    try {
      const s = await bundled.createSession();
      await s.prefill(SCRIPT.prompt);
      const r = await s.generate({ maxTokens: 50, stopStrings: ['</call>'] });
      assert.equal(r.text, 'Let me see <call>2</call>');
    } finally {
      await bundled.dispose();
    }
  });

  test('a broken folder is reported by the child as the same ModelFolderError', async () => {
    await assert.rejects(createProcessRuntime('/nonexistent/model'), (e: unknown) => {
      assert.ok(e instanceof ModelFolderError);
      assert.equal(e.file, '/nonexistent/model');
      return true;
    });
  });

  test("another folder's chat template renders in the SLM process; one that loops is stopped at the deadline without blocking this process", async () => {
    const folders = mkdtempSync(join(tmpdir(), 'relay-template-'));
    const good = join(folders, 'good');
    const looping = join(folders, 'looping');
    mkdirSync(good);
    mkdirSync(looping);
    writeFileSync(
      join(good, 'tokenizer_config.json'),
      JSON.stringify({ chat_template: '{% for m in messages %}<{{ m.role }}>{{ m.content }}{% endfor %}{% if add_generation_prompt %}<assistant>{% endif %}' }),
    );
    writeFileSync(
      join(looping, 'tokenizer_config.json'),
      JSON.stringify({ chat_template: '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}' }),
    );
    const guarded = await createProcessRuntime(scriptedFolder, { renderTimeoutMs: 1500 });
    try {
      const messages = [{ role: 'user' as const, content: 'hi' }];
      assert.equal(await guarded.renderWithTemplate(good, messages), '<user>hi<assistant>');
      let ticks = 0;
      const ticking = setInterval(() => ticks++, 100);
      const firstPid = guarded.pid;
      try {
        await assert.rejects(
          guarded.renderWithTemplate(looping, messages),
          /The chat template of .*looping took more than 1\.5 s to render and was stopped.*relay\.provider\.templateFolder \(CLI: --template-folder\)/,
        );
      } finally {
        clearInterval(ticking);
      }
      // Two ticks of 100 ms in the 1.5 s the template looped: enough to show this process was not blocked, with room for a busy machine.
      assert.ok(ticks >= 2, `this process kept running while the template looped (${ticks} ticks)`);
      assert.equal(await guarded.renderWithTemplate(good, messages), '<user>hi<assistant>', 'the next call starts a new SLM process');
      // A template folder that does not exist says so, with the fix that helps (the settings, not the model picker).
      await assert.rejects(guarded.renderWithTemplate(join(folders, 'missing'), messages), (e: unknown) => {
        assert.match((e as Error).message, /chat template path does not exist/);
        assert.equal((e as { fix?: string }).fix, 'open-settings');
        return true;
      });
      assert.notEqual(guarded.pid, firstPid);
    } finally {
      await guarded.dispose();
      rmSync(folders, { recursive: true, force: true });
    }
  });

  test("thinking crosses the process: Qwen3's template leaves the <think> open with it on, and closes it empty with it off", async () => {
    const messages = [{ role: 'user' as const, content: 'What is 2+3?' }];
    const off = await runtime.renderChat(messages, { addGenerationPrompt: true });
    const on = await runtime.renderChat(messages, { addGenerationPrompt: true, thinking: true });
    assert.ok(off.endsWith('<|im_start|>assistant\n<think>\n\n</think>\n\n'), JSON.stringify(off.slice(-60)));
    assert.ok(on.endsWith('<|im_start|>assistant\n'), JSON.stringify(on.slice(-60)));
  });
});
