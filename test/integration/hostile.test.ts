/**
 * Hostile and odd input: every request gets a clear answer (never a crash or a hang), and
 * no two distinct requests share an entry they should not.
 */

import type { Express } from 'express';
import { createCache, type ExpressCacheOptions, type RequestCache } from '../../middleware';
import { decodeEntry, encodeEntry, type CachedResponse } from '../../src/entry';
import type { CacheError } from '../../src/errors';
import { keyHost } from '../../src/key';
import { MemoryStore } from '../../src/stores/memory';
import type { CacheStore } from '../../src/stores/store';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, send, serve, track } from '../helpers/http';

closeAfterEach();

forEachExpress((express) => {
  /** The cache before a catch-all that echoes what the handler saw; keys recorded per request. */
  async function start(options: ExpressCacheOptions = {}, setup?: (app: Express) => void, routes?: (app: Express) => void) {
    const cache = track(createCache({ jitter: 0, ...options }));
    const app = express();
    setup?.(app);
    const keys: string[] = [];
    app.use((_req, res, next) => {
      res.on('finish', () => keys.push((res.locals.cache as RequestCache | undefined)?.key ?? ''));
      next();
    });
    app.use(cache.middleware());
    routes?.(app);
    let calls = 0;
    app.use((req, res) => {
      calls++;
      res.json({ url: req.originalUrl, path: req.path, query: req.query });
    });
    const { url } = await serve(app);
    return { url, keys, calls: () => calls };
  }

  /** Each path twice: the first answers must all differ, the second must be hits of the first. */
  async function distinct(url: string, paths: string[], headers: Record<string, string>[] = []) {
    const first = [];
    for (const [i, p] of paths.entries()) first.push(await send(url, p, { headers: headers[i] }));
    const second = [];
    for (const [i, p] of paths.entries()) second.push(await send(url, p, { headers: headers[i] }));
    return { first, second };
  }

  describe('when paths and query names look like prototype keys', () => {
    it('should answer each one and keep them apart, without touching Object.prototype', async () => {
      const { url, calls } = await start();
      const paths = [
        '/__proto__',
        '/constructor',
        '/x?__proto__=1',
        '/x?constructor=1',
        '/x?__proto__[polluted]=1',
        '/x?constructor[prototype][polluted]=1',
        '/x?hasOwnProperty=1',
      ];
      const { first, second } = await distinct(url, paths);
      expect(first.map((r) => r.status)).toEqual(paths.map(() => 200));
      expect(new Set(first.map((r) => r.text)).size).toBe(paths.length);
      expect(second.map((r) => r.headers['x-cache'])).toEqual(paths.map(() => 'HIT'));
      expect(second.map((r) => r.text)).toEqual(first.map((r) => r.text));
      expect(calls()).toBe(paths.length);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('should answer a request whose Vary names prototype keys (constructor, __proto__)', async () => {
      const { url } = await start({}, undefined, (app) =>
        app.get('/v', (req, res) => {
          res.set('Vary', 'constructor, __proto__, toString');
          res.send(`v ${typeof req.headers.constructor === 'string' ? req.headers.constructor : 'none'}`);
        }),
      );
      const ask = (headers?: Record<string, string>) => send(url, '/v', { headers });
      const replies = [await ask(), await ask(), await ask({ constructor: 'x' }), await ask({ constructor: 'x' }), await ask()];
      expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
      expect(replies.map((r) => r.text)).toEqual(['v none', 'v none', 'v x', 'v x', 'v none']);
      expect(replies.map((r) => r.headers['x-cache'])).toEqual(['MISS', 'HIT', 'MISS', 'HIT', 'HIT']);
    });

    it('should answer every request when the vary option names a prototype key', async () => {
      const { url } = await start({ vary: ['constructor', 'toString'] });
      const a = await send(url, '/p');
      const b = await send(url, '/p');
      const c = await send(url, '/p', { headers: { constructor: 'y' } });
      expect([a.status, b.status, c.status]).toEqual([200, 200, 200]);
      expect([b.headers['x-cache'], c.headers['x-cache']]).toEqual(['HIT', 'MISS']);
    });
  });

  describe('when paths and query names hold glob and separator characters', () => {
    it('should keep * ? [ ] | & = : # apart from each other and from their escapes', async () => {
      const { url, calls } = await start();
      const paths = [
        '/g/a*',
        '/g/a%2A-not-the-same-path',
        '/g/a[1]',
        '/g/a]',
        '/g/a|b',
        '/g/a:b',
        '/g/q?*=1',
        '/g/q?%3F=1',
        '/g/q?[=1',
        '/g/q?]=1',
        '/g/q?a=1|b',
        '/g/q?a=1&b=2',
        '/g/q?a=1%26b%3D2',
        '/g/q?a%3D1=2',
        '/g/q?a:b=1',
        '/g/q?a=%23',
        '/g/q?%7C=1',
      ];
      const { first, second } = await distinct(url, paths);
      expect(first.map((r) => r.status)).toEqual(paths.map(() => 200));
      expect(new Set(first.map((r) => r.text)).size).toBe(paths.length);
      expect(second.map((r) => r.headers['x-cache'])).toEqual(paths.map(() => 'HIT'));
      expect(calls()).toBe(paths.length);
    });

    it('should let a fragment sent in the request target bypass the cache, never share the plain URL (issue 20)', async () => {
      const { url, keys, calls } = await start();
      await send(url, '/frag?a=1');
      const b = await send(url, '/frag?a=1#two');
      const c = await send(url, '/frag?a=1');
      expect([b.headers['x-cache'], c.headers['x-cache'], calls()]).toEqual(['BYPASS', 'HIT', 2]);
      expect(keys[0]).toBe(`cache:v1:http:GET:http://${keyHost(new URL(url).hostname)}/frag?a=1`);
    });

    it('should keep a vary header value with separators apart from others', async () => {
      const { url, calls } = await start({ vary: ['x-a', 'x-b'] });
      const headers: Record<string, string>[] = [{ 'x-a': '1&x-b=2' }, { 'x-a': '1', 'x-b': '2' }, { 'x-a': '1|v|x' }, { 'x-a': '1', 'x-b': '' }, {}];
      const { first, second } = await distinct(
        url,
        headers.map(() => '/h'),
        headers,
      );
      expect(first.map((r) => r.headers['x-cache'])).toEqual(headers.map(() => 'MISS'));
      expect(second.map((r) => r.headers['x-cache'])).toEqual(headers.map(() => 'HIT'));
      expect(calls()).toBe(headers.length);
    });
  });

  describe('when escapes are malformed', () => {
    it('should answer paths with %zz and keep /p/%zz apart from /p/%25zz', async () => {
      const { url } = await start();
      const paths = ['/p/%zz', '/p/%25zz', '/p/%', '/p/%25', '/p/%4', '/p/%254'];
      const { first, second } = await distinct(url, paths);
      expect(first.map((r) => r.status)).toEqual(paths.map(() => 200));
      expect(first.map((r) => JSON.parse(r.text).path)).toEqual(paths);
      expect(second.map((r) => JSON.parse(r.text).path)).toEqual(paths);
    });

    // Fails: canonicalQuery keeps a component that does not decode as sent, then encodes it,
    // so `a=%zz%41` keys like the valid `a=%25zz%2541`; the "simple" parser (Express 5's
    // default) reads them as "%zzA" and "%zz%41". See the report on issue 2 for the fix.
    it("should answer queries with %zz and never give one query another's answer", async () => {
      const { url } = await start({}, (app) => app.set('query parser', 'simple'));
      const paths = ['/q?a=%zz', '/q?a=%zz%41', '/q?a=%25zz%2541', '/q?%zz=1', '/q?a=%E9', '/q?a=%C3%A9'];
      const { first, second } = await distinct(url, paths);
      expect(first.map((r) => r.status)).toEqual(paths.map(() => 200));
      // Whatever was shared, each request got the answer for what its handler would have seen.
      for (const [i, r] of second.entries()) expect([paths[i], JSON.parse(r.text).query]).toEqual([paths[i], JSON.parse(first[i].text).query]);
      expect(JSON.parse(first[1].text).query).not.toEqual(JSON.parse(first[2].text).query);
    });

    it('should answer a latin-1 byte in the path', async () => {
      const { url } = await start();
      const a = await send(url, '/caf\u00e9');
      const b = await send(url, '/caf\u00e9');
      expect(a.status).toBe(b.status);
      expect(b.text).toBe(a.text);
    });
  });

  describe('when inputs are very long', () => {
    it('should answer an 8 kB path and a 10 kB query, keyed in at most 200 bytes', async () => {
      const { url, keys } = await start();
      const longPath = '/' + 'p'.repeat(8 * 1024);
      const longQuery = '/q?' + Array.from({ length: 1000 }, (_v, i) => `k${i}=v${i}`).join('&');
      const { first, second } = await distinct(url, [longPath, longQuery, longQuery + 'x']);
      expect(first.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(second.map((r) => r.headers['x-cache'])).toEqual(['HIT', 'HIT', 'HIT']);
      for (const k of keys) expect(Buffer.byteLength(k)).toBeLessThanOrEqual(200);
    });

    it('should answer an If-None-Match of a thousand tags', async () => {
      const { url } = await start();
      await send(url, '/inm');
      const tags = Array.from({ length: 1000 }, (_v, i) => `"t${i}"`).join(', ');
      const r = await send(url, '/inm', { headers: { 'If-None-Match': tags } });
      expect([r.status, r.headers['x-cache']]).toEqual([200, 'HIT']);
    });
  });

  describe('when a stored entry decodes but holds what Node cannot send', () => {
    /** A store that answers asynchronously, as Redis does (the hit path that once crashed). */
    function asyncStore(inner: MemoryStore): CacheStore {
      return {
        get: (k) => inner.get(k),
        set: (k, v, t, i) => inner.set(k, v, t, i),
        delete: (k) => inner.delete(k),
        deleteByPath: (p) => inner.deleteByPath(p),
        deleteByPrefix: (p) => inner.deleteByPrefix(p),
        deleteByTag: (t) => inner.deleteByTag(t),
        close: () => inner.close(),
      };
    }

    it.each([
      ['status 999', (e: CachedResponse) => ({ ...e, status: 999 })],
      ['status 42', (e: CachedResponse) => ({ ...e, status: 42 })],
      ['a header value with CR LF', (e: CachedResponse) => ({ ...e, headers: [...e.headers, ['x-evil', 'a\r\nSet-Cookie: sid=1'] as const] })],
      ['a header name with a space', (e: CachedResponse) => ({ ...e, headers: [...e.headers, ['x evil', '1'] as const] })],
      ['an ETag with a newline', (e: CachedResponse) => ({ ...e, etag: '"a"\n' })],
    ])('should answer a MISS from the handler over %s, report ERC_ENTRY_CORRUPT, and rewrite the entry', async (_name, spoil) => {
      for (const wrap of [(m: MemoryStore) => m, asyncStore]) {
        const inner = new MemoryStore();
        const errors: CacheError[] = [];
        const { url, keys, calls } = await start({ store: wrap(inner), onError: (err) => errors.push(err) });
        const first = await send(url, '/spoiled');
        const bytes = (await inner.get(keys[0]))!;
        const good = decodeEntry(bytes) as CachedResponse;
        await inner.set(keys[0], encodeEntry(spoil(good)), 60_000, { path: good.path, tags: [...good.tags] });
        const second = await send(url, '/spoiled');
        const third = await send(url, '/spoiled');
        expect([first.status, second.status, third.status]).toEqual([200, 200, 200]);
        expect(second.headers['x-cache']).toBe('MISS');
        expect(second.text).toBe(first.text);
        expect(second.headers['x-evil']).toBeUndefined();
        expect(third.headers['x-cache']).toBe('HIT');
        expect(calls()).toBe(2);
        expect(errors.map((e) => e.code)).toEqual(['ERC_ENTRY_CORRUPT']);
      }
    });
  });
});
