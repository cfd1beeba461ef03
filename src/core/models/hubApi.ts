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
import { ModelDownloadError } from './errors';
import { header, hubRequest, readText, type HubResponse, type HubTimeouts } from './hubHttp';

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
}

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

/** A repository path we are willing to write under the model folder (no escaping it). */
export function checkFilePath(path: string): void {
  const parts = path.split('/');
  if (path.length === 0 || path.startsWith('/') || path.includes('\\') || path.includes('\0') || parts.some((p) => p === '' || p === '.' || p === '..')) {
    throw new ModelDownloadError('bad_request', `The model hub listed a file with an unsafe path (${JSON.stringify(path)}); it was not downloaded.`, path);
  }
}

export function normalizeEndpoint(endpoint: string): URL {
  let url: URL;
  try {
    url = new URL(endpoint.trim());
  } catch {
    throw new ModelDownloadError('bad_request', `relay.models.hubEndpoint is not a URL: "${endpoint}". Use https://huggingface.co or a mirror's address.`);
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
  const repoPage = new URL(what.repo, normalizeEndpoint(context.endpoint)).href;
  const tokenHint = context.tokenHint ?? 'give the downloader an access token';
  const status = response.status;
  const file = what.path;
  if (status === 401 || status === 403) {
    if (code === 'RepoNotFound') {
      return new ModelDownloadError(
        'not_found',
        `The model hub has no repository ${what.repo} that this account can see (HTTP ${status}). Check the repository id; if it is private, ${tokenHint}.`,
        file,
      );
    }
    if (status === 403 || context.token) {
      return new ModelDownloadError(
        'gated',
        `The model hub refused ${what.repo}${file ? ` (${file})` : ''} with HTTP ${status}: ${context.token ? 'the access token was refused or has not been granted access to this gated repository' : 'access is not granted'}. Open ${repoPage}, accept its terms while signed in with the account of your token, check that the token can read gated repositories, then download again.`,
        file,
      );
    }
    return new ModelDownloadError(
      'gated',
      `The model hub refused ${what.repo}${file ? ` (${file})` : ''} with HTTP 401: the repository is gated or private and needs an access token. Open ${repoPage}, accept its terms while signed in, create a read token at ${new URL('settings/tokens', normalizeEndpoint(context.endpoint)).href}, then ${tokenHint}.`,
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
  if (status === 416) return new ModelDownloadError('server', `${response.url.host} refused the byte range asked for ${file ?? what.repo} (HTTP 416).`, file);
  // Scrubbed whole, then cut: a server may echo the request's Authorization header (the token) in its error body.
  const detail = scrubSecrets(text.trim(), context.token ? [context.token] : []).slice(0, 200);
  return new ModelDownloadError(
    'server',
    `The model hub answered HTTP ${status} for ${file ? `${what.repo}/${file}` : what.repo}${detail ? `: ${detail}` : ''}. Try again later.`,
    file,
  );
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

/** Every file of `repo` at `revision`, with sizes and checksums (the hub's tree API, paginated). */
export async function listRepoFiles(context: HubContext, repo: string, revision: string): Promise<HubFile[]> {
  checkRepoId(repo);
  checkRevision(revision);
  const hubOrigin = normalizeEndpoint(context.endpoint).origin;
  const files: HubFile[] = [];
  let url: URL | undefined = treeUrl(context.endpoint, repo, revision);
  for (let page = 0; url && page < MAX_TREE_PAGES; page += 1) {
    const response = await hubRequest({
      method: 'GET',
      url,
      token: context.token,
      hubOrigin,
      signal: context.signal,
      timeouts: context.timeouts,
      redirects: 'all',
      headers: { accept: 'application/json' },
    });
    if (response.status !== 200) throw await statusError(response, context, { repo, revision });
    let entries: unknown;
    try {
      entries = JSON.parse(await readText(response));
    } catch {
      throw new ModelDownloadError('server', `The model hub's file listing of ${repo} is not JSON; check relay.models.hubEndpoint.`);
    }
    if (!Array.isArray(entries))
      throw new ModelDownloadError('server', `The model hub's file listing of ${repo} is not a list; check relay.models.hubEndpoint.`);
    for (const entry of entries as TreeEntry[]) {
      if (entry.type !== 'file' || typeof entry.path !== 'string') continue;
      const lfsSha = entry.lfs?.oid ?? entry.lfs?.sha256;
      files.push({
        path: entry.path,
        size: typeof entry.size === 'number' ? entry.size : typeof entry.lfs?.size === 'number' ? entry.lfs.size : undefined,
        sha256: typeof lfsSha === 'string' && /^[0-9a-f]{64}$/.test(lfsSha) ? lfsSha : undefined,
        gitOid: typeof entry.oid === 'string' && /^[0-9a-f]{40}$/.test(entry.oid) ? entry.oid : undefined,
      });
    }
    const next = nextLink(header(response.headers, 'link'));
    url = next ? new URL(next, url) : undefined;
  }
  return files;
}

/** A small text file of the repository (e.g. config.json, to check the architecture before a large download). */
export async function readRepoText(context: HubContext, repo: string, revision: string, path: string, limit = 1024 * 1024): Promise<string> {
  checkRepoId(repo);
  checkRevision(revision);
  checkFilePath(path);
  const response = await hubRequest({
    method: 'GET',
    url: resolveUrl(context.endpoint, repo, revision, path),
    token: context.token,
    hubOrigin: normalizeEndpoint(context.endpoint).origin,
    signal: context.signal,
    timeouts: context.timeouts,
    redirects: 'all',
  });
  if (response.status !== 200) throw await statusError(response, context, { repo, revision, path });
  return readText(response, limit);
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
  const response = await hubRequest({
    method: 'HEAD',
    url: resolveUrl(context.endpoint, repo, revision, path),
    token: context.token,
    hubOrigin,
    signal: context.signal,
    timeouts: context.timeouts,
    redirects: 'same-origin',
  });
  const isCdnRedirect = response.status >= 300 && response.status < 400;
  if (!isCdnRedirect && response.status !== 200) throw await statusError(response, context, { repo, revision, path });
  response.body.resume();
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
