/**
 * DeepSeek bills V4's peak rate (01:00-04:00 and 06:00-10:00 UTC, 09:00-12:00 and 14:00-18:00
 * Beijing time) on weekdays only: all of the Beijing weekend is off-peak, and those hours fall
 * on the same calendar day in UTC and Beijing. The catalog cannot say so; Relay marks the
 * windows weekdays only (HourPrice.weekdaysOnly), and every reader of the hours honours it:
 * the rate of an instant, the rates of a span, the answer's cost and its LLM-alone estimate
 * (so a weekend saving is not doubled), the price note and the eval's notes. Prices saved
 * without the flag keep billing the windows every day.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { priceWords } from '../../../src/cli/commands/evaluate';
import type { AnswerLine } from '../../../src/cli/eval/answersLog';
import { hoursWords, ranInOtherHours, ratesByHour } from '../../../src/cli/eval/ratesByHour';
import { builtInPrice, priceAtTime, priceNote, pricesBetween, PRICE_NOTE_MAX_CHARS, resolvePriceWithSource } from '../../../src/core/providers/pricing';
import type { ModelPrice } from '../../../src/core/providers/types';
import { collectRelay, type RelayOptions } from '../../../src/core/relay/engine';
import { outputTokensWithinCeiling } from '../../../src/core/relay/limits';
import { chars, DoubleProvider, DoubleRuntime, usage } from '../relay/doubles';

const DEEPSEEK = 'https://api.deepseek.com';
/** 2026-12-04 is a Friday, 2026-12-05 a Saturday, 2026-12-06 a Sunday, 2026-12-07 a Monday. */
const FRIDAY = '2026-12-04';
const SATURDAY = '2026-12-05';
const SUNDAY = '2026-12-06';
const MONDAY = '2026-12-07';
const ms = (day: string, time: string): number => Date.parse(`${day}T${time}Z`);
const at = (day: string, time: string): Date => new Date(ms(day, time));
const catalogPrice = (model: string): ModelPrice => builtInPrice('openai-chat', model, DEEPSEEK, at(FRIDAY, '12:00'))!;
const inputAt = (price: ModelPrice, day: string, time: string): number => priceAtTime(price, at(day, time)).inputPerMTok;

test('DeepSeek V4 bills its peak rate on weekdays only: 02:00 UTC on a Saturday or Sunday is off-peak', () => {
  // deepseek-chat and deepseek-reasoner are answered, and billed, by deepseek-v4-flash.
  for (const [model, offPeak] of [
    ['deepseek-v4-flash', 0.22],
    ['deepseek-v4-pro', 0.66],
    ['deepseek-chat', 0.22],
    ['deepseek-reasoner', 0.22],
  ] as const) {
    const price = catalogPrice(model);
    assert.equal(inputAt(price, FRIDAY, '02:00'), 2 * offPeak, `${model}: Friday's peak`);
    assert.equal(inputAt(price, SATURDAY, '02:00'), offPeak, `${model}: Saturday`);
    assert.equal(inputAt(price, SUNDAY, '08:00'), offPeak, `${model}: Sunday`);
    assert.equal(inputAt(price, MONDAY, '01:00'), 2 * offPeak, `${model}: Monday's peak`);
    assert.equal(inputAt(price, SATURDAY, '12:00'), offPeak, `${model}: Saturday noon`);
  }
  // The whole price at Saturday 02:00, cached input too.
  assert.deepEqual(priceAtTime(catalogPrice('deepseek-v4-flash'), at(SATURDAY, '02:00')), {
    inputPerMTok: 0.22,
    outputPerMTok: 0.66,
    cachedInputPerMTok: 0.007,
  });
  // deepseek-chat's early-2025 night discount held every day: its windows are not weekdays only.
  const chat2025 = builtInPrice('openai-chat', 'deepseek-chat', DEEPSEEK, new Date('2025-06-01T12:00:00Z'))!;
  assert.equal(priceAtTime(chat2025, new Date('2025-06-07T20:00:00Z')).inputPerMTok, 0.135, 'a Saturday night of 2025: its discount');
});

test("a user's price keeps the weekdays-only windows; a saved price without the flag bills them every day", () => {
  const output = resolvePriceWithSource('openai-chat', 'deepseek-v4-flash', { outputPerMTok: 1 }, DEEPSEEK, at(FRIDAY, '12:00')).price!;
  assert.deepEqual(priceAtTime(output, at(SATURDAY, '02:00')), { inputPerMTok: 0.22, outputPerMTok: 1, cachedInputPerMTok: 0.007 });
  assert.deepEqual(priceAtTime(output, at(FRIDAY, '02:00')), { inputPerMTok: 0.44, outputPerMTok: 1, cachedInputPerMTok: 0.014 });
  // As an earlier relay recorded it (an answers file, a saved answer): no flag, every day.
  const saved: ModelPrice = {
    inputPerMTok: 0.22,
    outputPerMTok: 0.66,
    hours: [{ fromUtcSecond: 3600, toUtcSecond: 4 * 3600, inputPerMTok: 0.44, outputPerMTok: 1.32 }],
  };
  assert.equal(inputAt(saved, SATURDAY, '02:00'), 0.44);
});

test('the rates a call may be billed at cross into and out of the weekend at the windows, and the ceiling holds a Saturday call at the off-peak rate', () => {
  const flash = catalogPrice('deepseek-v4-flash');
  const inputs = (fromDay: string, from: string, toDay: string, to: string) =>
    pricesBetween(flash, ms(fromDay, from), ms(toDay, to)).map((p) => p.inputPerMTok);
  assert.deepEqual(inputs(SATURDAY, '00:58', SATURDAY, '01:03'), [0.22], 'Saturday: no peak to run into');
  assert.deepEqual(inputs(FRIDAY, '09:58', SATURDAY, '01:03'), [0.44, 0.22], 'from Friday into Saturday');
  assert.deepEqual(inputs(SUNDAY, '23:58', MONDAY, '01:03'), [0.22, 0.44], "into Monday's peak");
  assert.deepEqual(inputs(SATURDAY, '00:00', SUNDAY, '23:59'), [0.22, 0.44], 'a day or more: every rate of the day');
  const room = (day: string) => outputTokensWithinCeiling(0, 100_000, flash, 0.1, false, ms(day, '00:58'));
  assert.ok(Math.abs(room(SATURDAY) - ((0.1 - 0.022) * 1e6) / 0.66) < 1e-6, 'Saturday: the off-peak rate');
  assert.ok(Math.abs(room(FRIDAY) - ((0.1 - 0.044) * 1e6) / 1.32) < 1e-6, 'Friday: the peak rate');
});

const messages = [{ role: 'user' as const, content: 'Q' }];
/** An answer the small model writes but for one unsure token, which the LLM writes (one call): a saving over the LLM alone. */
const answerAt = (day: string, time: string) =>
  collectRelay({
    mode: 'confidence',
    slm: new DoubleRuntime([...chars('a'.repeat(200)), ...chars('b', 0.1), ...chars('c'.repeat(200))], { endWithEos: true, appendAdvances: true }),
    llm: new DoubleProvider([{ chunks: ['X'], usage: usage(30, 1) }]),
    messages,
    slmSampling: { temperature: 0 },
    confidence: { threshold: 0.9, maxLlmShare: 1, spanTokens: 1 },
    price: catalogPrice('deepseek-v4-flash'),
    now: () => ms(day, time),
  } as RelayOptions);

test('an answer at 02:00 UTC on a Saturday: its cost and its LLM-alone estimate at the off-peak rate, so the saving is not doubled', async () => {
  const [saturday, friday, noon] = [await answerAt(SATURDAY, '02:00'), await answerAt(FRIDAY, '02:00'), await answerAt(FRIDAY, '12:00')];
  assert.equal(noon.stats.calls, 1);
  assert.ok(noon.stats.savedUsd! > 0, 'a saving');
  for (const field of ['costUsd', 'llmOnlyCostUsd', 'savedUsd'] as const) {
    assert.equal(saturday.stats[field], noon.stats[field], `${field}: Saturday's peak hours at the off-peak rate`);
    assert.ok(Math.abs(friday.stats[field]! - 2 * noon.stats[field]!) < 1e-15, `${field}: Friday's peak at twice it`);
  }
});

test('the price note says each call is billed at the rate of its UTC hour and weekday, within the answer view', () => {
  const v4 = resolvePriceWithSource('openai-chat', 'deepseek-v4-flash', {}, DEEPSEEK);
  assert.match(priceNote(v4)!, /, each call billed by its UTC hour and weekday$/);
  const chat = priceNote(resolvePriceWithSource('openai-chat', 'deepseek-chat', { outputPerMTok: 1 }, DEEPSEEK, at(FRIDAY, '12:00')))!;
  assert.match(chat, /each call billed by its UTC hour and weekday, with your settings$/);
  assert.ok(chat.length <= PRICE_NOTE_MAX_CHARS, chat);
  // Hours of every day: the hour alone.
  const everyDay = { ...v4, price: { ...v4.price!, hours: v4.price!.hours!.map(({ weekdaysOnly: _, ...w }) => w) } };
  assert.match(priceNote(everyDay)!, /, each call billed by its UTC hour$/);
});

test('every DeepSeek id priced by hour keeps its note within the answer view, from the catalog or mixed with settings, with or without a date tag; "without its date" only where one was removed', () => {
  for (const model of ['deepseek-v4-flash', 'deepseek-v4-pro', 'deepseek-chat', 'deepseek-reasoner']) {
    for (const id of [model, `${model}-2026-12-01`]) {
      for (const overrides of [{}, { outputPerMTok: 1 }]) {
        const resolved = resolvePriceWithSource('openai-chat', id, overrides, DEEPSEEK, at(FRIDAY, '12:00'));
        const note = priceNote(resolved)!;
        assert.ok(note.length <= PRICE_NOTE_MAX_CHARS, `${note.length}: ${note}`);
        assert.match(note, /each call billed by its UTC hour and weekday/, note);
        assert.equal(/without/.test(note), resolved.catalog?.withoutSuffix !== undefined, note);
      }
    }
  }
});

test("the eval's cost note and rates-by-hour notes say the peak hours are on weekdays, and count a Saturday answer as off-peak", () => {
  const flash = catalogPrice('deepseek-v4-flash');
  assert.equal(priceWords(flash), '$0.22/M in, $0.66/M out; 01:00-04:00 and 06:00-10:00 UTC on weekdays: $0.44/M in, $1.32/M out');
  const line = (startedAt: string, price: unknown = flash): AnswerLine =>
    ({
      type: 'answer',
      spec: 'llm-only',
      llm: 'openai-chat:deepseek-v4-flash',
      price,
      stats: { calls: 1, elapsedMs: 1000 },
      startedAt,
    }) as unknown as AnswerLine;
  assert.equal(ranInOtherHours(line(`${SATURDAY}T02:30:00Z`)), false);
  assert.equal(ranInOtherHours(line(`${FRIDAY}T02:30:00Z`)), true);
  // A flag a hand edit spoiled is no flag: the window bills every day (over the bill, not under).
  const edited = { ...flash, hours: flash.hours!.map((w) => ({ ...w, weekdaysOnly: 'yes' })) };
  assert.equal(ranInOtherHours(line(`${SATURDAY}T02:30:00Z`, edited)), true);
  const rates = ratesByHour(flash, [{ spec: 'llm-only', lines: [line(`${SATURDAY}T02:30:00Z`), line(`${FRIDAY}T02:30:00Z`)] }])!;
  assert.equal(rates.hours, '01:00-04:00 and 06:00-10:00 UTC on weekdays');
  assert.match(rates.notes[0], /; 01:00-04:00 and 06:00-10:00 UTC on weekdays at another rate \(see Cost\)\. .*: llm-only 1\/2\.$/);
  // Windows of every day and of weekdays named apart, adjacent ones of the same days as one.
  const rate = { inputPerMTok: 1, outputPerMTok: 1 };
  assert.equal(
    hoursWords([
      { fromUtcSecond: 0, toUtcSecond: 3600, ...rate },
      { fromUtcSecond: 3600, toUtcSecond: 7200, ...rate, weekdaysOnly: true },
      { fromUtcSecond: 7200, toUtcSecond: 10_800, ...rate, weekdaysOnly: true },
    ]),
    '00:00-01:00 UTC and 01:00-03:00 UTC on weekdays',
  );
});
