// The curated model list and the variant options of "Relay: Select Model", and when the
// first-run set-up prompt is offered.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { checkRepoId } from '../../../src/core/models/hubApi';
import { readModelFolder, SUPPORTED_MODEL_TYPES } from '../../../src/core/slm/modelFolder';
import {
  catalogModelForRepo,
  describeVariant,
  downloadRevision,
  EMBEDDED_DEMO_ID,
  MODEL_CATALOG,
  pinProblem,
  pinSummary,
  sizeRange,
  variantOptions,
  type CatalogModel,
} from '../../../src/extension/modelCatalog';
import { shouldOfferSetup } from '../../../src/extension/walkthrough/setupPrompt';

const ROOT = join(__dirname, '..', '..', '..');

test('every curated model has a valid hub id, a runtime-supported architecture, variants with sizes and what it needs', () => {
  const ids = new Set<string>();
  for (const model of MODEL_CATALOG) {
    assert.ok(!ids.has(model.id), `duplicate id ${model.id}`);
    ids.add(model.id);
    assert.ok((SUPPORTED_MODEL_TYPES as readonly string[]).includes(model.modelType), `${model.label}: ${model.modelType} is not run by the runtime`);
    assert.ok(model.variants.length > 0 && model.variants.every((v) => v.approxBytes > 0), `${model.label} has sizes per variant`);
    assert.ok(model.needs.length > 0 && model.note.length > 0);
    if (model.id !== EMBEDDED_DEMO_ID) {
      assert.ok(model.hubRepo, `${model.label} has a hub repo`);
      checkRepoId(model.hubRepo);
      assert.equal(catalogModelForRepo(model.hubRepo.toUpperCase()), model);
    }
  }
  assert.ok(MODEL_CATALOG.some((m) => m.hubRepo === 'onnx-community/Qwen3-0.6B-ONNX'), "the paper's SLM base is offered");
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
  assert.match(pinProblem({ ...base, pin: { commit: 'main', sha256: { 'config.json': 'a'.repeat(64) } } }) ?? '', /pinned commit "main" is not 40 lowercase hex digits/);
  assert.match(pinProblem({ ...base, pin: { commit: '0'.repeat(40), sha256: { 'onnx/model_q4.onnx': 'xyz' } } }) ?? '', /sha256 of onnx\/model_q4\.onnx is not 64/);
  assert.match(pinProblem({ ...base, pin: { commit: '0'.repeat(40), sha256: {} } }) ?? '', /lists no file hashes/);
});

test('the embedded demo entry describes the model folder that ships (architecture, trained to call, variant)', () => {
  const demo = MODEL_CATALOG.find((m) => m.id === EMBEDDED_DEMO_ID)!;
  const folder = readModelFolder(join(ROOT, 'models', 'relay-demo-slm'));
  assert.equal(folder.config.modelType, demo.modelType);
  assert.equal(folder.chosen.variant, demo.variants[0].variant);
  const config = JSON.parse(readFileSync(join(ROOT, 'models', 'relay-demo-slm', 'config.json'), 'utf8')) as { relay_trained?: boolean };
  assert.equal(config.relay_trained === true, demo.relayTrained);
});

test('size ranges and variant lines read as a person would say them', () => {
  const qwen = catalogModelForRepo('onnx-community/Qwen3-0.6B-ONNX')!;
  assert.equal(sizeRange(qwen), 'about 600 MB (int8) to 2.40 GB (fp32)');
  assert.equal(describeVariant({ variant: 'q4', bytes: 912_345_678, exact: true, downloaded: true }), 'q4 · 912 MB · downloaded');
  assert.equal(describeVariant({ variant: 'fp16', bytes: 1.2e9, exact: false, downloaded: false }), 'fp16 · about 1.20 GB');
});

test('variant options: the hub listing (exact sizes) wins over the catalog; downloaded ones come first and stay offered offline', () => {
  const qwen = catalogModelForRepo('onnx-community/Qwen3-0.6B-ONNX')!;
  const online = variantOptions({ listed: [{ variant: 'q4', totalBytes: 900 }, { variant: 'int8', totalBytes: 600 }], catalog: qwen, downloaded: ['q4'] });
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
