import { decodeEntry, encodeEntry, ENTRY_LIMITS, ENTRY_VERSION, type CachedResponse } from '../../src/entry';
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

/** Hand-made entry bytes: a version, a kind, JSON metadata and a body, as a foreign writer might. */
function forge(kind: number, meta: unknown, body: Buffer = Buffer.alloc(0)): Buffer {
  const json = Buffer.from(typeof meta === 'string' ? meta : JSON.stringify(meta), 'utf8');
  const head = Buffer.alloc(6);
  head[0] = ENTRY_VERSION;
  head[1] = kind;
  head.writeUInt32BE(json.length, 2);
  return Buffer.concat([head, json, body]);
}

/** The metadata encodeEntry writes for `response`, with `changes` over it. */
function responseMeta(changes: Record<string, unknown> = {}): Record<string, unknown> {
  const { kind: _kind, body, ...meta } = response;
  return { ...meta, size: body.length, ...changes };
}

describe('entry codec', () => {
  describe('when the bytes decode but hold what Node could not send', () => {
    it('should accept the forged copy of a good entry (the forge is faithful)', () => {
      expect(decodeEntry(forge(0, responseMeta(), response.body))).toEqual(response);
    });

    it.each([
      ['status 0', { status: 0 }],
      ['status 99', { status: 99 }],
      ['status 100 (a stored response is final)', { status: 100 }],
      ['status 199', { status: 199 }],
      ['status 600', { status: 600 }],
      ['status 200.5', { status: 200.5 }],
      ['status "200"', { status: '200' }],
      ['status null', { status: null }],
      ['a header value with \r\n', { headers: [['x-a', 'ok\r\nSet-Cookie: sid=evil']] }],
      ['a header value with \n', { headers: [['x-a', 'a\nb']] }],
      ['a header value with NUL', { headers: [['x-a', 'a\u0000b']] }],
      ['a header value beyond Latin-1', { headers: [['x-a', '\u2028']] }],
      ['a list value with \r', { headers: [['link', ['<a>', '<b>\r']]] }],
      ['a header name with a space', { headers: [['x a', '1']] }],
      ['a header name with a colon', { headers: [['x:a', '1']] }],
      ['an empty header name', { headers: [['', '1']] }],
      ['a header pair of three', { headers: [['x-a', '1', '2']] }],
      ['a numeric header value', { headers: [['x-a', 1]] }],
      ['an ETag with \r\n', { etag: '"x"\r\nX-Evil: 1' }],
      ['a Last-Modified with \n', { lastModified: 'Mon\n' }],
      [`more than ${ENTRY_LIMITS.headers} headers`, { headers: Array.from({ length: ENTRY_LIMITS.headers + 1 }, (_, i) => [`x-${i}`, '1']) }],
      [`a header of more than ${ENTRY_LIMITS.headerValues} values`, { headers: [['link', Array.from({ length: ENTRY_LIMITS.headerValues + 1 }, () => 'a')]] }],
      [`more than ${ENTRY_LIMITS.tags} tags`, { tags: Array.from({ length: ENTRY_LIMITS.tags + 1 }, (_, i) => `t${i}`) }],
      ['a size that says more than the body', { size: response.body.length + 1 }],
      ['a size that says less than the body', { size: response.body.length - 1 }],
      ['no size', { size: undefined }],
      ['a stale time of Infinity (JSON null)', { staleAt: null }],
      ['a fractional time', { expiresAt: 4.5 }],
      ['a negative time', { storedAt: -1 }],
      ['a time past the safe integers', { expiresAt: 2 ** 53 }],
      ['a negative origin Age', { originAge: -3 }],
    ])('should throw ERC_ENTRY_CORRUPT for %s', (_name, changes) => {
      const buf = forge(0, responseMeta(changes), response.body);
      expect(() => decodeEntry(buf)).toThrow(EntryCorruptError);
      try {
        decodeEntry(buf);
      } catch (err) {
        expect(err).toBeInstanceOf(CacheError);
        expect((err as CacheError).code).toBe('ERC_ENTRY_CORRUPT');
      }
    });

    it('should throw for a truncated body, a padded body, and a body cut off by one byte', () => {
      const good = encodeEntry(response);
      expect(() => decodeEntry(good.subarray(0, good.length - 1))).toThrow(EntryCorruptError);
      expect(() => decodeEntry(good.subarray(0, good.length - 200))).toThrow(EntryCorruptError);
      expect(() => decodeEntry(Buffer.concat([good, Buffer.from([0])]))).toThrow(EntryCorruptError);
    });

    it('should throw for a metadata length that claims 4 GiB', () => {
      const buf = encodeEntry(response);
      buf.writeUInt32BE(0xffffffff, 2);
      expect(() => decodeEntry(buf)).toThrow(EntryCorruptError);
    });

    it.each([
      ['vary names that are not tokens', { vary: ['accept language'], path: 'p', tags: [], storedAt: 1, expiresAt: 2 }, Buffer.alloc(0)],
      [
        'too many vary names',
        { vary: Array.from({ length: ENTRY_LIMITS.vary + 1 }, (_, i) => `x-${i}`), path: 'p', tags: [], storedAt: 1, expiresAt: 2 },
        Buffer.alloc(0),
      ],
      ['a vary marker with a body', { vary: ['accept'], path: 'p', tags: [], storedAt: 1, expiresAt: 2 }, Buffer.from('x')],
    ])('should throw for a vary marker with %s', (_name, meta, body) => {
      expect(() => decodeEntry(forge(1, meta, body))).toThrow(EntryCorruptError);
    });

    it('should throw for a value whose body is not the stated size', () => {
      const meta = { path: 'p', tags: [], ...times, size: 3 };
      expect(decodeEntry(forge(2, meta, Buffer.from('abc'))).kind).toBe('value');
      expect(() => decodeEntry(forge(2, meta, Buffer.from('ab')))).toThrow(EntryCorruptError);
    });

    it('should accept every status from 200 to 599 and headers Node accepts', () => {
      for (const status of [200, 204, 301, 404, 599])
        expect((decodeEntry(forge(0, responseMeta({ status }), response.body)) as CachedResponse).status).toBe(status);
      const headers = [
        ['x-tab', 'a\tb'],
        ['x-latin1', 'caf\u00e9'],
        ['x-empty', ''],
        ['set-like', ['a', 'b']],
      ];
      expect((decodeEntry(forge(0, responseMeta({ headers }), response.body)) as CachedResponse).headers).toEqual(headers);
    });
  });

  describe('when the bytes are not an entry', () => {
    it.each([
      ['empty', Buffer.alloc(0)],
      ['truncated header', Buffer.from([ENTRY_VERSION, 0, 0])],
      ['another version', Buffer.concat([Buffer.from([ENTRY_VERSION + 1]), encodeEntry(response).subarray(1)])],
      ['an unknown kind', Buffer.concat([Buffer.from([ENTRY_VERSION, 9]), encodeEntry(response).subarray(2)])],
      ['metadata longer than the buffer', Buffer.from([ENTRY_VERSION, 0, 0, 0, 1, 0, 123])],
      ['metadata that is not JSON', Buffer.concat([Buffer.from([ENTRY_VERSION, 0, 0, 0, 0, 3]), Buffer.from('{{{')])],
      ['metadata of the wrong shape', Buffer.concat([Buffer.from([ENTRY_VERSION, 0, 0, 0, 0, 2]), Buffer.from('{}')])],
      ['garbage', Buffer.from('hello world, not an entry')],
    ])('should throw EntryCorruptError for %s', (_name, buf) => {
      expect(() => decodeEntry(buf)).toThrow(EntryCorruptError);
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

    it('should keep a vary marker and a value', () => {
      const marker = { kind: 'vary' as const, vary: ['accept-language'], path: 'p', tags: [], storedAt: 1, expiresAt: 9 };
      expect(decodeEntry(encodeEntry(marker))).toEqual(marker);
      const value = { kind: 'value' as const, path: 'p', tags: [], body: Buffer.from('{"a":1}'), ...times };
      expect(decodeEntry(encodeEntry(value))).toEqual(value);
    });

    it('should keep an empty body', () => {
      const empty = { ...response, status: 204, body: Buffer.alloc(0) };
      expect(decodeEntry(encodeEntry(empty)).kind).toBe('response');
      expect((decodeEntry(encodeEntry(empty)) as CachedResponse).body.length).toBe(0);
    });
  });
});
