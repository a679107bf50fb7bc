/**
 * The memory tier in front of Redis: memory hits send nothing to Redis, and an
 * invalidation on one instance reaches every other instance's memory within milliseconds.
 */
import { engineOf } from '../../src/cache';
import express from 'express';
import Redis from 'ioredis';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createCache, type ExpressResponseCache } from '../../middleware';
import type { TieredStore } from '../../src/stores/tiered';
import { cleanPrefix, startRedis, type RunningRedis } from '../helpers/redis';
import { sleep, until } from '../helpers/wait';

interface Instance {
  cache: ExpressResponseCache;
  server: Server;
  url: string;
  version: () => number;
}

describe('TieredStore on a real Redis', () => {
  let redis: RunningRedis;
  let admin: Redis;
  const namespace = `tiered-${process.pid}`;
  const instances: Instance[] = [];
  let version = 1;

  async function instance(): Promise<Instance> {
    // storeTimeout 2 s: a 100 ms cut on a loaded CI machine would be a bypass, not what is tested.
    const cache = createCache({ redis: redis.url, tiered: true, namespace, jitter: 0, ttl: 60, storeTimeout: 2000 });
    const app = express();
    app.use(cache.middleware());
    app.get('/item', (_req, res) => res.json({ version }));
    app.put('/item', cache.invalidates({ paths: ['/item'] }), (_req, res) => {
      version++;
      res.sendStatus(204);
    });
    const server = app.listen(0, '127.0.0.1');
    await new Promise((r) => server.once('listening', r));
    const i = { cache, server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, version: () => version };
    instances.push(i);
    await until(() => (engineOf(cache).store as TieredStore).coherent);
    return i;
  }

  const get = async (i: Instance) => {
    const r = await fetch(`${i.url}/item`);
    return { cache: r.headers.get('x-cache'), body: (await r.json()) as { version: number } };
  };

  /** Commands Redis processed, but the heartbeats' PUBLISH (and our own INFO) that run on their own timer. */
  async function commands(): Promise<number> {
    const info = await admin.info('commandstats');
    let n = 0;
    for (const m of info.matchAll(/cmdstat_(\w+):calls=(\d+)/g)) if (m[1] !== 'publish' && m[1] !== 'info') n += Number(m[2]);
    return n;
  }

  beforeAll(async () => {
    redis = await startRedis();
    admin = new Redis(redis.url);
  });
  afterEach(async () => {
    for (const i of instances.splice(0)) {
      await new Promise((r) => i.server.close(r));
      await i.cache.close();
    }
    await cleanPrefix(admin, 'cache:');
  });
  afterAll(async () => {
    admin.disconnect();
    await redis.stop();
  });

  it('should refuse tiered without redis', () => {
    expect(() => createCache({ tiered: true })).toThrow('tiered needs redis');
  });

  it('should answer memory hits without sending Redis a command', async () => {
    const a = await instance();
    expect((await get(a)).cache).toBe('MISS');
    await sleep(50); // the store write happens after the response
    expect((await get(a)).cache).toBe('HIT');
    const before = await commands();
    for (let n = 0; n < 50; n++) expect((await get(a)).cache).toBe('HIT');
    const after = await commands();
    expect(after - before).toBe(0);
  });

  it('should share entries through Redis and keep a memory copy on each instance', async () => {
    const a = await instance();
    const b = await instance();
    await get(a);
    await sleep(50);
    expect(await get(b)).toEqual({ cache: 'HIT', body: { version: 1 } });
    const before = await commands();
    expect((await get(b)).cache).toBe('HIT');
    expect((await commands()) - before).toBe(0);
  });

  it('should make the other instance drop its copy within milliseconds of an invalidation', async () => {
    const a = await instance();
    const b = await instance();
    version = 1;
    await get(a);
    await sleep(50);
    await get(b); // b now holds a memory copy
    await fetch(`${a.url}/item`, { method: 'PUT' });
    const took = await until(async () => (await get(b)).body.version === 2, 1000);
    expect(took).toBeLessThan(1000);
    // read-your-writes on the instance that wrote
    expect((await get(a)).body.version).toBe(2);
  });

  it('should empty and bypass the memory tier while the subscription is down, and resume', async () => {
    const a = await instance();
    const store = engineOf(a.cache).store as TieredStore;
    await get(a);
    await sleep(50);
    expect(store.memory.size).toBeGreaterThan(0);
    await admin.client('KILL', 'TYPE', 'pubsub');
    await until(() => !store.coherent, 2000);
    expect(store.memory.size).toBe(0);
    // still served, from Redis
    expect((await get(a)).cache).toBe('HIT');
    await until(() => store.coherent, 5000);
    await get(a);
    expect(store.memory.size).toBeGreaterThan(0);
  });
});
