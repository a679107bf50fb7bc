import {
  baseName,
  buildCacheKey,
  canonicalQuery,
  compileNameFilter,
  customKey,
  indexPath,
  keyHost,
  keyScheme,
  normalizePath,
  shortenKey,
  variantKey,
  MAX_KEY_BYTES,
} from '../../src/key';

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

    it.each([
      ['a port', 'shop.example:8080', 'shop.example%3A8080'],
      ['an IPv6 literal', '[::1]', '%5B%3A%3A1%5D'],
      ['separators', 'a:b|c?d#e/f', 'a%3Ab%7Cc%3Fd%23e%2Ff'],
      ['a lone %', 'a%zz', 'a%25zz'],
      ['sub-delims', "a!'()*b", 'a%21%27%28%29%2Ab'],
      ['upper case', 'Shop.EXAMPLE', 'shop.example'],
      ['a lone surrogate', 'a\uD800', 'a%EF%BF%BD'],
    ])('should encode a host with %s so that it holds no separator', (_name, host, expected) => {
      expect(keyHost(host)).toBe(expected);
    });

    it('should key no host apart from every real host, and host: false apart from both', () => {
      const none = buildCacheKey({ method: 'GET', host: null, path: '/a' });
      const empty = buildCacheKey({ method: 'GET', host: '', path: '/a' });
      const off = buildCacheKey({ method: 'GET', path: '/a' });
      expect(none).toBe('cache:v1:http:GET:http:///a');
      expect(empty).toBe(none);
      expect(off).toBe('cache:v1:http:GET:/a');
      expect(buildCacheKey({ method: 'GET', host: 'a', path: '/a' })).toBe('cache:v1:http:GET:http://a/a');
    });

    it('should mark a path that does not start with / so it cannot pose as a scheme and host', () => {
      const relative = buildCacheKey({ method: 'GET', path: 'http://shop.example/a' });
      const hosted = buildCacheKey({ method: 'GET', host: 'shop.example', path: '/a' });
      expect(relative).toBe('cache:v1:http:GET:*http://shop.example/a');
      expect(relative).not.toBe(hosted);
      expect(buildCacheKey({ method: 'GET', path: 'http://_x/y' })).not.toBe(buildCacheKey({ method: 'GET', host: '_x', path: '/y' }));
    });

    it.each([
      ['a hostile X-Forwarded-Proto', 'javascript:alert(1)//', 'javascript%3Aalert%281%29%2F%2F'],
      ['upper case', 'HTTPS', 'https'],
      ['an escape', 'a%3A', 'a%253a'],
      ['the usual', 'https', 'https'],
    ])('should encode a scheme with %s so that it holds no separator', (_name, scheme, expected) => {
      expect(keyScheme(scheme)).toBe(expected);
      expect(buildCacheKey({ method: 'GET', scheme, host: 'a', path: '/p' })).toBe(`cache:v1:http:GET:${expected}://a/p`);
    });

    it('should key http and https apart, and leave the scheme out with the host (host: false)', () => {
      const http = buildCacheKey({ method: 'GET', host: 'a', path: '/p' });
      expect(http).toBe(buildCacheKey({ method: 'GET', scheme: 'http', host: 'a', path: '/p' }));
      expect(http).not.toBe(buildCacheKey({ method: 'GET', scheme: 'https', host: 'a', path: '/p' }));
      expect(buildCacheKey({ method: 'GET', scheme: 'https', path: '/p' })).toBe('cache:v1:http:GET:/p');
    });

    it.each([
      ['hex case', '/a%2fb', '/a%2Fb'],
      ['a raw character and its escape', '/a|b', '/a%7Cb'],
      ['raw markup and its escapes', '/x"><svg>', '/x%22%3E%3Csvg%3E'],
      ['a lone % and its escape', '/a%zz', '/a%25zz'],
      ['an escaped % and a marked path', '/a%25', '/a|'],
    ])('should key paths Express sees apart apart: %s', (_name, a, b) => {
      expect(buildCacheKey({ method: 'GET', path: a })).not.toBe(buildCacheKey({ method: 'GET', path: b }));
    });

    it.each(['x', 'GET:/a', 'a#b', 'a|v|b', 'q?x=1', '%41', '50%', '\uD800'])(
      'should encode the custom key %j so that no output meets another or a built key',
      (out) => {
        const key = customKey('cache:v1:http:', out);
        expect(key).toBe('cache:v1:http:k:' + encodeURIComponent(out.replace(/\uD800/, '\uFFFD')));
        expect(key.slice('cache:v1:http:k:'.length)).not.toMatch(/[:|?#]/);
      },
    );

    it("should not let a custom output equal a long output's hashed key", () => {
      const long = customKey('cache:v1:http:', 'a'.repeat(300));
      expect(long).toMatch(/#[A-Za-z0-9_-]{32}$/);
      expect(customKey('cache:v1:http:', long.slice('cache:v1:http:k:'.length))).not.toBe(long);
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
      ['hex case in the path is kept, as req.path keeps it', { method: 'GET', path: '/a%2fb' }, 'cache:v1:http:GET:/a%2fb'],
      ['a path outside pchar is marked and spelled injectively', { method: 'GET', path: '/a|b%7C' }, 'cache:v1:http:GET:*/a%7Cb%257C'],
      ['a base name keeps its order (qs merges by it)', { method: 'GET', path: '/a', query: 'a[]=1&b=0&a=2' }, 'cache:v1:http:GET:/a?a%5B%5D=1&a=2&b=0'],
      [
        'a part qs splits at "]=" keeps its raw value and the order',
        { method: 'GET', path: '/a', query: 'b=1&a[b=c]=d' },
        'cache:v1:http:GET:/a?b=1&a%5Bb=%%c%5D%3Dd',
      ],
      ['scheme and host', { method: 'GET', scheme: 'https', host: 'Shop.example', path: '/a' }, 'cache:v1:http:GET:https://shop.example/a'],
      [
        'vary headers, absent and empty apart',
        { method: 'GET', path: '/a', vary: ['accept-language', 'x-empty', 'x-none'], headers: { 'accept-language': ' fr ', 'x-empty': '' } },
        'cache:v1:http:GET:/a|accept-language=fr&x-empty=&x-none',
      ],
      ['custom prefix', { keyPrefix: 'p:v2:ns:', method: 'GET', path: '/' }, 'p:v2:ns:GET:/'],
    ])('%s', (_name, parts, expected) => {
      expect(buildCacheKey(parts as Parameters<typeof buildCacheKey>[0])).toBe(expected);
    });

    it('should filter query names with only / ignore and * suffixes', () => {
      expect(canonicalQuery('utm_source=x&page=2&utm_medium=y', compileNameFilter({ ignore: ['utm_*'] }))).toBe('page=2');
      expect(canonicalQuery('utm_source=x&page=2&sort=asc', compileNameFilter({ only: ['page'] }))).toBe('page=2');
    });

    it.each([
      ['page[]', 'page'],
      ['page[0]', 'page'],
      ['page[x]', 'page'],
      ['page[a][b]', 'page'],
      ['[page]', 'page'],
      ['[page][x]', 'page'],
      ['page', 'page'],
      ['page]', 'page]'],
      ['pa]ge[x]', 'pa]ge'],
      ['[]', ''],
    ])('should read %s as qs does: %s', (name, base) => {
      expect(baseName(name)).toBe(base);
    });

    it.each([
      ['page[x=1&sort=a', 'page%5Bx=1'],
      ['page[[x]]=1', 'page%5B%5Bx%5D%5D=1'],
      ['page%zz=1&b=2', '%%page%25zz=1'],
    ])('should keep %s, a name qs versions read apart, whatever the filter', (query, kept) => {
      for (const option of [{ only: ['sort'] }, { ignore: ['page'] }]) expect(canonicalQuery(query, compileNameFilter(option))).toContain(kept);
    });

    it('should key a query past 1000 parameters as sent (the parsers drop the rest)', () => {
      const many = Array.from({ length: 1001 }, (_, i) => `p${i}=1`).join('&');
      expect(canonicalQuery(many)).toBe('&' + encodeURIComponent(many));
      expect(canonicalQuery('&'.repeat(1000) + 'a=1')).not.toBe(canonicalQuery('a=1'));
    });

    it('should match only / ignore by base name as well as by name', () => {
      const only = compileNameFilter({ only: ['page', 'utm_*'] });
      expect(['page', 'page[]', 'page[0]', '[page]', 'utm_x[y]', 'page[', 'pages', 'x[page]'].map(only)).toEqual([
        true,
        true,
        true,
        true,
        true,
        false,
        false,
        false,
      ]);
      const ignore = compileNameFilter({ ignore: ['page'] });
      expect(['page', 'page[]', 'page[a][b]', 'sort', 'sort[page]'].map(ignore)).toEqual([false, false, false, true, true]);
    });

    it('should build variant keys from the response Vary names', () => {
      expect(variantKey('k', ['accept-language'], { 'accept-language': 'de' })).toBe('k|v|accept-language=de');
      expect(variantKey('k', ['accept-language'], { 'accept-language': 'de' })).not.toBe(variantKey('k', ['accept-language'], { 'accept-language': 'fr' }));
    });

    it('should leave short keys alone', () => {
      expect(shortenKey('short')).toBe('short');
    });
  });

  describe('when normalising paths', () => {
    it('should decode unreserved escapes for invalidation only (RFC 3986 §6.2.2.2), never in keys', () => {
      expect(normalizePath('/products/%34%32')).toBe('/products/42');
      expect(normalizePath('/%7e%2D')).toBe('/~-');
      expect(buildCacheKey({ method: 'GET', path: '/products/%34%32' })).toBe('cache:v1:http:GET:/products/%34%32');
      expect(buildCacheKey({ method: 'GET', path: '/products/%34%32' })).not.toBe(buildCacheKey({ method: 'GET', path: '/products/42' }));
    });
  });

  describe('when indexing paths for invalidation', () => {
    it.each([
      ['/products/', '/products'],
      ['/Products', '/products'],
      ['/', '/'],
      ['/a%2fb', '/a%2fb'],
      ['/products/%34%32', '/products/42'],
      ['/%41%5a%61%7a%30%39%2d%2e%5f%7e', '/azaz09-._~'],
      ['/a%2F%3A%25%20', '/a%2f%3a%25%20'],
      ['/a%zz', '/a%zz'],
      ['/caf%C3%A9', '/caf%c3%a9'],
    ])('%s -> %s', (path, expected) => {
      expect(indexPath(path)).toBe(expected);
    });
  });
});
