import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULTS, resolveOptions } from '../../src/options';

describe('options', () => {
  describe('when an option is invalid', () => {
    it.each([
      [{ ttl: -5 }, "createCache: ttl must be a positive number of seconds (ttl: 300) or a duration string ('5 minutes'), got -5"],
      [{ ttl: 0 }, 'ttl must be a positive number'],
      [{ ttl: '60' }, 'ttl must be a positive number'],
      [{ maxTtl: NaN }, 'maxTtl'],
      [{ jitter: 1 }, 'jitter'],
      [{ jitter: -0.1 }, 'jitter'],
      [{ staleWhileRevalidate: -1 }, 'staleWhileRevalidate'],
      [{ staleIfError: Infinity }, 'staleIfError'],
      [{ methods: [] }, 'methods'],
      [{ methods: ['GE T'] }, 'methods'],
      [{ statuses: [304] }, 'statuses'],
      [{ statuses: [200, 99] }, 'statuses'],
      [{ vary: ['bad header'] }, 'vary'],
      [{ vary: 'accept' }, 'vary'],
      [{ query: { bad: [] } }, 'query'],
      [{ query: { ignore: [], only: [] } }, 'query'],
      [{ key: 'x' }, 'key must be a function'],
      [{ tags: 'x' }, 'tags must be an array of non-empty strings or a function'],
      [{ tags: ['a', ''] }, 'tags must be an array of non-empty strings or a function'],
      [{ freshness: 'headers' }, "freshness must be 'response' or 'ttl'"],
      [{ tagHeader: 'Cache Tag' }, 'tagHeader must be a header name or false'],
      [{ tagHeader: true }, 'tagHeader must be a header name or false'],
      [{ headers: { cacheStatus: '' } }, 'headers.cacheStatus'],
      [{ headers: { cacheStatus: 'caché' } }, 'headers.cacheStatus'],
      [{ headers: { cacheStatus: true } }, 'headers.cacheStatus'],
      [{ maxEntryBytes: 1.5 }, 'maxEntryBytes'],
      [{ storeTimeout: 0 }, 'storeTimeout'],
      [{ whenStoreDown: 'crash' }, 'whenStoreDown'],
      [{ whenStoreEvicts: 'ignore' }, 'whenStoreEvicts'],
      [{ whenStoreEvicts: true }, 'whenStoreEvicts'],
      [{ failoverTimeout: -1 }, 'failoverTimeout'],
      [{ failoverTimeout: 'soon' }, 'failoverTimeout'],
      [{ failoverTimeout: Infinity }, 'failoverTimeout'],
      [{ coalesce: { timeout: -1 } }, 'coalesce'],
      [{ headers: { xCache: 'X Cache' } }, 'headers.xCache'],
      [{ headers: { nope: true } }, 'headers'],
      [{ namespace: 'a:b' }, 'namespace'],
      [{ version: '' }, 'version'],
      [{ prefix: 'a b' }, 'prefix'],
      [{ invalidateUnsafe: 'yes' }, 'invalidateUnsafe'],
      [{ shareAuthorized: 1 }, 'shareAuthorized'],
      [{ tiered: 'yes' }, 'tiered'],
      [{ storeErrors: true }, 'storeErrors'],
      [{ storeErrors: 'always' }, 'storeErrors'],
      [{ ttL: 5 }, 'unknown option "ttL"'],
    ])('%j throws a TypeError naming it', (input, message) => {
      expect(() => resolveOptions(input as never)).toThrow(TypeError);
      expect(() => resolveOptions(input as never)).toThrow(message);
    });

    it('should refuse store, redis and tiered per route', () => {
      const base = resolveOptions({});
      expect(() => resolveOptions({ redis: 'redis://x' }, base, 'cache.middleware')).toThrow('cache.middleware: redis can only be set in createCache()');
      expect(() => resolveOptions({ failoverTimeout: 5 }, base, 'cache.middleware')).toThrow(
        'cache.middleware: failoverTimeout can only be set in createCache()',
      );
    });
  });

  describe('when options are valid', () => {
    it('should resolve the defaults', () => {
      const o = resolveOptions(undefined);
      expect(o.keyPrefix).toBe('cache:v1:http:');
      expect(o.ttl).toBe(60);
      expect([...o.methods]).toEqual(['GET', 'HEAD']);
      expect([...o.statuses]).toEqual([200, 203, 204]);
      expect(o.coalesce).toEqual({ timeout: DEFAULTS.coalesceTimeout });
      expect(o.xCache).toBe('X-Cache');
      expect([o.freshness, o.tagHeader, o.cacheStatus]).toEqual(['response', 'cache-tag', false]);
      expect(Object.isFrozen(DEFAULTS)).toBe(true);
    });

    it('should merge per-route overrides over the base', () => {
      const base = resolveOptions({ ttl: 300, namespace: 'shop', vary: ['Accept-Language'] });
      const route = resolveOptions({ ttl: 900 }, base, 'cache.middleware');
      expect(route.ttl).toBe(900);
      expect(route.namespace).toBe('shop');
      expect(route.vary).toEqual(['accept-language']);
      expect(route.varySpelled).toEqual(['Accept-Language']);
    });

    it("should keep the vary option's spelling beside its lower-case, sorted names (the first of a name's spellings)", () => {
      const o = resolveOptions({ vary: ['X-Tenant', 'DNT', 'x-tenant', 'accept-language'] });
      expect(o.vary).toEqual(['accept-language', 'dnt', 'x-tenant']);
      expect(o.varySpelled).toEqual(['accept-language', 'DNT', 'X-Tenant']);
    });

    it('should take tags as a plain array, and turn the tag header off', () => {
      const o = resolveOptions({ tags: ['catalog', 'home'], tagHeader: false });
      expect(o.tags?.({}, {})).toEqual(['catalog', 'home']);
      expect(o.tagHeader).toBe(false);
      expect(resolveOptions({ tagHeader: 'Surrogate-Key' }).tagHeader).toBe('surrogate-key');
    });

    it('should name the cache in Cache-Status only when asked', () => {
      expect(resolveOptions({ headers: { cacheStatus: 'shop-api' } }).cacheStatus).toBe('shop-api');
      expect(resolveOptions({ headers: { cacheStatus: 'shop-api' } })).toMatchObject({ xCache: 'X-Cache', age: true });
      expect(resolveOptions({ headers: false }).cacheStatus).toBe(false);
    });

    it('should turn headers off', () => {
      const o = resolveOptions({ headers: false });
      expect(o.xCache).toBe(false);
      expect(o.age).toBe(false);
    });
  });

  describe('the options reference (docs/options.md)', () => {
    // bentocache's docs drifted from its code; this keeps ours honest.
    it('should state the defaults DEFAULTS holds', () => {
      const readme = fs.readFileSync(path.join(__dirname, '../../docs/options.md'), 'utf8');
      const stated = (name: string): string | undefined => {
        const m = readme.match(new RegExp('^#### `' + name + '`[^\\n]*\\n+Default: `([^`]*)`', 'm'));
        return m?.[1];
      };
      expect(stated('namespace')).toBe(`'${DEFAULTS.namespace}'`);
      expect(stated('version')).toBe(`'${DEFAULTS.version}'`);
      expect(stated('prefix')).toBe(`'${DEFAULTS.prefix}'`);
      expect(stated('ttl')).toBe(String(DEFAULTS.ttl));
      expect(stated('jitter')).toBe(String(DEFAULTS.jitter));
      expect(stated('staleWhileRevalidate')).toBe(String(DEFAULTS.staleWhileRevalidate));
      expect(stated('staleIfError')).toBe(String(DEFAULTS.staleIfError));
      expect(stated('methods')).toBe(JSON.stringify(DEFAULTS.methods).replace(/"/g, "'").replace(/,/g, ', '));
      expect(stated('statuses')).toBe(JSON.stringify(DEFAULTS.statuses).replace(/,/g, ', '));
      expect(stated('maxEntryBytes')).toBe(String(DEFAULTS.maxEntryBytes));
      expect(stated('storeTimeout')).toBe(String(DEFAULTS.storeTimeout));
      expect(stated('whenStoreDown')).toBe(`'${DEFAULTS.whenStoreDown}'`);
      expect(stated('fallbackTtl')).toBe(String(DEFAULTS.fallbackTtl));
      expect(stated('whenStoreEvicts')).toBe(`'${DEFAULTS.whenStoreEvicts}'`);
      expect(stated('failoverTimeout')).toBe(String(DEFAULTS.failoverTimeout));
      expect(stated('coalesce')).toBe(String(DEFAULTS.coalesce));
      expect(stated('invalidateUnsafe')).toBe(String(DEFAULTS.invalidateUnsafe));
      expect(stated('shareAuthorized')).toBe(String(DEFAULTS.shareAuthorized));
      expect(stated('tiered')).toBe(String(DEFAULTS.tiered));
      expect(stated('host')).toBe(String(DEFAULTS.host));
      expect(stated('headers')).toBe(`{ xCache: '${DEFAULTS.headers.xCache}', age: ${DEFAULTS.headers.age}, cacheStatus: ${DEFAULTS.headers.cacheStatus} }`);
      expect(stated('freshness')).toBe(`'${DEFAULTS.freshness}'`);
      expect(stated('tagHeader')).toBe(`'${DEFAULTS.tagHeader}'`);
      expect(stated('storeErrors')).toBe(String(DEFAULTS.storeErrors));
      expect(stated('targetedField')).toBe(String(DEFAULTS.targetedField));
      expect(stated('forwardTargetedField')).toBe(String(DEFAULTS.forwardTargetedField));
    });
  });
});
