import { ResponseCache } from '../../src/cache';
import { MemoryStore } from '../../src/stores/memory';
import { countersSuite } from './counters-suite';
import { valuesSuite } from './suite';

valuesSuite('MemoryStore', async () => new ResponseCache({}));
// Two "instances" in one process: two caches on one MemoryStore.
countersSuite(
  'MemoryStore',
  async () => new ResponseCache({}),
  async () => {
    const store = new MemoryStore();
    return [new ResponseCache({ store }), new ResponseCache({ store })];
  },
);

describe('cached() on memory', () => {
  it('should default its namespace to the function name and source, stable across instances', async () => {
    const a = new ResponseCache({});
    const b = new ResponseCache({});
    function findUser(id: string) {
      return { id };
    }
    const onA = a.cached(findUser);
    expect(onA.values.namespace).toBe(b.cached(findUser).values.namespace);
    expect(onA.values.namespace).toMatch(/^fn\.findUser\.[0-9a-f]{8}$/);
    await a.close();
    await b.close();
  });
});

describe('cached() from a factory', () => {
  interface User {
    kind: 'user';
    id: string;
  }
  interface Order {
    kind: 'order';
    id: string;
  }

  it('should refuse a second wrapper on the same derived namespace, so results cannot leak between functions', async () => {
    const cache = new ResponseCache({});
    const byId = <T>(load: (id: string) => Promise<T>) => cache.cached((id: string) => load(id), { ttl: 60 });
    const users = byId(async (id): Promise<User> => ({ kind: 'user', id }));
    expect(() => byId(async (id): Promise<Order> => ({ kind: 'order', id }))).toThrow(/already used by another cached\(\) function.*namespace/);
    expect(await users('1')).toEqual({ kind: 'user', id: '1' });
    await cache.close();
  });

  it('should keep wrappers apart when each has its own namespace', async () => {
    const cache = new ResponseCache({});
    let loads = 0;
    const byId = <T>(namespace: string, load: (id: string) => Promise<T>) => cache.cached((id: string) => load(id), { ttl: 60, namespace });
    const users = byId('users', async (id): Promise<User> => (loads++, { kind: 'user', id }));
    const orders = byId('orders', async (id): Promise<Order> => (loads++, { kind: 'order', id }));
    expect(await users('1')).toEqual({ kind: 'user', id: '1' });
    expect(await orders('1')).toEqual({ kind: 'order', id: '1' });
    expect(await users('1')).toEqual({ kind: 'user', id: '1' });
    expect(loads).toBe(2);
    await cache.close();
  });

  it('should refuse a cached() namespace that values() uses, and the reverse', async () => {
    const cache = new ResponseCache({});
    cache.values('users');
    expect(() => cache.cached(async () => 1, { namespace: 'users' })).toThrow(/already used by cache.values\(\)/);
    cache.cached(async () => 1, { namespace: 'orders' });
    expect(() => cache.values('orders')).toThrow(/already used by cache.cached\(\)/);
    expect(() => cache.values('users')).not.toThrow();
    await cache.close();
  });

  it('should key its default ids canonically by arguments', async () => {
    const cache = new ResponseCache({});
    let calls = 0;
    const list = cache.cached(async (q: { page: number; sort: string }) => (calls++, [q.page, q.sort]), { namespace: 'list' });
    expect(await list({ page: 1, sort: 'a' })).toEqual([1, 'a']);
    expect(await list({ sort: 'a', page: 1 })).toEqual([1, 'a']);
    expect(calls).toBe(1);
    await cache.close();
  });
});
