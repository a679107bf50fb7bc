/**
 * Invalidations too large to run in one go (issue 21): the MemoryStore bans at once and
 * removes in the background, a thousand slots per event-loop turn. No timing: turns are
 * counted with a setImmediate ticker, and "while it runs" is an ordering of events.
 */

import { MemoryStore } from '../../src/stores/memory';
import { EAGER_LIMIT, TURN } from '../../src/stores/memory-bans';

const N = 50_000;
const index = (path: string, tags: string[] = []) => ({ path, tags });
const body = Buffer.from('x');

function filled(n = N): MemoryStore {
  const store = new MemoryStore({ maxEntries: n + 100, sweepInterval: 0 });
  for (let i = 0; i < n; i++) void store.set(`k${i}`, body, 600_000, index(i % 10 === 0 ? `/p10/${i}` : `/items/${i}`, [`item:${i}`, 'big']));
  void store.set('hot', Buffer.from('hot'), 600_000, index('/hot', ['hot']));
  return store;
}

/** Counts event-loop turns (check phases) until `p` settles. */
async function turnsUntil<T>(p: Promise<T>): Promise<{ value: T; turns: number }> {
  let turns = 0;
  let done = false;
  const tick = (): void => {
    if (done) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  const value = await p;
  done = true;
  return { value, turns };
}

describe('MemoryStore bans (large invalidations)', () => {
  it(`bans a ${N.toLocaleString('en')}-entry tag at once, removes it over many turns, and resolves the exact count`, async () => {
    const store = filled();
    const pending = store.deleteByTag(['big']);
    // In place before anything else runs: every entry it names is a miss, the rest are not.
    expect(store.activeBans).toBe(1);
    expect(store.peek('k0')).toBeUndefined();
    expect(store.peek(`k${N - 1}`)).toBeUndefined();
    expect(store.peek('hot')?.toString()).toBe('hot');
    const { value, turns } = await turnsUntil(pending);
    expect(value).toBe(N);
    // At most TURN slots a turn: the walk yielded at least N / TURN times.
    expect(turns).toBeGreaterThanOrEqual(Math.floor(N / TURN) - 1);
    expect(store.size).toBe(1);
    expect(store.activeBans).toBe(0);
    // Two of N were dropped by the reads above, the rest by the walk.
    expect(store.backgroundDeleted).toBe(N - 2);
    expect(await store.deleteByTag(['big'])).toBe(0);
    await store.close();
  });

  it('answers an unrelated read in the same turn as the ban, and between turns of the walk', async () => {
    const store = filled();
    const order: string[] = [];
    const pending = store.deleteByTag(['big']).then((n) => order.push(`invalidated ${n}`));
    // A read queued behind the ban's first turn is answered before the walk ends.
    setImmediate(() => order.push(`hot ${store.peek('hot')?.toString()}`));
    await pending;
    expect(order).toEqual(['hot hot', `invalidated ${N}`]);
    await store.close();
  });

  it('serves an entry written after the ban and never removes it; the count leaves it out', async () => {
    const store = filled();
    const pending = store.deleteByTag(['big']);
    await store.set('k1', Buffer.from('new'), 600_000, index('/items/1', ['item:1', 'big']));
    await store.set('fresh', Buffer.from('fresh'), 600_000, index('/items/fresh', ['big']));
    expect(store.peek('k1')?.toString()).toBe('new');
    // k1's old write was replaced (not removed by the ban): N - 1 removed.
    expect(await pending).toBe(N - 1);
    expect(store.peek('k1')?.toString()).toBe('new');
    expect(store.peek('fresh')?.toString()).toBe('fresh');
    expect(store.size).toBe(3);
    await store.close();
  });

  it('counts each entry once when reads drop banned entries before the walk reaches them', async () => {
    const store = filled();
    const pending = store.deleteByTag(['big', 'big']);
    for (let i = 0; i < N; i += 3) expect(store.peek(`k${i}`)).toBeUndefined();
    expect(await pending).toBe(N);
    expect(store.size).toBe(1);
    await store.close();
  });

  it('bans a prefix over a large store: what it names is a miss at once, the rest stays', async () => {
    const store = filled();
    const pending = store.deleteByPrefix('/p10/');
    expect(store.peek('k10')).toBeUndefined();
    expect(store.peek('k11')?.toString()).toBe('x');
    expect(await pending).toBe(N / 10);
    expect(store.size).toBe(N - N / 10 + 1);
    expect(await store.keys('k', 10)).toHaveLength(10);
    await store.close();
  });

  it('bans a path with more variants than the eager limit', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    const n = EAGER_LIMIT * 2;
    for (let i = 0; i < n; i++) await store.set(`/search?q=${i}`, body, 600_000, index('/search'));
    await store.set('/other', body, 600_000, index('/other'));
    const pending = store.deleteByPath('/search');
    expect(store.activeBans).toBe(1);
    expect(await store.keys('/search', n)).toEqual([]);
    expect(await pending).toBe(n);
    expect(store.size).toBe(1);
    await store.close();
  });

  it('does not count an entry that expired before the ban removed it', async () => {
    let now = 1_000_000;
    const store = new MemoryStore({ sweepInterval: 0, now: () => now });
    for (let i = 0; i < EAGER_LIMIT + 10; i++) await store.set(`k${i}`, body, i < 10 ? 1_000 : 600_000, index(`/p/${i}`, ['t']));
    now += 5_000;
    expect(await store.deleteByTag(['t'])).toBe(EAGER_LIMIT);
    await store.close();
  });

  it('resolves a running ban when the store is cleared or closed', async () => {
    const store = filled();
    const pending = store.deleteByTag(['big']);
    store.clear();
    expect(await pending).toBe(0);
    expect(store.activeBans).toBe(0);
    const again = filled(EAGER_LIMIT * 3);
    const closing = again.deleteByPrefix('/items/');
    await again.close();
    expect(await closing).toBe(0);
    await store.close();
  });

  it('a counter a prefix ban names starts again from zero, even before the walk reaches it', async () => {
    const store = filled();
    expect(await store.counter({ op: 'increment', key: '/items/c', by: 5, ttlMs: 600_000 })).toBe(5);
    const pending = store.deleteByPrefix('/items/');
    expect(store.activeBans).toBe(1);
    // The counter is filed under its own key as path: banned like any entry, never read back.
    expect(await store.counter({ op: 'get', key: '/items/c' })).toBeUndefined();
    expect(await store.counter({ op: 'increment', key: '/items/c', by: 1, ttlMs: 600_000 })).toBe(1);
    await pending;
    expect(await store.counter({ op: 'get', key: '/items/c' })).toBe(1);
    await store.close();
  });

  it('a tagged counter a tag ban names starts again from zero before the walk reaches it, and is counted once', async () => {
    const store = filled();
    expect(await store.counter({ op: 'increment', key: 'c:tagged', by: 5, ttlMs: 600_000, tags: ['big'] })).toBe(5);
    // Rewritten by later increments, it keeps the tags it was made with (not these).
    expect(await store.counter({ op: 'increment', key: 'c:tagged', by: 1, ttlMs: 600_000, tags: ['other'] })).toBe(6);
    expect(await store.counter({ op: 'increment', key: 'c:plain', by: 5, ttlMs: 600_000 })).toBe(5);
    const pending = store.deleteByTag(['big']);
    expect(store.activeBans).toBe(1);
    expect(await store.counter({ op: 'get', key: 'c:tagged' })).toBeUndefined();
    // Made again after the ban: a new window the ban does not reach.
    expect(await store.counter({ op: 'increment', key: 'c:tagged', by: 1, ttlMs: 600_000, tags: ['big'] })).toBe(1);
    expect(await pending).toBe(N + 1);
    expect(await store.counter({ op: 'get', key: 'c:tagged' })).toBe(1);
    expect(await store.counter({ op: 'get', key: 'c:plain' })).toBe(5);
    expect(await store.deleteByTag(['other'])).toBe(0);
    await store.close();
  });

  it('still invalidates small targets at once, as before', async () => {
    const store = new MemoryStore({ sweepInterval: 0 });
    for (let i = 0; i < EAGER_LIMIT; i++) await store.set(`k${i}`, body, 600_000, index(`/p/${i}`, ['t']));
    const pending = store.deleteByTag(['t']);
    expect(store.activeBans).toBe(0);
    expect(store.size).toBe(0);
    expect(await pending).toBe(EAGER_LIMIT);
    await store.close();
  });
});
