// A chat longer than the small model reads leaves out its oldest exchanges, as few as give
// the answer room; the new question and the system message stay. On a real model folder's
// chat template and tokenizer (the tiny generated model).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { fitConversation } from '../../../src/core/relay/fitConversation';
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

test('a longer chat loses its oldest exchanges, as few as leave the answer its room; the system message and the new question stay', async () => {
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
  // As few as needed: one exchange more would not fit.
  const oneMore = [messages[0], ...messages.slice(1 + fitted.leftOut - 2)];
  assert.ok((await countTokens(await render(oneMore))) > window - answerRoom);
});

test('a question that does not fit even alone comes back with no history, for the engine to refuse with the sizes', async () => {
  const messages: ChatMessage[] = [...chat(2).slice(0, -1), { role: 'user', content: 'long '.repeat(400) }];
  const fitted = await fitConversation(messages, { window: 200, answerRoom: 50, render, countTokens });
  assert.deepEqual(fitted.messages, [messages[0], messages.at(-1)]);
  assert.ok(fitted.promptTokens > 150);
});
