// What a long conversation keeps in memory (src/extension/conversation.ts): the turns, as the
// saved copy, stay within the last 200 (the open view drops the older ones too), and a chat
// does not keep a copy of the whole chat per answer (Retry builds it again from the turns).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ChatMessage } from '../../../src/core/slm/types';
import type { ChatTurnView } from '../../../src/shared/webviewProtocol';
import { FakeRelayService, openConversation, turnText } from './fakeRelayService';
import { MemoryMemento, useVscodeStub } from './vscodeStub';
useVscodeStub();

type Conversation = import('../../../src/extension/conversation').Conversation;

/** The conversation's in-memory state (private fields). */
function held(conversation: Conversation) {
  const inside = conversation as unknown as { turns: ChatTurnView[]; prompts: Map<string, ChatMessage[]>; extras: Map<string, unknown> };
  return { turns: inside.turns, prompts: inside.prompts, extras: inside.extras };
}

for (const view of ['chat', 'answer'] as const) {
  test(`${view}: 205 questions keep the last 200 turns in memory, with what is kept for them, and the view drops the older ones`, async () => {
    const service = new FakeRelayService();
    const { conversation, posted } = openConversation(view, service);
    const ids: string[] = [];
    for (let i = 0; i < 205; i++) {
      const answered = await conversation.ask(`Q${i}`);
      ids.push(answered.turnId);
    }
    const { turns, prompts, extras } = held(conversation);
    assert.ok(turns.length <= 200, `${turns.length} turns in memory`);
    assert.ok(prompts.size <= 200 && extras.size <= 200, `${prompts.size} prompts, ${extras.size} extras`);
    const kept = new Set(turns.map((turn) => turn.id));
    for (const id of [...prompts.keys(), ...extras.keys()]) assert.ok(kept.has(id), 'nothing kept for a turn that went');
    assert.equal(turns.at(-1)?.id, ids.at(-1), 'the newest answer stays');

    const removed = posted.flatMap((message) => (message.type === 'turns-removed' ? message.turnIds : []));
    assert.ok(removed.length >= 10, `the view was told ${removed.length} turns went`);
    assert.ok(removed.includes(ids[0]), 'the first answer went from the view');
    assert.ok(!removed.some((id) => kept.has(id)), 'no kept turn removed from the view');

    await conversation.init();
    const init = posted.at(-1);
    assert.ok(init?.type === 'init');
    assert.ok(init.turns.length <= 200, `init sends ${init.turns.length} turns`);
    assert.equal(turnText(init.turns.at(-1)!), 'Answer 205, first half. Second half.');
  });
}

test('chat: 60 questions of long answers keep no copy of the chat per answer, and Retry still sends the chat before the answer', async () => {
  const service = new FakeRelayService();
  const { conversation } = openConversation('chat', service);
  for (let i = 0; i < 60; i++) await conversation.ask(`Question ${i}: ${'x'.repeat(2000)}`);
  const { turns, prompts } = held(conversation);
  const turnChars = turns.reduce((sum, turn) => sum + turnText(turn).length, 0);
  const promptChars = [...prompts.values()].reduce((sum, messages) => sum + messages.reduce((n, message) => n + message.content.length, 0), 0);
  assert.ok(promptChars <= 2 * turnChars, `prompts hold ${promptChars} characters for ${turnChars} in the turns`);

  // Retry on the last answer sends what its question sent.
  const asked = service.sent.at(-1)!;
  await conversation.receive({ type: 'retry', turnId: turns.at(-1)!.id });
  assert.deepEqual(service.sent.at(-1), asked);
});

/** A memento that counts the characters each update writes. */
class CountingMemento extends MemoryMemento {
  written = 0;
  override async update(key: string, value: unknown): Promise<void> {
    this.written += value === undefined ? 0 : JSON.stringify(value).length;
    return super.update(key, value);
  }
}

test('while an answer is written, the save every second writes that answer only, not the whole chat; a window closed then shows its text so far', async () => {
  const service = new FakeRelayService();
  const state = new CountingMemento();
  const { conversation } = openConversation('chat', service, state);
  for (let i = 0; i < 40; i++) await conversation.ask(`Question ${i}: ${'x'.repeat(4000)}`);
  const hold = service.holdNext();
  const sending = conversation.ask('The last question');
  await hold.waiting;
  // Saved as it started; from now on, only the saves while it is written.
  state.written = 0;
  // A bounded wait for the save while written (not a timing check).
  for (let i = 0; i < 100 && state.written === 0; i++) await new Promise((resolve) => setTimeout(resolve, 50));
  const running = held(conversation).turns.at(-1)!;
  const runningSize = JSON.stringify(running).length;
  assert.ok(state.written > 0, 'the text so far was saved');
  assert.ok(state.written <= 4 * runningSize, `${state.written} characters written for an answer of ${runningSize}`);

  // The window goes now: the next one shows the question and the text so far, interrupted.
  const nextWindow = openConversation('chat', new FakeRelayService(), state);
  const restored = held(nextWindow.conversation).turns;
  assert.equal(restored.length, 82);
  assert.equal(turnText(restored.at(-2)!), 'The last question');
  assert.equal(turnText(restored.at(-1)!), 'Answer 41, first half.');
  assert.ok(restored.at(-1)!.error, 'shown as interrupted');

  hold.release();
  await sending;
  const ended = held(openConversation('chat', new FakeRelayService(), state).conversation).turns.at(-1)!;
  assert.equal(turnText(ended), 'Answer 41, first half. Second half.', 'the ended answer is saved whole');
  assert.equal(ended.error, undefined);
});
