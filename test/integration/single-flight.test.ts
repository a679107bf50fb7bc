/**
 * Single flight: concurrent misses on one key make one handler call when the answer can be
 * stored; when it cannot, every follower runs the handler itself and gets a real answer,
 * never an empty or made-up 200; and no follower waits forever.
 */

import type { Express, RequestHandler } from 'express';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, deferred, send, serve, track, until, type Reply } from '../helpers/http';

closeAfterEach();

const N = 20;

forEachExpress((express) => {
  /**
   * The cache in front of `handler`; `arrived` counts requests that reached the cache (with
   * the memory store a request becomes a follower synchronously once it gets there).
   */
  async function start(options: ExpressCacheOptions, handler: RequestHandler, more?: (app: Express) => void) {
    const cache = track(createCache({ jitter: 0, ...options }));
    const app = express();
    const counts = { arrived: 0, calls: 0 };
    app.use((_req, _res, next) => {
      counts.arrived++;
      next();
    });
    app.use(cache.middleware());
    app.get('/slow', (req, res, next) => {
      counts.calls++;
      handler(req, res, next);
    });
    more?.(app);
    const { url } = await serve(app);
    return { url, counts, cache };
  }

  /** N concurrent GETs; the first handler call waits until all N reached the cache. */
  async function burst(url: string, counts: { arrived: number }, release: () => void, headers: Record<string, string>[] = []): Promise<Reply[]> {
    const all = Array.from({ length: N }, (_v, i) => send(url, '/slow', { headers: headers[i] }));
    await until(() => counts.arrived === N);
    release();
    return Promise.all(all);
  }

  describe("when the first request's answer cannot be stored", () => {
    it('should let every follower of a 500 run the handler itself and get its real answer', async () => {
      const gate = deferred();
      const { url, counts } = await start({}, (_req, res) => {
        const n = counts.calls;
        void gate.promise.then(() => res.status(500).send(`failure ${n}`));
      });
      const replies = await burst(url, counts, gate.resolve);
      expect(replies.map((r) => r.status)).toEqual(Array(N).fill(500));
      expect(new Set(replies.map((r) => r.text)).size).toBe(N);
      for (const r of replies) expect(r.text).toMatch(/^failure \d+$/);
      expect(counts.calls).toBe(N);
    });

    it('should let every follower of a skip() run the handler itself and get the full body', async () => {
      const gate = deferred();
      const { url, counts } = await start({}, (_req, res) => {
        res.locals.cache!.skip();
        void gate.promise.then(() => res.send('personal'));
      });
      const replies = await burst(url, counts, gate.resolve);
      expect(replies.map((r) => [r.status, r.text])).toEqual(Array(N).fill([200, 'personal']));
      expect(counts.calls).toBe(N);
    });

    it('should let every follower of a handler that fails with next(err) run the handler itself', async () => {
      const gate = deferred();
      const { url, counts } = await start({}, (_req, _res, next) => {
        void gate.promise.then(() => next(new Error('db down')));
      });
      const replies = await burst(url, counts, gate.resolve);
      expect(replies.map((r) => r.status)).toEqual(Array(N).fill(500));
      expect(counts.calls).toBe(N);
    });

    it('should give the followers of a conditional first request (answered 304 by Express) a full 200', async () => {
      const gate = deferred();
      const { url, counts } = await start({}, (_req, res) => {
        void gate.promise.then(() => res.set('ETag', '"e1"').send('the body'));
      });
      const headers = [{ 'If-None-Match': '"e1"' }];
      const replies = await burst(url, counts, gate.resolve, headers);
      expect([replies[0].status, replies[0].body.length]).toEqual([304, 0]);
      for (const r of replies.slice(1)) expect([r.status, r.text]).toEqual([200, 'the body']);
    });

    it('should let the followers of a leader whose client went away run the handler themselves', async () => {
      const gate = deferred();
      const leaderClosed = deferred();
      const { url, counts } = await start({}, (_req, res) => {
        if (counts.calls === 1) {
          res.on('close', () => leaderClosed.resolve());
          void gate.promise.then(() => res.send('late'));
        } else res.send('fresh');
      });
      const controller = new AbortController();
      const leader = fetch(`${url}/slow`, { signal: controller.signal }).catch(() => 'aborted');
      await until(() => counts.calls === 1);
      const followers = [send(url, '/slow'), send(url, '/slow')];
      await until(() => counts.arrived === 3);
      controller.abort();
      expect(await leader).toBe('aborted');
      await leaderClosed.promise;
      const replies = await Promise.all(followers);
      gate.resolve();
      expect(replies.map((r) => r.text)).toEqual(['fresh', 'fresh']);
    });
  });

  describe('when the leader hangs', () => {
    it('should let a follower stop waiting after coalesce.timeout and run the handler itself', async () => {
      const hang = deferred();
      const { url, counts } = await start({ coalesce: { timeout: 50 } }, (_req, res) => {
        if (counts.calls === 1) void hang.promise.then(() => res.send('leader, finally'));
        else res.send('follower');
      });
      const leader = send(url, '/slow');
      await until(() => counts.calls === 1);
      const follower = await send(url, '/slow');
      expect([follower.status, follower.text]).toEqual([200, 'follower']);
      expect(counts.calls).toBe(2);
      hang.resolve();
      expect((await leader).text).toBe('leader, finally');
    });
  });

  describe('when N concurrent requests miss on one key', () => {
    it(`should make one handler call and give all ${N} the body`, async () => {
      const gate = deferred();
      const { url, counts, cache } = await start({}, (_req, res) => {
        void gate.promise.then(() => res.send('computed once'));
      });
      const replies = await burst(url, counts, gate.resolve);
      expect(replies.map((r) => [r.status, r.text])).toEqual(Array(N).fill([200, 'computed once']));
      expect(counts.calls).toBe(1);
      expect(replies.filter((r) => r.headers['x-cache'] === 'MISS').length).toBe(1);
      expect(replies.filter((r) => r.headers['x-cache'] === 'HIT').length).toBe(N - 1);
      expect(new Set(replies.map((r) => r.headers.etag)).size).toBe(1);
      expect(cache.stats()).toMatchObject({ misses: 1, hits: N - 1, stores: 1 });
    });

    it('should make N handler calls with coalesce: false', async () => {
      const gate = deferred();
      const { url, counts } = await start({ coalesce: false }, (_req, res) => {
        void gate.promise.then(() => res.send('computed'));
      });
      const replies = await burst(url, counts, gate.resolve);
      expect(replies.map((r) => r.text)).toEqual(Array(N).fill('computed'));
      expect(counts.calls).toBe(N);
    });

    it('should answer HEAD followers of a GET leader with the headers and no body', async () => {
      const gate = deferred();
      const { url, counts } = await start({}, (_req, res) => {
        void gate.promise.then(() => res.send('for get and head'));
      });
      const get = send(url, '/slow');
      await until(() => counts.calls === 1);
      const head = send(url, '/slow', { method: 'HEAD' });
      await until(() => counts.arrived === 2);
      gate.resolve();
      const [g, h] = await Promise.all([get, head]);
      expect(g.text).toBe('for get and head');
      expect([h.status, h.body.length, h.headers['content-length'], h.headers['x-cache']]).toEqual([200, 0, String(g.body.length), 'HIT']);
      expect(counts.calls).toBe(1);
    });
  });
});
