/**
 * Creates the ONNX Runtime session of a decoder model and discovers its KV-cache wiring
 * (names, dtype, heads, head size) from the session's own input/output metadata.
 */
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { dirname } from 'node:path';
import type * as Ort from 'onnxruntime-node';
import { filesFingerprint, ModelFolderError, resolveExternalDataFile } from '../modelFolder';
import { applyAttentionInPlace, planAttentionInPlace } from './attentionInPlace';
import { embeddingRanges, warmPageCache } from './embeddingPageCache';
import { applyFloat32Compute, planFloat32Compute } from './float32Compute';
import { applyLastPositionLogits, planLastPositionLogits } from './lastPositionLogits';
import { INT8_COMPUTE_ACCURACY_LEVEL, setMatMulNBitsAccuracy } from './matMulNBitsAccuracy';
import { PAST_KV_NAME, PRESENT_KV_NAME, readModelGraph, type ModelGraph } from './modelGraph';
import { applyNewTokenKvOutputs, planNewTokenKvOutputs } from './newTokenKvOutputs';
import { loadOnnxRuntime } from './onnxRuntimeLoader';
import type { Float16Compute, Q4Compute } from '../types';
import type { Fix } from '../../fixes';

export type KvType = 'float32' | 'float16';

export interface KvLayerNames {
  pastKey: string;
  pastValue: string;
  presentKey: string;
  presentValue: string;
}

export interface DecoderIo {
  inputIds: string;
  attentionMask?: string;
  positionIds?: string;
  /** `num_logits_to_keep` / `logits_to_keep`, when the export has it (fed 1). */
  logitsToKeep?: string;
  logits: string;
  layers: KvLayerNames[];
  kvType: KvType;
  kvHeads: number;
  headDim: number;
  logitsType: 'float32' | 'float16';
}

export interface DecoderSessionOptions {
  /** Compute the lm_head for the last position only (graph rewrite at load). Default true. */
  lastPositionLogits?: boolean;
  /** Default 0: ONNX Runtime's default, one thread per physical core. */
  intraOpThreads?: number;
  /**
   * 4-bit (MatMulNBits) weights: 'as-exported' (default) keeps the file's accuracy level,
   * so the arithmetic is the export's own; 'int8' multiplies with int8 activations
   * (accuracy_level 4, matMulNBitsAccuracy.ts): faster decode, approximate.
   */
  q4Compute?: Q4Compute;
  /**
   * Graphs that compute in float16 (q4f16 files): 'float32' rewrites them at load to float32
   * activations, cache and logits (float32Compute.ts); 'as-exported' (default here; the
   * runtime picks per variant) runs them on ONNX Runtime's float16 kernels.
   */
  float16Compute?: Float16Compute;
  /**
   * 'in-place' (default): each run returns only its new keys and values and attention reads
   * the runtime's token-major cache where it lies (graph rewrite, attentionInPlace.ts);
   * 'new-tokens': only the new rows come back, the cache stays head-major as the export
   * declares it (newTokenKvOutputs.ts); 'whole-cache': the `present` tensors come back
   * whole every step. Each falls back to the next where the graph does not match.
   */
  kvOutputs?: KvOutputsMode;
  /**
   * Profile every run (ONNX Runtime's enableProfiling): the per-node times go to
   * `<prefix>_<date>.json` once the session's profiling ends (ortProfile.ts reads it).
   */
  profileFilePrefix?: string;
}

export type KvOutputsMode = 'in-place' | 'new-tokens' | 'whole-cache';

export interface LoadedDecoder {
  session: Ort.InferenceSession;
  io: DecoderIo;
  /** True when only the last position's logits come back from a multi-token run. */
  lastPositionOnly: boolean;
  /** Why the rewrite was not applied (for diagnostics), when it was not. */
  rewriteSkipped?: string;
  /** MatMulNBits nodes switched to int8 compute at load (0 when none or not asked). */
  int8ComputeNodes: number;
  /** Per cache slot (layer * 2 + key 0 / value 1), the output with the run's new rows; undefined: whole-cache path. */
  newTokenKvOutputs?: string[];
  /** The KV path taken, and why not a faster one where it was not. */
  kvOutputs: { mode: KvOutputsMode; reason?: string };
  /** Whether a float16 graph runs with float32 activations (and the Casts it took), or why not. */
  float16Compute: { mode: Float16Compute; reason?: string; castInitializers?: number; castGathers?: number };
  /** The files the weights are read from: the .onnx file and its external data files. */
  weightFiles: string[];
  /** filesFingerprint(weightFiles) as ONNX Runtime opened them. */
  weightsFingerprint: string;
}

/** The layout of the cache the runtime keeps on a KV path: token-major for 'in-place', else the exports' head-major. */
export function kvLayoutOf(mode: KvOutputsMode): 'token-major' | 'head-major' {
  return mode === 'in-place' ? 'token-major' : 'head-major';
}

/** Physical cores (hyper-threads share FPUs, and matmul threads gain nothing from them). */
export function physicalCoreCount(): number {
  try {
    const cores = new Set<string>();
    let physical = '0';
    for (const line of readFileSync('/proc/cpuinfo', 'utf8').split('\n')) {
      const [key, value] = line.split(':').map((s) => s?.trim());
      if (key === 'physical id') physical = value;
      else if (key === 'core id') cores.add(`${physical}:${value}`);
    }
    if (cores.size > 0) return cores.size;
  } catch {
    // not Linux: fall through
  }
  return Math.max(1, Math.floor(availableParallelism() / 2) || 1);
}

function tensorMeta(session: Ort.InferenceSession, name: string, inputs: boolean) {
  const list = inputs ? session.inputMetadata : session.outputMetadata;
  const meta = list.find((m) => m.name === name);
  return meta && meta.isTensor ? meta : undefined;
}

/**
 * `kvLayout` 'token-major': the in-place attention rewrite removed the `present.*` outputs
 * (the runtime keeps the cache) and declares the cache inputs [batch, past, heads, headDim].
 * Heads and head size come from the declared shape, else from `fallback` (config.json).
 */
export function discoverIo(
  session: Ort.InferenceSession,
  onnxFile: string,
  fallback: { kvHeads: number; headDim: number },
  kvLayout: 'head-major' | 'token-major' = 'head-major',
): DecoderIo {
  const presentOptional = kvLayout === 'token-major';
  const fail = (problem: string): never => {
    throw new ModelFolderError(onnxFile, `${problem} (inputs: ${session.inputNames.join(', ')}; outputs: ${session.outputNames.join(', ')}).`);
  };
  const io: Partial<DecoderIo> & { layers: KvLayerNames[] } = { layers: [] };
  const pastByLayer = new Map<number, { key?: string; value?: string }>();
  for (const name of session.inputNames) {
    const m = PAST_KV_NAME.exec(name);
    if (m) {
      const entry = pastByLayer.get(Number(m[1])) ?? {};
      entry[m[2] as 'key' | 'value'] = name;
      pastByLayer.set(Number(m[1]), entry);
    } else if (name === 'input_ids') io.inputIds = name;
    else if (name === 'attention_mask') io.attentionMask = name;
    else if (name === 'position_ids') io.positionIds = name;
    else if (name === 'num_logits_to_keep' || name === 'logits_to_keep') io.logitsToKeep = name;
    else fail(`has an input "${name}" that a text decoder export does not have; this runtime cannot feed it`);
  }
  if (!io.inputIds) fail('has no input_ids input; it is not a decoder export');
  const presentByLayer = new Map<number, { key?: string; value?: string }>();
  for (const name of session.outputNames) {
    const m = PRESENT_KV_NAME.exec(name);
    if (m) {
      const entry = presentByLayer.get(Number(m[1])) ?? {};
      entry[m[2] as 'key' | 'value'] = name;
      presentByLayer.set(Number(m[1]), entry);
    } else if (name === 'logits') io.logits = name;
  }
  if (!io.logits) fail('has no logits output');
  if (pastByLayer.size === 0) fail('has no past_key_values.* inputs; export it with a KV cache ("with past")');
  for (let i = 0; i < pastByLayer.size; i++) {
    const past = pastByLayer.get(i);
    const present = presentByLayer.get(i);
    if (!past?.key || !past.value) fail(`lacks past_key_values.${i}.key/.value`);
    if ((!present?.key || !present.value) && !presentOptional) fail(`lacks present.${i}.key/.value for past_key_values.${i}`);
    io.layers.push({ pastKey: past!.key!, pastValue: past!.value!, presentKey: present?.key ?? '', presentValue: present?.value ?? '' });
  }
  const keyMeta = tensorMeta(session, io.layers[0].pastKey, true);
  const kvType = keyMeta?.type ?? 'float32';
  if (kvType !== 'float32' && kvType !== 'float16') fail(`has a ${kvType} KV cache; only float32 and float16 are supported`);
  const shape = keyMeta?.shape ?? [];
  const numeric = (v: unknown, fb: number) => (typeof v === 'number' && v > 0 ? v : fb);
  const logitsMeta = tensorMeta(session, io.logits!, false);
  const kvHeads = numeric(shape[presentOptional ? 2 : 1], fallback.kvHeads);
  const headDim = numeric(shape[3], fallback.headDim);
  return {
    inputIds: io.inputIds!,
    attentionMask: io.attentionMask,
    positionIds: io.positionIds,
    logitsToKeep: io.logitsToKeep,
    logits: io.logits!,
    layers: io.layers,
    kvType: kvType as KvType,
    kvHeads,
    headDim,
    logitsType: logitsMeta?.type === 'float16' ? 'float16' : 'float32',
  };
}

/** Reads the model into a buffer with room for the rewrite tail (one allocation of the file's size). */
function readModelBytes(onnxFile: string, slack: number): { buf: Buffer; length: number } {
  const fd = openSync(onnxFile, 'r');
  try {
    const length = fstatSync(fd).size;
    const buf = Buffer.allocUnsafe(length + slack);
    let read = 0;
    while (read < length) {
      const n = readSync(fd, buf, read, length - read, read);
      if (n === 0) break;
      read += n;
    }
    return { buf, length: read };
  } finally {
    closeSync(fd);
  }
}

/**
 * Every external data file of the model must be a regular file inside its folder, before
 * ONNX Runtime (or our page-cache read) opens any: a crafted model could otherwise name
 * /dev/zero, a FIFO or a file elsewhere on the disk. Returns their paths.
 */
function checkExternalDataFiles(onnxFile: string, graph: ModelGraph): string[] {
  const onnxDir = dirname(onnxFile);
  const checked = new Set<string>();
  const files: string[] = [];
  for (const [tensor, { location }] of graph.externalData) {
    if (checked.has(location)) continue;
    checked.add(location);
    const file = resolveExternalDataFile(onnxDir, location);
    if (file.ok) {
      files.push(file.path);
      continue;
    }
    if (file.problem === 'missing') {
      throw new ModelFolderError(file.path, `missing: ${onnxFile} keeps its weights in this external data file; download it too.`);
    }
    const where =
      file.problem === 'outside'
        ? `which is outside the model folder ${onnxDir}. Relay reads weights only from files inside the model's folder`
        : 'which is not a regular file (a FIFO, a device or a folder). Relay reads weights only from regular files';
    throw new ModelFolderError(
      onnxFile,
      `stores the tensor "${tensor}" in the external data file ${JSON.stringify(location)}, ${where}: this model file is damaged or was made to read other files. Delete it and download the model again from a source you trust.`,
    );
  }
  return files;
}

/**
 * How running out of memory reads: ONNX Runtime rethrows C++'s std::bad_alloc ("bad allocation"
 * on Windows) and its arena says "Failed to allocate memory for requested buffer of size N";
 * Node says "Array buffer allocation failed". Only these: a generic "out of memory" also appears
 * in other errors' advice, and a memory error restarts the model's process (processRuntime.ts).
 */
const ALLOCATION_FAILURE = /std::bad_alloc|\bbad allocation\b|Failed to allocate memory(?: for requested buffer of size \d+)?|Array buffer allocation failed/i;

/**
 * The model needs more memory than is free (to load, or for this much text): not a corrupt file
 * and not a bug, so a smaller model is the fix. Known by its name across the process boundary.
 */
export class OutOfMemoryError extends Error {
  override readonly name = 'OutOfMemoryError';
  readonly fix: Fix = 'pick-model';
}

/**
 * `error` as an OutOfMemoryError when it is an allocation failure (else undefined): `file` is the
 * model file a load could not fit in memory; `during` says whether it loaded or ran (read text).
 */
export function asOutOfMemory(error: unknown, during: 'load' | 'run', file?: string): OutOfMemoryError | undefined {
  if (error instanceof OutOfMemoryError) return error;
  const what = ALLOCATION_FAILURE.exec(error instanceof Error ? error.message : String(error))?.[0];
  if (what === undefined) return undefined;
  if (during === 'run') {
    return new OutOfMemoryError(
      `The model ran out of memory (${what}): it needs more than is free for this much text. Send less text, or pick a smaller model or variant.`,
    );
  }
  const subject = file === undefined ? 'The model' : `${file}: ONNX Runtime could not load it: the model`;
  return new OutOfMemoryError(
    `${subject} needs more memory than is free (${what}). Its files are not at fault, so downloading it again will not help: ` +
      'pick a smaller model or variant, or close other programs to free memory.',
  );
}

/** Why ONNX Runtime could not create the session of `onnxFile`: out of memory, or a file it cannot read. */
function sessionCreateError(onnxFile: string, error: unknown): Error {
  return (
    asOutOfMemory(error, 'load', onnxFile) ??
    new ModelFolderError(onnxFile, `ONNX Runtime could not load it (${(error as Error).message}). The file may be truncated or corrupt; download it again.`)
  );
}

export async function loadDecoderSession(
  onnxFile: string,
  fallback: { kvHeads: number; headDim: number },
  options: DecoderSessionOptions = {},
): Promise<LoadedDecoder> {
  const ort = await loadOnnxRuntime();
  // Room after the model for the appended graph parts (the lm_head slice, one output per cache tensor).
  const TAIL_ROOM = 1 << 20;
  let { buf, length }: { buf: Uint8Array; length: number } = readModelBytes(onnxFile, TAIL_ROOM);
  let graph: ModelGraph;
  try {
    graph = readModelGraph(buf, length);
  } catch (e) {
    throw new ModelFolderError(onnxFile, `is not a valid ONNX model (${(e as Error).message}); the file is truncated or corrupt, download it again.`);
  }
  let int8ComputeNodes = 0;
  if (options.q4Compute === 'int8' && graph.nodes.some((n) => n.opType === 'MatMulNBits')) {
    const rewrite = setMatMulNBitsAccuracy(buf, length, INT8_COMPUTE_ACCURACY_LEVEL, TAIL_ROOM);
    if (rewrite) {
      ({ buf, length } = rewrite);
      graph = readModelGraph(buf, length);
      int8ComputeNodes = rewrite.rewritten;
    }
  }
  let float16Compute: LoadedDecoder['float16Compute'] = { mode: 'as-exported', reason: 'not asked' };
  if (options.float16Compute === 'float32') {
    const plan = planFloat32Compute(buf, length, graph);
    if (plan.ok && plan.rewrite.tail.length <= buf.length - length) {
      length = applyFloat32Compute(buf, length, plan.rewrite);
      graph = readModelGraph(buf, length);
      float16Compute = { mode: 'float32', castInitializers: plan.rewrite.castInitializers, castGathers: plan.rewrite.castGathers };
    } else float16Compute = { mode: 'as-exported', reason: plan.ok ? 'no room for the rewrite' : plan.reason };
  }
  const weightFiles = [onnxFile, ...checkExternalDataFiles(onnxFile, graph)];
  // Before ONNX Runtime opens them: a change from here on shows as a different fingerprint.
  const weightsFingerprint = filesFingerprint(weightFiles);

  let model: Uint8Array = buf.subarray(0, length);
  let lastPositionOnly = false;
  let rewriteSkipped: string | undefined;
  const wantsRewrite = options.lastPositionLogits ?? true;
  const hasLogitsToKeep = graph.inputNames.some((n) => n === 'num_logits_to_keep' || n === 'logits_to_keep');
  if (hasLogitsToKeep) {
    lastPositionOnly = true;
  } else if (wantsRewrite) {
    const plan = planLastPositionLogits(graph);
    if (plan.ok && plan.rewrite.tail.length <= buf.length - length) {
      model = applyLastPositionLogits(buf, length, plan.rewrite);
      lastPositionOnly = true;
    } else {
      rewriteSkipped = plan.ok ? 'rewrite tail too long' : plan.reason;
    }
  } else rewriteSkipped = 'disabled by option';

  let newTokenKvOutputs: string[] | undefined;
  let kvOutputs: LoadedDecoder['kvOutputs'] = { mode: 'whole-cache', reason: 'disabled by option' };
  const kvMode = options.kvOutputs ?? 'in-place';
  let inPlaceSkipped: string | undefined;
  // `model` is a prefix of `buf` (the lm_head rewrite edits and extends it in place).
  if (kvMode === 'in-place') {
    const plan = planAttentionInPlace(graph);
    if (plan.ok && plan.rewrite.tail.length <= buf.length - model.length) {
      model = applyAttentionInPlace(buf, model.length, plan.rewrite);
      newTokenKvOutputs = plan.rewrite.outputs;
      kvOutputs = { mode: 'in-place' };
    } else inPlaceSkipped = plan.ok ? 'no room for the rewrite' : plan.reason;
  }
  if (!newTokenKvOutputs && kvMode !== 'whole-cache') {
    const plan = planNewTokenKvOutputs(graph);
    if (plan.ok && plan.rewrite.tail.length <= buf.length - model.length) {
      model = applyNewTokenKvOutputs(buf, model.length, plan.rewrite);
      newTokenKvOutputs = plan.rewrite.outputs;
      kvOutputs = { mode: 'new-tokens', reason: inPlaceSkipped ?? 'disabled by option' };
    } else kvOutputs = { mode: 'whole-cache', reason: plan.ok ? 'no room for the rewrite' : plan.reason };
  }

  const sessionOptions: Ort.InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    // 0 = ONNX Runtime's default: one thread per physical core, pinned (which physicalCoreCount() also counts).
    intraOpNumThreads: options.intraOpThreads ?? 0,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    enableCpuMemArena: true,
    enableMemPattern: true,
    logSeverityLevel: 3,
    // ONNX Runtime's per-node profile (ortProfile.ts reads it back), written when asked.
    ...(options.profileFilePrefix ? { enableProfiling: true, profileFilePrefix: options.profileFilePrefix } : {}),
    // Loaded from bytes, ORT needs to be told where the external weight files are.
    extra: { session: { model_external_initializers_file_folder_path: dirname(onnxFile) } },
  };
  let session: Ort.InferenceSession;
  // Unchanged graphs load from the path (ONNX Runtime memory-maps what it can); rewritten ones from our bytes.
  const edited = (lastPositionOnly && !hasLogitsToKeep) || int8ComputeNodes > 0 || newTokenKvOutputs || float16Compute.mode === 'float32' ? model : undefined;
  model = new Uint8Array(0); // drop our reference; `edited` keeps the bytes only while ORT needs them
  buf = new Uint8Array(0);
  try {
    session = edited ? await ort.InferenceSession.create(edited, sessionOptions) : await ort.InferenceSession.create(onnxFile, sessionOptions);
  } catch (e) {
    if (!edited) throw sessionCreateError(onnxFile, e);
    // Never let the speed-up cost a working model: load the file as it is.
    lastPositionOnly = hasLogitsToKeep;
    int8ComputeNodes = 0;
    newTokenKvOutputs = undefined;
    rewriteSkipped = `ONNX Runtime rejected the rewritten graph (${(e as Error).message})`;
    kvOutputs = { mode: 'whole-cache', reason: rewriteSkipped };
    float16Compute = { mode: 'as-exported', reason: rewriteSkipped };
    try {
      session = await ort.InferenceSession.create(onnxFile, sessionOptions);
    } catch (e2) {
      throw sessionCreateError(onnxFile, e2);
    }
  }
  const io = discoverIo(session, onnxFile, fallback, kvLayoutOf(kvOutputs.mode));
  // In the background: it only speeds up decode steps, and never rejects.
  void warmPageCache(embeddingRanges(graph, dirname(onnxFile)));
  return { session, io, lastPositionOnly, rewriteSkipped, int8ComputeNodes, newTokenKvOutputs, kvOutputs, float16Compute, weightFiles, weightsFingerprint };
}
