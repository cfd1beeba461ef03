// A character whose bytes are two or more tokens (an emoji, a rare CJK character) may begin in
// one generate call and end in the next: the engine steps the small model a token at a time
// (money-aware, confidence mode). The next call continues the first one's detokenizer, so the
// character comes out whole: no U+FFFD, no half surrogate pair, nothing dropped. Real Qwen3
// tokenizer, scripted model. On a server given the ids, the server cannot spell that character
// (its first bytes were in the prompt): the ids are kept all the same, and spell it.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { createServedRuntime } from '../../../src/core/slm/served/servedRuntime';
import type { SlmRuntime } from '../../../src/core/slm/types';
import { startServedSlmServer } from '../../fixtures/servedSlmServers';
import { disposeRuntimes, runtimeFor, scriptedSlm } from '../relay/realParts';

const TEXT = 'I love 🦜 and 龘 done';

after(() => disposeRuntimes());

/** Generates `TEXT` cut after every token, then on, on `runtime`; each cut must give the whole text (and `afterEach` holds). */
async function everyCut(runtime: SlmRuntime, prompt: string, afterEach?: (cut: number) => void): Promise<void> {
  const probe = await runtime.createSession();
  await probe.prefill(prompt);
  const all = await probe.generate({ maxTokens: 64, sampling: { temperature: 0 } });
  await probe.dispose();
  assert.equal(all.text, TEXT);
  for (let cut = 1; cut < all.tokens.length; cut++) {
    const session = await runtime.createSession();
    try {
      await session.prefill(prompt);
      const first = await session.generate({ maxTokens: cut, sampling: { temperature: 0 } });
      const rest = await session.generate({ maxTokens: 64, sampling: { temperature: 0 } });
      assert.equal(first.text + rest.text, TEXT, `cut after ${cut} tokens`);
      afterEach?.(cut);
    } finally {
      await session.dispose();
    }
  }
}

test('in this process: generate cut at every token, then on, gives the whole text', async () => {
  const slm = await scriptedSlm([{ text: TEXT }]);
  await everyCut(slm.runtime, slm.prompt);
});

for (const kind of ['completions-server', 'ollama'] as const) {
  test(`on a ${kind} server: generate cut at every token, then on, gives the whole text`, async () => {
    const slm = await scriptedSlm([{ text: TEXT }]);
    const server = await startServedSlmServer(kind, await runtimeFor(slm.folder));
    const runtime = await createServedRuntime({ kind, url: server.url, model: 'relay-slm', folder: slm.folder });
    try {
      await everyCut(runtime, slm.prompt, (cut) => {
        // Given the ids, the context stays the very tokens (the server's prefix cache keeps serving it).
        if (kind === 'completions-server') assert.equal(runtime.exactTokens, true, `cut after ${cut} tokens: the context still goes as ids`);
      });
    } finally {
      await runtime.dispose();
      await server.close();
    }
  });
}
