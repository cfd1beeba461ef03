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
} from './vscodeStub';
useVscodeStub();
import { runRelay } from '../../../src/core/relay/engine';
import type { AnswerStats, RelayEvent } from '../../../src/core/relay/events';
import type { ChatMessage } from '../../../src/core/slm/types';
import { hang, type FakeServer } from '../providers/servers/harness';
import { completionsProvider, disposeRuntimes, openAiStream, scriptedSlm, type ScriptedSlm } from '../relay/realParts';
import type { LlmProvider } from '../../../src/core/providers/types';
import { SentRequestLog } from '../../../src/extension/sentRequests';

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

/** A ChatResponseStream that records what the handler streamed. */
function recordingStream() {
  const out = { markdown: '', progress: [] as string[], buttons: [] as { command: string; title: string }[] };
  return {
    out,
    stream: {
      markdown: (text: string) => void (out.markdown += text),
      progress: (text: string) => void out.progress.push(text),
      button: (command: { command: string; title: string }) => void out.buttons.push(command),
    },
  };
}

function cancellationToken() {
  const listeners: (() => void)[] = [];
  const token = {
    isCancellationRequested: false,
    onCancellationRequested: (listener: () => void) => {
      listeners.push(listener);
      return { dispose: () => listeners.splice(listeners.indexOf(listener), 1) };
    },
  };
  return { token, cancel: () => ((token.isCancellationRequested = true), [...listeners].forEach((l) => l())), listeners };
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

test("stopping the chat request stops the answer mid-call; the partial answer and a 'Stopped' footer remain", async () => {
  server.enqueue(hang);
  const service = new EngineService(slm, provider);
  const handler = handlerFor(service);
  const { out, stream } = recordingStream();
  const { token, cancel } = cancellationToken();
  // Cancel as soon as the LLM call starts: the server never answers, so only the stop ends it.
  const progress = stream.progress;
  stream.progress = (text: string) => {
    progress(text);
    if (/is writing up to/.test(text)) cancel();
  };
  const result = (await handler({ prompt: 'What is two plus three?' }, { history: [] }, stream, token)) as { metadata: { answer: string } };
  assert.equal(service.stopCalls, 1);
  assert.equal(result.metadata.answer, 'First, we add');
  assert.match(out.markdown, /Stopped: the partial answer is kept/);
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
        'b.py:2-4:\n\n```\ndef f():\n    return 1\n\n```\n\n' +
        'note:\n\n```\nplain attached text\n```',
    });
    assert.match(out.markdown, /^_Not attached:_ blob\.bin \(binary\); src \(EISDIR[^)]*\)\n\n$/, 'named before the answer');
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

test("a server's words quoted in an error render as written: no link, no image", async () => {
  const quoted = 'The server said: ![x](https://evil.example/p.png) [click](command:workbench.action.terminal.new) <b>';
  const service = { answer: async () => ({ answer: '', error: { message: quoted } }), stop: () => false };
  registered.length = 0;
  registerChatParticipant({ path: '/ext' } as never, service as never);
  const { out, stream } = recordingStream();
  await registered[0].handler({ prompt: 'hi' }, { history: [] }, stream, cancellationToken().token);
  const html = new MarkdownIt().render(out.markdown);
  assert.doesNotMatch(html, /<img|<a |<b>/, html);
  assert.match(html, /!\[x\]\(https:\/\/evil\.example\/p\.png\)/, 'the text itself is kept');
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
