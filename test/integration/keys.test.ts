/**
 * Cache keys through real requests: which requests share an entry and which never do.
 */

import type { Express, RequestHandler } from 'express';
import request from 'supertest';
import { createCache, type QueryOption, type RequestCache } from '../../middleware';
import { keyHost } from '../../src/key';
import { forEachExpress, type ExpressFactory } from '../helpers/express';
import { closeAfterEach, send, serve, track } from '../helpers/http';

closeAfterEach();

/** The head of a built key for a request to `url` (the host part leaves its port out). */
function head(url: string): string {
  return `cache:v1:http:GET:http://${keyHost(new URL(url).hostname)}`;
}

/** Records res.locals.cache.key and .status of every finished request (mounted before the cache). */
function recorder(seen: Array<{ key: string; status: string }>): RequestHandler {
  return (_req, res, next) => {
    res.on('finish', () => {
      const c = res.locals.cache as RequestCache | undefined;
      seen.push({ key: c?.key ?? '', status: c?.status ?? '' });
    });
    next();
  };
}

/** An app whose handler echoes the raw query and the parsed one, counting its calls. */
function echoApp(express: ExpressFactory, setup?: (app: Express) => void) {
  const cache = track(createCache({ jitter: 0 }));
  const app = express();
  setup?.(app);
  const seen: Array<{ key: string; status: string }> = [];
  const calls = { n: 0 };
  app.use(recorder(seen));
  app.use(cache.middleware());
  app.get('/echo', (req, res) => {
    calls.n++;
    res.json({ url: req.originalUrl, query: req.query });
  });
  return { app, cache, seen, calls };
}

forEachExpress((express) => {
  describe('when HEAD and GET ask for the same URL', () => {
    it('should answer HEAD from the GET entry with its headers and no body', async () => {
      const { app, calls } = echoApp(express);
      const { url } = await serve(app);
      const get = await send(url, '/echo?a=1');
      const head = await send(url, '/echo?a=1', { method: 'HEAD' });
      expect(calls.n).toBe(1);
      expect(get.headers['x-cache']).toBe('MISS');
      expect(head.status).toBe(200);
      expect(head.headers['x-cache']).toBe('HIT');
      expect(head.headers['content-length']).toBe(String(get.body.length));
      expect(head.headers['content-type']).toBe('application/json; charset=utf-8');
      expect(head.headers.etag).toBe(get.headers.etag);
      expect(head.body.length).toBe(0);
    });

    it('should not store a HEAD answer, so the next GET reaches the handler', async () => {
      const { app, calls } = echoApp(express);
      const { url } = await serve(app);
      const head = await send(url, '/echo', { method: 'HEAD' });
      const get = await send(url, '/echo');
      const again = await send(url, '/echo');
      expect(head.headers['x-cache']).toBe('MISS');
      expect(get.headers['x-cache']).toBe('MISS');
      expect(again.headers['x-cache']).toBe('HIT');
      expect(calls.n).toBe(2);
    });
  });

  describe('when routers are mounted under prefixes', () => {
    function mounted(where: 'app' | 'router' | 'mount path') {
      const cache = track(createCache({ jitter: 0 }));
      const app = express();
      const calls: string[] = [];
      const router = express.Router();
      if (where === 'router') router.use(cache.middleware());
      router.get('/x', (req, res) => {
        calls.push(req.baseUrl + req.path);
        res.send(`x under ${req.baseUrl}`);
      });
      if (where === 'app') app.use(cache.middleware());
      if (where === 'mount path') app.use(['/api', '/other'], cache.middleware());
      app.use('/api', router);
      app.use('/other', router);
      return { app, calls };
    }

    it.each(['app', 'router', 'mount path'] as const)(
      'should key the full path with the cache mounted on the %s (/api/x and /other/x do not share)',
      async (where) => {
        const { app, calls } = mounted(where);
        const { url } = await serve(app);
        const a1 = await request(url).get('/api/x');
        const o1 = await request(url).get('/other/x');
        const a2 = await request(url).get('/api/x');
        const o2 = await request(url).get('/other/x');
        expect([a1.text, o1.text, a2.text, o2.text]).toEqual(['x under /api', 'x under /other', 'x under /api', 'x under /other']);
        expect([a2.headers['x-cache'], o2.headers['x-cache']]).toEqual(['HIT', 'HIT']);
        expect(calls).toEqual(['/api/x', '/other/x']);
      },
    );
  });

  describe('when the query string varies', () => {
    it('should share one entry between ?b=2&a=1 and ?a=1&b=2', async () => {
      const { app, calls, seen } = echoApp(express);
      const { url } = await serve(app);
      await request(url).get('/echo?b=2&a=1');
      const second = await request(url).get('/echo?a=1&b=2');
      expect(second.headers['x-cache']).toBe('HIT');
      expect(calls.n).toBe(1);
      expect(seen[0].key).toBe(head(url) + '/echo?a=1&b=2');
      expect(seen[1].key).toBe(seen[0].key);
    });

    it('should keep the values of a repeated name in order (?a=1&a=2 is not ?a=2&a=1)', async () => {
      const { app, calls } = echoApp(express);
      const { url } = await serve(app);
      const one = await request(url).get('/echo?a=1&a=2');
      const two = await request(url).get('/echo?a=2&a=1');
      expect(two.headers['x-cache']).toBe('MISS');
      expect(one.body.query).toEqual({ a: ['1', '2'] });
      expect(two.body.query).toEqual({ a: ['2', '1'] });
      expect(calls.n).toBe(2);
    });

    it('should key ?a[]=1&a=2 and ?a=2&a[]=1 apart, so each gets the req.query.a it parses to (issue 20)', async () => {
      const { app, calls } = echoApp(express);
      const { url } = await serve(app);
      const one = await request(url).get('/echo?a[]=1&a=2');
      const two = await request(url).get('/echo?a=2&a[]=1');
      const again = await request(url).get('/echo?a[]=1&a=2');
      expect([two.headers['x-cache'], again.headers['x-cache'], calls.n]).toEqual(['MISS', 'HIT', 2]);
      // Whatever the parser makes of each (Express 4's qs merges by base name), each answer is its own.
      expect(two.body.url).toBe('/echo?a=2&a[]=1');
      expect(again.body).toEqual(one.body);
    });

    it('should treat ?a and ?a= as one parameter, and + as a space', async () => {
      const { app, calls, seen } = echoApp(express);
      const { url } = await serve(app);
      await request(url).get('/echo?a');
      const b = await request(url).get('/echo?a=');
      await request(url).get('/echo?q=x+y');
      const d = await request(url).get('/echo?q=x%20y');
      expect([b.headers['x-cache'], d.headers['x-cache']]).toEqual(['HIT', 'HIT']);
      expect(calls.n).toBe(2);
      expect(seen.map((s) => s.key)).toEqual([...['/echo?a=', '/echo?a=', '/echo?q=x%20y', '/echo?q=x%20y'].map((k) => head(url) + k)]);
    });

    it('should not share between different values, nor between an encoded & and a separator', async () => {
      const { app, calls } = echoApp(express);
      const { url } = await serve(app);
      const a = await request(url).get('/echo?a=1&b=2');
      const b = await request(url).get('/echo?a=1%26b%3D2');
      const c = await request(url).get('/echo?a=2&b=2');
      expect([a.headers['x-cache'], b.headers['x-cache'], c.headers['x-cache']]).toEqual(['MISS', 'MISS', 'MISS']);
      expect(b.body.query).toEqual({ a: '1&b=2' });
      expect(calls.n).toBe(3);
    });
  });

  const PARSERS: Array<[string, unknown]> = [
    ['extended', 'extended'],
    ['simple', 'simple'],
    ['false', false],
    ['a custom function', (s: string) => ({ raw: s })],
  ];
  describe.each(PARSERS)('when the app sets "query parser" to %s', (_name, parser) => {
    it('should build the same keys, independent of the parser', async () => {
      const { app, calls, seen } = echoApp(express, (a) => a.set('query parser', parser));
      const { url } = await serve(app);
      const paths = ['/echo?b=2&a=1', '/echo?a=1&b=2', '/echo?a=1&a=2', '/echo?a=2&a=1', '/echo?a[x]=1', '/echo?a[y]=1', '/echo?a%5Bx%5D=1'];
      const replies = [];
      for (const p of paths) replies.push(await request(url).get(p));
      expect(replies.map((r) => r.headers['x-cache'])).toEqual(['MISS', 'HIT', 'MISS', 'MISS', 'MISS', 'MISS', 'HIT']);
      expect(calls.n).toBe(5);
      expect(seen.map((s) => s.key.slice((head(url) + '/echo').length))).toEqual([
        '?a=1&b=2',
        '?a=1&b=2',
        '?a=1&a=2',
        '?a=2&a=1',
        '?a%5Bx%5D=1',
        '?a%5By%5D=1',
        '?a%5Bx%5D=1',
      ]);
      // What the handler saw is the parser's business: the first answer for each key.
      if (parser === false) expect(replies[0].body.query).toEqual({});
      if (typeof parser === 'function') expect(replies[0].body.query).toEqual({ raw: 'b=2&a=1' });
      if (parser === 'extended') expect(replies[4].body.query).toEqual({ a: { x: '1' } });
    });
  });

  describe('when the vary option names request headers', () => {
    it('should key each value of the header apart, and an absent header apart from an empty one', async () => {
      const cache = track(createCache({ jitter: 0, vary: ['X-Tenant'] }));
      const app = express();
      let calls = 0;
      app.use(cache.middleware());
      app.get('/t', (req, res) => {
        calls++;
        res.send(`tenant ${String(req.headers['x-tenant'])}`);
      });
      const { url } = await serve(app);
      const a = await send(url, '/t', { headers: { 'X-Tenant': 'a' } });
      const b = await send(url, '/t', { headers: { 'X-Tenant': 'b' } });
      const none = await send(url, '/t');
      const empty = await send(url, '/t', { headers: { 'X-Tenant': '' } });
      const a2 = await send(url, '/t', { headers: { 'X-Tenant': 'a' } });
      expect([a.text, b.text, none.text, empty.text, a2.text]).toEqual(['tenant a', 'tenant b', 'tenant undefined', 'tenant ', 'tenant a']);
      expect(a2.headers['x-cache']).toBe('HIT');
      expect(calls).toBe(4);
    });
  });

  describe('when the query option filters names', () => {
    /** An app on /p under a cache with this query option; `calls()` counts handler runs. */
    async function pageApp(query: QueryOption): Promise<{ url: string; calls: () => number }> {
      const cache = track(createCache({ jitter: 0, query }));
      const app = express();
      let n = 0;
      app.use(cache.middleware());
      app.get('/p', (req, res) => {
        n++;
        res.send(`page ${String(req.query.page)}`);
      });
      const { url } = await serve(app);
      return { url, calls: () => n };
    }

    it('should leave ignored names (utm_*) out of the key', async () => {
      const { url, calls } = await pageApp({ ignore: ['utm_*', 'fbclid'] });
      const a = await request(url).get('/p?utm_source=x&page=1');
      const b = await request(url).get('/p?page=1&utm_medium=y&fbclid=z');
      const c = await request(url).get('/p?page=2&utm_source=x');
      expect([a.headers['x-cache'], b.headers['x-cache'], c.headers['x-cache']]).toEqual(['MISS', 'HIT', 'MISS']);
      expect(c.text).toBe('page 2');
      expect(calls()).toBe(2);
    });

    it('should keep only the listed names with { only }', async () => {
      const { url, calls } = await pageApp({ only: ['page'] });
      await request(url).get('/p?page=1&sort=asc');
      const b = await request(url).get('/p?sort=desc&page=1');
      const c = await request(url).get('/p?page=3');
      expect([b.headers['x-cache'], c.headers['x-cache']]).toEqual(['HIT', 'MISS']);
      expect(calls()).toBe(2);
    });
  });

  describe('when the query string is 10 kB long', () => {
    it('should answer, hash the key to at most 200 bytes, and not share it with a query that differs in its last byte', async () => {
      const { app, calls, seen } = echoApp(express);
      const { url } = await serve(app);
      const long = 'q=' + 'x'.repeat(10 * 1024);
      const a = await send(url, `/echo?${long}`);
      const b = await send(url, `/echo?${long}`);
      const c = await send(url, `/echo?${long.slice(0, -1)}y`);
      expect([a.status, b.status, c.status]).toEqual([200, 200, 200]);
      expect([a.headers['x-cache'], b.headers['x-cache'], c.headers['x-cache']]).toEqual(['MISS', 'HIT', 'MISS']);
      expect(JSON.parse(c.text).query.q.endsWith('xy')).toBe(true);
      expect(calls.n).toBe(2);
      for (const s of seen) expect(Buffer.byteLength(s.key)).toBeLessThanOrEqual(200);
      expect(seen[0].key.startsWith(head(url) + '/echo?q=xxx')).toBe(true);
      expect(seen[0].key).toMatch(/\?q=x+#[A-Za-z0-9_-]{32}$/);
      expect(seen[2].key).not.toBe(seen[0].key);
    });
  });

  describe('when a custom key function is given', () => {
    it('should key by it, still inside the namespace', async () => {
      const cache = track(createCache({ jitter: 0, key: (req) => String(req.headers['x-k']) }));
      const app = express();
      const seen: Array<{ key: string; status: string }> = [];
      let calls = 0;
      app.use(recorder(seen));
      app.use(cache.middleware());
      app.get(['/a', '/b'], (req, res) => {
        calls++;
        res.send(req.path);
      });
      const { url } = await serve(app);
      await send(url, '/a', { headers: { 'x-k': 'same' } });
      const b = await send(url, '/b', { headers: { 'x-k': 'same' } });
      expect(b.text).toBe('/a');
      expect(calls).toBe(1);
      expect(seen[0].key).toBe('cache:v1:http:k:same');
    });
  });
});
