/**
 * Tee a response into memory while it streams to the client, the way expressjs/compression
 * and jshttp/on-headers intercept it: `writeHead`, `write` and `end` are wrapped with their
 * full signatures and return values, so callbacks and backpressure work, and the original
 * `end` runs exactly once. The decision to keep a copy is made once, at header time.
 *
 * A capture can also swallow the handler's response (stale-if-error): from header time on
 * nothing reaches the client, and `onSwallowed` answers it instead.
 *
 * Only a complete body is handed to `finished`: one that matches the Content-Length the
 * handler declared, of a response that finished (no abort, no socket error), whose status
 * did not change after its headers went out (an error handler taking over a half-sent
 * response sets 500 and calls end()). Anything else goes to `abandoned(reason)`. A hook
 * that throws never breaks the response: the capture stops copying, the response goes on
 * untouched, and `onCallbackError` hears of it.
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
  /** The response finished complete, with every byte kept (no overflow): store it. */
  finished(body: Buffer): void;
  /** The response is not to be stored: aborted, incomplete, overflowed, or not kept. */
  abandoned(reason: string): void;
  /** With swallow(): the handler ended; answer the client now through `original`. */
  onSwallowed?(original: { writeHead: WriteHead; write: Write; end: End }): void;
  /** One of the hooks above threw; the response went on uncaptured. */
  onCallbackError?(err: unknown): void;
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
  // What went out at header time, to tell a complete body from a truncated or taken-over one.
  let sentStatus = 0;
  let declaredLength: number | undefined;
  let failed = false;

  /** Run a hook; a throw stops the capture (nothing stored) and is reported, never rethrown. */
  const guard = <T>(run: () => T, fallback: T): T => {
    try {
      return run();
    } catch (err) {
      failed = true;
      copying = false;
      chunks = [];
      try {
        hooks.onCallbackError?.(err);
      } catch {
        // The reporter itself threw: nothing is left to tell; the response goes on.
      }
      return fallback;
    }
  };

  const settle = (finishedOk: boolean, why: string): void => {
    if (settled) return;
    settled = true;
    const reason = finishedOk ? incomplete() : why;
    if (reason === undefined) {
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      chunks = [];
      guard(() => hooks.finished(body), undefined);
      // finished() threw part-way: make sure the caller's flight still ends.
      if (failed) abandon('the finished hook threw');
      return;
    }
    chunks = [];
    abandon(reason);
  };
  const abandon = (reason: string): void => {
    try {
      hooks.abandoned(reason);
    } catch (err) {
      try {
        hooks.onCallbackError?.(err);
      } catch {
        // as above
      }
    }
  };

  /** Why a finished response's copy is not the whole response, or undefined when it is. */
  const incomplete = (): string | undefined => {
    if (failed) return 'a capture hook threw';
    if (swallowing) return 'swallowed (stale-if-error)';
    if (!copying) return 'not kept (not storable, or over maxEntryBytes)';
    // RFC 9110 §8.6: the body is as long as Content-Length says; a shorter one was cut off.
    if (declaredLength !== undefined && size !== declaredLength) return `body of ${size} bytes, Content-Length said ${declaredLength}`;
    // A status changed after the headers went out: something (an error handler) took the
    // response over after its body began, so what was sent is not what the handler meant.
    if (res.statusCode !== sentStatus) return `status changed from ${sentStatus} to ${res.statusCode} after the headers were sent`;
    return undefined;
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
    sentStatus = status;
    if (guard(() => hooks.swallow?.(status) === true, false)) {
      swallowing = true;
      return;
    }
    if (failed) return;
    copying = guard(() => hooks.headers(single), false);
    // The hook may answer the client another status (a conditional client's 304) while the
    // whole body is still kept: what goes out is what counts from here on.
    sentStatus = res.statusCode;
    // Read after headers(): it may set headers, and Content-Length is what Node will send.
    const length = res.getHeader('content-length');
    if (length !== undefined) declaredLength = /^\d+$/.test(String(length)) ? Number(length) : -1;
  };

  res.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]) {
    // The decision must see the status and headers writeHead(status, headers) is about to
    // send, not what was set before it: a Set-Cookie, no-store or 500 given here counts.
    if (typeof args[0] === 'number') this.statusCode = args[0];
    foldWriteHeadHeaders(this, args);
    decide(this.statusCode);
    if (swallowing) return this;
    if (typeof args[0] === 'number') args[0] = this.statusCode;
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
    return (original.write as (...a: unknown[]) => boolean).apply(
      this,
      [chunk, encoding, cb].filter((a) => a !== undefined),
    );
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
      settle(false, 'swallowed (stale-if-error)');
      const answered = guard(() => {
        hooks.onSwallowed?.(original);
        return true;
      }, false);
      // The stale answer failed: the client still gets an answer (the handler's was a 5xx).
      if (!answered && !this.writableEnded) {
        if (!this.headersSent) this.statusCode = 500;
        (original.end as (this: ServerResponse) => ServerResponse).call(this);
      }
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
    return (original.end as (...a: unknown[]) => ServerResponse).apply(
      this,
      [chunk, encoding, cb].filter((a) => a !== undefined),
    );
  } as End;

  res.once('finish', () => settle(true, ''));
  res.once('close', () => settle(false, 'closed before it finished (aborted, or a socket error)'));
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
