/**
 * The entry codec, property-based: arbitrary valid entries of all three kinds round-trip
 * exactly; every truncation of an encoding, and every encoding with bytes after it, is
 * EntryCorruptError; random byte flips and random bytes either decode to an entry that
 * passes the checks written here (independently of src/entry.ts) or throw
 * EntryCorruptError, and no other exception escapes.
 */

import { validateHeaderName, validateHeaderValue } from 'node:http';
import fc from 'fast-check';
import { decodeEntry, encodeEntry, ENTRY_LIMITS, ENTRY_VERSION, type CachedResponse, type CachedValue, type Entry, type VaryMarker } from '../../src/entry';
import { CONTENT_TYPES, HEADER_NAMES } from '../../src/entry-bytes';
import { EntryCorruptError } from '../../src/errors';

const char = (min: number, max: number) => fc.integer({ min, max }).map((c) => String.fromCharCode(c));
/** Any UTF-16 code units, lone surrogates included. */
const anyString = fc.string({ unit: char(0, 0xffff), maxLength: 12 });
/** RFC 9110 §5.6.2 token characters, lower-case as the cache keeps names. */
const token = fc.string({ unit: fc.constantFrom(..."!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"), minLength: 1, maxLength: 10 });
/** What setHeader accepts in a value: HTAB, visible ASCII, space, obs-text (RFC 9110 §5.5). */
const fieldValue = fc.oneof(
  fc.string({ unit: fc.oneof(fc.constant('\t'), char(0x20, 0x7e), char(0x80, 0xff)), maxLength: 16 }),
  fc.constantFrom(...CONTENT_TYPES),
);
const headerName = fc.oneof(fc.constantFrom(...HEADER_NAMES), token);
const header = fc.tuple(headerName, fc.oneof(fieldValue, fc.array(fieldValue, { maxLength: 3 })));
const time = fc.oneof(fc.maxSafeNat(), fc.integer({ min: 1_700_000_000_000, max: 1_900_000_000_000 }));
const times = fc.record({ storedAt: time, staleAt: time, swrUntil: time, sieUntil: time, expiresAt: time });
const body = fc.uint8Array({ maxLength: 64 }).map((a) => Buffer.from(a));
const index = { path: anyString, tags: fc.array(anyString, { maxLength: 4 }) };

const response: fc.Arbitrary<CachedResponse> = fc
  .record({
    status: fc.integer({ min: 200, max: 599 }),
    headers: fc.array(header, { maxLength: 6 }),
    etag: fieldValue,
    lastModified: fc.option(fieldValue, { nil: undefined }),
    etagInHeaders: fc.boolean(),
    lastModifiedInHeaders: fc.boolean(),
    originAge: fc.oneof(fc.nat(), fc.maxSafeNat()),
    ...index,
    times,
    body,
  })
  .map(({ etagInHeaders, lastModifiedInHeaders, times: t, headers, ...r }) => {
    const all: Array<[string, string | string[]]> = [...headers];
    if (etagInHeaders) all.push(['etag', r.etag]);
    if (lastModifiedInHeaders && r.lastModified !== undefined) all.unshift(['last-modified', r.lastModified]);
    return { kind: 'response' as const, ...r, headers: all, ...t };
  });
const vary: fc.Arbitrary<VaryMarker> = fc.record({
  kind: fc.constant('vary' as const),
  vary: fc.array(token, { maxLength: 4 }),
  ...index,
  storedAt: time,
  expiresAt: time,
});
const value: fc.Arbitrary<CachedValue> = fc
  .record({ kind: fc.constant('value' as const), ...index, body, times })
  .map(({ times: t, ...r }) => ({ ...r, ...t }));
const entry: fc.Arbitrary<Entry> = fc.oneof(response, vary, value);

/** What replay and the stores need of a decoded entry, checked without src/entry.ts. */
function assertReplayable(e: Entry): void {
  const safe = (n: number) => expect(Number.isSafeInteger(n) && n >= 0).toBe(true);
  expect(typeof e.path).toBe('string');
  expect(e.tags.length).toBeLessThanOrEqual(ENTRY_LIMITS.tags);
  for (const t of e.tags) expect(typeof t).toBe('string');
  safe(e.storedAt);
  safe(e.expiresAt);
  if (e.kind === 'vary') {
    expect(e.vary.length).toBeLessThanOrEqual(ENTRY_LIMITS.vary);
    for (const n of e.vary) validateHeaderName(n);
    return;
  }
  for (const t of [e.staleAt, e.swrUntil, e.sieUntil]) safe(t);
  expect(Buffer.isBuffer(e.body)).toBe(true);
  if (e.kind === 'value') return;
  expect(Number.isInteger(e.status) && e.status >= 200 && e.status <= 599).toBe(true);
  safe(e.originAge);
  expect(e.headers.length).toBeLessThanOrEqual(ENTRY_LIMITS.headers);
  for (const [name, v] of e.headers) {
    validateHeaderName(name);
    for (const s of typeof v === 'string' ? [v] : v) validateHeaderValue(name, s);
    if (typeof v !== 'string') expect(v.length).toBeLessThanOrEqual(ENTRY_LIMITS.headerValues);
  }
  validateHeaderValue('etag', e.etag);
  if (e.lastModified !== undefined) validateHeaderValue('last-modified', e.lastModified);
}

/** decodeEntry either gives an entry that passes assertReplayable and re-encodes to itself, or throws EntryCorruptError. */
function decodesSafely(buf: Buffer): void {
  let decoded: Entry;
  try {
    decoded = decodeEntry(buf);
  } catch (err) {
    expect(err).toBeInstanceOf(EntryCorruptError);
    return;
  }
  assertReplayable(decoded);
  expect(decodeEntry(encodeEntry(decoded))).toEqual(decoded);
}

describe('entry codec (property)', () => {
  it('should round-trip every valid entry of every kind', () => {
    fc.assert(
      fc.property(entry, (e) => {
        expect(decodeEntry(encodeEntry(e))).toEqual(e);
      }),
      { numRuns: 500 },
    );
  });

  it('should throw EntryCorruptError for every truncation of an encoding, and for bytes after it', () => {
    fc.assert(
      fc.property(entry, fc.uint8Array({ minLength: 1, maxLength: 3 }), (e, extra) => {
        const bytes = encodeEntry(e);
        expect(() => decodeEntry(Buffer.concat([bytes, extra]))).toThrow(EntryCorruptError);
        const decodedOrOther: number[] = [];
        for (let n = 0; n < bytes.length; n++) {
          try {
            decodeEntry(bytes.subarray(0, n));
            decodedOrOther.push(n);
          } catch (err) {
            if (!(err instanceof EntryCorruptError)) decodedOrOther.push(n);
          }
        }
        expect(decodedOrOther).toEqual([]);
      }),
      { numRuns: 200 },
    );
  });

  it('should decode byte flips to a replayable entry or throw EntryCorruptError', () => {
    const flips = fc.array(fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })), { minLength: 1, maxLength: 4 });
    fc.assert(
      fc.property(entry, flips, (e, changes) => {
        const bytes = Buffer.from(encodeEntry(e));
        for (const [at, xor] of changes) bytes[at % bytes.length] ^= xor;
        decodesSafely(bytes);
      }),
      { numRuns: 2000 },
    );
  });

  it('should decode random bytes after a version and a kind to a replayable entry or throw EntryCorruptError', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3 }), fc.uint8Array({ maxLength: 80 }), (kind, rest) => {
        decodesSafely(Buffer.concat([Buffer.from([ENTRY_VERSION, kind]), rest]));
      }),
      { numRuns: 2000 },
    );
  });
});
