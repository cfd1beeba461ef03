// What the user types into a command's box is never lost to a running answer: while one
// runs, Solve Problem and the demo's "Ask another" say so before they open their box; an
// answer that starts while the box is open refuses the question, and the next box of that
// command opens with the text typed. Real AnswerPanel, Conversation and RelayDemo on the
// fake service, through the VS Code stub's input boxes and notifications.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { answerQuestions, createdPanels, MemoryMemento, questionsAsked, useVscodeStub, warningsShown, type AskedQuestion } from './vscodeStub';
import { FakeRelayService, openConversation } from './fakeRelayService';
useVscodeStub();

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { AnswerPanel } = require('../../../src/extension/answerPanel') as typeof import('../../../src/extension/answerPanel');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Conversation } = require('../../../src/extension/conversation') as typeof import('../../../src/extension/conversation');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { solveProblem } = require('../../../src/extension/commands') as typeof import('../../../src/extension/commands');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayDemo } = require('../../../src/extension/demo/demo') as typeof import('../../../src/extension/demo/demo');

const EXTENSION_URI = { path: '/ext', fsPath: '/ext', scheme: 'file' } as never;
const BUSY = /^Relay is still writing an answer \(in this view\), so Solve Problem did not start\. Try again when it ends, or stop it first/;

/** An answer view on `service` whose every new panel says at once that it listens. */
function answerView(service: FakeRelayService) {
  const conversation = new Conversation('answer', service as never, () => undefined, { state: new MemoryMemento(), key: 'turns' });
  const panel = new AnswerPanel(EXTENSION_URI, conversation, [5_000, 5_000]);
  return { conversation, panel };
}

/** Runs `fn` with the questions it put to the user; each is answered by `answer`. */
async function asking(answer: (question: AskedQuestion) => unknown, fn: () => Promise<unknown>): Promise<AskedQuestion[]> {
  const before = questionsAsked.length;
  answerQuestions(answer);
  try {
    await fn();
  } finally {
    answerQuestions(() => undefined);
  }
  return questionsAsked.slice(before);
}

/** Says 'ready' for each panel created while `fn` runs (the view's script listening). */
async function withViewsReady<T>(fn: () => Promise<T>): Promise<T> {
  const before = createdPanels.length;
  const running = fn();
  for (let i = 0; i < 200 && createdPanels.length === before; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  createdPanels.at(-1)?.fromWebview({ type: 'ready' });
  return running;
}

const PROBLEM = 'A long problem the user typed: ' + 'x'.repeat(300);

test('Solve Problem while an answer runs: the busy message, and no box to type into', async () => {
  const service = new FakeRelayService();
  const { panel } = answerView(service);
  const held = service.holdNext();
  const first = withViewsReady(() => panel.ask('first', undefined));
  await held.waiting;
  const asked = await asking(
    (question) => (question.api === 'showInputBox' ? PROBLEM : undefined),
    () => solveProblem(panel),
  );
  assert.deepEqual(
    asked.map((question) => question.api),
    ['showInformationMessage'],
    'no input box',
  );
  assert.match(asked[0].text, BUSY);
  held.release();
  await first;
  assert.equal(service.sent.length, 1, 'nothing else was sent');
  createdPanels.at(-1)?.dispose();
});

test('an answer that starts while the Solve Problem box is open: the problem is refused, and the next box opens with it', async () => {
  const service = new FakeRelayService();
  const { panel } = answerView(service);
  const chat = openConversation('chat', service);
  const held = service.holdNext();
  let other: Promise<unknown> | undefined;
  const asked = await asking(
    (question) => {
      if (question.api !== 'showInputBox') return undefined;
      other = chat.conversation.ask('meanwhile, in the chat'); // starts before the box is submitted
      return PROBLEM;
    },
    () => withViewsReady(() => solveProblem(panel)),
  );
  assert.ok(other, 'the box was opened');
  assert.match(asked.at(-1)?.text ?? '', /Relay is still writing an answer \(in another view or in @relay\), so this question was not asked/);
  await held.waiting;
  held.release();
  await other;

  const again = await asking(
    () => undefined, // the user looks, and closes the box
    () => solveProblem(panel),
  );
  assert.equal(again[0]?.api, 'showInputBox');
  assert.equal(again[0].options.value, PROBLEM, 'the text typed comes back');
  // Taken once: a box closed is the user's choice.
  const third = await asking(
    () => undefined,
    () => solveProblem(panel),
  );
  assert.equal(third[0].options.value, undefined);
  assert.equal(service.sent.length, 1, 'only the chat was answered');
  createdPanels.at(-1)?.dispose();
});

test('a typed problem too long to send is kept for the next box, with the way to fix it', async () => {
  const service = new FakeRelayService();
  const { panel } = answerView(service);
  const long = 'y'.repeat(20_001);
  const warned = warningsShown.length;
  await asking(
    (question) => (question.api === 'showInputBox' ? long : undefined),
    () => solveProblem(panel),
  );
  assert.match(warningsShown[warned]?.message ?? '', /the problem has 20,001 characters; shorten it to at most 20,000 to solve/);
  const again = await asking(
    () => undefined,
    () => solveProblem(panel),
  );
  assert.equal(again[0].options.value, long);
  assert.equal(service.sent.length, 0);
});

const extension = mkdtempSync(join(tmpdir(), 'relay-demo-typed-'));
after(() => rmSync(extension, { recursive: true, force: true }));
for (const model of ['relay-demo-slm', 'relay-demo-llm']) {
  mkdirSync(join(extension, 'models', model), { recursive: true });
  writeFileSync(join(extension, 'models', model, 'config.json'), '{}');
}

test('the demo\'s "Ask another" while an answer runs: said before the box opens; one that starts while it is open keeps the question for the next box', async () => {
  const service = new FakeRelayService();
  const { panel } = answerView(service);
  const chat = openConversation('chat', service);
  const demo = new RelayDemo({ extensionPath: extension } as never, panel, service as never, { recordDemoAnswer: () => undefined } as never);

  let held = service.holdNext();
  let other = chat.conversation.ask('in the chat');
  await held.waiting;
  const busy = await asking(
    () => undefined,
    () => demo.handle('another'),
  );
  assert.deepEqual(
    busy.map((question) => question.api),
    ['showInformationMessage'],
    'no input box',
  );
  assert.match(busy[0].text, /Relay is writing an answer\. Stop it first/);
  held.release();
  await other;

  held = service.holdNext();
  const typed = '12*3+45=?';
  await asking(
    (question) => {
      if (question.api !== 'showInputBox') return undefined;
      other = chat.conversation.ask('meanwhile, in the chat');
      return typed;
    },
    () => demo.handle('another'),
  );
  await held.waiting;
  held.release();
  await other;
  const again = await asking(
    () => undefined,
    () => demo.handle('another'),
  );
  assert.equal(again[0]?.api, 'showInputBox');
  assert.equal(again[0].options.value, typed, 'the question typed comes back');
  assert.equal(service.sent.length, 2, 'only the chat was answered');
});
