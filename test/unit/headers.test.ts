import type { StoredHeader } from '../../src/entry';
import { conditionalHeadersFor, freshenHeaders, httpDate, MAX_HEADER_TAGS, mergeVary, responseTags, storableHeaders } from '../../src/headers';

describe('headers', () => {
  describe('httpDate (RFC 9110 §5.6.7)', () => {
    it('should give what Date#toUTCString gives, within a second and across seconds', () => {
      const base = Date.UTC(2030, 0, 1, 12, 0, 0);
      for (const ms of [base, base + 1, base + 999, base + 1000, base - 1, base + 86_400_000, 0, base + 500, base]) {
        expect(httpDate(ms)).toBe(new Date(ms).toUTCString());
      }
    });
  });

  describe('freshenHeaders (RFC 9111 §4.3.4, §3.2)', () => {
    const stored: Array<[string, string | string[]]> = [
      ['content-type', 'text/html; charset=utf-8'],
      ['cache-control', 'max-age=60'],
      ['etag', '"v1"'],
      ['date', 'Tue, 01 Jan 2030 12:00:00 GMT'],
      ['content-encoding', 'gzip'],
      ['x-version', '1'],
      ['link', ['</a.css>; rel=preload', '</b.js>; rel=preload']],
    ];

    it.each<[string, Record<string, number | string | string[] | undefined>, Array<[string, string | string[]]>]>([
      [
        'replaces what the 304 carries, keeps the rest in order',
        { 'cache-control': 'max-age=120', date: 'Tue, 01 Jan 2030 12:05:00 GMT', 'x-version': '2' },
        [
          ['content-type', 'text/html; charset=utf-8'],
          ['cache-control', 'max-age=120'],
          ['etag', '"v1"'],
          ['date', 'Tue, 01 Jan 2030 12:05:00 GMT'],
          ['content-encoding', 'gzip'],
          ['x-version', '2'],
          ['link', ['</a.css>; rel=preload', '</b.js>; rel=preload']],
        ],
      ],
      ['adds new fields last', { expires: 'Tue, 01 Jan 2030 13:00:00 GMT' }, [...stored, ['expires', 'Tue, 01 Jan 2030 13:00:00 GMT']]],
      ['replaces every instance of a list field', { link: '</c.css>; rel=preload' }, [...stored.slice(0, 6), ['link', '</c.css>; rel=preload']]],
      [
        'never takes Content-Length, Content-Encoding, Content-Range, Set-Cookie, hop-by-hop or Age',
        {
          'content-length': '0',
          'content-encoding': 'br',
          'content-range': 'bytes 0-1/2',
          'set-cookie': ['sid=1'],
          connection: 'close',
          'keep-alive': 'timeout=5',
          'transfer-encoding': 'chunked',
          age: '30',
          'proxy-x': 'y',
        },
        stored,
      ],
      ["never takes the cache's own diagnostic headers", { 'x-cache': 'MISS', 'cache-status': 'app; fwd=stale; fwd-status=304' }, stored],
      ['numbers as strings', { 'x-version': 3 }, [...stored.slice(0, 5), ['x-version', '3'], stored[6]]],
      ['an empty 304 changes nothing', {}, stored],
    ])('%s', (_name, from304, expected) => {
      expect(freshenHeaders(stored, from304, 'X-Cache')).toEqual(expected);
    });

    it("should keep the stored spellings, and take the 304's for what it replaces or adds (issue 23)", () => {
      const spelled: StoredHeader[] = [
        ['content-type', 'text/html; charset=utf-8', 'Content-Type'],
        ['cache-control', 'max-age=60', 'Cache-Control'],
        ['x-version', '1', 'X-Version'],
        ['etag', '"v1"'],
      ];
      const from304 = { 'cache-control': 'max-age=120', 'x-version': '2', expires: 'Tue, 01 Jan 2030 13:00:00 GMT' };
      expect(freshenHeaders(spelled, from304, 'X-Cache', ['cache-control', 'X-VERSION', 'Expires'])).toEqual([
        ['content-type', 'text/html; charset=utf-8', 'Content-Type'],
        ['cache-control', 'max-age=120'],
        ['x-version', '2', 'X-VERSION'],
        ['etag', '"v1"'],
        ['expires', 'Tue, 01 Jan 2030 13:00:00 GMT', 'Expires'],
      ]);
    });

    it('should not change the stored list', () => {
      const copy = JSON.parse(JSON.stringify(stored));
      freshenHeaders(stored, { 'x-version': '9', link: 'x' });
      expect(stored).toEqual(copy);
    });
  });

  describe('conditionalHeadersFor (RFC 9111 §4.3.1)', () => {
    it.each([
      [
        { etag: '"v1"', lastModified: 'Tue, 01 Jan 2030 00:00:00 GMT' },
        { 'if-none-match': '"v1"', 'if-modified-since': 'Tue, 01 Jan 2030 00:00:00 GMT' },
      ],
      [{ etag: 'W/"v1"', lastModified: undefined }, { 'if-none-match': 'W/"v1"' }],
      [{ etag: '', lastModified: 'Tue, 01 Jan 2030 00:00:00 GMT' }, { 'if-modified-since': 'Tue, 01 Jan 2030 00:00:00 GMT' }],
    ])('%j -> %j', (entry, expected) => {
      expect(conditionalHeadersFor(entry)).toEqual(expected);
    });
  });

  describe('responseTags', () => {
    it.each<[string, Record<string, number | string | string[] | undefined>, string | false, string[]]>([
      ['a comma list, trimmed', { 'cache-tag': ' product:1 ,catalog' }, 'Cache-Tag', ['product:1', 'catalog']],
      ['empties and duplicates dropped', { 'cache-tag': 'a,, ,a,b,' }, 'cache-tag', ['a', 'b']],
      ['several header lines', { 'cache-tag': ['a, b', 'c'] }, 'cache-tag', ['a', 'b', 'c']],
      ['another header name', { 'surrogate-key': 'x' }, 'Surrogate-Key', ['x']],
      ['no header', {}, 'cache-tag', []],
      ['turned off', { 'cache-tag': 'a' }, false, []],
      ['a tag over 256 characters dropped', { 'cache-tag': `${'x'.repeat(257)}, ok` }, 'cache-tag', ['ok']],
    ])('%s', (_name, headers, name, expected) => {
      expect(responseTags(headers, name)).toEqual(expected);
    });

    it(`should keep at most ${MAX_HEADER_TAGS} tags`, () => {
      const many = Array.from({ length: 500 }, (_, i) => `t${i}`).join(',');
      expect(responseTags({ 'cache-tag': many }, 'cache-tag')).toHaveLength(MAX_HEADER_TAGS);
    });
  });

  describe('storableHeaders', () => {
    it('should spell each name as set, lower-case when it was or when no spelling is given', () => {
      const headers = { 'content-type': 'text/plain', etag: '"e"', 'x-id': 7, connection: 'close', 'x-cache': 'MISS' };
      expect(storableHeaders(headers, 'X-Cache', ['Content-Type', 'ETag', 'x-id', 'Connection', 'X-Cache'])).toEqual([
        ['content-type', 'text/plain', 'Content-Type'],
        ['etag', '"e"', 'ETag'],
        ['x-id', '7'],
      ]);
      expect(storableHeaders(headers, 'X-Cache')).toEqual([
        ['content-type', 'text/plain'],
        ['etag', '"e"'],
        ['x-id', '7'],
      ]);
    });
  });

  describe('mergeVary (RFC 9110 §12.5.5)', () => {
    it.each<[string | string[] | undefined, string[], string | undefined]>([
      [undefined, ['x-tenant'], 'X-Tenant'],
      ['Accept-Encoding', ['x-tenant', 'accept-language'], 'Accept-Encoding, X-Tenant, Accept-Language'],
      ['accept-encoding, X-Tenant', ['x-tenant'], undefined],
      [['Accept-Encoding', 'Origin'], ['x-tenant'], 'Accept-Encoding, Origin, X-Tenant'],
      ['*', ['x-tenant'], undefined],
      ['Accept', [], undefined],
    ])('%j + %j -> %j', (existing, names, expected) => {
      expect(mergeVary(existing, names)).toBe(expected);
    });

    it("should write the names as the option spelled them when told (the vary option's spelling)", () => {
      expect(mergeVary('Accept-Encoding', ['dnt', 'x-tenant'], ['DNT', 'x-TENANT'])).toBe('Accept-Encoding, DNT, x-TENANT');
      expect(mergeVary('dnt', ['dnt', 'x-tenant'], ['DNT', 'X-Tenant'])).toBe('dnt, X-Tenant');
    });
  });
});
