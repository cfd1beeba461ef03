// RelayService on real parts: the scripted ONNX SLM (test/e2e/relayScript.ts) in the real
// SLM child process (dist/slmWorker.js, bundled here with esbuild into an extension
// folder of its own), the relay engine, the openai-completions provider over HTTP to
// servers on 127.0.0.1, the totals file in globalStorage, the key store on SecretStorage
// and globalState. Only the VS Code API is a stand-in (vscodeStub.ts): settings,
// the modal question, the ExtensionContext.
import assert from 'node:assert/strict';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  answerQuestions,
  answerWarnings,
  commandsRun,
  createExtensionContext,
  env,
  progressShown,
  questionsAsked,
  resetSettings,
  setSettings,
  useVscodeStub,
  warningsShown,
  type StubExtensionContext,
} from './vscodeStub';
import { bundleSlmWorker, slmWorkerPids } from './slmWorkerBundle';
import { ensureTinyModel } from '../../fixtures/fixtures';
useVscodeStub();
import type { AnswerStats, RelayEvent } from '../../../src/core/relay/events';
import type { ChatMessage } from '../../../src/core/slm/types';
import { renderSentDocument } from '../../../src/extension/sentRequests';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { fieldString, readFields } from '../../../src/core/slm/onnx/protobufWire';
import { buildRelayScript, FIRST_QUESTION, LLM_PIECES, LLM_TEXT, type RelayScript } from '../../e2e/relayScript';
import { startFakeServer, type FakeServer } from '../providers/servers/harness';
import { openAiErrors, openAiStream, requireBearer } from '../providers/servers/openai';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayService } = require('../../../src/extension/relayService') as typeof import('../../../src/extension/relayService');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { fixCommand } = require('../../../src/extension/fixCommands') as typeof import('../../../src/extension/fixCommands');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { testProvider } = require('../../../src/extension/providerTestCommand') as typeof import('../../../src/extension/providerTestCommand');
type Service = InstanceType<typeof RelayService>;

const REPO = join(__dirname, '..', '..', '..');
/** The extension folder of these tests: dist/slmWorker.js and nothing else (no embedded demo model). */
const EXTENSION = join(REPO, '.cache', 'test-relay-service');
const LLM_MODEL = 'relay-unit-llm';
const KIND = 'openai-completions';
const QUESTION: ChatMessage[] = [{ role: 'user', content: FIRST_QUESTION }];
/** Input tokens the server reports per call; the cost is priced from them and relay.prices.*. */
const PROMPT_TOKENS = 1000;
const PRICES = { input: 3, output: 15 };

/** The LLM server's behaviours: answer with the scripted words, or send the first and stall. */
const answering = openAiStream({ pieces: LLM_PIECES, finishReason: 'length', usage: { prompt_tokens: PROMPT_TOKENS, completion_tokens: LLM_PIECES.length } });
const stalling = openAiStream({ pieces: LLM_PIECES, stallAfterFrames: 1 });

let script: RelayScript;

before(async () => {
  await bundleSlmWorker(EXTENSION);
  script = await buildRelayScript();
});

/** The settings of a working relay: the scripted SLM in command mode, the LLM at `baseUrl`, prices set. */
function relaySettings(baseUrl: string): Record<string, unknown> {
  return {
    'relay.slm.modelFolder': script.folder,
    'relay.mode': 'command',
    'relay.temperature': 0,
    'relay.provider.kind': KIND,
    'relay.provider.baseUrl': baseUrl,
    'relay.provider.model': LLM_MODEL,
    'relay.prices.inputPerMTok': PRICES.input,
    'relay.prices.outputPerMTok': PRICES.output,
    // The scripted call is most of this short answer's LLM-only cost: the default ceiling (0.5x) would skip it.
    'relay.maxCostRatio': null,
  };
}

interface Harness {
  service: Service;
  ext: StubExtensionContext;
  busy: boolean[];
  busyEvents: boolean[];
  answered: AnswerStats[];
  disposed: boolean;
}

function newService(): Harness {
  const ext = createExtensionContext(EXTENSION);
  const busy: boolean[] = [];
  const answered: AnswerStats[] = [];
  const service = new RelayService(ext.context, { onBusy: (b) => busy.push(b), onAnswered: (stats) => answered.push(stats) });
  const busyEvents: boolean[] = [];
  service.onDidChangeBusy((b) => busyEvents.push(b));
  return { service, ext, busy, busyEvents, answered, disposed: false };
}

interface SinkRecord {
  events: RelayEvent[];
  models: string[];
  destinations: (string | undefined)[];
}

function recordingSink(onEvent?: (event: RelayEvent) => void): SinkRecord & { onEvent(event: RelayEvent, model: string, destination?: string): void } {
  const record: SinkRecord = { events: [], models: [], destinations: [] };
  return {
    ...record,
    onEvent(event, model, destination) {
      record.events.push(event);
      record.models.push(model);
      record.destinations.push(destination);
      onEvent?.(event);
    },
  };
}

/** How long an SLM process may take to exit after dispose() before it counts as left running (it takes well under a second). */
const EXIT_GRACE_MS = 15_000;

/**
 * Disposes the service and waits until the SLM processes of this test process have exited.
 * One still running after EXIT_GRACE_MS fails the caller; it is then ended by its pid, so
 * the tests after it and the file's end are not held up.
 */
async function disposeAndWait(harness: Harness | undefined): Promise<void> {
  if (!harness || harness.disposed) return;
  harness.disposed = true;
  harness.service.dispose();
  harness.ext.dispose();
  await noSlmProcessLeft();
}

/** Waits until the SLM processes of this test process have exited; fails (and ends them) when one is still running after EXIT_GRACE_MS. */
async function noSlmProcessLeft(): Promise<void> {
  if (process.platform !== 'linux') return;
  const deadline = Date.now() + EXIT_GRACE_MS;
  while (slmWorkerPids().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  const left = slmWorkerPids();
  for (const pid of left) process.kill(pid, 'SIGKILL');
  assert.deepEqual(left, [], 'dispose() stops the SLM process');
}

describe('answer()', () => {
  let server: FakeServer;
  let harness: Harness;

  before(async () => {
    server = await startFakeServer(answering);
    harness = newService();
  });
  after(async () => {
    await server?.close();
    await disposeAndWait(harness);
  });

  test("writes the relay answer: the sink gets spans and events, the outcome has the answer and priced stats, Show What Was Sent records the request (no base URL's user:password), totals record it", async () => {
    const { service } = harness;
    // A base URL may carry user:password (a proxy's login): it must not show in any record.
    const withLogin = server.url.replace('http://', 'http://relay-user:relay-pass-7c1@');
    resetSettings(relaySettings(`${withLogin}/v1`));
    const before = server.requests.length;
    const sink = recordingSink();
    const outcome = await service.answer(QUESTION, sink);

    assert.equal(outcome.error, undefined, outcome.error?.message);
    assert.equal(outcome.answer, script.firstAnswer);

    // The sink: every span in order (the LLM's words marked as such), the call, the end.
    const spans = sink.events.filter((e): e is Extract<RelayEvent, { type: 'span' }> => e.type === 'span');
    assert.equal(spans.map((s) => s.text).join(''), script.firstAnswer);
    assert.equal(
      spans
        .filter((s) => s.source === 'llm')
        .map((s) => s.text)
        .join(''),
      LLM_TEXT,
    );
    assert.equal(
      spans
        .filter((s) => s.source === 'slm')
        .map((s) => s.text)
        .join(''),
      script.firstAnswer.replace(LLM_TEXT, ''),
    );
    const callStart = sink.events.find((e) => e.type === 'call-start');
    assert.ok(callStart && callStart.type === 'call-start');
    assert.equal(callStart.requestedTokens, LLM_PIECES.length);
    assert.ok(sink.events.some((e) => e.type === 'call-end'));
    assert.equal(sink.events.at(-1)?.type, 'done');
    assert.deepEqual(new Set(sink.models), new Set([LLM_MODEL]), 'every event names the LLM model');
    assert.deepEqual(new Set(sink.destinations), new Set([server.url]), "the destination is the server's origin, without the login");

    // The stats: tokens of each model, one call, the cost from relay.prices.* and the usage the server reported.
    const stats = outcome.stats;
    assert.ok(stats);
    assert.equal(stats.mode, 'command');
    assert.equal(stats.slmTokens, script.firstAnswerSlmTokens);
    assert.equal(stats.llmTokens, script.firstAnswerLlmTokens);
    assert.equal(stats.calls, 1);
    assert.equal(stats.llmUsage.inputTokens, PROMPT_TOKENS);
    assert.equal(stats.llmUsage.outputTokens, LLM_PIECES.length);
    const cost = (PROMPT_TOKENS * PRICES.input + LLM_PIECES.length * PRICES.output) / 1e6;
    assert.ok(stats.costUsd !== null && Math.abs(stats.costUsd - cost) < 1e-12, `cost ${stats.costUsd}, expected ${cost}`);
    assert.deepEqual(harness.answered, [stats], 'onAnswered got the stats');
    assert.deepEqual(harness.busy, [true, false]);
    assert.deepEqual(harness.busyEvents, [true, false], 'onDidChangeBusy fired at the start and the end');
    assert.equal(service.busy, false);

    // The server got one call continuing the SLM's prompt and answer so far.
    assert.equal(server.requests.length - before, 1);
    const received = server.lastRequest;
    assert.equal(received.path, '/v1/completions');
    assert.equal(received.body.model, LLM_MODEL);
    assert.equal(received.body.max_tokens, LLM_PIECES.length);
    assert.ok(String(received.body.prompt).startsWith(`<|im_start|>user\n${FIRST_QUESTION}<|im_end|>`));
    assert.ok(String(received.body.prompt).endsWith(script.textBeforeCall));

    // "Show What Was Sent": the request as it went, under the provider's origin; no login anywhere.
    const sent = service.sentRequests.last;
    assert.ok(sent);
    assert.equal(sent.finished, true);
    assert.equal(sent.mode, 'command');
    assert.equal(sent.local, false);
    assert.equal(sent.provider, `${KIND} ${LLM_MODEL} at ${server.url}`);
    assert.deepEqual(sent.messages, QUESTION);
    assert.equal(sent.calls.length, 1);
    assert.equal(sent.calls[0].partialAnswer, script.textBeforeCall);
    assert.equal(sent.calls[0].requests.length, 1);
    assert.equal(sent.calls[0].requests[0].url, `${server.url}/v1/completions`);
    assert.deepEqual(sent.calls[0].requests[0].body, received.body, 'the recorded body is the one the server received');
    assert.deepEqual(sent.unattributed, []);
    const record = JSON.stringify(sent);
    assert.ok(!record.includes('relay-pass-7c1') && !record.includes('relay-user'), 'the login is not in the record');

    // The running totals in globalStorage hold this answer under its model.
    assert.ok(existsSync(join(harness.ext.globalStorage, 'totals.json')));
    const totals = await service.totals.summary({ modelKey: `${KIND}:${LLM_MODEL}` });
    assert.equal(totals.answers, 1);
    assert.equal(totals.calls, 1);
    assert.equal(totals.slmTokens, script.firstAnswerSlmTokens);
    assert.equal(totals.llmTokens, script.firstAnswerLlmTokens);
    assert.equal(totals.llmInputTokens, PROMPT_TOKENS);
    assert.ok(Math.abs(totals.costUsd - cost) < 1e-12);
    assert.equal(totals.unpricedAnswers, 0);

    // The token ratios the call taught are kept in globalState under the model pair (a path and a model name, no login).
    const ratios = harness.ext.globalState.get<Record<string, { calls: number; reportedIn: number }>>('relay.tokenRatios');
    assert.deepEqual(Object.keys(ratios ?? {}), [`${script.folder}|${KIND}:${LLM_MODEL}`]);
    assert.equal(Object.values(ratios ?? {})[0].calls, 1);
    assert.equal(Object.values(ratios ?? {})[0].reportedIn, PROMPT_TOKENS);
    assert.ok(!JSON.stringify(ratios).includes('relay-pass-7c1'));
  });

  test('an answer whose totals cannot be written (the file stays locked) is kept, and a warning says it was not added and how to fix it', async () => {
    const { service } = harness;
    resetSettings(relaySettings(`${server.url}/v1`));
    const lock = join(harness.ext.globalStorage, 'totals.json.lock');
    writeFileSync(lock, `${process.pid} another-writer`);
    // Held by a live writer: touched as it would be, so it never goes stale (a stale one is taken over).
    const holding = setInterval(() => utimesSync(lock, new Date(), new Date()), 1000);
    const warned = warningsShown.length;
    try {
      const outcome = await service.answer(QUESTION, recordingSink());
      assert.equal(outcome.error, undefined, outcome.error?.message);
      assert.equal(outcome.answer, script.firstAnswer, 'the answer stands');
      const warnings = warningsShown.slice(warned).map((w) => w.message);
      assert.equal(warnings.length, 1, warnings.join('\n'));
      assert.match(
        warnings[0],
        new RegExp(
          `^Relay: this answer was not added to the savings totals: The relay totals file .* stayed locked for \\d+ ms by process ${process.pid}, another Relay .*` +
            'If that process hangs, end it; if no other Relay is running, delete .*totals\\.json\\.lock\\.$',
        ),
      );
    } finally {
      clearInterval(holding);
      rmSync(lock, { force: true });
    }
  });

  test('"Relay: Test Provider" while an answer runs is refused: it would load another SLM for its template and take the running answer\'s away', async () => {
    const { service } = harness;
    resetSettings(relaySettings(`${server.url}/v1`));
    let tested: ReturnType<Service['testProvider']> | undefined;
    const sink = recordingSink((event) => {
      if (event.type === 'span' && event.source === 'llm' && tested === undefined) {
        // A setting the SLM is loaded with changed meanwhile: the test would load it anew.
        setSettings({ 'relay.slm.kvCacheBudgetMb': 64 });
        tested = service.testProvider(() => undefined);
      }
    });
    const outcome = await service.answer(QUESTION, sink);
    assert.ok(tested, 'the LLM span arrived');
    assert.deepEqual(await tested, { ok: false, summary: 'FAILED: Relay is writing an answer: test the provider once it is done, or stop it first.' });
    assert.equal(outcome.error, undefined, 'the running answer kept its SLM');
    assert.equal(outcome.stats?.calls, 1);
  });

  test('a chat longer than the small model reads leaves out its oldest exchanges and says so, instead of failing as prompt_too_long', async () => {
    const { service } = harness;
    // The tiny generated model reads 4,096 positions; local only: the small model alone answers.
    resetSettings({ ...relaySettings(`${server.url}/v1`), 'relay.slm.modelFolder': await ensureTinyModel(), 'relay.localOnly': true, 'relay.tokenBudget': 16 });
    const chat: ChatMessage[] = [];
    for (let i = 0; i < 60; i++)
      chat.push(
        { role: 'user', content: `question ${i}: ${'alpha beta gamma '.repeat(12)}` },
        { role: 'assistant', content: `answer ${i}: ${'delta epsilon '.repeat(15)}` },
      );
    chat.push({ role: 'user', content: 'And the last question?' });
    const asked = questionsAsked.length;
    const outcome = await service.answer(chat, recordingSink());
    assert.equal(outcome.error, undefined, outcome.error?.message);
    assert.ok((outcome.stats?.promptTokens ?? Infinity) < 4096, `${outcome.stats?.promptTokens} prompt tokens`);
    const notice = questionsAsked.slice(asked).find((question) => question.api === 'showInformationMessage');
    assert.match(
      notice?.text ?? '',
      /^Relay: this chat is longer than the small model reads \(4,096 tokens with the answer\): its first \d+ messages were left out of this answer\. New chat starts afresh\.$/,
    );
  });

  test('a chat whose new question alone is longer than the small model reads is refused with the sizes, without a notice that history was left out', async () => {
    const { service } = harness;
    resetSettings({ ...relaySettings(`${server.url}/v1`), 'relay.slm.modelFolder': await ensureTinyModel(), 'relay.localOnly': true, 'relay.tokenBudget': 16 });
    const chat: ChatMessage[] = [
      { role: 'user', content: 'A first question?' },
      { role: 'assistant', content: 'A first answer.' },
      { role: 'user', content: `The last question: ${'alpha beta gamma '.repeat(1500)}` },
    ];
    const asked = questionsAsked.length;
    const outcome = await service.answer(chat, recordingSink());
    assert.match(outcome.error?.message ?? '', /4,096/, 'refused with the window');
    assert.deepEqual(
      questionsAsked.slice(asked).filter((question) => /left out of this answer/.test(question.text ?? '')),
      [],
      'no history was the cause: nothing said about it',
    );
  });

  test('a second answer while one runs is refused with a clear message; stop() ends the running one and keeps the partial answer', async () => {
    const { service } = harness;
    resetSettings(relaySettings(`${server.url}/v1`));
    server.enqueue(stalling);
    const before = server.requests.length;
    let refused: Promise<Awaited<ReturnType<Service['answer']>>> | undefined;
    let stopped: boolean | undefined;
    let busyWhileWriting: boolean | undefined;
    // The LLM sent its first word and stalls: ask again, then stop.
    const sink = recordingSink((event) => {
      if (event.type === 'span' && event.source === 'llm' && refused === undefined) {
        busyWhileWriting = service.busy;
        refused = service.answer([{ role: 'user', content: 'Another question' }], recordingSink());
        stopped = service.stop();
      }
    });
    const outcome = await service.answer(QUESTION, sink);

    assert.ok(refused, 'the LLM span arrived');
    assert.equal(busyWhileWriting, true);
    const second = await refused;
    assert.equal(second.answer, '');
    assert.equal(second.stats, undefined);
    assert.match(second.error?.message ?? '', /already writing an answer\. Stop it first \("Relay: Stop"\)/);
    assert.equal(stopped, true, 'stop() had an answer to stop');

    assert.equal(outcome.error, undefined, outcome.error?.message);
    assert.equal(outcome.answer, script.textBeforeCall + LLM_PIECES[0], 'the partial answer is kept: the SLM text and the LLM word that arrived');
    assert.equal(outcome.stats?.finishReason, 'cancelled');
    assert.equal(outcome.stats?.calls, 1);
    assert.equal(server.requests.length - before, 1, 'the refused answer sent nothing');
    assert.equal(service.busy, false);
    assert.equal(service.stop(), false, 'nothing left to stop');
    assert.equal(service.sentRequests.last?.messages[0].content, FIRST_QUESTION, 'the refused answer did not replace the record');
  });

  test("after a restart the first answer's LLM-alone estimate is counted with the ratios the last session learned, not in the SLM's tokens", async () => {
    resetSettings(relaySettings(`${server.url}/v1`));
    const learned = harness.ext.globalState.get<Record<string, { calls: number }>>('relay.tokenRatios') ?? {};
    const calls = Object.values(learned)[0]?.calls ?? 0;
    assert.ok(calls >= 1, 'the first test taught the ratios');
    const fresh = newService();
    const restarted = newService();
    try {
      for (const [key, value] of harness.ext.globalState.values) restarted.ext.globalState.values.set(key, value);
      const first = await fresh.service.answer(QUESTION, recordingSink());
      const again = await restarted.service.answer(QUESTION, recordingSink());
      assert.equal(first.error, undefined, first.error?.message);
      assert.equal(again.error, undefined, again.error?.message);
      assert.match(first.stats?.llmOnlyEstimateNote ?? '', /the ratios its call reported/, 'a new install: only its own call');
      assert.match(again.stats?.llmOnlyEstimateNote ?? '', new RegExp(`the ratios its ${calls + 1} calls reported`), 'the kept calls and its own');
    } finally {
      // The suite's after() waits for every SLM process to exit, these two included.
      for (const h of [fresh, restarted]) {
        h.disposed = true;
        h.service.dispose();
        h.ext.dispose();
      }
    }
  });
});

const FOLLOW_UP = 'And why is that so?';

describe('a chat turn read ahead, and the first draft that loads the SLM', () => {
  let server: FakeServer;
  let harness: Harness | undefined;

  before(async () => {
    server = await startFakeServer(answering);
  });
  after(async () => {
    await server?.close();
    await disposeAndWait(harness);
  });

  /**
   * A chat of two turns on a new service (a new SLM process: no caches kept by earlier tests);
   * the follow-up's stats. `draft`: the follow-up as far as it was written before Send.
   */
  async function chat(readAhead: boolean, draft?: string): Promise<AnswerStats> {
    harness = newService();
    try {
      resetSettings(relaySettings(`${server.url}/v1`));
      const first = await harness.service.answer(QUESTION, recordingSink(), undefined, { readAhead });
      assert.equal(first.error, undefined, first.error?.message);
      const history: ChatMessage[] = [...QUESTION, { role: 'assistant', content: first.answer }];
      if (draft !== undefined) harness.service.readAheadDraft([...history, { role: 'user', content: draft }]);
      const second = await harness.service.answer([...history, { role: 'user', content: FOLLOW_UP }], recordingSink());
      assert.equal(second.error, undefined, second.error?.message);
      assert.ok(second.stats);
      return second.stats;
    } finally {
      await disposeAndWait(harness);
    }
  }

  test('a draft read while the user writes: sent as it stands, Send computes nothing; written on, only from where it changed', async () => {
    const ahead = await chat(true);
    const drafted = await chat(true, FOLLOW_UP.slice(0, FOLLOW_UP.indexOf(' so')));
    const whole = await chat(true, FOLLOW_UP);
    const reusedAhead = ahead.reusedPromptTokens ?? 0;
    const reusedDrafted = drafted.reusedPromptTokens ?? 0;
    // 'And why is that' read ahead: at least three more tokens of the prompt (words) were not computed at Send.
    assert.ok(reusedDrafted >= reusedAhead + 3, `reused ${reusedDrafted} tokens with the draft read, ${reusedAhead} with the follow-up's start only`);
    assert.ok(reusedDrafted < (drafted.promptTokens ?? 0), 'the last word and the generation prompt computed at Send');
    // The user paused after the last word and sent: the whole prompt was read, with the logits after it.
    assert.equal(whole.reusedPromptTokens, whole.promptTokens, `${whole.reusedPromptTokens} of ${whole.promptTokens} prompt tokens reused`);
  });

  test("the follow-up reuses the SLM's cache up to its own message (without reading ahead: up to the previous answer, which Qwen3's template renders otherwise)", async () => {
    const without = await chat(false);
    const ahead = await chat(true);
    const reusedWithout = without.reusedPromptTokens ?? 0;
    const reusedAhead = ahead.reusedPromptTokens ?? 0;
    // The previous answer (its SLM and LLM tokens) is not computed again, nor what follows it up to the new message.
    assert.ok(
      reusedAhead >= reusedWithout + script.firstAnswerSlmTokens,
      `reused ${reusedAhead} tokens with reading ahead, ${reusedWithout} without; the first answer is ${script.firstAnswerSlmTokens} SLM tokens`,
    );
  });

  // The chat's first draft of a session loads the SLM.
  /** A new service (no SLM loaded), the relay set up; disposed (its SLM process gone) after `body`. */
  async function withService(body: (h: Harness) => Promise<void>): Promise<void> {
    harness = newService();
    resetSettings(relaySettings(`${server.url}/v1`));
    try {
      await body(harness);
    } finally {
      await disposeAndWait(harness);
    }
  }

  test('a draft before any answer loads the SLM and is read once it is loaded: Send computes nothing', () =>
    withService(async (h) => {
      await h.service.readAheadDraft(QUESTION);
      const outcome = await h.service.answer(QUESTION, recordingSink());
      assert.equal(outcome.error, undefined, outcome.error?.message);
      const prompt = outcome.stats?.promptTokens ?? 0;
      assert.ok(prompt > 0);
      assert.equal(outcome.stats?.reusedPromptTokens, prompt, 'the whole prompt was read while the user paused');
    }));

  test('Send while that load is under way waits for it: one SLM process, and no draft read into a running answer', () =>
    withService(async (h) => {
      const drafting = h.service.readAheadDraft(QUESTION);
      const outcome = await h.service.answer(QUESTION, recordingSink());
      await drafting;
      assert.equal(outcome.error, undefined, outcome.error?.message);
      assert.equal(outcome.stats?.reusedPromptTokens ?? 0, 0, 'nothing was read before Send');
      if (process.platform === 'linux') assert.equal(slmWorkerPids().length, 1, 'one SLM process');
    }));

  test(
    'relay.slm.loadAtStartup: preload() loads the SLM before any answer, and the first answer uses that process; off, it loads nothing',
    { skip: process.platform !== 'linux' && 'reads /proc' },
    () =>
      withService(async (h) => {
        await h.service.preload();
        assert.deepEqual(slmWorkerPids(), [], 'off by default: no process');
        setSettings({ 'relay.slm.loadAtStartup': true });
        await h.service.preload();
        const loaded = slmWorkerPids();
        assert.equal(loaded.length, 1, 'loaded before any answer');
        const outcome = await h.service.answer(QUESTION, recordingSink());
        assert.equal(outcome.error, undefined, outcome.error?.message);
        assert.deepEqual(slmWorkerPids(), loaded, 'the answer used it: no second load');
      }),
  );

  test('closed while a draft loads the SLM: its process does not outlive the service', { skip: process.platform !== 'linux' && 'reads /proc' }, () =>
    withService(async (h) => {
      const drafting = h.service.readAheadDraft(QUESTION);
      await new Promise((resolve) => setTimeout(resolve, 50));
      h.disposed = true;
      h.service.dispose();
      h.ext.dispose();
      await drafting;
      await noSlmProcessLeft();
    }),
  );
});

/**
 * A copy of the scripted SLM whose cache appends put the new rows first: its predictions are
 * the same (they depend on the position only), but no graph rewrite finds the append, so it
 * runs on the whole-cache path and keeps no caches, as packed-QKV or partial-rotary exports do.
 */
function wholeCacheCopy(folder: string, into: string): void {
  cpSync(folder, into, { recursive: true });
  const file = join(into, 'onnx', 'model.onnx');
  const bytes = readFileSync(file);
  const graph = [...readFields(bytes, 0, bytes.length)].find((f) => f.field === 7); // ModelProto.graph
  assert.ok(graph, 'the scripted model has a graph');
  let swapped = 0;
  for (const node of readFields(bytes, graph.valueStart, graph.end)) {
    if (node.field !== 1) continue; // GraphProto.node
    const fields = [...readFields(bytes, node.valueStart, node.end)];
    if (!fields.some((f) => f.field === 2 && fieldString(bytes, f).startsWith('present.'))) continue; // NodeProto.output
    const [past, fresh] = fields.filter((f) => f.field === 1); // NodeProto.input, one after the other: swapped in place
    assert.equal(past.end, fresh.start);
    Buffer.concat([bytes.subarray(fresh.start, fresh.end), bytes.subarray(past.start, past.end)]).copy(bytes, past.start);
    swapped++;
  }
  assert.ok(swapped > 0, 'the cache appends were found');
  writeFileSync(file, bytes);
}

describe('an SLM that keeps no KV caches (the whole-cache path) is not read ahead', () => {
  let server: FakeServer;
  let wholeCache: string;

  before(async () => {
    server = await startFakeServer(answering);
    wholeCache = join(mkdtempSync(join(tmpdir(), 'relay-whole-cache-')), 'scripted');
    wholeCacheCopy(script.folder, wholeCache);
    const loaded = await createLocalRuntime(wholeCache);
    try {
      assert.equal(loaded.kvOutputs.mode, 'whole-cache', loaded.kvOutputs.reason);
    } finally {
      await loaded.dispose();
    }
  });
  after(async () => {
    await server?.close();
    if (wholeCache) rmSync(dirname(wholeCache), { recursive: true, force: true });
  });

  /** Longer than a prefill step (512 tokens): its reading reports progress, read ahead or at Send. */
  const LONG_QUESTION = `${FIRST_QUESTION} ${'Show each step. '.repeat(200)}`;

  /** A chat of two turns, the first drafted before Send, each answer read ahead after; per answer, its stats and the prompt reading it reported. */
  async function chat(folder: string) {
    const harness = newService();
    try {
      resetSettings({ ...relaySettings(`${server.url}/v1`), 'relay.slm.modelFolder': folder });
      const first: ChatMessage[] = [{ role: 'user', content: LONG_QUESTION }];
      await harness.service.readAheadDraft(first);
      const turns = [];
      let messages = first;
      for (const next of [FOLLOW_UP, undefined]) {
        const sink = recordingSink();
        const outcome = await harness.service.answer(messages, sink, undefined, { readAhead: true });
        assert.equal(outcome.error, undefined, outcome.error?.message);
        assert.ok(outcome.stats);
        const reading = sink.events.filter((e): e is Extract<RelayEvent, { type: 'prompt-reading' }> => e.type === 'prompt-reading');
        turns.push({ stats: outcome.stats, reading });
        if (next !== undefined) messages = [...messages, { role: 'assistant', content: outcome.answer }, { role: 'user', content: next }];
      }
      return turns;
    } finally {
      await disposeAndWait(harness);
    }
  }

  test('neither the draft nor the follow-up: each answer waits for no other reading and reads its prompt itself; a model that keeps caches is read ahead', async () => {
    for (const [i, { stats, reading }] of (await chat(wholeCache)).entries()) {
      const prompt = stats.promptTokens ?? 0;
      assert.equal(stats.reusedPromptTokens ?? 0, 0, `answer ${i + 1}`);
      // Only the answer's own reading, from 0 to its whole prompt: a read-ahead's would come first (Send waiting for it).
      assert.ok(
        reading.length >= 2 &&
          reading[0].done === 0 &&
          reading.every((e, j) => e.total === prompt && e.reusedTokens === 0 && (j === 0 || e.done > reading[j - 1].done)),
        `answer ${i + 1} (${prompt} prompt tokens) heard ${JSON.stringify(reading)}`,
      );
      assert.equal(reading.at(-1)?.done, prompt);
    }
    const [drafted, followUp] = await chat(script.folder);
    assert.equal(drafted.stats.reusedPromptTokens, drafted.stats.promptTokens, 'the draft was read before Send');
    assert.ok((followUp.stats.reusedPromptTokens ?? 0) >= (drafted.stats.promptTokens ?? 0), 'the follow-up starts after the whole first prompt');
  });
});

describe('connections to the LLM', () => {
  test("every answer's calls go over one kept-alive connection, which the service closes when it is disposed (a server with no idle timeout never would)", async () => {
    const server = (await startFakeServer(answering)).keepIdleConnections();
    const harness = newService();
    try {
      resetSettings(relaySettings(`${server.url}/v1`));
      for (let i = 0; i < 3; i++) {
        const outcome = await harness.service.answer(QUESTION, recordingSink());
        assert.equal(outcome.error, undefined, outcome.error?.message);
      }
      assert.ok(server.requests.length >= 3, 'each answer called the LLM');
      assert.equal(server.connectionsOpened, 1, 'one connection, reused by every answer');
      await disposeAndWait(harness);
      // Bounded: the client's close reaches the server at once; the loop only lets it arrive.
      for (let i = 0; i < 100 && server.openConnections > 0; i++) await new Promise((resolve) => setTimeout(resolve, 20));
      assert.equal(server.openConnections, 0, 'dispose() closed it');
    } finally {
      await disposeAndWait(harness);
      await server.close();
    }
  });
});

describe('setupWarning()', () => {
  let harness: Harness;
  before(() => {
    harness = newService();
  });
  after(async () => {
    await disposeAndWait(harness);
  });

  test('no small model, no LLM model, a hosted URL without a key for its origin: each named; local only or a key: no warning', async () => {
    const { service } = harness;
    const hosted = { ...relaySettings('https://api.openai.com/v1') };

    resetSettings({ ...hosted, 'relay.slm.modelFolder': '' });
    assert.match((await service.setupWarning()) ?? '', /^No small model is set: run "Relay: Select Model"\.$/);

    resetSettings({ ...hosted, 'relay.provider.model': '' });
    assert.equal(await service.setupWarning(), 'No LLM model is set: set relay.provider.model in Settings (or turn on relay.localOnly).');

    resetSettings(hosted);
    assert.equal(await service.setupWarning(), `No API key for ${KIND} at https://api.openai.com: run "Relay: Set API Key".`);

    // Local only needs no LLM at all: no model, no key.
    resetSettings({ ...hosted, 'relay.provider.model': '', 'relay.localOnly': true });
    assert.equal(await service.setupWarning(), undefined);

    // A key stored for that origin is what was missing.
    resetSettings(hosted);
    await service.keys.store(KIND, 'https://api.openai.com', 'sk-relay-unit-hosted-0000');
    assert.equal(await service.setupWarning(), undefined);

    // A bad setting is named.
    resetSettings({ ...hosted, 'relay.temperature': 5 });
    assert.match((await service.setupWarning()) ?? '', /^Setting relay\.temperature in your user settings: 5 is not a number from 0 to 2/);
  });

  test('the embedded demo model as the small model is named last, local only too: it knows one toy task', async () => {
    // Installed as the extension is: the demo models under the extension's folder.
    const installed = createExtensionContext(REPO);
    const service = new RelayService(installed.context, { onBusy: () => undefined, onAnswered: () => undefined });
    try {
      const hosted = { ...relaySettings('https://api.openai.com/v1'), 'relay.slm.modelFolder': '', 'relay.mode': 'auto' };
      resetSettings({ ...hosted, 'relay.provider.model': '' });
      assert.match((await service.setupWarning()) ?? '', /^No LLM model is set/, "the LLM's set-up comes first");
      resetSettings(hosted);
      await service.keys.store(KIND, 'https://api.openai.com', 'sk-relay-unit-hosted-0000');
      const demo = /^The small model is the embedded demo: it knows one toy task \(a\*b\+c=\? .*\)\. Run "Relay: Select Model" for one that explains code/;
      assert.match((await service.setupWarning()) ?? '', demo);
      resetSettings({ ...hosted, 'relay.localOnly': true });
      assert.match((await service.setupWarning()) ?? '', demo, 'local only answers with it too');
      // In a remote window the folder is the remote machine's: one picked elsewhere is not this window's.
      env.remoteName = 'ssh-remote';
      try {
        assert.match(
          (await service.setupWarning()) ?? '',
          /In this remote window \(ssh-remote\) Relay runs on the remote machine, .*\(the Remote tab\): pick it here\.$/,
        );
      } finally {
        env.remoteName = undefined;
      }
      resetSettings({ ...hosted, 'relay.slm.modelFolder': script.folder });
      assert.equal(await service.setupWarning(), undefined, 'a model of your own: ready');
    } finally {
      service.dispose();
      installed.dispose();
    }
  });
});

describe('API keys', () => {
  const KEY = 'sk-relay-unit-right-0000';
  let serverA: FakeServer;
  let serverB: FakeServer;
  let serverC: FakeServer;
  let harness: Harness;

  before(async () => {
    serverA = await startFakeServer(requireBearer(KEY, answering));
    serverB = await startFakeServer(answering);
    serverC = await startFakeServer(answering);
    harness = newService();
  });
  after(async () => {
    answerWarnings(undefined);
    await Promise.all([serverA?.close(), serverB?.close(), serverC?.close()]);
    await disposeAndWait(harness);
  });

  test("the key stored for the server's origin is sent as a Bearer token; to another origin only after a yes to the one question", async () => {
    const { service } = harness;
    const asked = warningsShown.length;
    await service.keys.store(KIND, serverA.url, KEY);

    resetSettings(relaySettings(`${serverA.url}/v1`));
    const first = await service.answer(QUESTION, recordingSink());
    assert.equal(first.error, undefined, first.error?.message);
    assert.equal(serverA.requests.length, 1);
    assert.equal(serverA.lastRequest.headers.authorization, `Bearer ${KEY}`);
    assert.equal(warningsShown.length, asked, 'the key went where it was stored for: nothing to ask');

    // Another origin: the user is asked once, says no (closes the dialog), and B gets no key.
    answerWarnings(undefined);
    setSettings({ 'relay.provider.baseUrl': `${serverB.url}/v1` });
    const second = await service.answer(QUESTION, recordingSink());
    const questions = warningsShown.slice(asked);
    assert.equal(questions.length, 1, questions.map((q) => q.message).join(' | '));
    assert.equal(questions[0].message, `Send your ${KIND} API key for ${serverA.url} to ${serverB.url}?`);
    assert.equal(questions[0].options?.modal, true);
    assert.deepEqual(questions[0].items, ['Send the Key']);
    assert.equal(serverB.requests.length, 1);
    assert.equal(serverB.lastRequest.headers.authorization, undefined, 'no key reached the other server');
    // A local server takes no key: the answer is written all the same.
    assert.equal(second.error, undefined, second.error?.message);
    assert.equal(second.answer, script.firstAnswer);

    // The no is remembered: the next answer asks nothing and still sends no key.
    await service.answer(QUESTION, recordingSink());
    assert.equal(warningsShown.length, asked + 1);
    assert.equal(serverB.requests.length, 2);
    assert.equal(serverB.lastRequest.headers.authorization, undefined);

    // A yes for a third origin sends the key there.
    answerWarnings('Send the Key');
    setSettings({ 'relay.provider.baseUrl': `${serverC.url}/v1` });
    const third = await service.answer(QUESTION, recordingSink());
    assert.equal(third.error, undefined, third.error?.message);
    assert.equal(warningsShown.length, asked + 2);
    assert.equal(warningsShown.at(-1)?.message, `Send your ${KIND} API key for ${serverA.url} to ${serverC.url}?`);
    assert.equal(serverC.lastRequest.headers.authorization, `Bearer ${KEY}`);
    assert.ok(!JSON.stringify(service.sentRequests.last).includes(KEY), 'the key is never in the record');
  });
});

describe('"Relay: Test Provider"', () => {
  const KEY = 'sk-relay-unit-test-provider-5555';
  let server: FakeServer;
  let harness: Harness;

  before(async () => {
    server = await startFakeServer(requireBearer(KEY, answering));
    harness = newService();
  });
  after(async () => {
    answerQuestions(() => undefined);
    await server?.close();
    await disposeAndWait(harness);
  });

  /** The output channel: its lines, and whether the user was shown it. */
  const channel = () => {
    const record = { lines: [] as string[], shown: 0, cleared: 0 };
    return {
      record,
      clear: () => void (record.cleared += 1),
      appendLine: (line: string) => void record.lines.push(line),
      show: () => void (record.shown += 1),
    };
  };

  test("sends the test's prompt rendered by the small model's template (a raw-completions provider) with the stored key, and reports in the channel and a notification", async () => {
    const { service } = harness;
    await service.keys.store(KIND, server.url, KEY);
    resetSettings(relaySettings(`${server.url}/v1`));
    const before = server.requests.length;
    const output = channel();
    answerQuestions((question) => (question.api === 'showInformationMessage' ? 'Show Details' : undefined));
    const asked = questionsAsked.length;
    await testProvider(service, output);

    assert.equal(server.requests.length - before, 1, 'one continuation; this server is not api.openai.com, so no token count is asked');
    const sent = server.lastRequest;
    assert.equal(sent.headers.authorization, `Bearer ${KEY}`);
    assert.equal(sent.body.model, LLM_MODEL);
    // The scripted SLM's chat template (ChatML) around the test's question, then the partial answer to continue.
    assert.match(sent.body.prompt, /<\|im_start\|>user\nCount from 1 to 10, separated by commas\.<\|im_end\|>\n<\|im_start\|>assistant\n/);
    assert.ok(sent.body.prompt.endsWith('1, 2, 3,'), sent.body.prompt);
    assert.equal(output.record.cleared, 1);
    assert.match(output.record.lines.join('\n'), /^Testing openai-completions model relay-unit-llm at 127\.0\.0\.1:\d+/);
    assert.ok(output.record.lines.includes(`Continuation: "1, 2, 3," + ${JSON.stringify(LLM_TEXT)} (finish: length)`), output.record.lines.join('\n'));
    assert.match(output.record.lines.join('\n'), /Token count: none \(bad_request: .* has no endpoint that counts tokens\.\)/);
    assert.deepEqual(progressShown.at(-1), { title: 'Relay: testing the LLM provider', cancellable: true });
    const notice = questionsAsked.slice(asked).find((question) => question.api === 'showInformationMessage');
    assert.match(notice?.text ?? '', /^Relay: relay-unit-llm at 127\.0\.0\.1:\d+ answered: first text \d+ ms, total \d+ ms, cost \$\d/);
    assert.deepEqual(notice?.items, ['Show Details']);
    assert.equal(output.record.shown, 1, '"Show Details" shows the report');

    // "Show What Was Sent" lists the test's request as it went out (the answer's record, if any, stays as it was).
    const record = service.sentRequests.lastTest;
    assert.equal(record?.requests.length, 1);
    assert.equal(record?.requests[0].url, `${server.url}/v1/completions`);
    assert.deepEqual(record?.requests[0].body, sent.body);
    const document = renderSentDocument(service.sentRequests.last, record);
    assert.match(document, /## The last provider test \("Relay: Test Provider", .*\)\n\n- LLM: openai-completions relay-unit-llm at http:\/\/127\.0\.0\.1:\d+/);
    assert.match(document, /### Continuation: POST http:\/\/127\.0\.0\.1:\d+\/v1\/completions/);
    assert.ok(!document.includes(KEY), 'the key is in no line of it');
  });

  test("a model the server does not have: the error notification's button opens relay.provider.model; a refused key's, the key", async () => {
    const { service } = harness;
    await service.keys.store(KIND, server.url, KEY);
    resetSettings(relaySettings(`${server.url}/v1`));
    server.enqueue(openAiErrors.noModel(LLM_MODEL));
    answerQuestions((question) => (question.api === 'showErrorMessage' ? 'Set LLM Model' : undefined));
    const asked = questionsAsked.length;
    const run = commandsRun.length;
    const output = channel();
    await testProvider(service, output);
    const notice = questionsAsked.slice(asked).find((question) => question.api === 'showErrorMessage');
    assert.match(notice?.text ?? '', /^Relay: provider test: FAILED \(model_not_found\): The model is not available at 127\.0\.0\.1:\d+ \(HTTP 404\)/);
    assert.deepEqual(notice?.items, ['Set LLM Model', 'Show Details']);
    assert.deepEqual(commandsRun.slice(run), [{ command: 'workbench.action.openSettings', args: ['relay.provider.model'] }]);
    assert.match(output.record.lines.join('\n'), /Fix: pick another model in relay\.provider\.model/);

    // Without a stored key the test goes without one (a server on this machine may need none); refused, its fix is the key.
    await service.keys.remove(KIND, server.url);
    answerQuestions(() => undefined);
    const failed = await service.testProvider(() => undefined);
    assert.equal(failed.ok, false);
    assert.equal(failed.fix, 'set-key', failed.summary);
    assert.equal(server.lastRequest.headers.authorization, undefined, 'no key was sent');

    // No LLM model set: said in the report as in the notification, the fix opens relay.provider.model, nothing is sent.
    resetSettings({ ...relaySettings(`${server.url}/v1`), 'relay.provider.model': '' });
    const lines: string[] = [];
    const before = server.requests.length;
    const unset = await service.testProvider((line) => lines.push(line));
    assert.deepEqual(unset, { ok: false, summary: 'FAILED: No LLM model is set (relay.provider.model). Set it in Settings.', fix: 'llm-model' });
    assert.deepEqual(lines, [unset.summary]);
    assert.equal(server.requests.length, before);

    // Local only: no LLM is contacted, by the test either (it would carry the key and a prompt).
    await service.keys.store(KIND, server.url, KEY);
    resetSettings({ ...relaySettings(`${server.url}/v1`), 'relay.localOnly': true });
    const local = await service.testProvider(() => undefined);
    assert.deepEqual(local, {
      ok: false,
      summary: 'FAILED: Local only is on (relay.localOnly): no LLM is contacted, so none is tested. Turn it off in Settings to test the provider.',
      fix: 'open-settings',
    });
    assert.equal(server.requests.length, before, 'nothing went to the LLM');
  });
});

describe('errors carry their fix', () => {
  const RIGHT_KEY = 'sk-relay-unit-right-1111';
  const WRONG_KEY = 'sk-relay-unit-wrong-9876';
  let server: FakeServer;
  let harness: Harness;

  before(async () => {
    server = await startFakeServer(requireBearer(RIGHT_KEY, answering));
    harness = newService();
  });
  after(async () => {
    await server?.close();
    await disposeAndWait(harness);
  });

  test("a key the server refuses (HTTP 401): 'set-key', the partial answer kept, the key not in the message", async () => {
    const { service } = harness;
    await service.keys.store(KIND, server.url, WRONG_KEY);
    resetSettings(relaySettings(`${server.url}/v1`));
    const before = server.requests.length;
    const outcome = await service.answer(QUESTION, recordingSink());
    assert.equal(server.requests.length - before, 1, 'a refused key is not retried');
    assert.equal(server.lastRequest.headers.authorization, `Bearer ${WRONG_KEY}`);
    assert.equal(outcome.error?.fix, 'set-key');
    assert.match(outcome.error?.message ?? '', /rejected the API key \(HTTP 401\)/);
    assert.ok(!outcome.error?.message.includes(WRONG_KEY));
    assert.equal(outcome.answer, script.textBeforeCall, 'the SLM text before the call is kept');
  });

  test("an LLM model the server does not have (HTTP 404): 'llm-model', whose button opens relay.provider.model, not the small-model picker", async () => {
    const { service } = harness;
    await service.keys.store(KIND, server.url, RIGHT_KEY);
    resetSettings(relaySettings(`${server.url}/v1`));
    server.enqueue(openAiErrors.noModel(LLM_MODEL));
    const outcome = await service.answer(QUESTION, recordingSink());
    assert.equal(outcome.error?.fix, 'llm-model', outcome.error?.message);
    assert.deepEqual(fixCommand('llm-model'), { command: 'workbench.action.openSettings', title: 'Set LLM Model', arguments: ['relay.provider.model'] });
    assert.equal(fixCommand('pick-model')?.command, 'relay.selectModel', 'the small model: another button');
    assert.equal(fixCommand('try-demo')?.command, 'relay.tryDemo', "the set-up banner's demo button runs the demo command");
  });

  test("no LLM model: 'llm-model' (its button opens relay.provider.model), and nothing is sent", async () => {
    resetSettings({ ...relaySettings(`${server.url}/v1`), 'relay.provider.model': '' });
    const before = server.requests.length;
    const outcome = await harness.service.answer(QUESTION, recordingSink());
    assert.equal(outcome.error?.fix, 'llm-model');
    assert.match(outcome.error?.message ?? '', /No LLM model is set \(relay\.provider\.model\)/);
    assert.equal(server.requests.length, before);
    assert.equal(harness.service.busy, false);
  });

  test("no API key for a hosted LLM: 'set-key' before the small model loads, not at the LLM's first call mid-answer", async () => {
    // A service of its own, so that no SLM is loaded yet (this block's checks the processes at its end).
    const fresh = newService();
    try {
      resetSettings(relaySettings('https://api.openai.com/v1'));
      const processes = slmWorkerPids().length;
      const sink = recordingSink();
      const outcome = await fresh.service.answer(QUESTION, sink);
      assert.equal(outcome.error?.fix, 'set-key', outcome.error?.message);
      assert.equal(outcome.error?.message, `No API key for ${KIND} at https://api.openai.com. Run "Relay: Set API Key" to store one.`);
      assert.equal(outcome.answer, '', 'the small model wrote nothing');
      assert.deepEqual(sink.events, []);
      if (process.platform === 'linux') assert.equal(slmWorkerPids().length, processes, 'the small model was not loaded');
      assert.equal(fresh.service.busy, false);
    } finally {
      fresh.service.dispose();
      fresh.ext.dispose();
    }
  });

  test("a template folder that does not exist: 'open-settings' (the setting), not the model picker", async () => {
    const missing = join(REPO, '.cache', 'test-relay-service', 'no-such-template-folder');
    resetSettings({ ...relaySettings(`${server.url}/v1`), 'relay.provider.templateFolder': missing });
    const before = server.requests.length;
    const outcome = await harness.service.answer(QUESTION, recordingSink());
    assert.equal(outcome.error?.fix, 'open-settings', outcome.error?.message);
    assert.ok(outcome.error?.message.includes(missing), outcome.error?.message);
    assert.equal(server.requests.length, before, 'nothing was sent');
  });

  test("an onnx-local LLM folder that does not exist: 'open-settings'", async () => {
    const missing = join(REPO, '.cache', 'test-relay-service', 'no-such-llm-folder');
    resetSettings({ ...relaySettings(''), 'relay.provider.kind': 'onnx-local', 'relay.provider.model': missing });
    const outcome = await harness.service.answer(QUESTION, recordingSink());
    assert.equal(outcome.error?.fix, 'open-settings', outcome.error?.message);
    assert.match(outcome.error?.message ?? '', /^Setting relay\.provider\.model in your user settings: /);
  });

  test("no small model (none set, none embedded in the extension): 'pick-model'", async () => {
    resetSettings({ ...relaySettings(`${server.url}/v1`), 'relay.slm.modelFolder': '' });
    const outcome = await harness.service.answer(QUESTION, recordingSink());
    assert.equal(outcome.error?.fix, 'pick-model');
  });

  test('dispose() stops the SLM process', { skip: process.platform !== 'linux' && 'reads /proc' }, async () => {
    // The earlier answers of this block started the SLM process.
    const running = slmWorkerPids();
    assert.equal(running.length, 1, 'one SLM process runs');
    await disposeAndWait(harness);
    assert.deepEqual(slmWorkerPids(), [], 'the SLM process is gone');
    assert.equal(harness.service.busy, false);
  });
});

describe('the money ceiling (relay.maxCostRatio)', () => {
  let server: FakeServer;
  let harness: Harness;

  before(async () => {
    server = await startFakeServer(answering);
    harness = newService();
  });
  after(async () => {
    await server?.close();
    await disposeAndWait(harness);
  });

  test('by default a call that would cost more than half the LLM alone is skipped: nothing is sent, the sink hears why, the SLM writes on', async () => {
    // One answer without the ceiling teaches the token ratios (the server counts 1,000 input tokens a call, far more than the
    // SLM's count): counted in the SLM's tokens the call would look cheap.
    resetSettings(relaySettings(`${server.url}/v1`));
    const taught = await harness.service.answer(QUESTION, recordingSink());
    assert.equal(taught.stats?.calls, 1);
    const { 'relay.maxCostRatio': _lifted, ...settings } = relaySettings(`${server.url}/v1`);
    resetSettings(settings);
    const before = server.requests.length;
    const sink = recordingSink();
    const outcome = await harness.service.answer(QUESTION, sink);
    assert.equal(outcome.error, undefined, outcome.error?.message);
    assert.equal(server.requests.length, before, 'no request');
    const declined = sink.events.find((e) => e.type === 'call-declined');
    assert.ok(declined?.type === 'call-declined' && declined.predictedUsd > declined.allowanceUsd);
    assert.equal(outcome.stats?.calls, 0);
    assert.equal(outcome.stats?.declinedCalls, 1);
    assert.ok((outcome.stats?.savedUsd ?? 0) > 0, 'the SLM alone cost nothing');
  });
});
