// "Relay: Try the Demo" below the VS Code UI: the held-out questions match the evaluation
// file, the demo's settings object is the embedded pair with the defaults of package.json,
// and RelayService runs it (its AnswerPlan hook) on real parts: the demo SLM and the demo
// LLM each in a child process (dist/slmWorker.js, bundled here), the relay engine, the
// bundled price catalog. It writes what `relay demo` prints, reads none of the user's
// settings, changes none, and adds nothing to the savings totals.
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createExtensionContext, resetSettings, settings, useVscodeStub, type StubExtensionContext } from './vscodeStub';
import { bundleSlmWorker, slmWorkerPids } from './slmWorkerBundle';
useVscodeStub();
import type { AnswerStats, RelayEvent } from '../../../src/core/relay/events';
import { readSlmRelayTraits, resolveRelayMode } from '../../../src/core/relay/modeResolution';
import { demoPrice } from '../../../src/cli/demoModels';
import { HELD_OUT_QUESTIONS } from '../../../src/extension/demo/heldOutQuestions';
import {
  checkDemoAnswer,
  DEMO_LLM_LABEL,
  DEMO_PRICE_MODEL,
  DEMO_PRICE_NOTE,
  DEMO_QUESTION,
  demoPlan,
  demoQuestionProblem,
  demoSettings,
  demoTurn,
  embeddedDemoModels,
  pickHeldOutQuestion,
  TRY_DEMO_COMMAND,
} from '../../../src/extension/demo/demoPlan';

// Loaded after the stub is in place (they import 'vscode').
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { RelayService } = require('../../../src/extension/relayService') as typeof import('../../../src/extension/relayService');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { readSettings } = require('../../../src/extension/settings') as typeof import('../../../src/extension/settings');

const REPO = join(__dirname, '..', '..', '..');
/** The extension folder of these tests: dist/slmWorker.js only (the models are the repository's). */
const EXTENSION = join(REPO, '.cache', 'test-relay-demo');
const models = embeddedDemoModels(REPO);
const manifest = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8'));

test('the held-out questions are those of models/relay-demo-eval.jsonl, in order, each one of the demo task', () => {
  const lines = readFileSync(join(REPO, 'models', 'relay-demo-eval.jsonl'), 'utf8')
    .split('\n')
    .filter((line) => line.trim());
  const expected = lines.map((line) => (JSON.parse(line) as { question: string }).question);
  assert.deepEqual([...HELD_OUT_QUESTIONS], expected);
  for (const question of HELD_OUT_QUESTIONS) assert.equal(demoQuestionProblem(question), undefined, question);
  assert.ok(HELD_OUT_QUESTIONS.includes(DEMO_QUESTION), "the command's first question is held out too");
});

test('the demo task: a*b+c=? in the trained range is accepted, anything else is refused with what the models know', () => {
  for (const good of ['47*6+28=?', ' 10*2+10=? ', '99*9+99=?']) assert.equal(demoQuestionProblem(good), undefined, good);
  for (const bad of ['What is 2+2?', '100*2+3=?', '47*1+28=?', '47*6+28', '9*6+28=?', '47*6-28=?', '']) {
    assert.match(demoQuestionProblem(bad) ?? '', /one task: a\*b\+c=\?/, bad);
  }
  assert.deepEqual(demoTurn(' 47*6+28=? ', 'relay'), { kind: 'relay', question: '47*6+28=?', reference: '310', priceModel: DEMO_PRICE_MODEL });
  assert.deepEqual(demoTurn('47*6+28=?', 'slm-only', 't1').pairOf, 't1');
  assert.throws(() => demoTurn('2+2', 'relay'), /one task/);
});

test('"Ask another" offers a held-out question not asked yet, and any once all were', () => {
  const asked = new Set(HELD_OUT_QUESTIONS.slice(0, 499));
  assert.equal(
    pickHeldOutQuestion(asked, () => 0.99),
    HELD_OUT_QUESTIONS[499],
  );
  assert.equal(
    pickHeldOutQuestion(new Set(HELD_OUT_QUESTIONS), () => 0),
    HELD_OUT_QUESTIONS[0],
  );
  assert.equal(
    pickHeldOutQuestion(new Set(), () => 0.999999),
    HELD_OUT_QUESTIONS[499],
  );
  const seen = new Set<string>();
  for (let i = 0; i < 50; i++) seen.add(pickHeldOutQuestion(new Set([DEMO_QUESTION])));
  assert.ok(!seen.has(DEMO_QUESTION) && seen.size > 10, 'random, and never the one asked');
});

test('an answer is checked as `relay demo` checks it', () => {
  assert.deepEqual(checkDemoAnswer('33*4=132. 132+29=161. A: 161', '161'), { answer: '161', correct: true });
  assert.deepEqual(checkDemoAnswer('33*4=132. 132+29=151. A: 151', '161'), { answer: '151', correct: false });
  assert.deepEqual(checkDemoAnswer('', '161'), { answer: null, correct: false });
});

test("the demo's settings: the embedded pair, the reference price, greedy, command mode by the SLM's config.json; the rest are the defaults of package.json", () => {
  assert.ok(models, 'the repository has both demo models');
  resetSettings();
  const defaults = readSettings();
  const relay = demoSettings(models, 'relay');
  assert.deepEqual(relay.provider, { ...defaults.provider, kind: 'onnx-local', model: models.llmFolder });
  const price = demoPrice();
  assert.deepEqual(relay.prices, { inputPerMTok: price.inputPerMTok, outputPerMTok: price.outputPerMTok, cachedInputPerMTok: price.cachedInputPerMTok });
  assert.deepEqual(relay.slm, { ...defaults.slm, modelFolder: models.slmFolder });
  assert.equal(relay.temperature, 0, 'greedy: the same answer as `npm run demo`, every time');
  assert.equal(relay.mode, 'auto');
  assert.equal(resolveRelayMode(relay.mode, readSlmRelayTraits(models.slmFolder)), 'command', "auto is command mode, as the demo SLM's config.json asks");
  for (const key of ['confidence', 'maxLlmShare', 'maxTurns', 'tokenBudget', 'localOnly'] as const) assert.deepEqual(relay[key], defaults[key], key);
  // The pair's own protocol, as `relay demo` runs it: no ceiling relative to the LLM alone.
  const { maxCostRatio: _ratio, ...limits } = defaults.limits;
  assert.deepEqual(relay.limits, limits);
  assert.equal(demoSettings(models, 'slm-only').mode, 'slm-only');

  const plan = demoPlan(models, 'relay');
  assert.equal(plan.llmLabel, DEMO_LLM_LABEL);
  assert.match(plan.priceNote ?? '', new RegExp(`priced as ${DEMO_PRICE_MODEL}, @pydantic/genai-prices of \\d{4}-\\d{2}-\\d{2}$`));
  assert.ok((plan.priceNote ?? '').length <= 200, 'the webview takes a price note of up to 200 characters');
});

test('the command is contributed, and the walkthrough and the first-run prompt start with it', () => {
  const commands = manifest.contributes.commands as { command: string; title: string; category: string }[];
  assert.deepEqual(
    commands.find((c) => c.command === TRY_DEMO_COMMAND),
    { command: TRY_DEMO_COMMAND, title: 'Try the Demo', category: 'Relay' },
  );
  const [first] = manifest.contributes.walkthroughs[0].steps;
  assert.equal(first.id, 'tryDemo');
  assert.match(first.description, /\(command:relay\.tryDemo\)/);
  assert.deepEqual(first.completionEvents, ['onCommand:relay.tryDemo']);
  assert.ok(existsSync(join(REPO, first.media.markdown)));
  const firstRun = readFileSync(join(REPO, 'src', 'extension', 'walkthrough', 'firstRun.ts'), 'utf8');
  assert.match(firstRun, /SETUP_CHOICES\.demo,\s*SETUP_CHOICES\.walkthrough/);
});

describe('RelayService runs the demo plan', () => {
  let ext: StubExtensionContext;
  let service: InstanceType<typeof RelayService>;
  const answered: AnswerStats[] = [];

  before(async () => {
    await bundleSlmWorker(EXTENSION);
    ext = createExtensionContext(EXTENSION);
    service = new RelayService(ext.context, { onBusy: () => undefined, onAnswered: (stats) => answered.push(stats) });
  });

  after(async () => {
    service?.dispose();
    ext?.dispose();
    if (process.platform !== 'linux') return;
    const deadline = Date.now() + 15_000;
    while (slmWorkerPids().length > 0 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    const left = slmWorkerPids();
    for (const pid of left) process.kill(pid, 'SIGKILL');
    assert.deepEqual(left, [], 'dispose() stops both model processes');
  });

  /** Runs one demo answer; returns its spans by source and the outcome. */
  async function run(kind: 'relay' | 'slm-only') {
    assert.ok(models);
    const events: RelayEvent[] = [];
    const labels = new Set<string>();
    const destinations = new Set<string | undefined>();
    /** The model processes running as the answer ended (they are let go after it). */
    let processesAtDone = -1;
    const outcome = await service.answer(
      [{ role: 'user', content: DEMO_QUESTION }],
      {
        onEvent(event, model, destination) {
          events.push(event);
          labels.add(model);
          destinations.add(destination);
          if (event.type === 'done' && process.platform === 'linux') processesAtDone = slmWorkerPids().length;
        },
      },
      demoPlan(models, kind),
    );
    const spans = events.filter((e): e is Extract<RelayEvent, { type: 'span' }> => e.type === 'span');
    return { outcome, spans, labels, destinations, processesAtDone, llmText: spans.filter((s) => s.source === 'llm').map((s) => s.text) };
  }

  test("writes what `relay demo` prints, the LLM's characters marked, priced as the named model, in two child processes; settings neither read nor changed, totals untouched", async () => {
    // Settings that would stop any answer read from them: the demo must not read them.
    resetSettings({ 'relay.provider.kind': 'not-a-provider', 'relay.slm.modelFolder': '/nonexistent/model' });
    assert.throws(() => readSettings(), /relay\.provider\.kind/);
    const settingsBefore = JSON.stringify([...settings]);

    const { outcome, spans, llmText, labels, destinations, processesAtDone } = await run('relay');
    assert.equal(outcome.error, undefined, outcome.error?.message);
    // The output of `npm run demo` (greedy): 33*4=1[3]2. 132+29=1[6]1. A: 161
    assert.equal(outcome.answer, '33*4=132. 132+29=161. A: 161');
    assert.deepEqual(llmText, ['3', '6']);
    assert.equal(spans.map((s) => s.text).join(''), outcome.answer);
    assert.deepEqual(checkDemoAnswer(outcome.answer, '161'), { answer: '161', correct: true });
    assert.deepEqual(labels, new Set([DEMO_LLM_LABEL]));
    assert.deepEqual(destinations, new Set(['this machine']));

    const stats = outcome.stats;
    assert.ok(stats);
    assert.equal(stats.mode, 'command');
    assert.equal(stats.calls, 2);
    assert.equal(stats.llmTokens, 2);
    assert.equal(stats.priceNote, DEMO_PRICE_NOTE);
    const price = demoPrice();
    const expected = (stats.llmUsage.inputTokens * price.inputPerMTok + stats.llmUsage.outputTokens * price.outputPerMTok) / 1e6;
    assert.ok(stats.costUsd !== null && Math.abs(stats.costUsd - expected) < 1e-12, `cost ${stats.costUsd}, expected ${expected}`);
    assert.ok(stats.savedUsd !== null && stats.savedUsd > 0);

    if (process.platform === 'linux') assert.equal(processesAtDone, 2, 'the SLM and the LLM each ran in a child process');
    assert.equal(JSON.stringify([...settings]), settingsBefore, 'no setting changed');
    assert.deepEqual(answered, [], 'the onAnswered hook (status bar totals) is not told');
    assert.ok(!existsSync(join(ext.globalStorage, 'totals.json')), 'the savings totals are untouched');
  });

  test('the same question with the SLM alone: no LLM, the wrong answer `relay demo` reports', async () => {
    const { outcome, llmText, labels } = await run('slm-only');
    assert.equal(outcome.error, undefined, outcome.error?.message);
    assert.equal(outcome.answer, '33*4=132. 132+29=151. A: 151');
    assert.deepEqual(llmText, []);
    assert.deepEqual(labels, new Set(['small model']));
    assert.equal(outcome.stats?.calls, 0);
    assert.deepEqual(checkDemoAnswer(outcome.answer, '161'), { answer: '151', correct: false });
  });
});

/** Waits (at most 15 s) until `count` model processes of this test process run; returns their pids. */
async function modelProcessesSettleAt(count: number): Promise<number[]> {
  const deadline = Date.now() + 15_000;
  while (slmWorkerPids().length !== count && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
  return slmWorkerPids();
}

describe('the embedded demo model as the small model of real answers', { skip: process.platform !== 'linux' && 'reads /proc' }, () => {
  /** Installed as the extension is: dist/slmWorker.js and the demo models under the extension's folder. */
  const INSTALLED = join(REPO, '.cache', 'test-relay-demo-installed');
  let ext: StubExtensionContext;
  let service: InstanceType<typeof RelayService>;
  const sink = { onEvent: (): void => undefined };
  // Greedy, so the small model alone writes the answer `relay demo` reports for it.
  const userSettings = { 'relay.localOnly': true, 'relay.temperature': 0 };
  const ask = (content: string) => service.answer([{ role: 'user', content }], sink);
  /** The demo's models as the installed extension finds them. */
  const installedModels = () => embeddedDemoModels(INSTALLED);

  before(async () => {
    await bundleSlmWorker(INSTALLED);
    rmSync(join(INSTALLED, 'models'), { recursive: true, force: true });
    symlinkSync(join(REPO, 'models'), join(INSTALLED, 'models'));
    ext = createExtensionContext(INSTALLED);
    service = new RelayService(ext.context, { onBusy: () => undefined, onAnswered: () => undefined });
  });

  after(async () => {
    service?.dispose();
    ext?.dispose();
    const left = await modelProcessesSettleAt(0);
    for (const pid of left) process.kill(pid, 'SIGKILL');
    assert.deepEqual(left, [], 'dispose() stops the model processes');
  });

  test('a question it does not know is refused at once, naming its task and the model picker; nothing is loaded', async () => {
    // The defaults: no model picked, so the embedded demo model; local only, so no LLM is needed.
    resetSettings(userSettings);
    for (const question of ['What is 2+2?', 'How many ways can 5 people sit at a round table?']) {
      const outcome = await ask(question);
      assert.equal(outcome.answer, '');
      assert.equal(outcome.error?.fix, 'pick-model', outcome.error?.message);
      assert.match(outcome.error?.message ?? '', /^The small model is the embedded demo, which only knows questions like 33\*4\+29=\? \(a\*b\+c=\?/);
      assert.match(outcome.error?.message ?? '', /"Relay: Select Model", or run "Relay: Try the Demo"\.$/);
    }
    assert.deepEqual(slmWorkerPids(), [], 'the small model was not loaded');
  });

  test('in llm-only mode the embedded demo model writes nothing, so a question off its task is not refused for it', async () => {
    // No LLM model set: the refusal that comes is the LLM's set-up, not the demo model's.
    resetSettings({ 'relay.mode': 'llm-only', 'relay.temperature': 0 });
    const outcome = await ask('What is 2+2?');
    assert.doesNotMatch(outcome.error?.message ?? '', /embedded demo/, outcome.error?.message);
    assert.equal(outcome.error?.fix, 'llm-model', outcome.error?.message);
  });

  test('on a fresh install (no LLM model, no key) the demo model is named first: setting up an LLM would not make it answer', async () => {
    resetSettings({});
    const outcome = await ask('Explain this function.');
    assert.equal(outcome.error?.fix, 'pick-model', outcome.error?.message);
    assert.match(outcome.error?.message ?? '', /^The small model is the embedded demo/);
    assert.deepEqual(slmWorkerPids(), [], 'the small model was not loaded');
  });

  test('a question of its task is answered by it', async () => {
    resetSettings(userSettings);
    const outcome = await ask(DEMO_QUESTION);
    assert.equal(outcome.error, undefined, outcome.error?.message);
    assert.equal(outcome.answer, '33*4=132. 132+29=151. A: 151');
    assert.equal(service.sentRequests.last?.messages[0].content, DEMO_QUESTION);
  });

  test('a demo answer leaves "Show What Was Sent" as the last real answer left it, and lets go of its LLM; the small model, the user\'s own, is kept', async () => {
    const models = installedModels();
    assert.ok(models);
    resetSettings(userSettings);
    const recorded = service.sentRequests.last;
    assert.equal(recorded?.mode, 'slm-only');
    const [userSlm] = await modelProcessesSettleAt(1);

    const demo = await service.answer([{ role: 'user', content: '47*6+28=?' }], sink, demoPlan(models, 'relay'));
    assert.equal(demo.error, undefined, demo.error?.message);
    assert.equal(demo.stats?.mode, 'command');
    assert.equal(service.sentRequests.last, recorded, "the real answer's record stays");
    assert.equal(recorded?.messages[0].content, DEMO_QUESTION);
    assert.deepEqual(await modelProcessesSettleAt(1), [userSlm], "the demo LLM's process is gone; the SLM's is the user's and stays");

    // The user's next answer uses the model kept: no process is started.
    const next = await ask('12*3+45=?');
    assert.equal(next.error, undefined, next.error?.message);
    assert.deepEqual(slmWorkerPids(), [userSlm]);
  });

  test('with a small model of their own, the demo lets go of both its processes once it has answered', async () => {
    const models = installedModels();
    assert.ok(models);
    // Whatever the user's settings say (here: ones that no answer could run with), the demo's models are not kept for them.
    resetSettings({ 'relay.provider.kind': 'not-a-provider', 'relay.slm.modelFolder': '/nonexistent/model' });
    let processesAtDone = -1;
    const demo = await service.answer(
      [{ role: 'user', content: DEMO_QUESTION }],
      { onEvent: (event) => void (event.type === 'done' && (processesAtDone = slmWorkerPids().length)) },
      demoPlan(models, 'relay'),
    );
    assert.equal(demo.error, undefined, demo.error?.message);
    assert.equal(processesAtDone, 2, 'the demo ran in two processes');
    assert.deepEqual(await modelProcessesSettleAt(0), [], 'none is left once it has answered');
  });
});
