// The webview app (media/src/app.ts) in Chromium, fed host messages as VS Code delivers
// them (window 'message' events): it says 'ready', renders valid turns, ignores malformed
// messages without breaking, follows 'busy', and posts only typed messages back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { deliverMessages, NO_BROWSER, startedWebviewPerTest, STATS } from './browserPage';

describe('the webview app', { skip: NO_BROWSER }, () => {
  const webview = startedWebviewPerTest('chat');

  /** Delivers messages from the "host" and lets the app handle them. */
  const deliver = (...messages: unknown[]): Promise<void> => deliverMessages(webview().page, messages);

  const texts = (selector: string) => webview().page.locator(selector).allInnerTexts();

  it('asks for its state, then renders the turns of a valid init and skips a malformed one', async () => {
    assert.deepEqual(await webview().posted(), [{ type: 'ready' }]);
    await deliver({
      type: 'init',
      view: 'chat',
      busy: false,
      turns: [
        { id: 'u1', role: 'user', spans: [{ source: 'slm', text: 'What is 2+3?', tokens: 0 }] },
        { id: 'bad', role: 'assistant', spans: 'not a list' },
        {
          id: 'a1',
          role: 'assistant',
          spans: [
            { source: 'slm', text: 'It is ', tokens: 2 },
            { source: 'llm', text: 'five', tokens: 1, model: 'm' },
          ],
          stats: STATS,
        },
      ],
    });
    assert.deepEqual(await texts('article .relay-body'), ['What is 2+3?', 'It is five']);
    assert.deepEqual(await texts('article .relay-llm'), ['five']);
    assert.equal(await webview().page.locator('.relay-stats').count(), 1);
    assert.equal(await webview().page.locator('.relay-empty-hint').isVisible(), false);
  });

  it('ignores malformed and unknown messages and keeps working', async () => {
    await deliver({ type: 'init', view: 'chat', busy: false, turns: [] }, { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } });
    await deliver(
      null,
      'span',
      { type: 'eval', code: 'document.body.remove()' },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'no tokens field' },
      { type: 'span', turnId: 'a1', source: 'robot', text: 'bad source', tokens: 1 },
      { type: 'span', turnId: 'missing', source: 'slm', text: 'unknown turn', tokens: 1 },
      { type: 'turn-start', turn: { id: 'x', role: 'wizard', spans: [] } },
      { type: 'turn-done', turnId: 'a1', stats: 'fast' },
      { type: 'init', view: 'chat', busy: false, turns: [], setupWarning: { html: '<b>x</b>' } },
    );
    await deliver(
      { type: 'span', turnId: 'a1', source: 'slm', text: 'Still ', tokens: 1 },
      { type: 'span', turnId: 'a1', source: 'llm', text: 'working', tokens: 1, model: 'm' },
    );
    assert.equal(await webview().page.locator('article').count(), 1, 'no turn from a malformed turn-start; the malformed init did not clear the view');
    assert.equal(await webview().page.locator('article .relay-body').innerText(), 'Still working');
    assert.equal(await webview().page.locator('.relay-banner').isVisible(), false);
    await deliver({ type: 'turn-done', turnId: 'a1', stats: STATS });
    assert.equal(await webview().page.locator('article .relay-stats').count(), 1);
  });

  it('shows an error with the button that fixes it, and refuses an unknown fix', async () => {
    await deliver(
      { type: 'init', view: 'chat', busy: false, turns: [] },
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'turn-start', turn: { id: 'a2', role: 'assistant', spans: [] } },
      { type: 'turn-error', turnId: 'a1', message: '127.0.0.1 rejected the API key (HTTP 401).', fix: 'set-key' },
      { type: 'turn-error', turnId: 'a2', message: 'bogus', fix: 'format-disk' },
    );
    const first = webview().page.locator('article').nth(0);
    assert.equal(await first.locator('.relay-error .relay-error-text').innerText(), '127.0.0.1 rejected the API key (HTTP 401).');
    await first.locator('.relay-error button', { hasText: 'Set API Key' }).click();
    assert.deepEqual((await webview().posted()).slice(-1), [{ type: 'fix', action: 'set-key', turnId: 'a1' }], 'with its turn: the error names what to fix');
    assert.equal(await webview().page.locator('article').nth(1).locator('.relay-error').count(), 0, 'the message with an unknown fix was refused');
  });

  it('follows busy: Stop and Send swap, Enter sends only when idle', async () => {
    await deliver({ type: 'init', view: 'chat', busy: false, turns: [] });
    const stop = webview().page.locator('.relay-toolbar button', { hasText: 'Stop' });
    const send = webview().page.locator('.relay-composer button', { hasText: 'Send' });
    const input = webview().page.locator('#chat-input');
    assert.equal(await stop.isDisabled(), true);
    assert.equal(await send.isDisabled(), false);

    await deliver({ type: 'busy', busy: true, own: true });
    assert.equal(await stop.isDisabled(), false);
    assert.equal(await send.isDisabled(), true);
    await input.fill('queued question');
    await input.press('Enter');
    assert.equal(await input.inputValue(), 'queued question', 'not sent while busy, and kept');
    await stop.click();

    await deliver({ type: 'busy', busy: false });
    await input.press('Enter');
    assert.equal(await input.inputValue(), '');
    // Not the drafts: busy ending arms the draft pause, which a slow machine lets pass before Enter (the draft test's part).
    const sent = (await webview().posted()).slice(1).filter((message) => (message as { type?: string }).type !== 'draft');
    assert.deepEqual(sent, [{ type: 'stop' }, { type: 'send', text: 'queued question' }]);
  });

  it('a message the host did not ask (an answer was being written elsewhere) goes back into the input, before what was typed since, with why', async () => {
    await deliver({ type: 'init', view: 'chat', busy: false, turns: [] });
    const input = webview().page.locator('#chat-input');
    await input.fill('my long question');
    await input.press('Enter');
    assert.equal(await input.inputValue(), '', 'sent, so cleared');
    const reason = 'Relay is still writing an answer (in another view or in @relay), so this question was not asked.';
    await deliver({ type: 'not-sent', text: 'my long question', reason });
    assert.equal(await input.inputValue(), 'my long question');
    assert.equal(await webview().page.locator('#chat-input-error [role="alert"]').innerText(), `Not sent: ${reason}`);
    assert.equal(await input.getAttribute('aria-invalid'), 'true');
    await input.fill('typed since');
    await deliver({ type: 'not-sent', text: 'an earlier one', reason });
    assert.equal(await input.inputValue(), 'an earlier one\ntyped since', 'nothing typed since is lost');
    await deliver({ type: 'not-sent', text: 42, reason });
    assert.equal(await input.inputValue(), 'an earlier one\ntyped since', 'a malformed one is ignored');
  });

  it("offers Stop only for this view's own answer: another view's (or @relay's) keeps Send off and Stop off, and says where to stop it", async () => {
    await deliver({ type: 'init', view: 'chat', busy: true, turns: [] });
    const stop = webview().page.locator('.relay-toolbar button', { hasText: 'Stop' });
    const send = webview().page.locator('.relay-composer button', { hasText: 'Send' });
    assert.equal(await stop.isDisabled(), true, 'busy, but none of this view is being written');
    assert.equal(await send.isDisabled(), true, 'one answer at a time');
    assert.match((await stop.getAttribute('title')) ?? '', /not this view's: stop it where it was asked, or run "Relay: Stop"/);
    await deliver({ type: 'busy', busy: true, own: false });
    assert.equal(await stop.isDisabled(), true);
    await deliver({ type: 'busy', busy: false }, { type: 'busy', busy: true, own: true });
    assert.equal(await stop.isDisabled(), false);
    assert.equal(await stop.getAttribute('title'), 'Stop generating');
    // Reloaded while its own answer is written: the init names it, and Stop is on.
    await deliver({
      type: 'init',
      view: 'chat',
      busy: true,
      runningTurnId: 'a1',
      turns: [{ id: 'a1', role: 'assistant', spans: [{ source: 'slm', text: 'So far', tokens: 1 }] }],
    });
    assert.equal(await stop.isDisabled(), false);
  });

  it('while a provider test keeps Relay busy, Send and Stop say it is the test (no answer to stop), on a busy message and at a reload', async () => {
    await deliver({ type: 'init', view: 'chat', busy: false, turns: [] });
    await deliver({ type: 'busy', busy: true, own: false, testingProvider: true });
    const stop = webview().page.locator('.relay-toolbar button', { hasText: 'Stop' });
    assert.equal(await stop.getAttribute('aria-disabled'), 'true');
    assert.match((await stop.getAttribute('title')) ?? '', /testing the provider, not writing an answer: .*cancel it in its notification/);
    const input = webview().page.locator('#chat-input');
    await input.fill('next question');
    await input.press('Enter');
    const alert = webview().page.locator('#chat-input-error [role=alert]');
    assert.equal(await alert.innerText(), 'Relay is testing the provider ("Relay: Test Provider"): send this when the test ends.');
    // The test ends and an answer in another view begins: that is what Send and Stop speak of.
    await deliver({ type: 'busy', busy: false }, { type: 'busy', busy: true, own: false });
    assert.match((await stop.getAttribute('title')) ?? '', /not this view's/);
    await input.press('Enter');
    assert.equal(await alert.innerText(), 'Relay is still answering in another view: send this when it ends.');
    await deliver({ type: 'init', view: 'chat', busy: true, testingProvider: true, turns: [] });
    assert.match((await stop.getAttribute('title')) ?? '', /testing the provider/);
  });

  it('removes the turns the host removed (Retry on an earlier chat answer), and the new answer follows', async () => {
    const turn = (id: string, role: string, text: string) => ({
      id,
      role,
      spans: [{ source: 'slm', text, tokens: 1 }],
      ...(role === 'assistant' ? { stats: STATS } : {}),
    });
    await deliver({
      type: 'init',
      view: 'chat',
      busy: false,
      turns: [turn('u1', 'user', 'Q1'), turn('a1', 'assistant', 'A1'), turn('u2', 'user', 'Q2'), turn('a2', 'assistant', 'A2')],
    });
    await deliver(
      { type: 'turns-removed', turnIds: ['a1', 'u2', 'a2', 'unknown'] },
      { type: 'turn-start', turn: { id: 'a3', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a3', source: 'slm', text: 'A1 again', tokens: 2 },
      { type: 'span', turnId: 'a2', source: 'slm', text: ' LATE', tokens: 1 },
      { type: 'turn-done', turnId: 'a3', stats: STATS },
    );
    assert.deepEqual(await texts('article .relay-body'), ['Q1', 'A1 again']);
  });

  it('tells the host the draft once the user pauses writing, while idle only (what was written meanwhile once the answer ends), and not what was sent', async () => {
    await deliver({ type: 'init', view: 'chat', busy: false, turns: [] });
    /**
     * Types `text` a key at a time within one task of the page, then presses Enter if asked: a
     * burst with no pause in it however busy the machine (keystrokes sent one by one from here
     * could be 400 ms apart, the pause that sends a draft).
     */
    const typeBurst = (text: string, enter = false) =>
      webview().page.evaluate(
        ({ text, enter }) => {
          const input = document.querySelector('#chat-input') as HTMLTextAreaElement;
          for (const key of text) {
            input.value += key;
            input.dispatchEvent(new Event('input', { bubbles: true }));
          }
          if (enter) input.dispatchEvent(new KeyboardEvent('keydown', { key: 'Enter', bubbles: true, cancelable: true }));
        },
        { text, enter },
      );
    await typeBurst('What is 2');
    const drafts = async () => (await webview().posted()).filter((m) => (m as { type?: string }).type === 'draft');
    /**
     * Waits in the page for a timer set now, longer than the app's draft pause (400 ms): a page runs
     * its timers in the order they fall due, so a draft timer armed before it has run by then (or
     * was cleared), however slow the machine. A wait timed here instead could end first and prove nothing.
     */
    const pastDraftPause = () => webview().page.evaluate(() => new Promise<void>((resolve) => setTimeout(resolve, 500)));
    await pastDraftPause();
    assert.deepEqual(await drafts(), [{ type: 'draft', text: 'What is 2' }], 'one draft for the burst of typing');
    // While an answer is written nothing is read ahead: no draft.
    await deliver({ type: 'busy', busy: true });
    await typeBurst('+3?');
    await pastDraftPause();
    assert.equal((await drafts()).length, 1);
    // The answer ends: what was written meanwhile is told after the pause.
    await deliver({ type: 'busy', busy: false });
    await pastDraftPause();
    assert.deepEqual((await drafts()).slice(1), [{ type: 'draft', text: 'What is 2+3?' }]);
    // Send right after typing: the pending draft is dropped, the message sent.
    await typeBurst(' ', true);
    await pastDraftPause();
    assert.equal((await drafts()).length, 2);
    assert.deepEqual((await webview().posted()).slice(-1), [{ type: 'send', text: 'What is 2+3? ' }]);
  });

  it("shows how long the large model's server has been silent, hides it when text comes, and says why an answer stopped early", async () => {
    await deliver(
      { type: 'init', view: 'chat', busy: true, turns: [] },
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'The answer ', tokens: 2 },
      { type: 'waiting', turnId: 'a1', host: 'api.example.com', waitedMs: 12_400 },
    );
    const waiting = webview().page.locator('article .relay-waiting');
    assert.equal(await waiting.innerText(), 'Waiting for api.example.com… 12 s');
    await deliver({ type: 'waiting', turnId: 'a1', host: 'api.example.com', waitedMs: 61_000, retrying: 'no response for 60 s' });
    assert.equal(await waiting.innerText(), 'Waiting for api.example.com… 61 s (trying again after: no response for 60 s)');
    await deliver({ type: 'span', turnId: 'a1', source: 'llm', text: 'is', tokens: 1, model: 'm' });
    assert.equal(await waiting.isVisible(), false, 'text came: the wait line goes');
    // A pro model whose response began: the line says it reasons, until its text comes.
    await deliver({ type: 'waiting', turnId: 'a1', host: 'api.openai.com', waitedMs: 45_300, reasoningModel: 'gpt-5-pro' });
    assert.equal(await waiting.innerText(), 'api.openai.com: gpt-5-pro is reasoning… 45 s (it can take minutes)');
    await deliver({ type: 'waiting', turnId: 'a1', host: 'api.openai.com', waitedMs: null });
    assert.equal(await waiting.isVisible(), false, 'its text came: the line goes');
    await deliver({ type: 'turn-done', turnId: 'a1', stats: { ...STATS, finishReason: 'call_limit' } });
    assert.match(
      await webview().page.locator('article .relay-finish-note').innerText(),
      /most large-model calls for one answer \(relay\.maxLlmCallsPerAnswer \(CLI: --max-calls\)\)/,
    );
  });

  it('says what relay.maxCostRatio would have let a call through, on each skipped call and under an answer with none', async () => {
    await deliver(
      { type: 'init', view: 'answer', busy: true, turns: [] },
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'The answer ', tokens: 2 },
      { type: 'call-declined', turnId: 'a1', predictedUsd: 0.004, allowanceUsd: 0.0012, ratioNeeded: 0.6213 },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'is 5.', tokens: 2 },
      { type: 'turn-done', turnId: 'a1', stats: { ...STATS, llmTokens: 0, calls: 0, declinedCalls: 1, leastRatioToCall: 0.6213 } },
    );
    assert.match((await webview().page.locator('article .relay-declined').getAttribute('title')) ?? '', /under relay\.maxCostRatio; it needed 0\.63\)$/);
    assert.match(
      await webview().page.locator('article .relay-skipped-note').innerText(),
      /^No call to the large model\. The one call this answer wanted .* The cheapest needed 0\.63: raise the setting to that or more/,
    );
    // An answer the large model helped with shows no such note.
    await deliver(
      { type: 'turn-start', turn: { id: 'a2', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a2', source: 'llm', text: 'Yes.', tokens: 1, model: 'm' },
      { type: 'turn-done', turnId: 'a2', stats: { ...STATS, declinedCalls: 1, leastRatioToCall: 0.7 } },
    );
    assert.equal(await webview().page.locator('article .relay-skipped-note').count(), 1);
  });

  it('names relay.maxCostPerAnswerUsd under an answer whose calls that ceiling skipped, alone or beside relay.maxCostRatio', async () => {
    await deliver(
      { type: 'init', view: 'answer', busy: true, turns: [] },
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'The answer.', tokens: 3 },
      { type: 'turn-done', turnId: 'a1', stats: { ...STATS, llmTokens: 0, calls: 0, declinedCalls: 2, declinedByUsdCeiling: 2 } },
      { type: 'turn-start', turn: { id: 'a2', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a2', source: 'slm', text: 'The answer.', tokens: 3 },
      { type: 'turn-done', turnId: 'a2', stats: { ...STATS, llmTokens: 0, calls: 0, declinedCalls: 3, declinedByUsdCeiling: 2, leastRatioToCall: 0.9 } },
    );
    const notes = await webview().page.locator('article .relay-skipped-note').allInnerTexts();
    assert.equal(notes.length, 2, JSON.stringify(notes));
    assert.match(notes[0], /^No call to the large model\. Each of the 2 calls this answer wanted would have cost more than relay\.maxCostPerAnswerUsd/);
    assert.match(
      notes[1],
      /^No call to the large model\. Of the 3 calls this answer wanted, 2 would have cost more than relay\.maxCostPerAnswerUsd .* That call needed 0\.90: raise relay\.maxCostRatio/,
    );
  });

  it('says which model the answer waits on while it loads, with the seconds, and hides the line at the first text or reading', async () => {
    await deliver(
      { type: 'init', view: 'chat', busy: true, turns: [] },
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'loading', turnId: 'a1', model: 'small', name: 'Qwen3-0.6B', waitedMs: 0 },
    );
    const line = webview().page.locator('article .relay-waiting');
    assert.equal(await line.innerText(), 'Loading the small model (Qwen3-0.6B)… 0 s');
    await deliver({ type: 'loading', turnId: 'a1', model: 'small', name: 'Qwen3-0.6B', waitedMs: 12_400 });
    assert.equal(await line.innerText(), 'Loading the small model (Qwen3-0.6B)… 12 s');
    await deliver({ type: 'span', turnId: 'a1', source: 'slm', text: 'The answer ', tokens: 2 });
    assert.equal(await line.isVisible(), false, 'text came: the line goes');
    // A restart of its process, then the prompt read: the reading line takes its place.
    await deliver(
      { type: 'turn-start', turn: { id: 'a2', role: 'assistant', spans: [] } },
      { type: 'loading', turnId: 'a2', model: 'small', name: 'Qwen3-0.6B', restarting: true, waitedMs: 3_000 },
    );
    const second = webview().page.locator('article').nth(1).locator('.relay-waiting');
    assert.equal(await second.innerText(), 'Restarting the small model (Qwen3-0.6B)… 3 s');
    await deliver({ type: 'reading', turnId: 'a2', done: 1092, total: 2730, reusedTokens: 0 });
    assert.equal(await second.innerText(), 'Reading 2,730 tokens of context… 40%');
    // The demo's large model: the wait ends (null) before anything is written, and the line goes.
    await deliver(
      { type: 'turn-start', turn: { id: 'a3', role: 'assistant', spans: [] } },
      { type: 'loading', turnId: 'a3', model: 'large', name: 'relay-demo-llm', waitedMs: 2_000 },
    );
    const third = webview().page.locator('article').nth(2).locator('.relay-waiting');
    assert.equal(await third.innerText(), 'Loading the large model (relay-demo-llm)… 2 s');
    await deliver({ type: 'loading', turnId: 'a3', model: 'large', name: 'relay-demo-llm', waitedMs: null });
    assert.equal(await third.isVisible(), false);
  });

  it('shows how far the small model has read a long prompt, and hides the line once it is read', async () => {
    await deliver(
      { type: 'init', view: 'answer', busy: true, turns: [] },
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'reading', turnId: 'a1', done: 1092, total: 2730, reusedTokens: 0 },
    );
    const line = webview().page.locator('article .relay-waiting');
    assert.equal(await line.innerText(), 'Reading 2,730 tokens of context… 40%');
    await deliver({ type: 'reading', turnId: 'a1', done: 2048, total: 2730, reusedTokens: 0 });
    assert.equal(await line.innerText(), 'Reading 2,730 tokens of context… 75%');
    await deliver({ type: 'reading', turnId: 'a1', done: 2730, total: 2730, reusedTokens: 0 });
    assert.equal(await line.isVisible(), false, 'read: the line goes');
    // A large model on this machine (provider onnx-local) reading before its span says so.
    await deliver({ type: 'reading', turnId: 'a1', done: 512, total: 4096, reusedTokens: 0, reader: 'large' });
    assert.equal(await line.innerText(), 'The large model is reading 4,096 tokens of context… 12%');
  });

  it('opened or reloaded mid-answer, goes on streaming the answer the host is writing; an unfinished answer of an idle host is shown as it is', async () => {
    const turns = [
      { id: 'u1', role: 'user', spans: [{ source: 'slm', text: 'q', tokens: 0 }] },
      {
        id: 'a1',
        role: 'assistant',
        spans: [
          { source: 'slm', text: 'First half. ', tokens: 3 },
          { source: 'llm', text: 'LLM part', tokens: 2, model: 'm' },
        ],
      },
    ];
    await deliver(
      { type: 'init', view: 'chat', busy: true, runningTurnId: 'a1', turns },
      { type: 'span', turnId: 'a1', source: 'llm', text: ' goes on', tokens: 2, model: 'm' },
      { type: 'span', turnId: 'a1', source: 'slm', text: '. SECOND HALF', tokens: 2 },
    );
    assert.equal(await webview().page.locator('article.relay-streaming').count(), 1, 'the answer is still being written');
    assert.equal(await webview().page.locator('article .relay-actions').count(), 0);
    await deliver({ type: 'turn-done', turnId: 'a1', stats: STATS });
    assert.deepEqual(await texts('article .relay-body'), ['q', 'First half. LLM part goes on. SECOND HALF']);
    assert.deepEqual(await texts('article .relay-llm'), ['LLM part goes on']);
    assert.equal(await webview().page.locator('article .relay-stats').count(), 1);
    assert.equal(await webview().page.locator('article.relay-streaming').count(), 0);

    // The host names the turn it writes, wherever it is: a turn after it (an error an older
    // version added) is shown as it is, and the running one streams on.
    await deliver(
      {
        type: 'init',
        view: 'answer',
        busy: true,
        runningTurnId: 'a1',
        turns: [...turns, { id: 'a9', role: 'assistant', spans: [], error: { message: 'Relay is already writing an answer.' } }],
      },
      { type: 'span', turnId: 'a1', source: 'slm', text: ' and more.', tokens: 2 },
      { type: 'turn-done', turnId: 'a1', stats: STATS },
    );
    assert.deepEqual(await texts('article .relay-body'), ['q', 'First half. LLM part and more.', '']);
    assert.equal(await webview().page.locator('article').nth(1).locator('.relay-stats').count(), 1, 'the running answer finished with its stats');
    assert.equal(await webview().page.locator('article').nth(2).locator('.relay-error').innerText(), 'Relay is already writing an answer.');

    // The host is not writing it (busy for the other view's answer, or idle): shown as it is, nothing appends.
    for (const busy of [false, true]) {
      const ended = busy ? [...turns, { id: 'a2', role: 'assistant', spans: [{ source: 'slm', text: 'Done.', tokens: 1 }], stats: STATS }] : turns;
      await deliver({ type: 'init', view: 'chat', busy, turns: ended }, { type: 'span', turnId: 'a1', source: 'slm', text: ' LATE', tokens: 1 });
      assert.equal(await webview().page.locator('article.relay-streaming').count(), 0, `busy: ${busy}`);
      assert.equal((await texts('article .relay-body'))[1], 'First half. LLM part', `busy: ${busy}`);
    }
  });

  it('keeps a message over the length limit in the input, unsent, and says why; a shorter one sends and clears the note', async () => {
    await deliver({ type: 'init', view: 'chat', busy: false, turns: [] });
    const input = webview().page.locator('#chat-input');
    const long = 'x'.repeat(100_001);
    await input.fill(long);
    await input.press('Enter');
    assert.equal((await input.inputValue()).length, 100_001, 'the text stays');
    assert.deepEqual(
      (await webview().posted()).filter((m) => (m as { type?: string }).type === 'send'),
      [],
    );
    assert.equal(
      await webview().page.locator('.relay-composer [role="alert"]').innerText(),
      'Not sent: this message is 100,001 characters long, and Relay takes at most 100,000. Shorten it, then send it again.',
    );
    assert.equal(await input.getAttribute('aria-invalid'), 'true');
    assert.equal(await webview().page.evaluate(() => (window as any).acquireVsCodeApi().getState()?.draft?.length), 100_001, 'and so does the draft');

    await input.press('Backspace');
    assert.equal(await webview().page.locator('.relay-composer [role="alert"]').count(), 0, 'back under the limit: the note goes');
    await input.press('Enter');
    assert.equal(await input.inputValue(), '');
    assert.deepEqual((await webview().posted()).slice(-1), [{ type: 'send', text: 'x'.repeat(100_000) }]);
  });

  it('shows the text of a span whose model name or host is over 200 characters, the name cut in its hover', async () => {
    await deliver(
      { type: 'init', view: 'answer', busy: true, turns: [] },
      { type: 'turn-start', turn: { id: 'a1', role: 'assistant', spans: [] } },
      { type: 'span', turnId: 'a1', source: 'slm', text: 'kept ', tokens: 1 },
      { type: 'span', turnId: 'a1', source: 'llm', text: 'ALSO KEPT', tokens: 1, model: 'm'.repeat(201), host: 'h'.repeat(300) },
      { type: 'turn-done', turnId: 'a1', stats: STATS },
    );
    assert.equal(await webview().page.locator('article .relay-body').innerText(), 'kept ALSO KEPT');
    const title = (await webview().page.locator('article .relay-llm').getAttribute('title')) ?? '';
    assert.ok(title.includes(`${'m'.repeat(199)}…`) && !title.includes('m'.repeat(200)), title);
  });

  it('an init whose set-up warning is very long (a settings error quoting a pasted command) still shows its turns, and the banner clipped', async () => {
    const warning = `Setting relay.provider.baseUrl: "curl ${'q'.repeat(2450)}" is not a URL. Set it in Settings.`;
    assert.ok(warning.length > 2500);
    const turn = { id: 'u1', role: 'user', spans: [{ source: 'slm', text: 'earlier question', tokens: 0 }] };
    await deliver({ type: 'init', view: 'chat', busy: false, turns: [turn], setupWarning: warning });
    assert.deepEqual(await texts('article .relay-body'), ['earlier question'], 'the saved turns are shown');
    const banner = await webview().page.locator('.relay-banner').innerText();
    assert.match(banner, /^Setting relay\.provider\.baseUrl: "curl q+…q+" is not a URL\. Set it in Settings\./);
    assert.ok(banner.length < 2100, `clipped: ${banner.length} characters`);
    // A 'setup' that long replaces the banner, clipped too.
    await deliver({ type: 'setup', setupWarning: `No API key: ${'k'.repeat(3000)} run "Relay: Set API Key".` });
    assert.match(await webview().page.locator('.relay-banner').innerText(), /^No API key: k+…k+ run "Relay: Set API Key"\./);
  });

  it('shows a setup warning with its fixes', async () => {
    await deliver({ type: 'init', view: 'chat', busy: false, turns: [], setupWarning: 'No API key for anthropic: run "Relay: Set API Key".' });
    assert.match(await webview().page.locator('.relay-banner').innerText(), /No API key for anthropic/);
    await webview().page.locator('.relay-banner button', { hasText: 'Open Settings' }).click();
    assert.deepEqual((await webview().posted()).slice(-1), [{ type: 'fix', action: 'open-settings' }]);
    // Nothing set up yet: the demo, which needs none, is one click away from the chat too.
    await webview().page.locator('.relay-banner button', { hasText: 'Try the Demo' }).click();
    assert.deepEqual((await webview().posted()).slice(-1), [{ type: 'fix', action: 'try-demo' }]);
    assert.match(await webview().page.locator('.relay-empty-hint').innerText(), /"Relay: Try the Demo" shows the idea with no set-up/);
  });
});
