/**
 * Ending an LLM call once the SLM agrees (confidence.agreeStopTokens, money-aware): on real
 * parts (the scripted ONNX SLM reads the span as it streams from an HTTP server), and the
 * accounting of a call closed before its usage came.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { collectRelay, type RelayOptions } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import type { FakeServer } from '../providers/servers/harness';
import type { LlmProvider } from '../../../src/core/providers/types';
import { completionsProvider, disposeRuntimes, openAiStream, QUESTION, scriptedSlm, type ScriptedSlm } from './realParts';
import { chars, DoubleProvider, DoubleRuntime } from './doubles';
import { TokenRatios } from '../../../src/core/relay/money';

const TIMELINE = [{ text: 'The sum is' }, { text: ' 5', source: 'external' as const, top1: 0.3 }, { text: ' in total, as the numbers say.' }];
/** The LLM would go on to the end of the sentence (and past it) if it were read to the end. */
const LLM_PIECES = [' 5', ' in', ' total', ',', ' as', ' the', ' numbers', ' say', '.', ' Indeed', ' it', ' is'];

let slm: ScriptedSlm;
let server: FakeServer;
let provider: LlmProvider;

before(async () => {
  slm = await scriptedSlm(TIMELINE);
  ({ server, provider } = await completionsProvider(slm.prompt));
});

after(async () => {
  await server?.close();
  await disposeRuntimes();
});

function options(agreeStopTokens?: number): RelayOptions {
  return {
    mode: 'money-aware',
    slm: slm.runtime,
    llm: provider,
    messages: QUESTION,
    slmSampling: { temperature: 0 },
    llmTemperature: 0,
    confidence: { threshold: 0.5, spanTokens: 12, maxSpanTokens: 64, maxLlmShare: 1, ...(agreeStopTokens ? { agreeStopTokens } : {}) },
  };
}

const callEnds = (events: RelayEvent[]) => events.filter((e): e is Extract<RelayEvent, { type: 'call-end' }> => e.type === 'call-end');

test('the SLM reads the span as it streams and ends the call once it agrees with 3 tokens in a row; the answer is the same, the LLM wrote less', async () => {
  server.enqueue(openAiStream({ pieces: LLM_PIECES, finishReason: 'length' }));
  const whole = await collectRelay(options());
  server.enqueue(openAiStream({ pieces: LLM_PIECES, finishReason: 'length' }));
  const early = await collectRelay(options(3));
  // Without it the whole span is read: the LLM's sentence, then the SLM ends.
  assert.equal(whole.answer, 'The sum is 5 in total, as the numbers say. Indeed it is');
  assert.equal(callEnds(whole.events)[0].slmAgreed, undefined);
  // With it: ' 5' (the SLM's own token, but unsure), then ' in', ' total', ',' agreed: the call ends there and the SLM writes on.
  assert.equal(early.answer, 'The sum is 5 in total, as the numbers say.');
  const [end] = callEnds(early.events);
  assert.equal(end.slmAgreed, true);
  const llmText = early.events.flatMap((e) => (e.type === 'span' && e.source === 'llm' ? [e.text] : [])).join('');
  assert.equal(llmText, ' 5 in total,');
  assert.ok(early.stats.llmTokens < whole.stats.llmTokens);
  // The SLM's context got the LLM's text once, token by token as it was scored, and nothing after the call.
  const log = slm.logs[slm.logs.length - 1];
  assert.equal(log.appended.map((a) => a.text).join(''), ' 5 in total,');
  assert.ok(
    log.appended.every((a) => a.tokenCount === 1 && a.recomputedTokens === 0),
    'each piece one of the SLM\'s own tokens (Qwen3 writes " 5" as " " and "5")',
  );
});

test('a call ended early is counted as its whole span (no usage came); the SLM only watches where it runs in this process', async () => {
  const script = [...chars('The answer'), { text: ' ', top1: 0.2 }, ...chars('is forty two, and that is all.')];
  const price = { inputPerMTok: 2, outputPerMTok: 10 };
  const llm = new DoubleProvider([{ chunks: [' is', ' forty', ' two', ', and', ' that'], finish: 'length' }]);
  const run = await collectRelay({ ...options(4), slm: new DoubleRuntime(script, { appendAdvances: true }), llm, prompt: 'P', price, maxCostRatio: 100 });
  const [end] = callEnds(run.events);
  assert.equal(end.slmAgreed, true);
  assert.equal(run.answer, 'The answer is forty two, and that is all.');
  const requested = llm.requests[0].maxTokens;
  assert.equal(end.usage.estimated, true);
  assert.equal(end.usage.outputTokens, requested, 'the whole span it asked for, as priced (the provider may have written more than arrived)');
  assert.ok(end.tokens < requested);
  // A provider that asks for more than N (OpenAI /responses: at least 16) may bill that much: so it is booked.
  const floored = new DoubleProvider([{ chunks: [' is', ' forty', ' two', ', and', ' that'], finish: 'length' }]);
  Object.assign(floored, { minOutputTokens: 200 });
  const atFloor = await collectRelay({
    ...options(4),
    slm: new DoubleRuntime(script, { appendAdvances: true }),
    llm: floored,
    prompt: 'P',
    price,
    maxCostRatio: 100,
  });
  const [flooredEnd] = callEnds(atFloor.events);
  assert.equal(flooredEnd.slmAgreed, true);
  assert.ok(floored.requests[0].maxTokens < 200);
  assert.equal(flooredEnd.usage.outputTokens, 200);
  // A served SLM would pay a request per token scored: no watching there, the span is read whole.
  const served = new DoubleRuntime(script, { appendAdvances: true });
  Object.assign(served.info, { backend: { kind: 'server', url: 'http://127.0.0.1:1', model: 'm' } });
  const llm2 = new DoubleProvider([{ chunks: [' is', ' forty', ' two', ', and', ' that'], finish: 'length' }]);
  const whole = await collectRelay({ ...options(4), slm: served, llm: llm2, prompt: 'P' });
  assert.equal(callEnds(whole.events)[0].slmAgreed, undefined);
});

test('a call ended early is booked at the max_tokens it sent, in the provider count, whatever the learned output ratio', async () => {
  for (const outputRatio of [0.25, 1, 4]) {
    const ratios = new TokenRatios();
    ratios.add({ localInput: 100, reportedInput: 100, localOutput: 100, reportedOutput: 100 * outputRatio });
    const script = [...chars('The answer'), { text: ' ', top1: 0.2 }, ...chars('is forty two, and that is all.')];
    const llm = new DoubleProvider([{ chunks: [' is', ' forty', ' two', ', and', ' that'], finish: 'length' }]);
    const run = await collectRelay({
      ...options(4),
      slm: new DoubleRuntime(script, { appendAdvances: true }),
      llm,
      prompt: 'P',
      price: { inputPerMTok: 2, outputPerMTok: 10 },
      maxCostRatio: 100,
      tokenRatios: ratios,
    });
    const [end] = callEnds(run.events);
    assert.equal(end.slmAgreed, true);
    assert.equal(end.usage.outputTokens, llm.requests[0].maxTokens, `output ratio ${outputRatio}: max_tokens is already the provider's count`);
  }
});

test('scoring that fails mid-span keeps what the SLM read: the rest of the span is appended once, not the whole of it again', async () => {
  let generations = 0;
  const script = [...chars('The answer'), { text: ' ', top1: 0.2 }, ...chars('is forty two.')];
  const slm = new DoubleRuntime(script, {
    appendAdvances: true,
    onGenerate: async () => {
      generations += 1;
      if (generations === 4) throw new Error('a transient scoring failure');
    },
  });
  const llm = new DoubleProvider([{ chunks: [' is', ' forty'], finish: 'length' }]);
  const run = await collectRelay({
    ...options(20),
    slm,
    llm,
    prompt: 'P',
    confidence: { threshold: 0.5, spanTokens: 9, maxSpanTokens: 64, maxLlmShare: 1, agreeStopTokens: 20 },
  });
  assert.equal(run.answer, 'The answer is forty two.');
  assert.equal(slm.sessions[0].context, 'PThe answer is forty two.', "the SLM's context holds the LLM's text once");
});
