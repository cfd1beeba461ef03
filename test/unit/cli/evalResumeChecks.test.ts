/**
 * What `relay eval` checks before it resumes an answers file, on the demo models copied to a
 * temporary folder: the model in each SLM folder and in an in-process LLM's (a re-export into
 * the same folder is refused, in words), the LLM's price as resolved (a catalog that changed between versions),
 * settings that do not decide answers (the KV-cache budget), and files of earlier relays.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { copyFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { answerSettings } from '../../../src/cli/commands/evaluate';
import { defaultConfig } from '../../../src/cli/config';
import { demoPrice, findDemoModels } from '../../../src/cli/demoModels';
import { builtInPrice } from '../../../src/core/providers/pricing';
import { escapeRegExp } from '../../../src/shared/escapeRegExp';
import { runCli } from './runCli';

let work: string;
let models: string;
before(() => {
  work = mkdtempSync(join(tmpdir(), 'relay-eval-resume-'));
  // The demo models, copied: the tests export "another model" into these folders.
  const shipped = findDemoModels();
  models = join(work, 'models');
  mkdirSync(models);
  for (const name of ['relay-demo-slm', 'relay-demo-llm', 'relay-demo-eval.jsonl'])
    cpSync(join(shipped.slmFolder, '..', name), join(models, name), { recursive: true });
  cpSync(join(shipped.ablationsFolder, 'slm-grpo-simple'), join(models, 'grpo'), { recursive: true });
});
after(() => rmSync(work, { recursive: true, force: true }));

const run = (args: string[]) => runCli(args, work, { env: { RELAY_DEMO_MODELS: models } });

type Line = Record<string, unknown> & { type: string; settings?: Record<string, unknown> & { slm: Record<string, unknown> } };
const linesOf = (out: string): Line[] =>
  readFileSync(`${out}.answers.jsonl`, 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Line);
/** Rewrites the answers file line by line, as an earlier relay (or a hand) wrote it. */
const rewrite = (out: string, edit: (line: Line) => void): void =>
  writeFileSync(
    `${out}.answers.jsonl`,
    linesOf(out)
      .map((l) => (edit(l), JSON.stringify(l)))
      .join('\n') + '\n',
  );

test('relay eval: a model exported again into an SLM folder of the answers is refused, naming the files; put back, it resumes; --fresh starts over', async () => {
  const main = join(models, 'relay-demo-slm');
  const own = join(models, 'grpo');
  const out = join(work, 'reexport');
  const common = ['eval', '--demo', '--modes', `slm-only,command=${own}`, '--limit', '2', '--seed', '1', '--out', out];
  const first = await run(common);
  assert.equal(first.code, 0, first.stderr);

  // The row's own folder: its tokenizer_config.json rewritten one byte longer.
  const config = join(own, 'tokenizer_config.json');
  const { atime, mtime } = statSync(config);
  const text = readFileSync(config, 'utf8');
  writeFileSync(config, text + '\n');
  await assert.rejects(
    run(common),
    new RegExp(
      `the model in ${escapeRegExp(own)} changed since the run of \\S*reexport\\.answers\\.jsonl began \\(tokenizer_config\\.json: ${Buffer.byteLength(text)} bytes then, ${Buffer.byteLength(text) + 1} now\\), so its answers there cannot be resumed with it\\. Put that model back, choose another --out, or pass --fresh`,
    ),
  );
  // Put back as it was: resumed.
  writeFileSync(config, text);
  utimesSync(config, atime, mtime);
  const back = await run(common);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /\(4 from earlier runs, 0 new\)/);
  // A folder the file holds no answer of has nothing to mix: exported again, its row runs on the new model.
  writeFileSync(`${out}.answers.jsonl`, readFileSync(`${out}.answers.jsonl`, 'utf8').replace(/^.*"slm":"[^"]*grpo".*\n/gm, ''));
  writeFileSync(config, text + '\n');
  const unanswered = await run(common);
  assert.equal(unanswered.code, 0, unanswered.stderr);
  assert.match(unanswered.stdout, /\(2 from earlier runs, 2 new\)/);
  // Checked from then on against the model it answered with.
  assert.match((await run(common)).stdout, /\(4 from earlier runs, 0 new\)/);

  // The configured folder: another model's weights of the same size exported over its own.
  const graph = join(main, 'onnx', 'model_int8.onnx');
  // Recorded in whole seconds.
  const before = new Date(Math.floor(statSync(graph).mtimeMs / 1000) * 1000).toISOString();
  copyFileSync(join(findDemoModels().ablationsFolder, 'slm-base', 'onnx', 'model_int8.onnx'), graph);
  utimesSync(graph, new Date('2001-02-03T04:05:06Z'), new Date('2001-02-03T04:05:06Z'));
  await assert.rejects(
    run(common),
    new RegExp(
      `relay-demo-slm changed since .*\\(onnx/model_int8\\.onnx: modified since \\(${escapeRegExp(before)} then, 2001-02-03T04:05:06\\.000Z now\\)\\)`,
    ),
  );
  assert.equal(linesOf(out).filter((l) => l.type === 'answer').length, 4, 'a refused run adds nothing');
  const fresh = await run([...common, '--fresh']);
  assert.equal(fresh.code, 0, fresh.stderr);
  assert.equal(linesOf(out).filter((l) => l.type === 'answer').length, 4, 'started over: the new model answered');
});

test('relay eval: an answers file of an earlier relay (no model files recorded) resumes, and says once that its model was not checked', async () => {
  const out = join(work, 'earlier');
  const common = ['eval', '--demo', '--modes', 'slm-only', '--limit', '2', '--seed', '2', '--out', out];
  assert.equal((await run(common)).code, 0);
  rewrite(out, (line) => delete line.models);
  const resumed = await run(common);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /\(2 from earlier runs, 0 new\)/);
  assert.match(
    resumed.stderr,
    /relay: \S*earlier\.answers\.jsonl was written by an earlier relay that did not record the SLM's model in \S*relay-demo-slm; its answers are reused as they are\. If that model was exported again since, pass --fresh\./,
  );
  // That run recorded the model: the next one checks it, and says nothing.
  const again = await run(common);
  assert.equal(again.code, 0, again.stderr);
  assert.doesNotMatch(again.stderr, /did not record/);
});

test('the LLM price from the catalog is a recorded setting: a price that changed between versions is refused, in an earlier file as read from its answers', async () => {
  // No price set: the catalog's.
  const config = { ...defaultConfig(), provider: { ...defaultConfig().provider, kind: 'openai-chat' as const, model: 'gpt-4o' } };
  const catalog = builtInPrice('openai-chat', 'gpt-4o');
  assert.ok(catalog !== null);
  assert.deepEqual(answerSettings(config, 'data.jsonl').llmPrice, catalog);

  const out = join(work, 'price');
  const common = ['eval', '--demo', '--modes', 'slm-only,llm-only', '--limit', '2', '--seed', '3', '--out', out];
  assert.equal((await run(common)).code, 0);
  const price = demoPrice();
  // Another price given: the file's own settings give its price back.
  await assert.rejects(
    run([...common, '--price-in', '1']),
    new RegExp(
      `\\n {2}prices\\.inputPerMTok: ${price.inputPerMTok} in the file, 1 now\\n {2}llmPrice\\.inputPerMTok: ${price.inputPerMTok} in the file, 1 now\\nRun with the same settings to resume it`,
    ),
  );
  // As another Relay's price list would have priced it (the run line and the answers that called the LLM): no settings give that
  // price again (--price-in changes the recorded prices), so the refusal says what happened and the two ways that work.
  const reprice = (line: Line, inputPerMTok: number): void => {
    if (line.type === 'run') (line.settings?.llmPrice as { inputPerMTok: number }).inputPerMTok = inputPerMTok;
    if (line.type === 'answer' && line.price !== null) (line.price as { inputPerMTok: number }).inputPerMTok = inputPerMTok;
  };
  rewrite(out, (line) => reprice(line, 1));
  const priceRefusal = (differences: string): RegExp =>
    new RegExp(
      `other settings, so they cannot be resumed here:\\n {2}${differences}\\nThe LLM's price is not the one the file's answers were billed at \\(this relay prices the same LLM otherwise: .*\\), and no setting brings that price back: choose another --out, or pass --fresh to start it over\\.$`,
    );
  await assert.rejects(run(common), priceRefusal(`llmPrice\\.inputPerMTok: 1 in the file, ${price.inputPerMTok} now`));
  // The old price pinned: refused as well, and said the same way.
  await assert.rejects(run([...common, '--price-in', '1']), priceRefusal(`prices\\.inputPerMTok: ${price.inputPerMTok} in the file, 1 now`));

  // Written before the price was recorded: the price its LLM answers were billed at decides.
  rewrite(out, (line) => reprice(line, price.inputPerMTok));
  rewrite(out, (line) => delete line.settings?.llmPrice);
  const resumed = await run(common);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /\(4 from earlier runs, 0 new\)/);
  rewrite(out, (line) => {
    if (line.type === 'run') delete line.settings?.llmPrice;
    if (line.type === 'answer' && line.price !== null) (line.price as { outputPerMTok: number }).outputPerMTok = 3;
  });
  await assert.rejects(run(common), priceRefusal(`llmPrice\\.outputPerMTok: 3 in the file, ${price.outputPerMTok} now`));
});

test('relay eval: a file of answers that never called the LLM resumes though the LLM is priced otherwise now (no cost to mix)', async () => {
  const out = join(work, 'slm-only-price');
  const common = ['eval', '--demo', '--modes', 'slm-only', '--limit', '2', '--seed', '5', '--out', out];
  assert.equal((await run(common)).code, 0);
  rewrite(out, (line) => {
    if (line.type === 'run') (line.settings?.llmPrice as { inputPerMTok: number }).inputPerMTok = 1;
  });
  const resumed = await run(common);
  assert.equal(resumed.code, 0, resumed.stderr);
  assert.match(resumed.stdout, /\(2 from earlier runs, 0 new\)/);
});

test('relay eval: an slm-only file resumed under a new LLM price and given LLM answers at it resumes again; answers billed at two prices are refused', async () => {
  const out = join(work, 'repriced');
  const slmOnly = ['eval', '--demo', '--modes', 'slm-only', '--limit', '2', '--seed', '6', '--out', out];
  assert.equal((await run(slmOnly)).code, 0);
  // Written when the price list priced the LLM otherwise: its run line says so, and no answer called the LLM.
  rewrite(out, (line) => {
    if (line.type === 'run') (line.settings?.llmPrice as { inputPerMTok: number }).inputPerMTok = 1;
  });
  const both = ['eval', '--demo', '--modes', 'slm-only,llm-only', '--limit', '2', '--seed', '6', '--out', out];
  const added = await run(both);
  assert.equal(added.code, 0, added.stderr);
  assert.match(added.stdout, /\(2 from earlier runs, 2 new\)/);
  // Its LLM answers were billed at today's price, as the resume is: nothing to mix, though the first run line says 1.
  const again = await run(both);
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /\(4 from earlier runs, 0 new\)/);

  // One LLM answer billed at another price: a real mix, refused.
  let first = true;
  rewrite(out, (line) => {
    if (line.type !== 'answer' || line.price === null || !first) return;
    first = false;
    (line.price as { inputPerMTok: number }).inputPerMTok = 1;
  });
  await assert.rejects(
    run(both),
    new RegExp(
      `\\n {2}llmPrice\\.inputPerMTok: 1 in the file, ${demoPrice().inputPerMTok} now\\nThe LLM's price is not the one the file's answers were billed at`,
    ),
  );
});

test('relay eval: the KV-cache reuse budget only changes speed: another --kv-cache-mb resumes, as does a file of an earlier relay that recorded it', async () => {
  const out = join(work, 'kv');
  const common = ['eval', '--demo', '--modes', 'slm-only', '--limit', '2', '--seed', '4', '--out', out];
  assert.equal((await run([...common, '--kv-cache-mb', '64'])).code, 0);
  const other = await run([...common, '--kv-cache-mb', '128']);
  assert.equal(other.code, 0, other.stderr);
  assert.match(other.stdout, /\(2 from earlier runs, 0 new\)/);
  // Earlier relays recorded it.
  rewrite(out, (line) => {
    if (line.type === 'run' && line.settings) line.settings.slm.kvCacheBudgetMb = 64;
  });
  const earlier = await run([...common, '--kv-cache-mb', '128']);
  assert.equal(earlier.code, 0, earlier.stderr);
  assert.match(earlier.stdout, /\(2 from earlier runs, 0 new\)/);
});

test('relay eval: a model exported again into the folder of an in-process LLM whose answers the file holds is refused; a file of an earlier relay resumes, saying so once', async () => {
  const llm = join(models, 'relay-demo-llm');
  const out = join(work, 'llm');
  const common = ['eval', '--demo', '--modes', 'slm-only,llm-only', '--limit', '2', '--seed', '5', '--out', out];
  assert.equal((await run(common)).code, 0);
  // A file without answers that called the LLM has nothing of it to mix.
  const slmOnly = ['eval', '--demo', '--modes', 'slm-only', '--limit', '2', '--seed', '5', '--out', join(work, 'llm-unused')];
  assert.equal((await run(slmOnly)).code, 0);
  const config = join(llm, 'tokenizer_config.json');
  const { atime, mtime } = statSync(config);
  const text = readFileSync(config, 'utf8');
  writeFileSync(config, text + '\n');
  try {
    await assert.rejects(
      run(common),
      new RegExp(
        `the LLM's model in ${escapeRegExp(llm)} changed since the run of \\S*llm\\.answers\\.jsonl began \\(tokenizer_config\\.json: ${Buffer.byteLength(text)} bytes then, ${Buffer.byteLength(text) + 1} now\\), so the answers that called it cannot be resumed with it\\. Put that model back, choose another --out, or pass --fresh`,
      ),
    );
    const unmixed = await run(slmOnly);
    assert.equal(unmixed.code, 0, unmixed.stderr);
    assert.match(unmixed.stdout, /\(2 from earlier runs, 0 new\)/);
  } finally {
    writeFileSync(config, text);
    utimesSync(config, atime, mtime);
  }
  const back = await run(common);
  assert.equal(back.code, 0, back.stderr);
  assert.match(back.stdout, /\(4 from earlier runs, 0 new\)/);

  // Written by an earlier relay, which recorded no LLM folder: resumed, said once.
  rewrite(out, (line) => delete line.llmModel);
  const earlier = await run(common);
  assert.equal(earlier.code, 0, earlier.stderr);
  assert.match(earlier.stdout, /\(4 from earlier runs, 0 new\)/);
  assert.match(
    earlier.stderr,
    /did not record the LLM's model in \S*relay-demo-llm; its answers are reused as they are\. If that model was exported again since, pass --fresh\./,
  );
  assert.doesNotMatch((await run(common)).stderr, /did not record/);
  // Neither model recorded: both folders named, each as whose it is, in one note.
  rewrite(out, (line) => {
    delete line.models;
    delete line.llmModel;
  });
  const neither = await run(common);
  assert.equal(neither.code, 0, neither.stderr);
  const notes = neither.stderr.match(/did not record .*/g) ?? [];
  assert.equal(notes.length, 1, neither.stderr);
  assert.match(
    notes[0],
    /did not record the SLM's model in \S*relay-demo-slm or the LLM's model in \S*relay-demo-llm; its answers are reused as they are\. If one of these models was exported again since, pass --fresh\./,
  );
});

test('relay eval: a data file whose questions changed is refused before anything is written to the answers file', async () => {
  const data = join(models, 'relay-demo-eval.jsonl');
  const original = readFileSync(data, 'utf8');
  const out = join(work, 'changed-data');
  const common = ['eval', '--demo', '--modes', 'slm-only', '--limit', '2', '--seed', '1', '--out', out];
  try {
    const first = await run(common);
    assert.equal(first.code, 0, first.stderr);
    const before = readFileSync(`${out}.answers.jsonl`, 'utf8');
    const [firstLine, ...rest] = original.split('\n');
    const question = (JSON.parse(firstLine) as { question: string }).question;
    writeFileSync(data, [JSON.stringify({ question: `${question} `, answer: '1' }), ...rest].join('\n'));
    await assert.rejects(
      run(common),
      /question 1 \(line 1\) of \S+relay-demo-eval\.jsonl is not the one answered in \S+changed-data\.answers\.jsonl: the data file changed/,
    );
    assert.equal(readFileSync(`${out}.answers.jsonl`, 'utf8'), before, 'the refused resume left the answers file as it was (no run line appended)');
  } finally {
    writeFileSync(data, original);
  }
});
