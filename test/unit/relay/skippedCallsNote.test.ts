import { test } from 'node:test';
import assert from 'node:assert/strict';
import { skippedCallsNote } from '../../../src/core/relay/finishNotes';

test('the note under an answer whose every call was skipped names the ceiling that skipped each, and what would let one through', () => {
  const byRatio = skippedCallsNote({ calls: 0, declinedCalls: 2, leastRatioToCall: 0.7071 });
  assert.match(
    byRatio ?? '',
    /^No call to the large model\. Each of the 2 calls this answer wanted would have cost more than relay\.maxCostRatio .*The cheapest needed 0\.71: raise the setting/,
  );

  const byUsd = skippedCallsNote({ calls: 0, declinedCalls: 2, declinedByUsdCeiling: 2 });
  assert.match(byUsd ?? '', /Each of the 2 calls this answer wanted would have cost more than relay\.maxCostPerAnswerUsd \(CLI: --max-cost\) leaves for it/);
  assert.doesNotMatch(byUsd ?? '', /maxCostRatio/, 'no ratio would have let them through');

  const mixed = skippedCallsNote({ calls: 0, declinedCalls: 3, declinedByUsdCeiling: 2, leastRatioToCall: 0.9 });
  assert.match(
    mixed ?? '',
    /Of the 3 calls this answer wanted, 2 would have cost more than relay\.maxCostPerAnswerUsd .* leaves and 1 more than relay\.maxCostRatio .* allows at its point/,
  );
  assert.match(mixed ?? '', /That call needed 0\.90: raise relay\.maxCostRatio to that or more/);

  assert.equal(
    skippedCallsNote({ calls: 1, declinedCalls: 3, declinedByUsdCeiling: 2, leastRatioToCall: 0.9 }),
    undefined,
    'an answer with calls shows its skips in its figures',
  );
  assert.equal(skippedCallsNote({ calls: 0 }), undefined);
});
