// The answer view VS Code reopens after a window reload may never load its script (seen in
// VS Code for the web): a question must not wait for it forever.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  answerQuestions,
  commandsRun,
  createdPanels,
  MemoryMemento,
  questionsAsked,
  useVscodeStub,
  warningsShown,
  window as stubWindow,
  type StubWebviewPanel,
} from './vscodeStub';
useVscodeStub();
import type { Conversation } from '../../../src/extension/conversation';

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { AnswerPanel } = require('../../../src/extension/answerPanel') as typeof import('../../../src/extension/answerPanel');

/** A conversation that records what it was asked and which view it posts to. */
function fakeConversation() {
  const asked: string[] = [];
  const attached: unknown[] = [];
  const conversation = {
    attach: (view: unknown) => void attached.push(view),
    receive: async () => {},
    ask: async (question: string) => {
      asked.push(question);
      return { turnId: `turn-${asked.length}`, outcome: { answer: '' } };
    },
  };
  return { conversation: conversation as unknown as Conversation, asked, attached };
}

const EXTENSION_URI = { path: '/ext', fsPath: '/ext', scheme: 'file' } as never;
const TIMEOUTS = [40, 80];

/** Resolves once a new panel is created; the test then decides whether its script says it is listening. */
async function nextPanel(count: number): Promise<StubWebviewPanel> {
  for (let i = 0; i < 200 && createdPanels.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  const panel = createdPanels[count - 1];
  assert.ok(panel, `panel ${count} was created`);
  return panel;
}

test('a reopened view that never loads is replaced by a new one, and the question is asked there', async () => {
  const { conversation, asked } = fakeConversation();
  const answers = new AnswerPanel(EXTENSION_URI, conversation, TIMEOUTS);
  const before = createdPanels.length;
  // What VS Code hands back after a reload: a panel whose script never says 'ready'.
  const restored = createdPanelLike();
  void answers.restore(restored as never);

  const asking = answers.ask('What is 2+3?', undefined);
  const fresh = await nextPanel(before + 1);
  assert.equal(restored.disposed, true, 'the stuck view is closed');
  assert.equal(asked.length, 0, 'nothing asked before the new view listens');
  assert.match(fresh.webview.html, /data-view="answer"/);
  fresh.fromWebview({ type: 'ready' });
  await asking;
  assert.deepEqual(asked, ['What is 2+3?']);

  // A view that loaded is used as it is.
  await answers.ask('And 2+4?', undefined);
  assert.equal(createdPanels.length, before + 1, 'no other view');
  assert.deepEqual(asked, ['What is 2+3?', 'And 2+4?']);
});

test('when a new view does not load either, the question is not asked and the user is told how to recover', async () => {
  const { conversation, asked } = fakeConversation();
  const answers = new AnswerPanel(EXTENSION_URI, conversation, TIMEOUTS);
  const before = createdPanels.length;
  answerQuestions((question) => (question.api === 'showErrorMessage' ? 'Reload Window' : undefined));
  try {
    await answers.ask('What is 2+3?', undefined);
  } finally {
    answerQuestions(() => undefined);
  }
  assert.equal(createdPanels.length, before + 2, 'a view, then a new one');
  assert.ok(
    createdPanels.slice(before).every((panel) => panel.disposed),
    'neither is left open',
  );
  assert.deepEqual(asked, []);
  const error = questionsAsked.at(-1);
  assert.equal(error?.api, 'showErrorMessage');
  assert.match(error.text, /^Relay: The Relay answer view did not load, so nothing was asked\. Reload the window/);
  assert.deepEqual(error.items, ['Reload Window']);
  for (let i = 0; i < 100 && commandsRun.at(-1)?.command !== 'workbench.action.reloadWindow'; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  assert.equal(commandsRun.at(-1)?.command, 'workbench.action.reloadWindow', 'the button reloads the window');
});

test('closing the view while it loads cancels: no other view opens, nothing is asked, no error; the next question opens a new view', async () => {
  const { conversation, asked } = fakeConversation();
  const answers = new AnswerPanel(EXTENSION_URI, conversation, TIMEOUTS);
  const before = createdPanels.length;
  const errorsBefore = questionsAsked.filter((question) => question.api === 'showErrorMessage').length;
  const asking = answers.ask('Explain x', undefined);
  const first = await nextPanel(before + 1);
  first.dispose(); // the user closes the tab before its script said it listens
  await asking;
  assert.equal(createdPanels.length, before + 1, 'no view reopened');
  assert.deepEqual(asked, []);
  assert.equal(questionsAsked.filter((question) => question.api === 'showErrorMessage').length, errorsBefore, 'a cancel, not an error');

  const again = answers.ask('Explain y', undefined);
  const second = await nextPanel(before + 2);
  second.fromWebview({ type: 'ready' });
  await again;
  assert.deepEqual(asked, ['Explain y']);
  second.dispose();
});

test('Insert after the source editor was closed goes to the editor shown, or says to open one: never a silent failure', async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Conversation } = require('../../../src/extension/conversation') as typeof import('../../../src/extension/conversation');
  const service = {
    busy: false,
    onDidChangeBusy: () => ({ dispose() {} }),
    setupWarning: async () => undefined,
    answer: async (_messages: unknown, sink: { onEvent(event: unknown, model: string): void }) => {
      sink.onEvent({ type: 'span', source: 'slm', text: 'It adds.', tokens: 2 }, 'small');
      return { answer: 'It adds.', stats: undefined };
    },
  };
  const conversation = new Conversation('answer', service as never, () => undefined, { state: new MemoryMemento(), key: 'turns' });
  const answers = new AnswerPanel(EXTENSION_URI, conversation, TIMEOUTS);
  const before = createdPanels.length;
  const inserted: string[] = [];
  const editor = (closed: boolean) => ({
    document: { isClosed: closed },
    selection: { active: { line: 0, character: 0 } },
    edit: async (build: (builder: { replace(at: unknown, text: string): void }) => void) => {
      if (closed) throw new Error('TextEditor#edit not possible on closed editors');
      build({ replace: (_at, text) => void inserted.push(text) });
      return true;
    },
  });
  const source = editor(false);
  const asking = answers.ask('What does it do?', source as never);
  const panel = await nextPanel(before + 1);
  panel.fromWebview({ type: 'ready' });
  await asking;
  const turn = panel.webview.posted.find((message) => (message as { turn?: { role?: string } }).turn?.role === 'assistant') as { turn: { id: string } };
  assert.ok(turn, 'the answer was shown');
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => void unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  const visibleBefore = stubWindow.visibleTextEditors;
  try {
    source.document.isClosed = true; // the source tab was closed
    const shown = editor(false);
    stubWindow.visibleTextEditors = [shown];
    panel.fromWebview({ type: 'insert', turnId: turn.turn.id });
    for (let i = 0; i < 100 && inserted.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(inserted, ['It adds.'], 'the editor shown took the answer');

    stubWindow.visibleTextEditors = [];
    const warningsBefore = warningsShown.length;
    panel.fromWebview({ type: 'insert', turnId: turn.turn.id });
    for (let i = 0; i < 100 && warningsShown.length === warningsBefore; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(warningsShown.at(-1)?.message, 'Relay: open an editor to insert the answer into.');
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(unhandled, []);
  } finally {
    stubWindow.visibleTextEditors = visibleBefore;
    process.off('unhandledRejection', onUnhandled);
    panel.dispose();
  }
});

test('a second Explain refused while the first answer is written leaves Insert of that answer in the editor it came from', async () => {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const { Conversation } = require('../../../src/extension/conversation') as typeof import('../../../src/extension/conversation');
  let finish: () => void = () => undefined;
  const service = {
    busy: false,
    onDidChangeBusy: () => ({ dispose() {} }),
    setupWarning: async () => undefined,
    answer: async (_messages: unknown, sink: { onEvent(event: unknown, model: string): void }) => {
      service.busy = true;
      sink.onEvent({ type: 'span', source: 'slm', text: 'It adds.', tokens: 2 }, 'small');
      await new Promise<void>((resolve) => (finish = resolve));
      service.busy = false;
      return { answer: 'It adds.', stats: undefined };
    },
  };
  const conversation = new Conversation('answer', service as never, () => undefined, { state: new MemoryMemento(), key: 'turns' });
  const answers = new AnswerPanel(EXTENSION_URI, conversation, TIMEOUTS);
  const before = createdPanels.length;
  const inserted: [string, string][] = [];
  const editor = (name: string) => ({
    document: { isClosed: false },
    selection: { active: { line: 0, character: 0 } },
    edit: async (build: (builder: { replace(at: unknown, text: string): void }) => void) => {
      build({ replace: (_at, text) => void inserted.push([name, text]) });
      return true;
    },
  });
  const first = editor('first');
  const second = editor('second');
  const visibleBefore = stubWindow.visibleTextEditors;
  stubWindow.visibleTextEditors = [first, second] as never;
  const infoBefore = questionsAsked.length;
  try {
    const asking = answers.ask('What does it do?', first as never);
    const panel = await nextPanel(before + 1);
    panel.fromWebview({ type: 'ready' });
    for (let i = 0; i < 200 && !service.busy; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.equal(service.busy, true, 'the first answer is being written');
    // Explain in another editor: refused, as an answer is being written.
    await answers.ask('And this?', second as never);
    assert.match(
      questionsAsked
        .slice(infoBefore)
        .map((question) => question.text)
        .join('\n'),
      /Relay is still writing an answer/,
    );
    finish();
    await asking;
    const turn = panel.webview.posted.find((message) => (message as { turn?: { role?: string } }).turn?.role === 'assistant') as { turn: { id: string } };
    panel.fromWebview({ type: 'insert', turnId: turn.turn.id });
    for (let i = 0; i < 100 && inserted.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5));
    assert.deepEqual(inserted, [['first', 'It adds.']], 'inserted where its question came from');
    panel.dispose();
  } finally {
    stubWindow.visibleTextEditors = visibleBefore;
    finish();
  }
});

/** A panel as VS Code restores one: created outside the extension, never listening. */
function createdPanelLike(): StubWebviewPanel {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const vscode = require('vscode') as { window: { createWebviewPanel(...args: unknown[]): StubWebviewPanel } };
  const panel = vscode.window.createWebviewPanel('relay.answer', 'Relay Answer', -2, {});
  createdPanels.pop(); // not one the extension created
  return panel;
}
