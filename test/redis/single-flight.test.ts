/**
 * Single flight across instances: two caches on one real Redis take the same short lock
 * (`l:{lock:<key>}`) before computing a cold key, so a burst spread over both makes one
 * handler call; a waiter on the other instance never waits past a bound, and never gets
 * a made-up answer; a stale-while-revalidate refresh runs once over both.
 */

import express from 'express';
import { performance } from 'node:perf_hooks';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import type { Clock } from '../../src/cache';
import { heldLocks, listen, request, SharedClock, sleep, until, uniqueNamespace, useRedis, type Instance, type Reply } from './instances';

const fx = useRedis('single-flight.test');

interface Origin {
  calls: number;
  /** How long each handler call takes, ms. */
  delay: number;
  /** Status the handler answers. */
  status: number;
}

/** Two instances on one namespace; `/slow` answers `computed <n>` (or `boom <n>` with a 5xx) after origin.delay. */
async function pair(options: ExpressCacheOptions = {}, clock?: Clock) {
  const namespace = uniqueNamespace('flight');
  const origin: Origin = { calls: 0, delay: 200, status: 200 };
  const errors: string[] = [];
  const make = async (name: string): Promise<Instance> => {
    // storeTimeout 2 s: these tests count lock holders, not timeouts; with the default 100 ms
    // a loaded CI machine (two workers, a soak beside them) turns a slow reply into a bypass
    // and every request computes for itself.
    const cache = createCache(
      { redis: fx.redis.url, namespace, jitter: 0, ttl: 60, storeTimeout: 2000, onError: (err) => errors.push(err.code), ...options },
      clock,
    );
    const app = express();
    app.use(cache.middleware());
    app.get('/slow', (req, res) => {
      const n = ++origin.calls;
      const lang = String(req.headers['accept-language'] ?? 'en');
      setTimeout(() => {
        if (origin.status >= 500) res.status(origin.status).send(`boom ${n}`);
        else res.vary('Accept-Language').send(`computed ${n} ${lang}`);
      }, origin.delay);
    });
    const i = await listen(name, app, cache);
    fx.open.push(i);
    return i;
  };
  return { a: await make('A'), b: await make('B'), origin, namespace, errors };
}

/** Resolves the request's reply, or 'no answer' after `ms` (the request itself is left to the teardown). */
function within(reply: Promise<Reply>, ms: number): Promise<Reply | 'no answer'> {
  let timer!: NodeJS.Timeout;
  const limit = new Promise<'no answer'>((resolve) => (timer = setTimeout(() => resolve('no answer'), ms)));
  return Promise.race([reply.catch(() => 'no answer' as const), limit]).finally(() => clearTimeout(timer));
}

describe('single flight across two instances on one Redis', () => {
  describe('when 20 concurrent requests spread over both miss on one cold key', () => {
    it('should make exactly one handler call and give every request the body', async () => {
      const { a, b, origin, namespace, errors } = await pair({ coalesce: { timeout: 5000 } });
      const started = performance.now();
      const replies = await Promise.all(Array.from({ length: 20 }, (_v, i) => request(i % 2 ? b.url : a.url, '/slow')));
      const took = performance.now() - started;
      fx.figures.push(`20 requests over 2 instances, one cold key, 200 ms handler: all answered in ${took.toFixed(0)} ms`);
      expect(errors).toEqual([]);
      expect(origin.calls).toBe(1);
      expect(replies.map((r) => [r.status, r.text])).toEqual(Array(20).fill([200, 'computed 1 en']));
      expect(replies.filter((r) => r.xCache === 'MISS')).toHaveLength(1);
      expect(replies.filter((r) => r.xCache === 'HIT')).toHaveLength(19);
      expect(new Set(replies.map((r) => r.headers.etag)).size).toBe(1);
      // The holder released its lock once the entry was written.
      await until(async () => (await heldLocks(fx.admin, namespace)).length === 0, 1000, 'lock released');
    });
  });

  describe("when the lock holder's response cannot be stored", () => {
    it("should let the other instance's waiters compute themselves after a bounded wait, with real answers", async () => {
      const { a, b, origin } = await pair({ coalesce: { timeout: 1000 } });
      origin.status = 500;
      const started = performance.now();
      const holder = request(a.url, '/slow');
      await until(() => origin.calls === 1, 1000, 'holder running');
      const others = Array.from({ length: 10 }, (_v, i) => request(i % 2 ? b.url : a.url, '/slow'));
      const replies = await Promise.all([holder, ...others]);
      const took = performance.now() - started;
      fx.figures.push(`holder answers 500: slowest of 11 answers after ${took.toFixed(0)} ms (coalesce.timeout 1000, handler 200)`);
      // Every answer is the handler's own 500, never a made-up 200 or an empty body.
      for (const r of replies) {
        expect(r.status).toBe(500);
        expect(r.text).toMatch(/^boom \d+$/);
      }
      // Nobody waited past coalesce.timeout + one handler run + a margin.
      for (const r of replies) expect(r.ms).toBeLessThan(1000 + 200 + 200 + 500);
      expect(origin.calls).toBeGreaterThan(1);
    });

    // The waiter retries the lock while it polls: a holder that stored nothing releases it at once.
    it('should stop waiting as soon as the holder released its lock without storing', async () => {
      const { a, b, origin } = await pair({ coalesce: { timeout: 2000 } });
      origin.status = 500;
      const holder = request(a.url, '/slow');
      await until(() => origin.calls === 1, 1000, 'holder running');
      const waiter = await request(b.url, '/slow');
      await holder;
      expect(waiter.status).toBe(500);
      // The holder's 200 ms, then B's own 200 ms: nowhere near coalesce.timeout.
      expect(waiter.ms).toBeLessThan(200 + 200 + 300);
    });
  });

  describe('when the lock holder computes another variant', () => {
    // The holder's variant is not this one's: once its lock is released, this instance computes its own.
    it('should not make the other variant wait for coalesce.timeout', async () => {
      const { a, b, origin } = await pair({ coalesce: { timeout: 2000 } });
      origin.delay = 300;
      const en = request(a.url, '/slow', { headers: { 'Accept-Language': 'en' } });
      await until(() => origin.calls === 1, 1000, 'holder running');
      const fr = await request(b.url, '/slow', { headers: { 'Accept-Language': 'fr' } });
      expect((await en).text).toBe('computed 1 en');
      expect([fr.status, fr.text]).toEqual([200, 'computed 2 fr']);
      expect(fr.ms).toBeLessThan(300 + 300 + 300);
    });
  });

  describe('when both caches run on an injected clock', () => {
    // The cross-instance wait is bounded by a real timer, not the injected clock.
    it('should still bound the wait for another instance by coalesce.timeout', async () => {
      const clock = new SharedClock();
      const { a, b, origin } = await pair({ coalesce: { timeout: 500 } }, clock);
      origin.status = 500;
      const holder = request(a.url, '/slow');
      await until(() => origin.calls === 1, 1000, 'holder running');
      // Closing the instances afterwards ends B's poll (its store is gone), so nothing leaks.
      const waiter = await within(request(b.url, '/slow'), 500 + 200 + 200 + 800);
      await holder;
      expect(waiter).not.toBe('no answer');
      expect((waiter as Reply).status).toBe(500);
    });
  });

  describe('when an entry goes stale under stale-while-revalidate', () => {
    it('should serve 10 stale requests over both instances and refresh once in all', async () => {
      const clock = new SharedClock();
      const { a, b, origin, namespace } = await pair({ ttl: 10, staleWhileRevalidate: 60, coalesce: { timeout: 5000 } }, clock);
      origin.delay = 0;
      const first = await request(a.url, '/slow');
      expect([first.xCache, first.text]).toEqual(['MISS', 'computed 1 en']);
      await until(() => a.cache.stats().stores === 1, 2000, 'first entry stored');
      await until(async () => (await heldLocks(fx.admin, namespace)).length === 0, 1000, 'lock released');

      clock.advance(15);
      origin.delay = 400; // the refresh is slow: every stale read lands while it runs
      const stale = await Promise.all(Array.from({ length: 10 }, (_v, i) => request(i % 2 ? b.url : a.url, '/slow')));
      expect(stale.map((r) => [r.status, r.xCache, r.text])).toEqual(Array(10).fill([200, 'STALE', 'computed 1 en']));
      for (const r of stale) expect(r.ms).toBeLessThan(300); // served at once, not after the refresh

      const stores = () => a.cache.stats().stores + b.cache.stats().stores;
      await until(() => stores() === 2, 3000, 'refreshed entry stored');
      await until(async () => (await heldLocks(fx.admin, namespace)).length === 0, 1000, 'refresh lock released');
      await sleep(100);
      expect(origin.calls).toBe(2);
      const after = await Promise.all([request(a.url, '/slow'), request(b.url, '/slow')]);
      expect(after.map((r) => [r.xCache, r.text])).toEqual([
        ['HIT', 'computed 2 en'],
        ['HIT', 'computed 2 en'],
      ]);
      expect(a.cache.stats().stale + b.cache.stats().stale).toBe(10);
      expect(origin.calls).toBe(2);
    });
  });
});
