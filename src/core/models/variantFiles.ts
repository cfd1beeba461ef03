/**
 * Which files of an ONNX export (transformers.js / onnx-community layout) make one
 * runnable variant: the JSON configuration and tokenizer files, the variant's
 * `onnx/model_*.onnx` and its external data files (`<name>_data`, `<name>_data_1`, ...).
 */
import { VARIANT_FILES } from '../slm/modelFolder';
import type { OnnxVariant } from '../slm/types';
import { ModelDownloadError } from './errors';
import type { HubFile } from './hubApi';

/** Files every variant needs. */
export const REQUIRED_FILES = ['config.json', 'tokenizer.json', 'tokenizer_config.json'];
/** Small files used when present. */
export const OPTIONAL_FILES = ['generation_config.json', 'chat_template.jinja', 'special_tokens_map.json'];

export interface VariantChoice {
  variant: OnnxVariant;
  /** The graph file, e.g. onnx/model_q4.onnx. */
  graph: string;
  files: HubFile[];
  /** Bytes of all files of this variant; undefined when a size is unknown. */
  totalBytes?: number;
}

function isExternalDataOf(path: string, graph: string): boolean {
  return path !== graph && (path.startsWith(`${graph}_data`) || path.startsWith(`${graph}.data`));
}

/** Every variant that `listing` can provide, smallest first. */
export function availableVariants(listing: HubFile[]): VariantChoice[] {
  const byPath = new Map(listing.map((file) => [file.path, file]));
  const missing = REQUIRED_FILES.filter((name) => !byPath.has(name));
  if (missing.length > 0) return [];
  const common = [...REQUIRED_FILES, ...OPTIONAL_FILES].filter((name) => byPath.has(name)).map((name) => byPath.get(name) as HubFile);
  const choices: VariantChoice[] = [];
  for (const variant of Object.keys(VARIANT_FILES) as OnnxVariant[]) {
    const graphName = VARIANT_FILES[variant].map((name) => `onnx/${name}`).find((path) => byPath.has(path));
    if (!graphName) continue;
    const graph = byPath.get(graphName) as HubFile;
    const data = listing.filter((file) => isExternalDataOf(file.path, graphName));
    const files = [...common, graph, ...data];
    const sizes = files.map((file) => file.size);
    const totalBytes = sizes.every((size): size is number => size !== undefined) ? sizes.reduce((a, b) => a + b, 0) : undefined;
    choices.push({ variant, graph: graphName, files, totalBytes });
  }
  return choices.sort((a, b) => (a.totalBytes ?? Number.MAX_SAFE_INTEGER) - (b.totalBytes ?? Number.MAX_SAFE_INTEGER));
}

/** The files of `variant` ('auto' = the smallest), or an error that says what the repository lacks. */
export function filesForVariant(repo: string, listing: HubFile[], variant: OnnxVariant | 'auto'): VariantChoice {
  const names = new Set(listing.map((file) => file.path));
  const missing = REQUIRED_FILES.filter((name) => !names.has(name));
  if (missing.length > 0) {
    throw new ModelDownloadError(
      'not_found',
      `${repo} has no ${missing.join(', ')}: it is not an ONNX export in the transformers.js layout. Pick an onnx-community export of the model.`,
      missing[0],
    );
  }
  const choices = availableVariants(listing);
  if (choices.length === 0) {
    throw new ModelDownloadError(
      'not_found',
      `${repo} has no ONNX model that Relay runs (looked for ${Object.values(VARIANT_FILES)
        .flat()
        .map((n) => `onnx/${n}`)
        .join(', ')}). Pick an onnx-community export of the model.`,
    );
  }
  if (variant === 'auto') return choices[0];
  const hit = choices.find((choice) => choice.variant === variant);
  if (!hit) {
    throw new ModelDownloadError(
      'not_found',
      `${repo} has no ${variant} variant; it offers ${choices.map((c) => c.variant).join(', ')}.`,
      `onnx/${VARIANT_FILES[variant][0]}`,
    );
  }
  return hit;
}

/**
 * The order files are completed in: external data before the graph that needs it, graphs
 * before the JSON files, config.json last. The model loader requires config.json first,
 * so until the very last rename the folder cannot even be opened as a model.
 */
export function completionOrder<T extends { path: string }>(files: T[]): T[] {
  const rank = (path: string): number => {
    if (path === 'config.json') return 4;
    if (/\.onnx(_data|\.data)/.test(path)) return 0;
    if (path.endsWith('.onnx')) return 1;
    return 2;
  };
  return [...files].sort((a, b) => rank(a.path) - rank(b.path) || a.path.localeCompare(b.path));
}
