/**
 * The money of an answer: the billing models of the providers' caches, the ledger's
 * calibration and quotes, and the money-aware policy through the engine (declined calls,
 * the ratio ceiling, savings that are never claimed for failed or LLM-only answers).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  OPENAI_CACHE,
  NO_CACHE,
  predictUsage,
  cacheRuleOf,
  DEEPSEEK_CACHE,
  billsCacheWrites,
  openAiCacheRule,
  type CacheRule,
} from '../../../src/core/providers/billing';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { llmOnlyEstimateNote, usableUsage } from '../../../src/core/relay/cost';
import { CEILING_RATIO_MARGIN, MoneyLedger, QUOTE_MARGIN, TokenRatios, UNCALIBRATED_MARGIN, type MoneyView } from '../../../src/core/relay/money';
import { FRAMING_TOKENS_PER_MESSAGE, inputTokenBound, outputTokensWithinCeiling } from '../../../src/core/relay/limits';
import { SlmTokenizer } from '../../../src/core/slm/tokenizer';
import { QWEN3_TOKENIZER_DIR } from '../../fixtures/scriptedModel';
import { CLUSTER_GAP_TOKENS, MoneyAwarePolicy, REQUOTE_TOKENS } from '../../../src/core/relay/policies/moneyAware';
import type { Outcome, RelayState } from '../../../src/core/relay/policies/policy';
import { collectRelay, runRelay, type RelayOptions } from '../../../src/core/relay/engine';
import type { AnswerStats, RelayEvent } from '../../../src/core/relay/events';
import type { ContinueRequest, LlmProvider, ModelPrice, ProviderChunk, Usage } from '../../../src/core/providers/types';
import { chars, DoubleProvider, DoubleRuntime, type ScriptedReply, type ScriptToken } from './doubles';
import { ProviderError } from '../../../src/core/providers/errors';
import { costOf } from '../../../src/core/providers/pricing';
import { MAX_BELIEVED_OUTPUT_TOKENS } from '../../../src/core/providers/usage';
import { OUTPUT_CAPPED } from '../../../src/shared/outputCapped';
import { declinedCallView } from '../../../src/shared/webviewProtocol';
import { declinedTitle } from '../../../media/src/view/format';
import { declinedDetail } from '../../../src/extension/moneyText';
import { declineReporter } from '../../../src/cli/render';

const PRICE = { inputPerMTok: 2, outputPerMTok: 10, cachedInputPerMTok: 1, cacheWritePerMTok: 2.5 };

test('billing models: what each provider serves from its cache, by hand', () => {
  const shape = { sent: 3000, previous: 2500, output: 7 };
  // OpenAI: 1,024 tokens, then 128-token steps of the shared prefix.
  assert.deepEqual(pick(predictUsage(OPENAI_CACHE, shape)), [3000, 7, 1024 + 11 * 128, 0]);
  assert.deepEqual(pick(predictUsage(OPENAI_CACHE, { sent: 1500, previous: 1000, output: 1 })), [1500, 1, 0, 0], 'below 1,024 shared tokens: nothing cached');
  // DeepSeek: 64-token units from the first.
  assert.deepEqual(pick(predictUsage(DEEPSEEK_CACHE, { sent: 300, previous: 200, output: 1 })), [300, 1, 192, 0]);
  // Anthropic: what the previous call wrote is read, the rest of this request written.
  const breakpoints = { kind: 'breakpoints', minTokens: 1024 } as const;
  assert.deepEqual(pick(predictUsage(breakpoints, shape)), [3000, 7, 2500, 500]);
  assert.deepEqual(
    pick(predictUsage(breakpoints, { sent: 3000, previous: 900, output: 7 })),
    [3000, 7, 0, 3000],
    'a previous prefix below the minimum was never cached',
  );
  assert.deepEqual(pick(predictUsage(breakpoints, { sent: 900, previous: 0, output: 7 })), [900, 7, 0, 0], 'a request below the minimum writes nothing');
  assert.deepEqual(pick(predictUsage({ kind: 'server-prefix' }, shape)), [3000, 7, 2500, 0]);
  assert.deepEqual(pick(predictUsage(NO_CACHE, shape)), [3000, 7, 0, 0]);
  // The user's choice, and auto: the address's rule, else a prefix cache only for a self-hosted server with a cached price.
  const service = (url: string, byProvider: CacheRule | undefined, cachedPriceSet: boolean) =>
    ({ kind: 'openai-chat', url: new URL(url), model: 'm', byProvider, userPriced: false, cachedPriceSet }) as const;
  assert.deepEqual(cacheRuleOf('auto', service('https://api.openai.com/v1', OPENAI_CACHE, false)), OPENAI_CACHE);
  assert.deepEqual(cacheRuleOf('auto', service('http://127.0.0.1:8000/v1', undefined, true)), { kind: 'server-prefix' });
  assert.deepEqual(cacheRuleOf('auto', service('https://api.example.com/v1', undefined, true)), NO_CACHE);
  assert.deepEqual(cacheRuleOf('auto', service('http://127.0.0.1:8000/v1', undefined, false)), NO_CACHE);
  assert.deepEqual(cacheRuleOf('none', service('https://api.openai.com/v1', OPENAI_CACHE, true)), NO_CACHE);
});

function pick(u: Usage): number[] {
  return [u.inputTokens, u.outputTokens, u.cachedInputTokens, u.cacheWriteTokens];
}

test("the ledger learns the LLM's token counts, quotes the next call with them and tallies its predictions", () => {
  const ratios = new TokenRatios();
  const ledger = new MoneyLedger(PRICE, OPENAI_CACHE, { maxCostRatio: 0.5 }, ratios);
  // Before any report: counts taken as they are, the quote raised by the wider margin.
  const firstQuote = ledger.quoteUsd(1000, 10);
  assert.ok(Math.abs(firstQuote - ((1000 * 2 + 10 * 10) / 1e6) * (1 + UNCALIBRATED_MARGIN)) < 1e-15);
  // The server counts twice as many tokens as the SLM, in and out.
  const usage: Usage = { inputTokens: 2000, outputTokens: 20, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  const cost = ledger.record({ localInput: 1000, localOutput: 10, usage, reported: true });
  assert.ok(Math.abs(cost - (2000 * 2 + 20 * 10) / 1e6) < 1e-15);
  assert.equal(ratios.input, 2);
  assert.equal(ratios.output, 2);
  // Next call: 100 more local tokens = 200 more of the server's; it extends the 2,000 sent before.
  // max_tokens 5 is the server's count: all 5 billed, not translated by the output ratio.
  const quote = ledger.quoteUsd(1100, 5);
  const cached = 1024 + Math.floor((2000 - 1024) / 128) * 128;
  const expected = ((2200 - cached) * 2 + cached * 1 + 5 * 10) / 1e6;
  assert.ok(Math.abs(quote - expected * (1 + QUOTE_MARGIN)) < 1e-15, `${quote} vs ${expected * (1 + QUOTE_MARGIN)}`);
  // LLM-only in the server's counts: prompt 300 -> 600 input, answer 50 -> 100 output.
  assert.ok(Math.abs(ledger.llmOnlyUsd(300, 50) - (600 * 2 + 100 * 10) / 1e6) < 1e-15);
  assert.ok(Math.abs(ledger.allowanceUsd(300, 50) - (0.5 * ledger.llmOnlyUsd(300, 50) - cost)) < 1e-15);
  // A call's span joins the answer: the allowance for an 8-token call holds the ratio's share of its 8 output tokens too.
  assert.ok(Math.abs(ledger.allowanceUsd(300, 50, 8) - ledger.allowanceUsd(300, 50) - (0.5 * 8 * 10) / 1e6) < 1e-15);
  // The first prediction (counts untranslated) is tallied against the report: half the input.
  const check = ledger.billingCheck();
  assert.ok(check && check.calls === 1);
  assert.ok(Math.abs(check.predictedUsd - (1000 * 2 + 20 * 10) / 1e6) < 1e-15);
  assert.ok(Math.abs(check.reportedUsd - cost) < 1e-15);
  // The ratios outlive the answer: the next answer's first quote is calibrated.
  const next = new MoneyLedger(PRICE, NO_CACHE, {}, ratios);
  assert.ok(Math.abs(next.quoteUsd(100, 1) - ((200 * 2 + 1 * 10) / 1e6) * (1 + QUOTE_MARGIN)) < 1e-15);
});

/**
 * An LLM that continues a known text and reports usage the way OpenAI bills (computed here
 * independently of billing.ts), counting 2 tokens per character of input.
 */
class BillingLlm implements LlmProvider {
  readonly kind = 'openai-chat' as const;
  readonly model = 'gpt-test';
  readonly host = 'billing.test';
  readonly continuation = 'assistant-prefix' as const;
  readonly requests: ContinueRequest[] = [];
  private previousInput = 0;

  constructor(
    private readonly promptChars: number,
    private readonly reference: string,
    /** Input tokens per character of the partial answer (its text may tokenize unlike the prompt's). */
    private readonly answerPerChar = 2,
  ) {}

  async *continue(request: ContinueRequest): AsyncIterable<ProviderChunk> {
    this.requests.push(request);
    const input = 2 * this.promptChars + this.answerPerChar * request.partialAnswer.length;
    const shared = Math.min(this.previousInput, input);
    const cached = shared >= 1024 ? 1024 + Math.floor((shared - 1024) / 128) * 128 : 0;
    this.previousInput = input;
    const rest = this.reference.slice(request.partialAnswer.length);
    const text = rest.slice(0, request.maxTokens);
    if (text.length > 0) yield { type: 'text', text };
    yield { type: 'usage', usage: { inputTokens: input, outputTokens: text.length, cachedInputTokens: cached, cacheWriteTokens: 0, estimated: false } };
    yield { type: 'done', finishReason: text.length === rest.length ? 'stop' : 'length' };
  }
}

/** The reference answer as SLM tokens (one per character), unsure at `unsure` positions. */
function scripted(reference: string, unsure: Set<number>): ScriptToken[] {
  return [...reference].map((text, i) => ({ text, top1: unsure.has(i) ? 0.2 : 0.99 }));
}

const PROMPT = 'x'.repeat(1200);
const REFERENCE = 'The relay writes this answer one character at a time, and the large model helps where the small one is unsure.'.repeat(12);
const UNSURE = new Set([12, 13, 15, 70, 130, 131, 134, 220, 300, 301, 302, 400, 700, 701, 705, 900, 1100, 1101, 1300]);

function moneyOptions(mode: RelayOptions['mode'], extra: Partial<RelayOptions> = {}): RelayOptions & { llm: BillingLlm } {
  const llm = new BillingLlm(PROMPT.length + 20, REFERENCE);
  return {
    mode,
    slm: new DoubleRuntime(scripted(REFERENCE, UNSURE), { appendAdvances: true }),
    llm,
    messages: [{ role: 'user', content: 'Q' }],
    prompt: PROMPT,
    slmSampling: { temperature: 0 },
    price: PRICE,
    cacheRule: OPENAI_CACHE,
    confidence: { threshold: 0.5, spanTokens: 2, maxSpanTokens: 64 },
    ...extra,
  } as RelayOptions & { llm: BillingLlm };
}

test('money-aware: never past the ratio, declines what cannot pay off (and says so), longer spans than the fixed ones', async () => {
  for (const ratio of [0.3, 0.5, 0.9]) {
    const o = moneyOptions('money-aware', { maxCostRatio: ratio });
    const { answer, stats, events } = await collectRelay(o);
    assert.equal(answer, REFERENCE, 'the answer is whole whoever wrote it');
    assert.ok(stats.costUsd !== null && stats.llmOnlyCostUsd !== null);
    assert.ok(stats.costUsd <= ratio * stats.llmOnlyCostUsd + 1e-12, `ratio ${ratio}: cost ${stats.costUsd} <= ${ratio} x ${stats.llmOnlyCostUsd}`);
    const declined = events.filter((e): e is Extract<RelayEvent, { type: 'call-declined' }> => e.type === 'call-declined');
    assert.equal(stats.declinedCalls ?? 0, declined.length);
    for (const d of declined) assert.ok(d.predictedUsd > d.allowanceUsd);
    assert.equal(o.llm.requests.length, stats.calls, 'a declined call is never sent');
    // Every call read to its end reported usage (a call the SLM ended early was closed before the usage came).
    const agreed = events.filter((e) => e.type === 'call-end' && e.slmAgreed).length;
    if (stats.calls > agreed) assert.equal(stats.billing?.calls, stats.calls - agreed);
    if (process.env.RELAY_DEBUG)
      console.log(
        ratio,
        stats.calls,
        stats.declinedCalls,
        stats.costUsd,
        stats.llmOnlyCostUsd,
        stats.billing,
        o.llm.requests.map((r) => r.maxTokens),
      );
    if (ratio === 0.9) {
      assert.ok(stats.calls > 0, 'a generous ceiling lets calls through');
      // The context (1,200 characters, ~2,400 of the server's tokens) outweighs a 2-token span: spans are long.
      assert.ok(Math.max(...o.llm.requests.map((r) => r.maxTokens)) > 2, 'spans longer than the fixed 2 tokens');
    }
  }
  // Fixed spans with no ceiling spend more than the LLM alone on this long context.
  const fixed = await collectRelay(moneyOptions('confidence', { confidence: { threshold: 0.5, spanTokens: 2, maxLlmShare: 1 } }));
  assert.ok((fixed.stats.costUsd ?? 0) > (fixed.stats.llmOnlyCostUsd ?? Infinity), 'the loss the money-aware relay avoids');
  assert.ok((fixed.stats.savedUsd ?? 0) < 0, 'and it is shown as a loss');
});

/** Command mode on a 1,200-token context whose SLM asks for 4 tokens after "ab", under these money ceilings. */
async function commandRelay(ceilings: { maxCostRatio?: number; maxCostUsd?: number }) {
  const llm = new BillingLlm(PROMPT.length, 'abWXYZcd');
  const run = await collectRelay({
    mode: 'command',
    slm: new DoubleRuntime([...chars('ab'), ...chars('<call>4</call>'), ...chars('cd')]),
    llm,
    messages: [{ role: 'user', content: 'Q' }],
    prompt: PROMPT,
    price: PRICE,
    ...ceilings,
    commandReplacement: '',
  });
  return { ...run, llm };
}

test("the ratio ceiling holds in command mode too: the paper's protocol, a call that cannot fit is declined and the SLM writes on", async () => {
  const { answer, stats, events, llm } = await commandRelay({ maxCostRatio: 0.5 });
  assert.equal(llm.requests.length, 0, 'a 1,200-token context for a 4-token span: no call');
  assert.equal(answer, 'abcd');
  assert.equal(stats.declinedCalls, 1);
  const declined = events.find((e) => e.type === 'call-declined');
  assert.ok(declined?.type === 'call-declined' && declined.requestedTokens === 4);
  // It says what ceiling would have let the call through here, and that ceiling does.
  const needed = declined.ratioNeeded;
  assert.ok(needed !== undefined && needed > 0.5, `needed ${needed}`);
  assert.equal(stats.leastRatioToCall, needed);
  assert.equal((await commandRelay({ maxCostRatio: needed * 0.999 })).stats.calls, 0, 'just under it: skipped');
  const atNeeded = await commandRelay({ maxCostRatio: needed * 1.001 });
  assert.equal(atNeeded.stats.calls, 1, 'just over it: made');
  assert.equal(atNeeded.stats.leastRatioToCall, undefined);
  // Without the ceiling the call is made (and costs more than the LLM alone).
  const free = await commandRelay({});
  assert.equal(free.stats.calls, 1);
});

test('a call the USD ceiling refuses names no ratio: raising relay.maxCostRatio would not let it through', async () => {
  const { stats, events } = await commandRelay({ maxCostRatio: 0.5, maxCostUsd: 1e-9 });
  const declined = events.find((e) => e.type === 'call-declined');
  assert.ok(declined?.type === 'call-declined', 'declined');
  assert.equal(declined.ratioNeeded, undefined);
  assert.equal(declined.byUsdCeiling, true, 'the USD ceiling is named as what refused it');
  assert.equal(stats.declinedCalls, 1);
  assert.equal(stats.leastRatioToCall, undefined);
  // Every view names that ceiling, not relay.maxCostRatio, which raising would change nothing.
  const view = declinedCallView(declined);
  assert.equal(view.byUsdCeiling, true);
  assert.match(declinedTitle(view), /skipped \(the answer could spend \$0\.0000000010 more under relay\.maxCostPerAnswerUsd\)$/);
  assert.match(declinedDetail(view), /under relay\.maxCostPerAnswerUsd\)$/);
  const err: string[] = [];
  declineReporter({ write: (text: string) => void err.push(text) } as never)(declined);
  assert.match(err.join(''), /under relay\.maxCostPerAnswerUsd \(CLI: --max-cost\)\)\n$/);
  assert.doesNotMatch(err.join(''), /maxCostRatio/);

  // The ratio refusing it: named as before, with the ratio that would have let it through.
  const byRatio = (await commandRelay({ maxCostRatio: 0.5, maxCostUsd: 1 })).events.find((e) => e.type === 'call-declined');
  assert.ok(byRatio?.type === 'call-declined' && byRatio.byUsdCeiling === undefined && byRatio.ratioNeeded !== undefined);
  assert.match(declinedTitle(declinedCallView(byRatio)), /under relay\.maxCostRatio; it needed \d\.\d\d\)$/);
});

test("the LLM-alone estimate counts this answer's own text once its calls report: the answer's ratio from what two calls were billed for between them", () => {
  // The pair's ratios, learned on other answers: 0.8 LLM tokens per local token in and out.
  const ratios = new TokenRatios();
  ratios.add({ localInput: 1000, reportedInput: 800, localOutput: 100, reportedOutput: 80 });
  const ledger = new MoneyLedger(PRICE, NO_CACHE, { maxCostRatio: 0.5 }, ratios);
  const pairEstimate = (200 * 0.8 * 2 + 1000 * 0.8 * 10) / 1e6;
  assert.ok(Math.abs(ledger.llmOnlyUsd(200, 1000) - pairEstimate) < 1e-15, 'before a report: the pair ratios');
  // This answer's text tokenizes unlike the pair's average: its prompt at 0.9, its answer at 0.7.
  const reported = (prompt: number, answer: number) => Math.round(prompt * 0.9 + answer * 0.7);
  const call = (answer: number) => {
    const usage: Usage = { inputTokens: reported(200, answer), outputTokens: 10, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
    ledger.record({ localInput: 200 + answer, localOutput: 10, usage, reported: true, localPrompt: 200 });
  };
  call(300);
  // One report: the pair's ratios (now also taught by that call) moved so that they predict what it
  // was billed for, the part with the larger share of the prediction moved more.
  const one = ledger.llmOnlyBasis();
  assert.ok(one.kind === 'own-text' && !one.split);
  assert.ok(Math.abs(one.inputRatio * 200 + one.outputRatio * 300 - reported(200, 300)) < 1e-9, 'the report, predicted');
  const moved = (own: number, pair: number) => own / pair - 1;
  assert.ok(Math.abs(moved(one.inputRatio, ratios.input) / moved(one.outputRatio, ratios.output) - (200 * ratios.input) / (300 * ratios.output)) < 1e-9);
  assert.ok(Math.abs(ledger.llmOnlyUsd(200, 1000) - (200 * one.inputRatio * 2 + 1000 * one.outputRatio * 10) / 1e6) < 1e-15);
  // Two reports 200 answer tokens apart: the answer's ratio is read from the 140 billed between them, the prompt's from the rest.
  call(500);
  assert.ok(Math.abs(ledger.llmOnlyUsd(200, 1000) - (200 * 0.9 * 2 + 1000 * 0.7 * 10) / 1e6) < 1e-12, `${ledger.llmOnlyUsd(200, 1000)}`);
  const basis = ledger.llmOnlyBasis();
  assert.ok(basis.kind === 'own-text' && basis.split && Math.abs(basis.outputRatio - 0.7) < 1e-12 && Math.abs(basis.inputRatio - 0.9) < 1e-12);
  assert.match(llmOnlyEstimateNote(basis), /this answer's own ratios.*0\.70 output and 0\.90 input/);
  // The ceiling is held against the same estimate.
  assert.ok(Math.abs(ledger.allowanceUsd(200, 1000) - (0.5 * ledger.llmOnlyUsd(200, 1000) - ledger.spentUsd)) < 1e-15);
  assert.ok(Math.abs(ledger.allowancePerTokenUsd(200, 1000) - (0.5 * 10 * 0.7) / 1e6) < 1e-15, 'the allowance grows by the answer ratio per token');
});

test('the allowance grows with the answer under the ratio ceiling, not where the USD ceiling binds', () => {
  // Before any report the estimate counts one provider token per local token: 200 x $2 + 1,000 x $10 per M = $0.0104.
  const growing = new MoneyLedger(PRICE, NO_CACHE, { maxCostRatio: 0.5, maxCostUsd: 1 });
  assert.ok(Math.abs(growing.allowancePerTokenUsd(200, 1000) - (0.5 * 10) / 1e6) < 1e-15);
  // $0.004 of room, under the ratio's $0.0052: more answer adds nothing to what may be spent.
  const capped = new MoneyLedger(PRICE, NO_CACHE, { maxCostRatio: 0.5, maxCostUsd: 0.004 });
  assert.equal(capped.allowancePerTokenUsd(200, 1000), 0);
  assert.ok(capped.allowancePerTokenUsd(200, 100) > 0, 'a shorter answer: the ratio binds first');
  assert.equal(new MoneyLedger(PRICE, NO_CACHE, { maxCostUsd: 1 }).allowancePerTokenUsd(200, 1000), 0, 'no ratio: nothing grows');
});

test("the answer's own ratios ignore what no tokenizer gives and a call that changed its prompt side", () => {
  const ratios = new TokenRatios();
  ratios.add({ localInput: 1000, reportedInput: 800, localOutput: 100, reportedOutput: 80 });
  const absurd = new MoneyLedger(PRICE, NO_CACHE, {}, ratios);
  const before = absurd.llmOnlyUsd(200, 1000);
  const huge: Usage = { inputTokens: 1e9, outputTokens: 10, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  absurd.record({ localInput: 500, localOutput: 10, usage: huge, reported: true, localPrompt: 200 });
  assert.equal(absurd.llmOnlyUsd(200, 1000), before, 'a server claiming 1e9 tokens moves no estimate');
  assert.equal(ratios.input, 0.8, 'nor the pair ratios, which outlive the answer');
  assert.equal(ratios.calls, 1);
  // A provider that turned to an instruction between two calls: the second sends an instruction turn
  // the first did not, so the difference is not answer text: the last call alone moves the pair's ratios.
  const turned = new MoneyLedger(PRICE, NO_CACHE, {}, ratios);
  const usage = (input: number): Usage => ({ inputTokens: input, outputTokens: 10, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false });
  turned.record({ localInput: 500, localOutput: 10, usage: usage(400), reported: true, localPrompt: 200 });
  turned.record({ localInput: 800, localOutput: 10, usage: usage(700), reported: true, localPrompt: 200, localTail: 100 });
  const basis = turned.llmOnlyBasis();
  assert.ok(basis.kind === 'own-text' && !basis.split);
  assert.ok(Math.abs(basis.inputRatio * 300 + basis.outputRatio * 500 - 700) < 1e-9);
});

test('output billed far past the text a call wrote (hidden reasoning the host did not split out) teaches no output ratio', () => {
  const ratios = new TokenRatios();
  ratios.add({ localInput: 1000, reportedInput: 800, localOutput: 100, reportedOutput: 80 });
  const ledger = new MoneyLedger(PRICE, NO_CACHE, {}, ratios);
  const before = ledger.llmOnlyUsd(200, 1000);
  // 2 visible tokens, 150 billed, no reasoning_tokens: a ratio of 75 is "plausible" for a tokenizer pair, but it is reasoning.
  const usage: Usage = { inputTokens: 400, outputTokens: 150, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  const cost = ledger.record({ localInput: 500, localOutput: 2, usage, reported: true, localPrompt: 200 });
  assert.equal(cost, costOf(usage, PRICE), 'billed as reported');
  assert.equal(ratios.output, 0.8, 'the pair output ratio is unchanged');
  assert.ok(ledger.llmOnlyUsd(200, 1000) <= before * 1.25, `the LLM-alone estimate is not inflated: ${ledger.llmOnlyUsd(200, 1000)} against ${before}`);
  // Nor within 8N+16 of the text: 100 tokens written, 700 billed, where the same call's input counts 0.8 a local token.
  const longer: Usage = { inputTokens: 400, outputTokens: 700, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  ledger.record({ localInput: 500, localOutput: 100, usage: longer, reported: true, localPrompt: 200 });
  assert.equal(ratios.output, 0.8, 'reasoning billed unsaid teaches no output ratio');
  // A prompt that tokenizes far denser than its answer (0.35 in, 0.73 out, as bench:cost's problem trace) still teaches it.
  const dense = new TokenRatios();
  new MoneyLedger(PRICE, NO_CACHE, {}, dense).record({
    localInput: 165,
    localOutput: 2054,
    usage: { inputTokens: 57, outputTokens: 1491, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
    reported: true,
  });
  assert.equal(dense.output, 1491 / 2054);
  // A capped report is at the most a call is billed already: the answer's average reasoning is not added on top.
  const reasoned: Usage = { inputTokens: 400, outputTokens: 20_016, reasoningTokens: 20_000, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  ledger.record({ localInput: 500, localOutput: 16, usage: reasoned, reported: true, localPrompt: 200 });
  const capped = usableUsage({ inputTokens: 400, outputTokens: 1e7, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false }, 16);
  assert.ok(capped?.outputCapped);
  assert.equal(ledger.withReasoningEstimate(capped).outputTokens, MAX_BELIEVED_OUTPUT_TOKENS);
});

test("a relay answer's LLM-alone estimate is what the LLM alone is billed, where its answer tokenizes unlike its prompt", async () => {
  // The server counts the prompt at 2 tokens per character and the answer's text (as input and as output) at 1.
  const relayed = moneyOptions('confidence', { confidence: { threshold: 0.5, spanTokens: 2, maxLlmShare: 1 } });
  (relayed as { llm: BillingLlm }).llm = new BillingLlm(PROMPT.length + 20, REFERENCE, 1);
  const relay = await collectRelay(relayed);
  assert.equal(relay.answer, REFERENCE);
  assert.ok(relay.stats.calls >= 2);
  const alone = moneyOptions('llm-only');
  (alone as { llm: BillingLlm }).llm = new BillingLlm(PROMPT.length + 20, REFERENCE, 1);
  const llmOnly = await collectRelay(alone);
  assert.equal(llmOnly.answer, REFERENCE);
  const billed = llmOnly.stats.costUsd ?? NaN;
  const estimate = relay.stats.llmOnlyCostUsd ?? NaN;
  assert.ok(Math.abs(estimate - billed) / billed < 1e-9, `estimate ${estimate} vs billed ${billed}`);
  assert.match(relay.stats.llmOnlyEstimateNote ?? '', /this answer's own ratios/);
  // Each call-end says what the provider counted of the text it continued, for the next turn's first call (RecentPrompts).
  const ends = relay.events.flatMap((e) => (e.type === 'call-end' ? [e] : []));
  assert.ok(ends.length >= 2 && ends.every((e) => e.sentTextTokens === e.usage.inputTokens));
});

test('savings are never claimed for an LLM-only answer or a failed one', async () => {
  const only = await collectRelay(moneyOptions('llm-only'));
  assert.equal(only.stats.savedUsd, 0, 'the LLM alone saves nothing');
  assert.equal(only.stats.llmOnlyCostUsd, only.stats.costUsd);
  assert.match(only.stats.llmOnlyEstimateNote ?? '', /nothing is saved/);
  const refused: LlmProvider = {
    kind: 'openai-chat',
    model: 'm',
    host: 'h',
    continuation: 'assistant-prefix',
    async *continue() {
      throw Object.assign(new Error('connection refused'), { code: 'ECONNREFUSED' });
    },
  };
  const failed = await collectRelay({ mode: 'llm-only', slm: new DoubleRuntime([]), llm: refused, messages: [{ role: 'user', content: 'Q' }], price: PRICE });
  assert.equal(failed.stats.finishReason, 'error');
  assert.equal(failed.stats.savedUsd, -0, 'a failure saves nothing');
  // A relay answer whose call failed after it was billed: a loss, and its LLM-alone figure is
  // nothing, so the figures add up wherever they are summed (saved = LLM alone - cost).
  const broken = new DoubleProvider([
    {
      chunks: [' five'],
      usage: { inputTokens: 40, outputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
      error: new ProviderError('server', 'the stream broke'),
    },
  ]);
  const lost = await collectRelay({
    mode: 'command',
    slm: new DoubleRuntime([...chars('Two plus three is'), ...chars('<call>3</call>')]),
    llm: broken,
    messages: [{ role: 'user', content: 'Q' }],
    price: PRICE,
  });
  assert.equal(lost.stats.finishReason, 'error');
  assert.ok((lost.stats.costUsd ?? 0) > 0, 'the call was billed');
  assert.equal(lost.stats.llmOnlyCostUsd, 0);
  assert.equal(lost.stats.savedUsd, -(lost.stats.costUsd ?? 0));
  assert.equal(lost.stats.savedUsd, (lost.stats.llmOnlyCostUsd ?? 0) - (lost.stats.costUsd ?? 0), 'the figures add up');
});

test('an answer stopped by the user, or ended by a watchdog, saves nothing: its LLM-alone figure is nothing and its cost a loss', async () => {
  // A long prompt stopped after three tokens: before, the whole prompt's LLM-alone price was "saved".
  const controller = new AbortController();
  const o = moneyOptions('confidence', { signal: controller.signal });
  let spans = 0;
  let stopped: AnswerStats | undefined;
  for await (const event of runRelay(o)) {
    if (event.type === 'span' && ++spans === 3) controller.abort();
    if (event.type === 'done') stopped = event.stats;
  }
  assert.ok(stopped);
  assert.equal(stopped.finishReason, 'cancelled');
  assert.equal(stopped.llmOnlyCostUsd, 0, 'no whole answer was delivered to compare with');
  assert.equal(stopped.savedUsd, -(stopped.costUsd ?? NaN));
  // Two calls that add nothing end the answer (llm_no_progress): billed, and a loss.
  const empty = {
    chunks: [],
    finish: 'length' as const,
    usage: { inputTokens: 40, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
  };
  const stuck = await collectRelay({
    mode: 'confidence',
    slm: new DoubleRuntime(chars('abcdefgh', 0.1)),
    llm: new DoubleProvider([empty, empty]),
    messages: [{ role: 'user', content: 'Q'.repeat(2000) }],
    slmSampling: { temperature: 0 },
    confidence: { threshold: 0.9, maxLlmShare: 1 },
    price: PRICE,
  });
  assert.equal(stuck.stats.finishReason, 'llm_no_progress');
  assert.ok((stuck.stats.costUsd ?? 0) > 0, 'its calls were billed');
  assert.equal(stuck.stats.llmOnlyCostUsd, 0);
  assert.equal(stuck.stats.savedUsd, -(stuck.stats.costUsd ?? NaN));
});

test("the SLM's visible thinking is not priced as the LLM alone's output, nor spendable under the ratio ceiling", async () => {
  // The LLM alone would not write the SLM's <think>...</think> (Relay asks a reasoning LLM for its
  // lowest effort): 2,000 thinking tokens once made the LLM-alone estimate 45 times the answer's.
  const price = { inputPerMTok: 2.5, outputPerMTok: 10 };
  const thinking = `<think>${'hmm '.repeat(500)}</think>`;
  const unsure: ScriptToken = { text: ' 4', top1: 0.1 };
  const run = (think: string) =>
    collectRelay({
      mode: 'confidence',
      slm: new DoubleRuntime([...chars(think + 'The answer is'), unsure, ...chars('2.')]),
      llm: new DoubleProvider([{ chunks: [' 42'], usage: { inputTokens: 200, outputTokens: 2, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false } }]),
      messages: [{ role: 'user', content: 'Q'.repeat(100) }],
      slmSampling: { temperature: 0 },
      confidence: { threshold: 0.5, spanTokens: 2, maxLlmShare: 1 },
      maxCostRatio: 0.5,
      price,
    });
  const plain = await run('');
  const thought = await run(thinking);
  assert.equal(thought.stats.thinkingTokens, 2000);
  assert.equal(thought.stats.llmOnlyCostUsd, plain.stats.llmOnlyCostUsd, 'the same visible answer, the same LLM-alone estimate');
  // The call at the unsure token: the allowance is what the visible answer gives, not the thinking.
  const declined = (events: RelayEvent[]) => events.flatMap((e) => (e.type === 'call-declined' ? [e] : []));
  assert.equal(declined(plain.events).length, 1);
  assert.equal(declined(thought.events).length, 1, 'the thinking does not pay for a call');
  assert.equal(declined(thought.events)[0].allowanceUsd, declined(plain.events)[0].allowanceUsd);
});

test("usage a provider estimated (the server sent none) is booked but never teaches the pair's token ratios", async () => {
  // A provider that got no usage counts characters / 4 and marks it estimated: not the LLM's count.
  const ratios = new TokenRatios();
  const estimated = { inputTokens: 1005, outputTokens: 1, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: true };
  const { stats } = await collectRelay({
    mode: 'command',
    slm: new DoubleRuntime([...chars('Answer: '), ...chars('<call>4</call>'), ...chars(' done.')]),
    llm: new DoubleProvider([{ chunks: ['ABCD'], usage: estimated }]),
    messages: [{ role: 'user', content: 'Q'.repeat(4000) }],
    slmSampling: { temperature: 0 },
    tokenRatios: ratios,
    price: PRICE,
  });
  assert.equal(stats.calls, 1);
  assert.equal(stats.llmUsage.estimated, true);
  assert.equal(stats.llmUsage.inputTokens, 1005, 'the estimate is what the call is booked at');
  assert.equal(ratios.calls, 0, 'nothing learned');
  assert.equal(ratios.known, false);
  assert.match(stats.llmOnlyEstimateNote ?? '', /counted in the small model's tokenizer/, "the LLM-alone estimate does not claim the LLM's counts");
});

test('an output count past what any call writes is billed at MAX_BELIEVED_OUTPUT_TOKENS, estimated and marked capped', async () => {
  const absurd = { inputTokens: 50, outputTokens: 1_000_000, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  const ratios = new TokenRatios();
  const { stats } = await collectRelay({
    mode: 'command',
    slm: new DoubleRuntime([...chars('Answer: '), ...chars('<call>4</call>'), ...chars(' done.')]),
    llm: new DoubleProvider([{ chunks: ['ABCD'], usage: absurd }]),
    messages: [{ role: 'user', content: 'Q' }],
    slmSampling: { temperature: 0 },
    tokenRatios: ratios,
    price: PRICE,
  });
  // Far past the 4 asked it may still be hidden reasoning the host billed: kept, up to the ceiling.
  assert.equal(stats.llmUsage.outputTokens, MAX_BELIEVED_OUTPUT_TOKENS);
  assert.equal(stats.llmUsage.outputCapped, true);
  assert.equal(stats.llmUsage.estimated, true);
  assert.equal(stats.costUsd, costOf(stats.llmUsage, PRICE));
  assert.equal(ratios.calls, 0, 'an absurd report teaches nothing');
  // The LLM alone, so capped: its note says capped, not "reported no usage".
  const alone = await collectRelay({
    mode: 'llm-only',
    slm: new DoubleRuntime([]),
    llm: new DoubleProvider([{ chunks: ['ABCD'], usage: absurd }]),
    messages: [{ role: 'user', content: 'Q' }],
    slmSampling: { temperature: 0 },
    price: PRICE,
  });
  assert.equal(alone.stats.llmUsage.outputCapped, true);
  assert.ok((alone.stats.llmOnlyEstimateNote ?? '').includes(OUTPUT_CAPPED), alone.stats.llmOnlyEstimateNote);
});

test('an instructed call ends with the instruction turn, which the next request does not repeat: the cache is predicted without it', () => {
  const ledger = new MoneyLedger(PRICE, OPENAI_CACHE, {});
  const usage: Usage = { inputTokens: 1200, outputTokens: 10, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  ledger.record({ localInput: 1200, localOutput: 10, usage, reported: true, localTail: 80 });
  // Shared with the next request: 1,200 - 80 = 1,120 tokens, cached as 1,024 (the next 128-token step is not full).
  assert.equal(ledger.predict(1300, 5).cachedInputTokens, 1024);
  assert.equal(ledger.lastReportedTextTokens, 1120, "the text it continued, in the provider's count: what a next turn repeats");
  ledger.record({ localInput: 1300, localOutput: 10, usage: { ...usage, estimated: true }, reported: false });
  assert.equal(ledger.lastReportedTextTokens, undefined, 'a call that reported nothing gives no count');
  const exact = new MoneyLedger(PRICE, OPENAI_CACHE, {});
  exact.record({ localInput: 1200, localOutput: 10, usage, reported: true });
  assert.equal(exact.predict(1300, 5).cachedInputTokens, 1152, 'an exact continuation shares all of it');
});

/** A MoneyView of a call re-sending `inputUsd` worth of context, at `outputUsd` a token, under a ratio ceiling with `allowanceUsd` left. */
function moneyView(o: { inputUsd: number; outputUsd: number; allowanceUsd: number; ratio: number; margin?: number }): MoneyView {
  const margin = o.margin ?? QUOTE_MARGIN;
  return {
    spentUsd: 0,
    allowanceUsd: o.allowanceUsd,
    allowanceForUsd: (tokens) => o.allowanceUsd + o.ratio * tokens * o.outputUsd,
    allowancePerTokenUsd: o.ratio * o.outputUsd,
    outputUsdPerToken: o.outputUsd,
    quoteUsd: (tokens) => (o.inputUsd + tokens * o.outputUsd) * (1 + margin),
  };
}

function policyState(used: number, money: MoneyView): RelayState {
  return { budget: 4096, used, left: 4096 - used, slmTokens: used, llmTokens: 0, turns: 1, calls: 0, money };
}

const UNSURE_TURN: Outcome = { kind: 'slm', stopReason: 'low_confidence' };

test("money-aware: a call's span joins the answer, so the ratio's share of its tokens is spendable on it", () => {
  const policy = new MoneyAwarePolicy({ threshold: 0.5, spanTokens: 2, maxSpanTokens: 64, maxLlmShare: 1 });
  // $1,000 of context, $10 a token, $1,200 left at ratio 0.5: (1200 - 1050) / (10.5 - 5) = 27 tokens
  // (counting only the allowance before the span, 150 / 10.5 = 14).
  const money = moneyView({ inputUsd: 1000, outputUsd: 10, allowanceUsd: 1200, ratio: 0.5 });
  assert.equal(policy.spanFor(policyState(100, money)), 27);
  // At a ratio above the quote's margin the allowance never limits the span: the re-sent context does (64 at most).
  assert.equal(policy.spanFor(policyState(100, moneyView({ inputUsd: 1000, outputUsd: 10, allowanceUsd: 1200, ratio: 1.2 }))), 64);
});

test('money-aware: where only one call fits, an isolated unsure token is left to the SLM and the call goes to a cluster', () => {
  const confidence = { threshold: 0.5, spanTokens: 2, maxSpanTokens: 64, maxLlmShare: 1 };
  const scarce = moneyView({ inputUsd: 1000, outputUsd: 10, allowanceUsd: 1500, ratio: 0.5 });
  const policy = new MoneyAwarePolicy(confidence);
  // Isolated: the SLM writes the unsure token itself, ungated, and goes on behind the gate.
  assert.deepEqual(policy.next(UNSURE_TURN, policyState(100, scarce)), { do: 'slm', maxTokens: 1, stopAtCommand: false });
  const after = policy.next({ kind: 'slm', stopReason: 'max_tokens' }, policyState(101, scarce));
  assert.ok(after.do === 'slm' && after.gate?.minTop1 === 0.5);
  // Far from it (past CLUSTER_GAP_TOKENS): isolated again.
  assert.equal(policy.next(UNSURE_TURN, policyState(100 + CLUSTER_GAP_TOKENS + 1, scarce)).do, 'slm');
  // Close behind the previous unsure token: a cluster, and the one call is made there.
  const call = policy.next(UNSURE_TURN, policyState(100 + CLUSTER_GAP_TOKENS + 4, scarce));
  assert.ok(call.do === 'llm' && call.maxTokens > 2, 'the call, with a span long enough for the rest of the cluster');
  // Money for two calls or more: every unsure token is called at once.
  const plenty = moneyView({ inputUsd: 1000, outputUsd: 10, allowanceUsd: 5000, ratio: 0.5 });
  assert.equal(new MoneyAwarePolicy(confidence).next(UNSURE_TURN, policyState(100, plenty)).do, 'llm');
  // No call fits at all: asked for anyway, so that the engine declines it and says so.
  const none = moneyView({ inputUsd: 1000, outputUsd: 10, allowanceUsd: 500, ratio: 0.5 });
  assert.equal(new MoneyAwarePolicy(confidence).next(UNSURE_TURN, policyState(100, none)).do, 'llm');
});

test('money-aware: on a short context the allowance soon pays for a second call, so an isolated unsure token is called at once', () => {
  const confidence = { threshold: 0.5, spanTokens: 1, maxSpanTokens: 64, maxLlmShare: 1 };
  // $60 of context at $10 a token: a 6-token span, quoted (60 + 60) x 1.05 = $126; $230 allowed with it at
  // ratio 0.5. Not two calls now ($252), but the allowance grows $5 a token of the answer: a second call
  // fits after about 5 more tokens, well within REQUOTE_TOKENS, so nothing is saved by waiting for a cluster.
  const short = moneyView({ inputUsd: 60, outputUsd: 10, allowanceUsd: 200, ratio: 0.5 });
  const policy = new MoneyAwarePolicy(confidence);
  const quote = short.quoteUsd(policy.spanFor(policyState(10, short)));
  const allowance = short.allowanceForUsd(policy.spanFor(policyState(10, short)));
  assert.ok(quote <= allowance && 2 * quote > allowance && (2 * quote - allowance) / short.allowancePerTokenUsd < REQUOTE_TOKENS);
  const call = policy.next(UNSURE_TURN, policyState(10, short));
  assert.ok(call.do === 'llm', `an isolated unsure token on a short context is called (got ${JSON.stringify(call)})`);
  // The same room on a long context ($1,000 re-sent): the second call is hundreds of tokens away; the SLM writes it.
  const long = moneyView({ inputUsd: 1000, outputUsd: 10, allowanceUsd: 1500, ratio: 0.5 });
  assert.equal(new MoneyAwarePolicy(confidence).next(UNSURE_TURN, policyState(10, long)).do, 'slm');
});

test("the money ceiling's input bound holds for a real byte-level tokenizer, and a learned ratio stays within it", async () => {
  const qwen = await SlmTokenizer.create(
    JSON.parse(readFileSync(join(QWEN3_TOKENIZER_DIR, 'tokenizer.json'), 'utf8')),
    JSON.parse(readFileSync(join(QWEN3_TOKENIZER_DIR, 'tokenizer_config.json'), 'utf8')),
  );
  const texts = [
    'function add(a: number, b: number): number {\n\treturn a + b; // ü\n}\n',
    '数学是科学的语言。数学是科学的语言。',
    'emoji 🎉🧪🫠, 𠀋, 🇫🇷 and 👨‍👩‍👧 '.repeat(8),
    '\u0000\u0001\u007f'.repeat(40),
  ];
  for (const text of texts) {
    const tokens = qwen.encode(text).length;
    // The bytes alone bound it (framing aside): counting characters would not (an emoji is 1-2 UTF-16 units, 4 bytes, 2-3 tokens).
    assert.ok(tokens <= Buffer.byteLength(text), `${tokens} tokens <= ${Buffer.byteLength(text)} bytes`);
    assert.ok(inputTokenBound(text, 1) >= tokens + 2 * FRAMING_TOKENS_PER_MESSAGE);
  }
  const ledger = new MoneyLedger(PRICE, NO_CACHE, {});
  assert.equal(ledger.worstInputTokens(100, 400), 400, 'no report yet: the bound');
  assert.equal(ledger.worstInputTokens(500, 400), 500, 'never under the local count (what an unreported call is booked at)');
  const ratios = new TokenRatios();
  ratios.add({ localInput: 100, reportedInput: 120, localOutput: 10, reportedOutput: 10 });
  const taught = new MoneyLedger(PRICE, NO_CACHE, {}, ratios);
  assert.equal(taught.worstInputTokens(100, 400), 100 * 1.2 * (1 + CEILING_RATIO_MARGIN));
  assert.equal(taught.worstInputTokens(100, 130), 130, 'within the bound');
  // Output as it streams: bytes before a report, then the learned output ratio (here 1) raised by the margin.
  assert.equal(ledger.worstOutputTokens(10, 37), 37);
  assert.equal(taught.worstOutputTokens(10, 37), 10 * (1 + CEILING_RATIO_MARGIN));
  const counted = new TokenRatios();
  counted.addCount({ localInput: 100, reportedInput: 120 });
  const countedLedger = new MoneyLedger(PRICE, NO_CACHE, {}, counted);
  assert.equal(countedLedger.worstInputTokens(100, 400), 100 * 1.2 * (1 + CEILING_RATIO_MARGIN), 'a token count teaches the input');
  assert.equal(countedLedger.worstOutputTokens(10, 37), 37, 'but not the output: the bytes still bound it');
});

test('the input bound counts UTF-8 bytes, not characters: every byte may be a token of its own', () => {
  // '日本' is 2 characters (2 UTF-16 units) and 6 bytes; a byte-level tokenizer may bill 6 tokens for it.
  assert.equal(inputTokenBound('日本', 1), 6 + 2 * FRAMING_TOKENS_PER_MESSAGE);
  assert.equal(inputTokenBound('é🎉', 2), 2 + 4 + 3 * FRAMING_TOKENS_PER_MESSAGE);
  assert.equal(inputTokenBound('ab', 1), 2 + 2 * FRAMING_TOKENS_PER_MESSAGE);
});

test('the USD allowance for the next call is what the ceiling leaves after the money already spent', () => {
  const ledger = new MoneyLedger(PRICE, NO_CACHE, { maxCostUsd: 0.01 });
  assert.equal(ledger.allowanceUsd(200, 1000), 0.01, 'nothing spent yet: the whole ceiling');
  const usage: Usage = { inputTokens: 1000, outputTokens: 100, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  const cost = ledger.record({ localInput: 1000, localOutput: 100, usage, reported: true });
  assert.ok(Math.abs(cost - 0.003) < 1e-15);
  assert.ok(Math.abs(ledger.allowanceUsd(200, 1000) - (0.01 - 0.003)) < 1e-15, `${ledger.allowanceUsd(200, 1000)}`);
  // Under a ratio far above, the USD ceiling binds, still less what was spent.
  const both = new MoneyLedger(PRICE, NO_CACHE, { maxCostUsd: 0.01, maxCostRatio: 100 });
  both.record({ localInput: 1000, localOutput: 100, usage, reported: true });
  assert.ok(Math.abs(both.allowanceUsd(200, 1000) - 0.007) < 1e-15, `${both.allowanceUsd(200, 1000)}`);
});

test("hidden reasoning is billed output but does not teach the output ratio the LLM-alone estimate prices the answer's text with", () => {
  // 10 local tokens of visible text came back as 20 of the provider's, plus 500 of hidden reasoning:
  // the answer's text is priced at 2 provider tokens per local token, not 52.
  const ratios = new TokenRatios();
  const ledger = new MoneyLedger(PRICE, NO_CACHE, {}, ratios);
  const usage: Usage = { inputTokens: 100, outputTokens: 520, reasoningTokens: 500, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  const cost = ledger.record({ localInput: 100, localOutput: 10, usage, reported: true });
  assert.ok(Math.abs(cost - (100 * 2 + 520 * 10) / 1e6) < 1e-15, 'the reasoning is billed');
  assert.equal(ratios.output, 2);
  const basis = ledger.llmOnlyBasis();
  assert.ok(basis.kind === 'calibrated');
  assert.equal(basis.outputRatio, 20 / 10, 'visible output over the local output');
  assert.ok(Math.abs(ledger.llmOnlyUsd(100, 1000) - (100 * 2 + 1000 * 2 * 10) / 1e6) < 1e-15, `${ledger.llmOnlyUsd(100, 1000)}`);
});

test('a call cut before its usage came (agreement stop, cancel) is booked with the hidden reasoning its calls have shown so far', () => {
  // One reported call reasoned 500 tokens before its 10 visible ones: a call the SLM ends early is
  // estimated at its span plus that reasoning, as its quote priced it.
  const ledger = new MoneyLedger(PRICE, NO_CACHE, {});
  const usage: Usage = { inputTokens: 100, outputTokens: 510, reasoningTokens: 500, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  ledger.record({ localInput: 100, localOutput: 10, usage, reported: true });
  const cut = ledger.estimateUnreported(120, 10);
  assert.equal(cut.outputTokens, 10 + 500);
  assert.equal(cut.reasoningTokens, 500, 'said as reasoning, as a report would');
  assert.equal(cut.inputTokens, 120);
  assert.equal(cut.estimated, true);
  // Two calls, 500 and 0 reasoning tokens: 250 a call.
  ledger.record({ localInput: 100, localOutput: 10, usage: { ...usage, outputTokens: 10, reasoningTokens: 0 }, reported: true });
  assert.equal(ledger.estimateUnreported(120, 10).outputTokens, 10 + 250);
  // Without reasoning seen, the span alone.
  assert.equal(new MoneyLedger(PRICE, NO_CACHE, {}).estimateUnreported(120, 10).outputTokens, 10);
});

test('a span asked for in max_completion_tokens, which bounds hidden reasoning too, is quoted at most N output tokens', () => {
  const ledger = new MoneyLedger(PRICE, NO_CACHE, {});
  const usage: Usage = { inputTokens: 100, outputTokens: 510, reasoningTokens: 500, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  ledger.record({ localInput: 100, localOutput: 10, usage, reported: true });
  const margin = 1 + QUOTE_MARGIN;
  const input = 100 * 2;
  // Where N bounds only the visible text (max_tokens on a server that reasons past it), the average reasoning is added.
  assert.ok(Math.abs(ledger.quoteUsd(100, 10) - ((input + (10 + 500) * 10) / 1e6) * margin) < 1e-15, `${ledger.quoteUsd(100, 10)}`);
  // In max_completion_tokens the call bills at most N output tokens, reasoning included.
  assert.ok(Math.abs(ledger.quoteUsd(100, 10, true) - ((input + 10 * 10) / 1e6) * margin) < 1e-15, `${ledger.quoteUsd(100, 10, true)}`);
});

test("a reasoning model's call that was stopped, or cut for writing past its ask, is booked with the reasoning its calls have shown", async () => {
  const reasoned = { inputTokens: 30, outputTokens: 504, reasoningTokens: 500, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  const answer = (second: ScriptedReply, signal?: AbortSignal) => {
    const llm = new DoubleProvider([{ chunks: ['xyzw'], usage: reasoned }, second]);
    const o: RelayOptions = {
      mode: 'command',
      // The first call may reason (its max_tokens bounds the reasoning too); the second is asked for 4.
      slm: new DoubleRuntime([...chars('A'), ...chars('<call>600</call>'), ...chars('B'), ...chars('<call>4</call>'), ...chars('C')]),
      llm,
      messages: [{ role: 'user', content: 'Q' }],
      slmSampling: { temperature: 0 },
      price: PRICE,
      signal,
    };
    return { o, llm };
  };
  // Stopped while the second call streamed: the first call's 500 reasoning tokens a call are added.
  const controller = new AbortController();
  const stopped = answer({ chunks: ['ab'], hang: true }, controller.signal);
  stopped.llm.onHang = () => controller.abort();
  const { stats } = await collectRelay(stopped.o);
  assert.equal(stats.finishReason, 'cancelled');
  assert.equal(stats.calls, 2);
  assert.equal(stats.llmUsage.reasoningTokens, 1000);
  assert.equal(stats.llmUsage.outputTokens, 504 + 2 + 500);
  // A server that ignores max_tokens is cut: what arrived, and the reasoning.
  const cut = answer({ chunks: ['a'.repeat(100)], ignoreMaxTokens: true });
  const overran = await collectRelay(cut.o);
  const end = overran.events.flatMap((e) => (e.type === 'call-end' ? [e] : []))[1];
  assert.equal(end.tokens, 100);
  assert.equal(end.usage.reasoningTokens, 500);
  assert.equal(end.usage.outputTokens, 100 + 500);
});

// Gemini 2.5 Pro as the catalog prices it: every token of a call with more than 200k input tokens at the long-context tier.
const TIERED: ModelPrice = {
  inputPerMTok: 1.25,
  outputPerMTok: 10,
  cachedInputPerMTok: 0.125,
  tiers: [{ aboveInputTokens: 200_000, inputPerMTok: 2.5, outputPerMTok: 15, cachedInputPerMTok: 0.25 }],
};

test('the money ceiling prices a call at the long-context tier its input reaches, refusing one its base price would let through', () => {
  const refused = (inputTokens: number, maxCostUsd: number): boolean => outputTokensWithinCeiling(0, inputTokens, TIERED, maxCostUsd) < 1000;
  // 250k input, 1,000 output: $0.3225 at the base price, $0.64 as billed.
  assert.equal(refused(250_000, 0.5), true, 'billed $0.64: over a $0.50 ceiling');
  assert.equal(refused(250_000, 0.65), false);
  assert.ok(Math.abs(outputTokensWithinCeiling(0, 250_000, TIERED, 0.65) - 1666.667) < 0.01, '$0.025 left at $15 per million');
  // 100k: the base price ($0.135).
  assert.equal(refused(100_000, 0.14), false);
  assert.equal(refused(100_000, 0.13), true);
  // The ledger's quote and the LLM-alone estimate: the whole prompt at its tier.
  const ledger = new MoneyLedger(TIERED, NO_CACHE, { maxCostUsd: 0.5 });
  const margin = 1 + UNCALIBRATED_MARGIN;
  assert.ok(Math.abs(ledger.quoteUsd(100_000, 1000) - 0.135 * margin) < 1e-12);
  assert.ok(Math.abs(ledger.quoteUsd(250_000, 1000) - 0.64 * margin) < 1e-12);
  assert.ok(Math.abs(ledger.llmOnlyUsd(250_000, 1000) - 0.64) < 1e-12);
  assert.ok(Math.abs(ledger.llmOnlyUsd(100_000, 1000) - 0.135) < 1e-12);
  // What it books: each call at its own tier, not the answer's summed input.
  ledger.record({
    localInput: 150_000,
    localOutput: 10,
    usage: { inputTokens: 150_000, outputTokens: 10, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
    reported: true,
  });
  ledger.record({
    localInput: 150_000,
    localOutput: 10,
    usage: { inputTokens: 150_000, outputTokens: 10, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
    reported: true,
  });
  assert.ok(Math.abs(ledger.spentUsd - (2 * (150_000 * 1.25 + 10 * 10)) / 1e6) < 1e-12);
});

test("the USD ceiling prices a call's input as written where OpenAI bills writes (GPT-5.6 on) and no cache-write price is set", async () => {
  const price = { inputPerMTok: 2, outputPerMTok: 10 };
  const firstCallMade = async (cacheRule: CacheRule, maxCostUsd: number) =>
    (await collectRelay(moneyOptions('confidence', { price, cacheRule, maxCostUsd }))).stats.calls > 0;
  // The least ceiling (to 0.1%) at which the first call goes where writes are free.
  let [low, high] = [0, 0.01];
  assert.ok(await firstCallMade(OPENAI_CACHE, high));
  while (high - low > high * 0.001) {
    const mid = (low + high) / 2;
    if (await firstCallMade(OPENAI_CACHE, mid)) high = mid;
    else low = mid;
  }
  assert.equal(billsCacheWrites(openAiCacheRule('gpt-5.6')), true);
  assert.equal(billsCacheWrites(openAiCacheRule('gpt-4o')), false);
  // Under a rule that bills writes its input may cost 1.25x: the same ceiling does not let it go.
  assert.equal(await firstCallMade(openAiCacheRule('gpt-5.6'), high * 1.1), false);
  assert.equal(await firstCallMade(openAiCacheRule('gpt-5.6'), high * 1.3), true);
});

test('the USD ceiling holds back the average hidden reasoning per call where max_tokens does not bound it, or where a call was billed past what it asked', async () => {
  const reasoned = { inputTokens: 50, outputTokens: 1004, reasoningTokens: 1000, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  // Where max_tokens bounds the reasoning too, a call asked for 4 tokens is billed 4 at most.
  const bounded = { inputTokens: 50, outputTokens: 4, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  const secondCallMade = async (maxCostUsd: number, limitBoundsReasoning: boolean, billed: Usage) => {
    const llm = new DoubleProvider([
      { chunks: ['ABCD'], usage: billed },
      { chunks: ['EFGH'], usage: billed },
    ]);
    if (limitBoundsReasoning) Object.assign(llm, { limitBoundsReasoning: true });
    const { stats } = await collectRelay({
      mode: 'command',
      slm: new DoubleRuntime([...chars('A: '), ...chars('<call>4</call>'), ...chars(' and '), ...chars('<call>4</call>'), ...chars(' done.')]),
      llm,
      messages: [{ role: 'user', content: 'Q' }],
      slmSampling: { temperature: 0 },
      price: { inputPerMTok: 2, outputPerMTok: 10 },
      maxCostUsd,
    });
    return stats.calls === 2;
  };
  // The least ceiling (to 0.1%) at which the second call goes where max_tokens bounds the reasoning too.
  let [low, high] = [0, 0.1];
  assert.ok(await secondCallMade(high, true, bounded));
  while (high - low > high * 0.001) {
    const mid = (low + high) / 2;
    if (await secondCallMade(mid, true, bounded)) high = mid;
    else low = mid;
  }
  // Where it does not: the 1,000 reasoning tokens the first call was billed cost $0.01, and as many are held back for the second.
  assert.equal(await secondCallMade(high + 0.0199, false, reasoned), false);
  assert.equal(await secondCallMade(high + 0.0201, false, reasoned), true);
  // A host said to bound it that billed 1,004 output tokens for the 4 asked (a proxy that ignores
  // max_completion_tokens) is held to the ceiling as one that does not, for the rest of the answer.
  assert.equal(await secondCallMade(high + 0.0199, true, reasoned), false);
  assert.equal(await secondCallMade(high + 0.0201, true, reasoned), true);
});

test("a host said to bound reasoning that bills past its span without splitting the reasoning out (Anthropic's count of a call that thought and wrote text) is held to the USD ceiling", async () => {
  // 1,004 output tokens for the 4 asked, no reasoning_tokens: the 1,000 past the span were reasoning the limit did not bound.
  const unsplit = { inputTokens: 50, outputTokens: 1004, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  const llm = new DoubleProvider([
    { chunks: ['ABCD'], usage: unsplit },
    { chunks: ['EFGH'], usage: unsplit },
  ]);
  Object.assign(llm, { limitBoundsReasoning: true });
  const maxCostUsd = 0.015;
  const { stats } = await collectRelay({
    mode: 'command',
    slm: new DoubleRuntime([...chars('A: '), ...chars('<call>4</call>'), ...chars(' and '), ...chars('<call>4</call>'), ...chars(' done.')]),
    llm,
    messages: [{ role: 'user', content: 'Q' }],
    slmSampling: { temperature: 0 },
    price: { inputPerMTok: 2, outputPerMTok: 10 },
    maxCostUsd,
  });
  // The first call cost $0.01014; a second, with as much reasoning held back, could pass $0.015.
  assert.equal(stats.calls, 1);
  assert.equal(stats.finishReason, 'cost_limit');
  assert.ok(typeof stats.costUsd === 'number' && stats.costUsd <= maxCostUsd, `spent $${stats.costUsd}, within the $${maxCostUsd} ceiling`);
});

test('a provider that asks for at least 16 output tokens (OpenAI /responses) is held to the USD ceiling at 16, however short the span', async () => {
  const usage = { inputTokens: 50, outputTokens: 2, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  const price = { inputPerMTok: 2, outputPerMTok: 1000 };
  const callMade = async (maxCostUsd: number, minOutputTokens?: number) => {
    const llm = new DoubleProvider([{ chunks: ['AB'], usage }]);
    Object.assign(llm, { limitBoundsReasoning: true, ...(minOutputTokens ? { minOutputTokens } : {}) });
    const { stats } = await collectRelay({
      mode: 'command',
      slm: new DoubleRuntime([...chars('A: '), ...chars('<call>2</call>'), ...chars(' done.')]),
      llm,
      messages: [{ role: 'user', content: 'Q' }],
      slmSampling: { temperature: 0 },
      price,
      maxCostUsd,
    });
    return stats.calls === 1;
  };
  let [low, high] = [0, 0.1];
  assert.ok(await callMade(high));
  while (high - low > high * 0.001) {
    const mid = (low + high) / 2;
    if (await callMade(mid)) high = mid;
    else low = mid;
  }
  // 14 more output tokens at $1,000 a million: $0.014.
  assert.equal(await callMade(high, 16), false);
  assert.equal(await callMade(high + 0.0141, 16), true);
});

test('the money ceiling prices a call at the dearer of input and cache write, every allowed output token written', () => {
  const next = { inputTokens: 1_000_000, maxOutputTokens: 100_000 };
  // As the engine decides: the call is not made when the room its input leaves is short of its max_tokens.
  const callWouldExceedCost = (spentUsd: number, price: ModelPrice | undefined, maxCostUsd: number): boolean =>
    outputTokensWithinCeiling(spentUsd, next.inputTokens, price, maxCostUsd) < next.maxOutputTokens;
  // $2.5 (writes) + $1 (output) = $3.5 at most: a ceiling of $3.6 lets it go, $3.4 does not.
  assert.equal(callWouldExceedCost(0, PRICE, 3.6), false);
  assert.equal(callWouldExceedCost(0, PRICE, 3.4), true);
  assert.equal(callWouldExceedCost(0.2, PRICE, 3.6), true, 'what the answer spent counts');
  assert.equal(callWouldExceedCost(0, { inputPerMTok: 2, outputPerMTok: 10 }, 3.1), false, 'no cache price: input at its own');
  // No cache-write price under a rule that writes (breakpoints): a write at 1.25x input, as Anthropic bills it ($2.5 + $1).
  const writing = (maxCostUsd: number): boolean =>
    outputTokensWithinCeiling(0, next.inputTokens, { inputPerMTok: 2, outputPerMTok: 10 }, maxCostUsd, true) < next.maxOutputTokens;
  assert.equal(writing(3.6), false);
  assert.equal(writing(3.4), true, 'no cache-write price: not billed as plain input');
  assert.equal(callWouldExceedCost(0, undefined, 0.001), false, 'no price: no money ceiling');
  // What the output may then write while it streams: $3.6 - $2.5 of input leaves $1.1, 110,000 tokens.
  assert.ok(Math.abs(outputTokensWithinCeiling(0, next.inputTokens, PRICE, 3.6) - 110_000) < 1e-6);
  assert.equal(outputTokensWithinCeiling(0, next.inputTokens, PRICE, 2), -1, 'not even the input fits');
  assert.equal(outputTokensWithinCeiling(0, next.inputTokens, PRICE, undefined), Infinity);
  assert.equal(outputTokensWithinCeiling(0, next.inputTokens, { inputPerMTok: 2, outputPerMTok: 0 }, 3), Infinity, 'free output');
});
