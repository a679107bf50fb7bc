/**
 * Stored entries and their binary codec.
 *
 *   byte 0      codec version (ENTRY_VERSION)
 *   byte 1      kind: 0 response, 1 vary marker, 2 value
 *   bytes 2..5  metadata length, uint32 big-endian
 *   metadata    UTF-8 JSON
 *   rest        the body, raw bytes (never JSON- or base64-encoded)
 *
 * Anything that does not decode, including another version, throws EntryCorruptError and
 * the cache treats it as a miss. Decoding also checks that what decoded can be replayed: a
 * status Node can send, header names and values Node's setHeader accepts, a body of the
 * length the metadata states, bounded counts, finite times. A Redis entry written by
 * something else (or bit-flipped) must be a miss, never a throw in replay.
 */

import { validateHeaderName, validateHeaderValue } from 'node:http';
import { EntryCorruptError } from './errors';

export const ENTRY_VERSION = 1;
const HEADER_BYTES = 6;

/** Bounds a decoded entry must keep: far above what the cache writes, far below harm. */
export const ENTRY_LIMITS = Object.freeze({ headers: 1000, headerValues: 1000, tags: 10_000, vary: 100 });

/** The times every entry keeps apart, in epoch milliseconds (undici, bentocache). */
export interface EntryTimes {
  /** When the entry was written. */
  readonly storedAt: number;
  /** Fresh until then. */
  readonly staleAt: number;
  /** Served stale while one request refreshes it until then (>= staleAt). */
  readonly swrUntil: number;
  /** Served stale in place of a 5xx or a thrown error until then (>= staleAt). */
  readonly sieUntil: number;
  /** The store drops it then: max(staleAt, swrUntil, sieUntil). */
  readonly expiresAt: number;
}

export type HeaderValue = string | string[];

export interface CachedResponse extends EntryTimes {
  readonly kind: 'response';
  readonly status: number;
  /** Lower-case names, in the order the handler set them; no hop-by-hop, no Content-Length. */
  readonly headers: ReadonlyArray<readonly [string, HeaderValue]>;
  readonly etag: string;
  readonly lastModified: string | undefined;
  /** The origin's own Age header, in seconds, at storedAt (RFC 9111 §4.2.3). */
  readonly originAge: number;
  /** The namespaced index path and tags it is stored under (a memory tier re-indexes copies from them). */
  readonly path: string;
  readonly tags: readonly string[];
  readonly body: Buffer;
}

/** Kept at a response's primary key when it has `Vary`: which request headers pick the variant. */
export interface VaryMarker {
  readonly kind: 'vary';
  readonly vary: readonly string[];
  readonly path: string;
  readonly tags: readonly string[];
  readonly storedAt: number;
  readonly expiresAt: number;
}

export interface CachedValue extends EntryTimes {
  readonly kind: 'value';
  readonly path: string;
  readonly tags: readonly string[];
  /** The serialized value. */
  readonly body: Buffer;
}

export type Entry = CachedResponse | VaryMarker | CachedValue;

const KIND_CODES = { response: 0, vary: 1, value: 2 } as const;

export function encodeEntry(entry: Entry): Buffer {
  let meta: unknown;
  let body: Buffer | undefined;
  switch (entry.kind) {
    case 'response':
      meta = {
        status: entry.status,
        headers: entry.headers,
        etag: entry.etag,
        lastModified: entry.lastModified,
        originAge: entry.originAge,
        path: entry.path,
        tags: entry.tags,
        ...times(entry),
        size: entry.body.length,
      };
      body = entry.body;
      break;
    case 'vary':
      meta = { vary: entry.vary, path: entry.path, tags: entry.tags, storedAt: entry.storedAt, expiresAt: entry.expiresAt };
      break;
    case 'value':
      meta = { path: entry.path, tags: entry.tags, ...times(entry), size: entry.body.length };
      body = entry.body;
      break;
  }
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  // Not from the shared pool: a stored entry must not pin an 8 KiB pool slab for its life.
  const out = Buffer.allocUnsafeSlow(HEADER_BYTES + json.length + (body ? body.length : 0));
  out[0] = ENTRY_VERSION;
  out[1] = KIND_CODES[entry.kind];
  out.writeUInt32BE(json.length, 2);
  json.copy(out, HEADER_BYTES);
  if (body) body.copy(out, HEADER_BYTES + json.length);
  return out;
}

export function decodeEntry(buf: Buffer): Entry {
  if (!Buffer.isBuffer(buf) || buf.length < HEADER_BYTES) throw new EntryCorruptError('entry is truncated');
  if (buf[0] !== ENTRY_VERSION) throw new EntryCorruptError(`entry has codec version ${buf[0]}, expected ${ENTRY_VERSION}`);
  const metaLength = buf.readUInt32BE(2);
  if (HEADER_BYTES + metaLength > buf.length) throw new EntryCorruptError('entry metadata is truncated');
  let meta: Record<string, unknown>;
  try {
    meta = JSON.parse(buf.toString('utf8', HEADER_BYTES, HEADER_BYTES + metaLength));
  } catch {
    throw new EntryCorruptError('entry metadata is not JSON');
  }
  if (meta === null || typeof meta !== 'object' || Array.isArray(meta)) throw new EntryCorruptError('entry metadata is not an object');
  // subarray: no copy; the body shares the stored bytes, which nobody mutates.
  const body = buf.subarray(HEADER_BYTES + metaLength);
  switch (buf[1]) {
    case KIND_CODES.response:
      bodySize(meta.size, body);
      return {
        kind: 'response',
        status: storedStatus(meta.status),
        headers: headerList(meta.headers),
        etag: headerValue(meta.etag, 'etag'),
        lastModified: meta.lastModified === undefined ? undefined : headerValue(meta.lastModified, 'lastModified'),
        originAge: int(meta.originAge, 'originAge'),
        path: str(meta.path, 'path'),
        tags: strings(meta.tags, 'tags', ENTRY_LIMITS.tags),
        ...readTimes(meta),
        body,
      };
    case KIND_CODES.vary:
      if (body.length !== 0) throw new EntryCorruptError('entry vary marker has a body');
      return {
        kind: 'vary',
        vary: headerNames(meta.vary),
        path: str(meta.path, 'path'),
        tags: strings(meta.tags, 'tags', ENTRY_LIMITS.tags),
        storedAt: int(meta.storedAt, 'storedAt'),
        expiresAt: int(meta.expiresAt, 'expiresAt'),
      };
    case KIND_CODES.value:
      bodySize(meta.size, body);
      return { kind: 'value', path: str(meta.path, 'path'), tags: strings(meta.tags, 'tags', ENTRY_LIMITS.tags), ...readTimes(meta), body };
    default:
      throw new EntryCorruptError(`entry has unknown kind ${buf[1]}`);
  }
}

function times(t: EntryTimes): EntryTimes {
  return { storedAt: t.storedAt, staleAt: t.staleAt, swrUntil: t.swrUntil, sieUntil: t.sieUntil, expiresAt: t.expiresAt };
}

function readTimes(meta: Record<string, unknown>): EntryTimes {
  return {
    storedAt: int(meta.storedAt, 'storedAt'),
    staleAt: int(meta.staleAt, 'staleAt'),
    swrUntil: int(meta.swrUntil, 'swrUntil'),
    sieUntil: int(meta.sieUntil, 'sieUntil'),
    expiresAt: int(meta.expiresAt, 'expiresAt'),
  };
}

function int(v: unknown, name: string): number {
  // Safe integers only: NaN, Infinity, fractions and negatives are no time, age or size.
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) throw new EntryCorruptError(`entry ${name} is not a non-negative integer`);
  return v;
}

/** A stored response's status: an integer Node can send, and one this cache stores (RFC 9110 §15; never 1xx). */
function storedStatus(v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 200 || v > 599)
    throw new EntryCorruptError(`entry status ${JSON.stringify(v)} is not a status from 200 to 599`);
  return v;
}

/** The body is exactly as long as the metadata says: a truncated or padded entry is corrupt. */
function bodySize(v: unknown, body: Buffer): void {
  if (int(v, 'size') !== body.length) throw new EntryCorruptError(`entry body is ${body.length} bytes, its metadata says ${String(v)}`);
}

function str(v: unknown, name: string): string {
  if (typeof v !== 'string') throw new EntryCorruptError(`entry ${name} is not a string`);
  return v;
}

function strings(v: unknown, name: string, max: number): string[] {
  if (!Array.isArray(v) || v.length > max || !v.every((s) => typeof s === 'string'))
    throw new EntryCorruptError(`entry ${name} is not a list of at most ${max} strings`);
  return v;
}

/** A header value setHeader accepts (RFC 9110 §5.5: no CR, LF or NUL). */
function headerValue(v: unknown, name: string): string {
  const s = str(v, name);
  try {
    validateHeaderValue(name, s);
  } catch {
    throw new EntryCorruptError(`entry ${name} is not a valid header value`);
  }
  return s;
}

/** Request header names a vary marker picks variants by: RFC 9110 §5.6.2 tokens. */
function headerNames(v: unknown): string[] {
  const names = strings(v, 'vary', ENTRY_LIMITS.vary);
  for (const n of names) {
    try {
      validateHeaderName(n);
    } catch {
      throw new EntryCorruptError('entry vary names are not header names');
    }
  }
  return names;
}

function headerList(v: unknown): Array<[string, HeaderValue]> {
  if (!Array.isArray(v) || v.length > ENTRY_LIMITS.headers) throw new EntryCorruptError(`entry headers are not a list of at most ${ENTRY_LIMITS.headers}`);
  for (const pair of v) {
    const ok =
      Array.isArray(pair) &&
      pair.length === 2 &&
      typeof pair[0] === 'string' &&
      (typeof pair[1] === 'string' ||
        (Array.isArray(pair[1]) && pair[1].length <= ENTRY_LIMITS.headerValues && pair[1].every((s: unknown) => typeof s === 'string')));
    if (!ok) throw new EntryCorruptError('entry headers are malformed');
    // What replay hands to setHeader must be what setHeader accepts (RFC 9110 §5.1 token
    // names; §5.5 values without CR, LF or NUL), or the hit would throw.
    try {
      validateHeaderName(pair[0]);
      validateHeaderValue(pair[0], pair[1]);
    } catch {
      throw new EntryCorruptError(`entry header ${JSON.stringify(pair[0]).slice(0, 40)} is not one Node can send`);
    }
  }
  return v as Array<[string, HeaderValue]>;
}
