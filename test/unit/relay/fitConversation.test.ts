// A chat longer than the small model reads leaves out its oldest exchanges, in blocks that keep
// its start for several turns, leaving the answer its room; the new question and the system
// message stay. On a real model folder's chat template and tokenizer (the tiny generated model).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { fitConversation, type FittedConversation } from '../../../src/core/relay/fitConversation';
import { commonPrefixLength } from '../../../src/core/relay/recentPrompts';
import { createLocalRuntime, type LocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import type { ChatMessage } from '../../../src/core/slm/types';

let runtime: LocalRuntime;
before(async () => {
  runtime = await createLocalRuntime(await ensureTinyModel(), { kvCacheBudgetMb: 0 });
});
after(() => runtime?.dispose());

const render = (messages: ChatMessage[]) => runtime.renderChat(messages, { addGenerationPrompt: true });
const countTokens = (text: string) => runtime.countTokens(text);

/** A chat of `exchanges` questions and answers, each about 40 tokens, then the new question. */
function chat(exchanges: number): ChatMessage[] {
  const messages: ChatMessage[] = [{ role: 'system', content: 'You answer briefly.' }];
  for (let i = 0; i < exchanges; i++) {
    messages.push(
      { role: 'user', content: `question ${i}: ${'alpha beta gamma '.repeat(4)}` },
      { role: 'assistant', content: `answer ${i}: ${'delta epsilon '.repeat(6)}` },
    );
  }
  messages.push({ role: 'user', content: 'the new question?' });
  return messages;
}

test('a chat that fits is sent whole', async () => {
  const messages = chat(3);
  const fitted = await fitConversation(messages, { window: 4096, answerRoom: 512, render, countTokens });
  assert.equal(fitted.leftOut, 0);
  assert.deepEqual(fitted.messages, messages);
  assert.equal(fitted.prompt, await render(messages));
});

test('a longer chat loses whole exchanges from its start; the system message and the new question stay, and the answer keeps its room', async () => {
  const messages = chat(20);
  const window = 600;
  const answerRoom = 100;
  const whole = await countTokens(await render(messages));
  assert.ok(whole > window, `the whole chat is ${whole} tokens`);
  const fitted = await fitConversation(messages, { window, answerRoom, render, countTokens });
  assert.ok(fitted.leftOut > 0 && fitted.leftOut % 2 === 0, `whole exchanges left out (${fitted.leftOut} messages)`);
  assert.deepEqual(fitted.messages[0], messages[0], 'the system message stays');
  assert.equal(fitted.messages[1].role, 'user', 'the history starts with a question');
  assert.deepEqual(fitted.messages.at(-1), messages.at(-1), 'the new question stays');
  assert.deepEqual(fitted.messages.slice(1), messages.slice(1 + fitted.leftOut));
  assert.equal(fitted.promptTokens, await countTokens(fitted.prompt));
  assert.ok(fitted.promptTokens <= window - answerRoom, `${fitted.promptTokens} tokens leave the answer ${answerRoom}`);
  assert.equal(fitted.questionTooLong, false);
});

test('a question that does not fit even alone comes back with no history, for the engine to refuse with the sizes', async () => {
  const messages: ChatMessage[] = [...chat(2).slice(0, -1), { role: 'user', content: 'long '.repeat(400) }];
  const fitted = await fitConversation(messages, { window: 200, answerRoom: 50, render, countTokens });
  assert.deepEqual(fitted.messages, [messages[0], messages.at(-1)]);
  assert.ok(fitted.promptTokens > 150);
  assert.equal(fitted.questionTooLong, true, 'said apart from history left out: the window is too small for the question');
});

test('a question that fits the window but not with the whole answer room is no refusal: the history goes, the answer gets what is left', async () => {
  const messages: ChatMessage[] = [...chat(2).slice(0, -1), { role: 'user', content: 'long '.repeat(400) }];
  const alone = await countTokens(await render([messages[0], messages.at(-1)!]));
  const fitted = await fitConversation(messages, { window: alone + 20, answerRoom: 50, render, countTokens });
  assert.deepEqual(fitted.messages, [messages[0], messages.at(-1)]);
  assert.equal(fitted.questionTooLong, false);
});

/**
 * A chat that outgrows the window turn by turn, as the chat view sends it: each turn the history
 * so far and a new question (exchanges of about 800 tokens, an 8k window with 1k for the answer).
 */
async function converse(turns: number): Promise<{ turn: number; fitted: FittedConversation }[]> {
  const messages: ChatMessage[] = [{ role: 'system', content: 'You answer briefly.' }];
  const fits: { turn: number; fitted: FittedConversation }[] = [];
  for (let turn = 1; turn <= turns; turn++) {
    messages.push({ role: 'user', content: `Question ${turn}: ${'alpha beta gamma '.repeat(10)}` });
    fits.push({ turn, fitted: await fitConversation([...messages], { window: 8192, answerRoom: 1024, render, countTokens }) });
    messages.push({ role: 'assistant', content: `Answer ${turn}: ${'delta epsilon '.repeat(50)}` });
  }
  return fits;
}

test('once a chat outgrows the window its start stays put for several turns: the next prompt begins with most of the last one (the caches are reused)', async () => {
  const fits = await converse(13);
  const firstCut = fits.findIndex(({ fitted }) => fitted.leftOut > 0);
  assert.ok(firstCut > 2 && firstCut < 11, `the chat outgrows the window at turn ${firstCut + 1}, with turns to go`);
  for (const { fitted } of fits.slice(0, firstCut)) assert.equal(fitted.leftOut, 0, 'a chat that fits is sent whole');
  const later = fits.slice(firstCut);
  assert.deepEqual(
    later.map(({ fitted }) => fitted.leftOut),
    later.map(() => later[0].fitted.leftOut),
    'the same first message at every turn after the cut',
  );
  for (let i = firstCut + 1; i < fits.length; i++) {
    const [previous, current] = [fits[i - 1].fitted.prompt, fits[i].fitted.prompt];
    const shared = commonPrefixLength(previous, current) / current.length;
    assert.ok(shared > 0.5, `turn ${i + 1} shares ${Math.round(100 * shared)}% of its prompt with the last turn's`);
  }
});

test('a long chat is cut in blocks: its start moves at most once in three turns, and what is kept is more than half the room', async () => {
  const fits = await converse(30);
  const limit = 8192 - 1024;
  let lastMove = -Infinity;
  for (const [i, { turn, fitted }] of fits.entries()) {
    assert.ok(fitted.promptTokens <= limit, `turn ${turn}: ${fitted.promptTokens} tokens leave the answer its room`);
    if (fitted.leftOut > 0) assert.ok(fitted.promptTokens > limit / 2, `turn ${turn}: ${fitted.promptTokens} tokens kept of ${limit}`);
    assert.equal(fitted.leftOut % 2, 0, `turn ${turn}: whole exchanges left out`);
    assert.equal(fitted.messages[0].role, 'system');
    if (i === 0 || fitted.leftOut === fits[i - 1].fitted.leftOut) continue;
    assert.ok(i - lastMove >= 3, `turn ${turn}: the start moved again ${i - lastMove} turns after the last move`);
    lastMove = i;
  }
  assert.ok(lastMove > 20, 'the start did move, several times');
});
