// "Relay: Show Answers": an answer view closed while its answer is written comes back with
// it (the text so far, still being written) without asking anything again; while an answer
// runs, the status bar's click shows the view it is written in. Real AnswerPanel and
// Conversation on the fake service, through the VS Code stub's panels and status bar item.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { createdPanels, createdStatusBarItems, MemoryMemento, useVscodeStub, type StubWebviewPanel } from './vscodeStub';
import { FakeRelayService, openConversation, turnText } from './fakeRelayService';
useVscodeStub();
import type { ChatTurnView, HostMessage } from '../../../src/shared/webviewProtocol';

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { AnswerPanel, SHOW_ANSWERS_COMMAND } = require('../../../src/extension/answerPanel') as typeof import('../../../src/extension/answerPanel');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Conversation } = require('../../../src/extension/conversation') as typeof import('../../../src/extension/conversation');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayStatusBar, runningAnswerPlace } = require('../../../src/extension/statusBar') as typeof import('../../../src/extension/statusBar');

const REPO = join(__dirname, '..', '..', '..');
const EXTENSION_URI = { path: '/ext', fsPath: '/ext', scheme: 'file' } as never;

/** The panel created `count`-th, once it is (the answer view opens it after its first await at most). */
async function nextPanel(count: number): Promise<StubWebviewPanel> {
  for (let i = 0; i < 200 && createdPanels.length < count; i++) await new Promise((resolve) => setTimeout(resolve, 5));
  const panel = createdPanels[count - 1];
  assert.ok(panel, `panel ${count} was created`);
  return panel;
}

const posted = (panel: StubWebviewPanel) => panel.webview.posted as HostMessage[];

test('the answer view closed mid-answer comes back with "Relay: Show Answers": the answer so far, still written there; nothing asked again', async () => {
  const service = new FakeRelayService();
  const conversation = new Conversation('answer', service as never, () => undefined, { state: new MemoryMemento(), key: 'turns' });
  const answers = new AnswerPanel(EXTENSION_URI, conversation, [5_000, 5_000]);
  const held = service.holdNext();
  const before = createdPanels.length;
  const asking = answers.ask('Explain A', undefined);
  const first = await nextPanel(before + 1);
  first.fromWebview({ type: 'ready' });
  await held.waiting;
  first.dispose(); // the user closes the view while the answer is written

  const showing = answers.showAnswers();
  const reopened = await nextPanel(before + 2);
  reopened.fromWebview({ type: 'ready' });
  await showing;
  const init = posted(reopened).find((message) => message.type === 'init');
  assert.ok(init?.type === 'init', 'the reopened view got its state');
  const [question, answer] = init.turns as ChatTurnView[];
  assert.equal(turnText(question), 'Explain A');
  assert.equal(turnText(answer), 'Answer 1, first half.', 'the text written so far');
  assert.equal(init.runningTurnId, answer.id, 'shown as still being written');
  assert.equal(service.sent.length, 1, 'no question was sent again');

  held.release();
  await asking;
  assert.ok(
    posted(reopened).some((message) => message.type === 'turn-done' && message.turnId === answer.id),
    'the rest of the answer goes to the reopened view',
  );
  // Shown while open: the same view comes forward, no other opens, nothing is asked.
  await answers.showAnswers();
  assert.equal(createdPanels.length, before + 2);
  assert.equal(service.sent.length, 1);
  reopened.dispose();
});

test("while an answer runs, the status bar click shows it where it is written: the answer view, the Relay chat, or @relay in VS Code's Chat", async () => {
  const service = new FakeRelayService();
  const answer = openConversation('answer', service);
  const chat = openConversation('chat', service);
  const views = { answer: answer.conversation, chat: chat.conversation };
  const bar = new RelayStatusBar();
  const item = createdStatusBarItems.at(-1)!;
  const cases: [() => Promise<unknown>, string, RegExp][] = [
    [() => answer.conversation.ask('Explain A'), SHOW_ANSWERS_COMMAND, /writing an answer in the answer view\. Click to show it there/],
    [() => chat.conversation.ask('Hello'), 'relay.openChat', /writing an answer in the Relay chat\. Click to show it there/],
    // @relay asks the service itself: no view of Relay's holds it.
    [
      () => service.answer([{ role: 'user', content: 'Hi' }], { onEvent: () => undefined }),
      'workbench.action.chat.open',
      /for @relay in VS Code's Chat\. Click to show it there/,
    ],
  ];
  for (const [ask, command, tooltip] of cases) {
    const held = service.holdNext();
    const asking = ask();
    await held.waiting;
    bar.setBusy(runningAnswerPlace(views));
    assert.equal(item.text, '$(loading~spin) Relay: answering…');
    assert.equal(item.command, command);
    assert.match(item.tooltip ?? '', tooltip);
    assert.match(item.tooltip ?? '', /"Relay: Stop"/);
    held.release();
    await asking;
    bar.setBusy(undefined);
    assert.equal(item.command, 'relay.showSavings', 'once it ends, the savings again');
  }
  bar.dispose();
});

test('"Relay: Show Answers" is contributed in the Relay category and registered', () => {
  const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));
  const contributed = manifest.contributes.commands.find((c: { command: string }) => c.command === SHOW_ANSWERS_COMMAND);
  assert.deepEqual(contributed, { command: 'relay.showAnswers', title: 'Show Answers', category: 'Relay' });
  assert.match(readFileSync(join(REPO, 'src/extension/extension.ts'), 'utf8'), /registerCommand\(SHOW_ANSWERS_COMMAND, \(\) => answerPanel\.showAnswers\(\)\)/);
});
