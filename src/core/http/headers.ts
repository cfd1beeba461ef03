/** Reading response headers the same way wherever Relay speaks HTTP. */
import type { IncomingHttpHeaders } from 'node:http';

/** The value of a header that may come as a list (its first). */
export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** Milliseconds from Retry-After (seconds or an HTTP date) or OpenAI's retry-after-ms. */
export function parseRetryAfter(headers: IncomingHttpHeaders, now = Date.now()): number | undefined {
  const ms = headerValue(headers, 'retry-after-ms');
  if (ms !== undefined && /^\d+(\.\d+)?$/.test(ms.trim()) && Number.isFinite(Number(ms))) return Math.round(Number(ms));
  const value = headerValue(headers, 'retry-after');
  if (value === undefined) return undefined;
  const trimmed = value.trim();
  // delay-seconds is digits only (RFC 9110 10.2.3); a count too long for a number is no wait.
  if (/^\d+$/.test(trimmed)) return Number.isFinite(Number(trimmed) * 1000) ? Number(trimmed) * 1000 : undefined;
  const date = parseHttpDate(trimmed);
  if (date === undefined) return undefined;
  return Math.max(0, date - now);
}

const DAY = '(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)';
const LONG_DAY = '(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)';
const MONTH = '(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)';
const TIME = '\\d{2}:\\d{2}:\\d{2}';
/** IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT". */
const IMF_FIXDATE = new RegExp(`^${DAY}, \\d{2} ${MONTH} \\d{4} ${TIME} GMT$`);
/** The obsolete RFC 850 form: "Sunday, 06-Nov-94 08:49:37 GMT". */
const RFC850_DATE = new RegExp(`^${LONG_DAY}, \\d{2}-${MONTH}-\\d{2} ${TIME} GMT$`);
/** The obsolete asctime form: "Sun Nov  6 08:49:37 1994" (in GMT, though it does not say so). */
const ASCTIME_DATE = new RegExp(`^(${DAY}) (${MONTH}) ([ \\d]\\d) (${TIME}) (\\d{4})$`);

/**
 * An HTTP-date (RFC 9110 5.6.7) in milliseconds, or undefined. Only its three forms: the
 * JavaScript date parser reads almost anything ("-5" or "5, 10" as a date long past, which
 * would mean "retry at once").
 */
function parseHttpDate(text: string): number | undefined {
  let date = NaN;
  if (IMF_FIXDATE.test(text) || RFC850_DATE.test(text)) date = Date.parse(text);
  const asctime = ASCTIME_DATE.exec(text);
  if (asctime) date = Date.parse(`${asctime[1]}, ${asctime[3].trim().padStart(2, '0')} ${asctime[2]} ${asctime[5]} ${asctime[4]} GMT`);
  return Number.isNaN(date) ? undefined : date;
}
