import { SingleFlight } from '../../src/flight';

describe('SingleFlight', () => {
  describe('when a key has no flight', () => {
    it('should make the first caller the leader and the second none', () => {
      const f = new SingleFlight();
      const leader = f.lead('k');
      expect(leader).toBeDefined();
      expect(f.lead('k')).toBeUndefined();
      expect(f.wait('other', 10)).toBeUndefined();
      leader!.finish({ kind: 'none' });
      expect(f.size).toBe(0);
    });
  });

  describe('when followers wait', () => {
    it('should hand every follower the outcome, once', async () => {
      const f = new SingleFlight();
      const leader = f.lead('k')!;
      const waits = [f.wait('k', 1000)!, f.wait('k', 1000)!];
      leader.finish({ kind: 'stored' });
      leader.finish({ kind: 'none' });
      await expect(Promise.all(waits)).resolves.toEqual([{ kind: 'stored' }, { kind: 'stored' }]);
    });

    it('should give up after the timeout', async () => {
      const f = new SingleFlight();
      f.lead('k');
      await expect(f.wait('k', 5)).resolves.toBe('timeout');
    });
  });

  describe('when an invalidation detaches a flight', () => {
    it('should let a new caller lead, and still settle the old flight for its followers', async () => {
      const f = new SingleFlight();
      const old = f.lead('k', '/p')!;
      const follower = f.wait('k', 1000)!;
      f.detach((_key, path) => path === '/p');
      const fresh = f.lead('k', '/p');
      expect(fresh).toBeDefined();
      old.finish({ kind: 'none' });
      await expect(follower).resolves.toEqual({ kind: 'none' });
      expect(f.has('k')).toBe(true);
      fresh!.finish({ kind: 'stored' });
      expect(f.has('k')).toBe(false);
    });

    it('should leave flights it did not match', () => {
      const f = new SingleFlight();
      f.lead('a', '/a');
      f.detach((_key, path) => path === '/b');
      expect(f.has('a')).toBe(true);
    });
  });
});
