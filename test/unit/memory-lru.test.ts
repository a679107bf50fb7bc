import { SlotLru, coarseNow } from '../../src/stores/lru';
import { MemoryStore } from '../../src/stores/memory';

const buf = (n: number) => Buffer.alloc(n, 1);
const index = (path: string, tags: string[] = []) => ({ path, tags });

function lru(max: number, maxSize = 1e9, clock = { now: 0 }) {
  const disposed: string[] = [];
  const l: SlotLru = new SlotLru({ max, maxSize, now: () => clock.now, dispose: (slot) => disposed.push(l.keyAt(slot) as string) });
  return { l, disposed, clock };
}

describe('SlotLru', () => {
  describe('when full by count', () => {
    it('should evict the least recently used, a get counting as a use', () => {
      const { l, disposed } = lru(3);
      for (const k of ['a', 'b', 'c']) l.set(k, buf(1), 1000);
      expect(l.get('a')).toBeDefined();
      l.set('d', buf(1), 1000);
      expect(disposed).toEqual(['b']);
      expect(['a', 'b', 'c', 'd'].map((k) => l.has(k))).toEqual([true, false, true, true]);
      expect(l.size).toBe(3);
    });

    it('should grow its arrays past the first allocation and keep every entry', () => {
      const { l } = lru(1000);
      for (let i = 0; i < 1000; i++) l.set(`k${i}`, buf(1), 1000);
      expect(l.size).toBe(1000);
      expect(l.capacity).toBe(1000);
      for (let i = 0; i < 1000; i++) expect(l.has(`k${i}`)).toBe(true);
    });
  });

  describe('when full by bytes', () => {
    it('should count key and value bytes and evict from the tail until the new entry fits', () => {
      const { l, disposed } = lru(100, 30);
      l.set('a', buf(9), 1000); // 10
      l.set('b', buf(9), 1000); // 20
      l.set('c', buf(19), 1000); // 40 > 30: a goes, then 30 fits
      expect(disposed).toEqual(['a']);
      expect(l.calculatedSize).toBe(30);
    });

    it('should refuse an entry larger than maxSize and drop the older value of its key', () => {
      const { l, disposed } = lru(100, 30);
      l.set('a', buf(5), 1000);
      expect(l.set('a', buf(40), 1000)).toBeUndefined();
      expect(disposed).toEqual(['a']);
      expect(l.size).toBe(0);
      expect(l.calculatedSize).toBe(0);
    });
  });

  describe('when a key is overwritten', () => {
    it('should dispose the old value, keep the slot and recount the bytes', () => {
      const { l, disposed } = lru(10);
      const slot = l.set('a', buf(5), 1000);
      expect(l.set('a', buf(7), 1000)).toBe(slot);
      expect(disposed).toEqual(['a']);
      expect(l.calculatedSize).toBe(8);
      expect(l.get('a')?.length).toBe(7);
    });
  });

  describe('when entries expire', () => {
    it('should miss and remove them on get, and purgeStale should remove only expired ones', () => {
      const { l, disposed, clock } = lru(10);
      l.set('short', buf(1), 100);
      l.set('long', buf(1), 1000);
      l.set('gone', buf(1), 100);
      clock.now = 100;
      expect(l.get('short')).toBeUndefined();
      expect(l.slotOf('gone')).toBeDefined();
      l.purgeStale();
      expect(disposed.sort()).toEqual(['gone', 'short']);
      expect(l.size).toBe(1);
      expect(l.get('long')).toBeDefined();
    });

    it('should reuse freed slots before allocating new ones', () => {
      const { l } = lru(10);
      const a = l.set('a', buf(1), 1000);
      l.delete('a');
      expect(l.set('b', buf(1), 1000)).toBe(a);
    });
  });
});

describe('coarseNow', () => {
  it('should hold one reading within a tick and move on once its millisecond has passed', async () => {
    const first = coarseNow();
    expect(coarseNow()).toBe(first);
    await new Promise((r) => setTimeout(r, 10));
    expect(coarseNow()).toBeGreaterThan(first);
  });
});

describe('MemoryStore indexes', () => {
  type Internals = { byTag: Map<string, unknown>; byPath: Map<string, unknown>; moreTags: Map<number, unknown> };
  const internals = (s: MemoryStore) => s as unknown as Internals;

  it('should index more than two tags and drop them all on removal', async () => {
    const s = new MemoryStore({ sweepInterval: 0 });
    await s.set('k', buf(1), 60_000, index('/p', ['a', 'b', 'c', 'd']));
    await s.set('j', buf(1), 60_000, index('/p', ['d']));
    expect(await s.deleteByTag(['c'])).toBe(1);
    expect(internals(s).byTag.size).toBe(1);
    expect(internals(s).moreTags.size).toBe(0);
    expect(await s.deleteByTag(['d'])).toBe(1);
    expect(internals(s).byTag.size).toBe(0);
    expect(internals(s).byPath.size).toBe(0);
    await s.close();
  });

  it('should file a tag listed twice in one entry once', async () => {
    const s = new MemoryStore({ sweepInterval: 0 });
    await s.set('k', buf(1), 60_000, index('/p', ['a', 'a', 'a']));
    expect(await s.deleteByTag(['a'])).toBe(1);
    expect(internals(s).byTag.size).toBe(0);
    await s.close();
  });

  it('should keep a shared path or tag filed while any entry carries it', async () => {
    const s = new MemoryStore({ sweepInterval: 0 });
    for (const k of ['a', 'b', 'c']) await s.set(k, buf(1), 60_000, index('/shared', ['t']));
    await s.delete(['a', 'b']);
    expect(internals(s).byPath.size).toBe(1);
    expect(await s.deleteByPath('/shared')).toBe(1);
    expect(internals(s).byTag.size).toBe(0);
    await s.close();
  });

  it('should unindex expired entries when swept, whatever their tags', async () => {
    let now = 0;
    const s = new MemoryStore({ sweepInterval: 0, now: () => now });
    await s.set('a', buf(1), 100, index('/a', ['x', 'y', 'z']));
    await s.set('b', buf(1), 100, index('/a', ['x']));
    now = 200;
    (s as unknown as { lru: SlotLru }).lru.purgeStale();
    expect([internals(s).byPath.size, internals(s).byTag.size, internals(s).moreTags.size]).toEqual([0, 0, 0]);
    await s.close();
  });

  it('should unindex entries evicted for room', async () => {
    const s = new MemoryStore({ maxEntries: 2, sweepInterval: 0 });
    for (let i = 0; i < 10; i++) await s.set(`k${i}`, buf(1), 60_000, index(`/p${i}`, [`t${i}`, 'all', `u${i}`]));
    expect([s.size, internals(s).byPath.size, internals(s).byTag.size]).toEqual([2, 2, 5]);
    expect(await s.deleteByTag(['all'])).toBe(2);
    await s.close();
  });
});
