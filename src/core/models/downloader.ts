/**
 * Downloads files of a model hub repository into `<root>/models/<owner>/<name>@<rev>/`:
 * - every file goes to `<path>.partial` first and is resumed there with an HTTP Range
 *   request after a dropped connection (within this call) or a cancel / crash (next call);
 * - each file's size and sha256 (LFS) or git blob id (small files) is checked before it is
 *   renamed into place; a wrong checksum deletes the file and downloads it once more; a file
 *   the hub gives no checksum for is refused (its size alone proves nothing);
 * - a caller may pin a commit and the sha256 of every file (a curated catalog entry): then
 *   the hub's listing, headers and bytes must all match the pins;
 * - files are completed in an order that keeps the folder unopenable as a model until the
 *   last one (config.json) lands, and the completion marker is written after that, so a
 *   half-written model never looks whole; before the first file is replaced in place a
 *   pending-download record lists what may change, so an update that stops half-way (files
 *   of two commits) is refused by the model loader until a later download finishes it;
 * - progress (bytes, total, speed) is reported as it goes; an AbortSignal cancels.
 * No VS Code here: the extension wraps it in a progress notification, tests run it
 * against a local server that behaves like the hub.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, open, rm, stat, statfs, writeFile, readFile, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { renameRetrying, rmRetrying } from '../fsRetry';
import { parseRetryAfter } from '../http/headers';
import { isDroppedConnection } from '../http/networkErrors';
import { formatBytes, ModelDownloadError } from './errors';
import {
  checkFilePath,
  checkRepoId,
  checkRevision,
  fileMetadata,
  isRetryableStatus,
  MAX_RETRY_AFTER_MS,
  normalizeEndpoint,
  rateLimitedError,
  resolveUrl,
  RetryableAnswerError,
  retryWaitMs,
  statusError,
  type FileMetadata,
  type HubContext,
  type HubFile,
} from './hubApi';
import { cancelledError, DEFAULT_HUB_TIMEOUTS, guardLowSpeed, header, hubRequest, networkError, receivedChunks, sleep, type HubTimeouts } from './hubHttp';
import {
  acquireLock,
  modelFolder,
  PARTIAL_SUFFIX,
  readMarker,
  readPendingDownload,
  recordPendingDownload,
  settlePendingDownload,
  writeMarker,
  type CompletionMarker,
} from './modelStore';
import { completionOrder } from './variantFiles';

export interface DownloadProgress {
  phase: 'checking' | 'downloading' | 'verifying' | 'complete';
  /** The file being worked on (repository path). */
  file?: string;
  /** 1-based index of that file among those to download. */
  fileIndex: number;
  fileCount: number;
  /** Bytes on disk so far, resumed bytes included. */
  bytesDone: number;
  bytesTotal: number;
  /** Download speed over the last few seconds (0 before there is a measurement). */
  bytesPerSecond: number;
}

export interface DownloadRequest {
  /** https://huggingface.co or a mirror (relay.models.hubEndpoint). */
  endpoint: string;
  repo: string;
  /** Branch, tag or commit; files are fetched from the commit it resolves to. */
  revision: string;
  /** The files, with size and checksums where the caller knows them (the hub's listing). */
  files: HubFile[];
  /** The extension's global storage folder; models go under `<root>/models/`. */
  storageRoot: string;
  /** Variant names recorded in the completion marker (e.g. ['q4']). */
  variants?: string[];
  /**
   * The sha256 of every file, by repository path, pinned by the caller (a curated catalog
   * entry): `revision` must then be the 40-hex commit they were taken from, and a file
   * without a pin, or whose listing, headers or bytes disagree with it, is refused.
   */
  pinnedSha256?: Record<string, string>;
  token?: string;
  /** How the user sets a token, for the gated-repo message. */
  tokenHint?: string;
  signal?: AbortSignal;
  onProgress?: (progress: DownloadProgress) => void;
  timeouts?: Partial<HubTimeouts>;
  /**
   * Tries in a row that get (almost) nothing of a file before it is given up on; a try that
   * takes the file at least PROGRESS_BYTES further than any try before starts the count over,
   * each resuming where the last stopped. Default 5.
   */
  maxAttemptsPerFile?: number;
  /** Wait before a retry, times the number of tries in a row without progress (capped at 10 s); a Retry-After replaces it. Default 1000. */
  retryDelayMs?: number;
  /** Longest Retry-After waited out; a server that asks for longer is given up on at once. Default MAX_RETRY_AFTER_MS (60 s). */
  maxRetryAfterMs?: number;
  /** Most milliseconds between progress reports while bytes flow. Default 250. */
  progressIntervalMs?: number;
  /** Free bytes where the model goes (default: statfs); undefined skips the check. */
  freeBytes?: (folder: string) => Promise<number | undefined>;
}

export interface DownloadResult {
  folder: string;
  commit?: string;
  files: HubFile[];
  /** Bytes received from the network in this call. */
  bytesDownloaded: number;
  /** Bytes of `.partial` files kept from an earlier, interrupted download. */
  bytesResumed: number;
  /** Files already whole and verified (not downloaded again). */
  filesSkipped: number;
}

interface PlannedFile {
  path: string;
  size: number;
  sha256?: string;
  gitOid?: string;
  /** Bytes already in a valid `.partial` file. */
  resumable: number;
  /** The host that, asked to resume this file, refused or sent it from another position (the start), since the last try that made progress. */
  resumeRefusedBy?: string;
}

/** What a `.partial` file is a part of; a partial of other content is started over. */
interface PartialIdentity {
  size: number;
  sha256?: string;
  gitOid?: string;
}

const SPEED_WINDOW_MS = 5_000;

/**
 * Bytes a try must take a file past the furthest it reached in this call to count as progress
 * (or the rest of the file, when less). Progress starts the count of failed tries over, so a
 * link that drops every few megabytes still finishes; a try that adds less counts as failed,
 * so a server that sends a byte or a few per connection, or that will not resume and starts
 * over at byte 0 each time the link drops, is given up on after maxAttemptsPerFile tries in a
 * row. The tries of a file are so bounded by maxAttemptsPerFile * (size / PROGRESS_BYTES + 1).
 * It is also the least a transfer must bring in each idle period (see guardLowSpeed).
 */
const PROGRESS_BYTES = 64 * 1024;

/** Errors of the connection, not of the disk: a transfer that fails with one is resumed. */
const SOCKET_ERROR_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENOTCONN',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPROTO',
]);

/** Speed over a sliding window of recent byte counts. */
class SpeedMeter {
  private samples: { at: number; bytes: number }[] = [];
  add(bytes: number): void {
    const now = Date.now();
    this.samples.push({ at: now, bytes });
    while (this.samples.length > 2 && now - this.samples[0].at > SPEED_WINDOW_MS) this.samples.shift();
  }
  get bytesPerSecond(): number {
    if (this.samples.length < 2) return 0;
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    const seconds = (last.at - first.at) / 1000;
    return seconds > 0 ? Math.max(0, (last.bytes - first.bytes) / seconds) : 0;
  }
}

async function defaultFreeBytes(folder: string): Promise<number | undefined> {
  try {
    const info = await statfs(folder);
    return info.bavail * info.bsize;
  } catch {
    return undefined;
  }
}

async function fileSize(path: string): Promise<number | undefined> {
  try {
    const info = await stat(path);
    return info.isFile() ? info.size : undefined;
  } catch {
    return undefined;
  }
}

/** sha256 (LFS) or git blob sha1 of a file on disk, whichever the expectation has. */
async function checksumOf(path: string, expected: PartialIdentity, signal?: AbortSignal): Promise<{ kind: 'sha256' | 'git oid'; value: string } | undefined> {
  let hash: Hash;
  let kind: 'sha256' | 'git oid';
  if (expected.sha256) {
    hash = createHash('sha256');
    kind = 'sha256';
  } else if (expected.gitOid) {
    hash = createHash('sha1').update(`blob ${expected.size}\0`);
    kind = 'git oid';
  } else {
    return undefined;
  }
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
    if (signal?.aborted) throw cancelledError();
    hash.update(chunk);
  }
  return { kind, value: hash.digest('hex') };
}

/** `what`: the file or the model that does not fit; `file`: the repository path the error names, when one file is concerned. */
function diskFullError(folder: string, what: string, file: string | undefined, needed?: number, free?: number): ModelDownloadError {
  const amounts = needed !== undefined && free !== undefined ? ` The model needs ${formatBytes(needed)} more and ${formatBytes(free)} are free.` : '';
  return new ModelDownloadError(
    'disk_full',
    `Not enough disk space in ${folder} to download ${what}.${amounts} Free some space and download again; what was downloaded so far is kept and resumed.`,
    file,
  );
}

/** What to do when the file server's bytes disagree with the hub's listing. */
const OTHER_BYTES_ADVICE =
  'The file server or a proxy sends other bytes than the hub lists: try again later, or set relay.models.hubEndpoint to another mirror.';

const COMMIT = /^[0-9a-f]{40}$/;
const SHA256 = /^[0-9a-f]{64}$/;

/**
 * The files of a pinned download with their pinned sha256; refuses a revision that is not a
 * commit, a file without a pin and a listing that contradicts one, before any request.
 */
function applyPins(request: DownloadRequest, pins: Record<string, string>): HubFile[] {
  const label = `${request.repo}@${request.revision}`;
  if (!COMMIT.test(request.revision)) {
    throw new ModelDownloadError(
      'bad_request',
      `A pinned download of ${request.repo} needs the 40-hex commit its sha256 values were taken from, not "${request.revision}". Fix the catalog entry's pin.`,
    );
  }
  return request.files.map((file) => {
    const pinned = Object.hasOwn(pins, file.path) ? pins[file.path].toLowerCase() : undefined;
    if (pinned === undefined || !SHA256.test(pinned)) {
      throw new ModelDownloadError(
        'unverifiable',
        `${file.path} of ${label} has no pinned sha256 (64 hex digits), so it cannot be checked against the pin; nothing was downloaded. Add the sha256 of every file the entry downloads to its pin, or remove the pin.`,
        file.path,
      );
    }
    if (file.sha256 !== undefined && file.sha256 !== pinned) {
      throw new ModelDownloadError(
        'checksum',
        `The model hub lists ${file.path} of ${label} with sha256 ${file.sha256}, but the pinned sha256 is ${pinned}: the hub or a mirror serves other content than the pinned commit; nothing was downloaded. Check relay.models.hubEndpoint.`,
        file.path,
      );
    }
    return { ...file, sha256: pinned };
  });
}

/**
 * How two listed paths that are not equal name one file: Windows (NTFS) compares names
 * without case; macOS (APFS, HFS+) without case and without Unicode normalisation form, so
 * an "é" written as one character (NFC) and as "e" and a combining accent (NFD) are one name there.
 */
function sameFileNames(earlier: string, later: string): string {
  if (earlier.normalize('NFC') === later.normalize('NFC')) {
    return `${later} twice, in two Unicode forms (composed and decomposed characters, NFC and NFD): on macOS they are one file.`;
  }
  if (earlier.toLowerCase() === later.toLowerCase()) {
    return `${earlier} and ${later}, names that differ only in case: on macOS and Windows they are one file.`;
  }
  return `${earlier} and ${later}, names that differ only in case and Unicode form (composed and decomposed characters, NFC and NFD): on macOS they are one file.`;
}

export async function downloadModel(request: DownloadRequest): Promise<DownloadResult> {
  checkRepoId(request.repo);
  checkRevision(request.revision);
  normalizeEndpoint(request.endpoint);
  if (request.files.length === 0) throw new ModelDownloadError('bad_request', `No files were asked for from ${request.repo}.`);
  /** Each path as macOS compares names (case and Unicode form aside; Windows sets case aside only): one key, one file there. */
  const paths = new Map<string, string>();
  for (const file of request.files) {
    checkFilePath(file.path);
    const key = file.path.normalize('NFC').toLowerCase();
    const earlier = paths.get(key);
    // Two entries of one path would download one file twice, or into one .partial at once.
    if (earlier === file.path) {
      throw new ModelDownloadError('bad_request', `${file.path} is asked for twice in one download of ${request.repo}; list each file once.`, file.path);
    }
    // One file where the disk compares names so: the later would overwrite the earlier, and both would be listed as there.
    if (earlier !== undefined) {
      throw new ModelDownloadError(
        'bad_request',
        `${request.repo} lists ${sameFileNames(earlier, file.path)} Pick another model, or download it by hand.`,
        file.path,
      );
    }
    paths.set(key, file.path);
  }
  const checked = request.pinnedSha256 ? { ...request, files: applyPins(request, request.pinnedSha256) } : request;
  const folder = modelFolder(request.storageRoot, request.repo, request.revision);
  try {
    await mkdir(folder, { recursive: true });
  } catch (error) {
    throw fileSystemError(error, folder) ?? error;
  }
  const release = await acquireLock(folder, `${request.repo}@${request.revision}`);
  try {
    return await new ModelDownload(checked, folder).run();
  } finally {
    await release();
  }
}

class ModelDownload {
  private readonly context: HubContext;
  private readonly timeouts: HubTimeouts;
  private readonly speed = new SpeedMeter();
  private bytesDone = 0;
  private bytesTotal = 0;
  private bytesDownloaded = 0;
  private bytesResumed = 0;
  private lastReport = 0;
  private commit: string | undefined;
  /** Written before the first file is replaced or added in place (see modelStore). */
  private pendingRecorded = false;
  private plannedPaths: string[] = [];
  /** Whether a file that was in the folder had other content and was removed to be downloaded again. */
  private replacedExisting = false;

  constructor(
    private readonly request: DownloadRequest,
    private readonly folder: string,
  ) {
    this.timeouts = { ...DEFAULT_HUB_TIMEOUTS, ...(request.timeouts ?? {}) };
    this.context = {
      endpoint: request.endpoint,
      token: request.token,
      signal: request.signal,
      timeouts: this.timeouts,
      tokenHint: request.tokenHint,
      retryDelayMs: request.retryDelayMs,
      maxRetryAfterMs: request.maxRetryAfterMs,
    };
    // A pinned download is of that very commit (checked in applyPins).
    if (request.pinnedSha256) this.commit = request.revision;
  }

  /** Before the first change to a file in place: from now until completion, the folder may mix two commits. */
  private async recordPending(): Promise<void> {
    if (this.pendingRecorded) return;
    this.pendingRecorded = true;
    const { repo, revision, variants } = this.request;
    await recordPendingDownload(this.folder, { repo, revision, commit: this.commit, variants: variants ?? [], paths: this.plannedPaths });
  }

  private get signal(): AbortSignal | undefined {
    return this.request.signal;
  }

  private checkCancelled(): void {
    if (this.signal?.aborted) throw cancelledError();
  }

  private report(progress: Omit<DownloadProgress, 'bytesDone' | 'bytesTotal' | 'bytesPerSecond'>, force: boolean): void {
    const now = Date.now();
    if (!force && now - this.lastReport < (this.request.progressIntervalMs ?? 250)) return;
    this.lastReport = now;
    this.request.onProgress?.({ ...progress, bytesDone: this.bytesDone, bytesTotal: this.bytesTotal, bytesPerSecond: this.speed.bytesPerSecond });
  }

  async run(): Promise<DownloadResult> {
    try {
      return await this.steps();
    } catch (error) {
      if (this.signal?.aborted) throw cancelledError();
      // The marker, the pending record, a rename: a disk's refusal says what to do, as a file's does.
      throw fileSystemError(error, this.folder) ?? error;
    }
  }

  private async steps(): Promise<DownloadResult> {
    const request = this.request;
    const marker = readMarker(this.folder);
    const fileCount = request.files.length;
    this.report({ phase: 'checking', fileIndex: 0, fileCount }, true);
    // Files an earlier download may have replaced without finishing: the marker's word on them is stale.
    const pending = readPendingDownload(this.folder);
    const suspect = (path: string): boolean => pending === 'unreadable' || (pending?.paths.includes(path) ?? false);

    // 1. What each file must be (size, checksum), and which are already whole.
    const verified: HubFile[] = [];
    const planned: PlannedFile[] = [];
    for (const file of request.files) {
      this.checkCancelled();
      const known = marker?.files.find((entry) => entry.path === file.path);
      if (known && !suspect(file.path) && sameContent(known, file) && (await fileSize(join(this.folder, file.path))) === known.size) {
        verified.push(known);
        continue;
      }
      planned.push(await this.plan(file));
    }
    // Nothing to fetch: the files are the marker's, and so is their commit. Otherwise a hub
    // that names no commit leaves it unknown: files of two commits are never merged below.
    if (planned.length === 0 && marker?.commit && !this.commit) this.commit = marker.commit;
    this.plannedPaths = planned.map((file) => file.path);

    // 2. Files in place without a marker (an interrupted run) are checked, not trusted; those
    //    of other content are only listed here: another variant may still use them.
    const toDownload: PlannedFile[] = [];
    const toReplace: { path: string; bytes: number }[] = [];
    for (const file of planned) {
      const finalPath = join(this.folder, file.path);
      if (existsSync(finalPath)) {
        const onDisk = await fileSize(finalPath);
        const sum = onDisk === file.size ? await checksumOf(finalPath, file, this.signal) : undefined;
        if (sum !== undefined && sum.value === (file.sha256 ?? file.gitOid)) {
          verified.push(toHubFile(file));
          continue;
        }
        toReplace.push({ path: finalPath, bytes: onDisk ?? 0 });
      }
      file.resumable = await this.validPartialBytes(file);
      toDownload.push(file);
    }

    const already = verified.reduce((sum, file) => sum + (file.size ?? 0), 0);
    const resumable = toDownload.reduce((sum, file) => sum + file.resumable, 0);
    this.bytesTotal = already + toDownload.reduce((sum, file) => sum + file.size, 0);
    this.bytesDone = already + resumable;
    this.bytesResumed = resumable;
    this.speed.add(this.bytesDownloaded);

    // 3. Enough room for what is left (less what the files replaced free), before the first
    //    byte and before a file in place is touched: a refusal leaves the folder as it was.
    const freed = toReplace.reduce((sum, file) => sum + file.bytes, 0);
    const needed = toDownload.reduce((sum, file) => sum + file.size - file.resumable, 0) - freed;
    const free = await (request.freeBytes ?? defaultFreeBytes)(this.folder);
    if (free !== undefined && needed > free) throw diskFullError(this.folder, request.repo, undefined, needed, free);
    for (const file of toReplace) {
      await this.recordPending();
      this.replacedExisting = true;
      await rmRetrying(file.path, { force: true });
    }

    // 4. Download, verify and rename into place, config.json last.
    const ordered = completionOrder(toDownload);
    for (let index = 0; index < ordered.length; index += 1) {
      const file = ordered[index];
      await this.downloadFile(file, index + 1, ordered.length);
      verified.push(toHubFile(file));
    }

    // 5. The marker, last: only now does the folder count as a whole model. Files and
    //    variants of another commit are left out of it: they no longer make a model with
    //    these. When a commit is unknown (a hub that sends none), the earlier ones stay only
    //    if no file they may share was replaced: then each variant's files are as verified.
    const sameCommit = marker?.commit !== undefined && marker.commit === this.commit;
    const commitUnknown = marker?.commit === undefined || this.commit === undefined;
    const kept = marker && (sameCommit || (commitUnknown && !this.replacedExisting)) ? marker : undefined;
    const files = mergeFiles(kept, verified);
    const variants = [...new Set([...(kept?.variants ?? []), ...(request.variants ?? [])])];
    await writeMarker(this.folder, {
      format: 1,
      repo: request.repo,
      revision: request.revision,
      commit: this.commit,
      variants,
      files,
      completedAt: new Date().toISOString(),
    });
    await settlePendingDownload(
      this.folder,
      verified.map((file) => file.path),
      request.variants ?? [],
    );
    this.report({ phase: 'complete', fileIndex: ordered.length, fileCount: ordered.length }, true);
    return {
      folder: this.folder,
      commit: this.commit,
      files: verified,
      bytesDownloaded: this.bytesDownloaded,
      bytesResumed: this.bytesResumed,
      filesSkipped: fileCount - ordered.length,
    };
  }

  /** Size and checksum of a file: the caller's values, completed by a HEAD on the hub. A file without a checksum is refused. */
  private async plan(file: HubFile): Promise<PlannedFile> {
    const { repo, revision } = this.request;
    const complete = file.size !== undefined && (file.sha256 !== undefined || file.gitOid !== undefined) && this.commit !== undefined;
    let size = file.size;
    let sha256 = file.sha256;
    let gitOid = file.gitOid;
    if (!complete) {
      const head = await fileMetadata(this.context, repo, this.commit ?? revision, file.path);
      this.commit ??= head.commit;
      const changed = servesOtherContent(file, head) || (this.request.pinnedSha256 !== undefined && head.commit !== undefined && head.commit !== this.commit);
      if (changed) throw this.staleListingError(file.path);
      size ??= head.size;
      sha256 ??= head.sha256;
      gitOid ??= head.gitOid;
    }
    if (size === undefined) {
      throw new ModelDownloadError(
        'server',
        `The model hub did not say the size of ${file.path} in ${repo}; it cannot be verified. Check relay.models.hubEndpoint.`,
        file.path,
      );
    }
    if (sha256 === undefined && gitOid === undefined) {
      throw new ModelDownloadError(
        'unverifiable',
        `The model hub gave no checksum for ${file.path} in ${repo}@${revision} (no sha256 or git blob id in its file listing or headers), so its content cannot be verified; it was not downloaded. If relay.models.hubEndpoint is a mirror, use one that serves the hub's listing and ETag headers, or the hub itself.`,
        file.path,
      );
    }
    return { path: file.path, size, sha256, gitOid, resumable: 0 };
  }

  private staleListingError(path: string): ModelDownloadError {
    const { repo, revision } = this.request;
    const expected = this.request.pinnedSha256 ? 'the pinned commit and sha256 say' : 'its listing said';
    return new ModelDownloadError(
      'checksum',
      `${repo}@${revision} now serves a different ${path} than ${expected} (size, checksum or commit changed). Download again to use the current listing.`,
      path,
    );
  }

  /**
   * After a file's bytes disagreed with what it should be: a HEAD says whether the hub now
   * serves other content (the listing was read before the revision moved on: downloading
   * again would fail the same way) or the transfer was damaged (worth one more try).
   */
  private async failIfListingStale(file: PlannedFile): Promise<void> {
    let head: FileMetadata;
    try {
      head = await fileMetadata(this.context, this.request.repo, this.commit ?? this.request.revision, file.path);
    } catch {
      if (this.signal?.aborted) throw cancelledError();
      return; // cannot tell: treated as damaged data
    }
    if (!servesOtherContent(file, head)) return;
    const { partial, identity } = this.partialPaths(file);
    await rm(partial, { force: true });
    await rm(identity, { force: true });
    throw this.staleListingError(file.path);
  }

  private partialPaths(file: PlannedFile): { partial: string; identity: string } {
    const partial = join(this.folder, file.path + PARTIAL_SUFFIX);
    return { partial, identity: `${partial}.json` };
  }

  /** Bytes of a `.partial` file that belong to this very content (else it is removed). */
  private async validPartialBytes(file: PlannedFile): Promise<number> {
    const { partial, identity } = this.partialPaths(file);
    const size = await fileSize(partial);
    if (size === undefined) return 0;
    let recorded: PartialIdentity | undefined;
    try {
      recorded = JSON.parse(await readFile(identity, 'utf8')) as PartialIdentity;
    } catch {
      recorded = undefined;
    }
    if (recorded && sameContent(recorded, file) && size <= file.size) return size;
    await rm(partial, { force: true });
    await rm(identity, { force: true });
    return 0;
  }

  private async startPartial(file: PlannedFile): Promise<void> {
    const { partial, identity } = this.partialPaths(file);
    await mkdir(dirname(partial), { recursive: true });
    await writeFile(partial, '');
    const record: PartialIdentity = { size: file.size, sha256: file.sha256, gitOid: file.gitOid };
    await writeFile(identity, JSON.stringify(record));
    this.bytesDone -= file.resumable;
    file.resumable = 0;
  }

  private async downloadFile(file: PlannedFile, fileIndex: number, fileCount: number): Promise<void> {
    const maxAttempts = Math.max(1, this.request.maxAttemptsPerFile ?? 5);
    const retryDelayMs = Math.max(0, this.request.retryDelayMs ?? 1000);
    const maxRetryAfterMs = Math.max(0, this.request.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS);
    const { partial, identity } = this.partialPaths(file);
    const progress = { file: file.path, fileIndex, fileCount };
    let freshRetryUsed = false;
    /** Tries in a row that did not take the file PROGRESS_BYTES past `furthest` (see there); only they bring giving up closer. */
    let triesWithoutProgress = 0;
    let tries = 0;
    /** The most of the file on disk in this call: a try that starts over from byte 0 makes progress only past it. */
    let furthest = file.resumable;
    const giveUp = (failure: ModelDownloadError, why: string): ModelDownloadError => {
      const kept =
        file.resumable > 0
          ? `${formatBytes(file.resumable)} of it is kept and the next download resumes it${file.resumeRefusedBy ? ' (from a server that resumes)' : ''}`
          : 'none of it is kept, so the next download starts it from the beginning';
      const notResumed = file.resumeRefusedBy
        ? ` ${file.resumeRefusedBy} does not resume an interrupted transfer (it ignores or refuses the Range request), so each dropped connection starts ${file.path} over: try again later, or set relay.models.hubEndpoint to another mirror.`
        : '';
      return new ModelDownloadError(failure.code, `${failure.message} Gave up on ${file.path} ${why}; ${kept}.${notResumed}`, file.path);
    };
    try {
      if (file.resumable === 0) await this.startPartial(file);
    } catch (error) {
      throw await this.asDownloadError(error, file);
    }
    for (;;) {
      this.checkCancelled();
      this.report({ phase: 'downloading', ...progress }, true);
      try {
        tries += 1;
        if (file.resumable < file.size) await this.transfer(file, partial, progress);
      } catch (error) {
        const failure = await this.asDownloadError(error, file);
        if (failure.code === 'size') await this.failIfListingStale(file);
        if (failure.code !== 'network' && failure.code !== 'server') throw failure;
        // Bytes received are not progress: a server that ignores Range sends the start again.
        const progressed = file.resumable - furthest >= Math.min(PROGRESS_BYTES, file.size - furthest);
        furthest = Math.max(furthest, file.resumable);
        triesWithoutProgress = progressed ? 0 : triesWithoutProgress + 1;
        if (progressed) file.resumeRefusedBy = undefined;
        if (triesWithoutProgress >= maxAttempts) {
          const inARow = tries > triesWithoutProgress ? `, the last ${triesWithoutProgress} in a row without progress` : '';
          throw giveUp(failure, `after ${tries} tries${inARow}`);
        }
        let waitMs: number;
        try {
          waitMs = retryWaitMs(failure, Math.max(1, triesWithoutProgress), retryDelayMs, maxRetryAfterMs);
        } catch (tooLong) {
          throw giveUp(tooLong as ModelDownloadError, tries > 1 ? `after ${tries} tries` : 'at once');
        }
        await sleep(waitMs, this.signal);
        continue;
      }

      this.report({ phase: 'verifying', ...progress }, true);
      const onDisk = await fileSize(partial);
      const sum = onDisk === file.size ? await checksumOf(partial, file, this.signal) : undefined;
      const expected = file.sha256 ?? file.gitOid;
      // plan() refused files without a checksum: no checksum here is never a pass.
      const good = onDisk === file.size && sum !== undefined && sum.value === expected;
      if (good) {
        try {
          await this.recordPending();
          await renameRetrying(partial, join(this.folder, file.path));
          await rm(identity, { force: true });
        } catch (error) {
          throw await this.asDownloadError(error, file);
        }
        return;
      }
      // Damaged in transit, or the hub serves other content now: only the first is worth a second download.
      if (!freshRetryUsed) await this.failIfListingStale(file);
      await rm(partial, { force: true });
      this.bytesDone -= onDisk ?? 0;
      if (freshRetryUsed) {
        await rm(identity, { force: true });
        const what = sum ? `its ${sum.kind} is ${sum.value}, expected ${expected}` : `it has ${onDisk ?? 0} bytes, expected ${file.size}`;
        throw new ModelDownloadError(
          onDisk === file.size ? 'checksum' : 'size',
          `${file.path} from ${this.request.repo} failed verification twice (${what}); the file was deleted. The hub or a proxy is serving damaged data: try again later, or set relay.models.hubEndpoint to another mirror.`,
          file.path,
        );
      }
      freshRetryUsed = true;
      file.resumable = 0;
      furthest = 0;
      try {
        await this.startPartial(file);
      } catch (error) {
        throw await this.asDownloadError(error, file);
      }
    }
  }

  /** One GET of the rest of `file` into its `.partial` (Range from what is there). */
  private async transfer(file: PlannedFile, partial: string, progress: { file: string; fileIndex: number; fileCount: number }): Promise<void> {
    const { repo, revision, endpoint, token } = this.request;
    const offset = file.resumable;
    const url = resolveUrl(endpoint, repo, this.commit ?? revision, file.path);
    const response = await hubRequest({
      method: 'GET',
      url,
      token,
      hubOrigin: normalizeEndpoint(endpoint).origin,
      signal: this.signal,
      timeouts: this.timeouts,
      redirects: 'all',
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
    });
    const announcedOtherSize = (total: number): ModelDownloadError =>
      new ModelDownloadError(
        'size',
        `${response.url.host} sends ${file.path} with ${total} bytes, where ${file.size} were expected. ${OTHER_BYTES_ADVICE}`,
        file.path,
      );
    // Error bodies are closed, not drained: they may never end, and the connection is this request's own.
    if (response.status === 416) {
      response.body.destroy();
      const whole = /^bytes \*\/(\d+)$/.exec(header(response.headers, 'content-range') ?? '');
      if (whole && Number(whole[1]) !== file.size) throw announcedOtherSize(Number(whole[1]));
      file.resumeRefusedBy = response.url.host;
      await this.startPartial(file);
      throw new ModelDownloadError('server', `${response.url.host} refused to resume ${file.path} (HTTP 416); starting it over.`, file.path);
    }
    if (isRetryableStatus(response.status)) {
      response.body.destroy();
      const retryAfterMs = parseRetryAfter(response.headers);
      const error =
        response.status === 429
          ? rateLimitedError(response.url.host, `${repo}/${file.path}`, retryAfterMs, this.context, file.path)
          : new ModelDownloadError('server', `${response.url.host} answered HTTP ${response.status} for ${file.path}.`, file.path);
      throw new RetryableAnswerError(error, response.status, retryAfterMs);
    }
    if (response.status !== 200 && response.status !== 206) throw await statusError(response, this.context, { repo, revision, path: file.path });

    // Listen now: the body may arrive (or break off) while the partial file is prepared.
    const chunks = receivedChunks(response);
    // A trickle never trips the idle timeout (a byte now and then is enough): too few bytes in an idle period end the try.
    const stopGuard = guardLowSpeed(response, file.path, this.timeouts.idleTimeoutMs, () => Math.min(PROGRESS_BYTES, file.size - file.resumable));
    try {
      let start = 0;
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(header(response.headers, 'content-range') ?? '');
      // Another size than expected: other content is coming (the revision moved on), not worth receiving.
      const announced = announcedFileSize(response.status, range, header(response.headers, 'content-length'));
      if (announced !== undefined && announced !== file.size) throw announcedOtherSize(announced);
      if (response.status === 206) {
        start = range ? Number(range[1]) : -1;
        if (start !== offset) {
          response.body.destroy();
          file.resumeRefusedBy = response.url.host;
          await this.startPartial(file);
          throw new ModelDownloadError('server', `${response.url.host} sent ${file.path} from another position than asked; starting it over.`, file.path);
        }
      } else if (offset > 0) {
        // The server ignored the Range header and sends the whole file: start over.
        file.resumeRefusedBy = response.url.host;
        await this.startPartial(file);
      }

      const handle = await open(partial, start > 0 ? 'a' : 'w');
      try {
        for await (const chunk of chunks) {
          if (file.resumable + chunk.length > file.size) {
            throw new LongerThanAnnounced('size', `${file.path} is longer than the ${file.size} bytes the hub announced. ${OTHER_BYTES_ADVICE}`, file.path);
          }
          await this.writeChunk(handle, chunk, file, partial);
          this.speed.add(this.bytesDownloaded);
          this.report({ phase: 'downloading', ...progress }, false);
        }
      } finally {
        await handle.close();
      }
    } finally {
      stopGuard();
      // Whatever stopped the loop (disk full, too long, a file error), the transfer stops with it.
      response.body.destroy();
    }
    if (file.resumable < file.size) {
      throw new ModelDownloadError(
        'network',
        `The connection dropped after ${formatBytes(file.resumable)} of ${file.path} (${formatBytes(file.size)}).`,
        file.path,
      );
    }
  }

  /**
   * Writes all of `chunk` to the end of the partial file and counts what was written. A
   * write may take only part of a chunk (at a file-size limit, before its EFBIG): the rest
   * is written on, so the file never has a gap, and the bytes it took are counted, so a
   * resume asks for exactly what follows them. A write's error names the partial file (the
   * file system's errors say nothing of it), so it is reported as the disk's, not retried.
   */
  private async writeChunk(handle: FileHandle, chunk: Buffer, file: PlannedFile, partial: string): Promise<void> {
    for (let offset = 0; offset < chunk.length;) {
      let written: number;
      try {
        ({ bytesWritten: written } = await handle.write(chunk, offset, chunk.length - offset));
      } catch (error) {
        const errno = error as NodeJS.ErrnoException;
        if (errno?.code !== undefined && errno.path === undefined) errno.path = partial;
        throw error;
      }
      // Nothing written and no error: a disk that takes no more would loop here forever.
      if (written <= 0) throw Object.assign(new Error(`write of ${partial} took no bytes`), { code: 'EIO', syscall: 'write', path: partial });
      offset += written;
      file.resumable += written;
      this.bytesDone += written;
      this.bytesDownloaded += written;
    }
  }

  private async asDownloadError(error: unknown, file: PlannedFile): Promise<ModelDownloadError> {
    if (this.signal?.aborted) return cancelledError();
    if (error instanceof ModelDownloadError) {
      // Longer than announced: its bytes are not this file's, so the next download starts it over
      // (another size announced before any byte keeps what earlier tries received: Retry resumes).
      // Removed before the download ends, so within its lock; a removal refused (a file Windows
      // holds open past rmRetrying's wait) leaves it for the next download to find too long, and
      // must not become an unhandled rejection.
      if (error instanceof LongerThanAnnounced) await rmRetrying(this.partialPaths(file).partial, { force: true }).catch(() => undefined);
      return error;
    }
    const onDisk = fileSystemError(error, this.folder, file.path);
    if (onDisk) return onDisk;
    const errno = error as NodeJS.ErrnoException;
    if (errno?.code === 'ENOSPC') return diskFullError(this.folder, file.path, file.path);
    if (isDroppedConnection(errno)) {
      return new ModelDownloadError('network', `The connection dropped after ${formatBytes(file.resumable)} of ${file.path}.`, file.path);
    }
    if (typeof errno?.code === 'string' && SOCKET_ERROR_CODES.has(errno.code)) {
      return networkError(errno, resolveUrl(this.request.endpoint, this.request.repo, this.request.revision, file.path));
    }
    if (typeof errno?.code === 'string' && /^E[A-Z]+$/.test(errno.code)) {
      // Any other system error (EIO, EFBIG, EACCES... without a path) is the disk's: not retried, it names the partial file.
      const onTheDisk = fileSystemError({ ...errno, code: errno.code, message: errno.message, path: this.partialPaths(file).partial }, this.folder, file.path);
      if (onTheDisk) return onTheDisk;
    }
    return new ModelDownloadError('network', `Downloading ${file.path} failed: ${errno?.message ?? String(error)}`, file.path);
  }
}

/** A body that ran past the file's size: what it wrote into the partial file is not this file's. */
class LongerThanAnnounced extends ModelDownloadError {}

/** The whole file's size as a 200 (Content-Length) or 206 (Content-Range's total) announces it, when it does. */
function announcedFileSize(status: number, contentRange: RegExpExecArray | null, contentLength: string | undefined): number | undefined {
  if (status === 206) return contentRange && contentRange[3] !== '*' ? Number(contentRange[3]) : undefined;
  return contentLength !== undefined && /^\d+$/.test(contentLength) ? Number(contentLength) : undefined;
}

/** Whether a HEAD's size or checksum contradicts what `file` is expected to be. */
function servesOtherContent(file: Pick<HubFile, 'size' | 'sha256' | 'gitOid'>, head: FileMetadata): boolean {
  if (file.sha256 && head.sha256 && file.sha256 !== head.sha256) return true;
  if (!file.sha256 && !head.sha256 && file.gitOid && head.gitOid && file.gitOid !== head.gitOid) return true;
  return file.size !== undefined && head.size !== undefined && file.size !== head.size;
}

/**
 * A file-system error (one that names a path) as a download error that says what to do;
 * undefined for any other error. `file`: the repository path concerned, when there is one.
 * `platform`: default process.platform (tests inject it).
 */
export function fileSystemError(error: unknown, folder: string, file?: string, platform: NodeJS.Platform = process.platform): ModelDownloadError | undefined {
  const errno = error as NodeJS.ErrnoException | undefined;
  if (typeof errno?.code !== 'string' || typeof errno.path !== 'string') return undefined;
  const what = file ?? 'the model';
  if (platform === 'win32' && isReplacingRefused(errno)) {
    // Windows refuses to replace or delete a file another program holds open; renameRetrying
    // already waited out brief holds, so this one is held for longer.
    return new ModelDownloadError(
      'bad_request',
      `Cannot replace ${what} in ${folder} (${errno.code}): the file may be in use, by the loaded small model, an antivirus scan or another program. Close what uses it (Relay lets go of its own model before a download, unless an answer is being written: stop it), then download again.`,
      file,
    );
  }
  switch (errno.code) {
    case 'ENOSPC':
    case 'EDQUOT':
      return diskFullError(folder, what, file);
    case 'EFBIG':
      return new ModelDownloadError(
        'bad_request',
        `Cannot write ${what} in ${folder}: the file is larger than that volume allows for one file (EFBIG; FAT32, common on USB drives and SD cards, allows at most 4 GB, and a process may also be limited by ulimit -f). Download the model by hand into a folder on another volume (NTFS, exFAT, APFS, ext4) and use "Use a local folder...", or move VS Code's data off that volume.`,
        file,
      );
    case 'ENAMETOOLONG':
      return new ModelDownloadError(
        'bad_request',
        `Cannot write ${what} in ${folder}: the path is longer than this system allows (ENAMETOOLONG). Pick a model or variant with shorter file names, or download it by hand into a folder with a short path and use "Use a local folder...".`,
        file,
      );
    case 'EACCES':
    case 'EPERM':
    case 'EROFS':
    case 'EISDIR':
    case 'ENOTDIR':
      return new ModelDownloadError('bad_request', `Cannot write ${what} in ${folder} (${errno.code}). Check the folder's permissions.`, file);
    default:
      return new ModelDownloadError(
        'bad_request',
        `Cannot write ${what} in ${folder} (${errno.code} on ${errno.syscall ?? 'a file operation'}). Check the folder and its disk, then download again.`,
        file,
      );
  }
}

/** Whether Windows refused to rename over or delete a file: what it does while another program holds the file open. */
function isReplacingRefused(errno: NodeJS.ErrnoException): boolean {
  if (errno.code === 'EBUSY') return true;
  return errno.code === 'EPERM' && ['rename', 'unlink', 'rm', 'rmdir'].includes(errno.syscall ?? '');
}

function sameContent(a: Pick<HubFile, 'size' | 'sha256' | 'gitOid'>, b: Pick<HubFile, 'size' | 'sha256' | 'gitOid'>): boolean {
  if (a.size !== undefined && b.size !== undefined && a.size !== b.size) return false;
  if (a.sha256 && b.sha256) return a.sha256 === b.sha256;
  if (a.gitOid && b.gitOid) return a.gitOid === b.gitOid;
  // No checksum to compare: the size alone does not say the content is the same.
  return false;
}

function toHubFile(file: PlannedFile): HubFile {
  return { path: file.path, size: file.size, sha256: file.sha256, gitOid: file.gitOid };
}

function mergeFiles(marker: CompletionMarker | undefined, files: HubFile[]): HubFile[] {
  const byPath = new Map<string, HubFile>();
  for (const file of marker?.files ?? []) byPath.set(file.path, file);
  for (const file of files) byPath.set(file.path, file);
  return [...byPath.values()].sort((a, b) => a.path.localeCompare(b.path));
}
