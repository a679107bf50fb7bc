import { MissCoordinator } from '../../src/coordinator';
import { GuardedStore } from '../../src/guarded-store';
import { Metrics } from '../../src/metrics';
import { MemoryStore } from '../../src/stores/memory';

function coordinator() {
  const store = new MemoryStore({ sweepInterval: 0 });
  const guarded = new GuardedStore(store, {
    storeTimeout: 100,
    whenStoreDown: 'bypass',
    fallbackTtl: 5,
    onError: undefined,
    metrics: new Metrics(),
    now: Date.now,
    keyPrefix: 'ns:',
  });
  return new MissCoordinator(guarded);
}

const spec = (stored: { value?: string }) => ({
  key: 'ns:GET:/a',
  path: 'ns:/a',
  coalesce: { timeout: 1000 },
  lock: true,
  lookup: () => stored.value,
});

describe('MissCoordinator', () => {
  describe('when one caller makes a key', () => {
    it('should give followers what the leader stored, read back through lookup', async () => {
      const c = coordinator();
      const stored: { value?: string } = {};
      const first = await c.begin(spec(stored));
      expect(first.kind).toBe('lead');
      const followers = [c.begin(spec(stored)), c.begin(spec(stored))];
      stored.value = 'made';
      if (first.kind === 'lead') first.lead.finish({ kind: 'stored' });
      expect(await Promise.all(followers)).toEqual([
        { kind: 'found', value: 'made' },
        { kind: 'found', value: 'made' },
      ]);
      expect(c.size).toBe(0);
    });
  });

  describe('when the leader ends with nothing to share', () => {
    it('should hand over to exactly one follower, and the others wait for it', async () => {
      const c = coordinator();
      const stored: { value?: string } = {};
      const first = await c.begin(spec(stored));
      const followers = Array.from({ length: 5 }, () => c.begin(spec(stored)));
      if (first.kind === 'lead') first.lead.finish({ kind: 'none' });
      // Let the followers come back; one of them leads now.
      await new Promise((r) => setImmediate(r));
      expect(c.size).toBe(1);
      const next = await Promise.race(followers);
      expect(next.kind).toBe('lead');
      stored.value = 'second try';
      if (next.kind === 'lead') next.lead.finish({ kind: 'stored' });
      const all = await Promise.all(followers);
      expect(all.filter((t) => t.kind === 'lead')).toHaveLength(1);
      expect(all.filter((t) => t.kind === 'found')).toHaveLength(4);
    });

    it("should rethrow a making's error to its followers", async () => {
      const c = coordinator();
      const first = await c.begin(spec({}));
      const follower = c.begin(spec({}));
      if (first.kind === 'lead') first.lead.finish({ kind: 'error', error: new Error('db down') });
      await expect(follower).rejects.toThrow('db down');
    });
  });

  describe('when an invalidation matches a running flight', () => {
    it('should let a caller that arrives after it lead a new flight instead of following the old one', async () => {
      const c = coordinator();
      const old = await c.begin(spec({}));
      c.detach({ keys: [], paths: ['ns:/a'], prefixes: [], tags: [] });
      const after = await c.begin(spec({}));
      expect(after.kind).toBe('lead');
      if (old.kind === 'lead') old.lead.finish({ kind: 'none' });
      if (after.kind === 'lead') after.lead.finish({ kind: 'none' });
    });
  });
});
