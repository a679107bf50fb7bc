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

  it('serves what is made during a large invalidation, removes only what came before, and counts exactly', async () => {
    const store = new MemoryStore({ maxEntries: N + 1000, sweepInterval: 0 });
    const cache = track(createCache({ store, jitter: 0, ttl: 600 }));
    const PAGES = 200;
    // The model: what each page must answer now.
    const data = new Map<string, string>();
    for (let i = 0; i < PAGES; i++) data.set(String(i), `old ${i}`);
    let calls = 0;
    const app = express();
    app.get('/items/:id', cache.middleware({ tags: ['catalog'] }), (req, res) => {
      calls++;
      res.send(data.get(req.params.id) ?? 'none');
    });
    const { url } = await serve(app);
    const ids = [...data.keys()];
    for (const id of ids) expect((await send(url, `/items/${id}`)).text).toBe(`old ${id}`);
    const values = cache.values<number>('rows');
    const rows: Array<[string, number]> = [];
    for (let i = 0; i < N; i++) rows.push([String(i), i]);
    expect(await values.setMany(rows, { tags: ['catalog'] })).toBe(true);
    expect(calls).toBe(PAGES);

    for (const id of ids) data.set(id, `new ${id}`);
    const invalidated = cache.invalidate({ tags: ['catalog'] });
    // Once the ban is in place (a write racing the call itself may go either side of it),
    // a value written under the same tag while the walk runs is filed behind what the walk
    // still has to visit: the walk reaches it, and must leave it.
    for (let turns = 0; store.activeBans === 0 && turns < 100; turns++) await new Promise((r) => setImmediate(r));
    expect(store.activeBans).toBe(1);
    expect(await values.set('late', -1, { tags: ['catalog'] })).toBe(true);
    expect(store.activeBans).toBe(1);
    // Every page is made again from the new data, during the walk or after it.
    const during = await Promise.all(ids.map((id) => send(url, `/items/${id}`)));
    expect(during.map((r) => r.text)).toEqual(ids.map((id) => `new ${id}`));
    expect(during.every((r) => r.xCache === 'MISS')).toBe(true);

    // Exactly what was stored before the call: the pages' old copies and the N values.
    expect(await invalidated).toBe(PAGES + N);
    expect(calls).toBe(2 * PAGES);
    const after = await Promise.all(ids.map((id) => send(url, `/items/${id}`)));
    expect(after.map((r) => [r.xCache, r.text])).toEqual(ids.map((id) => ['HIT', `new ${id}`]));
    expect(calls).toBe(2 * PAGES);
    expect(await values.get('late')).toBe(-1);
    expect(await values.get('7')).toBeUndefined();
    expect(store.size).toBe(PAGES + 1);
  });
});
