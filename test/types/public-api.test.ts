/**
 * Type tests: this file must compile (ts-jest type-checks it), and each @ts-expect-error
 * must be an error. The runtime assertions are secondary.
 */
import express from 'express';
import { Cluster, Redis } from 'ioredis';
import { describe as nodeDescribe, it as nodeIt, before as nodeBefore, after as nodeAfter } from 'node:test';
import { Registry } from 'prom-client';
import erc, {
  cacheResponses,
  createCache,
  getRequestCache,
  MemoryStore,
  RedisStore,
  TieredStore,
  buildCacheKey,
  ttlWithJitter,
  CHANNELS,
  CacheError,
  type CacheStats,
  type CacheStatus,
  type CacheStore,
  type ExpressResponseCache,
  type InvalidateTarget,
  type InspectResult,
  type InspectedEntry,
  type RequestCache,
  type ValueId,
  type Duration,
} from '../../middleware';
import { storeContract, type StoreContractApi } from '../../src/stores/contract';

interface User {
  id: string;
  name: string;
}

describe('public types', () => {
  it('should type the middleware, res.locals.cache and route params', async () => {
    const cache: ExpressResponseCache = createCache({ ttl: 300, namespace: 'shop', tags: (req) => [req.path] });
    const app = express();
    app.use(cacheResponses({ headers: { xCache: 'X-Cache', age: true } }));
    app.get('/products/:id', cache.middleware({ ttl: 900, tags: (req) => [`product:${req.params.id}`] }), (req, res) => {
      const id: string = req.params.id; // params stay inferred from the path after our middleware
      // @ts-expect-error res.locals.cache is absent on a route without the middleware
      res.locals.cache.skip();
      const maybe: RequestCache | undefined = res.locals.cache;
      res.locals.cache?.skip();
      const locals = getRequestCache(res); // throws where no cache middleware ran
      const status: CacheStatus = locals.status;
      locals.ttl(30);
      locals.tag('a', 'b');
      locals.skip();
      const key: string = locals.key;
      void locals.invalidate({ tags: ['x'] });
      res.json({ id, status, key, seen: maybe !== undefined });
    });
    app.put(
      '/products/:id',
      cache.invalidates((req) => ({ tags: [`product:${req.params.id}`] })),
      (_req, res) => {
        res.sendStatus(204);
      },
    );
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
    const byQuery: ValueId = { page: 1, sort: 'a', tags: ['x', 'y'], deep: { on: true, none: null } };
    const there: boolean = await users.has(byQuery);
    // @ts-expect-error an id is never a function
    await expect(users.get(() => 1)).rejects.toThrow(TypeError);
    const versioned = cache.values<User>('users-v', { version: 'v2', ttl: '10 minutes' });
    void versioned;
    expect(there).toBe(false);
    const find = cache.cached(async (id: string) => ({ id }), { key: (id) => id, ttl: 5 });
    const found: { id: string } = await find('9');
    const dropped: boolean = await find.invalidate('9');
    // @ts-expect-error the wrapped function keeps its argument types
    void find(9);
    expect([u, made.name, maybe, many.length, written, found.id, dropped]).toEqual([undefined, 'Ada', undefined, 2, true, '9', true]);
    await cache.close();
  });

  it('should reject wrong option types at compile time as well as at run time', () => {
    // @ts-expect-error ttl is a number of seconds, or a string with a unit ('60s')
    expect(() => createCache({ ttl: '60' })).toThrow(TypeError);
    const durations: Duration[] = [60, '60s', '5 minutes', '1h', '2 days'];
    for (const ttl of durations) expect(() => createCache({ ttl }).close()).not.toThrow();
    const routed = createCache();
    // @ts-expect-error redis belongs to createCache(), not to a route
    expect(() => routed.middleware({ redis: 'redis://127.0.0.1:1' })).toThrow(TypeError);
    void routed.close();
    // @ts-expect-error redis is a URL or an ioredis client, not any object
    expect(() => createCache({ redis: { host: 'localhost' } })).toThrow(TypeError);
    const lazy = { lazyConnect: true, enableOfflineQueue: false } as const;
    const redisTyped = (client: Redis | Cluster) => createCache({ redis: client });
    void redisTyped;
    void lazy;
    const env: Record<string, string | undefined> = {};
    // A README snippet under strict TS: `new Redis(process.env.REDIS_URL!)` where it must be set.
    const fromEnv = (): Redis => new Redis(env.REDIS_URL ?? 'redis://127.0.0.1:1', { lazyConnect: true });
    void fromEnv;
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

  it('should offer a default import with the main functions', async () => {
    const cache = erc.createCache({ ttl: 1 });
    expect(typeof erc.cacheResponses).toBe('function');
    expect(erc.MemoryStore).toBe(MemoryStore);
    expect(CHANNELS.hit).toBe('express-response-cache:hit');
    const registry: Registry = cache.registerMetrics(new Registry());
    expect(typeof (await registry.metrics())).toBe('string');
    const removed: number = await cache.clear();
    const listed: { responses: string[]; values: string[]; truncated: boolean } = await cache.keys({ limit: 10 });
    expect([removed, listed.truncated]).toEqual([0, false]);
    const inspected: InspectResult = await cache.inspect({ prefix: '/p', limit: 10 });
    const first: InspectedEntry | undefined = inspected.entries[0];
    expect([first, inspected.truncated]).toEqual([undefined, false]);
    await cache.close();
  });

  it('should type storeContract for node:test, jest and vitest', () => {
    const fromNode: StoreContractApi = { describe: nodeDescribe, it: nodeIt, before: nodeBefore, after: nodeAfter };
    const fromJest: StoreContractApi = { describe, it, beforeAll, afterAll };
    // vitest's shapes (not installed here): test(name, fn?, options?) and hooks(fn, timeout?)
    type VitestFn = () => unknown;
    const vitest = {
      describe: (_name: string | (() => void), _fn?: () => void) => undefined,
      it: (_name: string, _fn?: VitestFn, _options?: number | { timeout?: number }) => undefined,
      beforeAll: (_fn: VitestFn, _timeout?: number) => undefined,
      afterAll: (_fn: VitestFn, _timeout?: number) => undefined,
    };
    const fromVitest: StoreContractApi = vitest;
    // @ts-expect-error a runner without its hooks does not fit
    const partial: StoreContractApi = { describe, it };
    expect([fromNode, fromJest, fromVitest, partial].length).toBe(4);
    expect(typeof storeContract).toBe('function');
  });
});
