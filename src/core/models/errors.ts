/**
 * What can go wrong while downloading a model, each with a message that names the file
 * (where there is one) and says how to fix it.
 */
export type ModelDownloadErrorCode =
  | 'bad_request' // a repo id, revision or file path we refuse to use
  | 'not_found' // 404 (or the hub's RepoNotFound): repo, revision or file missing
  | 'gated' // 401/403: gated or private repo, token missing or not granted access
  | 'token_refused' // 401 (or "Invalid credentials") to the token sent: invalid, expired or revoked; replace or remove it
  | 'network' // connection refused, reset, dropped or idle after the retries
  | 'server' // 5xx / 429 after the retries, or a response we cannot use
  | 'checksum' // sha256 / git oid still wrong after one fresh retry, or not the pinned one
  | 'unverifiable' // no checksum known for a file (none from the hub, or none pinned): not downloaded
  | 'size' // the hub's size and the bytes received disagree
  | 'disk_full' // not enough free space, or ENOSPC while writing
  | 'busy' // another download of the same model folder is running
  | 'cancelled'; // the caller's AbortSignal fired; what was downloaded is kept for resume

export class ModelDownloadError extends Error {
  constructor(
    readonly code: ModelDownloadErrorCode,
    message: string,
    /** The repository path of the file concerned, when there is one. */
    readonly file?: string,
  ) {
    super(message);
    this.name = 'ModelDownloadError';
  }
}

export function isModelDownloadError(error: unknown): error is ModelDownloadError {
  return error instanceof ModelDownloadError;
}

/** Human-readable byte counts for messages and progress ("512 KB", "1.4 GB"). */
export function formatBytes(bytes: number): string {
  if (!Number.isFinite(bytes) || bytes < 0) return '? B';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1000 && unit < units.length - 1) {
    value /= 1000;
    unit += 1;
  }
  const digits = unit === 0 || value >= 100 ? 0 : value >= 10 ? 1 : 2;
  return `${value.toFixed(digits)} ${units[unit]}`;
}

/** Human-readable waits for messages ("30 s", "5 min", "2 h"), rounded up so a wait is never understated. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return '? s';
  const seconds = Math.ceil(ms / 1000);
  if (seconds < 120) return `${seconds} s`;
  const minutes = Math.ceil(seconds / 60);
  if (minutes < 120) return `${minutes} min`;
  return `${Math.ceil(minutes / 60)} h`;
}
