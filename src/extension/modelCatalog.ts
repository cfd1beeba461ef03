/**
 * The small models offered by "Relay: Select Model" (no VS Code import: unit-tested).
 * Variant sizes are estimates from each model's parameter count (weights only, as the
 * onnx-community exports store them); the variant picker replaces them with the exact
 * sizes from the hub's file listing before anything is downloaded.
 *
 * An entry may pin a commit and the sha256 of every file it downloads: it is then
 * downloaded from that commit and each file checked against its pin, whatever the hub or
 * a mirror says. An entry without a pin follows its branch (`revision`) and its files are
 * checked against the hub's own checksums only; the picker says which it is. The entries
 * below are unpinned: their commits and hashes have not been recorded yet (they must be
 * read from the hub, never guessed).
 */
import type { OnnxVariant } from '../core/slm/types';
import { formatBytes } from '../core/models/errors';

export interface CatalogVariant {
  variant: OnnxVariant;
  /** Estimated download size in bytes. */
  approxBytes: number;
}

/** A catalog entry's download, fixed: the commit, and the sha256 of every file of every variant offered. */
export interface CatalogPin {
  /** The 40-hex commit the files are downloaded from. */
  commit: string;
  /** sha256 (64 hex) by repository path, e.g. { 'onnx/model_q4.onnx': '…' }; a file without one is not downloaded. */
  sha256: Record<string, string>;
}

export interface CatalogModel {
  id: string;
  label: string;
  /** Model hub repository (owner/name); absent for the embedded demo. */
  hubRepo?: string;
  /** The branch or tag an unpinned entry follows (a pinned one downloads `pin.commit`). */
  revision: string;
  /** When set: download that commit and check every file against its sha256 (downloader's pinnedSha256). */
  pin?: CatalogPin;
  /** Architecture (config.json model_type), one the runtime supports. */
  modelType: string;
  /** Trained to write <call>N</call> (command mode); otherwise confidence mode. */
  relayTrained: boolean;
  variants: CatalogVariant[];
  /** What it needs to run, in words. */
  needs: string;
  /** Why one would pick it. */
  note: string;
}

const GB = 1_000_000_000;
const MB = 1_000_000;

export const EMBEDDED_DEMO_ID = 'embedded-demo';

export const MODEL_CATALOG: CatalogModel[] = [
  {
    id: EMBEDDED_DEMO_ID,
    label: 'Relay demo model (embedded)',
    revision: 'embedded',
    modelType: 'relay_tiny_gpt',
    relayTrained: true,
    variants: [{ variant: 'int8', approxBytes: 0.54 * MB }],
    needs: 'nothing: ships with the extension, works offline',
    note: 'A toy arithmetic model trained to call the LLM (RelayLLM command mode); for trying Relay out.',
  },
  {
    id: 'qwen3-0.6b',
    label: 'Qwen3-0.6B',
    hubRepo: 'onnx-community/Qwen3-0.6B-ONNX',
    revision: 'main',
    modelType: 'qwen3',
    relayTrained: false,
    variants: [
      { variant: 'int8', approxBytes: 0.6 * GB },
      { variant: 'q4', approxBytes: 0.9 * GB },
      { variant: 'fp16', approxBytes: 1.2 * GB },
      { variant: 'fp32', approxBytes: 2.4 * GB },
    ],
    needs: '2 GB of memory; confidence mode',
    note: "The paper's small model (RelayLLM's SLM base); pairs with a Qwen3 LLM such as Qwen3-8B.",
  },
  {
    id: 'qwen3-1.7b',
    label: 'Qwen3-1.7B',
    hubRepo: 'onnx-community/Qwen3-1.7B-ONNX',
    revision: 'main',
    modelType: 'qwen3',
    relayTrained: false,
    variants: [
      { variant: 'int8', approxBytes: 1.7 * GB },
      { variant: 'q4', approxBytes: 2.0 * GB },
      { variant: 'fp16', approxBytes: 3.4 * GB },
      { variant: 'fp32', approxBytes: 6.9 * GB },
    ],
    needs: '4 GB of memory; confidence mode',
    note: "The paper's larger small model; better answers, about three times slower per token.",
  },
  {
    id: 'qwen2.5-0.5b',
    label: 'Qwen2.5-0.5B-Instruct',
    hubRepo: 'onnx-community/Qwen2.5-0.5B-Instruct',
    revision: 'main',
    modelType: 'qwen2',
    relayTrained: false,
    variants: [
      { variant: 'int8', approxBytes: 0.5 * GB },
      { variant: 'q4', approxBytes: 0.8 * GB },
      { variant: 'fp16', approxBytes: 1.0 * GB },
      { variant: 'fp32', approxBytes: 2.0 * GB },
    ],
    needs: '1.5 GB of memory; confidence mode',
    note: 'Small and quick; shares its tokenizer with the Qwen2.5 LLMs.',
  },
  {
    id: 'llama-3.2-1b',
    label: 'Llama-3.2-1B-Instruct',
    hubRepo: 'onnx-community/Llama-3.2-1B-Instruct-ONNX',
    revision: 'main',
    modelType: 'llama',
    relayTrained: false,
    variants: [
      { variant: 'int8', approxBytes: 1.3 * GB },
      { variant: 'q4', approxBytes: 1.6 * GB },
      { variant: 'fp16', approxBytes: 2.5 * GB },
      { variant: 'fp32', approxBytes: 5.0 * GB },
    ],
    needs: '3 GB of memory; confidence mode',
    note: 'Pairs with Llama LLMs (Llama-3.1-8B/70B on Ollama, vLLM or a hosted API).',
  },
  {
    id: 'smollm2-360m',
    label: 'SmolLM2-360M-Instruct',
    hubRepo: 'HuggingFaceTB/SmolLM2-360M-Instruct',
    revision: 'main',
    modelType: 'llama',
    relayTrained: false,
    variants: [
      { variant: 'q4', approxBytes: 0.3 * GB },
      { variant: 'int8', approxBytes: 0.4 * GB },
      { variant: 'fp16', approxBytes: 0.7 * GB },
      { variant: 'fp32', approxBytes: 1.4 * GB },
    ],
    needs: '1 GB of memory; confidence mode',
    note: 'The smallest: fast on any laptop; the LLM has more to fix.',
  },
];

/** The revision a hub entry downloads: its pinned commit, else the branch it follows. */
export function downloadRevision(model: CatalogModel): string {
  return model.pin?.commit ?? model.revision;
}

/** What is wrong with an entry's pin (a commit that is not 40 hex, a hash that is not 64 hex), if anything. */
export function pinProblem(model: CatalogModel): string | undefined {
  const pin = model.pin;
  if (!pin) return undefined;
  if (!/^[0-9a-f]{40}$/.test(pin.commit)) return `${model.label}: the pinned commit "${pin.commit}" is not 40 lowercase hex digits.`;
  const paths = Object.keys(pin.sha256);
  if (paths.length === 0) return `${model.label}: the pin lists no file hashes.`;
  const bad = paths.find((path) => !/^[0-9a-f]{64}$/.test(pin.sha256[path]));
  return bad === undefined ? undefined : `${model.label}: the pinned sha256 of ${bad} is not 64 lowercase hex digits.`;
}

/** Whether the entry's download is pinned, in words for the picker. */
export function pinSummary(model: CatalogModel): string {
  if (!model.hubRepo) return 'ships with the extension';
  if (model.pin) return `pinned to commit ${model.pin.commit.slice(0, 7)}; every file checked against its recorded sha256`;
  return `unpinned: follows ${model.revision}; files checked against the hub's own checksums only`;
}

export function catalogModel(id: string): CatalogModel | undefined {
  return MODEL_CATALOG.find((model) => model.id === id);
}

/** The catalog entry of a hub repository, if it is one of ours. */
export function catalogModelForRepo(repo: string): CatalogModel | undefined {
  return MODEL_CATALOG.find((model) => model.hubRepo?.toLowerCase() === repo.toLowerCase());
}

/** "about 0.6 GB (int8) to 2.4 GB (fp32)": the range of a model's variants. */
export function sizeRange(model: CatalogModel): string {
  const sorted = [...model.variants].sort((a, b) => a.approxBytes - b.approxBytes);
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  if (!first) return '';
  if (first === last) return `about ${formatBytes(first.approxBytes)} (${first.variant})`;
  return `about ${formatBytes(first.approxBytes)} (${first.variant}) to ${formatBytes(last.approxBytes)} (${last.variant})`;
}

export interface VariantOption {
  variant: OnnxVariant;
  /** Exact when the hub's listing was read, else the catalog's estimate. */
  bytes?: number;
  exact: boolean;
  downloaded: boolean;
}

/** One line for a variant in the picker: "q4 · 912 MB · downloaded". */
export function describeVariant(option: VariantOption): string {
  const size = option.bytes === undefined ? 'size unknown' : `${option.exact ? '' : 'about '}${formatBytes(option.bytes)}`;
  return `${option.variant} · ${size}${option.downloaded ? ' · downloaded' : ''}`;
}

/**
 * The variants to offer: those the hub lists (exact sizes) when it could be read, else
 * the catalog's (estimates); each marked downloaded when the store has it whole.
 */
export function variantOptions(input: {
  listed?: { variant: OnnxVariant; totalBytes?: number }[];
  catalog?: CatalogModel;
  downloaded: string[];
}): VariantOption[] {
  const fromHub = input.listed?.map((choice) => ({ variant: choice.variant, bytes: choice.totalBytes, exact: choice.totalBytes !== undefined }));
  const fromCatalog = input.catalog?.variants.map((v) => ({ variant: v.variant, bytes: v.approxBytes, exact: false }));
  const base = fromHub ?? fromCatalog ?? [];
  const options = base.map((option) => ({ ...option, downloaded: input.downloaded.includes(option.variant) }));
  // Offline: variants already downloaded stay usable even if the listing could not be read.
  for (const variant of input.downloaded) {
    if (!options.some((option) => option.variant === variant)) options.push({ variant: variant as OnnxVariant, bytes: undefined, exact: false, downloaded: true });
  }
  return options.sort((a, b) => Number(b.downloaded) - Number(a.downloaded) || (a.bytes ?? Infinity) - (b.bytes ?? Infinity));
}
