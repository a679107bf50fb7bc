/**
 * cache.inspect() (issue 23): every entry of the namespace with its key, path, status, size,
 * times, tags and Vary, on every store (memory, Redis, a memory tier over Redis, Cluster),
 * bounded by a limit, filtered by a path prefix.
 */

import express from 'express';
import { Cluster } from 'ioredis';
import { createCache, MemoryStore, type ExpressCacheOptions, type ExpressResponseCache, type InspectedEntry } from '../../middleware';
import { closeAfterEach, send, serve, track, until } from '../helpers/http';
import { startCluster, startRedis, uniquePrefix, type RunningCluster, type RunningRedis } from '../helpers/redis';

closeAfterEach();

let redis: RunningRedis;
let cluster: RunningCluster;
let clusterClient: Cluster;

beforeAll(async () => {
  redis = await startRedis();
  cluster = await startCluster();
  clusterClient = new Cluster([...cluster.nodes]);
  await new Promise((resolve, reject) => clusterClient.once('ready', resolve).once('error', reject));
}, 60_000);

afterAll(async () => {
  await clusterClient.quit();
  await cluster.stop();
  await redis.stop();
});

const STORES: Array<[string, () => ExpressCacheOptions]> = [
  ['memory', () => ({})],
  ['Redis', () => ({ redis: redis.url })],
  ['a memory tier over Redis', () => ({ redis: redis.url, tiered: true })],
  ['a Redis Cluster', () => ({ redis: clusterClient })],
];

/** An app of products (tagged), an about page that varies on Accept-Language, a 203. */
async function shop(cache: ExpressResponseCache): Promise<{ url: string; calls: Record<string, number> }> {
  const calls: Record<string, number> = {};
  const count = (name: string): number => (calls[name] = (calls[name] ?? 0) + 1);
  const app = express();
  app.get('/products', cache.middleware({ tags: ['catalog'] }), (_req, res) => res.send(`list ${count('list')}`));
  app.get('/products/:id', cache.middleware({ tags: (req) => ['catalog', `product:${req.params.id}`] }), (req, res) =>
    res.send(`product ${req.params.id} ${count(`p${req.params.id}`)}`),
  );
  app.get('/about', cache.middleware({ ttl: 300 }), (req, res) => {
    count('about');
    res.set('Vary', 'Accept-Language').send(`about in ${req.get('accept-language')}`);
  });
  app.get('/Old/', cache.middleware(), (_req, res) => res.status(203).send(`old ${count('old')}`));
  const { url } = await serve(app);
  return { url, calls };
}

describe.each(STORES)('cache.inspect() on %s', (_name, storeOptions) => {
  it('should describe every response and value: key, path, status, size, times, tags, Vary', async () => {
    const namespace = uniquePrefix('inspect').replace(/[^A-Za-z0-9._-]/g, '');
    const cache = track(createCache({ ...storeOptions(), namespace, ttl: 60, jitter: 0 }));
    const { url, calls } = await shop(cache);
    const before = Date.now();
    const sent = [
      await send(url, '/products'),
      await send(url, '/products/1'),
      await send(url, '/products/2'),
      await send(url, '/about', { headers: { 'Accept-Language': 'en' } }),
      await send(url, '/about', { headers: { 'Accept-Language': 'fr' } }),
      await send(url, '/Old/'),
    ];
    expect(sent.map((r) => r.xCache)).toEqual(['MISS', 'MISS', 'MISS', 'MISS', 'MISS', 'MISS']);
    await cache.values<number>('prices').set('p1', 5, { tags: ['price'] });
    // Seven entries (the two variants of /about, not their Vary marker); writes may trail the answer.
    await until(async () => (await cache.inspect()).entries.length === 7, 5_000);
    const after = Date.now();
    const { entries, truncated } = await cache.inspect();
    expect(truncated).toBe(false);
    // Sorted by key, each the key a request's res.locals.cache.key would show.
    expect(entries.map((e) => e.key)).toEqual([...entries.map((e) => e.key)].sort());
    const by = (path: string): InspectedEntry[] => entries.filter((e) => e.path === path);
    const shape = (e: InspectedEntry) => [e.kind, e.path, e.status, [...e.tags], [...e.vary]];
    expect(by('/products').map(shape)).toEqual([['response', '/products', 200, ['catalog'], []]]);
    expect(by('/products/1').map(shape)).toEqual([['response', '/products/1', 200, ['catalog', 'product:1'], []]]);
    expect(by('/products/2').map(shape)).toEqual([['response', '/products/2', 200, ['catalog', 'product:2'], []]]);
    expect(by('/about').map(shape)).toEqual([
      ['response', '/about', 200, [], ['accept-language']],
      ['response', '/about', 200, [], ['accept-language']],
    ]);
    expect(by('/old').map(shape)).toEqual([['response', '/old', 203, [], []]]);
    const values = entries.filter((e) => e.kind === 'value');
    expect(values.map((e) => [e.status, [...e.tags]])).toEqual([[undefined, ['price']]]);
    expect(values[0].path.startsWith('val:')).toBe(true);
    for (const e of entries) {
      expect(e.key.startsWith(`cache:v1:${namespace}:`)).toBe(true);
      // Stored within the test, fresh for the ttl (jitter 0). No stale window, but a response
      // with a validator (an ETag here) is kept as long again, to answer revalidations.
      expect(e.storedAt.getTime()).toBeGreaterThanOrEqual(before - 1000);
      expect(e.storedAt.getTime()).toBeLessThanOrEqual(after);
      const ttl = e.path === '/about' ? 300_000 : 60_000;
      const kept = e.kind === 'response' ? ttl : 0;
      expect([e.path, e.freshUntil.getTime() - e.storedAt.getTime(), e.expiresAt.getTime() - e.freshUntil.getTime()]).toEqual([e.path, ttl, kept]);
    }
    // Sizes hold the body and the metadata: more than the body, and a longer body is bigger.
    const product1 = by('/products/1')[0];
    expect(product1.size).toBeGreaterThan('product 1 1'.length + 'catalog'.length);
    // The two variants differ by one letter of the Accept-Language each keys and holds: same size.
    const [en, fr] = by('/about');
    expect(en.size).toBe(fr.size);
    // Nothing was served from the cache by inspecting it; the next requests are hits.
    expect(calls).toEqual({ list: 1, p1: 1, p2: 1, about: 2, old: 1 });
    expect((await send(url, '/products/1')).text).toBe('product 1 1');
  });

  it('should filter by path prefix and stop at the limit, saying it did', async () => {
    const namespace = uniquePrefix('inspect-limit').replace(/[^A-Za-z0-9._-]/g, '');
    const cache = track(createCache({ ...storeOptions(), namespace, jitter: 0 }));
    const { url } = await shop(cache);
    for (const path of ['/products', '/products/1', '/products/2', '/products/3', '/Old/']) await send(url, path);
    await until(async () => (await cache.inspect()).entries.length === 5, 5_000);
    const products = await cache.inspect({ prefix: '/Products/' });
    expect(products.entries.map((e) => e.path)).toEqual(['/products/1', '/products/2', '/products/3']);
    expect(products.truncated).toBe(false);
    expect((await cache.inspect({ prefix: '/products' })).entries).toHaveLength(4);
    const two = await cache.inspect({ prefix: '/products', limit: 2 });
    expect([two.entries.length, two.truncated]).toEqual([2, true]);
    expect((await cache.inspect({ prefix: '/products', limit: 4 })).truncated).toBe(false);
    expect((await cache.inspect({ prefix: '/none' })).entries).toEqual([]);
  });
});

describe('cache.inspect() options', () => {
  it.each([
    [{ limit: 0 }, /^cache\.inspect: limit must be an integer from 1 to 1000, got 0$/],
    [{ limit: 1001 }, /limit must be an integer from 1 to 1000, got 1001/],
    [{ limit: 2.5 }, /limit must be an integer/],
    [{ prefix: 'products' }, /^cache\.inspect: prefix is a request path and starts with '\/', got "products"$/],
    [null, /options must be an object/],
  ])('should reject %p with a TypeError', async (options, message) => {
    const cache = track(createCache());
    await expect(cache.inspect(options as never)).rejects.toThrow(TypeError);
    await expect(cache.inspect(options as never)).rejects.toThrow(message);
  });

  it('should reject on a store that cannot list its keys', async () => {
    const memory = new MemoryStore();
    // The same store without keys(): every other method bound to the real one.
    const store = new Proxy(memory, {
      get: (target, name) => {
        if (name === 'keys') return undefined;
        const v = Reflect.get(target, name) as unknown;
        return typeof v === 'function' ? (v as (...a: unknown[]) => unknown).bind(target) : v;
      },
    });
    const cache = track(createCache({ store }));
    await expect(cache.inspect()).rejects.toThrow(/^cache\.inspect: this store cannot list its keys/);
  });
});
