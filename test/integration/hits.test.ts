/**
 * Hits replay what was captured: status, headers minus hop-by-hop ones, the body byte for
 * byte, with X-Cache and Age (RFC 9111 §4.2.3) computed on the injected clock. Responses
 * with Vary are stored per variant.
 */

import type { Express } from 'express';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { allBytes, closeAfterEach, send, serve, TestClock, track } from '../helpers/http';

closeAfterEach();

forEachExpress((express) => {
  async function start(options: ExpressCacheOptions, routes: (app: Express) => void, clock = new TestClock()) {
    const cache = track(createCache({ jitter: 0, ...options }, clock));
    const app = express();
    app.use(cache.middleware());
    routes(app);
    const { url } = await serve(app);
    return { url, clock, cache };
  }

  describe('when the stored response has hop-by-hop and Proxy-* headers', () => {
    it('should drop them from the replay and keep every end-to-end header', async () => {
      let calls = 0;
      const { url } = await start({}, (app) =>
        app.get('/h', (_req, res) => {
          calls++;
          res.set({
            'Keep-Alive': 'timeout=99',
            'Proxy-Authenticate': 'Basic realm="x"',
            'Proxy-Custom': 'hop',
            Connection: 'X-Hop-Only',
            'X-Hop-Only': 'hop',
            TE: 'trailers',
            Upgrade: 'h2c',
            'X-End-To-End': 'kept',
            'Content-Language': 'en',
          });
          res.send('hop');
        }),
      );
      const miss = await send(url, '/h');
      const hit = await send(url, '/h');
      expect(calls).toBe(1);
      expect(miss.headers['x-hop-only']).toBe('hop');
      expect(hit.headers['x-cache']).toBe('HIT');
      expect(hit.headers['keep-alive']).toBeUndefined();
      expect(hit.headers['proxy-authenticate']).toBeUndefined();
      expect(hit.headers['proxy-custom']).toBeUndefined();
      expect(hit.headers['x-hop-only']).toBeUndefined();
      expect(hit.headers.te).toBeUndefined();
      expect(hit.headers.upgrade).toBeUndefined();
      expect(hit.headers.connection).toBe('close');
      expect(hit.headers['x-end-to-end']).toBe('kept');
      expect(hit.headers['content-language']).toBe('en');
      expect(hit.text).toBe('hop');
    });
  });

  describe('when a response is stored', () => {
    it('should replay its status, headers and body byte for byte, with X-Cache: HIT', async () => {
      const body = allBytes(2);
      const { url } = await start({}, (app) =>
        app.get('/r', (_req, res) => {
          res.status(203);
          res.set({
            'Content-Type': 'application/x-thing',
            'X-Custom': 'a',
            'Cache-Control': 'public, max-age=600',
            'Last-Modified': 'Tue, 01 Jan 2030 00:00:00 GMT',
          });
          res.append('X-Multi', ['1', '2']);
          res.send(body);
        }),
      );
      const miss = await send(url, '/r');
      const hit = await send(url, '/r');
      expect(hit.status).toBe(203);
      expect(hit.body.equals(body)).toBe(true);
      expect(hit.headers['x-cache']).toBe('HIT');
      for (const name of ['content-type', 'x-custom', 'cache-control', 'last-modified', 'x-multi', 'etag', 'content-length']) {
        expect([name, hit.headers[name]]).toEqual([name, miss.headers[name]]);
      }
      expect(hit.headers['x-multi']).toBe('1, 2');
      expect(miss.headers['x-cache']).toBe('MISS');
    });

    it("should send Age as the origin's Age plus whole seconds stored, and the Date the response was made", async () => {
      const clock = new TestClock();
      const made = clock.httpDate();
      const { url } = await start(
        { ttl: 600 },
        (app) =>
          app.get('/age', (_req, res) => {
            res.set('Age', '10');
            res.send('aged');
          }),
        clock,
      );
      await send(url, '/age');
      const now = await send(url, '/age');
      clock.advance(5.999);
      const later = await send(url, '/age');
      clock.advance(60);
      const muchLater = await send(url, '/age');
      expect([now.headers.age, later.headers.age, muchLater.headers.age]).toEqual(['10', '15', '75']);
      expect(later.headers.date).toBe(made);
    });

    it('should send Age: 0 on a hit of a response without Age', async () => {
      const { url } = await start({}, (app) => app.get('/a', (_req, res) => res.send('a')));
      const miss = await send(url, '/a');
      const hit = await send(url, '/a');
      expect(miss.headers.age).toBeUndefined();
      expect(hit.headers.age).toBe('0');
    });

    it('should keep headers that middleware before the cache sets per request, and not store them', async () => {
      const cache = track(createCache({ jitter: 0 }));
      const app = express();
      let n = 0;
      app.use((_req, res, next) => {
        res.set('X-Request-Id', `req-${++n}`);
        next();
      });
      app.use(cache.middleware());
      app.get('/id', (_req, res) => res.send('id'));
      const { url } = await serve(app);
      const a = await send(url, '/id');
      const b = await send(url, '/id');
      expect([a.headers['x-request-id'], b.headers['x-request-id'], b.headers['x-cache']]).toEqual(['req-1', 'req-2', 'HIT']);
    });
  });

  describe('when the diagnostic headers are configured', () => {
    it('should send neither X-Cache nor Age with headers: false', async () => {
      const { url } = await start({ headers: false }, (app) => app.get('/q', (_req, res) => res.send('q')));
      const miss = await send(url, '/q');
      const hit = await send(url, '/q');
      const bypass = await send(url, '/q', { headers: { Authorization: 'Bearer x' } });
      for (const r of [miss, hit, bypass]) {
        expect(r.headers['x-cache']).toBeUndefined();
        expect(r.headers.age).toBeUndefined();
      }
    });

    it('should send Age but no X-Cache with { xCache: false }', async () => {
      const { url } = await start({ headers: { xCache: false } }, (app) => app.get('/q', (_req, res) => res.send('q')));
      await send(url, '/q');
      const hit = await send(url, '/q');
      expect(hit.headers['x-cache']).toBeUndefined();
      expect(hit.headers.age).toBe('0');
    });

    it('should send X-Cache but no Age with { age: false }, and honour a renamed X-Cache', async () => {
      const { url } = await start({ headers: { age: false, xCache: 'CDN-Cache' } }, (app) => app.get('/q', (_req, res) => res.send('q')));
      const miss = await send(url, '/q');
      const hit = await send(url, '/q');
      expect([miss.headers['cdn-cache'], hit.headers['cdn-cache'], hit.headers['x-cache'], hit.headers.age]).toEqual(['MISS', 'HIT', undefined, undefined]);
    });
  });

  describe('when the response says Vary', () => {
    function languages(app: Express, calls: string[]) {
      app.get('/greeting', (req, res) => {
        const lang = String(req.headers['accept-language'] ?? 'none');
        calls.push(lang);
        res.set('Vary', 'Accept-Language');
        res.send(lang === 'de' ? 'Guten Tag' : lang === 'fr' ? 'Bonjour' : 'Hello');
      });
    }

    it('should never serve a German request the French body', async () => {
      const calls: string[] = [];
      const { url } = await start({}, (app) => languages(app, calls));
      const fr = await send(url, '/greeting', { headers: { 'Accept-Language': 'fr' } });
      const de = await send(url, '/greeting', { headers: { 'Accept-Language': 'de' } });
      const none = await send(url, '/greeting');
      const fr2 = await send(url, '/greeting', { headers: { 'Accept-Language': 'fr' } });
      const de2 = await send(url, '/greeting', { headers: { 'Accept-Language': 'de' } });
      const none2 = await send(url, '/greeting');
      expect([fr.text, de.text, none.text, fr2.text, de2.text, none2.text]).toEqual(['Bonjour', 'Guten Tag', 'Hello', 'Bonjour', 'Guten Tag', 'Hello']);
      expect([fr2.headers['x-cache'], de2.headers['x-cache'], none2.headers['x-cache']]).toEqual(['HIT', 'HIT', 'HIT']);
      expect(de.headers['x-cache']).toBe('MISS');
      expect(de2.headers.vary).toBe('Accept-Language');
      expect(calls).toEqual(['fr', 'de', 'none']);
    });

    it('should give concurrent requests for different variants each their own body', async () => {
      const calls: string[] = [];
      const { url } = await start({}, (app) => languages(app, calls));
      const langs = ['fr', 'de', 'fr', 'de', 'fr', 'de'];
      const replies = await Promise.all(langs.map((l) => send(url, '/greeting', { headers: { 'Accept-Language': l } })));
      expect(replies.map((r) => r.text)).toEqual(langs.map((l) => (l === 'de' ? 'Guten Tag' : 'Bonjour')));
      expect(calls.filter((l) => l === 'de').length).toBeGreaterThanOrEqual(1);
    });

    it('should store per value of every header named, in any case and order', async () => {
      const calls: string[] = [];
      const { url } = await start({}, (app) =>
        app.get('/v', (req, res) => {
          const key = `${String(req.headers.accept)}/${String(req.headers['x-tenant'])}`;
          calls.push(key);
          res.set('Vary', 'x-tenant, ACCEPT');
          res.send(key);
        }),
      );
      const ask = (accept: string, tenant: string) => send(url, '/v', { headers: { Accept: accept, 'X-Tenant': tenant } });
      await ask('text/html', 'a');
      await ask('text/html', 'b');
      await ask('application/json', 'a');
      const again = await ask('text/html', 'b');
      expect([again.text, again.headers['x-cache']]).toEqual(['text/html/b', 'HIT']);
      expect(calls).toEqual(['text/html/a', 'text/html/b', 'application/json/a']);
    });
  });
});
