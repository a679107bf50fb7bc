/**
 * Redis eviction policies (issue 20): under any maxmemory-policy but noeviction Redis may
 * evict a `t:` index while its entry stays, and a tag invalidation then cannot reach the
 * entry. With the default `whenStoreEvicts: 'bypass'` the cache stops reading and writing
 * entries there before such an invalidation resolves, and after evictions it deletes every
 * entry before it trusts Redis again: never the old body after an acknowledged write,
 * counted by handler calls against a model of the data. Real redis-servers, real memory
 * pressure (maxmemory and junk keys until Redis evicts).
 */

import express from 'express';
import { Redis } from 'ioredis';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { freePort } from '../helpers/redis-replicas';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import { engineOf } from '../../src/cache';
import { killRedis, scanKeys, spawnRedis } from '../helpers/redis';
import { listen, request, sleep, until, uniqueNamespace, useRedis } from './instances';

const fx = useRedis('eviction.test');

const PAGES = 12;
const JUNK = 'evict-junk:';
/** Pages of 16 KB: an entry outweighs its indexes, so freeing a few KB takes the (colder) indexes first. */
const PAD = 'x'.repeat(16 * 1024);

/** Pages with versions: a GET answers the version it read; a POST to /admin/page/:id bumps it and invalidates its tag. */
async function shop(options: ExpressCacheOptions, namespace = uniqueNamespace('evict')) {
  const errors: string[] = [];
  const model = { versions: new Map<number, number>(), calls: 0 };
  const cache = createCache({
    redis: fx.redis.url,
    namespace,
    ttl: 60,
    jitter: 0,
    storeTimeout: 2000,
    onError: (err) => errors.push(`${err.code} ${err.message}`),
    ...options,
  });
  const app = express();
  app.get('/page/:id', cache.middleware({ tags: (req) => [`page:${req.params.id}`] }), (req, res) => {
    model.calls++;
    res.json({ id: req.params.id, v: model.versions.get(Number(req.params.id)) ?? 1, pad: PAD });
  });
  app.post(
    '/admin/page/:id',
    cache.invalidates((req) => ({ tags: [`page:${req.params.id}`] })),
    (req, res) => {
      const id = Number(req.params.id);
      model.versions.set(id, (model.versions.get(id) ?? 1) + 1);
      res.json({ id: String(id), v: model.versions.get(id), pad: PAD });
    },
  );
  const i = await listen('A', app, cache);
  fx.open.push(i);
  return { ...i, errors, model, namespace };
}

const body = (id: number, v: number): string => JSON.stringify({ id: String(id), v, pad: PAD });

async function evictedKeys(): Promise<number> {
  return Number(/evicted_keys:(\d+)/.exec(await fx.admin.info('stats'))?.[1] ?? 0);
}

/** Names of this namespace's tag indexes (t:) and entries (e:) still in Redis. */
async function ours(namespace: string): Promise<{ tags: number; entries: number }> {
  const keys = await scanKeys(fx.admin, `*${namespace}*`);
  return { tags: keys.filter((k) => k.startsWith('t:')).length, entries: keys.filter((k) => k.startsWith('e:')).length };
}

/**
 * Memory pressure: maxmemory just above what Redis uses, then 32 KB junk keys (with a TTL,
 * so volatile-* may evict them too, and a long one, so volatile-ttl takes ours first)
 * until at least one of our tag indexes was evicted while entries stay, bounded.
 */
async function pressure(namespace: string): Promise<{ evicted: number; lostTags: number; entries: number }> {
  const used = Number(/used_memory:(\d+)/.exec(await fx.admin.info('memory'))?.[1]);
  const before = await ours(namespace);
  const evicted0 = await evictedKeys();
  await fx.admin.config('SET', 'maxmemory', String(used + 512 * 1024));
  const junk = Buffer.alloc(4 * 1024, 'j');
  for (let n = 0; n < 400; n++) {
    await fx.admin.set(`${JUNK}${n}`, junk, 'EX', 3600).catch(() => undefined);
    if (n < 100 && n % 10 !== 9) continue;
    const now = await ours(namespace);
    if (now.tags < before.tags) break;
  }
  const after = await ours(namespace);
  return { evicted: (await evictedKeys()) - evicted0, lostTags: before.tags - after.tags, entries: after.entries };
}

async function relieve(): Promise<void> {
  await fx.admin.config('SET', 'maxmemory-policy', 'noeviction');
  await fx.admin.config('SET', 'maxmemory', '0');
  const junk = await scanKeys(fx.admin, `${JUNK}*`);
  if (junk.length) await fx.admin.del(...junk);
}

afterEach(relieve);

const POLICIES = ['allkeys-lru', 'allkeys-lfu', 'allkeys-random', 'volatile-lru', 'volatile-lfu', 'volatile-random', 'volatile-ttl'];

describe.each(POLICIES)('when maxmemory-policy becomes %s at runtime and Redis evicts', (policy) => {
  it('should never serve a page older than an acknowledged write, then purge and cache again once the policy is noeviction', async () => {
    const a = await shop({});
    for (let id = 0; id < PAGES; id++) {
      expect((await request(a.url, `/page/${id}`)).text).toBe(body(id, 1));
      const hit = await request(a.url, `/page/${id}`);
      expect([hit.xCache, hit.text]).toEqual(['HIT', body(id, 1)]);
    }
    expect(a.model.calls).toBe(PAGES);
    // Older than the junk by the LRU clock's resolution (1 s), so LRU and LFU pick ours;
    // entries read again, so their indexes are the coldest of ours.
    await sleep(1100);
    for (let id = 0; id < PAGES; id++) await request(a.url, `/page/${id}`);
    await fx.admin.config('SET', 'maxmemory-policy', policy);
    const { evicted, lostTags, entries } = await pressure(a.namespace);
    fx.figures.push(`${policy}: ${evicted} keys evicted, ${lostTags} of ${PAGES} tag indexes among them, ${entries} entries left`);
    expect(evicted).toBeGreaterThan(0);

    // Each write is acknowledged, then the page is read: always the new version, from the handler.
    const seen: string[] = [];
    const expected: string[] = [];
    for (let id = 0; id < PAGES; id++) {
      expect((await request(a.url, `/admin/page/${id}`, { method: 'POST' })).status).toBe(200);
      const r = await request(a.url, `/page/${id}`);
      seen.push(`${r.status} ${r.xCache} ${r.text.slice(0, 20)}`);
      expected.push(`200 BYPASS ${body(id, 2).slice(0, 20)}`);
    }
    expect(seen).toEqual(expected);
    expect(a.model.calls).toBe(2 * PAGES);
    expect(a.cache.stats().evictionBypass).toBe(true);
    expect(a.errors.some((e) => e.startsWith(`ERC_STORE_CONFIG Redis maxmemory-policy is ${policy}`))).toBe(true);
    expect(a.cache.prometheus()).toMatch(/express_response_cache_eviction_bypass\{namespace="[^"]+"\} 1/);

    // Back to noeviction: every entry written before is deleted (their indexes may be gone), then caching resumes.
    await relieve();
    await until(() => !a.cache.stats().evictionBypass, 10_000);
    expect(await ours(a.namespace)).toMatchObject({ entries: 0 });
    for (let id = 0; id < PAGES; id++) {
      const miss = await request(a.url, `/page/${id}`);
      expect([miss.xCache, miss.text]).toEqual(['MISS', body(id, 2)]);
      const hit = await request(a.url, `/page/${id}`);
      expect([hit.xCache, hit.text]).toEqual(['HIT', body(id, 2)]);
    }
    expect(a.model.calls).toBe(3 * PAGES);
  });
});

describe('when Redis evicts and another instance has not read the policy yet', () => {
  // B reads the policy every second; its next reading is up to that far away. Its timer
  // stopped stands for that window: A's acknowledged write must still reach B's reads.
  it("should never let B serve a page older than A's acknowledged write", async () => {
    const namespace = uniqueNamespace('evict2');
    const a = await shop({}, namespace);
    const b = await shop({}, namespace);
    for (let id = 0; id < PAGES; id++) {
      expect((await request(b.url, `/page/${id}`)).text).toBe(body(id, 1));
      expect((await request(b.url, `/page/${id}`)).xCache).toBe('HIT');
    }
    (engineOf(b.cache).store as unknown as { eviction: { stop(): void } }).eviction.stop();
    await sleep(1100);
    for (let id = 0; id < PAGES; id++) await request(b.url, `/page/${id}`);
    await fx.admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    const { evicted, lostTags, entries } = await pressure(namespace);
    fx.figures.push(`B not told yet: ${evicted} keys evicted, ${lostTags} of ${PAGES} tag indexes among them, ${entries} entries left`);
    expect(lostTags).toBeGreaterThan(0);
    expect(b.cache.stats().evictionBypass).toBe(false);

    const seen: string[] = [];
    const expected: string[] = [];
    for (let id = 0; id < PAGES; id++) {
      // The model on B's handler: A's POST bumps the version B reads.
      b.model.versions.set(id, 2);
      expect((await request(a.url, `/admin/page/${id}`, { method: 'POST' })).status).toBe(200);
      const r = await request(b.url, `/page/${id}`);
      seen.push(`${r.status} ${r.text.slice(0, 20)}`);
      expected.push(`200 ${body(id, 2).slice(0, 20)}`);
    }
    expect(seen).toEqual(expected);
  });
});

describe('when the policy evicts but nothing was evicted', () => {
  it('should bypass while it lasts, and keep the entries once noeviction is back (no purge owed)', async () => {
    const a = await shop({});
    expect((await request(a.url, '/page/1')).xCache).toBe('MISS');
    await fx.admin.config('SET', 'maxmemory-policy', 'allkeys-lru');
    // An invalidation reads the policy again before it resolves: no wait for the next periodic check.
    await a.cache.invalidate({ tags: ['page:9'] });
    expect(a.cache.stats().evictionBypass).toBe(true);
    const r = await request(a.url, '/page/1');
    expect([r.xCache, r.text]).toEqual(['BYPASS', body(1, 1)]);
    await fx.admin.config('SET', 'maxmemory-policy', 'noeviction');
    await until(() => !a.cache.stats().evictionBypass, 10_000);
    const hit = await request(a.url, '/page/1');
    expect([hit.xCache, hit.text]).toEqual(['HIT', body(1, 1)]);
    expect(a.model.calls).toBe(2);
  });
});

describe('when a short evicting spell falls between two checks', () => {
  it('should see the evictions afterwards and delete every entry before caching again', async () => {
    const a = await shop({});
    for (let id = 0; id < PAGES; id++) await request(a.url, `/page/${id}`);
    await sleep(1100);
    // Entries warmer than their indexes (LRU clock: 1 s), so the indexes go first.
    for (let id = 0; id < PAGES; id++) expect((await request(a.url, `/page/${id}`)).xCache).toBe('HIT');
    const used = Number(/used_memory:(\d+)/.exec(await fx.admin.info('memory'))?.[1]);
    const evicted0 = await evictedKeys();
    // The spell, from synchronous redis-cli calls: this process's event loop (the watch's timer)
    // is stalled from before the policy changes until after it is back to noeviction.
    const cli = (lines: readonly string[]): string[] =>
      execFileSync('redis-cli', ['-h', fx.redis.host, '-p', String(fx.redis.port)], { input: lines.join('\n'), stdio: ['pipe', 'pipe', 'ignore'] })
        .toString()
        .trim()
        .split('\n');
    // What is left of ours (KEYS: a test's small database), counted inside the stall.
    const count = [`EVAL "return #redis.call('KEYS', ARGV[1])" 0 e:*${a.namespace}*`, `EVAL "return #redis.call('KEYS', ARGV[1])" 0 t:*${a.namespace}*`];
    cli(['CONFIG SET maxmemory-policy allkeys-lru', `CONFIG SET maxmemory ${used + 512 * 1024}`]);
    let left = [PAGES, PAGES];
    const junk = 'j'.repeat(4 * 1024);
    for (let n = 0; n < 300 && left[1] === PAGES && left[0] > 0; n++)
      left = cli([`SET ${JUNK}${n} ${junk} EX 3600`, ...count])
        .slice(-2)
        .map(Number);
    cli(['CONFIG SET maxmemory-policy noeviction', 'CONFIG SET maxmemory 0']);
    const evicted = (await evictedKeys()) - evicted0;
    fx.figures.push(`unseen spell: ${evicted} keys evicted; left ${left[0]} of ${PAGES} entries, ${left[1]} of ${PAGES} tag indexes`);
    expect(evicted).toBeGreaterThan(0);
    // The next check sees evicted_keys grown: every entry goes before the cache trusts Redis again.
    await until(async () => (await ours(a.namespace)).entries === 0, 10_000);
    await until(() => !a.cache.stats().evictionBypass, 10_000);
    const calls = a.model.calls;
    for (let id = 0; id < PAGES; id++) expect((await request(a.url, `/page/${id}`)).xCache).toBe('MISS');
    expect(a.model.calls).toBe(calls + PAGES);
  });
});

describe("with whenStoreEvicts: 'best-effort'", () => {
  it('should cache under an evicting policy, and say so', async () => {
    await fx.admin.config('SET', 'maxmemory-policy', 'volatile-lru');
    const a = await shop({ whenStoreEvicts: 'best-effort' });
    await until(() => a.errors.length > 0, 10_000);
    expect(a.errors[0]).toMatch(/^ERC_STORE_CONFIG Redis maxmemory-policy is volatile-lru: .*caching goes on/);
    expect((await request(a.url, '/page/1')).xCache).toBe('MISS');
    expect((await request(a.url, '/page/1')).xCache).toBe('HIT');
    expect(a.cache.stats().evictionBypass).toBe(false);
  });
});

describe('when redis-server starts with --maxmemory and an evicting policy', () => {
  let child: ChildProcess | undefined;
  afterEach(async () => {
    if (child) await killRedis(child, 'SIGKILL');
    child = undefined;
  });

  it('should bypass from the start: every request runs the handler, invalidations and values still work', async () => {
    const port = await freePort();
    child = await spawnRedis(port, ['--maxmemory', '16mb', '--maxmemory-policy', 'allkeys-lru']);
    const errors: string[] = [];
    const cache = createCache({ redis: `redis://127.0.0.1:${port}`, namespace: uniqueNamespace('evict'), onError: (err) => errors.push(err.code) });
    let calls = 0;
    const app = express();
    app.get('/p', cache.middleware(), (_req, res) => res.send(`call ${++calls}`));
    const i = await listen('A', app, cache);
    fx.open.push(i);
    await until(() => cache.stats().evictionBypass, 10_000);
    for (let n = 1; n <= 3; n++) {
      const r = await request(i.url, '/p');
      expect([r.xCache, r.text]).toEqual(['BYPASS', `call ${n}`]);
    }
    expect(await cache.invalidate({ paths: ['/p'], tags: ['x'], prefixes: ['/'] })).toBe(0);
    let made = 0;
    const users = cache.values<number>('users');
    expect(await users.getOrSet('1', () => ++made)).toBe(1);
    expect(await users.getOrSet('1', () => ++made)).toBe(2);
    expect(errors).toEqual(['ERC_STORE_CONFIG']);
    const admin = new Redis(`redis://127.0.0.1:${port}`);
    try {
      // Nothing but the invalidation's records: no entry, no index, no lock.
      expect((await scanKeys(admin, '*')).filter((k) => !k.startsWith('r:') && !k.startsWith('x:'))).toEqual([]);
    } finally {
      await admin.quit();
    }
  });
});
