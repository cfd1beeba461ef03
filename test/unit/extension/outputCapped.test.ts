// A usage Relay capped (the server reported more output than one call can write: Usage.outputCapped)
// is said to be capped wherever the extension explains an estimated usage: the figures the answer
// view gets (each call's, and the answer's stats), the @relay chat footer, and "Relay: Show Savings".
// Usage that was not reported keeps its words.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { RelayEvent } from '../../../src/core/relay/events';
import type { Usage } from '../../../src/core/providers/types';
import { emptyTotals, TotalsStore } from '../../../src/core/relay/totalsStore';
import { statsFooter } from '../../../src/extension/chatMarkdown';
import { parseHostMessage, type HostMessage } from '../../../src/shared/webviewProtocol';
import { createdPanels, MemoryMemento, useVscodeStub } from './vscodeStub';
import { CAPPED, COUNTED, REPORTED, statsWith } from '../../fixtures/cappedUsage';
useVscodeStub();

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Conversation, toStatsView } = require('../../../src/extension/conversation') as typeof import('../../../src/extension/conversation');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { showSavings } = require('../../../src/extension/savingsView') as typeof import('../../../src/extension/savingsView');
type RelayService = import('../../../src/extension/relayService').RelayService;

const folder = mkdtempSync(join(tmpdir(), 'relay-capped-'));
after(() => rmSync(folder, { recursive: true, force: true }));

/** The messages a Conversation posts for an answer of one LLM call that ended with `usage`. */
async function postedFor(usage: Usage): Promise<HostMessage[]> {
  const events: RelayEvent[] = [
    { type: 'span', source: 'slm', text: 'The capital is', tokens: 3 },
    { type: 'call-start', callIndex: 0, requestedTokens: 2, model: 'gpt-4o', host: 'api.openai.com', continuation: 'raw-completion' },
    { type: 'span', source: 'llm', text: ' Paris', tokens: 1, callIndex: 0 },
    {
      type: 'call-end',
      callIndex: 0,
      tokens: 1,
      durationMs: 400,
      finishReason: 'stop',
      usage,
      sentPartialAnswer: '',
      continuation: 'raw-completion',
      costUsd: 1.31,
    },
  ];
  const answer = 'The capital is Paris';
  const service = {
    busy: false,
    onDidChangeBusy: () => ({ dispose() {} }),
    setupWarning: async () => undefined,
    answer: async (_messages: unknown, sink: { onEvent(event: RelayEvent, model: string, destination?: string): void }) => {
      for (const event of [...events, { type: 'done', answer, stats: statsWith(usage) } as RelayEvent]) sink.onEvent(event, 'gpt-4o', 'https://api.openai.com');
      return { answer, stats: statsWith(usage) };
    },
  } as unknown as RelayService;
  const conversation = new Conversation('answer', service, () => undefined, { state: new MemoryMemento(), key: 'turns' });
  const posted: HostMessage[] = [];
  conversation.attach({ post: (message) => posted.push(message) });
  await conversation.ask('What is the capital of France?');
  return posted;
}

test("the answer view is told a call's output was capped, in its figures and in the answer's stats", async () => {
  const posted = await postedFor(CAPPED);
  const figures = posted.find((message) => message.type === 'call-figures');
  assert.ok(figures && figures.type === 'call-figures');
  assert.deepEqual(parseHostMessage(figures), figures, 'the webview accepts it');
  assert.equal(figures.outputCapped, true);
  assert.equal(figures.usageEstimated, true, 'still an estimate');
  const done = posted.find((message) => message.type === 'turn-done');
  assert.equal(done?.type === 'turn-done' && done.stats.outputCapped, true);

  const counted = (await postedFor(COUNTED)).find((message) => message.type === 'call-figures');
  assert.ok(counted && counted.type === 'call-figures');
  assert.equal(counted.outputCapped, undefined, 'usage not reported is not capped');
  assert.equal(toStatsView(statsWith(COUNTED)).outputCapped, undefined);
  assert.equal(toStatsView({ ...statsWith(CAPPED), calls: 0 }).outputCapped, undefined, 'no call: no usage to explain');
});

test('the @relay footer says a capped cost was capped, and usage not reported keeps its words', () => {
  const capped = statsFooter(statsWith(CAPPED), []);
  assert.match(capped, /· cost \$1\.31 est\. \(output capped: the server reported more than one call can write\) ·/);
  assert.doesNotMatch(capped, /not reported/);
  assert.match(statsFooter(statsWith(COUNTED), []), /· cost \$1\.31 est\. \(usage not reported\) ·/);
  assert.doesNotMatch(statsFooter(statsWith(REPORTED), []), /est\. \(/);
});

test('"Relay: Show Savings" counts a capped answer as estimated and says so truly; the totals file keeps its fields', async () => {
  const path = join(folder, 'totals.json');
  const store = new TotalsStore(path, { now: () => new Date(2026, 0, 5, 12) });
  await store.record('openai-chat:gpt-4o', statsWith(CAPPED));
  assert.equal((await store.summary()).usageEstimatedAnswers, 1);
  // One count for both kinds of estimate: the entry has exactly the fields every Relay reads.
  const file = JSON.parse(readFileSync(path, 'utf8'));
  assert.deepEqual(Object.keys(file.days['2026-01-05']['openai-chat:gpt-4o']).sort(), Object.keys(emptyTotals()).sort());
  await showSavings(store);
  const html = createdPanels.at(-1)!.webview.html;
  assert.match(html, /relay cost \$1\.31 \(est\.\) against/);
  assert.match(
    html,
    /The LLM usage of 1 answer was counted locally \(the provider reported none\) or capped \(it reported more output than one call can write\), so the relay cost is partly an estimate\./,
  );
  assert.match(
    html,
    /A relay cost marked \(est\.\) includes answers whose LLM usage was counted locally because the provider reported none, or capped because/,
  );
});
