/**
 * Faults on real Redis servers: a dead port, a paused server (CLIENT PAUSE), a server
 * killed with SIGKILL and restarted while requests flow, and garbage written over an
 * entry. Every request must still get the handler's right answer, fast; caching must come
 * back on its own. Durations are measured and printed at the end.
 */

import { engineOf } from '../../src/cache';
import { ENTRY_VERSION } from '../../src/entry';
import express from 'express';
import { Redis } from 'ioredis';
import type { ChildProcess } from 'node:child_process';
import { freePort } from '../helpers/redis-replicas';
import { performance } from 'node:perf_hooks';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import type { RedisStore } from '../../src/stores/redis';
import { killRedis, scanKeys, spawnRedis } from '../helpers/redis';
import { listen, percentile, request, sleep, until, uniqueNamespace, useRedis, type Reply } from './instances';

const fx = useRedis('faults.test');

const fmt = (ms: number): string => `${ms.toFixed(1)} ms`;

/** One instance; `/item/:id` answers `{ id, v }` after `delay` ms and counts calls. */
async function instance(options: ExpressCacheOptions, delay = 0) {
  const errors: string[] = [];
  const origin = { calls: 0 };
  const cache = createCache({ namespace: uniqueNamespace('faults'), jitter: 0, ttl: 60, onError: (err) => errors.push(err.code), ...options });
  const app = express();
  app.use(cache.middleware());
  app.get('/item/:id', (req, res) => {
    origin.calls++;
    const send = () => res.json({ id: req.params.id, v: 1 });
    if (delay > 0) setTimeout(send, delay);
    else send();
  });
  const i = await listen('A', app, cache);
  fx.open.push(i);
  return { ...i, errors, origin };
}

/** The handler's answer for `/item/<id>`, exactly. */
function expectRight(r: Reply, id: string): void {
  expect({ status: r.status, body: r.text }).toEqual({ status: 200, body: JSON.stringify({ id, v: 1 }) });
}

describe('when Redis is a dead port', () => {
  it("should answer every request with the handler's body as BYPASS, fast, and report it", async () => {
    const port = await freePort();
    const a = await instance({ redis: `redis://127.0.0.1:${port}` });
    const replies: Reply[] = [];
    for (let n = 0; n < 10; n++) replies.push(await request(a.url, `/item/${n % 3}`));
    replies.forEach((r, n) => {
      expectRight(r, String(n % 3));
      expect(r.xCache).toBe('BYPASS');
    });
    const max = Math.max(...replies.map((r) => r.ms));
    fx.figures.push(`dead port: 10 requests, all BYPASS, max ${fmt(max)}, first ${fmt(replies[0]!.ms)}`);
    expect(max).toBeLessThan(500);
    expect(a.origin.calls).toBe(10);
    expect(a.errors).toContain('ERC_STORE_FAILED');
    expect(a.cache.isAvailable).toBe(false);
    const started = performance.now();
    expect(await a.cache.ping()).toBe(false);
    expect(performance.now() - started).toBeLessThan(300);
  });

  it("should serve MISS then HIT from the local memory fallback with whenStoreDown: 'memory'", async () => {
    const port = await freePort();
    const a = await instance({ redis: `redis://127.0.0.1:${port}`, whenStoreDown: 'memory', fallbackTtl: 5 });
    const seen: string[] = [];
    // A failed read is the fallback's answer from the first request on: a miss there, stored there.
    for (let n = 0; n < 10 && seen[seen.length - 1] !== 'MISS'; n++) {
      const r = await request(a.url, '/item/1');
      expectRight(r, '1');
      expect(r.ms).toBeLessThan(300);
      seen.push(r.xCache);
    }
    expect(seen).toEqual(['MISS']);
    await until(() => a.cache.stats().stores === 1, 1000, 'stored in the fallback');
    const hit = await request(a.url, '/item/1');
    expect(hit.xCache).toBe('HIT');
    expectRight(hit, '1');
    fx.figures.push(`dead port + whenStoreDown 'memory': ${seen.join(' → ')} → HIT (${fmt(hit.ms)})`);
    // Invalidation reaches the fallback too.
    expect(await a.cache.invalidate({ paths: ['/item/1'] })).toBe(1);
    expect((await request(a.url, '/item/1')).xCache).toBe('MISS');
  });
});

describe('when a cache closes while Redis is out', () => {
  // Between reconnect attempts disconnect() emits no 'end': close() must not wait for one.
  it('should close at once when the connection is between reconnect attempts', async () => {
    const port = await freePort();
    const cache = createCache({ redis: `redis://127.0.0.1:${port}`, onError: () => undefined });
    const client = (engineOf(cache).store as RedisStore).client as Redis;
    await until(() => client.status === 'reconnecting', 2000, 'reconnecting');
    const started = performance.now();
    await cache.close();
    const took = performance.now() - started;
    fx.figures.push(`close() on a dead port while reconnecting: ${fmt(took)}`);
    expect(took).toBeLessThan(200);
  });

  // QUIT is answered only by a Redis that answers: close() bounds it.
  it('should close within about a second while Redis does not answer', async () => {
    const cache = createCache({ redis: fx.redis.url, onError: () => undefined });
    expect(await cache.ping()).toBe(true);
    const pauser = new Redis(fx.redis.url);
    try {
      await pauser.client('PAUSE', 2500, 'ALL');
      const started = performance.now();
      await cache.close();
      const took = performance.now() - started;
      fx.figures.push(`close() while Redis is paused for 2500 ms: ${fmt(took)}`);
      expect(took).toBeLessThan(1300);
    } finally {
      await pauser.quit();
    }
  });
});

describe('when Redis is paused (CLIENT PAUSE ALL) longer than storeTimeout', () => {
  it('should answer within storeTimeout + handler time as BYPASS, and resume caching within 5 s', async () => {
    const a = await instance({ redis: fx.redis.url, storeTimeout: 100 }, 20);
    expect((await request(a.url, '/item/1')).xCache).toBe('MISS');
    await until(() => a.cache.stats().stores === 1, 1000, 'stored');
    expect((await request(a.url, '/item/1')).xCache).toBe('HIT');

    const pauser = new Redis(fx.redis.url);
    try {
      await pauser.client('PAUSE', 1500, 'ALL');
      const pausedAt = performance.now();
      const during: Reply[] = [];
      while (performance.now() - pausedAt < 1200) during.push(await request(a.url, '/item/1'));
      for (const r of during) {
        expectRight(r, '1');
        expect(r.xCache).toBe('BYPASS');
        expect(r.ms).toBeLessThan(600);
      }
      const ms = during.map((r) => r.ms);
      fx.figures.push(
        `CLIENT PAUSE 1500 ms, storeTimeout 100, handler 20 ms: ${during.length} requests during the pause, all BYPASS, max ${fmt(Math.max(...ms))}, p95 ${fmt(percentile(ms, 95))}, median ${fmt(percentile(ms, 50))}`,
      );
      // Then the entry (still in Redis) is served again once the breaker's probe succeeds.
      await until(() => performance.now() - pausedAt >= 1500, 2000, 'pause over');
      const resumed = await until(async () => (await request(a.url, '/item/1')).xCache === 'HIT', 5000, 'HIT after the pause');
      fx.figures.push(`CLIENT PAUSE: HIT again ${fmt(resumed)} after the pause ended`);
      expect(a.errors).toContain('ERC_STORE_TIMEOUT');
    } finally {
      await pauser.quit();
    }
  });
});

describe('when Redis is killed and restarted while requests flow', () => {
  let server: ChildProcess | undefined;
  afterEach(async () => {
    if (server) await killRedis(server, 'SIGTERM');
  });

  it('should fail no request and serve HITs again within 5 s of the restart', async () => {
    const port = await freePort();
    server = await spawnRedis(port);
    const a = await instance({ redis: `redis://127.0.0.1:${port}`, storeTimeout: 100 });
    const replies: Array<Reply & { at: number; id: string }> = [];
    const failures: string[] = [];
    const t0 = performance.now();
    let killedAt = Infinity;
    let restartedAt = Infinity;
    let restart: Promise<void> | undefined;
    // 150 requests, sequential, ~20 ms apart, over 5 paths: SIGKILL after ~1 s, restart 1 s later.
    for (let n = 0; n < 150; n++) {
      if (n === 45) {
        await killRedis(server, 'SIGKILL');
        killedAt = performance.now() - t0;
        restart = sleep(1000).then(async () => {
          server = await spawnRedis(port);
          restartedAt = performance.now() - t0;
        });
      }
      const id = String(n % 5);
      const at = performance.now() - t0;
      try {
        const r = await request(a.url, `/item/${id}`);
        replies.push({ ...r, at, id });
        if (r.status !== 200 || r.text !== JSON.stringify({ id, v: 1 })) failures.push(`#${n}: ${r.status} ${r.text}`);
      } catch (err) {
        failures.push(`#${n}: ${(err as Error).message}`);
      }
      await sleep(20);
    }
    await restart;
    // If the loop ended before caching came back, keep asking (bounded) for the first HIT.
    let firstHit = replies.find((r) => r.at > restartedAt && r.xCache === 'HIT')?.at;
    if (firstHit === undefined) {
      await until(
        async () => (await request(a.url, '/item/0')).xCache === 'HIT',
        Math.max(100, restartedAt + 5000 - (performance.now() - t0)),
        'HIT after restart',
      );
      firstHit = performance.now() - t0;
    }
    const outage = replies.filter((r) => r.at >= killedAt && r.at < firstHit!).map((r) => r.ms);
    const counts = (from: number, to: number) => {
      const seen: Record<string, number> = {};
      for (const r of replies) if (r.at >= from && r.at < to) seen[r.xCache] = (seen[r.xCache] ?? 0) + 1;
      return JSON.stringify(seen);
    };
    fx.figures.push(
      `kill -9 at ${fmt(killedAt)}, restarted at ${fmt(restartedAt)}, first HIT after restart at ${fmt(firstHit)} ` +
        `(${fmt(firstHit - restartedAt)} after the restart); ${replies.length} requests, ${failures.length} failed; ` +
        `during the outage (${outage.length} requests) max ${fmt(Math.max(...outage))}, p95 ${fmt(percentile(outage, 95))}; ` +
        `X-Cache before ${counts(0, killedAt)}, outage ${counts(killedAt, firstHit)}, after ${counts(firstHit, Infinity)}`,
    );
    expect(failures).toEqual([]);
    expect(replies).toHaveLength(150);
    expect(firstHit - restartedAt).toBeLessThan(5000);
    expect(Math.max(...outage)).toBeLessThan(600);
    // Caching worked before the kill, and the outage was answered by the handler.
    expect(replies.filter((r) => r.at < killedAt && r.xCache === 'HIT').length).toBeGreaterThan(30);
    expect(replies.some((r) => r.at >= killedAt && r.at < restartedAt && r.xCache === 'BYPASS')).toBe(true);
  });
});

describe('when Redis restarts empty while a GET that read before a PUT is being made', () => {
  let server: ChildProcess | undefined;
  afterEach(async () => {
    if (server) await killRedis(server, 'SIGTERM');
  });

  // B makes a GET's answer from the row as it was; A's PUT invalidates it, leaving records
  // in Redis; then Redis restarts and the records are gone. B's write finds none (and B's
  // own log never heard of A's PUT): only the lost connection tells B that its making may
  // predate an invalidation, so that answer must not be stored.
  it('should answer every GET after the PUT with the new row, on both instances', async () => {
    const port = await freePort();
    server = await spawnRedis(port);
    const namespace = uniqueNamespace('faults');
    const row = { v: 1 };
    const calls = { A: 0, B: 0 };
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const start = async (name: 'A' | 'B') => {
      const cache = createCache({ namespace, jitter: 0, ttl: 60, redis: `redis://127.0.0.1:${port}`, storeTimeout: 500 });
      const app = express();
      app.get('/row', cache.middleware(), (_req, res) => {
        const first = name === 'B' && calls.B === 0;
        calls[name]++;
        const read = row.v;
        // B's first making reads its row, then waits while the PUT and the restart happen.
        void (first ? held : Promise.resolve()).then(() => res.json({ v: read }));
      });
      app.put('/row', cache.invalidates({ paths: ['/row'] }), (_req, res) => {
        row.v = 2;
        res.sendStatus(204);
      });
      const i = await listen(name, app, cache);
      fx.open.push(i);
      const client = (engineOf(cache).store as RedisStore).client as Redis;
      await until(() => client.status === 'ready', 5000, `${name} connected`);
      return { ...i, client };
    };
    const a = await start('A');
    const b = await start('B');
    const first = request(b.url, '/row');
    await until(() => calls.B === 1, 5000, "B's making started");
    expect((await fetch(`${a.url}/row`, { method: 'PUT' })).status).toBe(204);
    await killRedis(server, 'SIGKILL');
    server = await spawnRedis(port);
    await until(() => a.client.status === 'ready' && b.client.status === 'ready', 5000, 'both reconnected');
    release();
    // Sent before the PUT's answer: the old row is its right answer.
    expect(JSON.parse((await first).text)).toEqual({ v: 1 });
    await sleep(100);
    for (const i of [b, a, b]) expect(JSON.parse((await request(i.url, '/row')).text)).toEqual({ v: 2 });
  });
});

describe('when the bytes of an entry are corrupted in Redis', () => {
  const cases: Array<[string, (good: Buffer) => Buffer]> = [
    ['garbage', () => Buffer.from('\x00\xffnot an entry at all')],
    [
      'a valid-looking entry with a wrong version byte',
      (good) => {
        const bad = Buffer.from(good);
        bad[9] = ENTRY_VERSION + 1; // after the state byte and token
        return bad;
      },
    ],
    ['an entry cut short', (good) => good.subarray(0, 20)],
  ];

  it.each(cases)('should answer a MISS with the right body over %s, report it, and rewrite the entry', async (_label, corrupt) => {
    const a = await instance({ redis: fx.redis.url });
    const namespace = engineOf(a.cache).options.namespace;
    expect((await request(a.url, '/item/9')).xCache).toBe('MISS');
    await until(() => a.cache.stats().stores === 1, 1000, 'stored');
    const [key] = await scanKeys(fx.admin, `e:{cache:v1:${namespace}:GET:http://127.0.0.1/item/9}`);
    expect(key).toBeDefined();
    const good = (await fx.admin.getBuffer(key!))!;
    expect(await fx.admin.set(key!, corrupt(good), 'KEEPTTL')).toBe('OK');

    const next = await request(a.url, '/item/9');
    expect(next.xCache).toBe('MISS');
    expectRight(next, '9');
    expect(a.errors).toEqual(['ERC_ENTRY_CORRUPT']);
    await until(() => a.cache.stats().stores === 2, 1000, 'rewritten');
    const rewritten = (await fx.admin.getBuffer(key!))!;
    expect(rewritten[0]).toBe(0xe1); // live
    expect(rewritten[9]).toBe(ENTRY_VERSION); // codec version
    const hit = await request(a.url, '/item/9');
    expect(hit.xCache).toBe('HIT');
    expectRight(hit, '9');
    expect(a.origin.calls).toBe(2);
  });
});

describe('when an entry key holds another Redis type (another program wrote there)', () => {
  const kinds: Array<[string, (admin: Redis, key: string) => Promise<unknown>]> = [
    ['a hash', (admin, key) => admin.hset(key, 'f', 'v')],
    ['a list', (admin, key) => admin.rpush(key, 'a', 'b')],
    ['a set', (admin, key) => admin.sadd(key, 'a')],
  ];

  /** The instance after one stored MISS of /item/9, with its entry key replaced by `kind`. */
  async function overwritten(kind: (admin: Redis, key: string) => Promise<unknown>) {
    const a = await instance({ redis: fx.redis.url });
    const namespace = engineOf(a.cache).options.namespace;
    expect((await request(a.url, '/item/9')).xCache).toBe('MISS');
    await until(() => a.cache.stats().stores === 1, 1000, 'stored');
    const [key] = await scanKeys(fx.admin, `e:{cache:v1:${namespace}:GET:http://127.0.0.1/item/9}`);
    expect(key).toBeDefined();
    await fx.admin.del(key!);
    await kind(fx.admin, key!);
    return { a, key: key! };
  }

  it.each(kinds)('should answer a MISS over %s (not BYPASS), replace it with the entry, and HIT after', async (_label, kind) => {
    const { a, key } = await overwritten(kind);
    const next = await request(a.url, '/item/9');
    expect([next.xCache, a.errors]).toEqual(['MISS', []]);
    expectRight(next, '9');
    await until(() => a.cache.stats().stores === 2, 1000, 'rewritten');
    expect(await fx.admin.type(key)).toBe('string');
    const hit = await request(a.url, '/item/9');
    expect(hit.xCache).toBe('HIT');
    expectRight(hit, '9');
    expect(a.origin.calls).toBe(2);
    expect(a.errors).toEqual([]);
  });

  it.each(kinds)('should let a path invalidation over %s through (nothing kept), counting it 0 and unlinking it', async (_label, kind) => {
    const { a, key } = await overwritten(kind);
    expect(await a.cache.invalidate({ paths: ['/item/9'] })).toBe(0);
    expect(engineOf(a.cache).guarded.pendingInvalidations).toBe(0);
    expect(await fx.admin.exists(key)).toBe(0);
    expect(a.errors).toEqual([]);
    expect((await request(a.url, '/item/9')).xCache).toBe('MISS');
    await until(() => a.cache.stats().stores === 2, 1000, 'stored again');
    expect((await request(a.url, '/item/9')).xCache).toBe('HIT');
  });
});

describe('values when Redis is out', () => {
  /**
   * get, set, getOrSet, each on a fresh cache (breaker closed), timed. `out` runs once every
   * cache is connected (on a reachable Redis), to take it out; caches close after `back`.
   */
  async function timed(options: ExpressCacheOptions, out?: () => Promise<void>, back?: () => Promise<void>) {
    const ops = ['get', 'set', 'getOrSet'] as const;
    const caches = ops.map(() => {
      const errors: string[] = [];
      const cache = createCache({ namespace: uniqueNamespace('values-out'), onError: (e) => errors.push(e.code), ...options });
      return { cache, errors };
    });
    const ms: Record<string, number> = {};
    const results: unknown[] = [];
    try {
      if (out) {
        for (const { cache } of caches) expect(await cache.ping()).toBe(true);
        await out();
      }
      for (const [n, op] of ops.entries()) {
        const users = caches[n]!.cache.values<string>('users');
        const started = performance.now();
        if (op === 'get') results.push(await users.get('1'));
        if (op === 'set') results.push(await users.set('1', 'x'));
        if (op === 'getOrSet') results.push(await users.getOrSet('1', () => 'computed'));
        ms[op] = performance.now() - started;
        expect(caches[n]!.errors.length).toBeGreaterThan(0);
      }
    } finally {
      await back?.();
      for (const { cache } of caches) await cache.close();
    }
    expect(results).toEqual([undefined, false, 'computed']);
    return ms;
  }

  it("should answer undefined / false / the factory's value at once on a dead port", async () => {
    const port = await freePort();
    const ms = await timed({ redis: `redis://127.0.0.1:${port}`, storeTimeout: 100 });
    fx.figures.push(`values on a dead port (fresh cache each): get ${fmt(ms.get!)}, set ${fmt(ms.set!)}, getOrSet ${fmt(ms.getOrSet!)}`);
    for (const op of ['get', 'set', 'getOrSet']) expect(ms[op]).toBeLessThan(100 + 150);
  });

  it("should answer undefined / false / the factory's value within storeTimeout on a paused Redis (one cache)", async () => {
    const errors: string[] = [];
    const cache = createCache({ redis: fx.redis.url, namespace: uniqueNamespace('values-paused'), storeTimeout: 100, onError: (e) => errors.push(e.code) });
    const users = cache.values<string>('users');
    expect(await cache.ping()).toBe(true);
    const pauser = new Redis(fx.redis.url);
    try {
      await pauser.client('PAUSE', 1000, 'ALL');
      const ms: number[] = [];
      const time = async <T>(run: () => Promise<T>): Promise<T> => {
        const started = performance.now();
        const v = await run();
        ms.push(performance.now() - started);
        return v;
      };
      expect(await time(() => users.get('1'))).toBeUndefined();
      expect(await time(() => users.set('1', 'x'))).toBe(false);
      expect(await time(() => users.getOrSet('2', () => 'computed'))).toBe('computed');
      expect(await time(() => users.getMany(['1', '2']))).toEqual([undefined, undefined]);
      fx.figures.push(
        `values on a paused Redis (one cache, storeTimeout 100): get ${fmt(ms[0]!)}, set ${fmt(ms[1]!)}, getOrSet ${fmt(ms[2]!)}, getMany ${fmt(ms[3]!)}`,
      );
      for (const t of ms) expect(t).toBeLessThan(100 + 100);
      expect(errors).toContain('ERC_STORE_TIMEOUT');
    } finally {
      await pauser.quit();
      await cache.close();
    }
  });

  // A read that could not reach the store skips the lock and the write, as a response BYPASS does.
  it('should not spend more than one storeTimeout in getOrSet on a paused Redis', async () => {
    const pauser = new Redis(fx.redis.url);
    try {
      const ms = await timed(
        { redis: fx.redis.url, storeTimeout: 150 },
        async () => void (await pauser.client('PAUSE', 1000, 'ALL')),
        () => until(async () => (await pauser.ping()) === 'PONG', 2000, 'pause over').then(() => undefined),
      );
      fx.figures.push(`values on a paused Redis (fresh cache each, storeTimeout 150): get ${fmt(ms.get!)}, set ${fmt(ms.set!)}, getOrSet ${fmt(ms.getOrSet!)}`);
      for (const op of ['get', 'set', 'getOrSet']) expect(ms[op]).toBeLessThan(150 + 100);
    } finally {
      await pauser.quit();
    }
  });
});
