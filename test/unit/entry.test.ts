import {
  decodeEntry,
  decodeIndex,
  encodeEntry,
  ENTRY_LIMITS,
  ENTRY_VERSION,
  type CachedResponse,
  type CachedValue,
  type StoredHeader,
  type VaryMarker,
} from '../../src/entry';
import { CONTENT_TYPES, HEADER_NAMES } from '../../src/entry-bytes';
import { CacheError, EntryCorruptError } from '../../src/errors';

const times = { storedAt: 1, staleAt: 2, swrUntil: 3, sieUntil: 4, expiresAt: 4 };
const response: CachedResponse = {
  kind: 'response',
  status: 200,
  headers: [
    ['content-type', 'application/octet-stream'],
    ['link', ['<a>', '<b>']],
  ],
  etag: '"x"',
  lastModified: undefined,
  originAge: 3,
  path: 'cache:v1:http:/x',
  tags: ['cache:v1:http:t'],
  body: Buffer.from(Array.from({ length: 256 }, (_, i) => i)),
  ...times,
};

/** What the cache stores for a 768-byte `res.json` answer tagged `items` and `item:42` (bench/redis-memory.js). */
const benchEntry: CachedResponse = {
  kind: 'response',
  status: 200,
  headers: [
    ['content-type', 'application/json; charset=utf-8', 'Content-Type'],
    ['etag', 'W/"300-Mqrojin+cMJIyW7eFe+Z40x0pKI"', 'ETag'],
    ['date', 'Tue, 01 Dec 2026 23:28:07 GMT', 'Date'],
  ],
  etag: 'W/"300-Mqrojin+cMJIyW7eFe+Z40x0pKI"',
  lastModified: undefined,
  originAge: 0,
  path: 'cache:v1:http:/items/42',
  tags: ['cache:v1:http:items', 'cache:v1:http:item:42'],
  storedAt: 1796167687525,
  staleAt: 1796167747525,
  swrUntil: 1796167747525,
  sieUntil: 1796167747525,
  expiresAt: 1796167807525,
  body: Buffer.alloc(768, 0x61),
};

/** The bytes of a value entry, field by field, for forging what encodeEntry never writes. */
function valueBytes(fields: { signs?: number; storedAt?: number[]; distances?: number[][]; size?: number[]; body?: number[] } = {}): Buffer {
  const { signs = 0, storedAt = [1], distances = [[1], [2], [3], [3]], size = [3], body = [0x61, 0x62, 0x63] } = fields;
  // path "p" (length 1, Latin-1: 2 × 1 + 0), no tags
  return Buffer.from([ENTRY_VERSION, 2, signs, ...storedAt, ...distances.flat(), 2, 0x70, 0, ...size, ...body]);
}

function expectCorrupt(buf: Buffer): void {
  let thrown: unknown;
  try {
    decodeEntry(buf);
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(EntryCorruptError);
  expect((thrown as CacheError).code).toBe('ERC_ENTRY_CORRUPT');
}

describe('entry codec', () => {
  describe('when the bytes decode but hold what Node could not send', () => {
    it.each([
      ['status 0', { status: 0 }],
      ['status 99', { status: 99 }],
      ['status 100 (a stored response is final)', { status: 100 }],
      ['status 199', { status: 199 }],
      ['status 600', { status: 600 }],
      ['status 65535', { status: 65535 }],
      ['a header value with \r\n', { headers: [['x-a', 'ok\r\nSet-Cookie: sid=evil']] }],
      ['a header value with \n', { headers: [['x-a', 'a\nb']] }],
      ['a header value with NUL', { headers: [['x-a', 'a\u0000b']] }],
      ['a header value beyond Latin-1', { headers: [['x-a', '\u2028']] }],
      ['a known header with \r\n', { headers: [['cache-control', 'max-age=1\r\nX-Evil: 1']] }],
      ['a list value with \r', { headers: [['link', ['<a>', '<b>\r']]] }],
      ['a header name with a space', { headers: [['x a', '1']] }],
      ['a header name with a colon', { headers: [['x:a', '1']] }],
      ['an empty header name', { headers: [['', '1']] }],
      ['an ETag with \r\n', { etag: '"x"\r\nX-Evil: 1' }],
      ['an ETag header and field with \r\n', { etag: '"x"\r\n', headers: [['etag', '"x"\r\n']] }],
      ['a Last-Modified with \n', { lastModified: 'Mon\n' }],
      [`more than ${ENTRY_LIMITS.headers} headers`, { headers: Array.from({ length: ENTRY_LIMITS.headers + 1 }, (_, i) => [`x-${i}`, '1']) }],
      [`a header of more than ${ENTRY_LIMITS.headerValues} values`, { headers: [['link', Array.from({ length: ENTRY_LIMITS.headerValues + 1 }, () => 'a')]] }],
      [`more than ${ENTRY_LIMITS.tags} tags`, { tags: Array.from({ length: ENTRY_LIMITS.tags + 1 }, (_, i) => `t${i}`) }],
    ])('should throw ERC_ENTRY_CORRUPT for %s', (_name, changes) => {
      expectCorrupt(encodeEntry({ ...response, ...changes } as CachedResponse));
    });

    it('should throw for a truncated body, a padded body, and a body cut off by one byte', () => {
      const good = encodeEntry(response);
      expectCorrupt(good.subarray(0, good.length - 1));
      expectCorrupt(good.subarray(0, good.length - 200));
      expectCorrupt(Buffer.concat([good, Buffer.from([0])]));
    });

    it('should throw for a body size that claims more or less than the body', () => {
      expect(decodeEntry(valueBytes()).kind).toBe('value');
      expectCorrupt(valueBytes({ size: [4] }));
      expectCorrupt(valueBytes({ size: [2] }));
      expectCorrupt(valueBytes({ size: [0xff, 0xff, 0xff, 0xff, 0x0f] })); // 4 GiB
    });

    it('should throw for times that are negative or past the safe integers', () => {
      expect(decodeEntry(valueBytes({ signs: 1, storedAt: [5], distances: [[5], [0], [0], [0]] }))).toMatchObject({ storedAt: 5, staleAt: 0 });
      expectCorrupt(valueBytes({ signs: 1, storedAt: [5], distances: [[6], [0], [0], [0]] }));
      expectCorrupt(valueBytes({ signs: 16 }));
      const maxSafe = [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x0f]; // 2^53 - 1
      expect(decodeEntry(valueBytes({ storedAt: maxSafe, distances: [[0], [0], [0], [0]] })).storedAt).toBe(Number.MAX_SAFE_INTEGER);
      expectCorrupt(valueBytes({ storedAt: [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x10] })); // 2^53
      expectCorrupt(valueBytes({ storedAt: [0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01] })); // a ninth byte
      expectCorrupt(valueBytes({ storedAt: maxSafe, distances: [[1], [0], [0], [0]] })); // the sum passes 2^53 - 1
    });

    it('should throw for unknown header codes, flags and an ETag said to be in headers that have none', () => {
      const good = encodeEntry(benchEntry);
      const flagsAt = 4;
      // version, kind, status (2), flags, times (15), originAge, path (24), tags (17: each shares the path's namespace), header count
      const headerAt = 63;
      expect([good[headerAt - 1], good[headerAt]]).toEqual([3, 0x80]); // 0x80: application/json; charset=utf-8
      for (const code of [0x80 + CONTENT_TYPES.length, 0xff, (HEADER_NAMES.length + 1) << 1]) {
        const bad = Buffer.from(good);
        bad[headerAt] = code;
        expectCorrupt(bad);
      }
      for (const flags of [8, 4, 0]) {
        const bad = Buffer.from(good);
        bad[flagsAt] = flags; // 4: Last-Modified in headers without one; 0: the ETag string missing
        expectCorrupt(bad);
      }
      const noEtagHeader = encodeEntry({ ...benchEntry, headers: benchEntry.headers.filter(([n]) => n !== 'etag') });
      expect(decodeEntry(noEtagHeader)).toMatchObject({ etag: benchEntry.etag });
    });

    it('should throw for a string or a count longer than the bytes left', () => {
      expectCorrupt(Buffer.from([ENTRY_VERSION, 2, 0, 1, 1, 2, 3, 3, 0xfe, 0xff, 0xff, 0xff, 0x0f]));
      expectCorrupt(Buffer.from([ENTRY_VERSION, 2, 0, 1, 1, 2, 3, 3, 2, 0x70, 0xff, 0xff, 0xff, 0xff, 0x0f]));
    });

    it.each([
      ['vary names that are not tokens', ['accept language']],
      ['an empty vary name', ['']],
      ['too many vary names', Array.from({ length: ENTRY_LIMITS.vary + 1 }, (_, i) => `x-${i}`)],
    ])('should throw for a vary marker with %s', (_name, vary) => {
      expectCorrupt(encodeEntry({ kind: 'vary', vary, path: 'p', tags: [], storedAt: 1, expiresAt: 2 }));
    });

    it('should throw for a vary marker with bytes after it', () => {
      const good = encodeEntry({ kind: 'vary', vary: ['accept'], path: 'p', tags: [], storedAt: 1, expiresAt: 2 });
      expectCorrupt(Buffer.concat([good, Buffer.from('x')]));
    });

    it('should accept every status from 200 to 599 and headers Node accepts', () => {
      for (const status of [200, 204, 301, 404, 599]) expect((decodeEntry(encodeEntry({ ...response, status })) as CachedResponse).status).toBe(status);
      const headers: CachedResponse['headers'] = [
        ['x-tab', 'a\tb'],
        ['x-latin1', 'caf\u00e9'],
        ['x-empty', ''],
        ['set-like', ['a', 'b']],
        ['vary', []],
      ];
      expect((decodeEntry(encodeEntry({ ...response, headers })) as CachedResponse).headers).toEqual(headers);
    });
  });

  describe('when the bytes are not an entry', () => {
    it.each([
      ['empty', Buffer.alloc(0)],
      ['a version byte alone', Buffer.from([ENTRY_VERSION])],
      ['truncated fields', Buffer.from([ENTRY_VERSION, 0, 0])],
      ['another version', Buffer.concat([Buffer.from([ENTRY_VERSION + 1]), encodeEntry(response).subarray(1)])],
      ['version 1 (JSON metadata)', Buffer.concat([Buffer.from([1, 0, 0, 0, 0, 2]), Buffer.from('{}')])],
      ['an unknown kind', Buffer.concat([Buffer.from([ENTRY_VERSION, 9]), encodeEntry(response).subarray(2)])],
      ['garbage', Buffer.from('hello world, not an entry')],
    ])('should throw EntryCorruptError for %s', (_name, buf) => {
      expectCorrupt(buf);
    });

    it('should throw EntryCorruptError for a value that is not a Buffer', () => {
      expectCorrupt('entry' as unknown as Buffer);
    });
  });

  describe('when encoding what could not be decoded', () => {
    it.each([
      ['a fractional time', { ...response, expiresAt: 4.5 }],
      ['a negative origin Age', { ...response, originAge: -1 }],
      ['a status past 16 bits', { ...response, status: 70_000 }],
    ])('should throw for %s (the guarded store reports it and does not store)', (_name, entry) => {
      expect(() => encodeEntry(entry)).toThrow(RangeError);
    });
  });

  describe('when round-tripping', () => {
    it('should keep a response and its raw body byte for byte', () => {
      const bytes = encodeEntry(response);
      expect(bytes[0]).toBe(ENTRY_VERSION);
      // the body is raw bytes at the end, not JSON or base64
      expect(bytes.subarray(bytes.length - 256).equals(response.body)).toBe(true);
      expect(decodeEntry(bytes)).toEqual(response);
    });

    it('should keep the ETag and Last-Modified fields whether or not the headers hold them', () => {
      const lastModified = 'Mon, 30 Nov 2026 10:00:00 GMT';
      for (const entry of <CachedResponse[]>[
        benchEntry,
        { ...benchEntry, lastModified },
        { ...benchEntry, lastModified, headers: [...benchEntry.headers, ['last-modified', lastModified] as const] },
        { ...benchEntry, etag: '"other"' },
        { ...benchEntry, headers: [['etag', ['"a"', '"b"']] as [string, string[]], ...benchEntry.headers] },
      ]) {
        expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
      }
    });

    it('should keep strings beyond Latin-1 exactly, lone surrogates included', () => {
      const entry = { ...response, path: 'cache:v1:http:/caf\u00e9/\u4e2d\u6587', tags: ['\ud83d\ude00', '\ud800 lone', ''] };
      expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
    });

    it('should keep times before storedAt and at the end of the safe integers', () => {
      const max = Number.MAX_SAFE_INTEGER;
      const entry: CachedValue = {
        kind: 'value',
        path: 'p',
        tags: [],
        storedAt: max - 1,
        staleAt: 0,
        swrUntil: max,
        sieUntil: 7,
        expiresAt: max,
        body: Buffer.from('{}'),
      };
      expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
    });

    it('should keep a vary marker and a value', () => {
      const marker: VaryMarker = { kind: 'vary', vary: ['accept-language'], path: 'p', tags: [], storedAt: 9, expiresAt: 1 };
      expect(decodeEntry(encodeEntry(marker))).toEqual(marker);
      const value: CachedValue = { kind: 'value', path: 'p', tags: ['a'], body: Buffer.from('{"a":1}'), ...times };
      expect(decodeEntry(encodeEntry(value))).toEqual(value);
    });

    it('should keep an empty body', () => {
      const empty = { ...response, status: 204, body: Buffer.alloc(0) };
      expect(decodeEntry(encodeEntry(empty))).toEqual(empty);
    });

    it('should keep the bench entry in 104 bytes beyond its body (the JSON codec took 458)', () => {
      expect(encodeEntry(benchEntry).length - benchEntry.body.length).toBe(104);
    });

    it("should keep a Date in one byte when it is storedAt's second, and any other Date as it was", () => {
      const own = encodeEntry(benchEntry);
      const headers = benchEntry.headers.map(([n, v, spelled]): StoredHeader => [n, n === 'date' ? 'Tue, 01 Dec 2026 23:28:08 GMT' : v, spelled]);
      const other: CachedResponse = { ...benchEntry, headers };
      const otherBytes = encodeEntry(other);
      expect(otherBytes.length - own.length).toBe(30);
      expect(decodeEntry(own)).toEqual(benchEntry);
      expect(decodeEntry(otherBytes)).toEqual(other);
    });

    it('should keep tags that share nothing, part or all of the path', () => {
      const entry = { ...response, path: 'ns:/a/b', tags: ['x', 'ns:', 'ns:/a/b', 'ns:/a/bc', ''] };
      expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
    });

    it('should throw for a tag said to share more than the path has, and a stored-at Date past any date', () => {
      const good = encodeEntry({ kind: 'value', path: 'p', tags: ['pq'], body: Buffer.alloc(0), ...times });
      // version, kind, signs, 5 times (1 byte each), path (2), tag count, then the tag's shared length
      expect(good[10]).toBe(1);
      const bad = Buffer.from(good);
      bad[10] = 2;
      expectCorrupt(bad);
      const far = { ...benchEntry, storedAt: 8.65e15, staleAt: 8.65e15, swrUntil: 8.65e15, sieUntil: 8.65e15, expiresAt: 8.65e15 };
      const bytes = encodeEntry({ ...far, headers: [['date', 'x']] });
      const at = bytes.indexOf(Buffer.from([2, 0x78]), 20); // the date header: name code, then 'x' (length 1 × 2)
      expect(at).toBeGreaterThan(0);
      expectCorrupt(Buffer.concat([bytes.subarray(0, at), Buffer.from([0x7f]), bytes.subarray(at + 3)]));
    });
  });

  describe('when names are spelled (issue 23: a hit sends them as the miss did)', () => {
    const spelled = (headers: CachedResponse['headers']): CachedResponse => ({ ...benchEntry, headers });

    it('should keep the usual spelling of a known name, the stamped Date and a common Content-Type in one byte each', () => {
      const lower = encodeEntry(spelled(benchEntry.headers.map(([n, v]): StoredHeader => [n, v])));
      const usual = encodeEntry(benchEntry);
      // Lower-case names are another spelling, written out: 'content-type' (13 bytes) and its
      // value (32) for one byte, 'etag' (5) beside its code, 'date' (5) and its value (30) for one byte.
      expect(lower.length - usual.length).toBe(13 + 32 + 5 + 5 + 30);
      expect(decodeEntry(usual)).toEqual(benchEntry);
      expect((decodeEntry(lower) as CachedResponse).headers).toEqual([
        ['content-type', 'application/json; charset=utf-8'],
        ['etag', benchEntry.etag],
        ['date', 'Tue, 01 Dec 2026 23:28:07 GMT'],
      ]);
      const cc = encodeEntry(spelled([['cache-control', 'max-age=60', 'Cache-Control']]));
      expect(cc.length).toBe(encodeEntry(spelled([])).length + 1 + 1 + 10);
    });

    it.each<[string, StoredHeader]>([
      ['a known name in upper case', ['content-type', 'application/json; charset=utf-8', 'CONTENT-TYPE']],
      ['a known name spelled otherwise', ['etag', '"e"', 'Etag']],
      ['a name the tables do not know', ['x-request-id', 'r1', 'X-Request-Id']],
      ['a lower-case name the tables do not know', ['x-request-id', 'r1']],
      ['a list value', ['link', ['<a>', '<b>'], 'LINK']],
      ['a Date of another second', ['date', 'Tue, 01 Dec 2026 23:28:09 GMT', 'Date']],
    ])('should keep %s as it was set', (_name, header) => {
      const entry = spelled([...benchEntry.headers.filter(([n]) => n !== header[0]), header]);
      expect(decodeEntry(encodeEntry(entry))).toEqual(entry);
    });

    it('should refuse to encode a spelling that is not of the name (the decoder derives one from the other)', () => {
      expect(() => encodeEntry(spelled([['x-a', '1', 'X-B']]))).toThrow(RangeError);
    });

    it('should throw ERC_ENTRY_CORRUPT for a spelled name Node would refuse', () => {
      for (const name of ['X A', 'X:A', 'X-Ä']) expectCorrupt(encodeEntry(spelled([[name.toLowerCase(), '1', name]])));
    });

    it('should decode a version 2 entry (names lower-case), whose hits then send lower-case names', () => {
      // Written by the codec before names kept their spelling (commit 899e5ee's encodeEntry).
      const v2 = Buffer.from('AgAAyAIAAQEAAAAACGM6L2EABYAEDlcvIjUteCIAGHgtcmVxdWVzdC1pZARyMQgUbWF4LWFnZT02MH8HeyJhIjoxfQ==', 'base64');
      expect(v2[0]).toBe(2);
      expect(decodeEntry(v2)).toMatchObject({
        status: 200,
        etag: 'W/"5-x"',
        headers: [
          ['content-type', 'application/json; charset=utf-8'],
          ['etag', 'W/"5-x"'],
          ['x-request-id', 'r1'],
          ['cache-control', 'max-age=60'],
          ['date', 'Thu, 01 Jan 1970 00:00:00 GMT'],
        ],
        body: Buffer.from('{"a":1}'),
      });
      expect(decodeIndex(v2)).toEqual({ path: 'c:/a', tags: [] });
      // The same bytes as version 3 mean the usual spellings.
      const v3 = Buffer.from(v2);
      v3[0] = ENTRY_VERSION;
      expect((decodeEntry(v3) as CachedResponse).headers.map((h) => h[2] ?? h[0])).toEqual(['Content-Type', 'ETag', 'x-request-id', 'Cache-Control', 'Date']);
    });

    it('should lower-case a name a version 2 entry holds in another case (forged: the cache never wrote one)', () => {
      const forged = encodeEntry(spelled([['x-a', '1', 'X-A']]));
      forged[0] = 2;
      expect((decodeEntry(forged) as CachedResponse).headers).toEqual([['x-a', '1', 'X-A']]);
    });
  });

  describe('decodeIndex (the path and tags at the head of an entry)', () => {
    it('should read them from the first bytes of every kind, and refuse what does not decode', () => {
      const path = 'cache:v1:http:/products/42';
      const tags = ['cache:v1:http:product:42', 'cache:v1:http:catalog'];
      const kinds = [
        encodeEntry({ ...response, path, tags, body: Buffer.alloc(5000, 1) }),
        encodeEntry({ kind: 'vary', vary: ['accept'], path, tags, storedAt: 1, expiresAt: 2 }),
        encodeEntry({ kind: 'value', path, tags, ...times, body: Buffer.alloc(5000, 2) }),
      ];
      for (const bytes of kinds) {
        expect(decodeIndex(bytes)).toEqual({ path, tags });
        expect(decodeIndex(bytes.subarray(0, 200))).toEqual({ path, tags });
        expect(decodeIndex(bytes.subarray(0, 20))).toBeUndefined();
      }
      expect(decodeIndex(Buffer.from('not an entry at all'))).toBeUndefined();
      expect(decodeIndex(Buffer.alloc(0))).toBeUndefined();
    });
  });
});
