// What "Copy" and "Insert at cursor" give, and where Insert goes: the answer the view shows,
// without the reasoning it folds away (a thinking model's <think>...</think>, or only its
// close where the chat template opened it in the prompt); each answer inserted into the
// editor its own question came from (a Retry's into its original's), however many were
// asked since. Real AnswerPanel and Conversation, through the VS Code stub.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { clipboardWrites, createdPanels, MemoryMemento, questionsAsked, useVscodeStub, window as stubWindow, type StubWebviewPanel } from './vscodeStub';
import { FakeRelayService } from './fakeRelayService';
useVscodeStub();

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Conversation } = require('../../../src/extension/conversation') as typeof import('../../../src/extension/conversation');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { AnswerPanel } = require('../../../src/extension/answerPanel') as typeof import('../../../src/extension/answerPanel');

const EXTENSION_URI = { path: '/ext', fsPath: '/ext', scheme: 'file' } as never;

/** An editor that records what was inserted into it, as `name: text`, in `inserted`. */
function editor(name: string, inserted: string[]) {
  return {
    name,
    document: { isClosed: false },
    selection: { active: { line: 0, character: 0 } },
    edit: async (build: (builder: { replace(at: unknown, text: string): void }) => void) => {
      build({ replace: (_at, text) => void inserted.push(`${name}: ${text}`) });
      return true;
    },
  } as never;
}

/** A conversation whose one answer writes `spans` (the small model's); the editor Insert goes to is `target`. */
async function answered(spans: string[], target: unknown) {
  const service = {
    busy: false,
    onDidChangeBusy: () => ({ dispose() {} }),
    setupWarning: async () => undefined,
    answer: async (_messages: unknown, sink: { onEvent(event: unknown, model: string): void }) => {
      for (const text of spans) sink.onEvent({ type: 'span', source: 'slm', text, tokens: 2 }, 'small');
      return { answer: spans.join('') };
    },
  };
  const conversation = new Conversation('answer', service as never, () => undefined);
  conversation.attach({ post: () => undefined, targetEditor: () => target as never });
  const { turnId } = await conversation.ask('Explain this python code: ...');
  return { conversation, turnId };
}

/** What Copy, then Insert, of the one answer written as `spans` give (undefined: nothing given). */
async function copiedAndInserted(spans: string[]): Promise<{ copied: string | undefined; inserted: string[]; told: string[] }> {
  const inserted: string[] = [];
  const target = editor('source', inserted);
  const visibleBefore = stubWindow.visibleTextEditors;
  stubWindow.visibleTextEditors = [target];
  const clipboardBefore = clipboardWrites.length;
  const questionsBefore = questionsAsked.length;
  try {
    const { conversation, turnId } = await answered(spans, target);
    await conversation.receive({ type: 'copy', turnId });
    await conversation.receive({ type: 'insert', turnId });
  } finally {
    stubWindow.visibleTextEditors = visibleBefore;
  }
  const told = questionsAsked.slice(questionsBefore).map((question) => question.text);
  return { copied: clipboardWrites.length > clipboardBefore ? clipboardWrites.at(-1) : undefined, inserted, told };
}

test('Copy and Insert give the answer without its thinking, as the view shows it', async () => {
  const thought = await copiedAndInserted(['<think>\nThe user wants the sum. Let me reason.\n</think>\n\n', 'It adds.']);
  assert.deepEqual(thought, { copied: 'It adds.', inserted: ['source: It adds.'], told: [] });
  // The template opened <think> in the prompt: the answer starts inside it and only closes it.
  const opened = await copiedAndInserted(['The user wants the sum.\n</think>\n\nIt ', 'adds.']);
  assert.deepEqual(opened, { copied: 'It adds.', inserted: ['source: It adds.'], told: [] });
  // No thinking: the whole answer, as it was written (a </think> an explanation quotes is its text).
  const plain = await copiedAndInserted(['The tag `</think>` ends\n', 'the thinking.\n']);
  assert.deepEqual(plain, { copied: 'The tag `</think>` ends\nthe thinking.\n', inserted: ['source: The tag `</think>` ends\nthe thinking.\n'], told: [] });
});

test('an answer that has only thought (stopped before it answered) gives nothing, and says so', async () => {
  const { copied, inserted, told } = await copiedAndInserted(['<think>\nThe user wants the sum. Let me']);
  assert.equal(copied, undefined, 'the clipboard is left as it was');
  assert.deepEqual(inserted, []);
  assert.deepEqual(told, [
    'Relay: nothing to copy: the answer has no text beyond its thinking.',
    'Relay: nothing to insert: the answer has no text beyond its thinking.',
  ]);
});

/** Says 'ready' for the panel created while `fn` runs (the view's script listening). */
async function withViewReady<T>(fn: () => Promise<T>): Promise<{ result: T; panel: StubWebviewPanel }> {
  const before = createdPanels.length;
  const running = fn();
  for (let i = 0; i < 200 && createdPanels.length === before; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  const panel = createdPanels.at(-1);
  assert.ok(panel && createdPanels.length > before, 'the view opened');
  panel.fromWebview({ type: 'ready' });
  return { result: await running, panel };
}

/** The ids of the answers the view was sent, in order. */
function answerIds(panel: StubWebviewPanel): string[] {
  return panel.webview.posted.flatMap((message) => {
    const { type, turn } = message as { type: string; turn?: { id: string; role: string } };
    return type === 'turn-start' && turn?.role === 'assistant' ? [turn.id] : [];
  });
}

/** Lets the view's messages (handled without being awaited) run until `done`. */
async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
}

test('Insert of each answer goes to the editor its question came from; a Retry inserts where its original did', async () => {
  const service = new FakeRelayService();
  const conversation = new Conversation('answer', service as never, () => undefined, { state: new MemoryMemento(), key: 'turns' });
  const answers = new AnswerPanel(EXTENSION_URI, conversation, [5_000, 5_000]);
  const inserted: string[] = [];
  const a = editor('a.py', inserted);
  const b = editor('b.ts', inserted);
  const visibleBefore = stubWindow.visibleTextEditors;
  stubWindow.visibleTextEditors = [b, a]; // an answer without its editor would go to b.ts
  try {
    const { panel } = await withViewReady(() => answers.ask('Explain this python code: A', a));
    // The second answer is used while it is written: its Insert goes to its own editor already.
    const held = service.holdNext();
    const second = answers.ask('Explain this typescript code: B', b);
    await held.waiting;
    panel.fromWebview({ type: 'insert', turnId: answerIds(panel)[1] });
    await until(() => inserted.length === 1);
    assert.deepEqual(inserted, ['b.ts: Answer 2, first half.']);
    held.release();
    await second;

    // The older answer: into a.py, not the newest question's b.ts.
    panel.fromWebview({ type: 'insert', turnId: answerIds(panel)[0] });
    await until(() => inserted.length === 2);
    assert.deepEqual(inserted.at(-1), 'a.py: Answer 1, first half. Second half.');

    // Retry of the first answer: the new answer (written last) still goes into a.py.
    panel.fromWebview({ type: 'retry', turnId: answerIds(panel)[0] });
    await until(() => answerIds(panel).length === 3 && service.sent.length === 3 && !service.busy);
    panel.fromWebview({ type: 'insert', turnId: answerIds(panel)[2] });
    await until(() => inserted.length === 3);
    assert.deepEqual(inserted.at(-1), 'a.py: Answer 3, first half. Second half.');

    // New chat: the answers and their editors go; an answer asked then from nowhere goes to the focused editor.
    panel.fromWebview({ type: 'new-chat' });
    await until(() => panel.webview.posted.some((message) => (message as { type: string }).type === 'cleared'));
    await answers.ask('Solve: 2+2', undefined);
    stubWindow.activeTextEditor = b;
    panel.fromWebview({ type: 'insert', turnId: answerIds(panel)[3] });
    await until(() => inserted.length === 4);
    assert.deepEqual(inserted.at(-1), 'b.ts: Answer 4, first half. Second half.');
    panel.dispose();
  } finally {
    stubWindow.visibleTextEditors = visibleBefore;
    stubWindow.activeTextEditor = undefined;
  }
});
