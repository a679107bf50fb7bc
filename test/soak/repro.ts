/**
 * Small, deterministic reproductions of what the soak found, one per kind of violation,
 * on the soak's own app (app.ts). Each prints how often it reproduced; exit code 1 when any
 * did. Not part of `npm test`.
 *
 *   npx tsx test/soak/repro.ts            # all
 *   npx tsx test/soak/repro.ts host join  # some
 */

import express from 'express';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ExpressCacheOptions } from '../../middleware';
import { request, sleep } from '../redis/instances';
import { cacheOptions, Db, startInstance, type SoakInstance } from './app';
import { startTcpProxy, type TcpProxy as LatencyProxy } from '../helpers/tcp-proxy';
import { SoakRedis } from './redis-server';

interface Env {
  redis: SoakRedis;
  proxy: LatencyProxy;
  db: Db;
  start(name: string, store: 'memory' | 'redis' | 'tiered', extra?: ExpressCacheOptions): Promise<SoakInstance>;
}

const version = async (i: SoakInstance, id: number): Promise<{ v: number; x: string; ms: number }> => {
  const r = await request(i.url, `/rows/${id}`);
  return { v: (JSON.parse(r.text) as { version: number }).version, x: r.xCache, ms: r.ms };
};
const put = async (i: SoakInstance, id: number): Promise<number> =>
  (JSON.parse((await request(i.url, `/rows/${id}`, { method: 'PUT' })).text) as { version: number }).version;

/** Each scenario answers how many of its tries showed the violation, and one line of detail. */
const scenarios: Record<string, { what: string; run(env: Env): Promise<{ bad: number; of: number; example: string }> }> = {
  host: {
    what: 'other-host: GET /host with Host: evil.example, then Host: shop.example (memory store)',
    async run(env) {
      const a = await env.start('A', 'memory');
      await request(a.url, '/host', { headers: { host: 'evil.example' } });
      const r = await request(a.url, '/host', { headers: { host: 'shop.example' } });
      const bad = (JSON.parse(r.text) as { host: string }).host !== 'shop.example' ? 1 : 0;
      return { bad, of: 1, example: `Host: shop.example got X-Cache ${r.xCache} ${r.text}` };
    },
  },
  join: {
    what: "stale-own, one instance (Redis, 1 ms): a GET sent after the PUT's 200 gets the body an older GET read before the PUT (joined its flight, or that GET stored it after the invalidation)",
    async run(env) {
      return raceOneInstance(env, 'redis');
    },
  },
  'join-memory': {
    what: 'stale-own, one instance, memory store: the same',
    async run(env) {
      return raceOneInstance(env, 'memory');
    },
  },
  cross: {
    what: "stale-own across instances: B's GET read before A's PUT, stores after A's invalidation (Redis, 1 ms)",
    async run(env) {
      return raceTwoInstances(env, false);
    },
  },
  'cross-tiered': {
    what: 'stale-own across instances, B tiered: the same',
    async run(env) {
      return raceTwoInstances(env, true);
    },
  },
  'post-list': {
    what: "stale-own through RFC 9111 §4.4: a list GET that read before a POST /rows is served after the POST's 200 (path invalidation; Redis, 1 ms)",
    async run(env) {
      const a = await env.start('A', 'redis');
      const b = await env.start('B', 'redis');
      let bad = 0;
      let example = '';
      const tries = 20;
      for (let n = 0; n < tries; n++) {
        const reader = n % 2 ? b : a;
        const first = request(reader.url, '/rows?page=1');
        await sleep(5);
        const acked = (JSON.parse((await request(a.url, '/rows', { method: 'POST' })).text) as { total: number }).total;
        await first;
        await sleep(20);
        const after = await request(reader.url, '/rows?page=1');
        const total = (JSON.parse(after.text) as { total: number }).total;
        if (total < acked) {
          bad++;
          example ||= `POST /rows on A acked total ${acked}; GET /rows?page=1 on ${reader.name} then: total ${total} X-Cache ${after.xCache}`;
        }
        await sleep(50); // the last GET's commit lands first (it is written after the answer)
        await a.cache.invalidate({ paths: ['/rows'] });
      }
      return { bad, of: tries, example };
    },
  },
  stall: {
    what: 'stalled: a lock SET NX that timed out on the client is applied by Redis later; the orphaned lock (TTL = coalesce timeout, 10 s) makes every later miss of that key poll for an entry nobody computes',
    async run(env) {
      const a = await env.start('A', 'redis');
      const b = await env.start('B', 'redis');
      // Writes only: the lookup (GET) answers, the lock (SET NX) waits past storeTimeout.
      await env.redis.pauseWrites(400);
      const first = await request(a.url, '/me', { headers: { cookie: 'sid=u1' } });
      await sleep(500);
      const locks = await lockTtls(env.redis.port);
      const second = await request(b.url, '/me', { headers: { cookie: 'sid=u2' } });
      const bad = second.ms > 3000 ? 1 : 0;
      return {
        bad,
        of: 1,
        example: `GET /me on A during a 400 ms write pause: ${first.ms.toFixed(0)} ms ${first.xCache}; GET /me on B 500 ms later: ${second.ms.toFixed(0)} ms ${second.xCache}; lock keys before it: ${locks}`,
      };
    },
  },
};

/** Every lock key in Redis with its PTTL, read on a direct connection. */
async function lockTtls(port: number): Promise<string> {
  const admin = new Redis({ host: '127.0.0.1', port });
  try {
    const [, keys] = await admin.scan('0', 'MATCH', 'l:*', 'COUNT', 1000);
    const ttls = await Promise.all(keys.map((k) => admin.pttl(k)));
    return keys.map((k, n) => `${k} PTTL ${ttls[n]} ms`).join(', ') || 'none';
  } finally {
    admin.disconnect();
  }
}

/** GET1 (reads, then sleeps 1–5 ms) in flight; PUT acked meanwhile; GET2 sent after the ack. */
async function raceOneInstance(env: Env, store: 'memory' | 'redis'): Promise<{ bad: number; of: number; example: string }> {
  const a = await env.start('A', store);
  let bad = 0;
  let example = '';
  const tries = 40;
  for (let n = 0; n < tries; n++) {
    const id = 1 + (n % 10);
    const first = version(a, id);
    await sleep(5);
    const acked = await put(a, id);
    const second = await version(a, id);
    await first;
    if (second.v < acked) {
      bad++;
      example ||= `PUT /rows/${id} acked v${acked}, then GET got v${second.v} X-Cache ${second.x}`;
    }
    await sleep(50); // the last GET's commit lands first (it is written after the answer)
    await a.cache.invalidate({ tags: [`row:${id}`] });
  }
  return { bad, of: tries, example };
}

/** GET on B in flight, PUT on A acked meanwhile, then (after B finished) GETs on A and B. */
async function raceTwoInstances(env: Env, tiered: boolean): Promise<{ bad: number; of: number; example: string }> {
  const a = await env.start('A', 'redis');
  const b = await env.start('B', tiered ? 'tiered' : 'redis');
  let bad = 0;
  let example = '';
  const tries = 40;
  for (let n = 0; n < tries; n++) {
    const id = 1 + (n % 10);
    const onB = version(b, id);
    await sleep(5);
    const acked = await put(a, id);
    await onB;
    await sleep(20); // B's commit lands
    const [ra, rb] = [await version(a, id), await version(b, id)];
    if (ra.v < acked || rb.v < acked) {
      bad++;
      example ||= `PUT /rows/${id} on A acked v${acked}; then GET on A v${ra.v} (${ra.x}), on B v${rb.v} (${rb.x})`;
    }
    await sleep(50); // the last GET's commit lands first (it is written after the answer)
    await a.cache.invalidate({ tags: [`row:${id}`] });
  }
  return { bad, of: tries, example };
}

async function main(): Promise<number> {
  const wanted = process.argv.slice(2);
  const names = wanted.length ? wanted : Object.keys(scenarios);
  let reproduced = 0;
  for (const name of names) {
    const scenario = scenarios[name];
    if (!scenario) throw new Error(`unknown scenario ${name}; known: ${Object.keys(scenarios).join(', ')}`);
    const redis = await SoakRedis.start();
    const proxy = await startTcpProxy(redis.port, { delayMs: 1 });
    const db = new Db(20);
    // Reads take their snapshot, then 30 ms: the writes below land inside that window.
    db.readDelay = [30, 30];
    const opened: SoakInstance[] = [];
    const namespace = `repro-${randomBytes(3).toString('hex')}`;
    const env: Env = {
      redis,
      proxy,
      db,
      async start(instance, store, extra) {
        const options = store === 'memory' ? { jitter: 0 } : { redis: `redis://127.0.0.1:${proxy.port}`, tiered: store === 'tiered' };
        const i = await startInstance(instance, express, db, { ...cacheOptions(namespace, options), ttl: 60, staleWhileRevalidate: 0, ...extra });
        opened.push(i);
        if (store !== 'memory') while (!(await i.cache.ping())) await sleep(20);
        return i;
      },
    };
    try {
      const { bad, of, example } = await scenario.run(env);
      console.log(`${bad ? 'REPRODUCED' : 'not seen  '} ${name}: ${bad}/${of} — ${scenario.what}${example ? `\n    e.g. ${example}` : ''}`);
      if (bad) reproduced++;
    } finally {
      for (const i of opened) await i.close();
      await proxy.close();
      await redis.stop();
    }
  }
  return reproduced ? 1 : 0;
}

main().then(
  (code) => (process.exitCode = code),
  (err: unknown) => {
    console.error(err);
    process.exitCode = 2;
  },
);
