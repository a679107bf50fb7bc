/**
 * A large invalidation on the memory store (issue 21): a tag of 50,000 entries is banned at
 * once and removed in the background, an unrelated hit is answered while that runs (by the
 * order of events, not by timing), nothing it named is served once it resolves, and it
 * resolves the exact count.
 */

import { Registry } from 'prom-client';
import { createCache, MemoryStore } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, send, serve, track } from '../helpers/http';

closeAfterEach();

const N = 50_000;

forEachExpress((express) => {
  it(`answers an unrelated hit while a ${N.toLocaleString('en')}-entry tag is invalidated, then serves nothing it named`, async () => {
    const store = new MemoryStore({ maxEntries: N + 100, sweepInterval: 0 });
    const cache = track(createCache({ store, jitter: 0, ttl: 600 }));
    const data = new Map([['1', 'v1']]);
    const calls = { hot: 0, item: 0 };
    const app = express();
    app.get('/hot', cache.middleware(), (_req, res) => {
      calls.hot++;
      res.send('hot');
    });
    app.get('/items/:id', cache.middleware({ tags: ['catalog'] }), (req, res) => {
      calls.item++;
      res.send(data.get(req.params.id) ?? 'none');
    });
    const registry = new Registry();
    cache.registerMetrics(registry);
    const { url } = await serve(app);
    expect((await send(url, '/hot')).xCache).toBe('MISS');
    expect((await send(url, '/items/1')).text).toBe('v1');
    const values = cache.values<number>('rows');
    const rows: Array<[string, number]> = [];
    for (let i = 0; i < N; i++) rows.push([String(i), i]);
    expect(await values.setMany(rows, { tags: ['catalog'] })).toBe(true);
    expect(await values.get('7')).toBe(7);

    data.set('1', 'v2');
    const order: string[] = [];
    const invalidated = cache.invalidate({ tags: ['catalog'] }).then((n) => {
      order.push('invalidated');
      return n;
    });
    const hot = send(url, '/hot').then((r) => {
      order.push(`hot ${r.xCache} ${r.text}`);
    });
    const [n] = await Promise.all([invalidated, hot]);
    expect(order).toEqual(['hot HIT hot', 'invalidated']);
    expect(n).toBe(N + 1);
    expect(calls.hot).toBe(1);

    const after = await send(url, '/items/1');
    expect([after.xCache, after.text]).toEqual(['MISS', 'v2']);
    expect(calls.item).toBe(2);
    expect(await values.get('7')).toBeUndefined();
    expect(store.size).toBe(2);
    expect(store.backgroundDeleted).toBe(N + 1);
    // Background deletion has its own metric (read from the store at scrape time).
    const text = await registry.metrics();
    expect(text).toContain('express_response_cache_memory_background_deleted{namespace="http"} ' + (N + 1));
    expect(text).toContain('express_response_cache_memory_bans{namespace="http"} 0');
  });
});
