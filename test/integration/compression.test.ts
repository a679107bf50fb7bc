/**
 * compression() mounted after the cache (the README's order since issue 13): the cache
 * stores what compression produced, one variant per negotiated coding, not per spelling
 * of Accept-Encoding (src/encoding.ts).
 */

import compression from 'compression';
import type { RequestHandler } from 'express';
import { createCache } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, decoded, send, serve, track } from '../helpers/http';

closeAfterEach();

/** A compressible JSON body well over compression's 1 kB threshold. */
const BIG = JSON.stringify({ items: Array.from({ length: 300 }, (_v, i) => ({ id: i, name: `item number ${i}`, tags: ['a', 'b'] })) });

forEachExpress((express) => {
  async function start(options: { etag?: boolean } = {}) {
    const cache = track(createCache({ jitter: 0 }));
    const app = express();
    if (options.etag === false) app.set('etag', false);
    app.use(cache.middleware());
    app.use(compression());
    let calls = 0;
    const handler: RequestHandler = (_req, res) => {
      calls++;
      res.type('json').send(BIG);
    };
    app.get('/big', handler);
    const { url } = await serve(app);
    return { url, calls: () => calls };
  }
  const get = (url: string, accept?: string, extra: Record<string, string> = {}) =>
    send(url, '/big', { headers: accept === undefined ? extra : { 'Accept-Encoding': accept, ...extra } });

  describe('when clients spell the same coding differently', () => {
    it('should call the handler once for three spellings of gzip, and send the same bytes to each', async () => {
      const { url, calls } = await start();
      const replies = [];
      for (const accept of ['gzip', 'gzip, deflate', 'deflate, GZIP;q=1.0, identity;q=0.5']) replies.push(await get(url, accept));
      expect(calls()).toBe(1);
      expect(replies.map((r) => [r.status, r.headers['content-encoding'], r.headers['x-cache']])).toEqual([
        [200, 'gzip', 'MISS'],
        [200, 'gzip', 'HIT'],
        [200, 'gzip', 'HIT'],
      ]);
      for (const r of replies) {
        expect(decoded(r).toString()).toBe(BIG);
        expect(r.body.equals(replies[0].body)).toBe(true);
        expect(r.headers.vary).toMatch(/Accept-Encoding/i);
      }
    });

    it("should call the handler once for the browsers' brotli spellings", async () => {
      const { url, calls } = await start();
      const replies = [];
      for (const accept of ['gzip, deflate, br', 'gzip, deflate, br, zstd', 'br;q=1.0, gzip;q=0.8, *;q=0.1']) replies.push(await get(url, accept));
      expect(calls()).toBe(1);
      expect(replies.map((r) => r.headers['content-encoding'])).toEqual(['br', 'br', 'br']);
      for (const r of replies) expect(decoded(r).toString()).toBe(BIG);
    });
  });

  describe('when clients need different codings', () => {
    it('should call the handler once per coding, a client without Accept-Encoding sharing identity', async () => {
      const { url, calls } = await start();
      const identity = await get(url, 'identity');
      const none = await get(url);
      const unknown = await get(url, 'zstd');
      const gzip = await get(url, 'gzip');
      const gzipAgain = await get(url, 'gzip, deflate');
      expect(calls()).toBe(2);
      expect([identity, none, unknown, gzip, gzipAgain].map((r) => [r.headers['content-encoding'], r.headers['x-cache']])).toEqual([
        [undefined, 'MISS'],
        [undefined, 'HIT'],
        [undefined, 'HIT'],
        ['gzip', 'MISS'],
        ['gzip', 'HIT'],
      ]);
      expect([identity, none, unknown].map((r) => r.body.toString())).toEqual([BIG, BIG, BIG]);
      expect(decoded(gzip).equals(Buffer.from(BIG))).toBe(true);
    });
  });

  describe('when the response carries Express’s weak ETag', () => {
    // Express computes W/"…" over the identity body before compression runs, and compression
    // 1.8 leaves it as it is: both codings carry one weak validator, which RFC 9110 §8.8.1
    // allows for semantically equivalent representations. Weak comparison (§8.8.3.2) then
    // answers either coding's If-None-Match with a 304 of the client's own variant.
    it('should keep the one weak ETag on both codings and answer each client’s conditional from its own variant', async () => {
      const { url, calls } = await start();
      const identity = await get(url, 'identity');
      const gzip = await get(url, 'gzip');
      expect(identity.headers.etag).toMatch(/^W\//);
      expect(gzip.headers.etag).toBe(identity.headers.etag);
      const revalidated = await get(url, 'gzip', { 'If-None-Match': identity.headers.etag as string });
      expect([revalidated.status, revalidated.body.length, revalidated.headers.vary]).toEqual([304, 0, expect.stringMatching(/Accept-Encoding/i)]);
      expect(calls()).toBe(2);
    });
  });

  describe('when the handler sends no ETag', () => {
    it('should give each coding its own strong ETag, computed over the bytes it stores', async () => {
      const { url, calls } = await start({ etag: false });
      // The miss passes the handler's headers through; the stored entry's ETag comes with hits.
      await get(url, 'identity');
      await get(url, 'gzip');
      const identity = await get(url, 'identity');
      const gzip = await get(url, 'gzip');
      expect(identity.headers.etag).toMatch(/^"/);
      expect(gzip.headers.etag).toMatch(/^"/);
      expect(gzip.headers.etag).not.toBe(identity.headers.etag);
      // The identity validator does not match the gzip variant (strong or weak: the opaque tags differ).
      const cross = await get(url, 'gzip', { 'If-None-Match': identity.headers.etag as string });
      expect(cross.status).toBe(200);
      expect(decoded(cross).toString()).toBe(BIG);
      const own = await get(url, 'gzip', { 'If-None-Match': gzip.headers.etag as string });
      expect(own.status).toBe(304);
      expect(calls()).toBe(2);
    });
  });

  describe('when a HEAD comes first', () => {
    // compression() leaves HEAD uncompressed, so a HEAD's answer must not become the gzip variant.
    it('should still give a later gzip GET the gzip body', async () => {
      const { url } = await start();
      const head = await send(url, '/big', { method: 'HEAD', headers: { 'Accept-Encoding': 'gzip' } });
      expect(head.status).toBe(200);
      const gzip = await get(url, 'gzip');
      const again = await get(url, 'gzip, deflate');
      for (const r of [gzip, again]) {
        expect(r.headers['content-encoding']).toBe('gzip');
        expect(decoded(r).toString()).toBe(BIG);
      }
    });
  });
});
