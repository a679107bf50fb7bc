/**
 * The counter behaviour every store must give (cache.counters()): run against memory,
 * Redis and Cluster. `makePair` gives two caches ("instances") sharing one namespace.
 */
import type { ResponseCache } from '../../src/cache';
import { CounterOverflowError } from '../../src/errors';

type Cache = ResponseCache<unknown, unknown>;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function countersSuite(name: string, makeCache: () => Promise<Cache>, makePair: () => Promise<[Cache, Cache]>): void {
  describe(`counters on ${name}`, () => {
    let cache: Cache;
    const others: Cache[] = [];
    let seq = 0;
    const ns = () => `hits${++seq}`;

    beforeEach(async () => {
      cache = await makeCache();
    });
    afterEach(async () => {
      await cache.close();
      for (const c of others.splice(0)) await c.close();
    });

    describe('when input is bad', () => {
      it('should throw a TypeError for a bad namespace, version or ttl at construction', () => {
        expect(() => cache.counters('a:b')).toThrow(TypeError);
        expect(() => cache.counters('ok', { version: 'a:b' })).toThrow('version');
        expect(() => cache.counters('ok', { ttl: -1 })).toThrow('ttl');
      });

      it.each([['a'], [['']], [[1]], [null]])('should reject tags of %p with a TypeError naming tags, and change nothing', async (tags) => {
        const hits = cache.counters(ns());
        await expect(hits.increment('a', 1, { tags: tags as unknown as string[] })).rejects.toThrow(/tags must be an array of non-empty strings/);
        await expect(hits.decrement('a', 1, { tags: tags as unknown as string[] })).rejects.toThrow(TypeError);
        expect(await hits.get('a')).toBe(0);
      });

      it.each([[1.5], [Number.NaN], [Infinity], [2 ** 53], ['1' as unknown as number]])(
        'should reject a by of %p with a TypeError and change nothing',
        async (by) => {
          const hits = cache.counters(ns());
          await expect(hits.increment('a', by)).rejects.toThrow(TypeError);
          await expect(hits.decrement('a', by)).rejects.toThrow(TypeError);
          expect(await hits.get('a')).toBe(0);
        },
      );

      it('should refuse an increment past MAX_SAFE_INTEGER with a typed error, leaving the counter as it was', async () => {
        const big = cache.counters(ns());
        expect(await big.increment('n', Number.MAX_SAFE_INTEGER - 1)).toBe(Number.MAX_SAFE_INTEGER - 1);
        expect(await big.increment('n')).toBe(Number.MAX_SAFE_INTEGER);
        const err = await big.increment('n').catch((e: unknown) => e);
        expect(err).toBeInstanceOf(CounterOverflowError);
        expect((err as CounterOverflowError).code).toBe('ERC_COUNTER_OVERFLOW');
        expect(await big.get('n')).toBe(Number.MAX_SAFE_INTEGER);
        expect(await big.decrement('m', Number.MAX_SAFE_INTEGER)).toBe(-Number.MAX_SAFE_INTEGER);
        await expect(big.decrement('m', 1)).rejects.toBeInstanceOf(CounterOverflowError);
        expect(await big.get('m')).toBe(-Number.MAX_SAFE_INTEGER);
      });
    });

    describe('when counting', () => {
      it('should answer each new value, decrement, read 0 for none, expire and delete', async () => {
        const hits = cache.counters(ns(), { ttl: 60 });
        expect(await hits.get('/home')).toBe(0);
        expect(await hits.increment('/home')).toBe(1);
        expect(await hits.increment('/home', 5)).toBe(6);
        expect(await hits.decrement('/home', 2)).toBe(4);
        expect(await hits.decrement('/home')).toBe(3);
        expect(await hits.get('/home')).toBe(3);
        expect(await hits.expire('/home', 60)).toBe(true);
        expect(await hits.expire('/none', 60)).toBe(false);
        expect(await hits.delete('/home')).toBe(true);
        expect(await hits.delete('/home')).toBe(false);
        expect(await hits.get('/home')).toBe(0);
        expect(await hits.increment('/home')).toBe(1);
      });

      it('should keep ids, namespaces, versions and values apart', async () => {
        const name = ns();
        const a = cache.counters(name);
        await a.increment('x:y', 7);
        await a.increment('x');
        await a.increment({ user: 1 }, 3);
        expect(await a.get('x:y')).toBe(7);
        expect(await a.get('x')).toBe(1);
        expect(await a.get({ user: 1 })).toBe(3);
        expect(await a.get(1)).toBe(0);
        expect(await cache.counters(`${name}.b`).get('x')).toBe(0);
        expect(await cache.counters(name, { version: 'v2' }).get('x')).toBe(0);
        // The same namespace and id as a value: two different entries.
        const values = cache.values<string>(name);
        expect(await values.set('x', 'a value')).toBe(true);
        expect(await a.increment('x')).toBe(2);
        expect(await values.get('x')).toBe('a value');
        expect(a.key('x')).toContain(':cnt:');
        expect(a.key('../b:c')).not.toContain('b:c');
      });

      it('should fix a window at the first increment: later increments do not push it forward', async () => {
        const hits = cache.counters(ns());
        expect(await hits.increment('u', 1, { ttl: 1 })).toBe(1);
        await sleep(600);
        // A second hit inside the window, with a new ttl: the window keeps its end.
        expect(await hits.increment('u', 1, { ttl: 1 })).toBe(2);
        await sleep(700);
        expect(await hits.get('u')).toBe(0);
        expect(await hits.increment('u', 1, { ttl: 1 })).toBe(1);
      });

      it('should give a counter a new window with expire()', async () => {
        const hits = cache.counters(ns());
        await hits.increment('u', 1, { ttl: 1 });
        expect(await hits.expire('u', 60)).toBe(true);
        await sleep(1300);
        expect(await hits.get('u')).toBe(1);
      });

      it("should clear its namespace, and cache.clear() every counter, but leave others' counters and ignore tags", async () => {
        const a = cache.counters(ns());
        const b = cache.counters(ns());
        await a.increment('1');
        await a.increment('2');
        await b.increment('1');
        expect(await cache.invalidate({ tags: ['1'] })).toBe(0);
        expect(await a.clear()).toBe(2);
        expect([await a.get('1'), await a.get('2'), await b.get('1')]).toEqual([0, 0, 1]);
        await cache.values<string>('v').set('1', 'x');
        expect(await cache.clear()).toBe(2);
        expect(await b.get('1')).toBe(0);
      });
    });

    describe('when counters carry tags', () => {
      it("should reset the tagged counters and values with invalidate({ tags }), keeping untagged ones and other tags'", async () => {
        const hits = cache.counters(ns(), { ttl: 60 });
        const users = cache.values<string>(ns());
        expect(await hits.increment('rate:7', 1, { tags: ['user:7'] })).toBe(1);
        expect(await hits.increment('rate:7', 1, { tags: ['user:7'] })).toBe(2);
        expect(await hits.decrement('credit:7', 5, { tags: ['user:7', 'billing'] })).toBe(-5);
        expect(await hits.increment('rate:8', 1, { tags: ['user:8'] })).toBe(1);
        expect(await hits.increment('visits')).toBe(1);
        expect(await users.set('7', 'Ada', { tags: ['user:7'] })).toBe(true);
        // Two counters and the value, each once (credit:7 carries both tags).
        expect(await cache.invalidate({ tags: ['user:7', 'billing'] })).toBe(3);
        expect([await hits.get('rate:7'), await hits.get('credit:7'), await hits.get('rate:8'), await hits.get('visits')]).toEqual([0, 0, 1, 1]);
        expect(await users.get('7')).toBeUndefined();
        // A fresh window after the reset, tagged again.
        expect(await hits.increment('rate:7', 1, { tags: ['user:7'] })).toBe(1);
        expect(await cache.invalidate({ tags: ['user:7'] })).toBe(1);
        expect(await hits.get('rate:7')).toBe(0);
      });

      it('should keep the tags of the increment that created the counter, through expire(), and ignore later ones', async () => {
        const hits = cache.counters(ns());
        await hits.increment('a', 1, { ttl: 1 });
        await hits.increment('a', 1, { tags: ['late'] });
        await hits.increment('b', 1, { ttl: 1, tags: ['early'] });
        await hits.increment('b', 1, { tags: ['late'] });
        expect(await cache.invalidate({ tags: ['late'] })).toBe(0);
        expect(await hits.expire('b', 60)).toBe(true);
        await sleep(1300);
        // Past its first window: the renewed counter is still found by its tag.
        expect(await hits.get('a')).toBe(0);
        expect(await hits.get('b')).toBe(2);
        expect(await cache.invalidate({ tags: ['early'] })).toBe(1);
        expect(await hits.get('b')).toBe(0);
      });

      it('should remove tagged counters with clear(), leaving nothing for their tags', async () => {
        const hits = cache.counters(ns());
        await hits.increment('a', 1, { tags: ['t'] });
        // clear() of the namespace removes tagged counters too.
        expect(await hits.clear()).toBe(1);
        expect(await cache.invalidate({ tags: ['t'] })).toBe(0);
      });
    });

    describe('when two instances count at once', () => {
      it('should answer N distinct values 1..N to tagged increments over both, and both see one invalidate({ tags })', async () => {
        const [a, b] = await makePair();
        others.push(a, b);
        const name = ns();
        const [ca, cb] = [a.counters(name), b.counters(name)];
        const N = 200;
        const got = await Promise.all(Array.from({ length: N }, (_v, i) => (i % 2 ? cb : ca).increment('page', 1, { ttl: 60, tags: ['page'] })));
        expect([...got].sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_v, i) => i + 1));
        expect(await cb.get('page')).toBe(N);
        expect(await a.invalidate({ tags: ['page'] })).toBe(1);
        expect([await ca.get('page'), await cb.get('page')]).toEqual([0, 0]);
        const again = await Promise.all(Array.from({ length: 20 }, (_v, i) => (i % 2 ? cb : ca).increment('page', 1, { tags: ['page'] })));
        expect(Math.max(...again)).toBe(20);
      });

      it('should answer N distinct values 1..N over both and leave N', async () => {
        const [a, b] = await makePair();
        others.push(a, b);
        const name = ns();
        const [ca, cb] = [a.counters(name), b.counters(name)];
        const N = 200;
        const got = await Promise.all(Array.from({ length: N }, (_v, i) => (i % 2 ? cb : ca).increment('page', 1, { ttl: 60 })));
        expect([...got].sort((x, y) => x - y)).toEqual(Array.from({ length: N }, (_v, i) => i + 1));
        expect(await ca.get('page')).toBe(N);
        expect(await cb.get('page')).toBe(N);
        // Mixed increments and decrements end where the model says.
        await Promise.all(Array.from({ length: 50 }, (_v, i) => (i % 2 ? cb.decrement('page', 3) : ca.increment('page', 2))));
        expect(await cb.get('page')).toBe(N + 25 * 2 - 25 * 3);
      });
    });
  });
}
