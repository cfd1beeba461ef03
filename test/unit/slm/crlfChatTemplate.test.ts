// A chat template checked out with CRLF (Git for Windows) renders as its LF text, on both
// read paths: the model folder (local and served SLM) and relay.provider.templateFolder.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { buildTinyTokenizer } from '../../fixtures/tinyTokenizer';
import { loadChatTemplateRenderer } from '../../../src/core/providers/chatTemplate';
import { ChatTemplate } from '../../../src/core/slm/chatTemplate';
import { readTokenizerFolder } from '../../../src/core/slm/modelFolder';

/** ChatML with its newlines as template text, as chat_template.jinja files write it. */
const LF_TEMPLATE = [
  '{% for message in messages %}<|im_start|>{{ message.role }}',
  '{{ message.content }}<|im_end|>',
  '{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant',
  '{% endif %}',
  '',
].join('\n');
const CRLF_TEMPLATE = LF_TEMPLATE.replace(/\n/g, '\r\n');
const MESSAGES = [{ role: 'user' as const, content: 'hi' }];
const EXPECTED = '<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n';

const scratch: string[] = [];
after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** A tokenizer folder whose template is `chat_template.jinja` (CRLF) or tokenizer_config's chat_template (a JSON string with \r\n). */
function folderWithCrlfTemplate(where: 'jinja file' | 'tokenizer_config'): string {
  const dir = mkdtempSync(join(tmpdir(), 'relay-crlf-template-'));
  scratch.push(dir);
  const { tokenizerJson, tokenizerConfig } = buildTinyTokenizer(20);
  const { chat_template: _builtIn, ...config } = tokenizerConfig;
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
  if (where === 'jinja file') {
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(config));
    writeFileSync(join(dir, 'chat_template.jinja'), CRLF_TEMPLATE);
  } else {
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...config, chat_template: CRLF_TEMPLATE }));
  }
  return dir;
}

describe('a chat_template.jinja checked out with CRLF', () => {
  test('the model folder (readTokenizerFolder) renders it with "\\n" and no stray "\\r"', async () => {
    const folder = folderWithCrlfTemplate('jinja file');
    const files = readTokenizerFolder(folder);
    const template = await ChatTemplate.create(files.chatTemplate!, files.tokenizerConfig, join(folder, 'tokenizer_config.json'));
    const rendered = template.render(MESSAGES);
    assert.ok(!rendered.includes('\r'), JSON.stringify(rendered));
    assert.equal(rendered, EXPECTED);
  });

  test('relay.provider.templateFolder (loadChatTemplateRenderer) renders it with "\\n" and no stray "\\r"', async () => {
    const folder = folderWithCrlfTemplate('jinja file');
    const render = await loadChatTemplateRenderer(folder);
    const rendered = render(MESSAGES, '');
    assert.ok(!rendered.includes('\r'), JSON.stringify(rendered));
    assert.equal(rendered, EXPECTED);
  });
});

// A JSON string's "\r\n" escapes are the template's own text (a checkout does not write them): kept, as transformers keeps them.
test('a chat_template in tokenizer_config.json is used verbatim, "\\r\\n" included', async () => {
  const folder = folderWithCrlfTemplate('tokenizer_config');
  const files = readTokenizerFolder(folder);
  assert.equal(files.chatTemplate, CRLF_TEMPLATE);
  const render = await loadChatTemplateRenderer(folder);
  assert.equal(render(MESSAGES, ''), EXPECTED.replace(/\n/g, '\r\n') + '\r');
});

describe('a folder with both chat_template.jinja and a chat_template in tokenizer_config.json', () => {
  test('the file wins, as in transformers (a repository that updated the file may leave the config stale), on both read paths', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'relay-both-templates-'));
    scratch.push(dir);
    const { tokenizerJson, tokenizerConfig } = buildTinyTokenizer(20);
    writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(tokenizerJson));
    writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ ...tokenizerConfig, chat_template: 'STALE {{ messages[0].content }}' }));
    writeFileSync(join(dir, 'chat_template.jinja'), LF_TEMPLATE);
    const files = readTokenizerFolder(dir);
    const template = await ChatTemplate.create(files.chatTemplate!, files.tokenizerConfig, join(dir, 'tokenizer_config.json'));
    assert.equal(template.render(MESSAGES), EXPECTED);
    assert.equal((await loadChatTemplateRenderer(dir))(MESSAGES, ''), EXPECTED);
  });
});
