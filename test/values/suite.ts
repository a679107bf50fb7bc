/**
 * The value-cache behaviour every store must give: run against memory, Redis and Cluster.
 */
import type { ResponseCache } from '../../src/cache';

interface User {
  id: string;
  name: string;
}
const parseUser = (v: unknown): User => {
  const u = v as User;
  if (!u || typeof u.id !== 'string' || typeof u.name !== 'string') throw new Error('not a User');
  return u;
};

export function valuesSuite(name: string, makeCache: () => Promise<ResponseCache<unknown, unknown>>): void {
  describe(`values on ${name}`, () => {
    let cache: ResponseCache<unknown, unknown>;
    let seq = 0;
    const ns = () => `users${++seq}`;

    beforeEach(async () => {
      cache = await makeCache();
    });
    afterEach(async () => {
      await cache.close();
    });

    describe('when input is bad', () => {
      it('should throw a TypeError for a bad namespace or ttl at construction', () => {
        expect(() => cache.values('a:b')).toThrow(TypeError);
        expect(() => cache.values('ok', { ttl: -1 })).toThrow('ttl');
        expect(() => cache.values('ok', { serialize: 'x' as never })).toThrow('serialize');
      });

      it('should treat a value that fails parse as a miss', async () => {
        const loose = cache.values<unknown>('shape');
        await loose.set('1', { id: 1, fullName: 'old shape' });
        const strict = cache.values<User>('shape', { parse: parseUser });
        expect(await strict.get('1')).toBeUndefined();
        expect(await strict.getOrSet('1', () => ({ id: '1', name: 'Ada' }))).toEqual({ id: '1', name: 'Ada' });
        expect(await strict.get('1')).toEqual({ id: '1', name: 'Ada' });
      });

      it('should keep ids from reaching another id or namespace', async () => {
        const a = cache.values<string>(ns());
        await a.set('x:y', 'one');
        await a.set('x', 'two');
        expect(await a.get('x:y')).toBe('one');
        expect(a.key('../b:c')).not.toContain('b:c');
      });
    });

    describe('when round-tripping', () => {
      it('should get what was set, typed, and undefined for a miss', async () => {
        const users = cache.values<User>(ns(), { ttl: 60, parse: parseUser });
        expect(await users.get('42')).toBeUndefined();
        expect(await users.set('42', { id: '42', name: 'Ada' })).toBe(true);
        const u: User | undefined = await users.get('42');
        expect(u).toEqual({ id: '42', name: 'Ada' });
        const ttl = await users.getTtl('42');
        expect(ttl).toBeGreaterThan(50);
        expect(ttl).toBeLessThanOrEqual(66);
        expect(await users.delete('42')).toBe(true);
        expect(await users.get('42')).toBeUndefined();
        expect(await users.delete('42')).toBe(false);
      });

      it('should never store undefined', async () => {
        const v = cache.values<string | undefined>(ns());
        expect(await v.set('a', undefined)).toBe(false);
        let calls = 0;
        expect(
          await v.getOrSet('a', () => {
            calls++;
            return undefined;
          }),
        ).toBeUndefined();
        expect(
          await v.getOrSet('a', () => {
            calls++;
            return undefined;
          }),
        ).toBeUndefined();
        expect(calls).toBe(2);
      });

      it('should answer getMany in order with gaps, and setMany from pairs or a Map', async () => {
        const v = cache.values<number>(ns());
        expect(
          await v.setMany([
            ['a', 1],
            ['c', 3],
          ]),
        ).toBe(true);
        expect(await v.setMany(new Map([['d', 4]]))).toBe(true);
        expect(await v.getMany(['a', 'b', 'c', 'd'])).toEqual([1, undefined, 3, 4]);
        expect(await v.getMany([])).toEqual([]);
      });

      it('should use custom serialize / deserialize', async () => {
        const v = cache.values<Buffer>(ns(), { serialize: (b) => b, deserialize: (b) => Buffer.from(b) });
        const bytes = Buffer.from([0, 255, 1, 254]);
        await v.set('bin', bytes);
        expect((await v.get('bin'))?.equals(bytes)).toBe(true);
      });
    });

    describe('when computing with getOrSet', () => {
      it('should make one factory call for 50 concurrent callers', async () => {
        const v = cache.values<number>(ns());
        let calls = 0;
        const factory = async () => {
          calls++;
          await new Promise((r) => setTimeout(r, 30));
          return 7;
        };
        const results = await Promise.all(Array.from({ length: 50 }, () => v.getOrSet('k', factory)));
        expect(results.every((r) => r === 7)).toBe(true);
        expect(calls).toBe(1);
      });

      it('should store nothing and rethrow to every waiter when the factory throws', async () => {
        const v = cache.values<number>(ns());
        const factory = async () => {
          await new Promise((r) => setTimeout(r, 20));
          throw new Error('db down');
        };
        const results = await Promise.allSettled(Array.from({ length: 5 }, () => v.getOrSet('k', factory)));
        expect(results.every((r) => r.status === 'rejected' && (r.reason as Error).message === 'db down')).toBe(true);
        expect(await v.get('k')).toBeUndefined();
      });
    });

    describe('when invalidating', () => {
      it('should reach values and responses through one tag', async () => {
        const v = cache.values<string>(ns());
        await v.set('42', 'row', { tags: ['user:42'] });
        await v.set('43', 'other', { tags: ['user:43'] });
        expect(await cache.invalidate({ tags: ['user:42'] })).toBe(1);
        expect(await v.get('42')).toBeUndefined();
        expect(await v.get('43')).toBe('other');
      });

      it('should clear a namespace without touching another', async () => {
        const a = cache.values<number>(ns());
        const b = cache.values<number>(ns());
        await a.setMany([
          ['1', 1],
          ['2', 2],
        ]);
        await b.set('1', 1);
        expect(await a.clear()).toBe(2);
        expect(await b.get('1')).toBe(1);
      });

      it('should invalidate a cached() function by its arguments', async () => {
        let calls = 0;
        const find = cache.cached(
          async (id: string) => {
            calls++;
            return { id, n: calls };
          },
          { key: (id) => id, ttl: 60, namespace: ns() },
        );
        expect(await find('1')).toEqual({ id: '1', n: 1 });
        expect(await find('1')).toEqual({ id: '1', n: 1 });
        expect(await find.invalidate('1')).toBe(true);
        expect(await find('1')).toEqual({ id: '1', n: 2 });
        expect(calls).toBe(2);
      });
    });

    describe('when ids are objects or arrays', () => {
      it('should key a plain object id canonically: key order does not matter, recursively', async () => {
        const products = cache.values<string[]>(ns());
        await products.set({ page: 1, sort: 'a', filter: { tag: 'x', min: 2 } }, ['p1']);
        expect(await products.get({ filter: { min: 2, tag: 'x' }, sort: 'a', page: 1 })).toEqual(['p1']);
        expect(await products.get({ page: 2, sort: 'a', filter: { tag: 'x', min: 2 } })).toBeUndefined();
        expect(await products.has({ sort: 'a', page: 1, filter: { tag: 'x', min: 2 } })).toBe(true);
        expect(products.key({ a: 1, b: undefined })).toBe(products.key({ a: 1 }));
      });

      it('should keep an object id apart from a string id that reads the same', async () => {
        const v = cache.values<string>(ns());
        await v.set({ a: 1 }, 'object');
        await v.set('{"a":1}', 'string');
        expect(await v.get({ a: 1 })).toBe('object');
        expect(await v.get('{"a":1}')).toBe('string');
        expect(await v.getMany([['x', 1], { a: 1 }])).toEqual([undefined, 'object']);
      });

      it('should reject functions, symbols, cycles and non-plain objects with a TypeError', () => {
        const v = cache.values<string>(ns());
        const cycle: Record<string, unknown> = { a: 1 };
        cycle.self = cycle;
        expect(() => v.key({ f: (() => 1) as never })).toThrow(/id\.f must be .*got a function/);
        expect(() => v.key({ s: Symbol('x') as never })).toThrow(TypeError);
        expect(() => v.key(cycle as never)).toThrow(/cycle/);
        expect(() => v.key({ when: new Date() as never })).toThrow(/plain object/);
        expect(() => v.key(Number.NaN)).toThrow(/finite/);
        expect(() => v.key(undefined as never)).toThrow(TypeError);
      });
    });

    describe('when asking has(id)', () => {
      it('should answer true for a live value, false for a miss, a deleted or a rejected one', async () => {
        const v = cache.values<User>(ns(), { parse: parseUser });
        expect(await v.has('1')).toBe(false);
        await v.set('1', { id: '1', name: 'Ada' });
        expect(await v.has('1')).toBe(true);
        await cache.values<unknown>(v.namespace).set('2', { wrong: 'shape' });
        expect(await v.has('2')).toBe(false);
        await v.delete('1');
        expect(await v.has('1')).toBe(false);
      });
    });

    describe('when a namespace has a version', () => {
      it('should orphan the values of another version and leave other namespaces alone', async () => {
        const name = ns();
        const other = cache.values<number>(ns());
        await other.set('1', 10);
        const v1 = cache.values<number>(name, { version: 'v1' });
        await v1.set('1', 1);
        const v2 = cache.values<number>(name, { version: 'v2' });
        expect(await v2.get('1')).toBeUndefined();
        await v2.set('1', 2);
        expect(await v1.get('1')).toBe(1);
        expect(await v2.get('1')).toBe(2);
        expect(await other.get('1')).toBe(10);
        expect(() => cache.values(name, { version: 'a:b' })).toThrow(/version/);
      });
    });

    describe('when durations are strings', () => {
      it("should read '10 minutes' as 600 seconds and refuse a string without a unit", async () => {
        const v = cache.values<number>(ns(), { ttl: '10 minutes', jitter: 0 });
        await v.set('a', 1);
        expect(await v.getTtl('a')).toBeGreaterThan(590);
        await v.set('b', 1, { ttl: '1h' });
        expect(await v.getTtl('b')).toBeGreaterThan(3590);
        expect(() => cache.values(ns(), { ttl: '60' as never })).toThrow(/number of seconds \(ttl: 300\) or a duration string/);
      });
    });

    describe('when counting', () => {
      it('should count values in stats().values, apart from responses', async () => {
        const v = cache.values<number>(ns());
        await v.get('a');
        await v.set('a', 1);
        await v.get('a');
        await v.getOrSet('b', () => 2);
        const s = cache.stats();
        expect(s.values).toEqual({ hits: 1, misses: 2, stores: 2, hitRatio: 1 / 3 });
        expect([s.hits, s.misses, s.stores]).toEqual([0, 0, 0]);
      });
    });

    describe('when clearing and listing the whole cache', () => {
      it('should list responses and values by key, and clear() both', async () => {
        const v = cache.values<number>(ns());
        await v.setMany([
          ['1', 1],
          ['2', 2],
        ]);
        const listed = await cache.keys();
        expect(listed.values.sort()).toEqual([v.key('1'), v.key('2')].sort());
        expect(listed.truncated).toBe(false);
        expect((await cache.keys({ limit: 1 })).truncated).toBe(true);
        expect(await cache.clear()).toBe(2);
        expect(await v.get('1')).toBeUndefined();
        expect(await cache.keys()).toEqual({ responses: [], values: [], truncated: false });
      });
    });

    describe('when checking health', () => {
      it('should be available and answer ping', async () => {
        expect(cache.isAvailable).toBe(true);
        expect(await cache.ping()).toBe(true);
      });
    });
  });
}
