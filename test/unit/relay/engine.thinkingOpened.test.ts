// 'thinking-opened': the engine tells its views that the answer starts inside a thinking its
// prompt opened (a chat template whose generation prompt ends with "<think>\n"), once and before
// the first span; never otherwise, nor where the LLM writes the whole answer. The answer's
// thinking tokens then count from its first token.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { collectRelay, type RelayOptions } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import type { ChatMessage } from '../../../src/core/slm/types';
import { chars, DoubleProvider, DoubleRuntime } from './doubles';

const messages = [{ role: 'user' as const, content: 'What is 2+3?' }];

/** A small model whose chat template's generation prompt ends with `ending`. */
class TemplateEnding extends DoubleRuntime {
  constructor(
    private readonly ending: string,
    script: string,
  ) {
    super(chars(script));
  }
  override async renderChat(m: ChatMessage[]): Promise<string> {
    return (await super.renderChat(m)) + this.ending;
  }
}

async function eventsOf(ending: string, script: string, extra: Partial<RelayOptions> = {}): Promise<{ types: string[]; thinkingTokens?: number }> {
  const slm = new TemplateEnding(ending, script);
  const { events, stats } = await collectRelay({ mode: 'slm-only', slm, messages, slmSampling: { temperature: 0 }, ...extra } as RelayOptions);
  // Consecutive spans as one: what matters is what comes before the first.
  const types = events.map((event: RelayEvent) => event.type).filter((type, i, all) => type !== 'span' || all[i - 1] !== 'span');
  return { types, thinkingTokens: stats.thinkingTokens };
}

test('said once, before the first span, exactly when the prompt ends inside an opened <think>', async () => {
  for (const ending of ['<think>\n', '<think>', '<think>\n\n']) {
    const stopped = await eventsOf(ending, 'Okay, add them.', { tokenBudget: 8 });
    assert.deepEqual(stopped.types, ['thinking-opened', 'span', 'done'], JSON.stringify(ending));
    assert.equal(stopped.thinkingTokens, 8, 'cut while thinking: every token of it was thinking');
  }
  const closed = await eventsOf('<think>\n', 'Add.\n</think>\n\n5');
  assert.deepEqual(closed.types, ['thinking-opened', 'span', 'done']);
  assert.equal(closed.thinkingTokens, 'Add.\n'.length);
});

test('not said where the prompt does not leave a thinking open, nor where the LLM writes the whole answer', async () => {
  for (const ending of ['', '<think>\n\n</think>\n\n', 'Explain <think> tags: ']) {
    const { types } = await eventsOf(ending, 'It is 5.');
    assert.deepEqual(types, ['span', 'done'], JSON.stringify(ending));
  }
  // The model opening its thinking itself: the views read its tag.
  assert.deepEqual((await eventsOf('', '<think>\nAdd.\n</think>\n\n5')).types, ['span', 'done']);
  // llm-only (and a query routed to the LLM) render the SLM's template too, but the LLM's answer is no one's thinking.
  const llmOnly = await eventsOf('<think>\n', '', { mode: 'llm-only', llm: new DoubleProvider([{ chunks: ['It is 5.'] }]) });
  assert.ok(!llmOnly.types.includes('thinking-opened'), llmOnly.types.join(', '));
  assert.equal(llmOnly.thinkingTokens, undefined);
});
