// Which BOS the SLM's tokenizer adds again, as its runtime tells the composition (info.promptBos):
// a server given the prompt as text adds its own BOS, so the text must go without the one the
// chat template rendered. Llama 3 says so only in tokenizer.json's post-processor (its
// tokenizer_config.json has no add_bos_token): read from there too, or the LLM got two BOS.
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { createLocalRuntime } from '../../../src/core/slm/onnx/localRuntime';
import { ensureTinyModel } from '../../fixtures/fixtures';

let source: string;
const scratch: string[] = [];
before(async () => {
  source = await ensureTinyModel();
});
after(() => {
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

/** A copy of the tiny model whose first special token is its BOS, said as `how` says it. */
function folderWithBos(how: 'post-processor' | 'add_bos_token' | 'none'): { folder: string; bos: string } {
  const folder = mkdtempSync(join(tmpdir(), 'relay-prompt-bos-'));
  scratch.push(folder);
  cpSync(source, folder, { recursive: true, dereference: true });
  const tokenizer = JSON.parse(readFileSync(join(folder, 'tokenizer.json'), 'utf8'));
  const config = JSON.parse(readFileSync(join(folder, 'tokenizer_config.json'), 'utf8'));
  const { content: bos, id } = tokenizer.added_tokens[0];
  if (how === 'post-processor') {
    tokenizer.post_processor = {
      type: 'TemplateProcessing',
      single: [{ SpecialToken: { id: bos, type_id: 0 } }, { Sequence: { id: 'A', type_id: 0 } }],
      pair: [],
      special_tokens: { [bos]: { id: bos, ids: [id], tokens: [bos] } },
    };
  }
  const { add_bos_token: _dropped, ...rest } = config;
  writeFileSync(join(folder, 'tokenizer.json'), JSON.stringify(tokenizer));
  writeFileSync(
    join(folder, 'tokenizer_config.json'),
    JSON.stringify({ ...rest, bos_token: bos, ...(how === 'add_bos_token' ? { add_bos_token: true } : {}) }),
  );
  return { folder, bos };
}

for (const how of ['post-processor', 'add_bos_token', 'none'] as const) {
  test(`a tokenizer that adds BOS by its ${how === 'none' ? 'nothing' : how}: the runtime says ${how === 'none' ? 'none' : 'which'}`, async () => {
    const { folder, bos } = folderWithBos(how);
    const runtime = await createLocalRuntime(folder);
    try {
      assert.equal(runtime.info.promptBos, how === 'none' ? undefined : bos);
    } finally {
      await runtime.dispose();
    }
  });
}
