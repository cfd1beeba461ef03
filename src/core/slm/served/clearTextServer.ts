/**
 * A small model's server on another machine over plain http://: every prompt, the user's
 * code in it, crosses the network unencrypted. Select Model asks before its test prompt
 * goes; the CLI says it on stderr. The words are here for both.
 */
import { isLoopback } from '../../providers/endpoints';

export interface ClearTextServer {
  /** host[:port] as the address names it. */
  host: string;
  /** The SSH tunnel that keeps the prompts encrypted, and the address to use with it. */
  tunnel: string;
  localUrl: string;
}

/** Where a local end of the tunnel listens when the server is on port 80 (a low port needs root). */
const TUNNEL_PORT_FOR_PORT_80 = '8080';

/** The server of `address` where prompts to it would cross a network unencrypted; undefined where they would not (or it is no URL). */
export function clearTextServer(address: string): ClearTextServer | undefined {
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return undefined;
  }
  // The SLM process sends these itself, without VS Code's proxy support: every loopback address stays here.
  if (url.protocol !== 'http:' || isLoopback(url.hostname)) return undefined;
  const remotePort = url.port || '80';
  const localPort = url.port || TUNNEL_PORT_FOR_PORT_80;
  const local = new URL(url.href);
  local.hostname = '127.0.0.1';
  local.port = localPort;
  return {
    host: url.host,
    tunnel: `ssh -N -L ${localPort}:127.0.0.1:${remotePort} ${url.hostname.replace(/^\[|\]$/g, '')}`,
    localUrl: local.href,
  };
}

/** What is at stake and the ways out, in one line (the CLI's warning, Select Model's question's detail). */
export function clearTextServerWarning(server: ClearTextServer): string {
  return (
    `The small model's server ${server.host} is not on this machine and does not use https: every prompt, with your code, crosses the network unencrypted. ` +
    `Serve it over https://, or reach it through an SSH tunnel (${server.tunnel}) at ${server.localUrl}.`
  );
}
