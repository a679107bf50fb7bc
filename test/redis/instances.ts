/**
 * Helpers for the Redis-backed test files: app instances on real sockets, requests that
 * measure their own duration, and bounded polling. Not a test file (no `.test.ts`).
 */

import type { Express } from 'express';
import { Redis } from 'ioredis';
import type { ExpressResponseCache } from '../../middleware';
import { listenLocal } from '../helpers/http';
import { cleanPrefix, startRedis, type RunningRedis } from '../helpers/redis';

// The one waiting helper module; re-exported for the Redis test files that import from here.
export { sleep, until } from '../helpers/wait';

export interface Instance {
  readonly name: string;
  readonly cache: ExpressResponseCache;
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  /** Close the server and its sockets, then the cache. */
  close(): Promise<void>;
}

/** Listen on 127.0.0.1:0 with `app`; close() also closes `cache`. */
export async function listen(name: string, app: Express, cache: ExpressResponseCache): Promise<Instance> {
  const served = await listenLocal(app);
  let closed = false;
  return {
    name,
    cache,
    url: served.url,
    close: async () => {
      if (closed) return;
      closed = true;
      await served.close();
      await cache.close();
    },
  };
}

// The suite's one request helper, under the name the Redis test files use.
export { send as request, type Reply } from '../helpers/http';

/** The p-th percentile (0..100) of `values`, nearest rank. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

/** A clock both caches of a test share: frozen unless advanced. Starts on a whole second. */
export class SharedClock {
  t = Date.UTC(2030, 0, 1, 12, 0, 0);
  readonly now = (): number => this.t;
  advance(seconds: number): void {
    this.t += Math.round(seconds * 1000);
  }
}

/** Namespaces no other test (or run) shares: keys never meet across tests. */
let seq = 0;
export function uniqueNamespace(name: string): string {
  return `${name}-${process.pid}-${++seq}`;
}

/** Single-flight lock keys of `namespace` still in Redis (`admin` has no keyPrefix). */
export async function heldLocks(admin: import('ioredis').Redis, namespace: string): Promise<string[]> {
  const found: string[] = [];
  let cursor = '0';
  do {
    const [next, keys] = await admin.scan(cursor, 'MATCH', `l:{lock:*${namespace}*`, 'COUNT', 1000);
    found.push(...keys);
    cursor = next;
  } while (cursor !== '0');
  return found;
}

export interface RedisFixture {
  /** The file's own redis-server, started in beforeAll. */
  redis: RunningRedis;
  /** A plain client for looking inside it. */
  admin: Redis;
  /** Instances to close after each test. */
  readonly open: Instance[];
  /** Measured figures, printed once after the file. */
  readonly figures: string[];
}

/**
 * One real redis-server for the test file: instances in `open` are closed after each test,
 * `figures` are printed at the end, keys the cache wrote are cleaned and the server stopped.
 */
export function useRedis(file: string): RedisFixture {
  const fx = { open: [], figures: [] } as unknown as RedisFixture;
  beforeAll(async () => {
    fx.redis = await startRedis();
    fx.admin = new Redis(fx.redis.url);
  });
  afterEach(async () => {
    for (const i of fx.open.splice(0)) await i.close();
  });
  afterAll(async () => {
    if (fx.figures.length) console.log(`${file} figures:\n  ${fx.figures.join('\n  ')}`);
    await cleanPrefix(fx.admin, 'cache:');
    await cleanPrefix(fx.admin, 'l:');
    await fx.admin.quit();
    await fx.redis.stop();
  });
  return fx;
}
