/**
 * The five run-away reproductions of the issue, through the CLI in-process, with the
 * trained demo SLM (real ONNX, a 128-position window) and real HTTP servers on 127.0.0.1:
 * each ends promptly with a named reason, a bounded number of requests, and a message
 * that names the setting or flag that fixes it.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { findDemoModels } from '../../../src/cli/demoModels';
import { writeFrames, type Responder } from '../providers/servers/harness';
import { openAiStream } from '../providers/servers/openai';
import { runCli, withServer } from './runCli';

let work: string;
const SLM = findDemoModels().slmFolder;

before(() => {
  work = mkdtempSync(join(tmpdir(), 'relay-runaway-'));
});
after(() => rmSync(work, { recursive: true, force: true }));

const run = (args: string[], env: Record<string, string> = {}) => runCli(args, work, { env });

const solve = (baseUrl: string, ...extra: string[]) => [
  'solve',
  '47*6+28=?',
  '--plain-prompt',
  '--slm',
  SLM,
  '--temperature',
  '0',
  '--base-url',
  baseUrl,
  '--model',
  'm',
  ...extra,
];

test('1. a chat server whose every continuation the seam cleaner removes: two requests, then llm_no_progress (not 1,236)', async () => {
  // A chat model that greets instead of continuing; the instructed seam cleaner strips it to nothing.
  const greeting = openAiStream({ pieces: ['Sure', '! ', 'Here ', 'is ', 'the ', 'continuation', ':', ' '], finishReason: 'length' });
  await withServer(greeting, async (server) => {
    const result = await run([
      ...solve(`${server.url}/v1`, '--provider', 'openai-chat', '--mode', 'confidence', '--threshold', '0.99', '--span-tokens', '8', '--max-llm-share', '1'),
    ]);
    assert.equal(server.requests.length, 2, result.stdout);
    assert.equal(result.code, 1, 'a server that adds nothing is a failure');
    assert.match(result.stdout, /end: llm_no_progress/);
    assert.match(result.stdout, /added nothing to the answer twice in a row/);
    assert.match(result.stdout, /2 calls/);
  });
});

test('2a. a selection longer than the SLM reads is refused before any call, with the sizes', async () => {
  const file = join(work, 'long.ts');
  writeFileSync(file, Array.from({ length: 200 }, (_, i) => `const line${i} = ${i};`).join('\n'));
  // The demo SLM's files without config.json's relay_task: relay explain refuses a demo model itself.
  const slm = join(work, 'slm-128');
  cpSync(SLM, slm, { recursive: true });
  const { relay_task: _task, ...config } = JSON.parse(readFileSync(join(SLM, 'config.json'), 'utf8'));
  writeFileSync(join(slm, 'config.json'), JSON.stringify(config));
  await withServer(openAiStream({ pieces: ['x'] }), async (server) => {
    const result = await run([
      'explain',
      `${file}:1-200`,
      '--slm',
      slm,
      '--provider',
      'openai-completions',
      '--base-url',
      `${server.url}/v1`,
      '--model',
      'gpt-4o',
      '--mode',
      'confidence',
    ]);
    assert.equal(server.requests.length, 0, 'nothing was sent');
    assert.equal(result.code, 1);
    assert.match(result.stderr, /error \(prompt_too_long\): The prompt is [\d,]+ tokens; the small model reads at most 128/);
  });
});

test('2b. an answer that fills the window ends with context_full, keeping the partial answer, within a few calls', async () => {
  // Every span writes more characters (the demo SLM counts one token each) until the window is full.
  await withServer(openAiStream({ pieces: ['0123456789', '0123456789', '0123456789'], finishReason: 'length' }), async (server) => {
    const result = await run([
      ...solve(
        `${server.url}/v1`,
        '--provider',
        'openai-completions',
        '--mode',
        'confidence',
        '--threshold',
        '0.99',
        '--span-tokens',
        '8',
        '--max-llm-share',
        '1',
        '--budget',
        '6000',
      ),
    ]);
    assert.equal(result.code, 0, result.stdout);
    assert.match(result.stdout, /end: context_full/);
    assert.match(result.stdout, /fill the small model's context window/);
    assert.match(result.stdout, /01234567/, 'the LLM text written so far is kept');
    assert.ok(server.requests.length >= 1 && server.requests.length <= 20, `${server.requests.length} requests`);
  });
});

test('3. a server that accepts and says nothing: the wait is shown, one retry, then a timeout naming the setting and the flag', async () => {
  const silent: Responder = () => undefined; // never sends headers
  await withServer(silent, async (server) => {
    const result = await run([...solve(`${server.url}/v1`, '--provider', 'openai-chat', '--mode', 'llm-only', '--first-byte-timeout', '1.2')]);
    assert.equal(server.requests.length, 2, 'the first try and one retry');
    assert.equal(result.code, 1);
    // An answer's error is on stderr (stdout here is no terminal: it holds the answer alone).
    assert.match(result.stderr, /error \(timeout\)/);
    assert.match(result.stderr, /relay\.provider\.firstByteTimeoutSeconds \(CLI: --first-byte-timeout\)/);
    assert.doesNotMatch(result.stderr, /\d{4,} ms/, 'seconds, not milliseconds');
    // The first tick's line (1 s, later on a busy machine).
    assert.match(result.stderr, new RegExp(`relay: waiting for 127\\.0\\.0\\.1:${new URL(server.url).port}\\.\\.\\. \\d+ s`));
  });
});

test('4. a chat stream cut mid-way after text is never retried (it is billed)', async () => {
  const cut = openAiStream({ pieces: ['Sure, ', 'the ', 'answer ', 'is ', '310 ', 'because'], finishReason: 'length', dropAfterFrames: 4 });
  await withServer(cut, async (server) => {
    const result = await run([...solve(`${server.url}/v1`, '--provider', 'openai-chat', '--mode', 'llm-only')]);
    assert.equal(server.requests.length, 1);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /error \(network\)/);
  });
});

test('5. errors name the fix for the CLI: the key variables on a 401, http:// for a plain-HTTP port', async () => {
  const unauthorized: Responder = (_request, res) => {
    res.writeHead(401, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ error: { message: 'Incorrect API key provided.', type: 'invalid_request_error', code: 'invalid_api_key' } }));
  };
  await withServer(unauthorized, async (server) => {
    const result = await run([...solve(`${server.url}/v1`, '--provider', 'openai-chat', '--mode', 'llm-only')], {
      RELAY_API_KEY: 'sk-test-not-a-real-key-123456',
    });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /RELAY_API_KEY/);
    assert.match(result.stderr, /OPENAI_API_KEY/);
    assert.doesNotMatch(result.stdout + result.stderr, /sk-test-not-a-real-key-123456/);
  });
  // A plain HTTP server reached with https://.
  const plain = http.createServer((_req, res) => res.end('plain'));
  await new Promise<void>((resolve) => plain.listen(0, '127.0.0.1', resolve));
  try {
    const port = (plain.address() as AddressInfo).port;
    const result = await run([...solve(`https://127.0.0.1:${port}/v1`, '--provider', 'openai-completions', '--mode', 'llm-only')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /does not speak TLS/);
    assert.match(result.stderr, new RegExp(`http://127\\.0\\.0\\.1:${port}`));
    assert.match(result.stderr, /--base-url/);
  } finally {
    plain.closeAllConnections();
    await new Promise<void>((resolve) => plain.close(() => resolve()));
  }
});

test('a stream that trickles bytes forever is ended by the call timeout, and the partial answer is kept', async () => {
  const trickle: Responder = async (_request, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const frame = (text: string) => `data: ${JSON.stringify({ choices: [{ index: 0, text, finish_reason: null }] })}\n\n`;
    await writeFrames(
      res,
      Array.from({ length: 400 }, () => frame('')),
      { gapMs: 10 },
    );
  };
  await withServer(trickle, async (server) => {
    const result = await run([...solve(`${server.url}/v1`, '--provider', 'openai-completions', '--mode', 'llm-only', '--call-timeout', '1')]);
    assert.equal(server.requests.length, 1);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /relay\.provider\.callTimeoutSeconds \(CLI: --call-timeout\)/);
  });
});
