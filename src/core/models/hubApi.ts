/**
 * What the model hub (huggingface.co or a mirror) serves, read the way huggingface_hub
 * reads it:
 * - `GET <endpoint>/api/models/<repo>/tree/<rev>?recursive=true`: the file listing with
 *   sizes, git blob ids and, for LFS files, their sha256;
 * - `HEAD <endpoint>/<repo>/resolve/<rev>/<path>`: a file's metadata in headers
 *   (`x-repo-commit`, `x-linked-etag` = LFS sha256, `x-linked-size`, `etag`); large files
 *   answer with a redirect to a CDN, which is not followed for metadata.
 */
import { scrubSecrets } from '../providers/errors';
import { parseRetryAfter } from '../http/headers';
import { formatDuration, ModelDownloadError } from './errors';
import { loginSecrets, withoutCredentials } from '../http/shownUrl';
import { cancelledError, header, hubRequest, networkError, readText, sleep, SMALL_READ_DEADLINE_MS, type HubResponse, type HubTimeouts } from './hubHttp';
import { quotedAddress } from '../http/shownUrl';

/** One file of a repository, with what is known to verify it. */
export interface HubFile {
  /** Path inside the repository, '/'-separated (e.g. onnx/model_q4.onnx). */
  path: string;
  size?: number;
  /** sha256 of the content (LFS files). */
  sha256?: string;
  /** git blob id: sha1 of "blob <size>\0<content>" (every file). */
  gitOid?: string;
}

export interface HubContext {
  endpoint: string;
  token?: string;
  signal?: AbortSignal;
  timeouts: HubTimeouts;
  /** How the user sets a token, for the gated-repo message (e.g. 'run "Relay: Set Model Hub Token"'). */
  tokenHint?: string;
  /** Wait before another try of a listing page or HEAD, times the try number (at most 10 s); a Retry-After replaces it. Default 1000. */
  retryDelayMs?: number;
  /** Longest Retry-After waited out; a server that asks for longer is given up on at once. Default MAX_RETRY_AFTER_MS. */
  maxRetryAfterMs?: number;
}

/** The command that stores, replaces or removes the hub token (src/extension/selectModel.ts). */
const SET_HUB_TOKEN_COMMAND = 'Relay: Set Model Hub Token';

/** Longest Retry-After waited out by default: longer, and the user is better told when to try again. */
export const MAX_RETRY_AFTER_MS = 60_000;

/** Longest wait of the backoff (retryDelayMs times the try number) when the server names none. */
const MAX_BACKOFF_MS = 10_000;

/** Tries of one listing page or HEAD: enough to ride out a brief 502 or 429, few enough to fail fast when the hub is down. */
const SMALL_READ_TRIES = 3;

const REPO_ID = /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/;
const REVISION = /^[A-Za-z0-9][A-Za-z0-9._/-]*$/;

export function checkRepoId(repo: string): void {
  if (!REPO_ID.test(repo) || repo.includes('..')) {
    throw new ModelDownloadError('bad_request', `"${repo}" is not a model hub repository id; write it as owner/name, e.g. onnx-community/Qwen3-0.6B-ONNX.`);
  }
}

export function checkRevision(revision: string): void {
  if (!REVISION.test(revision) || revision.includes('..')) {
    throw new ModelDownloadError('bad_request', `"${revision}" is not a revision; use a branch (main), a tag or a commit hash.`);
  }
}

/** Most bytes of one file name on the disks models go to (ext4, APFS, NTFS). */
const MAX_NAME_BYTES = 255;
/** The longest suffix the downloader adds to a file's name while it downloads (`<name>.partial.json`, see downloader.ts). */
const LONGEST_DOWNLOAD_SUFFIX = '.partial.json';

/** Characters no Windows file name may hold, control characters included. */
const WINDOWS_INVALID = /[<>:"|?*\u0000-\u001f]/;
/**
 * Device names Windows reserves, with or without an extension, in any case: Microsoft's
 * "Naming Files, Paths, and Namespaces" lists COM0-9 and LPT0-9 with the superscript digits
 * ¹ ² ³ (which Windows reads as digits), and CONIN$ and CONOUT$ are the console's.
 */
const WINDOWS_RESERVED = /^(?:con|prn|aux|nul|conin\$|conout\$|(?:com|lpt)[0-9\u00b9\u00b2\u00b3])(?:\..*)?$/i;

/** A repository path we are willing to write under the model folder (no escaping it, every name short enough for a disk). */
export function checkFilePath(path: string): void {
  const parts = path.split('/');
  if (path.length === 0 || path.startsWith('/') || path.includes('\\') || path.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new ModelDownloadError('bad_request', `The model hub listed a file with an unsafe path (${JSON.stringify(path)}); it was not downloaded.`, path);
  }
  // A name Windows cannot hold, or holds as another file (`x.` is `x`, `x:y` a stream of `x`, `nul` a device).
  const unportable = parts.find((part) => WINDOWS_INVALID.test(part) || /[. ]$/.test(part) || WINDOWS_RESERVED.test(part));
  if (unportable !== undefined) {
    throw new ModelDownloadError(
      'bad_request',
      `The model hub listed a file whose name ${JSON.stringify(unportable)} Windows cannot keep as it is (${JSON.stringify(path)}); it was not downloaded. Pick another model, or download it by hand.`,
      path,
    );
  }
  const longest = Math.max(...parts.slice(0, -1).map((part) => Buffer.byteLength(part)), Buffer.byteLength(parts[parts.length - 1] + LONGEST_DOWNLOAD_SUFFIX));
  if (longest > MAX_NAME_BYTES) {
    throw new ModelDownloadError(
      'bad_request',
      `${path} has a name too long to download: with the "${LONGEST_DOWNLOAD_SUFFIX}" it is kept under while it downloads, it is ${longest} bytes, and a disk allows ${MAX_NAME_BYTES}. Pick another variant, or download the file by hand into a folder of your own and use "Use a local folder...".`,
      path,
    );
  }
}

export function normalizeEndpoint(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint.trim());
  } catch {
    throw new ModelDownloadError(
      'bad_request',
      `relay.models.hubEndpoint is not a URL: ${quotedAddress(endpoint)}. Use https://huggingface.co or a mirror's address.`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ModelDownloadError('bad_request', `relay.models.hubEndpoint must start with https:// or http:// (got ${url.protocol}).`);
  }
  url.search = '';
  url.hash = '';
  if (!url.pathname.endsWith('/')) url.pathname += '/';
  return url;
}

function encodePath(path: string): string {
  return path.split('/').map(encodeURIComponent).join('/');
}

/** `<endpoint>/<repo>/resolve/<rev>/<path>`, as the hub serves files. */
export function resolveUrl(endpoint: string, repo: string, revision: string, path: string): URL {
  return new URL(`${repo}/resolve/${encodeURIComponent(revision)}/${encodePath(path)}`, normalizeEndpoint(endpoint));
}

export function treeUrl(endpoint: string, repo: string, revision: string): URL {
  return new URL(`api/models/${repo}/tree/${encodeURIComponent(revision)}?recursive=true`, normalizeEndpoint(endpoint));
}

/** Turns an error status of the hub into a message that says what to do. */
export async function statusError(
  response: HubResponse,
  context: HubContext,
  what: { repo: string; revision: string; path?: string },
): Promise<ModelDownloadError> {
  const text = await readText(response, 64 * 1024).catch(() => '');
  const code = header(response.headers, 'x-error-code') ?? '';
  const endpoint = normalizeEndpoint(context.endpoint);
  const publicEndpoint = withoutCredentials(endpoint);
  const repoPage = new URL(what.repo, publicEndpoint).href;
  const tokenHint = context.tokenHint ?? 'give the downloader an access token';
  const status = response.status;
  const file = what.path;
  // The hub's own word on a refusal (huggingface.co: "Invalid credentials in Authorization header"), scrubbed: it may echo what was sent.
  const serverMessage = scrubSecrets((header(response.headers, 'x-error-message') ?? '').trim(), endpointSecrets(context)).slice(0, 200);
  const quotedServerMessage = serverMessage ? ` ("${serverMessage}")` : '';
  // A 401/403 of another origin (the CDN a file redirects to, which never gets the token) says nothing of access to the repository.
  if ((status === 401 || status === 403) && response.url.origin !== endpoint.origin) {
    return new ModelDownloadError(
      'server',
      `The file server ${response.url.host} refused ${file ?? what.repo} of ${what.repo} with HTTP ${status}. A proxy or firewall may block ${response.url.host}, or the link it was sent to expired: allow that host, or try again later.`,
      file,
    );
  }
  if (status === 401 || status === 403) {
    if (code === 'RepoNotFound') {
      return new ModelDownloadError(
        'not_found',
        `The model hub has no repository ${what.repo} that this account can see (HTTP ${status}). Check the repository id; if it is private, ${tokenHint}.`,
        file,
      );
    }
    // huggingface.co answers 401 to an expired or revoked token even for a public repository: no terms to accept would help.
    const tokenRefused = code !== 'GatedRepo' && (status === 401 || INVALID_CREDENTIALS.test(serverMessage));
    if (context.token && tokenRefused) {
      return new ModelDownloadError(
        'token_refused',
        `The model hub refused the hub token stored for ${publicEndpoint.origin} with HTTP ${status}${quotedServerMessage}: the token is invalid, expired or revoked. Create a read token at ${new URL('settings/tokens', publicEndpoint).href} and run "${SET_HUB_TOKEN_COMMAND}" to replace it, or run it and leave the box empty to remove the token (public models need none), then download again.`,
        file,
      );
    }
    if (status === 403 || context.token) {
      return new ModelDownloadError(
        'gated',
        `The model hub refused ${what.repo}${file ? ` (${file})` : ''} with HTTP ${status}: ${context.token ? 'the access token was refused or has not been granted access to this gated repository' : 'access is not granted'}. Open ${repoPage}, accept its terms while signed in with the account of your token, check that the token can read gated repositories, then download again.${serverMessage ? ` The hub said: "${serverMessage}".` : ''}`,
        file,
      );
    }
    return new ModelDownloadError(
      'gated',
      `The model hub refused ${what.repo}${file ? ` (${file})` : ''} with HTTP 401: the repository is gated or private and needs an access token. Open ${repoPage}, accept its terms while signed in, create a read token at ${new URL('settings/tokens', publicEndpoint).href}, then ${tokenHint}.`,
      file,
    );
  }
  if (status === 404) {
    if (code === 'RepoNotFound')
      return new ModelDownloadError('not_found', `The model hub has no repository ${what.repo} (HTTP 404). Check the repository id.`, file);
    if (code === 'RevisionNotFound')
      return new ModelDownloadError('not_found', `${what.repo} has no revision "${what.revision}" (HTTP 404). Use main or an existing tag or commit.`, file);
    if (file)
      return new ModelDownloadError(
        'not_found',
        `${what.repo}@${what.revision} has no file ${file} (HTTP 404). The file list is out of date: pick another variant, or download the repository again to refresh its listing.`,
        file,
      );
    return new ModelDownloadError(
      'not_found',
      `The model hub has no repository ${what.repo} at revision ${what.revision} (HTTP 404). Check the repository id.`,
    );
  }
  if (status === 429) return rateLimitedError(response.url.host, file ? `${what.repo}/${file}` : what.repo, parseRetryAfter(response.headers), context, file);
  if (status === 416) return new ModelDownloadError('server', `${response.url.host} refused the byte range asked for ${file ?? what.repo} (HTTP 416).`, file);
  // Scrubbed whole, then cut: a server may echo the request's Authorization header (the token, or the endpoint's user:password) in its error body.
  const detail = scrubSecrets(text.trim(), endpointSecrets(context)).slice(0, 200);
  return new ModelDownloadError(
    'server',
    `The model hub answered HTTP ${status} for ${file ? `${what.repo}/${file}` : what.repo}${detail ? `: ${detail}` : ''}. Try again later.`,
    file,
  );
}

/** What huggingface.co says of a token it does not accept (x-error-message). */
const INVALID_CREDENTIALS = /invalid (credentials|token|username or password)|token.*(expired|revoked)/i;

/**
 * A 429 the tries did not outlast: the hub limits requests per IP address, and more for
 * a signed-in account, so a token helps where none was sent.
 */
export function rateLimitedError(host: string, what: string, retryAfterMs: number | undefined, context: HubContext, file?: string): ModelDownloadError {
  const asked = retryAfterMs !== undefined ? ` and asks to wait ${formatDuration(retryAfterMs)}` : '';
  const when = retryAfterMs !== undefined ? 'after that' : 'in a few minutes';
  const advice = context.token
    ? `Try again ${when}: the hub token sent has reached its limit too.`
    : `Try again ${when}, or set a hub token, which raises the limit: ${context.tokenHint ?? `run "${SET_HUB_TOKEN_COMMAND}"`}.`;
  return new ModelDownloadError('server', `${host} is rate limiting downloads from the model hub (HTTP 429 for ${what})${asked}. ${advice}`, file);
}

/** An answer worth another try (408, 429, 5xx): its error, and how long the server asked to wait (Retry-After). */
export class RetryableAnswerError extends ModelDownloadError {
  constructor(
    error: ModelDownloadError,
    readonly status: number,
    readonly retryAfterMs: number | undefined,
  ) {
    super(error.code, error.message, error.file);
  }
}

/**
 * How long to wait before try number `tries + 1` after `failure`: the server's Retry-After
 * when it sent one, else `retryDelayMs` times `tries` (at most MAX_BACKOFF_MS). A server
 * that asks for longer than `maxRetryAfterMs` is not waited for: the error thrown says how
 * long it asked.
 */
export function retryWaitMs(failure: ModelDownloadError, tries: number, retryDelayMs: number, maxRetryAfterMs: number): number {
  const asked = failure instanceof RetryableAnswerError ? failure.retryAfterMs : undefined;
  if (asked === undefined) return Math.min(MAX_BACKOFF_MS, Math.max(0, retryDelayMs) * tries);
  if (asked <= maxRetryAfterMs) return asked;
  // A 429's message already says how long; any other says it here.
  if ((failure as RetryableAnswerError).status === 429) throw new ModelDownloadError(failure.code, failure.message, failure.file);
  throw new ModelDownloadError(
    failure.code,
    `${failure.message} The server asked to wait ${formatDuration(asked)} before another try, longer than Relay waits (${formatDuration(maxRetryAfterMs)}): try again then.`,
    failure.file,
  );
}

/** Deadline errors of small reads: the read already took its whole deadline, so it is not tried again. */
const deadlineErrors = new WeakSet<Error>();

/**
 * Runs one small read (a listing page, a HEAD) up to SMALL_READ_TRIES times: a dropped
 * connection or a 408/429/5xx of a briefly overloaded hub is tried again after a wait (its
 * Retry-After within the cap, else a short backoff) instead of failing the whole download.
 */
async function withRetries<T>(context: HubContext, read: () => Promise<T>): Promise<T> {
  for (let tries = 1; ; tries += 1) {
    try {
      return await read();
    } catch (error) {
      if (context.signal?.aborted) throw cancelledError();
      const retryable =
        error instanceof RetryableAnswerError || (error instanceof ModelDownloadError && error.code === 'network' && !deadlineErrors.has(error));
      if (!retryable || tries >= SMALL_READ_TRIES) throw error;
      await sleep(retryWaitMs(error, tries, context.retryDelayMs ?? 1000, context.maxRetryAfterMs ?? MAX_RETRY_AFTER_MS), context.signal);
    }
  }
}

/** The error of a hub answer that is not what was asked: one worth another try says so, with its Retry-After. */
async function answerError(response: HubResponse, context: HubContext, what: { repo: string; revision: string; path?: string }): Promise<ModelDownloadError> {
  const error = await statusError(response, context, what);
  return isRetryableStatus(response.status) ? new RetryableAnswerError(error, response.status, parseRetryAfter(response.headers)) : error;
}

/** What an error body must not quote: the token, and the endpoint's password as typed and as its Basic credentials. */
function endpointSecrets(context: HubContext): string[] {
  return [...(context.token ? [context.token] : []), ...loginSecrets(normalizeEndpoint(context.endpoint))];
}

/**
 * Runs one small read (a listing page, config.json, a HEAD) under a total deadline: the
 * idle timeout alone lets a server that trickles a byte now and then hold it forever.
 */
async function withReadDeadline<T>(context: HubContext, what: string, read: (context: HubContext) => Promise<T>): Promise<T> {
  const deadlineMs = context.timeouts.smallReadDeadlineMs ?? SMALL_READ_DEADLINE_MS;
  const controller = new AbortController();
  const outer = context.signal;
  const forwardCancel = (): void => controller.abort();
  if (outer?.aborted) controller.abort();
  else outer?.addEventListener('abort', forwardCancel, { once: true });
  let expired = false;
  const timer = setTimeout(() => {
    expired = true;
    controller.abort();
  }, deadlineMs);
  try {
    return await read({ ...context, signal: controller.signal });
  } catch (error) {
    if (expired && !outer?.aborted) {
      const host = normalizeEndpoint(context.endpoint).host;
      const deadlineError = new ModelDownloadError(
        'network',
        `${host} took more than ${deadlineMs >= 1000 ? `${Math.round(deadlineMs / 1000)} s` : `${deadlineMs} ms`} to send ${what}; it was stopped. Check the network (a slow proxy?) and relay.models.hubEndpoint, then try again.`,
      );
      deadlineErrors.add(deadlineError);
      throw deadlineError;
    }
    throw error;
  } finally {
    clearTimeout(timer);
    outer?.removeEventListener('abort', forwardCancel);
  }
}

/** A retryable status: the hub or CDN is overloaded or restarting. */
export function isRetryableStatus(status: number): boolean {
  return status === 429 || status === 408 || status >= 500;
}

interface TreeEntry {
  type?: string;
  path?: unknown;
  size?: unknown;
  oid?: unknown;
  lfs?: { oid?: unknown; sha256?: unknown; size?: unknown };
}

function nextLink(linkHeader: string | undefined): string | undefined {
  if (!linkHeader) return undefined;
  const match = /<([^>]+)>\s*;\s*rel="?next"?/.exec(linkHeader);
  return match?.[1];
}

const MAX_TREE_PAGES = 50;

function listingError(repo: string, problem: string): ModelDownloadError {
  return new ModelDownloadError('server', `The model hub's file listing of ${repo} ${problem}; check relay.models.hubEndpoint, or try again later.`);
}

/** Every file of `repo` at `revision`, with sizes and checksums (the hub's tree API, paginated), each path once. */
export async function listRepoFiles(context: HubContext, repo: string, revision: string): Promise<HubFile[]> {
  checkRepoId(repo);
  checkRevision(revision);
  const hubOrigin = normalizeEndpoint(context.endpoint).origin;
  const files = new Map<string, HubFile>();
  const pagesSeen = new Set<string>();
  let url: URL | undefined = treeUrl(context.endpoint, repo, revision);
  for (let page = 0; url; page += 1) {
    if (page === MAX_TREE_PAGES)
      throw listingError(repo, `goes on past ${MAX_TREE_PAGES} pages (${files.size} files so far), more than a model repository has`);
    if (pagesSeen.has(url.href)) throw listingError(repo, `links back to a page it already sent (page ${page + 1})`);
    pagesSeen.add(url.href);
    const pageUrl: URL = url;
    const { entries, next } = await withRetries(context, () =>
      withReadDeadline(context, `the file list of ${repo}`, async (bounded) => {
        const response = await hubRequest({
          method: 'GET',
          url: pageUrl,
          token: bounded.token,
          hubOrigin,
          signal: bounded.signal,
          timeouts: bounded.timeouts,
          redirects: 'all',
          headers: { accept: 'application/json' },
        });
        if (response.status !== 200) throw await answerError(response, bounded, { repo, revision });
        let parsed: unknown;
        try {
          parsed = JSON.parse(await readText(response));
        } catch (error) {
          if (error instanceof ModelDownloadError) throw error;
          if (!(error instanceof SyntaxError)) throw networkError(error as NodeJS.ErrnoException, pageUrl);
          throw listingError(repo, 'is not JSON');
        }
        return { entries: parsed, next: nextLink(header(response.headers, 'link')) };
      }),
    );
    if (!Array.isArray(entries)) throw listingError(repo, 'is not a list');
    for (const entry of entries as TreeEntry[]) {
      if (entry.type !== 'file' || typeof entry.path !== 'string') continue;
      const lfsSha = entry.lfs?.oid ?? entry.lfs?.sha256;
      const file: HubFile = {
        path: entry.path,
        size: typeof entry.size === 'number' ? entry.size : typeof entry.lfs?.size === 'number' ? entry.lfs.size : undefined,
        sha256: typeof lfsSha === 'string' && /^[0-9a-f]{64}$/.test(lfsSha) ? lfsSha : undefined,
        gitOid: typeof entry.oid === 'string' && /^[0-9a-f]{40}$/.test(entry.oid) ? entry.oid : undefined,
      };
      const earlier = files.get(file.path);
      if (earlier && (earlier.size !== file.size || earlier.sha256 !== file.sha256 || earlier.gitOid !== file.gitOid)) {
        throw listingError(repo, `lists ${file.path} twice, with different sizes or checksums`);
      }
      files.set(file.path, file);
    }
    url = next ? new URL(next, pageUrl) : undefined;
  }
  return [...files.values()];
}

/** A small text file of the repository (e.g. config.json, to check the architecture before a large download). */
export async function readRepoText(context: HubContext, repo: string, revision: string, path: string, limit = 1024 * 1024): Promise<string> {
  checkRepoId(repo);
  checkRevision(revision);
  checkFilePath(path);
  return withReadDeadline(context, `${path} of ${repo}`, async (bounded) => {
    const response = await hubRequest({
      method: 'GET',
      url: resolveUrl(bounded.endpoint, repo, revision, path),
      token: bounded.token,
      hubOrigin: normalizeEndpoint(bounded.endpoint).origin,
      signal: bounded.signal,
      timeouts: bounded.timeouts,
      redirects: 'all',
    });
    if (response.status !== 200) throw await statusError(response, bounded, { repo, revision, path });
    return readText(response, limit);
  });
}

export interface FileMetadata extends HubFile {
  /** The commit the revision resolved to (x-repo-commit), when the hub says. */
  commit?: string;
}

/** A strong ETag's value; a weak one (W/"...") names no exact content, so it is not a checksum. */
function unquoteEtag(value: string | undefined): string | undefined {
  if (!value || value.startsWith('W/')) return undefined;
  return value.replace(/^"|"$/g, '');
}

/** A file's size, checksum and commit from a HEAD on its resolve URL (no CDN redirect followed). */
export async function fileMetadata(context: HubContext, repo: string, revision: string, path: string): Promise<FileMetadata> {
  const hubOrigin = normalizeEndpoint(context.endpoint).origin;
  const response = await withRetries(context, () =>
    withReadDeadline(context, `the headers of ${path} of ${repo}`, async (bounded) => {
      const answer = await hubRequest({
        method: 'HEAD',
        url: resolveUrl(bounded.endpoint, repo, revision, path),
        token: bounded.token,
        hubOrigin,
        signal: bounded.signal,
        timeouts: bounded.timeouts,
        redirects: 'same-origin',
      });
      const isRedirect = answer.status >= 300 && answer.status < 400;
      if (!isRedirect && answer.status !== 200) throw await answerError(answer, bounded, { repo, revision, path });
      return answer;
    }),
  );
  const isCdnRedirect = response.status >= 300 && response.status < 400;
  response.body.destroy(); // a HEAD has no body to read
  const linked = unquoteEtag(header(response.headers, 'x-linked-etag'));
  const etag = linked ?? unquoteEtag(header(response.headers, 'etag'));
  const sizeText = header(response.headers, 'x-linked-size') ?? (isCdnRedirect ? undefined : header(response.headers, 'content-length'));
  const size = sizeText !== undefined && /^\d+$/.test(sizeText) ? Number(sizeText) : undefined;
  const commit = header(response.headers, 'x-repo-commit');
  return {
    path,
    size,
    sha256: etag && /^[0-9a-f]{64}$/.test(etag) ? etag : undefined,
    gitOid: etag && /^[0-9a-f]{40}$/.test(etag) ? etag : undefined,
    commit: commit && /^[0-9a-f]{40}$/.test(commit) ? commit : undefined,
  };
}
