/**
 * Issue 9 on a real three-master Redis Cluster, 1 ms from the app: every node is reached
 * through its own TCP proxy (ioredis `natMap` maps the addresses the Cluster announces to
 * the proxies). An entry, its index record and the invalidation records of its path and
 * tags sit in different slots, so the guard's steps run on different nodes.
 */

import { Cluster } from 'ioredis';
import { createCache, TieredStore, type ExpressCacheOptions } from '../../middleware';
import { engineOf } from '../../src/cache';
import { clusterSubscribers } from '../../src/stores/redis-acks';
import { EXPRESSES, forEachExpress, type ExpressFactory } from '../helpers/express';
import { cleanPrefix, startCluster, type RunningCluster } from '../helpers/redis';
import { startTcpProxy, type TcpProxy } from '../helpers/tcp-proxy';
import { listen, sleep, until, uniqueNamespace, type Instance } from '../redis/instances';
import { Calls, getItem, itemsApp, latch, raceAfterPut, Reads, Rows, sequences, type ItemsApp } from './model';

let cluster: RunningCluster;
let proxies: TcpProxy[] = [];
/** Straight to the nodes. */
let direct: Cluster;
/** Through the proxies, 1 ms each way. */
let slow: Cluster;
const open: Instance[] = [];
const figures: string[] = [];

function ready(c: Cluster): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    c.once('ready', () => resolve());
    c.once('error', reject);
  });
}

beforeAll(async () => {
  cluster = await startCluster();
  proxies = await Promise.all(cluster.nodes.map((n) => startTcpProxy(n.port, { delayMs: 1 })));
  const natMap = Object.fromEntries(cluster.nodes.map((n, i) => [`${n.host}:${n.port}`, { host: '127.0.0.1', port: proxies[i].port }]));
  direct = new Cluster([...cluster.nodes]);
  slow = new Cluster([{ host: '127.0.0.1', port: proxies[0].port }], { natMap });
  await Promise.all([ready(direct), ready(slow)]);
  // Every master the slow client talks to is one of the proxies, never a node itself.
  const ports = slow.nodes('master').map((n) => n.options.port);
  if (ports.length !== 3 || !ports.every((p) => proxies.some((x) => x.port === p))) throw new Error(`natMap not applied: ${ports.join(', ')}`);
}, 60_000);
afterEach(async () => {
  for (const i of open.splice(0)) await i.close();
});
afterAll(async () => {
  if (figures.length) console.log(`write-traffic/cluster.test onError:\n  ${figures.join('\n  ')}`);
  await cleanPrefix(direct, 'cache:');
  await cleanPrefix(direct, 'l:');
  await slow.quit();
  await direct.quit();
  for (const p of proxies) await p.close();
  await cluster.stop();
});

interface World {
  readonly rows: Rows;
  readonly calls: Calls;
  readonly namespace: string;
}

async function instance(
  express: ExpressFactory,
  name: string,
  w: World,
  client: Cluster,
  spec: Partial<ItemsApp> = {},
  options: ExpressCacheOptions = {},
): Promise<Instance> {
  // The caches share the file's Cluster clients and never close them.
  const cache = createCache({
    redis: client,
    namespace: w.namespace,
    jitter: 0,
    ttl: 60,
    storeTimeout: 1000,
    onError: (err) => figures.push(`${name} ${err.code} ${err.message}`),
    ...options,
  });
  const i = await listen(name, itemsApp(express, { name, cache, rows: w.rows, calls: w.calls, ...spec }), cache);
  open.push(i);
  return i;
}

function world(): World {
  return { rows: new Rows(), calls: new Calls(), namespace: uniqueNamespace('cluster-writes') };
}

forEachExpress((express) => {
  describe('when a client GETs, PUTs, then GETs again on a Cluster, 1 ms away', () => {
    const variants: Array<[string, Partial<ItemsApp>, ((n: number) => Record<string, string>) | undefined, ExpressCacheOptions]> = [
      ['only invalidates({ tags })', { target: 'tags' }, undefined, { invalidateUnsafe: false }],
      ['only invalidates({ paths })', { target: 'paths' }, undefined, { invalidateUnsafe: false }],
      ['only invalidates({ prefixes })', { target: 'prefixes' }, undefined, { invalidateUnsafe: false }],
      ['a Vary: Accept-Language response', { vary: true }, (n) => ({ 'Accept-Language': n % 2 ? 'fr' : 'en' }), {}],
      ['tiered: true', {}, undefined, { tiered: true }],
    ];

    it.each(variants)('should show the new version after the PUT in 20 of 20 sequences (%s)', async (_label, spec, headers, options) => {
      const w = world();
      const reads = new Reads();
      const a = await instance(express, 'A', w, slow, { delay: () => 8, ...spec, onRead: reads.saw }, options);
      expect(await sequences(a, reads, headers)).toEqual([]);
      expect(w.calls.total).toBeGreaterThanOrEqual(40);
      expect(w.calls.total).toBeLessThanOrEqual(60);
      expect(a.cache.stats().hits).toBeGreaterThan(0);
    });
  });

  describe('when two instances race on a Cluster: a slow GET on B read before a PUT on A', () => {
    it("should answer every GET sent after the PUT with the new version, and never serve B's old entry", async () => {
      const w = world();
      let slowB = false;
      let read = latch();
      const a = await instance(express, 'A', w, direct);
      const b = await instance(express, 'B', w, slow, {
        delay: (_id, name) => (name === 'B' && slowB ? ((slowB = false), 50) : 3),
        onRead: (_id, _v, name) => name === 'B' && read.open(),
      });
      const wrong = await raceAfterPut(a, b, 3, () => {
        slowB = true;
        read = latch();
        return read.wait;
      });
      expect(wrong).toEqual([]);
      expect(a.cache.stats().hits + b.cache.stats().hits).toBeGreaterThan(0);
    });
  });
});

describe("when a plain instance invalidates on a Cluster and a tiered instance's link is slow (250 ms each way)", () => {
  // A Cluster's PUBLISH counts one node's subscribers: the plain store counts every node's
  // (PUBSUB NUMSUB) so it waits for B's acknowledgement wherever B's subscriber sits.
  it("should resolve A's invalidate() only once B's tier dropped its copy", async () => {
    const w = world();
    const [, express] = EXPRESSES[0];
    const a = await instance(express, 'A', w, direct);
    const b = await instance(express, 'B', w, slow, {}, { tiered: true });
    const tier = engineOf(b.cache).store as TieredStore;
    try {
      await until(() => tier.coherent, 5000, 'tier up');
      // Who owes an acknowledgement, counted over every node: B's subscriber only (a plain instance does not subscribe).
      expect(await clusterSubscribers(direct, 'express-response-cache:invalidate')).toBe(1);
      expect((await getItem(b.url, 'c')).reply.xCache).toBe('MISS');
      await until(() => tier.memory.size > 0, 3000, 'copy kept');
      expect((await getItem(b.url, 'c')).reply.xCache).toBe('HIT');
      for (const p of proxies) p.delayMs = 250;
      await sleep(700);
      expect(tier.coherent).toBe(true);
      expect(tier.memory.size).toBeGreaterThan(0);
      const started = performance.now();
      const removed = await a.cache.invalidate({ tags: ['item:c'] });
      const ms = performance.now() - started;
      figures.push(`plain A, tiered B 250 ms away on a Cluster: invalidate() resolved in ${ms.toFixed(0)} ms`);
      expect({ removed, copies: tier.memory.size }).toEqual({ removed: 1, copies: 0 });
    } finally {
      for (const p of proxies) p.delayMs = 1;
    }
  });
});
