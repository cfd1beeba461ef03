// The @relay chat participant's handler on real parts (a scripted ONNX SLM, the relay
// engine, the openai-completions provider over HTTP to a local server); only the VS Code
// API is a stand-in (vscodeStub.ts), since no chat view exists outside VS Code.
import assert from 'node:assert/strict';
import MarkdownIt from 'markdown-it';
import { after, before, test } from 'node:test';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  useVscodeStub,
  registered,
  chat,
  ChatRequestTurn,
  ChatResponseTurn,
  ChatResponseMarkdownPart,
  fileUri,
  Location,
  Position,
  Range,
  setWorkspaceFolder,
  questionsAsked,
  answerQuestions,
  commandsRun,
} from './vscodeStub';
import { cancellationToken, recordingStream } from './chatResponseStream';
useVscodeStub();
import { runRelay } from '../../../src/core/relay/engine';
import type { AnswerStats, RelayEvent } from '../../../src/core/relay/events';
import type { ChatMessage } from '../../../src/core/slm/types';
import { hang, type FakeServer } from '../providers/servers/harness';
import { completionsProvider, disposeRuntimes, openAiStream, scriptedSlm, type ScriptedSlm } from '../relay/realParts';
import type { LlmProvider } from '../../../src/core/providers/types';
import { SentRequestLog } from '../../../src/extension/sentRequests';
import { statsFooter } from '../../../src/extension/chatMarkdown';

// Loaded after the stub is in place (it imports 'vscode').
const { registerChatParticipant, CHAT_PARTICIPANT_ID } =
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('../../../src/extension/chatParticipant') as typeof import('../../../src/extension/chatParticipant');

const TIMELINE = [
  { text: 'First,' },
  { text: ' we add' },
  { text: '<call>3</call>' },
  { text: ' two and three', source: 'external' as const },
  { text: ' to get five.' },
];

/** RelayService's answer/stop contract, on the real engine. */
class EngineService {
  /** As RelayService keeps it: what each answer sent (the provider's requests, the engine's events). */
  readonly sentRequests = new SentRequestLog();
  stopCalls = 0;
  seenMessages: ChatMessage[][] = [];
  private controller: AbortController | undefined;
  constructor(
    private readonly slm: ScriptedSlm,
    private readonly llm: LlmProvider,
  ) {}
  async answer(
    messages: ChatMessage[],
    sink: { onEvent(event: RelayEvent, model: string): void },
  ): Promise<{ answer: string; stats?: AnswerStats; error?: { message: string; fix?: string } }> {
    this.seenMessages.push(messages);
    this.sentRequests.begin({ mode: 'command', provider: this.llm.model, local: false, messages });
    recordRequests = this.sentRequests;
    const controller = (this.controller = new AbortController());
    let stats: AnswerStats | undefined;
    let answer = '';
    for await (const event of runRelay({
      mode: 'command',
      slm: this.slm.runtime,
      llm: this.llm,
      messages,
      prompt: this.slm.prompt,
      slmSampling: { temperature: 0 },
      llmTemperature: 0,
      signal: controller.signal,
    })) {
      this.sentRequests.onEvent(event);
      sink.onEvent(event, this.llm.model);
      if (event.type === 'done') {
        stats = event.stats;
        answer = event.answer;
      }
    }
    return { answer, stats };
  }
  stop(): boolean {
    this.stopCalls += 1;
    this.controller?.abort();
    return true;
  }
}

/** The log of the answer being written (the provider is made once, its requests go to that answer's service). */
let recordRequests: SentRequestLog | undefined;
let slm: ScriptedSlm;
let server: FakeServer;
let provider: LlmProvider;

before(async () => {
  slm = await scriptedSlm(TIMELINE);
  ({ server, provider } = await completionsProvider(slm.prompt, (request) => recordRequests?.recordRequest(request)));
});

after(async () => {
  await server?.close();
  await disposeRuntimes();
});

function handlerFor(service: EngineService) {
  registered.length = 0;
  const participant = registerChatParticipant({ path: '/ext' } as never, service as never);
  assert.ok(participant);
  assert.equal(registered[0].id, CHAT_PARTICIPANT_ID);
  return registered[0].handler;
}

test('streams the relay answer with the LLM span in italics, a stats footer and a Show What Was Sent button; history of @relay only', async () => {
  server.enqueue(openAiStream({ pieces: [' two', ' and three'], finishReason: 'length' }));
  const service = new EngineService(slm, provider);
  const handler = handlerFor(service);
  const { out, stream } = recordingStream();
  const { token, listeners } = cancellationToken();
  const history = [
    new ChatRequestTurn('What is 1+1?', CHAT_PARTICIPANT_ID),
    new ChatResponseTurn([new ChatResponseMarkdownPart('*2* with footer')], { metadata: { answer: '2' } }, CHAT_PARTICIPANT_ID),
    new ChatRequestTurn('unrelated', 'other.participant'),
  ];
  const result = (await handler({ prompt: 'What is two plus three?' }, { history }, stream, token)) as { metadata: { answer: string } };
  assert.equal(result.metadata.answer, 'First, we add two and three to get five.');
  assert.ok(out.markdown.startsWith('First, we add *two and three* to get five.'), out.markdown);
  assert.match(out.markdown, /\*\*Relay\*\* · SLM \d+ tokens · LLM \d+ tokens \(\d+\.\d%\) · 1 call/);
  assert.match(out.markdown, /- Qwen\/Qwen3-8B: “two and three” \(\d+ tokens, \d+ ms, cost unknown: no price\)/);
  assert.deepEqual(out.buttons, [{ command: 'relay.showSentToLlm', title: 'Show What Was Sent' }]);
  assert.ok(out.progress.some((p) => /Qwen\/Qwen3-8B is writing up to 3 tokens/.test(p)));
  assert.deepEqual(service.seenMessages[0], [
    { role: 'user', content: 'What is 1+1?' },
    { role: 'assistant', content: '2' },
    { role: 'user', content: 'What is two plus three?' },
  ]);
  assert.equal(listeners.length, 0, 'the cancellation listener is removed when the answer ends');
});

test("says once what the answer waits on: each model's load (not each second of it), and each call whose pro model reasons before it writes", async () => {
  const reasoning = (callIndex: number, waitedMs: number): RelayEvent => ({
    type: 'call-wait',
    callIndex,
    host: 'api.openai.com',
    waitedMs,
    state: 'reasoning',
    model: 'gpt-5-pro',
  });
  const call = (callIndex: number): RelayEvent[] => [
    { type: 'call-start', callIndex, requestedTokens: 3, model: 'gpt-5-pro', host: 'api.openai.com', continuation: 'raw-completion' },
    reasoning(callIndex, 1000),
    reasoning(callIndex, 2000),
    reasoning(callIndex, 3000),
    { type: 'call-wait', callIndex, host: 'api.openai.com', waitedMs: 3500, state: 'receiving' },
    { type: 'span', source: 'llm', text: ' two', tokens: 1, callIndex },
  ];
  const service = {
    answer: async (
      _messages: ChatMessage[],
      sink: {
        onEvent(event: RelayEvent, model: string): void;
        onLoading?(load: { model: 'small' | 'large'; name: string; restarting?: boolean }, waitedMs: number | null): void;
      },
    ) => {
      // As RelayService tells a load: at once, each second, and null when it ends.
      for (const waitedMs of [0, 1000, 2000, null]) sink.onLoading?.({ model: 'small', name: 'Qwen3-0.6B' }, waitedMs);
      for (const waitedMs of [0, 1000, null]) sink.onLoading?.({ model: 'large', name: 'relay-demo-llm' }, waitedMs);
      sink.onEvent({ type: 'span', source: 'slm', text: 'First,', tokens: 1 }, 'gpt-5-pro');
      for (const event of [...call(0), ...call(1)]) sink.onEvent(event, 'gpt-5-pro');
      return { answer: 'First, two two' };
    },
    stop: () => true,
    sentRequests: { last: undefined },
  };
  registered.length = 0;
  registerChatParticipant({ path: '/ext' } as never, service as never);
  const { out, stream } = recordingStream();
  await registered[0].handler({ prompt: 'What is 2+3?' }, { history: [] }, stream, cancellationToken().token);
  assert.deepEqual(out.progress, [
    'The small model is writing…',
    'Loading the small model (Qwen3-0.6B)…',
    'Loading the large model (relay-demo-llm)…',
    'gpt-5-pro is writing up to 3 tokens…',
    'api.openai.com: gpt-5-pro is reasoning… (it can take minutes)',
    'gpt-5-pro is writing up to 3 tokens…',
    'api.openai.com: gpt-5-pro is reasoning… (it can take minutes)',
  ]);
});

test('stopping the chat request stops the answer mid-call; the view keeps the partial answer, and the figures are said in a notification', async () => {
  server.enqueue(hang);
  const service = new EngineService(slm, provider);
  const handler = handlerFor(service);
  const { token, cancel } = cancellationToken();
  const { out, stream } = recordingStream(token);
  // Cancel as soon as the LLM call starts: the server never answers, so only the stop ends it.
  const progress = stream.progress;
  stream.progress = (text: string) => {
    progress(text);
    if (/is writing up to/.test(text)) cancel();
  };
  questionsAsked.length = 0;
  const result = (await handler({ prompt: ' What is two plus three? ' }, { history: [] }, stream, token)) as { metadata: { answer: string } };
  assert.equal(service.stopCalls, 1);
  assert.equal(result.metadata.answer, 'First, we add');
  // As VS Code: the footer and its "Stopped" line came after the stop, and are gone.
  assert.equal(out.markdown, 'First, we add');
  const notice = questionsAsked.find((q) => q.api === 'showInformationMessage');
  assert.ok(notice, 'the figures are said in a notification');
  assert.match(notice.text, /stopped\. SLM \d+ tokens · LLM \d+ tokens \(\d+\.\d%\) · 1 call · cost unknown \(no price for this model\) · \d+\.\d s\.$/);
});

/** A service whose answer streams `events`, calling `during(i)` before event i (to stop it there). */
function scriptedService(events: RelayEvent[], stats: AnswerStats, during: (i: number) => void = () => {}) {
  // A call's request went out: Show What Was Sent is offered.
  const sentRecord = { calls: [{ requests: [{}] }], unattributed: [], slmRequestCount: 0 };
  const service = {
    seenMessages: [] as ChatMessage[][],
    answer: async (messages: ChatMessage[], sink: { onEvent(event: RelayEvent, model: string): void }) => {
      service.seenMessages.push(messages);
      let answer = '';
      for (const [i, event] of events.entries()) {
        during(i);
        if (event.type === 'span') answer += event.text;
        sink.onEvent(event, 'gpt-4o-mini');
      }
      return { answer, stats };
    },
    stop: () => true,
    sentRequests: { last: sentRecord },
  };
  registered.length = 0;
  registerChatParticipant({ path: '/ext' } as never, service as never);
  return service;
}

const STOPPED_STATS: AnswerStats = {
  mode: 'command',
  slmTokens: 6,
  llmTokens: 3,
  llmTokenShare: 1 / 3,
  calls: 1,
  llmUsage: { inputTokens: 10, outputTokens: 3, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
  costUsd: 0.0012,
  llmOnlyCostUsd: 0.002,
  savedUsd: 0.0008,
  elapsedMs: 900,
  finishReason: 'cancelled',
};

test("after Stop, the follow-up's history is the answer the view kept, without Relay's notices or italics, and the question as it was sent", async () => {
  await inWorkspace(async (dir) => {
    writeFileSync(join(dir, 'a.ts'), 'export const answer = 42;\n');
    writeFileSync(join(dir, 'blob.bin'), Buffer.from([0x41, 0x00, 0x42]));
    const events: RelayEvent[] = [
      { type: 'span', source: 'slm', text: 'First, we add', tokens: 3 },
      { type: 'span', source: 'llm', text: ' two and three', tokens: 3, callIndex: 0 },
      {
        type: 'call-end',
        callIndex: 0,
        tokens: 3,
        durationMs: 50,
        finishReason: 'length',
        usage: { inputTokens: 10, outputTokens: 3, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
        sentPartialAnswer: '',
        continuation: 'raw-completion',
        costUsd: 0.0012,
      },
      { type: 'span', source: 'slm', text: ' to', tokens: 1 },
      { type: 'span', source: 'slm', text: ' get five.', tokens: 2 },
    ];
    const { token, cancel } = cancellationToken();
    // Stopped before " get five.": VS Code keeps what came before.
    const service = scriptedService(events, STOPPED_STATS, (i) => i === 4 && cancel());
    const { out, stream } = recordingStream(token);
    const references = [
      { id: 'vscode.file', value: fileUri(join(dir, 'a.ts')) },
      { id: 'vscode.file', value: fileUri(join(dir, 'blob.bin')) },
    ];
    questionsAsked.length = 0;
    commandsRun.length = 0;
    answerQuestions((question) => (question.api === 'showInformationMessage' ? 'Show What Was Sent' : undefined));
    try {
      await registered[0].handler({ prompt: 'What is 2+3?', references }, { history: [] }, stream, token);
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      answerQuestions(() => undefined);
    }
    const sentFirst = service.seenMessages[0].at(-1)!.content;
    assert.equal(out.markdown, '_Not attached:_ blob.bin (binary)\n\nFirst, we add *two and three* to');
    assert.doesNotMatch(out.markdown, /Relay\*\* ·|Stopped/, 'the footer is dropped, as VS Code drops it');
    assert.deepEqual(out.buttons, [], 'and its button');
    // Where the figures survive: a notification, with the button's action.
    assert.deepEqual(
      questionsAsked.map((q) => [q.api, q.text, q.items]),
      [
        [
          'showInformationMessage',
          "Relay: @relay's answer stopped. SLM 6 tokens · LLM 3 tokens (33.3%) · 1 call · cost $0.0012 · saved $0.00080 vs LLM only (estimate) · 0.9 s.",
          ['Show What Was Sent'],
        ],
      ],
    );
    assert.deepEqual(
      commandsRun.map((c) => c.command),
      ['relay.showSentToLlm'],
    );

    const followUp = async (parts: string[]) => {
      const history = [
        new ChatRequestTurn('What is 2+3?', CHAT_PARTICIPANT_ID),
        new ChatResponseTurn(
          parts.map((part) => new ChatResponseMarkdownPart(part)),
          {},
          CHAT_PARTICIPANT_ID,
        ),
      ];
      await registered[0].handler({ prompt: 'Go on' }, { history }, recordingStream().stream, cancellationToken().token);
      return service.seenMessages.at(-1)!;
    };
    assert.deepEqual(await followUp(out.parts), [
      { role: 'user', content: sentFirst },
      { role: 'assistant', content: 'First, we add two and three to' },
      { role: 'user', content: 'Go on' },
    ]);
    // The view may have dropped a write made just before the stop reached this side: the answer up to the writes it kept.
    assert.deepEqual((await followUp(out.parts.slice(0, -1))).slice(0, 2), [
      { role: 'user', content: sentFirst },
      { role: 'assistant', content: 'First, we add two and three' },
    ]);
    // Not streamed in this window (VS Code was reloaded since): read back from the Markdown, notices and italics taken off.
    const fresh = await followUp(['_Not attached:_ blob.bin (binary)\n\n', 'Then *four* and `a*b*`']);
    assert.deepEqual(fresh.slice(0, 2), [
      { role: 'user', content: 'What is 2+3?' },
      { role: 'assistant', content: 'Then four and `a*b*`' },
    ]);
  });
});

/** A service that records the messages it is asked and answers "ok" (what is sent is the point here, not the relay). */
function answersRecorded() {
  const service = {
    seenMessages: [] as ChatMessage[][],
    answer: async (messages: ChatMessage[]) => {
      service.seenMessages.push(messages);
      return { answer: 'ok' };
    },
    stop: () => false,
    sentRequests: { last: undefined },
  };
  registered.length = 0;
  registerChatParticipant({ path: '/ext' } as never, service as never);
  return service;
}

/** Runs `body` with a new folder open as the workspace (attachments are named relative to it), removed after. */
async function inWorkspace(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'relay-chat-refs-'));
  setWorkspaceFolder(dir);
  try {
    await body(dir);
  } finally {
    setWorkspaceFolder(undefined);
    rmSync(dir, { recursive: true, force: true });
  }
}

test('#file, #selection and attached text go after the question, each named and fenced; a binary file or a folder is named, not sent', async () => {
  await inWorkspace(async (dir) => {
    writeFileSync(join(dir, 'a.ts'), 'export const answer = 42;\n// ```inner fence```\n');
    writeFileSync(join(dir, 'b.py'), 'line one\ndef f():\n    return 1\nline four\n');
    writeFileSync(join(dir, 'blob.bin'), Buffer.from([0x41, 0x00, 0x42]));
    mkdirSync(join(dir, 'src'));
    const service = answersRecorded();
    const { out, stream } = recordingStream();
    const references = [
      { id: 'vscode.file', value: fileUri(join(dir, 'a.ts')) },
      { id: 'vscode.selection', value: new Location(fileUri(join(dir, 'b.py')), new Range(new Position(1, 0), new Position(3, 0))) },
      { id: 'note', value: 'plain attached text' },
      { id: 'vscode.file', value: fileUri(join(dir, 'blob.bin')) },
      { id: 'vscode.file', value: fileUri(join(dir, 'src')) },
    ];
    await registered[0].handler({ prompt: 'What does this do?', references }, { history: [] }, stream, cancellationToken().token);
    const sent = service.seenMessages.at(-1)!;
    assert.deepEqual(sent.at(-1), {
      role: 'user',
      content:
        'What does this do?\n\n' +
        'a.ts:\n\n````\nexport const answer = 42;\n// ```inner fence```\n\n````\n\n' +
        'b.py:2-3:\n\n```\ndef f():\n    return 1\n\n```\n\n' +
        'note:\n\n```\nplain attached text\n```',
    });
    assert.match(out.markdown, /^_Not attached:_ blob\.bin \(binary\); src \(EISDIR[^)]*\)\n\n$/, 'named before the answer');
  });
});

test("#selection of one line is named path:N, not path:N-N (within a line, or the whole line to the next one's start); several lines stay path:N-M", async () => {
  await inWorkspace(async (dir) => {
    writeFileSync(join(dir, 'b.py'), 'line one\ndef f():\n    return 1\nline four\n');
    const service = answersRecorded();
    const b = fileUri(join(dir, 'b.py'));
    const selection = (from: [number, number], to: [number, number]) => ({
      id: 'vscode.selection',
      value: new Location(b, new Range(new Position(...from), new Position(...to))),
    });
    const references = [selection([1, 4], [1, 7]), selection([2, 0], [3, 0]), selection([0, 0], [1, 3])];
    await registered[0].handler({ prompt: 'What is this?', references }, { history: [] }, recordingStream().stream, cancellationToken().token);
    const sent = service.seenMessages.at(-1)!.at(-1)!.content;
    assert.equal(sent, 'What is this?\n\nb.py:2:\n\n```\nf()\n```\n\nb.py:3:\n\n```\n    return 1\n\n```\n\nb.py:1-2:\n\n```\nline one\ndef\n```');
    assert.doesNotMatch(sent, /:(\d+)-\1:/);
  });
});

test("VS Code's implicit context (the editor open beside the chat) is named, not read or sent; what the user attaches is sent", async () => {
  await inWorkspace(async (dir) => {
    writeFileSync(join(dir, 'secret.env.ts'), 'const API = "sk-live-123";\nexport {};\n');
    writeFileSync(join(dir, 'bundle.min.js'), 'x'.repeat(30_000) + '\n');
    writeFileSync(join(dir, 'b.py'), 'line one\ndef f():\n    return 1\nline four\n');
    const service = answersRecorded();
    const secret = fileUri(join(dir, 'secret.env.ts'));
    const { out, stream } = recordingStream();
    const references = [
      { id: 'vscode.implicit.viewport', value: new Location(secret, new Range(new Position(0, 0), new Position(2, 0))) },
      { id: 'vscode.implicit.selection', value: new Location(secret, new Range(new Position(0, 0), new Position(0, 5))) },
      { id: 'vscode.implicit.file', value: secret },
      // Attached by the user: sent (a selection ending inside line 4 has lines 2 to 4).
      { id: 'vscode.selection', value: new Location(fileUri(join(dir, 'b.py')), new Range(new Position(1, 0), new Position(3, 4))) },
    ];
    await registered[0].handler({ prompt: 'What is 2+2?', references }, { history: [] }, stream, cancellationToken().token);
    const sent = service.seenMessages.at(-1)!.at(-1)!.content;
    assert.doesNotMatch(sent, /sk-live|secret/);
    assert.equal(sent, 'What is 2+2?\n\nb.py:2-4:\n\n```\ndef f():\n    return 1\nline\n```');
    assert.equal(out.markdown, '_Not attached:_ secret.env.ts (open in the editor, not attached: attach it with \\#file or \\#selection)\n\n');

    // A large file open in the editor does not count toward the limit: the question is asked.
    const big = recordingStream();
    const viewport = {
      id: 'vscode.implicit.viewport',
      value: new Location(fileUri(join(dir, 'bundle.min.js')), new Range(new Position(0, 0), new Position(1, 0))),
    };
    await registered[0].handler({ prompt: 'What is 2+2?', references: [viewport] }, { history: [] }, big.stream, cancellationToken().token);
    assert.deepEqual(service.seenMessages.at(-1), [{ role: 'user', content: 'What is 2+2?' }]);
    assert.match(big.out.markdown, /^_Not attached:_ bundle\.min\.js \(open in the editor/);
  });
});

test('a follow-up sees the earlier question as it was sent, its attachments included; an answer recorded before that, as typed and trimmed', async () => {
  await inWorkspace(async (dir) => {
    writeFileSync(join(dir, 'a.ts'), 'export const answer = 42;\n');
    const service = answersRecorded();
    const first = recordingStream();
    const asked = { prompt: '  What does this do?  ', references: [{ id: 'vscode.file', value: fileUri(join(dir, 'a.ts')) }] };
    const result = (await registered[0].handler(asked, { history: [] }, first.stream, cancellationToken().token)) as {
      metadata: { answer: string; prompt?: string };
    };
    const sentFirst = service.seenMessages.at(-1)!.at(-1)!.content;
    assert.equal(result.metadata.prompt, sentFirst);
    const history = [
      new ChatRequestTurn('  What does this do?  ', CHAT_PARTICIPANT_ID),
      // The recording service streams no events: its answer is put in as the view would show it.
      new ChatResponseTurn([new ChatResponseMarkdownPart('ok')], { metadata: { ...result.metadata, answer: 'ok' } }, CHAT_PARTICIPANT_ID),
      new ChatRequestTurn('  And before?  ', CHAT_PARTICIPANT_ID),
      // Recorded by an earlier Relay: no prompt in its metadata.
      new ChatResponseTurn([new ChatResponseMarkdownPart('no idea')], { metadata: { answer: 'no idea' } }, CHAT_PARTICIPANT_ID),
    ];
    await registered[0].handler({ prompt: 'And line 1?' }, { history }, recordingStream().stream, cancellationToken().token);
    assert.deepEqual(service.seenMessages.at(-1), [
      { role: 'user', content: sentFirst },
      { role: 'assistant', content: 'ok' },
      { role: 'user', content: 'And before?' },
      { role: 'assistant', content: 'no idea' },
      { role: 'user', content: 'And line 1?' },
    ]);
    assert.match(sentFirst, /^What does this do\?\n\na\.ts:\n\n```\nexport const answer = 42;/);
  });
});

test("a follow-up's history has the earlier answers without their thinking (recorded, or read back from the Markdown after Stop); one that was only thinking goes with its request", async () => {
  const service = answersRecorded();
  const history = [
    new ChatRequestTurn('What is 2+3?', CHAT_PARTICIPANT_ID),
    new ChatResponseTurn([new ChatResponseMarkdownPart('five')], { metadata: { answer: '<think>\nAdd them.\n</think>\n\nIt is 5.' } }, CHAT_PARTICIPANT_ID),
    new ChatRequestTurn('Why?', CHAT_PARTICIPANT_ID),
    new ChatResponseTurn([new ChatResponseMarkdownPart('…')], { metadata: { answer: '<think>\nStill weighing it' } }, CHAT_PARTICIPANT_ID),
    new ChatRequestTurn('And times 4?', CHAT_PARTICIPANT_ID),
    // Stopped: no metadata, the answer read back from the Markdown the view kept.
    new ChatResponseTurn([new ChatResponseMarkdownPart('Times 4.\n</think>\n\nIt is 20.')], {}, CHAT_PARTICIPANT_ID),
  ];
  const userText = 'Explain <think>tags</think> please';
  await registered[0].handler({ prompt: userText }, { history }, recordingStream().stream, cancellationToken().token);
  assert.deepEqual(service.seenMessages.at(-1), [
    { role: 'user', content: 'What is 2+3?' },
    { role: 'assistant', content: 'It is 5.' },
    { role: 'user', content: 'And times 4?' },
    { role: 'assistant', content: 'It is 20.' },
    { role: 'user', content: userText },
  ]);
});

test('attached text over 20,000 characters is refused with the sizes, before anything is asked', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-chat-refs-'));
  try {
    writeFileSync(join(dir, 'big.txt'), 'x'.repeat(20_001));
    const service = answersRecorded();
    const { out, stream } = recordingStream();
    await registered[0].handler(
      { prompt: 'Summarise', references: [{ id: 'vscode.file', value: fileUri(join(dir, 'big.txt')) }] },
      { history: [] },
      stream,
      cancellationToken().token,
    );
    assert.equal(service.seenMessages.length, 0, 'nothing was asked');
    assert.match(
      out.markdown,
      /^\*\*Relay:\*\* The attached text has 20,001 characters; attach at most 20,000 \(a part of a file: select it and use \\#selection\)\.$/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an error is shown with the button that fixes it', async () => {
  const service = {
    answer: async () => ({ answer: '', error: { message: 'The API key for openai-chat was refused (HTTP 401).', fix: 'set-key' } }),
    stop: () => false,
  };
  registered.length = 0;
  registerChatParticipant({ path: '/ext' } as never, service as never);
  const { out, stream } = recordingStream();
  await registered[0].handler({ prompt: 'hi' }, { history: [] }, stream, cancellationToken().token);
  assert.match(out.markdown, /\*\*Relay:\*\* The API key for openai-chat was refused/);
  assert.deepEqual(out.buttons, [{ command: 'relay.setApiKey', title: 'Set API Key' }]);
});

/**
 * `markdown` as HTML, as VS Code's Chat view renders it (marked, GFM on: a bare URL, www. and an
 * e-mail address become links) and as markdown-it with linkify on (a wider net) renders it.
 */
async function renderedAsInChat(markdown: string): Promise<string[]> {
  // marked is VS Code's renderer; here it is the one @vscode/vsce (a dev dependency) brings.
  const { marked } = await import('marked');
  return [await marked.parse(markdown, { gfm: true }), new MarkdownIt({ linkify: true }).render(markdown)];
}

/** The text a reader sees in `html`. */
function textOf(html: string): string {
  const entities: Record<string, string> = { '&amp;': '&', '&lt;': '<', '&gt;': '>', '&quot;': '"', '&#39;': "'" };
  return html
    .replace(/<[^>]*>/g, '')
    .replace(/&(?:amp|lt|gt|quot|#39);/g, (entity) => entities[entity])
    .trim();
}

/** Where a server or a model could put a link: Markdown's links and images, HTML, and the autolinks of GFM. */
const LINKS_IN_TEXT =
  'The server said: ![x](https://evil.example/p.png) [click](command:workbench.action.terminal.new) <b> ' +
  'see HTTPS://evil.example/login, www.evil.example/reset, ftp://evil.example or mailto:admin@evil.example (admin@evil.example)';

test("a server's words quoted in an error render as written: no link (a bare URL, www. or e-mail address either), no image", async () => {
  const service = { answer: async () => ({ answer: '', error: { message: LINKS_IN_TEXT } }), stop: () => false };
  registered.length = 0;
  registerChatParticipant({ path: '/ext' } as never, service as never);
  const { out, stream } = recordingStream();
  await registered[0].handler({ prompt: 'hi' }, { history: [] }, stream, cancellationToken().token);
  for (const html of await renderedAsInChat(out.markdown)) {
    assert.doesNotMatch(html, /<img|<a |<b>/, html);
    assert.equal(textOf(html), `Relay: ${LINKS_IN_TEXT}`, 'the text itself is kept');
  }
});

test("the footer's quotes of the answer (the LLM's spans, where a call was skipped) render as written: no link", async () => {
  const span = (text: string) => ({ text, tokens: 3, model: 'gpt-4o-mini', durationMs: 50, costUsd: 0.0012 });
  const spans = [span('see https://evil.example or www.evil.example'), span('mail admin@evil.example')];
  const declined = [{ predictedUsd: 0.01, allowanceUsd: 0.001, after: 'or xmpp:admin@evil.example' }];
  for (const html of await renderedAsInChat(statsFooter(STOPPED_STATS, spans, declined))) {
    assert.doesNotMatch(html, /<a /, html);
    const text = textOf(html);
    for (const quote of ['“see https://evil.example or www.evil.example”', '“mail admin@evil.example”', 'after “or xmpp:admin@evil.example”'])
      assert.ok(text.includes(quote), `${quote} in ${text}`);
  }
});

test('where the host has no chat API, nothing is registered and nothing throws', () => {
  const original = chat.createChatParticipant;
  (chat as { createChatParticipant?: unknown }).createChatParticipant = undefined;
  try {
    assert.equal(registerChatParticipant({ path: '/ext' } as never, {} as never), undefined);
  } finally {
    chat.createChatParticipant = original;
  }
});
