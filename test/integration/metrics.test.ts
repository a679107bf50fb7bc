/**
 * Metrics three ways: stats() with no dependency, prom-client counters and histograms on a
 * registry the app owns, and node:diagnostics_channel events an APM agent can subscribe to.
 */

import diagnostics from 'node:diagnostics_channel';
import { Registry } from 'prom-client';
import { createCache, MemoryStore, type CacheEventMessage, type InvalidateEventMessage } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, send, serve, track } from '../helpers/http';

closeAfterEach();

/** Value of one sample line of the text exposition, e.g. `name{namespace="shop",kind="response"}`. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

forEachExpress((express) => {
  async function start(namespace: string) {
    const cache = track(createCache({ namespace, jitter: 0 }));
    const app = express();
    let calls = 0;
    app.get('/health', (_req, res) => res.send('ok'));
    app.use(cache.middleware({ bypass: (req) => req.path === '/metrics' }));
    app.get('/data', (_req, res) => {
      calls++;
      res.json({ calls });
    });
    const { url } = await serve(app);
    return { cache, url, calls: () => calls };
  }

  describe('when metrics are registered on a prom-client registry', () => {
    it('should expose counters with HELP and TYPE, labelled by namespace and kind, that agree with stats()', async () => {
      const { cache, url, calls } = await start('shop');
      await send(url, '/data'); // counted before registration: carried over
      const registry = cache.registerMetrics(new Registry());
      const b = await send(url, '/data');
      await send(url, '/data', { headers: { Authorization: 'Bearer x' } });
      expect(JSON.parse(b.text)).toEqual({ calls: 1 });
      expect(calls()).toBe(2); // the miss, and the bypass (Authorization)
      const users = cache.values<number>('users');
      await users.getOrSet('1', () => 1);
      await users.get('1');
      expect(await cache.invalidate({ paths: ['/data'] })).toBe(1);

      const text = await registry.metrics();
      expect(text).toContain('# HELP express_response_cache_hits_total Lookups answered from the cache with a fresh entry');
      expect(text).toContain('# TYPE express_response_cache_hits_total counter');
      expect(text).toContain('# TYPE express_response_cache_store_duration_seconds histogram');
      expect(text).toContain('# TYPE express_response_cache_lookup_duration_seconds histogram');
      expect(text).toContain('# TYPE express_response_cache_memory_entries gauge');
      const s = cache.stats();
      expect(s).toMatchObject({ hits: 1, misses: 1, bypasses: 1, stores: 1, invalidations: 1, values: { hits: 1, misses: 1, stores: 1 } });
      expect(sample(text, 'express_response_cache_hits_total{namespace="shop",kind="response"}')).toBe(s.hits);
      expect(sample(text, 'express_response_cache_misses_total{namespace="shop",kind="response"}')).toBe(s.misses);
      expect(sample(text, 'express_response_cache_bypasses_total{namespace="shop",kind="response"}')).toBe(1);
      expect(sample(text, 'express_response_cache_stores_total{namespace="shop",kind="response"}')).toBe(1);
      expect(sample(text, 'express_response_cache_invalidations_total{namespace="shop",kind="response"}')).toBe(1);
      expect(sample(text, 'express_response_cache_hits_total{namespace="shop",kind="value"}')).toBe(1);
      expect(sample(text, 'express_response_cache_misses_total{namespace="shop",kind="value"}')).toBe(1);
      expect(sample(text, 'express_response_cache_stores_total{namespace="shop",kind="value"}')).toBe(1);
      expect(sample(text, 'express_response_cache_lookup_duration_seconds_count{namespace="shop"}')).toBe(1); // the hit (the bypass looks nothing up)
      // One value is left after the invalidation (the response went).
      expect(sample(text, 'express_response_cache_memory_entries{namespace="shop"}')).toBe(1);
      expect(sample(text, 'express_response_cache_memory_bytes{namespace="shop"}')).toBeGreaterThan(0);
    });

    it('should share one set of metrics between two caches on one registry', async () => {
      const registry = new Registry();
      const a = await start('a');
      const b = await start('b');
      a.cache.registerMetrics(registry);
      b.cache.registerMetrics(registry);
      await send(a.url, '/data');
      await send(a.url, '/data');
      await send(b.url, '/data');
      const text = await registry.metrics();
      expect(sample(text, 'express_response_cache_hits_total{namespace="a",kind="response"}')).toBe(1);
      expect(sample(text, 'express_response_cache_misses_total{namespace="b",kind="response"}')).toBe(1);
      expect(text.match(/# TYPE express_response_cache_hits_total counter/g)).toHaveLength(1);
    });

    it('should time store calls of a store that is not process-local', async () => {
      const inner = new MemoryStore();
      const remote = {
        get: (k: string) => inner.get(k),
        set: inner.set.bind(inner),
        delete: inner.delete.bind(inner),
        deleteByPath: inner.deleteByPath.bind(inner),
        deleteByPrefix: inner.deleteByPrefix.bind(inner),
        deleteByTag: inner.deleteByTag.bind(inner),
        close: inner.close.bind(inner),
      };
      const cache = track(createCache({ store: remote, namespace: 'remote' }));
      const registry = cache.registerMetrics(new Registry());
      const app = express();
      app.use(cache.middleware());
      app.get('/x', (_req, res) => res.send('x'));
      const { url } = await serve(app);
      await send(url, '/x');
      const text = await registry.metrics();
      expect(sample(text, 'express_response_cache_store_duration_seconds_count{namespace="remote",operation="get"}')).toBe(1);
    });
  });

  describe('when stats() is read without prom-client', () => {
    it('should keep the text exposition with HELP lines and values apart', async () => {
      const { cache, url } = await start('plain');
      await send(url, '/data');
      await send(url, '/data');
      const text = cache.prometheus();
      expect(text).toContain('# HELP express_response_cache_hits_total');
      expect(sample(text, 'express_response_cache_hits_total{namespace="plain",kind="response"}')).toBe(1);
      expect(sample(text, 'express_response_cache_hits_total{namespace="plain",kind="value"}')).toBe(0);
    });
  });

  describe('when a diagnostics_channel subscriber listens', () => {
    it('should see a miss, a store, a hit and an invalidation, with namespace and key', async () => {
      const { cache, url } = await start('traced');
      const seen: Array<[string, CacheEventMessage | InvalidateEventMessage]> = [];
      const names = ['hit', 'miss', 'store', 'invalidate'] as const;
      const subs = names.map((n) => {
        const fn = (m: unknown) => {
          const msg = m as CacheEventMessage | InvalidateEventMessage;
          if (msg.namespace === 'traced') seen.push([n, msg]);
        };
        diagnostics.subscribe(`express-response-cache:${n}`, fn);
        return () => diagnostics.unsubscribe(`express-response-cache:${n}`, fn);
      });
      try {
        await send(url, '/data');
        const hit = await send(url, '/data');
        expect(hit.headers['x-cache']).toBe('HIT');
        await cache.invalidate({ paths: ['/data'] });
      } finally {
        for (const off of subs) off();
      }
      const key = 'cache:v1:traced:GET:http://127.0.0.1/data';
      expect(seen.map(([n]) => n)).toEqual(['miss', 'store', 'hit', 'invalidate']);
      expect(seen[2][1]).toEqual({ namespace: 'traced', kind: 'response', key: expect.stringContaining('/data'), status: 'HIT' });
      expect((seen[0][1] as CacheEventMessage).key).toBe((seen[2][1] as CacheEventMessage).key);
      expect(seen[3][1]).toEqual({ namespace: 'traced', count: 1 });
      void key;
    });
  });
});
