/**
 * Issue 20: a leader on B whose link to Redis turns slow (past the guarded write's own
 * timeout, 3 × storeTimeout) while it saves what it made, after a PUT on A was
 * acknowledged. The followers waiting on B's flight, some sent after that
 * acknowledgement, must never get the body B made before the PUT: B cannot ask Redis
 * whether an invalidation on another instance matched it, so they make their own.
 * Plain and tiered, responses and values.getOrSet, two instances on one real Redis with
 * B behind a latency proxy.
 */

import { createCache, type ExpressCacheOptions, type ExpressResponseCache } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { listen, sleep, until, uniqueNamespace, useRedis, type Instance } from '../redis/instances';
import { Calls, getItem, itemsApp, latch, putItem, Rows, within } from './model';

const fx = useRedis('write-traffic/slow-link.test');
let link: TcpProxy;

beforeAll(async () => {
  link = await startTcpProxy(fx.redis.port, { delayMs: 0 });
});
afterEach(() => {
  // Fast again before the instances close (a close drains what is in flight).
  link.delayMs = 0;
});
afterAll(async () => {
  await link.close();
});

// B's store calls are cut at 150 ms, its guarded writes at 450 ms; 600 ms each way is
// past both, so B's commit fails (it never reaches Redis in time) once the link is slow.
const STORE_TIMEOUT = 150;
const SLOW_MS = 600;
const FOLLOWERS = 6;

function makeCache(w: { namespace: string; errors: string[] }, name: string, url: string, options: ExpressCacheOptions): ExpressResponseCache {
  return createCache({
    redis: url,
    namespace: w.namespace,
    jitter: 0,
    ttl: 60,
    storeTimeout: STORE_TIMEOUT,
    onError: (err) => w.errors.push(`${name} ${err.code}`),
    ...options,
  });
}

forEachExpress((express) => {
  describe("when B's link to Redis turns slow while it saves a response made before A's acknowledged PUT", () => {
    it.each([
      ['plain Redis', {}],
      ['tiered: true', { tiered: true }],
    ] as Array<[string, ExpressCacheOptions]>)("should never give B's followers the pre-PUT body (%s)", async (_label, options) => {
      const w = { rows: new Rows(), calls: new Calls(), namespace: uniqueNamespace('slowlink'), errors: [] as string[] };
      const read = latch();
      const release = latch();
      let first = true;
      const start = async (name: string, url: string): Promise<Instance> => {
        const cache = makeCache(w, name, url, options);
        const app = itemsApp(express, {
          name,
          cache,
          rows: w.rows,
          calls: w.calls,
          onRead: (_id, _v, who) => who === 'B' && first && read.open(),
          // B's first making (the leader) answers only when the test says so.
          hold: (_id, who) => (who === 'B' && first ? ((first = false), release.wait) : undefined),
        });
        const i = await listen(name, app, cache);
        fx.open.push(i);
        return i;
      };
      const a = await start('A', fx.redis.url);
      const b = await start('B', `redis://127.0.0.1:${link.port}`);
      const id = 'slow';

      const leader = getItem(b.url, id);
      await read.wait;
      const written = await putItem(a.url, id);
      expect(written).toBe(2);
      // Sent after the PUT's answer: their lookups (fast link still) miss, and they wait on
      // B's flight, which A's invalidation could not detach.
      const followers = Array.from({ length: FOLLOWERS }, () => getItem(b.url, id));
      await sleep(150);
      link.delayMs = SLOW_MS;
      release.open();
      const [lead, got] = await within(Promise.all([leader, Promise.all(followers)]), 20_000, 'followers');
      // The leader read v1 before the PUT began: v1 is its right answer.
      expect(lead.v).toBe(1);
      expect(got.map((f) => f.v)).toEqual(Array(FOLLOWERS).fill(written));
      // They made their own (the leader, and at most one each), each from the new row.
      expect(w.calls.of('B')).toBeGreaterThanOrEqual(2);
      expect(w.calls.of('B')).toBeLessThanOrEqual(1 + FOLLOWERS);
      link.delayMs = 0;
      // Once B's link is back, B serves the new version from the cache again.
      await until(async () => (await getItem(b.url, id)).reply.xCache === 'HIT', 10_000, 'B caches again');
      expect((await getItem(b.url, id)).v).toBe(written);
      expect((await getItem(a.url, id)).v).toBe(written);
    });
  });
});

describe("when B's link to Redis turns slow while getOrSet saves a value read before A's invalidation", () => {
  it.each([
    ['plain Redis', {}],
    ['tiered: true', { tiered: true }],
  ] as Array<[string, ExpressCacheOptions]>)('should give the getOrSet callers waiting on B the new value (%s)', async (_label, options) => {
    const w = { rows: new Rows(), namespace: uniqueNamespace('slowvalue'), errors: [] as string[] };
    const caches = [makeCache(w, 'A', fx.redis.url, options), makeCache(w, 'B', `redis://127.0.0.1:${link.port}`, options)];
    fx.open.push(...caches.map((cache, n) => ({ name: n ? 'B' : 'A', cache, url: '', close: () => cache.close() })));
    const [a, b] = caches.map((c) => c.values<number>('rows'));
    const id = 'slow';
    const read = latch();
    const release = latch();
    let calls = 0;
    const factory = async (): Promise<number> => {
      const v = w.rows.version(id);
      if (++calls === 1) {
        read.open();
        await release.wait;
      }
      return v;
    };
    const leader = b.getOrSet(id, factory, { tags: [`row:${id}`] });
    await read.wait;
    w.rows.write(id);
    await caches[0].invalidate({ tags: [`row:${id}`] });
    const misses = caches[1].stats().values.misses;
    const followers = Array.from({ length: FOLLOWERS }, () => b.getOrSet(id, factory, { tags: [`row:${id}`] }));
    // Every follower's lookup missed (it now waits on the flight) before the link turns slow.
    await until(() => caches[1].stats().values.misses >= misses + FOLLOWERS, 5000, 'followers waiting');
    link.delayMs = SLOW_MS;
    release.open();
    const [lead, got] = await within(Promise.all([leader, Promise.all(followers)]), 20_000, 'followers');
    expect(lead).toBe(1);
    expect(got).toEqual(Array(FOLLOWERS).fill(2));
    expect(calls).toBeGreaterThanOrEqual(2);
    expect(calls).toBeLessThanOrEqual(1 + FOLLOWERS);
    expect(await a.get(id)).not.toBe(1);
  });
});
