/**
 * An answers file of `relay eval` records the LLM's price; a price by time of day (DeepSeek V4)
 * is recorded with its hours, read back as an answer's price, and compares equal to the price
 * resolved again, so the file resumes.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { answerSettings } from '../../../src/cli/commands/evaluate';
import { defaultConfig } from '../../../src/cli/config';
import { answerLineProblem, settingsDifferences } from '../../../src/cli/eval/answersLog';

test('relay eval: a price with hours is recorded whole, read back as a price, and compares equal when resumed', () => {
  const config = {
    ...defaultConfig(),
    provider: { ...defaultConfig().provider, kind: 'openai-chat' as const, model: 'deepseek-v4-flash', baseUrl: 'https://api.deepseek.com' },
  };
  const recorded = JSON.parse(JSON.stringify(answerSettings(config, 'data.jsonl'))) as { llmPrice: { hours?: unknown[] } };
  assert.equal(recorded.llmPrice.hours?.length, 2, 'the peak windows are recorded with the price');
  assert.deepEqual(settingsDifferences(recorded, answerSettings(config, 'data.jsonl')), []);
  const answer = {
    type: 'answer',
    spec: 'llm-only',
    id: 'q1',
    questionHash: 'h',
    slm: 'slm',
    mode: 'llm-only',
    answer: '42',
    index: 0,
    llm: 'openai-chat:deepseek-v4-flash',
    price: recorded.llmPrice,
    stats: {
      slmTokens: 0,
      llmTokens: 1,
      llmTokenShare: 1,
      calls: 1,
      elapsedMs: 1,
      costUsd: 0.001,
      llmOnlyCostUsd: 0.001,
      finishReason: 'stop',
      llmUsage: { inputTokens: 1, outputTokens: 1 },
    },
  };
  assert.equal(answerLineProblem(answer), undefined);
});
