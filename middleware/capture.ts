/**
 * Tee a response into memory while it streams to the client, the way expressjs/compression
 * and jshttp/on-headers intercept it: `writeHead`, `write` and `end` are wrapped with their
 * full signatures and return values, so callbacks and backpressure work, and the original
 * `end` runs exactly once. The decision to keep a copy is made once, at header time.
 *
 * A capture can also swallow the handler's response (stale-if-error): from header time on
 * nothing reaches the client, and `onSwallowed` answers it instead.
 */

import type { ServerResponse } from 'node:http';

type WriteHead = ServerResponse['writeHead'];
type Write = ServerResponse['write'];
type End = ServerResponse['end'];
type Callback = (err?: Error | null) => void;

export interface CaptureHooks {
  /** Swallow a response with this status instead of sending it (checked first, once). */
  swallow?(status: number): boolean;
  /**
   * Header time: headers are set and about to go out. `body` is the whole body when the
   * handler sent it in one `end(body)`. Return true to keep a copy of the body.
   */
  headers(body: Buffer | undefined): boolean;
  /** The response finished with every byte kept (no overflow): store it. */
  finished(body: Buffer): void;
  /** The response was not stored: aborted, overflowed, or not kept. */
  abandoned(): void;
  /** With swallow(): the handler ended; answer the client now through `original`. */
  onSwallowed?(original: { writeHead: WriteHead; write: Write; end: End }): void;
}

export function capture(res: ServerResponse, maxBytes: number, hooks: CaptureHooks): void {
  const original = { writeHead: res.writeHead, write: res.write, end: res.end };
  let decided = false;
  let swallowing = false;
  let copying = false;
  let chunks: Buffer[] = [];
  let size = 0;
  let settled = false;
  let single: Buffer | undefined;

  const settle = (store: boolean): void => {
    if (settled) return;
    settled = true;
    if (store && copying) hooks.finished(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size));
    else hooks.abandoned();
    chunks = [];
  };

  const keep = (chunk: unknown, encoding: unknown): void => {
    if (!copying || chunk === undefined || chunk === null || typeof chunk === 'function') return;
    const buf = toBuffer(chunk, encoding);
    if (!buf || size + buf.length > maxBytes) {
      // Too large (or not bytes): stop copying and keep streaming.
      copying = false;
      chunks = [];
      return;
    }
    if (buf.length === 0) return;
    chunks.push(buf);
    size += buf.length;
  };

  const decide = (statusArg: unknown): void => {
    if (decided) return;
    decided = true;
    const status = typeof statusArg === 'number' ? statusArg : res.statusCode;
    if (hooks.swallow?.(status)) {
      swallowing = true;
      return;
    }
    copying = hooks.headers(single);
  };

  res.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]) {
    // The decision must see the status and headers writeHead(status, headers) is about to
    // send, not what was set before it: a Set-Cookie, no-store or 500 given here counts.
    if (typeof args[0] === 'number') this.statusCode = args[0];
    foldWriteHeadHeaders(this, args);
    decide(this.statusCode);
    if (swallowing) return this;
    return (original.writeHead as (...a: unknown[]) => ServerResponse).apply(this, args);
  } as WriteHead;

  res.write = function write(this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown) {
    // Decide before the first byte; Node then sends the headers itself, through writeHead above.
    if (!this.headersSent) decide(this.statusCode);
    if (swallowing) {
      if (typeof encoding === 'function') (encoding as Callback)();
      else if (typeof cb === 'function') (cb as Callback)();
      return true;
    }
    keep(chunk, encoding);
    return (original.write as (...a: unknown[]) => boolean).apply(this, [chunk, encoding, cb].filter((a) => a !== undefined));
  } as Write;

  res.end = function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    if (!this.headersSent) {
      // The whole body in one end(): the header-time decision may use it (an ETag). Node
      // then sends the headers itself, with the Content-Length it knows from the chunk.
      if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') single = toBuffer(chunk, encoding);
      decide(this.statusCode);
    }
    if (swallowing) {
      this.writeHead = original.writeHead;
      this.write = original.write;
      this.end = original.end;
      settle(false);
      hooks.onSwallowed?.(original);
      const done = typeof chunk === 'function' ? chunk : typeof encoding === 'function' ? encoding : cb;
      if (typeof done === 'function') this.once('finish', () => (done as Callback)());
      return this;
    }
    if (single && copying && size + single.length <= maxBytes) {
      // Already converted: keep it without converting again.
      chunks.push(single);
      size += single.length;
    } else keep(chunk, encoding);
    single = undefined;
    return (original.end as (...a: unknown[]) => ServerResponse).apply(this, [chunk, encoding, cb].filter((a) => a !== undefined));
  } as End;

  res.once('finish', () => settle(!swallowing));
  res.once('close', () => settle(false));
}

/**
 * Headers given to writeHead(status, [reason,] headers) are set on the response first, so
 * that getHeaders() sees them at header time (jshttp/on-headers does the same).
 */
function foldWriteHeadHeaders(res: ServerResponse, args: unknown[]): void {
  const at = typeof args[1] === 'string' ? 2 : 1;
  const headers = args[at];
  if (!headers || typeof headers !== 'object') return;
  if (Array.isArray(headers)) {
    // [[name, value], ...] or a flat [name, value, name, value]
    if (headers.length > 0 && Array.isArray(headers[0])) for (const [n, v] of headers) res.setHeader(n, v);
    else for (let i = 0; i + 1 < headers.length; i += 2) res.setHeader(headers[i], headers[i + 1]);
  } else {
    for (const name of Object.keys(headers)) {
      const v = (headers as Record<string, unknown>)[name];
      if (v !== undefined) res.setHeader(name, v as string);
    }
  }
  args.length = at;
}

function toBuffer(chunk: unknown, encoding: unknown): Buffer | undefined {
  if (Buffer.isBuffer(chunk)) return chunk;
  if (typeof chunk === 'string') return Buffer.from(chunk, typeof encoding === 'string' ? (encoding as BufferEncoding) : 'utf8');
  if (chunk instanceof Uint8Array) return Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
  return undefined;
}
