// Tiny amounts of money (a cheap model's call costs millionths of a dollar) read as plain
// decimals on every surface, never in exponent notation ("$3.4e-7 saved").
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatUsd as cliUsd } from '../../src/cli/render';
import { formatUsd as textUsd } from '../../src/extension/moneyText';
import { formatUsd as viewUsd } from '../../media/src/view/format';
import { significantUsd } from '../../src/shared/usd';

test('significant digits in plain decimals, as toPrecision rounds them', () => {
  assert.equal(significantUsd(3.4e-7, 2), '0.00000034');
  assert.equal(significantUsd(1.23456e-12, 3), '0.00000000000123');
  for (const [value, digits] of [
    [0.0149, 2],
    [0.000999, 2],
    [0.0000999, 2],
    [0.0000136, 3],
    [0.00999, 3],
    [0.5, 2],
  ] as const)
    assert.equal(significantUsd(value, digits), value.toPrecision(digits), `${value} to ${digits}`);
});

test('the CLI, the chat and status texts and the answer view say a tiny amount without an exponent', () => {
  assert.equal(cliUsd(3.4e-7), '$0.000000340');
  assert.equal(textUsd(3.4e-7), '$0.00000034');
  assert.equal(textUsd(-3.4e-7), '-$0.00000034');
  assert.equal(viewUsd(3.4e-7), '$0.00000034');
  for (const shown of [cliUsd(2e-9), textUsd(2e-9), viewUsd(2e-9)]) assert.doesNotMatch(shown, /e/i);
});
