/**
 * A scripted HTTP server on 127.0.0.1 (port 0) for provider tests: each request takes
 * the next responder from a queue (or the fallback), and every request is recorded.
 * close() destroys every socket, so stalled streams never keep a test alive.
 */
import { Agent, createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';

export interface RecordedRequest {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
  body: any;
}

export type Responder = (request: RecordedRequest, res: ServerResponse) => void | Promise<void>;

export class FakeServer {
  readonly requests: RecordedRequest[] = [];
  readonly queue: Responder[] = [];
  private readonly sockets = new Set<Socket>();
  /** Connections clients opened so far (a client that reuses its connection opens one). */
  connectionsOpened = 0;

  constructor(
    private readonly server: Server,
    readonly url: string,
    public fallback: Responder,
  ) {
    server.on('connection', (socket) => {
      this.connectionsOpened += 1;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  /** Connections open now. */
  get openConnections(): number {
    return this.sockets.size;
  }

  /** Keeps idle connections open for ever, as a server without an idle timeout does (Ollama's); only the client can close them. */
  keepIdleConnections(): this {
    this.server.keepAliveTimeout = 0;
    return this;
  }

  /** Queues responders for the next requests, in order. */
  enqueue(...responders: Responder[]): this {
    this.queue.push(...responders);
    return this;
  }

  get lastRequest(): RecordedRequest {
    const last = this.requests[this.requests.length - 1];
    if (!last) throw new Error('the fake server received no request');
    return last;
  }

  next(): Responder {
    return this.queue.shift() ?? this.fallback;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export async function startFakeServer(fallback: Responder): Promise<FakeServer> {
  // The handler needs the FakeServer, which needs the listening server's port.
  const holder: { fake?: FakeServer } = {};
  const server = createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (chunk: Buffer) => parts.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(parts).toString('utf8');
      let body: any = text;
      try {
        body = text ? JSON.parse(text) : undefined;
      } catch {
        // keep the raw text
      }
      const recorded: RecordedRequest = { method: req.method ?? '', path: req.url ?? '', headers: req.headers, body };
      holder.fake!.requests.push(recorded);
      Promise.resolve(holder.fake!.next()(recorded, res)).catch(() => res.destroy());
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (!address || typeof address === 'string') throw new Error('no port');
  holder.fake = new FakeServer(server, `http://127.0.0.1:${address.port}`, fallback);
  return holder.fake;
}

export interface StreamShape {
  /** Write the body in pieces of this many bytes (UTF-8 characters get split). */
  chunkSize?: number;
  /** Pause between writes (ms). */
  gapMs?: number;
  /** Cut the connection after this many frames, as a server that dies mid-stream: what was written still arrives. */
  dropAfterFrames?: number;
  /** Stop writing (and keep the connection open) after this many frames. */
  stallAfterFrames?: number;
}

const pause = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Writes frames with the given shape; resolves when done, dropped or stalled. */
export async function writeFrames(res: ServerResponse, frames: string[], shape: StreamShape = {}): Promise<void> {
  for (let i = 0; i < frames.length; i++) {
    if (shape.dropAfterFrames !== undefined && i >= shape.dropAfterFrames) {
      // end(), not destroy(): destroy would discard the frames still in the socket's buffer.
      res.socket?.end();
      return;
    }
    if (shape.stallAfterFrames !== undefined && i >= shape.stallAfterFrames) return;
    const bytes = Buffer.from(frames[i], 'utf8');
    const size = shape.chunkSize ?? bytes.length;
    for (let at = 0; at < bytes.length; at += size) {
      if (res.destroyed) return;
      res.write(bytes.subarray(at, at + size));
      if (shape.gapMs) await pause(shape.gapMs);
      else if (shape.chunkSize) await new Promise((resolve) => setImmediate(resolve));
    }
  }
  res.end();
}

export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** Never answers (the request waits for headers until the client gives up). */
export const hang: Responder = () => undefined;

/** Resets the connection without answering. */
export const resetConnection: Responder = (_request, res) => {
  res.socket?.destroy();
};

/**
 * An HTTP agent that connects every request to `origin` (a server of these tests on
 * 127.0.0.1), whatever host its URL names: a provider then acts as it does toward that host
 * (api.openai.com, Azure) while nothing leaves the machine.
 */
export function loopbackAgent(origin: string, options: { keepAlive?: boolean } = {}): Agent {
  const agent = new Agent({ keepAlive: options.keepAlive ?? false });
  const port = Number(new URL(origin).port);
  (agent as unknown as { createConnection: () => Socket }).createConnection = () => connect(port, '127.0.0.1');
  return agent;
}
