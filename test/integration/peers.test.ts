/**
 * The failures users of apicache, route-cache and friends hit, one test each, so none of
 * them comes back; and the cache beside compression(), mounted in front of it or behind.
 */

import compression from 'compression';
import type { Express, RequestHandler } from 'express';
import { createCache } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, decoded, deferred, send, serve, track, until } from '../helpers/http';

closeAfterEach();

/** A compressible body well over compression's 1 kB threshold. */
const BIG = JSON.stringify({ items: Array.from({ length: 200 }, (_v, i) => ({ id: i, name: `item number ${i}` })) });

forEachExpress((express) => {
  async function start(routes: (app: Express) => void, before?: RequestHandler) {
    const cache = track(createCache({ jitter: 0 }));
    const app = express();
    if (before) app.use(before);
    app.use(cache.middleware());
    routes(app);
    const { url } = await serve(app);
    return { url, cache };
  }

  describe('when users of other caches got it wrong', () => {
    it('should never answer a POST under app.use with the cached GET body (apicache)', async () => {
      let posts = 0;
      const { url } = await start((app) => {
        app.get('/orders', (_req, res) => res.json({ orders: [] }));
        app.post('/orders', (_req, res) => {
          posts++;
          res.status(200).json({ created: posts });
        });
      });
      await send(url, '/orders');
      const post = await send(url, '/orders', { method: 'POST', body: '{}', headers: { 'Content-Type': 'application/json' } });
      expect([post.status, post.text]).toEqual([200, '{"created":1}']);
      expect(posts).toBe(1);
    });

    it("should never replay one client's Set-Cookie to another", async () => {
      let n = 0;
      const { url } = await start((app) => app.get('/login', (_req, res) => res.cookie('session', `user-${++n}`).send('welcome')));
      const alice = await send(url, '/login');
      const bob = await send(url, '/login');
      expect(alice.headers['set-cookie']).toEqual(['session=user-1; Path=/']);
      expect(bob.headers['set-cookie']).toEqual(['session=user-2; Path=/']);
    });

    it('should never serve a German request the French body (Vary)', async () => {
      const { url } = await start((app) =>
        app.get('/hello', (req, res) => {
          res.vary('Accept-Language');
          res.send(req.acceptsLanguages('de', 'fr') === 'de' ? 'Hallo' : 'Salut');
        }),
      );
      const fr = await send(url, '/hello', { headers: { 'Accept-Language': 'fr-FR' } });
      const de = await send(url, '/hello', { headers: { 'Accept-Language': 'de-DE' } });
      expect([fr.text, de.text]).toEqual(['Salut', 'Hallo']);
    });

    it('should never give the waiters on a failed first request an empty 200', async () => {
      const gate = deferred();
      let calls = 0;
      let arrived = 0;
      const { url } = await start(
        (app) =>
          app.get('/flaky', (_req, res) => {
            calls++;
            if (calls === 1) void gate.promise.then(() => res.status(503).send('try later'));
            else res.send('recovered');
          }),
        (_req, _res, next) => {
          arrived++;
          next();
        },
      );
      const replies = [send(url, '/flaky'), send(url, '/flaky'), send(url, '/flaky')];
      await until(() => arrived === 3);
      gate.resolve();
      const [first, ...waiters] = await Promise.all(replies);
      expect([first.status, first.text]).toEqual([503, 'try later']);
      for (const w of waiters) expect([w.status, w.text]).toEqual([200, 'recovered']);
    });

    it("should not answer 304 for another URL's ETag", async () => {
      const { url } = await start((app) => {
        app.get('/a', (_req, res) => res.set('ETag', '"shared-style"').send('a'));
        app.get('/b', (_req, res) => res.set('ETag', '"b"').send('b'));
      });
      const a = await send(url, '/a');
      await send(url, '/b');
      const b = await send(url, '/b', { headers: { 'If-None-Match': String(a.headers.etag) } });
      expect([b.status, b.text]).toEqual([200, 'b']);
    });

    it('should compute the same ETag in every process', async () => {
      const routes = (app: Express) => {
        app.set('etag', false);
        app.get('/same', (_req, res) => res.type('text').send('identical everywhere'));
      };
      const one = await start(routes);
      const two = await start(routes);
      const tags = [];
      for (const { url } of [one, two]) {
        tags.push((await send(url, '/same')).headers.etag);
        tags.push((await send(url, '/same')).headers.etag);
      }
      expect(tags[0]).toMatch(/^"[0-9a-f]+-[A-Za-z0-9+/]{27}"$/);
      expect(new Set(tags).size).toBe(1);
    });
  });

  describe.each([
    ['in front of the cache', 'front'],
    ['behind the cache', 'behind'],
  ] as const)('when compression() is mounted %s', (_name, order) => {
    async function startWithCompression(handler: RequestHandler) {
      const cache = track(createCache({ jitter: 0 }));
      const app = express();
      let calls = 0;
      if (order === 'front') {
        app.use(compression());
        app.use(cache.middleware());
      } else {
        app.use(cache.middleware());
        app.use(compression());
      }
      app.get('/big', (req, res, next) => {
        calls++;
        handler(req, res, next);
      });
      const { url } = await serve(app);
      return { url, calls: () => calls };
    }
    const sent: RequestHandler = (_req, res) => res.type('json').send(BIG);
    const streamed: RequestHandler = (_req, res) => {
      res.type('json');
      res.write(BIG.slice(0, 1000));
      res.end(BIG.slice(1000));
    };

    it.each([
      ['sent whole', sent],
      ['streamed', streamed],
    ] as const)('should give gzip and identity clients the right body, in any order (%s)', async (_how, handler) => {
      const { url } = await startWithCompression(handler);
      const gzip = { 'Accept-Encoding': 'gzip' };
      const none = { 'Accept-Encoding': 'identity' };
      const sequence = [gzip, gzip, none, none, gzip, {}];
      for (const headers of sequence) {
        const r = await send(url, '/big', { headers });
        expect(r.status).toBe(200);
        expect(decoded(r).toString()).toBe(BIG);
        expect(r.headers['content-encoding']).toBe(headers === gzip ? 'gzip' : undefined);
      }
    });

    it('should give an identity client first, then a gzip client, the right body', async () => {
      const { url, calls } = await startWithCompression(sent);
      const a = await send(url, '/big', { headers: { 'Accept-Encoding': 'identity' } });
      const b = await send(url, '/big', { headers: { 'Accept-Encoding': 'gzip' } });
      const c = await send(url, '/big', { headers: { 'Accept-Encoding': 'identity' } });
      expect([decoded(a).toString(), decoded(b).toString(), decoded(c).toString()]).toEqual([BIG, BIG, BIG]);
      expect(c.headers['x-cache']).toBe('HIT');
      expect(b.headers.vary).toMatch(/Accept-Encoding/);
      expect(calls()).toBeLessThanOrEqual(2);
    });
  });
});
