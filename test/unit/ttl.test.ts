import { deltaSeconds, parseCacheControl } from '../../src/cache-control';
import { currentAge, entryTimes, freshSeconds, parseAge, parseHttpDate, staleWindows, statedLifetime, ttlWithJitter } from '../../src/ttl';

const NOW = Date.parse('2026-01-01T00:00:00Z');
const base = { override: undefined, stated: undefined, originAge: 0, ttl: 60, maxTtl: undefined, jitter: 0, random: () => 0.5 };

describe('ttl', () => {
  describe('when directives are invalid', () => {
    it.each([['max-age=abc'], ['max-age=-1'], ['max-age'], ['max-age=1, max-age=2']])('%s is NaN (treated as stale)', (cc) => {
      expect(deltaSeconds(parseCacheControl(cc), 'max-age')).toBeNaN();
    });

    it('should read an invalid Expires as the past (RFC 9111 §5.3)', () => {
      expect(statedLifetime(new Map(), '0', undefined, NOW)).toBe(0);
      expect(freshSeconds({ ...base, stated: 0 })).toBe(0);
      expect(freshSeconds({ ...base, stated: NaN })).toBe(0);
    });

    it('should read a garbage Age as 0', () => {
      expect(parseAge('abc')).toBe(0);
      expect(parseAge(undefined)).toBe(0);
      expect(parseAge(' 7 ')).toBe(7);
      // RFC 9111 §5.1: a list counts by its first member.
      expect([parseAge('7200, 0'), parseAge('0, 7200'), parseAge('x, 5')]).toEqual([7200, 0, 0]);
    });
  });

  describe('when a response states its freshness (RFC 9111 §4.2.1)', () => {
    it.each([
      ['s-maxage wins', 's-maxage=10, max-age=20', undefined, 10],
      ['max-age next', 'max-age=20', 'Thu, 01 Jan 2026 01:00:00 GMT', 20],
      ['quoted value', 'max-age="30"', undefined, 30],
      ['huge values cap at 2^31', 'max-age=99999999999', undefined, 2147483648],
    ])('%s', (_n, cc, expires, expected) => {
      expect(statedLifetime(parseCacheControl(cc), expires, undefined, NOW)).toBe(expected);
    });

    it('should use Expires minus Date', () => {
      expect(statedLifetime(new Map(), 'Thu, 01 Jan 2026 00:10:00 GMT', 'Thu, 01 Jan 2026 00:05:00 GMT', NOW)).toBe(300);
    });

    it('should count the origin Age against a stated lifetime', () => {
      expect(freshSeconds({ ...base, stated: 100, originAge: 30 })).toBe(70);
    });

    it('should be undefined when nothing is stated', () => {
      expect(statedLifetime(new Map(), undefined, undefined, NOW)).toBeUndefined();
    });
  });

  describe('when choosing the TTL', () => {
    it('should use ttl when nothing is stated, the override over everything, maxTtl as the bound', () => {
      expect(freshSeconds(base)).toBe(60);
      expect(freshSeconds({ ...base, stated: 100, override: 5 })).toBe(5);
      expect(freshSeconds({ ...base, stated: 100, maxTtl: 50 })).toBe(50);
    });

    it('should jitter the configured ttl both ways and a stated lifetime only downward', () => {
      expect(freshSeconds({ ...base, jitter: 0.1, random: () => 0 })).toBeCloseTo(54);
      expect(freshSeconds({ ...base, jitter: 0.1, random: () => 1 })).toBeCloseTo(66);
      expect(freshSeconds({ ...base, stated: 100, jitter: 0.1, random: () => 1 })).toBeCloseTo(90);
      expect(freshSeconds({ ...base, stated: 100, jitter: 0.1, random: () => 0 })).toBeCloseTo(100);
    });

    it('should draw ttlWithJitter from ttl * (1 ± jitter) in the unit given', () => {
      expect(ttlWithJitter(1000, 0.2, () => 0)).toBeCloseTo(800);
      expect(ttlWithJitter(1000, 0.2, () => 0.5)).toBeCloseTo(1000);
      expect(ttlWithJitter(1000, 0.2, () => 0.999999)).toBeCloseTo(1200, 2);
      expect(ttlWithJitter(1000, 0)).toBe(1000);
      for (let i = 0; i < 1000; i++) {
        const t = ttlWithJitter(60);
        expect(t).toBeGreaterThanOrEqual(54);
        expect(t).toBeLessThanOrEqual(66);
      }
    });
  });

  describe('when computing entry times and Age', () => {
    it('should keep stored, stale and expiry times apart', () => {
      expect(entryTimes(NOW, 10, 5, 20)).toEqual({
        storedAt: NOW,
        staleAt: NOW + 10_000,
        swrUntil: NOW + 15_000,
        sieUntil: NOW + 30_000,
        expiresAt: NOW + 30_000,
      });
    });

    it('should add whole seconds stored to the origin Age (RFC 9111 §4.2.3)', () => {
      expect(currentAge(5, NOW, NOW + 2_999)).toBe(7);
      expect(currentAge(0, NOW, NOW - 1000)).toBe(0);
    });

    it('should take stale windows from the response first (RFC 5861), and none under must-revalidate', () => {
      expect(staleWindows(parseCacheControl('max-age=1, stale-while-revalidate=30, stale-if-error=60'), 5, 5)).toEqual({ swr: 30, sie: 60 });
      expect(staleWindows(parseCacheControl('max-age=1'), 5, 6)).toEqual({ swr: 5, sie: 6 });
      expect(staleWindows(parseCacheControl('max-age=1, must-revalidate'), 5, 6)).toEqual({ swr: 0, sie: 0 });
      expect(staleWindows(parseCacheControl('s-maxage=1'), 5, 6)).toEqual({ swr: 0, sie: 0 });
    });

    it.each([
      ['max-age=1, must-revalidate, stale-while-revalidate=30, stale-if-error=60'],
      ['max-age=1, proxy-revalidate, stale-while-revalidate=30'],
      ['no-cache, stale-if-error=60'],
      ['s-maxage=1, must-revalidate, stale-while-revalidate=30'],
    ])('should give %s no stale window at all, its own directives included (RFC 9111 §4.2.4)', (cc) => {
      expect(staleWindows(parseCacheControl(cc), 5, 6)).toEqual({ swr: 0, sie: 0 });
    });

    it("should honour the origin's own RFC 5861 windows beside s-maxage, but not the options", () => {
      expect(staleWindows(parseCacheControl('s-maxage=1, stale-while-revalidate=30'), 5, 6)).toEqual({ swr: 30, sie: 0 });
    });
  });
});

describe('parseHttpDate', () => {
  it.each([['0'], ['-1'], ['tomorrow'], ['2026-01-01'], ['']])('should reject %j', (v) => {
    expect(parseHttpDate(v)).toBeNaN();
  });
  it.each([['Thu, 01 Jan 2026 00:00:00 GMT'], ['Thursday, 01-Jan-26 00:00:00 GMT'], ['Thu Jan  1 00:00:00 2026']])('should read %j', (v) => {
    expect(parseHttpDate(v)).toBe(NOW);
  });
  it.each([['THU, 01 JAN 2026 00:00:00 gmt'], ['thursday, 01-jan-26 00:00:00 GMT'], ['THU JAN  1 00:00:00 2026']])('should read %j in any case', (v) => {
    expect(parseHttpDate(v)).toBe(NOW);
  });
  it.each([['Thu, 01 Jan 2026 00:00:00 UTC'], ['Thu, 01-Jan-2026 00:00:00 GMT'], ['Thu, 01 Jan 26 00:00:00 GMT'], ['Thursday, 01-Jan-26 00:00:00 UTC']])(
    'should reject %j',
    (v) => {
      expect(parseHttpDate(v)).toBeNaN();
    },
  );
  it('should read an RFC 850 two-digit year as at most 50 years ahead (RFC 9110 §5.6.7)', () => {
    expect(parseHttpDate('Thursday, 18-Aug-50 02:01:18 GMT', NOW)).toBe(Date.parse('2050-08-18T02:01:18Z'));
    expect(parseHttpDate('Monday, 18-Aug-76 02:01:18 GMT', NOW)).toBe(Date.parse('2076-08-18T02:01:18Z'));
    expect(parseHttpDate('Tuesday, 18-Aug-77 02:01:18 GMT', NOW)).toBe(Date.parse('1977-08-18T02:01:18Z'));
    expect(parseHttpDate('Sunday, 18-Aug-99 02:01:18 GMT', NOW)).toBe(Date.parse('1999-08-18T02:01:18Z'));
    expect(parseHttpDate('Saturday, 01-Jan-00 00:00:00 GMT', NOW)).toBe(Date.parse('2000-01-01T00:00:00Z'));
  });
});
