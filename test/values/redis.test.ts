/**
 * The value cache on a real Redis: the shared suite, and getOrSet single-flighting across
 * two instances through the store's lock.
 */
import { Redis } from 'ioredis';
import { performance } from 'node:perf_hooks';
import { ResponseCache } from '../../src/cache';
import { cleanPrefix, startRedis, type RunningRedis } from '../helpers/redis';
import { uniqueNamespace } from '../redis/instances';
import { countersSuite } from './counters-suite';
import { valuesSuite } from './suite';

let redis: RunningRedis;
let admin: Redis;
const open: Array<ResponseCache<unknown, unknown>> = [];

beforeAll(async () => {
  redis = await startRedis();
  admin = new Redis(redis.url);
});
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});
afterAll(async () => {
  await cleanPrefix(admin, 'cache:');
  await cleanPrefix(admin, 'l:');
  await admin.quit();
  await redis.stop();
});

// Each test its own namespace, on a connection the cache opens (and closes) from the URL.
valuesSuite('Redis', async () => new ResponseCache({ redis: redis.url, namespace: uniqueNamespace('values') }));
// Two instances: two caches, each with its own connection, on one namespace.
countersSuite(
  'Redis',
  async () => new ResponseCache({ redis: redis.url, namespace: uniqueNamespace('counters') }),
  async () => {
    const namespace = uniqueNamespace('counters-pair');
    return [new ResponseCache({ redis: redis.url, namespace, storeTimeout: 2000 }), new ResponseCache({ redis: redis.url, namespace, storeTimeout: 2000 })];
  },
);

/** Two caches (two "instances") on one namespace of the one Redis. */
function pair(options: { coalesce?: { timeout: number } } = {}): [ResponseCache<unknown, unknown>, ResponseCache<unknown, unknown>] {
  const namespace = uniqueNamespace('values-pair');
  const make = () => {
    // storeTimeout 2 s: these tests count factory calls across instances, not timeouts; a
    // 100 ms cut on a loaded machine would let a caller compute for itself.
    const c = new ResponseCache({ redis: redis.url, namespace, jitter: 0, storeTimeout: 2000, onError: () => undefined, ...options });
    open.push(c);
    return c;
  };
  return [make(), make()];
}

describe('values shared by two instances on one Redis', () => {
  it('should make one factory call for 50 concurrent getOrSet callers spread over both', async () => {
    const [a, b] = pair();
    const va = a.values<{ id: string; n: number }>('users');
    const vb = b.values<{ id: string; n: number }>('users');
    let calls = 0;
    const factory = async () => {
      const n = ++calls;
      await new Promise((r) => setTimeout(r, 100));
      return { id: '42', n };
    };
    const results = await Promise.all(Array.from({ length: 50 }, (_v, i) => (i % 2 ? vb : va).getOrSet('42', factory)));
    expect(calls).toBe(1);
    expect(results).toEqual(Array(50).fill({ id: '42', n: 1 }));
    // Stored once, readable from both.
    expect(await va.get('42')).toEqual({ id: '42', n: 1 });
    expect(await vb.get('42')).toEqual({ id: '42', n: 1 });
  });

  it("should let the other instance compute itself, boundedly, when the holder's factory throws", async () => {
    const [a, b] = pair({ coalesce: { timeout: 1000 } });
    const started = performance.now();
    const holder = a
      .values<string>('rows')
      .getOrSet('1', async () => {
        await new Promise((r) => setTimeout(r, 200));
        throw new Error('db down');
      })
      .then(
        () => 'resolved',
        (err: Error) => err.message,
      );
    await new Promise((r) => setTimeout(r, 50));
    const other = await b.values<string>('rows').getOrSet('1', () => 'from B');
    expect(await holder).toBe('db down');
    expect(other).toBe('from B');
    expect(performance.now() - started).toBeLessThan(1000 + 500);
  });

  // A holder whose factory threw releases its lock; the waiter takes it and computes.
  it('should stop waiting as soon as the holder released its lock without a value', async () => {
    const [a, b] = pair({ coalesce: { timeout: 2000 } });
    const holder = a
      .values<string>('rows')
      .getOrSet('1', async () => {
        await new Promise((r) => setTimeout(r, 200));
        throw new Error('db down');
      })
      .then(
        () => 'resolved',
        (err: Error) => err.message,
      );
    await new Promise((r) => setTimeout(r, 50));
    const started = performance.now();
    const other = await b.values<string>('rows').getOrSet('1', () => 'from B');
    const took = performance.now() - started;
    expect(await holder).toBe('db down');
    expect(other).toBe('from B');
    expect(took).toBeLessThan(150 + 300);
  });
});

describe('tagged counters behind a memory tier', () => {
  it('should reset them with invalidate({ tags }) on either instance: they live in Redis, which the invalidation reaches', async () => {
    const namespace = uniqueNamespace('counters-tiered');
    const make = () => {
      const c = new ResponseCache({ redis: redis.url, tiered: true, namespace, storeTimeout: 2000 });
      open.push(c);
      return c;
    };
    const [a, b] = [make(), make()];
    const [ca, cb] = [a.counters('rate'), b.counters('rate')];
    expect(await ca.increment('u7', 1, { tags: ['user:7'] })).toBe(1);
    expect(await cb.increment('u7', 1, { tags: ['user:7'] })).toBe(2);
    expect(await cb.increment('u8', 1, { tags: ['user:8'] })).toBe(1);
    expect(await b.invalidate({ tags: ['user:7'] })).toBe(1);
    expect([await ca.get('u7'), await cb.get('u7'), await ca.get('u8')]).toEqual([0, 0, 1]);
  });
});
