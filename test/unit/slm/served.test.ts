/**
 * The served SLM against servers on 127.0.0.1 that speak each wire form, backed by the
 * project's ONNX runtime on generated model folders: greedy relay answers through a server
 * equal the local runtime's token for token (command and confidence mode), the gate's waste
 * is counted, and each failure says what to change.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { collectRelay, type RelayOptions } from '../../../src/core/relay/engine';
import { createServedRuntime, type ServedRuntime } from '../../../src/core/slm/served/servedRuntime';
import type { GeneratedToken, ServedSlmKind, SlmRuntime } from '../../../src/core/slm/types';
import { startServedSlmServer, type ServedSlmServer } from '../../fixtures/servedSlmServers';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { completionsProvider, disposeRuntimes, openAiStream, QUESTION, runtimeFor, scriptedSlm, type ScriptedSlm } from '../relay/realParts';
import type { FakeServer } from '../providers/servers/harness';
import type { LlmProvider } from '../../../src/core/providers/types';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { defaultConfig, type CliConfig } from '../../../src/cli/config';
import { parseModeSpecs } from '../../../src/cli/evalModes';
import { runEval } from '../../../src/cli/commands/evaluate';

const KINDS: ServedSlmKind[] = ['completions-server', 'ollama'];

const COMMAND_TIMELINE = [
  { text: 'First,' },
  { text: '<call>0</call>' },
  { text: ' we add' },
  { text: '<call>3</call>' },
  { text: ' two and three', source: 'external' as const },
  { text: ' to get five.' },
];
/**
 * Ollama takes text only and re-tokenises the whole context: the same tokens come back only
 * where the text reads back as the tokens the model wrote. In COMMAND_TIMELINE it does not
 * (',' then '<' read back as ',<'); with a space before each command it does.
 */
const OLLAMA_COMMAND_TIMELINE = [
  { text: 'First,' },
  { text: ' <call>0</call>' },
  { text: ' we add' },
  { text: ' <call>3</call>' },
  { text: ' two and three', source: 'external' as const },
  { text: ' to get five.' },
];
/** Unsure before ' 5' (top-1 0.3) and at its last word (0.4): the gate hands off twice. */
const CONFIDENCE_TIMELINE = [
  { text: 'The sum is' },
  { text: ' 5', source: 'external' as const, top1: 0.3 },
  { text: ' in total, as' },
  { text: ' expected', source: 'external' as const, top1: 0.4 },
  { text: '.' },
];

let llmServer: FakeServer;
let llm: LlmProvider;
let command: ScriptedSlm;
let ollamaCommand: ScriptedSlm;
let confidence: ScriptedSlm;

before(async () => {
  command = await scriptedSlm(COMMAND_TIMELINE);
  ollamaCommand = await scriptedSlm(OLLAMA_COMMAND_TIMELINE);
  confidence = await scriptedSlm(CONFIDENCE_TIMELINE);
  ({ server: llmServer, provider: llm } = await completionsProvider(command.prompt));
});

after(async () => {
  await llmServer?.close();
  await disposeRuntimes();
});

function relay(slm: SlmRuntime, extra: Partial<RelayOptions>): RelayOptions {
  return { mode: 'command', slm, llm, messages: QUESTION, slmSampling: { temperature: 0 }, llmTemperature: 0, ...extra };
}

/** Serves `local`'s model on a wire-form server and opens it as a served runtime with the same folder. */
async function served(
  kind: ServedSlmKind,
  local: ScriptedSlm,
  options: { logprobs?: boolean } = {},
): Promise<{ runtime: ServedRuntime; server: ServedSlmServer }> {
  // The server decodes with the same (unwrapped) runtime the local path uses.
  const server = await startServedSlmServer(kind, await runtimeFor(local.folder), { logprobs: options.logprobs });
  const runtime = await createServedRuntime({ kind, url: server.url, model: 'relay-slm', folder: local.folder });
  return { runtime, server };
}

for (const kind of KINDS) {
  describe(`served SLM: ${kind}`, () => {
    test('command mode: the same answer, tokens, calls and LLM requests as the local runtime', async () => {
      const slm = kind === 'ollama' ? ollamaCommand : command;
      const { runtime, server } = await served(kind, slm);
      try {
        const llmPieces = () => openAiStream({ pieces: [' two', ' and', ' three'], finishReason: 'length' });
        llmServer.enqueue(llmPieces());
        const local = await collectRelay(relay(slm.runtime, {}));
        const localPrompt = llmServer.lastRequest.body.prompt;
        llmServer.enqueue(llmPieces());
        const remote = await collectRelay(relay(runtime, {}));
        assert.match(local.answer, /^First, +we add +two and three to get five\.$/);
        assert.equal(local.stats.calls, 1);
        assert.equal(remote.answer, local.answer);
        assert.equal(llmServer.lastRequest.body.prompt, localPrompt, 'the LLM continues the same text');
        for (const key of ['slmTokens', 'llmTokens', 'calls', 'commandTokens', 'turns', 'finishReason', 'promptTokens'] as const) {
          assert.equal(remote.stats[key], local.stats[key], key);
        }
        // Three SLM turns, each a request carrying the whole context (the server's prefix cache does the rest).
        assert.equal(server.requests.length, 3);
        if (kind === 'completions-server') {
          assert.ok(Array.isArray(server.requests[0].prompt), 'the context goes as token ids');
          assert.deepEqual(
            server.requests[2].prompt.slice(0, server.requests[1].prompt.length),
            server.requests[1].prompt,
            'each request extends the last one',
          );
        } else {
          assert.equal(server.requests[0].raw, true);
          assert.ok(server.requests[2].prompt.startsWith(server.requests[1].prompt));
        }
      } finally {
        await runtime.dispose();
        await server.close();
      }
    });

    test('confidence mode: the gate refuses where the local one does; the tokens that came after are counted as waste', async () => {
      const { runtime, server } = await served(kind, confidence);
      try {
        const options = { mode: 'confidence' as const, confidence: { threshold: 0.5, spanTokens: 1, maxLlmShare: 1 } };
        llmServer.enqueue(openAiStream({ pieces: [' 5'], finishReason: 'length' }), openAiStream({ pieces: [' expected'], finishReason: 'length' }));
        const local = await collectRelay(relay(confidence.runtime, options));
        llmServer.enqueue(openAiStream({ pieces: [' 5'], finishReason: 'length' }), openAiStream({ pieces: [' expected'], finishReason: 'length' }));
        const remote = await collectRelay(relay(runtime, options));
        assert.equal(local.answer, 'The sum is 5 in total, as expected.');
        assert.equal(remote.answer, local.answer);
        for (const key of ['slmTokens', 'llmTokens', 'calls', 'turns', 'finishReason'] as const) assert.equal(remote.stats[key], local.stats[key], key);
        assert.equal(local.stats.slmDiscardedTokens, undefined, 'the local runtime refuses before writing');
        // Each refusal discards at least the refused token.
        assert.ok((remote.stats.slmDiscardedTokens ?? 0) >= 2, `discarded ${remote.stats.slmDiscardedTokens}`);
      } finally {
        await runtime.dispose();
        await server.close();
      }
    });

    test('a server without log-probabilities: command mode works, the gate says which modes need them', async () => {
      const { runtime, server } = await served(kind, confidence, { logprobs: false });
      try {
        const session = await runtime.createSession();
        await session.prefill(confidence.prompt);
        const free = await session.generate({ maxTokens: 3 });
        assert.equal(free.tokens.length, 3);
        assert.equal(free.text, 'The sum is');
        await assert.rejects(session.generate({ maxTokens: 3, minTop1: 0.5 }), /without log-probabilities; confidence and money-aware modes gate on them/);
      } finally {
        await runtime.dispose();
        await server.close();
      }
    });

    test('a model the server does not serve: the error names a few it serves (cleaned) and the setting; no server at all: the setting to change', async () => {
      // A list as a hostile server could give it: control, bidirectional-override and zero-width characters, endless names
      // (two alike up to the cut: both count), a name twice, many names.
      const listed = [
        'evil\u001b[31mname\u202e',
        'zero\u200bwidth\ufeff',
        'x'.repeat(500),
        `${'x'.repeat(499)}y`,
        'm0',
        ...Array.from({ length: 10 }, (_, i) => `m${i}`),
      ];
      const server = await startServedSlmServer(kind, await runtimeFor(command.folder), { listedModels: listed });
      const runtime = await createServedRuntime({ kind, url: server.url, model: 'no-such-model', folder: command.folder });
      try {
        const session = await runtime.createSession();
        await session.prefill(command.prompt);
        await assert.rejects(session.generate({ maxTokens: 2 }), (error: Error) => {
          assert.match(
            error.message,
            new RegExp(
              `does not serve the model 'no-such-model'; it serves: relay-slm, evil \\[31mname, zerowidth, ${'x'.repeat(79)}…, ${'x'.repeat(79)}…, m0, m1, m2 \\(and 7 more\\)\\. ` +
                `Set relay\\.slm\\.serverModel \\(CLI: --slm-model\\) to one of them\\.`,
            ),
          );
          assert.doesNotMatch(error.message, /[\u001b\u202e\u200b\ufeff]/);
          return true;
        });
      } finally {
        await runtime.dispose();
        await server.close();
      }
      const gone = await createServedRuntime({ kind, url: server.url, model: 'relay-slm', folder: command.folder });
      try {
        const session = await gone.createSession();
        await session.prefill(command.prompt);
        await assert.rejects(
          session.generate({ maxTokens: 2 }),
          /could not be reached \(connection refused\)\. Start the server, or fix relay\.slm\.serverUrl/,
        );
      } finally {
        await gone.dispose();
      }
    });

    if (kind === 'completions-server') {
      test('a server that takes only text as the prompt: sent again as text, and as text from then on', async () => {
        const server = await startServedSlmServer(kind, await runtimeFor(ollamaCommand.folder), { acceptsTokenIds: false });
        const runtime = await createServedRuntime({ kind, url: server.url, model: 'relay-slm', folder: ollamaCommand.folder });
        try {
          llmServer.enqueue(openAiStream({ pieces: [' two', ' and', ' three'], finishReason: 'length' }));
          const { answer } = await collectRelay(relay(runtime, {}));
          assert.match(answer, /^First, +we add +two and three to get five\.$/);
          assert.deepEqual(
            server.requests.map((r) => (Array.isArray(r.prompt) ? 'ids' : 'text')),
            ['ids', 'text', 'text', 'text'],
          );
        } finally {
          await runtime.dispose();
          await server.close();
        }
      });
    }

    test('Stop: an abort ends the generation as cancelled and keeps what came', async () => {
      const { runtime, server } = await served(kind, command);
      try {
        const session = await runtime.createSession();
        await session.prefill(command.prompt);
        const stop = new AbortController();
        const seen: GeneratedToken[] = [];
        const result = await session.generate(
          { maxTokens: 50 },
          (token) => {
            seen.push(token);
            if (seen.length === 2) stop.abort();
          },
          stop.signal,
        );
        assert.equal(result.stopReason, 'cancelled');
        assert.equal(result.tokens.length, 2);
      } finally {
        await runtime.dispose();
        await server.close();
      }
    });
  });
}

test('relay eval on a served SLM: the same answers as on the ONNX folder, and the waste said under the table', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-served-eval-'));
  const server = await startServedSlmServer('completions-server', await runtimeFor(confidence.folder));
  try {
    const data = join(dir, 'q.jsonl');
    writeFileSync(data, `${JSON.stringify({ question: QUESTION[0].content, answer: '5' })}\n`);
    const base = defaultConfig({ RELAY_HOME: dir });
    const onnx: CliConfig = {
      ...base,
      slm: { ...base.slm, folder: confidence.folder },
      provider: { ...base.provider, kind: 'openai-completions', baseUrl: `${llmServer.url}/v1`, model: 'Qwen/Qwen3-8B' },
      confidence: { threshold: 0.5, spanTokens: 1, maxLlmShare: 1 },
      temperature: 0,
      plainPrompt: true,
    };
    const servedConfig: CliConfig = { ...onnx, slm: { ...onnx.slm, kind: 'completions-server', serverUrl: server.url, serverModel: 'relay-slm' } };
    const outputs: string[] = [];
    const answers: string[] = [];
    for (const [name, config] of [
      ['onnx', onnx],
      ['served', servedConfig],
    ] as const) {
      llmServer.enqueue(openAiStream({ pieces: [' 5'], finishReason: 'length' }), openAiStream({ pieces: [' expected'], finishReason: 'length' }));
      let out = '';
      const sink = { write: (text: string) => void (out += text), isTTY: false };
      const code = await runEval(
        data,
        parseModeSpecs('confidence'),
        config,
        { stdout: sink, stderr: { write: () => undefined, isTTY: false } },
        { outPrefix: join(dir, name), signal: new AbortController().signal, fresh: true },
      );
      assert.equal(code, 0);
      outputs.push(out);
      const line = readFileSync(join(dir, `${name}.answers.jsonl`), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l))
        .find((l) => l.type === 'answer');
      answers.push(line.answer);
    }
    // The same command against the server restarted elsewhere resumes (its address does not decide the answers).
    const moved = await startServedSlmServer('completions-server', await runtimeFor(confidence.folder));
    try {
      let out = '';
      const sink = { write: (text: string) => void (out += text), isTTY: false };
      const again = { ...servedConfig, slm: { ...servedConfig.slm, serverUrl: moved.url } };
      assert.equal(
        await runEval(
          data,
          parseModeSpecs('confidence'),
          again,
          { stdout: sink, stderr: { write: () => undefined, isTTY: false } },
          { outPrefix: join(dir, 'served'), signal: new AbortController().signal },
        ),
        0,
      );
      assert.match(out, /1 from earlier runs, 0 new/);
      assert.equal(moved.requests.length, 0);
    } finally {
      await moved.close();
    }
    assert.equal(answers[0], 'The sum is 5 in total, as expected.');
    assert.equal(answers[1], answers[0]);
    assert.doesNotMatch(outputs[0], /Served SLM waste/);
    assert.match(outputs[1], /Served SLM waste: \d+ tokens generated and discarded/);
    assert.match(
      outputs[1],
      /SLM server \(relay-slm\): [\d,]+ of [\d,]+ prompt tokens served from its prefix cache \(\d+\.\d%\) over the 1 requests that ran to their end\./,
    );
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a random-weight model (real logits, not a script): greedy confidence-mode relay through the server equals the local runtime token for token', async () => {
  const folder = await ensureTinyModel();
  const local = await createLocalRuntime(folder, { variant: 'fp32' });
  const server = await startServedSlmServer('completions-server', local);
  const runtime = await createServedRuntime({ kind: 'completions-server', url: server.url, model: 'relay-slm', folder });
  try {
    const question = [{ role: 'user' as const, content: 'Tell me a story about the sea.' }];
    // A threshold in the middle of this model's top-1 probabilities: the gate refuses now and then.
    const probe = await local.createSession();
    await probe.prefill(await local.renderChat(question, { addGenerationPrompt: true }));
    const free = await probe.generate({ maxTokens: 40 });
    await probe.dispose();
    const top1s = free.tokens.map((t) => t.top1).sort((a, b) => a - b);
    // Between two observed values: a top-1 exactly at the threshold would compare on the last bits of two computations.
    const threshold = (top1s[8] + top1s[9]) / 2;
    const options = (slm: SlmRuntime): RelayOptions => ({
      mode: 'confidence',
      slm,
      llm,
      messages: question,
      slmSampling: { temperature: 0 },
      llmTemperature: 0,
      tokenBudget: 48,
      // A cap on the LLM's share, so the small model writes most of the answer between hand-offs.
      confidence: { threshold, spanTokens: 1, maxLlmShare: 0.2 },
    });
    const answers = [];
    for (const slm of [local, runtime]) {
      for (let i = 0; i < 12; i++) llmServer.enqueue(openAiStream({ pieces: [' wave'], finishReason: 'length' }));
      answers.push(await collectRelay(options(slm)));
      llmServer.queue.length = 0;
    }
    const [a, b] = answers;
    assert.ok(a.stats.calls >= 2 && a.stats.slmTokens > a.stats.llmTokens, `the gate refused ${a.stats.calls} times; ${a.stats.slmTokens} SLM tokens`);
    assert.ok((b.stats.slmDiscardedTokens ?? 0) >= a.stats.calls, 'each refusal through the server discards its token');
    assert.equal(b.answer, a.answer);
    for (const key of ['slmTokens', 'llmTokens', 'calls', 'finishReason'] as const) assert.equal(b.stats[key], a.stats[key], key);
  } finally {
    await runtime.dispose();
    await server.close();
    await local.dispose();
  }
});
