/**
 * Counters when the store fails: unlike values they reject, with a typed error the app can
 * catch (a rate limiter chooses to fail open or closed), never a silent 0.
 */
import { createServer, type Server } from 'node:net';
import { ResponseCache } from '../../src/cache';
import { CacheError, CounterUnavailableError, StoreTimeoutError, StoreUnavailableError } from '../../src/errors';
import { MemoryStore } from '../../src/stores/memory';
import type { CacheStore, CounterOp } from '../../src/stores/store';

/** A port nothing listens on: taken, then released. */
async function deadPort(): Promise<number> {
  const server: Server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as { port: number };
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

describe('counters when Redis is down', () => {
  let url: string;
  let cache: ResponseCache<unknown, unknown>;
  const errors: string[] = [];

  beforeEach(async () => {
    errors.length = 0;
    // The cache opens (and closes) its own connection: its client fails fast while offline.
    url = `redis://127.0.0.1:${await deadPort()}`;
    cache = new ResponseCache({ redis: url, storeTimeout: 200, onError: (err) => errors.push(err.code) });
  });
  afterEach(async () => {
    await cache.close();
  });

  it('should reject every counter operation with CounterUnavailableError, and tell onError', async () => {
    const limits = cache.counters('rate');
    for (const run of [
      () => limits.increment('u1'),
      () => limits.decrement('u1'),
      () => limits.get('u1'),
      () => limits.expire('u1', 60),
      () => limits.delete('u1'),
      () => limits.clear(),
    ]) {
      const err = await run().then(
        (v: unknown) => ({ resolved: v }),
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(CounterUnavailableError);
      expect(err).toBeInstanceOf(CacheError);
      expect((err as CounterUnavailableError).code).toBe('ERC_COUNTER_UNAVAILABLE');
    }
    expect(errors.length).toBeGreaterThan(0);
  });

  it('should keep rejecting once the breaker opened (never a 0), the cause saying so', async () => {
    const limits = cache.counters('rate');
    for (let i = 0; i < 8; i++) await limits.increment('u1').catch(() => undefined);
    expect(cache.isAvailable).toBe(false);
    const err = (await limits.increment('u1').catch((e: unknown) => e)) as CounterUnavailableError;
    expect(err).toBeInstanceOf(CounterUnavailableError);
    expect(err.cause).toBeInstanceOf(StoreUnavailableError);
  });

  it('should reject under whenStoreDown "memory" too: counters never go to the per-instance fallback', async () => {
    const fallback = new ResponseCache({ redis: url, storeTimeout: 200, whenStoreDown: 'memory', onError: () => undefined });
    const limits = fallback.counters('rate');
    for (let i = 0; i < 8; i++) await expect(limits.increment('u1')).rejects.toBeInstanceOf(CounterUnavailableError);
    await fallback.close();
  });
});

describe('counters on a store that hangs', () => {
  it('should reject after storeTimeout with the timeout as cause', async () => {
    const memory = new MemoryStore();
    let release: () => void = () => undefined;
    const hanging: CacheStore = Object.assign(Object.create(memory) as MemoryStore, {
      local: false,
      counter: (op: CounterOp) =>
        new Promise<number | undefined>((resolve) => {
          release = () => void memory.counter(op).then(resolve);
        }),
    });
    const cache = new ResponseCache({ store: hanging, storeTimeout: 50, onError: () => undefined });
    const err = (await cache
      .counters('rate')
      .increment('u1')
      .catch((e: unknown) => e)) as CounterUnavailableError;
    expect(err).toBeInstanceOf(CounterUnavailableError);
    expect(err.cause).toBeInstanceOf(StoreTimeoutError);
    release();
    await cache.close();
  });
});

describe('counters on a store without counter()', () => {
  it('should throw a TypeError naming the missing method when the counters are made', async () => {
    const memory = new MemoryStore();
    const plain: CacheStore = {
      get: (k) => memory.get(k),
      set: (k, v, t, i) => memory.set(k, v, t, i),
      delete: (k) => memory.delete(k),
      deleteByPath: (p) => memory.deleteByPath(p),
      deleteByPrefix: (p) => memory.deleteByPrefix(p),
      deleteByTag: (t) => memory.deleteByTag(t),
      close: () => memory.close(),
    };
    const cache = new ResponseCache({ store: plain });
    expect(() => cache.counters('rate')).toThrow(/counter\(\) method/);
    await cache.values<string>('v').set('1', 'x');
    expect(await cache.clear()).toBe(1);
    await cache.close();
  });
});
