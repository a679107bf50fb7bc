/**
 * Two app instances on one real Redis (two createCache, same namespace): what one stores,
 * the other serves byte for byte; what one invalidates, the other no longer serves; and
 * what lands in Redis is raw bytes with indexes that expire.
 */

import { engineOf } from '../../src/cache';
import { ENTRY_VERSION } from '../../src/entry';
import { Redis } from 'ioredis';
import { performance } from 'node:perf_hooks';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import { forEachExpress, type ExpressFactory } from '../helpers/express';
import { allBytes } from '../helpers/http';
import { scanKeys } from '../helpers/redis';
import { heldLocks, listen, request, sleep, until, uniqueNamespace, useRedis, type Instance } from './instances';

const fx = useRedis('shared.test');
/** What onError heard in the current test: nothing, on a healthy Redis. */
const errors: string[] = [];
afterEach(() => {
  expect(errors.splice(0)).toEqual([]);
});

/** What the handlers of both instances share: calls reach "the database" once per miss. */
interface Origin {
  calls: number;
  version: number;
  /** res.locals.cache.key of the last miss of /items/:id, for invalidate({ keys }). */
  lastKey: string;
}

forEachExpress((express: ExpressFactory) => {
  /** Two instances, A and B, on one namespace of one Redis. */
  async function pair(options: ExpressCacheOptions = {}): Promise<{ a: Instance; b: Instance; origin: Origin; namespace: string }> {
    const namespace = uniqueNamespace('shared');
    const origin: Origin = { calls: 0, version: 1, lastKey: '' };
    const make = async (name: string): Promise<Instance> => {
      const onError = (err: Error & { code?: string }) => errors.push(`${name}: ${err.code} ${err.message}`);
      // storeTimeout 2 s: these tests count handler calls across instances; a 100 ms cut on a
      // loaded CI machine would turn a slow Redis reply into a bypass and an extra call.
      const cache = createCache({ redis: fx.redis.url, namespace, jitter: 0, ttl: 60, storeTimeout: 2000, onError, ...options });
      const app = express();
      app.use(cache.middleware());
      app.get('/items/:id', (req, res) => {
        origin.calls++;
        origin.lastKey = res.locals.cache!.key;
        res.locals.cache!.tag(`item:${req.params.id}`);
        res.json({ id: req.params.id, version: origin.version, from: name });
      });
      app.put(
        '/items/:id',
        cache.invalidates((req) => ({ tags: [`item:${req.params.id}`] })),
        (_req, res) => {
          origin.version++;
          res.sendStatus(204);
        },
      );
      app.get('/bin', (_req, res) => {
        origin.calls++;
        res.type('application/octet-stream').send(allBytes(8));
      });
      app.get('/greeting', (req, res) => {
        origin.calls++;
        const lang = String(req.headers['accept-language'] ?? 'en');
        res
          .vary('Accept-Language')
          .type('text/plain')
          .send(lang.startsWith('fr') ? 'bonjour' : lang.startsWith('de') ? 'hallo' : 'hello');
      });
      const i = await listen(name, app, cache);
      fx.open.push(i);
      return i;
    };
    return { a: await make('A'), b: await make('B'), origin, namespace };
  }

  /**
   * The store write (and the lock's release) follows the response: wait for both before
   * asking the other instance, so it reads the entry instead of waiting on the lock.
   */
  async function stored(i: Instance, n: number): Promise<void> {
    await until(() => i.cache.stats().stores >= n, 2000, `${i.name} stored ${n}`);
    const namespace = engineOf(i.cache).options.namespace;
    await until(async () => (await heldLocks(fx.admin, namespace)).length === 0, 2000, 'locks released');
  }

  describe('when one instance stores a response', () => {
    it('should serve it from the other with the same bytes and ETag, one handler call in all', async () => {
      const { a, b, origin } = await pair();
      const miss = await request(a.url, '/items/1');
      expect(miss.xCache).toBe('MISS');
      await stored(a, 1);
      const hit = await request(b.url, '/items/1');
      expect(hit.xCache).toBe('HIT');
      expect(hit.status).toBe(200);
      expect(hit.body.equals(miss.body)).toBe(true);
      expect(JSON.parse(hit.text)).toEqual({ id: '1', version: 1, from: 'A' });
      expect(hit.headers.etag).toBeDefined();
      expect(hit.headers.etag).toBe(miss.headers.etag);
      expect(hit.headers['content-type']).toBe(miss.headers['content-type']);
      // B answers A's ETag with a 304 from the shared entry.
      const conditional = await request(b.url, '/items/1', { headers: { 'If-None-Match': String(miss.headers.etag) } });
      expect(conditional.status).toBe(304);
      expect(conditional.body.length).toBe(0);
      expect(origin.calls).toBe(1);
      expect(a.cache.stats()).toMatchObject({ misses: 1, hits: 0, stores: 1 });
      expect(b.cache.stats()).toMatchObject({ misses: 0, hits: 2, stores: 0 });
    });

    it('should keep one entry per Accept-Language across instances', async () => {
      const { a, b, origin } = await pair();
      const en = await request(a.url, '/greeting', { headers: { 'Accept-Language': 'en' } });
      // Not before A's lock is released: see single-flight.test, "another variant".
      await stored(a, 1);
      const fr = await request(b.url, '/greeting', { headers: { 'Accept-Language': 'fr' } });
      expect([en.xCache, en.text, fr.xCache, fr.text]).toEqual(['MISS', 'hello', 'MISS', 'bonjour']);
      await stored(b, 1);
      const answers = await Promise.all([
        request(b.url, '/greeting', { headers: { 'Accept-Language': 'en' } }),
        request(a.url, '/greeting', { headers: { 'Accept-Language': 'fr' } }),
      ]);
      expect(answers.map((r) => [r.xCache, r.text])).toEqual([
        ['HIT', 'hello'],
        ['HIT', 'bonjour'],
      ]);
      expect(answers[0]!.headers.vary).toBe('Accept-Language');
      const de = await request(b.url, '/greeting', { headers: { 'Accept-Language': 'de' } });
      expect([de.xCache, de.text]).toEqual(['MISS', 'hallo']);
      expect(origin.calls).toBe(3);
      await stored(b, 2); // see 'when an instance shuts down' for what happens otherwise
    });
  });

  describe('when one instance invalidates', () => {
    // Each case: what A invalidates, and how many entries that removes (of /items/1 and /items/2).
    const cases: Array<[string, (key1: string) => Parameters<Instance['cache']['invalidate']>[0], number, boolean]> = [
      ['a path', () => ({ paths: ['/items/1'] }), 1, true],
      ['a prefix', () => ({ prefixes: ['/items/'] }), 2, false],
      ['a tag', () => ({ tags: ['item:1'] }), 1, true],
      ['a key', (key1) => ({ keys: [key1] }), 1, true],
    ];

    it.each(cases)('should make the other instance miss after invalidating by %s, counting exactly', async (label, target, count, keepsOther) => {
      const { a, b, origin } = await pair();
      await request(a.url, '/items/1');
      const key1 = origin.lastKey;
      await request(a.url, '/items/2');
      await stored(a, 2);
      expect((await request(b.url, '/items/1')).xCache).toBe('HIT');
      origin.version = 2;

      const started = performance.now();
      expect(await a.cache.invalidate(target(key1))).toBe(count);
      const invalidated = performance.now() - started;
      const after = await request(b.url, '/items/1');
      const seen = performance.now() - started;
      fx.figures.push(`invalidate by ${label} on A: resolved in ${invalidated.toFixed(1)} ms; B's next GET (a MISS) done ${seen.toFixed(1)} ms after the call`);
      expect(after.xCache).toBe('MISS');
      expect(JSON.parse(after.text)).toMatchObject({ version: 2 });
      const other = await request(b.url, '/items/2');
      expect(other.xCache).toBe(keepsOther ? 'HIT' : 'MISS');
      expect(JSON.parse(other.text)).toMatchObject({ version: keepsOther ? 1 : 2 });
      // Nothing left to remove: a second invalidation counts 0.
      expect(await b.cache.invalidate({ keys: [`${key1}-none`] })).toBe(0);
      expect(a.cache.stats().invalidations).toBe(count);
    });

    it('should let a PUT through invalidates() on A make B serve the new data next', async () => {
      const { a, b, origin } = await pair();
      await request(a.url, '/items/7');
      await stored(a, 1);
      expect(JSON.parse((await request(b.url, '/items/7')).text)).toMatchObject({ version: 1 });
      const put = await request(a.url, '/items/7', { method: 'PUT' });
      expect(put.status).toBe(204);
      // No wait: the invalidation finished before the 204 was sent.
      const next = await request(b.url, '/items/7');
      expect(next.xCache).toBe('MISS');
      expect(JSON.parse(next.text)).toEqual({ id: '7', version: 2, from: 'B' });
      expect(origin.calls).toBe(2);
    });
  });

  describe('when looking inside Redis', () => {
    it('should keep the body as raw bytes under the e:{…} key, not base64 or JSON', async () => {
      const { a, b, namespace } = await pair();
      const body = allBytes(8);
      const miss = await request(a.url, '/bin');
      expect(miss.body.equals(body)).toBe(true);
      await stored(a, 1);
      const keys = await scanKeys(fx.admin, `e:{cache:v1:${namespace}:*`);
      expect(keys).toEqual([`e:{cache:v1:${namespace}:GET:http://127.0.0.1/bin}`]);
      const bytes = (await fx.admin.getBuffer(keys[0]!))!;
      expect(bytes[0]).toBe(0xe1); // live (the guard's state byte), then the writer's token
      expect(bytes[9]).toBe(ENTRY_VERSION); // codec version
      // The body is the tail of the entry, verbatim.
      expect(bytes.length).toBeLessThan(body.length + 1024);
      expect(bytes.subarray(bytes.length - body.length).equals(body)).toBe(true);
      expect(bytes.includes(Buffer.from(body.toString('base64').slice(0, 64)))).toBe(false);
      expect(bytes.includes(Buffer.from('"type":"Buffer"'))).toBe(false);
      expect(bytes.includes(Buffer.from(JSON.stringify([...body.subarray(0, 16)]).slice(1, -1)))).toBe(false);
      const hit = await request(b.url, '/bin');
      expect(hit.xCache).toBe('HIT');
      expect(hit.body.equals(body)).toBe(true);
    });

    it('should give every key it wrote a TTL, and leave no lock behind', async () => {
      const { a, namespace } = await pair({ ttl: 30 });
      await request(a.url, '/items/1');
      await request(a.url, '/greeting', { headers: { 'Accept-Language': 'fr' } });
      await stored(a, 2);
      const all = await scanKeys(fx.admin, `*{*${namespace}*`);
      const kinds = all.map((k) => k.slice(0, 2)).sort();
      // Entries: /items/1, the /greeting marker and its fr variant; indexes: two paths, the
      // marker's own (it is filed under its key, so invalidation counts responses only), and
      // one tag.
      expect(kinds).toEqual(['e:', 'e:', 'e:', 'p:', 'p:', 'p:', 't:']);
      for (const key of all) {
        const pttl = await fx.admin.pttl(key);
        expect({ key, positive: pttl > 0 }).toEqual({ key, positive: true });
        // Twice the ttl at most: an entry with the handler's own ETag is kept as long again, to be revalidated.
        expect(pttl).toBeLessThanOrEqual(60_000);
      }
      expect(await scanKeys(fx.admin, `l:{*${namespace}*`)).toEqual([]);
    });
  });

  describe('when an instance shuts down right after a miss', () => {
    // close() drains the store calls in flight (the miss's write, its unlock) before closing the store.
    it('should let the write and the lock release in flight finish before closing', async () => {
      const { a, namespace } = await pair();
      const miss = await request(a.url, '/greeting', { headers: { 'Accept-Language': 'fr' } });
      expect(miss.xCache).toBe('MISS');
      await a.close();
      await sleep(50); // failures of what was still in flight are reported after close() resolved
      const reported = errors.splice(0);
      expect(await heldLocks(fx.admin, namespace)).toEqual([]);
      expect(reported).toEqual([]);
    });
  });

  describe('when given an ioredis client', () => {
    it('should share entries through it and leave it connected after close()', async () => {
      const { a, namespace } = await pair();
      await request(a.url, '/items/3');
      await stored(a, 1);
      const client = new Redis(fx.redis.url);
      try {
        const cache = createCache({ redis: client, namespace, jitter: 0 });
        const app = express();
        app.use(cache.middleware());
        app.get('/items/:id', (_req, res) => res.json({ unexpected: true }));
        const c = await listen('C', app, cache);
        const hit = await request(c.url, '/items/3');
        expect([hit.xCache, JSON.parse(hit.text).from]).toEqual(['HIT', 'A']);
        await c.close();
        expect(client.status).toBe('ready');
        expect(await client.ping()).toBe('PONG');
      } finally {
        await client.quit();
      }
    });
  });
});
