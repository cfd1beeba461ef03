// Preloaded into every Node process of an end-to-end run that asks for it (NODE_OPTIONS
// --require, bundled to CommonJS by netGuardBundle()): code-server, its extension host,
// the extension's model processes. Appends one JSON line per process to
// $RELAY_E2E_NET_LOG ({"event":"process"}, with its argv) and one per attempt to reach
// the network: every socket connect (net, so http, https, tls, fetch/undici and WebSocket
// libraries too), DNS lookups and resolutions, UDP sends. A test then fails on any
// destination off this machine. It records, it does not block: the code runs as it would.
import { appendFileSync } from 'node:fs';
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import { hostname } from 'node:os';
import { isMainThread, threadId } from 'node:worker_threads';

export interface NetRecord {
  event: 'process' | 'connect' | 'lookup' | 'udp';
  pid: number;
  ppid: number;
  /** A worker thread of the process (preloads run in each one); absent for the main thread. */
  thread?: number;
  /** process: the command line (argv from the script on). */
  argv?: string;
  /** connect, udp: the host or address; lookup: the name looked up. */
  host?: string;
  port?: number;
  /** connect: a Unix socket or named pipe (never off the machine). */
  path?: string;
  /** Whether the destination is on this machine (loopback, a Unix socket, this host's own name). */
  local: boolean;
  /** Where in the code the attempt came from (first lines of the stack). */
  stack?: string;
}

/** Loopback addresses and names: what never leaves the machine. */
export function isLocalHost(host: string | undefined): boolean {
  if (host === undefined || host === '') return true; // net's default host is localhost
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    h === 'localhost' ||
    h === hostname().toLowerCase() ||
    h.endsWith('.localhost') ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    h === '::1' ||
    /^(0:){7}1$/.test(h) ||
    /^::ffff:127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
  );
}

const logFile = process.env.RELAY_E2E_NET_LOG;

function write(record: Omit<NetRecord, 'pid' | 'ppid'>): void {
  if (!logFile) return;
  try {
    appendFileSync(logFile, JSON.stringify({ pid: process.pid, ppid: process.ppid, ...(isMainThread ? {} : { thread: threadId }), ...record }) + '\n');
  } catch {
    // The log is gone (the run ended): nothing to record into.
  }
}

function stackHere(): string {
  return (new Error().stack ?? '')
    .split('\n')
    .slice(3, 9)
    .map((line) => line.trim())
    .join(' | ');
}

/** The destination of Socket.prototype.connect's arguments: (options[, cb]), (port[, host][, cb]), (path[, cb]), or net's normalized [options, cb]. */
function destinationOf(args: unknown[]): { host?: string; port?: number; path?: string } {
  let first = args[0];
  if (Array.isArray(first)) first = first[0];
  if (typeof first === 'object' && first !== null) {
    const options = first as { host?: unknown; port?: unknown; path?: unknown };
    if (typeof options.path === 'string') return { path: options.path };
    return { host: typeof options.host === 'string' ? options.host : 'localhost', port: Number(options.port) };
  }
  if (typeof first === 'number' || (typeof first === 'string' && /^\d+$/.test(first))) {
    return { host: typeof args[1] === 'string' ? args[1] : 'localhost', port: Number(first) };
  }
  return typeof first === 'string' ? { path: first } : {};
}

function install(): void {
  write({ event: 'process', argv: process.argv.slice(1).join(' ').slice(0, 400), local: true });

  const connect = net.Socket.prototype.connect;
  net.Socket.prototype.connect = function (this: net.Socket, ...args: unknown[]) {
    const destination = destinationOf(args);
    const local = destination.path !== undefined || isLocalHost(destination.host);
    write({ event: 'connect', ...destination, local, ...(local ? {} : { stack: stackHere() }) });
    return (connect as (...a: unknown[]) => net.Socket).apply(this, args);
  } as typeof connect;

  const recordLookup = (name: unknown): void => {
    if (typeof name !== 'string') return;
    // An address "looked up" asks no server (a socket binding 0.0.0.0 does that); its connect is logged on its own.
    const local = isLocalHost(name) || net.isIP(name) !== 0;
    write({ event: 'lookup', host: name, local, ...(local ? {} : { stack: stackHere() }) });
  };
  const wrap = <T extends object>(target: T, names: string[]): void => {
    for (const name of names) {
      const original = (target as Record<string, unknown>)[name];
      if (typeof original !== 'function') continue;
      (target as Record<string, unknown>)[name] = function (this: unknown, ...args: unknown[]) {
        recordLookup(args[0]);
        return (original as (...a: unknown[]) => unknown).apply(this, args);
      };
    }
  };
  const resolvers = [
    'lookup',
    'lookupService',
    'resolve',
    'resolve4',
    'resolve6',
    'resolveAny',
    'resolveCname',
    'resolveMx',
    'resolveNs',
    'resolveSrv',
    'resolveTxt',
  ];
  wrap(dns, resolvers);
  wrap(dns.promises, resolvers);
  wrap(dns.Resolver.prototype, resolvers);
  wrap(dns.promises.Resolver.prototype, resolvers);

  const udpConnect = dgram.Socket.prototype.connect;
  dgram.Socket.prototype.connect = function (this: dgram.Socket, ...args: unknown[]) {
    const host = typeof args[1] === 'string' ? args[1] : 'localhost';
    const local = isLocalHost(host);
    write({ event: 'udp', host, port: Number(args[0]), local, ...(local ? {} : { stack: stackHere() }) });
    return (udpConnect as (...a: unknown[]) => void).apply(this, args);
  } as typeof udpConnect;

  const send = dgram.Socket.prototype.send;
  dgram.Socket.prototype.send = function (this: dgram.Socket, ...args: unknown[]) {
    // (msg[, offset, length][, port][, address][, callback]): the address is the last string after msg;
    // none on a connected socket, whose address its connect() recorded.
    const host = args
      .slice(1)
      .reverse()
      .find((arg): arg is string => typeof arg === 'string');
    const local = isLocalHost(host ?? 'localhost');
    write({ event: 'udp', host, local, ...(local ? {} : { stack: stackHere() }) });
    return (send as (...a: unknown[]) => void).apply(this, args);
  } as typeof send;
}

// Once per thread (each worker thread runs the preloads again, with a global object of its own).
const INSTALLED = Symbol.for('relay.e2e.netGuard');
if (logFile && !(globalThis as Record<symbol, unknown>)[INSTALLED]) {
  (globalThis as Record<symbol, unknown>)[INSTALLED] = true;
  install();
}
