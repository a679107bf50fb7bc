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
 * response sets 500 and calls end()), and that no error went through Express's error
 * handlers meanwhile (one that ends the response with a bare end()). Anything else goes to `abandoned(reason)`. A hook
 * that throws never breaks the response: the capture stops copying, the response goes on
 * untouched, and `onCallbackError` hears of it.
 *
 * A string chunk that is kept is converted to bytes once, and those bytes go on to the
 * client in its place: Node would otherwise encode the same string a second time.
 */

import type { ServerResponse } from 'node:http';
import { erredOn } from './error-path';

type WriteHead = ServerResponse['writeHead'];
type Write = ServerResponse['write'];
type End = ServerResponse['end'];
type Callback = (err?: Error | null) => void;
type Original = { writeHead: WriteHead; write: Write; end: End };

/** What `abandoned()` hears when a swallowed response ended: `onSwallowed()` comes right after. */
export const SWALLOWED = 'swallowed (stale-if-error)';
/** What `abandoned()` hears when `headers()` declined to keep the body: that hook said why. */
export const DECLINED = 'declined at the headers (reason given then)';

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
  onSwallowed?(original: Original): void;
  /** One of the hooks above threw; the response went on uncaptured. */
  onCallbackError?(err: unknown): void;
  /**
   * Code that is not the routes' starts (true) and ends (false): the capture itself, its
   * hooks and the response methods it wrapped (middlewares mounted before it, Node's).
   */
  quiet?(on: boolean): void;
  /** end() was called: the body is complete, nothing that runs from now on made it. */
  ending?(): void;
}

export function capture(res: ServerResponse, maxBytes: number, hooks: CaptureHooks): void {
  const c = new Capture(res, maxBytes, hooks);
  // Three wrappers and two listeners are all a capture allocates besides itself: the state
  // and the steps are the instance's fields and methods, not closures made per request.
  res.writeHead = function writeHead(this: ServerResponse, ...args: unknown[]) {
    return c.writeHead(this, args);
  } as WriteHead;
  res.write = function write(this: ServerResponse, chunk: unknown, encoding?: unknown, cb?: unknown) {
    return c.write(this, chunk, encoding, cb);
  } as Write;
  res.end = function end(this: ServerResponse, chunk?: unknown, encoding?: unknown, cb?: unknown) {
    return c.end(this, chunk, encoding, cb);
  } as End;
  // settle() runs once: `on`, not `once`, saves a wrapper per listener.
  res.on('finish', () => c.settle(true, ''));
  res.on('close', () => c.settle(false, 'closed before it finished (aborted, or a socket error)'));
}

/** How the reason `abandoned()` is given begins when the body outgrew maxEntryBytes (an answer that is not storable). */
export const TOO_LARGE = 'body over maxEntryBytes';

class Capture {
  private readonly original: Original;
  private decided = false;
  private swallowing = false;
  private copying = false;
  /** Why copying stopped part-way (the body outgrew maxBytes), for the one debug line. */
  private dropped: string | undefined;
  private chunks: Buffer[] = [];
  private size = 0;
  private settled = false;
  private single: Buffer | undefined = undefined;
  // What went out at header time, to tell a complete body from a truncated or taken-over one.
  private sentStatus = 0;
  private declaredLength: number | undefined = undefined;
  private failed = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly maxBytes: number,
    private readonly hooks: CaptureHooks,
  ) {
    this.original = { writeHead: res.writeHead, write: res.write, end: res.end };
  }

  writeHead(res: ServerResponse, args: unknown[]): ServerResponse {
    const hooks = this.hooks;
    hooks.quiet?.(true);
    try {
      return this.writeHeadQuietly(res, args);
    } finally {
      hooks.quiet?.(false);
    }
  }

  write(res: ServerResponse, chunk: unknown, encoding: unknown, cb: unknown): boolean {
    const hooks = this.hooks;
    hooks.quiet?.(true);
    try {
      return this.writeQuietly(res, chunk, encoding, cb);
    } finally {
      hooks.quiet?.(false);
    }
  }

  private writeHeadQuietly(res: ServerResponse, args: unknown[]): ServerResponse {
    // The decision must see the status and headers writeHead(status, headers) is about to
    // send, not what was set before it: a Set-Cookie, no-store or 500 given here counts.
    if (typeof args[0] === 'number') res.statusCode = args[0];
    foldWriteHeadHeaders(res, args);
    this.decide(res.statusCode);
    if (this.swallowing) return res;
    if (typeof args[0] === 'number') args[0] = res.statusCode;
    return (this.original.writeHead as (...a: unknown[]) => ServerResponse).apply(res, args);
  }

  private writeQuietly(res: ServerResponse, chunk: unknown, encoding: unknown, cb: unknown): boolean {
    // Decide before the first byte; Node then sends the headers itself, through writeHead above.
    if (!res.headersSent) this.decide(res.statusCode);
    if (this.swallowing) {
      if (typeof encoding === 'function') (encoding as Callback)();
      else if (typeof cb === 'function') (cb as Callback)();
      return true;
    }
    const kept = this.keep(chunk, encoding);
    if (kept !== undefined && typeof chunk === 'string')
      return pass<boolean>(this.original.write, res, kept, typeof encoding === 'function' ? encoding : cb, undefined);
    return pass<boolean>(this.original.write, res, chunk, encoding, cb);
  }

  end(res: ServerResponse, chunk: unknown, encoding: unknown, cb: unknown): ServerResponse {
    try {
      this.hooks.ending?.();
    } catch (err) {
      this.fail(err);
    }
    if (!res.headersSent) {
      // The whole body in one end(): the header-time decision may use it (an ETag). Node
      // then sends the headers itself, with the Content-Length it knows from the chunk.
      if (chunk !== undefined && chunk !== null && typeof chunk !== 'function') this.single = toBuffer(chunk, encoding);
      this.decide(res.statusCode);
    }
    if (this.swallowing) return this.endSwallowed(res, chunk, encoding, cb);
    const single = this.single;
    this.single = undefined;
    let bytes: Buffer | undefined = single;
    if (single === undefined) bytes = this.keep(chunk, encoding);
    else if (this.copying && this.size + single.length <= this.maxBytes) {
      // Already converted: keep it without converting again.
      this.chunks.push(single);
      this.size += single.length;
    } else if (this.copying) {
      // Too large: stop copying and keep streaming.
      this.overflow();
    }
    if (bytes !== undefined && typeof chunk === 'string')
      return pass<ServerResponse>(this.original.end, res, bytes, typeof encoding === 'function' ? encoding : cb, undefined);
    return pass<ServerResponse>(this.original.end, res, chunk, encoding, cb);
  }

  /** The response ended (finish) or went away (close): hand over the body or the reason. */
  settle(finishedOk: boolean, why: string): void {
    if (this.settled) return;
    this.settled = true;
    const reason = finishedOk ? this.incomplete() : why;
    if (reason === undefined) {
      const chunks = this.chunks;
      const body = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, this.size);
      this.chunks = [];
      try {
        this.hooks.finished(body);
      } catch (err) {
        this.fail(err);
        // finished() threw part-way: make sure the caller's flight still ends.
        this.abandon('the finished hook threw');
      }
      return;
    }
    this.chunks = [];
    this.abandon(reason);
  }

  private endSwallowed(res: ServerResponse, chunk: unknown, encoding: unknown, cb: unknown): ServerResponse {
    const original = this.original;
    res.writeHead = original.writeHead;
    res.write = original.write;
    res.end = original.end;
    this.settle(false, SWALLOWED);
    let answered = true;
    try {
      this.hooks.onSwallowed?.(original);
    } catch (err) {
      this.fail(err);
      answered = false;
    }
    // The stale answer failed: the client still gets an answer (the handler's was a 5xx).
    if (!answered && !res.writableEnded) {
      if (!res.headersSent) res.statusCode = 500;
      (original.end as (this: ServerResponse) => ServerResponse).call(res);
    }
    const done = typeof chunk === 'function' ? chunk : typeof encoding === 'function' ? encoding : cb;
    if (typeof done === 'function') res.once('finish', () => (done as Callback)());
    return res;
  }

  /** A hook threw: stop the capture (nothing stored) and report it, never rethrow. */
  private fail(err: unknown): void {
    this.failed = true;
    this.copying = false;
    this.chunks = [];
    try {
      this.hooks.onCallbackError?.(err);
    } catch {
      // The reporter itself threw: nothing is left to tell; the response goes on.
    }
  }

  private abandon(reason: string): void {
    try {
      this.hooks.abandoned(reason);
    } catch (err) {
      try {
        this.hooks.onCallbackError?.(err);
      } catch {
        // as above
      }
    }
  }

  /** Why a finished response's copy is not the whole response, or undefined when it is. */
  private incomplete(): string | undefined {
    if (this.failed) return 'a capture hook threw';
    if (this.swallowing) return SWALLOWED;
    // Not copied: the headers hook declined (and said why), or the body outgrew maxBytes.
    if (!this.copying) return this.dropped ?? DECLINED;
    // RFC 9110 §8.6: the body is as long as Content-Length says; a shorter one was cut off.
    const declared = this.declaredLength;
    if (declared !== undefined && this.size !== declared) return `body of ${this.size} bytes, Content-Length said ${declared}`;
    // A status changed after the headers went out: something (an error handler) took the
    // response over after its body began, so what was sent is not what the handler meant.
    if (this.res.statusCode !== this.sentStatus) return `status changed from ${this.sentStatus} to ${this.res.statusCode} after the headers were sent`;
    // An error went through Express's error handlers: what they ended is not the handler's
    // answer, even when nothing on the response shows it (a bare res.end(); ./error-path.ts).
    if (erredOn(this.res)) return 'an error reached the error handlers';
    return undefined;
  }

  private overflow(): void {
    this.copying = false;
    this.chunks = [];
    this.dropped = `${TOO_LARGE} (${this.maxBytes} bytes)`;
  }

  /** Keep a copy of a chunk while copying; answers its bytes when it was kept. */
  private keep(chunk: unknown, encoding: unknown): Buffer | undefined {
    if (!this.copying || chunk === undefined || chunk === null || typeof chunk === 'function') return undefined;
    const buf = toBuffer(chunk, encoding);
    if (!buf) {
      this.copying = false;
      this.chunks = [];
      this.dropped = 'a body chunk that is not bytes';
      return undefined;
    }
    if (this.size + buf.length > this.maxBytes) {
      // Too large: stop copying and keep streaming.
      this.overflow();
      return undefined;
    }
    if (buf.length > 0) {
      this.chunks.push(buf);
      this.size += buf.length;
    }
    return buf;
  }

  private decide(status: number): void {
    if (this.decided) return;
    this.decided = true;
    const res = this.res;
    this.sentStatus = status;
    try {
      if (this.hooks.swallow?.(status) === true) {
        this.swallowing = true;
        return;
      }
    } catch (err) {
      this.fail(err);
      return;
    }
    try {
      this.copying = this.hooks.headers(this.single);
    } catch (err) {
      this.fail(err);
    }
    // The hook may answer the client another status (a conditional client's 304) while the
    // whole body is still kept: what goes out is what counts from here on.
    this.sentStatus = res.statusCode;
    // Read after headers(): it may set headers, and Content-Length is what Node will send.
    const length = res.getHeader('content-length');
    if (length !== undefined) this.declaredLength = /^\d+$/.test(String(length)) ? Number(length) : -1;
  }
}

/**
 * Call Node's (or an earlier wrapper's) write/end with the arguments given, the trailing
 * absent ones left out, and no array allocated per call.
 */
function pass<R>(fn: Write | End, res: ServerResponse, chunk: unknown, encoding: unknown, cb: unknown): R {
  const f = fn as (this: ServerResponse, ...a: unknown[]) => R;
  if (cb !== undefined) return f.call(res, chunk, encoding, cb);
  if (encoding !== undefined) return f.call(res, chunk, encoding);
  if (chunk !== undefined) return f.call(res, chunk);
  return f.call(res);
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
