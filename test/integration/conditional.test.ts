/**
 * Conditional requests against stored entries (RFC 9110 §13.1): every entry has an ETag,
 * If-None-Match (lists, weak comparison, `*`) wins over If-Modified-Since, and a 304
 * carries only the headers §15.4.5 lists and no body. A 304 is never stored.
 */

import etag from 'etag';
import type { Express } from 'express';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import { forEachExpress, type ExpressFactory } from '../helpers/express';
import { closeAfterEach, send, serve, TestClock, track } from '../helpers/http';

closeAfterEach();

forEachExpress((express) => {
  async function start(options: ExpressCacheOptions, routes: (app: Express) => void, clock = new TestClock()) {
    const cache = track(createCache({ jitter: 0, ...options }, clock));
    const app = (express as ExpressFactory)();
    app.use(cache.middleware());
    routes(app);
    const { url } = await serve(app);
    return { url, clock };
  }

  /** A stored entry at /doc with a strong ETag "v1" and the §15.4.5 headers, and one at /other. */
  async function stored() {
    let calls = 0;
    const s = await start({}, (app) => {
      app.get('/doc', (_req, res) => {
        calls++;
        res.set({
          ETag: '"v1"',
          'Last-Modified': 'Tue, 01 Jan 2030 00:00:00 GMT',
          'Cache-Control': 'public, max-age=600',
          Vary: 'Accept-Encoding',
          Expires: 'Tue, 01 Jan 2030 12:10:00 GMT',
          'Content-Location': '/doc.json',
          'X-Custom': 'not in a 304',
          'Content-Language': 'en',
        });
        res.type('application/json').send('{"doc":1}');
      });
      app.get('/other', (_req, res) => {
        calls++;
        res.set('ETag', '"other"').send('other');
      });
    });
    await send(s.url, '/doc');
    await send(s.url, '/other');
    return { ...s, calls: () => calls };
  }

  describe('when the conditional headers are malformed', () => {
    it.each(['garbage', '"unterminated', ',,,', 'W/', '""'])('should answer If-None-Match: %s with the full 200', async (inm) => {
      const { url } = await stored();
      const r = await send(url, '/doc', { headers: { 'If-None-Match': inm } });
      expect([r.status, r.text, r.headers['x-cache']]).toEqual([200, '{"doc":1}', 'HIT']);
    });

    it.each(['garbage', '', 'Tue, 99 Foo 2030 00:00:00 GMT', '2147483648'])('should answer If-Modified-Since: "%s" with the full 200', async (ims) => {
      const { url } = await stored();
      const r = await send(url, '/doc', { headers: { 'If-Modified-Since': ims } });
      expect([r.status, r.text]).toEqual([200, '{"doc":1}']);
    });
  });

  describe('when the ETag belongs to another URL', () => {
    it('should not earn a 304', async () => {
      const { url } = await stored();
      const r = await send(url, '/doc', { headers: { 'If-None-Match': '"other"' } });
      expect([r.status, r.text]).toEqual([200, '{"doc":1}']);
    });

    it('should not earn a 304 with a computed ETag of another body either', async () => {
      const s = await start({}, (app) => {
        app.set('etag', false);
        app.get('/a', (_req, res) => res.send('body a'));
        app.get('/b', (_req, res) => res.send('body b'));
      });
      const a = await send(s.url, '/a');
      await send(s.url, '/b');
      const r = await send(s.url, '/b', { headers: { 'If-None-Match': String(a.headers.etag) } });
      expect([r.status, r.text]).toEqual([200, 'body b']);
    });
  });

  describe('when If-None-Match matches the stored ETag', () => {
    it.each([
      ['the exact tag', '"v1"'],
      ['a list holding it', '"x", "v1", "y"'],
      ['its weak form (weak comparison)', 'W/"v1"'],
      ['*', '*'],
    ])('should answer 304 to %s', async (_name, inm) => {
      const { url, calls } = await stored();
      const r = await send(url, '/doc', { headers: { 'If-None-Match': inm } });
      expect(r.status).toBe(304);
      expect(r.headers['x-cache']).toBe('HIT');
      expect(calls()).toBe(2);
    });

    it('should send exactly the RFC 9110 §15.4.5 headers and no body', async () => {
      const clock = new TestClock();
      const { url } = await stored();
      const r = await send(url, '/doc', { headers: { 'If-None-Match': '"v1"' } });
      expect(r.status).toBe(304);
      expect(r.body.length).toBe(0);
      expect(r.headers.etag).toBe('"v1"');
      expect(r.headers['cache-control']).toBe('public, max-age=600');
      expect(r.headers.vary).toBe('Accept-Encoding');
      expect(r.headers.expires).toBe('Tue, 01 Jan 2030 12:10:00 GMT');
      expect(r.headers['content-location']).toBe('/doc.json');
      expect(r.headers.date).toBe(clock.httpDate());
      expect(r.headers['content-length']).toBeUndefined();
      expect(r.headers['content-type']).toBeUndefined();
      expect(r.headers['content-language']).toBeUndefined();
      expect(r.headers['last-modified']).toBeUndefined();
      expect(r.headers['x-custom']).toBeUndefined();
      expect(r.headers['transfer-encoding']).toBeUndefined();
    });

    it('should answer a HEAD with 304 too', async () => {
      const { url } = await stored();
      const r = await send(url, '/doc', { method: 'HEAD', headers: { 'If-None-Match': '"v1"' } });
      expect([r.status, r.body.length]).toEqual([304, 0]);
    });
  });

  describe('when only If-Modified-Since is sent', () => {
    it('should answer 304 when the entry was not modified since, and 200 when it was', async () => {
      const { url } = await stored();
      const same = await send(url, '/doc', { headers: { 'If-Modified-Since': 'Tue, 01 Jan 2030 00:00:00 GMT' } });
      const later = await send(url, '/doc', { headers: { 'If-Modified-Since': 'Wed, 02 Jan 2030 00:00:00 GMT' } });
      const earlier = await send(url, '/doc', { headers: { 'If-Modified-Since': 'Mon, 31 Dec 2029 00:00:00 GMT' } });
      expect([same.status, later.status, earlier.status]).toEqual([304, 304, 200]);
      expect(earlier.text).toBe('{"doc":1}');
    });

    it('should compare it with the stored Date when the response has no Last-Modified (RFC 9111 §4.3.2)', async () => {
      const { url, clock, calls } = await stored();
      const date = String((await send(url, '/other')).headers['date']);
      expect(date).toBe(clock.httpDate());
      const same = await send(url, '/other', { headers: { 'If-Modified-Since': date } });
      const later = await send(url, '/other', { headers: { 'If-Modified-Since': clock.httpDate(60) } });
      const earlier = await send(url, '/other', { headers: { 'If-Modified-Since': clock.httpDate(-60) } });
      expect([same.status, same.text, same.headers['x-cache']]).toEqual([304, '', 'HIT']);
      expect([later.status, earlier.status, earlier.text]).toEqual([304, 200, 'other']);
      expect(calls()).toBe(2); // /doc and /other once each: every answer came from the store
    });

    it('should let If-None-Match win over If-Modified-Since when both are sent', async () => {
      const { url } = await stored();
      const r = await send(url, '/doc', { headers: { 'If-None-Match': '"v2"', 'If-Modified-Since': 'Wed, 02 Jan 2030 00:00:00 GMT' } });
      expect([r.status, r.text]).toEqual([200, '{"doc":1}']);
    });
  });

  describe('when the first request for a URL is conditional', () => {
    it('should answer it 304 while storing the whole 200 the handler made for it: the next request is a HIT', async () => {
      let calls = 0;
      const { url } = await start({}, (app) =>
        app.get('/c', (_req, res) => {
          calls++;
          res.set('ETag', '"c1"').send('full body');
        }),
      );
      const first = await send(url, '/c', { headers: { 'If-None-Match': '"c1"' } });
      const second = await send(url, '/c');
      const third = await send(url, '/c');
      expect([first.status, first.headers['x-cache'], first.body.length]).toEqual([304, 'MISS', 0]);
      expect(first.headers.etag).toBe('"c1"');
      expect([second.status, second.text, second.headers['x-cache']]).toEqual([200, 'full body', 'HIT']);
      expect([third.status, third.text, third.headers['x-cache']]).toEqual([200, 'full body', 'HIT']);
      expect(calls).toBe(1);
    });
  });

  describe('when the handler sets no ETag', () => {
    it('should store a strong one computed from the body, sent on the miss and every hit', async () => {
      const { url } = await start({}, (app) => {
        app.set('etag', false);
        app.get('/e', (_req, res) => res.send('hello etag'));
      });
      const miss = await send(url, '/e');
      const hit = await send(url, '/e');
      expect(miss.headers.etag).toBe(etag('hello etag', { weak: false }));
      expect(miss.headers.etag).toMatch(/^"a-[A-Za-z0-9+/]{27}"$/);
      expect(hit.headers.etag).toBe(miss.headers.etag);
      const nm = await send(url, '/e', { headers: { 'If-None-Match': String(miss.headers.etag) } });
      expect(nm.status).toBe(304);
    });

    it('should compute the same ETag in two cache instances (two processes), streamed or not', async () => {
      const body = 'same bytes everywhere';
      const routes = (app: Express) => {
        app.set('etag', false);
        app.get('/whole', (_req, res) => res.send(body));
        app.get('/streamed', (_req, res) => {
          res.type('text/html');
          res.write(body.slice(0, 5));
          res.end(body.slice(5));
        });
      };
      const one = await start({}, routes);
      const two = await start({}, routes);
      const etags: string[] = [];
      for (const { url } of [one, two]) {
        for (const path of ['/whole', '/streamed']) {
          await send(url, path);
          etags.push(String((await send(url, path)).headers.etag));
        }
      }
      expect(etags).toEqual(Array(4).fill(etag(body, { weak: false })));
    });

    it("should keep the handler's own (weak) ETag when it sets one", async () => {
      const { url } = await start({}, (app) => app.get('/w', (_req, res) => res.set('ETag', 'W/"mine"').send('w')));
      await send(url, '/w');
      const hit = await send(url, '/w');
      expect(hit.headers.etag).toBe('W/"mine"');
      expect((await send(url, '/w', { headers: { 'If-None-Match': '"mine"' } })).status).toBe(304);
    });
  });

  describe('when the stored response is not a 2xx (RFC 9110 §13.2.1)', () => {
    it.each<[number, string]>([
      [301, 'moved'],
      [404, 'no such page'],
    ])('should replay a stored %i whole to a matching If-None-Match', async (status, text) => {
      let calls = 0;
      const { url } = await start({}, (app) =>
        app.get('/s', (_req, res) => {
          calls++;
          res.status(status).set({ ETag: '"s1"', 'Cache-Control': 'max-age=60' });
          if (status === 301) res.set('Location', '/elsewhere');
          res.send(text);
        }),
      );
      await send(url, '/s');
      const r = await send(url, '/s', { headers: { 'If-None-Match': '"s1"' } });
      expect([r.status, r.text, r.headers['x-cache'], calls]).toEqual([status, text, 'HIT', 1]);
    });
  });
});
