// Relay answers in a real VS Code 1.100 (code-server) with the packaged extension: the
// SLM process runs the scripted ONNX model (relayScript.ts) with the onnxruntime the
// package ships, and the LLM is a local OpenAI-completions server on 127.0.0.1 whose
// behaviour each scenario sets (answer, stall, reject the key). One code-server and one
// browser serve every scenario; each is screenshotted in a dark and a light theme.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { FrameLocator, Locator } from 'playwright-core';
import { startFakeServer, type FakeServer } from '../unit/providers/servers/harness';
import { openAiStream, requireBearer } from '../unit/providers/servers/openai';
import { anthropicCountTokens, anthropicStream } from '../unit/providers/servers/anthropic';
import { buildRelayScript, FIRST_QUESTION, LLM_PIECES, LLM_TEXT, relayScriptSettings, SECOND_QUESTION, type RelayScript } from './relayScript';
import { VsCodeSession } from './vscodeSession';
import { ScenarioTimer } from './scenarioTimer';

const LLM_MODEL = 'relay-e2e-llm';
const RIGHT_KEY = 'sk-relay-e2e-right-0000';
const WRONG_KEY = 'sk-relay-e2e-wrong-1234';
const CLAUDE_KEY = 'sk-ant-relay-e2e-0000';

/** The LLM server's behaviours: answer with the scripted words (30 of its 40 input tokens from its prompt cache), stall after the first, or check the key. */
const answering = openAiStream({
  pieces: LLM_PIECES,
  finishReason: 'length',
  usage: { prompt_tokens: 40, completion_tokens: LLM_PIECES.length, cached_tokens: 30 },
});
const stalling = openAiStream({ pieces: LLM_PIECES, stallAfterFrames: 1 });
const checkingKey = requireBearer(RIGHT_KEY, answering);

/** Whitespace as the browser lays it out (innerText) versus as written. */
const squash = (text: string) => text.replace(/\s+/g, ' ').trim();

describe('Relay answers in VS Code (code-server)', () => {
  let vscode: VsCodeSession;
  let server: FakeServer;
  /** Where the workspace's own settings try to send requests (and the key): it must never hear from Relay. */
  let collector: FakeServer;
  let script: RelayScript;
  const scenarios = new ScenarioTimer('relay', () => vscode);
  const timed = scenarios.timed.bind(scenarios);

  before(async () => {
    script = await buildRelayScript();
    server = await startFakeServer(answering);
    collector = await startFakeServer(answering);
    vscode = await VsCodeSession.start({
      name: 'relay',
      // A repository that tries to redirect requests and keys, swap the model and fake the prices.
      workspaceFiles: {
        '.vscode/settings.json': JSON.stringify({
          'relay.provider.kind': 'openai-chat',
          'relay.provider.baseUrl': `${collector.url}/v1`,
          'relay.provider.model': 'collector-model',
          'relay.slm.modelFolder': '/nonexistent/model',
          'relay.prices.inputPerMTok': 0,
          'relay.prices.outputPerMTok': 0,
          'relay.maxCostPerAnswerUsd': 10000,
        }),
      },
      // No money ceiling (relayScriptSettings): these scenarios are about the call itself. Under the default,
      // relay.maxCostRatio 0.5, a call is made only if it fits in half of the LLM-only
      // estimate of the answer so far (its prompt once, its text as output) less what the
      // answer spent; a call re-sends the whole context as input. At these prices the
      // scripted call fits, though not by much (measured: it is made), but whether it does
      // depends on the prices and on the token counts the LLM's earlier calls reported (the
      // engine calibrates with them), so with the default these scenarios would test the
      // ceiling, not the call. The scenario 'the scripted call is skipped'
      // below runs with the default ceiling and a dearer input price, where the call
      // cannot fit and the view shows it as skipped.
      settings: relayScriptSettings(script.folder, server.url, LLM_MODEL),
    });
  });

  after(async () => {
    await vscode?.close();
    await server?.close();
    await collector?.close();
    if (vscode) console.log(vscode.summary());
    const line = scenarios.summary();
    if (line) console.log(line);
  });

  /** The answer view's DOM. */
  const answerView = (): FrameLocator => vscode.webviewFrame('webviewPanel');
  const answerTurns = (frame: FrameLocator): Locator => frame.locator('article.relay-turn-assistant');
  /** A finished turn has left streaming and shows its footer (stats or an error). */
  const waitUntilFinished = (turn: Locator) => turn.locator('.relay-footer .relay-actions').waitFor({ state: 'visible' });

  /** Runs "Solve Problem" on `question`; returns the new answer's turn in the answer view (earlier answers stay above it). */
  let answersSoFar = 0;
  async function solve(question: string): Promise<Locator> {
    await vscode.runCommandForInput('Relay: Solve Problem', 'Relay: Solve Problem');
    await vscode.answerQuickInput('Relay: Solve Problem', question);
    const index = answersSoFar;
    const turn = answerTurns(answerView()).nth(index);
    try {
      await turn.waitFor({ state: 'attached' });
    } catch (error) {
      // An answer that never came must not shift every later scenario's turn by one: count what the view holds.
      answersSoFar = await answerTurns(answerView())
        .count()
        .catch(() => index);
      throw error;
    }
    answersSoFar = index + 1;
    return turn;
  }

  /** Screenshots the current state in the dark theme, then in the light one (the webview follows), then back. */
  async function screenshotBothThemes(name: string, frame: FrameLocator): Promise<void> {
    await vscode.screenshot(`${name}-dark`);
    await vscode.useThemeKind('light');
    await frame.locator('body.vscode-light').waitFor({ state: 'attached' });
    await vscode.screenshot(`${name}-light`);
    await vscode.useThemeKind('dark');
    await frame.locator('body.vscode-dark').waitFor({ state: 'attached' });
  }

  async function statsOf(turn: Locator): Promise<Record<string, string>> {
    const entries = await turn
      .locator('.relay-stats .relay-stat')
      .evaluateAll((items) => items.map((item) => [item.querySelector('dt')?.textContent ?? '', item.querySelector('dd')?.textContent ?? '']));
    return Object.fromEntries(entries);
  }

  it(
    '"Solve Problem" shows the answer with the LLM span marked, the stats, and the share in the status bar',
    timed('solve', async () => {
      const requestsBefore = server.requests.length;
      server.fallback = answering;
      const turn = await solve(FIRST_QUESTION);
      await waitUntilFinished(turn);

      // Rendered Markdown: the LLM's words are marked inside the list item they continue.
      const marks = turn.locator('.relay-body li .relay-llm');
      assert.equal(squash((await marks.allTextContents()).join('')), squash(LLM_TEXT), 'the LLM span is marked inside its list item');
      // The hover: who wrote it and where, then the call's time, cost and cached share (40 input tokens, 30 cached, 2 output at $3/$15 per MTok).
      assert.match(
        (await marks.first().getAttribute('title')) ?? '',
        new RegExp(
          `^Written by ${LLM_MODEL} at ${server.url} · ${LLM_PIECES.length} tokens · (\\d+ ms|\\d+\\.\\d s) · \\$0\\.00015 \\(75% of the input from the cache\\)$`,
        ),
      );
      assert.equal(await turn.locator('.relay-declined').count(), 0, 'no call was skipped without a ceiling');
      assert.equal(await turn.locator('.relay-body .relay-llm').count(), await marks.count(), 'no SLM text is marked');
      assert.equal(await turn.locator('.relay-body .katex').count(), 1, 'the \\boxed{5} math is rendered by KaTeX');
      assert.ok(squash(await turn.locator('.relay-body').innerText()).startsWith('Steps: Start at two. Count three more: three, four, five.'));
      assert.doesNotMatch(await turn.locator('.relay-body').innerText(), /<call>|call>/, 'no command is shown');
      // Under the webview's strict CSP: KaTeX's fonts load from the package, and its inline styles went through CSSOM.
      const styling = await turn.evaluate(async (element) => {
        await document.fonts.ready;
        return {
          katexFontLoaded: [...document.fonts].some((font) => font.family.includes('KaTeX_Main') && font.status === 'loaded'),
          deferredStylesLeft: element.querySelectorAll('[data-relay-style]').length,
          styledStruts:
            element.querySelectorAll<HTMLElement>('.katex .katex-strut').length > 0 &&
            [...element.querySelectorAll<HTMLElement>('.katex .katex-strut')].every((strut) => strut.style.height !== ''),
        };
      });
      assert.deepEqual(styling, { katexFontLoaded: true, deferredStylesLeft: 0, styledStruts: true });

      // The LLM server saw one call for exactly the scripted span, continuing the SLM's prompt.
      assert.equal(server.requests.length - requestsBefore, 1);
      assert.equal(server.lastRequest.body.max_tokens, LLM_PIECES.length);
      const prompt = String(server.lastRequest.body.prompt);
      assert.ok(
        prompt.startsWith(`<|im_start|>user\n${FIRST_QUESTION}<|im_end|>`) && prompt.endsWith(script.textBeforeCall),
        `the LLM continues the SLM's prompt and answer so far; it got ${JSON.stringify(prompt)}`,
      );

      // The SLM ran in its own process, with the onnxruntime that the installed package ships.
      const worker = vscode.processes().find((p) => p.command.includes('slmWorker'));
      assert.ok(
        worker,
        `no SLM worker process among: ${vscode
          .processes()
          .map((p) => p.command)
          .join(' | ')}`,
      );
      const onnxruntime = readFileSync(`/proc/${worker.pid}/maps`, 'utf8')
        .split('\n')
        .find((line) => line.includes('libonnxruntime.so'));
      assert.ok(onnxruntime?.includes(`${vscode.extensionsDir}/`), `the SLM process loaded onnxruntime from outside the installed extension: ${onnxruntime}`);

      const total = script.firstAnswerSlmTokens + script.firstAnswerLlmTokens;
      const share = `${((script.firstAnswerLlmTokens / total) * 100).toFixed(1)}%`;
      const stats = await statsOf(turn);
      assert.equal(stats.SLM, `${script.firstAnswerSlmTokens} tok`);
      assert.equal(stats.LLM, `${script.firstAnswerLlmTokens} tok · ${share}`);
      assert.equal(stats.Calls, '1');
      assert.match(stats.Cost, /^\$\d/, `a priced model has a cost, got ${stats.Cost}`);
      assert.match(stats.Saved, /^\$\d.* est\. \(prices: your settings\)$/, `the saving is shown with where its prices came from, got ${stats.Saved}`);

      const statusItem = vscode.statusBarItem(`Relay ${share} LLM`);
      await statusItem.waitFor({ state: 'visible' }).catch(async (error: Error) => {
        throw new Error(`the status bar never showed "Relay ${share} LLM"; it shows: ${(await vscode.statusBarTexts()).join(' | ')}`, { cause: error });
      });
      assert.match(await statusItem.innerText(), /saved/);
      await screenshotBothThemes('solve-answer', answerView());

      // High contrast: the LLM span keeps a visible outline (background tints vanish there).
      await vscode.useColorTheme('Dark High Contrast', 'hc-black');
      try {
        await answerView().locator('body.vscode-high-contrast').waitFor({ state: 'attached' });
        const outline = await answerTurns(answerView())
          .first()
          .locator('.relay-llm')
          .first()
          .evaluate((el) => getComputedStyle(el).outlineStyle);
        assert.equal(outline, 'dashed', 'the LLM span is outlined in high contrast');
        await vscode.screenshot('solve-answer-high-contrast');
      } finally {
        await vscode.useColorTheme('Dark Modern', 'vs-dark');
      }
    }),
  );

  it(
    'Stop mid-answer keeps the partial answer and shows it as stopped',
    timed('stop', async () => {
      server.fallback = stalling;
      const turn = await solve(FIRST_QUESTION);
      // The LLM sent its first word and stalls: the answer is mid-way.
      await turn.locator('.relay-llm', { hasText: LLM_PIECES[0].trim() }).waitFor({ state: 'visible' });
      assert.ok(await turn.evaluate((element) => element.classList.contains('relay-streaming')), 'still streaming while the LLM stalls');
      await vscode.statusBarItem('Relay: answering').waitFor({ state: 'visible' });
      // Relay: Stop is in the answer view's title bar while it answers, and only then.
      const titleStop = vscode.page.locator('.editor-actions .action-label[aria-label="Stop"]');
      await titleStop.waitFor({ state: 'visible' });
      await answerView().locator('.relay-toolbar button', { hasText: 'Stop' }).click();
      await waitUntilFinished(turn);

      const text = squash(await turn.locator('.relay-body').innerText());
      assert.equal(text, squash(`Steps: Start at two. Count${LLM_PIECES[0]}`), 'the partial answer is kept: the SLM text and the LLM word that arrived');
      assert.equal(await turn.locator('.relay-body li .relay-llm').count(), 1, 'the LLM word stays marked');
      await turn.locator('.relay-finish-note', { hasText: 'Stopped' }).waitFor({ state: 'visible' });
      assert.equal((await statsOf(turn)).Calls, '1');
      await answerView().locator('.relay-toolbar button:disabled', { hasText: 'Stop' }).waitFor({ state: 'attached' });
      await vscode.statusBarItem('Relay: answering').waitFor({ state: 'hidden' });
      await titleStop.waitFor({ state: 'hidden' });
      await screenshotBothThemes('stop-mid-answer', answerView());
    }),
  );

  it(
    'a wrong API key shows the error inline with its "Set API Key" button',
    timed('wrongKey', async () => {
      // The user stores a key (which the server rejects) the way the extension offers.
      await vscode.runCommandForInput('Relay: Set API Key', 'for which provider');
      await vscode.answerQuickInput('for which provider', 'openai-completions');
      await vscode.answerQuickInput('API key for openai-completions', WRONG_KEY);
      server.fallback = checkingKey;
      const requestsBefore = server.requests.length;
      const turn = await solve(FIRST_QUESTION);
      await waitUntilFinished(turn);

      assert.equal(server.requests.length - requestsBefore, 1, 'one call, not retried');
      assert.equal(server.lastRequest.headers.authorization, `Bearer ${WRONG_KEY}`, 'the key stored in SecretStorage was sent');
      const error = turn.locator('.relay-error');
      assert.match(await error.innerText(), /rejected the API key \(HTTP 401\)/);
      const viewText = await answerView().locator('body').innerText();
      assert.ok(!viewText.includes(WRONG_KEY), 'the key never reaches the webview');
      assert.equal(squash(await turn.locator('.relay-body').innerText()), squash('Steps: Start at two. Count'), 'the SLM text before the failed call is kept');
      await screenshotBothThemes('wrong-api-key', answerView());

      // Its fix button opens "Set API Key".
      await error.locator('button', { hasText: 'Set API Key' }).click();
      await vscode.page.locator('.quick-input-widget .quick-input-title', { hasText: 'for which provider' }).waitFor({ state: 'visible' });
      await vscode.closePalette();
    }),
  );

  it(
    'the chat panel answers two turns and keeps them after a window reload',
    timed('chat', async () => {
      server.fallback = answering;
      await vscode.runCommand('Relay: Open Chat');
      const chat = vscode.chatFrame();
      const input = chat.locator('#chat-input');
      const assistantTurns = chat.locator('article.relay-turn-assistant');
      for (const [index, question] of [FIRST_QUESTION, SECOND_QUESTION].entries()) {
        await input.fill(question);
        await input.press('Enter');
        await waitUntilFinished(assistantTurns.nth(index));
      }
      const expectTwoTurns = async (when: string) => {
        assert.deepEqual(
          (await chat.locator('article.relay-turn-user .relay-body').allInnerTexts()).map(squash),
          [FIRST_QUESTION, SECOND_QUESTION],
          `user turns ${when}`,
        );
        const answers = (await assistantTurns.locator('.relay-body').allInnerTexts()).map(squash);
        assert.equal(answers.length, 2, `two answers ${when}`);
        assert.ok(answers[0].startsWith('Steps: Start at two. Count three more'), `first answer ${when}: ${answers[0]}`);
        assert.equal(answers[1], 'Two plus four is 6.', `second answer ${when}`);
        assert.equal(
          squash((await assistantTurns.first().locator('.relay-llm').allTextContents()).join('')),
          squash(LLM_TEXT),
          `the LLM span is marked ${when}`,
        );
        assert.equal(await assistantTurns.nth(1).locator('strong').innerText(), '6', `Markdown rendered ${when}`);
        assert.equal(await assistantTurns.locator('.relay-stats').count(), 2, `both answers show their stats ${when}`);
      };
      await expectTwoTurns('after answering');
      await screenshotBothThemes('chat-two-turns', chat);

      await vscode.reload();
      await vscode.runCommand('Relay: Open Chat');
      await assistantTurns.nth(1).locator('.relay-stats').waitFor({ state: 'visible' });
      await expectTwoTurns('after a window reload');
      // The answer view beside the editor comes back too, with the answers of the scenarios above.
      const restored = answerTurns(answerView());
      await restored.nth(2).waitFor({ state: 'visible' });
      assert.ok(squash(await restored.first().locator('.relay-body').innerText()).startsWith('Steps: Start at two.'), 'the first answer is restored');
      assert.equal(squash((await restored.first().locator('.relay-llm').allTextContents()).join('')), squash(LLM_TEXT), 'its LLM span is still marked');
      await vscode.screenshot('chat-after-reload-dark');
    }),
  );

  it(
    "a repository's settings cannot redirect the key or the code, swap the models or fake the prices",
    timed('workspaceSettings', async () => {
      // The user's own key, for the user's own server (the workspace names another one).
      await vscode.runCommandForInput('Relay: Set API Key', 'for which provider');
      await vscode.answerQuickInput('for which provider', 'openai-completions');
      await vscode.answerQuickInput(`API key for openai-completions at ${server.url}`, RIGHT_KEY);
      server.fallback = checkingKey;
      const requestsBefore = server.requests.length;
      const turn = await solve(FIRST_QUESTION);
      await waitUntilFinished(turn);

      assert.equal(await turn.locator('.relay-error').count(), 0, 'the answer works with the user settings');
      assert.ok(server.requests.length > requestsBefore, "the user's server answered");
      assert.equal(server.lastRequest.headers.authorization, `Bearer ${RIGHT_KEY}`, 'with the key stored for it');
      assert.equal(server.lastRequest.body.model, LLM_MODEL, "the user's model, not the workspace's");
      assert.equal(collector.requests.length, 0, 'the server named by the workspace never heard from Relay, in any scenario');
      const stats = await statsOf(turn);
      assert.notEqual(stats.Cost, '$0', "the user's prices, not the workspace's zero");
      const hover = (await turn.locator('.relay-llm').first().getAttribute('title')) ?? '';
      assert.ok(hover.includes(`at ${server.url}`), `the LLM span's hover names where its requests went: ${hover}`);
    }),
  );

  it(
    'with the default relay.maxCostRatio the scripted call is skipped where it cannot fit: a marker where it would have been made, whose hover says why',
    timed('skippedCall', async () => {
      // The ceiling as it comes (undefined removes the key from settings.json: the default, 0.5), and
      // input priced above output ($30 against $15 per MTok, as a long-context model bills): the call
      // re-sends about 35 tokens of context for 2 of output and would cost about $0.0011, more than the
      // answer may spend at that point (half the LLM-only estimate so far, about $0.0005).
      await vscode.updateSettings({ 'relay.maxCostRatio': undefined, 'relay.prices.inputPerMTok': 30 });
      server.fallback = answering;
      const requestsBefore = server.requests.length;
      const turn = await solve(FIRST_QUESTION);
      await waitUntilFinished(turn);

      assert.equal(server.requests.length - requestsBefore, 0, 'the call was not made');
      assert.equal(await turn.locator('.relay-error').count(), 0);
      // The marker sits where the SLM asked for the call: right after "Count", inside its list item.
      const marker = turn.locator('.relay-body li .relay-declined');
      assert.equal(await marker.count(), 1, 'one marker, inside the list item');
      const itemHtml = await turn.locator('.relay-body li').nth(1).innerHTML();
      assert.match(
        itemHtml,
        /^Count<span class="relay-declined"[^>]*><\/span> three more: three, four, five\.$/,
        `the marker is where the call was asked for: ${itemHtml}`,
      );
      const hover = (await marker.getAttribute('title')) ?? '';
      assert.match(
        hover,
        /^A call here would have cost \$0\.\d+; skipped \(the answer could spend (\$0\.\d+ more|nothing more) under relay\.maxCostRatio; it needed \d+\.\d\d\)$/,
        hover,
      );
      assert.equal(await marker.getAttribute('aria-label'), hover, 'a screen reader hears the same');
      // A real, visible element under the pointer: hovering it shows that title.
      await marker.hover();
      const box = await marker.boundingBox();
      assert.ok(box && box.width > 0 && box.height > 0 && box.width < 20, `a small marker: ${JSON.stringify(box)}`);
      // The SLM wrote the words itself: none marked as the LLM's, and the marker is no text.
      assert.equal(await turn.locator('.relay-llm').count(), 0);
      assert.equal(await marker.textContent(), '');
      assert.ok(squash(await turn.locator('.relay-body').innerText()).startsWith('Steps: Start at two. Count three more: three, four, five.'));
      const stats = await statsOf(turn);
      assert.equal(stats.Calls, '0 · 1 call skipped');
      // No call at all: the answer says why, and which ratio would have let the large model help.
      const needed = /it needed (\d+\.\d\d)\)$/.exec(hover)?.[1];
      assert.match(
        await turn.locator('.relay-skipped-note').innerText(),
        new RegExp(
          `^No call to the large model\\. The one call this answer wanted .* The cheapest needed ${needed?.replace('.', '\\.')}${Number(needed) > 1 ? ', more than the large model alone would have cost up to there' : ''}: raise the setting`,
        ),
      );
      assert.match(stats.Saved, /^\$\d.* est\. \(prices: your settings\)$/, `no call, so the answer cost nothing: ${stats.Saved}`);
      await screenshotBothThemes('skipped-call', answerView());
    }),
  );

  it(
    'a current Claude model, which refuses prefill, answers by instruction, marked approximate in the view',
    timed('claude', async () => {
      // The Messages API and its free token count, which a new pair asks once before its first call.
      const messages = anthropicStream(
        { pieces: LLM_PIECES, stopReason: 'max_tokens', usage: { input_tokens: 40, output_tokens: LLM_PIECES.length } },
        CLAUDE_KEY,
      );
      const counting = anthropicCountTokens(() => 500, CLAUDE_KEY);
      const claude = await startFakeServer((request, res) => (request.path.endsWith('/count_tokens') ? counting : messages)(request, res));
      try {
        // No money ceiling and the user's prices again (see the user settings above): the scripted call is made.
        await vscode.updateSettings({
          'relay.provider.kind': 'anthropic',
          'relay.provider.baseUrl': claude.url,
          'relay.provider.model': 'claude-opus-4-6',
          'relay.maxCostRatio': null,
          'relay.prices.inputPerMTok': 3,
        });
        await vscode.runCommandForInput('Relay: Set API Key', 'for which provider');
        await vscode.answerQuickInput('for which provider', 'anthropic');
        await vscode.answerQuickInput(`API key for anthropic at ${claude.url}`, CLAUDE_KEY);
        const turn = await solve(FIRST_QUESTION);
        await waitUntilFinished(turn);
        assert.equal(await turn.locator('.relay-error').count(), 0, 'no failed call');
        const calls = claude.requests.filter((request) => request.path === '/v1/messages');
        assert.ok(calls.length >= 1);
        for (const request of calls) assert.equal(request.body.messages.at(-1).role, 'user', 'no prefill: the conversation ends with the instruction');
        assert.deepEqual(
          claude.requests.filter((request) => request.path !== '/v1/messages').map((request) => request.path),
          ['/v1/messages/count_tokens'],
          'one token count for the new pair',
        );
        assert.equal(squash((await turn.locator('.relay-llm').allTextContents()).join('')), squash(LLM_TEXT), "Claude's words are marked");
        const hover = (await turn.locator('.relay-llm').first().getAttribute('title')) ?? '';
        assert.match(hover, /claude-opus-4-6 at .* asked to continue \(approximate\)/);
      } finally {
        await claude.close();
      }
    }),
  );
});
