/**
 * Issue 9 on the memory store (no Redis): read-your-writes under write traffic. A GET
 * racing its own PUT, two caches sharing one MemoryStore racing each other, getOrSet
 * racing an invalidation, and stampedes behind an aborted or a conditional leader.
 * Bodies are checked against the model of the data (model.ts), handler calls counted.
 */

import http from 'node:http';
import { createCache, MemoryStore, type ExpressCacheOptions, type ExpressResponseCache } from '../../middleware';
import type { ValueCache } from '../../src/values';
import { forEachExpress, type ExpressFactory } from '../helpers/express';
import { engineOf } from '../../src/cache';
import { listen, request, SharedClock, sleep, until, type Instance } from '../redis/instances';
import { Calls, getItem, itemsApp, latch, putItem, Reads, Rows, sequences, within, type ItemsApp } from './model';

const open: Instance[] = [];
const errors: string[] = [];
afterEach(async () => {
  for (const i of open.splice(0)) await i.close();
  // Nothing fails on a memory store: every onError is a finding.
  expect(errors.splice(0)).toEqual([]);
});

interface World {
  readonly rows: Rows;
  readonly calls: Calls;
}

function world(): World {
  return { rows: new Rows(), calls: new Calls() };
}

async function instance(express: ExpressFactory, name: string, w: World, options: ExpressCacheOptions = {}, spec: Partial<ItemsApp> = {}): Promise<Instance> {
  const cache = createCache({ jitter: 0, ttl: 60, onError: (err) => errors.push(`${name}: ${err.code} ${err.message}`), ...options });
  const app = itemsApp(express, { name, cache, rows: w.rows, calls: w.calls, ...spec });
  const i = await listen(name, app, cache);
  open.push(i);
  return i;
}

forEachExpress((express) => {
  describe('when a client GETs, PUTs, then GETs again', () => {
    it.each([['tags'], ['paths'], ['prefixes']] as const)(
      'should show the new version after the PUT in 20 of 20 sequences (only invalidates({ %s }))',
      async (target) => {
        const w = world();
        const reads = new Reads();
        // Only the route's own target: the unsafe-method rule would invalidate the path as well.
        const a = await instance(express, 'A', w, { invalidateUnsafe: false }, { target, delay: () => 8, onRead: reads.saw });
        expect(await sequences(a, reads)).toEqual([]);
        // Per sequence: the first GET and the one after the PUT run the handler; the last is a hit.
        expect(w.calls.total).toBeGreaterThanOrEqual(40);
        expect(w.calls.total).toBeLessThanOrEqual(60);
        expect(a.cache.stats().hits).toBeGreaterThan(0);
      },
    );

    it('should show the new version of each Accept-Language variant (Vary) in 20 of 20 sequences', async () => {
      const w = world();
      const reads = new Reads();
      const a = await instance(express, 'A', w, {}, { vary: true, delay: () => 8, onRead: reads.saw });
      expect(await sequences(a, reads, (n) => ({ 'Accept-Language': n % 2 ? 'fr' : 'en' }))).toEqual([]);
    });
  });

  describe('when a GET that read before a PUT is still in flight (one cache)', () => {
    it('should not let a GET sent after the PUT join it, nor store what it read', async () => {
      const w = world();
      const read = latch();
      let slow = true;
      const a = await instance(
        express,
        'A',
        w,
        {},
        {
          delay: () => (slow ? ((slow = false), 60) : 3),
          onRead: () => read.open(),
        },
      );
      const inFlight = getItem(a.url, 'x');
      await read.wait;
      const written = await putItem(a.url, 'x');
      const after = await getItem(a.url, 'x');
      expect(after.v).toBe(written);
      // The slow GET read before the PUT: answering v1 is right for it.
      expect((await inFlight).v).toBe(1);
      for (let n = 0; n < 10; n++) {
        expect((await getItem(a.url, 'x')).v).toBe(written);
        await sleep(20);
      }
      expect(w.calls.total).toBe(2);
    });
  });

  describe('when a stale-while-revalidate refresh read its row before a PUT', () => {
    it('should not store what the refresh made, and answer GETs after the PUT with the new version', async () => {
      const w = world();
      const clock = new SharedClock();
      const reads = new Reads();
      let slow = false;
      const cache = createCache({ ttl: 1, staleWhileRevalidate: 60, jitter: 0, onError: (err) => errors.push(`A: ${err.code}`) }, { now: clock.now });
      const app = itemsApp(express, { name: 'A', cache, rows: w.rows, calls: w.calls, onRead: reads.saw, delay: () => (slow ? ((slow = false), 60) : 3) });
      const a = await listen('A', app, cache);
      open.push(a);
      expect((await getItem(a.url, 'w')).reply.xCache).toBe('MISS');
      await until(() => cache.stats().stores === 1, 2000, 'stored');
      clock.advance(2);
      slow = true;
      const refreshRead = reads.next('w');
      // RFC 5861 §3: the stale entry answers, one refresh runs behind it.
      const stale = await getItem(a.url, 'w');
      expect([stale.v, stale.reply.xCache]).toEqual([1, 'STALE']);
      await refreshRead;
      const written = await putItem(a.url, 'w');
      expect((await getItem(a.url, 'w')).v).toBe(written);
      // Past the refresh's end: what it made from v1 (a 304 freshening the old body) is not stored.
      await until(() => w.calls.total >= 3 && engineOf(cache).coordinator.size === 0, 2000, 'refresh ended');
      for (let n = 0; n < 10; n++) {
        expect((await getItem(a.url, 'w')).v).toBe(written);
        await sleep(10);
      }
    });
  });

  describe('when two caches share one MemoryStore', () => {
    it("should never serve, on either, what B read before A's PUT, once the PUT is answered", async () => {
      const w = world();
      const store = new MemoryStore();
      const read = latch();
      let slowB = true;
      const a = await instance(express, 'A', w, { store });
      const b = await instance(
        express,
        'B',
        w,
        { store },
        {
          delay: (_id, name) => (name === 'B' && slowB ? ((slowB = false), 50) : 3),
          onRead: (_id, _v, name) => name === 'B' && read.open(),
        },
      );
      const slowGet = getItem(b.url, 'r');
      await read.wait;
      const written = await putItem(a.url, 'r');
      const [onA, onB] = await Promise.all([getItem(a.url, 'r'), getItem(b.url, 'r')]);
      expect([onA.v, onB.v]).toEqual([written, written]);
      expect((await slowGet).v).toBe(1);
      // The entry B would have stored from v1 is never served, on either cache.
      const seen: number[] = [];
      for (let n = 0; n < 20; n++) {
        seen.push((await getItem(n % 2 ? a.url : b.url, 'r')).v);
        await sleep(15);
      }
      expect(seen).toEqual(Array(20).fill(written));
      const hits = a.cache.stats().hits + b.cache.stats().hits;
      expect(hits).toBeGreaterThan(0);
      await store.close();
    });
  });

  describe('when 50 followers wait behind a leader', () => {
    it("should hand over to one new leader when the leader's client aborts: the handler runs at most twice", async () => {
      const w = world();
      const started = latch();
      let first = true;
      const a = await instance(
        express,
        'A',
        w,
        {},
        {
          delay: () => (first ? ((first = false), 80) : 20),
          onRead: () => started.open(),
        },
      );
      const { port } = new URL(a.url);
      const leader = http.request({ host: '127.0.0.1', port, path: '/items/hot', agent: false });
      leader.on('error', () => undefined);
      leader.end();
      await started.wait;
      const followers = Array.from({ length: 50 }, () => getItem(a.url, 'hot'));
      // Let the followers reach the flight, then abort the leader's client.
      await until(() => a.cache.stats().misses >= 1, 2000, 'leader counted');
      await sleep(20);
      leader.destroy();
      const got = await within(Promise.all(followers), 10_000, 'followers');
      for (const f of got) {
        expect(f.reply.status).toBe(200);
        expect(JSON.parse(f.reply.text)).toEqual({ id: 'hot', v: 1, by: 'A' });
      }
      expect(w.calls.total).toBeGreaterThanOrEqual(2);
      expect(w.calls.total).toBeLessThanOrEqual(3);
    });

    it('should share the whole 200 of a leader whose request had a matching If-None-Match (it gets its 304)', async () => {
      const w = world();
      const started = latch();
      const a = await instance(
        express,
        'A',
        w,
        {},
        {
          delay: () => 60,
          onRead: () => started.open(),
          etag: (id, v) => `"${id}-${v}"`,
        },
      );
      const leader = request(a.url, '/items/cond', { headers: { 'If-None-Match': '"cond-1"' } });
      await started.wait;
      const followers = Array.from({ length: 50 }, () => getItem(a.url, 'cond'));
      const [lead, got] = await within(Promise.all([leader, Promise.all(followers)]), 10_000, 'followers');
      expect(lead.status).toBe(304);
      expect(lead.body.length).toBe(0);
      for (const f of got) expect(JSON.parse(f.reply.text)).toEqual({ id: 'cond', v: 1, by: 'A' });
      expect(w.calls.total).toBeLessThanOrEqual(2);
    });
  });
});

describe('values.getOrSet racing an invalidation (memory)', () => {
  type Invalidate = (cache: ExpressResponseCache, values: ValueCache<number>, id: string) => Promise<unknown>;
  const cases: Array<[string, Invalidate]> = [
    ['values.delete', (_c, v, id) => v.delete(id)],
    ['invalidate({ tags })', (c, _v, id) => c.invalidate({ tags: [`row:${id}`] })],
  ];

  it.each(cases)('should resolve v2 from the next getOrSet after %s, and never store v1', async (_label, invalidate) => {
    const store = new MemoryStore();
    const rows = new Rows();
    const caches = [createCache({ store, jitter: 0 }), createCache({ store, jitter: 0 })];
    const [a, b] = caches.map((c) => c.values<number>('rows'));
    let read = latch();
    let factoryCalls = 0;
    const factory = (id: string, ms: number) => async () => {
      factoryCalls++;
      const v = rows.version(id);
      read.open();
      await sleep(ms);
      return v;
    };
    try {
      for (const [where, reader] of [
        ['same cache', a],
        ['other cache', b],
      ] as const) {
        const id = `row-${where.replace(' ', '-')}`;
        read = latch();
        const reading = reader.getOrSet(id, factory(id, 50), { tags: [`row:${id}`] });
        await read.wait;
        rows.write(id);
        await invalidate(caches[0], a, id);
        expect(await a.getOrSet(id, factory(id, 3), { tags: [`row:${id}`] })).toBe(2);
        expect(await reading).toBe(1);
        // What the first call read is not stored: both caches see v2 from now on.
        for (let n = 0; n < 5; n++) {
          expect(await a.get(id)).toBe(2);
          expect(await b.get(id)).toBe(2);
          await sleep(10);
        }
      }
      expect(factoryCalls).toBe(4);
    } finally {
      for (const c of caches) await c.close();
      await store.close();
    }
  });
});
