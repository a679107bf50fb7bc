/**
 * Failing stores never fail a request (X-Cache: BYPASS or MISS) and are heard by onError;
 * stats() counts what happened; res.locals.cache shows and steers each request.
 */

import type { Express, RequestHandler } from 'express';
import { createCache, MemoryStore, type CacheError, type CacheStore, type ErrorContext, type ExpressCacheOptions, type StoreIndex } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, deferred, send, serve, TestClock, track, until } from '../helpers/http';

closeAfterEach();

type Fault = 'reject' | 'throw' | 'hang' | 'garbage' | undefined;

/** A CacheStore over a MemoryStore whose get / set fail the way the test says. */
class FaultyStore implements CacheStore {
  readonly inner = new MemoryStore();
  getFault: Fault;
  setFault: Fault;
  private readonly hung: Array<() => void> = [];

  get(key: string): Promise<Buffer | undefined> {
    return this.fail(this.getFault, 'get', () => (this.getFault === 'garbage' ? Buffer.from('not an entry') : this.inner.get(key)));
  }
  set(key: string, value: Buffer, ttlMs: number, index: StoreIndex): Promise<void> {
    return this.fail(this.setFault, 'set', () => this.inner.set(key, value, ttlMs, index));
  }
  delete(keys: readonly string[]) {
    return this.inner.delete(keys);
  }
  deleteByPath(path: string) {
    return this.inner.deleteByPath(path);
  }
  deleteByPrefix(prefix: string) {
    return this.inner.deleteByPrefix(prefix);
  }
  deleteByTag(tags: readonly string[]) {
    return this.inner.deleteByTag(tags);
  }
  async close() {
    for (const release of this.hung.splice(0)) release();
    await this.inner.close();
  }

  private fail<T>(fault: Fault, op: string, ok: () => Promise<T> | T): Promise<T> {
    if (fault === 'throw') throw new Error(`${op} threw synchronously`);
    if (fault === 'reject') return Promise.reject(new Error(`${op} rejected`));
    if (fault === 'hang') return new Promise<T>((resolve) => this.hung.push(() => resolve(undefined as T)));
    return Promise.resolve(ok());
  }
}

forEachExpress((express) => {
  async function start(options: ExpressCacheOptions, routes?: (app: Express) => void, clock = new TestClock(), before?: RequestHandler) {
    const errors: Array<{ err: CacheError; context: ErrorContext }> = [];
    const cache = track(createCache({ jitter: 0, onError: (err, context) => errors.push({ err, context }), ...options }, clock));
    const app = express();
    const seen: Array<{ key: string; status: string }> = [];
    if (before) app.use(before);
    app.use((_req, res, next) => {
      res.on('finish', () => {
        const c = res.locals.cache;
        seen.push({ key: c?.key ?? '(none)', status: c?.status ?? '(none)' });
      });
      next();
    });
    app.use(cache.middleware());
    const calls = { n: 0 };
    app.get('/data', (_req, res) => {
      calls.n++;
      res.send(`data ${calls.n}`);
    });
    routes?.(app);
    const { url } = await serve(app);
    return { url, cache, errors, calls, seen, clock };
  }

  describe('when the store fails', () => {
    it.each(['reject', 'throw'] as const)('should answer from the handler with X-Cache: BYPASS when get() fails (%s), and tell onError', async (fault) => {
      const store = new FaultyStore();
      store.getFault = fault;
      const { url, errors, calls, cache } = await start({ store });
      const a = await send(url, '/data');
      const b = await send(url, '/data');
      expect([a.status, a.text, a.headers['x-cache']]).toEqual([200, 'data 1', 'BYPASS']);
      expect([b.status, b.text, b.headers['x-cache']]).toEqual([200, 'data 2', 'BYPASS']);
      expect(calls.n).toBe(2);
      expect(errors.length).toBeGreaterThanOrEqual(1);
      expect(errors[0].err.code).toBe('ERC_STORE_FAILED');
      expect(errors[0].err.message).toBe(`store get failed: get ${fault === 'reject' ? 'rejected' : 'threw synchronously'}`);
      expect(errors[0].context).toEqual({ operation: 'get', key: 'cache:v1:http:GET:http://127.0.0.1/data' });
      expect(cache.stats()).toMatchObject({ bypasses: 2, hits: 0, stores: 0 });
      expect(cache.stats().errors).toBe(errors.length);
    });

    it('should answer from the handler when get() hangs past storeTimeout, and tell onError', async () => {
      const store = new FaultyStore();
      store.getFault = 'hang';
      const { url, errors } = await start({ store, storeTimeout: 20 });
      const a = await send(url, '/data');
      expect([a.status, a.text, a.headers['x-cache']]).toEqual([200, 'data 1', 'BYPASS']);
      expect(errors.map((e) => [e.err.code, e.context.operation])).toEqual([['ERC_STORE_TIMEOUT', 'get']]);
    });

    it.each(['reject', 'throw'] as const)('should still answer a miss when set() fails (%s), and tell onError', async (fault) => {
      const store = new FaultyStore();
      store.setFault = fault;
      const { url, errors, calls, cache } = await start({ store });
      const a = await send(url, '/data');
      await until(() => errors.length > 0);
      const b = await send(url, '/data');
      expect([a.text, a.headers['x-cache'], b.text, b.headers['x-cache']]).toEqual(['data 1', 'MISS', 'data 2', 'MISS']);
      expect(calls.n).toBe(2);
      expect(errors[0].context.operation).toBe('set');
      expect(cache.stats().stores).toBe(0);
    });

    it('should treat an entry that does not decode as a miss, and tell onError', async () => {
      const store = new FaultyStore();
      const { url, errors, calls } = await start({ store });
      await send(url, '/data');
      store.getFault = 'garbage';
      const b = await send(url, '/data');
      expect([b.status, b.text, b.headers['x-cache']]).toEqual([200, 'data 2', 'MISS']);
      expect(calls.n).toBe(2);
      expect(errors.map((e) => [e.err.code, e.context.operation])).toContainEqual(['ERC_ENTRY_CORRUPT', 'decode']);
    });

    it('should warn once per error code when no onError is given', async () => {
      const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
      try {
        const store = new FaultyStore();
        store.getFault = 'reject';
        const cache = track(createCache({ store }));
        const app = express();
        app.use(cache.middleware());
        app.get('/data', (_req, res) => res.send('d'));
        const { url } = await serve(app);
        for (let i = 0; i < 3; i++) expect((await send(url, '/data')).status).toBe(200);
        expect(warn).toHaveBeenCalledTimes(1);
        expect(String(warn.mock.calls[0][0])).toMatch(/^express-response-cache: store get failed: get rejected \(ERC_STORE_FAILED;/);
      } finally {
        warn.mockRestore();
      }
    });
  });

  describe('when requests go through the cache', () => {
    it('should count hits, misses, bypasses, stores and invalidations in stats()', async () => {
      const { url, cache } = await start({});
      expect(cache.stats()).toEqual({
        hits: 0,
        misses: 0,
        stale: 0,
        revalidated: 0,
        bypasses: 0,
        stores: 0,
        invalidations: 0,
        errors: 0,
        hitRatio: 0,
        evictionBypass: false,
        values: { hits: 0, misses: 0, stores: 0, hitRatio: 0 },
      });
      await send(url, '/data');
      await send(url, '/data');
      await send(url, '/data');
      await send(url, '/data', { headers: { Authorization: 'Bearer x' } });
      await send(url, '/data', { method: 'POST' });
      await cache.invalidate({ paths: ['/data'] });
      expect(cache.stats()).toEqual({
        hits: 2,
        misses: 1,
        stale: 0,
        revalidated: 0,
        bypasses: 2,
        stores: 1,
        invalidations: 1,
        errors: 0,
        hitRatio: 2 / 3,
        evictionBypass: false,
        values: { hits: 0, misses: 0, stores: 0, hitRatio: 0 },
      });
    });
  });

  describe('when the handler uses res.locals.cache', () => {
    it('should show the key and status of every request the middleware sees', async () => {
      const { url, seen, clock } = await start({ ttl: 10, staleWhileRevalidate: 60 });
      await send(url, '/data?b=2&a=1');
      await send(url, '/data?a=1&b=2');
      await send(url, '/data', { headers: { Authorization: 'Bearer x' } });
      await send(url, '/data', { method: 'POST' });
      clock.advance(15);
      const stale = await send(url, '/data?a=1&b=2');
      expect(stale.headers['x-cache']).toBe('STALE');
      expect(seen.slice(0, 5)).toEqual([
        { key: 'cache:v1:http:GET:http://127.0.0.1/data?a=1&b=2', status: 'MISS' },
        { key: 'cache:v1:http:GET:http://127.0.0.1/data?a=1&b=2', status: 'HIT' },
        // The key is '' where the cache does not apply (RequestCache.key).
        { key: '', status: 'BYPASS' },
        { key: '', status: 'BYPASS' },
        { key: 'cache:v1:http:GET:http://127.0.0.1/data?a=1&b=2', status: 'STALE' },
      ]);
    });

    it('should refresh a STALE entry in the background, once, and then answer the new body', async () => {
      const { url, calls, clock } = await start({ ttl: 10, staleWhileRevalidate: 60 });
      await send(url, '/data');
      clock.advance(15);
      const stale = await send(url, '/data');
      expect([stale.text, stale.headers['x-cache']]).toEqual(['data 1', 'STALE']);
      await until(() => calls.n === 2);
      const fresh = await send(url, '/data');
      await until(() => fresh.headers['x-cache'] === 'HIT');
      expect([fresh.text, fresh.headers['x-cache']]).toEqual(['data 2', 'HIT']);
      expect(calls.n).toBe(2);
    });

    it('should give the handler the cache instance, and tag(), ttl(), skip() and invalidate()', async () => {
      const release = deferred<boolean>();
      let same = false;
      const { url, cache, clock } = await start({ ttl: 10 }, (app) => {
        app.get('/tagged', (_req, res) => {
          same = res.locals.cache!.cache === cache;
          res.locals.cache!.tag('t1', 't2');
          res.locals.cache!.ttl(100);
          res.send('tagged');
        });
        app.get('/skipped', (_req, res) => {
          res.locals.cache!.skip();
          res.send('skipped');
        });
        app.post('/drop', async (_req, res) => {
          const n = await res.locals.cache!.invalidate({ tags: ['t2'] });
          release.resolve(true);
          res.send(String(n));
        });
      });
      await send(url, '/tagged');
      await send(url, '/skipped');
      clock.advance(50);
      expect((await send(url, '/tagged')).headers['x-cache']).toBe('HIT');
      expect((await send(url, '/skipped')).headers['x-cache']).toBe('MISS');
      expect((await send(url, '/drop', { method: 'POST' })).text).toBe('1');
      expect(await release.promise).toBe(true);
      expect((await send(url, '/tagged')).headers['x-cache']).toBe('MISS');
      expect(same).toBe(true);
    });

    it('should refuse bad tags with a TypeError', async () => {
      const { url } = await start({}, (app) => {
        app.get('/bad-tag', (_req, res) => {
          res.locals.cache!.tag('');
          res.send('unreachable');
        });
        app.use(((err, _req, res, _next) => void res.status(500).send((err as Error).message)) as import('express').ErrorRequestHandler);
      });
      const r = await send(url, '/bad-tag');
      expect([r.status, r.text]).toEqual([500, 'res.locals.cache.tag: tags must be non-empty strings, got ']);
    });

    it('should keep one res.locals.cache per request when a route-level middleware sits under an app-level one', async () => {
      const { url, seen } = await start({}, (app) => {
        app.get(
          '/both',
          (_req, _res, next) => next(),
          (_req, res) => res.send('both'),
        );
      });
      await send(url, '/both');
      expect((await send(url, '/both')).headers['x-cache']).toBe('HIT');
      expect(seen.map((s) => s.status)).toEqual(['MISS', 'HIT']);
    });
  });
});
