/**
 * Ranges answered from stored bodies (RFC 9110 §14) on express.static hits: one range ->
 * 206 with the exact bytes, none satisfiable -> 416, If-Range mismatch or several ranges
 * -> the whole 200, 304 before Range (§13.2.2). A 206 the handler makes is never stored.
 */

import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Express } from 'express';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, send, serve, TestClock, track } from '../helpers/http';

closeAfterEach();

// 5,005 bytes that no off-by-one survives: byte i is (i * 7 + 3) % 256.
const FILE = Buffer.from(Array.from({ length: 5005 }, (_, i) => (i * 7 + 3) % 256));
const MTIME = new Date(Date.UTC(2029, 0, 1, 0, 0, 0));
let dir: string;

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'erc-ranges-'));
  fs.writeFileSync(path.join(dir, 'clip.bin'), FILE);
  fs.utimesSync(path.join(dir, 'clip.bin'), MTIME, MTIME);
});

afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

forEachExpress((express) => {
  /** express.static under the cache; `calls()` counts requests that reached it. */
  async function start(options: ExpressCacheOptions = {}) {
    const cache = track(createCache({ jitter: 0, ...options }, new TestClock()));
    const app: Express = express();
    let calls = 0;
    app.use(cache.middleware());
    app.use((_req, _res, next) => {
      calls++;
      next();
    });
    app.use(express.static(dir, { maxAge: '1h' }));
    const { url } = await serve(app);
    return { url, calls: () => calls };
  }

  /** A started app whose /clip.bin is stored (one full GET). */
  async function stored(options: ExpressCacheOptions = {}) {
    const s = await start(options);
    const first = await send(s.url, '/clip.bin');
    expect([first.status, first.headers['x-cache'], first.body.equals(FILE)]).toEqual([200, 'MISS', true]);
    return s;
  }

  describe('when one satisfiable range is asked of a stored 200', () => {
    it.each<[string, number, number]>([
      ['bytes=0-9', 0, 9],
      ['bytes=1000-1999', 1000, 1999],
      ['bytes=5000-', 5000, 5004],
      ['bytes=-5', 5000, 5004],
      ['bytes=4990-9999', 4990, 5004],
      ['bytes=0-', 0, 5004],
    ])('should answer %s with 206 and exactly those bytes', async (range, start, end) => {
      const { url, calls } = await stored();
      const r = await send(url, '/clip.bin', { headers: { Range: range } });
      expect(r.status).toBe(206);
      expect(r.headers['content-range']).toBe(`bytes ${start}-${end}/5005`);
      expect(r.headers['content-length']).toBe(String(end - start + 1));
      expect(r.headers['accept-ranges']).toBe('bytes');
      expect(r.headers['x-cache']).toBe('HIT');
      expect(r.body.equals(FILE.subarray(start, end + 1))).toBe(true);
      expect(calls()).toBe(1);
    });

    it("should keep the 200's other headers on the 206 (RFC 9110 §15.3.7)", async () => {
      const { url } = await stored();
      const full = await send(url, '/clip.bin');
      const part = await send(url, '/clip.bin', { headers: { Range: 'bytes=0-9' } });
      for (const name of ['etag', 'last-modified', 'cache-control', 'content-type']) expect(part.headers[name]).toBe(full.headers[name]);
    });

    it('should answer If-Range with the exact Last-Modified date with the part', async () => {
      const { url } = await stored();
      const r = await send(url, '/clip.bin', { headers: { Range: 'bytes=10-19', 'If-Range': MTIME.toUTCString() } });
      expect([r.status, r.headers['content-range']]).toEqual([206, 'bytes 10-19/5005']);
      expect(r.body.equals(FILE.subarray(10, 20))).toBe(true);
    });
  });

  describe('when no range can be satisfied', () => {
    it.each(['bytes=5005-', 'bytes=9000-9999'])('should answer %s with 416 and Content-Range: bytes */5005', async (range) => {
      const { url, calls } = await stored();
      const r = await send(url, '/clip.bin', { headers: { Range: range } });
      expect([r.status, r.headers['content-range'], r.body.length, r.headers['x-cache']]).toEqual([416, 'bytes */5005', 0, 'HIT']);
      expect(calls()).toBe(1);
    });
  });

  describe('when the whole 200 is the answer', () => {
    it.each<[string, Record<string, string>]>([
      ['several ranges', { Range: 'bytes=0-9, 100-109' }],
      ['a malformed Range', { Range: 'bytes=nine-ten' }],
      ['another unit', { Range: 'pages=1-2' }],
      ['If-Range with the weak ETag express.static sends (never matches, §13.1.5)', { Range: 'bytes=0-9', 'If-Range': 'ETAG' }],
      ['If-Range with another date', { Range: 'bytes=0-9', 'If-Range': 'Mon, 01 Jan 2024 00:00:00 GMT' }],
    ])('should answer %s with the full body', async (_name, headers) => {
      const { url, calls } = await stored();
      const etag = String((await send(url, '/clip.bin')).headers.etag);
      const h = { ...headers };
      if (h['If-Range'] === 'ETAG') h['If-Range'] = etag;
      const r = await send(url, '/clip.bin', { headers: h });
      expect([r.status, r.headers['content-range'], r.headers['x-cache'], r.headers['content-length']]).toEqual([200, undefined, 'HIT', '5005']);
      expect(r.body.equals(FILE)).toBe(true);
      expect(calls()).toBe(1);
    });

    it("should answer a HEAD with Range with the 200's headers and no body (range handling is GET only, §14.2)", async () => {
      const { url } = await stored();
      const r = await send(url, '/clip.bin', { method: 'HEAD', headers: { Range: 'bytes=0-9' } });
      expect([r.status, r.headers['content-length'], r.headers['accept-ranges'], r.body.length]).toEqual([200, '5005', 'bytes', 0]);
    });
  });

  describe('when the request is also conditional', () => {
    it('should answer a matching If-None-Match with 304 before looking at Range (RFC 9110 §13.2.2)', async () => {
      const { url } = await stored();
      const etag = String((await send(url, '/clip.bin')).headers.etag);
      const r = await send(url, '/clip.bin', { headers: { Range: 'bytes=0-9', 'If-None-Match': etag } });
      expect([r.status, r.body.length, r.headers['content-range']]).toEqual([304, 0, undefined]);
    });
  });

  describe('when the first request for a file is a Range request', () => {
    it('should fetch the whole file for the cache (as Varnish and nginx do) and serve later ranges from it', async () => {
      const { url, calls } = await start();
      // The leader asks the handler for the whole representation; the client gets it (a
      // server may ignore Range, RFC 9110 §14.2), and the cache has it for every range after.
      const first = await send(url, '/clip.bin', { headers: { Range: 'bytes=0-9' } });
      expect([first.status, first.headers['x-cache'], first.body.equals(FILE)]).toEqual([200, 'MISS', true]);
      const again = await send(url, '/clip.bin', { headers: { Range: 'bytes=5-9' } });
      expect([again.status, again.headers['x-cache'], again.body.equals(FILE.subarray(5, 10))]).toEqual([206, 'HIT', true]);
      const full = await send(url, '/clip.bin');
      expect([full.status, full.headers['x-cache'], full.body.equals(FILE)]).toEqual([200, 'HIT', true]);
      expect(calls()).toBe(1);
    });
  });

  describe('when the stored response is not a 200', () => {
    it('should replay a stored 203 whole, without Accept-Ranges', async () => {
      const cache = track(createCache({ jitter: 0 }, new TestClock()));
      const app = express();
      app.use(cache.middleware());
      app.get('/n', (_req, res) => res.status(203).send('non-authoritative'));
      const { url } = await serve(app);
      await send(url, '/n');
      const r = await send(url, '/n', { headers: { Range: 'bytes=0-2' } });
      expect([r.status, r.text, r.headers['accept-ranges'], r.headers['x-cache']]).toEqual([203, 'non-authoritative', undefined, 'HIT']);
    });
  });
});
