/**
 * HTTP beyond the must-nots (issue 10): freshness: 'ttl' on static files, RFC 9211
 * Cache-Status, the vary option in Vary, Cache-Tag surrogate keys, invalidates() on 3xx
 * (Post/Redirect/Get), nested cache middlewares, and no stale serving under
 * must-revalidate.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, deferred, send, serve, TestClock, track, until } from '../helpers/http';

closeAfterEach();

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'erc-static-'));
  fs.writeFileSync(path.join(dir, 'app.js'), 'console.log("v1");\n');
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

forEachExpress((express) => {
  /** An app with `app.use(cache.middleware(appLevel))` in front of `routes`; `calls[name]` counts handler runs. */
  async function start(
    options: ExpressCacheOptions,
    routes: (app: Express, count: (name: string) => void, cache: ReturnType<typeof createCache>) => void,
    appLevel?: ExpressCacheOptions,
  ) {
    const clock = new TestClock();
    const cache = track(createCache({ jitter: 0, ...options }, clock));
    const app = express();
    const calls: Record<string, number> = {};
    app.use(cache.middleware(appLevel));
    routes(app, (name) => (calls[name] = (calls[name] ?? 0) + 1), cache);
    const { url } = await serve(app);
    return { url, calls, clock, cache };
  }

  describe("when freshness is 'ttl' on static files", () => {
    async function staticApp(routeOptions: ExpressCacheOptions) {
      const clock = new TestClock();
      const cache = track(createCache({ jitter: 0 }, clock));
      const app = express();
      let calls = 0;
      app.use(
        '/assets',
        cache.middleware(routeOptions),
        (_req, _res, next) => {
          calls++;
          next();
        },
        express.static(dir),
      );
      const { url } = await serve(app);
      return { url, clock, calls: () => calls };
    }

    it("should revalidate express.static's max-age=0 answers on every use by default (stale on arrival)", async () => {
      const { url, calls } = await staticApp({ ttl: 900 });
      await send(url, '/assets/app.js');
      const b = await send(url, '/assets/app.js');
      expect([b.headers['x-cache'], b.headers['cache-control'], b.text, calls()]).toEqual(['REVALIDATED', 'public, max-age=0', 'console.log("v1");\n', 2]);
    });

    it("should keep them for ttl seconds, while the client still gets the response's own Cache-Control", async () => {
      const { url, clock, calls } = await staticApp({ ttl: 900, freshness: 'ttl' });
      const t0 = clock.t;
      const a = await send(url, '/assets/app.js');
      clock.t = t0 + 899_999;
      const b = await send(url, '/assets/app.js');
      expect([a.headers['x-cache'], b.headers['x-cache'], b.text, b.headers['cache-control']]).toEqual([
        'MISS',
        'HIT',
        'console.log("v1");\n',
        'public, max-age=0',
      ]);
      expect(calls()).toBe(1);
      clock.t = t0 + 900_000;
      // Stale now: revalidated through express.static (its ETag still matches, RFC 9111 §4.3).
      expect((await send(url, '/assets/app.js')).headers['x-cache']).toBe('REVALIDATED');
      expect(calls()).toBe(2);
    });

    it.each<[string, Record<string, string | string[]>, boolean]>([
      ['no-cache', { 'Cache-Control': 'no-cache' }, true],
      ['an Expires in the past', { Expires: 'Tue, 01 Jan 2019 00:00:00 GMT' }, true],
      ['no-store', { 'Cache-Control': 'no-store' }, false],
      ['private', { 'Cache-Control': 'private, max-age=600' }, false],
      ['Set-Cookie', { 'Set-Cookie': ['sid=1'] }, false],
    ])('should, with %s, store: %s', async (_name, headers, storedExpected) => {
      const { url, calls } = await start({ ttl: 900, freshness: 'ttl' }, (app, count) =>
        app.get('/api', (_req, res) => {
          count('api');
          res.set(headers).send('api');
        }),
      );
      await send(url, '/api');
      const b = await send(url, '/api');
      expect([b.text, b.headers['x-cache'], calls.api]).toEqual(['api', storedExpected ? 'HIT' : 'MISS', storedExpected ? 1 : 2]);
    });
  });

  describe('when a status other than 200/203/204 states its freshness (RFC 9111 §3)', () => {
    it('should store a 301 with max-age and replay its Location', async () => {
      const { url, calls } = await start({}, (app, count) =>
        app.get('/old', (_req, res) => {
          count('old');
          res.set('Cache-Control', 'max-age=60').redirect(301, '/new');
        }),
      );
      await send(url, '/old');
      const b = await send(url, '/old');
      expect([b.status, b.headers.location, b.headers['x-cache'], calls.old]).toEqual([301, '/new', 'HIT', 1]);
    });

    it('should store a 404 with max-age=60, not a bare one', async () => {
      const { url, calls } = await start({}, (app, count) => {
        app.get('/gone', (_req, res) => {
          count('gone');
          res.status(404).set('Cache-Control', 'max-age=60').send('no such thing');
        });
        app.get('/missing', (_req, res) => {
          count('missing');
          res.status(404).send('not here');
        });
      });
      for (let i = 0; i < 2; i++) {
        await send(url, '/gone');
        await send(url, '/missing');
      }
      const gone = await send(url, '/gone');
      expect([gone.status, gone.text, gone.headers['x-cache']]).toEqual([404, 'no such thing', 'HIT']);
      expect([calls.gone, calls.missing]).toEqual([1, 2]);
    });

    it('should store a 503 with max-age only when statuses lists it', async () => {
      const routes = (app: Express, count: (n: string) => void) =>
        app.get('/busy', (_req, res) => {
          count('busy');
          res.status(503).set('Cache-Control', 'max-age=5').send('busy');
        });
      const plain = await start({}, routes);
      await send(plain.url, '/busy');
      await send(plain.url, '/busy');
      const listed = await start({ statuses: [200, 503] }, routes);
      await send(listed.url, '/busy');
      const b = await send(listed.url, '/busy');
      expect([plain.calls.busy, listed.calls.busy, b.status, b.text]).toEqual([2, 1, 503, 'busy']);
    });
  });

  describe('when headers.cacheStatus names the cache (RFC 9211)', () => {
    it('should send nothing by default', async () => {
      const { url } = await start({}, (app) => app.get('/x', (_req, res) => res.send('x')));
      await send(url, '/x');
      expect((await send(url, '/x')).headers['cache-status']).toBeUndefined();
    });

    it('should say hit with the remaining ttl on hits and 304s, and stale hits with a negative ttl', async () => {
      const { url, clock } = await start({ ttl: 100, staleWhileRevalidate: 30, headers: { cacheStatus: 'shop' } }, (app) =>
        app.get('/x', (_req, res) => res.set('ETag', '"x"').send('x')),
      );
      const t0 = clock.t;
      await send(url, '/x');
      clock.t = t0 + 24_500;
      const hit = await send(url, '/x');
      const notModified = await send(url, '/x', { headers: { 'If-None-Match': '"x"' } });
      clock.t = t0 + 105_000;
      const stale = await send(url, '/x');
      expect([hit.headers['cache-status'], notModified.status, notModified.headers['cache-status']]).toEqual(['shop; hit; ttl=75', 304, 'shop; hit; ttl=75']);
      expect([stale.headers['x-cache'], stale.headers['cache-status'], stale.text]).toEqual(['STALE', 'shop; hit; ttl=-5', 'x']);
    });

    it('should say fwd=stale with the failed status when stale-if-error serves the stale entry', async () => {
      let fail = false;
      const { url, clock } = await start({ ttl: 10, staleIfError: 60, headers: { cacheStatus: 'shop' } }, (app) =>
        app.get('/f', (_req, res) => {
          if (fail) res.status(503).send('down');
          else res.send('good');
        }),
      );
      const t0 = clock.t;
      await send(url, '/f');
      fail = true;
      clock.t = t0 + 15_000;
      const r = await send(url, '/f');
      expect([r.status, r.text, r.headers['x-cache'], r.headers['cache-status']]).toEqual([200, 'good', 'STALE', 'shop; fwd=stale; fwd-status=503; ttl=-5']);
    });

    it('should say fwd=uri-miss on misses, with stored when the response is stored, and never replay it', async () => {
      const { url } = await start({ headers: { cacheStatus: 'shop' } }, (app) => {
        app.get('/x', (_req, res) => res.send('x'));
        app.get('/n', (_req, res) => res.set('Cache-Control', 'no-store').send('n'));
      });
      const miss = await send(url, '/x');
      const hit = await send(url, '/x');
      const notStored = await send(url, '/n');
      expect([miss.headers['cache-status'], hit.headers['cache-status'], notStored.headers['cache-status']]).toEqual([
        'shop; fwd=uri-miss; stored',
        expect.stringMatching(/^shop; hit; ttl=\d+$/),
        'shop; fwd=uri-miss',
      ]);
    });

    it('should say why a request went to the handler: method, request (Authorization), bypass', async () => {
      const { url } = await start({ headers: { cacheStatus: 'shop' }, bypass: (req) => req.query.live !== undefined }, (app) =>
        app.all('/x', (_req, res) => res.send('x')),
      );
      const post = await send(url, '/x', { method: 'POST' });
      const auth = await send(url, '/x', { headers: { Authorization: 'Bearer a' } });
      const live = await send(url, '/x?live');
      expect([post.headers['cache-status'], auth.headers['cache-status'], live.headers['cache-status']]).toEqual([
        'shop; fwd=method',
        'shop; fwd=request',
        'shop; fwd=bypass',
      ]);
    });
  });

  describe('when the vary option names request headers', () => {
    it("should add them to Vary on misses and hits, beside the response's own", async () => {
      const { url, calls } = await start({ vary: ['X-Tenant'] }, (app, count) =>
        app.get('/t', (req, res) => {
          count('t');
          res.vary('Accept-Encoding').send(`tenant ${String(req.headers['x-tenant'])}`);
        }),
      );
      const a = await send(url, '/t', { headers: { 'X-Tenant': 'a' } });
      const b = await send(url, '/t', { headers: { 'X-Tenant': 'b' } });
      const a2 = await send(url, '/t', { headers: { 'X-Tenant': 'a' } });
      const nm = await send(url, '/t', { headers: { 'X-Tenant': 'a', 'If-None-Match': String(a.headers.etag) } });
      expect([a.headers.vary, b.headers.vary, a2.headers.vary, nm.headers.vary]).toEqual(Array(4).fill('Accept-Encoding, X-Tenant'));
      expect([a2.text, a2.headers['x-cache'], b.text, nm.status, calls.t]).toEqual(['tenant a', 'HIT', 'tenant b', 304, 2]);
    });

    it('should add them when the handler replaces Vary after the cache ran', async () => {
      const { url } = await start({ vary: ['X-Tenant'] }, (app) => app.get('/t', (_req, res) => res.set('Vary', 'Origin').send('t')));
      expect((await send(url, '/t')).headers.vary).toBe('Origin, X-Tenant');
      expect((await send(url, '/t')).headers.vary).toBe('Origin, X-Tenant');
    });
  });

  describe('when a response tags itself with Cache-Tag', () => {
    async function tagged(options: ExpressCacheOptions) {
      const data = { version: 1 };
      const s = await start(options, (app, count) =>
        app.get('/p/:id', (req, res) => {
          count('p');
          res.set('Cache-Tag', `product:${req.params.id}, catalog`).send(`product ${req.params.id} v${data.version}`);
        }),
      );
      return { ...s, data };
    }

    it('should file the entry under those tags and send the header on, to misses and hits', async () => {
      const { url, calls, cache, data } = await tagged({});
      const miss = await send(url, '/p/1');
      const hit = await send(url, '/p/1');
      expect([miss.headers['cache-tag'], hit.headers['cache-tag'], hit.headers['x-cache']]).toEqual(['product:1, catalog', 'product:1, catalog', 'HIT']);
      data.version = 2;
      expect(await cache.invalidate({ tags: ['product:1'] })).toBe(1);
      const after = await send(url, '/p/1');
      expect([after.text, after.headers['x-cache'], calls.p]).toEqual(['product 1 v2', 'MISS', 2]);
    });

    it('should ignore the header with tagHeader: false', async () => {
      const { url, cache } = await tagged({ tagHeader: false });
      await send(url, '/p/1');
      expect(await cache.invalidate({ tags: ['product:1'] })).toBe(0);
      expect((await send(url, '/p/1')).headers['x-cache']).toBe('HIT');
    });

    it('should read another header with tagHeader, and tags given as a plain array', async () => {
      const { url, cache } = await start({ tagHeader: 'Surrogate-Key', tags: ['all'] }, (app) =>
        app.get('/s', (_req, res) => res.set('Surrogate-Key', 'mine').send('s')),
      );
      await send(url, '/s');
      expect(await cache.invalidate({ tags: ['mine'] })).toBe(1);
      await send(url, '/s');
      expect(await cache.invalidate({ tags: ['all'] })).toBe(1);
    });
  });

  describe('when cache.invalidates() guards a Post/Redirect/Get route', () => {
    it('should invalidate on the 303, so the GET it redirects to sees the new page', async () => {
      const data = { title: 'old' };
      const { url, calls } = await start(
        {},
        (app, count, cache) => {
          app.get('/page', (_req, res) => {
            count('page');
            res.send(`title: ${data.title}`);
          });
          app.post('/page', cache.invalidates({ tags: ['page'] }), (_req, res) => {
            data.title = 'new';
            res.redirect(303, '/page');
          });
          app.post('/fail', cache.invalidates({ tags: ['page'] }), (_req, res) => res.status(422).send('no'));
        },
        { tags: ['page'], invalidateUnsafe: false },
      );
      await send(url, '/page');
      expect((await send(url, '/page')).headers['x-cache']).toBe('HIT');
      await send(url, '/fail', { method: 'POST', body: '' });
      expect((await send(url, '/page')).text).toBe('title: old');
      const post = await send(url, '/page', { method: 'POST', body: '' });
      const get = await send(url, String(post.headers.location));
      expect([post.status, get.text, get.headers['x-cache'], calls.page]).toEqual([303, 'title: new', 'MISS', 2]);
    });
  });

  describe('when an app-level and a route-level middleware of one cache see a request', () => {
    it("should let the route-level tags and ttl decide, so invalidating the tag removes the route's entry", async () => {
      const data = { price: 10 };
      const { url, calls, cache, clock } = await start({ ttl: 60 }, (app, count, c) => {
        app.get('/products/:id', c.middleware({ ttl: 900, tags: (req) => [`product:${String(req.params.id)}`] }), (req, res) => {
          count('product');
          res.send(`product ${String(req.params.id)} costs ${data.price}`);
        });
        app.get('/about', (_req, res) => {
          count('about');
          res.send('about');
        });
      });
      const t0 = clock.t;
      const miss = await send(url, '/products/7');
      const hit = await send(url, '/products/7');
      expect([miss.headers['x-cache'], hit.headers['x-cache'], hit.text, calls.product]).toEqual(['MISS', 'HIT', 'product 7 costs 10', 1]);
      clock.t = t0 + 300_000; // past the app-level ttl, inside the route's
      expect((await send(url, '/products/7')).headers['x-cache']).toBe('HIT');
      data.price = 12;
      expect(await cache.invalidate({ tags: ['product:7'] })).toBe(1);
      const after = await send(url, '/products/7');
      expect([after.text, after.headers['x-cache'], calls.product]).toEqual(['product 7 costs 12', 'MISS', 2]);
      // Routes without their own middleware are still cached by the app-level one.
      await send(url, '/about');
      expect([(await send(url, '/about')).headers['x-cache'], calls.about]).toEqual(['HIT', 1]);
      expect(cache.stats()).toMatchObject({ misses: 3, hits: 3 });
    });

    it('should coalesce concurrent misses under the route-level middleware', async () => {
      const cache = track(createCache({ jitter: 0 }));
      const app = express();
      const gate = deferred();
      const counts = { arrived: 0, calls: 0 };
      app.use((_req, _res, next) => {
        counts.arrived++;
        next();
      });
      app.use(cache.middleware());
      app.get('/slow', cache.middleware({ tags: ['slow'] }), (_req, res) => {
        counts.calls++;
        void gate.promise.then(() => res.send('slow'));
      });
      const { url } = await serve(app);
      const replies = Array.from({ length: 5 }, () => send(url, '/slow'));
      // With the memory store a request becomes a follower synchronously once it arrives.
      await until(() => counts.arrived === 5);
      gate.resolve();
      const texts = (await Promise.all(replies)).map((r) => r.text);
      expect([texts, counts.calls]).toEqual([Array(5).fill('slow'), 1]);
      expect(await cache.invalidate({ tags: ['slow'] })).toBe(1);
    });

    it('should step aside, and warn once per app naming both caches and the route, for middlewares of another cache', async () => {
      const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
      try {
        const other = track(createCache({ jitter: 0, namespace: 'other' }));
        const { url, calls } = await start({}, (app, count) => {
          app.get('/o', other.middleware({ tags: ['o'] }), (_req, res) => {
            count('o');
            res.send('o');
          });
          app.get('/p/:id', other.middleware({ tags: ['p'] }), (_req, res) => {
            count('p');
            res.send('p');
          });
        });
        await send(url, '/o');
        await send(url, '/o');
        await send(url, '/o');
        await send(url, '/p/1');
        await send(url, '/p/1');
        expect([calls.o, calls.p]).toEqual([1, 1]);
        expect(warn).toHaveBeenCalledTimes(1);
        expect(String(warn.mock.calls[0][0])).toMatch(/GET \/o met the middlewares of two caches: 'cache:v1:\w+' handles it, 'cache:v1:other' steps aside/);
      } finally {
        warn.mockRestore();
      }
    });
  });

  describe('when a stored response says must-revalidate (RFC 9111 §4.2.4)', () => {
    it('should never serve it stale, whatever stale-while-revalidate says', async () => {
      let version = 1;
      const { url, clock, calls } = await start({ staleWhileRevalidate: 60 }, (app, count) =>
        app.get('/m', (_req, res) => {
          count('m');
          res.set('Cache-Control', 'max-age=10, must-revalidate, stale-while-revalidate=30').send(`v${version}`);
        }),
      );
      const t0 = clock.t;
      await send(url, '/m');
      version = 2;
      clock.t = t0 + 15_000;
      const r = await send(url, '/m');
      expect(r.headers['x-cache']).not.toBe('STALE');
      expect([r.text, calls.m]).toEqual(['v2', 2]);
    });
  });
});
