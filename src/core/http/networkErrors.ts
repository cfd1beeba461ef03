/**
 * What a socket error means, for callers that word it for their own settings: the
 * providers name relay.provider.baseUrl, the model hub relay.models.hubEndpoint.
 */

export type NetworkFailure =
  /** https:// to a plain-HTTP server: OpenSSL reads its "HTTP/1.1 400" as a broken TLS record. */
  | 'plain-http-answer-to-tls'
  /** ECONNREFUSED: nothing listens there. */
  | 'refused'
  /** ENOTFOUND: no such host. */
  | 'host-not-found'
  /** EAI_AGAIN: the name could not be resolved just now. */
  | 'dns-unavailable'
  /** http:// closed without an answer on a fresh connection: a TLS server drops plain HTTP. */
  | 'reset-without-answer'
  /** Closed during the TLS handshake: a plain-HTTP server may drop a TLS hello. */
  | 'reset-in-tls-handshake'
  /** ECONNRESET otherwise (a kept-alive connection the server closed, a network fault). */
  | 'reset'
  /** EPIPE, ETIMEDOUT, ENETUNREACH, EHOSTUNREACH: the network failed on the way. */
  | 'unreachable'
  /** HPE_*: Node's HTTP parser could not read the response (a Content-Length shorter than the body, a broken proxy). */
  | 'malformed-response'
  | 'other';

function isPlainHttpAnswerToTls(error: NodeJS.ErrnoException): boolean {
  return (
    error.code === 'ERR_SSL_WRONG_VERSION_NUMBER' ||
    error.code === 'ERR_SSL_PACKET_LENGTH_TOO_LONG' ||
    /wrong version number|packet length too long|unknown protocol/i.test(error.message ?? '')
  );
}

const UNREACHABLE = new Set(['EPIPE', 'ETIMEDOUT', 'ENETUNREACH', 'EHOSTUNREACH']);

/** `reusedConnection`: the request went out on a kept-alive connection (which the server may have closed meanwhile). */
export function classifyNetworkError(error: NodeJS.ErrnoException, url: URL, reusedConnection = false): NetworkFailure {
  if (url.protocol === 'https:' && isPlainHttpAnswerToTls(error)) return 'plain-http-answer-to-tls';
  if (typeof error.code === 'string' && error.code.startsWith('HPE_')) return 'malformed-response';
  switch (error.code) {
    case 'ECONNREFUSED':
      return 'refused';
    case 'ENOTFOUND':
      return 'host-not-found';
    case 'EAI_AGAIN':
      return 'dns-unavailable';
    case 'ECONNRESET':
      if (url.protocol === 'http:' && !reusedConnection) return 'reset-without-answer';
      if (/before secure TLS connection/i.test(error.message ?? '')) return 'reset-in-tls-handshake';
      return 'reset';
    default:
      return error.code !== undefined && UNREACHABLE.has(error.code) ? 'unreachable' : 'other';
  }
}

/**
 * A response body that broke off: the connection was reset or closed before the body
 * ended (Node says ECONNRESET or 'aborted', a stream iterator premature close).
 */
export function isDroppedConnection(error: unknown): boolean {
  const errno = error as NodeJS.ErrnoException | undefined;
  return errno?.code === 'ECONNRESET' || errno?.message === 'aborted' || errno?.code === 'ERR_STREAM_PREMATURE_CLOSE';
}
