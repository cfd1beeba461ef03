/**
 * The hours of the UTC day an eval's answers were billed in, where the LLM's price has rates
 * by time of day (ModelPrice.hours: DeepSeek V4 bills twice its standard rate 01:00-04:00 and
 * 06:00-10:00 UTC on weekdays). The Cost column books each LLM call at the rate of its hour,
 * one that runs across a change of rate at the dearer (relay/money.ts: which instant the provider bills
 * by is not documented), and the rows run one after another: a row that ran in those hours
 * and one that did not compare rates as well as rows. Counted per row from each answer's
 * start on the engine's clock (AnswerLine.startedAt) over its elapsed time, at the price the
 * answer recorded; an answer of an earlier relay, which did not record its start, counts as
 * unknown.
 */
import { pricesBetween } from '../../core/providers/pricing';
import { joinedWindows, samePerMTok } from '../../core/providers/priceCatalog';
import type { HourPrice, ModelPrice } from '../../core/providers/types';
import { isRecord } from '../../shared/isRecord';
import type { AnswerLine } from './answersLog';

/**
 * The windows of a price by time of day whose fields are numbers: the price may come from an
 * answers file (a hand edit), read without a crash. A weekdaysOnly that is not `true` is
 * dropped: the window then bills every day, over the bill rather than under.
 */
export function hourWindowsOf(price: ModelPrice): HourPrice[] {
  return (Array.isArray(price.hours) ? price.hours : [])
    .filter((w) => isRecord(w) && [w.fromUtcSecond, w.toUtcSecond, w.inputPerMTok, w.outputPerMTok].every(Number.isFinite))
    .map(({ weekdaysOnly, ...window }) => (weekdaysOnly === true ? { ...window, weekdaysOnly } : window));
}

/** Seconds after 00:00 as HH:MM (HH:MM:SS where the seconds are not whole minutes); 86 400 is 24:00. */
function timeOfDay(seconds: number): string {
  const two = (n: number): string => String(n).padStart(2, '0');
  const whole = Math.round(seconds);
  return `${two(Math.floor(whole / 3600))}:${two(Math.floor(whole / 60) % 60)}${whole % 60 === 0 ? '' : `:${two(whole % 60)}`}`;
}

/** "a", "a and b", "a, b and c". */
const listWords = (items: string[]): string => (items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`);

/**
 * Windows as "01:00-04:00 and 06:00-10:00 UTC", in order of the day, adjacent ones as one
 * whatever their rates (the caller passes those it names together); those that bill on
 * weekdays only (HourPrice.weekdaysOnly) "... UTC on weekdays", after those of every day.
 * The eval's notes and its cost note (evaluate.ts priceWords) both say hours so.
 */
export function hoursWords(windows: readonly HourPrice[]): string {
  const spans = (days: readonly HourPrice[]): string =>
    `${listWords(joinedWindows(days, () => true).map((w) => `${timeOfDay(w.fromUtcSecond)}-${timeOfDay(w.toUtcSecond)}`))} UTC`;
  const everyDay = windows.filter((w) => w.weekdaysOnly !== true);
  const weekdays = windows.filter((w) => w.weekdaysOnly === true);
  return [...(everyDay.length > 0 ? [spans(everyDay)] : []), ...(weekdays.length > 0 ? [`${spans(weekdays)} on weekdays`] : [])].join(' and ');
}

/**
 * Whether an answer ran, wholly or partly, in an hour its price bills at another rate than
 * the rest of the day; 'unknown' where its line does not say when it started (an earlier
 * relay); undefined where none of its calls was billed by the hour (no LLM call, a price
 * without hours).
 */
export function ranInOtherHours(line: AnswerLine): boolean | 'unknown' | undefined {
  if (line.llm === null || line.price === null || !(line.stats.calls > 0)) return undefined;
  const hours = hourWindowsOf(line.price);
  if (hours.length === 0) return undefined;
  // Untrusted (an answers file): a start that does not read as a time is unknown, not a reason to answer again.
  const start = typeof line.startedAt === 'string' ? Date.parse(line.startedAt) : NaN;
  if (!Number.isFinite(start)) return 'unknown';
  const price = { ...line.price, hours };
  return pricesBetween(price, start, start + Math.max(0, line.stats.elapsedMs)).some((p) => !samePerMTok(p, price));
}

/** One row's answers that called the LLM: those that ran in the hours at another rate, of those whose start is known, and those whose is not. */
export interface RowHours {
  spec: string;
  /** Answers that called the LLM and recorded when they started. */
  answers: number;
  /** Of those, the answers that ran (wholly or partly) in the hours at another rate. */
  inOtherHours: number;
  /** Answers that called the LLM but did not record when they started (written by an earlier relay). */
  unknown: number;
}

/** What the eval's notes and JSON say about rates by time of day. */
export interface RatesByHour {
  /** The hours billed at another rate, e.g. "01:00-04:00 and 06:00-10:00 UTC". */
  hours: string;
  /** The rows whose answers called the LLM, in the table's order. */
  rows: RowHours[];
  /** Whether the rows' shares of answers in those hours differ (among the answers whose start is known). */
  rowsDiffer: boolean;
  /** The notes' lines. */
  notes: string[];
}

const plural = (n: number, one: string, many: string): string => `${n} ${n === 1 ? one : many}`;

/**
 * The rates by time of day of the rows' answers, or null where `price` (the LLM's, as the
 * notes quote it) has no hours or no answer called the LLM.
 */
export function ratesByHour(price: ModelPrice | null, rows: Array<{ spec: string; lines: AnswerLine[] }>): RatesByHour | null {
  const windows = price ? hourWindowsOf(price) : [];
  if (windows.length === 0) return null;
  const counted: RowHours[] = rows
    .map(({ spec, lines }) => {
      const ran = lines.map(ranInOtherHours);
      return {
        spec,
        answers: ran.filter((r) => typeof r === 'boolean').length,
        inOtherHours: ran.filter((r) => r === true).length,
        unknown: ran.filter((r) => r === 'unknown').length,
      };
    })
    .filter((r) => r.answers + r.unknown > 0);
  if (counted.length === 0) return null;
  const known = counted.filter((r) => r.answers > 0);
  // Shares compared exactly (a/b against c/d): 2/4 and 1/2 are the same share.
  const rowsDiffer = known.some((r) => r.inOtherHours * known[0].answers !== known[0].inOtherHours * r.answers);
  const hours = hoursWords(windows);
  const each = counted.map((r) => {
    const parts = [
      ...(r.answers > 0 ? [`${r.inOtherHours}/${r.answers}`] : []),
      ...(r.unknown > 0
        ? [`${plural(r.unknown, 'answer', 'answers')} of an earlier relay, which did not record when ${r.unknown === 1 ? 'it' : 'they'} ran`]
        : []),
    ];
    return `${r.spec} ${parts.join(', ')}`;
  });
  const notes = [
    `Price by time of day: each LLM call is costed at the rate of its UTC hour, one that runs across a change of rate at the dearer; ${hours} at another rate (see Cost). Answers that called the LLM and ran in those hours (wholly or partly): ${each.join('; ')}.`,
  ];
  const unknown = counted.reduce((n, r) => n + r.unknown, 0);
  if (rowsDiffer) {
    notes.push(
      'Rows ran at different rates by time of day: their costs, the cost reductions vs matched router and where a money ceiling stopped calls differ by the hour they ran in as well as by the row; compare them with care (rows that ran in the same hours compare the rows alone).',
    );
  } else if (unknown > 0 && counted.length > 1) {
    notes.push(
      `${plural(unknown, 'answer', 'answers')} of an earlier relay did not record when ${unknown === 1 ? 'it' : 'they'} ran: the rows may have run at different rates by time of day; compare their costs with care.`,
    );
  }
  return { hours, rows: counted, rowsDiffer, notes };
}
