/**
 * Invalidation, property-based: on a MemoryStore, for random writes (overwrites under new
 * paths and tags included) and random invalidations by key, path, prefix and tag, exactly
 * the entries that match are removed and the count says how many. Then through
 * ResponseCache.invalidate(): a request path's entry is reached by a target path exactly
 * when the two name one path for invalidation (case, trailing slash, hex case, escapes of
 * unreserved characters, RFC 3986 §6.2.2).
 */

import fc from 'fast-check';
import { engineOf, ResponseCache } from '../../src/cache';
import { MemoryStore } from '../../src/stores/memory';

const KEYS = ['k0', 'k1', 'k2', 'k3', 'k4', 'k5'];
const PATHS = ['/', '/a', '/a/b', '/ab', '/b', '/a/', '/A'];
const TAGS = ['t0', 't1', 't2', 't3'];

type Op =
  | { op: 'set'; key: string; path: string; tags: string[] }
  | { op: 'keys'; keys: string[] }
  | { op: 'path'; path: string }
  | { op: 'prefix'; prefix: string }
  | { op: 'tags'; tags: string[] };

const op: fc.Arbitrary<Op> = fc.oneof(
  {
    weight: 3,
    arbitrary: fc.record({ op: fc.constant('set' as const), key: fc.constantFrom(...KEYS), path: fc.constantFrom(...PATHS), tags: fc.subarray(TAGS) }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('keys' as const), keys: fc.subarray([...KEYS, 'missing']) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('path' as const), path: fc.constantFrom(...PATHS, '/zz') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('prefix' as const), prefix: fc.constantFrom('', '/', '/a', '/a/', '/b', '/A', '/zz') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('tags' as const), tags: fc.subarray([...TAGS, 'none']) }) },
);

describe('invalidation (property-based)', () => {
  it('should remove from a MemoryStore exactly the entries that match, and count them', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 30 }), async (ops) => {
        const store = new MemoryStore({ sweepInterval: 0 });
        // The model: each live key with the path and tags of its last write.
        const model = new Map<string, { path: string; tags: string[] }>();
        const removeWhere = (match: (e: { path: string; tags: string[] }, key: string) => boolean): number => {
          let n = 0;
          for (const [k, e] of [...model])
            if (match(e, k)) {
              model.delete(k);
              n++;
            }
          return n;
        };
        for (const o of ops) {
          let count: number | undefined;
          let expected: number | undefined;
          switch (o.op) {
            case 'set':
              await store.set(o.key, Buffer.from(`${o.key}@${o.path}`), 60_000, { path: o.path, tags: o.tags });
              model.set(o.key, { path: o.path, tags: o.tags });
              break;
            case 'keys':
              expected = removeWhere((_e, k) => o.keys.includes(k));
              count = await store.delete(o.keys);
              break;
            case 'path':
              expected = removeWhere((e) => e.path === o.path);
              count = await store.deleteByPath(o.path);
              break;
            case 'prefix':
              expected = removeWhere((e) => e.path.startsWith(o.prefix)); // literal, no glob
              count = await store.deleteByPrefix(o.prefix);
              break;
            case 'tags':
              // An entry reached through two of the tags counts once; an old tag of an
              // overwritten entry reaches nothing.
              expected = removeWhere((e) => e.tags.some((t) => o.tags.includes(t)));
              count = await store.deleteByTag(o.tags);
              break;
          }
          expect(count).toBe(expected);
          for (const k of KEYS) {
            const got = await store.get(k);
            const want = model.get(k);
            expect(got?.toString()).toBe(want ? `${k}@${want.path}` : undefined);
          }
        }
        await store.close();
      }),
      { numRuns: 300 },
    );
  });

  describe('when the cache invalidates request paths', () => {
    const piece = fc.constantFrom(
      'a',
      'A',
      '%61',
      '%41',
      'b',
      '%62',
      '4',
      '%34',
      '~',
      '%7E',
      '%7e',
      '-',
      '%2D',
      '%2F',
      '%2f',
      '%20',
      ' ',
      '%',
      '%zz',
      '\u00e9',
      '%C3%A9',
      '%c3%a9',
    );
    const reqPath = fc
      .tuple(
        fc.array(
          fc.array(piece, { maxLength: 2 }).map((p) => p.join('')),
          { minLength: 1, maxLength: 3 },
        ),
        fc.boolean(),
      )
      .map(([segments, slash]) => '/' + segments.join('/') + (slash ? '/' : ''));

    /** The model: what invalidation treats as one path (RFC 3986 §6.2.2.1 hex case, §6.2.2.2 unreserved; case and trailing slash as Express routes). */
    function same(p: string): string {
      let s = '';
      for (let i = 0; i < p.length; i++) {
        const hex = p.slice(i + 1, i + 3);
        if (p[i] === '%' && /^[0-9a-fA-F]{2}$/.test(hex)) {
          const c = String.fromCharCode(parseInt(hex, 16));
          s += /[A-Za-z0-9\-._~]/.test(c) ? c : '%' + hex.toUpperCase();
          i += 2;
        } else if (/[A-Za-z0-9\-._~!$&'()*+,;=:@/%]/.test(p[i])) s += p[i];
        else s += encodeURIComponent(p[i]);
      }
      s = s.toLowerCase();
      while (s.length > 1 && s.endsWith('/')) s = s.slice(0, -1);
      return s;
    }

    it("should reach a request path's entries from a target path exactly when both name one path", async () => {
      await fc.assert(
        fc.asyncProperty(fc.uniqueArray(reqPath, { minLength: 1, maxLength: 6 }), reqPath, async (paths, target) => {
          const store = new MemoryStore({ sweepInterval: 0 });
          const cache = new ResponseCache({ store });
          for (const [i, p] of paths.entries())
            await store.set(`cache:v1:http:GET:h:${i}`, Buffer.from(p), 60_000, { path: engineOf(cache).pathId(p), tags: [] });
          const removed = await cache.invalidate({ paths: [target] });
          const left = await Promise.all(paths.map((_p, i) => store.get(`cache:v1:http:GET:h:${i}`)));
          const shouldGo = paths.map((p) => same(p) === same(target));
          expect(left.map((b) => b === undefined)).toEqual(shouldGo);
          expect(removed).toBe(shouldGo.filter(Boolean).length);
          await cache.close();
          await store.close();
        }),
        { numRuns: 200 },
      );
    });
  });
});
