/**
 * The failover scenario of issue 25 on real processes, shared by test/redis/failover.test.ts
 * (a few rounds) and `npm run soak:failover` (test/soak/failover-run.ts, many): two app
 * instances on one Redis endpoint, a master whose replication link is held back, a PUT
 * through `cache.invalidates()`, the master killed and the replica promoted behind the
 * endpoint while the PUT is in flight. Once the PUT is answered, neither instance may
 * serve the body from before it. Not a test file (no `.test.ts`).
 */

import express from 'express';
import { createCache, type ExpressCacheOptions } from '../../middleware';
import type { ReplicatedRedis } from '../helpers/redis-replicas';
import { listen, request, until, type Instance } from './instances';

export interface App extends Instance {
  /** onError codes heard. */
  readonly errors: string[];
  /** GET /item handler calls. */
  readonly calls: { n: number };
}

/** The data both instances serve: a version, bumped by each PUT. */
export interface Model {
  v: number;
}

/** `GET /item` (and `GET /other`) answer the model's version; `PUT /item` bumps it, invalidating `/item`. */
export async function app(model: Model, options: ExpressCacheOptions, namespace: string): Promise<App> {
  const errors: string[] = [];
  const calls = { n: 0 };
  const cache = createCache({ namespace, ttl: 60, jitter: 0, onError: (err) => errors.push(err.code), ...options });
  const a = express();
  a.use(cache.middleware());
  a.get('/item', (_req, res) => {
    calls.n++;
    res.json({ v: model.v });
  });
  a.get('/other', (_req, res) => res.json({ other: true }));
  a.put('/item', cache.invalidates({ paths: ['/item'] }), (_req, res) => {
    model.v++;
    res.json({ v: model.v });
  });
  return { ...(await listen('app', a, cache)), errors, calls };
}

/**
 * Read /item on every instance until each serves it from the cache again (the breaker keeps
 * reads away from Redis for a few seconds after a failover): every body on the way must be
 * version `v`.
 */
export async function onlyNew(instances: readonly App[], v: number): Promise<void> {
  const want = JSON.stringify({ v });
  for (const i of instances) {
    await until(
      async () => {
        const r = await request(i.url, '/item');
        if (r.text !== want)
          throw new Error(`${i.url} served ${r.text} (X-Cache ${String(r.headers['x-cache'])}) after the PUT that made ${want} was answered`);
        return r.headers['x-cache'] === 'HIT';
      },
      15_000,
      'a HIT again',
      20,
    );
  }
}

/** Both instances cache the current version at /item: a miss on `a` stores it, `b` hits it. */
export async function warm(a: App, b: App, v: number): Promise<void> {
  await onlyNew([a, b], v);
}

/**
 * One PUT on `a` while the replication link is held back; `failover` runs once the master
 * has the invalidation's record, i.e. after its writes began and (with the change) while
 * the answer is held for a replica. Answers the PUT's status.
 */
export async function putAcrossFailover(r: ReplicatedRedis, a: App, failover: () => Promise<void>): Promise<number> {
  // The replica has the entries the PUT will invalidate (live), then its link is held back.
  await r.synced();
  r.hold(true);
  const admin = r.master();
  const records = async (): Promise<string> => {
    const names = await admin.keys('r:{p*/item}');
    return names.length ? JSON.stringify(await admin.mget(...names)) : '';
  };
  const before = await records();
  const put = request(a.url, '/item', { method: 'PUT' });
  // The master has this PUT's invalidation: its record (r:{p…/item}, stamped anew) and its
  // deletes (no entry of /item left). Without WAIT the answer is on its way by now.
  await until(async () => (await records()) !== before && (await admin.keys('e:{*/item*}')).length === 0, 5000, 'the invalidation on the master', 5);
  await failover();
  return (await put).status;
}

/** `rounds` PUTs, each across a failover of `r`; every read after each answer must be the new version. */
export async function failoverRounds(r: ReplicatedRedis, a: App, b: App, model: Model, rounds: number): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    await onlyNew([a, b], model.v);
    const status = await putAcrossFailover(r, a, () => r.failover());
    if (status !== 200) throw new Error(`round ${i + 1}: PUT answered ${status}`);
    await onlyNew([a, b], model.v);
  }
}
