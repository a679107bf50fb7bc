/**
 * Issue 22: no-cache responses stored and revalidated through the handler on every use
 * (RFC 9111 §5.2.2.4), what a 304 from the handler does to the stored response (§4.3.4),
 * must-revalidate / proxy-revalidate, Age and Date on the answer, and a client's own
 * Cache-Control: no-cache / Pragma: no-cache. Each handler counts its calls and records the
 * conditional headers it received.
 */

import type { Express, Request, Response } from 'express';
import { createCache, MemoryStore, type ExpressCacheOptions } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, deferred, send, serve, TestClock, track, until } from '../helpers/http';

closeAfterEach();

forEachExpress((express) => {
  /** What the handler saw of one request: its conditional headers and Cache-Control. */
  interface Seen {
    inm: string | undefined;
    ims: string | undefined;
    cc: string | undefined;
  }

  async function start(options: ExpressCacheOptions, handler: (req: Request, res: Response) => void, path = '/r') {
    const clock = new TestClock();
    const cache = track(createCache({ jitter: 0, ...options }, clock));
    const app: Express = express();
    const seen: Seen[] = [];
    app.use(cache.middleware());
    app.get(path, (req, res) => {
      seen.push({ inm: req.get('if-none-match'), ims: req.get('if-modified-since'), cc: req.get('cache-control') });
      handler(req, res);
    });
    const { url } = await serve(app);
    return { url, seen, clock, cache };
  }

  describe('when a response says Cache-Control: no-cache and has a validator (RFC 9111 §5.2.2.4)', () => {
    it('should store it and ask the handler with its validator on every use; the 304 answers from the store', async () => {
      const { url, seen } = await start({}, (_req, res) => {
        res.set('Cache-Control', 'no-cache').set('ETag', '"a1"').send('page a1');
      });
      const a = await send(url, '/r');
      const b = await send(url, '/r');
      const c = await send(url, '/r');
      expect([a.xCache, b.xCache, c.xCache]).toEqual(['MISS', 'REVALIDATED', 'REVALIDATED']);
      expect([b.status, b.text, b.headers.etag, b.headers['cache-control']]).toEqual([200, 'page a1', '"a1"', 'no-cache']);
      expect(c.text).toBe('page a1');
      expect(seen.map((s) => s.inm)).toEqual([undefined, '"a1"', '"a1"']);
    });

    it('should answer a conditional request that matches with a 304, after validating with the handler', async () => {
      const { url, seen } = await start({}, (_req, res) => {
        res.set('Cache-Control', 'no-cache').set('ETag', '"a1"').send('page a1');
      });
      await send(url, '/r');
      const b = await send(url, '/r', { headers: { 'If-None-Match': '"a1"' } });
      const c = await send(url, '/r', { headers: { 'If-None-Match': '"other"' } });
      expect([b.status, b.text, b.xCache, b.headers.etag]).toEqual([304, '', 'REVALIDATED', '"a1"']);
      expect([c.status, c.text]).toEqual([200, 'page a1']);
      // The handler always got the cache's validator, never the client's.
      expect(seen.map((s) => s.inm)).toEqual([undefined, '"a1"', '"a1"']);
    });

    it('should revalidate each Vary variant with its own ETag', async () => {
      const { url, seen } = await start({}, (req, res) => {
        const lang = req.get('accept-language') ?? 'en';
        res.set('Cache-Control', 'no-cache').set('Vary', 'Accept-Language').set('ETag', `"${lang}"`).send(`hello ${lang}`);
      });
      await send(url, '/r', { headers: { 'Accept-Language': 'en' } });
      await send(url, '/r', { headers: { 'Accept-Language': 'fr' } });
      const en = await send(url, '/r', { headers: { 'Accept-Language': 'en', 'If-None-Match': '"en"' } });
      const fr = await send(url, '/r', { headers: { 'Accept-Language': 'fr' } });
      expect([en.status, en.xCache]).toEqual([304, 'REVALIDATED']);
      expect([fr.status, fr.text, fr.xCache]).toEqual([200, 'hello fr', 'REVALIDATED']);
      expect(seen.map((s) => s.inm)).toEqual([undefined, undefined, '"en"', '"fr"']);
    });

    it('should replace the entry when the handler answers 200 with a new body', async () => {
      let version = 1;
      const { url, seen } = await start({}, (_req, res) => {
        res.set('Cache-Control', 'no-cache').set('ETag', `"v${version}"`).send(`v${version}`);
      });
      await send(url, '/r');
      version = 2;
      const b = await send(url, '/r');
      const c = await send(url, '/r');
      expect([b.xCache, b.text, c.xCache, c.text]).toEqual(['MISS', 'v2', 'REVALIDATED', 'v2']);
      expect(seen.map((s) => s.inm)).toEqual([undefined, '"v1"', '"v2"']);
    });

    it('should not store it without a validator of the handler (nothing to revalidate with)', async () => {
      const { url, seen } = await start({}, (_req, res) => {
        res.set('Cache-Control', 'no-cache');
        res.end('bare');
      });
      await send(url, '/r');
      const b = await send(url, '/r');
      expect([b.xCache, b.text, seen.length]).toEqual(['MISS', 'bare', 2]);
      expect(seen.map((s) => s.inm)).toEqual([undefined, undefined]);
    });

    it('should validate once for requests that arrive while a validation runs, and answer them all from it', async () => {
      const gate = deferred();
      let calls = 0;
      const { url } = await start({}, (_req, res) => {
        calls++;
        const send304 = () => res.set('Cache-Control', 'no-cache').set('ETag', '"a1"').send('page a1');
        if (calls === 1) return send304();
        void gate.promise.then(send304);
      });
      await send(url, '/r');
      const replies = [send(url, '/r'), send(url, '/r'), send(url, '/r')];
      await until(() => calls >= 2);
      // Give the other two time to join the flight before the handler answers.
      await new Promise((r) => setTimeout(r, 50));
      gate.resolve();
      const got = await Promise.all(replies);
      expect(got.map((r) => [r.status, r.text])).toEqual([
        [200, 'page a1'],
        [200, 'page a1'],
        [200, 'page a1'],
      ]);
      expect(calls).toBe(2);
    });
    it('should never serve it without the handler, not even when the handler fails under staleIfError (RFC 9111 §4.2.4)', async () => {
      let fail = false;
      const { url, seen } = await start({ staleIfError: 600, staleWhileRevalidate: 600 }, (_req, res) => {
        if (fail) return void res.status(503).send('down');
        res.set('Cache-Control', 'no-cache').set('ETag', '"a1"').send('page a1');
      });
      await send(url, '/r');
      fail = true;
      const b = await send(url, '/r');
      expect([b.status, b.text]).toEqual([503, 'down']);
      fail = false;
      const c = await send(url, '/r');
      expect([c.status, c.text, c.xCache]).toEqual([200, 'page a1', 'REVALIDATED']);
      expect(seen.map((s) => s.inm)).toEqual([undefined, '"a1"', '"a1"']);
    });
  });

  describe("when the handler's 304 carries headers (RFC 9111 §4.3.4)", () => {
    it('should update the stored headers: a new Cache-Control makes the entry fresh, a new field is replayed', async () => {
      let revalidations = 0;
      const { url, seen } = await start({}, (req, res) => {
        res.set('ETag', '"a1"');
        if (req.get('if-none-match') === '"a1"') {
          revalidations++;
          return void res.status(304).set('Cache-Control', 'max-age=3600').set('X-Version', 'checked').end();
        }
        res.set('Cache-Control', 'no-cache').set('X-Version', 'first').send('page a1');
      });
      await send(url, '/r');
      const b = await send(url, '/r');
      const c = await send(url, '/r');
      expect([b.xCache, b.text, b.headers['cache-control'], b.headers['x-version']]).toEqual(['REVALIDATED', 'page a1', 'max-age=3600', 'checked']);
      expect([c.xCache, c.text, c.headers['cache-control'], c.headers['x-version']]).toEqual(['HIT', 'page a1', 'max-age=3600', 'checked']);
      expect([seen.length, revalidations]).toEqual([2, 1]);
    });

    it("should send the 304's Date, else the time of validation, and count Age from the validation", async () => {
      const { url, clock } = await start({}, (req, res) => {
        res.set('ETag', '"a1"').set('Cache-Control', 'max-age=10');
        if (req.get('if-none-match') === '"a1"') return void res.status(304).end();
        res.send('page a1');
      });
      const t0 = clock.t;
      await send(url, '/r');
      clock.t = t0 + 25_000;
      const b = await send(url, '/r');
      expect([b.xCache, b.headers.age, b.headers.date]).toEqual(['REVALIDATED', '0', new Date(t0 + 25_000).toUTCString()]);
      clock.t = t0 + 29_000;
      const c = await send(url, '/r');
      expect([c.xCache, c.headers.age, c.headers.date, c.text]).toEqual(['HIT', '4', new Date(t0 + 25_000).toUTCString(), 'page a1']);
    });
    it("should take the 304's Age as the validated response's age (RFC 9111 §4.2.3)", async () => {
      const { url, clock } = await start({}, (req, res) => {
        res.set('ETag', '"a1"').set('Cache-Control', 'max-age=60');
        if (req.get('if-none-match') === '"a1"') return void res.status(304).set('Age', '7').end();
        res.send('page a1');
      });
      const t0 = clock.t;
      await send(url, '/r');
      clock.t = t0 + 61_000;
      const b = await send(url, '/r');
      clock.t = t0 + 64_000;
      const c = await send(url, '/r');
      expect([b.xCache, b.headers.age, c.xCache, c.headers.age, c.text]).toEqual(['REVALIDATED', '7', 'HIT', '10', 'page a1']);
    });
  });

  describe('when a short-lived entry with a validator goes stale', () => {
    it('should keep it at least ttl seconds past its freshness to revalidate it, not only its own lifetime again', async () => {
      const clock = new TestClock();
      const cache = track(createCache({ jitter: 0, ttl: 60, store: new MemoryStore({ now: clock.now }) }, clock));
      const app: Express = express();
      const seen: Array<string | undefined> = [];
      app.use(cache.middleware());
      app.get('/r', (req, res) => {
        seen.push(req.get('if-none-match'));
        res.set('Cache-Control', 'max-age=1').set('ETag', '"a1"').send('page a1');
      });
      const { url } = await serve(app);
      const t0 = clock.t;
      await send(url, '/r');
      clock.t = t0 + 3_000; // past twice its 1 s lifetime, within ttl
      const b = await send(url, '/r');
      clock.t = t0 + 3_000 + 62_000; // the 304 renewed it: 1 s fresh, then ttl; now past both
      const c = await send(url, '/r');
      expect([b.xCache, b.text, c.xCache, c.text]).toEqual(['REVALIDATED', 'page a1', 'MISS', 'page a1']);
      expect(seen).toEqual([undefined, '"a1"', undefined]);
    });

    it('should read a list-based Age by its first member (RFC 9111 §5.1)', async () => {
      const { url, seen } = await start({}, (_req, res) => {
        res.set('Cache-Control', 'max-age=3600').set('Age', ['7200', '0']).set('ETag', '"a1"').send('page a1');
      });
      await send(url, '/r');
      const b = await send(url, '/r');
      // 7200 s old with a 3600 s lifetime: stale on arrival, so validated on use.
      expect([b.xCache, b.text]).toEqual(['REVALIDATED', 'page a1']);
      expect(seen.map((s) => s.inm)).toEqual([undefined, '"a1"']);
    });
  });

  describe.each(['must-revalidate', 'proxy-revalidate'])('when a stored response says %s (RFC 9111 §5.2.2.2, §5.2.2.8)', (directive) => {
    it('should revalidate it once stale and never serve it stale when the handler fails, whatever staleIfError says', async () => {
      let fail = false;
      const { url, clock, seen } = await start({ staleIfError: 600, staleWhileRevalidate: 600 }, (_req, res) => {
        if (fail) return void res.status(503).send('down');
        res.set('Cache-Control', `max-age=10, ${directive}`).set('ETag', '"a1"').send('page a1');
      });
      const t0 = clock.t;
      await send(url, '/r');
      clock.t = t0 + 11_000;
      const b = await send(url, '/r');
      expect([b.xCache, b.text]).toEqual(['REVALIDATED', 'page a1']);
      fail = true;
      clock.t = t0 + 30_000;
      const c = await send(url, '/r');
      expect([c.status, c.text]).toEqual([503, 'down']);
      expect(seen.map((s) => s.inm)).toEqual([undefined, '"a1"', '"a1"']);
    });
  });

  describe('when the client sends Cache-Control: no-cache or Pragma: no-cache', () => {
    it.each<Record<string, string>>([{ 'Cache-Control': 'no-cache' }, { Pragma: 'no-cache' }, { 'Cache-Control': 'max-age=0' }])(
      'should answer %j from a fresh entry (the origin is not asked: no reload storms)',
      async (headers) => {
        const { url, seen } = await start({}, (_req, res) => void res.set('Cache-Control', 'max-age=60').send('page'));
        await send(url, '/r');
        const b = await send(url, '/r', { headers });
        expect([b.xCache, b.text, seen.length]).toEqual(['HIT', 'page', 1]);
      },
    );

    it('should answer a conditional no-cache request (what fetch() sends) with a 304 from the store when it matches', async () => {
      const { url, seen } = await start({}, (_req, res) => void res.set('Cache-Control', 'max-age=60').send('page'));
      const a = await send(url, '/r');
      const etag = String(a.headers.etag);
      const b = await send(url, '/r', { headers: { 'If-None-Match': etag, 'Cache-Control': 'no-cache', Pragma: 'no-cache' } });
      expect([b.status, b.text, b.xCache, b.headers.etag]).toEqual([304, '', 'HIT', etag]);
      const viaFetch = await fetch(`${url}/r`, { headers: { 'If-None-Match': etag } });
      expect([viaFetch.status, await viaFetch.text()]).toEqual([304, '']);
      expect(seen.length).toBe(1);
    });

    it('should answer 304 on the miss that makes the entry, and on revalidations of a no-cache entry', async () => {
      const { url, seen } = await start({}, (_req, res) => void res.set('Cache-Control', 'no-cache').set('ETag', '"a1"').send('page a1'));
      const client = { 'If-None-Match': '"a1"', 'Cache-Control': 'no-cache' };
      const a = await send(url, '/r', { headers: client });
      const b = await send(url, '/r', { headers: client });
      expect([a.status, a.xCache, b.status, b.xCache]).toEqual([304, 'MISS', 304, 'REVALIDATED']);
      // The validation is the cache's request: the client's no-cache would make Express refuse its 304.
      expect(seen).toEqual([
        { inm: undefined, ims: undefined, cc: 'no-cache' },
        { inm: '"a1"', ims: undefined, cc: undefined },
      ]);
      const c = await send(url, '/r');
      expect([c.status, c.text, c.xCache]).toEqual([200, 'page a1', 'REVALIDATED']);
    });
  });
});
