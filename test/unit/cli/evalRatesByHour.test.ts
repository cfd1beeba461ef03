/**
 * `relay eval` with an LLM priced by time of day (DeepSeek V4: twice its standard rate
 * 01:00-04:00 and 06:00-10:00 UTC on weekdays, ModelPrice.hours). The rows run one after
 * another, each call costed at the rate of its hour (one across a change of rate, at the dearer): a row
 * that ran at 02:30 UTC and one at 12:00 compare rates as well as rows. Each answer records
 * its start on the engine's clock, and the notes (.md, stdout, the JSON's ratesByHour) count
 * each row's answers in those hours and warn when the rows differ; a flat price says
 * nothing. Answers of earlier relays (no start) are reused, counted as unknown.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI_EVAL_MODELS, runEval, type EvalModels } from '../../../src/cli/commands/evaluate';
import { defaultConfig, type CliConfig } from '../../../src/cli/config';
import { findDemoModels } from '../../../src/cli/demoModels';
import { parseModeSpecs } from '../../../src/cli/evalModes';
import { answerLineProblem, type AnswerLine } from '../../../src/cli/eval/answersLog';
import { ratesByHour, ranInOtherHours } from '../../../src/cli/eval/ratesByHour';
import type { RelayComposition } from '../../../src/core/compose';
import type { RelayMode } from '../../../src/core/relay/events';
import { resolvePrice } from '../../../src/core/providers/pricing';
import type { ModelPrice } from '../../../src/core/providers/types';
import { openAiStream } from '../providers/servers/openai';
import { capture, withServer } from './runCli';

let work: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'relay-eval-rates-by-hour-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

const demo = findDemoModels();
const LLM_ANSWER = openAiStream({ pieces: ['95*8 = 760, ', '760+35 = 795. ', '\\boxed{795}'], finishReason: 'stop' });
const PEAK = Date.UTC(2026, 0, 5, 2, 30);
const NOON = Date.UTC(2026, 0, 5, 12, 0);
/** The rows' engine clocks: the LLM alone ran in DeepSeek's dearer hours, the router (all to the LLM) at noon. */
const clockOf = (mode: RelayMode): number => (mode === 'llm-only' ? PEAK : NOON);

/** DeepSeek V4 Flash at its own address, priced as the catalog prices it there (by time of day), unless `prices` flatten it. */
function deepSeekConfig(prices: CliConfig['prices'] = {}): CliConfig {
  const config = defaultConfig();
  return {
    ...config,
    provider: { ...config.provider, kind: 'openai-chat', model: 'deepseek-v4-flash', baseUrl: 'https://api.deepseek.com' },
    prices,
    slm: { ...config.slm, folder: demo.slmFolder },
    seed: 1,
    plainPrompt: true,
    totalsPath: join(work, 'totals.json'),
  };
}

/**
 * The CLI's models with the LLM's requests sent to `serverUrl` instead of DeepSeek, billed at
 * the price resolved for DeepSeek's address, and each row's engine clock at `clockOf` its mode.
 */
function reachedAt(serverUrl: string): EvalModels {
  return {
    async open(config, reportLoad) {
      const price = resolvePrice(config.provider.kind, config.provider.model, config.prices, config.provider.baseUrl) ?? undefined;
      const opened = await CLI_EVAL_MODELS.open({ ...config, provider: { ...config.provider, baseUrl: serverUrl } }, reportLoad);
      return {
        ...opened,
        async compose(mode) {
          const composition = await opened.compose(mode);
          const priced = Object.create(composition) as RelayComposition;
          Object.defineProperty(priced, 'llm', { value: composition.llm && { ...composition.llm, price } });
          priced.options = (messages, prompt) => ({ ...composition.options.call(priced, messages, prompt), now: () => clockOf(mode) });
          return priced;
        },
      };
    },
  };
}

/** `relay eval` of 2 demo questions, llm-only then random-router@1 (every question to the LLM), into `out`. */
async function evalRows(serverUrl: string, config: CliConfig, out: string) {
  const stdout = capture();
  const stderr = capture();
  const saved = process.env.RELAY_API_KEY;
  // The key check looks for DeepSeek's key; the calls go to the local server.
  process.env.RELAY_API_KEY = 'sk-test-not-a-key';
  try {
    const code = await runEval(
      demo.evalData,
      parseModeSpecs('llm-only,random-router@1'),
      config,
      { stdout: stdout.out, stderr: stderr.out },
      { outPrefix: out, limit: 2, signal: new AbortController().signal, models: reachedAt(serverUrl) },
    );
    assert.equal(code, 0, stderr.text());
  } finally {
    if (saved === undefined) delete process.env.RELAY_API_KEY;
    else process.env.RELAY_API_KEY = saved;
  }
  const json = JSON.parse(readFileSync(`${out}.json`, 'utf8')) as {
    ratesByHour: { rows: unknown[]; rowsDiffer: boolean; notes: string[] } | null;
    summaries: Array<{ spec: string; costUsd: number }>;
  };
  return { stdout: stdout.text(), md: readFileSync(`${out}.md`, 'utf8'), json };
}

const answerLines = (out: string): AnswerLine[] =>
  readFileSync(`${out}.answers.jsonl`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as AnswerLine)
    .filter((l) => l.type === 'answer');

const BILLED_BY_HOUR =
  'Price by time of day: each LLM call is costed at the rate of its UTC hour, one that runs across a change of rate at the dearer; 01:00-04:00 and 06:00-10:00 UTC on weekdays at another rate (see Cost).';
const ROWS_DIFFER = /Rows ran at different rates by time of day: .*compare them with care/;

test('relay eval: rows that ran at 02:30 and 12:00 UTC under a price by time of day are counted apart in the notes, with a warning; the file resumes, old lines as unknown', async () => {
  await withServer(LLM_ANSWER, async (server) => {
    const out = join(work, 'by-hour');
    const run = await evalRows(`${server.url}/v1`, deepSeekConfig(), out);
    // The clock alone halves the router's cost: the same calls, billed at the standard rate.
    const cost = Object.fromEntries(run.json.summaries.map((s) => [s.spec, s.costUsd]));
    assert.ok(cost['llm-only'] > 1.9 * cost['random-router@1'], JSON.stringify(cost));

    for (const text of [run.md, run.stdout]) {
      assert.ok(text.includes(BILLED_BY_HOUR), text);
      assert.match(text, /Answers that called the LLM and ran in those hours \(wholly or partly\): llm-only 2\/2; random-router@1 0\/2\./);
      assert.match(text, ROWS_DIFFER);
    }
    assert.deepEqual(run.json.ratesByHour?.rows, [
      { spec: 'llm-only', answers: 2, inOtherHours: 2, unknown: 0 },
      { spec: 'random-router@1', answers: 2, inOtherHours: 0, unknown: 0 },
    ]);
    assert.equal(run.json.ratesByHour?.rowsDiffer, true);
    assert.match(run.json.ratesByHour?.notes.join('\n') ?? '', ROWS_DIFFER);
    const lines = answerLines(out);
    assert.deepEqual(
      lines.map((l) => [l.spec, l.startedAt]),
      [
        ['llm-only', new Date(PEAK).toISOString()],
        ['llm-only', new Date(PEAK).toISOString()],
        ['random-router@1', new Date(NOON).toISOString()],
        ['random-router@1', new Date(NOON).toISOString()],
      ],
    );

    // One answer as an earlier relay wrote it (no start): reused as it is, counted as unknown.
    const file = `${out}.answers.jsonl`;
    const text = readFileSync(file, 'utf8').trim().split('\n');
    const first = text.findIndex((l) => l.includes('"type":"answer"'));
    const { startedAt: _startedAt, ...older } = JSON.parse(text[first]) as AnswerLine;
    text[first] = JSON.stringify(older);
    writeFileSync(file, text.join('\n') + '\n');
    const requests = server.requests.length;
    const resumed = await evalRows(`${server.url}/v1`, deepSeekConfig(), out);
    assert.equal(server.requests.length, requests, 'nothing ran again: the lines with and without a start were reused');
    assert.match(resumed.md, /\(4 from earlier runs, 0 new\)/);
    assert.match(resumed.md, /llm-only 1\/1, 1 answer of an earlier relay, which did not record when it ran; random-router@1 0\/2\./);
    assert.match(resumed.md, ROWS_DIFFER);
  });
});

test('relay eval: a flat price (the user priced every rate of the model) says nothing about hours', async () => {
  await withServer(LLM_ANSWER, async (server) => {
    const out = join(work, 'flat');
    // --price-in and --price-out alone would leave the catalog's cached-input rates by hour.
    const run = await evalRows(`${server.url}/v1`, deepSeekConfig({ inputPerMTok: 1, outputPerMTok: 4, cachedInputPerMTok: 0.1 }), out);
    assert.doesNotMatch(run.md, /time of day|UTC/);
    assert.doesNotMatch(run.stdout, /time of day|UTC/);
    assert.equal(run.json.ratesByHour, null);
    // The start is recorded all the same: a fact of the answer.
    assert.ok(answerLines(out).every((l) => l.startedAt !== undefined));
  });
});

const HOUR = 3600;
const PRICE: ModelPrice = {
  inputPerMTok: 0.14,
  outputPerMTok: 0.28,
  hours: [
    { fromUtcSecond: 1 * HOUR, toUtcSecond: 4 * HOUR, inputPerMTok: 0.28, outputPerMTok: 0.56 },
    { fromUtcSecond: 6 * HOUR, toUtcSecond: 10 * HOUR, inputPerMTok: 0.28, outputPerMTok: 0.56 },
  ],
};

/** An answer line that called the LLM at PRICE, started at `startedAt` (absent: an earlier relay's) and ran `elapsedMs`. */
function line(spec: string, startedAt: unknown, elapsedMs = 1000, price: unknown = PRICE): AnswerLine {
  return {
    type: 'answer',
    spec,
    index: 0,
    id: 'q1',
    questionHash: 'h',
    slm: 'slm',
    mode: 'llm-only',
    llm: 'openai-chat:deepseek-v4-flash',
    price: price as ModelPrice,
    reference: '1',
    predicted: '1',
    correct: true,
    answer: '\\boxed{1}',
    stats: {
      mode: 'llm-only',
      slmTokens: 0,
      llmTokens: 3,
      llmTokenShare: 1,
      calls: 1,
      llmUsage: { inputTokens: 10, outputTokens: 3, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false },
      costUsd: 0.001,
      llmOnlyCostUsd: 0.001,
      savedUsd: 0,
      elapsedMs,
      finishReason: 'llm_eos',
    },
    ...(startedAt === undefined ? {} : { startedAt: startedAt as string }),
    finishedAt: '2026-01-05T12:00:01.000Z',
  };
}

const at = (h: number, m = 0): string => new Date(Date.UTC(2026, 0, 5, h, m)).toISOString();

test('an answer ran in the hours at another rate where any instant of it did; unknown without a start that reads as a time', () => {
  assert.equal(ranInOtherHours(line('a', at(2, 30))), true);
  assert.equal(ranInOtherHours(line('a', at(12))), false);
  // Started at 03:59:59.5 and ran 1 s: across the window's end, partly at the dearer rate.
  assert.equal(ranInOtherHours(line('a', new Date(Date.UTC(2026, 0, 5, 3, 59, 59, 500)).toISOString())), true);
  assert.equal(ranInOtherHours(line('a', at(0, 59), 30_000)), false);
  assert.equal(ranInOtherHours(line('a', undefined)), 'unknown');
  assert.equal(ranInOtherHours(line('a', 'yesterday')), 'unknown');
  assert.equal(ranInOtherHours(line('a', 7)), 'unknown');
  // Nothing billed by the hour: a flat price, no LLM call, a price whose hours a hand edit broke.
  assert.equal(ranInOtherHours(line('a', at(2, 30), 1000, { inputPerMTok: 0.14, outputPerMTok: 0.28 })), undefined);
  assert.equal(ranInOtherHours({ ...line('a', at(2, 30)), llm: null, price: null }), undefined);
  assert.equal(ranInOtherHours(line('a', at(2, 30), 1000, { ...PRICE, hours: 'peak' })), undefined);
  assert.equal(ranInOtherHours(line('a', at(2, 30), 1000, { ...PRICE, hours: [{ fromUtcSecond: 'x' }] })), undefined);
});

test('the notes warn where the rows ran in those hours in different shares, not where the shares are the same', () => {
  const same = ratesByHour(PRICE, [
    { spec: 'llm-only', lines: [line('llm-only', at(2)), line('llm-only', at(12))] },
    { spec: 'confidence', lines: [line('confidence', at(7)), line('confidence', at(8)), line('confidence', at(13)), line('confidence', at(14))] },
    { spec: 'slm-only', lines: [{ ...line('slm-only', at(2)), llm: null, price: null }] },
  ]);
  assert.equal(same?.rowsDiffer, false);
  assert.deepEqual(
    same?.rows.map((r) => r.spec),
    ['llm-only', 'confidence'],
    'a row that never called the LLM is not counted',
  );
  assert.equal(same?.notes.length, 1);
  assert.match(same?.notes[0] ?? '', /llm-only 1\/2; confidence 2\/4\.$/);

  const differ = ratesByHour(PRICE, [
    { spec: 'llm-only', lines: [line('llm-only', at(2))] },
    { spec: 'confidence', lines: [line('confidence', at(12))] },
  ]);
  assert.equal(differ?.rowsDiffer, true);
  assert.match(differ?.notes[1] ?? '', /^Rows ran at different rates by time of day/);

  // Answers of an earlier relay only: whether the rows differ is not known, and the notes say so.
  const unknown = ratesByHour(PRICE, [
    { spec: 'llm-only', lines: [line('llm-only', undefined), line('llm-only', undefined)] },
    { spec: 'confidence', lines: [line('confidence', at(12))] },
  ]);
  assert.equal(unknown?.rowsDiffer, false);
  assert.match(unknown?.notes[0] ?? '', /llm-only 2 answers of an earlier relay, which did not record when they ran; confidence 0\/1\.$/);
  assert.match(unknown?.notes[1] ?? '', /^2 answers of an earlier relay did not record when they ran: the rows may have run at different rates by time of day/);

  assert.equal(ratesByHour({ inputPerMTok: 1, outputPerMTok: 2 }, [{ spec: 'llm-only', lines: [line('llm-only', at(2))] }]), null, 'a flat price');
  assert.equal(ratesByHour(null, []), null);
});

test('answer lines with a start, without one (earlier relays) and with one that is no time all pass the resume check', () => {
  assert.equal(answerLineProblem(line('llm-only', at(2, 30))), undefined);
  assert.equal(answerLineProblem(line('llm-only', undefined)), undefined);
  assert.equal(answerLineProblem(line('llm-only', 42)), undefined);
});
