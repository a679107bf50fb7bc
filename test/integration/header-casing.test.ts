/**
 * A hit's header block spells every name as the miss that stored it did (issue 23): the raw
 * header lines (`res.rawHeaders`, as on the wire) of a miss and of the requests after it,
 * on memory, Redis and a memory tier over Redis, Express 4 and 5: whole hits, 304s, 206s
 * and 416s, the `vary` option's names, and the fields a 304 revalidation refreshes.
 */

import http from 'node:http';
import type { Express, Request, Response } from 'express';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, serve, track, until } from '../helpers/http';
import { startRedis, uniquePrefix, type RunningRedis } from '../helpers/redis';

closeAfterEach();

let redis: RunningRedis;

beforeAll(async () => {
  redis = await startRedis();
}, 60_000);

afterAll(async () => {
  await redis.stop();
});

const STORES: Array<[string, () => ExpressCacheOptions]> = [
  ['memory', () => ({})],
  ['Redis', () => ({ redis: redis.url })],
  ['a memory tier over Redis', () => ({ redis: redis.url, tiered: true })],
];

interface Block {
  readonly status: number;
  /** The header lines as sent: [name, value] in order, names spelled as on the wire. */
  readonly lines: ReadonlyArray<readonly [string, string]>;
}

/** One request on its own connection; the raw header block of its answer. */
function rawGet(url: string, path: string, headers: Record<string, string> = {}): Promise<Block> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${url}${path}`, { headers, agent: false }, (res) => {
      res.resume();
      res.on('end', () => {
        const lines: Array<[string, string]> = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2) lines.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
        resolve({ status: res.statusCode ?? 0, lines });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
  });
}

const names = (b: Block): string[] => b.lines.map(([n]) => n);
const value = (b: Block, name: string): string | undefined => b.lines.find(([n]) => n.toLowerCase() === name)?.[1];

/** Names both blocks carry, each as the first block spells it and as the second does. */
function spellingsOfShared(a: Block, b: Block): Array<[string, string]> {
  const inB = new Map(names(b).map((n) => [n.toLowerCase(), n]));
  return names(a)
    .filter((n) => inB.has(n.toLowerCase()))
    .map((n) => [n, inB.get(n.toLowerCase())!]);
}

/** The handler's own spellings: Express's (Content-Type, ETag), Title-Case, lower-case, odd. */
function page(req: Request, res: Response): void {
  res.set('Cache-Control', 'max-age=60');
  res.setHeader('X-Request-Kind', 'page');
  res.setHeader('x-lower-case', 'yes');
  res.setHeader('CONTENT-LANGUAGE', 'en');
  res.setHeader('Link', ['</a.css>; rel=preload', '</b.js>; rel=preload']);
  res.vary('Accept-Language');
  res.json({ page: req.path, body: 'x'.repeat(64) });
}

forEachExpress((express) => {
  describe.each(STORES)('on %s', (_store, storeOptions) => {
    async function start(extra: ExpressCacheOptions = {}, route: (app: Express) => void = (app) => app.get('/page', page)) {
      const namespace = uniquePrefix('casing').replace(/[^A-Za-z0-9._-]/g, '');
      const cache = track(createCache({ ...storeOptions(), namespace, ttl: 60, jitter: 0, storeTimeout: 2000, ...extra }));
      const app = express();
      app.use(cache.middleware());
      route(app);
      const { url } = await serve(app);
      // The client is answered before the store write lands (Redis): wait for the n-th.
      const written = (n: number) => until(() => cache.stats().stores >= n, 5000, `store write ${n}`);
      return { url, written };
    }

    it('should send a hit, its 304, its 206 and its 416 with every name spelled as the miss spelled it', async () => {
      const { url, written } = await start({ vary: ['X-Tenant'] });
      const ask = { 'x-tenant': 't1', 'accept-language': 'en' };
      const miss = await rawGet(url, '/page', ask);
      expect([miss.status, value(miss, 'x-cache')]).toEqual([200, 'MISS']);
      await written(1);
      const hit = await rawGet(url, '/page', ask);
      expect([hit.status, value(hit, 'x-cache')]).toEqual([200, 'HIT']);

      // What the miss sent of the handler's headers, Node's Date and the `vary` option's Vary.
      const shared = spellingsOfShared(miss, hit);
      const stored = ['Cache-Control', 'X-Request-Kind', 'x-lower-case', 'CONTENT-LANGUAGE', 'Link', 'Vary', 'Content-Type', 'ETag', 'Date'];
      expect(shared.map(([m]) => m)).toEqual(expect.arrayContaining(stored));
      for (const [inMiss, inHit] of shared) expect(inHit).toBe(inMiss);
      // Nothing lower-case on the hit that the miss did not send so (the old replay's content-type, etag, date).
      expect(names(hit).filter((n) => n === n.toLowerCase())).toEqual(['x-lower-case']);
      // The list value goes out as two lines, as the miss's did.
      expect(hit.lines.filter(([n]) => n === 'Link')).toEqual(miss.lines.filter(([n]) => n === 'Link'));
      // The Vary the `vary` option added, as the miss wrote it (was `x-tenant` on hits).
      expect(value(miss, 'vary')).toBe('Accept-Language, X-Tenant');
      expect(value(hit, 'vary')).toBe(value(miss, 'vary'));

      const etag = value(miss, 'etag')!;
      const notModified = await rawGet(url, '/page', { ...ask, 'if-none-match': etag });
      expect(notModified.status).toBe(304);
      expect(names(notModified)).toEqual(expect.arrayContaining(['Cache-Control', 'Vary', 'ETag', 'Date']));
      for (const [inMiss, in304] of spellingsOfShared(miss, notModified)) expect(in304).toBe(inMiss);

      const part = await rawGet(url, '/page', { ...ask, range: 'bytes=0-9' });
      expect([part.status, value(part, 'content-range')]).toEqual([206, expect.stringMatching(/^bytes 0-9\//)]);
      expect(names(part)).toEqual(expect.arrayContaining([...stored, 'Content-Range']));
      for (const [inMiss, in206] of spellingsOfShared(miss, part)) expect(in206).toBe(inMiss);

      const none = await rawGet(url, '/page', { ...ask, range: 'bytes=999999-' });
      expect(none.status).toBe(416);
      expect(names(none)).toEqual(expect.arrayContaining(['ETag', 'Date', 'Content-Range']));
      for (const [inMiss, in416] of spellingsOfShared(miss, none)) expect(in416).toBe(inMiss);
    });

    it("should spell the fields a 304 revalidation refreshes as the 304 did, and keep the others' spelling", async () => {
      let version = 1;
      const { url, written } = await start({}, (app) =>
        app.get('/doc', (req, res) => {
          // no-cache with a validator: stored, and revalidated through the handler on every use.
          res.set('Cache-Control', 'no-cache');
          res.setHeader('X-Version', String(version));
          if (req.get('if-none-match') === '"doc"') {
            res.setHeader('X-REVALIDATED', 'by-304');
            res.status(304).end();
            return;
          }
          res.setHeader('ETag', '"doc"');
          res.setHeader('content-type', 'text/plain; charset=utf-8');
          res.end('the doc');
        }),
      );
      const miss = await rawGet(url, '/doc');
      expect([miss.status, value(miss, 'x-cache')]).toEqual([200, 'MISS']);
      await written(1);
      version = 2;
      const revalidated = await rawGet(url, '/doc');
      expect([revalidated.status, value(revalidated, 'x-cache'), value(revalidated, 'x-version')]).toEqual([200, 'REVALIDATED', '2']);
      await written(2);
      const again = await rawGet(url, '/doc');
      expect([again.status, value(again, 'x-cache'), value(again, 'x-revalidated')]).toEqual([200, 'REVALIDATED', 'by-304']);
      for (const block of [revalidated, again]) {
        for (const [inMiss, now] of spellingsOfShared(miss, block)) expect(now).toBe(inMiss);
        expect(names(block)).toEqual(expect.arrayContaining(['Cache-Control', 'X-Version', 'ETag', 'content-type', 'Date', 'X-REVALIDATED']));
      }
    });
  });
});
