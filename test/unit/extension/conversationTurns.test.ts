// The turns of a conversation (src/extension/conversation.ts) across Retry, a second
// request while an answer runs, Stop and New chat in the other view, and a window reload
// mid-answer. The service is a stand-in with the real one's busy/stop semantics
// (fakeRelayService.ts); the turns go through a memento that copies through JSON as VS
// Code's workspace state does; every message posted is checked with the webview's parser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatMessage } from '../../../src/core/slm/types';
import type { ChatTurnView, HostMessage } from '../../../src/shared/webviewProtocol';
import { CONVERSATION_KEY, FakeRelayService, openConversation, turnText } from './fakeRelayService';
import { answerWarnings, MemoryMemento, questionsAsked, useVscodeStub, warningsShown } from './vscodeStub';
useVscodeStub();

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Conversation, INTERRUPTED_MESSAGE } = require('../../../src/extension/conversation') as typeof import('../../../src/extension/conversation');
type Conversation = import('../../../src/extension/conversation').Conversation;

const saved = (state: MemoryMemento) => state.get<ChatTurnView[]>(CONVERSATION_KEY) ?? [];
const roles = (messages: ChatMessage[]) => messages.map((message) => `${message.role}:${message.content}`);
const started = (posted: HostMessage[]) => posted.flatMap((message) => (message.type === 'turn-start' ? [message.turn] : []));
const lastInfo = () => questionsAsked.filter((question) => question.api === 'showInformationMessage').at(-1)?.text;

/** Every list of messages sent to a model alternates user and assistant, starting and ending with a question. */
function assertAlternating(messages: ChatMessage[], what: string): void {
  messages.forEach((message, index) => assert.equal(message.role, index % 2 === 0 ? 'user' : 'assistant', `${what}: ${JSON.stringify(roles(messages))}`));
  assert.equal(messages.at(-1)?.role, 'user', what);
}

test('answer view: Retry after a window reload sends only the question of that answer, never the other answers of the view', async () => {
  const service = new FakeRelayService();
  const state = new MemoryMemento();
  const before = openConversation('answer', service, state);
  await before.conversation.ask('Explain this python code: print(1)');
  const second = await before.conversation.ask('What is 2+3?');

  // A window reload: a new Conversation over the same workspace state.
  const after = openConversation('answer', service, state);
  await after.conversation.receive({ type: 'retry', turnId: second.turnId });
  assert.deepEqual(roles(service.sent.at(-1) ?? []), ['user:What is 2+3?']);
  // The question comes again with its new answer, at the end (as a new Explain would).
  assert.deepEqual(
    started(after.posted).map((turn) => `${turn.role}:${turnText(turn)}`),
    ['user:What is 2+3?', 'assistant:'],
  );

  // Reloaded once more, Retry on the answer Retry wrote: still its own question only.
  const again = openConversation('answer', service, state);
  const retried = saved(state).at(-1);
  assert.equal(retried?.role, 'assistant');
  await again.conversation.receive({ type: 'retry', turnId: retried.id });
  assert.deepEqual(roles(service.sent.at(-1) ?? []), ['user:What is 2+3?']);
});

test('chat: Retry after a window reload sends the chat before that answer as the next question would, a failed answer and its question left out', async () => {
  const service = new FakeRelayService();
  const state = new MemoryMemento();
  const chat = openConversation('chat', service, state);
  service.failWith = 'The LLM server refused the request (HTTP 500).';
  await chat.conversation.ask('Q1');
  service.failWith = undefined;
  const second = await chat.conversation.ask('Q2');
  assert.deepEqual(roles(service.sent.at(-1) ?? []), ['user:Q2'], 'the failed answer took its question with it');

  const reloaded = openConversation('chat', service, state);
  await reloaded.conversation.receive({ type: 'retry', turnId: second.turnId });
  assert.deepEqual(roles(service.sent.at(-1) ?? []), ['user:Q2']);
});

test('chat: Retry on an earlier answer replaces it and, once confirmed, removes the turns after it; what the next question sends alternates', async () => {
  const service = new FakeRelayService();
  const chat = openConversation('chat', service);
  const first = await chat.conversation.ask('Q1');
  await chat.conversation.ask('Q2');
  const idsBefore = started(chat.posted).map((turn) => turn.id);

  // The user declines: nothing changes, nothing is asked.
  const sentBefore = service.sent.length;
  answerWarnings(undefined);
  await chat.conversation.receive({ type: 'retry', turnId: first.turnId });
  const asked = warningsShown.at(-1);
  assert.equal(asked?.message, 'Retry this answer? The chat goes back to it: the 2 messages after it are removed.');
  assert.equal(asked?.options?.modal, true);
  assert.equal(service.sent.length, sentBefore);
  assert.equal(
    chat.posted.some((message) => message.type === 'turns-removed'),
    false,
  );

  answerWarnings('Retry');
  try {
    await chat.conversation.receive({ type: 'retry', turnId: first.turnId });
  } finally {
    answerWarnings(undefined);
  }
  assert.deepEqual(roles(service.sent.at(-1) ?? []), ['user:Q1']);
  const removed = chat.posted.find((message) => message.type === 'turns-removed');
  assert.deepEqual(removed?.type === 'turns-removed' && removed.turnIds, idsBefore.slice(1), 'the retried answer and the turns after it');

  await chat.conversation.ask('Q3');
  const next = service.sent.at(-1) ?? [];
  assert.deepEqual(roles(next), ['user:Q1', 'assistant:Answer 3, first half. Second half.', 'user:Q3']);
  for (const messages of service.sent) assertAlternating(messages, 'sent');
  assert.deepEqual(
    saved(chat.state).map((turn) => turn.role),
    ['user', 'assistant', 'user', 'assistant'],
    'saved as shown',
  );

  // Retry on the last answer replaces it with no question asked.
  const warningsBefore = warningsShown.length;
  const last = saved(chat.state).at(-1);
  assert.ok(last);
  await chat.conversation.receive({ type: 'retry', turnId: last.id });
  assert.equal(warningsShown.length, warningsBefore);
  assert.deepEqual(
    saved(chat.state).map((turn) => `${turn.role}:${turnText(turn)}`),
    ['user:Q1', 'assistant:Answer 3, first half. Second half.', 'user:Q3', 'assistant:Answer 5, first half. Second half.'],
  );
});

test('chat: the next question after a failed answer sends no two questions in a row', async () => {
  const service = new FakeRelayService();
  const chat = openConversation('chat', service);
  await chat.conversation.ask('Q1');
  service.failWith = 'The LLM server refused the request (HTTP 500).';
  await chat.conversation.ask('Q2');
  service.failWith = undefined;
  await chat.conversation.ask('Q3');
  assert.deepEqual(roles(service.sent.at(-1) ?? []), ['user:Q1', 'assistant:Answer 1, first half. Second half.', 'user:Q3']);
});

test("Stop and New chat in the chat stop only the chat's own answer, never the answer view's", async () => {
  const service = new FakeRelayService();
  const chat = openConversation('chat', service);
  await chat.conversation.ask('Q1');
  const answers = openConversation('answer', service);
  const held = service.holdNext();
  const asking = answers.conversation.ask('Explain this code: x = 1');
  await held.waiting;

  // Only the view whose answer it is gets a Stop to press.
  const busy = (posted: HostMessage[]) => posted.filter((message) => message.type === 'busy').at(-1);
  assert.deepEqual(busy(answers.posted), { type: 'busy', busy: true, own: true });
  assert.deepEqual(busy(chat.posted), { type: 'busy', busy: true, own: false });

  await chat.conversation.receive({ type: 'stop' });
  await chat.conversation.receive({ type: 'new-chat' });
  assert.equal(service.stops, 0, "the answer view's answer goes on");
  assert.ok(
    chat.posted.some((message) => message.type === 'cleared'),
    'the chat was cleared all the same',
  );
  held.release();
  const { outcome } = await asking;
  assert.equal(outcome.error, undefined);
  assert.equal(outcome.stats?.finishReason, 'eos');

  // The chat's own answer: its Stop and New chat do stop it.
  for (const action of ['stop', 'new-chat'] as const) {
    const mine = service.holdNext();
    const sending = chat.conversation.receive({ type: 'send', text: 'Q2' });
    await mine.waiting;
    await answers.conversation.receive({ type: 'stop' });
    assert.equal(service.stops, 0, `the answer view's Stop leaves the chat's answer (${action})`);
    await chat.conversation.receive({ type: action });
    await sending;
    assert.equal(service.stops, 1, action);
    service.stops = 0;
  }
});

test('a request while an answer runs adds no turn (the running one stays last) and says why; the init names the running turn', async () => {
  const service = new FakeRelayService();
  const answers = openConversation('answer', service);
  const first = await answers.conversation.ask('What is 2+3?');
  const held = service.holdNext();
  const running = answers.conversation.ask('What is 4+5?');
  await held.waiting;
  const runningId = started(answers.posted).at(-1)?.id;
  const turnsBefore = started(answers.posted).length;
  const sentBefore = service.sent.length;

  // Retry on an older answer of the same view.
  await answers.conversation.receive({ type: 'retry', turnId: first.turnId });
  assert.equal(
    lastInfo(),
    'Relay is still writing an answer (in this view), so Retry did not start. Try again when it ends, or stop it first (its Stop button, or "Relay: Stop").',
  );
  // Explain Selection while the chat (here: the same service) is busy.
  const chat = openConversation('chat', service);
  const refused = await chat.conversation.ask('Q');
  assert.equal(refused.turnId, '');
  assert.equal(
    lastInfo(),
    'Relay is still writing an answer (in another view or in @relay), so this question was not asked. Try again when it ends, or stop it first (its Stop button, or "Relay: Stop").',
  );
  await chat.conversation.receive({ type: 'send', text: 'Typed in the chat' });
  assert.deepEqual(
    chat.posted.at(-1),
    {
      type: 'not-sent',
      text: 'Typed in the chat',
      reason:
        'Relay is still writing an answer (in another view or in @relay), so this question was not asked. Try again when it ends, or stop it first (its Stop button, or "Relay: Stop").',
    },
    'the view cleared its input when it sent: the text goes back',
  );
  await answers.conversation.receive({ type: 'send', text: 'Another question' });
  assert.equal(answers.posted.at(-1)?.type, 'not-sent');
  assert.equal(started(answers.posted).length, turnsBefore, 'no turn added');
  assert.equal(started(chat.posted).length, 0);
  assert.equal(service.sent.length, sentBefore, 'nothing was sent');
  assert.equal(saved(answers.state).at(-1)?.id, runningId, 'the running answer is still the last turn saved');

  // The view reloads mid-answer: the host says which turn it is writing.
  await answers.conversation.receive({ type: 'ready' });
  const init = answers.posted.at(-1);
  assert.equal(init?.type, 'init');
  assert.equal(init.type === 'init' && init.runningTurnId, runningId);
  assert.equal(init.type === 'init' && init.turns.at(-1)?.id, runningId);
  // The other view is busy, but writes none of its turns.
  await chat.conversation.receive({ type: 'ready' });
  const chatInit = chat.posted.at(-1);
  assert.deepEqual(chatInit?.type === 'init' && [chatInit.busy, chatInit.runningTurnId], [true, undefined]);

  held.release();
  await running;
  await answers.conversation.receive({ type: 'ready' });
  const idle = answers.posted.at(-1);
  assert.deepEqual(idle?.type === 'init' && [idle.busy, idle.runningTurnId], [false, undefined]);
});

test('a window closed mid-answer: the next window shows the question and the answer as interrupted, its text so far kept, with Retry', async () => {
  for (const how of ['saved while written', 'saved on close'] as const) {
    const service = new FakeRelayService();
    const state = new MemoryMemento();
    const chat = openConversation('chat', service, state);
    await chat.conversation.ask('Q1');
    const held = service.holdNext();
    const sending = chat.conversation.ask('Q2');
    await held.waiting;
    // Saved as the answer started: the question and the (empty) answer.
    assert.deepEqual(
      saved(state).map((turn) => `${turn.role}:${turnText(turn)}`),
      ['user:Q1', 'assistant:Answer 1, first half. Second half.', 'user:Q2', 'assistant:'],
    );
    if (how === 'saved while written') {
      // Its text so far follows shortly (a bounded wait for the save, not a timing check).
      for (let i = 0; i < 100 && turnText(saved(state).at(-1)!) === ''; i++) await new Promise((resolve) => setTimeout(resolve, 50));
    } else {
      // What deactivate() calls before the service stops the answer.
      await chat.conversation.close();
      service.stop();
      await sending;
    }
    // The next window: its own service (nothing running), the turns from workspace state.
    const nextWindow = new FakeRelayService();
    const reloaded = openConversation('chat', nextWindow, state);
    await reloaded.conversation.receive({ type: 'ready' });
    const init = reloaded.posted.at(-1);
    assert.ok(init?.type === 'init', how);
    assert.equal(init.runningTurnId, undefined, how);
    const answer = init.turns.at(-1);
    assert.equal(answer?.role, 'assistant', how);
    assert.equal(turnText(answer), 'Answer 2, first half.', `${how}: the part written is kept`);
    assert.deepEqual(answer.error, { message: INTERRUPTED_MESSAGE, fix: 'retry' }, how);
    assert.equal(answer.stats, undefined, how);
    assert.equal(INTERRUPTED_MESSAGE, 'Interrupted: the window was reloaded or closed while this answer was written; the part written is kept.');
    // Its Retry answers the question again, in its place.
    await reloaded.conversation.receive({ type: 'retry', turnId: answer.id });
    assert.deepEqual(
      nextWindow.sent.map((messages) => roles(messages)),
      [['user:Q1', 'assistant:Answer 1, first half. Second half.', 'user:Q2']],
      how,
    );
    assert.deepEqual(
      saved(state).map((turn) => `${turn.role}:${turnText(turn)}${turn.error ? ' (error)' : ''}`),
      ['user:Q1', 'assistant:Answer 1, first half. Second half.', 'user:Q2', 'assistant:Answer 1, first half. Second half.'],
      `${how}: the interrupted answer replaced`,
    );
    if (how === 'saved while written') {
      held.release();
      await sending;
    }
  }
});

test('the chat view posts to the view VS Code resolved last, even when the old one is disposed after it', async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { ChatViewProvider } = require('../../../src/extension/chatView') as typeof import('../../../src/extension/chatView');
  const service = new FakeRelayService();
  const conversation: Conversation = new Conversation('chat', service as never, () => undefined);
  const provider = new ChatViewProvider({ path: '/ext', fsPath: '/ext', scheme: 'file' } as never, conversation);
  const view = () => {
    const posted: unknown[] = [];
    const disposers: (() => void)[] = [];
    return {
      posted,
      dispose: () => disposers.forEach((dispose) => dispose()),
      webview: {
        options: undefined,
        html: '',
        cspSource: 'stub:',
        asWebviewUri: (uri: unknown) => uri,
        postMessage: async (message: unknown) => (posted.push(message), true),
        onDidReceiveMessage: () => ({ dispose() {} }),
      },
      onDidDispose: (listener: () => void) => (disposers.push(listener), { dispose() {} }),
    };
  };
  const old = view();
  const current = view();
  provider.resolveWebviewView(old as never);
  provider.resolveWebviewView(current as never);
  old.dispose();
  await conversation.init();
  assert.deepEqual(
    current.posted.map((message) => (message as { type: string }).type),
    ['init'],
  );
  assert.deepEqual(old.posted, []);

  // The current view disposed: the conversation posts nowhere until the next one.
  current.dispose();
  await conversation.init();
  assert.equal(current.posted.length, 1);
});
