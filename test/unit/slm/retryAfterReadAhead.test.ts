// Retry of the last answer computes nothing after the chat read ahead (readAhead.ts), on real
// ONNX sessions: the reads of a next prompt's start must not push the logits at the answer
// prompt's end out of the kept cache (ChatML; in the child process, as the extension runs it,
// and in-process). Left: with Qwen3's template the follow-up's read parts a few tokens before
// the answer prompt's end (it renders the answer without its empty <think></think>) and cuts
// the cache there, so a Retry then computes those few tokens; keeping the answer whole would
// copy the whole history on every turn's read-ahead, which costs more than it saves.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { createProcessRuntime } from '../../../src/core/slm/onnx/processRuntime';
import { draftReads, followUpPrefix, ReadAhead } from '../../../src/core/slm/readAhead';
import type { ChatMessage, SlmRuntime } from '../../../src/core/slm/types';

const WORKER = join(__dirname, '../../../src/core/slm/onnx/worker/workerMain.ts');
const STORY: ChatMessage[] = [{ role: 'user', content: 'Tell me a long story about a dragon. '.repeat(5) }];

/** Prefills `prompt` on a new session and samples greedily, then disposes it (the runtime keeps its cache). */
async function answer(rt: SlmRuntime, prompt: string, maxTokens = 12) {
  const session = await rt.createSession();
  const prefill = await session.prefill(prompt);
  const result = await session.generate({ maxTokens, sampling: { temperature: 0 } });
  await session.dispose();
  return { reused: prefill.reusedTokens ?? 0, total: prefill.tokenCount, text: result.text, tokens: result.tokens.map((t) => t.id) };
}

/** Reads ahead as the chat does, to the end (the user wrote for longer than it takes). */
async function readAhead(rt: SlmRuntime, texts: string | readonly string[] | undefined): Promise<void> {
  const reading = new ReadAhead();
  reading.start(rt, async () => texts);
  await reading.settle(typeof texts === 'string' ? texts : texts?.at(-1));
}

test('Retry after the follow-up and a paused draft were read ahead computes nothing (ChatML; child process and in-process)', async () => {
  const folder = await ensureTinyModel();
  const runtimes: [string, () => Promise<SlmRuntime>][] = [
    ['child process', () => createProcessRuntime(folder, { variant: 'fp32', workerPath: WORKER })],
    ['in-process', () => createLocalRuntime(folder, { variant: 'fp32' })],
  ];
  for (const [where, open] of runtimes) {
    const rt = await open();
    try {
      const prompt = await rt.renderChat(STORY);
      const first = await answer(rt, prompt);
      await readAhead(rt, await followUpPrefix(rt, STORY, first.text));
      await readAhead(rt, await draftReads(rt, [...STORY, { role: 'assistant', content: first.text }], 'And then what'));
      const retry = await answer(rt, prompt);
      assert.equal(retry.reused, retry.total, `${where}: Retry reused ${retry.reused} of its ${retry.total} tokens`);
      assert.deepEqual(retry.tokens, first.tokens, `${where}: the same greedy tokens`);
    } finally {
      await rt.dispose();
    }
  }
});
