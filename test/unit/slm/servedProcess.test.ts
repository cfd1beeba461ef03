// The served SLM inside the SLM child process (how the extension runs it): the same
// tokens as the served runtime in this process, its chat template rendered there within
// the deadline (one that loops is stopped while this process keeps running), and the
// server check with its cancellation. Servers on 127.0.0.1 speak the wire form, backed
// by the project's ONNX runtime.
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ensureScriptedModel } from '../../fixtures/fixtures';
import { startServedSlmServer, type ServedSlmServer } from '../../fixtures/servedSlmServers';
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { createProcessRuntime, SlmProcessError } from '../../../src/core/slm/onnx/processRuntime';
import { createServedRuntime } from '../../../src/core/slm/served/servedRuntime';
import type { GeneratedToken, SlmRuntime } from '../../../src/core/slm/types';
import { SCRIPT } from './script';

let folder: string;
let local: LocalRuntime;
let server: ServedSlmServer;

before(async () => {
  folder = await ensureScriptedModel(SCRIPT);
  local = await createLocalRuntime(folder);
  server = await startServedSlmServer('completions-server', local);
});
after(async () => {
  await server?.close();
  await local?.dispose();
});

/** Greedy tokens of SCRIPT's prompt to the end of sequence, and the text the runtime renders for a question. */
async function decode(runtime: SlmRuntime): Promise<{ ids: number[]; text: string; stopReason: string; rendered: string }> {
  const session = await runtime.createSession();
  try {
    await session.prefill(SCRIPT.prompt);
    const seen: GeneratedToken[] = [];
    const result = await session.generate({ maxTokens: 64 }, (token) => seen.push(token));
    assert.deepEqual(
      seen.map((t) => t.id),
      result.tokens.map((t) => t.id),
      'every token streamed',
    );
    const rendered = await runtime.renderChat([{ role: 'user', content: 'What is 2+2?' }]);
    return { ids: result.tokens.map((t) => t.id), text: result.text, stopReason: result.stopReason, rendered };
  } finally {
    await session.dispose();
  }
}

describe('served SLM in the SLM process', () => {
  test('the same tokens, text and prompt as the served runtime here and the local ONNX runtime; no key or login goes to the server', async () => {
    const served = { kind: 'completions-server' as const, url: server.url, model: 'relay-slm' };
    const inProcess = await createServedRuntime({ ...served, folder });
    const child = await createProcessRuntime(folder, { served });
    try {
      assert.ok(child.pid && child.pid !== process.pid, 'runs in a child process');
      assert.deepEqual(child.info.backend, { kind: 'completions-server', url: server.url, model: 'relay-slm' });
      const viaChild = await decode(child);
      const here = await decode(inProcess);
      const onnx = await decode(local);
      assert.deepEqual(viaChild, here);
      assert.deepEqual(viaChild.ids, onnx.ids, 'greedy: token for token as the ONNX runtime');
      assert.equal(viaChild.rendered, onnx.rendered);
      assert.equal(viaChild.stopReason, 'eos');
      assert.ok(viaChild.ids.length > 5);
      for (const headers of server.headers) {
        assert.equal(headers.authorization, undefined);
        assert.equal(headers.cookie, undefined);
      }
    } finally {
      await child.dispose();
      await inProcess.dispose();
    }
  });

  test('checkServer: latency, log-probabilities and exact tokens as the server gives them; without log-probabilities it says so', async () => {
    const child = await createProcessRuntime(folder, { served: { kind: 'completions-server', url: server.url, model: 'relay-slm' } });
    const bare = await startServedSlmServer('completions-server', local, { logprobs: false });
    const childOfBare = await createProcessRuntime(folder, { served: { kind: 'completions-server', url: bare.url, model: 'relay-slm' } });
    try {
      const check = await child.checkServer();
      assert.equal(check.logprobs, true);
      assert.equal(check.exactTokens, true);
      assert.ok(check.tokens > 0 && check.firstTokenMs !== undefined && check.totalMs >= check.firstTokenMs);
      assert.equal(
        check.cachedPromptTokens !== undefined && check.cachedPromptTokens > 0,
        true,
        'the second request extends the first: the prefix cache reports it',
      );
      const without = await childOfBare.checkServer();
      assert.equal(without.logprobs, false);
      assert.ok(without.tokens > 0);
    } finally {
      await child.dispose();
      await childOfBare.dispose();
      await bare.close();
    }
  });

  test('checkServer: a server that is down names the setting to fix; a cancelled check fails instead of reporting half a check', async () => {
    const down = await startServedSlmServer('completions-server', local);
    const url = down.url;
    await down.close();
    const child = await createProcessRuntime(folder, { served: { kind: 'completions-server', url, model: 'relay-slm' } });
    try {
      await assert.rejects(child.checkServer(), /could not be reached.*Start the server, or fix relay\.slm\.serverUrl/);
    } finally {
      await child.dispose();
    }
    const live = await createProcessRuntime(folder, { served: { kind: 'completions-server', url: server.url, model: 'relay-slm' } });
    try {
      const stop = new AbortController();
      stop.abort();
      await assert.rejects(live.checkServer(stop.signal), /check of the small model's server was cancelled/);
    } finally {
      await live.dispose();
    }
  });

  test("the served model's own chat template renders in the SLM process: one that loops is stopped at the deadline while this process runs on", async () => {
    const looping = mkdtempSync(join(tmpdir(), 'relay-served-looping-'));
    try {
      for (const file of ['tokenizer.json', 'config.json']) copyFileSync(join(folder, file), join(looping, file));
      writeFileSync(
        join(looping, 'tokenizer_config.json'),
        JSON.stringify({ chat_template: '{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}' }),
      );
      const child = await createProcessRuntime(looping, { served: { kind: 'completions-server', url: server.url, model: 'relay-slm' }, renderTimeoutMs: 1500 });
      let ticks = 0;
      const ticker = setInterval(() => ticks++, 50);
      try {
        await assert.rejects(child.renderChat([{ role: 'user', content: 'hi' }]), (error: Error) => {
          assert.ok(error instanceof SlmProcessError);
          assert.match(error.message, /The small model's chat template took more than 1\.5 s to render and was stopped/);
          return true;
        });
        await assert.rejects(child.checkServer(), /took more than 1\.5 s to render/);
      } finally {
        clearInterval(ticker);
        await child.dispose();
      }
      assert.ok(ticks >= 5, `this process kept running while the template looped (${ticks} ticks)`);
    } finally {
      rmSync(looping, { recursive: true, force: true });
    }
  });
});
