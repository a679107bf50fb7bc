/**
 * The value-cache behaviour every store must give: run against memory, Redis and Cluster.
 */
import type { ResponseCache } from '../../src/cache';

interface User { id: string; name: string }
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
        expect(await v.getOrSet('a', () => { calls++; return undefined; })).toBeUndefined();
        expect(await v.getOrSet('a', () => { calls++; return undefined; })).toBeUndefined();
        expect(calls).toBe(2);
      });

      it('should answer getMany in order with gaps, and setMany from pairs or a Map', async () => {
        const v = cache.values<number>(ns());
        expect(await v.setMany([['a', 1], ['c', 3]])).toBe(true);
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
        await a.setMany([['1', 1], ['2', 2]]);
        await b.set('1', 1);
        expect(await a.clear()).toBe(2);
        expect(await b.get('1')).toBe(1);
      });

      it('should invalidate a cached() function by its arguments', async () => {
        let calls = 0;
        const find = cache.cached(async (id: string) => { calls++; return { id, n: calls }; }, { key: (id) => id, ttl: 60, namespace: ns() });
        expect(await find('1')).toEqual({ id: '1', n: 1 });
        expect(await find('1')).toEqual({ id: '1', n: 1 });
        expect(await find.invalidate('1')).toBe(true);
        expect(await find('1')).toEqual({ id: '1', n: 2 });
        expect(calls).toBe(2);
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
