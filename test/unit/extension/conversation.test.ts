// The host side of the answer view: Conversation turns the engine's events into typed
// messages. Each call's cost and cached share (from its call-end) go to the span it wrote,
// and spans of one call share its figures; a call that wrote nothing describes no span; a
// skipped call becomes a marker where it happened, kept with the turn, never part of the
// answer's text (copy, history); the stats say how many calls were skipped, whether the
// LLM wrote it all and how the LLM-only figure was estimated. A fake RelayService replays
// the events; the messages are checked with the webview's own parser.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AnswerStats, RelayEvent } from '../../../src/core/relay/events';
import type { Usage } from '../../../src/core/providers/types';
import { MAX_SHORT_TEXT, parseHostMessage, type HostMessage } from '../../../src/shared/webviewProtocol';
import { isStats, isTurn } from '../../../media/src/view/validate';
import {
  clipboardWrites,
  commandsRun,
  MemoryMemento,
  questionsAsked,
  resetSettings,
  useVscodeStub,
  warningsShown,
  window as stubWindow,
  workspaceSettings,
} from './vscodeStub';
import { FakeRelayService, openConversation } from './fakeRelayService';
useVscodeStub();

// Loaded after the stub is in place (it imports 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Conversation, toStatsView } = require('../../../src/extension/conversation') as typeof import('../../../src/extension/conversation');
type RelayService = import('../../../src/extension/relayService').RelayService;

const MODEL = 'gpt-4o';
const HOST = 'https://api.openai.com';

const usage = (inputTokens: number, cachedInputTokens: number, estimated = false): Usage => ({
  inputTokens,
  outputTokens: 2,
  cachedInputTokens,
  cacheWriteTokens: 0,
  estimated,
});
const slm = (text: string): RelayEvent => ({ type: 'span', source: 'slm', text, tokens: 1 });
const llm = (text: string, callIndex: number): RelayEvent => ({ type: 'span', source: 'llm', text, tokens: 1, callIndex });
const start = (callIndex: number): RelayEvent => ({
  type: 'call-start',
  callIndex,
  requestedTokens: 2,
  model: MODEL,
  host: 'api.openai.com',
  continuation: 'raw-completion',
});
const end = (callIndex: number, costUsd: number | null, callUsage: Usage, durationMs = 400): RelayEvent => ({
  type: 'call-end',
  callIndex,
  tokens: 2,
  durationMs,
  finishReason: 'length',
  usage: callUsage,
  sentPartialAnswer: '',
  continuation: 'raw-completion',
  costUsd,
});
const declined = (predictedUsd: number, allowanceUsd: number, ratioNeeded?: number): RelayEvent => ({
  type: 'call-declined',
  predictedUsd,
  allowanceUsd,
  requestedTokens: 8,
  atMs: 10,
  ...(ratioNeeded !== undefined ? { ratioNeeded } : {}),
});

const STATS: AnswerStats = {
  mode: 'money-aware',
  slmTokens: 20,
  llmTokens: 4,
  llmTokenShare: 4 / 24,
  calls: 3,
  llmUsage: usage(1000, 800),
  costUsd: 0.0093,
  llmOnlyCostUsd: 0.0053,
  savedUsd: -0.004,
  elapsedMs: 900,
  finishReason: 'eos',
  declinedCalls: 2,
  llmOnlyEstimateNote: 'Estimate: calibrated.',
};

/** A Conversation over a fake service that replays `events`; returns the messages it posted. */
async function replay(events: RelayEvent[], stats: AnswerStats = STATS) {
  const answer = events.flatMap((event) => (event.type === 'span' ? [event.text] : [])).join('');
  const service = {
    busy: false,
    onDidChangeBusy: () => ({ dispose() {} }),
    setupWarning: async () => undefined,
    answer: async (_messages: unknown, sink: { onEvent(event: RelayEvent, model: string, destination?: string): void }) => {
      for (const event of [...events, { type: 'done', answer, stats } as RelayEvent]) sink.onEvent(event, MODEL, HOST);
      return { answer, stats };
    },
  } as unknown as RelayService;
  const state = new MemoryMemento();
  const conversation = new Conversation('answer', service, () => undefined, { state, key: 'turns' });
  const posted: HostMessage[] = [];
  conversation.attach({ post: (message) => posted.push(message) });
  const { turnId } = await conversation.ask('What is 47*6+28?');
  return { conversation, posted, turnId, state };
}

test("a prompt's reading reaches the view with its reader: the small model's as it was, a large model's on this machine as the large model's", async () => {
  const { posted } = await replay([
    { type: 'prompt-reading', done: 512, total: 2048, reusedTokens: 0, atMs: 900 },
    slm('So'),
    start(0),
    { type: 'prompt-reading', done: 256, total: 1024, reusedTokens: 0, atMs: 1800, reader: 'large' },
    llm(' 310', 0),
    end(0, 0.0031, usage(500, 410)),
  ]);
  const reading = posted.filter((message) => message.type === 'reading');
  for (const message of reading) assert.deepEqual(parseHostMessage(message), message, `the webview would refuse ${JSON.stringify(message)}`);
  assert.deepEqual(
    reading.map(({ type: _type, turnId: _turnId, ...rest }) => rest),
    [
      { done: 512, total: 2048, reusedTokens: 0 },
      { done: 256, total: 1024, reusedTokens: 0, reader: 'large' },
    ],
  );
});

test("each call's cost and cached share go to the span it wrote; consecutive calls of one span add up; a call that wrote nothing describes no span", async () => {
  const { posted } = await replay([
    slm('So 47*6 is 2'),
    start(0),
    llm('8', 0),
    llm('2', 0),
    end(0, 0.0031, usage(500, 410)),
    start(1),
    llm(',', 1),
    end(1, 0.0012, usage(500, 500), 300),
    slm(' plus 28 is'),
    start(2),
    end(2, 0.005, usage(600, 0)),
    slm(' 310.'),
  ]);
  for (const message of posted) assert.deepEqual(parseHostMessage(message), message, `the webview would refuse ${JSON.stringify(message)}`);
  const figures = posted.filter((message) => message.type === 'call-figures');
  assert.equal(figures.length, 2, 'the third call wrote nothing: no figures');
  assert.deepEqual(
    figures.map(({ type: _type, turnId: _turnId, ...rest }) => rest),
    [
      { durationMs: 400, calls: 1, costUsd: 0.0031, cachedShare: 0.82 },
      { durationMs: 700, calls: 2, costUsd: 0.0043, cachedShare: 0.91 },
    ],
  );
});

test('an unknown price stays unknown; estimated usage says so', async () => {
  const { posted } = await replay([start(0), llm('Hi', 0), end(0, null, usage(100, 0, true)), slm('!')], {
    ...STATS,
    costUsd: null,
    llmOnlyCostUsd: null,
    savedUsd: null,
  });
  const figures = posted.find((message) => message.type === 'call-figures');
  assert.deepEqual(figures && { costUsd: figures.costUsd, usageEstimated: figures.usageEstimated }, { costUsd: null, usageEstimated: true });
});

test('a skipped call is a marker where it happened, kept with the turn, never in the answer text', async () => {
  const { conversation, posted, turnId, state } = await replay([
    slm('Count'),
    declined(0.004, 0.0012, 0.62),
    slm(' three more'),
    declined(0.005, -0.0001),
    slm('.'),
  ]);
  const markers = posted.filter((message) => message.type === 'call-declined');
  assert.deepEqual(
    markers.map(({ predictedUsd, allowanceUsd, ratioNeeded }) => [predictedUsd, allowanceUsd, ratioNeeded]),
    [
      [0.004, 0.0012, 0.62],
      [0.005, -0.0001, undefined],
    ],
  );
  for (const message of markers) assert.deepEqual(parseHostMessage(message), message);
  // The marker comes after the text written before it, in the order the engine said.
  const order = posted
    .filter((message) => message.type === 'span' || message.type === 'call-declined')
    .map((message) => (message.type === 'span' ? message.text : '◦'));
  assert.deepEqual(order, ['Count', '◦', ' three more', '◦', '.']);

  const turns = state.get<{ id: string; spans: { text: string; declined?: unknown }[] }[]>('turns') ?? [];
  const answer = turns.find((turn) => turn.id === turnId);
  assert.ok(answer && isTurn(answer), 'the persisted turn passes the webview check');
  assert.deepEqual(
    answer.spans.map((span) => (span.declined ? '◦' : span.text)),
    ['Count', '◦', ' three more', '◦', '.'],
    'markers stay where they were, and text after one starts a new span',
  );

  await conversation.receive({ type: 'copy', turnId });
  assert.equal(clipboardWrites.at(-1), 'Count three more.', 'copying gives the answer text only');
  const done = posted.find((message) => message.type === 'turn-done');
  assert.equal(done?.type === 'turn-done' && done.stats.declinedCalls, 2);
});

test('the stats view carries the skipped calls, the loss, whether the LLM wrote it all and how the LLM-only figure was estimated', () => {
  const view = toStatsView(STATS);
  assert.equal(view.declinedCalls, 2);
  assert.equal(view.declinedByUsdCeiling, undefined);
  const usdSkipped = toStatsView({ ...STATS, calls: 0, declinedCalls: 2, declinedByUsdCeiling: 2 });
  assert.equal(usdSkipped.declinedByUsdCeiling, 2, 'the view names relay.maxCostPerAnswerUsd for the calls it skipped (skippedCallsNote)');
  assert.ok(isStats(usdSkipped), 'and takes the field');
  assert.equal(view.savedUsd, -0.004);
  assert.equal(view.llmOnlyNote, 'Estimate: calibrated.');
  assert.equal(view.llmWroteAll, undefined);
  assert.equal(toStatsView({ ...STATS, mode: 'llm-only', savedUsd: 0, declinedCalls: undefined }).llmWroteAll, true);
  assert.equal(toStatsView({ ...STATS, mode: 'random-router', routedTo: 'llm', savedUsd: 0 }).llmWroteAll, true);
  assert.equal(
    toStatsView({ ...STATS, mode: 'llm-only', finishReason: 'error', savedUsd: -0.001 }).llmWroteAll,
    undefined,
    'a failed LLM-only answer lost what it cost',
  );
  assert.equal(toStatsView({ ...STATS, mode: 'random-router', routedTo: 'slm' }).llmWroteAll, undefined);
  // No large model was called (relay.localOnly, relay.mode slm-only): the view is told, so it says so rather than "unknown price".
  const alone = toStatsView({ ...STATS, mode: 'slm-only', calls: 0, declinedCalls: undefined, costUsd: 0, llmOnlyCostUsd: null, savedUsd: null });
  assert.equal(alone.slmWroteAll, true);
  assert.ok(isStats(alone), 'and the view takes the field');
  assert.equal(view.slmWroteAll, undefined);
  assert.equal(toStatsView({ ...STATS, mode: 'random-router', routedTo: 'slm', calls: 0 }).slmWroteAll, undefined, 'a router had a large model to send it to');
  assert.equal(toStatsView({ ...STATS, declinedCalls: undefined }).declinedCalls, undefined);
  assert.equal(toStatsView({ ...STATS, leastRatioToCall: 0.62 }).leastRatioToCall, 0.62, 'what ceiling would have let a call through');
  assert.equal(view.leastRatioToCall, undefined);
  // Usage counted here (the server reported none): the cost is said to be an estimate, and no cache share is claimed.
  assert.equal(view.usageEstimated, undefined);
  assert.equal(typeof view.cacheHitRate, 'number');
  const counted = toStatsView({ ...STATS, llmUsage: { ...STATS.llmUsage, estimated: true } });
  assert.equal(counted.usageEstimated, true);
  assert.equal(counted.cacheHitRate, undefined);
  assert.ok(isStats(toStatsView({ ...STATS, leastRatioToCall: 0.62 })));
});

/**
 * A Conversation in `view` over a fake service that answers every question "It adds.";
 * what the service was asked: each answer's options and each draft to read ahead.
 */
function withAnsweringService(view: 'chat' | 'answer') {
  const asked = { answerOptions: [] as unknown[], drafts: [] as unknown[] };
  const service = {
    busy: false,
    onDidChangeBusy: () => ({ dispose() {} }),
    setupWarning: async () => undefined,
    answer: async (_messages: unknown, sink: { onEvent(event: RelayEvent, model: string): void }, _plan: unknown, options: unknown) => {
      asked.answerOptions.push(options);
      sink.onEvent(slm('It adds.'), MODEL);
      sink.onEvent({ type: 'done', answer: 'It adds.', stats: STATS } as RelayEvent, MODEL);
      return { answer: 'It adds.', stats: STATS };
    },
    readAheadDraft: (messages: unknown) => asked.drafts.push(messages),
  } as unknown as RelayService;
  const conversation = new Conversation(view, service, () => undefined, { state: new MemoryMemento(), key: 'turns' });
  conversation.attach({ post: () => undefined });
  return { conversation, asked };
}

test("a chat's draft goes to be read ahead after the conversation so far; the answer view has none", async () => {
  for (const view of ['chat', 'answer'] as const) {
    const { conversation, asked } = withAnsweringService(view);
    await conversation.ask('What does it do?');
    await conversation.receive({ type: 'draft', text: 'And then wh' });
    const conversationSoFar = [
      { role: 'user', content: 'What does it do?' },
      { role: 'assistant', content: 'It adds.' },
      { role: 'user', content: 'And then wh' },
    ];
    assert.deepEqual(asked.drafts, view === 'chat' ? [conversationSoFar] : [], view);
  }
});

test('a chat asks for its next turn to be read ahead; the answer view (Explain Selection, Solve Problem) does not', async () => {
  for (const view of ['chat', 'answer'] as const) {
    const { conversation, asked } = withAnsweringService(view);
    await conversation.ask('Why?');
    assert.deepEqual(asked.answerOptions, [{ readAhead: view === 'chat' }], view);
  }
});

test("a chat's history sends earlier answers without their thinking, the same way at every turn, in the draft read ahead and at Retry; user text as typed", async () => {
  const answers = [
    '<think>\nAdd them: 2 + 3.\n</think>\n\nIt is 5.',
    // Stopped (or cut by its token limit) while still thinking: nothing to send, nor its question.
    '<think>\nStill weighing it',
    // A template that opens the thinking in the prompt: only the close is written.
    'Times 4.\n</think>\n\nIt is 20.',
    '<think>\nMinus 1.\n</think>\n\nIt is 19.',
  ];
  const sent: unknown[] = [];
  const drafts: unknown[] = [];
  let next = 0;
  const service = {
    busy: false,
    onDidChangeBusy: () => ({ dispose() {} }),
    setupWarning: async () => undefined,
    answer: async (messages: unknown, sink: { onEvent(event: RelayEvent, model: string): void }) => {
      sent.push(messages);
      const answer = answers[Math.min(next++, answers.length - 1)];
      sink.onEvent(slm(answer), MODEL);
      sink.onEvent({ type: 'done', answer, stats: STATS } as RelayEvent, MODEL);
      return { answer, stats: STATS };
    },
    readAheadDraft: (messages: unknown) => drafts.push(messages),
  } as unknown as RelayService;
  const conversation = new Conversation('chat', service, () => undefined, { state: new MemoryMemento(), key: 'turns' });
  conversation.attach({ post: () => undefined });

  const userText = 'Explain <think>tags</think> please';
  await conversation.ask('What is 2+3?');
  await conversation.ask('Why?');
  await conversation.ask('And times 4?');
  await conversation.receive({ type: 'draft', text: userText });
  const last = await conversation.ask(userText);
  const history = [
    { role: 'user', content: 'What is 2+3?' },
    { role: 'assistant', content: 'It is 5.' },
    { role: 'user', content: 'And times 4?' },
    { role: 'assistant', content: 'It is 20.' },
    { role: 'user', content: userText },
  ];
  assert.deepEqual(sent[1], [...history.slice(0, 2), { role: 'user', content: 'Why?' }]);
  assert.deepEqual(
    sent[2],
    [...history.slice(0, 2), { role: 'user', content: 'And times 4?' }],
    'the answer that was only thinking is left out with its question',
  );
  assert.deepEqual(sent[3], history);
  assert.deepEqual(drafts, [history], 'the draft read ahead is the prompt the question then sends');

  // Retry builds the same history again.
  await conversation.receive({ type: 'retry', turnId: last.turnId });
  assert.deepEqual(sent[4], history);
});

test('a message over the length limit is not lost in silence: the host says why it did not send it, and asks nothing', async () => {
  const { conversation, asked } = withAnsweringService('chat');
  const before = questionsAsked.length;
  await conversation.receive({ type: 'send', text: 'x'.repeat(100_001) });
  assert.deepEqual(asked.answerOptions, [], 'no answer was started');
  assert.deepEqual(
    questionsAsked.slice(before).map((question) => [question.api, question.text]),
    [['showErrorMessage', 'Relay did not send the message: it is 100,001 characters long, over the limit of 100,000. Shorten it and send it again.']],
  );
  // Other malformed messages (only a broken view sends them) are still dropped without a word.
  await conversation.receive({ type: 'send', text: '   ' });
  await conversation.receive({ type: 'bogus' });
  assert.equal(questionsAsked.length, before + 1);
});

test("a model name or host over the view's limit is cut before posting, so the span's text always reaches the view", async () => {
  const model = 'org/'.repeat(60);
  const host = `https://${'a'.repeat(250)}.example`;
  const service = {
    busy: false,
    onDidChangeBusy: () => ({ dispose() {} }),
    setupWarning: async () => undefined,
    answer: async (_messages: unknown, sink: { onEvent(event: RelayEvent, model: string, destination?: string): void }) => {
      sink.onEvent(start(0), model, host);
      sink.onEvent({ type: 'call-wait', callIndex: 0, host, state: 'waiting', waitedMs: 5000 } as RelayEvent, model, host);
      sink.onEvent({ type: 'call-wait', callIndex: 0, host, state: 'reasoning', waitedMs: 6000, model } as RelayEvent, model, host);
      sink.onEvent(llm('Forty', 0), model, host);
      sink.onEvent({ type: 'done', answer: 'Forty', stats: STATS } as RelayEvent, model, host);
      return { answer: 'Forty', stats: STATS };
    },
  } as unknown as RelayService;
  const conversation = new Conversation('answer', service, () => undefined, { state: new MemoryMemento(), key: 'turns' });
  const posted: HostMessage[] = [];
  conversation.attach({ post: (message) => posted.push(message) });
  await conversation.ask('What is 47*6+28?');
  const span = posted.find((message) => message.type === 'span');
  assert.ok(span && span.type === 'span');
  assert.equal(span.text, 'Forty');
  assert.equal(span.model, `${model.slice(0, MAX_SHORT_TEXT - 1)}…`);
  assert.equal(span.host, `${host.slice(0, MAX_SHORT_TEXT - 1)}…`);
  assert.deepEqual(parseHostMessage(span), span, 'the view takes it as posted');
  const waiting = posted.find((message) => message.type === 'waiting');
  assert.ok(waiting && parseHostMessage(waiting));
  assert.equal(waiting.type === 'waiting' && waiting.host.length, MAX_SHORT_TEXT);
  const reasoning = posted.find((message) => message.type === 'waiting' && message.reasoningModel !== undefined);
  assert.ok(reasoning && parseHostMessage(reasoning), 'a model reasoning is posted as such');
  assert.equal(reasoning.type === 'waiting' && reasoning.reasoningModel, `${model.slice(0, MAX_SHORT_TEXT - 1)}…`);
});

test("Retry on a demo answer restored from an earlier window goes to the demo's pair, never to the user's own models", async () => {
  const state = new MemoryMemento();
  const answered: unknown[] = [];
  const service = {
    busy: false,
    onDidChangeBusy: () => ({ dispose() {} }),
    setupWarning: async () => undefined,
    answer: async (messages: unknown, sink: { onEvent(event: RelayEvent, model: string): void }) => {
      answered.push(messages);
      sink.onEvent(slm('33*4=132.'), MODEL);
      sink.onEvent({ type: 'done', answer: '33*4=132.', stats: STATS } as RelayEvent, MODEL);
      return { answer: '33*4=132.', stats: STATS };
    },
  } as unknown as RelayService;
  const demo = { kind: 'relay' as const, question: '33*4+29=?', reference: '161', priceModel: 'gpt-4o' };
  const first = new Conversation('answer', service, () => undefined, { state, key: 'turns' });
  first.attach({ post: () => undefined });
  const { turnId } = await first.ask(demo.question, undefined, { demo });
  assert.equal(answered.length, 1);

  // After a window reload: the turns come back from workspace state, the demo's plan does not.
  const restored = new Conversation('answer', service, () => undefined, { state, key: 'turns' });
  restored.attach({ post: () => undefined });
  const demoActions: [string, string | undefined][] = [];
  restored.setDemoHandler((action, id) => void demoActions.push([action, id]));
  await restored.receive({ type: 'retry', turnId });
  assert.equal(answered.length, 1, "the user's settings answered nothing");
  assert.deepEqual(demoActions, [['again', turnId]]);
});

/** An editor as VS Code hands one out: what Insert wrote into it; `edit` as VS Code would answer (closed: it rejects). */
function fakeEditor(name: string, edit: 'applies' | 'refuses' | 'closed' = 'applies') {
  const inserted: string[] = [];
  const editor = {
    name,
    document: { isClosed: edit === 'closed' },
    selection: { active: { line: 0, character: 0 } },
    edit: async (build: (builder: { replace(at: unknown, text: string): void }) => void) => {
      if (edit === 'closed') throw new Error('TextEditor#edit not possible on closed editors');
      const pending: string[] = [];
      build({ replace: (_at, text) => void pending.push(text) });
      if (edit === 'refuses') return false;
      inserted.push(...pending);
      return true;
    },
  };
  return { editor: editor as unknown as import('vscode').TextEditor, inserted };
}

/** Runs `fn` with the editors VS Code shows set to `visible` (and the focused one to `active`), then puts them back. */
async function withEditors(visible: unknown[], active: unknown, fn: () => Promise<void>): Promise<void> {
  const before = { visible: stubWindow.visibleTextEditors, active: stubWindow.activeTextEditor };
  stubWindow.visibleTextEditors = visible;
  stubWindow.activeTextEditor = active;
  try {
    await fn();
  } finally {
    stubWindow.visibleTextEditors = before.visible;
    stubWindow.activeTextEditor = before.active;
  }
}

test('Insert goes to the editor the question came from while it is open and shown; a closed or hidden one is passed over, never left to fail in silence', async () => {
  const { conversation, turnId } = await replay([slm('The answer.')]);
  let target: import('vscode').TextEditor | undefined;
  conversation.attach({ post: () => undefined, targetEditor: () => target });
  const source = fakeEditor('source');
  const other = fakeEditor('other');

  // The source editor is shown: the answer goes there.
  target = source.editor;
  await withEditors([other.editor, source.editor], undefined, () => conversation.receive({ type: 'insert', turnId }));
  assert.deepEqual(source.inserted, ['The answer.']);
  assert.deepEqual(other.inserted, []);

  // Its tab was closed: VS Code would reject the edit; the editor shown takes the answer instead.
  const closed = fakeEditor('closed', 'closed');
  target = closed.editor;
  await withEditors([other.editor], undefined, () => conversation.receive({ type: 'insert', turnId }));
  assert.deepEqual(other.inserted, ['The answer.']);

  // Its tab was switched (the document still open elsewhere, this editor no longer shown): passed over too.
  target = source.editor;
  const active = fakeEditor('active');
  await withEditors([other.editor, active.editor], active.editor, () => conversation.receive({ type: 'insert', turnId }));
  assert.deepEqual(source.inserted, ['The answer.'], 'nothing more went to the hidden editor');
  assert.deepEqual(active.inserted, ['The answer.'], 'the focused editor took it');

  // No editor shown at all: the user is told to open one.
  target = closed.editor;
  const warningsBefore = warningsShown.length;
  await withEditors([], undefined, () => conversation.receive({ type: 'insert', turnId }));
  assert.deepEqual(
    warningsShown.slice(warningsBefore).map((warning) => warning.message),
    ['Relay: open an editor to insert the answer into.'],
  );
});

test('an edit VS Code refuses or rejects is said as a warning; a message whose handling fails is shown, never an unhandled rejection', async () => {
  const { conversation, turnId } = await replay([slm('The answer.')]);
  const readOnly = fakeEditor('read-only', 'refuses');
  const closing = fakeEditor('closing', 'closed');
  // Closed between the check and the edit: VS Code rejects it.
  const closingEditor = closing.editor as unknown as { document: { isClosed: boolean } };
  closingEditor.document.isClosed = false;
  let target = readOnly.editor;
  conversation.attach({ post: () => undefined, targetEditor: () => target });
  const warningsBefore = warningsShown.length;
  await withEditors([readOnly.editor, closing.editor], undefined, async () => {
    await conversation.receive({ type: 'insert', turnId });
    target = closing.editor;
    await conversation.receive({ type: 'insert', turnId });
  });
  assert.deepEqual(
    warningsShown.slice(warningsBefore).map((warning) => warning.message),
    [
      'Relay: could not insert the answer: the document did not take the text: it may be read-only.',
      'Relay: could not insert the answer: TextEditor#edit not possible on closed editors',
    ],
  );

  // Any other message whose handling throws: receive still resolves, and the user sees why.
  conversation.setDemoHandler(() => {
    throw new Error('the demo models are missing');
  });
  const questionsBefore = questionsAsked.length;
  await conversation.receive({ type: 'demo', action: 'another' });
  assert.deepEqual(
    questionsAsked.slice(questionsBefore).map((question) => [question.api, question.text]),
    [['showErrorMessage', 'Relay: "demo" from the answer view failed: the demo models are missing']],
  );
});

test("an error's Open Settings button opens the setting the error names, where its value is written; the set-up banner's, the one its warning names", async () => {
  const refused = 'Nothing listens at 127.0.0.1:9. Start the server, or fix relay.provider.baseUrl (CLI: --base-url).';
  const service = {
    busy: false,
    onDidChangeBusy: () => ({ dispose() {} }),
    setupWarning: async () => undefined,
    answer: async () => ({ answer: '', error: { message: refused, fix: 'open-settings' } }),
  } as unknown as RelayService;
  const conversation = new Conversation('answer', service, () => undefined, { state: new MemoryMemento(), key: 'turns' });
  conversation.attach({ post: () => undefined });
  const { turnId } = await conversation.ask('Explain this');
  resetSettings({});
  workspaceSettings.set('relay.provider.baseUrl', 'http://127.0.0.1:9/v1');
  try {
    await conversation.receive({ type: 'fix', action: 'open-settings', turnId });
    assert.deepEqual(commandsRun.at(-1), { command: 'workbench.action.openWorkspaceSettings', args: [{ query: '@id:relay.provider.baseUrl' }] });
  } finally {
    resetSettings({});
  }
  conversation.showSetupWarning('No LLM model is set: set relay.provider.model in Settings.');
  await conversation.receive({ type: 'fix', action: 'open-settings' });
  assert.deepEqual(commandsRun.at(-1), { command: 'workbench.action.openGlobalSettings', args: [{ query: '@id:relay.provider.model' }] });
  // An error that names no setting: all of Relay's.
  conversation.showSetupWarning('Something is not set up.');
  await conversation.receive({ type: 'fix', action: 'open-settings' });
  assert.deepEqual(commandsRun.at(-1), { command: 'workbench.action.openSettings', args: ['relay.'] });
});

test('while a provider test runs, a question is refused naming the test and how to end it, not an answer and Stop', async () => {
  const service = {
    busy: true,
    testingProvider: true,
    onDidChangeBusy: () => ({ dispose() {} }),
    setupWarning: async () => undefined,
    answer: async () => assert.fail('nothing is asked while the test runs'),
  } as unknown as RelayService;
  const conversation = new Conversation('chat', service, () => undefined, { state: new MemoryMemento(), key: 'turns' });
  conversation.attach({ post: () => undefined });
  const { turnId, outcome } = await conversation.ask('What is 2+3?');
  assert.equal(turnId, '');
  assert.equal(
    outcome.error?.message,
    'Relay is testing the provider ("Relay: Test Provider"), which may be loading the small model, so this question was not asked. Try again when the test ends, or cancel it first (its notification).',
  );
});

test('tells its view when what keeps Relay busy is a provider test, as it begins and at a reload, so Send and Stop say so', async () => {
  let onBusy: (busy: boolean) => void = () => assert.fail('no listener');
  const service = {
    busy: false,
    testingProvider: false,
    onDidChangeBusy: (listener: (busy: boolean) => void) => {
      onBusy = listener;
      return { dispose() {} };
    },
    setupWarning: async () => undefined,
  };
  const posted: HostMessage[] = [];
  const conversation = new Conversation('chat', service as unknown as RelayService, () => undefined, { state: new MemoryMemento(), key: 'turns' });
  conversation.attach({ post: (message) => posted.push(message) });
  Object.assign(service, { busy: true, testingProvider: true });
  onBusy(true);
  assert.deepEqual(posted.at(-1), { type: 'busy', busy: true, own: false, testingProvider: true });
  await conversation.init();
  assert.equal((posted.at(-1) as Extract<HostMessage, { type: 'init' }>).testingProvider, true);
  Object.assign(service, { busy: true, testingProvider: false });
  onBusy(true);
  assert.deepEqual(posted.at(-1), { type: 'busy', busy: true, own: false }, 'an answer elsewhere: no test named');
});

test("a set-up warning over the views' limit (a settings error quoting a pasted curl command) is clipped before posting, its start and end kept: the saved turns still reach the view", async () => {
  const state = new MemoryMemento();
  const saved = [{ id: 'u', role: 'user', spans: [{ source: 'slm', text: 'old question', tokens: 0 }] }];
  await state.update('relay.turns', saved);
  const service = new FakeRelayService();
  const warning = `Setting relay.provider.baseUrl in your user settings: "curl ${'q'.repeat(2450)}" is not a URL. Set it in Settings.`;
  service.setupWarning = async () => warning;
  // openConversation checks each message as the webview parses it: one it would have to cut (or refuse) fails here.
  const { conversation, posted } = openConversation('chat', service, state);
  await conversation.receive({ type: 'ready' });
  const init = posted.find((message) => message.type === 'init');
  assert.ok(init?.type === 'init');
  assert.deepEqual(init.turns, saved);
  assert.ok((init.setupWarning?.length ?? 0) <= 2000, `${init.setupWarning?.length} characters`);
  assert.match(init.setupWarning ?? '', /^Setting relay\.provider\.baseUrl in your user settings: "curl q+…q+" is not a URL\. Set it in Settings\.$/);
  conversation.showSetupWarning(warning);
  assert.deepEqual(posted.at(-1), { type: 'setup', setupWarning: init.setupWarning });
});
