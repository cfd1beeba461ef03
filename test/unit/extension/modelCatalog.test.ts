// The curated model list (every fact with its source, or said to be unconfirmed) and the
// variant options of "Relay: Select Model", and when the first-run set-up prompt is offered.
import assert from 'node:assert/strict';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkRepoId } from '../../../src/core/models/hubApi';
import { readModelFolder, SUPPORTED_MODEL_TYPES, VARIANT_FILES } from '../../../src/core/slm/modelFolder';
import {
  catalogModelForRepo,
  describeVariant,
  downloadRevision,
  EMBEDDED_DEMO_ID,
  isRuntimeVariant,
  MODEL_CATALOG,
  pendingVariants,
  pinProblem,
  pinSummary,
  runtimeVariants,
  sizeRange,
  variantOptions,
  type CatalogModel,
  type CatalogSource,
} from '../../../src/extension/modelCatalog';
import { shouldOfferSetup } from '../../../src/extension/walkthrough/setupPrompt';

const ROOT = join(__dirname, '..', '..', '..');
const HUB_ENTRIES = MODEL_CATALOG.filter((m) => m.id !== EMBEDDED_DEMO_ID);
const SOURCE_KINDS = ['hub', 'docs', 'third-party', 'issue', 'bundled'];

function checkSource(source: CatalogSource, what: string): void {
  assert.ok(SOURCE_KINDS.includes(source.kind), `${what}: source kind ${source.kind}`);
  assert.ok(source.shows.length > 0, `${what}: the source says what it shows`);
  if (source.kind !== 'bundled') assert.match(source.url, /^https:\/\/(huggingface\.co|github\.com)\//, `${what}: a link a person can open`);
}

test('every curated model has a unique id, a valid hub id, a runtime-supported architecture and what it needs', () => {
  const ids = new Set<string>();
  for (const model of MODEL_CATALOG) {
    assert.ok(!ids.has(model.id), `duplicate id ${model.id}`);
    ids.add(model.id);
    assert.ok((SUPPORTED_MODEL_TYPES as readonly string[]).includes(model.modelType), `${model.label}: ${model.modelType} is not run by the runtime`);
    assert.ok(model.needs.length > 0 && model.note.length > 0);
  }
  for (const model of HUB_ENTRIES) {
    assert.ok(model.hubRepo, `${model.label} has a hub repo`);
    checkRepoId(model.hubRepo);
    assert.equal(catalogModelForRepo(model.hubRepo.toUpperCase()), model);
  }
});

test("what each model needs says the mode auto picks (money-aware with prices, as by default) and the kept caches' memory; one is recommended for a laptop", () => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8'));
  const cacheBudgetMb: number = manifest.contributes.configuration.properties['relay.slm.kvCacheBudgetMb'].default;
  for (const model of HUB_ENTRIES) {
    assert.ok(!model.relayTrained, model.label);
    assert.match(model.needs, /auto runs it in money-aware mode when the LLM's prices are known, else in confidence mode$/, model.label);
    assert.ok(model.needs.includes(`up to ${cacheBudgetMb.toLocaleString('en-US')} MB of kept caches (relay.slm.kvCacheBudgetMb`), model.needs);
  }
  const recommended = MODEL_CATALOG.filter((model) => /recommended for a laptop/i.test(model.note));
  assert.deepEqual(
    recommended.map((model) => model.id),
    ['qwen3-0.6b'],
  );
  const variant = /in (\w+) \(/.exec(recommended[0].note)?.[1];
  assert.ok(variant && runtimeVariants(recommended[0]).some((v) => v.variant === variant), `the recommended variant ${variant} is one the picker offers`);
});

test('the catalog offers the small chat models people run in browsers, under the repositories they are published in', () => {
  const repos = HUB_ENTRIES.map((m) => m.hubRepo);
  for (const repo of [
    'onnx-community/Qwen3-0.6B-ONNX',
    'onnx-community/Qwen3-1.7B-ONNX',
    'onnx-community/Qwen2.5-0.5B-Instruct',
    'onnx-community/Qwen2.5-1.5B-Instruct',
    'onnx-community/Llama-3.2-1B-Instruct',
    'HuggingFaceTB/SmolLM2-360M-Instruct',
  ]) {
    assert.ok(repos.includes(repo), `${repo} is offered`);
  }
  // onnx-community/Llama-3.2-1B-Instruct-ONNX is an ONNX Runtime GenAI layout (cpu_and_mobile/, cuda/): no onnx/model*.onnx.
  assert.ok(!repos.includes('onnx-community/Llama-3.2-1B-Instruct-ONNX'));
});

test('every hub entry has a sourced repository id or says the id is unconfirmed', () => {
  for (const model of HUB_ENTRIES) {
    if (model.repoSource) checkSource(model.repoSource, `${model.label} repository`);
    else
      assert.ok(
        model.unconfirmed.some((line) => /repository id/.test(line)),
        `${model.label}: the repository id is said to be unconfirmed`,
      );
  }
});

test('every variant names its file as transformers.js does, with its external data, its size and the source that lists them', () => {
  for (const model of MODEL_CATALOG) {
    const seen = new Set<string>();
    for (const v of model.variants) {
      const what = `${model.label} ${v.variant}`;
      assert.ok(!seen.has(v.variant), `${what} listed twice`);
      seen.add(v.variant);
      assert.match(v.file, /^onnx\/model(_[a-z0-9]+)?\.onnx$/, what);
      if (v.variant === 'fp32') assert.equal(v.file, 'onnx/model.onnx', what);
      else if (v.variant === 'int8') assert.ok(['onnx/model_int8.onnx', 'onnx/model_quantized.onnx', 'onnx/model_uint8.onnx'].includes(v.file), what);
      else assert.equal(v.file, `onnx/model_${v.variant}.onnx`, what);
      if (isRuntimeVariant(v.variant))
        assert.ok(VARIANT_FILES[v.variant].map((name) => `onnx/${name}`).includes(v.file), `${what}: the runtime looks for ${v.file}`);
      v.externalData.forEach((path, i) => assert.equal(path, i === 0 ? `${v.file}_data` : `${v.file}_data_${i}`, `${what}: external data ${path}`));
      assert.ok(Number.isInteger(v.approxBytes) && v.approxBytes > 0, `${what} has a size`);
      checkSource(v.source, what);
    }
  }
});

test('what could not be confirmed is said: every runtime variant an entry does not list is named in its unconfirmed lines', () => {
  for (const model of HUB_ENTRIES) {
    const listed = new Set<string>(model.variants.map((v) => v.variant));
    for (const variant of Object.keys(VARIANT_FILES).filter((name) => !listed.has(name))) {
      assert.ok(
        model.unconfirmed.some((line) => line.includes(variant)),
        `${model.label}: ${variant} is neither listed nor said to be unconfirmed`,
      );
    }
    assert.ok(model.unconfirmed.every((line) => line.trim().length > 0));
  }
});

test('the picker offers the variants the runtime loads; published ones it does not load yet are kept apart', () => {
  assert.equal(isRuntimeVariant('fp32'), true);
  assert.equal(isRuntimeVariant('q8f16'), false);
  for (const model of MODEL_CATALOG) {
    const runtime = runtimeVariants(model);
    const pending = pendingVariants(model);
    assert.equal(runtime.length + pending.length, model.variants.length, model.label);
    assert.ok(runtime.every((v) => isRuntimeVariant(v.variant)) && pending.every((v) => !isRuntimeVariant(v.variant)), model.label);
    const offered = variantOptions({ catalog: model, downloaded: [] }).map((o) => o.variant);
    assert.deepEqual([...offered].sort(), runtime.map((v) => v.variant).sort(), `${model.label}: the catalog offers exactly the runtime's variants`);
  }
});

test('the embedded demo entry describes the model folder that ships (architecture, trained to call, variant file and size)', () => {
  const demo = MODEL_CATALOG.find((m) => m.id === EMBEDDED_DEMO_ID)!;
  const folderPath = join(ROOT, 'models', 'relay-demo-slm');
  const folder = readModelFolder(folderPath);
  assert.equal(folder.config.modelType, demo.modelType);
  assert.equal(folder.chosen.variant, demo.variants[0].variant);
  assert.equal(statSync(join(folderPath, demo.variants[0].file)).size, demo.variants[0].approxBytes);
  assert.equal(demo.variants[0].source.kind, 'bundled');
  const config = JSON.parse(readFileSync(join(folderPath, 'config.json'), 'utf8')) as { relay_trained?: boolean };
  assert.equal(config.relay_trained === true, demo.relayTrained);
});

test('every hub entry is either pinned (40-hex commit, a 64-hex sha256 per file) or says it is unpinned', () => {
  for (const model of MODEL_CATALOG.filter((m) => m.hubRepo)) {
    assert.equal(pinProblem(model), undefined, model.label);
    if (model.pin) {
      assert.equal(downloadRevision(model), model.pin.commit, `${model.label} downloads its pinned commit`);
      assert.match(pinSummary(model), /^pinned to commit [0-9a-f]{7}/);
    } else {
      assert.equal(downloadRevision(model), model.revision);
      assert.match(pinSummary(model), /^unpinned: follows \S+; files checked against the hub's own checksums only$/, `${model.label} says it is unpinned`);
    }
  }
});

test('a pinned entry downloads its commit and says so; a malformed pin is named', () => {
  const base = catalogModelForRepo('onnx-community/Qwen3-0.6B-ONNX')!;
  const pinned: CatalogModel = { ...base, pin: { commit: '0123456789abcdef0123456789abcdef01234567', sha256: { 'config.json': 'a'.repeat(64) } } };
  assert.equal(downloadRevision(pinned), '0123456789abcdef0123456789abcdef01234567');
  assert.equal(pinSummary(pinned), 'pinned to commit 0123456; every file checked against its recorded sha256');
  assert.equal(pinProblem(pinned), undefined);
  assert.match(
    pinProblem({ ...base, pin: { commit: 'main', sha256: { 'config.json': 'a'.repeat(64) } } }) ?? '',
    /pinned commit "main" is not 40 lowercase hex digits/,
  );
  assert.match(
    pinProblem({ ...base, pin: { commit: '0'.repeat(40), sha256: { 'onnx/model_q4.onnx': 'xyz' } } }) ?? '',
    /sha256 of onnx\/model_q4\.onnx is not 64/,
  );
  assert.match(pinProblem({ ...base, pin: { commit: '0'.repeat(40), sha256: {} } }) ?? '', /lists no file hashes/);
});

function entryWith(variants: { variant: 'fp32' | 'int8' | 'q4' | 'fp16'; bytes: number }[]): CatalogModel {
  const source: CatalogSource = { url: 'https://huggingface.co/example/repo/tree/main/onnx', kind: 'hub', shows: 'a listing' };
  return {
    ...catalogModelForRepo('onnx-community/Qwen2.5-0.5B-Instruct')!,
    variants: variants.map((v) => ({
      variant: v.variant,
      file: v.variant === 'fp32' ? 'onnx/model.onnx' : `onnx/model_${v.variant}.onnx`,
      externalData: [],
      approxBytes: v.bytes,
      source,
    })),
  };
}

test('size ranges and variant lines read as a person would say them', () => {
  assert.equal(
    sizeRange(
      entryWith([
        { variant: 'fp32', bytes: 1.99e9 },
        { variant: 'int8', bytes: 512e6 },
      ]),
    ),
    'about 512 MB (int8) to 1.99 GB (fp32)',
  );
  assert.equal(sizeRange(entryWith([{ variant: 'q4', bytes: 919_096_585 }])), 'about 919 MB (q4)');
  assert.equal(sizeRange(entryWith([])), '', 'no confirmed variant: no size claimed');
  assert.equal(describeVariant({ variant: 'q4', bytes: 912_345_678, exact: true, downloaded: true }), 'q4 · 912 MB · downloaded');
  assert.equal(describeVariant({ variant: 'fp16', bytes: 1.2e9, exact: false, downloaded: false }), 'fp16 · about 1.20 GB');
});

test('variant options: the hub listing (exact sizes) wins over the catalog; downloaded ones come first and stay offered offline', () => {
  const qwen = entryWith([
    { variant: 'int8', bytes: 512e6 },
    { variant: 'q4', bytes: 786e6 },
    { variant: 'fp16', bytes: 997e6 },
    { variant: 'fp32', bytes: 1.99e9 },
  ]);
  const online = variantOptions({
    listed: [
      { variant: 'q4', totalBytes: 900 },
      { variant: 'int8', totalBytes: 600 },
    ],
    catalog: qwen,
    downloaded: ['q4'],
  });
  assert.deepEqual(online, [
    { variant: 'q4', bytes: 900, exact: true, downloaded: true },
    { variant: 'int8', bytes: 600, exact: true, downloaded: false },
  ]);
  const offline = variantOptions({ catalog: qwen, downloaded: ['fp16'] });
  assert.equal(offline[0].variant, 'fp16');
  assert.equal(offline[0].downloaded, true);
  assert.equal(offline.length, 4);
  const unknownRepoOffline = variantOptions({ downloaded: ['q4'] });
  assert.deepEqual(unknownRepoOffline, [{ variant: 'q4', bytes: undefined, exact: false, downloaded: true }]);
});

test('the set-up prompt is offered once, to a first-time user whose set-up is incomplete', () => {
  const base = { alreadyPrompted: false, setupWarning: 'No LLM model is set', configuredSettings: [] };
  assert.equal(shouldOfferSetup(base), true);
  assert.equal(shouldOfferSetup({ ...base, alreadyPrompted: true }), false, 'only once');
  assert.equal(shouldOfferSetup({ ...base, setupWarning: undefined }), false, 'nothing to set up');
  assert.equal(shouldOfferSetup({ ...base, configuredSettings: ['relay.provider.baseUrl'] }), false, 'someone who configured Relay by hand');
});
