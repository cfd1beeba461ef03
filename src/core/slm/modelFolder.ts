/**
 * Reads a model folder as published for transformers.js / onnx-community (config.json,
 * generation_config.json, tokenizer.json, tokenizer_config.json, onnx/model*.onnx) and
 * picks the ONNX variant. Every problem is reported with the file it concerns. A folder
 * made by the model downloader (it has its completion marker or pending record) must also
 * be a finished download of the files read (models/modelStore.ts).
 */
import { existsSync, readFileSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { basename, isAbsolute, join, posix, relative, resolve, win32 } from 'node:path';
import { downloadedFolderProblem, PARTIAL_SUFFIX } from '../models/modelStore';
import { withLfLineEndings } from '../providers/chatTemplate';
import type { OnnxVariant } from './types';
import { settingRef } from '../settingNames';

export type VariantChoice = OnnxVariant | 'auto';

/** A problem with a model folder: which file, what is wrong, what to do. */
export class ModelFolderError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super(`${file}: ${problem}`);
    this.name = 'ModelFolderError';
  }
}

/** Architectures whose exports use the standard decoder inputs (input_ids, attention_mask, past_key_values.*). */
export const SUPPORTED_MODEL_TYPES = [
  'llama',
  'mistral',
  'qwen2',
  'qwen3',
  'phi3',
  'gemma',
  'gemma2',
  'granite',
  'olmo2',
  'smollm3',
  'stablelm',
  // The trained demo models of training/ (models/relay-demo-*): same decoder interface.
  'relay_tiny_gpt',
] as const;

/** File names of each variant in `onnx/`, in order of preference (onnx-community naming). */
export const VARIANT_FILES: Record<OnnxVariant, string[]> = {
  q4: ['model_q4.onnx'],
  q4f16: ['model_q4f16.onnx'],
  bnb4: ['model_bnb4.onnx'],
  int8: ['model_int8.onnx', 'model_quantized.onnx', 'model_uint8.onnx'],
  fp16: ['model_fp16.onnx'],
  fp32: ['model.onnx'],
};

export interface ModelConfig {
  modelType: string;
  numLayers: number;
  numKeyValueHeads: number;
  headDim: number;
  vocabSize: number;
  raw: Record<string, unknown>;
}

export interface OnnxVariantFile {
  variant: OnnxVariant;
  path: string;
  /** Bytes of the .onnx file plus its external data files (`<name>_data*`). */
  totalBytes: number;
}

export interface ModelFolder {
  folder: string;
  config: ModelConfig;
  generationConfig: Record<string, unknown>;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  /** Chat template (chat_template.jinja, or tokenizer_config.json's chat_template). */
  chatTemplate?: string;
  /** The file chatTemplate was read from, which its errors name (set exactly when chatTemplate is). */
  chatTemplateFile?: string;
  variants: OnnxVariantFile[];
  chosen: OnnxVariantFile;
  eosTokenIds: number[];
}

/**
 * Most bytes Relay reads of each text file of a model folder: well above what published
 * models carry (tokenizer.json: a few MB, up to ~35 MB for 256k-token vocabularies), so
 * that a wrong file (a symlink to /dev/zero, a disk image renamed) is refused, not read
 * into memory.
 */
export const MODEL_FILE_MAX_BYTES: Record<string, number> = {
  'config.json': 8 * 2 ** 20,
  'generation_config.json': 8 * 2 ** 20,
  'tokenizer_config.json': 16 * 2 ** 20,
  'chat_template.jinja': 16 * 2 ** 20,
  'tokenizer.json': 64 * 2 ** 20,
};

const DEFAULT_MODEL_FILE_MAX_BYTES = 16 * 2 ** 20;

/**
 * What is wrong with reading `path` as a text file of a model folder, or undefined when it
 * can be read: it must be a regular file (symlinks resolved: a FIFO would block the read for
 * ever, a device never ends) of at most `maxBytes`. stat does not open the file. A symlink
 * to a file elsewhere is fine (a Hugging Face cache's snapshot folder holds only those).
 */
export function modelFileProblem(path: string, maxBytes = MODEL_FILE_MAX_BYTES[basename(path)] ?? DEFAULT_MODEL_FILE_MAX_BYTES): string | undefined {
  let stat;
  try {
    stat = statSync(realpathSync(path));
  } catch (e) {
    return `cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); download the model again.`;
  }
  if (!stat.isFile()) return 'is not a regular file (a device, a pipe or a folder); replace it with the file of the model, or download the model again.';
  if (stat.size > maxBytes) {
    return `is ${(stat.size / 2 ** 20).toFixed(1)} MB, more than the ${maxBytes / 2 ** 20} MB such a file may have; it is not the model's file: download the model again.`;
  }
  return undefined;
}

/** A text file of a model folder, after modelFileProblem's checks (a ModelFolderError naming the file otherwise). */
export function readModelFile(path: string, maxBytes?: number): string {
  const problem = modelFileProblem(path, maxBytes);
  if (problem) throw new ModelFolderError(path, problem);
  return readFileSync(path, 'utf8');
}

function readJson(folder: string, name: string, required: boolean): Record<string, unknown> | undefined {
  const path = join(folder, name);
  if (!existsSync(path)) {
    if (!required) return undefined;
    throw new ModelFolderError(path, `missing. A model folder needs ${name}; download the model again or pick its root folder.`);
  }
  const text = readModelFile(path);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (e) {
    throw new ModelFolderError(path, `is not valid JSON (${(e as Error).message}); the file is corrupt, download it again.`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new ModelFolderError(path, 'must hold a JSON object.');
  }
  return value as Record<string, unknown>;
}

function positiveInt(config: Record<string, unknown>, key: string, file: string): number {
  const v = config[key];
  if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) {
    throw new ModelFolderError(file, `"${key}" must be a positive integer (found ${JSON.stringify(v)}).`);
  }
  return v;
}

function readConfig(folder: string): ModelConfig {
  const file = join(folder, 'config.json');
  const raw = readJson(folder, 'config.json', true)!;
  const modelType = raw.model_type;
  if (typeof modelType !== 'string')
    throw new ModelFolderError(
      file,
      'has no "model_type", so it is not the config.json of a causal language model from Hugging Face. ' +
        'The folder must hold an ONNX export of one (e.g. onnx-community/Qwen3-0.6B-ONNX): download it again, or point at the folder whose config.json names its "model_type".',
    );
  if (!(SUPPORTED_MODEL_TYPES as readonly string[]).includes(modelType)) {
    throw new ModelFolderError(file, `model_type "${modelType}" is not supported; supported decoder types: ${SUPPORTED_MODEL_TYPES.join(', ')}.`);
  }
  const numLayers = positiveInt(raw, 'num_hidden_layers', file);
  const heads = positiveInt(raw, 'num_attention_heads', file);
  const numKeyValueHeads = raw.num_key_value_heads === undefined ? heads : positiveInt(raw, 'num_key_value_heads', file);
  const headDim = raw.head_dim === undefined || raw.head_dim === null ? positiveInt(raw, 'hidden_size', file) / heads : positiveInt(raw, 'head_dim', file);
  const vocabSize = positiveInt(raw, 'vocab_size', file);
  return { modelType, numLayers, numKeyValueHeads, headDim, vocabSize, raw };
}

function idsOf(value: unknown): number[] {
  if (typeof value === 'number') return [value];
  if (Array.isArray(value)) return value.filter((v): v is number => typeof v === 'number');
  return [];
}

/** The content of a special token entry in tokenizer_config.json (string or AddedToken object). */
export function specialTokenText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (value && typeof value === 'object' && typeof (value as { content?: unknown }).content === 'string') {
    return (value as { content: string }).content;
  }
  return undefined;
}

/** Whether `path` lies strictly inside `folder` (both absolute, compared as written). */
function isInside(folder: string, path: string): boolean {
  const rel = relative(folder, path);
  return rel !== '' && rel.split(/[\\/]/)[0] !== '..' && !isAbsolute(rel);
}

/** Where an external data location of a model leads, and whether Relay may read it. */
export type ExternalDataFile = { ok: true; path: string } | { ok: false; path: string; problem: 'outside' | 'missing' | 'not-a-file' };

/**
 * Resolves an external data `location` of a model in `onnxDir` (the .onnx file's folder,
 * where ONNX Runtime looks). Only a regular file inside that folder, symlinks resolved,
 * is `ok`: a crafted model must not make us read /dev/zero, open a FIFO or another file
 * of the disk. `path` is the location joined to the folder (the file to open when ok).
 */
export function resolveExternalDataFile(onnxDir: string, location: string): ExternalDataFile {
  const folder = resolve(onnxDir);
  const path = resolve(folder, location);
  // Absolute (either OS's form, or a Windows drive-relative C:x) or climbing out: outside, whatever exists there.
  const absolute = posix.isAbsolute(location) || win32.isAbsolute(location) || /^[A-Za-z]:/.test(location);
  if (location === '' || location.includes('\0') || absolute || !isInside(folder, path)) return { ok: false, path, problem: 'outside' };
  let isFile: boolean;
  try {
    const real = realpathSync(path);
    if (!isInside(realpathSync(folder), real)) return { ok: false, path, problem: 'outside' };
    // stat does not open: a FIFO or a device is told apart without touching it.
    isFile = statSync(real).isFile();
  } catch {
    return { ok: false, path, problem: 'missing' };
  }
  return isFile ? { ok: true, path } : { ok: false, path, problem: 'not-a-file' };
}

/**
 * What identifies the files as they are now (device, inode, size, modification time, each):
 * it changes when one is replaced, or written over in place (`cp` onto it keeps the inode).
 */
export function filesFingerprint(paths: readonly string[]): string {
  return paths
    .map((path) => {
      try {
        const s = statSync(path);
        return `${s.dev}:${s.ino}:${s.size}:${s.mtimeMs}`;
      } catch {
        return 'missing';
      }
    })
    .join('|');
}

/** filesFingerprint of the weights of every variant in a folder (each .onnx and its external data files); '' when they cannot be listed. */
export function modelWeightsFingerprint(folder: string): string {
  try {
    return filesFingerprint(listVariants(folder).flatMap((v) => [v.path, ...externalDataNames(v.path).map((name) => join(v.path, '..', name))]));
  } catch {
    return '';
  }
}

/** Names of the external data files next to an .onnx file (`<name>_data*`, `<name>.data*`), a download's partial files left out. */
function externalDataNames(onnxPath: string): string[] {
  const base = basename(onnxPath);
  return readdirSync(join(onnxPath, '..')).filter(
    (name) =>
      name !== base &&
      (name.startsWith(`${base}_data`) || name.startsWith(`${base}.data`)) &&
      !name.endsWith(PARTIAL_SUFFIX) &&
      !name.endsWith(`${PARTIAL_SUFFIX}.json`),
  );
}

function externalDataBytes(onnxPath: string): number {
  const dir = join(onnxPath, '..');
  return externalDataNames(onnxPath).reduce((total, name) => total + statSync(join(dir, name)).size, 0);
}

/** The files (repository paths, '/'-separated) a model load reads: the JSON files present and the chosen graph with its data. */
export function filesRead(folder: string, chosen: OnnxVariantFile): string[] {
  const graph = relative(folder, chosen.path).split(/[\\/]/).join('/');
  const graphDir = graph.includes('/') ? graph.slice(0, graph.lastIndexOf('/') + 1) : '';
  const json = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'chat_template.jinja'].filter((name) =>
    existsSync(join(folder, name)),
  );
  return [...json, graph, ...externalDataNames(chosen.path).map((name) => graphDir + name)];
}

export function listVariants(folder: string): OnnxVariantFile[] {
  const onnxDir = join(folder, 'onnx');
  const found: OnnxVariantFile[] = [];
  for (const variant of Object.keys(VARIANT_FILES) as OnnxVariant[]) {
    for (const name of VARIANT_FILES[variant]) {
      const path = join(onnxDir, name);
      if (existsSync(path)) {
        found.push({ variant, path, totalBytes: statSync(path).size + externalDataBytes(path) });
        break;
      }
    }
  }
  return found;
}

/**
 * The variant rule: an explicit choice must exist; `auto` takes the variant whose files
 * (the .onnx plus all its external data files) take the fewest bytes: the least to download
 * and to hold in memory (q4f16 or int8 for the usual onnx-community exports; q4f16 also
 * where it is the only file, as in repositories that ship nothing else).
 */
export function chooseVariant(folder: string, variants: OnnxVariantFile[], choice: VariantChoice): OnnxVariantFile {
  const onnxDir = join(folder, 'onnx');
  if (variants.length === 0) {
    throw new ModelFolderError(
      onnxDir,
      `no ONNX model found (looked for ${Object.values(VARIANT_FILES).flat().join(', ')}). Download an ONNX export of the model.`,
    );
  }
  if (choice === 'auto') return [...variants].sort((a, b) => a.totalBytes - b.totalBytes)[0];
  const hit = variants.find((v) => v.variant === choice);
  if (!hit) {
    throw new ModelFolderError(
      join(onnxDir, VARIANT_FILES[choice][0]),
      `variant "${choice}" is not in this folder; available: ${variants.map((v) => v.variant).join(', ')}. Set ${settingRef('slmVariant')} to one of them or to "auto".`,
    );
  }
  return hit;
}

export function readModelFolder(folder: string, choice: VariantChoice = 'auto'): ModelFolder {
  requireFolder(folder);
  const config = readConfig(folder);
  const tokenizer = readTokenizerFiles(folder, config.raw);

  const variants = listVariants(folder);
  const chosen = chooseVariant(folder, variants, choice);
  const downloadProblem = downloadedFolderProblem(folder, chosen.variant, filesRead(folder, chosen));
  if (downloadProblem) {
    throw new ModelFolderError(folder, `${downloadProblem} Run "Relay: Select Model" and pick this model again to finish the download.`);
  }
  return { folder, config, ...tokenizer, variants, chosen };
}

/** What a model on a server needs from its folder: the tokenizer, the chat template and the model's limits (no ONNX files). */
export interface TokenizerFolder {
  folder: string;
  /** config.json as written ({} when the folder has none). */
  configRaw: Record<string, unknown>;
  generationConfig: Record<string, unknown>;
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  /** Chat template (chat_template.jinja, or tokenizer_config.json's chat_template). */
  chatTemplate?: string;
  /** The file chatTemplate was read from, which its errors name (set exactly when chatTemplate is). */
  chatTemplateFile?: string;
  eosTokenIds: number[];
}

/**
 * Reads the tokenizer files of a folder (a Hugging Face repository as downloaded, any
 * architecture: safetensors or GGUF folders carry the same tokenizer.json and
 * tokenizer_config.json); config.json is optional here.
 */
export function readTokenizerFolder(folder: string): TokenizerFolder {
  requireFolder(folder);
  const configRaw = readJson(folder, 'config.json', false) ?? {};
  return { folder, configRaw, ...readTokenizerFiles(folder, configRaw) };
}

function requireFolder(folder: string): void {
  if (!existsSync(folder) || !statSync(folder).isDirectory()) {
    throw new ModelFolderError(folder, 'is not a folder. Set the model folder to a downloaded model.');
  }
}

function readTokenizerFiles(folder: string, configRaw: Record<string, unknown>): Omit<TokenizerFolder, 'folder' | 'configRaw'> {
  const generationConfig = readJson(folder, 'generation_config.json', false) ?? {};
  const tokenizerJson = readJson(folder, 'tokenizer.json', true)!;
  if (typeof tokenizerJson.model !== 'object' || tokenizerJson.model === null) {
    throw new ModelFolderError(join(folder, 'tokenizer.json'), 'has no "model" section; it is not a tokenizers JSON file.');
  }
  const tokenizerConfig = readJson(folder, 'tokenizer_config.json', true)!;
  let chatTemplate: string | undefined;
  const fromConfig = tokenizerConfig.chat_template;
  if (typeof fromConfig === 'string') chatTemplate = fromConfig;
  else if (Array.isArray(fromConfig)) {
    // Named templates: [{ name: 'default', template: '...' }, ...]
    const named = fromConfig.find((t) => t && (t as { name?: string }).name === 'default') ?? fromConfig[0];
    if (named && typeof (named as { template?: unknown }).template === 'string') chatTemplate = (named as { template: string }).template;
  }
  let chatTemplateFile = chatTemplate === undefined ? undefined : join(folder, 'tokenizer_config.json');
  // As transformers (and so vLLM and llama.cpp's converters): a chat_template.jinja file takes
  // priority over the config's entry, which a repository that updated the file may have left stale.
  const jinjaFile = join(folder, 'chat_template.jinja');
  if (existsSync(jinjaFile)) {
    chatTemplate = withLfLineEndings(readModelFile(jinjaFile));
    chatTemplateFile = jinjaFile;
  }

  const eos = new Set<number>([...idsOf(generationConfig.eos_token_id), ...idsOf(configRaw.eos_token_id)]);
  const eosText = specialTokenText(tokenizerConfig.eos_token);
  if (eosText !== undefined) {
    const added = (tokenizerJson.added_tokens as { id: number; content: string }[] | undefined) ?? [];
    const hit = added.find((t) => t.content === eosText);
    if (hit) eos.add(hit.id);
  }
  return { generationConfig, tokenizerJson, tokenizerConfig, chatTemplate, chatTemplateFile, eosTokenIds: [...eos].sort((a, b) => a - b) };
}
