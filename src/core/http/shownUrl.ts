/** `url` without user:password (an address may carry them, sent as Basic auth): what a message, a link or a record may show. */
export function withoutCredentials(url: URL): URL {
  const shown = new URL(url.href);
  shown.username = '';
  shown.password = '';
  return shown;
}

/**
 * A username alone shorter than this is not scrubbed from messages as a secret (its Basic
 * value always is): a token is long, while a short name ("a", "me", "api") is guessed at once
 * anyway and, scrubbed as a word, would garble every message that uses that word.
 */
const MIN_SECRET_USERNAME_CHARS = 4;

/**
 * What of `url`'s login no message may show, with the rule of maskedLogin (a username alone
 * is a login: https://TOKEN@gw is sent as Basic base64("TOKEN:")): the password as written
 * and decoded (with no password, the username, when at least MIN_SECRET_USERNAME_CHARS long),
 * and the Basic auth value Node sends (base64 of the decoded "user:password"), which a server
 * may echo back. None when the URL carries no login.
 */
export function loginSecrets(url: URL): string[] {
  if (!url.username && !url.password) return [];
  const user = decodedPart(url.username);
  const password = decodedPart(url.password);
  const basic = Buffer.from(`${user}:${password}`).toString('base64');
  if (url.password) return [...new Set([url.password, password, basic])];
  const secretUser = user.length >= MIN_SECRET_USERNAME_CHARS ? [url.username, user] : [];
  return [...new Set([...secretUser, basic])];
}

/** A user or password part percent-decoded, as Node decodes it for Basic auth; as written where it has a stray %. */
function decodedPart(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    return part;
  }
}

/** An address up to where a login starts: its scheme and any slashes (the parser drops leading spaces and controls). */
const SCHEME_START = /^[\x00-\x20]*[a-z][a-z\d+.-]*:[/\\]*/i;

/** The schemes whose host ends at "\" as at "/" (the URL standard's special schemes). */
const BACKSLASH_ENDS_HOST = new Set(['http:', 'https:', 'ws:', 'wss:', 'ftp:', 'file:']);

/** An address as the user wrote it, quoted in a message without its user:password part (it may not even parse as a URL). */
export function quotedAddress(text: string): string {
  const read = asParsed(text);
  const url = parsed(read);
  return `"${url ? authorityLoginMasked(read, url) : loginToLastAtMasked(read)}"`;
}

/**
 * `text` (a setting, an address in a record) as a record of what the user wrote may keep it:
 * where it parses with a user:password, that part masked; where it does not parse and looks
 * like it holds one, masked as quotedAddress masks it (unquoted); else as written.
 */
export function maskedLogin(text: string): string {
  const read = asParsed(text);
  const url = parsed(read);
  if (url === undefined) {
    const masked = loginToLastAtMasked(read);
    return masked === read ? text : masked;
  }
  if (!url.username && !url.password) return text;
  const masked = authorityLoginMasked(read, url);
  // Not where the parser read it (no case known): the address as the parser reads it, without its login.
  return masked === read ? withoutCredentials(url).href : masked;
}

/**
 * An address as a record that is compared keeps it: where it parses, as the URL parser reads
 * it without user:password (which do not change what the server is, and are secret); where
 * it does not, as maskedLogin shows it.
 */
export function addressWithoutLogin(text: string): string {
  const url = parsed(text);
  return url ? withoutCredentials(url).href : maskedLogin(text);
}

/** `text` without the tabs and newlines that the URL parser drops ("ht\ttp://a:b@host" is http://a:b@host/). */
const asParsed = (text: string): string => text.replace(/[\t\n\r]/g, '');

function parsed(text: string): URL | undefined {
  try {
    return new URL(text);
  } catch {
    return undefined;
  }
}

/**
 * `read` (which parses as `url`) with what stands where the parser reads a login masked: after
 * the scheme and its slashes ("http:alice:pw@host" is http://alice:pw@host/), up to the LAST @
 * before the host ends ("alice:p@ss@host" is alice with the password "p@ss"). The host ends at
 * "/", "?" or "#" (and "\" for http(s)): "https://gw?to=a@b" has no login. Masked whether or
 * not the parser reads one there ("alice:pw@gw/v1" parses as the scheme alice:): quotedAddress
 * quotes addresses that are mistaken.
 */
function authorityLoginMasked(read: string, url: URL): string {
  const start = SCHEME_START.exec(read)?.[0];
  if (start === undefined) return read;
  const rest = read.slice(start.length);
  const hostEnd = rest.search(BACKSLASH_ENDS_HOST.has(url.protocol) ? /[/\\?#]/ : /[/?#]/);
  const at = (hostEnd < 0 ? rest : rest.slice(0, hostEnd)).lastIndexOf('@');
  return at < 0 ? read : `${start}***${rest.slice(at)}`;
}

/**
 * `read` (which does not parse) with its login masked from where one would start (after the
 * scheme and its slashes, else after the first "//" or "\\") to the LAST @ of the whole text:
 * what it meant cannot be known, and a password may hold an unencoded "/" (base64 does) or "?".
 */
function loginToLastAtMasked(read: string): string {
  const slashes = read.search(/\/\/|\\\\/);
  const start = SCHEME_START.exec(read)?.[0].length ?? (slashes < 0 ? undefined : slashes + 2);
  const at = read.lastIndexOf('@');
  return start === undefined || at < start ? read : `${read.slice(0, start)}***${read.slice(at)}`;
}
