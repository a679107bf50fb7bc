/**
 * Type tests: this file must compile (ts-jest type-checks it), and each @ts-expect-error
 * must be an error. The runtime assertions are secondary.
 */
import express from 'express';
import {
  cacheResponses, createCache, MemoryStore, RedisStore, TieredStore, buildCacheKey, ttlWithJitter,
  CacheError, type CacheStats, type CacheStatus, type CacheStore, type ExpressResponseCache, type InvalidateTarget,
} from '../../middleware';

interface User { id: string; name: string }

describe('public types', () => {
  it('should type the middleware, res.locals.cache and route params', async () => {
    const cache: ExpressResponseCache = createCache({ ttl: 300, namespace: 'shop', tags: (req) => [req.path] });
    const app = express();
    app.use(cacheResponses({ headers: { xCache: 'X-Cache', age: true } }));
    app.get('/products/:id', cache.middleware({ ttl: 900, tags: (req) => [`product:${req.params.id}`] }), (req, res) => {
      const id: string = req.params.id; // params stay inferred from the path after our middleware
      const status: CacheStatus = res.locals.cache.status;
      res.locals.cache.ttl(30);
      res.locals.cache.tag('a', 'b');
      res.locals.cache.skip();
      const key: string = res.locals.cache.key;
      void res.locals.cache.invalidate({ tags: ['x'] });
      res.json({ id, status, key });
    });
    app.put('/products/:id', cache.invalidates((req) => ({ tags: [`product:${req.params.id}`] })), (_req, res) => {
      res.sendStatus(204);
    });
    const target: InvalidateTarget = { keys: [], paths: ['/p'], prefixes: ['/s'], tags: ['t'] };
    const removed: number = await cache.invalidate(target);
    const stats: CacheStats = cache.stats();
    const ok: boolean = await cache.ping();
    expect([removed, stats.hitRatio, ok, cache.isAvailable]).toEqual([0, 0, true, true]);
    await cache.close();
  });

  it('should type values and cached functions', async () => {
    const cache = createCache();
    const users = cache.values<User>('users', { ttl: 60, parse: (v) => v as User });
    const u: User | undefined = await users.get('1');
    const made: User = await users.getOrSet('1', async () => ({ id: '1', name: 'Ada' }), { tags: ['user:1'] });
    const maybe: User | undefined = await users.getOrSet('2', async () => undefined as User | undefined);
    const many: Array<User | undefined> = await users.getMany(['1', '2']);
    const written: boolean = await users.setMany(new Map([['3', { id: '3', name: 'Lin' }]]));
    const find = cache.cached(async (id: string) => ({ id }), { key: (id) => id, ttl: 5 });
    const found: { id: string } = await find('9');
    const dropped: boolean = await find.invalidate('9');
    // @ts-expect-error the wrapped function keeps its argument types
    void find(9);
    expect([u, made.name, maybe, many.length, written, found.id, dropped]).toEqual([undefined, 'Ada', undefined, 2, true, '9', true]);
    await cache.close();
  });

  it('should reject wrong option types at compile time as well as at run time', () => {
    // @ts-expect-error ttl is a number of seconds
    expect(() => createCache({ ttl: '60' })).toThrow(TypeError);
    // @ts-expect-error whenStoreDown is 'bypass' or 'memory'
    expect(() => createCache({ whenStoreDown: 'crash' })).toThrow(TypeError);
    const store: CacheStore = new MemoryStore({ maxEntries: 10 });
    expect(() => createCache({ store })).not.toThrow();
    expect(typeof RedisStore).toBe('function');
    expect(typeof TieredStore).toBe('function');
    expect(new CacheError('ERC_STORE_FAILED', 'x').code).toBe('ERC_STORE_FAILED');
    const key: string = buildCacheKey({ method: 'GET', path: '/a', query: 'b=1' });
    const ttl: number = ttlWithJitter(60, 0.1, () => 0.5);
    expect([key, ttl]).toEqual(['cache:v1:http:GET:/a?b=1', 60]);
  });
});
