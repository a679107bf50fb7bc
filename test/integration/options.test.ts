/**
 * Options are checked where they are given, at createCache() and cache.middleware(),
 * never at request time: a bad option is a TypeError naming it, before any request.
 */

import { engineOf } from '../../src/cache';
import request from 'supertest';
import { cacheResponses, createCache, buildCacheKey, ttlWithJitter } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, serve, track } from '../helpers/http';

closeAfterEach();

const BAD: ReadonlyArray<readonly [string, Record<string, unknown>, RegExp]> = [
  ['ttl: -5', { ttl: -5 }, /^createCache: ttl must be a positive number of seconds \(ttl: 300\) or a duration string \('5 minutes'\), got -5$/],
  [
    'ttl: "60" (no unit: seconds or ms?)',
    { ttl: '60' },
    /^createCache: ttl must be a positive number of seconds \(ttl: 300\) or a duration string with a unit \('5 minutes', '1h'\), got "60"$/,
  ],
  ['ttl: "-5m"', { ttl: '-5m' }, /ttl must be a positive number of seconds/],
  ['staleIfError: "soon"', { staleIfError: 'soon' }, /staleIfError must be a positive number of seconds .* or a duration string/],
  ['ttl: 0', { ttl: 0 }, /ttl must be/],
  ['ttl: NaN', { ttl: Number.NaN }, /ttl must be/],
  ['maxTtl: "1 fortnight"', { maxTtl: '1 fortnight' }, /maxTtl must be/],
  ['jitter: 2', { jitter: 2 }, /^createCache: jitter must be a number from 0 up to \(not including\) 1, got 2$/],
  ['jitter: -0.1', { jitter: -0.1 }, /jitter must be/],
  ['methods: []', { methods: [] }, /^createCache: methods must be a non-empty array of 'GET' and 'HEAD', got \[\]$/],
  ['methods: ["POST"] (the body is not in the key)', { methods: ['POST'] }, /methods must be/],
  ['methods: ["GE T"]', { methods: ['GE T'] }, /methods must be/],
  ['statuses: [304]', { statuses: [304] }, /^createCache: statuses must be .*never 206 or 304.*, got \[304\]$/],
  ['statuses: [206] (a part replayed to a whole request)', { statuses: [206] }, /^createCache: statuses must be .*never 206 or 304.*, got \[206\]$/],
  ['statuses: [99]', { statuses: [99] }, /statuses must be/],
  ['query: { bad: 1 }', { query: { bad: 1 } }, /^createCache: query must be \{ ignore: \[names\] \} or \{ only: \[names\] \}, got \{"bad":1\}$/],
  ['query: { ignore: "utm" }', { query: { ignore: 'utm' } }, /query must be/],
  ['vary: ["Accept Language"]', { vary: ['Accept Language'] }, /vary must be/],
  ['unknown option "tll"', { tll: 60 }, /^createCache: unknown option "tll"$/],
  ['namespace: "a:b"', { namespace: 'a:b' }, /namespace must be/],
  ['maxEntryBytes: -1', { maxEntryBytes: -1 }, /maxEntryBytes must be/],
  ['storeTimeout: 0', { storeTimeout: 0 }, /storeTimeout must be/],
  ['coalesce: { timeout: 0 }', { coalesce: { timeout: 0 } }, /coalesce must be/],
  ['headers: { xCache: "X Cache" }', { headers: { xCache: 'X Cache' } }, /headers\.xCache must be/],
  ['headers: { etag: true }', { headers: { etag: true } }, /headers must be/],
  ['key: "fixed"', { key: 'fixed' }, /key must be a function/],
  ['bypass: true', { bypass: true }, /bypass must be a function/],
  ['shareAuthorized: "yes"', { shareAuthorized: 'yes' }, /shareAuthorized must be true or false/],
  ['invalidateUnsafe: 1', { invalidateUnsafe: 1 }, /invalidateUnsafe must be true or false/],
];

forEachExpress((express) => {
  describe('when createCache() is given an invalid option', () => {
    it.each(BAD)('should throw a TypeError naming it (%s)', (_name, options, message) => {
      expect(() => createCache(options as never)).toThrow(TypeError);
      expect(() => createCache(options as never)).toThrow(message);
    });

    it('should throw from cacheResponses() the same way', () => {
      expect(() => cacheResponses({ ttl: -5 })).toThrow(
        /^createCache: ttl must be a positive number of seconds \(ttl: 300\) or a duration string \('5 minutes'\), got -5$/,
      );
    });

    it('should throw when options is not an object', () => {
      expect(() => createCache('60' as never)).toThrow(/^createCache: options must be an object, got "60"; for a TTL, write createCache\(\{ ttl: 60 \}\)$/);
      // The one-liner names itself and shows the fix (issue 23).
      expect(() => cacheResponses('5 minutes' as never)).toThrow(
        new TypeError(`cacheResponses: options must be an object, got "5 minutes"; for a TTL, write cacheResponses({ ttl: '5 minutes' })`),
      );
      expect(() => cacheResponses(300 as never)).toThrow(
        /^cacheResponses: options must be an object, got 300; for a TTL, write cacheResponses\(\{ ttl: 300 \}\)$/,
      );
      expect(() => cacheResponses([] as never)).toThrow(/^cacheResponses: options must be an object, got \[\]$/);
    });
  });

  describe('when cache.middleware() is given an invalid override', () => {
    it.each(BAD.filter(([n]) => !n.startsWith('namespace')))('should throw a TypeError naming it (%s)', async (_name, options) => {
      const cache = track(createCache());
      let err: unknown;
      try {
        cache.middleware(options);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(TypeError);
      expect((err as Error).message).toMatch(/^cache\.middleware: /);
    });

    it('should refuse store-wide options per route', () => {
      const cache = track(createCache());
      expect(() => cache.middleware({ store: engineOf(cache).store } as never)).toThrow(
        /^cache\.middleware: store can only be set in createCache\(\), not per route$/,
      );
      // @ts-expect-error the shared store's options are not per-route options
      expect(() => cache.middleware({ onError: () => {} })).toThrow(/onError belongs to the shared store/);
      expect(() => cache.middleware({ whenStoreEvicts: 'best-effort' } as never)).toThrow(/whenStoreEvicts belongs to the shared store/);
    });
  });

  describe('when the options are valid', () => {
    it('should never throw at request time, and a route override should apply to its route alone', async () => {
      const cache = track(createCache({ ttl: 60, jitter: 0 }));
      const app = express();
      let calls = 0;
      app.get('/short', cache.middleware({ headers: { xCache: 'X-Route-Cache' } }), (_req, res) => {
        calls++;
        res.send('short');
      });
      app.get('/plain', cache.middleware(), (_req, res) => {
        calls++;
        res.send('plain');
      });
      const { url } = await serve(app);
      const a = await request(url).get('/short');
      const b = await request(url).get('/short');
      const c = await request(url).get('/plain');
      expect([a.status, b.status, c.status]).toEqual([200, 200, 200]);
      expect(a.headers['x-route-cache']).toBe('MISS');
      expect(b.headers['x-route-cache']).toBe('HIT');
      expect(b.headers['x-cache']).toBeUndefined();
      expect(c.headers['x-cache']).toBe('MISS');
      expect(calls).toBe(2);
    });

    it('should carry the instance on cacheResponses() as .cache', async () => {
      const handler = cacheResponses({ jitter: 0 });
      track(handler.cache);
      const app = express();
      let calls = 0;
      app.use(handler);
      app.get('/x', (_req, res) => {
        calls++;
        res.send('x');
      });
      const { url } = await serve(app);
      await request(url).get('/x');
      await request(url).get('/x');
      expect(calls).toBe(1);
      expect(handler.cache.stats()).toMatchObject({ hits: 1, misses: 1, stores: 1 });
    });
  });
});

describe('when durations are ms strings', () => {
  it("should read '5 minutes', '1h', '30s' as seconds, per cache and per route", async () => {
    const cache = track(createCache({ ttl: '5 minutes', maxTtl: '1h', staleWhileRevalidate: '30s', staleIfError: '1 day', fallbackTtl: '2s' }));
    const o = engineOf(cache).options;
    expect([o.ttl, o.maxTtl, o.staleWhileRevalidate, o.staleIfError, o.fallbackTtl]).toEqual([300, 3600, 30, 86400, 2]);
    expect(engineOf(cache).routeOptions({ ttl: '90s' }).ttl).toBe(90);
  });
});

describe('when the set-up runs but likely not as meant', () => {
  const warnings = (make: () => void): string[] => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => undefined);
    try {
      jest.isolateModules(make);
      return warn.mock.calls.map((c) => String(c[0]));
    } finally {
      warn.mockRestore();
    }
  };

  it('should say once that redis: undefined (an unset REDIS_URL) runs in memory', () => {
    const said = warnings(() => {
      // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh module: the warning is once per process
      const { createCache: fresh } = require('../../middleware') as typeof import('../../middleware');
      const env: Record<string, string | undefined> = {};
      void fresh({ redis: env.REDIS_URL }).close();
      void fresh({ redis: env.REDIS_URL }).close();
      void fresh({}).close();
    });
    expect(said).toEqual([expect.stringMatching(/redis \}\) was given undefined \(an unset REDIS_URL\?\): caching in this process's memory/)]);
  });

  it('should say once that a cluster worker with a memory store does not share its cache', () => {
    const before = process.env.exec_mode;
    process.env.exec_mode = 'cluster_mode'; // what PM2 sets in cluster mode
    try {
      const said = warnings(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh module: the warning is once per process
        const { createCache: fresh, MemoryStore: Memory } = require('../../middleware') as typeof import('../../middleware');
        void fresh().close();
        void fresh({ store: new Memory() }).close();
      });
      expect(said).toEqual([expect.stringMatching(/cluster worker .* process-local memory store: each worker caches and invalidates its own copy.*Use Redis/)]);
    } finally {
      if (before === undefined) delete process.env.exec_mode;
      else process.env.exec_mode = before;
    }
  });

  it('should not warn for a store that is not process-local', () => {
    const before = process.env.exec_mode;
    process.env.exec_mode = 'cluster_mode';
    try {
      const said = warnings(() => {
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- a fresh module: the warning is once per process
        const { createCache: fresh, MemoryStore: Memory } = require('../../middleware') as typeof import('../../middleware');
        const shared = new Memory();
        const remote = {
          get: shared.get.bind(shared),
          set: shared.set.bind(shared),
          delete: shared.delete.bind(shared),
          deleteByPath: shared.deleteByPath.bind(shared),
          deleteByPrefix: shared.deleteByPrefix.bind(shared),
          deleteByTag: shared.deleteByTag.bind(shared),
          close: shared.close.bind(shared),
        };
        void fresh({ store: remote }).close();
      });
      expect(said).toEqual([]);
    } finally {
      if (before === undefined) delete process.env.exec_mode;
      else process.env.exec_mode = before;
    }
  });
});

describe('when the helpers are imported from the package entry', () => {
  it('should export buildCacheKey as a pure key builder', () => {
    const a = buildCacheKey({ method: 'HEAD', path: '/x', query: 'b=2&a=1' });
    const b = buildCacheKey({ method: 'GET', path: '/x', query: 'a=1&b=2' });
    expect(a).toBe('cache:v1:http:GET:/x?a=1&b=2');
    expect(b).toBe(a);
  });

  it('should export ttlWithJitter drawing from ttl * (1 ± jitter)', () => {
    expect(ttlWithJitter(100, 0.1, () => 0)).toBeCloseTo(90, 10);
    expect(ttlWithJitter(100, 0.1, () => 0.5)).toBeCloseTo(100, 10);
    expect(ttlWithJitter(100, 0.1, () => 0.999)).toBeCloseTo(109.98, 10);
    expect(ttlWithJitter(100, 0)).toBe(100);
  });
});
