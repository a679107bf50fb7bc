import { SingleFlight } from '../../src/flight';
import { CircuitBreaker } from '../../src/breaker';

describe('SingleFlight', () => {
  describe('when the leader fails or hangs', () => {
    it('should rethrow the leader error to followers', async () => {
      const f = new SingleFlight<number>();
      const leader = f.lead('k')!;
      const waiting = f.wait('k', 1000)!;
      leader.reject(new Error('boom'));
      await expect(waiting).rejects.toThrow('boom');
    });

    it('should resolve undefined after the timeout', async () => {
      jest.useFakeTimers();
      try {
        const f = new SingleFlight<number>();
        f.lead('k');
        const waiting = f.wait('k', 50)!;
        jest.advanceTimersByTime(50);
        await expect(waiting).resolves.toBeUndefined();
      } finally {
        jest.useRealTimers();
      }
    });
  });

  describe('when the leader succeeds', () => {
    it('should share its value and end the flight', async () => {
      const f = new SingleFlight<number>();
      const leader = f.lead('k')!;
      expect(f.lead('k')).toBeUndefined();
      const waiting = f.wait('k', 1000)!;
      leader.resolve(42);
      await expect(waiting).resolves.toBe(42);
      expect(f.size).toBe(0);
      expect(f.wait('k', 10)).toBeUndefined();
      leader.resolve(43); // a second settle is ignored
      expect(f.lead('k')).toBeDefined();
    });
  });
});

describe('CircuitBreaker', () => {
  it('should open after the threshold, probe once per cooldown, and close on success', () => {
    let now = 0;
    const b = new CircuitBreaker({ threshold: 2, cooldownMs: 100, maxCooldownMs: 400, now: () => now });
    b.failure();
    expect(b.allow()).toBe(true);
    b.failure();
    expect(b.isOpen).toBe(true);
    expect(b.allow()).toBe(false);
    now = 100;
    expect(b.allow()).toBe(true); // the probe
    expect(b.allow()).toBe(false); // only one at a time
    b.failure(); // probe failed: cooldown doubles
    now = 250;
    expect(b.allow()).toBe(false);
    now = 300;
    expect(b.allow()).toBe(true);
    b.success();
    expect(b.isOpen).toBe(false);
    expect(b.allow()).toBe(true);
  });
});
