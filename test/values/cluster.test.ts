/**
 * The value cache on a real three-master Redis Cluster: the shared suite, getOrSet across
 * two instances, and one tag invalidation reaching a cached response and a value together
 * (their entries and the tag index sit in different slots).
 */
import express from 'express';
import { Cluster } from 'ioredis';
import { createCache } from '../../middleware';
import { ResponseCache } from '../../src/cache';
import { cleanPrefix, startCluster, type RunningCluster } from '../helpers/redis';
import { send as request, until } from '../helpers/http';
import { listen, uniqueNamespace, type Instance } from '../redis/instances';
import { countersSuite } from './counters-suite';
import { valuesSuite } from './suite';

let cluster: RunningCluster;
let client: Cluster;
const open: Array<{ close(): Promise<void> }> = [];

beforeAll(async () => {
  cluster = await startCluster();
  client = new Cluster([...cluster.nodes]);
  await new Promise<void>((resolve, reject) => {
    client.once('ready', () => resolve());
    client.once('error', reject);
  });
}, 60_000);
afterEach(async () => {
  for (const c of open.splice(0)) await c.close();
});
afterAll(async () => {
  await cleanPrefix(client, 'cache:');
  await cleanPrefix(client, 'l:');
  await client.quit();
  await cluster.stop();
});

// The caches share our Cluster client and never close it; each test has its own namespace.
valuesSuite('Cluster', async () => new ResponseCache({ redis: client, namespace: uniqueNamespace('values') }));
// Two instances: one on our client, one on a Cluster client of its own.
countersSuite(
  'Cluster',
  async () => new ResponseCache({ redis: client, namespace: uniqueNamespace('counters') }),
  async () => {
    const namespace = uniqueNamespace('counters-pair');
    const own = new Cluster([...cluster.nodes]);
    await new Promise<void>((resolve, reject) => {
      own.once('ready', () => resolve());
      own.once('error', reject);
    });
    const second = new ResponseCache({ redis: own, namespace, storeTimeout: 2000 });
    open.push({ close: () => own.quit().then(() => undefined) });
    return [new ResponseCache({ redis: client, namespace, storeTimeout: 2000 }), second];
  },
);

describe('values and responses on a Cluster', () => {
  it('should make one factory call for 40 concurrent getOrSet callers over two instances', async () => {
    const namespace = uniqueNamespace('pair');
    const [a, b] = [0, 1].map(() => {
      const c = new ResponseCache({ redis: client, namespace });
      open.push(c);
      return c.values<number>('totals');
    });
    let calls = 0;
    const factory = async () => {
      calls++;
      await new Promise((r) => setTimeout(r, 100));
      return 99;
    };
    const results = await Promise.all(Array.from({ length: 40 }, (_v, i) => (i % 2 ? b : a).getOrSet('sum', factory)));
    expect(calls).toBe(1);
    expect(results).toEqual(Array(40).fill(99));
  });

  it('should drop a tagged response and a tagged value with one invalidate({ tags }), counting 2', async () => {
    const cache = createCache({ redis: client, namespace: uniqueNamespace('tags'), jitter: 0 });
    const app = express();
    const origin = { calls: 0 };
    app.get('/users/:id', cache.middleware({ tags: (req) => [`user:${req.params.id}`] }), (req, res) => {
      origin.calls++;
      res.json({ id: req.params.id, name: 'Ada', call: origin.calls });
    });
    const i: Instance = await listen('A', app, cache);
    open.push(i);
    const users = cache.values<{ id: string; name: string }>('users');

    expect((await request(i.url, '/users/42')).xCache).toBe('MISS');
    expect((await request(i.url, '/users/43')).xCache).toBe('MISS');
    await until(() => cache.stats().stores === 2, 2000, 'responses stored');
    expect(await users.set('42', { id: '42', name: 'Ada' }, { tags: ['user:42'] })).toBe(true);
    expect(await users.set('43', { id: '43', name: 'Bob' }, { tags: ['user:43'] })).toBe(true);
    expect((await request(i.url, '/users/42')).xCache).toBe('HIT');

    expect(await cache.invalidate({ tags: ['user:42'] })).toBe(2);
    const after = await request(i.url, '/users/42');
    expect([after.xCache, JSON.parse(after.text).call]).toEqual(['MISS', 3]);
    await until(() => cache.stats().stores === 3, 2000, 'the response stored again');
    expect(await users.get('42')).toBeUndefined();
    // The other user's response and value are untouched.
    expect((await request(i.url, '/users/43')).xCache).toBe('HIT');
    expect(await users.get('43')).toEqual({ id: '43', name: 'Bob' });
    expect(await cache.invalidate({ tags: ['user:42'] })).toBe(1); // only the response re-stored just now
  });
});
