import { MemoryStore, MEMORY_STORE_DEFAULTS } from '../../src/stores/memory';

const index = (path: string, tags: string[] = []) => ({ path, tags });

describe('MemoryStore', () => {
  describe('when options are invalid', () => {
    it.each([
      [{ maxEntries: 0 }, 'maxEntries'],
      [{ maxBytes: -1 }, 'maxBytes'],
      [{ sweepInterval: -5 }, 'sweepInterval'],
    ])('%j throws', (o, name) => {
      expect(() => new MemoryStore(o)).toThrow(name);
    });
  });

  describe('when bounded', () => {
    it('should be bounded by default', () => {
      expect(MEMORY_STORE_DEFAULTS.maxEntries).toBeGreaterThan(0);
      expect(MEMORY_STORE_DEFAULTS.maxBytes).toBeGreaterThan(0);
    });

    it('should hold at most maxEntries and maxBytes, and keep its indexes as small', async () => {
      const store = new MemoryStore({ maxEntries: 100, maxBytes: 10_000, sweepInterval: 0 });
      for (let i = 0; i < 5000; i++) await store.set(`k${i}`, Buffer.alloc(50), 60_000, index(`/p${i % 7}`, [`t${i}`]));
      expect(store.size).toBeLessThanOrEqual(100);
      expect(store.bytes).toBeLessThanOrEqual(10_000);
      const internals = store as unknown as { meta: Map<string, unknown>; byTag: Map<string, unknown>; byPath: Map<string, unknown> };
      expect(internals.meta.size).toBe(store.size);
      expect(internals.byTag.size).toBe(store.size);
      expect(internals.byPath.size).toBeLessThanOrEqual(7);
      await store.close();
    });

    it('should refuse an entry larger than maxBytes without indexing it', async () => {
      const store = new MemoryStore({ maxBytes: 100, sweepInterval: 0 });
      await store.set('big', Buffer.alloc(200), 60_000, index('/big', ['t']));
      expect(await store.get('big')).toBeUndefined();
      expect(await store.deleteByTag(['t'])).toBe(0);
      await store.close();
    });

    it('should drop expired entries from its indexes when swept', async () => {
      let now = 1000;
      const store = new MemoryStore({ sweepInterval: 0, now: () => now });
      await store.set('a', Buffer.from('x'), 100, index('/a', ['t']));
      now += 200;
      (store as unknown as { lru: { purgeStale(): void } }).lru.purgeStale();
      expect((store as unknown as { meta: Map<string, unknown> }).meta.size).toBe(0);
      await store.close();
    });
  });
});
