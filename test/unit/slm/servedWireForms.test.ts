/**
 * The served wire forms as each server writes them (vLLM's legacy completions logprobs with
 * token_id:N, llama.cpp's chat-form logprobs with ids and timings on every piece, Ollama's
 * NDJSON), and a served session reading a stream that puts several tokens in one piece.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { completionsServerWireForm } from '../../../src/core/slm/served/completionsServer';
import { ollamaWireForm } from '../../../src/core/slm/served/ollamaServer';
import { createServedRuntime } from '../../../src/core/slm/served/servedRuntime';
import { checkServedSlm } from '../../../src/core/slm/served/serverCheck';
import { confidenceOf, shownServerText } from '../../../src/core/slm/served/wireForm';
import { ModelFolderError, readTokenizerFolder } from '../../../src/core/slm/modelFolder';
import { SlmTokenizer } from '../../../src/core/slm/tokenizer';
import { ensureScriptedModel } from '../../fixtures/fixtures';
import { startJsonBodyServer, type JsonBodyServer } from '../../fixtures/servedSlmServers';

test('addresses: a configured /v1 is kept, a bare origin gets it; Ollama its /api paths', () => {
  const c = completionsServerWireForm;
  assert.equal(c.endpoint(new URL('http://h:8000/v1')).href, 'http://h:8000/v1/completions');
  assert.equal(c.endpoint(new URL('http://h:8000/v1/')).href, 'http://h:8000/v1/completions');
  assert.equal(c.endpoint(new URL('http://h:8000')).href, 'http://h:8000/v1/completions');
  assert.equal(c.endpoint(new URL('http://h/proxy/slm/v1')).href, 'http://h/proxy/slm/v1/completions');
  assert.equal(c.modelsEndpoint(new URL('http://h:8000')).href, 'http://h:8000/v1/models');
  assert.equal(ollamaWireForm.endpoint(new URL('http://h:11434/')).href, 'http://h:11434/api/generate');
});

test('confidence from top log-probabilities: top-1 and margin exact, entropy over what was reported', () => {
  const c = confidenceOf([Math.log(0.2), Math.log(0.7), Math.log(0.05)]);
  assert.ok(c);
  assert.ok(Math.abs(c.top1 - 0.7) < 1e-12);
  assert.ok(Math.abs(c.margin - 0.5) < 1e-12);
  const expected = -(0.7 * Math.log(0.7) + 0.2 * Math.log(0.2) + 0.05 * Math.log(0.05) + 0.05 * Math.log(0.05));
  assert.ok(Math.abs(c.entropy - expected) < 1e-12);
  assert.equal(confidenceOf([]), undefined);
  assert.equal(confidenceOf([Number.NaN, 3]), undefined, 'junk is not a probability');
});

test("a server's text as shown: no control, bidirectional or zero-width characters; a cut one ends in … within its bound, never half a character", () => {
  assert.equal(shownServerText('a\u001b[31mb\u202ec\u2066'), 'a [31mb c');
  assert.equal(shownServerText('zero\u200bwidth\u200c\u200d\u2060\ufeffname'), 'zerowidthname', 'what is shown is what a user can copy');
  assert.equal(shownServerText('abcdef', 6), 'abcdef', 'whole: no mark');
  assert.equal(shownServerText('abcdefg', 6), 'abcde…');
  assert.equal(shownServerText('abcd😀fg', 6), 'abcd…', 'the cut falls inside a surrogate pair: the half is dropped');
});

test("a top-1 log-probability a little above 0 (a server's float rounding) is a certain token, not one left out; a clearly positive one still is", () => {
  const rounded = confidenceOf([1e-6, -9]);
  assert.ok(rounded);
  assert.equal(rounded.top1, 1, 'the rounded token stays top-1');
  assert.ok(Math.abs(rounded.margin - (1 - Math.exp(-9))) < 1e-12);
  assert.equal(confidenceOf([1e-3])?.top1, 1);
  assert.equal(confidenceOf([0.5]), undefined, 'no log-probability');
  assert.ok(Math.abs((confidenceOf([0.5, -1])?.top1 ?? 0) - Math.exp(-1)) < 1e-12);
});

test("vLLM's stream: token_id:N tokens and their alternatives; cached prompt tokens from the usage chunk only", () => {
  const piece = completionsServerWireForm.parse({
    choices: [
      {
        index: 0,
        text: ' a b',
        logprobs: {
          tokens: ['token_id:11', 'token_id:12'],
          token_logprobs: [-0.1, -0.2],
          top_logprobs: [{ 'token_id:11': -0.1, 'token_id:9': -3 }, { 'token_id:12': -0.2 }],
        },
        finish_reason: null,
      },
    ],
  });
  assert.deepEqual(
    piece?.tokens.map((t) => t.id),
    [11, 12],
  );
  // The chosen token is in its top map already: counted once.
  assert.deepEqual(
    piece?.tokens.map((t) => [...t.topLogprobs].sort()),
    [[-0.1, -3].sort(), [-0.2]],
  );
  assert.equal(piece?.finish, undefined);
  assert.equal(piece?.cachedPromptTokens, undefined);
  const usage = completionsServerWireForm.parse({
    choices: [],
    usage: { prompt_tokens: 120, completion_tokens: 4, prompt_tokens_details: { cached_tokens: 96 } },
  });
  assert.equal(usage?.cachedPromptTokens, 96);
  assert.equal(usage?.promptTokens, 120);
  assert.equal(completionsServerWireForm.parse({ choices: [{ text: '', finish_reason: 'length' }] })?.finish, 'length');
  assert.equal(completionsServerWireForm.parse({ choices: [{ text: '', finish_reason: 'stop' }] })?.finish, 'stop');
  assert.match(completionsServerWireForm.parse({ error: { message: 'boom' } })?.error ?? '', /boom/);
});

test('the chosen token is counted once: its top-1 margin is not 0; one outside the top k is added', () => {
  const margin = (values: number[] | undefined) => confidenceOf(values ?? [])?.margin ?? 0;
  const expected = Math.exp(-0.1) - Math.exp(-3);
  // vLLM's legacy form (the map holds the chosen token when in the top k), and one whose map does not hold it.
  const legacy = completionsServerWireForm.parse({
    choices: [
      {
        text: 'ab',
        logprobs: {
          tokens: ['token_id:11', 'token_id:5'],
          token_logprobs: [-0.1, -4],
          top_logprobs: [
            { 'token_id:11': -0.1, 'token_id:9': -3 },
            { 'token_id:12': -0.2, 'token_id:9': -3 },
          ],
        },
        finish_reason: null,
      },
    ],
  });
  assert.ok(Math.abs(margin(legacy?.tokens[0].topLogprobs) - expected) < 1e-12);
  assert.deepEqual([...(legacy?.tokens[1].topLogprobs ?? [])].sort(), [-0.2, -3, -4].sort());
  // llama.cpp's chat form: matched by id (two tokens may spell alike).
  const chat = completionsServerWireForm.parse({
    choices: [
      {
        text: 'x',
        logprobs: {
          content: [
            {
              id: 7,
              token: 'x',
              logprob: -0.1,
              top_logprobs: [
                { id: 7, token: 'x', logprob: -0.1 },
                { id: 8, token: 'x', logprob: -3 },
              ],
            },
          ],
        },
        finish_reason: null,
      },
    ],
  });
  assert.deepEqual(chat?.tokens[0].topLogprobs, [-0.1, -3]);
  assert.ok(Math.abs(margin(chat?.tokens[0].topLogprobs) - expected) < 1e-12);
  // Ollama: by the token's text.
  const ollama = ollamaWireForm.parse({
    response: ' x',
    done: false,
    logprobs: [
      {
        token: ' x',
        logprob: -0.1,
        top_logprobs: [
          { token: ' x', logprob: -0.1 },
          { token: ' y', logprob: -3 },
        ],
      },
    ],
  });
  assert.deepEqual(ollama?.tokens[0].topLogprobs, [-0.1, -3]);
  assert.ok(Math.abs(margin(ollama?.tokens[0].topLogprobs) - expected) < 1e-12);
});

test("llama.cpp's stream: chat-form logprobs with ids; its timings count only on the last piece", () => {
  const partial = completionsServerWireForm.parse({
    choices: [
      {
        text: 'Hi',
        index: 0,
        logprobs: {
          content: [
            {
              id: 7,
              token: 'Hi',
              logprob: -0.5,
              top_logprobs: [
                { id: 7, token: 'Hi', logprob: -0.5 },
                { id: 8, token: 'Ho', logprob: -1.5 },
              ],
            },
          ],
        },
        finish_reason: null,
      },
    ],
    timings: { cache_n: 30, prompt_n: 2 },
  });
  assert.deepEqual(
    partial?.tokens.map((t) => [t.id, t.piece]),
    [[7, 'Hi']],
  );
  assert.equal(partial?.cachedPromptTokens, undefined, 'not summed once per piece');
  const last = completionsServerWireForm.parse({
    choices: [{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }],
    usage: { prompt_tokens: 32 },
    timings: { cache_n: 30, prompt_n: 2 },
  });
  assert.equal(last?.cachedPromptTokens, 30);
  assert.equal(last?.finish, 'stop');
  // Without usage: timings.prompt_n counts only the tokens it evaluated; the prompt is those and the cached ones.
  const timingsOnly = completionsServerWireForm.parse({
    choices: [{ text: '', index: 0, logprobs: null, finish_reason: 'stop' }],
    timings: { cache_n: 30, prompt_n: 2 },
  });
  assert.equal(timingsOnly?.promptTokens, 32);
  assert.equal(timingsOnly?.cachedPromptTokens, 30);
});

test('cached prompt tokens not reported: the check names the flags that make vLLM and SGLang report them', async () => {
  assert.match(completionsServerWireForm.prefixCache, /--enable-prompt-tokens-details/);
  assert.match(completionsServerWireForm.prefixCache, /--enable-cache-report/);
  const [y] = tokenizer.encode(' y');
  // vLLM without --enable-prompt-tokens-details: usage without prompt_tokens_details.
  nextBody = sse([
    {
      choices: [
        { text: ' y', logprobs: { tokens: [`token_id:${y}`], token_logprobs: [-0.01], top_logprobs: [{ [`token_id:${y}`]: -0.01 }] }, finish_reason: null },
      ],
    },
    { choices: [{ text: '', finish_reason: 'length' }] },
    { choices: [], usage: { prompt_tokens: 20, completion_tokens: 1 } },
  ]);
  const runtime = await createServedRuntime({ kind: 'completions-server', url, model: 'm', folder });
  try {
    const check = await checkServedSlm(runtime);
    assert.equal(check.cachedPromptTokens, undefined);
    assert.equal(check.promptTokens, 20);
    assert.match(check.cacheReport ?? '', /vLLM: .*--enable-prompt-tokens-details.*SGLang: .*--enable-cache-report/);
  } finally {
    await runtime.dispose();
  }
});

test("Ollama's NDJSON: tokens by their text, done_reason", () => {
  const piece = ollamaWireForm.parse({
    model: 'm',
    response: ' x',
    done: false,
    logprobs: [
      {
        token: ' x',
        logprob: -0.01,
        top_logprobs: [
          { token: ' x', logprob: -0.01 },
          { token: ' y', logprob: -5 },
        ],
      },
    ],
  });
  assert.deepEqual(
    piece?.tokens.map((t) => [t.id, t.piece]),
    [[undefined, ' x']],
  );
  const last = ollamaWireForm.parse({ response: '', done: true, done_reason: 'length', prompt_eval_count: 12, eval_count: 34 });
  assert.equal(last?.finish, 'length');
  assert.equal(last?.completionTokens, 34, "eval_count: a 'length' end under the tokens asked is the context length");
  assert.equal(ollamaWireForm.parse({ response: '', done: true, done_reason: 'stop' })?.finish, 'stop');
  assert.match(ollamaWireForm.parse({ error: "model 'q' not found" })?.error ?? '', /not found/);
});

test("Ollama's body: raw with think: false (left out, a thinking model's raw output goes through the <think> parser); truncate and shift off (left on, a full context drops the question)", () => {
  const body = ollamaWireForm.body({ model: 'm', prompt: { text: 'x' }, maxTokens: 4, temperature: 0, topLogprobs: 5 }) as Record<string, unknown>;
  assert.equal(body.raw, true);
  assert.equal(body.think, false);
  assert.equal(body.truncate, false);
  assert.equal(body.shift, false);
});

let folder: string;
let server: JsonBodyServer;
let url: string;
let tokenizer: SlmTokenizer;
/** The SSE body the next request gets. */
let nextBody = '';
/** Bodies of the requests, in order. */
const requests: Record<string, any>[] = [];
/** An HTTP error answer for a request (as a server that refuses it), else the SSE body. */
let refuse: ((body: Record<string, any>) => { status: number; body: unknown } | undefined) | undefined;

before(async () => {
  folder = await ensureScriptedModel({ prompt: 'x', timeline: [{ text: ' y' }], endWithEos: true });
  const files = readTokenizerFolder(folder);
  tokenizer = await SlmTokenizer.create(files.tokenizerJson, files.tokenizerConfig);
  server = await startJsonBodyServer((_req, res, body) => {
    requests.push(body);
    const refused = refuse?.(body);
    if (refused) {
      res.writeHead(refused.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(refused.body));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.end(nextBody);
  });
  url = `${server.origin}/v1`;
});

after(() => server.close());

const sse = (events: unknown[]) => events.map((e) => `data: ${JSON.stringify(e)}\n\n`).join('') + 'data: [DONE]\n\n';

test('a piece with several tokens: the gate refuses the middle one; the tokens before it are kept with their text, the rest counted as waste', async () => {
  const ids = tokenizer.encode(' one two three four');
  assert.equal(ids.length, 4);
  const top = [-0.05, -0.05, Math.log(0.3), -0.05];
  nextBody = sse([
    {
      choices: [
        {
          text: ' one two three four',
          logprobs: { tokens: ids.map((id) => `token_id:${id}`), token_logprobs: top, top_logprobs: ids.map((id, i) => ({ [`token_id:${id}`]: top[i] })) },
          finish_reason: null,
        },
      ],
    },
    { choices: [{ text: '', finish_reason: 'length' }] },
  ]);
  const runtime = await createServedRuntime({ kind: 'completions-server', url, model: 'm', folder });
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    const result = await session.generate({ maxTokens: 10, minTop1: 0.5 });
    assert.equal(result.stopReason, 'low_confidence');
    assert.equal(result.text, ' one two');
    assert.equal(result.refusedToken?.text, ' three');
    assert.ok(Math.abs((result.refusedToken?.top1 ?? 0) - 0.3) < 1e-9);
    assert.equal(result.discardedTokens, 2, 'the refused token and the one after it');
    assert.equal(result.contextLength, tokenizer.encode('Q:').length + 2);
  } finally {
    await runtime.dispose();
  }
});

test("an id the folder's tokenizer does not have is no id: the server's text is kept, the context goes as text", async () => {
  nextBody = sse([
    {
      choices: [
        {
          text: ' hello',
          logprobs: { tokens: ['token_id:999999999'], token_logprobs: [-0.01], top_logprobs: [{ 'token_id:999999999': -0.01 }] },
          finish_reason: null,
        },
      ],
    },
    { choices: [{ text: '', finish_reason: 'length' }] },
  ]);
  const runtime = await createServedRuntime({ kind: 'completions-server', url, model: 'm', folder });
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    const result = await session.generate({ maxTokens: 1 });
    assert.equal(result.text, ' hello');
    assert.equal(result.tokens[0].id, -1);
    assert.equal(runtime.exactTokens, false);
  } finally {
    await runtime.dispose();
  }
});

test('the stop string ends the generation where it appears, as the local runtime does', async () => {
  const text = ' so<call>5</call> more';
  const ids = tokenizer.encode(text);
  nextBody = sse([
    ...ids.map((id) => ({
      choices: [
        {
          text: tokenizer.decode([id]),
          logprobs: { tokens: [`token_id:${id}`], token_logprobs: [-0.01], top_logprobs: [{ [`token_id:${id}`]: -0.01 }] },
          finish_reason: null,
        },
      ],
    })),
    { choices: [{ text: '', finish_reason: 'length' }] },
  ]);
  const runtime = await createServedRuntime({ kind: 'completions-server', url, model: 'm', folder });
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    const result = await session.generate({ maxTokens: 50, stopStrings: ['</call>'] });
    assert.equal(result.stopReason, 'stop_string');
    assert.equal(result.text, ' so<call>5</call>');
  } finally {
    await runtime.dispose();
  }
});

test("HTTP 400 to ids saying the prompt is too long: not sent again as text (it would not fit either); the server's reason is shown, and the next request still sends ids", async () => {
  // vLLM's words for a prompt longer than --max-model-len.
  const tooLong = "This model's maximum context length is 32 tokens. However, you requested 40 tokens. Please reduce the length of the input.";
  refuse = () => ({ status: 400, body: { object: 'error', message: tooLong, type: 'BadRequestError', code: 400 } });
  nextBody = sse([
    {
      choices: [
        { text: ' y', logprobs: { tokens: [`token_id:${tokenizer.encode(' y')[0]}`], token_logprobs: [-0.01], top_logprobs: [{}] }, finish_reason: null },
      ],
    },
    { choices: [{ text: '', finish_reason: 'length' }] },
  ]);
  const runtime = await createServedRuntime({ kind: 'completions-server', url, model: 'm', folder });
  const start = requests.length;
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    await assert.rejects(session.generate({ maxTokens: 1 }), (e: Error) =>
      /refused the request \(HTTP 400\)\. The server said: This model's maximum context length/.test(e.message),
    );
    assert.deepEqual(
      requests.slice(start).map((r) => (Array.isArray(r.prompt) ? 'ids' : 'text')),
      ['ids'],
    );
    refuse = undefined;
    const result = await session.generate({ maxTokens: 1 });
    assert.equal(result.text, ' y');
    assert.ok(Array.isArray(requests[requests.length - 1].prompt), 'still sent as token ids');
    assert.equal(runtime.exactTokens, true);
  } finally {
    refuse = undefined;
    await runtime.dispose();
  }
});

test("HTTP 400 to ids whose words name the prompt's type: text from then on, even when the text is refused too", async () => {
  refuse = (body) =>
    Array.isArray(body.prompt)
      ? { status: 400, body: { error: { message: "'prompt' must be a string", type: 'invalid_request_error' } } }
      : { status: 400, body: { error: { message: 'the request exceeds the available context size', type: 'exceed_context_size_error' } } };
  nextBody = sse([
    { choices: [{ text: ' y', logprobs: { tokens: [' y'], token_logprobs: [-0.01], top_logprobs: [{}] }, finish_reason: null }] },
    { choices: [{ text: '', finish_reason: 'length' }] },
  ]);
  const runtime = await createServedRuntime({ kind: 'completions-server', url, model: 'm', folder });
  const start = requests.length;
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    await assert.rejects(session.generate({ maxTokens: 1 }), /exceeds the available context size/);
    refuse = undefined;
    await session.generate({ maxTokens: 1 });
    assert.deepEqual(
      requests.slice(start).map((r) => (Array.isArray(r.prompt) ? 'ids' : 'text')),
      ['ids', 'text', 'text'],
    );
  } finally {
    refuse = undefined;
    await runtime.dispose();
  }
});

test('a template that renders BOS, a tokenizer that adds it: text prompts leave it out (Ollama, the text fallback); ids keep the one', async () => {
  // The scripted folder's tokenizer with a BOS token that the tokenizer adds (add_bos_token) and a template that renders it.
  const dir = mkdtempSync(join(tmpdir(), 'relay-served-bos-'));
  try {
    for (const name of ['tokenizer.json', 'config.json']) copyFileSync(join(folder, name), join(dir, name));
    const config = JSON.parse(readFileSync(join(folder, 'tokenizer_config.json'), 'utf8'));
    const template =
      "{{- bos_token }}{%- for m in messages %}{{- '<|im_start|>' + m.role + '\\n' + m.content + '<|im_end|>\\n' }}{%- endfor %}{{- '<|im_start|>assistant\\n' }}";
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, bos_token: '<|endoftext|>', add_bos_token: true, chat_template: template }));
    const bosId = tokenizer.encode('<|endoftext|>');
    assert.equal(bosId.length, 1);
    const question = [{ role: 'user' as const, content: 'Hi' }];
    const generateOnce = async (kind: 'ollama' | 'completions-server') => {
      const runtime = await createServedRuntime({ kind, url: kind === 'ollama' ? url.replace(/\/v1$/, '') : url, model: 'm', folder: dir });
      try {
        const prompt = await runtime.renderChat(question);
        assert.ok(prompt.startsWith('<|endoftext|><|im_start|>user'), 'the template renders BOS');
        const session = await runtime.createSession();
        await session.prefill(prompt);
        await session.generate({ maxTokens: 1 });
        return requests[requests.length - 1].prompt;
      } finally {
        await runtime.dispose();
      }
    };
    nextBody = `${JSON.stringify({ response: ' y', done: false })}\n${JSON.stringify({ response: '', done: true, done_reason: 'length' })}\n`;
    assert.equal(await generateOnce('ollama'), '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n', 'Ollama raw adds BOS itself');
    nextBody = sse([{ choices: [{ text: ' y', finish_reason: null }] }, { choices: [{ text: '', finish_reason: 'length' }] }]);
    const ids = await generateOnce('completions-server');
    assert.ok(Array.isArray(ids) && ids[0] === bosId[0] && ids[1] !== bosId[0], 'token ids: exactly the one BOS the template rendered');
    refuse = (body) => (Array.isArray(body.prompt) ? { status: 400, body: { error: { message: "'prompt' must be a string" } } } : undefined);
    assert.equal(await generateOnce('completions-server'), '<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n', 'the text fallback leaves it out too');
  } finally {
    refuse = undefined;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a chat template that does not parse names the file it came from: chat_template.jinja (which wins), else tokenizer_config.json', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'relay-served-jinja-'));
  try {
    for (const name of ['tokenizer.json', 'config.json']) copyFileSync(join(folder, name), join(dir, name));
    const configFile = join(dir, 'tokenizer_config.json');
    const config = JSON.parse(readFileSync(join(folder, 'tokenizer_config.json'), 'utf8'));
    const rejectsNaming = (file: string) =>
      assert.rejects(createServedRuntime({ kind: 'completions-server', url, model: 'm', folder: dir }), (e: unknown) => {
        assert.ok(e instanceof ModelFolderError, `expected a ModelFolderError, got ${String(e)}`);
        assert.equal(e.file, file, 'the error names the file the template came from');
        assert.match(e.message, /chat_template does not parse as Jinja .*Use a model folder whose chat template parses\./);
        return true;
      });
    // A template in the config that parses, and a chat_template.jinja (used instead) that does not.
    writeFileSync(configFile, JSON.stringify({ ...config, chat_template: '{{ messages[0].content }}' }));
    const jinjaFile = join(dir, 'chat_template.jinja');
    writeFileSync(jinjaFile, '{% for m in messages %}{{ m.content }');
    await rejectsNaming(jinjaFile);
    // Without the file, the config's own broken template is named by the config.
    rmSync(jinjaFile);
    writeFileSync(configFile, JSON.stringify({ ...config, chat_template: '{% for %}' }));
    await rejectsNaming(configFile);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("llama.cpp's stream of a character split across two tokens (only the second sent, with the whole character): the text is kept, not the ids", async () => {
  // '🦩' is two tokens of this tokenizer, the first ending partway through the character. llama.cpp sends no piece
  // for it (send_partial_response is inside `if (!incomplete)`); the next piece has the whole character and only its own token.
  const split = tokenizer.encode('🦩');
  assert.equal(split.length, 2);
  const [ok] = tokenizer.encode(' ok');
  assert.equal(tokenizer.encode(' ok').length, 1);
  const piece = (text: string, id: number) => ({
    choices: [
      {
        text,
        index: 0,
        logprobs: { content: [{ id, token: text, logprob: -0.01, top_logprobs: [{ id, token: text, logprob: -0.01 }] }] },
        finish_reason: null,
      },
    ],
  });
  nextBody = sse([piece('🦩', split[1]), piece(' ok', ok), { choices: [{ text: '', index: 0, finish_reason: 'length' }] }]);
  const runtime = await createServedRuntime({ kind: 'completions-server', url, model: 'm', folder });
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    const result = await session.generate({ maxTokens: 5 });
    assert.equal(result.text, '🦩 ok');
    assert.deepEqual(
      result.tokens.map((t) => [t.id, t.text]),
      [
        [-1, '🦩'],
        [ok, ' ok'],
      ],
    );
    assert.equal(result.contextLength, tokenizer.encode('Q:🦩 ok').length, 'the context counts both tokens of the character');
    await session.generate({ maxTokens: 1 });
    assert.equal(requests[requests.length - 1].prompt, 'Q:🦩 ok', 'the context goes as its text, not as ids that lost a token');
  } finally {
    await runtime.dispose();
  }
});

test('a piece whose text holds a U+FFFD its ids do not spell (no character straddled the prompt) is kept by its text, not its ids', async () => {
  const [ok] = tokenizer.encode(' ok');
  const piece = (text: string, id: number) => ({
    choices: [{ text, logprobs: { tokens: [`token_id:${id}`], token_logprobs: [-0.01], top_logprobs: [{ [`token_id:${id}`]: -0.01 }] }, finish_reason: null }],
  });
  nextBody = sse([piece('\uFFFD ok', ok), { choices: [{ text: '', finish_reason: 'length' }] }]);
  const runtime = await createServedRuntime({ kind: 'completions-server', url, model: 'm', folder });
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    const result = await session.generate({ maxTokens: 5 });
    assert.equal(result.text, '\uFFFD ok');
    assert.deepEqual(
      result.tokens.map((t) => t.id),
      [-1],
      'ids that lack a token are no ids',
    );
  } finally {
    await runtime.dispose();
  }
});

test('vLLM holds a split character back (the first token with no text): its ids spell the text and are kept', async () => {
  const split = tokenizer.encode('🦩');
  const piece = (text: string, id: number) => ({
    choices: [{ text, logprobs: { tokens: [`token_id:${id}`], token_logprobs: [-0.01], top_logprobs: [{ [`token_id:${id}`]: -0.01 }] }, finish_reason: null }],
  });
  nextBody = sse([piece('', split[0]), piece('🦩', split[1]), { choices: [{ text: '', finish_reason: 'length' }] }]);
  const runtime = await createServedRuntime({ kind: 'completions-server', url, model: 'm', folder });
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    const result = await session.generate({ maxTokens: 5 });
    assert.equal(result.text, '🦩');
    assert.deepEqual(
      result.tokens.map((t) => t.id),
      split,
    );
    await session.generate({ maxTokens: 1 });
    assert.deepEqual(requests[requests.length - 1].prompt, [...tokenizer.encode('Q:'), ...split], 'still exact: sent as ids');
  } finally {
    await runtime.dispose();
  }
});

test("SGLang spells each token alone, without ids (a split character's bytes each U+FFFD, the text holding it whole): U+FFFD's id is not taken, and the next request carries the character", async () => {
  assert.equal(tokenizer.encode('🦩').length, 2, 'one character, two tokens');
  assert.equal(tokenizer.encode('\uFFFD').length, 1, "U+FFFD is one token: the spelling alone would read as one token's id");
  const piece = (text: string, spelled: string) => ({
    choices: [{ text, logprobs: { tokens: [spelled], token_logprobs: [-0.01], top_logprobs: [{ [spelled]: -0.01 }] }, finish_reason: null }],
  });
  nextBody = sse([piece('', '\uFFFD'), piece('🦩', '\uFFFD'), { choices: [{ text: '', finish_reason: 'length' }] }]);
  const runtime = await createServedRuntime({ kind: 'completions-server', url, model: 'm', folder });
  try {
    const session = await runtime.createSession();
    await session.prefill('Q:');
    assert.equal((await session.generate({ maxTokens: 2 })).text, '🦩');
    await session.generate({ maxTokens: 1 });
    const sent = requests[requests.length - 1].prompt;
    assert.equal(Array.isArray(sent) ? tokenizer.decode(sent) : sent, 'Q:🦩', 'the context the server continues is the one written');
  } finally {
    await runtime.dispose();
  }
});
