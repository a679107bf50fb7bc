/**
 * The example shop (example-app/) against a fresh in-memory cache per test: what its
 * README promises with curl, checked with supertest.
 */

import request from 'supertest';
import type { Express } from 'express';
import { createCache, MemoryStore, type ExpressResponseCache } from '../../middleware';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createApp } from '../../example-app/app';
import { TRY_IT, tryIt } from '../../example-app/try-it';
import type { Product, SlowDb } from '../../example-app/db';

const opened: ExpressResponseCache[] = [];
let cache: ExpressResponseCache;
let app: Express;

function db(): SlowDb {
  return app.locals.db as SlowDb;
}

/** A fresh cache and app; `now` replaces the cache's clock. */
function setUp(now?: () => number): void {
  cache = createCache({ namespace: 'shop', jitter: 0 }, now ? { now } : {});
  opened.push(cache);
  app = createApp({ cache, dbDelayMs: 1 });
}

beforeEach(() => setUp());

afterAll(async () => {
  await Promise.all(opened.map((c) => c.close()));
});

describe('example app', () => {
  it('serves the product list from the database once, then from the cache', async () => {
    const first = await request(app).get('/products?page=1&limit=5').expect(200);
    expect(first.headers['x-cache']).toBe('MISS');
    expect(first.body.items).toHaveLength(5);
    expect(first.body.total).toBe(100);
    const calls = db().calls;

    const second = await request(app).get('/products?page=1&limit=5').expect(200);
    expect(second.headers['x-cache']).toBe('HIT');
    expect(second.body).toEqual(first.body);
    // Tracking parameters are not part of the key; the order of the others does not matter.
    const tracked = await request(app).get('/products?limit=5&page=1&utm_source=mail').expect(200);
    expect(tracked.headers['x-cache']).toBe('HIT');
    // HEAD is answered from the GET entry, without a body.
    const head = await request(app).head('/products?page=1&limit=5').expect(200);
    expect(head.headers['x-cache']).toBe('HIT');
    expect(head.text ?? '').toBe('');
    expect(db().calls).toBe(calls);

    // Another page or filter is another entry.
    const filtered = await request(app).get('/products?category=audio').expect(200);
    expect(filtered.headers['x-cache']).toBe('MISS');
    expect(filtered.body.items.every((p: Product) => p.category === 'audio')).toBe(true);
  });

  it('answers If-None-Match with the current ETag with a 304 and no body', async () => {
    const miss = await request(app).get('/products/7').expect(200);
    expect(miss.headers['x-cache']).toBe('MISS');
    const etag = miss.headers.etag;
    expect(etag).toBeTruthy();

    const notModified = await request(app).get('/products/7').set('If-None-Match', etag).expect(304);
    expect(notModified.headers['x-cache']).toBe('HIT');
    expect(notModified.headers.etag).toBe(etag);
    expect(notModified.text ?? '').toBe('');

    const changed = await request(app).get('/products/7').set('If-None-Match', '"something-else"').expect(200);
    expect(changed.headers['x-cache']).toBe('HIT');
    expect(changed.body.id).toBe(7);
  });

  it('PUT drops the product and every catalog page before it answers', async () => {
    const detail = await request(app).get('/products/7').expect(200);
    await request(app).get('/products?limit=10').expect(200);
    expect((await request(app).get('/products/7')).headers['x-cache']).toBe('HIT');
    expect((await request(app).get('/products?limit=10')).headers['x-cache']).toBe('HIT');

    const put = await request(app).put('/products/7').send({ price: 1234 }).expect(200);
    expect(put.body.price).toBe(1234);

    const after = await request(app).get('/products/7').expect(200);
    expect(after.headers['x-cache']).toBe('MISS');
    expect(after.body.price).toBe(1234);
    expect(after.headers.etag).not.toBe(detail.headers.etag);
    // The client's old ETag no longer matches: it gets the new body, not a 304.
    await request(app).get('/products/7').set('If-None-Match', detail.headers.etag).expect(200);

    const list = await request(app).get('/products?limit=10').expect(200);
    expect(list.headers['x-cache']).toBe('MISS');
    expect(list.body.items.find((p: Product) => p.id === 7).price).toBe(1234);
  });

  it('keeps product rows as values: a dropped page is rebuilt without the database', async () => {
    await request(app).get('/products/7').expect(200);
    const calls = db().calls;
    // Only the response goes; the row stays in the value cache.
    expect(await cache.invalidate({ paths: ['/products/7'] })).toBe(1);
    const again = await request(app).get('/products/7').expect(200);
    expect(again.headers['x-cache']).toBe('MISS');
    expect(db().calls).toBe(calls);
    // The product's tag reaches the row and the page together.
    expect(await cache.invalidate({ tags: ['product:7'] })).toBe(2);
    await request(app).get('/products/7').expect(200);
    expect(db().calls).toBe(calls + 1);
  });

  it('a rejected PUT invalidates nothing', async () => {
    await request(app).get('/products/7').expect(200);
    await request(app).put('/products/7').send({ price: -1 }).expect(400);
    await request(app).put('/products/7').send({ category: 'tea' }).expect(400);
    expect((await request(app).get('/products/7')).headers['x-cache']).toBe('HIT');
  });

  it('DELETE drops the product: the next GET is a 404, not the cached copy', async () => {
    await request(app).get('/products/7').expect(200);
    await request(app).delete('/products/7').expect(204);
    const gone = await request(app).get('/products/7').expect(404);
    expect(gone.headers['x-cache']).toBe('MISS');
    await request(app).delete('/products/7').expect(404);
  });

  it('keeps one greeting per Accept-Language (response Vary)', async () => {
    const en = await request(app).get('/greeting').set('Accept-Language', 'en').expect(200);
    expect(en.headers['x-cache']).toBe('MISS');
    expect(en.headers.vary).toMatch(/accept-language/i);
    const fr = await request(app).get('/greeting').set('Accept-Language', 'fr').expect(200);
    expect(fr.headers['x-cache']).toBe('MISS');
    expect(fr.body.message).toBe('Bienvenue dans la boutique !');

    const enAgain = await request(app).get('/greeting').set('Accept-Language', 'en').expect(200);
    expect(enAgain.headers['x-cache']).toBe('HIT');
    expect(enAgain.body).toEqual({ language: 'en', message: 'Welcome to the shop!' });
    const frAgain = await request(app).get('/greeting').set('Accept-Language', 'fr').expect(200);
    expect(frAgain.headers['x-cache']).toBe('HIT');
    expect(frAgain.body.language).toBe('fr');
    expect(frAgain.headers['content-language']).toBe('fr');

    const de = await request(app).get('/greeting').set('Accept-Language', 'de').expect(200);
    expect(de.headers['x-cache']).toBe('MISS');
    expect(de.body.message).toBe('Willkommen im Shop!');
  });

  it('never serves a skip()ped answer (sold out) from the cache; in-stock answers are cached', async () => {
    for (let i = 0; i < 3; i++) {
      const soldOut = await request(app).get('/products/10/stock').expect(200);
      expect(soldOut.body).toEqual({ id: 10, inStock: false, stock: 0 });
      expect(soldOut.headers['x-cache']).not.toBe('HIT');
    }
    await request(app).get('/products/7/stock').expect(200);
    expect((await request(app).get('/products/7/stock')).headers['x-cache']).toBe('HIT');
  });

  it('a category page is fresh for the TTL its handler chose (res.locals.cache.ttl)', async () => {
    let now = Date.now();
    setUp(() => now);
    // 'printers' is not featured (120 s), 'audio' is (600 s).
    await request(app).get('/categories/printers').expect(200);
    await request(app).get('/categories/audio').expect(200);
    now += 119_000;
    const aged = await request(app).get('/categories/printers').expect(200);
    expect(aged.headers['x-cache']).toBe('HIT');
    expect(aged.headers.age).toBe('119');
    now += 2_000;
    // Stale: revalidated through the handler, whose ETag still matches (RFC 9111 §4.3).
    expect((await request(app).get('/categories/printers')).headers['x-cache']).toBe('REVALIDATED');
    expect((await request(app).get('/categories/audio')).headers['x-cache']).toBe('HIT');
  });

  it("a category page carries its products' tags (res.locals.cache.tag)", async () => {
    const page = await request(app).get('/categories/printers').expect(200);
    expect(page.headers['x-cache']).toBe('MISS');
    expect((await request(app).get('/categories/printers')).headers['x-cache']).toBe('HIT');

    const listed: Product = page.body.products[0];
    await request(app).put(`/products/${listed.id}`).send({ name: 'Renamed' }).expect(200);
    const after = await request(app).get('/categories/printers').expect(200);
    expect(after.headers['x-cache']).toBe('MISS');
    expect(after.body.products[0].name).toBe('Renamed');
  });

  it('caches the data of a personalised answer as values, never the answer itself', async () => {
    const first = await request(app).get('/recommendations').set('X-User-Id', 'alice').expect(200);
    expect(first.headers['cache-control']).toBe('private, no-store');
    expect(first.headers['x-cache']).toBeUndefined();
    expect(first.body.products).toHaveLength(3);
    const calls = db().calls;

    const again = await request(app).get('/recommendations').set('X-User-Id', 'alice').expect(200);
    expect(again.body).toEqual(first.body);
    expect(db().calls).toBe(calls); // categories and picks both came from the value cache

    // The picks carry the 'catalog' tag: the PUT that drops the pages drops them too.
    const pick: Product = first.body.products[0];
    await request(app).put(`/products/${pick.id}`).send({ name: 'Fresh name' }).expect(200);
    const after = await request(app).get('/recommendations').set('X-User-Id', 'alice').expect(200);
    expect(after.body.products[0].name).toBe('Fresh name');

    await request(app).get('/recommendations').expect(400);
  });

  it('limits reviews to 3 a minute per user, in a fixed window (cache.counters)', async () => {
    let now = Date.now();
    const clock = (): number => now;
    cache = createCache({ namespace: 'shop', jitter: 0, store: new MemoryStore({ now: clock }) }, { now: clock });
    opened.push(cache);
    app = createApp({ cache, dbDelayMs: 1 });
    const post = (user: string) => request(app).post('/products/7/reviews').set('X-User-Id', user).send({ text: 'good' });
    expect((await post('alice').expect(201)).body).toEqual({ product: 7, user: 'alice', remaining: 2 });
    now += 30_000; // later reviews do not push the window's end
    expect((await post('alice').expect(201)).body.remaining).toBe(1);
    expect((await post('alice').expect(201)).body.remaining).toBe(0);
    const refused = await post('alice').expect(429);
    expect(refused.headers['retry-after']).toBe('60');
    expect((await post('bob').expect(201)).body.remaining).toBe(2); // a window per user
    now += 30_001; // 60 s after alice's first review: a new window
    expect((await post('alice').expect(201)).body.remaining).toBe(2);
    await request(app).post('/products/7/reviews').expect(400);
    await request(app).post('/products/999/reviews').set('X-User-Id', 'alice').expect(404);
  });

  it('fails open when the store cannot count (CounterUnavailableError)', async () => {
    const store = new MemoryStore();
    store.counter = () => Promise.reject(new Error('store down'));
    cache = createCache({ namespace: 'shop', jitter: 0, store, onError: () => {} });
    opened.push(cache);
    app = createApp({ cache, dbDelayMs: 1 });
    for (let i = 0; i < 5; i++) expect((await request(app).post('/products/7/reviews').set('X-User-Id', 'alice').expect(201)).body.remaining).toBeNull();
  });

  it('reports the cache: /health/cache, /stats, /metrics', async () => {
    const health = await request(app).get('/health/cache').expect(200);
    expect(health.body).toMatchObject({ available: true, ping: true });

    await request(app).get('/products').expect(200);
    await request(app).get('/products').expect(200);
    const stats = await request(app).get('/stats').expect(200);
    expect(stats.body).toMatchObject({ hits: 1, misses: 1, stores: 1, errors: 0, hitRatio: 0.5 });
    expect(stats.headers['x-cache']).toBeUndefined();
    // Each ends in a newline: pasted as a block, one curl's output does not run into the next.
    expect(stats.headers['content-type']).toMatch(/^application\/json/);
    expect(stats.text.endsWith('}\n')).toBe(true);

    const metrics = await request(app).get('/metrics').expect(200);
    expect(metrics.text).toContain('express_response_cache_hits_total{namespace="shop",kind="response"} 1');
    expect(metrics.text.endsWith('\n')).toBe(true);
  });

  it('invalidates on demand through the admin route', async () => {
    await request(app).get('/categories').expect(200);
    expect((await request(app).get('/categories')).headers['x-cache']).toBe('HIT');
    const res = await request(app)
      .post('/admin/cache/invalidate')
      .send({ tags: ['categories'] })
      .expect(200);
    expect(res.body.removed).toBe(1);
    expect((await request(app).get('/categories')).headers['x-cache']).toBe('MISS');
    await request(app).post('/admin/cache/invalidate').send({ everything: true }).expect(400);
  });
});

describe('the curl lines npm start prints', () => {
  it('should be the "Try it" block of example-app/README.md, line for line', () => {
    const readme = readFileSync(join(__dirname, '../../example-app/README.md'), 'utf8');
    const block = /## Try it\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1];
    expect(tryIt('http://127.0.0.1:3000').split('\n')).toEqual(block?.trimEnd().split('\n'));
    // One command a line: /stats and /metrics do not run together.
    expect(TRY_IT.filter((l) => /\/stats|\/metrics/.test(l))).toHaveLength(2);
  });

  it("should end each command's output in a newline, so pasted as a block no answer runs into the next", () => {
    // /stats and /metrics end in one of their own (checked above), a 304 has no body, grep
    // prints lines; every other body gets curl's -w '\n', the review loop an echo.
    const bare = TRY_IT.filter((l) => l.startsWith('curl ') && !l.includes(' | ') && !/\/stats|\/metrics|If-None-Match/.test(l) && !l.includes("-w '\\n'"));
    expect(bare).toEqual([]);
    expect(TRY_IT.find((l) => l.startsWith('for '))).toMatch(/; done; echo /);
  });
});
