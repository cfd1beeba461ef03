// What a model or server writes reaches the terminal without its control sequences: an
// answer or an error body must not set the clipboard (OSC 52), the window title, move the
// cursor or recolour the terminal. Relay's own colouring stays.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { slmTraining, toCsv } from '../../../src/cli/commands/evaluate';
import { printProviderTest } from '../../../src/cli/commands/providerTest';
import { printableJson, streamRenderer, terminalSafe, waitLines } from '../../../src/cli/render';
import { ProviderError } from '../../../src/core/providers/errors';
import type { ContinueRequest, LlmProvider, ProviderChunk } from '../../../src/core/providers/types';
import type { AnswerStats } from '../../../src/core/relay/events';

const ESC = '\u001b';
const BEL = '\u0007';
const CLIPBOARD = `${ESC}]52;c;cm0gLXJmIH4K${BEL}`;
const TITLE = `${ESC}]0;pwned${ESC}\\`;
const CURSOR_UP = `${ESC}[2A`;
const C1_CSI_CLEAR = '\u009b2J';
const C1_OSC_TITLE = '\u009d0;pwned\u009c';
const DCS = `${ESC}Pq#0;2;0;0;0${ESC}\\`;

/** Every control character but newline and tab: none may reach the terminal from model or server text. */
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/;

test('terminalSafe removes bidi overrides and isolates, which show text in another order than it is; right-to-left text and its marks stay', () => {
  assert.equal(terminalSafe('if (user !== "admin\u202e \u2066// check later\u2069 \u2066") {'), 'if (user !== "admin // check later ") {');
  assert.equal(terminalSafe('שלום עולם \u200f(hello)'), 'שלום עולם \u200f(hello)');
});

test('terminalSafe removes OSC, CSI, DCS and C1 sequences and stray controls, keeps text, newlines and tabs', () => {
  assert.equal(terminalSafe(`a${CLIPBOARD}b${TITLE}c`), 'abc');
  assert.equal(terminalSafe(`x${CURSOR_UP}y${C1_CSI_CLEAR}z`), 'xyz');
  assert.equal(terminalSafe(`1${C1_OSC_TITLE}2${DCS}3`), '123');
  assert.equal(terminalSafe(`red ${ESC}[31mtext${ESC}[0m, reset ${ESC}c`), 'red text, reset ');
  assert.equal(terminalSafe('line\r\nnext\tcol\u0000\u0008\u007f'), 'line\nnext\tcol');
  // A sequence cut at the end of a streamed chunk, and one whose terminator never comes before the line ends.
  assert.equal(terminalSafe(`ok ${ESC}]52;c;cm0g`), 'ok ');
  assert.equal(terminalSafe(`${ESC}]0;title\nrest`), '\nrest');
  assert.equal(terminalSafe(`half ${ESC}[`), 'half ');
  assert.equal(terminalSafe(`lone ${ESC}`), 'lone ');
  // Ordinary text, including non-ASCII and private-use characters, is untouched.
  const plain = 'Größe ½ → 日本 \u00a0 $x$ [a](b) \uE000';
  assert.equal(terminalSafe(plain), plain);
  // Whatever the split into chunks, no control character survives.
  const hostile = `${CLIPBOARD}${TITLE}${CURSOR_UP}${C1_CSI_CLEAR}${C1_OSC_TITLE}${DCS}`;
  for (let cut = 0; cut <= hostile.length; cut++) {
    const printed = terminalSafe(hostile.slice(0, cut)) + terminalSafe(hostile.slice(cut));
    assert.doesNotMatch(printed, CONTROL, `cut at ${cut}`);
  }
});

test('streamed spans (SLM and LLM) and error messages print without control sequences; Relay keeps its colour', () => {
  for (const colour of [true, false]) {
    let out = '';
    const render = streamRenderer({ write: (text) => void (out += text), isTTY: colour }, colour);
    render({ type: 'span', source: 'slm', text: `The sum ${CLIPBOARD}is `, tokens: 2 });
    render({ type: 'span', source: 'llm', text: `five${TITLE}${C1_CSI_CLEAR}`, tokens: 1 });
    render({ type: 'error', code: 'server', message: `HTTP 500: ${ESC}]0;gotcha${BEL}oops${CURSOR_UP}` });
    const expected = colour
      ? `The sum is ${ESC}[36mfive${ESC}[0m\n${ESC}[31merror (server): HTTP 500: oops${ESC}[0m`
      : 'The sum is five\nerror (server): HTTP 500: oops';
    assert.equal(out, expected, `colour ${colour}`);
  }
});

test('wait lines quote a retry reason without its control sequences', () => {
  const lines: string[] = [];
  waitLines('api.example.com', (line) => lines.push(line))({ waitedMs: 2000, state: 'retrying', note: `HTTP 503 ${TITLE}busy` });
  assert.deepEqual(lines, ['api.example.com: HTTP 503 busy; trying again (2 s so far)']);
});

function scriptedProvider(chunks: ProviderChunk[], failure?: Error): LlmProvider {
  return {
    kind: 'openai-chat',
    model: 'test-model',
    host: 'server.test',
    continuation: 'assistant-prefix',
    async *continue(_request: ContinueRequest) {
      for (const chunk of chunks) yield chunk;
      if (failure) throw failure;
    },
  };
}

/** What `relay provider test` prints to stdout, line by line (stderr is checked with the wait lines above). */
async function printedProviderTest(provider: LlmProvider): Promise<{ ok: boolean; lines: string[] }> {
  let out = '';
  const stdout = { isTTY: false, write: (text: string) => void (out += text) };
  const stderr = { isTTY: false, write: () => undefined };
  const ok = await printProviderTest(provider, null, { stdout, stderr });
  return { ok, lines: out.split('\n').slice(0, -1) };
}

test('relay provider test prints the continuation and server messages without control sequences', async () => {
  const usage = { inputTokens: 5, outputTokens: 3, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  const { ok, lines } = await printedProviderTest(
    scriptedProvider([
      { type: 'text', text: ` 4,${CLIPBOARD} 5,${C1_OSC_TITLE}` },
      { type: 'usage', usage },
      { type: 'done', finishReason: 'stop' },
    ]),
  );
  assert.equal(ok, true, lines.join('\n'));
  for (const line of lines) assert.doesNotMatch(line, CONTROL, line);
  assert.ok(
    lines.some((line) => line.includes('" 4,')),
    lines.join('\n'),
  );

  const error = new ProviderError('server', `HTTP 500: ${TITLE}${ESC}]52;c;ZWNobyBoaQ==${BEL}down`);
  const { ok: passed, lines: failed } = await printedProviderTest(scriptedProvider([], error));
  assert.equal(passed, false);
  assert.ok(
    failed.some((line) => line.includes('HTTP 500: down')),
    failed.join('\n'),
  );
  for (const line of failed) assert.doesNotMatch(line, CONTROL, line);

  const { lines: plainFailure } = await printedProviderTest(scriptedProvider([], new Error(`socket closed ${CURSOR_UP}`)));
  assert.deepEqual(plainFailure.slice(1), ['FAILED: socket closed ']);
});

test('printable JSON escapes C1 controls (JSON.stringify leaves them raw) and keeps the data', () => {
  const answer = `five${C1_CSI_CLEAR}${C1_OSC_TITLE}${CLIPBOARD}`;
  for (const indent of [undefined, 2]) {
    const json = printableJson({ answer }, indent);
    assert.doesNotMatch(json, CONTROL);
    assert.deepEqual(JSON.parse(json), { answer }, 'the answer survives character for character');
  }
});

test("relay eval's CSV holds the models' answers without control sequences", () => {
  const usage = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, cacheWriteTokens: 0, estimated: false };
  const stats: AnswerStats = {
    mode: 'command',
    slmTokens: 3,
    llmTokens: 1,
    llmTokenShare: 0.25,
    calls: 1,
    llmUsage: usage,
    costUsd: null,
    llmOnlyCostUsd: null,
    savedUsd: null,
    elapsedMs: 10,
    finishReason: 'eos',
  };
  const csv = toCsv([{ spec: 'command', index: 0, answer: `42${TITLE}`, reference: '42', predicted: `42${CLIPBOARD}${C1_CSI_CLEAR}`, correct: false, stats }]);
  assert.doesNotMatch(csv, CONTROL);
  assert.match(csv, /^command,command,0,42,42,false,/m);
});

test("relay eval's table names a model folder's training without the control sequences its config.json may hold", () => {
  const folder = mkdtempSync(join(tmpdir(), 'relay-training-'));
  try {
    writeFileSync(join(folder, 'config.json'), JSON.stringify({ relay_training: `stage 2${TITLE}${C1_CSI_CLEAR} (distilled)` }));
    assert.equal(slmTraining(folder), 'stage 2 (distilled)');
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});
