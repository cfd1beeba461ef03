// An answer whose chat template opened <think> in the prompt starts inside its reasoning and only
// writes </think>; stopped before it (Stop, the token budget, an error), it has no tag at all. The
// engine says so ('thinking-opened'): Copy, Insert and the history sent with the next question then
// leave the reasoning out, in the chat and answer views (kept with the turn, across a reload) and in
// @relay. Real Conversation and chat participant, through the VS Code stub.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnswerStats, RelayEvent } from '../../../src/core/relay/events';
import type { ChatMessage } from '../../../src/core/slm/types';
import type { HostMessage } from '../../../src/shared/webviewProtocol';
import {
  ChatRequestTurn,
  ChatResponseMarkdownPart,
  ChatResponseTurn,
  clipboardWrites,
  MemoryMemento,
  questionsAsked,
  registered,
  useVscodeStub,
} from './vscodeStub';
import { cancellationToken, recordingStream } from './chatResponseStream';
import { FAKE_STATS, openConversation } from './fakeRelayService';
useVscodeStub();

// Loaded after the stub is in place (it imports 'vscode').
const { registerChatParticipant, CHAT_PARTICIPANT_ID } =
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('../../../src/extension/chatParticipant') as typeof import('../../../src/extension/chatParticipant');

const REASONING = 'Okay, the user asks for 2+3.\n\nLet me check: 2+3 is 5.\n';
const STOPPED: AnswerStats = { ...FAKE_STATS, finishReason: 'cancelled' };
const opened: RelayEvent = { type: 'thinking-opened' };
const slm = (text: string): RelayEvent => ({ type: 'span', source: 'slm', text, tokens: 1 });

/** A service whose answers are `scripts`, in order (the last again); records the messages each was sent. */
function scriptedService(scripts: { events: RelayEvent[]; stats: AnswerStats }[]) {
  const sent: ChatMessage[][] = [];
  const service = {
    busy: false,
    onDidChangeBusy: () => ({ dispose() {} }),
    setupWarning: async () => undefined,
    readAheadDraft: () => undefined,
    stop: () => true,
    sentRequests: { last: undefined },
    answer: async (messages: ChatMessage[], sink: { onEvent(event: RelayEvent, model: string): void }) => {
      const { events, stats } = scripts[Math.min(sent.length, scripts.length - 1)];
      sent.push(messages);
      let answer = '';
      for (const event of events) {
        if (event.type === 'span') answer += event.text;
        sink.onEvent(event, 'small');
      }
      return { answer, stats };
    },
  };
  return { service, sent };
}

test('Copy and Insert of an answer stopped inside the thinking its prompt opened give no reasoning, and say why', async () => {
  const { service } = scriptedService([{ events: [opened, slm(REASONING)], stats: STOPPED }]);
  const { conversation, posted } = openConversation('answer', service as never);
  const { turnId } = await conversation.ask('What is 2+3?');
  assert.ok(
    posted.some((message) => message.type === 'thinking-opened' && message.turnId === turnId),
    'the view is told, and takes the message',
  );
  const clipboardBefore = clipboardWrites.length;
  const questionsBefore = questionsAsked.length;
  await conversation.receive({ type: 'copy', turnId });
  await conversation.receive({ type: 'insert', turnId });
  assert.equal(clipboardWrites.length, clipboardBefore, 'the reasoning is not copied');
  assert.deepEqual(
    questionsAsked.slice(questionsBefore).map((question) => question.text),
    ['Relay: nothing to copy: the answer has no text beyond its thinking.', 'Relay: nothing to insert: the answer has no text beyond its thinking.'],
  );
});

test("a chat's history leaves out an answer stopped inside the thinking its prompt opened (with its question), also after a reload; a closed one sends its answer", async () => {
  const { service, sent } = scriptedService([
    { events: [opened, slm(REASONING)], stats: STOPPED },
    { events: [opened, slm(`${REASONING}</think>\n\n`), slm('It is 20.')], stats: FAKE_STATS },
    { events: [slm('It is 19.')], stats: FAKE_STATS },
  ]);
  const state = new MemoryMemento();
  const { conversation } = openConversation('chat', service as never, state);
  await conversation.ask('What is 2+3?');
  await conversation.ask('And times 4?');
  await conversation.ask('Minus 1?');
  const history = [
    { role: 'user', content: 'And times 4?' },
    { role: 'assistant', content: 'It is 20.' },
    { role: 'user', content: 'Minus 1?' },
  ];
  assert.deepEqual(sent[1], [{ role: 'user', content: 'And times 4?' }], 'the reasoning is not sent back as an answer');
  assert.deepEqual(sent[2], history);

  // The next window restores the turns with what the engine said of them.
  const reopened = openConversation('chat', service as never, state);
  await reopened.conversation.init();
  const init = reopened.posted.find((message): message is Extract<HostMessage, { type: 'init' }> => message.type === 'init');
  assert.deepEqual(
    init?.turns.map((turn) => turn.thinkingOpened === true),
    [false, true, false, true, false, false],
    'the view restores them as they were written',
  );
  await reopened.conversation.ask('Plus 1?');
  assert.deepEqual(sent[3], [...history, { role: 'assistant', content: 'It is 19.' }, { role: 'user', content: 'Plus 1?' }]);
});

test("@relay: a follow-up's history leaves out an answer stopped inside the thinking its prompt opened (recorded, or found after Stop)", async () => {
  const { service, sent } = scriptedService([{ events: [opened, slm(REASONING)], stats: STOPPED }]);
  registered.length = 0;
  registerChatParticipant({ path: '/ext' } as never, service as never);
  const handler = registered[0].handler;
  const first = recordingStream();
  const result = (await handler({ prompt: 'What is 2+3?' }, { history: [] }, first.stream, cancellationToken().token)) as {
    metadata: { answer: string };
  };
  assert.equal(result.metadata.answer, REASONING);
  const request = new ChatRequestTurn('What is 2+3?', CHAT_PARTICIPANT_ID);
  // As VS Code keeps it: with the result's metadata, or (after Stop) only the Markdown streamed.
  for (const response of [
    new ChatResponseTurn([new ChatResponseMarkdownPart(first.out.markdown)], result, CHAT_PARTICIPANT_ID),
    new ChatResponseTurn([new ChatResponseMarkdownPart(REASONING)], {}, CHAT_PARTICIPANT_ID),
  ]) {
    await handler({ prompt: 'Why?' }, { history: [request, response] }, recordingStream().stream, cancellationToken().token);
    assert.deepEqual(sent.at(-1), [{ role: 'user', content: 'Why?' }]);
  }
});
