/**
 * Reads the token-embedding table's bytes once, in the background, after a model loads.
 *
 * Why: ONNX Runtime memory-maps external weight files. Every other weight is read in full
 * by every run, so its pages come in with the first prompt; the embedding table is read one
 * row per token, and a row whose page is not in the OS page cache costs a disk read in the
 * middle of a decode step. On the benchmark machine (whose page cache is capped well below
 * its RAM) a decode step with tokens not seen before took 53 ms against 40 ms with a
 * repeated token: about one major page fault per step. A sequential read of the table puts
 * its pages in the page cache (shared and reclaimable; it adds nothing to the process's
 * RSS), and the later faults are minor ones.
 */
import { constants } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { resolveExternalDataFile } from '../modelFolder';
import type { ModelGraph } from './modelGraph';

const GATHER_OPS = new Set(['Gather', 'GatherBlockQuantized']);
const CHUNK = 4 << 20;
// Opening a FIFO for reading waits for a writer; O_NONBLOCK returns at once (no such flag on Windows, nor FIFOs).
const OPEN_FLAGS = constants.O_RDONLY | (constants.O_NONBLOCK ?? 0);

export interface FileRange {
  path: string;
  offset: number;
  /** -1: to the end of the file. */
  length: number;
}

/**
 * The external-data ranges of the tables read one row per token (a Gather's first input),
 * in regular files inside `folder` (the .onnx file's folder) only; anything else a model
 * names is left alone (decoderSession refuses such a model before it gets here).
 */
export function embeddingRanges(graph: ModelGraph, folder: string): FileRange[] {
  const ranges: FileRange[] = [];
  const seen = new Set<string>();
  for (const node of graph.nodes) {
    const table = node.inputs[0]?.name;
    const data = table !== undefined && GATHER_OPS.has(node.opType) ? graph.externalData.get(table) : undefined;
    if (!data || seen.has(table!)) continue;
    seen.add(table!);
    if (!Number.isSafeInteger(data.offset) || data.offset < 0 || !Number.isSafeInteger(data.length) || data.length < -1) continue;
    const file = resolveExternalDataFile(folder, data.location);
    if (file.ok) ranges.push({ path: file.path, offset: data.offset, length: data.length });
  }
  return ranges;
}

/**
 * Reads the ranges sequentially and discards the bytes; returns how many were read. Only
 * regular files are opened (never a FIFO or a device) and a read stops at the file's real
 * end, whatever length the model claims. Never rejects: this only speeds things up.
 */
export async function warmPageCache(ranges: FileRange[]): Promise<number> {
  let total = 0;
  const buffer = Buffer.allocUnsafe(CHUNK);
  for (const range of ranges) {
    if (!Number.isSafeInteger(range.offset) || range.offset < 0) continue;
    try {
      // Checked before opening: opening some devices has effects of its own.
      if (!(await stat(range.path)).isFile()) continue;
      const file = await open(range.path, OPEN_FLAGS);
      try {
        // And checked again on what was opened, in case the path changed in between.
        const info = await file.stat();
        if (!info.isFile()) continue;
        const end = range.length < 0 ? info.size : Math.min(info.size, range.offset + range.length);
        for (let position = range.offset; position < end;) {
          const { bytesRead } = await file.read(buffer, 0, Math.min(CHUNK, end - position), position);
          if (bytesRead === 0) break;
          position += bytesRead;
          total += bytesRead;
        }
      } finally {
        await file.close();
      }
    } catch {
      // A missing or unreadable file is reported by the session itself.
    }
  }
  return total;
}
