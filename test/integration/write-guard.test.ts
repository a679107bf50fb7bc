/**
 * Exact invalidation under write traffic, on the memory store: unrelated writes cost the
 * hit ratio nothing; a GET sent after a PUT's answer never gets a body read before it (not
 * from a flight it could join, not from an entry its older twin stores late); literal
 * prefixes; store-level options refused per route; a tags callback that throws.
 * The Redis, Cluster and tiered counterparts are in test/write-traffic/.
 */

import type { Express } from 'express';
import { createCache, type ErrorContext, type ExpressCacheOptions } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { ChaosStore } from '../helpers/chaos-store';
import { closeAfterEach, send, serve, track, until } from '../helpers/http';
import { sleep } from '../helpers/wait';
import { MemoryStore } from '../../middleware';

closeAfterEach();

forEachExpress((express) => {
  /** Rows with versions; GET reads its row first, then sleeps, then answers what it read. */
  async function shop(options: ExpressCacheOptions = {}, delayMs = 30, more?: (app: Express) => void) {
    const errors: Array<{ code: string; context: ErrorContext }> = [];
    const cache = track(createCache({ jitter: 0, onError: (err, context) => errors.push({ code: err.code, context }), ...options }));
    const rows = new Map<string, number>();
    const calls = { get: 0 };
    const app = express();
    app.use(cache.middleware());
    more?.(app);
    app.get('/rows/:id', async (req, res) => {
      calls.get++;
      const version = rows.get(req.params.id) ?? 0;
      await sleep(delayMs);
      res.json({ id: req.params.id, version });
    });
    app.put(
      '/rows/:id',
      cache.invalidates((req) => ({ paths: [`/rows/${req.params.id}`] })),
      (req, res) => {
        rows.set(req.params.id, (rows.get(req.params.id) ?? 0) + 1);
        res.status(200).json({ version: rows.get(req.params.id) });
      },
    );
    app.post('/events', (_req, res) => res.status(204).end());
    const { url } = await serve(app);
    return { cache, url, rows, calls, errors };
  }
  const version = async (url: string, path: string) => JSON.parse((await send(url, path)).text).version as number;

  describe('when a GET is sent after a PUT was answered', () => {
    it('should not join the flight of a GET that read before the PUT, nor see what it stores', async () => {
      const s = await shop({}, 60);
      const early = send(s.url, '/rows/1'); // reads version 0, then sleeps
      await until(() => s.calls.get === 1);
      const put = await send(s.url, '/rows/1', { method: 'PUT' });
      expect(JSON.parse(put.text).version).toBe(1);
      const after = await send(s.url, '/rows/1');
      expect(JSON.parse(after.text).version).toBe(1);
      expect(JSON.parse((await early).text).version).toBe(0); // in flight before the PUT: fine
      await sleep(20);
      // The early GET's body (version 0) was not stored over the new one.
      for (let i = 0; i < 3; i++) expect(await version(s.url, '/rows/1')).toBe(1);
    });

    it('should hold for 20 GET/PUT/GET sequences against a model of the data', async () => {
      const s = await shop({}, 15);
      let wrong = 0;
      for (let i = 0; i < 20; i++) {
        const early = send(s.url, '/rows/2');
        await sleep(2);
        const acked = JSON.parse((await send(s.url, '/rows/2', { method: 'PUT' })).text).version as number;
        if ((await version(s.url, '/rows/2')) < acked) wrong++;
        await early;
        await sleep(20);
        if ((await version(s.url, '/rows/2')) < acked) wrong++;
      }
      expect(wrong).toBe(0);
    });
  });

  describe('when writes to other paths keep coming', () => {
    it('should keep storing and hitting: an invalidation stops nothing it did not match', async () => {
      // Every 30 ms making overlaps several writes: 0.1.0 stored none of them.
      const s = await shop({}, 30);
      let stop = false;
      const writer = (async () => {
        while (!stop) {
          await send(s.url, '/events', { method: 'POST' }); // RFC 9111 §4.4: invalidates /events only
          await sleep(5);
        }
      })();
      const seen = { hits: 0, gets: 0 };
      const readers = Array.from({ length: 5 }, async (_, r) => {
        for (let i = 0; i < 40; i++) {
          const reply = await send(s.url, `/rows/${(r * 7 + i) % 10}`);
          if (i >= 10) {
            seen.gets++;
            if (reply.headers['x-cache'] === 'HIT') seen.hits++;
          }
        }
      });
      await Promise.all(readers);
      stop = true;
      await writer;
      // Ten URLs: after warm-up nearly every GET is a hit, whatever the writer does.
      expect(seen.hits / seen.gets).toBeGreaterThan(0.9);
      expect(s.calls.get).toBeLessThanOrEqual(20);
    });
  });

  describe('when the store is out during an invalidation', () => {
    it('should keep it, serve nothing it matched meanwhile, and apply it when the store is back', async () => {
      const chaos = new ChaosStore(new MemoryStore({ sweepInterval: 0 }));
      const s = await shop({ store: chaos, storeTimeout: 50 }, 0);
      expect(await version(s.url, '/rows/3')).toBe(0);
      await until(() => s.cache.stats().stores === 1);
      expect((await send(s.url, '/rows/3')).headers['x-cache']).toBe('HIT');
      chaos.mode = 'throw';
      const put = await send(s.url, '/rows/3', { method: 'PUT' });
      expect(put.status).toBe(200); // the outage never fails the write's answer
      expect(await version(s.url, '/rows/3')).toBe(1); // BYPASS: the origin answers
      chaos.mode = 'ok';
      // The kept invalidation goes through once the breaker lets calls again; until then
      // this instance does not serve the old entry it still finds there.
      for (let i = 0; i < 10; i++) {
        expect(await version(s.url, '/rows/3')).toBe(1);
        await sleep(100);
      }
      // Applied in the store itself: another instance on it does not get the old body either.
      const other = await shop({ store: chaos }, 0);
      other.rows.set('3', 1);
      expect(await version(other.url, '/rows/3')).toBe(1);
      expect(s.errors.map((e) => e.code)).toContain('ERC_STORE_UNAVAILABLE');
    });
  });

  describe('when a prefix is invalidated', () => {
    it('should take it literally: /p? matches no /pa', async () => {
      const s = await shop({}, 0, (app) => app.get('/pa', (_req, res) => res.send('pa')));
      await send(s.url, '/pa');
      await until(() => s.cache.stats().stores === 1);
      expect(await s.cache.invalidate({ prefixes: ['/p?'] })).toBe(0);
      expect((await send(s.url, '/pa')).headers['x-cache']).toBe('HIT');
      expect(await s.cache.invalidate({ prefixes: ['/p'] })).toBe(1);
    });
  });

  describe('when a route sets a store-level option', () => {
    it.each(['namespace', 'version', 'prefix'] as const)('should refuse %s at construction: its entries would be out of reach', (name) => {
      const cache = track(createCache());
      expect(() => cache.middleware({ [name]: 'other' })).toThrow(new RegExp(`^cache\\.middleware: ${name} belongs to the shared store`));
    });
  });

  describe('when the tags callback throws', () => {
    it('should answer the response uncached and report ERC_CALLBACK_FAILED, not a 500', async () => {
      const cache = track(createCache({ jitter: 0, onError: (err) => codes.push(err.code) }));
      const codes: string[] = [];
      const app = express();
      let calls = 0;
      app.get(
        '/t',
        cache.middleware({
          tags: () => {
            throw new Error('no tags today');
          },
        }),
        (_req, res) => {
          calls++;
          res.send('body');
        },
      );
      const { url } = await serve(app);
      const first = await send(url, '/t');
      const second = await send(url, '/t');
      expect([first.status, first.text, second.status, second.text]).toEqual([200, 'body', 200, 'body']);
      expect(calls).toBe(2);
      expect(codes).toContain('ERC_CALLBACK_FAILED');
    });

    it('should let a throwing key or bypass callback pass the request through uncached', async () => {
      const codes: string[] = [];
      const cache = track(createCache({ jitter: 0, onError: (err) => codes.push(err.code) }));
      const app = express();
      app.get(
        '/k',
        cache.middleware({
          key: () => {
            throw new Error('no key');
          },
        }),
        (_req, res) => res.send('k'),
      );
      app.get(
        '/b',
        cache.middleware({
          bypass: () => {
            throw new Error('no bypass');
          },
        }),
        (_req, res) => res.send('b'),
      );
      const { url } = await serve(app);
      for (const path of ['/k', '/b']) {
        const r = await send(url, path);
        expect([r.status, r.headers['x-cache']]).toEqual([200, 'BYPASS']);
      }
      expect(codes.filter((c) => c === 'ERC_CALLBACK_FAILED')).toHaveLength(2);
    });
  });
});
