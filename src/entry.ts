/**
 * Stored entries and their binary codec (version 2, issue 13). Every entry starts
 *
 *   byte 0      codec version (ENTRY_VERSION)
 *   byte 1      kind: 0 response, 1 vary marker, 2 value
 *
 * then the kind's fields, in this order (varint: LEB128; string: varint of 2 × length +
 * width, then Latin-1 or UTF-16LE units; list: varint count, then items; times: a byte of
 * sign bits, storedAt, staleAt's distance from storedAt, then swrUntil's, sieUntil's and
 * expiresAt's from staleAt, where they usually are 0; tags: each the length it shares with
 * the start of the path, then the rest):
 *
 *   response    uint16 status, flags, times, originAge, path, tags, headers, [etag],
 *               [lastModified], body size, body
 *   vary        times (storedAt, expiresAt), path, tags, vary names
 *   value       times, path, tags, body size, body
 *
 * A header is one code byte: 0x80 + i for `Content-Type` CONTENT_TYPES[i]; else bit 0 says
 * "list value" and the rest names HEADER_NAMES[(code >> 1) - 1] spelled as DISPLAY_NAMES
 * has it, or 0 for a name string that follows, spelled as the handler set it (any other
 * spelling: `content-type`, `X-Request-Id`); then the value (src/entry-bytes.ts).
 * DATE_OF_STORED_AT is a `Date` whose value is the IMF-fixdate of storedAt's second
 * (httpDate, src/headers.ts), the one the cache adds to every entry whose handler sent none:
 * one byte instead of 30. The ETag and Last-Modified fields are left out when they equal the
 * header of that name (flags). The body is raw bytes, never JSON- or base64-encoded, and is
 * the end of the entry.
 *
 * Version 2 is the same layout with every name lower-case (the codes mean HEADER_NAMES'
 * spelling): such entries still decode, and replay lower-case names.
 *
 * Anything that does not decode, including another version, throws EntryCorruptError and
 * the cache treats it as a miss. Decoding also checks that what decoded can be replayed: a
 * status Node can send, header names and values Node's setHeader accepts, a body of the
 * length the entry states, bounded counts, times that are safe integers. A Redis entry
 * written by something else (or bit-flipped) must be a miss, never a throw in replay.
 */

import { validateHeaderName, validateHeaderValue } from 'node:http';
import { CONTENT_TYPE_CODES, CONTENT_TYPES, DISPLAY_NAMES, HEADER_NAME_CODES, HEADER_NAMES, Reader, Writer } from './entry-bytes';
import { EntryCorruptError } from './errors';
import { httpDate, storedHeader } from './headers';

export const ENTRY_VERSION = 3;
/** The version before names kept their spelling (issue 23): decoded, never written. */
const LOWER_CASE_VERSION = 2;

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

/**
 * A stored header: its lower-case name (what every comparison uses), its value, and the
 * name as the handler spelled it, which replay sends; absent when that is the lower-case
 * name (decoding leaves it out then, so an entry round-trips either way).
 */
export type StoredHeader = [name: string, value: HeaderValue, spelled?: string];

export interface CachedResponse extends EntryTimes {
  readonly kind: 'response';
  readonly status: number;
  /** Lower-case names with their spelling, in the order the handler set them; no hop-by-hop, no Content-Length. */
  readonly headers: ReadonlyArray<Readonly<StoredHeader>>;
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
const CONTENT_TYPE_BASE = 0x80;
/** Below CONTENT_TYPE_BASE and above every name code ((HEADER_NAMES.length << 1) | 1). */
const DATE_OF_STORED_AT = 0x7f;
/** Where Date and Content-Type sit in the name tables: their one-byte forms carry those spellings. */
const DATE_AT = HEADER_NAMES.indexOf('date');
const CONTENT_TYPE_AT = HEADER_NAMES.indexOf('content-type');

/** Response flags: which optional fields follow, and which fields a header already holds. */
const HAS_LAST_MODIFIED = 1;
const ETAG_IN_HEADERS = 2;
const LAST_MODIFIED_IN_HEADERS = 4;

export function encodeEntry(entry: Entry): Buffer {
  const measure = new Writer(undefined);
  write(measure, entry);
  // Not from the shared pool: a stored entry must not pin an 8 KiB pool slab for its life.
  const out = new Writer(Buffer.allocUnsafeSlow(measure.pos));
  write(out, entry);
  return out.buf!;
}

function write(w: Writer, entry: Entry): void {
  w.byte(ENTRY_VERSION);
  w.byte(KIND_CODES[entry.kind]);
  switch (entry.kind) {
    case 'response': {
      const etagInHeaders = firstValue(entry.headers, 'etag') === entry.etag;
      const lastModifiedInHeaders = entry.lastModified !== undefined && firstValue(entry.headers, 'last-modified') === entry.lastModified;
      w.uint16(entry.status);
      w.byte(
        (entry.lastModified === undefined ? 0 : HAS_LAST_MODIFIED) |
          (etagInHeaders ? ETAG_IN_HEADERS : 0) |
          (lastModifiedInHeaders ? LAST_MODIFIED_IN_HEADERS : 0),
      );
      writeTimes(w, entry);
      w.varint(entry.originAge);
      writeIndex(w, entry);
      writeHeaders(w, entry.headers, entry.storedAt);
      if (!etagInHeaders) w.string(entry.etag);
      if (entry.lastModified !== undefined && !lastModifiedInHeaders) w.string(entry.lastModified);
      w.varint(entry.body.length);
      w.bytes(entry.body);
      return;
    }
    case 'vary':
      w.byte(entry.expiresAt < entry.storedAt ? 1 : 0);
      w.varint(entry.storedAt);
      w.varint(Math.abs(entry.expiresAt - entry.storedAt));
      writeIndex(w, entry);
      w.varint(entry.vary.length);
      for (const name of entry.vary) w.string(name);
      return;
    case 'value':
      writeTimes(w, entry);
      writeIndex(w, entry);
      w.varint(entry.body.length);
      w.bytes(entry.body);
      return;
  }
}

export function decodeEntry(buf: Buffer): Entry {
  if (!Buffer.isBuffer(buf) || buf.length < 2) throw new EntryCorruptError('entry is truncated');
  const version = buf[0];
  if (version !== ENTRY_VERSION && version !== LOWER_CASE_VERSION)
    throw new EntryCorruptError(`entry has codec version ${version}, expected ${ENTRY_VERSION} (or ${LOWER_CASE_VERSION})`);
  const r = new Reader(buf, 2);
  switch (buf[1]) {
    case KIND_CODES.response: {
      const status = storedStatus(r.uint16());
      const flags = r.byte();
      if (flags > 7 || (flags & (HAS_LAST_MODIFIED | LAST_MODIFIED_IN_HEADERS)) === LAST_MODIFIED_IN_HEADERS)
        throw new EntryCorruptError(`entry has unknown flags ${flags}`);
      const times = readTimes(r);
      const originAge = r.varint();
      const path = r.string();
      const tags = readTags(r, path);
      const headers = readHeaders(r, times.storedAt, version === ENTRY_VERSION ? DISPLAY_NAMES : HEADER_NAMES);
      const etag = flags & ETAG_IN_HEADERS ? valueInHeaders(headers, 'etag') : sendable('etag', r.string());
      let lastModified: string | undefined;
      if (flags & LAST_MODIFIED_IN_HEADERS) lastModified = valueInHeaders(headers, 'last-modified');
      else if (flags & HAS_LAST_MODIFIED) lastModified = sendable('last-modified', r.string());
      const body = readBody(r);
      return {
        kind: 'response',
        status,
        headers,
        etag,
        lastModified,
        originAge,
        path,
        tags,
        storedAt: times.storedAt,
        staleAt: times.staleAt,
        swrUntil: times.swrUntil,
        sieUntil: times.sieUntil,
        expiresAt: times.expiresAt,
        body,
      };
    }
    case KIND_CODES.vary: {
      const negative = r.byte();
      if (negative > 1) throw new EntryCorruptError(`entry has unknown time signs ${negative}`);
      const storedAt = r.varint();
      const expiresAt = time(storedAt, r.varint(), negative === 1);
      const path = r.string();
      const tags = readTags(r, path);
      const vary = readVaryNames(r);
      if (r.left !== 0) throw new EntryCorruptError('entry vary marker has a body');
      return { kind: 'vary', vary, path, tags, storedAt, expiresAt };
    }
    case KIND_CODES.value: {
      const times = readTimes(r);
      const path = r.string();
      const tags = readTags(r, path);
      const body = readBody(r);
      return {
        kind: 'value',
        path,
        tags,
        storedAt: times.storedAt,
        staleAt: times.staleAt,
        swrUntil: times.swrUntil,
        sieUntil: times.sieUntil,
        expiresAt: times.expiresAt,
        body,
      };
    }
    default:
      throw new EntryCorruptError(`entry has unknown kind ${buf[1]}`);
  }
}

/**
 * The path and tags an entry is indexed under, read from the start of its bytes (a prefix
 * of them is enough: they come before the headers), or undefined when they do not decode
 * from what is given. RedisStore reads them from what it deletes, to tidy the other indexes.
 */
export function decodeIndex(head: Buffer): { path: string; tags: string[] } | undefined {
  if (head.length < 2 || (head[0] !== ENTRY_VERSION && head[0] !== LOWER_CASE_VERSION)) return undefined;
  try {
    const r = new Reader(head, 2);
    if (head[1] === KIND_CODES.response) {
      r.uint16();
      r.byte();
      readTimes(r);
      r.varint();
    } else if (head[1] === KIND_CODES.vary) {
      r.byte();
      r.varint();
      r.varint();
    } else if (head[1] === KIND_CODES.value) readTimes(r);
    else return undefined;
    const path = r.string();
    return { path, tags: readTags(r, path) };
  } catch {
    return undefined;
  }
}

/** The value of the first header called `name` (what the ETag and Last-Modified flags refer to). */
function firstValue(headers: CachedResponse['headers'], name: string): HeaderValue | undefined {
  for (const [n, v] of headers) if (n === name) return v;
  return undefined;
}

function valueInHeaders(headers: CachedResponse['headers'], name: string): string {
  const v = firstValue(headers, name);
  if (typeof v !== 'string') throw new EntryCorruptError(`entry says its ${name} is in its headers, which have none`);
  return v;
}

/** A byte of sign bits (bit i: time i is before storedAt), storedAt, then each distance. */
function writeTimes(w: Writer, t: EntryTimes): void {
  const base = t.storedAt;
  const stale = t.staleAt;
  w.byte((stale < base ? 1 : 0) | (t.swrUntil < stale ? 2 : 0) | (t.sieUntil < stale ? 4 : 0) | (t.expiresAt < stale ? 8 : 0));
  w.varint(base);
  w.varint(Math.abs(stale - base));
  w.varint(Math.abs(t.swrUntil - stale));
  w.varint(Math.abs(t.sieUntil - stale));
  w.varint(Math.abs(t.expiresAt - stale));
}

function readTimes(r: Reader): EntryTimes {
  const negative = r.byte();
  if (negative > 15) throw new EntryCorruptError(`entry has unknown time signs ${negative}`);
  const storedAt = r.varint();
  const staleAt = time(storedAt, r.varint(), (negative & 1) !== 0);
  return {
    storedAt,
    staleAt,
    swrUntil: time(staleAt, r.varint(), (negative & 2) !== 0),
    sieUntil: time(staleAt, r.varint(), (negative & 4) !== 0),
    expiresAt: time(staleAt, r.varint(), (negative & 8) !== 0),
  };
}

function time(base: number, distance: number, negative: boolean): number {
  const t = negative ? base - distance : base + distance;
  // Safe integers only: past them a time is no time (and the sum was rounded).
  if (!Number.isSafeInteger(t) || t < 0) throw new EntryCorruptError('entry has a time that is not a non-negative safe integer');
  return t;
}

/** Tags carry the namespace the path starts with too: each is written as what it shares with the path, then the rest. */
function writeIndex(w: Writer, entry: Entry): void {
  const path = entry.path;
  w.string(path);
  w.varint(entry.tags.length);
  for (const tag of entry.tags) {
    const max = Math.min(tag.length, path.length);
    let shared = 0;
    while (shared < max && tag.charCodeAt(shared) === path.charCodeAt(shared)) shared++;
    w.varint(shared);
    w.string(shared === 0 ? tag : tag.slice(shared));
  }
}

function readTags(r: Reader, path: string): string[] {
  const count = r.count(ENTRY_LIMITS.tags, 'tags');
  const tags: string[] = [];
  for (let i = 0; i < count; i++) {
    const shared = r.varint();
    if (shared > path.length) throw new EntryCorruptError('entry has a tag sharing more than its path');
    const rest = r.string();
    tags.push(shared === 0 ? rest : path.slice(0, shared) + rest);
  }
  return tags;
}

/** The body is exactly as long as the entry says: a truncated or padded entry is corrupt. */
function readBody(r: Reader): Buffer {
  const size = r.varint();
  if (size !== r.left) throw new EntryCorruptError(`entry body is ${r.left} bytes, the entry says ${size}`);
  return r.rest();
}

/** A stored response's status: an integer Node can send, and one this cache stores (RFC 9110 §15; never 1xx). */
function storedStatus(status: number): number {
  if (status < 200 || status > 599) throw new EntryCorruptError(`entry status ${status} is not a status from 200 to 599`);
  return status;
}

function writeHeaders(w: Writer, headers: CachedResponse['headers'], storedAt: number): void {
  w.varint(headers.length);
  for (const [name, value, spelled = name] of headers) {
    if (spelled === DISPLAY_NAMES[DATE_AT] && value === httpDate(storedAt)) {
      w.byte(DATE_OF_STORED_AT);
      continue;
    }
    const common = spelled === DISPLAY_NAMES[CONTENT_TYPE_AT] && typeof value === 'string' ? CONTENT_TYPE_CODES.get(value) : undefined;
    if (common !== undefined) {
      w.byte(CONTENT_TYPE_BASE + common);
      continue;
    }
    // One byte for the usual spelling of a known name; any other spelling is written out.
    let known = HEADER_NAME_CODES.get(name);
    if (known !== undefined && DISPLAY_NAMES[known - 1] !== spelled) known = undefined;
    const list = typeof value !== 'string';
    w.byte(((known ?? 0) << 1) | (list ? 1 : 0));
    if (known === undefined) {
      // The decoder derives the name from the spelling: they must agree.
      if (spelled !== name && spelled.toLowerCase() !== name)
        throw new RangeError(`header ${JSON.stringify(spelled)} is not a spelling of ${JSON.stringify(name)}`);
      w.string(spelled);
    }
    if (!list) {
      w.string(value);
      continue;
    }
    w.varint(value.length);
    for (const v of value) w.string(v);
  }
}

/** `spellings`: how the version spells a known name's code (DISPLAY_NAMES; version 2: HEADER_NAMES). */
function readHeaders(r: Reader, storedAt: number, spellings: readonly string[]): StoredHeader[] {
  const count = r.count(ENTRY_LIMITS.headers, 'headers');
  const headers: StoredHeader[] = [];
  for (let i = 0; i < count; i++) headers.push(readHeader(r, storedAt, spellings));
  return headers;
}

function readHeader(r: Reader, storedAt: number, spellings: readonly string[]): StoredHeader {
  const code = r.byte();
  if (code === DATE_OF_STORED_AT) {
    const date = httpDate(storedAt);
    // Past year 275760 a Date has no IMF-fixdate (and a time there is no real one).
    if (date === 'Invalid Date') throw new EntryCorruptError('entry has a Date of a time with no date');
    return storedHeader('date', date, spellings[DATE_AT]);
  }
  if (code >= CONTENT_TYPE_BASE) {
    const common = CONTENT_TYPES[code - CONTENT_TYPE_BASE];
    if (common === undefined) throw new EntryCorruptError(`entry has unknown header code ${code}`);
    return storedHeader('content-type', common, spellings[CONTENT_TYPE_AT]);
  }
  let name: string;
  let spelled: string;
  if (code >> 1 === 0) {
    spelled = r.string();
    try {
      validateHeaderName(spelled);
    } catch {
      throw new EntryCorruptError(`entry header ${JSON.stringify(spelled).slice(0, 40)} is not a header name`);
    }
    // A token is ASCII: lower-casing it is exact (and returns the same string when it is lower-case).
    name = spelled.toLowerCase();
  } else {
    const at = (code >> 1) - 1;
    const known = HEADER_NAMES[at];
    if (known === undefined) throw new EntryCorruptError(`entry has unknown header code ${code}`);
    name = known;
    spelled = spellings[at];
  }
  if (!(code & 1)) return storedHeader(name, sendable(name, r.string()), spelled);
  const count = r.count(ENTRY_LIMITS.headerValues, 'header values');
  const list: string[] = [];
  for (let i = 0; i < count; i++) list.push(sendable(name, r.string()));
  return storedHeader(name, list, spelled);
}

/**
 * What replay hands to setHeader must be what setHeader accepts (RFC 9110 §5.5: values
 * without CR, LF or NUL), or the hit would throw.
 */
function sendable(name: string, value: string): string {
  try {
    validateHeaderValue(name, value);
  } catch {
    throw new EntryCorruptError(`entry header ${JSON.stringify(name).slice(0, 40)} is not one Node can send`);
  }
  return value;
}

/** Request header names a vary marker picks variants by: RFC 9110 §5.6.2 tokens. */
function readVaryNames(r: Reader): string[] {
  const count = r.count(ENTRY_LIMITS.vary, 'vary names');
  const names: string[] = [];
  for (let i = 0; i < count; i++) {
    const name = r.string();
    try {
      validateHeaderName(name);
    } catch {
      throw new EntryCorruptError('entry vary names are not header names');
    }
    names.push(name);
  }
  return names;
}
