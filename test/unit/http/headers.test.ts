/** Retry-After as RFC 9110 writes it: digits of seconds, or an HTTP-date; anything else is no wait (normal backoff). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseRetryAfter } from '../../../src/core/http/headers';

const NOW = Date.parse('1994-11-06T08:49:00Z');
const after = (value: string) => parseRetryAfter({ 'retry-after': value }, NOW);

test('Retry-After: whole seconds and the three HTTP-date forms give the wait', () => {
  assert.equal(after('120'), 120_000);
  assert.equal(after(' 7 '), 7_000);
  assert.equal(after('0'), 0);
  assert.equal(after('Sun, 06 Nov 1994 08:49:37 GMT'), 37_000, 'IMF-fixdate');
  assert.equal(after('Sunday, 06-Nov-94 08:49:37 GMT'), 37_000, 'the obsolete RFC 850 form');
  assert.equal(after('Sun Nov  6 08:49:37 1994'), 37_000, 'the obsolete asctime form, in GMT');
  assert.equal(after('Sun, 06 Nov 1994 08:00:00 GMT'), 0, 'a date past: at once');
});

test('Retry-After: what the JavaScript date parser would read as a date long past is no wait, not "retry at once"', () => {
  for (const value of ['-5', '5, 10', '1.5', '1e3', 'NaN', 'Infinity', 'soon', 'Sun, 06 Nov 1994 08:49:37 PST', '9'.repeat(400)]) {
    assert.equal(after(value), undefined, JSON.stringify(value.slice(0, 20)));
  }
});

test("retry-after-ms (OpenAI's) must be a finite count of 0 or more; else Retry-After is read", () => {
  assert.equal(parseRetryAfter({ 'retry-after-ms': '250', 'retry-after': '3' }, NOW), 250);
  for (const value of ['-5', '1e3', '9'.repeat(400)])
    assert.equal(parseRetryAfter({ 'retry-after-ms': value, 'retry-after': '3' }, NOW), 3_000, value.slice(0, 20));
});
