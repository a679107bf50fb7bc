/**
 * Real servers for the integration suite: apps listen on 127.0.0.1 port 0, requests go
 * over real sockets, and everything opened in a test (servers, caches) is closed after it
 * (no --forceExit). Time and randomness are injected with TestClock, never slept on.
 */

import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import zlib from 'node:zlib';

export { sleep, until } from './wait';

type Closer = () => Promise<void>;
const open: Closer[] = [];

/** Close everything opened with serve() / track() after each test of the calling file. */
export function closeAfterEach(): void {
  afterEach(async () => {
    const closers = open.splice(0).reverse();
    for (const close of closers) await close();
  });
}

/** Close `thing` (a cache, a store) after the test. */
export function track<T extends { close(): Promise<void> }>(thing: T): T {
  open.push(() => thing.close());
  return thing;
}

export interface Served {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  readonly server: http.Server;
}

/** Listen on 127.0.0.1:0; `close()` closes the server and destroys its open connections. */
export async function listenLocal(handler: http.RequestListener): Promise<Served & { close(): Promise<void> }> {
  const server = http.createServer(handler);
  const sockets = new Set<Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const close = () =>
    new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of sockets) s.destroy();
    });
  return { url: `http://127.0.0.1:${port}`, server, close };
}

/** Listen on 127.0.0.1:0; closed (with every connection) after the test. */
export async function serve(handler: http.RequestListener): Promise<Served> {
  const served = await listenLocal(handler);
  open.push(served.close);
  return { url: served.url, server: served.server };
}

export interface Reply {
  readonly status: number;
  /** Lower-case names, as Node parses them. */
  readonly headers: http.IncomingHttpHeaders;
  /** The bytes on the wire (still compressed when Content-Encoding says so). */
  readonly body: Buffer;
  readonly text: string;
  /** X-Cache, or '' when absent. */
  readonly xCache: string;
  /** Milliseconds from sending to the last byte. */
  readonly ms: number;
}

export interface SendInit {
  method?: string;
  headers?: Record<string, string | string[]>;
  body?: string | Buffer;
}

/**
 * One request on its own connection (`agent: false`, so `Connection: close`), the path
 * sent exactly as given (raw `|`, `[`, `%zz`...). Resolves the whole response, its X-Cache
 * and how long it took. The one request helper of the suite.
 */
export function send(base: string, path: string, init: SendInit = {}): Promise<Reply> {
  const { hostname, port } = new URL(base);
  const headers = { ...init.headers };
  // Framed explicitly: Node sends a DELETE body unframed (no chunked default for DELETE).
  if (init.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(init.body));
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const req = http.request({ host: hostname, port, path, method: init.method ?? 'GET', headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({
          status: res.statusCode ?? 0,
          headers: res.headers,
          body,
          text: body.toString('utf8'),
          xCache: String(res.headers['x-cache'] ?? ''),
          ms: performance.now() - started,
        });
      });
    });
    req.on('error', reject);
    req.end(init.body);
  });
}

/** The body as the client reads it: gunzipped / inflated / brotli-decoded per Content-Encoding. */
export function decoded(reply: Reply): Buffer {
  switch (reply.headers['content-encoding']) {
    case undefined:
    case 'identity':
      return reply.body;
    case 'gzip':
      return zlib.gunzipSync(reply.body);
    case 'deflate':
      return zlib.inflateSync(reply.body);
    case 'br':
      return zlib.brotliDecompressSync(reply.body);
    default:
      throw new Error(`unknown content-encoding ${String(reply.headers['content-encoding'])}`);
  }
}

/**
 * A clock and a random source to inject with createCache(options, clock). Starts on a
 * whole second so that HTTP dates (second precision) round-trip exactly.
 */
export class TestClock {
  t = Date.UTC(2030, 0, 1, 12, 0, 0);
  r = 0.5;
  readonly now = (): number => this.t;
  readonly random = (): number => this.r;

  advance(seconds: number): void {
    this.t += Math.round(seconds * 1000);
  }

  /** The current time as an HTTP date, `seconds` from now. */
  httpDate(seconds = 0): string {
    return new Date(this.t + seconds * 1000).toUTCString();
  }
}

/** A promise with its resolve exposed, for handlers a test releases by hand. */
export function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve!: (v: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

/** Every byte value 0..255, `times` over: a body that no text codec survives unchanged. */
export function allBytes(times = 4): Buffer {
  const out = Buffer.alloc(256 * times);
  for (let i = 0; i < out.length; i++) out[i] = i % 256;
  return out;
}
