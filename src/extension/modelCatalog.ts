/**
 * The small models offered by "Relay: Select Model" (no VS Code import: unit-tested), and
 * what is known about each repository's files: every variant listed here was seen in a
 * public source (`source`: the hub's own file listing or model card, a library's docs, or
 * another project's code quoting the hub), with its size as that source states it (rounded
 * as the hub shows sizes). What could not be confirmed is said in `unconfirmed` and left
 * out of `variants`. docs/models.md has the same facts with their links. The picker
 * replaces these sizes with the hub's exact listing before anything is downloaded.
 *
 * An entry may pin a commit and the sha256 of every file it downloads: it is then
 * downloaded from that commit and each file checked against its pin, whatever the hub or
 * a mirror says. An entry without a pin follows its branch (`revision`) and its files are
 * checked against the hub's own checksums only; the picker says which it is. The entries
 * below are unpinned: their commits and hashes have not been recorded yet (they must be
 * read from the hub, never guessed).
 */
import type { OnnxVariant } from '../core/slm/types';
import { VARIANT_FILES } from '../core/slm/modelFolder';
import { DEFAULT_KV_CACHE_BUDGET_MB } from '../core/slm/onnx/kvPrefixCache';
import { formatBytes } from '../core/models/errors';

/** Where a catalog fact was read. */
export interface CatalogSource {
  /** A page or file a person can open. */
  url: string;
  /**
   * hub: the hub's own page (a repository's file listing or model card), as stored by a
   * public web index; docs: a library's documentation or source; third-party: another
   * project's code that quotes the hub; issue: an issue thread; bundled: this repository.
   */
  kind: 'hub' | 'docs' | 'third-party' | 'issue' | 'bundled';
  /** What it shows, with the commit or date it gives. */
  shows: string;
}

/**
 * A variant as transformers.js names an export's files (onnx/model<_suffix>.onnx): the
 * runtime's own variants (q4f16 and bnb4 among them now), named here too so that a catalog
 * entry may list a published variant before the runtime loads it.
 */
export type ExportVariant = OnnxVariant | 'q4f16' | 'bnb4';

export interface CatalogVariant {
  variant: ExportVariant;
  /** The graph file, e.g. 'onnx/model_q4.onnx' (fp32: 'onnx/model.onnx'; int8 may also ship as model_quantized/model_uint8). */
  file: string;
  /** Its external data files as the source lists them (`<file>_data`, `<file>_data_1`, ...); [] when the listing shows none. */
  externalData: string[];
  /** Download size in bytes of the graph and its external data, as the source states it (the JSON files add a few MB). */
  approxBytes: number;
  /** Where the file and its size were seen. */
  source: CatalogSource;
}

/** A catalog variant the runtime loads today (OnnxVariant; see VARIANT_FILES). */
export type RuntimeCatalogVariant = CatalogVariant & { variant: OnnxVariant };

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
  /** Where the repository id was seen; absent when no identifiable source shows it (then `unconfirmed` says so). */
  repoSource?: CatalogSource;
  /** The branch or tag an unpinned entry follows (a pinned one downloads `pin.commit`). */
  revision: string;
  /** When set: download that commit and check every file against its sha256 (downloader's pinnedSha256). */
  pin?: CatalogPin;
  /** Architecture (config.json model_type), one the runtime supports. */
  modelType: string;
  /** Trained to write <call>N</call> (command mode); otherwise auto runs it in money-aware or confidence mode. */
  relayTrained: boolean;
  /** The variants the repository is known to publish (each with its source); the picker offers those the runtime loads. */
  variants: CatalogVariant[];
  /** What could not be confirmed from a public source, one fact a line. */
  unconfirmed: string[];
  /** What it needs to run, in words. */
  needs: string;
  /** Why one would pick it. */
  note: string;
}

const HUB = 'https://huggingface.co';
const KB = 1_000;
const MB = 1_000_000;
const GB = 1_000_000_000;

export const EMBEDDED_DEMO_ID = 'embedded-demo';

/**
 * What a model not trained to call needs, after the memory of its file: the kept caches come on
 * top of it (relay.slm.kvCacheBudgetMb), and auto picks the mode by whether prices are known.
 */
function offTheShelfNeeds(memory: string): string {
  return `${memory}, plus up to ${DEFAULT_KV_CACHE_BUDGET_MB.toLocaleString('en-US')} MB of kept caches (relay.slm.kvCacheBudgetMb; 0 keeps none); auto runs it in money-aware mode when the LLM's prices are known, else in confidence mode`;
}

/** The hub's file listing of a repository's onnx/ folder on main, as a public web index stored it. */
function hubListing(repo: string, shows: string): CatalogSource {
  return { url: `${HUB}/${repo}/tree/main/onnx`, kind: 'hub', shows };
}

/** Single-file variants (no external data) of one listing. */
function listed(source: CatalogSource, sizes: Partial<Record<ExportVariant, number>>): CatalogVariant[] {
  const file = (variant: ExportVariant): string => (variant === 'fp32' ? 'onnx/model.onnx' : `onnx/model_${variant}.onnx`);
  return (Object.entries(sizes) as [ExportVariant, number][]).map(([variant, bytes]) => ({
    variant,
    file: file(variant),
    externalData: [],
    approxBytes: Math.round(bytes),
    source,
  }));
}

/** A variant whose weights are in one external data file next to the graph (`<file>_data`). */
function withData(source: CatalogSource, variant: ExportVariant, file: string, graphBytes: number, dataBytes: number): CatalogVariant {
  return { variant, file, externalData: [`${file}_data`], approxBytes: Math.round(graphBytes + dataBytes), source };
}

/** kizuna-ai-lab/sokuji's model manifest: byte sizes it records from the hub's API for the files it downloads. */
const SOKUJI: CatalogSource = {
  url: 'https://github.com/kizuna-ai-lab/sokuji/blob/14b5496ff1bd01de8e7df18c05368601b8a77ea5/src/lib/local-inference/modelManifest.ts',
  kind: 'third-party',
  shows:
    'onnx-community/Qwen3-0.6B-ONNX: config.json, generation_config.json, tokenizer.json, tokenizer_config.json, onnx/model_q4.onnx (919,096,585 bytes) and onnx/model_q4f16.onnx (569,789,750 bytes), no external data files',
};

const QWEN25_05_LISTING = hubListing(
  'onnx-community/Qwen2.5-0.5B-Instruct',
  'onnx/ at folder commit 516c8d0 (one commit): model.onnx 1.99 GB, model_fp16 997 MB, model_int8, model_quantized and model_uint8 512 MB each, model_q4 786 MB, model_q4f16 483 MB, model_bnb4 764 MB; no external data',
);
const QWEN25_15_LISTING = hubListing(
  'onnx-community/Qwen2.5-1.5B-Instruct',
  'onnx/ at folder commit 9f9c976 (one commit): model.onnx 1.06 MB + model.onnx_data 6.21 GB, model_fp16.onnx 1.1 MB + model_fp16.onnx_data 3.1 GB, model_int8, model_quantized and model_uint8 1.58 GB each, model_q4 1.79 GB, model_q4f16 1.22 GB, model_bnb4 1.71 GB',
);
const LLAMA_LISTING = hubListing(
  'onnx-community/Llama-3.2-1B-Instruct',
  'onnx/ at folder commit 1ae0c06 (one commit): model.onnx 524 kB + model.onnx_data 4.94 GB, model_fp16.onnx 532 kB + model_fp16.onnx_data 2.47 GB, model_int8, model_quantized and model_uint8 1.24 GB each, model_q4 1.66 GB, model_q4f16 1.07 GB, model_bnb4 1.6 GB',
);
const SMOL_LISTING = hubListing(
  'HuggingFaceTB/SmolLM2-360M-Instruct',
  'onnx/ at folder commit 6d8b2a3 "Upload improved ONNX weights (#7)" (2024-11-25): model.onnx 1.64 GB, model_fp16 819 MB, model_q4 417 MB, model_q4f16 299 MB; no int8 or bnb4 file, no external data',
);

export const MODEL_CATALOG: CatalogModel[] = [
  {
    id: EMBEDDED_DEMO_ID,
    label: 'Relay demo model (embedded)',
    revision: 'embedded',
    modelType: 'relay_tiny_gpt',
    relayTrained: true,
    variants: [
      {
        variant: 'int8',
        file: 'onnx/model_int8.onnx',
        externalData: [],
        approxBytes: 535_296,
        source: { url: 'models/relay-demo-slm', kind: 'bundled', shows: 'the folder that ships with the extension' },
      },
    ],
    unconfirmed: [],
    needs: 'nothing: ships with the extension, works offline',
    note: 'A toy arithmetic model trained to call the LLM (RelayLLM command mode); for trying Relay out.',
  },
  {
    id: 'qwen3-0.6b',
    label: 'Qwen3-0.6B',
    hubRepo: 'onnx-community/Qwen3-0.6B-ONNX',
    repoSource: {
      url: `${HUB}/onnx-community/Qwen3-0.6B-ONNX`,
      kind: 'hub',
      shows: 'model card: Qwen/Qwen3-0.6B with ONNX weights for Transformers.js (weights in the onnx/ subfolder), loaded with dtype q4f16',
    },
    revision: 'main',
    modelType: 'qwen3',
    relayTrained: false,
    variants: [
      { variant: 'q4', file: 'onnx/model_q4.onnx', externalData: [], approxBytes: 919_096_585, source: SOKUJI },
      { variant: 'q4f16', file: 'onnx/model_q4f16.onnx', externalData: [], approxBytes: 569_789_750, source: SOKUJI },
    ],
    unconfirmed: [
      "int8 (onnx/model_int8.onnx, onnx/model_quantized.onnx, about 618 MB): named only by other projects' code and notes whose repositories could not be identified",
      'fp16, fp32, uint8, bnb4: no source seen',
      'the onnx/ listing itself: its hub page was not among the stored pages',
    ],
    needs: offTheShelfNeeds('memory for the file chosen (q4f16: 570 MB, q4: 919 MB) and its context'),
    note: "Recommended for a laptop, in q4f16 (570 MB). The paper's small model (RelayLLM's SLM base); pairs with a Qwen3 LLM such as Qwen3-8B.",
  },
  {
    id: 'qwen3-1.7b',
    label: 'Qwen3-1.7B',
    hubRepo: 'onnx-community/Qwen3-1.7B-ONNX',
    revision: 'main',
    modelType: 'qwen3',
    relayTrained: false,
    variants: [],
    unconfirmed: [
      "the repository id: its hub page was not among the stored pages; other projects' code and notes name it (their repositories could not be identified)",
      'files: one such note quotes the onnx/ listing (2026-09-15): q4f16 about 1.43 GB, q4 about 2.15 GB; whether q4 has external data files is not known',
      'fp16, fp32, int8, bnb4: no source seen',
    ],
    needs: offTheShelfNeeds('about three times the memory of Qwen3-0.6B (an estimate from the parameter count)'),
    note: "The paper's larger small model (the base of HINT-lab/RelayLLM-1.7B-Simple); better answers, slower per token.",
  },
  {
    id: 'qwen2.5-0.5b',
    label: 'Qwen2.5-0.5B-Instruct',
    hubRepo: 'onnx-community/Qwen2.5-0.5B-Instruct',
    repoSource: QWEN25_05_LISTING,
    revision: 'main',
    modelType: 'qwen2',
    relayTrained: false,
    variants: listed(QWEN25_05_LISTING, { int8: 512 * MB, q4f16: 483 * MB, bnb4: 764 * MB, q4: 786 * MB, fp16: 997 * MB, fp32: 1.99 * GB }),
    unconfirmed: [
      "the JSON files at the repository root: not in the listing seen (other projects' manifests list config.json, tokenizer.json and tokenizer_config.json)",
    ],
    needs: offTheShelfNeeds('memory for the file chosen (int8: 512 MB) and its context'),
    note: 'Small and quick; pairs with Qwen2.5 LLMs (the same model family).',
  },
  {
    id: 'qwen2.5-1.5b',
    label: 'Qwen2.5-1.5B-Instruct',
    hubRepo: 'onnx-community/Qwen2.5-1.5B-Instruct',
    repoSource: QWEN25_15_LISTING,
    revision: 'main',
    modelType: 'qwen2',
    relayTrained: false,
    variants: [
      ...listed(QWEN25_15_LISTING, { q4f16: 1.22 * GB, int8: 1.58 * GB, bnb4: 1.71 * GB, q4: 1.79 * GB }),
      withData(QWEN25_15_LISTING, 'fp16', 'onnx/model_fp16.onnx', 1.1 * MB, 3.1 * GB),
      withData(QWEN25_15_LISTING, 'fp32', 'onnx/model.onnx', 1.06 * MB, 6.21 * GB),
    ],
    unconfirmed: ['the JSON files at the repository root: not in the listing seen'],
    needs: offTheShelfNeeds('memory for the file chosen (int8: 1.58 GB) and its context'),
    note: 'Three times the parameters of Qwen2.5-0.5B; pairs with Qwen2.5 LLMs (the same model family).',
  },
  {
    id: 'llama-3.2-1b',
    label: 'Llama-3.2-1B-Instruct',
    hubRepo: 'onnx-community/Llama-3.2-1B-Instruct',
    repoSource: LLAMA_LISTING,
    revision: 'main',
    modelType: 'llama',
    relayTrained: false,
    variants: [
      ...listed(LLAMA_LISTING, { q4f16: 1.07 * GB, int8: 1.24 * GB, bnb4: 1.6 * GB, q4: 1.66 * GB }),
      withData(LLAMA_LISTING, 'fp16', 'onnx/model_fp16.onnx', 532 * KB, 2.47 * GB),
      withData(LLAMA_LISTING, 'fp32', 'onnx/model.onnx', 524 * KB, 4.94 * GB),
    ],
    unconfirmed: ['the JSON files at the repository root: not in the listing seen'],
    needs: offTheShelfNeeds('memory for the file chosen (int8: 1.24 GB) and its context'),
    note: 'Pairs with Llama LLMs (Llama-3.1-8B/70B on Ollama, vLLM or a hosted API). Llama 3.2 Community License (the hub page names llama3.2).',
  },
  {
    id: 'smollm2-360m',
    label: 'SmolLM2-360M-Instruct',
    hubRepo: 'HuggingFaceTB/SmolLM2-360M-Instruct',
    repoSource: SMOL_LISTING,
    revision: 'main',
    modelType: 'llama',
    relayTrained: false,
    variants: listed(SMOL_LISTING, { q4f16: 299 * MB, q4: 417 * MB, fp16: 819 * MB, fp32: 1.64 * GB }),
    unconfirmed: [
      "int8 and bnb4: not in the listing seen (other projects' code names onnx/model_int8.onnx; it may have been added later)",
      "the JSON files at the repository root: not in the listing seen (transformers.js's docs load the repository directly)",
    ],
    needs: offTheShelfNeeds('memory for the file chosen (q4: 417 MB) and its context'),
    note: 'The smallest: fast on any laptop; the LLM has more to fix.',
  },
];

/** Whether the runtime loads `variant` today (it has file names in VARIANT_FILES). */
export function isRuntimeVariant(variant: string): variant is OnnxVariant {
  return Object.prototype.hasOwnProperty.call(VARIANT_FILES, variant);
}

/** The entry's variants the runtime loads today: the ones the picker offers. */
export function runtimeVariants(model: CatalogModel): RuntimeCatalogVariant[] {
  return model.variants.filter((v): v is RuntimeCatalogVariant => isRuntimeVariant(v.variant));
}

/** The entry's published variants the runtime does not load (none today: q4f16 and bnb4 load). */
export function pendingVariants(model: CatalogModel): CatalogVariant[] {
  return model.variants.filter((v) => !isRuntimeVariant(v.variant));
}

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

/** "about 512 MB (int8) to 1.99 GB (fp32)": the range of the variants the runtime loads ('' when none is known). */
export function sizeRange(model: CatalogModel): string {
  const sorted = [...runtimeVariants(model)].sort((a, b) => a.approxBytes - b.approxBytes);
  const first = sorted[0];
  const last = sorted[sorted.length - 1];
  if (!first) return '';
  if (first === last) return `about ${formatBytes(first.approxBytes)} (${first.variant})`;
  return `about ${formatBytes(first.approxBytes)} (${first.variant}) to ${formatBytes(last.approxBytes)} (${last.variant})`;
}

export interface VariantOption {
  variant: OnnxVariant;
  /** Exact when the hub's listing was read, else the catalog's size (as a source stated it). */
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
 * the catalog's that the runtime loads (sizes as sources state them); each marked
 * downloaded when the store has it whole.
 */
export function variantOptions(input: {
  listed?: { variant: OnnxVariant; totalBytes?: number }[];
  catalog?: CatalogModel;
  downloaded: string[];
}): VariantOption[] {
  const fromHub = input.listed?.map((choice) => ({ variant: choice.variant, bytes: choice.totalBytes, exact: choice.totalBytes !== undefined }));
  const fromCatalog = input.catalog && runtimeVariants(input.catalog).map((v) => ({ variant: v.variant, bytes: v.approxBytes, exact: false }));
  const base = fromHub ?? fromCatalog ?? [];
  const options = base.map((option) => ({ ...option, downloaded: input.downloaded.includes(option.variant) }));
  // Offline: variants already downloaded stay usable even if the listing could not be read.
  for (const variant of input.downloaded) {
    if (!options.some((option) => option.variant === variant))
      options.push({ variant: variant as OnnxVariant, bytes: undefined, exact: false, downloaded: true });
  }
  return options.sort((a, b) => Number(b.downloaded) - Number(a.downloaded) || (a.bytes ?? Infinity) - (b.bytes ?? Infinity));
}
