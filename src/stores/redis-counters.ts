/**
 * Counters in Redis (`CacheStore.counter` of RedisStore): each is one key `c:{key}` holding
 * INCRBY's plain integer, in the counter's own hash slot, so every operation is one
 * command or one script on one slot, on a Cluster too. No index is kept: `clear` SCANs
 * (every master) for the prefix, as cache.keys() does.
 */

import type { Cluster, Redis } from 'ioredis';
import { COUNTER_INCREMENT, runScript } from './redis-scripts';
import type { CounterOp } from './store';

export interface RedisCounterHost {
  readonly client: Redis | Cluster;
  /** The counter's Redis key, relative to the client. */
  key(name: string): string;
  /** Counter keys (relative to the client) whose name starts with `prefix`, literally. */
  scan(prefix: string): Promise<string[]>;
}

export async function redisCounter(h: RedisCounterHost, op: CounterOp): Promise<number | undefined> {
  const c = h.client;
  switch (op.op) {
    case 'increment': {
      const v = await runScript(c, COUNTER_INCREMENT, [h.key(op.key)], [String(op.by), String(Math.max(1, Math.ceil(op.ttlMs)))]);
      return v === null ? undefined : Number(v);
    }
    case 'get': {
      const v = await c.get(h.key(op.key));
      return v === null ? undefined : Number(v);
    }
    case 'expire':
      return c.pexpire(h.key(op.key), Math.max(1, Math.ceil(op.ttlMs)));
    case 'delete':
      return c.unlink(h.key(op.key));
    case 'clear': {
      // One UNLINK per key: on a Cluster the keys spread over slots.
      const counts = await Promise.all((await h.scan(op.prefix)).map((k) => c.unlink(k)));
      return counts.reduce((a, b) => a + b, 0);
    }
  }
}
