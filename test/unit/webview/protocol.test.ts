// The host <-> webview message parsers (both directions) and the webview's turn/stats
// checks: well-formed messages pass, anything malformed is refused, so neither side acts
// on untrusted input. Pure functions: runs under Node.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  clipNotice,
  clipShortText,
  MAX_MESSAGE_TEXT,
  MAX_NOTICE_TEXT,
  MAX_SHORT_TEXT,
  parseHostMessage,
  parseWebviewMessage,
  type ChatTurnView,
  type StatsView,
} from '../../../src/shared/webviewProtocol';
import { isStats, isTurn } from '../../../media/src/view/validate';

const STATS: StatsView = {
  slmTokens: 38,
  llmTokens: 2,
  llmTokenShare: 0.05,
  calls: 1,
  costUsd: 0.00015,
  llmOnlyCostUsd: 0.00067,
  savedUsd: 0.00052,
  elapsedMs: 380,
  finishReason: 'eos',
};
const TURN: ChatTurnView = {
  id: 'turn-1',
  role: 'assistant',
  spans: [
    { source: 'slm', text: 'Count', tokens: 3 },
    { source: 'llm', text: ' three more', tokens: 2, model: 'gpt-x', durationMs: 120 },
  ],
  stats: STATS,
};

const NOT_OBJECTS = [undefined, null, 0, 'stop', true, [], [{ type: 'stop' }]];

test('webview -> host: every well-formed message passes, reduced to its known fields', () => {
  assert.deepEqual(parseWebviewMessage({ type: 'ready' }), { type: 'ready' });
  assert.deepEqual(parseWebviewMessage({ type: 'stop', command: 'rm -rf /' }), { type: 'stop' }, 'extra fields are dropped');
  assert.deepEqual(parseWebviewMessage({ type: 'new-chat' }), { type: 'new-chat' });
  assert.deepEqual(parseWebviewMessage({ type: 'send', text: 'What is 2+3?' }), { type: 'send', text: 'What is 2+3?' });
  assert.deepEqual(parseWebviewMessage({ type: 'draft', text: 'What is 2' }), { type: 'draft', text: 'What is 2' });
  assert.deepEqual(parseWebviewMessage({ type: 'draft', text: '' }), { type: 'draft', text: '' }, 'an emptied draft is a draft');
  for (const type of ['copy', 'insert', 'retry'] as const) assert.deepEqual(parseWebviewMessage({ type, turnId: 't1' }), { type, turnId: 't1' });
  for (const action of ['set-key', 'open-settings', 'pick-model', 'llm-model', 'retry'] as const) {
    assert.deepEqual(parseWebviewMessage({ type: 'fix', action }), { type: 'fix', action });
    assert.deepEqual(parseWebviewMessage({ type: 'fix', action, turnId: 't1' }), { type: 'fix', action, turnId: 't1' });
  }
});

test('webview -> host: malformed messages are refused', () => {
  const malformed: unknown[] = [
    ...NOT_OBJECTS,
    {},
    { type: 'unknown' },
    { type: 'Send', text: 'case matters' },
    { type: 42 },
    { type: 'send' },
    { type: 'send', text: '' },
    { type: 'send', text: '   \n' },
    { type: 'send', text: 7 },
    { type: 'send', text: 'x'.repeat(100_001) },
    { type: 'draft' },
    { type: 'draft', text: ['x'] },
    { type: 'draft', text: 'x'.repeat(100_001) },
    { type: 'copy' },
    { type: 'insert', turnId: 12 },
    { type: 'retry', turnId: 'x'.repeat(201) },
    { type: 'fix' },
    { type: 'fix', action: 'run-command' },
    { type: 'fix', action: 'workbench.action.openSettings' },
    { type: 'fix', action: 'open-settings', turnId: 7 },
    { type: 'fix', action: 'open-settings', turnId: 'x'.repeat(201) },
  ];
  for (const message of malformed) assert.equal(parseWebviewMessage(message), undefined, `accepted ${JSON.stringify(message)}`);
});

test('host -> webview: every well-formed message passes', () => {
  const good: unknown[] = [
    { type: 'init', view: 'chat', turns: [TURN], busy: false },
    { type: 'init', view: 'answer', turns: [], busy: true, setupWarning: 'No API key for anthropic: run "Relay: Set API Key".' },
    { type: 'init', view: 'chat', turns: [TURN], busy: true, runningTurnId: 't1' },
    { type: 'turn-start', turn: { id: 't2', role: 'assistant', spans: [] } },
    { type: 'turns-removed', turnIds: ['t1', 't2'] },
    { type: 'turns-removed', turnIds: [] },
    { type: 'span', turnId: 't2', source: 'slm', text: 'Hello', tokens: 1 },
    { type: 'span', turnId: 't2', source: 'llm', text: ' world', tokens: 1, model: 'gpt-x', durationMs: 40 },
    { type: 'span', turnId: 't2', source: 'llm', text: '!', tokens: 1, model: 'gpt-x', host: 'https://api.openai.com', approximate: true },
    { type: 'turn-done', turnId: 't2', stats: STATS },
    { type: 'turn-error', turnId: 't2', message: 'rejected the API key', fix: 'set-key' },
    { type: 'turn-error', turnId: 't2', message: 'something failed' },
    { type: 'waiting', turnId: 't2', host: 'api.openai.com', waitedMs: 3000 },
    { type: 'waiting', turnId: 't2', host: '127.0.0.1:8000', waitedMs: 61000, retrying: 'HTTP 503' },
    { type: 'waiting', turnId: 't2', host: '127.0.0.1:8000', waitedMs: null },
    { type: 'waiting', turnId: 't2', host: 'api.openai.com', waitedMs: 45_000, reasoningModel: 'gpt-5-pro' },
    { type: 'reading', turnId: 't2', done: 1024, total: 2730, reusedTokens: 0 },
    { type: 'reading', turnId: 't2', done: 2730, total: 2730, reusedTokens: 1200 },
    { type: 'reading', turnId: 't2', done: 0, total: 2730, reusedTokens: 0, reader: 'large' },
    { type: 'loading', turnId: 't2', model: 'small', name: 'Qwen3-0.6B', waitedMs: 0 },
    { type: 'loading', turnId: 't2', model: 'small', name: 'Qwen3-0.6B', restarting: true, waitedMs: 12_000 },
    { type: 'loading', turnId: 't2', model: 'large', name: 'relay-demo-llm', waitedMs: null },
    { type: 'cleared' },
    { type: 'busy', busy: true },
    { type: 'busy', busy: true, own: true },
    { type: 'busy', busy: false, own: false },
    { type: 'setup', setupWarning: 'No API key for anthropic: run "Relay: Set API Key".' },
    { type: 'setup' },
  ];
  for (const message of good) assert.deepEqual(parseHostMessage(message), message, `refused ${JSON.stringify(message)}`);
});

test('host -> webview: malformed messages are refused', () => {
  const malformed: unknown[] = [
    ...NOT_OBJECTS,
    { type: 'eval', code: 'alert(1)' },
    { type: 'init', view: 'chat', turns: 'none', busy: false },
    { type: 'init', view: 'sidebar', turns: [], busy: false },
    { type: 'init', view: 'chat', turns: [] },
    { type: 'init', view: 'chat', turns: [], busy: false, setupWarning: { html: '<b>x</b>' } },
    { type: 'init', view: 'chat', turns: [], busy: true, runningTurnId: 7 },
    { type: 'init', view: 'chat', turns: [], busy: true, runningTurnId: 'x'.repeat(201) },
    { type: 'turn-start' },
    { type: 'turns-removed' },
    { type: 'turns-removed', turnIds: 't1' },
    { type: 'turns-removed', turnIds: ['t1', 2] },
    { type: 'turn-start', turn: { role: 'assistant', spans: [] } },
    { type: 'span', turnId: 't', source: 'gpt', text: 'x', tokens: 1 },
    { type: 'span', turnId: 't', source: 'slm', text: 5, tokens: 1 },
    { type: 'span', turnId: 't', source: 'slm', text: 'x' },
    { type: 'span', turnId: 't', source: 'slm', text: 'x', tokens: -1 },
    { type: 'span', turnId: 't', source: 'slm', text: 'x', tokens: Number.NaN },
    { type: 'span', turnId: 't', source: 'llm', text: 'x', tokens: 1, model: 42 },
    { type: 'span', turnId: 't', source: 'llm', text: 'x', tokens: 1, host: { origin: 'x' } },
    { type: 'span', turnId: 't', source: 'llm', text: 'x', tokens: 1, approximate: 'yes' },
    { type: 'span', turnId: { id: 't' }, source: 'slm', text: 'x', tokens: 1 },
    { type: 'turn-done', turnId: 't' },
    { type: 'turn-done', turnId: 't', stats: 'fast' },
    { type: 'turn-error', turnId: 't' },
    { type: 'turn-error', turnId: 't', message: 'x', fix: 'format-disk' },
    { type: 'waiting', turnId: 't', host: 'h' },
    { type: 'waiting', turnId: 't', host: 'h', waitedMs: -1 },
    { type: 'waiting', turnId: 't', host: { html: '<b>' }, waitedMs: 1 },
    { type: 'waiting', turnId: 't', host: 'h', waitedMs: 1, retrying: 7 },
    { type: 'waiting', turnId: 't', host: 'h', waitedMs: 1, reasoningModel: { html: '<b>' } },
    { type: 'reading', turnId: 't', done: 10, total: 5 },
    { type: 'reading', turnId: 't', done: -1, total: 5, reusedTokens: 0 },
    { type: 'reading', turnId: 't', done: 1, total: '5', reusedTokens: 0 },
    { type: 'reading', turnId: 't', done: 1, total: 5, reusedTokens: 0, reader: '<b>model</b>' },
    { type: 'loading', turnId: 't', model: 'medium', name: 'm', waitedMs: 0 },
    { type: 'loading', turnId: 't', model: 'small', name: { html: '<b>' }, waitedMs: 0 },
    { type: 'loading', turnId: 't', model: 'small', name: 'm', waitedMs: -1 },
    { type: 'loading', turnId: 't', model: 'small', name: 'm' },
    { type: 'loading', turnId: 't', model: 'small', name: 'm', waitedMs: 0, restarting: 'yes' },
    { type: 'busy' },
    { type: 'busy', busy: 'yes' },
    { type: 'busy', busy: true, own: 'yes' },
    { type: 'setup', setupWarning: 42 },
    { type: 'not-sent', text: 'typed', reason: 7 },
  ];
  for (const message of malformed) assert.equal(parseHostMessage(message), undefined, `accepted ${JSON.stringify(message)}`);
});

test('a turn and its stats are checked field by field', () => {
  assert.ok(isTurn(TURN));
  assert.ok(isTurn({ id: 'u', role: 'user', spans: [{ source: 'slm', text: 'question', tokens: 0 }] }));
  assert.ok(isTurn({ ...TURN, stats: undefined, error: { message: 'failed', fix: 'retry' } }));
  assert.ok(isStats(STATS));
  assert.ok(isStats({ ...STATS, costUsd: null, llmOnlyCostUsd: null, savedUsd: null }), 'an unknown price is null, not a number');

  const badTurns: unknown[] = [
    ...NOT_OBJECTS,
    { ...TURN, id: 7 },
    { ...TURN, id: 'x'.repeat(201) },
    { ...TURN, role: 'system' },
    { ...TURN, spans: 'text' },
    { ...TURN, spans: [{ source: 'llm', text: 1, tokens: 1 }] },
    { ...TURN, spans: [{ source: 'human', text: 'x', tokens: 1 }] },
    { ...TURN, spans: [{ source: 'slm', text: 'x', tokens: -3 }] },
    { ...TURN, spans: [{ source: 'llm', text: 'x', tokens: 1, model: ['m'] }] },
    { ...TURN, stats: { ...STATS, calls: 'one' } },
    { ...TURN, error: 'failed' },
    { ...TURN, error: { message: 'failed', fix: 'uninstall' } },
  ];
  for (const turn of badTurns) assert.equal(isTurn(turn), false, `accepted ${JSON.stringify(turn)}`);

  const badStats: unknown[] = [
    ...NOT_OBJECTS,
    { ...STATS, slmTokens: -1 },
    { ...STATS, llmTokens: Number.POSITIVE_INFINITY },
    { ...STATS, llmTokenShare: Number.NaN },
    { ...STATS, costUsd: '0.1' },
    { ...STATS, savedUsd: undefined },
    { ...STATS, elapsedMs: -5 },
    { ...STATS, finishReason: 3 },
  ];
  for (const stats of badStats) assert.equal(isStats(stats), false, `accepted ${JSON.stringify(stats)}`);
});

test("host -> webview: a call's figures and a skipped call pass when well-formed, and are refused otherwise", () => {
  const good: unknown[] = [
    { type: 'call-figures', turnId: 't', durationMs: 400, calls: 1, costUsd: 0.0031, cachedShare: 0.82 },
    { type: 'call-figures', turnId: 't', durationMs: 400, calls: 2, costUsd: null },
    { type: 'call-figures', turnId: 't', durationMs: 0, calls: 1, costUsd: 0, usageEstimated: true, approximate: true },
    { type: 'call-declined', turnId: 't', predictedUsd: 0.004, allowanceUsd: 0.0012 },
    { type: 'call-declined', turnId: 't', predictedUsd: 0.004, allowanceUsd: -0.001 },
  ];
  for (const message of good) assert.deepEqual(parseHostMessage(message), message, `refused ${JSON.stringify(message)}`);
  const malformed: unknown[] = [
    { type: 'call-figures', turnId: 't', durationMs: 400, calls: 1 },
    { type: 'call-figures', turnId: 't', calls: 1, costUsd: 0.1 },
    { type: 'call-figures', turnId: 't', durationMs: 400, calls: 1, costUsd: -0.1 },
    { type: 'call-figures', turnId: 't', durationMs: 400, calls: 1, costUsd: '$0.1' },
    { type: 'call-figures', turnId: 't', durationMs: 400, calls: 1.5, costUsd: 0.1 },
    { type: 'call-figures', turnId: 't', durationMs: 400, calls: 1, costUsd: 0.1, cachedShare: 1.2 },
    { type: 'call-figures', turnId: 't', durationMs: 400, calls: 1, costUsd: 0.1, cachedShare: Number.NaN },
    { type: 'call-figures', turnId: 't', durationMs: 400, calls: 1, costUsd: Number.POSITIVE_INFINITY },
    { type: 'call-figures', durationMs: 400, calls: 1, costUsd: 0.1 },
    { type: 'call-declined', turnId: 't', predictedUsd: 0.004 },
    { type: 'call-declined', turnId: 't', predictedUsd: -0.004, allowanceUsd: 0 },
    { type: 'call-declined', turnId: 't', predictedUsd: '0.004', allowanceUsd: 0 },
    { type: 'call-declined', turnId: 't', predictedUsd: 0.004, allowanceUsd: null },
    { type: 'call-declined', turnId: 't', predictedUsd: 0.004, allowanceUsd: 0, ratioNeeded: Number.NaN },
    { type: 'call-declined', turnId: 't', predictedUsd: 0.004, allowanceUsd: Number.NEGATIVE_INFINITY },
    { type: 'call-declined', turnId: 7, predictedUsd: 0.004, allowanceUsd: 0 },
  ];
  for (const message of malformed) assert.equal(parseHostMessage(message), undefined, `accepted ${JSON.stringify(message)}`);
});

test("a turn's call figures and skipped-call markers, and the stats' new fields, are checked field by field", () => {
  const withFigures = {
    ...TURN,
    spans: [
      TURN.spans[0],
      { ...TURN.spans[1], calls: 1, costUsd: 0.0031, cachedShare: 0.82 },
      { source: 'slm', text: '', tokens: 0, declined: { predictedUsd: 0.004, allowanceUsd: 0.0012 } },
    ],
  };
  assert.ok(isTurn(withFigures));
  assert.ok(isTurn({ ...TURN, spans: [{ ...TURN.spans[1], costUsd: null, usageEstimated: true }] }), 'an unknown price is null');
  assert.ok(
    isStats({ ...STATS, declinedCalls: 2, llmWroteAll: false, llmOnlyNote: 'Estimate: the prompt once as LLM input plus the whole answer as LLM output.' }),
  );
  assert.ok(isStats({ ...STATS, calls: 0, declinedCalls: 2, leastRatioToCall: 0.62 }));
  assert.ok(isStats({ ...STATS, calls: 0, declinedCalls: 2, declinedByUsdCeiling: 1, leastRatioToCall: 0.62 }));
  assert.ok(isTurn({ ...TURN, spans: [{ source: 'slm', text: '', tokens: 0, declined: { predictedUsd: 0.004, allowanceUsd: 0.0012, ratioNeeded: 0.62 } }] }));
  const badTurns: unknown[] = [
    { ...TURN, spans: [{ ...TURN.spans[1], costUsd: -1 }] },
    { ...TURN, spans: [{ ...TURN.spans[1], costUsd: '0.1' }] },
    { ...TURN, spans: [{ ...TURN.spans[1], cachedShare: 2 }] },
    { ...TURN, spans: [{ ...TURN.spans[1], calls: -1 }] },
    { ...TURN, spans: [{ source: 'slm', text: '', tokens: 0, declined: { predictedUsd: 0.004 } }] },
    { ...TURN, spans: [{ source: 'slm', text: '', tokens: 0, declined: 'skipped' }] },
    { ...TURN, spans: [{ source: 'slm', text: '', tokens: 0, declined: { predictedUsd: 0.004, allowanceUsd: 0, ratioNeeded: -1 } }] },
    { ...TURN, spans: [{ source: 'slm', text: '', tokens: 0, declined: { predictedUsd: 0.004, allowanceUsd: 0, ratioNeeded: '0.6' } }] },
    // A marker carries no text: text in one would be text no model wrote.
    { ...TURN, spans: [{ source: 'slm', text: 'injected', tokens: 0, declined: { predictedUsd: 0.004, allowanceUsd: 0 } }] },
  ];
  for (const turn of badTurns) assert.equal(isTurn(turn), false, `accepted ${JSON.stringify(turn)}`);
  const badStats: unknown[] = [
    { ...STATS, declinedCalls: -1 },
    { ...STATS, declinedByUsdCeiling: '2' },
    { ...STATS, leastRatioToCall: 0 },
    { ...STATS, leastRatioToCall: Number.POSITIVE_INFINITY },
    { ...STATS, leastRatioToCall: '0.6' },
    { ...STATS, llmWroteAll: 'yes' },
    { ...STATS, slmWroteAll: 'yes' },
    { ...STATS, llmOnlyNote: 'x'.repeat(501) },
    { ...STATS, llmOnlyNote: 5 },
  ];
  for (const stats of badStats) assert.equal(isStats(stats), false, `accepted ${JSON.stringify(stats)}`);
});

test('host -> webview: a span (or wait) whose model name or host is too long is kept, the name cut, never dropped with its text', () => {
  const long = { type: 'span', turnId: 't', source: 'llm', text: 'LLM text', tokens: 1, model: 'm'.repeat(201), host: 'h'.repeat(5000) };
  assert.deepEqual(parseHostMessage(long), { ...long, model: `${'m'.repeat(MAX_SHORT_TEXT - 1)}…`, host: `${'h'.repeat(MAX_SHORT_TEXT - 1)}…` });
  assert.equal((long.model as string).length, 201, 'the message itself is left as it came');
  const atLimit = { type: 'span', turnId: 't', source: 'llm', text: 'x', tokens: 1, model: 'm'.repeat(MAX_SHORT_TEXT) };
  assert.equal(parseHostMessage(atLimit), atLimit);
  const waiting = { type: 'waiting', turnId: 't', host: 'h'.repeat(300), waitedMs: 12_000 };
  assert.deepEqual(parseHostMessage(waiting), { ...waiting, host: `${'h'.repeat(MAX_SHORT_TEXT - 1)}…` });
  const reasoning = { type: 'waiting', turnId: 't', host: 'h', waitedMs: 12_000, reasoningModel: 'm'.repeat(300) };
  assert.deepEqual(parseHostMessage(reasoning), { ...reasoning, reasoningModel: `${'m'.repeat(MAX_SHORT_TEXT - 1)}…` });
});

test("host -> webview: a set-up warning (or a refusal's reason) over the limit is cut in its middle, never a reason to refuse the turns or the text with it", () => {
  const warning = `Setting relay.provider.baseUrl: "curl ${'q'.repeat(2450)}" is not a URL. Set it in Settings.`;
  const init = { type: 'init', view: 'chat', turns: [TURN], busy: false, setupWarning: warning };
  const parsed = parseHostMessage(init);
  assert.ok(parsed?.type === 'init', 'the init is kept');
  assert.deepEqual(parsed.turns, [TURN]);
  assert.equal(parsed.setupWarning, clipNotice(warning));
  assert.equal(parsed.setupWarning?.length, MAX_NOTICE_TEXT);
  assert.match(parsed.setupWarning ?? '', /^Setting relay\.provider\.baseUrl: "curl q+…q+" is not a URL\. Set it in Settings\.$/);
  assert.equal(init.setupWarning, warning, 'the message itself is left as it came');
  assert.deepEqual(parseHostMessage({ type: 'setup', setupWarning: warning }), { type: 'setup', setupWarning: clipNotice(warning) });
  const notSent = { type: 'not-sent', text: 'what the user typed', reason: 'r'.repeat(5000) };
  assert.deepEqual(parseHostMessage(notSent), { ...notSent, reason: clipNotice(notSent.reason) });
  const atLimit = { type: 'setup', setupWarning: 'w'.repeat(MAX_NOTICE_TEXT) };
  assert.equal(parseHostMessage(atLimit), atLimit);
  const loading = { type: 'loading', turnId: 't', model: 'small', name: 'n'.repeat(300), waitedMs: 1000 };
  assert.deepEqual(parseHostMessage(loading), { ...loading, name: `${'n'.repeat(MAX_SHORT_TEXT - 1)}…` });
});

test('clipShortText keeping the end: the start and the end around one ellipsis, at most the limit, no emoji cut in half', () => {
  assert.equal(clipShortText('abcdefghij', 5, { keepEnd: true }), 'ab…ij');
  assert.equal(clipShortText('abcdefghij', 6, { keepEnd: true }), 'abc…ij');
  assert.equal(clipShortText('abcdef', 6, { keepEnd: true }), 'abcdef');
  // A pair at either cut is left out whole.
  assert.equal(clipShortText('a😀bcdefgh😀z', 6, { keepEnd: true }), 'a😀…z');
  assert.equal(clipShortText('a😀bcdefgh😀z', 5, { keepEnd: true }), 'a…z');
  for (const max of [4, 5, 6, 7, 8]) {
    const clipped = clipShortText('😀😀😀😀😀😀😀😀', max, { keepEnd: true });
    assert.ok(clipped.length <= max, clipped);
    assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(clipped), `no lone surrogate: ${JSON.stringify(clipped)}`);
  }
});

test('webview -> host: a message over the length limit is refused (the view keeps it and says so instead of sending it)', () => {
  assert.equal(MAX_MESSAGE_TEXT, 100_000);
  assert.deepEqual(parseWebviewMessage({ type: 'send', text: 'x'.repeat(MAX_MESSAGE_TEXT) }), { type: 'send', text: 'x'.repeat(MAX_MESSAGE_TEXT) });
  assert.equal(parseWebviewMessage({ type: 'send', text: 'x'.repeat(MAX_MESSAGE_TEXT + 1) }), undefined);
});

test('clipShortText never cuts an emoji in half: a cut that would leave a high surrogate leaves it out', () => {
  const name = `${'a'.repeat(198)}🦜🦜`;
  const clipped = clipShortText(name);
  assert.equal(clipped, `${'a'.repeat(198)}…`);
  assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(clipped), 'no lone high surrogate');
  assert.equal(clipShortText(`${'x'.repeat(78)}😀 and more`, 80), `${'x'.repeat(78)}…`);
  assert.equal(clipShortText('short'), 'short');
  assert.equal(clipShortText('abcdef', 4), 'abc…');
});
