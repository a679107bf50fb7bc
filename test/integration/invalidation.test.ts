/**
 * Invalidation: cache.invalidate() by keys, paths, prefixes and tags with exact counts;
 * cache.invalidates() and invalidateUnsafe (RFC 9111 §4.4) done before a mutating
 * route's answer is sent, so the client's next GET sees the new data.
 */

import type { Express, RequestHandler } from 'express';
import { createCache, MemoryStore, type CacheStore, type ExpressCacheOptions, type RequestCache, type StoreIndex } from '../../middleware';
import { forEachExpress } from '../helpers/express';
import { closeAfterEach, deferred, send, serve, track, until } from '../helpers/http';

closeAfterEach();

/** A MemoryStore whose deleteByPath waits for the test to open a gate. */
class GatedStore implements CacheStore {
  readonly inner = new MemoryStore();
  gate: Promise<void> | undefined;
  deleting = 0;
  get(key: string) {
    return this.inner.get(key);
  }
  set(key: string, value: Buffer, ttlMs: number, index: StoreIndex) {
    return this.inner.set(key, value, ttlMs, index);
  }
  delete(keys: readonly string[]) {
    return this.inner.delete(keys);
  }
  async deleteByPath(path: string) {
    this.deleting++;
    if (this.gate) await this.gate;
    return this.inner.deleteByPath(path);
  }
  deleteByPrefix(prefix: string) {
    return this.inner.deleteByPrefix(prefix);
  }
  deleteByTag(tags: readonly string[]) {
    return this.inner.deleteByTag(tags);
  }
  close() {
    return this.inner.close();
  }
}

forEachExpress((express) => {
  /** A small catalogue: GET /items/:id answers the current version; `data` is the origin. */
  async function catalogue(options: ExpressCacheOptions, more?: (app: Express, data: Map<string, string>, cache: ReturnType<typeof createCache>) => void) {
    const cache = track(createCache({ jitter: 0, ...options }));
    const app = express();
    const data = new Map<string, string>([
      ['1', 'v1'],
      ['2', 'v1'],
      ['3', 'v1'],
      ['4', 'v1'],
    ]);
    const keys: Record<string, string> = {};
    app.use((req, res, next) => {
      res.on('finish', () => {
        const c = res.locals.cache as RequestCache | undefined;
        if (req.method === 'GET' && c?.key) keys[req.originalUrl] = c.key;
      });
      next();
    });
    app.use(cache.middleware());
    more?.(app, data, cache);
    app.get('/items/:id', (req, res) => {
      res.locals.cache!.tag(`item:${req.params.id}`);
      res.send(`item ${req.params.id} ${data.get(req.params.id)}`);
    });
    app.get(/.*/, (req, res) => res.send(`page ${req.originalUrl}`));
    const { url } = await serve(app);
    const xcache = async (path: string) => String((await send(url, path)).headers['x-cache']);
    return { cache, url, data, keys, xcache };
  }

  describe('when cache.invalidate() is given a bad target', () => {
    it('should reject with a TypeError naming the problem', async () => {
      const cache = track(createCache());
      await expect(cache.invalidate({ paths: '/x' } as never)).rejects.toThrow(/^invalidate: paths must be an array of strings$/);
      await expect(cache.invalidate({ path: ['/x'] } as never)).rejects.toThrow(/^invalidate: unknown target "path"$/);
      await expect(cache.invalidate(null as never)).rejects.toThrow(TypeError);
    });

    // Issue 23: these resolved 0 in silence, which reads as "nothing was cached".
    it('should reject a target that names nothing, and a path or prefix without its leading slash', async () => {
      const cache = track(createCache());
      await expect(cache.invalidate({})).rejects.toThrow(new TypeError('invalidate: the target names nothing; give keys, paths, prefixes or tags'));
      await expect(cache.invalidate({ tags: undefined })).rejects.toThrow(/names nothing/);
      await expect(cache.invalidate({ paths: ['/a', 'products'] })).rejects.toThrow(
        new TypeError(`invalidate: paths are request paths and start with '/', got "products" (write '/products')`),
      );
      await expect(cache.invalidate({ prefixes: ['search'] })).rejects.toThrow(/^invalidate: prefixes are request paths and start with '\/', got "search"/);
      // Empty lists (tags computed from an empty list) and the documented '' prefix stay valid.
      await expect(cache.invalidate({ tags: [] })).resolves.toBe(0);
      await expect(cache.invalidate({ prefixes: [''] })).resolves.toBe(0);
      expect(() => cache.invalidates({})).toThrow(/^cache\.invalidates: the target names nothing/);
      expect(() => cache.invalidates({ paths: ['products'] })).toThrow(/^cache\.invalidates: paths are request paths/);
    });

    it('should report a target function that returns such a target, and still send the answer', async () => {
      const errors: string[] = [];
      const cache = track(createCache({ onError: (err) => errors.push(err.message) }));
      const app = express();
      app.get('/products', cache.middleware(), (_req, res) => res.send('list'));
      app.put(
        '/products/:id',
        cache.invalidates(() => ({ paths: ['products'] })),
        (_req, res) => res.send('ok'),
      );
      const { url } = await serve(app);
      await send(url, '/products');
      expect((await send(url, '/products/1', { method: 'PUT' })).status).toBe(200);
      expect(errors.some((m) => m.includes("paths are request paths and start with '/'"))).toBe(true);
    });
  });

  describe('when cache.invalidate() is called', () => {
    it('should remove exact keys and count what existed', async () => {
      const t = await catalogue({});
      await send(t.url, '/a');
      await send(t.url, '/b');
      expect(await t.cache.invalidate({ keys: [t.keys['/a'], 'cache:v1:http:GET:/nope'] })).toBe(1);
      expect(await t.cache.invalidate({ keys: [t.keys['/a']] })).toBe(0);
      // A key outside this cache's namespace is never touched.
      expect(await t.cache.invalidate({ keys: [t.keys['/b'].replace('cache:v1:http:', 'cache:v1:other:')] })).toBe(0);
      expect([await t.xcache('/a'), await t.xcache('/b')]).toEqual(['MISS', 'HIT']);
    });

    it('should remove every query variant of a path, and no other path', async () => {
      const t = await catalogue({});
      for (const p of ['/p', '/p?x=1', '/p?x=2&y=3', '/p/child', '/pp']) await send(t.url, p);
      expect(await t.cache.invalidate({ paths: ['/p'] })).toBe(3);
      expect(await t.xcache('/p?x=1')).toBe('MISS');
      expect([await t.xcache('/p/child'), await t.xcache('/pp')]).toEqual(['HIT', 'HIT']);
      expect(await t.cache.invalidate({ paths: ['/nothing'] })).toBe(0);
    });

    it('should remove every Vary variant of a path', async () => {
      const t = await catalogue({}, (app) => app.get('/lang', (req, res) => res.set('Vary', 'Accept-Language').send(String(req.headers['accept-language']))));
      const ask = (lang: string) => send(t.url, '/lang', { headers: { 'Accept-Language': lang } });
      await ask('fr');
      await ask('de');
      expect((await ask('de')).headers['x-cache']).toBe('HIT');
      const removed = await t.cache.invalidate({ paths: ['/lang'] });
      expect(removed).toBeGreaterThanOrEqual(2);
      expect([(await ask('fr')).headers['x-cache'], (await ask('de')).headers['x-cache']]).toEqual(['MISS', 'MISS']);
    });

    it('should count the two stored variants of a Vary response as 2, not the internal Vary marker too', async () => {
      const t = await catalogue({}, (app) => app.get('/lang', (req, res) => res.set('Vary', 'Accept-Language').send(String(req.headers['accept-language']))));
      await send(t.url, '/lang', { headers: { 'Accept-Language': 'fr' } });
      await send(t.url, '/lang', { headers: { 'Accept-Language': 'de' } });
      expect(await t.cache.invalidate({ paths: ['/lang'] })).toBe(2);
    });

    it('should remove every path under a prefix, literally', async () => {
      const t = await catalogue({});
      for (const p of ['/search/a', '/search/b?q=1', '/search', '/searching', '/other']) await send(t.url, p);
      expect(await t.cache.invalidate({ prefixes: ['/search/'] })).toBe(2);
      expect(await t.cache.invalidate({ prefixes: ['/search'] })).toBe(2);
      expect(await t.xcache('/other')).toBe('HIT');
    });

    it('should treat * and [ in a prefix as plain characters, not a glob', async () => {
      const t = await catalogue({});
      for (const p of ['/x*y/1', '/xay/1', '/g[1]', '/g1', '/q?/1']) await send(t.url, p);
      expect(await t.cache.invalidate({ prefixes: ['/x*'] })).toBe(1);
      expect(await t.cache.invalidate({ prefixes: ['/g['] })).toBe(1);
      expect([await t.xcache('/x*y/1'), await t.xcache('/xay/1'), await t.xcache('/g[1]'), await t.xcache('/g1')]).toEqual(['MISS', 'HIT', 'MISS', 'HIT']);
    });

    it('should remove every entry carrying a tag (option tags and res.locals.cache.tag)', async () => {
      const cache = track(createCache({ jitter: 0, tags: (req) => (req.path.startsWith('/items') ? ['catalog'] : []) }));
      const app = express();
      app.use(cache.middleware());
      app.get('/items/:id', (req, res) => {
        res.locals.cache!.tag(`item:${req.params.id}`, 'all-items');
        res.send(req.params.id);
      });
      app.get('/home', (_req, res) => res.send('home'));
      const { url } = await serve(app);
      for (const p of ['/items/1', '/items/2', '/items/3', '/home']) await send(url, p);
      expect(await cache.invalidate({ tags: ['item:1'] })).toBe(1);
      expect(await cache.invalidate({ tags: ['catalog', 'all-items'] })).toBe(2);
      expect(await cache.invalidate({ tags: ['catalog'] })).toBe(0);
      expect((await send(url, '/home')).headers['x-cache']).toBe('HIT');
      expect(cache.stats().invalidations).toBe(3);
    });

    it('should add the counts of every part of one target', async () => {
      const t = await catalogue({});
      for (const p of ['/items/1', '/items/2', '/a', '/b/1', '/b/2']) await send(t.url, p);
      expect(await t.cache.invalidate({ keys: [t.keys['/a']], paths: ['/items/1'], prefixes: ['/b/'], tags: ['item:2'] })).toBe(5);
    });
  });

  describe('when a mutating route uses cache.invalidates()', () => {
    function putRoute(t: { data: Map<string, string> }, status = 200): RequestHandler {
      return (req, res) => {
        if (status < 300) t.data.set(String(req.params.id), 'v2');
        res.status(status).send(`put ${req.params.id}`);
      };
    }

    it('should not invalidate on a non-2xx answer', async () => {
      const t = await catalogue({ invalidateUnsafe: false }, (app, data, cache) => {
        app.put(
          '/items/:id',
          cache.invalidates((req) => ({ paths: [`/items/${req.params.id}`] })),
          putRoute({ data }, 409),
        );
      });
      await send(t.url, '/items/1');
      const put = await send(t.url, '/items/1', { method: 'PUT' });
      const get = await send(t.url, '/items/1');
      expect(put.status).toBe(409);
      expect([get.text, get.headers['x-cache']]).toEqual(['item 1 v1', 'HIT']);
    });

    it('should invalidate before the 2xx answer is sent: the next GET sees the new data', async () => {
      const store = new GatedStore();
      const cache = track(createCache({ jitter: 0, store, invalidateUnsafe: false }));
      const app = express();
      const data = new Map([['1', 'v1']]);
      app.use(cache.middleware());
      app.get('/items/:id', (req, res) => res.send(`item ${req.params.id} ${data.get(req.params.id)}`));
      app.put(
        '/items/:id',
        cache.invalidates((req) => ({ paths: [`/items/${req.params.id}`] })),
        putRoute({ data }),
      );
      const { url } = await serve(app);
      await send(url, '/items/1');
      expect((await send(url, '/items/1')).headers['x-cache']).toBe('HIT');

      const gate = deferred();
      store.gate = gate.promise;
      let answered = false;
      const put = send(url, '/items/1', { method: 'PUT' }).then((r) => {
        answered = true;
        return r;
      });
      await until(() => store.deleting === 1);
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
      expect(answered).toBe(false);
      gate.resolve();
      expect((await put).status).toBe(200);
      const get = await send(url, '/items/1');
      expect([get.text, get.headers['x-cache']]).toEqual(['item 1 v2', 'MISS']);
    });

    // Fails: a GET that read the old data before the PUT, and finishes after it, stores the
    // old body after the invalidation ran; the next GET is a HIT for it. commit() would
    // need to skip a response whose path was invalidated after its lead began.
    it('should not let a GET that started before the PUT store the old body after it', async () => {
      const gate = deferred();
      let read = false;
      const t = await catalogue({ invalidateUnsafe: false }, (app, data, cache) => {
        app.get('/slow/:id', (req, res) => {
          const seen = data.get(String(req.params.id));
          read = true;
          void gate.promise.then(() => res.send(`slow ${seen}`));
        });
        app.put(
          '/slow/:id',
          cache.invalidates((req) => ({ paths: [`/slow/${String(req.params.id)}`] })),
          (req, res) => {
            data.set(String(req.params.id), 'v2');
            res.send('put');
          },
        );
      });
      const early = send(t.url, '/slow/1');
      await until(() => read);
      expect((await send(t.url, '/slow/1', { method: 'PUT' })).text).toBe('put');
      gate.resolve();
      expect((await early).text).toBe('slow v1');
      expect((await send(t.url, '/slow/1')).text).toBe('slow v2');
    });

    it('should accept a fixed target and a target from (req, res)', async () => {
      const t = await catalogue({ invalidateUnsafe: false }, (app, data, cache) => {
        app.post('/reindex', cache.invalidates({ prefixes: ['/items/'] }), (_req, res) => {
          for (const k of data.keys()) data.set(k, 'v3');
          res.sendStatus(204);
        });
        app.patch(
          '/items/:id',
          cache.invalidates((_req, res) => ({ tags: [String(res.locals.tagToDrop)] })),
          (req, res) => {
            data.set(req.params.id, 'v2');
            res.locals.tagToDrop = `item:${req.params.id}`;
            res.send('patched');
          },
        );
      });
      await send(t.url, '/items/1');
      await send(t.url, '/items/2');
      await send(t.url, '/items/1', { method: 'PATCH' });
      expect([(await send(t.url, '/items/1')).text, (await send(t.url, '/items/2')).text]).toEqual(['item 1 v2', 'item 2 v1']);
      await send(t.url, '/reindex', { method: 'POST' });
      expect([(await send(t.url, '/items/1')).text, (await send(t.url, '/items/2')).text]).toEqual(['item 1 v3', 'item 2 v3']);
    });

    it('should refuse a target that is neither an object nor a function, at setup', () => {
      const cache = track(createCache());
      expect(() => cache.invalidates('/items' as never)).toThrow(TypeError);
    });
  });

  describe('when the handler calls res.locals.cache.invalidate()', () => {
    it('should invalidate when awaited before the answer', async () => {
      const t = await catalogue({ invalidateUnsafe: false }, (app, data) => {
        app.post('/items/:id/touch', async (req, res, next) => {
          try {
            data.set(req.params.id, 'v2');
            const n = await res.locals.cache!.invalidate({ paths: [`/items/${req.params.id}`] });
            res.send(`removed ${n}`);
          } catch (err) {
            next(err);
          }
        });
      });
      await send(t.url, '/items/1');
      expect((await send(t.url, '/items/1/touch', { method: 'POST' })).text).toBe('removed 1');
      expect((await send(t.url, '/items/1')).text).toBe('item 1 v2');
    });
  });

  describe('when invalidateUnsafe is on (the default)', () => {
    it('should not invalidate on a 4xx or 5xx answer', async () => {
      const t = await catalogue({}, (app) => {
        app.post('/items/:id', (_req, res) => res.status(422).send('no'));
        app.delete('/items/:id', (_req, res) => res.status(500).send('no'));
      });
      await send(t.url, '/items/1');
      await send(t.url, '/items/1', { method: 'POST' });
      await send(t.url, '/items/1', { method: 'DELETE' });
      expect(await t.xcache('/items/1')).toBe('HIT');
    });

    it('should not invalidate paths on another host named by Location', async () => {
      const t = await catalogue({}, (app) => app.post('/items', (_req, res) => res.location('http://other.example/items/2').status(201).send('created')));
      await send(t.url, '/items/2');
      await send(t.url, '/items', { method: 'POST' });
      expect(await t.xcache('/items/2')).toBe('HIT');
    });

    it.each(['POST', 'PUT', 'PATCH', 'DELETE'])('should invalidate every variant of the path a 2xx %s answered', async (method) => {
      const t = await catalogue({}, (app, data) =>
        app.all('/items/:id', (req, res, next) => {
          if (req.method === 'GET') return next();
          data.set(req.params.id, 'v2');
          res.send(`${req.method} done`);
        }),
      );
      await send(t.url, '/items/1');
      await send(t.url, '/items/1?view=full');
      const r = await send(t.url, '/items/1', { method });
      expect([r.status, r.text]).toEqual([200, `${method} done`]);
      expect([(await send(t.url, '/items/1')).text, (await send(t.url, '/items/1?view=full')).text]).toEqual(['item 1 v2', 'item 1 v2']);
    });

    it('should invalidate same-origin Location and Content-Location paths, relative or absolute', async () => {
      const t = await catalogue({}, (app) =>
        app.post('/items', (req, res) => {
          res.location('/items/2');
          res.set('Content-Location', `http://${req.headers.host}/items/3`);
          res.status(201).send('created');
        }),
      );
      for (const p of ['/items', '/items/2', '/items/3', '/items/4']) await send(t.url, p);
      await send(t.url, '/items', { method: 'POST' });
      expect([await t.xcache('/items'), await t.xcache('/items/2'), await t.xcache('/items/3'), await t.xcache('/items/4')]).toEqual([
        'MISS',
        'MISS',
        'MISS',
        'HIT',
      ]);
    });

    it.each([
      ['a Host with a port', { Host: 'shop.example:8080' }, false, 'https://shop.example/items/2', 'MISS'],
      ['an upper-case Location host', { Host: 'shop.example' }, false, 'http://SHOP.example:3000/items/2', 'MISS'],
      ['X-Forwarded-Host under trust proxy', { 'X-Forwarded-Host': 'shop.example' }, true, 'https://shop.example/items/2', 'MISS'],
      ['X-Forwarded-Host without trust proxy', { 'X-Forwarded-Host': 'shop.example' }, false, 'https://shop.example/items/2', 'HIT'],
      ['another host', { Host: 'shop.example:8080' }, false, 'https://shop.example.evil/items/2', 'HIT'],
      ['another host, forwarded', { 'X-Forwarded-Host': 'shop.example' }, true, 'https://127.0.0.1/items/2', 'HIT'],
    ])('should compare a Location to the host the app sees (§4.4, same origin): %s', async (_name, headers, trust, location, after) => {
      const t = await catalogue({}, (app) => {
        if (trust) app.set('trust proxy', true);
        app.post('/orders', (_req, res) => res.redirect(303, location));
      });
      await send(t.url, '/items/2');
      expect((await send(t.url, '/orders', { method: 'POST', headers })).status).toBe(303);
      expect(await t.xcache('/items/2')).toBe(after);
    });

    it('should invalidate on a 3xx answer (a 303 after a form POST)', async () => {
      const t = await catalogue({}, (app) => app.post('/items/:id', (req, res) => res.redirect(303, `/items/${req.params.id}`)));
      await send(t.url, '/items/1');
      await send(t.url, '/items/2');
      expect((await send(t.url, '/items/2', { method: 'POST' })).status).toBe(303);
      expect([await t.xcache('/items/1'), await t.xcache('/items/2')]).toEqual(['HIT', 'MISS']);
    });

    it('should do nothing with invalidateUnsafe: false', async () => {
      const t = await catalogue({ invalidateUnsafe: false }, (app) => app.post('/items/:id', (_req, res) => res.location('/items/2').send('ok')));
      await send(t.url, '/items/1');
      await send(t.url, '/items/2');
      await send(t.url, '/items/1', { method: 'POST' });
      expect([await t.xcache('/items/1'), await t.xcache('/items/2')]).toEqual(['HIT', 'HIT']);
    });
  });
});
