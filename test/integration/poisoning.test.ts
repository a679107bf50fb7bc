/**
 * Cache poisoning through the key (issue 11): a request an attacker shapes must never fill
 * the entry another visitor reads. Host and X-Forwarded-Host, qs bracket names slipped past
 * `query.only`, custom keys that mimic hashed keys, and percent-encoded spellings of a path
 * dodging its invalidation.
 */

import type { Express, RequestHandler } from 'express';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import { forEachExpress, type ExpressFactory } from '../helpers/express';
import { closeAfterEach, send, serve, track } from '../helpers/http';

closeAfterEach();

/** Records res.locals.cache.key of every finished request (mounted before the cache). */
function recorder(keys: string[]): RequestHandler {
  return (_req, res, next) => {
    res.on('finish', () => keys.push(res.locals.cache?.key ?? ''));
    next();
  };
}

/** An app with one cache in front of `routes`; `calls()` counts handler runs. */
async function start(express: ExpressFactory, options: ExpressCacheOptions, routes: (app: Express, count: () => void) => void, setup?: (app: Express) => void) {
  const cache = track(createCache({ jitter: 0, ...options }));
  const app = express();
  setup?.(app);
  const keys: string[] = [];
  let n = 0;
  app.use(recorder(keys));
  app.use(cache.middleware());
  routes(app, () => n++);
  const { url } = await serve(app);
  return { url, keys, cache, calls: () => n };
}

/** A password-reset page that builds its absolute link from the Host the app sees. */
function resetPage(app: Express, count: () => void): void {
  app.get('/reset', (req, res) => {
    count();
    res.send(`<a href="${req.protocol}://${String(req.get('host'))}/reset/confirm">reset</a>`);
  });
  app.get('/canonical', (req, res) => {
    count();
    res.send(`<link rel="canonical" href="https://${String(req.hostname)}/canonical">`);
  });
}

forEachExpress((express, major) => {
  describe('when a request is sent with another Host', () => {
    it('should never serve the page built for Host: evil.example to Host: shop.example', async () => {
      const { url, calls } = await start(express, {}, resetPage);
      const evil = await send(url, '/reset', { headers: { Host: 'evil.example' } });
      const shop = await send(url, '/reset', { headers: { Host: 'shop.example' } });
      const again = await send(url, '/reset', { headers: { Host: 'shop.example' } });
      expect(evil.text).toBe('<a href="http://evil.example/reset/confirm">reset</a>');
      expect(shop.headers['x-cache']).toBe('MISS');
      expect(shop.text).toBe('<a href="http://shop.example/reset/confirm">reset</a>');
      expect([again.headers['x-cache'], again.text]).toEqual(['HIT', shop.text]);
      expect(calls()).toBe(2);
    });

    it('should treat the host case-insensitively (RFC 9110 §4.2.3) and key it lower-cased', async () => {
      const { url, calls, keys } = await start(express, {}, resetPage);
      await send(url, '/canonical', { headers: { Host: 'Shop.Example' } });
      const lower = await send(url, '/canonical', { headers: { Host: 'shop.example' } });
      expect([lower.headers['x-cache'], lower.text]).toEqual(['HIT', '<link rel="canonical" href="https://Shop.Example/canonical">']);
      expect(calls()).toBe(1);
      expect(keys).toEqual(['cache:v1:http:GET:http://shop.example/canonical', 'cache:v1:http:GET:http://shop.example/canonical']);
    });

    it('should key a request with no Host apart from every request that names one', async () => {
      const { url, calls, keys } = await start(express, {}, resetPage);
      // HTTP/1.0 lets a client leave Host out; Express then has no hostname.
      const none = await rawRequest(url, 'GET /canonical HTTP/1.0\r\n\r\n');
      const named = await send(url, '/canonical', { headers: { Host: 'shop.example' } });
      expect(none).toMatch(/^HTTP\/1\.1 200/);
      expect(none).toContain('href="https://undefined/canonical"');
      expect(named.headers['x-cache']).toBe('MISS');
      expect(named.text).toBe('<link rel="canonical" href="https://shop.example/canonical">');
      expect(calls()).toBe(2);
      expect(keys).toEqual(['cache:v1:http:GET:http:///canonical', 'cache:v1:http:GET:http://shop.example/canonical']);
    });

    it('should key the host as req.hostname reads it: without the port, IPv6 brackets kept', async () => {
      const { url, calls } = await start(express, {}, (app, count) =>
        app.get('/whoami', (req, res) => {
          count();
          res.send(req.hostname);
        }),
      );
      const cases: Array<[string, string]> = [
        ['shop.example:8080', 'shop.example'],
        ['[::1]:3000', '[::1]'],
        ['[::1]', '[::1]'],
        ['[::2]:80', '[::2]'],
      ];
      const seen = [];
      for (const [host, hostname] of cases) {
        const r = await send(url, '/whoami', { headers: { Host: host } });
        seen.push([r.text, r.headers['x-cache']]);
        expect(r.text).toBe(hostname);
      }
      expect(seen.map((s) => s[1])).toEqual(['MISS', 'MISS', 'HIT', 'MISS']);
      expect(calls()).toBe(3);
    });

    it('should not let a hostile Host reach another part of the key', async () => {
      const { url, keys } = await start(express, {}, resetPage);
      await send(url, '/canonical', { headers: { Host: 'a:b|c?d#e%zz' } });
      expect(keys[0].startsWith('cache:v1:http:GET:http://')).toBe(true);
      expect(keys[0].endsWith('/canonical')).toBe(true);
      const host = keys[0].slice('cache:v1:http:GET:http://'.length, -'/canonical'.length);
      expect(host).toMatch(/^[a-z0-9.%-]*$/);
    });
  });

  describe('when the app trusts a proxy', () => {
    const trusting = (app: Express) => app.set('trust proxy', true);

    it('should key X-Forwarded-Host, so a forwarded evil.example cannot fill shop.example', async () => {
      const { url, calls } = await start(express, {}, resetPage, trusting);
      const evil = await send(url, '/canonical', { headers: { 'X-Forwarded-Host': 'evil.example' } });
      const shop = await send(url, '/canonical', { headers: { 'X-Forwarded-Host': 'shop.example' } });
      const again = await send(url, '/canonical', { headers: { 'X-Forwarded-Host': 'shop.example, evil.example' } });
      expect(evil.text).toBe('<link rel="canonical" href="https://evil.example/canonical">');
      expect([shop.headers['x-cache'], shop.text]).toEqual(['MISS', '<link rel="canonical" href="https://shop.example/canonical">']);
      // Express reads the first of a list (the client-most proxy's), as the key does.
      expect([again.headers['x-cache'], again.text]).toEqual(['HIT', shop.text]);
      expect(calls()).toBe(2);
    });

    it('should ignore X-Forwarded-Host when the proxy is not trusted, as req.hostname does', async () => {
      const { url, calls } = await start(express, {}, resetPage);
      const a = await send(url, '/canonical', { headers: { Host: 'shop.example', 'X-Forwarded-Host': 'evil.example' } });
      const b = await send(url, '/canonical', { headers: { Host: 'shop.example' } });
      expect(a.text).toBe('<link rel="canonical" href="https://shop.example/canonical">');
      expect([b.headers['x-cache'], b.text]).toEqual(['HIT', a.text]);
      expect(calls()).toBe(1);
    });
  });

  describe('when tenants are picked by host', () => {
    it('should serve each tenant its own data, and hit per tenant', async () => {
      const data: Record<string, string> = { 'a.example': 'alpha orders', 'b.example': 'beta orders' };
      const { url, calls } = await start(express, {}, (app, count) =>
        app.get('/orders', (req, res) => {
          count();
          res.json({ tenant: req.hostname, orders: data[req.hostname] });
        }),
      );
      const replies = [];
      for (const host of ['a.example', 'b.example', 'a.example', 'b.example']) replies.push(await send(url, '/orders', { headers: { Host: host } }));
      expect(replies.map((r) => JSON.parse(r.text).orders)).toEqual(['alpha orders', 'beta orders', 'alpha orders', 'beta orders']);
      expect(replies.map((r) => r.headers['x-cache'])).toEqual(['MISS', 'MISS', 'HIT', 'HIT']);
      expect(calls()).toBe(2);
    });
  });

  describe('when a path is invalidated', () => {
    it("should drop that path's entries for every host (the index path holds no host)", async () => {
      const { url, cache, calls } = await start(express, {}, resetPage);
      for (const host of ['a.example', 'b.example']) await send(url, '/canonical', { headers: { Host: host } });
      expect(await cache.invalidate({ paths: ['/canonical'] })).toBe(2);
      const again = await send(url, '/canonical', { headers: { Host: 'b.example' } });
      expect([again.headers['x-cache'], again.text]).toEqual(['MISS', '<link rel="canonical" href="https://b.example/canonical">']);
      expect(calls()).toBe(3);
    });
  });

  describe('when host is false', () => {
    it('should share one entry between hosts', async () => {
      const { url, calls, keys } = await start(express, { host: false }, resetPage);
      const a = await send(url, '/canonical', { headers: { Host: 'www.shop.example' } });
      const b = await send(url, '/canonical', { headers: { Host: 'shop.example' } });
      expect([b.headers['x-cache'], b.text]).toEqual(['HIT', a.text]);
      expect(calls()).toBe(1);
      expect(keys[0]).toBe('cache:v1:http:GET:/canonical');
    });

    it('should reject a host option that is not a boolean, naming it', () => {
      expect(() => createCache({ host: 'yes' as unknown as boolean })).toThrow(new TypeError('createCache: host must be true or false, got "yes"'));
      const cache = track(createCache());
      expect(() => cache.middleware({ host: 1 as unknown as boolean })).toThrow(new TypeError('cache.middleware: host must be true or false, got 1'));
    });

    it('should be settable per route', async () => {
      const cache = track(createCache({ jitter: 0 }));
      const app = express();
      let n = 0;
      app.get('/shared', cache.middleware({ host: false }), (_req, res) => {
        n++;
        res.send('same for all');
      });
      const { url } = await serve(app);
      await send(url, '/shared', { headers: { Host: 'a.example' } });
      const b = await send(url, '/shared', { headers: { Host: 'b.example' } });
      expect([b.headers['x-cache'], n]).toEqual(['HIT', 1]);
    });
  });

  describe(`when qs reads bracketed names as their base name (express ${major})`, () => {
    // Express 4's default query parser is qs ('extended'); Express 5's is 'simple'.
    const extended = (app: Express) => {
      if (major === 5) app.set('query parser', 'extended');
    };
    const list = (app: Express, count: () => void) =>
      app.get('/list', (req, res) => {
        count();
        res.json({ page: req.query.page ?? null });
      });

    it.each(['page[]=666', 'page[0]=666', 'page[x]=666', 'page[a][b]=666', '[page]=666', 'page%5B%5D=666'])(
      'should keep %s in the key under only: [page], so the victim never gets its body',
      async (attack) => {
        const { url, calls } = await start(express, { query: { only: ['page'] } }, list, extended);
        const poisoned = await send(url, `/list?${attack}`);
        const victim = await send(url, '/list');
        expect(JSON.parse(poisoned.text).page).not.toBeNull();
        expect(victim.headers['x-cache']).toBe('MISS');
        expect(JSON.parse(victim.text)).toEqual({ page: null });
        expect(calls()).toBe(2);
      },
    );

    it('should keep ?page=1 and ?page[]=1 apart, and share ?page=1&utm=x with ?page=1', async () => {
      const { url, calls } = await start(express, { query: { only: ['page'] } }, list, extended);
      const a = await send(url, '/list?page=1');
      const b = await send(url, '/list?page[]=1');
      const c = await send(url, '/list?utm=x&page=1');
      expect(JSON.parse(a.text)).toEqual({ page: '1' });
      expect(JSON.parse(b.text)).toEqual({ page: ['1'] });
      expect([b.headers['x-cache'], c.headers['x-cache']]).toEqual(['MISS', 'HIT']);
      expect(calls()).toBe(2);
    });

    it('should leave page[] out of the key under ignore: [page], as it does page', async () => {
      const { url, calls } = await start(express, { query: { ignore: ['page'] } }, list, extended);
      await send(url, '/list?page=1');
      const b = await send(url, '/list?page[]=2');
      const c = await send(url, '/list?page[0]=3');
      expect([b.headers['x-cache'], c.headers['x-cache']]).toEqual(['HIT', 'HIT']);
      expect(calls()).toBe(1);
    });
  });

  describe('when a custom key function returns attacker-shaped strings', () => {
    it("should never let an output take the slot of a long output's hashed key", async () => {
      const { url, calls, keys } = await start(express, { key: (req) => String(req.get('x-k')) }, (app, count) =>
        app.get('/c', (req, res) => {
          count();
          res.send(`for ${String(req.get('x-k')).slice(0, 10)}`);
        }),
      );
      const long = 'a'.repeat(300);
      await send(url, '/c', { headers: { 'x-k': long } });
      expect(keys[0]).toMatch(/#[A-Za-z0-9_-]{32}$/);
      // The hashed key, minus the namespace and the `k:` mark, as the custom output.
      const mimic = keys[0].slice('cache:v1:http:k:'.length);
      const b = await send(url, '/c', { headers: { 'x-k': mimic } });
      expect(b.headers['x-cache']).toBe('MISS');
      expect(b.text).toBe(`for ${mimic.slice(0, 10)}`);
      expect(keys[1]).not.toBe(keys[0]);
      expect(calls()).toBe(2);
    });

    it.each(['GET:127.0.0.1:/c', 'x#y', 'a|v|b', 'q?x=1', '50%', '%41'])('should encode %s so that it meets no built key', async (output) => {
      const cache = track(createCache({ jitter: 0 }));
      const app = express();
      const keys: string[] = [];
      let n = 0;
      app.use(recorder(keys));
      app.get('/c', cache.middleware(), (_req, res) => {
        n++;
        res.send('built');
      });
      app.get('/custom', cache.middleware({ key: () => output }), (_req, res) => {
        n++;
        res.send('custom');
      });
      const { url } = await serve(app);
      const built = await send(url, '/c');
      const custom = await send(url, '/custom');
      expect([built.text, custom.text]).toEqual(['built', 'custom']);
      expect(custom.headers['x-cache']).toBe('MISS');
      expect(keys[1]).toBe(`cache:v1:http:k:${encodeURIComponent(output)}`);
      expect(n).toBe(2);
    });
  });

  describe('when a path is spelled with percent-encoded unreserved characters', () => {
    function products(app: Express, count: () => void): void {
      const rows: Record<string, number> = { '42': 1 };
      app.get('/products/:id', (req, res) => {
        count();
        res.json({ id: req.params.id, version: rows[req.params.id] ?? 0 });
      });
      app.put('/products/:id', (req, res) => {
        rows[req.params.id] = (rows[req.params.id] ?? 0) + 1;
        res.sendStatus(204);
      });
    }

    it('should drop /products/%34%32 after a PUT to /products/42 (RFC 3986 §6.2.2.2)', async () => {
      const { url } = await start(express, {}, products);
      const old = await send(url, '/products/%34%32');
      const hit = await send(url, '/products/%34%32');
      expect([JSON.parse(old.text), hit.headers['x-cache']]).toEqual([{ id: '42', version: 1 }, 'HIT']);
      expect((await send(url, '/products/42', { method: 'PUT' })).status).toBe(204);
      const after = await send(url, '/products/%34%32');
      expect(after.headers['x-cache']).toBe('MISS');
      expect(JSON.parse(after.text)).toEqual({ id: '42', version: 2 });
    });

    it('should drop it through cache.invalidate({ paths }) and ({ prefixes }) too', async () => {
      const { url, cache } = await start(express, {}, products);
      await send(url, '/products/%34%32');
      await send(url, '/products/%7E42');
      expect(await cache.invalidate({ paths: ['/products/42'] })).toBe(1);
      expect(await cache.invalidate({ prefixes: ['/products/~'] })).toBe(1);
      expect((await send(url, '/products/%34%32')).headers['x-cache']).toBe('MISS');
    });

    it('should keep the keys apart: a literal route /a does not answer /%61 (Express matches the raw path)', async () => {
      const { url, calls } = await start(express, {}, (app, count) => {
        app.get('/a', (_req, res) => {
          count();
          res.set('Cache-Control', 'max-age=60').send('the a page');
        });
        app.use((_req, res) => {
          count();
          res.status(404).set('Cache-Control', 'max-age=60').send('not found');
        });
      });
      const miss = await send(url, '/%61');
      const a = await send(url, '/a');
      expect([miss.status, a.status, a.text]).toEqual([404, 200, 'the a page']);
      expect(calls()).toBe(2);
    });
  });
});

/** Raw bytes over a socket (for requests supertest and http.request cannot make, e.g. no Host). */
async function rawRequest(base: string, text: string): Promise<string> {
  const net = await import('node:net');
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () => socket.end(text));
    const chunks: Buffer[] = [];
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', reject);
    socket.on('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}
