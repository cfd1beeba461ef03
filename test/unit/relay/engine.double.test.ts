/**
 * The engine's protocol on in-memory doubles (fast, every branch). The same behaviours
 * are checked on the real ONNX fixture and a real HTTP server in engine.real.test.ts.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { collectRelay, runRelay, type RelayOptions } from '../../../src/core/relay/engine';
import type { RelayEvent } from '../../../src/core/relay/events';
import { ProviderError } from '../../../src/core/providers/errors';
import type { LlmProvider } from '../../../src/core/providers/types';
import type { ChatMessage, RenderOptions } from '../../../src/core/slm/types';
import { chars, DoubleProvider, DoubleRuntime, usage, type ScriptedReply } from './doubles';
import { addUsage, cacheHitRate, emptyUsage, usableUsage } from '../../../src/core/relay/cost';
import { totalsOfAnswer } from '../../../src/core/relay/totalsStore';

const messages = [{ role: 'user' as const, content: 'Q' }];
const PROMPT = '[user]Q[assistant]';

function options(slm: DoubleRuntime, replies: ScriptedReply[], extra: Partial<RelayOptions> = {}): RelayOptions & { llm: DoubleProvider } {
  return { mode: 'command', slm, llm: new DoubleProvider(replies), messages, slmSampling: { temperature: 0 }, ...extra } as RelayOptions & {
    llm: DoubleProvider;
  };
}

const spans = (events: RelayEvent[], source: 'slm' | 'llm'): string =>
  events.flatMap((e) => (e.type === 'span' && e.source === source ? [e.text] : [])).join('');

test('command mode: the call happens at the command, N is honoured, the LLM context is stripped, the SLM context keeps it', async () => {
  const slm = new DoubleRuntime([...chars('Step one. '), ...chars('<call>3</call>'), ...chars(' then done.')]);
  const o = options(slm, [{ chunks: ['ABCDEF'] }]);
  const { answer, stats, events } = await collectRelay(o);
  assert.equal(o.llm.requests.length, 1);
  assert.equal(o.llm.requests[0].maxTokens, 3);
  assert.equal(o.llm.requests[0].partialAnswer, 'Step one.', 'command replaced by a space, then trimmed');
  assert.equal(answer, 'Step one. ABC then done.', 'the user never sees the command');
  assert.equal(spans(events, 'llm'), 'ABC');
  const session = slm.sessions[0];
  assert.equal(session.context, `${PROMPT}Step one. <call>3</call>ABC then done.`);
  assert.deepEqual(session.appended, ['ABC']);
  assert.ok(session.disposed);
  const start = events.find((e) => e.type === 'call-start');
  const end = events.find((e) => e.type === 'call-end');
  assert.deepEqual(start, { type: 'call-start', callIndex: 0, requestedTokens: 3, model: 'double-llm', host: 'double.test', continuation: 'raw-completion' });
  assert.equal(end?.type === 'call-end' && end.sentPartialAnswer, 'Step one.');
  assert.equal(end?.type === 'call-end' && end.finishReason, 'length');
  assert.equal(stats.calls, 1);
  assert.equal(stats.llmTokens, 3);
  assert.equal(stats.slmTokens, 10 + 14 + 11, 'every generated SLM token, commands included (the paper counts them)');
  assert.equal(stats.commandTokens, 14);
  assert.equal(stats.finishReason, 'eos');
  assert.equal(events[events.length - 1].type, 'done');
});

test("the LLM's end-of-sequence ends the answer", async () => {
  const slm = new DoubleRuntime([...chars('A'), ...chars('<call>50</call>'), ...chars('never shown')]);
  const o = options(slm, [{ chunks: ['The end.'], finish: 'stop' }]);
  const { answer, stats } = await collectRelay(o);
  assert.equal(answer, 'AThe end.');
  assert.equal(stats.finishReason, 'llm_eos');
  assert.deepEqual(slm.sessions[0].appended, [], 'nothing to append when the SLM does not resume');
});

test('N = 0 means no call and the SLM goes on', async () => {
  const slm = new DoubleRuntime([...chars('a'), ...chars('<call>0</call>'), ...chars('b')]);
  const o = options(slm, []);
  const { answer, stats } = await collectRelay(o);
  assert.equal(answer, 'ab');
  assert.equal(o.llm.requests.length, 0);
  assert.equal(stats.calls, 0);
  assert.equal(stats.turns, 2);
  assert.equal(stats.costUsd, 0, 'no call costs nothing even when the price is unknown');
});

test('a command without digits ends the answer with a clear error (the paper fails the request)', async () => {
  const slm = new DoubleRuntime([...chars('x'), ...chars('<call>many</call>'), ...chars('y')]);
  const { answer, stats, events } = await collectRelay(options(slm, []));
  assert.equal(answer, 'x');
  const error = events.find((e) => e.type === 'error');
  assert.equal(error?.type === 'error' && error.code, 'malformed_command');
  assert.match(error?.type === 'error' ? error.message : '', /without a token count/);
  assert.equal(stats.finishReason, 'error');
});

test('turn limit: a command on the last allowed turn is ignored and the answer ends', async () => {
  const script = [...chars('1'), ...chars('<call>1</call>'), ...chars('2'), ...chars('<call>1</call>'), ...chars('3')];
  const slm = new DoubleRuntime(script);
  const o = options(slm, [{ chunks: ['L'] }], { maxTurns: 2 });
  const { answer, stats } = await collectRelay(o);
  assert.equal(o.llm.requests.length, 1);
  assert.equal(answer, '1L2');
  assert.equal(stats.finishReason, 'turn_limit');
  assert.equal(stats.turns, 2);
});

test('budget: the LLM gets min(N, budget left) and the budget ends the answer', async () => {
  const slm = new DoubleRuntime([...chars('ab'), ...chars('<call>500</call>'), ...chars('cd')]);
  // 2 + 16 SLM tokens used; 30 - 18 = 12 left for the LLM.
  const o = options(slm, [{ chunks: ['x'.repeat(40)] }], { tokenBudget: 30 });
  const { stats } = await collectRelay(o);
  assert.equal(o.llm.requests[0].maxTokens, 12);
  assert.equal(stats.llmTokens, 12);
  assert.equal(stats.slmTokens + stats.llmTokens, 30);
  assert.equal(stats.finishReason, 'budget');
});

test('budget spent by the SLM alone ends with finishReason budget', async () => {
  const slm = new DoubleRuntime(chars('abcdefgh'));
  const { answer, stats } = await collectRelay(options(slm, [], { tokenBudget: 5 }));
  assert.equal(answer, 'abcde');
  assert.equal(stats.finishReason, 'budget');
});

test('a stray </call> ends the answer as in the reference code, hidden from the user', async () => {
  const slm = new DoubleRuntime([...chars('done'), ...chars('</call>'), ...chars('more')]);
  const o = options(slm, []);
  const { answer, stats } = await collectRelay(o);
  assert.equal(answer, 'done');
  assert.equal(stats.finishReason, 'eos');
  assert.equal(o.llm.requests.length, 0);
});

test('a provider error mid-answer keeps the partial answer and reports the error', async () => {
  const slm = new DoubleRuntime([...chars('ok '), ...chars('<call>9</call>'), ...chars('rest')]);
  const error = new ProviderError('rate_limit', 'The service is rate limiting. Wait a minute and retry.', { fix: 'retry' });
  const { answer, stats, events } = await collectRelay(options(slm, [{ chunks: ['par', 'tial'], error }]));
  assert.equal(answer, 'ok partial');
  const types = events.map((e) => e.type);
  assert.deepEqual(types.slice(-3), ['call-end', 'error', 'done'], 'the failed call still ends with call-end, before the error');
  const end = events.find((e) => e.type === 'call-end');
  assert.ok(end?.type === 'call-end');
  assert.equal(end.finishReason, 'error');
  assert.equal(end.tokens, 7, 'the text the call wrote before failing');
  assert.equal(end.callIndex, 0);
  assert.equal(end.sentPartialAnswer, 'ok');
  const reported = events.find((e) => e.type === 'error');
  assert.deepEqual(
    reported,
    { type: 'error', code: 'rate_limit', message: 'The service is rate limiting. Wait a minute and retry.', fix: 'retry' },
    "the provider's fix reaches the UI",
  );
  assert.equal(stats.finishReason, 'error');
  assert.equal(stats.llmTokens, 7, 'the partial LLM text counts');
  assert.ok(slm.sessions[0].disposed);
});

test('cancellation during the LLM call: the call stops, the partial answer is kept', async () => {
  const slm = new DoubleRuntime([...chars('Hi '), ...chars('<call>9</call>'), ...chars('rest')]);
  const controller = new AbortController();
  const o = options(slm, [{ chunks: ['abc'], hang: true }], { signal: controller.signal });
  o.llm.onHang = () => controller.abort();
  const { answer, stats, events } = await collectRelay(o);
  assert.equal(answer, 'Hi abc');
  assert.equal(stats.finishReason, 'cancelled');
  assert.equal(events.filter((e) => e.type === 'error').length, 0);
  const end = events.find((e) => e.type === 'call-end');
  assert.equal(end?.type === 'call-end' && end.finishReason, 'cancelled');
  assert.ok(slm.sessions[0].disposed);
});

test('cancellation during SLM decoding and by breaking out of the loop', async () => {
  const controller = new AbortController();
  const slm = new DoubleRuntime(chars('abcdefghijklmnopqrstuvwxyz'));
  const seen: string[] = [];
  for await (const event of runRelay(options(slm, [], { signal: controller.signal }))) {
    if (event.type === 'span') {
      seen.push(event.text);
      if (seen.length === 3) controller.abort();
    }
    if (event.type === 'done') {
      assert.equal(event.stats.finishReason, 'cancelled');
      assert.equal(event.answer, 'abc');
    }
  }
  const slm2 = new DoubleRuntime(chars('abcdefghijklmnopqrstuvwxyz'));
  for await (const event of runRelay(options(slm2, []))) {
    if (event.type === 'span') break;
  }
  await new Promise((resolve) => setImmediate(resolve));
  await new Promise((resolve) => setImmediate(resolve));
  assert.ok(slm2.sessions[0].disposed, 'breaking out stops generation and frees the session');
});

test('confidence mode hands off exactly where top-1 drops; the refused token is discarded', async () => {
  // The SLM is unsure at position 3 ('Z', top-1 0.3); the LLM's two tokens fill positions 3-4.
  const script = [...chars('abc'), { text: 'Z', top1: 0.3, external: true }, { text: 'z', external: true }, ...chars('def')];
  const slm = new DoubleRuntime(script);
  const o = options(slm, [{ chunks: ['XY'] }], { mode: 'confidence', confidence: { threshold: 0.5, spanTokens: 2, maxLlmShare: 1 } });
  const { answer, stats, events } = await collectRelay(o);
  assert.equal(o.llm.requests.length, 1);
  assert.equal(o.llm.requests[0].partialAnswer, 'abc');
  assert.equal(o.llm.requests[0].maxTokens, 2);
  assert.equal(answer, 'abcXYdef', 'Z was refused, never committed');
  assert.equal(slm.sessions[0].context.includes('Z'), false);
  assert.deepEqual(slm.sessions[0].appended, ['XY']);
  assert.equal(spans(events, 'llm'), 'XY');
  assert.equal(stats.mode, 'confidence');
});

test('confidence mode respects the max LLM share cap', async () => {
  const drop = (a: string, b: string) => [
    { text: a, top1: 0.1, external: true },
    { text: b, external: true },
  ];
  // Three drops. After the first hand-off the LLM has 2 of 4 tokens (50% > 20% cap), so
  // the SLM writes the second drop's tokens itself until the share is under 20% again.
  const script = [...chars('ab'), ...drop('?', '?'), ...chars('cd'), ...drop('v', 'w'), ...chars('efghijklmnopqrst'), ...drop('!', '!'), ...chars('u')];
  const slm = new DoubleRuntime(script);
  const o = options(slm, [{ chunks: ['XY'] }, { chunks: ['ST'] }], {
    mode: 'confidence',
    confidence: { threshold: 0.5, spanTokens: 2, maxLlmShare: 0.2 },
  });
  const { stats } = await collectRelay(o);
  assert.equal(o.llm.requests.length, 2, 'the second drop is decoded by the SLM; the third is handed off again');
  assert.equal(o.llm.requests[1].partialAnswer, 'abXYcdvwefghijklmnopqrst');
  assert.ok(stats.llmTokenShare <= 0.2, `share ${stats.llmTokenShare}`);
});

test('slm-only hides and ignores commands; llm-only writes the whole answer', async () => {
  const slm = new DoubleRuntime([...chars('a'), ...chars('<call>5</call>'), ...chars('b')]);
  const only = await collectRelay({ mode: 'slm-only', slm, messages, slmSampling: { temperature: 0 } });
  assert.equal(only.answer, 'ab');
  assert.equal(only.stats.calls, 0);
  const o = options(new DoubleRuntime([]), [{ chunks: ['Whole ', 'answer.'], finish: 'stop', usage: usage(40, 13) }], { mode: 'llm-only', tokenBudget: 100 });
  const llm = await collectRelay(o);
  assert.equal(llm.answer, 'Whole answer.');
  assert.equal(o.llm.requests[0].partialAnswer, '');
  assert.equal(o.llm.requests[0].maxTokens, 100);
  assert.equal(llm.stats.llmTokens, 13);
  assert.equal(llm.stats.llmTokenShare, 1);
  assert.equal(llm.stats.finishReason, 'llm_eos');
});

test('random router: seeded per query, roughly p of queries go to the LLM', async () => {
  let toLlm = 0;
  const routes: string[] = [];
  for (let i = 0; i < 200; i++) {
    const o = options(new DoubleRuntime(chars('s')), [{ chunks: ['l'], finish: 'stop' }], {
      mode: 'random-router',
      router: { llmProbability: 0.3, seed: 7 },
      messages: [{ role: 'user', content: `question ${i}` }],
    });
    const { stats } = await collectRelay(o);
    routes.push(stats.routedTo ?? '');
    if (stats.routedTo === 'llm') {
      toLlm += 1;
      assert.equal(stats.llmTokenShare, 1);
    } else assert.equal(stats.llmTokens, 0);
  }
  assert.ok(toLlm > 40 && toLlm < 80, `about 30% of 200 (got ${toLlm})`);
  const again = await collectRelay(
    options(new DoubleRuntime(chars('s')), [{ chunks: ['l'], finish: 'stop' }], {
      mode: 'random-router',
      router: { llmProbability: 0.3, seed: 7 },
      messages: [{ role: 'user', content: 'question 5' }],
    }),
  );
  assert.equal(again.stats.routedTo, routes[5], 'same seed and query, same route');
});

test('cost: input re-sent on every call, cached input and the LLM-only estimate, by hand', async () => {
  // Prompt '[user]Q[assistant]' = 18 tokens (one per character in the double).
  const slm = new DoubleRuntime([...chars('ab'), ...chars('<call>2</call>'), ...chars('cd'), ...chars('<call>2</call>'), ...chars('e')]);
  const price = { inputPerMTok: 2, outputPerMTok: 10, cachedInputPerMTok: 0.5, cacheWritePerMTok: 2.5 };
  const o = options(
    slm,
    [
      { chunks: ['XY'], usage: usage(1000, 2, 0, 800) },
      { chunks: ['VW'], usage: usage(1010, 2, 800, 0) },
    ],
    { price },
  );
  const { stats, answer } = await collectRelay(o);
  assert.equal(answer, 'abXYcdVWe');
  assert.deepEqual(stats.llmUsage, usage(2010, 4, 800, 800));
  // Uncached input 2010 - 800 - 800 = 410 at $2, cached 800 at $0.5, writes 800 at $2.5, output 4 at $10 (per million).
  const expected = (410 * 2 + 800 * 0.5 + 800 * 2.5 + 4 * 10) / 1e6;
  assert.ok(Math.abs((stats.costUsd ?? NaN) - expected) < 1e-15, `${stats.costUsd} vs ${expected}`);
  // SLM wrote 2+14+2+14+1 = 33 tokens (28 of them its commands), LLM 4: LLM-only = 18 input + 9 output (the answer
  // 'abXYcdVWe': the LLM alone writes no commands), in the LLM's counts: the calls sent
  // 18+2 and 18+2+2+2 tokens (prompt and answer, commands removed) that the server counted as 1000 and 1010, and wrote
  // 2 tokens each as reported. The pair's ratios: 2010/44 in, 4/4 out. The answer's own: the last call (18 prompt and
  // 6 answer tokens) billed 1010, its miss from the pair's prediction shared by each part's share of it, squared.
  assert.equal(stats.slmTokens, 33);
  assert.equal(stats.promptTokens, 18);
  const [pairIn, pairOut] = [2010 / 44, 1];
  const [prompt, answerPart] = [18 * pairIn, 6 * pairOut];
  const miss = 1010 - prompt - answerPart;
  const weight = prompt ** 2 + answerPart ** 2;
  const ownIn = pairIn * (1 + (miss * prompt) / weight);
  const ownOut = pairOut * (1 + (miss * answerPart) / weight);
  const llmOnly = (18 * ownIn * 2 + 9 * ownOut * 10) / 1e6;
  assert.ok(Math.abs((stats.llmOnlyCostUsd ?? NaN) - llmOnly) < 1e-15);
  assert.ok(Math.abs((stats.savedUsd ?? NaN) - (llmOnly - expected)) < 1e-15);
  assert.equal(stats.llmTokenShare, 4 / 37);
  const unknown = await collectRelay(options(new DoubleRuntime([...chars('<call>1</call>')]), [{ chunks: ['z'] }]));
  assert.equal(unknown.stats.costUsd, null, 'unknown price: null, never a made-up zero');
  assert.equal(unknown.stats.savedUsd, null);
});

test('a server without usage gets an estimate in the SLM tokenizer, marked estimated', async () => {
  const slm = new DoubleRuntime([...chars('ab'), ...chars('<call>3</call>')]);
  const { stats } = await collectRelay(options(slm, [{ chunks: ['XYZ'] }]));
  assert.equal(stats.llmUsage.estimated, true);
  assert.equal(stats.llmUsage.inputTokens, 18 + 2, 'prompt + partial answer');
  assert.equal(stats.llmUsage.outputTokens, 3);
});

test('bad options fail at once with a clear message', () => {
  const slm = new DoubleRuntime([]);
  assert.throws(() => runRelay({ mode: 'command', slm, messages }), /needs an LLM provider/);
  assert.throws(() => runRelay({ mode: 'nope' as never, slm, messages }), /Unknown relay mode 'nope'/);
  assert.throws(() => runRelay({ mode: 'slm-only', slm, messages, tokenBudget: 0 }), /tokenBudget must be a positive integer/);
  assert.throws(() => runRelay({ mode: 'confidence', slm, messages, llm: new DoubleProvider([]), confidence: { threshold: 2 } }), /between 0 and 1/);
});

test('confidence mode with threshold 0 or a zero share cap never calls and decodes in one turn', async () => {
  for (const confidence of [{ threshold: 0 }, { threshold: 0.5, maxLlmShare: 0 }]) {
    const slm = new DoubleRuntime([...chars('ab'), { text: '?', top1: 0.1 }, ...chars('cd')]);
    const o = options(slm, [], { mode: 'confidence', confidence });
    const { answer, stats } = await collectRelay(o);
    assert.equal(answer, 'ab?cd');
    assert.equal(o.llm.requests.length, 0);
    assert.equal(stats.turns, 1);
  }
});

test('a provider stream that ends without a finish reason: call-end (error), then a clear error', async () => {
  const slm = new DoubleRuntime([...chars('a'), ...chars('<call>2</call>'), ...chars('b')]);
  const llm: LlmProvider = {
    kind: 'openai-completions',
    model: 'silent',
    host: 'silent.test',
    continuation: 'raw-completion',
    async *continue() {
      yield { type: 'text', text: 'X' };
    },
  };
  const { answer, stats, events } = await collectRelay({ mode: 'command', slm, llm, messages, slmSampling: { temperature: 0 } });
  assert.equal(answer, 'aX');
  assert.deepEqual(
    events.filter((e) => e.type !== 'span').map((e) => e.type),
    ['call-start', 'call-end', 'error', 'done'],
  );
  const end = events.find((e) => e.type === 'call-end');
  assert.equal(end?.type === 'call-end' && end.finishReason, 'error');
  assert.equal(stats.finishReason, 'error');
});

test('command mode: commandReplacement "" removes commands from the LLM context instead of the paper\'s space', async () => {
  const script = [
    ...chars('12'),
    ...chars('<call>1</call>'),
    { text: '?', external: true },
    ...chars('4'),
    ...chars('<call>1</call>'),
    { text: '?', external: true },
    ...chars('6'),
  ];
  const paper = options(new DoubleRuntime(script), [{ chunks: ['3'] }, { chunks: ['5'] }]);
  await collectRelay(paper);
  assert.deepEqual(
    paper.llm.requests.map((r) => r.partialAnswer),
    ['12', '12 34'],
    'a space where the first command was',
  );
  const removed = options(new DoubleRuntime(script), [{ chunks: ['3'] }, { chunks: ['5'] }], { commandReplacement: '' });
  const { answer } = await collectRelay(removed);
  assert.deepEqual(
    removed.llm.requests.map((r) => r.partialAnswer),
    ['12', '1234'],
  );
  assert.equal(answer, '123456');
});

test('confidence mode hides the commands a command-trained SLM writes, ignores them and keeps them from the LLM', async () => {
  const script = [...chars('ab'), ...chars('<call>1</call>'), { text: 'Z', top1: 0.3, external: true }, ...chars('cd')];
  const slm = new DoubleRuntime(script);
  const o = options(slm, [{ chunks: ['X'] }], { mode: 'confidence', confidence: { threshold: 0.5, spanTokens: 1, maxLlmShare: 1 } });
  const { answer, stats, events } = await collectRelay(o);
  assert.equal(answer, 'abXcd', 'no command shown');
  assert.equal(spans(events, 'slm').includes('<call>'), false);
  assert.equal(o.llm.requests.length, 1, 'only the confidence drop calls; the command itself does not');
  assert.equal(o.llm.requests[0].partialAnswer, 'ab', 'the command is not in the LLM context');
  assert.equal(slm.sessions[0].context.endsWith('ab<call>1</call>Xcd'), true, 'the SLM context keeps its command');
  assert.equal(stats.commandTokens, 14);
});

test('confidence mode: a command split across SLM turns stays hidden; one left open at a hand-off is dropped from the view and from the LLM context', async () => {
  // The gate hands off at '<call>'; the empty call makes the SLM write the next token alone, a
  // turn of its own: the command goes on over three turns.
  const split = new DoubleRuntime([...chars('ab'), { text: '<call>', top1: 0.3 }, ...chars('12'), ...chars('</call>'), ...chars('cd')]);
  const o = options(split, [{ chunks: [], finish: 'length' }], { mode: 'confidence', confidence: { threshold: 0.5, spanTokens: 1, maxLlmShare: 1 } });
  const run = await collectRelay(o);
  assert.equal(run.answer, 'abcd', 'no piece of the command shown');
  assert.equal(run.stats.finishReason, 'eos');
  assert.equal(run.stats.commandTokens, '<call>12</call>'.length, 'counted as the command it is (the double counts characters)');
  // The gate refuses the count inside a command: the LLM writes there, and the open command is dropped.
  const open = new DoubleRuntime([...chars('ab'), ...chars('<call>'), { text: '7', top1: 0.3, external: true }, ...chars('cd')]);
  const o2 = options(open, [{ chunks: ['X'] }], { mode: 'confidence', confidence: { threshold: 0.5, spanTokens: 1, maxLlmShare: 1 } });
  const run2 = await collectRelay(o2);
  assert.equal(o2.llm.requests[0].partialAnswer, 'ab', 'the open command is not in the LLM context');
  assert.equal(run2.answer, 'abXcd');
  assert.equal(spans(run2.events, 'slm'), 'abcd', 'the SLM showed no piece of it');
  assert.equal(run2.stats.commandTokens, '<call>'.length, 'its tokens are not counted as the answer');
});

test('seeds: each SLM turn and each LLM call samples from its own seed of the stream', async () => {
  const seeds: (number | undefined)[] = [];
  const slm = new DoubleRuntime([
    ...chars('a'),
    ...chars('<call>1</call>'),
    { text: '?', external: true },
    ...chars('b'),
    ...chars('<call>1</call>'),
    { text: '?', external: true },
    ...chars('c'),
  ]);
  const session = slm.createSession.bind(slm);
  slm.createSession = async () => {
    const s = await session();
    const generate = s.generate.bind(s);
    s.generate = (opts, onToken, signal) => {
      seeds.push(opts.sampling?.seed);
      return generate(opts, onToken, signal);
    };
    return s;
  };
  const o = options(slm, [{ chunks: ['X'] }, { chunks: ['Y'] }], { slmSampling: { temperature: 0.7, seed: 7 }, llmSeed: 11 });
  await collectRelay(o);
  assert.equal(seeds.length, 3);
  assert.equal(seeds[0], 7, 'the first turn uses the seed as given');
  assert.equal(new Set(seeds).size, 3, `three turns, three seeds (${seeds.join(', ')})`);
  assert.equal(o.llm.requests[0].seed, 11);
  assert.notEqual(o.llm.requests[1].seed, 11);
});

test('a call the provider rejects before writing anything (bad key) costs nothing; one that wrote text is estimated', async () => {
  const price = { inputPerMTok: 1_000_000, outputPerMTok: 1_000_000 };
  const maxCostUsd = 1e9; // a dollar per token: far past the default ceiling of one answer
  const rejectedSlm = new DoubleRuntime([...chars('ok '), ...chars('<call>9</call>'), ...chars('rest')]);
  const auth = new ProviderError('auth', "The service rejected the API key. Set the key with 'Relay: Set API Key'.");
  const rejected = await collectRelay({ ...options(rejectedSlm, [{ chunks: [], error: auth }]), price, maxCostUsd });
  assert.equal(rejected.stats.calls, 1);
  assert.equal(rejected.stats.llmUsage.inputTokens, 0);
  assert.equal(rejected.stats.costUsd, 0, 'a rejected request is not billed');

  const partialSlm = new DoubleRuntime([...chars('ok '), ...chars('<call>9</call>'), ...chars('rest')]);
  const drop = new ProviderError('network', 'The connection dropped. Check the network and retry.');
  const partial = await collectRelay({ ...options(partialSlm, [{ chunks: ['ab'], error: drop }]), price, maxCostUsd });
  assert.equal(partial.stats.llmUsage.estimated, true);
  assert.equal(partial.stats.llmUsage.outputTokens, 2);
  assert.ok((partial.stats.costUsd ?? 0) > 0, 'text was written, so the call may have been billed');
});

test('a call cancelled while it waits for its first byte is estimated, not booked as a rejection: its request may have gone out', async () => {
  // A provider that throws when cancelled (the double; the HTTP providers report what they know
  // instead) leaves the engine unable to tell whether the request went out. Stopped by the user,
  // the call may still be billed, so its input is estimated; only a provider's refusal (above,
  // not cancelled) is free.
  const price = { inputPerMTok: 1_000_000, outputPerMTok: 1_000_000 };
  const slm = new DoubleRuntime([...chars('Hi '), ...chars('<call>9</call>'), ...chars('rest')]);
  const controller = new AbortController();
  const o = { ...options(slm, [{ chunks: [], hang: true }], { signal: controller.signal }), price, maxCostUsd: 1e9 };
  o.llm.onHang = () => controller.abort();
  const { stats, events } = await collectRelay(o);
  assert.equal(o.llm.requests.length, 1);
  assert.equal(stats.finishReason, 'cancelled');
  const end = events.find((e) => e.type === 'call-end');
  assert.ok(end?.type === 'call-end');
  assert.equal(end.finishReason, 'cancelled');
  assert.equal(end.tokens, 0, 'nothing arrived');
  assert.equal(end.usage.estimated, true);
  assert.equal(end.usage.inputTokens, PROMPT.length + 'Hi'.length, 'the prompt and the partial answer it sent, in the local count');
  assert.equal(stats.llmUsage.inputTokens, PROMPT.length + 'Hi'.length);
  assert.ok((stats.costUsd ?? 0) > 0, 'a cancelled call may have been billed');
});

test("a thinking model's <think>...</think> is counted in the stats (part of the tokens) and passed to the template", async () => {
  class AskedRuntime extends DoubleRuntime {
    asked: unknown;
    override async renderChat(m: ChatMessage[], options?: RenderOptions): Promise<string> {
      this.asked = options;
      return super.renderChat(m);
    }
  }
  const slm = new AskedRuntime(chars('<think>\nhmm\n</think>\n\nok'));
  const { stats } = await collectRelay({ mode: 'slm-only', slm, messages, slmSampling: { temperature: 0 }, thinking: true });
  assert.deepEqual(slm.asked, { addGenerationPrompt: true, thinking: true });
  assert.equal(stats.thinkingTokens, '\nhmm\n'.length);
  assert.equal(stats.slmTokens, '<think>\nhmm\n</think>\n\nok'.length, 'the thinking counts like every token');
  const plain = await collectRelay({ mode: 'slm-only', slm: new DoubleRuntime(chars('ok')), messages, slmSampling: { temperature: 0 } });
  assert.equal(plain.stats.thinkingTokens, undefined);
});

test('an answer that is only thinking saves nothing: its calls are a loss, its LLM-alone figure nothing', async () => {
  const price = { inputPerMTok: 2, outputPerMTok: 10 };
  const thinkingOnly = async (script: string, extra: Partial<RelayOptions> = {}, slm = new DoubleRuntime(chars(script))) =>
    (await collectRelay(options(slm, [{ chunks: ['XY'], usage: usage(1000, 2) }], { thinking: true, price, ...extra }))).stats;
  // Closed </think>, then the end of sequence; and cut by the budget while still thinking. Each made a call inside its thinking.
  const ends = [
    await thinkingOnly('<think>\nhm<call>2</call>m\n</think>\n\n'),
    await thinkingOnly('<think>\nhm<call>2</call>' + 'm'.repeat(40), { tokenBudget: 40 }),
  ];
  assert.deepEqual(
    ends.map((stats) => stats.finishReason),
    ['eos', 'budget'],
  );
  for (const stats of ends) {
    assert.ok(stats.costUsd !== null && stats.costUsd > 0, `the call cost ${stats.costUsd}`);
    assert.equal(stats.llmOnlyCostUsd, 0);
    assert.equal(stats.savedUsd, -stats.costUsd, 'what the calls cost is lost');
  }
  // A template that opened <think> in the prompt: an answer cut while thinking has no tag at all.
  class OpensThinking extends DoubleRuntime {
    override async renderChat(m: ChatMessage[]): Promise<string> {
      return (await super.renderChat(m)) + '<think>\n';
    }
  }
  const opened = await thinkingOnly('', { mode: 'slm-only', tokenBudget: 10 }, new OpensThinking(chars('hmm '.repeat(10))));
  assert.deepEqual([opened.finishReason, opened.costUsd, opened.llmOnlyCostUsd], ['budget', 0, 0]);
  assert.ok(opened.savedUsd === 0, `saved ${opened.savedUsd}`);
  // Text after the thinking is an answer: it saves against the LLM alone.
  const answered = await thinkingOnly('<think>\nhm\n</think>\n\nok', { mode: 'slm-only' });
  assert.ok(answered.llmOnlyCostUsd !== null && answered.llmOnlyCostUsd > 0 && answered.savedUsd === answered.llmOnlyCostUsd);
  // The LLM writing the whole answer after a template that opened <think> (the SLM's template renders the prompt in
  // llm-only mode too): a chat LLM never writes </think>, and its delivered answer is no one's thinking.
  const llmOnly = await thinkingOnly('', { mode: 'llm-only' }, new OpensThinking(chars('')));
  assert.ok(llmOnly.costUsd !== null && llmOnly.costUsd > 0);
  assert.equal(llmOnly.llmOnlyCostUsd, llmOnly.costUsd, 'the LLM alone: what it cost');
  assert.equal(llmOnly.savedUsd, 0, 'no saving, no loss');
});

test('a stopped answer under an unknown price saved an unknown amount, never $0', async () => {
  const stop = new AbortController();
  stop.abort();
  const { stats } = await collectRelay(options(new DoubleRuntime(chars('ab')), [], { mode: 'confidence', signal: stop.signal }));
  assert.equal(stats.finishReason, 'cancelled');
  assert.equal(stats.llmOnlyCostUsd, null);
  assert.equal(stats.savedUsd, null, 'unknown: the totals count the answer as unpriced');
  assert.equal(totalsOfAnswer(stats).unpricedAnswers, 1);
});

test('every call of an answer carries one prompt-cache key, another answer another; each call-end says how it continued', async () => {
  const script = () => [...chars('a'), ...chars('<call>1</call>'), ...chars('b'), ...chars('<call>1</call>'), ...chars('c')];
  const first = options(new DoubleRuntime(script()), [{ chunks: ['X'] }, { chunks: ['Y'] }]);
  const { events } = await collectRelay(first);
  const keys = first.llm.requests.map((r) => r.cacheKey);
  assert.equal(keys.length, 2);
  assert.ok(keys[0] && keys[0] === keys[1], 'the same key on both calls of the answer');
  const second = options(new DoubleRuntime(script()), [{ chunks: ['X'] }, { chunks: ['Y'] }]);
  await collectRelay(second);
  assert.notEqual(second.llm.requests[0].cacheKey, keys[0], 'a new answer, a new key');
  const ends = events.filter((e) => e.type === 'call-end');
  assert.deepEqual(
    ends.map((e) => e.type === 'call-end' && e.continuation),
    ['raw-completion', 'raw-completion'],
    "the provider's own method when the call does not say",
  );
});

test('usage: reasoning tokens stay part of the billed output through the sums; the cache hit rate is the cached share of the input', () => {
  const a = usableUsage({ inputTokens: 100, outputTokens: 10, cachedInputTokens: 80, cacheWriteTokens: 0, estimated: false, reasoningTokens: 6 });
  assert.equal(a?.reasoningTokens, 6);
  assert.equal(
    usableUsage({ inputTokens: 1, outputTokens: 2, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false, reasoningTokens: 50 })?.reasoningTokens,
    2,
    'never more than the output',
  );
  const sum = addUsage(a!, { inputTokens: 100, outputTokens: 4, cachedInputTokens: 0, cacheWriteTokens: 20, estimated: false, reasoningTokens: 3 });
  assert.equal(sum.reasoningTokens, 9);
  assert.equal(cacheHitRate(sum), 80 / 200);
  assert.equal(cacheHitRate(emptyUsage()), undefined);
});
