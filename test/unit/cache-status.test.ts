import { appendCacheStatus, cacheStatusMember, remainingTtl, type CacheStatusMember } from '../../src/cache-status';

describe('cache-status (RFC 9211)', () => {
  describe('cacheStatusMember', () => {
    it.each<[string, string, CacheStatusMember, string]>([
      ['fresh hit', 'shop', { hit: true, ttl: 376 }, 'shop; hit; ttl=376'],
      ['hit, ttl rounded down', 'shop', { hit: true, ttl: 375.9 }, 'shop; hit; ttl=375'],
      ['stale hit (stale-while-revalidate)', 'shop', { hit: true, ttl: -5 }, 'shop; hit; ttl=-5'],
      ['miss, stored', 'shop', { fwd: 'uri-miss', stored: true }, 'shop; fwd=uri-miss; stored'],
      ['miss, not stored', 'shop', { fwd: 'uri-miss' }, 'shop; fwd=uri-miss'],
      ['miss, stored: false', 'shop', { fwd: 'uri-miss', stored: false }, 'shop; fwd=uri-miss'],
      ['revalidated', 'shop', { fwd: 'stale', fwdStatus: 304 }, 'shop; fwd=stale; fwd-status=304'],
      ['revalidated and replaced', 'shop', { fwd: 'stale', fwdStatus: 200, stored: true }, 'shop; fwd=stale; fwd-status=200; stored'],
      ['bypass', 'shop', { fwd: 'bypass' }, 'shop; fwd=bypass'],
      ['request (Authorization)', 'shop', { fwd: 'request' }, 'shop; fwd=request'],
      ['method', 'shop', { fwd: 'method' }, 'shop; fwd=method'],
      ['vary miss, collapsed', 'shop', { fwd: 'vary-miss', collapsed: true }, 'shop; fwd=vary-miss; collapsed'],
      ['detail as a token', 'shop', { fwd: 'bypass', detail: 'store-unavailable' }, 'shop; fwd=bypass; detail=store-unavailable'],
      ['detail as a string', 'shop', { hit: true, ttl: 1, detail: 'from memory' }, 'shop; hit; ttl=1; detail="from memory"'],
      ['a name that is no token is quoted', 'my "edge" cache', { hit: true, ttl: 0 }, '"my \\"edge\\" cache"; hit; ttl=0'],
      ['a name with a digit first is quoted', '1st', { fwd: 'uri-miss' }, '"1st"; fwd=uri-miss'],
      ['a token name with colon and slash', 'app:v2/edge', { fwd: 'uri-miss' }, 'app:v2/edge; fwd=uri-miss'],
    ])('%s', (_n, name, member, expected) => {
      expect(cacheStatusMember(name, member)).toBe(expected);
    });
  });

  describe('appendCacheStatus', () => {
    it.each<[string | string[] | undefined, string]>([
      [undefined, 'app; hit; ttl=5'],
      ['', 'app; hit; ttl=5'],
      ['origin; fwd=uri-miss', 'origin; fwd=uri-miss, app; hit; ttl=5'],
      [['a; hit', 'b; hit'], 'a; hit, b; hit, app; hit; ttl=5'],
    ])('%j -> the cache nearest the client last', (existing, expected) => {
      expect(appendCacheStatus(existing, 'app; hit; ttl=5')).toBe(expected);
    });
  });

  it('remainingTtl counts whole seconds, negative once stale', () => {
    expect(remainingTtl(10_000, 0)).toBe(10);
    expect(remainingTtl(10_000, 9_001)).toBe(0);
    expect(remainingTtl(0, 5_000)).toBe(-5);
  });
});
