import { buildCacheKey, canonicalQuery, compileNameFilter, indexPath, normalizePath, shortenKey, variantKey, MAX_KEY_BYTES } from '../../src/key';

describe('key', () => {
  describe('when the input is hostile', () => {
    it.each([
      ['a query name cannot fake a second parameter', 'a%26b%3D1=2', 'a=1&b=2'],
      ['an encoded "|" in a value cannot fake the vary part', 'a=x%7Caccept=fr', 'a=x'],
      ['"__proto__" is an ordinary name', '__proto__=1', 'constructor=1'],
      ['glob characters are ordinary', 'a*=1', 'a?=1'],
    ])('%s', (_name, q1, q2) => {
      expect(buildCacheKey({ method: 'GET', path: '/x', query: q1 })).not.toBe(buildCacheKey({ method: 'GET', path: '/x', query: q2 }));
    });

    it('should keep malformed escapes as sent, marked, instead of throwing', () => {
      expect(canonicalQuery('a=%zz&b=%E0%A4%A')).toBe('a=%%%25zz&b=%%%25E0%25A4%25A');
      // a valid spelling of the same characters is another value to every query parser
      expect(canonicalQuery('a=%zz%41')).not.toBe(canonicalQuery('a=%25zz%2541'));
    });

    it('should percent-encode separators and spaces in a path', () => {
      expect(normalizePath('/a|b c?')).toBe('/a%7Cb%20c%3F');
      expect(normalizePath('/caf\u00e9')).toBe('/caf%C3%A9');
      expect(normalizePath('/x\uD800')).toBe('/x%EF%BF%BD');
    });

    it('should not let a path reach another namespace', () => {
      const key = buildCacheKey({ keyPrefix: 'cache:v1:shop:', method: 'GET', path: '/../../cache:v1:admin:GET:/x' });
      expect(key.startsWith('cache:v1:shop:GET:/')).toBe(true);
    });

    it('should hash a 10 kB query into a short key', () => {
      const key = buildCacheKey({ method: 'GET', path: '/search', query: 'q=' + 'x'.repeat(10_000) });
      expect(Buffer.byteLength(key)).toBeLessThanOrEqual(MAX_KEY_BYTES);
      expect(key.startsWith('cache:v1:http:GET:/search?q=xxx')).toBe(true);
      expect(key).not.toBe(buildCacheKey({ method: 'GET', path: '/search', query: 'q=' + 'x'.repeat(10_001) }));
    });
  });

  describe('when building keys', () => {
    it.each([
      ['HEAD shares GET', { method: 'HEAD', path: '/a' }, 'cache:v1:http:GET:/a'],
      ['query sorted by name', { method: 'GET', path: '/a', query: 'b=2&a=1' }, 'cache:v1:http:GET:/a?a=1&b=2'],
      ['values of one name keep their order', { method: 'GET', path: '/a', query: 'a=2&b=1&a=1' }, 'cache:v1:http:GET:/a?a=2&a=1&b=1'],
      ['"a" and "a=" are one parameter', { method: 'GET', path: '/a', query: 'a' }, 'cache:v1:http:GET:/a?a='],
      ['"+" and "%20" are one value', { method: 'GET', path: '/a', query: 'q=a+b' }, 'cache:v1:http:GET:/a?q=a%20b'],
      ['empty query parts are dropped', { method: 'GET', path: '/a', query: '&&' }, 'cache:v1:http:GET:/a'],
      ['hex case in the path is normalised', { method: 'GET', path: '/a%2fb' }, 'cache:v1:http:GET:/a%2Fb'],
      ['vary headers, absent and empty apart', { method: 'GET', path: '/a', vary: ['accept-language', 'x-empty', 'x-none'], headers: { 'accept-language': ' fr ', 'x-empty': '' } },
        'cache:v1:http:GET:/a|accept-language=fr&x-empty=&x-none'],
      ['custom prefix', { keyPrefix: 'p:v2:ns:', method: 'GET', path: '/' }, 'p:v2:ns:GET:/'],
    ])('%s', (_name, parts, expected) => {
      expect(buildCacheKey(parts as Parameters<typeof buildCacheKey>[0])).toBe(expected);
    });

    it('should filter query names with only / ignore and * suffixes', () => {
      expect(canonicalQuery('utm_source=x&page=2&utm_medium=y', compileNameFilter({ ignore: ['utm_*'] }))).toBe('page=2');
      expect(canonicalQuery('utm_source=x&page=2&sort=asc', compileNameFilter({ only: ['page'] }))).toBe('page=2');
    });

    it('should build variant keys from the response Vary names', () => {
      expect(variantKey('k', ['accept-language'], { 'accept-language': 'de' })).toBe('k|v|accept-language=de');
      expect(variantKey('k', ['accept-language'], { 'accept-language': 'de' })).not.toBe(variantKey('k', ['accept-language'], { 'accept-language': 'fr' }));
    });

    it('should leave short keys alone', () => {
      expect(shortenKey('short')).toBe('short');
    });
  });

  describe('when indexing paths for invalidation', () => {
    it.each([
      ['/products/', '/products'],
      ['/Products', '/products'],
      ['/', '/'],
      ['/a%2fb', '/a%2fb'],
    ])('%s -> %s', (path, expected) => {
      expect(indexPath(path)).toBe(expected);
    });
  });
});
