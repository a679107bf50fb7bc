/**
 * What is stored, and for how long: statuses, methods, Cache-Control, cookies, event
 * streams, Authorization, skip(); TTLs from the response, the options and the handler,
 * with jitter. Time is the injected clock's.
 */

import type { Express, RequestHandler } from 'express';
import request from 'supertest';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import { forEachExpress, type ExpressFactory } from '../helpers/express';
import { closeAfterEach, send, serve, TestClock, track } from '../helpers/http';

closeAfterEach();

forEachExpress((express) => {
  /** An app with the cache in front of `routes`; `calls[path]` counts handler runs. */
  async function start(options: ExpressCacheOptions, routes: (app: Express, count: (path: string) => void) => void, clock = new TestClock()) {
    const cache = track(createCache({ jitter: 0, ...options }, clock));
    const app = (express as ExpressFactory)();
    const calls: Record<string, number> = {};
    app.use(cache.middleware());
    routes(app, (path) => (calls[path] = (calls[path] ?? 0) + 1));
    const { url } = await serve(app);
    return { url, calls, clock, cache };
  }

  /** Two requests in a row: the X-Cache of the second and the handler calls. */
  async function twice(url: string, path: string, headers: Record<string, string> = {}) {
    const a = await send(url, path, { headers });
    const b = await send(url, path, { headers });
    return { a, b, second: b.headers['x-cache'] };
  }

  /** Responses this cache may use only once validated (RFC 9111 §5.2.2.4, §4.2.1). */
  const REVALIDATE_EACH_USE: Array<[string, (res: import('express').Response) => void]> = [
    ['Cache-Control: no-cache', (res) => res.set('Cache-Control', 'no-cache')],
    ['Cache-Control: no-cache, max-age=600', (res) => res.set('Cache-Control', 'no-cache, max-age=600')],
    ['Cache-Control: max-age=0', (res) => res.set('Cache-Control', 'max-age=0')],
    ['Cache-Control: s-maxage=0, max-age=600', (res) => res.set('Cache-Control', 's-maxage=0, max-age=600')],
    ['Cache-Control: max-age=abc', (res) => res.set('Cache-Control', 'max-age=abc')],
    ['an Expires in the past', (res) => res.set('Expires', 'Tue, 01 Jan 2019 00:00:00 GMT')],
    ['Expires: 0', (res) => res.set('Expires', '0')],
  ];

  describe('when the status is not one of the stored statuses', () => {
    it.each([201, 206, 404, 500])('should not store %i', async (status) => {
      const { url, calls } = await start({}, (app, count) =>
        app.get('/s', (_req, res) => {
          count('s');
          res.status(status).send(`status ${status}`);
        }),
      );
      const { b, second } = await twice(url, '/s');
      expect([b.status, b.text, second]).toEqual([status, `status ${status}`, 'MISS']);
      expect(calls.s).toBe(2);
    });
  });

  describe("when a 5xx states its own freshness, with storeErrors: 'explicit' (RFC 9111 §3)", () => {
    /** A route that fails with `status` and these headers; each body names its call, so a replay shows. */
    async function failing(options: ExpressCacheOptions, status: number, headers: Record<string, string>) {
      const { url, calls } = await start(options, (app, count) =>
        app.get('/e', (_req, res) => {
          count('e');
          res.status(status).set(headers).send(`failure ${calls.e}`);
        }),
      );
      const a = await send(url, '/e');
      const b = await send(url, '/e');
      return { a, b, calls: calls.e };
    }

    it.each<[number, Record<string, string>]>([
      [500, { 'Cache-Control': 'max-age=60' }],
      [503, { 'Cache-Control': 's-maxage=30' }],
      [599, { Expires: 'Thu, 01 Jan 2099 00:00:00 GMT' }],
    ])('should store %i with %j and replay it', async (status, headers) => {
      const { a, b, calls } = await failing({ storeErrors: 'explicit' }, status, headers);
      expect([a.status, a.text, a.xCache]).toEqual([status, 'failure 1', 'MISS']);
      expect([b.status, b.text, b.xCache, calls]).toEqual([status, 'failure 1', 'HIT', 1]);
    });

    it('should never store a 5xx without freshness, even listed in statuses', async () => {
      const { b, calls } = await failing({ storeErrors: 'explicit', statuses: [200, 500, 503] }, 503, { 'Cache-Control': 'public' });
      expect([b.status, b.text, b.xCache, calls]).toEqual([503, 'failure 2', 'MISS', 2]);
    });

    it('should store a 5xx with freshness only when listed in statuses by default (storeErrors: false)', async () => {
      const unlisted = await failing({}, 503, { 'Cache-Control': 'max-age=60' });
      expect([unlisted.b.text, unlisted.b.xCache, unlisted.calls]).toEqual(['failure 2', 'MISS', 2]);
      // Listed, a 5xx is stored with or without freshness: what 'explicit' refuses.
      const listed = await failing({ statuses: [200, 500] }, 500, {});
      expect([listed.b.text, listed.b.xCache, listed.calls]).toEqual(['failure 1', 'HIT', 1]);
    });

    it('should leave the other statuses to statuses and explicit freshness as before', async () => {
      const { b, calls } = await failing({ storeErrors: 'explicit' }, 404, { 'Cache-Control': 'max-age=60' });
      expect([b.status, b.text, b.xCache, calls]).toEqual([404, 'failure 1', 'HIT', 1]);
    });
  });

  describe('when the status is 200, 203 or 204', () => {
    it.each([200, 203, 204])('should store %i and replay it', async (status) => {
      const { url, calls } = await start({}, (app, count) =>
        app.get('/s', (_req, res) => {
          count('s');
          if (status === 204) res.status(204).end();
          else res.status(status).send(`status ${status}`);
        }),
      );
      const { b, second } = await twice(url, '/s');
      expect([b.status, second]).toEqual([status, 'HIT']);
      expect(b.text).toBe(status === 204 ? '' : `status ${status}`);
      expect(calls.s).toBe(1);
    });
  });

  describe('when the response may be used only once validated (no-cache, stale on arrival)', () => {
    it.each(REVALIDATE_EACH_USE)('should store a response with %s and revalidate it through the handler on every use', async (_name, set) => {
      const seen: Array<string | undefined> = [];
      let version = 1;
      const { url, calls } = await start({}, (app, count) =>
        app.get('/r', (req, res) => {
          count('r');
          seen.push(req.get('if-none-match'));
          set(res);
          res.set('ETag', `"v${version}"`).send(`body v${version}`);
        }),
      );
      const a = await send(url, '/r');
      const b = await send(url, '/r');
      const c = await send(url, '/r');
      // Each use runs the handler with the stored validator; its 304 answers from the store.
      expect([a.headers['x-cache'], b.headers['x-cache'], c.headers['x-cache']]).toEqual(['MISS', 'REVALIDATED', 'REVALIDATED']);
      expect([b.status, b.text, c.text]).toEqual([200, 'body v1', 'body v1']);
      expect(seen).toEqual([undefined, '"v1"', '"v1"']);
      version = 2;
      const d = await send(url, '/r');
      const e = await send(url, '/r');
      expect([d.headers['x-cache'], d.text, e.headers['x-cache'], e.text]).toEqual(['MISS', 'body v2', 'REVALIDATED', 'body v2']);
      expect(seen.slice(3)).toEqual(['"v1"', '"v2"']);
      expect(calls.r).toBe(5);
    });
  });

  describe('when the response must not be stored', () => {
    const CASES: Array<[string, (res: import('express').Response) => void]> = [
      ['Set-Cookie', (res) => res.cookie('sid', 'abc')],
      ['Cache-Control: no-store', (res) => res.set('Cache-Control', 'no-store')],
      ['Cache-Control: private', (res) => res.set('Cache-Control', 'private, max-age=600')],
      ['Vary: *', (res) => res.set('Vary', '*')],
      ['Content-Type: text/event-stream', (res) => res.type('text/event-stream')],
    ];
    it.each(CASES)('should not store a response with %s', async (_name, set) => {
      const { url, calls } = await start({}, (app, count) =>
        app.get('/n', (_req, res) => {
          count('n');
          set(res);
          res.send('data: x\n\n');
        }),
      );
      const { second } = await twice(url, '/n');
      expect(second).toBe('MISS');
      expect(calls.n).toBe(2);
    });

    it('should store no-store, must-understand on a status it knows, but not on one it does not (RFC 9111 §5.2.2.3)', async () => {
      const { url, calls } = await start({ storeErrors: 'explicit' }, (app, count) => {
        app.get('/known', (_req, res) => {
          count('known');
          res.set('Cache-Control', 'max-age=3600, no-store, must-understand').send(`known ${calls.known}`);
        });
        app.get('/unknown', (_req, res) => {
          count('unknown');
          res.status(599).set('Cache-Control', 'max-age=3600, must-understand').send(`unknown ${calls.unknown}`);
        });
      });
      const known = await twice(url, '/known');
      const unknown = await twice(url, '/unknown');
      expect([known.second, known.b.text, calls.known]).toEqual(['HIT', 'known 1', 1]);
      expect([unknown.second, unknown.b.text, calls.unknown]).toEqual(['MISS', 'unknown 2', 2]);
    });

    // RFC 9111 §5.2.2.4, §4.2.1: kept only to be revalidated, which needs the handler's own validator.
    it.each(REVALIDATE_EACH_USE)('should not store a response with %s and no validator of its own', async (_name, set) => {
      const { url, calls } = await start({}, (app, count) =>
        app.get('/n', (_req, res) => {
          count('n');
          set(res);
          res.end('no etag'); // res.end, not res.send: Express adds no ETag
        }),
      );
      const { a, b, second } = await twice(url, '/n');
      expect([second, a.text, b.text, calls.n]).toEqual(['MISS', 'no etag', 'no etag', 2]);
    });

    it("should never replay one client's Set-Cookie to another", async () => {
      let n = 0;
      const { url } = await start({}, (app) =>
        app.get('/c', (_req, res) => {
          n++;
          res.cookie('sid', `client-${n}`).send('hello');
        }),
      );
      const a = await send(url, '/c');
      const b = await send(url, '/c');
      expect(a.headers['set-cookie']).toEqual(['sid=client-1; Path=/']);
      expect(b.headers['set-cookie']).toEqual(['sid=client-2; Path=/']);
    });

    it('should not store an event stream written in chunks', async () => {
      const { url, calls } = await start({}, (app, count) =>
        app.get('/events', (_req, res) => {
          count('events');
          res.writeHead(200, { 'Content-Type': 'text/event-stream; charset=utf-8' });
          res.write('data: 1\n\n');
          res.end('data: 2\n\n');
        }),
      );
      const { a, second } = await twice(url, '/events');
      expect(a.text).toBe('data: 1\n\ndata: 2\n\n');
      expect(second).toBe('MISS');
      expect(calls.events).toBe(2);
    });

    it('should not store when the request says Cache-Control: no-store', async () => {
      const { url, calls } = await start({}, (app, count) =>
        app.get('/r', (_req, res) => {
          count('r');
          res.send('r');
        }),
      );
      await send(url, '/r', { headers: { 'Cache-Control': 'no-store' } });
      const b = await send(url, '/r');
      expect(b.headers['x-cache']).toBe('MISS');
      expect(calls.r).toBe(2);
    });

    it('should let res.locals.cache.skip() win over a response that says public', async () => {
      const { url, calls } = await start({}, (app, count) =>
        app.get('/skip', (_req, res) => {
          count('skip');
          res.set('Cache-Control', 'public, max-age=600');
          res.locals.cache!.skip();
          res.send('skipped');
        }),
      );
      const { second } = await twice(url, '/skip');
      expect(second).toBe('MISS');
      expect(calls.skip).toBe(2);
    });

    it('should let skip() called after the headers went out still win', async () => {
      const { url, calls } = await start({}, (app, count) =>
        app.get('/late', (_req, res) => {
          count('late');
          res.type('text/plain');
          res.write('part one,');
          res.locals.cache!.skip();
          res.end(' part two');
        }),
      );
      const { a, second } = await twice(url, '/late');
      expect(a.text).toBe('part one, part two');
      expect(second).toBe('MISS');
      expect(calls.late).toBe(2);
    });
  });

  describe('when the request carries Authorization', () => {
    const routes = (cacheControl?: string) => (app: Express, count: (p: string) => void) =>
      app.get('/me', (req, res) => {
        count('me');
        if (cacheControl) res.set('Cache-Control', cacheControl);
        res.send(`for ${req.headers.authorization ?? 'anyone'}`);
      });

    it('should neither answer it from the cache nor store its response', async () => {
      const { url, calls } = await start({}, routes());
      const anon = await send(url, '/me');
      const alice = await send(url, '/me', { headers: { Authorization: 'Bearer alice' } });
      const bob = await send(url, '/me', { headers: { Authorization: 'Bearer bob' } });
      const anon2 = await send(url, '/me');
      expect([alice.text, alice.headers['x-cache']]).toEqual(['for Bearer alice', 'BYPASS']);
      expect([bob.text, bob.headers['x-cache']]).toEqual(['for Bearer bob', 'BYPASS']);
      expect([anon.headers['x-cache'], anon2.text, anon2.headers['x-cache']]).toEqual(['MISS', 'for anyone', 'HIT']);
      expect(calls.me).toBe(3);
    });

    // The route reads Authorization: without `shared: true` nothing it answers is stored
    // (test/integration/per-user.test.ts). Said shared, RFC 9111 §3.5's rules still apply.
    it('should, with shareAuthorized, read the cache but not store a response that does not say public, s-maxage or must-revalidate', async () => {
      const { url, calls } = await start({ shareAuthorized: true, shared: true }, routes('max-age=60'));
      await send(url, '/me');
      const alice = await send(url, '/me', { headers: { Authorization: 'Bearer alice' } });
      expect([alice.text, alice.headers['x-cache']]).toEqual(['for anyone', 'HIT']);
      expect(calls.me).toBe(1);

      const { url: url2, calls: calls2 } = await start({ shareAuthorized: true, shared: true }, routes('max-age=60'));
      const bob = await send(url2, '/me', { headers: { Authorization: 'Bearer bob' } });
      const anon = await send(url2, '/me');
      expect([bob.headers['x-cache'], anon.headers['x-cache'], anon.text]).toEqual(['MISS', 'MISS', 'for anyone']);
      expect(calls2.me).toBe(2);
    });

    it.each(['public, max-age=60', 's-maxage=60', 'max-age=60, must-revalidate'])('should, with shareAuthorized, store a response that says %s', async (cc) => {
      const { url, calls } = await start({ shareAuthorized: true, shared: true }, routes(cc));
      await send(url, '/me', { headers: { Authorization: 'Bearer bob' } });
      const anon = await send(url, '/me');
      expect([anon.headers['x-cache'], anon.text]).toEqual(['HIT', 'for Bearer bob']);
      expect(calls.me).toBe(1);
    });
  });

  describe('when the method is not a cached one', () => {
    it.each(['POST', 'PUT', 'PATCH', 'DELETE'])('should always run the %s handler under app.use, never answering with the cached GET body', async (method) => {
      const { url, calls } = await start({}, (app, count) => {
        app.get('/item', (_req, res) => {
          count('GET');
          res.send('GET body');
        });
        app.all('/item', (req, res) => {
          count(req.method);
          res.status(200).send(`${req.method} body`);
        });
      });
      await send(url, '/item');
      expect((await send(url, '/item')).headers['x-cache']).toBe('HIT');
      const first = await send(url, '/item', { method, body: '{}', headers: { 'Content-Type': 'application/json' } });
      const second = await send(url, '/item', { method, body: '{}', headers: { 'Content-Type': 'application/json' } });
      expect([first.text, second.text]).toEqual([`${method} body`, `${method} body`]);
      expect([first.headers['x-cache'], second.headers['x-cache']]).toEqual(['BYPASS', 'BYPASS']);
      expect(calls[method]).toBe(2);
    });

    it('should bypass HEAD when methods is ["GET"]', async () => {
      const { url, calls } = await start({ methods: ['GET'] }, (app, count) =>
        app.get('/g', (_req, res) => {
          count('g');
          res.send('g');
        }),
      );
      await send(url, '/g');
      const head = await send(url, '/g', { method: 'HEAD' });
      expect(head.headers['x-cache']).toBe('BYPASS');
      expect(calls.g).toBe(2);
    });
  });

  describe('when the freshness lifetime is decided', () => {
    /**
     * Store at t=0 with `set`, then ask at each offset (seconds, ascending; stale only last): the
     * X-Cache of each. Past its lifetime the entry is revalidated through the handler (RFC 9111
     * §4.3): Express answers the entry's own ETag with a 304, so the last one is REVALIDATED.
     */
    async function lifetime(options: ExpressCacheOptions, set: RequestHandler, offsets: number[], random = 0.5) {
      const clock = new TestClock();
      clock.r = random;
      const start0 = clock.t;
      const { url } = await start(options, (app) => app.get('/t', set, (_req, res) => res.send('t')), clock);
      await send(url, '/t');
      const out: string[] = [];
      for (const s of offsets) {
        clock.t = start0 + Math.round(s * 1000);
        out.push(String((await send(url, '/t')).headers['x-cache']));
      }
      return out;
    }
    const headers =
      (h: Record<string, string>): RequestHandler =>
      (_req, res, next) => {
        res.set(h);
        next();
      };

    it('should use the ttl option when the response says nothing', async () => {
      expect(await lifetime({ ttl: 30 }, headers({}), [29.999, 30])).toEqual(['HIT', 'REVALIDATED']);
    });

    it('should prefer s-maxage over max-age and Expires', async () => {
      const clock = new TestClock();
      expect(await lifetime({ ttl: 300 }, headers({ 'Cache-Control': 'max-age=50, s-maxage=20', Expires: clock.httpDate(100) }), [19.999, 20])).toEqual([
        'HIT',
        'REVALIDATED',
      ]);
    });

    it('should prefer max-age over Expires', async () => {
      const clock = new TestClock();
      expect(await lifetime({ ttl: 300 }, headers({ 'Cache-Control': 'max-age=50', Expires: clock.httpDate(100) }), [49.999, 50])).toEqual([
        'HIT',
        'REVALIDATED',
      ]);
    });

    it('should take Expires minus Date when there is no max-age', async () => {
      const clock = new TestClock();
      const h = { Date: clock.httpDate(-1000), Expires: clock.httpDate(-1000 + 40) };
      expect(await lifetime({ ttl: 300 }, headers(h), [39.999, 40])).toEqual(['HIT', 'REVALIDATED']);
    });

    it('should read Expires in the obsolete RFC 850 form, a two-digit year at most 50 years ahead (RFC 9110 §5.6.7)', async () => {
      // The clock is in 2030: "55" is 2055 (Date.parse alone makes it 1955, stale on arrival).
      const h = { Date: 'Sat, 01 Jan 2055 00:00:00 GMT', Expires: 'Saturday, 01-Jan-55 00:00:40 GMT' };
      expect(await lifetime({ ttl: 300 }, headers(h), [39.999, 40])).toEqual(['HIT', 'REVALIDATED']);
    });

    it('should read an Expires whose names are in the wrong case', async () => {
      const clock = new TestClock();
      const h = { Date: clock.httpDate(), Expires: clock.httpDate(40).toUpperCase() };
      expect(await lifetime({ ttl: 300 }, headers(h), [39.999, 40])).toEqual(['HIT', 'REVALIDATED']);
    });

    it('should take Expires minus now when there is no Date', async () => {
      const clock = new TestClock();
      expect(await lifetime({ ttl: 300 }, headers({ Expires: clock.httpDate(25) }), [24.999, 25])).toEqual(['HIT', 'REVALIDATED']);
    });

    it("should count the origin's Age against max-age", async () => {
      expect(await lifetime({ ttl: 300 }, headers({ 'Cache-Control': 'max-age=100', Age: '30' }), [69.999, 70])).toEqual(['HIT', 'REVALIDATED']);
    });

    it("should bound any lifetime by maxTtl, the response's included", async () => {
      expect(await lifetime({ ttl: 300, maxTtl: 10 }, headers({ 'Cache-Control': 'max-age=1000' }), [9.999, 10])).toEqual(['HIT', 'REVALIDATED']);
      expect(await lifetime({ ttl: 300, maxTtl: 10 }, headers({}), [9.999, 10])).toEqual(['HIT', 'REVALIDATED']);
    });

    it("should let res.locals.cache.ttl(n) override the response's own lifetime and the ttl option", async () => {
      const override: RequestHandler = (_req, res, next) => {
        res.set('Cache-Control', 'max-age=5');
        res.locals.cache!.ttl(100);
        next();
      };
      expect(await lifetime({ ttl: 10 }, override, [99.999, 100])).toEqual(['HIT', 'REVALIDATED']);
    });

    it("should throw from res.locals.cache.ttl() given a bad value, to the app's error handler", async () => {
      const { url } = await start({}, (app) => {
        app.get('/bad', (_req, res) => {
          res.locals.cache!.ttl(-1);
          res.send('unreachable');
        });
        app.use(((err, _req, res, _next) => void res.status(500).send((err as Error).message)) as import('express').ErrorRequestHandler);
      });
      const r = await request(url).get('/bad');
      expect([r.status, r.text]).toEqual([500, 'res.locals.cache.ttl: seconds must be a positive number, got -1']);
    });
  });

  describe('when jitter is on', () => {
    it('should draw the ttl option from ttl * (1 - jitter) with random() = 0', async () => {
      const clock = new TestClock();
      clock.r = 0;
      const { url } = await start({ ttl: 100, jitter: 0.1 }, (app) => app.get('/j', (_req, res) => res.send('j')), clock);
      const t0 = clock.t;
      await send(url, '/j');
      clock.t = t0 + 89_999;
      expect((await send(url, '/j')).headers['x-cache']).toBe('HIT');
      clock.t = t0 + 90_000;
      expect((await send(url, '/j')).headers['x-cache']).toBe('REVALIDATED');
    });

    it('should draw the ttl option up to ttl * (1 + jitter) with random() = 0.999', async () => {
      const clock = new TestClock();
      clock.r = 0.999;
      const { url } = await start({ ttl: 100, jitter: 0.1 }, (app) => app.get('/j', (_req, res) => res.send('j')), clock);
      const t0 = clock.t;
      await send(url, '/j');
      clock.t = t0 + 109_979;
      expect((await send(url, '/j')).headers['x-cache']).toBe('HIT');
      clock.t = t0 + 109_980;
      expect((await send(url, '/j')).headers['x-cache']).toBe('REVALIDATED');
    });

    it('should only shorten a lifetime the response states (never serve past its max-age)', async () => {
      for (const [random, expiresAfter] of [
        [0, 100_000],
        [0.999, 90_010],
      ] as const) {
        const clock = new TestClock();
        clock.r = random;
        const { url } = await start({ jitter: 0.1 }, (app) => app.get('/j', (_req, res) => res.set('Cache-Control', 'max-age=100').send('j')), clock);
        const t0 = clock.t;
        await send(url, '/j');
        clock.t = t0 + expiresAfter - 1;
        expect((await send(url, '/j')).headers['x-cache']).toBe('HIT');
        clock.t = t0 + expiresAfter;
        expect((await send(url, '/j')).headers['x-cache']).toBe('REVALIDATED');
      }
    });
  });
});
